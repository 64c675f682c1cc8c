"""The explorer writes a rule at one element only when the rows say it is elementwise (D3 of
issue 21): a rule that mixes elements (a scan, matmul, softmax, a reduction, broadcasting) says
so and is shown for the whole array, with the whole gradient as its value."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.core.ops.registry import PRIMITIVES

# `ag.explore` (the function, loaded on first use) before any submodule of the package of the
# same name: importing `autograd_nn.explore.panel` first would bind `ag.explore` to the package
explore = ag.explore
values_text = importlib.import_module("autograd_nn.explore.panel").values_text

WHOLE = ": shown for the whole array"
AT_ONE = "elementwise: shown at the element of the largest |gradient|"


def _entries(loss, params=None) -> dict[str, dict]:
    """The explorer's backward panel of every node, by name."""
    return {s["name"]: s for s in explore(loss, params).data["steps"]
            if s["phase"] == "backward"}


def _backward(loss, x: ag.Tensor) -> np.ndarray:
    x.grad = None
    loss.backward(retain_graph=True)
    g = np.asarray(x.grad).copy()
    x.grad = None
    return g


def _shown_whole(entry: dict, grad: np.ndarray, reason: str) -> None:
    """The panel says why, writes no element and ends with the whole gradient."""
    assert entry["scope"] == reason + WHOLE, entry["scope"]
    lhs = entry["rule"].split(" = ")[0]
    assert entry["plugged"].startswith(f"{lhs} = "), entry["plugged"]  # no "at (i)"
    assert entry["plugged"].endswith(" = " + values_text(grad, 4)), entry["plugged"]


def test_d3_cumsum_is_shown_for_the_whole_array_not_at_one_element():
    # the case: dL/dx of sum(cumsum(x) * 2) was written `dL/dx at (0) = reverse cumsum
    # of 2 along 0 = 8`, one element of dL/dt1 in a rule that sums all of them
    x = ag.Tensor(np.arange(1.0, 5.0), requires_grad=True, name="x")
    loss = ag.sum(ag.cumsum(x, axis=0) * 2.0)
    e = _entries(loss)["x"]
    assert e["rule"] == "dL/dx = cumsum(dL/dt1[::-1], axis=0)[::-1]"  # cumsum's rule itself
    assert e["plugged"] == "dL/dx = cumsum([2, 2, 2, 2][::-1], axis=0)[::-1] = [8, 6, 4, 2]"
    _shown_whole(e, _backward(loss, x), "cumsum mixes elements along axis 0")


def test_d3_cumsum_with_an_uneven_gradient():
    x = ag.Tensor(np.arange(1.0, 5.0), requires_grad=True, name="x")
    loss = ag.sum(ag.cumsum(x, axis=0) ** 2)
    e = _entries(loss)["x"]
    g = _backward(loss, x)
    np.testing.assert_allclose(g, np.cumsum((2 * np.cumsum(x.data))[::-1])[::-1])
    _shown_whole(e, g, "cumsum mixes elements along axis 0")
    assert "[2, 6, 12, 20]" in e["plugged"]  # dL/dt1 written out whole


def test_matmul_is_shown_for_the_whole_array():
    rng = np.random.default_rng(0)
    A = ag.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="A")
    W = ag.Tensor(rng.normal(size=(3, 2)), requires_grad=True, name="W")
    loss = ag.sum(ag.tanh(A @ W))
    entries = _entries(loss)
    for leaf in (A, W):
        _shown_whole(entries[leaf.name], _backward(loss, leaf), "matmul is not elementwise")


def test_softmax_is_shown_for_the_whole_array():
    rng = np.random.default_rng(1)
    x = ag.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    w = rng.normal(size=(2, 3))
    loss = ag.sum(ag.softmax(x, axis=-1) * w)
    _shown_whole(_entries(loss)["x"], _backward(loss, x), "softmax mixes elements along axis 1")


def test_a_broadcast_input_and_a_reduction_are_shown_for_the_whole_array():
    rng = np.random.default_rng(2)
    A = ag.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="A")
    b = ag.Tensor(rng.normal(size=(3,)), requires_grad=True, name="b")
    t = A + b
    loss = ag.sum(t * t)
    entries = _entries(loss, {"A": A, "b": b, "t": t})
    # an elementwise row, but b is summed over the axis it is broadcast along
    _shown_whole(entries["b"], _backward(loss, b), "add broadcasts b along axis 0")
    # sum's rule sends one number to every element
    assert entries["t"]["scope"] == AT_ONE  # t is read by mul only
    s = next(n for n in entries if n not in ("A", "b", "t", "L"))  # t * t, read by sum
    _shown_whole(entries[s], np.ones((2, 3)), "sum mixes elements along every axis")
    # A itself is read by the same add at its own shape: one element
    assert entries["A"]["scope"] == AT_ONE and " at (" in entries["A"]["plugged"]


