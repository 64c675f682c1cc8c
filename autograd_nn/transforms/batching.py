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
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.ops.batch_rules import elementwise
from ..core.ops.registry import Primitive, prims
from ..core.pytree import tree_flatten, tree_leaves_like
from ..core.recording import apply, constant, record
from ..core.state import thread
from ..core.tensor import Tensor
from .levels import Level, align, as_batched, ordered


def _moveaxis(x: np.ndarray, source: int, destination: int) -> np.ndarray:
    """np.moveaxis, without its cost when nothing moves (a batch axis 0 staying at 0)."""
    return x if source == destination else np.moveaxis(x, source, destination)


# ---------------------------------------------------------------------------------------------
# Running ops on a batch (the core calls this for any op with a batched input)
# ---------------------------------------------------------------------------------------------
def _batched_error(prim: Primitive, inputs: tuple, err: Exception) -> Exception:
    shapes = ", ".join(f"{x.shape} {x.dtype}" for x in inputs)
    return type(err)(f"{prim.name} (inside vmap, per example: {shapes}): {err}")


def apply_batched(prim: Primitive, inputs: tuple, params: dict | None) -> Any:
    """Run one op on batched inputs with its batch rule, recorded as the per-example op."""
    levels = None
    for x in inputs:  # the common case: every batched input has the same levels
        if x._levels is not None and x._levels is not levels:
            if levels is None:
                levels = x._levels
            elif x._levels != levels:
                levels = ordered(lv for y in inputs if y._levels for lv in y._levels)
                break
    active = thread.modes.batching or ()
    if levels is not active and any(level not in active for level in levels):
        raise RuntimeError(
            f"{prim.name}: a value computed inside vmap is used outside it (or inside another "
            "vmap); return it from the vmapped function instead")
    rule = prim.modes.batch
    if rule is None and prim.elementwise:
        rule = elementwise
    if rule is None:
        raise NotImplementedError(
            f"vmap: the op {prim.name} has no batching rule yet (a row's `batch` field); call "
            "it outside vmap, or loop over the batch yourself")
    arrays = tuple(x.data for x in inputs)
    aligned = [x.data if x._levels is None or x._levels == levels else
               align(x.data, x._levels, levels) for x in inputs]
    batched = [x._levels is not None for x in inputs]
    n, prefix = len(levels), tuple(level.size for level in levels)
    try:
        out = rule(prim.forward, aligned, batched, params or {}, n, prefix)
    except (ValueError, TypeError, IndexError) as err:
        raise _batched_error(prim, inputs, err) from None
    except NotImplementedError as err:
        raise NotImplementedError(f"vmap: {prim.name}: {err} is not supported yet") from None
    return record(prim, inputs, params, arrays, out, levels)


# ---------------------------------------------------------------------------------------------
# Into and out of the batch: two rows, each the other's gradient, so that gradients (of any
# order) and tangents cross a vmap's boundary
# ---------------------------------------------------------------------------------------------
def _batch_forward(x, level, axis, levels):
    """x's logical `axis` moved to be `level`'s batch dim, among the batch dims it has."""
    k = ordered((*levels, level)).index(level)
    return _moveaxis(x, len(levels) + axis, k)


def _batch_vjp(g, ans, x, level, axis, levels):
    if not hasattr(g, "_apply_primitive"):  # plain arrays batched exactly like the node
        k = ordered((*levels, level)).index(level)
        return _moveaxis(g, k, len(levels) + axis)
    return leave(g, level, axis)


def _unbatch_forward(x, level, axis, levels):
    k = levels.index(level)
    return _moveaxis(x, k, len(levels) - 1 + axis)


def _unbatch_vjp(g, ans, x, level, axis, levels):
    if not hasattr(g, "_apply_primitive"):
        rest = tuple(lv for lv in levels if lv is not level)
        return _moveaxis(g, len(rest) + axis, levels.index(level))
    return enter(g, level, axis)


def _same_batch(forward, arrays, batched, params, n, prefix):
    """Entering or leaving one vmap moves one axis: the row's forward already counts batch
    dims (its `levels` parameter)."""
    return forward(arrays[0], **params)


def _batch_jvp(tangents, out, x, level, axis, levels):
    return None if tangents[0] is None else enter(tangents[0], level, axis)


def _unbatch_jvp(tangents, out, x, level, axis, levels):
    return None if tangents[0] is None else leave(tangents[0], level, axis)


