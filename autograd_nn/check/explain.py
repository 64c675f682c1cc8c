"""`explain`: the chain rule of a recorded graph, written out the way a hand derivation is.

For every node that needs a gradient, one line `dL/dnode = <sum over the ops that use node>`
in terms of the users' gradients and the forward values, with the node's shape and the norm of
its gradient, e.g. `dL/dweights1 = X.T @ dL/dz1  (3,4)  |g| = 0.12`; parameters also get the
line with the next step inlined (`X.T @ (dL/dh1 * sigmoid'(z1))`), which is what hand-written
backprop code usually computes in one statement. Comparing these lines and numbers with one's
own code shows which statement differs.

Each op's term is its row's rule itself, run on symbols named as the graph names its values
(check/symbolic.py): `dL/dt2 @ V.T` for a matmul, `cumsum(dL/dt1[::-1], axis=0)[::-1]` for a
cumsum; an activation's `g * f` is written `dL/dh1 * tanh'(z1)`, with `tanh'(z1) = 1 - h1 * h1`
as a note. A rule that mixes elements (a scan, a product, a reduction) is written for the whole
array: nothing here is written at one element.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core import engine
from ..core.formatting import shape_text
from ..core.tensor import Tensor
from ..graph import node_gradients, user_names, view_graph
from .symbolic import derive, factor, symbol, text_of

__all__ = ["Explanation", "Step", "explain", "rule_formula"]

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
    terms: list[tuple[str, str]] = field(default_factory=list)  # (consumer, its term), per edge

    @property
    def lhs(self) -> str:
        """The left-hand side, e.g. dL/dweights1."""
        return f"d{self.root_name}/d{self.name}"

    @property
    def line(self) -> str:
        """The step as one line: `dL/dnode = formula`."""
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
        """The steps of the leaves that require grad (the parameters' gradients)."""
        return [s for s in self.steps if s.kind == "parameter"]

    def lines(self) -> list[str]:
        """The explanation as text lines: forward steps, then the backward chain rule."""
        r = self.root_name
        value = (f"value {float(self.root_value):.6g}" if self.root_value.size == 1
                 else f"shape {shape_text(self.root_value.shape)}, seeded with ones")
        out = [f"Chain rule for {r} ({value})", "", "Forward:"]
        width = max([len(text) for text, _ in self.forward] + [0])
        out += [f"  {text.ljust(width)}  {shape_text(shape)}" for text, shape in self.forward]
        out += ["", f"Backward (d{r}/dnode, summed over the ops that use the node):"]
        width = max([len(s.line) for s in self.steps] + [0])
        swidth = max([len(shape_text(s.shape)) for s in self.steps] + [0])
        for s in self.steps:
            out.append(f"  {s.line.ljust(width)}  {shape_text(s.shape).ljust(swidth)}  "
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


def _axes_text(axes: Any) -> str:
    if axes is None:
        return "None"
    axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
    return str(axes[0]) if len(axes) == 1 else str(axes)


# ---------------------------------------------------------------------------------------------
# Writing a row's `display` and `formula` templates with the graph's names
# ---------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+)(!r)?\}")


def _context(node: Tensor, names: dict[int, str], g: str = "", i: int = 0) -> SimpleNamespace:
    """What a row's templates may name: g, out, i, each input by its row name (x, a, b, ...) with
    its `<name>_shape` and `<name>_dtype`, and the op's parameters."""
    prim = node._op
    ctx = SimpleNamespace(i=i, node=node, inputs=node.parents, params=node._params or {})
    labels = prim.inputs if not prim.variadic else ()
    for label, p in zip(labels, node.parents):
        setattr(ctx, label, names[id(p)])
        setattr(ctx, f"{label}_shape", shape_text(p.shape))
        setattr(ctx, f"{label}_dtype", str(p.dtype))
    ctx.g, ctx.out = g, names[id(node)]  # an input called g (max_pool2d_route's) is not {g}
    return ctx


def _fill(template: str, ctx: SimpleNamespace) -> str:
    """Substitute {name} / {name!r} from ctx and the op's parameters, in one pass (user names
    with braces are safe); `{g} * ` disappears when the gradient is the number 1."""
    if ctx.g == "1" and template.startswith("{g} * "):
        template = template[len("{g} * "):]

    def value(match: re.Match) -> str:
        key, raw = match.group(1), match.group(2)
        if hasattr(ctx, key):
            v = getattr(ctx, key)
        elif key in ctx.params:
            v = ctx.params[key]
            if key in ("axis", "axes") and not raw:
                return _axes_text(v)
        else:
            return match.group(0)
        return repr(v) if raw else str(v)

    return _PLACEHOLDER.sub(value, template)


def _render(spec: Any, ctx: SimpleNamespace) -> str | None:
    if spec is None:
        return None
    text = spec(ctx) if callable(spec) else spec
    return None if text is None else _fill(text, ctx)


def _forward_text(t: Tensor, n: dict[int, str]) -> str:
    """`z1 = dot(X, weights1)`: the row's display form, or op(inputs, parameters)."""
    ctx = _context(t, n)
    rhs = _render(t._op.text.display, ctx)
    if rhs is None:
        extra = []
        for k, v in ctx.params.items():
            if (v is None and k in ("axis", "axes")) or (k == "keepdims" and not v):
                continue
            extra.append(f"{k}={_axes_text(v) if k == 'axis' else v}")
        rhs = f"{t.op}({', '.join([n[id(p)] for p in t.parents] + extra)})"
    return f"{n[id(t)]} = {rhs}"


def _broadcast_axes(in_shape: tuple, out_shape: tuple) -> tuple[tuple[int, ...], bool]:
    lead = len(out_shape) - len(in_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(in_shape) if s == 1 and out_shape[lead + i] != 1)
    keep = any(a >= lead for a in axes)
    return axes, keep


def rule_formula(node: Tensor, i: int, g: str, names: dict[int, str],
                 g_value: Any = None) -> tuple[str, list[str]]:
    """What `node` (= op(parents)) sends its input #i, as text, and the notes that go with it.

    The text is the row's rule run on symbols (check/symbolic.py) named as the graph names
    them: `g` (the text of the incoming gradient, with value `g_value`), the node and its
    inputs. A row that keeps a hand-written `formula` for this input (where the derived text
    would be worse) shows that instead; tests/test_rule_text.py checks that the two agree. An
    activation row whose rule is `g * f` is written `g * name'(x)`, with `name'(x) = f` as a
    note."""
    prim = node._op
    ctx = _context(node, names, g, i)
    k = 0 if prim.variadic else i  # a variadic row has one rule (and formula) for all inputs
    formulas = prim.text.formula or ()
    spec = formulas[k] if k < len(formulas) else None
    notes = [_fill(note, ctx) for note in prim.text.notes]
    kept = _render(spec, ctx)
    if kept is not None:
        return kept, notes
    derived = _derive(node, i, g, names, g_value)
    if derived is None:
        return f"vjp_{node.op}[{i}]({g})", notes
    text, more = derived
    return text, more + notes


def _derive(node: Tensor, i: int, g: str, names: dict[int, str],
            g_value: Any) -> tuple[str, list[str]] | None:
    """The rule run on symbols (None when it cannot be: it raised)."""
    prim, params = node._op, node._params or {}
    if g_value is None:
        g_value = np.ones(node.shape, node.dtype)
    out = symbol(names[id(node)], node.data)
    inputs = [symbol(names[id(p)], p.data) for p in node.parents]
    try:
        if prim.text.activation:  # g * f: written g * name'(x), with name'(x) = f
            leaf = symbol(g if g != "1" else "(1)", g_value)
            result = derive(prim, i, leaf, out, inputs, params)
            f = None if result is None else factor(result, leaf)
            if f is not None:
                slope = f"{prim.name}'({names[id(node.parents[i])]})"
                body = f.text()
                if f.prec <= 5:  # a comparison: (z1 > 0)
                    body = f"({body})"
                return (slope if g == "1" else f"{g} * {slope}"), [f"{slope} = {body}"]
        result = derive(prim, i, symbol(g, g_value), out, inputs, params)
    except Exception:  # noqa: BLE001 (a rule that cannot run on symbols is written by name)
        return None
    return None if result is None else (text_of(result), [])


def _edge_term(node: Tensor, i: int, g: str, n: dict[int, str],
               g_value: Any = None) -> tuple[str, list[str]]:
    """Contribution of `node` (= op(parents)) to the gradient of its input #i, from its row,
    summed over the axes the row broadcast."""
    prim = node._op
    term, notes = rule_formula(node, i, g, n, g_value)
    x = node.parents[i]
    if prim.elementwise and x.shape != node.shape:
        axes, keep = _broadcast_axes(x.shape, node.shape)
        if axes:
            if term == g and g.startswith("(") and g.endswith(")"):
                term = g[1:-1]  # sum(...) brackets it already
            term = f"sum({term}, axis={_axes_text(axes)}{', keepdims=True' if keep else ''})"
            notes.append(f"summed over broadcast axes {axes}: {n[id(x)]} has shape "
                         f"{shape_text(x.shape)}, {n[id(node)]} has {shape_text(node.shape)}")
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
    Refused (GraphReleasedError) when another thread's backward released part of the graph
    while explain read it: releases are final, so none at the end means none during.
    """
    try:
        result = _explain(root, params)
    except engine.GraphReleasedError:
        raise
    except Exception:
        refuse_released(root, "explain", while_reading=True)
        raise
    refuse_released(root, "explain", while_reading=True)
    return result


def refuse_released(root: Tensor, where: str, while_reading: bool = False) -> None:
    """Refuse a graph a `backward()` released (a picture can still show its structure, but
    the values the gradients need are gone): an earlier one, or with `while_reading` one that
    ran (in another thread) while `where` read the graph."""
    if not isinstance(root, Tensor):
        return
    when = ("a backward() (in another thread?) while it read the graph" if while_reading else
            "an earlier backward(), which frees what the gradients need")
    for node in engine.topological_order([root]):
        if node.graph_released:
            raise engine.GraphReleasedError(
                f"{where}: the {node.op} node ({node.shape}) was released by {when}; build the "
                "graph again, or call backward(retain_graph=True) first")


def _explain(root: Tensor, params: Any = None) -> Explanation:
    """The explanation itself (see `explain`)."""
    if not isinstance(root, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"explain: this tensor ({root.shape} {root.dtype}) has no graph: none of its inputs "
            "requires grad (create parameters with requires_grad=True, outside no_grad())")
    refuse_released(root, "explain")
    view = view_graph([root], user_names(params, where="explain: params"))
    order = view.tensors
    names = {id(t): name for t, name in zip(order, view.names)}
    root_name = names[id(root)]
    grads = node_gradients(root)

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
            formula = "1" if root.size == 1 else f"ones{shape_text(root.shape)}"
            expanded = None
            notes: list[str] = []
            edges = []
        else:
            kind = "intermediate" if t._op is not None else "parameter"
            terms, expanded_terms, notes = [], [], []
            edges: list[tuple[str, str]] = []
            for child, i in consumers.get(id(t), []):
                rows_inputs = child._op.grad_inputs if child._op is not None else None
                if not child.requires_grad or (rows_inputs is not None and i not in rows_inputs):
                    continue  # no rule for this input: it sends nothing
                g_txt = "1" if (child is root and root.size == 1) else \
                    f"d{root_name}/d{names[id(child)]}"
                g_child = grads.get(id(child))
                term, more = _edge_term(child, i, g_txt, names, g_child)
                terms.append(term)
                edges.append((names[id(child)], term))
                notes += [m for m in more if m not in notes]
                if child is not root and id(child) in formulas:
                    inlined, _ = _edge_term(child, i, _wrap(formulas[id(child)]), names,
                                            g_child)
                    expanded_terms.append(inlined)
                else:
                    expanded_terms.append(term)
            formula = _join(terms)
            expanded = _join(expanded_terms) if kind == "parameter" and terms else None
        formulas[id(t)] = formula
        steps.append(Step(names[id(t)], t.op, kind, tuple(t.shape), norm,
                          _forward_text(t, names) if t._op is not None else "", formula,
                          expanded, notes, root_name, edges))
    return Explanation(root_name, np.asarray(root.data), steps, forward, root.size != 1)
