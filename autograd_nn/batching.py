"""`vmap`: run a function written for one example on a whole batch at once, with no Python loop.

Inside `vmap(f)`, the arguments are Tensors whose arrays carry the batch as extra leading dims,
one per active vmap level (`Tensor._levels` names them, outermost first); `.shape` shows one
example's shape. Every op then runs once on the batch through its row's batch rule
(ops/batch_rules.py) and is recorded as the per-example op it stands for, so its backward rules
run on the batch too: `vmap(grad(loss))` gives per-example gradients in one backward pass, and
`grad` of something computed with `vmap` sums over the batch as it should.

A gradient carries the levels of the tensor it belongs to (plus those of a vmap the backward
runs inside); levels of a finished vmap are summed out where a gradient leaves the batch.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import state
from .ops.batch_rules import elementwise
from .ops.registry import Primitive, primitive
from .state import thread

_order = itertools.count()


class Level:
    """One running `vmap`: its batch size, and its place among nested ones."""

    __slots__ = ("size", "order")

    def __init__(self, size: int) -> None:
        self.size = size
        self.order = next(_order)

    def __repr__(self) -> str:
        return f"<vmap level of size {self.size}>"


def _ordered(levels: Any) -> tuple:
    return tuple(sorted(set(levels), key=lambda level: level.order))


def _align(arr: np.ndarray, have: tuple, want: tuple) -> np.ndarray:
    """A batched array with a dim for every level of `want` (size 1 where it is not batched)."""
    if have == want:
        return arr
    shape, k = [], 0
    for level in want:
        if k < len(have) and have[k] is level:
            shape.append(arr.shape[k])
            k += 1
        else:
            shape.append(1)
    return arr.reshape(tuple(shape) + arr.shape[len(have):])


def _error(prim: Primitive, inputs: tuple, err: Exception) -> Exception:
    shapes = ", ".join(f"{x.shape} {x.dtype}" for x in inputs)
    return type(err)(f"{prim.name} (inside vmap, per example: {shapes}): {err}")


def apply_batched(prim: Primitive, inputs: tuple, params: dict | None) -> Any:
    """Run one op on batched inputs with its batch rule, recorded as the per-example op."""
    from .tensor import record

    m = thread.modes
    levels = _ordered(lv for x in inputs if x._levels for lv in x._levels)
    active = m.batching or ()
    if any(level not in active for level in levels):
        raise RuntimeError(
            f"{prim.name}: a value computed inside vmap is used outside it (or inside another "
            "vmap); return it from the vmapped function instead")
    rule = prim.batch if prim.batch is not None else elementwise if prim.elementwise else None
    if rule is None:
        raise NotImplementedError(
            f"vmap: the op {prim.name} has no batching rule yet (a row's `batch` field); call "
            "it outside vmap, or loop over the batch yourself")
    arrays = tuple(x.data for x in inputs)
    aligned = [_align(x.data, x._levels, levels) if x._levels else x.data for x in inputs]
    batched = [x._levels is not None for x in inputs]
    n, prefix = len(levels), tuple(level.size for level in levels)
    try:
        out = rule(prim.forward, aligned, batched, params or {}, n, prefix)
    except (ValueError, TypeError, IndexError) as err:
        raise _error(prim, inputs, err) from None
    except NotImplementedError as err:
        raise NotImplementedError(f"vmap: {prim.name}: {err} is not supported yet") from None
    return record(prim, inputs, params, arrays, out, m, levels)


# ---------------------------------------------------------------------------------------------
# Backward through ops recorded inside vmap
# ---------------------------------------------------------------------------------------------
def _as_batched(arr: Any, levels: tuple | None) -> Any:
    from .tensor import constant

    t = constant(np.asarray(arr))
    t._levels = levels or None
    return t


def node_gradients(node: Any, g: Any, create_graph: bool) -> list:
    """The gradient for each input of a node recorded inside vmap (None where there is none),
    its rules run on the batch; each matched to its input's levels (see `_match`)."""
    levels = node._levels
    active = thread.modes.batching or ()
    context = _ordered((*active, *levels))
    parents = node._parents
    prim = node._op
    params = node._params or {}
    if create_graph:
        ins, ans, grad = parents, node, g
    else:
        saved = node._saved
        arrays = saved.arrays if saved is not None else [p.data for p in parents]
        ins = [_as_batched(a, p._levels) for a, p in zip(arrays, parents, strict=True)]
        ans, grad = _as_batched(node.data, levels), _as_batched(g, levels)
    prev_batching = state.set_batching(context)
    prev_grad = state.set_grad_enabled(create_graph)
    try:
        out = []
        for i, p in enumerate(parents):
            rule = prim.vjps[0] if prim.variadic else prim.vjps[i]
            if not p._needs_grad or rule is None:
                out.append(None)
                continue
            gi = rule(i, grad, ans, *ins, **params) if prim.variadic else rule(
                grad, ans, *ins, **params)
            out.append(None if gi is None else _match(gi, p, active, create_graph))
        return out
    finally:
        state.set_grad_enabled(prev_grad)
        state.set_batching(prev_batching)


