"""Elementwise math: exp, log, log1p, sqrt, abs, clip, astype, and the trigonometric and base-2
functions. One row per op; `kink` says where gradcheck's finite differences can straddle a kink.
"""

from __future__ import annotations

import numpy as np

from .registry import Call, primitive, prims, same_as_input

_LN2 = float(np.log(2.0))


def _kink_at_zero(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    return np.abs(x), "0"


exp = primitive("exp", np.exp, lambda g, ans, x: g * ans,
                elementwise=True, doc="e ** x elementwise.", method=True)
log = primitive("log", np.log, lambda g, ans, x: g / x,
                elementwise=True,
                doc="Natural logarithm elementwise.", method=True)
log1p = primitive("log1p", np.log1p, lambda g, ans, x: g / (1 + x),
                  elementwise=True,
                  doc="log(1 + x), accurate for small x.")
sqrt = primitive("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans),
                 elementwise=True,
                 doc="Square root elementwise.", method=True)
abs = primitive(  # noqa: A001 (mirrors numpy.abs)
    "abs", np.abs, lambda g, ans, x: g * prims.sign(x),
    elementwise=True, doc="|x| elementwise; the gradient at 0 is 0 (abs'(0) = 0).", method=True,
    kink=_kink_at_zero, operator=("__abs__", None),
)
sign = primitive(
    "sign", np.sign, lambda g, ans, x: 0.0 * g,
    elementwise=True,
    doc="-1, 0 or 1 by the sign of x; its gradient is 0 everywhere (also at the jump at 0).",
    method=True, kink=_kink_at_zero,
)
square = primitive("square", np.square, lambda g, ans, x: g * (2 * x),
                   elementwise=True,
                   doc="x * x elementwise.", method=True)
sin = primitive("sin", np.sin, lambda g, ans, x: g * prims.cos(x),
                elementwise=True,
                doc="Sine elementwise (radians).", method=True)
cos = primitive("cos", np.cos, lambda g, ans, x: -g * prims.sin(x),
                elementwise=True,
                doc="Cosine elementwise (radians).", method=True)
tan = primitive("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans),
                elementwise=True,
                doc="Tangent elementwise (radians); tan' = 1 + tan**2.", method=True)
exp2 = primitive("exp2", np.exp2, lambda g, ans, x: g * ans * _LN2,
                 elementwise=True,
                 doc="2 ** x elementwise.", method=True)
log2 = primitive("log2", np.log2, lambda g, ans, x: g / (x * _LN2),
                 elementwise=True, doc="Base-2 logarithm elementwise.", method=True)


def _clip_forward(x, lo, hi):
    return np.clip(x, lo, hi)


def _clip_vjp(g, ans, x, lo, hi):
    if lo is not None:
        g = g * (x >= lo)
    if hi is not None:
        g = g * (x <= hi)
    return g


def _clip_params(x, lo=None, hi=None):
    for name, bound in (("lo", lo), ("hi", hi)):
        if bound is not None and not isinstance(bound, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number or None, got {type(bound).__name__}")
    return {"lo": lo, "hi": hi}


def _clip_kink(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    bounds = [b for b in (params.get("lo"), params.get("hi")) if b is not None]
    if not bounds:
        return None
    return np.minimum.reduce([np.abs(x - b) for b in bounds]), "a clip bound"


clip = primitive(
    "clip", _clip_forward, _clip_vjp, prepare=_clip_params, source="np.clip({x}, {lo}, {hi})",
    elementwise=True,
    doc="Limit values to [lo, hi]; the gradient is 1 inside the range (bounds included), else "
        "0. With lo > hi every value is hi and the gradient 0, as NumPy and torch.clamp give.",
    kink=_clip_kink,
)


def _astype_params(x, dtype):
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind != "f":  # rounding to integers (or testing to bool) carries no gradient, but
        return Call(cast, (x,), {"dtype": dtype})  # stays recorded: compile sees the values flow
    return {"dtype": dtype}


cast = primitive(
    "cast", lambda x, dtype: x.astype(dtype), None, source="{x}.astype(np.{dtype})",
    elementwise=True, display="{x}.astype({dtype})",
    doc="A cast to an integer or boolean dtype (what `astype` runs for them): no gradient.",
)


astype = primitive(
    "astype", lambda x, dtype: x.astype(dtype),
    lambda g, ans, x, dtype: prims.astype(g, dtype=x.dtype),
    prepare=_astype_params, method=True, source="{x}.astype(np.{dtype})",
    elementwise=True, identity=same_as_input,
    doc="Cast to `dtype`; the gradient is cast back. Casts to non-float dtypes leave the graph.",
)


# --- more elementwise math: each rule is written with rows, so every order is available --------
_LN10 = float(np.log(10.0))
_TWO_OVER_SQRT_PI = float(2.0 / np.sqrt(np.pi))

log10 = primitive("log10", np.log10, lambda g, ans, x: g / (x * _LN10),
                  doc="Base-10 logarithm elementwise.", method=True,
                  elementwise=True)
expm1 = primitive("expm1", np.expm1, lambda g, ans, x: g * (ans + 1),
                  doc="exp(x) - 1, accurate for small x.",
    elementwise=True)
reciprocal = primitive(
    "reciprocal", lambda x: 1.0 / x, lambda g, ans, x: -g * ans * ans,
    doc="1 / x elementwise.", method=True, source="1.0 / {x}",
    elementwise=True)
rsqrt = primitive(
    "rsqrt", lambda x: 1.0 / np.sqrt(x), lambda g, ans, x: g * (-0.5 * ans * ans * ans),
    doc="1 / sqrt(x) elementwise.", source="1.0 / np.sqrt({x})",
    elementwise=True)


def erf_forward(x):
    """The error function: SciPy's when it is installed, else math.erf element by element."""
    dtype = np.result_type(x, np.float32)
    try:
        from scipy.special import erf as vectorised
    except ImportError:
        import math

        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=dtype)
    return np.asarray(vectorised(x), dtype=dtype)


def erfc_forward(x):
    """1 - erf(x) without cancellation for large x (SciPy's, else math.erfc per element)."""
    dtype = np.result_type(x, np.float32)
    try:
        from scipy.special import erfc as vectorised
    except ImportError:
        import math

        return np.asarray(np.frompyfunc(math.erfc, 1, 1)(x), dtype=dtype)
    return np.asarray(vectorised(x), dtype=dtype)


erf = primitive(
    "erf", erf_forward, lambda g, ans, x: g * (_TWO_OVER_SQRT_PI * prims.exp(-x * x)),
    doc="The error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to x.",
    source="erf_forward({x})", helper={"erf_forward": erf_forward},
    elementwise=True)
erfc = primitive(
    "erfc", erfc_forward, lambda g, ans, x: g * (-_TWO_OVER_SQRT_PI * prims.exp(-x * x)),
    doc="The complementary error function 1 - erf(x), accurate where erf is near 1.",
    source="erfc_forward({x})", helper={"erfc_forward": erfc_forward},
    elementwise=True)


# --- sinc and nan_to_num ------------------------------------------------------------------------
_PI = float(np.pi)


def _sinc_vjp(g, ans, x):
    # sinc'(x) = (cos(pi x) - sinc(x)) / x, and 0 at x = 0 (the double where keeps 0/0 out)
    at_zero = x == 0
    safe = prims.where(at_zero, 1.0, x)
    return g * prims.where(at_zero, 0.0, (prims.cos(_PI * safe) - prims.sinc(safe)) / safe)


sinc = primitive(
    "sinc", np.sinc, _sinc_vjp,
    doc="The normalised sinc sin(pi x) / (pi x), 1 at x = 0 (np.sinc, torch.sinc); its gradient "
        "at exactly 0 is 0, as PyTorch's (and so is the second derivative there).",
    method=True, elementwise=True)


def _nan_to_num_params(x, nan: float = 0.0, posinf: float | None = None,
                       neginf: float | None = None) -> dict:
    for what, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if value is not None and not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{what} must be a number or None, got {type(value).__name__}")
    return {"nan": float(nan), "posinf": None if posinf is None else float(posinf),
            "neginf": None if neginf is None else float(neginf)}


nan_to_num = primitive(
    "nan_to_num",
    lambda x, nan, posinf, neginf: np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    lambda g, ans, x, nan, posinf, neginf: prims.where(prims.isfinite(x), g, 0.0),
    prepare=_nan_to_num_params,
    source="np.nan_to_num({x}, nan={nan}, posinf={posinf}, neginf={neginf})",
    doc="NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (by default 0 and the "
        "dtype's largest and smallest values); the gradient is 0 where x was not finite, as "
        "PyTorch's.", method=True, elementwise=True)
