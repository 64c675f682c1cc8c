"""Sorting: argsort and argpartition (rows without gradient: their results are indices), and
sort, topk and partition as gathers at those indices, so each output's gradient goes back to
the element it came from. Ties keep NumPy's stable order: among equal elements, the one first
in x takes the first place (descending too, as torch.sort(stable=True))."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrange import _take_along_axis
from .batch_rules import shift_axis
from .registry import Call, check_flag, composite, normalize_axis, primitive, prims


def _argsort_forward(x, axis, descending):
    """Stable argsort; descending keeps equal elements in their order in x (torch's stable)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    backwards = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return x.shape[axis] - 1 - np.flip(backwards, axis)


def _flat_or_axis(x, axis: Any, where: str) -> tuple[Any, int]:
    """x flattened for axis=None, and the axis as a non-negative int."""
    if axis is None:
        return prims.reshape(x, shape=(-1,)), 0
    if x.ndim == 0:
        raise ValueError(f"{where} of a 0-d tensor along axis {axis!r}: use axis=None (or "
                         "atleast_1d) for one element")
    return x, normalize_axis(axis, x.ndim)[0]


def _argsort_params(x, axis: Any = -1, descending: bool = False) -> Any:
    descending = check_flag(descending, "descending")
    flat, axis = _flat_or_axis(x, axis, "argsort")
    params = {"axis": axis, "descending": descending}
    return params if flat is x else Call(argsort, (flat,), params)


argsort = primitive(
    "argsort", _argsort_forward, None, prepare=_argsort_params, method=True,
    batch=shift_axis(False), helper={"argsort_stable": _argsort_forward},
    source="argsort_stable({x}, {axis}, {descending})",
    doc="Indices that sort x along `axis` (-1; None: flattened), stable: equal elements keep "
        "their order, also with descending=True. Integers without gradient.",
)


def _kth_tuple(kth: Any, n: int) -> tuple[int, ...]:
    items = (kth,) if isinstance(kth, (int, np.integer)) or not np.iterable(kth) else tuple(kth)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in items):
        raise TypeError(f"kth must be an int or a sequence of ints, got {kth!r}")
    for k in items:
        if not -n <= k < n:
            raise ValueError(f"kth {k} is out of bounds for an axis of size {n}")
    return tuple(int(k) % n for k in items)


def _argpartition_params(x, kth: Any, axis: Any = -1) -> Any:
    flat, axis = _flat_or_axis(x, axis, "argpartition")
    params = {"kth": _kth_tuple(kth, flat.shape[axis]), "axis": axis}
    return params if flat is x else Call(argpartition, (flat,), params)


argpartition = primitive(
    "argpartition", lambda x, kth, axis: np.argpartition(x, kth, axis=axis), None,
    prepare=_argpartition_params, method=True, batch=shift_axis(False),
    source="np.argpartition({x}, {kth}, axis={axis})",
    doc="Indices that partition x along `axis` around the kth elements (np.argpartition): "
        "integers without gradient.",
)


def _sort(x, axis: Any = -1, descending: bool = False):
    """x sorted along `axis` (-1; None: flattened), stable; each output's gradient goes to the
    element it came from (among ties, in their order in x)."""
    x, axis = _flat_or_axis(x, axis, "sort")
    return _take_along_axis(x, prims.argsort(x, axis=axis, descending=descending), axis)


def _topk(x, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> tuple:  # noqa: A002
    """torch.topk: the k largest (smallest) values along `axis` and their indices, largest
    first. Among ties the element first in x is taken first (torch leaves that order open)."""
    x, axis = _flat_or_axis(x, axis, "topk")
    check_flag(sorted, "sorted")  # the values always come sorted
    n = x.shape[axis]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= n:
        raise ValueError(f"k must be an int in [0, {n}] for axis {axis} of shape {x.shape}, "
                         f"got {k!r}")
    order = prims.argsort(x, axis=axis, descending=check_flag(largest, "largest"))
    indices = prims.getitem(order, index=(slice(None),) * axis + (slice(0, int(k)),))
    return _take_along_axis(x, indices, axis), indices


def _partition(x, kth: Any, axis: Any = -1):
    """np.partition: the kth element in its sorted place, smaller ones before it, larger after;
    each output's gradient goes to the element np.argpartition put there."""
    x, axis = _flat_or_axis(x, axis, "partition")
    return _take_along_axis(x, prims.argpartition(x, kth=_kth_tuple(kth, x.shape[axis]),
                                                  axis=axis), axis)


sort = composite("sort", _sort, method=True)
topk = composite("topk", _topk, method=True)
partition = composite("partition", _partition, method=True)
