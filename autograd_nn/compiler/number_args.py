"""Python numbers passed where a differentiating transform (grad, value_and_grad, jacrev) takes
its inputs: traced as 0-d array inputs, as the transform makes them eagerly, not as static
values baked into the generated code (whose gradient leaf would be a hidden Tensor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.pytree import tree_flatten
from ..transforms.differentiated import differentiated_argnums

_NUMBERS = (bool, int, float, np.bool_, np.integer, np.floating)


def input_positions(fn: Callable) -> tuple[int, ...] | None:
    """The positional arguments `fn` differentiates with respect to (negative ones counted
    from the end), or None when `fn` is not a differentiating transform's function."""
    argnums = differentiated_argnums(fn)
    if argnums is None:
        return None
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _as_array(leaf: Any) -> Any:
    """A number as the 0-d array the transform would make of it (bools and ints as float64);
    anything else unchanged."""
    if not isinstance(leaf, _NUMBERS):
        return leaf
    arr = np.asarray(leaf)
    return arr.astype(np.float64) if arr.dtype.kind in "biu" else arr


def numbers_as_arrays(args: tuple, positions: tuple[int, ...]) -> tuple:
    """`args` with every number leaf at `positions` made a 0-d array (out-of-range positions
    are left for the transform to refuse)."""
    n = len(args)
    chosen = {i % n for i in positions if -n <= i < n}
    if not any(_has_number(args[i]) for i in chosen):
        return args
    out = list(args)
    for i in chosen:
        leaves, rebuild = tree_flatten(args[i])
        out[i] = rebuild([_as_array(leaf) for leaf in leaves])
    return tuple(out)


def _has_number(tree: Any) -> bool:
    if isinstance(tree, _NUMBERS):
        return True
    if isinstance(tree, (list, tuple, dict)):
        return any(_has_number(v) for v in (tree.values() if isinstance(tree, dict) else tree))
    return False
