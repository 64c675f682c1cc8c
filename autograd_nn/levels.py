"""The bookkeeping of batched values under `vmap` (see batching.py): levels, aligning batch
dims, and the backward of ops recorded inside a vmap. Nodes are anything with the Tensor's
graph slots, so the engine uses this without importing the Tensor class.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from . import state
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


def ordered(levels: Any) -> tuple:
    """Levels without repeats, outermost first."""
    return tuple(sorted(set(levels), key=lambda level: level.order))


def align(arr: np.ndarray, have: tuple, want: tuple) -> np.ndarray:
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


def as_batched(like: Any, arr: Any, levels: tuple | None) -> Any:
    """`arr` as a constant node of `like`'s class, batched over `levels`."""
    t = like.__class__(np.asarray(arr))
    t._levels = levels or None
    return t


def node_gradients(node: Any, g: Any, on_tensors: bool) -> list:
    """The gradient for each input of a node recorded inside vmap (None where there is none),
    its rules run on the batch; each matched to its input's levels (see `_match`)."""
    levels = node._levels
    active = thread.modes.batching or ()
    context = ordered((*active, *levels))
    parents = node._parents
    prim = node._op
    params = node._params or {}
    if on_tensors:
        ins, ans, grad = parents, node, g
    else:
        saved = node._saved
        arrays = saved[0] if saved is not None else [p.data for p in parents]
        ins = [as_batched(node, a, p._levels) for a, p in zip(arrays, parents, strict=True)]
        ans, grad = as_batched(node, node.data, levels), as_batched(node, g, levels)
    prev_batching = state.set_batching(context)
    prev_grad = state.set_grad_enabled(on_tensors and thread.modes.grad_enabled)
    try:
        out = []
        for i, p in enumerate(parents):
            rule = prim.vjps[0] if prim.variadic else prim.vjps[i]
            if not p._needs_grad or rule is None:
                out.append(None)
                continue
            gi = rule(i, grad, ans, *ins, **params) if prim.variadic else rule(
                grad, ans, *ins, **params)
            out.append(None if gi is None else _match(gi, p, active, on_tensors))
        return out
    finally:
        state.set_grad_enabled(prev_grad)
        state.set_batching(prev_batching)


def _match(gi: Any, p: Any, active: tuple, on_tensors: bool) -> Any:
    """A gradient for input `p`: levels of finished vmaps that `p` is not batched over are
    summed out (the batch shared `p`); on arrays, the array of exactly `p`'s levels."""
    if not hasattr(gi, "_apply_primitive"):
        gi = as_batched(p, gi, None)
    have = gi._levels or ()
    mine = p._levels or ()
    keep = tuple(lv for lv in have if lv in mine or (on_tensors and lv in active))
    data = gi.data
    if len(keep) != len(have):
        if on_tensors and thread.modes.grad_enabled:
            raise NotImplementedError(
                "vmap: a recorded backward (higher order) through the end of a vmap")
        data = data.sum(axis=tuple(k for k, lv in enumerate(have) if lv not in keep))
        if on_tensors:
            return as_batched(p, data, keep)
    if on_tensors:
        return gi
    if keep != mine:  # the same gradient for every example of a level p is batched over
        data = align(data, keep, mine)
        data = np.broadcast_to(data, tuple(lv.size for lv in mine) + data.shape[len(mine):])
        data = np.array(data)
    return data
