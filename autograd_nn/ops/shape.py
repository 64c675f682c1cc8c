"""Shape and indexing ops: reshape, transpose, indexing, concatenate, stack, broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import _sum_to, apply, primitive, variadic_primitive
from ..tensor import Tensor
from .base import lift, normalize_axis


def _reshape_forward(x, shape):
    return np.reshape(x, shape)


reshape_p = primitive(
    "reshape", _reshape_forward, lambda B, g, ans, x, shape: B.reshape(g, x.shape)
)


def _transpose_forward(x, axes):
    return np.transpose(x, axes)


transpose_p = primitive(
    "transpose", _transpose_forward,
    lambda B, g, ans, x, axes: B.transpose(g, None if axes is None else np.argsort(axes)),
)


def _expand_dims_forward(x, axis):
    return np.expand_dims(x, axis)


expand_dims_p = primitive(
    "expand_dims", _expand_dims_forward, lambda B, g, ans, x, axis: B.reshape(g, x.shape)
)


def _broadcast_to_forward(x, shape):
    return np.broadcast_to(x, shape)


broadcast_to_p = primitive(
    "broadcast_to", _broadcast_to_forward, lambda B, g, ans, x, shape: B.sum_to(g, x.shape)
)
sum_to_p = primitive(
    "sum_to", _sum_to, lambda B, g, ans, x, shape: B.broadcast_to(g, x.shape)
)


def _is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


def _getitem_forward(x, index):
    return x[index]


def _scatter_add_forward(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)  # repeated indices accumulate
    return out


getitem_p = primitive(
    "getitem", _getitem_forward,
    lambda B, g, ans, x, index: B.scatter_add(g, index, x.shape),
)
scatter_add_p = primitive(
    "scatter_add", _scatter_add_forward,
    lambda B, g, ans, src, index, shape: B.getitem(g, index),
)


def _concatenate_forward(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(B, i, g, ans, *xs, axis):
    start = 0
    for x in xs[:i]:
        start += x.shape[axis]
    index = (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)
    return B.getitem(g, index)


def _stack_forward(*xs, axis):
    return np.stack(xs, axis=axis)


def _stack_vjp(B, i, g, ans, *xs, axis):
    return B.getitem(g, (slice(None),) * axis + (i,))


concatenate_p = variadic_primitive("concatenate", _concatenate_forward, _concatenate_vjp)
stack_p = variadic_primitive("stack", _stack_forward, _stack_vjp)


# --- public functions ------------------------------------------------------------------------
def reshape(x: Any, shape: Any) -> Tensor:
    """The same elements in a new shape (one entry may be -1)."""
    x = lift(x, None, "reshape")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    return apply(reshape_p, (x,), {"shape": shape})


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute axes (reverse them by default, like ndarray.T)."""
    x = lift(x, None, "transpose")
    if axes is not None:
        axes = tuple(axes)
        if len(axes) != x.ndim:
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims")
        normalized = tuple(normalize_axis(a, x.ndim, "transpose")[0] for a in axes)
        if len(set(normalized)) != x.ndim:
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims")
        axes = normalized
    return apply(transpose_p, (x,), {"axes": axes})


def swapaxes(x: Any, a: int, b: int) -> Tensor:
    """Exchange two axes."""
    x = lift(x, None, "swapaxes")
    a = normalize_axis(a, x.ndim, "swapaxes")[0]
    b = normalize_axis(b, x.ndim, "swapaxes")[0]
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at `axis` (positions in the result)."""
    x = lift(x, None, "expand_dims")
    return apply(expand_dims_p, (x,), {"axis": axis})


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Broadcast to `shape`; the gradient is summed back."""
    x = lift(x, None, "broadcast_to")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if x.shape == shape:
        return x
    return apply(broadcast_to_p, (x,), {"shape": shape})


def sum_to(x: Any, shape: Any) -> Tensor:
    """Sum a broadcast tensor down to `shape` (the inverse of broadcast_to for gradients)."""
    x = lift(x, None, "sum_to")
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return apply(sum_to_p, (x,), {"shape": shape})


def _clean_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(x: Any, index: Any) -> Tensor:
    """x[index]: slices, integers, integer/boolean arrays; repeated indices accumulate."""
    x = lift(x, None, "getitem")
    return apply(getitem_p, (x,), {"index": _clean_index(index)})


def scatter_add(src: Any, index: Any, shape: Any) -> Tensor:
    """A zero tensor of `shape` with `src` added at `index` (repeated indices accumulate)."""
    src = lift(src, None, "scatter_add")
    return apply(scatter_add_p, (src,), {"index": _clean_index(index), "shape": tuple(shape)})


def _lift_all(tensors: Any, op: str) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")
    xs = [lift(t, None, op) for t in tensors]
    first = next((t for t in xs if t.dtype.kind in "fc"), None)
    if first is not None:  # Python numbers take the float dtype of the others
        xs = [lift(t, first, op) for t in tensors]
    return tuple(xs)


def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    xs = _lift_all(tensors, "concatenate")
    ax = normalize_axis(axis, xs[0].ndim, "concatenate")[0]
    return apply(concatenate_p, xs, {"axis": ax})


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    xs = _lift_all(tensors, "stack")
    ax = normalize_axis(axis, xs[0].ndim + 1, "stack")[0]
    return apply(stack_p, xs, {"axis": ax})
