"""`autograd.numpy` names mapped onto autograd_nn's functions.

A name resolves, in order, to: autograd_nn's function of that name (or of its alias below); NumPy's
own object when it is data, a type or a constant, or one of the names HIPS autograd itself leaves
undifferentiated (its `nograd_functions`, plus array constructors from plain data); otherwise
`MissingName`, counted as a missing op.
"""

import numpy as _np

import autograd_nn as _ag


class MissingName(AttributeError):
    """autograd_nn has no function for this NumPy name (counted as a missing op)."""


ALIASES = {
    "absolute": "abs", "multiply": "mul", "subtract": "sub", "divide": "div",
    "true_divide": "div", "negative": "neg", "remainder": "mod", "row_stack": "vstack",
    "concat": "concatenate", "amax": "max", "amin": "min", "around": "round",
}
# NumPy keyword spellings autograd_nn spells otherwise
KW_ALIASES = {"clip": {"a_min": "lo", "a_max": "hi", "min": "lo", "max": "hi"}}
# HIPS autograd's own nograd_functions (numpy_vjps.py) and data constructors: NumPy's, unchanged
UNDIFFERENTIATED = {
    "floor", "ceil", "round", "rint", "around", "fix", "trunc", "all", "any", "argmax", "argmin",
    "argpartition", "argsort", "argwhere", "nonzero", "flatnonzero", "count_nonzero",
    "searchsorted", "sign", "ndim", "shape", "floor_divide", "logical_and", "logical_or",
    "logical_not", "logical_xor", "isfinite", "isinf", "isnan", "isneginf", "isposinf",
    "allclose", "isclose", "array_equal", "array_equiv", "greater", "greater_equal", "less",
    "less_equal", "equal", "not_equal", "iscomplexobj", "iscomplex", "size", "isscalar",
    "isreal", "zeros_like", "ones_like", "empty_like", "full_like", "result_type",
    "array", "asarray", "zeros", "ones", "empty", "full", "eye", "identity", "arange", "dtype",
    "seterr", "errstate", "get_printoptions", "set_printoptions",
}
# index helpers the issue lists as ops to add: not NumPy's stand-ins
MISSING = {"r_", "c_"}


def __getattr__(name: str) -> object:
    if name in MISSING:
        raise MissingName(f"autograd_nn has no `{name}`")
    agname = ALIASES.get(name, name)
    found = getattr(_ag, agname, None)
    if callable(found) and not isinstance(found, type):
        return _with_numpy_keywords(found, KW_ALIASES[agname]) if agname in KW_ALIASES else found
    obj = getattr(_np, name, None)
    if obj is None:
        raise MissingName(f"autograd_nn has no `{name}` (and NumPy neither)")
    if not callable(obj) or isinstance(obj, type) or name in UNDIFFERENTIATED:
        return obj
    raise MissingName(f"autograd_nn has no `{name}`")


def _with_numpy_keywords(f, names):  # noqa: ANN001, ANN202
    def renamed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return f(*args, **{names.get(k, k): v for k, v in kwargs.items()})

    return renamed
