"""Nested containers (pytrees): the dicts, lists, tuples and namedtuples of arrays that
functions take and return, flattened to their leaves and rebuilt."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .tensor import Tensor


def tree_flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """Leaves of a nested dict/list/tuple, and a function rebuilding the nesting from new leaves."""
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [tree_flatten(tree[k]) for k in keys]

        def rebuild(leaves: list[Any]) -> Any:
            # a plain dict, or a copy that keeps the mapping's type (OrderedDict, defaultdict, ...)
            out = {} if type(tree) is dict else copy.copy(tree)
            out.clear()
            i = 0
            for k, (sub, rb) in zip(keys, parts, strict=True):
                out[k] = rb(leaves[i:i + len(sub)])
                i += len(sub)
            return out

        return [leaf for sub, _ in parts for leaf in sub], rebuild
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        parts = [tree_flatten(v) for v in tree]
        kind = type(tree)

        def rebuild(leaves: list[Any]) -> Any:
            out, i = [], 0
            for sub, rb in parts:
                out.append(rb(leaves[i:i + len(sub)]))
                i += len(sub)
            if kind is list:
                return out
            if issubclass(kind, list):  # a list subclass (one ag.compile guards): a list
                return out
            if kind is tuple or not hasattr(kind, "_fields"):
                return tuple(out)
            return kind(*out)  # namedtuple

        return [leaf for sub, _ in parts for leaf in sub], rebuild
    return [tree], lambda leaves: leaves[0]


def tree_leaves_like(tree: Any, like: Any, where: str, what: str = "tangent") -> list[Any]:
    """The leaves of `tree` in the order of `like`'s leaves, matched by key and position: `tree`
    must have `like`'s nesting (a dict the same keys, a list or tuple the same length)."""
    if isinstance(like, dict):
        if not isinstance(tree, dict) or set(tree) != set(like):
            got = sorted(map(str, tree)) if isinstance(tree, dict) else type(tree).__name__
            raise ValueError(f"{where}: the {what}'s nesting must match its primal's: a dict "
                             f"with the keys {sorted(map(str, like))}, got {got}")
        return [leaf for k in like for leaf in tree_leaves_like(tree[k], like[k], where, what)]
    if isinstance(like, (list, tuple)) and not isinstance(like, Tensor):
        if not isinstance(tree, (list, tuple)) or isinstance(tree, Tensor) or \
                len(tree) != len(like):
            raise ValueError(f"{where}: the {what}'s nesting must match its primal's: a list "
                             f"or tuple of {len(like)} items, got {type(tree).__name__}")
        return [leaf for t, lk in zip(tree, like, strict=True)
                for leaf in tree_leaves_like(t, lk, where, what)]
    if isinstance(tree, dict):
        raise ValueError(f"{where}: the {what}'s nesting must match its primal's: a dict "
                         "where the primal has an array")
    return [tree]
