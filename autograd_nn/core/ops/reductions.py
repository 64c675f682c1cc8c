"""Reductions: sum, mean, max, min (over all axes or the given ones, with keepdims)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .batch_rules import shift_axis
from .registry import check_flag, primitive, prims, reduction_axes


def _restore(g, shape, axis, keepdims):
    """Broadcast a reduced gradient back to the input's shape."""
    if axis is not None and not keepdims:
        g = prims.expand_dims(g, axis=axis)
    return prims.broadcast_to(g, shape=shape)


def _axes(x, axis: Any = None, keepdims: bool = False) -> dict:
    return {"axis": reduction_axes(axis, x.ndim), "keepdims": check_flag(keepdims, "keepdims")}


def _nonempty_axes(x, axis: Any = None, keepdims: bool = False) -> dict:
    if x.size == 0:
        raise ValueError(f"cannot reduce an empty tensor of shape {x.shape}")
    return _axes(x, axis, keepdims)


def _count(shape, axis):
    return int(np.prod(shape if axis is None else [shape[a] for a in axis]))


def numpy_reduction(function):
    """The method form of a reduction: `t.sum(axis, keepdims)`, also reached by np.sum(t), whose
    extra keywords (dtype=None, out=None, ...) are accepted only at their no-op defaults."""

    def method(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any):
        if not numpy_kwargs:  # the usual call, t.sum(axis)
            return function(self, axis, keepdims)
        extra = {k: v for k, v in numpy_kwargs.items() if v is not None and k != "where"}
        if numpy_kwargs.get("where", True) is not True:
            extra["where"] = numpy_kwargs["where"]
        if extra:
            raise TypeError(
                f"{function.__name__}: the NumPy arguments {sorted(extra)} are not supported on "
                f"Tensors; use t.{function.__name__}(axis=..., keepdims=...) and .astype(dtype)"
            )
        return function(self, axis, keepdims)

    return method


def _reduction_source(method: str):
    def source(params, shapes) -> str:
        axis, keep = params["axis"], params["keepdims"]
        if isinstance(axis, int):  # rules pass a single axis as an int
            axis = (axis,)
        if axis is None and not keep:
            return "{x}." + method + "()"
        axis_text = "None" if axis is None else str(axis[0]) if len(axis) == 1 else str(axis)
        return "{x}." + method + f"(axis={axis_text}{', keepdims=True' if keep else ''})"

    return source


sum = primitive(  # noqa: A001
    "sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
    lambda g, ans, x, axis, keepdims: _restore(g, x.shape, axis, keepdims),
    source=_reduction_source("sum"),
    prepare=_axes, method=numpy_reduction,
    batch=shift_axis(),
    linear=True, doc="Sum over `axis` (all axes by default).",
)
def _mean_forward(x, axis, keepdims):
    if x.size:
        return x.mean(axis=axis, keepdims=keepdims)
    with np.errstate(invalid="ignore"):  # over no elements: NaN, as PyTorch, without a warning
        return x.sum(axis=axis, keepdims=keepdims) / _count(x.shape, axis)


mean = primitive(
    "mean", _mean_forward,
    lambda g, ans, x, axis, keepdims: _restore(g, x.shape, axis, keepdims) / _count(x.shape, axis),
    source=_reduction_source("mean"),
    prepare=_axes, method=numpy_reduction,
    batch=shift_axis(),
    linear=True,
    doc="Arithmetic mean over `axis` (all axes by default).",
)


def _extreme_vjp(g, ans, x, axis, keepdims):
    # Ties split the gradient equally between all elements that reach the extreme value.
    if axis is not None and not keepdims:
        ans = prims.expand_dims(ans, axis=axis)
    hits = prims.astype(x == ans, dtype=x.dtype)
    share = hits / prims.sum(hits, axis=axis, keepdims=True)
    return _restore(g, x.shape, axis, keepdims) * share


def _near_tie(inputs, params, op):
    x = np.asarray(inputs[0], dtype=np.float64)
    axis = params.get("axis")
    if x.size < 2 or (axis is not None and (len(axis) != 1 or x.shape[axis[0]] < 2)):
        return None
    if axis is None:
        flat = np.sort(x.reshape(-1))
        gap = flat[-1] - flat[-2] if op == "max" else flat[1] - flat[0]
        return (gap, f"{op} over all {x.size} elements of a {x.shape} input has two entries "
                     f"within {gap:.2g} of each other (a tie: the gradient jumps between them)")
    s = np.sort(x, axis=axis[0])
    top = np.take(s, -1, axis=axis[0]) - np.take(s, -2, axis=axis[0])
    bottom = np.take(s, 1, axis=axis[0]) - np.take(s, 0, axis=axis[0])
    gap = np.min(top if op == "max" else bottom)
    return (gap, f"{op} along axis {axis[0]} of a {x.shape} input has a near tie "
                 f"(gap {gap:.2g}): the gradient jumps between the tied entries")


def _extreme(op: str, doc: str):
    """The row of max or min: the same rule (ties share), forward and kink by name."""
    return primitive(
        op, lambda x, axis, keepdims: getattr(x, op)(axis=axis, keepdims=keepdims),
        _extreme_vjp, source=_reduction_source(op), prepare=_nonempty_axes, batch=shift_axis(),
        method=numpy_reduction,
        doc=doc,
        kink=lambda inputs, params: _near_tie(inputs, params, op),
    )


max = _extreme("max", "Maximum over `axis`; tied maxima share the gradient equally.")  # noqa: A001
min = _extreme("min", "Minimum over `axis`; tied minima share the gradient equally.")  # noqa: A001
