"""explain: the chain rule of the first tutorial's network, line by line, with norms checked
against gradients computed independently with NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.check import Explanation, explain
from autograd_nn_course import tutorial1


def sig(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture
def t1():
    w = tutorial1.initial_weights(0)
    params = {k: ag.Tensor(v, requires_grad=True, name=k) for k, v in w.items()}
    loss = tutorial1.loss(params, tutorial1.X, tutorial1.Y)
    return w, params, loss


def numpy_chain(w):
    """The tutorial-1 gradients by hand (sum of squares), independent of the engine."""
    X, Y = tutorial1.X, tutorial1.Y
    z1 = X @ w["weights1"]
    h1 = sig(z1)
    z2 = h1 @ w["weights2"]
    h2 = sig(z2)
    g_h2 = -2 * (Y - h2)
    g_z2 = g_h2 * h2 * (1 - h2)
    g_w2 = h1.T @ g_z2
    g_h1 = g_z2 @ w["weights2"].T
    g_z1 = g_h1 * h1 * (1 - h1)
    g_w1 = X.T @ g_z1
    return {"h2": g_h2, "z2": g_z2, "weights2": g_w2, "h1": g_h1, "z1": g_z1, "weights1": g_w1}


def fd_norm(w, name, eps=1e-6):
    def f(p):
        return float(np.sum((tutorial1.Y - sig(sig(tutorial1.X @ p["weights1"])
                                                @ p["weights2"])) ** 2))

    g = np.zeros_like(w[name])
    for idx in np.ndindex(g.shape):
        p = {k: v.copy() for k, v in w.items()}
        p[name][idx] += eps
        up = f(p)
        p[name][idx] -= 2 * eps
        g[idx] = (up - f(p)) / (2 * eps)
    return float(np.linalg.norm(g))


def test_tutorial1_lines(t1):
    w, params, loss = t1
    ex = explain(loss, {"X": tutorial1.X, "Y": tutorial1.Y})
    assert isinstance(ex, Explanation) and ex.root_name == "L"
    assert ex["weights1"].formula == "X.T @ dL/dz1"
    assert ex["weights1"].expanded == "X.T @ (dL/dh1 * sigmoid'(z1))"
    assert ex["weights1"].shape == (3, 4) and ex["weights1"].kind == "parameter"
    assert ex["weights2"].formula == "h1.T @ dL/dz2"
    assert ex["weights2"].expanded == "h1.T @ (dL/dh2 * sigmoid'(z2))"
    assert ex["h1"].formula == "dL/dz2 @ weights2.T" and ex["h1"].shape == (4, 4)
    assert ex["z1"].formula == "dL/dh1 * sigmoid'(z1)"
    assert "sigmoid'(z1) = h1 * (1 - h1)" in ex["z1"].notes
    assert ex["h2"].formula == "-dL/dt1"  # loss = sum((Y - h2) ** 2): t1 = Y - h2
    assert ex["t1"].formula == "dL/dt2 * 2 * t1"
    assert ex["L"].kind == "output" and ex["L"].formula == "1"
    assert [s.name for s in ex][:2] == ["L", "t2"]  # root first, towards the leaves
    text = str(ex)
    assert "z1 = dot(X, weights1)" in text  # the tutorial writes np.dot(X, weights1)
    assert "dL/dweights1 = X.T @ dL/dz1" in text
    assert "= X.T @ (dL/dh1 * sigmoid'(z1))" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("dL/dweights1 ="))
    assert "(3,4)" in line and f"|g| = {ex['weights1'].grad_norm:.3g}" in line
    assert "<pre>" in ex._repr_html_()


def test_tutorial1_norms_match_independent_gradients(t1):
    w, params, loss = t1
    ex = explain(loss)
    hand = numpy_chain(w)
    for name, g in hand.items():
        assert ex[name].grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-12), name
    for name in ("weights1", "weights2"):
        assert ex[name].grad_norm == pytest.approx(fd_norm(w, name), rel=1e-6)
    assert ex["L"].grad_norm == 1.0


def test_explain_leaves_grads_and_graph_alone(t1):
    _, params, loss = t1
    explain(loss)
    assert all(p.grad is None for p in params.values())
    loss.backward()  # the graph is still there
    np.testing.assert_allclose(params["weights1"].grad,
                               numpy_chain(tutorial1.initial_weights(0))["weights1"])


def test_unnamed_inputs_broadcast_fan_out_and_mean():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3) / 10, requires_grad=True)
    b = ag.Tensor(np.array([0.1, -0.2, 0.3]), requires_grad=True, name="b")
    s = x + b
    y = s * s
    loss = ag.relu(y).mean()
    ex = explain(loss)
    names = [s.name for s in ex]
    assert "p1" in names and "b" in names  # the unnamed leaf got a generated name
    assert ex["b"].formula == "sum(dL/dt1, axis=0)"
    assert any("summed over broadcast axes (0,)" in n for n in ex["b"].notes)
    # s = x + b is used twice by the product: one term counted twice
    assert ex["t1"].formula == "2 * dL/dz1 * t1"
    assert ex["z1"].formula == "dL/dh1 * relu'(z1)"
    assert ex["h1"].formula == "ones(2,3) / 6"
    # norms against NumPy: d mean(relu((x+b)^2)) / db
    s = x.data + b.data
    g_b = (2 * s * (s * s > 0) / 6).sum(axis=0)
    assert ex["b"].grad_norm == pytest.approx(np.linalg.norm(g_b), rel=1e-12)


def test_non_scalar_root_and_errors():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    ex = explain(ag.exp(x))
    assert ex["x"].formula == "dL/dL * L"  # exp's output is the root, L, seeded with ones
    assert ex.seeded_with_ones
    with pytest.raises(ValueError, match="no graph"):
        explain(ag.Tensor([1.0]))
    with pytest.raises(TypeError, match="expected a Tensor"):
        explain(np.ones(2))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(ag.GraphReleasedError, match="retain_graph"):
        explain(y)
    assert ag.explain is explain
