"""Every primitive as one row (see registry.py), one module per family of ops.

Importing this package registers all rows; the public functions, Tensor methods and `__all__`
are generated from them in autograd_nn/core/public.py.
"""

from . import (  # noqa: F401
    activations,
    arithmetic,
    arrange,
    bitwise,
    contractions,
    conv,
    joining,
    linalg,
    normalize,
    pairwise,
    pooling,
    predicates,
    products,
    reductions,
    resample,
    rounding,
    scans,
    scatter,
    shape,
    sorting,
    spacing,
    statistics,
    trig,
    unary,
)
from .registry import PRIMITIVES, Call, Primitive, primitive, prims

__all__ = ["PRIMITIVES", "Call", "Primitive", "prims", "primitive"]
