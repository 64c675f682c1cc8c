"""`compare_intermediates`: a hand-derived backward pass checked node by node against autograd.

The user gives the gradients they computed for some nodes (`dz1`, `d_h1`, `weights1`, named as
`ag.explain` names the nodes). Each is compared like Karpathy's `cmp` (exact / close / max
difference), in the order a backward pass computes them (root first); the first node that
differs is where the user's chain departs from autograd's, and the report says which rule that
node applies and what the user's gradient equals instead (the incoming gradient without the
local factor, one of several contributions, the opposite sign, a constant multiple, ...).

Every given node is also judged against the user's own upstream values, so each node where a
new discrepancy enters is reported (`report.entries`, `Diagnosis` objects with `.kind`, `.node`
and `.inherited_by`), not only the first; nodes that merely inherit an error are named as such.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.formatting import index_text, number_text, shape_text
from ..core.ops.registry import sum_to_shape
from ..core.tensor import Tensor
from ..graph import edge_gradient, node_gradients, user_names, view_graph
from .diagnosis import (
    ACCUMULATION,
    ACTIVATION,
    AXIS,
    CONVENTION,
    FACTOR,
    MEAN_VS_SUM,
    SHAPE,
    SIGN,
    TRANSPOSED,
    UNKNOWN,
    Diagnosis,
    names_text,
    node_ratio_kind,
    read_scale,
)
from .explain import Step, explain, refuse_released
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
    entries: list[Diagnosis] = field(default_factory=list)  # every node where an error enters

    @property
    def ok(self) -> bool:
        """True when every given gradient agrees with autograd's."""
        return self.first_divergence is None

    @property
    def bugs(self) -> list[Diagnosis]:
        """The entries that are mistakes (not a convention)."""
        return [d for d in self.entries if d.is_bug]

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The first entry (backward order), or None when everything agrees."""
        return self.entries[0] if self.entries else None

    @property
    def kind(self) -> str | None:
        """The kind of the first entry ('sign', 'activation', 'convention', ...)."""
        return None if self.diagnosis is None else self.diagnosis.kind

    @property
    def node(self) -> str | None:
        """The node where the first error enters."""
        return None if self.diagnosis is None else self.diagnosis.node

    enters_at = node

    @property
    def inherited_by(self) -> tuple[str, ...]:
        """The given nodes that only inherit the first entry's error."""
        return () if self.diagnosis is None else self.diagnosis.inherited_by

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
        text = f"first divergence: {self.first_divergence}: {self.explanation}"
        more = [d for d in self.entries if d.node != self.first_divergence]
        if more:
            text += "".join(f"\nalso enters at {d.node} ({d.kind}): {d.text}" for d in more)
        return text

    def __str__(self) -> str:
        title = f"hand-derived vs autograd gradients, node by node (d{self.root_name}/dnode)"
        return "\n".join([title, *text_table(self._HEAD, self._cells()), "", self.summary()])

    def __repr__(self) -> str:
        return (f"<IntermediateComparison first_divergence={self.first_divergence!r} "
                f"entries={[(d.node, d.kind) for d in self.entries]}>")

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
    if arr.dtype.kind not in "iuf":  # a bool array is a mask passed by mistake, not a gradient
        raise TypeError(f"compare_intermediates: user_grads[{key!r}] is not a real numeric array "
                        f"(shape {arr.shape}, dtype {arr.dtype})"
                        + ("; a boolean mask?" if arr.dtype.kind == "b" else ""))
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
    lists them in backward order with exact / close / max difference and names the first node
    that differs (`report.first_divergence`) with the rule applied there.

    Every given node is also judged against the user's own upstream values (autograd's rules
    applied to the user's gradients of the nodes that read it): where they disagree a new
    error enters (`report.entries`, one `Diagnosis` each, with `.kind` and `.node`); where
    they agree the node only inherits an error from above (`Diagnosis.inherited_by`). A scale
    that every given gradient shares from the top is a convention (-1: gradient ascent; the
    0.5 of a 0.5*sum), or mean vs sum (N = the batch size), as `compare_grads` reads it.
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
    refuse_released(loss, "compare_intermediates")
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
    if bad is None:
        return report
    chain = _Chain(view, grads, {position[n]: g for n, (_, g) in given.items()}, rtol, atol,
                   explanation, _batch_size(loss, view))
    report.entries = chain.judge([position[r.name] for r in rows if not r.close])
    k = position[bad.name]
    report.first_divergence = bad.name
    report.rule = explanation[bad.name].line
    first = next((d for d in report.entries if d.node == bad.name), None)
    report.findings = [first.details.get("finding", first.text) if first else
                       "it differs from autograd's, but agrees with your own upstream values"]
    if first is not None and first.inherited_by and first.kind != CONVENTION:
        report.findings.append(f"{names_text(list(first.inherited_by))} only "
                               f"{'inherit' if len(first.inherited_by) > 1 else 'inherits'} it")
    report.explanation = _sentence(view, k, explanation[bad.name], report.findings)
    return report


