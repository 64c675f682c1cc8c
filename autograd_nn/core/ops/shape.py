"""Shape and indexing ops: reshape, transpose, indexing, concatenate, stack, broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np

from .batch_rules import pad_after_prefix, shift_axes, shift_axis
from .registry import (
    Call,
    normalize_axis,
    primitive,
    prims,
    same_as_input,
    shape_tuple,
    sum_to_shape,
)


def _sequence_method(function):
    """`t.reshape(2, 3)` as well as `t.reshape((2, 3))`; likewise `t.transpose(1, 0)`, and
    PyTorch's `t.transpose(-2, -1)` (two axes swapped) where NumPy's reading cannot apply."""

    def method(self, *items: Any):
        if len(items) == 1 and isinstance(items[0], (tuple, list)):
            items = tuple(items[0])
        elif function.__name__ == "transpose" and len(items) == 2:
            return _two_axes_transpose(function, self, *items)
        if function.__name__ == "transpose" and not items:
            return function(self)
        return function(self, items)

    return method


def _two_axes_transpose(function, x, a: Any, b: Any):
    """`t.transpose(a, b)`: NumPy reads the axis order of a 2-D tensor, PyTorch swaps axes a and
    b. Tensors of other ranks have one reading (the swap); a 2-D tensor's agree but for the
    identity order, which is refused rather than guessed."""
    if x.ndim == 2:
        try:
            order = tuple(normalize_axis(v, 2)[0] for v in (a, b))
        except (TypeError, ValueError):
            order = None  # NumPy's reading reports it
        if order == (0, 1):
            raise ValueError(
                f"transpose: t.transpose({a}, {b}) of a 2-D tensor is ambiguous: NumPy reads "
                "the axis order (no change), PyTorch swaps the two axes. Write "
                f"t.transpose(({a}, {b})) for NumPy's, t.swapaxes({a}, {b}) or t.T for "
                "PyTorch's")
        return function(x, (a, b))
    try:
        axis1, axis2 = (normalize_axis(v, x.ndim)[0] for v in (a, b))
    except (TypeError, ValueError) as err:
        raise type(err)(f"transpose: {err}") from None
    return prims.swapaxes(x, axis1=axis1, axis2=axis2)


def _reshape_params(x, shape) -> dict:
    return {"shape": shape_tuple(shape)}


# --- batch rules (ag.vmap): the same ops on arrays with `n` leading batch dims ----------------
def _batch_reshape(forward, arrays, batched, params, n, prefix):
    return arrays[0].reshape(prefix + params["shape"])


def _batch_transpose(forward, arrays, batched, params, n, prefix):
    x, axes = arrays[0], params["axes"]
    per_example = range(n, x.ndim)
    order = reversed(per_example) if axes is None else (a + n for a in axes)
    return x.transpose(tuple(range(n)) + tuple(order))


def _batch_broadcast_to(forward, arrays, batched, params, n, prefix):
    shape = params["shape"]
    x = arrays[0]
    x = pad_after_prefix(x, n, len(shape))
    return _broadcast_forward(x, prefix + tuple(shape))


def _batch_sum_to(forward, arrays, batched, params, n, prefix):
    x, shape = arrays[0], params["shape"]
    lead = x.ndim - n - len(shape)
    axes = tuple(range(n, n + lead)) + tuple(
        n + lead + i for i, size in enumerate(shape) if size == 1 and x.shape[n + lead + i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(x.shape[:n] + tuple(shape)) if lead else x


def _batched_index(index: Any, n: int) -> tuple:
    items = index if isinstance(index, tuple) else (index,)
    arrays = [k for k, i in enumerate(items) if isinstance(i, np.ndarray) and i.ndim > 0
              or isinstance(i, list)]
    if arrays and arrays[-1] - arrays[0] + 1 != len(arrays):
        raise NotImplementedError("getitem with array indices that are not next to each other")
    return (slice(None),) * n + items


def _batch_getitem(forward, arrays, batched, params, n, prefix):
    index = params["index"]
    if any(hasattr(i, "_apply_primitive") for i in (index if isinstance(index, tuple) else
                                                    (index,))):
        raise TypeError("internal: an index Tensor reached getitem's parameters under vmap "
                        "(pick(x, index) in ops/shape.py makes it an input)")
    return arrays[0][_batched_index(index, n)]


def _batch_scatter_add(forward, arrays, batched, params, n, prefix):
    return _scatter_add_forward(arrays[0], _batched_index(params["index"], n),
                                prefix + tuple(params["shape"]))


reshape = primitive(
    "reshape", lambda x, shape: np.reshape(x, shape),
    lambda g, ans, x, shape: prims.reshape(g, shape=x.shape),
    prepare=_reshape_params, method=_sequence_method, source="{x}.reshape({shape})",
    batch=_batch_reshape, identity=same_as_input,
    linear=True, doc="The same elements in a new shape (one entry may be -1).",
)


def _transpose_params(x, axes: Any = None) -> dict:
    if axes == (None,):  # t.transpose(None), as ndarray.transpose(None): reverse the axes
        axes = None
    if axes is not None:
        if not isinstance(axes, (tuple, list)):
            raise TypeError(f"axes must be a sequence of ints or None, got {axes!r}")
        axes = tuple(axes)
        if len(axes) != x.ndim:
            raise ValueError(f"axes {axes} are not a permutation of {x.ndim} dims")
        normalized = tuple(normalize_axis(a, x.ndim)[0] for a in axes)
        if len(set(normalized)) != x.ndim:
            raise ValueError(f"axes {axes} are not a permutation of {x.ndim} dims")
        axes = normalized
    return {"axes": axes}


def _transpose_vjp(g, ans, x, axes):
    return prims.transpose(g, axes=None if axes is None else tuple(np.argsort(axes).tolist()))


def _transpose_identity(node, inputs, params, constant):
    return inputs[0] if inputs[0].ndim <= 1 else None  # a vector's transpose is itself


transpose = primitive(
    "transpose", lambda x, axes: np.transpose(x, axes), _transpose_vjp,
    prepare=_transpose_params, method=_sequence_method,
    source=lambda params, shapes: "{x}.T" if params["axes"] is None or (
        tuple(params["axes"]) == (1, 0)) else "{x}.transpose({axes})",
    batch=_batch_transpose, identity=_transpose_identity,
    linear=True, doc="Permute axes (reverse them by default, like ndarray.T). The method also "
    "takes PyTorch's t.transpose(a, b) (swap two axes) where it cannot mean NumPy's order.",
    display=lambda ctx: f"{ctx.x}.T" if ctx.params.get("axes") is None else None,
)


def _swapaxes_params(x, axis1: int, axis2: int) -> dict:
    return {"axis1": normalize_axis(axis1, x.ndim)[0], "axis2": normalize_axis(axis2, x.ndim)[0]}


swapaxes = primitive(
    "swapaxes", lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2),
    lambda g, ans, x, axis1, axis2: prims.swapaxes(g, axis1=axis1, axis2=axis2),
    prepare=_swapaxes_params, batch=shift_axes("axis1", "axis2"), linear=True,
    doc="Exchange two axes.",
    source="np.swapaxes({x}, {axis1}, {axis2})",
)
expand_dims = primitive(
    "expand_dims", lambda x, axis: np.expand_dims(x, axis),
    lambda g, ans, x, axis: prims.reshape(g, shape=x.shape),
    prepare=lambda x, axis: {"axis": _new_axes(axis, x.ndim)},
    source="np.expand_dims({x}, {axis})", batch=shift_axis(False, new_axes=True),
    identity=same_as_input, linear=True,
    doc="Insert size-1 axes at `axis` (positions in the result).",
)


def _new_axes(axis: Any, ndim: int) -> Any:
    """expand_dims' axis: positions in the result, which has one more dim per new axis."""
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    normalize_axis(axis, ndim + count)  # checks it (AxisError when out of range)
    return axis


