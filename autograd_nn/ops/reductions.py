"""Reductions: sum, mean, max, min (over all axes or the given ones, with keepdims)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import apply, primitive
from ..tensor import Tensor
from .base import lift, normalize_axis


def _restore(B, g, x, axis, keepdims):
    """Broadcast a reduced gradient back to x's shape."""
    if axis is not None and not keepdims:
        g = B.expand_dims(g, axis)
    return B.broadcast_to(g, x.shape)


def _sum_forward(x, axis, keepdims):
    return x.sum(axis=axis, keepdims=keepdims)  # the method skips np.sum's Python wrapper


sum_p = primitive(
    "sum", _sum_forward,
    lambda B, g, ans, x, axis, keepdims: _restore(B, g, x, axis, keepdims),
)


def _mean_forward(x, axis, keepdims):
    return x.mean(axis=axis, keepdims=keepdims)


def _count(shape, axis):
    return int(np.prod(shape if axis is None else [shape[a] for a in axis]))


mean_p = primitive(
    "mean", _mean_forward,
    lambda B, g, ans, x, axis, keepdims: _restore(B, g, x, axis, keepdims) / _count(x.shape, axis),
)


def _extreme_vjp(B, g, ans, x, axis, keepdims):
    # Ties split the gradient equally between all elements that reach the extreme value.
    xr = B.raw(x)
    ar = B.raw(ans)
    if axis is not None and not keepdims:
        ar = np.expand_dims(ar, axis)
    hits = (xr == ar).astype(xr.dtype)
    share = hits / hits.sum(axis=axis, keepdims=True)
    return _restore(B, g, x, axis, keepdims) * share


def _max_forward(x, axis, keepdims):
    return x.max(axis=axis, keepdims=keepdims)


def _min_forward(x, axis, keepdims):
    return x.min(axis=axis, keepdims=keepdims)


max_p = primitive("max", _max_forward, _extreme_vjp, doc="ties share the gradient equally")
min_p = primitive("min", _min_forward, _extreme_vjp, doc="ties share the gradient equally")


def _reduce(prim, x, axis, keepdims):
    x = lift(x, None, prim.name)
    axes = normalize_axis(axis, x.ndim, prim.name)
    return apply(prim, (x,), {"axis": axes, "keepdims": bool(keepdims)})


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over `axis` (all axes by default)."""
    return _reduce(sum_p, x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over `axis` (all axes by default)."""
    return _reduce(mean_p, x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over `axis`; tied maxima share the gradient equally."""
    x = lift(x, None, "max")
    if x.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    return _reduce(max_p, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over `axis`; tied minima share the gradient equally."""
    x = lift(x, None, "min")
    if x.size == 0:
        raise ValueError(f"min: cannot reduce an empty tensor of shape {x.shape}")
    return _reduce(min_p, x, axis, keepdims)