def _not_compiled(params: dict, shapes: list) -> str:
    """The source form `ag.compile` asks for: vmap has none yet, and says so by name."""
    raise NotImplementedError(
        "compile: vmap (and jacrev, jacfwd, jacobian and hessian, which run on it) cannot be "
        "compiled yet; compile the function vmap maps, or run the vmapped function eagerly")


# not registered among the ops: they exist only at vmap's boundary
to_batch = Primitive(
    "to_batch", _batch_forward, (_batch_vjp,), public=None, batch=_same_batch, jvp=_batch_jvp,
    source=_not_compiled, doc="vmap's entry: an axis of the argument becomes the batch.")
from_batch = Primitive(
    "from_batch", _unbatch_forward, (_unbatch_vjp,), public=None, batch=_same_batch,
    jvp=_unbatch_jvp, source=_not_compiled,
    doc="vmap's exit: the batch becomes an axis of the result.")


def enter(x: Any, level: Level, axis: int, where: str = "vmap") -> Any:
    """A value as a Tensor batched over `level` along its `axis` (recorded: gradients and
    tangents cross back)."""
    t = x if isinstance(x, Tensor) else constant(np.asarray(x))
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{where}: cannot batch a value of dtype {t.dtype}")
    if not -t.ndim <= axis < t.ndim:
        raise np.exceptions.AxisError(
            f"{where}: in_axes {axis} is out of range for an argument of shape {t.shape}")
    levels = t._levels or ()
    outer = thread.modes.batching or ()
    prev = state.set_batching(ordered((*outer, *levels, level)))
    try:
        out = apply(to_batch, (t,), {"level": level, "axis": axis % t.ndim, "levels": levels})
    finally:
        state.set_batching(prev)
    out._levels = ordered((*levels, level))
    return out


def leave(t: Any, level: Level, axis: int, where: str = "vmap") -> Any:
    """A batched value with the batch of `level` as its `axis` (repeated along `axis` when it
    is the same for every example)."""
    if not isinstance(t, Tensor):
        t = constant(np.asarray(t))
    levels = t._levels or ()
    ndim = t.ndim + 1
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(
            f"{where}: out_axes {axis} is out of range for a result of shape {t.shape}")
    axis %= ndim
    outer = thread.modes.batching or ()
    prev = state.set_batching(ordered((*outer, *levels, level)))
    try:
        if level not in levels:  # the same for every example: repeated (recorded)
            shape = t.shape[:axis] + (level.size,) + t.shape[axis:]
            return prims.broadcast_to(prims.expand_dims(t, axis=axis), shape=shape)
        out = apply(from_batch, (t,), {"level": level, "axis": axis, "levels": levels})
    finally:
        state.set_batching(prev)
    out._levels = tuple(lv for lv in levels if lv is not level) or None
    return out


def _sum_out(t: Any, level: Level) -> Any:
    """A batched value summed over the examples of `level` (recorded)."""
    return prims.sum(leave(t, level, 0), axis=0, keepdims=False)


def node_gradients(node: Any, g: Any, on_tensors: bool) -> list:
    """The gradient for each input of a node recorded inside vmap (None where there is none),
    its rules run on the batch; each matched to its input's levels (see `_match`)."""
    levels = node._levels
    active = thread.modes.batching or ()
    context = ordered((*active, *levels))
    parents = node._parents
    if on_tensors:
        ins, ans, grad = parents, node, g
    else:
        saved = node._saved
        arrays = saved[0] if saved is not None else [p.data for p in parents]
        ins = [as_batched(node, a, p._levels) for a, p in zip(arrays, parents, strict=True)]
        ans = as_batched(node, node.data, levels)
        grad = g if hasattr(g, "_apply_primitive") else as_batched(node, g, levels)
    prev_batching = state.set_batching(context)
    try:
        sent = engine.apply_rules(node._op, node._params, parents, grad, ans, ins, node=node)
        return [None if gi is None else _match(gi, p, active, on_tensors)
                for gi, p in zip(sent, parents, strict=True)]
    finally:
        state.set_batching(prev_batching)