def _shape_param(x, shape):
    shape = shape_tuple(shape)
    return x if x.shape == shape else {"shape": shape}


def _sum_to_param(x, shape):
    shape = shape_tuple(shape)
    try:
        reachable = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        reachable = False
    if not reachable:
        raise ValueError(f"cannot sum a tensor of shape {x.shape} down to shape {shape}: "
                         f"{shape} does not broadcast to {x.shape}")
    return x if x.shape == shape else {"shape": shape}


def _broadcast_forward(x, shape):
    """A writable copy of x broadcast to shape (np.broadcast_to returns a read-only view, and is
    slower on small arrays)."""
    out = np.empty(shape, dtype=np.result_type(x))
    out[...] = x
    return out


broadcast_to = primitive(
    "broadcast_to", _broadcast_forward,
    lambda g, ans, x, shape: prims.sum_to(g, shape=x.shape),
    prepare=_shape_param, batch=_batch_broadcast_to, identity=same_as_input,
    linear=True, doc="Broadcast to `shape`; the gradient is summed back.",
    source="np.broadcast_to({x}, {shape})",
)
sum_to = primitive(
    "sum_to", sum_to_shape, lambda g, ans, x, shape: prims.broadcast_to(g, shape=x.shape),
    prepare=_sum_to_param, source=lambda params, shapes: _sum_to_source(shapes[0], params["shape"]),
    batch=_batch_sum_to, identity=same_as_input,
    linear=True,
    doc="Sum a broadcast tensor down to `shape` (the inverse of broadcast_to for gradients).",
)


