"""`explain`: the chain rule of a recorded graph, written out the way a hand derivation is.

For every node that needs a gradient, one line `dL/dnode = <sum over the ops that use node>`
in terms of the users' gradients and the forward values, with the node's shape and the norm of
its gradient, e.g. `dL/dweights1 = X.T @ dL/dz1  (3,4)  |g| = 0.12`; parameters also get the
line with the next step inlined (`X.T @ (dL/dh1 * sigmoid'(z1))`), which is what hand-written
backprop code usually computes in one statement. Comparing these lines and numbers with one's
own code shows which statement differs.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import engine
from ..naming import format_number, node_names, user_names
from ..tensor import Tensor

__all__ = ["Explanation", "Step", "explain"]

@dataclass
class Step:
    """One node of the derivation; `formula` is the right-hand side of `dL/d<name> = ...`."""

    name: str
    op: str | None  # the op that produced the node (None for leaves)
    kind: str  # "output", "intermediate" or "parameter" (a leaf that requires grad)
    shape: tuple
    grad_norm: float
    forward: str  # "z1 = dot(X, weights1)", "" for leaves
    formula: str
    expanded: str | None = None  # parameters: the formula with the next step inlined
    notes: list[str] = field(default_factory=list)
    root_name: str = "L"

    @property
    def lhs(self) -> str:
        return f"d{self.root_name}/d{self.name}"

    @property
    def line(self) -> str:
        return f"{self.lhs} = {self.formula}"


class Explanation:
    """The derivation: `.steps` (root first, then towards the leaves), `.forward` lines,
    `explanation[name]` for one step, `str()` for the text."""

    def __init__(self, root_name: str, root_value: np.ndarray, steps: list[Step],
                 forward: list[tuple[str, tuple]], seeded_with_ones: bool) -> None:
        self.root_name = root_name
        self.root_value = root_value
        self.steps = steps
        self.forward = forward
        self.seeded_with_ones = seeded_with_ones
        self._by_name = {s.name: s for s in steps}

    def __getitem__(self, name: str) -> Step:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no step named {name!r}; steps: {list(self._by_name)}") from None

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def parameters(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "parameter"]

    def lines(self) -> list[str]:
        r = self.root_name
        value = (f"value {float(self.root_value):.6g}" if self.root_value.size == 1
                 else f"shape {_shape(self.root_value.shape)}, seeded with ones")
        out = [f"Chain rule for {r} ({value})", "", "Forward:"]
        width = max([len(text) for text, _ in self.forward] + [0])
        out += [f"  {text.ljust(width)}  {_shape(shape)}" for text, shape in self.forward]
        out += ["", f"Backward (d{r}/dnode, summed over the ops that use the node):"]
        width = max([len(s.line) for s in self.steps] + [0])
        swidth = max([len(_shape(s.shape)) for s in self.steps] + [0])
        for s in self.steps:
            out.append(f"  {s.line.ljust(width)}  {_shape(s.shape).ljust(swidth)}  "
                       f"|g| = {s.grad_norm:.3g}")
            if s.expanded and s.expanded != s.formula:
                out.append(f"  {' ' * len(s.lhs)} = {s.expanded}")
            out += [f"  {' ' * len(s.lhs)}   where {n}" for n in s.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<Explanation of {self.root_name}: {len(self.steps)} steps>"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def _shape(shape: tuple) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ",".join(str(n) for n in shape) + ")"


_number = format_number


# ---------------------------------------------------------------------------------------------
# Graph walking (naming: autograd_nn/naming.py)
# ---------------------------------------------------------------------------------------------
def _topological(root: Tensor) -> list[Tensor]:
    """All nodes reachable from root, parents before children; refuses a released graph."""
    order = engine.topological_order([root])
    for node in order:
        if node.graph_released:
            raise engine.GraphReleasedError(
                f"explain: the {node.op} node ({node.shape}) was released by an earlier "
                "backward(); build the graph again, or call backward(retain_graph=True)")
    return order


# ---------------------------------------------------------------------------------------------
# Formula templates
# ---------------------------------------------------------------------------------------------
def _axes_text(axes: Any) -> str:
    if axes is None:
        return "None"
    axes = tuple(axes)
    return str(axes[0]) if len(axes) == 1 else str(axes)


def _forward_text(t: Tensor, n: dict[int, str]) -> str:
    op = t.op
    a = [n[id(p)] for p in t.parents]
    params = t._params or {}
    binary = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "pow_tensor": "**",
              "matmul": "@"}
    if op in binary and len(a) == 2:
        rhs = f"{a[0]} {binary[op]} {a[1]}"
    elif op == "pow" and "exponent" in params:
        rhs = f"{a[0]} ** {_number(params['exponent'])}"
    elif op == "neg":
        rhs = f"-{a[0]}"
    elif op == "transpose" and params.get("axes") is None:
        rhs = f"{a[0]}.T"
    elif op == "getitem":
        rhs = f"{a[0]}[{params.get('index')!r}]"
    else:
        extra = []
        for k, v in params.items():
            if v is None and k in ("axis", "axes"):
                continue
            if k == "condition":
                v = "<mask>"
            elif k == "axis":
                v = _axes_text(v)
            if k == "keepdims" and not v:
                continue
            extra.append(f"{k}={v}")
        rhs = f"{op}({', '.join(a + extra)})"
    return f"{n[id(t)]} = {rhs}"


def _broadcast_axes(in_shape: tuple, out_shape: tuple) -> tuple[tuple[int, ...], bool]:
    lead = len(out_shape) - len(in_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(in_shape) if s == 1 and out_shape[lead + i] != 1)
    keep = any(a >= lead for a in axes)
    return axes, keep


def _edge_term(node: Tensor, i: int, g: str, n: dict[int, str]) -> tuple[str, list[str]]:
    """Contribution of `node` (= op(parents)) to the gradient of its input #i."""
    op = node.op
    ps = node.parents
    A = n[id(ps[0])]
    B = n[id(ps[1])] if len(ps) > 1 else ""
    Y = n[id(node)]
    params = node._params or {}
    x = ps[i]
    notes: list[str] = []
    one = g == "1"

    def times(factor: str) -> str:
        return factor if one else f"{g} * {factor}"

    if op == "add":
        term = g
    elif op == "sub":
        term = g if i == 0 else f"-{g}"
    elif op == "mul":
        term = times(B if i == 0 else A)
    elif op == "div":
        term = f"{g} / {B}" if i == 0 else f"-{g} * {Y} / {B}"
    elif op == "neg":
        term = f"-{g}"
    elif op in ("pow", "pow_tensor"):
        e = params.get("exponent")  # x ** c with a constant number c (no second parent)
        if e is None and len(ps) == 2 and ps[1].size == 1 and not ps[1].requires_grad:
            e = ps[1].data.reshape(-1)[0].item()
        if i == 1:
            term = times(f"{Y}*log({A})")
        elif e is None:
            term = times(f"{B}*{A}**({B}-1)")
        elif e == 2:
            term = times(f"2*{A}")
        elif e == 1:
            term = g
        else:
            term = times(f"{_number(e)}*{A}**{_number(e - 1)}")
    elif op in ("matmul", "dot"):
        a_nd, b_nd = ps[0].ndim, ps[1].ndim
        if a_nd >= 2 and b_nd >= 2:
            tr = ".T" if max(a_nd, b_nd) == 2 else ".mT"
            term = f"{g} @ {B}{tr}" if i == 0 else f"{A}{tr} @ {g}"
        elif a_nd == 1 and b_nd == 1:
            term = times(B if i == 0 else A)
        elif b_nd == 1:
            term = f"outer({g}, {B})" if i == 0 else f"{A}.T @ {g}"
        else:
            term = f"{B} @ {g}" if i == 0 else f"outer({A}, {g})"
    elif op == "sigmoid":
        term = times(f"sigmoid'({A})")
        notes.append(f"sigmoid'({A}) = {Y}*(1-{Y})")
    elif op == "tanh":
        term = times(f"tanh'({A})")
        notes.append(f"tanh'({A}) = 1-{Y}**2")
    elif op == "relu":
        term = times(f"relu'({A})")
        notes.append(f"relu'({A}) = ({A} > 0)")
    elif op == "exp":
        term = times(Y)
    elif op == "log":
        term = f"{g} / {A}"
    elif op == "log1p":
        term = f"{g} / (1 + {A})"
    elif op == "sqrt":
        term = f"{g} / (2*{Y})"
    elif op == "abs":
        term = times(f"sign({A})")
    elif op in ("sum", "mean"):
        base = f"ones{_shape(x.shape)}" if one else f"broadcast({g}, {_shape(x.shape)})"
        if op == "mean":
            axis = params.get("axis")
            count = x.size if axis is None else int(np.prod([x.shape[k] for k in axis]))
            base += f" / {count}"
        term = base
    elif op in ("max", "min"):
        term = f"{g} at the {op} entries of {A} (ties share)"
    elif op in ("maximum", "minimum"):
        cmp = ">" if op == "maximum" else "<"
        other = B if i == 0 else A
        term = times(f"({n[id(x)]} {cmp} {other})")
        notes.append(f"ties between {A} and {B} share the gradient equally")
    elif op == "clip":
        lo, hi = params.get("lo"), params.get("hi")
        term = times(f"({'' if lo is None else f'{lo} <= '}{A}{'' if hi is None else f' <= {hi}'})")
    elif op == "transpose":
        axes = params.get("axes")
        term = f"{g}.T" if axes is None else f"transpose({g}, {tuple(np.argsort(axes))})"
    elif op in ("reshape", "expand_dims"):
        term = f"reshape({g}, {_shape(x.shape)})"
    elif op == "broadcast_to":
        term = f"sum_to({g}, {_shape(x.shape)})"
    elif op == "sum_to":
        term = f"broadcast({g}, {_shape(x.shape)})"
    elif op == "getitem":
        term = f"{g} scattered into zeros{_shape(x.shape)} at [{params.get('index')!r}]"
    elif op == "softmax":
        term = f"{Y} * ({g} - sum({g} * {Y}, axis={params.get('axis')}))"
    elif op == "log_softmax":
        term = f"{g} - exp({Y}) * sum({g}, axis={params.get('axis')})"
    elif op == "logsumexp":
        term = times(f"exp({A} - {Y})")
    elif op == "astype":
        term = f"{g} cast to {x.dtype}"
    elif op == "where":
        term = f"where(mask, {g}, 0)" if i == 0 else f"where(mask, 0, {g})"
    elif op in ("concatenate", "stack"):
        term = f"{g} (the part from input #{i} of {op})"
    else:
        term = f"vjp_{op}[{i}]({g})"
    if op in ("add", "sub", "mul", "div", "pow_tensor", "maximum", "minimum", "where") and \
            x.shape != node.shape:
        axes, keep = _broadcast_axes(x.shape, node.shape)
        if axes:
            if term == g and g.startswith("(") and g.endswith(")"):
                term = g[1:-1]  # sum(...) brackets it already
            term = f"sum({term}, axis={_axes_text(axes)}{', keepdims=True' if keep else ''})"
            notes.append(f"summed over broadcast axes {axes}: {n[id(x)]} has shape "
                         f"{_shape(x.shape)}, {Y} has {_shape(node.shape)}")
    return term, notes


