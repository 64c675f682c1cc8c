"""Turning user arguments (Tensors, Python numbers, arrays, lists) into Tensors for an op."""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from ..tensor import Tensor

_ndarray = np.ndarray


_new_tensor = Tensor.__new__


def _constant(arr: np.ndarray) -> Tensor:
    """A leaf Tensor around a numeric ndarray, without re-validating it (hot path)."""
    t = _new_tensor(Tensor)
    t.data = arr
    t.grad = t.name = t._op = t._params = t._scope = t._where = None
    t._rg = False
    t._parents = ()
    return t


def lift(x: Any, like: Tensor | None = None, op: str = "op") -> Tensor:
    """`x` as a constant Tensor (no grad). Python numbers take `like`'s float dtype.

    Python scalars are "weak" as in NumPy 2: `float32_tensor * 2.0` stays float32.
    """
    if x.__class__ is Tensor:
        return x
    if isinstance(x, Tensor):
        return x
    if x.__class__ is _ndarray and x.dtype.kind in "biufc":
        return _constant(x)
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        if like is not None and like.data.dtype.kind in "fc":
            return _constant(np.asarray(x, dtype=like.data.dtype))
        return _constant(np.asarray(x))
    if isinstance(x, (_ndarray, np.generic, list, tuple, Number)):
        try:
            return Tensor(np.asarray(x))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{op}: cannot use {type(x).__name__} as an operand: {err}") from None
    raise TypeError(
        f"{op}: unsupported operand type {type(x).__name__} (expected a Tensor, a Python "
        "number, or a NumPy array)"
    )


def pair(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors; a scalar side takes the Tensor side's dtype."""
    if a.__class__ is Tensor:
        if b.__class__ is Tensor:
            return a, b
        return a, lift(b, a, op)
    if b.__class__ is Tensor:
        return lift(a, b, op), b
    a = lift(a, None, op)
    return a, lift(b, a, op)


def normalize_axis(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """`axis` (None, int or sequence) as a sorted tuple of non-negative ints, checked."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax!r} is out of range for a tensor with {ndim} dims")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))
