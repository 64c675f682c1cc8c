"""Walking a recorded graph without recursion, and computing every node's gradient for a picture.

Nodes are numbered in the order of an iterative depth-first post-order walk from the roots
(inputs first, roots last), which is deterministic for a given graph and makes the DOT names
stable: nothing in the output depends on `id()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import engine
from ..tensor import Tensor


@dataclass
class Walk:
    """The graph behind some roots, in topological order (every node after its parents)."""

    tensors: list[Tensor]
    index: dict[int, int]  # id(tensor) -> position in `tensors` (used only during the walk)
    parents: list[tuple[int, ...]]  # positions of each node's op inputs, in argument order
    consumers: list[list[int]]  # positions of the ops reading each node (one entry per edge)
    roots: list[int]
    released: list[int] = field(default_factory=list)  # op nodes whose links were released


def walk(roots: Sequence[Tensor]) -> Walk:
    """Collect every tensor reachable from `roots` through recorded op inputs (iteratively)."""
    tensors = engine.topological_order(roots)
    index = {id(t): k for k, t in enumerate(tensors)}
    parents = [tuple(index[id(p)] for p in (t._parents or ())) for t in tensors]
    released = [k for k, t in enumerate(tensors) if t.graph_released]
    consumers: list[list[int]] = [[] for _ in tensors]
    for k, ps in enumerate(parents):
        for p in ps:
            consumers[p].append(k)
    root_pos = list(dict.fromkeys(index[id(r)] for r in roots))
    return Walk(tensors, index, parents, consumers, root_pos, released)


class GradientsUnavailable(RuntimeError):
    """The gradients of intermediate nodes cannot be computed for this graph."""


def compute_gradients(root: Tensor, seed: Any = None) -> dict[int, np.ndarray]:
    """d(root)/d(node) for every node behind `root` that requires grad, keyed by id(node).

    Runs the engine's backward pass with `keep_all=True, retain_graph=True, accumulate=False`,
    so no `.grad` changes and the graph stays usable. A non-scalar root is seeded with ones
    (the gradient of `root.sum()`) unless `seed` is given. Anomaly checks are paused so that a
    NaN gradient is drawn rather than raised.
    """
    if not root.requires_grad:
        raise GradientsUnavailable(
            f"the root tensor ({root.shape} {root.dtype}) does not require grad: it was computed "
            "without any input with requires_grad=True (or under no_grad()), so it has no gradients"
        )
    if root.graph_released:
        raise GradientsUnavailable(
            "the graph was released by an earlier backward(); call backward(retain_graph=True) "
            "or draw before backward() to see the gradients of intermediate nodes"
        )
    if isinstance(seed, Tensor):
        seed = seed.data
    seed_arr = np.ones_like(root.data) if seed is None else np.asarray(seed, dtype=root.dtype)
    if seed_arr.shape != root.shape:
        raise ValueError(
            f"draw_graph: grad_seed has shape {seed_arr.shape} but the root has shape {root.shape}"
        )
    prev = engine.set_anomaly_enabled(False)
    try:
        with np.errstate(all="ignore"):  # an inf/NaN gradient is drawn, not warned about
            grads = engine.backward_pass(
                [root], [seed_arr], retain_graph=True, accumulate=False, keep_all=True
            )
    except engine.GraphReleasedError as err:
        raise GradientsUnavailable(
            f"part of the graph was released by an earlier backward() ({err}); draw before "
            "backward() or use backward(retain_graph=True)"
        ) from None
    finally:
        engine.set_anomaly_enabled(prev)
    return {k: (v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in grads.items()}
