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
from collections.abc import Callable
from typing import Any

import numpy as np

from . import state
from .levels import Level, align, as_batched
from .ops.registry import Primitive, prims
from .state import thread
from .tensor import Tensor, constant, record
from .transforms import tree_flatten


def _moveaxis(x: np.ndarray, source: int, destination: int) -> np.ndarray:
    """np.moveaxis, without its cost when nothing moves (a batch axis 0 staying at 0)."""
    return x if source == destination else np.moveaxis(x, source, destination)


# ---------------------------------------------------------------------------------------------
# Into and out of the batch: two rows, so that gradients cross a vmap's boundary
# ---------------------------------------------------------------------------------------------
def _batch_forward(x, level, axis, levels):
    """x's logical `axis` moved to be `level`'s batch dim (after the batch dims it has)."""
    return _moveaxis(x, len(levels) + axis, len(levels))


def _batch_vjp(g, ans, x, level, axis, levels):
    k = len(levels)
    if not hasattr(g, "_apply_primitive"):
        return _moveaxis(g, k, k + axis)
    return as_batched(g, _moveaxis(g.data, k, k + axis), levels)


def _unbatch_forward(x, level, axis, levels):
    k = levels.index(level)
    return _moveaxis(x, k, len(levels) - 1 + axis)


def _unbatch_vjp(g, ans, x, level, axis, levels):
    rest = tuple(lv for lv in levels if lv is not level)
    k = levels.index(level)
    if not hasattr(g, "_apply_primitive"):
        return _moveaxis(g, len(rest) + axis, k)
    data, have = g.data, g._levels or ()
    if have != rest:  # the same gradient for every example of some level
        if any(lv not in rest for lv in have):
            raise NotImplementedError("vmap: a batched gradient crossing another vmap's exit")
        data = align(data, have, rest)
        data = np.broadcast_to(data, tuple(lv.size for lv in rest) + data.shape[len(rest):])
    return as_batched(g, _moveaxis(data, len(rest) + axis, k), levels)


# not registered among the ops: they exist only at vmap's boundary
to_batch = Primitive(
    "to_batch", _batch_forward, (_batch_vjp,), public=None,
    doc="vmap's entry: an axis of the argument becomes the batch.")
from_batch = Primitive(
    "from_batch", _unbatch_forward, (_unbatch_vjp,), public=None,
    doc="vmap's exit: the batch becomes an axis of the result.")


def _enter(x: Any, level: Level, axis: int, where: str) -> Any:
    """An argument leaf as a Tensor batched over `level` along its `axis`."""
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
    if not isinstance(t, Tensor):
        t = constant(np.asarray(t))
    levels = t._levels or ()
    if level not in levels:  # the same for every example: repeated along `axis` (recorded)
        if not -(t.ndim + 1) <= axis < t.ndim + 1:
            raise np.exceptions.AxisError(
                f"{where}: out_axes {axis} is out of range for a result of shape {t.shape}")
        axis %= t.ndim + 1
        shape = t.shape[:axis] + (level.size,) + t.shape[axis:]
        return prims.broadcast_to(prims.expand_dims(t, axis=axis), shape=shape)
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
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args: Any) -> Any:
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
