"""Which arguments a differentiating transform (grad, value_and_grad, jacrev) turns into inputs,
so that ag.compile can trace a Python number there as an input, as the transform does eagerly."""

from __future__ import annotations

import weakref
from collections.abc import Callable

_ARGNUMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def mark_differentiated(fn: Callable, argnums: int | tuple[int, ...]) -> Callable:
    """Record that `fn` differentiates with respect to positional arguments `argnums`."""
    _ARGNUMS[fn] = argnums
    return fn


def differentiated_argnums(fn: Callable) -> int | tuple[int, ...] | None:
    """The argnums `fn` differentiates with respect to, or None for any other function (one
    made with functools.wraps around a transform's function is not one itself)."""
    try:
        return _ARGNUMS.get(fn)
    except TypeError:  # not weak-referenceable: not a transform's function
        return None
