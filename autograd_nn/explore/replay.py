"""The forward and backward pass of a recorded graph as a list of steps, with their numbers.

Forward steps follow the engine's topological order (inputs first); backward steps follow its
reverse, over the nodes that require grad, exactly as `ag.explain` lists them. Each backward
step carries the gradient arriving at the node, the rule `explain` writes for it, the separate
contribution of every op that reads the node (they add up to the gradient), and a central
finite-difference check of the gradient made by re-running the graph downstream of the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..check.explain import Explanation, Step
from ..graph import GraphView, edge_gradient


@dataclass
class Contribution:
    """What one op reading the node sends back to it (explain's term and its value)."""

    consumer: str
    term: str
    value: np.ndarray
    operand: str | None = None  # which input of the consumer ("a" of a * b), if it has several


@dataclass
class FiniteDifference:
    """Central differences in float64 at some elements of a node, against autograd's gradient."""

    indices: list[tuple[int, ...]]
    numeric: list[float]
    autograd: list[float]
    eps: float

    @property
    def max_abs_diff(self) -> float:
        return max((abs(a - b) for a, b in zip(self.numeric, self.autograd)), default=0.0)

    @property
    def scale(self) -> float:
        return max((abs(b) for b in self.autograd), default=0.0)


@dataclass
class ReplayStep:
    """One step of the replay: a node computed (forward) or its gradient found (backward)."""

    phase: str  # "forward" or "backward"
    k: int  # position in the view (the engine's topological order)
    name: str
    explained: Step | None = None  # backward steps: explain's step for the node
    grad: np.ndarray | None = None
    contributions: list[Contribution] = field(default_factory=list)
    check: FiniteDifference | None = None


def _operand(view: GraphView, c: int, i: int) -> str | None:
    prim = view.tensors[c]._op
    if len(view.parents[c]) < 2:
        return None
    return prim.inputs[i] if not prim.variadic and i < len(prim.inputs) else f"#{i}"


def _downstream_value(view: GraphView, k: int, value: np.ndarray, seed: np.ndarray) -> float:
    """sum(seed * root) after replacing node k's value and re-running every op after it."""
    order = view.tensors
    values: dict[int, np.ndarray] = {k: value}
    for j in range(k + 1, len(order)):
        t = order[j]
        ps = view.parents[j]
        if t._op is None or not any(p in values for p in ps):
            continue
        ins = [values.get(p, order[p].data.astype(np.float64)
                          if order[p].data.dtype.kind == "f" else order[p].data) for p in ps]
        values[j] = np.asarray(t._op.forward(*ins, **(t._params or {})))
    root = view.roots[0]
    out = values.get(root, order[root].data)
    return float(np.sum(seed * np.asarray(out, dtype=np.float64)))


def _sample_indices(shape: tuple, g: np.ndarray, limit: int) -> list[tuple[int, ...]]:
    """Every element of a small node; otherwise the largest |gradient| and evenly spaced ones."""
    size = int(np.prod(shape)) if shape else 1
    if size <= limit:
        flat = list(range(size))
    else:
        flat = [int(np.argmax(np.abs(g)))]
        flat += [int(x) for x in np.linspace(0, size - 1, limit - 1)]
        flat = list(dict.fromkeys(flat))[:limit]
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def finite_difference(view: GraphView, k: int, g: np.ndarray, seed: np.ndarray,
                      limit: int = 16, eps: float = 1e-6) -> FiniteDifference | None:
    """Central differences of the root at up to `limit` elements of node k (None for a node
    that is not floating point)."""
    t = view.tensors[k]
    if t.data.dtype.kind != "f":
        return None
    base = t.data.astype(np.float64)
    indices = _sample_indices(t.shape, g, limit)
    numeric, auto = [], []
    with np.errstate(all="ignore"):
        for idx in indices:
            x = base.copy()
            x[idx] += eps
            plus = _downstream_value(view, k, x, seed)
            x[idx] -= 2 * eps
            minus = _downstream_value(view, k, x, seed)
            numeric.append((plus - minus) / (2 * eps))
            auto.append(float(np.asarray(g, dtype=np.float64)[idx]))
    return FiniteDifference(indices, numeric, auto, eps)


FD_BUDGET = 400_000  # op evaluations the finite-difference checks of one page may take


def fd_elements_per_node(view: GraphView, wanted: int, budget: int = FD_BUDGET) -> int:
    """How many elements each node's check perturbs: `wanted`, fewer on a big graph (each
    element re-runs up to every op twice), at least one."""
    n_ops = sum(t._op is not None for t in view.tensors)
    n_checked = sum(t.requires_grad for t in view.tensors)
    return max(1, min(wanted, budget // max(1, 2 * n_ops * n_checked)))


def replay(view: GraphView, grads: dict[int, np.ndarray], explanation: Explanation,
           seed: np.ndarray, fd_limit: int = 16) -> list[ReplayStep]:
    """The forward steps (every node, inputs first) then the backward steps (every node that
    requires grad, root first), with their gradients, contributions and checks (at up to
    `fd_limit` elements per node, fewer on a big graph)."""
    fd_limit = fd_elements_per_node(view, fd_limit)
    steps = [ReplayStep("forward", k, view.names[k]) for k in range(len(view.tensors))]
    for k in reversed(range(len(view.tensors))):
        t = view.tensors[k]
        if not t.requires_grad:
            continue
        g = grads.get(id(t))
        if g is None:
            g = np.zeros_like(t.data)
        g = np.asarray(g)
        edges = [(c, i) for c in sorted(set(view.consumers[k]))
                 for i, p in enumerate(view.parents[c])
                 if p == k and view.tensors[c].requires_grad]
        terms = explanation[view.names[k]].terms
        if len(terms) != len(edges):
            raise RuntimeError(f"explore: internal error: {len(edges)} edges into "
                               f"{view.names[k]} but explain wrote {len(terms)} terms")
        contribs = []
        for (c, i), (_, term) in zip(edges, terms):
            cg = grads.get(id(view.tensors[c]))
            value = (np.zeros_like(t.data) if cg is None
                     else edge_gradient(view.tensors[c], i, np.asarray(cg)))
            contribs.append(Contribution(view.names[c], term, value, _operand(view, c, i)))
        steps.append(ReplayStep("backward", k, view.names[k], explanation[view.names[k]], g,
                                contribs, finite_difference(view, k, g, seed, fd_limit)))
    return steps

