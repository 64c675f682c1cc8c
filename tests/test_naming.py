"""autograd_nn.graph.naming: the one naming scheme `explain` and `draw_graph` share."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.graph.naming import format_number, node_names, user_names


def _net():
    rng = np.random.default_rng(0)
    X, Y = rng.random((4, 3)), rng.random((4, 1))
    w1 = ag.Tensor(rng.random((3, 4)), requires_grad=True, name="weights1")
    w2 = ag.Tensor(rng.random((4, 1)), requires_grad=True)
    h = ag.sigmoid(ag.dot(X, w1))
    out = ag.tanh(ag.dot(h, w2))
    loss = ((Y - out) ** 2).sum() * 0.5
    return X, Y, w1, w2, h, out, loss


def test_user_names_key_tensors_and_their_arrays():
    t = ag.Tensor(np.ones(2), name="ignored")
    arr = np.zeros(3)
    names = user_names({"a": t, "b": arr})
    assert names[id(t)] == "a" and names[id(t.data)] == "a" and names[id(arr)] == "b"
    assert user_names(None) == {}
    with pytest.raises(TypeError, match="draw_graph: names must be a dict"):
        user_names([t], "draw_graph: names")


def test_node_names_layers_root_leaves_and_constants():
    X, Y, w1, w2, h, out, loss = _net()
    order = ag.engine.topological_order([loss])
    names = node_names(order, loss, user_names({"X": X}))
    by_tensor = {id(t): t for t in order}
    assert names[id(w1)] == "weights1" and names[id(h)] == "h1" and names[id(out)] == "h2"
    assert names[id(loss)] == "L"
    assert names[id(h.parents[0])] == "z1" and names[id(out.parents[0])] == "z2"
    assert names[id(w2)] == "p1"  # an unnamed parameter
    x_leaf = [t for t in order if t._op is None and t.data is X]
    assert [names[id(t)] for t in x_leaf] == ["X"]
    y_leaf = [t for t in order if t._op is None and t.data is Y]
    assert [names[id(t)] for t in y_leaf] == ["C1"]  # an unnamed constant array
    consts = [names[k] for k, t in by_tensor.items() if t._op is None and t.size == 1]
    assert consts == ["0.5"]  # the scalar constant shows as its value
    # every non-constant name is unique
    real = [n for k, n in names.items() if not (by_tensor[k]._op is None
                                                and by_tensor[k].size == 1)]
    assert len(real) == len(set(real))


def test_clashing_user_names_get_suffixes():
    a = ag.Tensor([1.0], requires_grad=True, name="h1")
    b = ag.Tensor([2.0], requires_grad=True, name="h1")
    s = ag.sigmoid(a * b)
    loss = s.sum()
    names = node_names(ag.engine.topological_order([loss]), loss)
    assert names[id(a)] == "h1" and names[id(b)] == "h1#2"
    assert names[id(s)] == "h2"  # the next free layer number


def test_format_number():
    assert format_number(2.0) == "2" and format_number(0.999) == "0.999"
    assert format_number(1 / 3) == "0.333333" and format_number(3) == "3"


def test_explain_and_draw_graph_use_the_same_names():
    X, Y, w1, w2, h, out, loss = _net()
    given = {"X": X, "Y": Y}
    names = node_names(ag.engine.topological_order([loss]), loss, user_names(given))
    steps = {s.name for s in ag.explain(loss, given).steps}
    assert steps <= set(names.values())
    src = ag.draw_graph(loss, names=given).source
    for n in set(names.values()) - {"0.5"}:  # the 0.5 is written into its op's label
        assert f">{n}</" in src, n


def test_explain_and_explore_name_every_node_as_node_names_does():
    # clashing Tensor names, a name given through params, layers and constants: explain's steps
    # (every node that requires grad, root first) and the explorer's nodes carry exactly the
    # names of the one naming scheme
    X, Y, w1, w2, h, out, loss = _net()
    w2.name = "weights1"  # clashes with w1's name: one of them gets a suffix
    given = {"X": X, "Y": Y, "hidden": h}
    order = ag.engine.topological_order([loss])
    names = node_names(order, loss, user_names(given))
    assert names[id(h)] == "hidden" and names[id(w2)] == "weights1#2"
    steps = [s.name for s in ag.explain(loss, given).steps]
    assert steps == [names[id(t)] for t in reversed(order) if t.requires_grad]
    nodes = [n["name"] for n in ag.explore(loss, given).data["nodes"]]
    assert nodes == [names[id(t)] for t in order]
