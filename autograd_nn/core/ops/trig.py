"""Inverse trigonometric and hyperbolic functions, the two-argument hypot and arctan2, and
conversions between degrees and radians."""

from __future__ import annotations

import numpy as np

from .registry import composite, primitive, prims

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


# --- inverse hyperbolic functions: each rule stays finite where x*x would overflow -------------
arcsinh = primitive(
    "arcsinh", np.arcsinh, lambda g, ans, x: g / prims.hypot(x, 1.0),
    doc="Inverse hyperbolic sine elementwise; the gradient 1 / sqrt(x**2 + 1) is taken with "
        "hypot, so it stays exact for |x| beyond 1e154.", method=True, elementwise=True)
arccosh = primitive(
    "arccosh", np.arccosh,
    lambda g, ans, x: g / (prims.sqrt(x - 1) * prims.sqrt(x + 1)),
    doc="Inverse hyperbolic cosine elementwise, for x >= 1 (NaN below, as NumPy); the gradient "
        "is infinite at x = 1.", method=True, elementwise=True)
arctanh = primitive(
    "arctanh", np.arctanh, lambda g, ans, x: g / ((1 - x) * (1 + x)),
    doc="Inverse hyperbolic tangent elementwise, for x in (-1, 1).", method=True,
    elementwise=True)


# --- angles: exact multiples, so composites of `mul` -------------------------------------------
_RADIANS_PER_DEGREE = float(np.pi / 180.0)
_DEGREES_PER_RADIAN = float(180.0 / np.pi)


def _deg2rad(x):
    """Degrees to radians: x * pi / 180 (np.deg2rad)."""
    return x * _RADIANS_PER_DEGREE


def _rad2deg(x):
    """Radians to degrees: x * 180 / pi (np.rad2deg)."""
    return x * _DEGREES_PER_RADIAN


def _radians(x):
    """Degrees to radians, NumPy's other name for deg2rad."""
    return x * _RADIANS_PER_DEGREE


def _degrees(x):
    """Radians to degrees, NumPy's other name for rad2deg."""
    return x * _DEGREES_PER_RADIAN


deg2rad = composite("deg2rad", _deg2rad)
rad2deg = composite("rad2deg", _rad2deg)
radians = composite("radians", _radians)
degrees = composite("degrees", _degrees)
