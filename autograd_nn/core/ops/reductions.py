"""Reductions: sum, mean, max, min (over all axes or the given ones, with keepdims)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .batch_rules import shift_axis
from .registry import Call, check_flag, primitive, prims, reduction_axes


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


def torch_dim(prepare: Callable, refuse: str | None = None) -> Callable:
    """A reduction's `prepare` that also reads PyTorch's names `dim=` and `keepdim=` (the same
    meaning as axis= and keepdims=); `refuse` is the message where torch's op means something
    else (torch.max(x, dim) returns values and indices)."""
    signature = inspect.signature(prepare, eval_str=True)

    def wrapped(x, *args: Any, dim: Any = None, keepdim: Any = None, **kwargs: Any):
        if dim is None and keepdim is None:
            return prepare(x, *args, **kwargs)
        if refuse is not None:
            raise TypeError(refuse)
        bound = signature.bind_partial(x, *args, **kwargs)
        given = bound.arguments
        if dim is not None:
            if given.get("axis") is not None:
                raise TypeError(f"give axis= or PyTorch's dim=, not both (axis={given['axis']!r}, "
                                f"dim={dim!r})")
            given["axis"] = dim
        if keepdim is not None:
            if "keepdims" not in signature.parameters:
                raise TypeError("keepdim= is not an argument here (it takes "
                                f"{', '.join(list(signature.parameters)[1:])})")
            if given.get("keepdims") is True and keepdim is not True:  # False is the default
                raise TypeError(f"keepdims={given['keepdims']!r} and PyTorch's "
                                f"keepdim={keepdim!r} disagree")
            given["keepdims"] = keepdim
        return prepare(*bound.args, **bound.kwargs)

    torch_names = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                     annotation=Any) for name in ("dim", "keepdim")]
    wrapped.__signature__ = signature.replace(parameters=[*signature.parameters.values(),
                                                          *torch_names])
    wrapped.__name__ = prepare.__name__
    return wrapped


def cast_then(row_name: str):
    """The `prepare` of sum and prod: NumPy's and PyTorch's dtype= casts the input first (the
    sum of int8 in float64, of float64 in float32), so the row runs on the cast input."""

    def prepare(x, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
        params = _axes(x, axis, keepdims)
        if dtype is None:
            return params
        return Call(getattr(prims, row_name), (prims.astype(x, dtype=np.dtype(dtype)),), params)

    return prepare


def _count(shape, axis):
    return int(np.prod(shape if axis is None else [shape[a] for a in axis]))


def numpy_reduction(function):
    """The method form of a reduction: `t.sum(axis, keepdims)`, also reached by np.sum(t), whose
    extra keywords (dtype=None, out=None, ...) are accepted only at their no-op defaults."""

    accepted = set(inspect.signature(function).parameters)  # dim, keepdim, dtype where read

    def method(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any):
        if not numpy_kwargs:  # the usual call, t.sum(axis)
            return function(self, axis, keepdims)
        extra = {k: v for k, v in numpy_kwargs.items() if v is not None and k != "where"}
        if numpy_kwargs.get("where", True) is not True:
            extra["where"] = numpy_kwargs["where"]
        if any(k not in accepted or k == "where" for k in extra):
            raise TypeError(
                f"{function.__name__}: the NumPy arguments {sorted(extra)} are not supported on "
                f"Tensors; use t.{function.__name__}(axis=..., keepdims=...) and .astype(dtype)"
            )
        return function(self, axis, keepdims, **extra)

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
    prepare=torch_dim(cast_then("sum")), method=numpy_reduction,
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
    prepare=torch_dim(_axes), method=numpy_reduction,
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
        _extreme_vjp, source=_reduction_source(op), batch=shift_axis(),
        prepare=torch_dim(_nonempty_axes, refuse=(
            f"dim= is PyTorch's name, and torch.{op}(x, dim) returns (values, indices); "
            f"here {op}(x, axis=...) gives the values (torch.a{op}) and arg{op}(x, axis=...) the "
            "indices")),
        method=numpy_reduction,
        doc=doc,
        kink=lambda inputs, params: _near_tie(inputs, params, op),
    )


max = _extreme("max", "Maximum over `axis`; tied maxima share the gradient equally.")  # noqa: A001
min = _extreme("min", "Minimum over `axis`; tied minima share the gradient equally.")  # noqa: A001