def _wrap(term: str) -> str:
    simple = " " not in term and not term.startswith("-")
    return term if simple else f"({term})"


def _join(terms: list[str]) -> str:
    """Sum of the edge terms; a term repeated k times (x * x) is written k * term."""
    if not terms:
        return "0"
    counts: dict[str, int] = {}
    for t in terms:
        counts[t] = counts.get(t, 0) + 1
    return " + ".join(t if k == 1 else f"{k} * {_wrap(t) if '@' in t else t}"
                      for t, k in counts.items())


def explain(root: Tensor, params: Any = None) -> Explanation:
    """Write out the chain rule of `root`'s graph per node, with shapes and gradient norms.

    `params` (optional): a dict name -> Tensor or array naming leaves (arrays are matched to the
    leaves made from them, e.g. the data X); Tensor.name is used first. Unnamed intermediates
    are named in topological order: h1, h2 for activation outputs, z1, z2 for their inputs,
    t1, t2, ... for the rest; the root is L. A non-scalar root is seeded with ones (the
    gradient of its sum). The graph is kept (retain_graph) and no `.grad` is touched.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"explain: this tensor ({root.shape} {root.dtype}) has no graph: none of its inputs "
            "requires grad (create parameters with requires_grad=True, outside no_grad())")
    order = _topological(root)
    given = user_names(params, where="explain: params")
    names = node_names(order, root, given)
    root_name = names[id(root)]
    grads = engine.backward_pass([root], [np.ones_like(root.data)], retain_graph=True,
                                 accumulate=False, keep_all=True)

    consumers: dict[int, list[tuple[Tensor, int]]] = {}
    for t in order:
        for i, p in enumerate(t.parents):
            if p.requires_grad:
                consumers.setdefault(id(p), []).append((t, i))

    forward = [(_forward_text(t, names), t.shape) for t in order if t._op is not None]
    steps: list[Step] = []
    formulas: dict[int, str] = {}
    for t in reversed(order):
        if not t.requires_grad:
            continue
        g = grads.get(id(t))
        norm = float(np.linalg.norm(np.asarray(g, dtype=np.float64))) if g is not None else 0.0
        if t is root:
            kind = "output"
            formula = "1" if root.size == 1 else f"ones{_shape(root.shape)}"
            expanded = None
            notes: list[str] = []
        else:
            kind = "intermediate" if t._op is not None else "parameter"
            terms, expanded_terms, notes = [], [], []
            for child, i in consumers.get(id(t), []):
                if not child.requires_grad:
                    continue
                g_txt = "1" if (child is root and root.size == 1) else \
                    f"d{root_name}/d{names[id(child)]}"
                term, more = _edge_term(child, i, g_txt, names)
                terms.append(term)
                notes += [m for m in more if m not in notes]
                if child is not root and id(child) in formulas:
                    inlined, _ = _edge_term(child, i, _wrap(formulas[id(child)]), names)
                    expanded_terms.append(inlined)
                else:
                    expanded_terms.append(term)
            formula = _join(terms)
            expanded = _join(expanded_terms) if kind == "parameter" and terms else None
        formulas[id(t)] = formula
        steps.append(Step(names[id(t)], t.op, kind, tuple(t.shape), norm,
                          _forward_text(t, names) if t._op is not None else "", formula,
                          expanded, notes, root_name))
    return Explanation(root_name, np.asarray(root.data), steps, forward, root.size != 1)
