"""`compare_intermediates`: a hand-derived backward pass checked node by node against autograd.

The user gives the gradients they computed for some nodes (`dz1`, `d_h1`, `weights1`, named as
`ag.explain` names the nodes). Each is compared like Karpathy's `cmp` (exact / close / max
difference), in the order a backward pass computes them (root first); the first node that
differs is where the user's chain departs from autograd's, and the report says which rule that
node applies and what the user's gradient equals instead (the incoming gradient without the
local factor, one of several contributions, the opposite sign, a constant multiple, ...).
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.formatting import index_text, number_text, shape_text
from ..core.tensor import Tensor
from ..graph import edge_gradient, node_gradients, user_names, view_graph
from .explain import Step, explain
from .table import html_table, text_table

__all__ = ["IntermediateComparison", "IntermediateRow", "compare_intermediates"]


@dataclass
class IntermediateRow:
    """One node: the user's gradient against autograd's."""

    name: str
    given_as: str  # the user's key ("dz1")
    shape: tuple
    autograd_shape: tuple
    exact: bool
    close: bool
    max_diff: float | None  # None when the shapes differ
    worst_index: tuple | None = None

    @property
    def verdict(self) -> str:
        """'exact', 'close', 'differs' or 'wrong shape'."""
        if self.shape != self.autograd_shape:
            return "wrong shape"
        return "exact" if self.exact else "close" if self.close else "differs"


@dataclass
class IntermediateComparison:
    """Rows in backward order; `first_divergence` (a node name or None) and `explanation`."""

    rows: list[IntermediateRow]
    root_name: str
    first_divergence: str | None = None
    explanation: str | None = None
    rule: str | None = None  # explain's line for the first divergent node
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every given gradient agrees with autograd's."""
        return self.first_divergence is None

    def __getitem__(self, name: str) -> IntermediateRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no node {name!r} in this comparison; it has {[r.name for r in self.rows]}")

    def __iter__(self) -> Iterator[IntermediateRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    _HEAD = ("node", "given as", "shape", "exact", "close", "max diff", "worst index")

    def _cells(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.rows:
            shape = (shape_text(r.shape) if r.shape == r.autograd_shape
                     else f"{shape_text(r.shape)} vs {shape_text(r.autograd_shape)}")
            out.append((r.name, r.given_as, shape, str(r.exact), str(r.close),
                        number_text(r.max_diff), "" if r.worst_index is None
                        else index_text(r.worst_index)))
        return out

    def summary(self) -> str:
        """One line: all agree, or the first divergence and why."""
        if self.ok:
            return f"all {len(self.rows)} given gradients agree with autograd"
        return f"first divergence: {self.first_divergence}: {self.explanation}"

    def __str__(self) -> str:
        title = f"hand-derived vs autograd gradients, node by node (d{self.root_name}/dnode)"
        return "\n".join([title, *text_table(self._HEAD, self._cells()), "", self.summary()])

    def __repr__(self) -> str:
        return f"<IntermediateComparison first_divergence={self.first_divergence!r}>"

    def _repr_html_(self) -> str:
        return (f"{html_table(self._HEAD, self._cells())}"
                f"<p>{html.escape(self.summary())}</p>")


def _resolve(key: str, known: list[str]) -> str | None:
    """The node a user's key names: itself, or without a d / d_ / dL_d prefix."""
    if key in known:
        return key
    for prefix in ("dL/d", "dL_d", "d_", "d"):
        if key.startswith(prefix) and key[len(prefix):] in known:
            return key[len(prefix):]
    return None


def _as_array(value: Any, key: str) -> np.ndarray:
    arr = np.asarray(value.data if isinstance(value, Tensor) else value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"compare_intermediates: user_grads[{key!r}] is not a real numeric array "
                        f"(dtype {arr.dtype})")
    return arr.astype(np.float64)


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float | None) -> bool:
    floor = atol if atol is not None else 1e-8 * max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=floor))


