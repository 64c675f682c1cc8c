"""Inverse trigonometric and hyperbolic functions, and the two-argument hypot and arctan2."""

from __future__ import annotations

import numpy as np

from .registry import primitive, prims

arcsin = primitive("arcsin", np.arcsin, lambda g, ans, x: g / prims.sqrt(1 - x * x),
                   doc="Inverse sine elementwise, for x in [-1, 1].", method=True,
                   elementwise=True)
arccos = primitive("arccos", np.arccos, lambda g, ans, x: -g / prims.sqrt(1 - x * x),
                   doc="Inverse cosine elementwise, for x in [-1, 1].", method=True,
                   elementwise=True)
arctan = primitive("arctan", np.arctan, lambda g, ans, x: g / (1 + x * x),
                   doc="Inverse tangent elementwise.", method=True,
                   elementwise=True)
sinh = primitive("sinh", np.sinh, lambda g, ans, x: g * prims.cosh(x),
                 doc="Hyperbolic sine elementwise.", method=True,
    elementwise=True)
cosh = primitive("cosh", np.cosh, lambda g, ans, x: g * prims.sinh(x),
                 doc="Hyperbolic cosine elementwise.", method=True,
    elementwise=True)


def _origin(inputs, params):
    a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
    return np.hypot(a, b), "the origin (a = b = 0)"


hypot = primitive(
    "hypot", np.hypot, lambda g, ans, a, b: g * a / ans, lambda g, ans, a, b: g * b / ans,
    doc="sqrt(a**2 + b**2) without overflow or underflow; the gradient is undefined (NaN) at "
        "a = b = 0, as in PyTorch.",
    kink=_origin, elementwise=True,
)
arctan2 = primitive(
    "arctan2", np.arctan2,
    lambda g, ans, a, b: g * b / (a * a + b * b), lambda g, ans, a, b: -g * a / (a * a + b * b),
    doc="The angle of the point (b, a) in radians, arctan(a / b) in the right quadrant.",
    kink=_origin, elementwise=True,
)
