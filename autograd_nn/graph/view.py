"""A recorded graph as plain data: its nodes in order, their names, and every node's gradient.

`explain` and `draw_graph` both start here, so the walk (topological order), the naming
(`naming.py` in this package) and the gradient of every node are computed in one place. Nodes are
numbered in the order of the engine's walk (inputs first, roots last), which is deterministic
for a given graph: nothing depends on `id()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.tensor import Tensor
from .naming import node_names

__all__ = ["GradientsUnavailable", "GraphView", "edge_gradient", "node_gradients", "view_graph"]


@dataclass
class GraphView:
    """The graph behind some roots, in topological order (every node after its inputs).

    Positions (k) index `tensors`; `names[k]` is the name explain and the pictures use.
    """

    tensors: list[Tensor]
    index: dict[int, int]  # id(tensor) -> position in `tensors`
    parents: list[tuple[int, ...]]  # positions of each node's op inputs, in argument order
    consumers: list[list[int]]  # positions of the ops reading each node (one entry per edge)
    roots: list[int]
    released: list[int] = field(default_factory=list)  # op nodes whose links are gone
    names: list[str] = field(default_factory=list)


class GradientsUnavailable(RuntimeError):
    """The gradients of intermediate nodes cannot be computed for this graph."""


def view_graph(roots: Sequence[Tensor], given: Mapping[int, str] | None = None) -> GraphView:
    """Walk the graph behind `roots` (iteratively) and name its nodes (`given` first)."""
    tensors = engine.topological_order(roots, kept=True)  # after backward(): the structure
    index = {id(t): k for k, t in enumerate(tensors)}
    links = [engine.links(t) for t in tensors]
    parents = [tuple(index[id(p)] for p in ps) for ps in links]
    released = [k for k, t in enumerate(tensors) if t.graph_released and not links[k]]
    consumers: list[list[int]] = [[] for _ in tensors]
    for k, ps in enumerate(parents):
        for p in ps:
            consumers[p].append(k)
    root_pos = list(dict.fromkeys(index[id(r)] for r in roots))
    by_id = node_names(tensors, roots[0], given or {})
    return GraphView(tensors, index, parents, consumers, root_pos, released,
                     [by_id[id(t)] for t in tensors])


def node_gradients(root: Tensor, seed: Any = None) -> dict[int, np.ndarray]:
    """d(root)/d(node) for every node behind `root` that requires grad, keyed by id(node).

    No `.grad` changes and the graph stays usable. A non-scalar root is seeded with ones (the
    gradient of `root.sum()`) unless `seed` is given. Anomaly checks are paused so that a NaN
    gradient is reported rather than raised.
    """
    if not root.requires_grad:
        raise GradientsUnavailable(
            f"the root tensor ({root.shape} {root.dtype}) does not require grad: it was computed "
            "without any input with requires_grad=True (or under no_grad()), so it has no gradients"
        )
    if root.graph_released:
        what = ("backward() has run: it released the arrays the gradients need and kept only "
                "the graph's structure" if engine.kept_links(root) is not None else
                "the graph was released by an earlier backward()")
        raise GradientsUnavailable(
            f"{what}; call backward(retain_graph=True) or draw before backward() to see the "
            "gradients of intermediate nodes"
        )
    if isinstance(seed, Tensor):
        seed = seed.data
    seed_arr = np.ones_like(root.data) if seed is None else np.asarray(seed, dtype=root.dtype)
    if seed_arr.shape != root.shape:
        raise ValueError(
            f"draw_graph: grad_seed has shape {seed_arr.shape} but the root has shape {root.shape}"
        )
    prev = state.set_anomaly_enabled(False)
    try:
        with np.errstate(all="ignore"):  # an inf/NaN gradient is shown, not warned about
            # read-only: no hook runs and no retained `.grad` changes
            found = engine.backward([root], [seed_arr], every_node=True, retain_graph=True,
                                    hooks=False)
    except engine.GraphReleasedError:
        raise GradientsUnavailable(
            "part of the graph was released by an earlier backward() (of another loss that "
            "shares it?); draw before that backward() or pass it retain_graph=True"
        ) from None
    finally:
        state.set_anomaly_enabled(prev)
    return {k: (g.data if isinstance(g, Tensor) else np.asarray(g)) for k, (_, g) in found.items()}


def edge_gradient(child: Tensor, i: int, g: np.ndarray) -> np.ndarray:
    """What `child`'s op sends back to its input #i given child's gradient `g`: the engine's
    own per-node step (`engine.pullback`, on the arrays the forward saw): one term of the
    input's gradient when several ops read it."""
    if child.graph_released:
        raise GradientsUnavailable(
            f"the {child.op} node was released by an earlier backward(); draw before backward() "
            "or use backward(retain_graph=True)")
    gi = engine.pullback(child, g)[i]
    return np.asarray(gi.data if isinstance(gi, Tensor) else gi)