def _ratio(a: np.ndarray, b: np.ndarray, rtol: float, atol: float | None) -> float | None:
    """c with a = c * b (least squares), when it fits within tolerance."""
    if a.shape != b.shape or not np.any(b):
        return None
    c = float(np.sum(a * b) / np.sum(b * b))
    return c if _close(a, c * b, rtol, atol) else None


def compare_intermediates(loss: Tensor, user_grads: Mapping[str, Any], params: Any = None, *,
                          rtol: float = 1e-5, atol: float | None = None
                          ) -> IntermediateComparison:
    """Compare hand-derived gradients of intermediate nodes (and parameters) with autograd's.

    `user_grads` maps node names as `ag.explain(loss, params)` writes them (`z1`, `h1`,
    `weights1`; a `d` or `d_` prefix is accepted) to the user's d(loss)/d(node). The report
    lists them in backward order with exact / close / max difference, names the first node
    that differs (`report.first_divergence`) and explains the rule applied there.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"compare_intermediates: loss must be a Tensor, got "
                        f"{type(loss).__name__}")
    if not isinstance(user_grads, Mapping) or not user_grads:
        raise TypeError("compare_intermediates: user_grads must be a non-empty dict node name -> "
                        f"array, got {type(user_grads).__name__}")
    if not rtol >= 0 or (atol is not None and not atol >= 0):
        raise ValueError(f"compare_intermediates: tolerances must be >= 0 (rtol={rtol}, "
                         f"atol={atol})")
    explanation = explain(loss, params)
    view = view_graph([loss], user_names(params, where="compare_intermediates: params"))
    grads = node_gradients(loss)
    order = [s.name for s in explanation.steps]
    given: dict[str, tuple[str, np.ndarray]] = {}
    for key, value in user_grads.items():
        name = _resolve(str(key), order)
        if name is None:
            raise KeyError(f"compare_intermediates: user_grads has {key!r}, which names no node "
                           f"that has a gradient; the nodes are {order}")
        if name in given:
            raise ValueError(f"compare_intermediates: {given[name][0]!r} and {key!r} both name "
                             f"node {name!r}")
        given[name] = (str(key), _as_array(value, str(key)))
    position = {n: k for k, n in enumerate(view.names)}
    rows = []
    for name in order:
        if name not in given:
            continue
        key, mine = given[name]
        auto = np.asarray(grads[id(view.tensors[position[name]])], dtype=np.float64)
        same = mine.shape == auto.shape
        diff = np.abs(mine - auto) if same else None
        worst = None
        if diff is not None and diff.size:
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        rows.append(IntermediateRow(
            name, key, tuple(mine.shape), tuple(auto.shape), bool(same and np.array_equal(mine,
                                                                                           auto)),
            _close(mine, auto, rtol, atol), float(diff.max()) if diff is not None and diff.size
            else (0.0 if same else None), worst))
    report = IntermediateComparison(rows, explanation.root_name)
    bad = next((r for r in rows if not r.close), None)
    if bad is not None:
        k = position[bad.name]
        report.first_divergence = bad.name
        report.rule = explanation[bad.name].line
        report.findings = _diagnose(view, k, explanation[bad.name], given[bad.name][1], grads,
                                    given, rtol, atol)
        report.explanation = _sentence(view, k, explanation[bad.name], report.findings)
    return report


def _sentence(view, k: int, step: Step, findings: list[str]) -> str:
    """'z1 = dot(X, weights1) → h1 = sigmoid(z1): dL/dz1 = dL/dh1 * h1*(1-h1); yours ...'."""
    chain = [step.forward] if step.forward else [f"{step.name} (a leaf)"]
    readers = list(dict.fromkeys(view.consumers[k]))
    chain += [_forward_line(view, c) for c in readers[:2]]
    rule = step.line
    if step.notes:
        rule += " (" + "; ".join(step.notes) + ")"
    return f"{' → '.join(chain)}: {rule}; " + "; ".join(findings)


def _forward_line(view, c: int) -> str:
    from .explain import _forward_text  # the same text explain prints

    names = {id(t): n for t, n in zip(view.tensors, view.names)}
    return _forward_text(view.tensors[c], names)


def _diagnose(view, k: int, step: Step, mine: np.ndarray, grads: dict, given: dict,
              rtol: float, atol: float | None) -> list[str]:
    """What the user's gradient of node k equals instead of autograd's."""
    node = view.tensors[k]
    auto = np.asarray(grads[id(node)], dtype=np.float64)
    root = step.root_name
    if mine.shape != auto.shape:
        out = [f"yours has shape {shape_text(mine.shape)}, autograd's {shape_text(auto.shape)}"]
        if mine.ndim == auto.ndim == 2 and mine.shape[::-1] == auto.shape and \
                _close(mine.T, auto, rtol, atol):
            out.append("it is the transpose (swap the operands of the matmul or add .T)")
        return out
    edges = [(c, i) for c in sorted(set(view.consumers[k]))
             for i, p in enumerate(view.parents[c]) if p == k and view.tensors[c].requires_grad]
    for (c, _), (reader, term) in zip(edges, step.terms):
        incoming = grads.get(id(view.tensors[c]))
        if incoming is None:
            continue
        incoming = np.asarray(incoming, dtype=np.float64)
        g_name = f"d{root}/d{reader}"
        if term == f"-{g_name}" and _close(mine, incoming, rtol, atol):
            return [f"yours equals {g_name}: the minus sign is missing ({step.name} is "
                    f"subtracted in {_forward_line(view, c)}, so its gradient is "
                    f"-{g_name})"]
        if term != g_name and _close(mine, incoming, rtol, atol):
            factor = term.replace(f"{g_name} * ", "").replace(f" * {g_name}", "")
            op = view.tensors[c].op
            what = (f"the {factor.split('(')[0]} factor" if factor != term
                    else f"the local derivative of {op}")
            return [f"yours equals {g_name}: {what} is missing (the rule multiplies by "
                    f"{factor})" if factor != term else f"yours equals {g_name}: {what} is "
                    f"missing"]
    if len(edges) > 1:
        parts = [edge_gradient(view.tensors[c], i, np.asarray(grads[id(view.tensors[c])]))
                 for c, i in edges]
        for j, part in enumerate(parts):
            if _close(mine, np.asarray(part, dtype=np.float64), rtol, atol):
                reader, term = step.terms[j]
                return [f"yours equals only the contribution through {reader} ({term}); "
                        f"{step.name} is read {len(edges)} times and the gradient is the sum "
                        f"of all {len(edges)} contributions: {step.formula}"
                        .replace("of all 2 contributions", "of both contributions")]
    ratio = _ratio(mine, auto, rtol, atol)
    if ratio is not None:
        if abs(ratio + 1) <= 1e-6:
            text = "yours = -autograd's: the sign is flipped at this node"
        else:
            text = f"yours = {number_text(ratio, 6)} x autograd's: a constant factor enters here"
        autograd_of = {n: np.asarray(grads[id(view.tensors[view.names.index(n)])],
                                     dtype=np.float64) for n in given}
        ratios = [_ratio(g, autograd_of[n], rtol, atol) for n, (_, g) in given.items()]
        if len(given) > 1 and all(r is not None and abs(r - ratio) <= 1e-6 * abs(ratio)
                                  for r in ratios):
            text += (f"; every given gradient is {number_text(ratio, 6)} x autograd's, so it is a "
                     "convention carried down the whole chain (the loss's sign or reduction, "
                     "e.g. 0.5*sum against mean), not a local mistake")
        elif len(given) == 1:
            text += " (no other gradient was given to tell a local mistake from a convention)"
        return [text]
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(mine - auto))),
                                                 auto.shape)) if auto.ndim else ()
    return [f"at {index_text(idx)} yours is {number_text(float(mine[idx]), 6)}, autograd's "
            f"{number_text(float(auto[idx]), 6)}: check this node's local rule"]