def _batch_size(loss: Tensor, view) -> int | None:
    """N of a missing 1/N: the count a final mean averages, else the leading dimension of the
    first data array (an input that needs no gradient)."""
    from .compare import detect_loss_kind

    kind, count = detect_loss_kind(loss)
    if count:
        return int(count)
    for t in view.tensors:
        if t.op is None and not t.requires_grad and t.ndim >= 1 and t.size > 1:
            return int(t.shape[0])
    return None


class _Chain:
    """The user's chain followed through the graph: at each node what the user's own upstream
    gradients imply (autograd's rules applied to them), and where the user's value departs."""

    def __init__(self, view, grads: dict, given: dict[int, np.ndarray], rtol: float,
                 atol: float | None, explanation, n: int | None) -> None:
        self.view, self.grads, self.given = view, grads, given
        self.rtol, self.atol, self.explanation, self.n = rtol, atol, explanation, n
        self.implied: dict[int, np.ndarray] = {}
        self.expected: dict[int, np.ndarray] = {}
        self.parts: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        for k in reversed(range(len(view.tensors))):
            t = view.tensors[k]
            if id(t) not in grads:
                continue
            auto = np.asarray(grads[id(t)], dtype=np.float64)
            if k in view.roots:
                e = auto
            else:
                e, parts = None, []
                for c in sorted(set(view.consumers[k])):
                    if c not in self.implied:
                        continue
                    for i, p in enumerate(view.parents[c]):
                        if p != k:
                            continue
                        part = np.asarray(edge_gradient(view.tensors[c], i, self.implied[c]),
                                          dtype=np.float64)
                        parts.append((c, i, part))
                        e = part if e is None else e + part
                self.parts[k] = parts
                e = np.zeros_like(auto) if e is None else np.broadcast_to(e, auto.shape)
            self.expected[k] = e
            mine = given.get(k)
            self.implied[k] = e if mine is None else self._repair(mine, e)

    def close(self, a: np.ndarray, b: np.ndarray) -> bool:
        return _close(a, b, self.rtol, self.atol)

    def _repair(self, mine: np.ndarray, e: np.ndarray) -> np.ndarray:
        """The user's value, in the node's shape, for what it feeds further down."""
        if mine.shape == e.shape:
            return mine
        if mine.ndim == 2 and mine.shape[::-1] == e.shape:
            return mine.T
        if mine.size == e.size:
            return mine.reshape(e.shape)
        try:
            summed = sum_to_shape(mine, e.shape)
        except Exception:  # noqa: BLE001
            return e
        return summed if summed.shape == e.shape else e

    def judge(self, differing: list[int]) -> list[Diagnosis]:
        """One Diagnosis per given node where a new discrepancy enters (backward order)."""
        view = self.view
        entries: list[tuple[int, Diagnosis]] = []
        inherited: list[int] = []
        for k in differing:
            mine = self.given[k]
            if mine.shape == self.expected[k].shape and self.close(mine, self.expected[k]):
                inherited.append(k)
            else:
                entries.append((k, self._kind_at(k, mine)))
        if len(entries) == 1:
            self._maybe_convention(*entries[0])
        below = {k: self._ancestors(k) for k, _ in entries}
        for k, d in entries:
            d.inherited_by = tuple(view.names[j] for j in inherited if j in below[k])
            if d.inherited_by and d.kind != CONVENTION:
                d.text += (f"; {names_text(list(d.inherited_by))} only "
                           f"{'inherit' if len(d.inherited_by) > 1 else 'inherits'} it")
        return [d for _, d in entries]

    def _ancestors(self, k: int) -> set[int]:
        seen, stack = set(), [k]
        while stack:
            for p in self.view.parents[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    # --- the kind of one entry ----------------------------------------------------------------
    def _auto(self, k: int) -> np.ndarray:
        return np.asarray(self.grads[id(self.view.tensors[k])], dtype=np.float64)

    def _kind_at(self, k: int, mine: np.ndarray) -> Diagnosis:
        name = self.view.names[k]
        e = self.expected[k]
        upstream_is_autograd = self.close(e, self._auto(k))
        ref = "autograd's" if upstream_is_autograd else "what your own upstream gradients give"

        def diag(kind: str, finding: str, **kw: Any) -> Diagnosis:
            return Diagnosis(kind, name, (name,), text=f"{name}: {finding}",
                             details={"finding": finding}, **kw)

        if mine.shape != e.shape:
            if mine.ndim == 2 and mine.shape[::-1] == e.shape and self.close(mine.T, e):
                return diag(TRANSPOSED, f"yours has shape {shape_text(mine.shape)}, "
                            f"{ref} {shape_text(e.shape)}: it is the transpose (swap the "
                            "operands of the matmul or add .T)")
            if mine.size == e.size:
                return diag(SHAPE, f"yours has shape {shape_text(mine.shape)}, {ref} "
                            f"{shape_text(e.shape)}; reshaped, the values "
                            f"{'agree' if self.close(mine.reshape(e.shape), e) else 'differ'}")
            return diag(AXIS, f"yours has shape {shape_text(mine.shape)}, {ref} "
                        f"{shape_text(e.shape)}: " + self._axis_text(k, mine, e))
        found = self._accumulation(k, mine)  # before a ratio: t1 * t1 halves with one term
        if found is not None:
            return diag(*found)
        ratio = _ratio(mine, e, self.rtol, self.atol)
        if ratio is not None:
            kind, expr, n = node_ratio_kind(ratio, self.n)
            if kind == SIGN:
                text = (f"yours = -{ref}: the sign is flipped at this node"
                        + self._minus_text(k, mine))
            elif kind == MEAN_VS_SUM:
                text = (f"yours = {expr} x {ref}: mean vs sum, a 1/N with N = {n} (the batch "
                        f"size) {'missing' if abs(ratio) > 1 else 'extra'} at this node")
            else:
                text = f"yours = {number_text(ratio, 6)} x {ref}: a constant factor enters here"
            return diag(kind, text, ratio=ratio, expression=expr, n=n)
        if mine.ndim == 2 and mine.shape[0] == mine.shape[1] and mine.shape[0] > 1:
            r_t = _ratio(mine.T, e, self.rtol, self.atol)
            if r_t is not None:
                times = "" if abs(r_t - 1) <= 1e-6 else f" times {number_text(r_t, 6)}"
                return diag(TRANSPOSED, f"yours equals {ref} transposed{times} (a square "
                            "matrix: swap the operands of the matmul or add .T)", ratio=r_t)
        found = self._activation(k, mine) or self._same_shape_axis(k, mine)
        if found is not None:
            return diag(*found)
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(mine - e))),
                                                     e.shape)) if e.ndim else ()
        return diag(UNKNOWN, f"at {index_text(idx)} yours is {number_text(float(mine[idx]), 6)}, "
                    f"{ref} {number_text(float(e[idx]), 6)}: check this node's local rule",
                    kind_known=False)

    def _step(self, k: int):
        return self.explanation[self.view.names[k]]

    def _minus_text(self, k: int, mine: np.ndarray) -> str:
        """' (yours equals dL/dt1: the minus sign is missing ...)' when a subtraction reads k."""
        step = self._step(k)
        for (c, _, _), (reader, term) in zip(self.parts.get(k, []), step.terms):
            g_name = f"d{step.root_name}/d{reader}"
            if term == f"-{g_name}" and self.close(mine, self.implied[c]):
                return (f"; yours equals {g_name}: the minus sign is missing "
                        f"({step.name} is subtracted in {_forward_line(self.view, c)}, so its "
                        f"gradient is -{g_name})")
        return ""

    def _accumulation(self, k: int, mine: np.ndarray) -> tuple | None:
        parts = self.parts.get(k, [])
        if len(parts) < 2 or len(parts) > 6:
            return None
        step = self._step(k)
        for size in range(1, len(parts)):
            for subset in itertools.combinations(range(len(parts)), size):
                total = sum(parts[j][2] for j in subset)
                if np.shape(total) == mine.shape and self.close(mine, total):
                    terms = [step.terms[j] for j in subset if j < len(step.terms)]
                    through = ", ".join(f"{reader} ({term})" for reader, term in terms)
                    m = len(parts)
                    text = (f"yours equals only the contribution{'s' if size > 1 else ''} "
                            f"through {through}; {step.name} is read {m} times and the "
                            f"gradient is the sum of all {m} contributions: {step.formula}"
                            ).replace("of all 2 contributions", "of both contributions")
                    return ACCUMULATION, text
        return None

    def _activation(self, k: int, mine: np.ndarray) -> tuple | None:
        view = self.view
        x = np.asarray(view.tensors[k].data, dtype=np.float64)
        for c, _, _ in self.parts.get(k, []):
            node = view.tensors[c]
            g = self.implied[c]
            if g.shape != mine.shape:
                continue
            op = node.op
            y = np.asarray(node.data, dtype=np.float64)
            zn, hn = view.names[k], view.names[c]
            step = self._step(k)
            g_name = f"d{step.root_name}/d{hn}"
            activation = node._op is not None and node._op.text.activation
            wrong = [(np.ones_like(x), f"yours equals {g_name}: the {op}' factor is missing "
                      f"(the rule multiplies by {op}'({zn}))")]
            if op == "sigmoid":
                with np.errstate(over="ignore"):
                    sy = 1 / (1 + np.exp(-y))
                wrong += [(x * (1 - x), f"yours is {g_name} * {zn}*(1-{zn}): s(1-s) taken at "
                           f"{zn}, the input, instead of at {hn} = sigmoid({zn}); the rule is "
                           f"{g_name} * {hn}*(1-{hn})"),
                          (sy * (1 - sy), f"yours is {g_name} * sigmoid'({hn}): the derivative "
                           f"taken at the output {hn} instead of at {zn}")]
            elif op == "tanh":
                wrong += [(1 - x * x, f"yours is {g_name} * (1 - {zn}²): tanh' taken at "
                           f"{zn}, the input; the rule is {g_name} * (1 - {hn}²)"),
                          (1 - np.tanh(y) ** 2, f"yours is {g_name} * tanh'({hn}): the "
                           f"derivative taken at the output {hn} instead of at {zn}")]
            elif op == "relu" and activation:
                wrong[0] = (np.ones_like(x), f"yours equals {g_name}: the ReLU mask ({zn} > 0) "
                            "is missing")
            elif not activation:
                continue
            for factor_, text in wrong:
                if factor_.shape == mine.shape and self.close(mine, g * factor_):
                    return ACTIVATION, text
        return None

    def _same_shape_axis(self, k: int, mine: np.ndarray) -> tuple | None:
        """A broadcast operand (a bias, a scale) whose per-element contributions were summed
        over the wrong axis."""
        view = self.view
        for c, i, _ in self.parts.get(k, []):
            node = view.tensors[c]
            g = self.implied[c]
            if g.ndim <= mine.ndim or node.op not in ("add", "sub", "mul"):
                continue
            full = g
            if node.op == "sub" and i == 1:
                full = -g
            elif node.op == "mul":
                other = view.tensors[view.parents[c][1 - i]] if len(view.parents[c]) == 2 \
                    else None
                if other is None:
                    continue
                full = g * np.asarray(other.data, dtype=np.float64)
            for axis in range(full.ndim):
                for s in (full.sum(axis=axis), full.sum(axis=axis, keepdims=True)):
                    if s.shape == mine.shape and self.close(mine, s):
                        return AXIS, (f"yours is summed over axis {axis}, not over the axes "
                                      f"the forward broadcast {view.names[k]} along (the "
                                      "batch)")
        return None

    def _axis_text(self, k: int, mine: np.ndarray, e: np.ndarray) -> str:
        try:
            summed = sum_to_shape(mine, e.shape)
        except Exception:  # noqa: BLE001
            summed = None
        if summed is not None and summed.shape == e.shape and self.close(summed, e):
            return "summed over the batch (broadcast) axes it agrees: the batch sum is missing"
        return "a sum over the wrong axis (the rule sums over the axes the forward broadcast)"

    # --- the convention: one scale from the top, shared by every given gradient ----------------
    def _maybe_convention(self, k: int, d: Diagnosis) -> None:
        if d.ratio is None or d.kind == TRANSPOSED:
            return
        ratios = [_ratio(g, self._auto(j), self.rtol, self.atol) for j, g in self.given.items()]
        if not all(r is not None and abs(r - d.ratio) <= 1e-6 * abs(d.ratio) for r in ratios):
            return
        if not self.close(self.expected[k], self._auto(k)):
            return
        kind, expr, n = read_scale(d.ratio, self.n)
        d.kind, d.expression, d.n = kind, expr, n
        every = ("every given gradient" if len(self.given) > 1 else "the only given gradient")
        r_text = "-" if expr == "-1" else f"{expr} x "
        head = f"yours = {r_text}autograd's; {every} is {number_text(d.ratio, 6)} x autograd's"
        minus = self._minus_text(k, self.given[k]).replace("the minus sign is missing",
                                                          "its minus sign is left out")
        if kind == CONVENTION:
            what = []
            if d.ratio < 0:
                what.append("the gradient-ascent convention (computed from (y - output), then "
                            "added to the weights)")
            if abs(abs(d.ratio) - 1) > 1e-6:
                what.append(f"the 0.5 of a 0.5*sum loss ({expr.lstrip('-')})")
            d.alternatives = (SIGN,) if abs(d.ratio + 1) <= 1e-6 else (FACTOR,)
            finding = (f"{head}, so it is a convention carried down the whole chain "
                       f"({' and '.join(what)}), not a local mistake and not a bug{minus}")
        elif kind == MEAN_VS_SUM:
            finding = (f"{head}: mean vs sum: the 1/N of the mean, N = {n} (the batch size), is "
                       f"{'missing' if abs(d.ratio) > 1 else 'extra'} at d{self._step(k).root_name}"
                       f"/d{d.node}, and every node below inherits it")
        else:
            finding = (f"{head}: a constant factor entering at d{self._step(k).root_name}/"
                       f"d{d.node}, which every node below inherits (not a convention of the "
                       "loss's reduction)")
        d.details["finding"] = finding
        d.text = f"{d.node}: {finding}"


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