def _match(gi: Any, p: Any, active: tuple, create_graph: bool) -> Any:
    """A gradient for input `p`: levels of finished vmaps that `p` is not batched over are
    summed out (the batch shared `p`); without `create_graph`, the array of `p`'s levels."""
    if not hasattr(gi, "_apply_primitive"):
        gi = _as_batched(gi, None)
    have = gi._levels or ()
    mine = p._levels or ()
    keep = tuple(lv for lv in have if lv in mine or (create_graph and lv in active))
    data = gi.data
    if len(keep) != len(have):
        if create_graph:
            raise NotImplementedError(
                "vmap: a recorded backward (higher order) through the end of a vmap")
        axes = tuple(k for k, lv in enumerate(have) if lv not in keep)
        data = data.sum(axis=axes)
    if create_graph:
        return gi
    if keep != mine:  # the same gradient for every example of a level p is batched over
        data = _align(data, keep, mine)
        data = np.broadcast_to(data, tuple(lv.size for lv in mine) + data.shape[len(mine):])
        data = np.array(data)
    return data


# ---------------------------------------------------------------------------------------------
# Into and out of the batch: two rows, so that gradients cross a vmap's boundary
# ---------------------------------------------------------------------------------------------
def _moved_in(x: np.ndarray, levels: tuple, level: Level, axis: int) -> np.ndarray:
    """x's logical `axis` moved to be `level`'s batch dim (after the batch dims it has)."""
    k = len(levels)
    return np.moveaxis(x, k + axis, k)


def _batch_forward(x, level, axis, levels):
    return _moved_in(x, levels, level, axis)


def _batch_vjp(g, ans, x, level, axis, levels):
    k = len(levels)
    if not hasattr(g, "_apply_primitive"):
        return np.moveaxis(g, k, k + axis)
    return _as_batched(np.moveaxis(g.data, k, k + axis), levels)


def _unbatch_forward(x, level, axis, levels):
    k = levels.index(level)
    return np.moveaxis(x, k, len(levels) - 1 + axis)


def _unbatch_vjp(g, ans, x, level, axis, levels):
    rest = tuple(lv for lv in levels if lv is not level)
    k = levels.index(level)
    if not hasattr(g, "_apply_primitive"):
        return np.moveaxis(g, len(rest) + axis, k)
    data, have = g.data, g._levels or ()
    if have != rest:  # the same gradient for every example of some level
        if any(lv not in rest for lv in have):
            raise NotImplementedError("vmap: a batched gradient crossing another vmap's exit")
        data = _align(data, have, rest)
        data = np.broadcast_to(data, tuple(lv.size for lv in rest) + data.shape[len(rest):])
    return _as_batched(np.moveaxis(data, len(rest) + axis, k), levels)


to_batch = primitive(
    "to_batch", _batch_forward, _batch_vjp, public=None,
    doc="vmap's entry: an axis of the argument becomes the batch (internal).")
from_batch = primitive(
    "from_batch", _unbatch_forward, _unbatch_vjp, public=None,
    doc="vmap's exit: the batch becomes an axis of the result (internal).")


def _enter(x: Any, level: Level, axis: int, where: str) -> Any:
    """An argument leaf as a Tensor batched over `level` along its `axis`."""
    from .tensor import Tensor, constant, record

    t = x if isinstance(x, Tensor) else constant(np.asarray(x))
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{where}: cannot batch a value of dtype {t.dtype}")
    if not -t.ndim <= axis < t.ndim:
        raise np.exceptions.AxisError(
            f"{where}: in_axes {axis} is out of range for an argument of shape {t.shape}")
    axis %= t.ndim
    levels = t._levels or ()
    params = {"level": level, "axis": axis, "levels": levels}
    data = _batch_forward(t.data, **params)
    new_levels = (*levels, level)
    if t._needs_grad:  # recorded: a gradient from inside flows back out
        return record(to_batch, (t,), params, (t.data,), data, thread.modes, new_levels)
    out = constant(data)
    out._levels = new_levels
    return out