def _sum_to_source(in_shape: tuple, shape: tuple) -> str:
    """sum_to written for the shapes at hand: `{x}.sum(axis=0)`, with keepdims where needed."""
    lead = len(in_shape) - len(shape)
    kept = tuple(lead + i for i, n in enumerate(shape) if n == 1 and in_shape[lead + i] != 1)
    text = "{x}"
    if kept:
        text += f".sum(axis={kept[0] if len(kept) == 1 else kept}, keepdims=True)"
    if lead:
        axes = tuple(range(lead))
        text += f".sum(axis={axes[0] if lead == 1 else axes})"
    return text


def _is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


def _scatter_accumulate(g, index, shape):
    """Zeros of `shape` with g added at `index` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, index, g)
    return out


def _scatter_set(g, index, shape):
    """Zeros of `shape` with g written at a basic index (which never repeats an element)."""
    out = np.zeros(shape, dtype=g.dtype)
    out[index] = g
    return out


def _scatter_add_forward(g, index, shape):
    return (_scatter_set if _is_basic(index) else _scatter_accumulate)(g, index, shape)


def _index_param(index: Any) -> Any:
    """Tensors in an index stand for their values; a list is an integer (or boolean) array."""
    if hasattr(index, "_apply_primitive"):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if hasattr(i, "_apply_primitive") else i for i in index)
    if isinstance(index, list):  # x[[]] selects nothing, as in NumPy (not a float index)
        return np.asarray(index, dtype=np.intp) if not index else np.asarray(index)
    return index


getitem = primitive(
    "getitem", lambda x, index: x[index],
    lambda g, ans, x, index: prims.scatter_add(g, index=index, shape=x.shape),
    prepare=lambda x, index: _index_call(x, index), source="{x}[{index}]",
    batch=_batch_getitem, operator=("__getitem__", None),
    linear=True,
    doc="x[index]: slices, integers, integer/boolean arrays; repeated indices accumulate.",
    display="{x}[{index!r}]",
)
scatter_add = primitive(
    "scatter_add", _scatter_add_forward,
    lambda g, ans, src, index, shape: prims.getitem(g, index=index),
    source=lambda params, shapes: ("scatter_set" if _is_basic(params["index"]) else
                                   "scatter_add") + "({x}, {index}, {shape})",
    helper={"scatter_add": _scatter_accumulate, "scatter_set": _scatter_set},
    prepare=lambda src, index, shape: _index_call(src, index, shape),
    batch=_batch_scatter_add,
    linear=True,
    doc="A zero tensor of `shape` with `src` added at `index` (repeated indices accumulate).",
)


# --- indexing by integer Tensors that differ per example (vmap) --------------------------------
class _Slot:
    """Where an index Tensor goes in an index template."""

    def __repr__(self) -> str:
        return "<index tensor>"


SLOT = _Slot()


def _fill(template: tuple, arrays: Any) -> tuple:
    """The index `template` with its slots filled by `arrays`, in order."""
    it = iter(arrays)
    return tuple(next(it) if item is SLOT else item for item in template)


def _example_index(template: tuple, arrays: list, batched: list, n: int, prefix: tuple):
    """The index picking every example's own elements from x broadcast to the batch, and the
    (count, place) of the picked dims that must move to where one example's indexing puts them."""
    items = list(template)
    it = iter(zip(arrays, batched, strict=True))
    ranks = []
    for k, item in enumerate(template):
        if item is SLOT:
            a, b = next(it)
            items[k] = (a, b)
        elif isinstance(item, np.ndarray):
            items[k] = (item, False)
        elif item is None or item is Ellipsis or (not isinstance(item, (slice, int, np.integer))):
            raise NotImplementedError(f"indexing with {item!r} next to an index tensor")
    for item in items:
        if isinstance(item, tuple):
            a, b = item
            if a.dtype.kind not in "iu":
                raise NotImplementedError(f"an index tensor of dtype {a.dtype}")
            ranks.append(a.ndim - (n if b else 0))
    rank = max(ranks)
    for k, item in enumerate(items):
        if isinstance(item, tuple):
            a, b = item
            items[k] = pad_after_prefix(a, n, rank) if b else a.reshape(
                (1,) * (n + rank - a.ndim) + a.shape)
    grids = tuple(np.arange(size).reshape((1,) * j + (size,) + (1,) * (n - j - 1 + rank))
                  for j, size in enumerate(prefix))
    advanced = [k for k, item in enumerate(items) if not isinstance(item, slice)]
    contiguous = advanced[-1] - advanced[0] + 1 == len(advanced)
    before = advanced[0]  # slices before the picked dims (each keeps one dim)
    move = rank if contiguous and before else 0
    return grids + tuple(items), (move, before)