def _match(gi: Any, p: Any, active: tuple, on_tensors: bool) -> Any:
    """A gradient for input `p`: levels of finished vmaps that `p` is not batched over are
    summed out (the batch shared `p`), as recorded ops; on arrays, the array of exactly `p`'s
    levels."""
    if not hasattr(gi, "_apply_primitive"):
        gi = as_batched(p, gi, None)
    have = gi._levels or ()
    mine = p._levels or ()
    for level in reversed(have):
        if level not in mine and not (on_tensors and level in active):
            gi = _sum_out(gi, level)
    if on_tensors:
        return gi
    data, keep = gi.data, gi._levels or ()
    if keep != mine:  # the same gradient for every example of a level p is batched over
        data = align(data, keep, mine)
        data = np.broadcast_to(data, tuple(lv.size for lv in mine) + data.shape[len(mine):])
        data = np.array(data)
    return data


def _add_gradients(a: Any, b: Any) -> Any:
    """a + b inside the vmaps either is batched over (a backward pass adds up gradients of
    values from vmaps that have finished)."""
    outer = thread.modes.batching or ()
    prev = state.set_batching(ordered((*outer, *(a._levels or ()), *(b._levels or ()))))
    try:
        return a + b
    finally:
        state.set_batching(prev)


state.install_batching(apply_batched, node_gradients, _add_gradients)


def _unbatched(t: Any, level: Level, where: str) -> Any:
    """A result returned with out_axes=None: the same for every example, given as it is."""
    if isinstance(t, Tensor) and t._levels is not None and level in t._levels:
        raise ValueError(f"{where}: out_axes=None for a result that differs between the "
                         f"examples (shape {t.shape} per example); give it a batch axis")
    return t if isinstance(t, Tensor) else constant(np.asarray(t))


def _leaf_paths(tree: Any) -> list[str]:
    """Where each leaf of an argument sits ("['a']", "[0]"; "" for the argument itself)."""
    if isinstance(tree, dict):
        return [f"[{k!r}]{p}" for k, v in tree.items() for p in _leaf_paths(v)]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [f"[{i}]{p}" for i, v in enumerate(tree) for p in _leaf_paths(v)]
    return [""]


def _argument_names(f: Callable, n: int) -> list[str]:
    """The names of `f`'s first `n` positional parameters ("argument i" where unknown)."""
    names = [f"argument {i}" for i in range(n)]
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return names
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    for i in range(n):
        if i < len(positional):
            names[i] = positional[i]
        elif star is not None:
            names[i] = f"{star}[{i - len(positional)}]"
    return names


def _size_mismatch(f: Callable, where: str, args: tuple, axes: list, flat: list,
                   leaf_sizes: list[list[int | None]]) -> str:
    """The batch-size error: every batched value by its argument's name and path (dict keys,
    list positions), grouped by size, and an `in_axes` that gives None to the arguments that
    do not have the most common size (parameters shared by every example, typically)."""
    names = _argument_names(f, len(args))
    by_size: dict[int, list[str]] = {}
    for i, (arg, (_, _, leaf_axes)) in enumerate(zip(args, flat, strict=True)):
        for path, size, ax in zip(_leaf_paths(arg), leaf_sizes[i], leaf_axes, strict=True):
            if size is not None:
                by_size.setdefault(size, []).append(f"{names[i]}{path} (axis {ax})")
    lines = [f"{where}: the batched arguments disagree on the batch size (in_axes="
             f"{axes[0] if len(set(map(repr, axes))) == 1 else tuple(axes)!r} takes "
             "the batch from each of them):"]
    lines += [f"  {size}: {', '.join(values)}" for size, values in by_size.items()]
    # the size most whole arguments agree on (ties: the later argument, the data), and the
    # in_axes that batches only what has it
    whole = [(i, {s for s in sz if s is not None}) for i, sz in enumerate(leaf_sizes)]
    votes: dict[int, list[int]] = {}
    for i, found in whole:
        if len(found) == 1:
            votes.setdefault(next(iter(found)), []).append(i)
    if not votes:  # no argument is all of one size: count the values instead
        for i, sz in enumerate(leaf_sizes):
            for size in sz:
                if size is not None:
                    votes.setdefault(size, []).append(i)
    if votes:
        best = max(votes, key=lambda s: (len(votes[s]), max(votes[s]), s))
        suggested = []
        for (i, found), (_, rebuild, leaf_axes) in zip(whole, flat, strict=True):
            if found <= {best}:
                suggested.append(axes[i])
            elif best not in found:
                suggested.append(None)
            else:  # a dict or list some of whose leaves have the size: an axis per leaf
                suggested.append(rebuild([ax if size == best else None for ax, size in
                                          zip(leaf_axes, leaf_sizes[i], strict=True)]))
        shared = [names[i] for i, (_, found) in enumerate(whole) if found and best not in found]
        spec = "(" + ", ".join(map(repr, suggested)) + ("," if len(suggested) == 1 else "") + ")"
        one = len(shared) == 1
        who = " and ".join(shared) if shared else f"the values not of size {best}"
        lines.append(f"If {who} {'is' if one else 'are'} the same for every example "
                     f"(parameters, say), give {'it' if one else 'them'} None in in_axes and "
                     f"batch the rest over size {best}: vmap(..., in_axes={spec})")
    return "\n".join(lines)


