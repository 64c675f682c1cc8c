"""How rows run on a batch for `ag.vmap`: NumPy on arrays carrying extra leading batch dims.

A batch rule gets the row's input arrays, which of them are batched (those have `n` leading
batch dims, one per active vmap level, size 1 where an input is not batched at that level),
the row's parameters as the per-example code wrote them, `n`, and `prefix` (the batch sizes),
and returns the output array with the `n` batch dims in front. Elementwise rows need no rule
of their own (`elementwise`); rows that take an `axis` use `shift_axis`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def pad_after_prefix(a: np.ndarray, n: int, rank: int) -> np.ndarray:
    """A batched array whose per-example part has `rank` dims (size-1 dims inserted after the
    batch dims), so NumPy's right-aligned broadcasting lines examples up correctly."""
    missing = rank - (a.ndim - n)
    if missing <= 0:
        return a
    return a.reshape(a.shape[:n] + (1,) * missing + a.shape[n:])


def elementwise(forward: Callable, arrays: list, batched: list, params: dict, n: int,
                prefix: tuple) -> np.ndarray:
    """Broadcasting elementwise rows: line the examples up, then run the forward as it is."""
    rank = max(a.ndim - (n if b else 0) for a, b in zip(arrays, batched, strict=True))
    ins = [pad_after_prefix(a, n, rank) if b else a for a, b in zip(arrays, batched, strict=True)]
    return forward(*ins, **params)


def _shifted(axis: Any, n: int, rank: int) -> Any:
    """A per-example axis (negative counts from the end of an example) past the batch dims."""
    if isinstance(axis, tuple):
        return tuple(a % rank + n for a in axis)
    return axis % rank + n


def shift_axis(none_is_every_axis: bool = True, new_axes: bool = False) -> Callable:
    """The rule of a row whose `axis` counts the example's dims (reductions, softmax, joins):
    the axis moves past the batch dims; axis=None means every per-example axis when
    `none_is_every_axis`. With `new_axes` (stack, expand_dims) the axis counts the result's
    dims. Unbatched inputs of a join are broadcast to the batch first."""

    def rule(forward: Callable, arrays: list, batched: list, params: dict, n: int,
             prefix: tuple) -> np.ndarray:
        ins = [a if b else np.broadcast_to(a, prefix + a.shape)
               for a, b in zip(arrays, batched, strict=True)]
        axis = params.get("axis")
        rank = ins[0].ndim - n
        if axis is None:
            if not none_is_every_axis:
                raise NotImplementedError("axis=None")
            axis = tuple(range(n, ins[0].ndim))
        else:
            if new_axes:
                rank += len(axis) if isinstance(axis, tuple) else 1
            axis = _shifted(axis, n, rank)
        return forward(*ins, **{**params, "axis": axis})

    return rule


def shift_axes(*names: str) -> Callable:
    """The rule of a row with several axis parameters (swapaxes' axis1 and axis2)."""

    def rule(forward, arrays, batched, params, n, prefix):
        rank = arrays[0].ndim - n
        return forward(arrays[0], **{k: (_shifted(v, n, rank) if k in names else v)
                                     for k, v in params.items()})

    return rule