def _take_forward(x, *index, template):
    return x[_fill(template, index)]


def _put_forward(g, *index, template, shape):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, _fill(template, index), g)
    return out


def _batch_take(forward, arrays, batched, params, n, prefix):
    x = arrays[0]
    x = np.broadcast_to(x, prefix + (x.shape[n:] if batched[0] else x.shape))
    full, (move, before) = _example_index(params["template"], arrays[1:], batched[1:], n, prefix)
    out = x[full]
    if move:  # one example's indexing keeps leading slices' dims in front of the picked ones
        out = np.moveaxis(out, tuple(range(n, n + move)), tuple(range(n + before,
                                                                       n + before + move)))
    return out


def _batch_put(forward, arrays, batched, params, n, prefix):
    g = arrays[0]
    full, (move, before) = _example_index(params["template"], arrays[1:], batched[1:], n, prefix)
    out = np.zeros(prefix + tuple(params["shape"]), dtype=g.dtype)
    g = np.broadcast_to(g, prefix + (g.shape[n:] if batched[0] else g.shape))
    if move:
        g = np.moveaxis(g, tuple(range(n + before, n + before + move)),
                        tuple(range(n, n + move)))
    np.add.at(out, full, g)
    return out


def _take_vjp(i, g, ans, *xs, template):  # xs: x, then the index Tensors
    return prims.put_add(g, *xs[1:], template=template, shape=xs[0].shape) if i == 0 else None