def _axes_for(spec: Any, n: int, what: str, where: str) -> list:
    if spec is None or isinstance(spec, int):
        return [spec] * n
    if isinstance(spec, (tuple, list)) and len(spec) == n:
        return list(spec)  # an entry may itself be nested like its argument (dicts of axes)
    raise ValueError(f"{where}: {what} must be an int, None, or one per argument ({n}), "
                     f"got {spec!r}")


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """`f` mapped over a batch axis of its arguments, run once on the whole batch.

    `in_axes`: the batch axis of every argument (an int, or None for an argument shared by all
    examples), or one entry per positional argument; arguments may be nested dicts/lists of
    arrays. `out_axes` places the batch axis in the results (None: a result that is the same
    for every example, returned without a batch axis). Composes with `grad` both ways
    (`vmap(grad(loss))` gives per-example gradients) and with itself.
    """
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args: Any) -> Any:
        where = f"vmap of {name}"
        axes = _axes_for(in_axes, len(args), "in_axes", where)
        sizes: dict[int, list[str]] = {}
        leaf_sizes: list[list[int | None]] = []  # per argument, per leaf (None: not batched)
        flat = []
        for i, (arg, axis) in enumerate(zip(args, axes, strict=True)):
            leaf_sizes.append([])
            leaves, rebuild = tree_flatten(arg)
            leaf_axes = ([axis] * len(leaves) if axis is None or isinstance(axis, int) else
                         tree_leaves_like(axis, arg, where, f"in_axes entry of argument {i}"))
            flat.append((leaves, rebuild, leaf_axes))
            for leaf, path, ax in zip(leaves, _leaf_paths(arg), leaf_axes, strict=True):
                if ax is None:
                    leaf_sizes[i].append(None)
                    continue
                if not isinstance(ax, int):
                    raise TypeError(f"{where}: in_axes entries must be ints or None, got {ax!r}")
                shape = leaf.shape if isinstance(leaf, Tensor) else np.shape(leaf)
                if not -len(shape) <= ax < len(shape):
                    raise np.exceptions.AxisError(
                        f"{where}: in_axes {ax} is out of range for argument {i}{path} of "
                        f"shape {tuple(shape)}")
                sizes.setdefault(shape[ax], []).append(f"argument {i}{path}")
                leaf_sizes[i].append(shape[ax])
        if not sizes:
            raise ValueError(f"{where}: no argument is batched (every in_axes is None)")
        if len(sizes) > 1:
            raise ValueError(_size_mismatch(f, where, args, axes, flat, leaf_sizes))
        level = Level(next(iter(sizes)))
        new_args = []
        for leaves, rebuild, leaf_axes in flat:
            # a leaf shared by every example: arrays become constants, so that indexing one
            # with a batched value (table[i]) runs per example
            new_args.append(rebuild([
                (constant(x) if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" else x)
                if ax is None else enter(x, level, ax, where)
                for x, ax in zip(leaves, leaf_axes, strict=True)]))
        outer = thread.modes.batching or ()
        prev = state.set_batching((*outer, level))
        try:
            out = f(*new_args)
            leaves, rebuild = tree_flatten(out)
            out_spec = _axes_for(out_axes, len(leaves), "out_axes", where) if isinstance(
                out_axes, (tuple, list)) else [out_axes] * len(leaves)
            results = [_unbatched(leaf, level, where) if axis is None else
                       leave(leaf, level, axis, where)
                       for leaf, axis in zip(leaves, out_spec, strict=True)]
        finally:
            state.set_batching(prev)
        # at top level, arrays in give arrays out (as grad); a Tensor argument gives Tensors
        plain = thread.modes.grad_depth == 0 and not thread.modes.tensors_in_backward \
            and not any(isinstance(x, Tensor) for leaves_i, _, _ in flat for x in leaves_i)
        return rebuild([t.data if plain else t for t in results])

    return wrapped
