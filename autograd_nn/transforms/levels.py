"""The bookkeeping of batched values under `vmap` (see batching.py): a level per running vmap,
their order, aligning batch dims, and batched constants.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

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