def _put_vjp(i, g, ans, *xs, template, shape):  # xs: src, then the index Tensors
    return prims.take_index(g, *xs[1:], template=template) if i == 0 else None


def _take_jvp(tangents, ans, x, *index, template):
    t = tangents[0]
    return None if t is None else prims.take_index(t, *index, template=template)


def _put_jvp(tangents, ans, src, *index, template, shape):
    t = tangents[0]
    return None if t is None else prims.put_add(t, *index, template=template, shape=shape)


take_index = primitive(
    "take_index", _take_forward, _take_vjp, variadic=True, public=None, batch=_batch_take,
    jvp=_take_jvp, inputs=("x", "index"),
    doc="x[index] where some of the index is integer Tensors (inputs, so that under vmap each "
        "example picks its own elements).",
)
put_add = primitive(
    "put_add", _put_forward, _put_vjp, variadic=True, public=None, batch=_batch_put,
    jvp=_put_jvp, inputs=("src", "index"),
    doc="Zeros of `shape` with `src` added at an index holding integer Tensors (take_index's "
        "gradient).",
)


def pick(x: Any, index: Any) -> Any:
    """x[index] for rules and composites, as the public `x[index]` does it: an index holding a
    batched integer Tensor runs take_index."""
    params = _index_call(x, index)
    if isinstance(params, Call):
        return params.prim(*params.inputs, **params.params)
    return prims.getitem(x, **params)


def _index_call(x: Any, index: Any, shape: Any = None) -> Any:
    """getitem's (with `shape`, scatter_add's) parameters; an index holding a batched integer
    Tensor (one that differs per example under vmap) runs take_index (put_add), with those
    Tensors as inputs."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(getattr(i, "_levels", None) is not None for i in items):
        params = {"index": _index_param(index)}
        return params if shape is None else {**params, "shape": tuple(shape)}
    if any(i is Ellipsis for i in items):  # spelled out: one example's dims are known
        k = items.index(Ellipsis)
        named = sum(1 for i in items if i is not Ellipsis and i is not None)
        items = items[:k] + (slice(None),) * (x.ndim - named) + items[k + 1:]
    tensors = tuple(i for i in items if hasattr(i, "_apply_primitive"))
    template = tuple(SLOT if hasattr(i, "_apply_primitive") else
                     np.asarray(i) if isinstance(i, list) else i for i in items)
    if shape is None:
        return Call(take_index, (x, *tensors), {"template": template})
    return Call(put_add, (x, *tensors), {"template": template, "shape": tuple(shape)})


def _concatenate_params(xs: tuple, axis: Any) -> Any:
    """The axis checked; axis=None joins the flattened inputs, as np.concatenate."""
    if axis is None:
        return Call(concatenate, tuple(prims.reshape(x, shape=(-1,)) for x in xs), {"axis": 0})
    return {"axis": normalize_axis(axis, xs[0].ndim)[0]}


def _concatenate_vjp(i, g, ans, *xs, axis):
    start = 0
    for k in range(i):
        start += xs[k].shape[axis]
    index = (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)
    return prims.getitem(g, index=index)


def _stack_vjp(i, g, ans, *xs, axis):
    return prims.getitem(g, index=(slice(None),) * axis + (i,))


concatenate = primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), _concatenate_vjp,
    variadic=True, prepare=lambda xs, axis=0: _concatenate_params(xs, axis),
    source="np.concatenate([{xs}], axis={axis})",
    batch=shift_axis(False),
    linear=True, doc="Join tensors along an existing axis.",
)
stack = primitive(
    "stack", lambda *xs, axis: np.stack(xs, axis=axis), _stack_vjp,
    variadic=True, prepare=lambda xs, axis=0: {"axis": normalize_axis(axis, xs[0].ndim + 1)[0]},
    source="np.stack([{xs}], axis={axis})",
    batch=shift_axis(False, new_axes=True),
    linear=True,
    doc="Join tensors along a new axis.",
)

