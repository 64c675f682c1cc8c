"""The text explain shows for a rule is the rule itself (issue 21, item 1).

Every row's rule is run on symbols (autograd_nn/check/symbolic.py) and the text it writes is
evaluated as Python, with NumPy and the rows bound to the names it uses and the graph's values
bound to g, out and the inputs: it must give the rule's numbers. A row that keeps a hand-written
`formula` (where the derived text would be worse) is checked the same way, so a hand-kept string
that can disagree with its rule fails here (the agreement test).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import test_core_ops

import autograd_nn as ag
from autograd_nn.check.explain import rule_formula
from autograd_nn.check.symbolic import (
    SymbolicValueError,
    derive,
    namespace,
    symbol,
    text_of,
)
from autograd_nn.core.ops.registry import PRIMITIVES, prims

NS = namespace()
T = ag.Tensor


def _param(a) -> ag.Tensor:
    return T(np.asarray(a, dtype=float), requires_grad=True)


def _extra_runs(rng) -> list:
    """Cases the op tables leave out: reductions over axes (with keepdims), the branches rules
    take on values (zeros in prod and cumprod, zero exponents), 1-D and batched products,
    one-sided clips, and roots whose gradient is the number 1."""
    x = _param(rng.normal(size=(3, 4)))
    runs = []
    for axis in (0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            runs += [f(x, axis=axis, keepdims=keepdims) for f in (
                ag.sum, ag.mean, ag.max, ag.min, ag.prod, ag.var, ag.std, ag.norm, ag.logsumexp)]
    zeros = _param(np.where(np.arange(12).reshape(3, 4) % 5 == 1, 0.0, rng.normal(size=(3, 4))))
    runs += [ag.prod(zeros, axis=1), ag.prod(zeros), ag.cumprod(zeros, axis=1),
             ag.cumprod(zeros, axis=0), ag.cumsum(x, axis=1), ag.var(x, ddof=1),
             ag.std(x, axis=0, ddof=1), ag.softmax(x, axis=0), ag.log_softmax(x, axis=0)]
    base = _param(np.array([[0.0, 1.5, 2.0, 0.5], [3.0, 0.0, 0.7, 1.2], [0.0, 2.0, 0.0, 0.3]]))
    runs += [base ** _param(np.array([0.0, 1.0, 2.5, -1.0])), base ** 3, (x + 3) ** 0.5,
             x ** 0, x ** 1, (x + 3) ** -1, ag.power(base + 1, T(2.0))]
    v, m, b3 = _param(rng.normal(size=4)), _param(rng.normal(size=(4, 3))), _param(
        rng.normal(size=(2, 4, 3)))
    runs += [v @ v, x @ v, v[:3] @ x, v @ b3, b3.transpose(0, 2, 1) @ v, ag.dot(v, v),
             ag.dot(x, m), b3 @ m.T]
    runs += [ag.clip(x, lo=0.0), ag.clip(x, hi=0.2), ag.where(x.data > 0, x, v),
             ag.softplus(x * 30, threshold=5.0), ag.elu(x), ag.leaky_relu(x),
             ag.maximum(x, T(np.zeros(4))), ag.minimum(x, x.data.round()), x.astype(np.float32)]
    runs += [ag.tanh(ag.sum(x)), ag.sigmoid(ag.mean(x)), ag.relu(ag.sum(x))]  # g is 1
    big = _param(rng.normal(size=30))
    runs += [big[np.arange(29, -1, -1)], big[np.arange(0, 30, 3)], ag.roll(big, 4)]
    pooled = _param(rng.normal(size=(1, 2, 4, 4)))
    route = ag.max_pool2d(pooled, 2)
    g = ag.grad(lambda p: (ag.max_pool2d(p, 2) * route).sum())  # records max_pool2d_route
    runs += [ag.sum(g(pooled) * pooled)]
    runs += [prims.max_pool2d_route(_param(rng.normal(size=(1, 2, 2, 2))), pooled,
                                    kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                                    dilation=(1, 1))]
    return runs


def _edges(rng) -> list[tuple[ag.Tensor, int]]:
    """Every (node, input) of the table and extra runs whose input gets a gradient."""
    seen, edges = set(), []
    for out in test_core_ops.table_runs(rng) + _extra_runs(rng):
        for t in ag.engine.topological_order([out]):
            if t._op is None or id(t) in seen:
                continue
            seen.add(id(t))
            edges += [(t, i) for i, p in enumerate(t.parents) if p.requires_grad]
    return edges


def _labels(t: ag.Tensor) -> list[str]:
    prim = t._op
    return [f"x{k}" for k in range(len(t.parents))] if prim.variadic else list(prim.inputs)


def _rule_numbers(t: ag.Tensor, i: int, g: np.ndarray):
    prim, params = t._op, t._params or {}
    arrays = [p.data for p in t.parents]
    rule = prim.vjps[0 if prim.variadic else i]
    if rule is None:
        return None
    with np.errstate(all="ignore"):
        if prim.variadic:
            return rule(i, g, t.data, *arrays, **params)
        return rule(g, t.data, *arrays, **params)


def check_edge(t: ag.Tensor, i: int, rng) -> str | None:
    """Explain's text for what node t sends its input i, evaluated, against the rule's numbers:
    None when they agree (or the text holds an array too large to write out), else why not."""
    labels = _labels(t)
    gname = "dy" if "g" in labels else "g"
    names = {id(t): "out"}
    for label, p in zip(labels, t.parents):
        names.setdefault(id(p), label)
    g = rng.normal(size=t.shape).astype(t.dtype)
    expected = _rule_numbers(t, i, g)
    if expected is None:
        return None
    text, notes = rule_formula(t, i, gname, names, g)
    where = f"{t.op}[{i}]: {text!r}"
    if "vjp_" in text:
        return f"{where}: not derived"
    for note in notes:  # g * name'(x), with name'(x) = f among the notes
        m = re.fullmatch(r"(\w+'\(\w+\)) = (.*)", note)
        if m:
            text = text.replace(m.group(1), f"({m.group(2)})")
    if re.search(r"<\w+ array", text):
        return None  # an index array too long to write out
    bound = {**NS, gname: g, "out": t.data,
             **{names[id(p)]: p.data for p in t.parents}}
    try:
        with np.errstate(all="ignore"):
            value = eval(text, {"__builtins__": {}}, bound)  # noqa: S307
    except Exception as err:  # noqa: BLE001
        return f"{where}: does not evaluate: {type(err).__name__}: {err}"
    expected = np.asarray(expected)
    value = np.asarray(value.data if isinstance(value, ag.Tensor) else value)
    try:
        value = np.broadcast_to(value, expected.shape)
    except ValueError:
        return f"{where}: shape {value.shape}, the rule's is {expected.shape}"
    if not np.allclose(value, expected, rtol=1e-9, atol=1e-12, equal_nan=True):
        worst = float(np.nanmax(np.abs(value - expected)))
        return f"{where}: differs from the rule by up to {worst:.3g}"
    return None


def _rows_with_rules() -> set[str]:
    return {name for name, row in PRIMITIVES.items() if any(r is not None for r in row.vjps)}


def test_every_rule_writes_text_that_evaluates_to_its_numbers():
    rng = np.random.default_rng(0)
    edges = _edges(rng)
    failures = [f for f in (check_edge(t, i, rng) for t, i in edges) if f]
    assert not failures, "\n".join(failures)
    missing = _rows_with_rules() - {t.op for t, _ in edges}
    assert not missing, f"rows whose rule text no case checks: {sorted(missing)}"


def test_every_hand_kept_formula_agrees_with_its_rule():
    """A row that keeps a hand-written formula for an input is checked on every case that
    reaches that input; one that no case reaches fails (add a case to _extra_runs)."""
    kept = {(name, k) for name, row in PRIMITIVES.items()
            for k, spec in enumerate(row.text.formula or ()) if spec is not None}
    rng = np.random.default_rng(1)
    edges = [(t, i) for t, i in _edges(rng)
             if (t.op, 0 if t._op.variadic else i) in kept]
    failures = [f for f in (check_edge(t, i, rng) for t, i in edges) if f]
    assert not failures, "\n".join(failures)
    unchecked = kept - {(t.op, 0 if t._op.variadic else i) for t, i in edges}
    assert not unchecked, f"hand-kept formulas no case checks: {sorted(unchecked)}"


def test_a_hand_kept_formula_that_disagrees_fails_the_agreement_check(monkeypatch):
    rng = np.random.default_rng(2)
    x = _param(rng.normal(size=(2, 3)))
    y = ag.tanh(x)
    monkeypatch.setattr(PRIMITIVES["tanh"].text, "formula", ("{g} * (1 - {out})",))
    assert "differs from the rule" in check_edge(y, 0, rng)
    monkeypatch.setattr(PRIMITIVES["tanh"].text, "formula", ("{g} * (1 - {out}**2)",))
    assert check_edge(y, 0, rng) is None
    assert ag.explain(ag.sum(ag.tanh(x)))["p1"].formula == "dL/dh1 * (1 - h1**2)"  # it is shown
    monkeypatch.setattr(PRIMITIVES["tanh"].text, "formula", ("{g} * tanh'({x})",))
    assert "does not evaluate" in check_edge(y, 0, rng)  # a text that is not Python fails too


def test_no_row_keeps_a_hand_written_formula():
    """Every row's text is derived (80 `formula=` strings were removed); a row that keeps one
    again must get an agreement case above."""
    kept = sorted(name for name, row in PRIMITIVES.items()
                  if any(s is not None for s in row.text.formula or ()))
    assert kept == []


# --- the symbolic evaluator ------------------------------------------------------------------
def _rule_text(name: str, i: int = 0, shapes=((2, 3),), **params) -> str:
    row = PRIMITIVES[name]
    labels = list(row.inputs) if not row.variadic else [f"x{k}" for k in range(len(shapes))]
    inputs = [symbol(n, np.linspace(0.1, 0.9, int(np.prod(s))).reshape(s))
              for n, s in zip(labels, shapes)]
    out_value = row.forward(*[s.value for s in inputs], **params)
    out = symbol("out", out_value)
    return text_of(derive(row, i, symbol("g", np.ones(np.shape(out_value))), out, inputs, params))


@pytest.mark.parametrize("name, i, shapes, params, text", [
    ("tanh", 0, ((2, 3),), {}, "g * (1 - out * out)"),
    ("sigmoid", 0, ((2, 3),), {}, "g * out * (1 - out)"),
    ("where", 1, ((2, 3), (2, 3), (2, 3)), {}, "where(condition, g, 0)"),
    ("where", 2, ((2, 3), (2, 3), (2, 3)), {}, "where(condition, 0, g)"),
    ("div", 1, ((2, 3), (3,)), {}, "-g * out / b"),
    ("rsqrt", 0, ((2, 3),), {}, "-g * 0.5 * out * out * out"),
    ("exp2", 0, ((2, 3),), {}, "g * out * log(2)"),
    ("erfc", 0, ((2, 3),), {}, "-g * 2/sqrt(pi) * exp(-x * x)"),
    ("arctan2", 1, ((2, 3), (2, 3)), {}, "-g * a / (a * a + b * b)"),
    ("pow", 0, ((2, 3),), {"exponent": 3}, "g * 3 * x**2"),
    ("pow", 0, ((2, 3),), {"exponent": 0.5}, "g * 0.5 * x**-0.5"),
    ("pow", 0, ((2, 3),), {"exponent": 0}, "0"),
    ("floor", 0, ((2, 3),), {}, "0"),
    ("matmul", 0, ((2, 3), (3, 4)), {}, "g @ b.T"),
    ("matmul", 1, ((5, 2, 3), (5, 3, 4)), {}, "a.mT @ g"),
    ("softmax", 0, ((2, 3),), {"axis": 1}, "out * (g - sum(g * out, axis=1, keepdims=True))"),
    ("mean", 0, ((2, 3),), {"axis": (1,), "keepdims": False},
     "broadcast_to(expand_dims(g, axis=1), (2,3)) / 3"),
    ("var", 0, ((2, 3),), {"axis": None, "ddof": 0, "keepdims": False},
     "broadcast_to(g, (2,3)) * (x - mean(x, keepdims=True)) * 1/3"),
    ("cumsum", 0, ((2, 3),), {"axis": 1}, "cumsum(g[:, ::-1], axis=1)[:, ::-1]"),
    ("transpose", 0, ((2, 3, 4),), {"axes": (1, 2, 0)}, "transpose(g, axes=(2, 0, 1))"),
    ("transpose", 0, ((2, 3),), {"axes": None}, "g.T"),
    ("concatenate", 1, ((2, 3), (4, 3)), {"axis": 0}, "g[2:6]"),
    ("stack", 1, ((2, 3), (2, 3)), {"axis": 1}, "g[:, 1]"),
    ("getitem", 0, ((4,),), {"index": (np.array([0, 2, 2]),)},
     "scatter_add(g, index=s_[[0, 2, 2]], shape=(4,))"),
    ("einsum", 1, ((2, 3), (3, 4)), {"subscripts": "ij,jk->ik"}, "einsum('ik,ij->jk', g, x0)"),
    ("conv2d", 1, ((1, 2, 5, 5), (3, 2, 3, 3)),
     {"stride": (2, 2), "padding": (0, 0), "dilation": (1, 1), "groups": 1},
     "conv2d_weight(x, g, kernel=(3, 3), stride=(2, 2))"),
])
def test_rules_written_with_minimal_parentheses(name, i, shapes, params, text):
    assert _rule_text(name, i, shapes, **params) == text


def test_operators_ufuncs_and_rows_on_symbols():
    a, b, c = symbol("a", shape=(3,)), symbol("b", shape=(3,)), symbol("c", shape=(3,))
    cases = {
        a - (b - c): "a - (b - c)", (a - b) - c: "a - b - c", a + (b - c): "a + b - c",
        a * (b + c): "a * (b + c)", a / (b * c): "a / (b * c)", a * (b / c): "a * b / c",
        (a * b) ** 2: "(a * b)**2", -(a ** 2): "-a**2", (-a) ** 2: "(-a)**2",
        a ** (b ** c): "a**b**c", (a ** b) ** c: "(a**b)**c", a * (b @ c): "a * (b @ c)",
        (a < b) & (b < c): "(a < b) & (b < c)", a + -b: "a - b", a - -b: "a + b",
        a * -b: "-a * b", 2.0 - a: "2 - a", a * 1: "a", 0.0 * a: "0", a + 0: "a",
        np.exp(a) + np.sin(b): "exp(a) + sin(b)", np.add(2.0, a): "2 + a",
        np.maximum(a, 0.5): "maximum(a, 0.5)", np.ones(3) * a: "ones(3,) * a",
        a * (1 / 3): "a * 1/3", a.T[::-1]: "a.T[::-1]", (a + b)[0]: "(a + b)[0]",
        prims.where(a > 0, a, 0.0): "where(a > 0, a, 0)", prims.exp(-a): "exp(-a)",
        prims.sum(a * b, axis=(0,), keepdims=True): "sum(a * b, axis=0, keepdims=True)",
        prims.broadcast_to(symbol("1"), shape=(2, 3)): "ones(2,3)",
        prims.astype(a > b, dtype=np.float64): "a > b",
    }
    for sym, text in cases.items():
        assert text_of(sym) == text


def test_values_are_read_only_when_given():
    x = symbol("x", shape=(3,))
    with pytest.raises(SymbolicValueError, match="reads the values of x"):
        np.any(x.data == 0)
    with pytest.raises(TypeError, match="branched on the symbolic value"):
        bool(x > 0)
    known = symbol("x", np.array([0.0, 1.0]))
    assert bool(np.any(known.data == 0))
    index = prims.reshape(known, shape=(-1,)).data  # remembers the expression it came from
    assert text_of(prims.getitem(symbol("g", np.ones(2)), index=index)) == "g[reshape(x, (-1,))]"


def test_rules_that_branch_on_values_take_the_branch_of_the_graphs_values():
    x = T([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
    assert ag.explain(ag.prod(x, axis=1).sum())["x"].formula == \
        "broadcast_to(expand_dims(dL/dt1, axis=1), (2,2)) * expand_dims(t1, axis=1) / x"
    p = T([2.0, 3.0], requires_grad=True, name="p")
    e = T([2.0, 1.0], requires_grad=True, name="e")
    assert ag.explain((p ** e).sum())["p"].formula == "dL/dt1 * e * p**(e - 1)"
    e = T([0.0, 1.0], requires_grad=True, name="e")  # a zero exponent: the rule's other branch
    assert ag.explain((p ** e).sum())["p"].formula == \
        "where(e == 0, 0, dL/dt1 * e * where(e == 0, 1, p)**(e - 1))"


def test_explain_writes_activations_with_their_slope_and_mixing_rules_whole():
    x = T(np.linspace(-1.0, 1.0, 6).reshape(2, 3), requires_grad=True, name="x")
    ex = ag.explain(ag.sum(ag.cumsum(ag.tanh(x), axis=1) * 2.0))
    assert ex["x"].formula == "dL/dh1 * tanh'(x)"
    assert ex["x"].notes == ["tanh'(x) = 1 - h1 * h1"]
    assert ex["h1"].formula == "cumsum(dL/dt1[:, ::-1], axis=1)[:, ::-1]"
    relu = ag.explain(ag.relu(ag.sum(x)))  # the root's gradient is the number 1
    assert relu["z1"].formula == "relu'(z1)" and relu["z1"].notes == ["relu'(z1) = (z1 > 0)"]