def _leave(t: Any, level: Level, axis: int, where: str) -> Any:
    """A result leaf: the batch of `level` becomes its `axis` (broadcast if not batched)."""
    from .tensor import Tensor, constant, record

    if not isinstance(t, Tensor):
        t = constant(np.asarray(t))
    levels = t._levels or ()
    if level not in levels:  # the same for every example
        data = np.broadcast_to(t.data, (level.size,) + t.data.shape) if not levels else None
        if data is None:
            arr = _align(t.data, levels, _ordered((*levels, level)))
            full = _ordered((*levels, level))
            arr = np.broadcast_to(arr, tuple(lv.size for lv in full) + arr.shape[len(full):])
            out = constant(np.array(arr))
            out._levels = full
            return _leave(out, level, axis, where)
        out = constant(np.array(data))
        out._levels = (level,)
        return _leave(out, level, axis, where)
    rest = tuple(lv for lv in levels if lv is not level)
    ndim = t.ndim + 1
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(
            f"{where}: out_axes {axis} is out of range for a result of shape {t.shape}")
    params = {"level": level, "axis": axis % ndim, "levels": levels}
    data = _unbatch_forward(t.data, **params)
    m = thread.modes
    out = record(from_batch, (t,), params, (t.data,), data, m, rest or None)
    return out


def _axes_for(spec: Any, n: int, what: str, where: str) -> list:
    if spec is None or isinstance(spec, int):
        return [spec] * n
    if isinstance(spec, (tuple, list)) and len(spec) == n:
        return list(spec)
    raise ValueError(f"{where}: {what} must be an int, None, or one per argument ({n}), "
                     f"got {spec!r}")


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """`f` mapped over a batch axis of its arguments, run once on the whole batch.

    `in_axes`: the batch axis of every argument (an int, or None for an argument shared by all
    examples), or one entry per positional argument; arguments may be nested dicts/lists of
    arrays. `out_axes` places the batch axis in the results. Composes with `grad` both ways
    (`vmap(grad(loss))` gives per-example gradients) and with itself.
    """
    from .transforms import tree_flatten

    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args: Any) -> Any:
        from .tensor import Tensor

        where = f"vmap of {name}"
        axes = _axes_for(in_axes, len(args), "in_axes", where)
        sizes = {}
        flat = []
        for i, (arg, axis) in enumerate(zip(args, axes, strict=True)):
            leaves, rebuild = tree_flatten(arg)
            flat.append((leaves, rebuild))
            if axis is None:
                continue
            for leaf in leaves:
                shape = leaf.shape if isinstance(leaf, Tensor) else np.shape(leaf)
                if not -len(shape) <= axis < len(shape):
                    raise np.exceptions.AxisError(
                        f"{where}: in_axes {axis} is out of range for argument {i} of shape "
                        f"{tuple(shape)}")
                sizes.setdefault(shape[axis], []).append(i)
        if not sizes:
            raise ValueError(f"{where}: no argument is batched (every in_axes is None)")
        if len(sizes) > 1:
            raise ValueError(f"{where}: the batched arguments disagree on the batch size: "
                             + ", ".join(f"{n} (argument {sorted(set(a))})"
                                         for n, a in sizes.items()))
        level = Level(next(iter(sizes)))
        new_args = []
        for (leaves, rebuild), axis in zip(flat, axes, strict=True):
            if axis is None:
                new_args.append(rebuild(leaves))
            else:
                new_args.append(rebuild([_enter(x, level, axis, where) for x in leaves]))
        outer = thread.modes.batching or ()
        prev = state.set_batching((*outer, level))
        try:
            out = f(*new_args)
        finally:
            state.set_batching(prev)
        leaves, rebuild = tree_flatten(out)
        out_spec = _axes_for(out_axes, len(leaves), "out_axes", where) if isinstance(
            out_axes, (tuple, list)) else [out_axes] * len(leaves)
        # at top level, arrays in give arrays out (as grad); a Tensor argument gives Tensors
        plain = not outer and thread.modes.grad_depth == 0 and not any(
            isinstance(x, Tensor) for leaves_i, _ in flat for x in leaves_i)
        results = []
        for leaf, axis in zip(leaves, out_spec, strict=True):
            t = _leave(leaf, level, 0 if axis is None else axis, where)
            results.append(t.data if plain else t)
        return rebuild(results)

    return wrapped
