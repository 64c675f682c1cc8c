"""Elementwise math: exp, log, log1p, sqrt, abs, clip, astype."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import apply, apply1, primitive
from ..tensor import Tensor
from .base import lift

exp_p = primitive("exp", np.exp, lambda B, g, ans, x: g * ans)
log_p = primitive("log", np.log, lambda B, g, ans, x: g / x)
log1p_p = primitive("log1p", np.log1p, lambda B, g, ans, x: g / (1 + x))
sqrt_p = primitive("sqrt", np.sqrt, lambda B, g, ans, x: g / (2 * ans))
abs_p = primitive(
    "abs", np.abs, lambda B, g, ans, x: g * np.sign(B.raw(x)),
    doc="abs'(0) = 0",
)


def _clip_forward(x, lo, hi):
    return np.clip(x, lo, hi)


def _clip_vjp(B, g, ans, x, lo, hi):
    xr = B.raw(x)
    inside = np.ones(xr.shape, dtype=bool)
    if lo is not None:
        inside &= xr >= lo
    if hi is not None:
        inside &= xr <= hi
    return g * inside


clip_p = primitive("clip", _clip_forward, _clip_vjp, doc="gradient 1 inside [lo, hi], else 0")


def _astype_forward(x, dtype):
    return x.astype(dtype)


astype_p = primitive(
    "astype", _astype_forward,
    lambda B, g, ans, x, dtype: B.astype(g, B.raw(x).dtype),
)


def exp(x: Any) -> Tensor:
    """e ** x elementwise."""
    return apply1(exp_p, lift(x, None, "exp"))


def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return apply1(log_p, lift(x, None, "log"))


def log1p(x: Any) -> Tensor:
    """log(1 + x), accurate for small x."""
    return apply1(log1p_p, lift(x, None, "log1p"))


def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return apply1(sqrt_p, lift(x, None, "sqrt"))


def abs(x: Any) -> Tensor:  # noqa: A001 (mirrors numpy.abs)
    """|x| elementwise; the gradient at 0 is 0."""
    return apply1(abs_p, lift(x, None, "abs"))


def clip(x: Any, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Limit values to [lo, hi]; the gradient is 1 inside the range (bounds included), else 0."""
    return apply(clip_p, (lift(x, None, "clip"),), {"lo": lo, "hi": hi})


def astype(x: Any, dtype: Any) -> Tensor:
    """Cast to `dtype`; the gradient is cast back. Casts to non-float dtypes leave the graph."""
    x = lift(x, None, "astype")
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind != "f":  # rounding to integers (or bool) has no useful gradient: a constant
        return Tensor(x.data.astype(dtype))
    return apply(astype_p, (x,), {"dtype": dtype})