def test_elementwise_rules_are_still_shown_at_one_element_with_the_right_numbers():
    rng = np.random.default_rng(3)
    x = ag.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="x")
    w = ag.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="w")
    h = ag.tanh(x)
    z = h * w
    loss = ag.sum(z * z)
    entries = _entries(loss, {"x": x, "w": w, "h": h, "z": z})
    gz = 2 * z.data
    gh = gz * w.data
    gx = gh * (1 - np.tanh(x.data) ** 2)
    np.testing.assert_allclose(_backward(loss, x), gx)

    def at(g):
        return np.unravel_index(int(np.argmax(np.abs(g))), g.shape)

    def num(v):
        text = f"{v:.4g}"
        return f"({text})" if text.startswith("-") else text

    i = at(gh)  # mul: dL/dh = dL/dz * w at one element
    e = entries["h"]
    assert e["rule"] == "dL/dh = dL/dz * w" and e["scope"] == AT_ONE
    assert e["plugged"] == (f"dL/dh at ({i[0]},{i[1]}) = {num(gz[i])} * {num(w.data[i])} = "
                            f"{gh[i]:.4g}")
    j = at(gx)  # tanh: dL/dx = dL/dh * tanh'(x) at one element
    e = entries["x"]
    assert e["rule"] == "dL/dx = dL/dh * tanh'(x)" and e["scope"] == AT_ONE
    assert e["plugged"] == (f"dL/dx at ({j[0]},{j[1]}) = {num(gh[j])} * "
                            f"tanh'({x.data[j]:.4g}) = {gx[j]:.4g}")


def test_the_decision_is_read_from_the_row(monkeypatch):
    # the same text, but a row that says it is not elementwise is shown whole: nothing is
    # guessed from the formula
    x = ag.Tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), requires_grad=True, name="x")
    loss = ag.sum(ag.tanh(x) * 3.0)
    before = _entries(loss)["x"]
    assert before["scope"] == AT_ONE
    monkeypatch.setattr(PRIMITIVES["tanh"], "elementwise", False)
    after = _entries(loss)["x"]
    assert after["rule"] == before["rule"]
    _shown_whole(after, _backward(loss, x), "tanh is not elementwise")


@pytest.mark.parametrize("make", [
    lambda x: ag.sum(ag.cumsum(x, axis=1) ** 2),
    lambda x: ag.sum(ag.softmax(x, axis=0) * x),
    lambda x: ag.sum((x @ x.T) ** 2),
    lambda x: ag.sum(ag.sin(x) * ag.mean(x, axis=0)),
])
def test_every_value_the_panel_shows_is_the_gradient_it_names(make):
    # whichever way a step is shown, the number after the last `=` is its gradient there
    x = ag.Tensor(np.random.default_rng(4).normal(size=(3, 3)), requires_grad=True, name="x")
    loss = make(x)
    e = _entries(loss)["x"]
    g = _backward(loss, x)
    if e["scope"] == AT_ONE:
        i = np.unravel_index(int(np.argmax(np.abs(g))), g.shape)
        assert e["plugged"].endswith(f" = {g[i]:.4g}")
    else:
        _shown_whole(e, g, e["scope"][:-len(WHOLE)])


def test_the_rule_label_names_the_op_the_rule_belongs_to():
    """issue 22: a node's gradient comes from the rules of the ops reading it; the label says
    whose rule it is (one reader, several readers summed, the seed)."""
    x = ag.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    h = ag.tanh(x)
    loss = ag.sum(h * h) + ag.sum(h)
    labels = {name: s["rule_label"] for name, s in _entries(loss).items()}
    assert labels["x"].startswith("local rule of h1 = tanh(x), the op that reads x: its rule "
                                  "for input x")
    assert labels["h1"].startswith("local rules of the 2 ops that read h1 (t1 = h1 * h1; ")
    assert "summed. h1's own op (tanh) applies its rule at the step of x" in labels["h1"]
    assert labels["L"].startswith("the start of the backward pass")
