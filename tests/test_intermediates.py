"""compare_intermediates on real hand-written backprop: both tutorials' own chains, and correct
chains with one planted mistake each (a missing sigmoid', a lost minus sign, a factor 2, a
missing fan-out contribution, a transpose), checked against PyTorch's intermediate gradients."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn_course import reports
from autograd_nn_course import tutorial1 as t1
from autograd_nn_course import tutorial2 as t2


def _tutorial1_chain():
    """The correct chain of dL/dnode for L = sum((Y - h2)**2), by hand from the tutorial's
    forward values (its own `sigmoid_derivative` takes the sigmoid's output)."""
    net = t1.NeuralNetwork(t1.X, t1.Y, weights=t1.initial_weights(0))
    net.feedforward()
    d = {"dh2": -2 * (t1.Y - net.output)}
    d["dz2"] = d["dh2"] * t1.sigmoid_derivative(net.output)
    d["d_weights2"] = net.layer1.T @ d["dz2"]
    d["dh1"] = d["dz2"] @ net.weights2.T
    d["dz1"] = d["dh1"] * t1.sigmoid_derivative(net.layer1)
    d["d_weights1"] = t1.X.T @ d["dz1"]
    return net, d


def _tutorial1(user):
    loss, names = reports.named_loss("1")
    return ag.compare_intermediates(loss, user, names)


def test_correct_chain_agrees_everywhere_and_with_torch():
    torch = pytest.importorskip("torch")
    net, chain = _tutorial1_chain()
    report = _tutorial1(chain)
    assert report.ok and report.first_divergence is None
    assert [r.name for r in report] == ["h2", "z2", "weights2", "h1", "z1", "weights1"]
    assert all(r.close for r in report)
    w = t1.initial_weights(0)
    w1, w2 = (torch.tensor(w[k], requires_grad=True) for k in ("weights1", "weights2"))
    z1 = torch.tensor(t1.X) @ w1
    h1 = torch.sigmoid(z1)
    z2 = h1 @ w2
    h2 = torch.sigmoid(z2)
    for t in (z1, h1, z2, h2):
        t.retain_grad()
    torch.sum((torch.tensor(t1.Y) - h2) ** 2).backward()
    from_torch = {"h2": h2.grad, "z2": z2.grad, "h1": h1.grad, "z1": z1.grad,
                  "weights1": w1.grad, "weights2": w2.grad}
    assert _tutorial1({k: v.numpy() for k, v in from_torch.items()}).ok
    for name, value in from_torch.items():  # the hand chain is right, so the cases below mean
        key = f"d_{name}" if name.startswith("weights") else f"d{name}"  # something
        np.testing.assert_allclose(chain[key], value.numpy(), rtol=1e-12, atol=1e-15)


def test_missing_sigmoid_derivative_is_found_at_z1():
    net, chain = _tutorial1_chain()
    chain["dz1"] = chain["dh1"]  # forgot * sigmoid'(z1)
    chain["d_weights1"] = t1.X.T @ chain["dz1"]
    report = _tutorial1(chain)
    assert report.first_divergence == "z1"
    assert [r.close for r in report] == [True, True, True, True, False, False]
    assert report.rule == "dL/dz1 = dL/dh1 * sigmoid'(z1)"
    assert report.explanation.startswith(
        "z1 = dot(X, weights1) → h1 = sigmoid(z1): dL/dz1 = dL/dh1 * sigmoid'(z1)")
    assert "yours equals dL/dh1: the sigmoid' factor is missing" in report.explanation
    assert "first divergence: z1" in str(report)


def test_the_minus_of_y_minus_output_left_out_from_the_top_is_the_ascent_convention():
    """d/dh2 of (Y - h2)**2 without the minus, carried down: every given gradient is -1 x
    autograd's, which is the (y - output) convention compare_grads names, not a bug (issue 22:
    this was called "the minus sign is missing")."""
    net, chain = _tutorial1_chain()
    chain = {"dh2": 2 * (t1.Y - net.output)}
    chain["dz2"] = chain["dh2"] * t1.sigmoid_derivative(net.output)
    report = _tutorial1(chain)
    assert report.first_divergence == "h2"
    assert report.kind == "convention" and report.node == "h2" and not report.bugs
    assert report.inherited_by == ("z2",)
    assert "gradient-ascent convention" in report.explanation
    assert "t1 = Y - h2" in report.explanation


def test_a_minus_lost_below_the_top_is_a_sign_bug_where_it_enters():
    net, chain = _tutorial1_chain()
    chain["dz2"] = -chain["dz2"]
    chain["d_weights2"] = net.layer1.T @ chain["dz2"]
    chain["dh1"] = chain["dz2"] @ net.weights2.T
    chain["dz1"] = chain["dh1"] * t1.sigmoid_derivative(net.layer1)
    chain["d_weights1"] = t1.X.T @ chain["dz1"]
    report = _tutorial1(chain)
    assert [(d.node, d.kind) for d in report.entries] == [("z2", "sign")]
    assert set(report.inherited_by) == {"weights2", "h1", "z1", "weights1"}


def test_every_node_where_an_error_enters_is_reported():
    """Two slips: a sign at z2 and a factor 2 in weights1's own formula. Each is judged against
    the user's own upstream values, so both are found, and the nodes between only inherit."""
    net, chain = _tutorial1_chain()
    chain["dz2"] = -chain["dz2"]
    chain["d_weights2"] = net.layer1.T @ chain["dz2"]
    chain["dh1"] = chain["dz2"] @ net.weights2.T
    chain["dz1"] = chain["dh1"] * t1.sigmoid_derivative(net.layer1)
    chain["d_weights1"] = 2 * t1.X.T @ chain["dz1"]
    report = _tutorial1(chain)
    assert [(d.node, d.kind) for d in report.entries] == [("z2", "sign"), ("weights1", "factor")]
    assert set(report.entries[0].inherited_by) == {"weights2", "h1", "z1"}
    assert report.entries[1].ratio == pytest.approx(2.0)
    assert "also enters at weights1 (factor)" in str(report)


def test_the_tutorials_own_chain_is_the_ascent_convention():
    """Tutorial 1 builds its updates from 2*(y - output): every node is minus the gradient."""
    net, _ = _tutorial1_chain()
    delta2 = 2 * (net.y - net.output) * t1.sigmoid_derivative(net.output)
    delta1 = np.dot(delta2, net.weights2.T) * t1.sigmoid_derivative(net.layer1)
    own = t1.handwritten_gradients(t1.initial_weights(0))
    np.testing.assert_array_equal(own["weights1"], np.dot(net.input.T, delta1))
    report = _tutorial1({"dz2": delta2, "dz1": delta1, "weights1": own["weights1"],
                         "weights2": own["weights2"]})
    assert report.first_divergence == "z2"
    assert "yours = -autograd's" in report.explanation
    assert "every given gradient is -1 x autograd's" in report.explanation
    assert "not a local mistake" in report.explanation


def test_a_factor_two_in_one_step_is_local():
    net, chain = _tutorial1_chain()
    chain["dh1"] = 2 * chain["dz2"] @ net.weights2.T
    report = _tutorial1({k: chain[k] for k in ("dh2", "dz2", "dh1")})
    assert report.first_divergence == "h1"
    assert "yours = 2 x autograd's" in report.explanation
    assert "convention" not in report.explanation


def test_transposed_gradient_has_the_wrong_shape():
    net, chain = _tutorial1_chain()
    chain["d_weights1"] = chain["d_weights1"].T
    report = _tutorial1(chain)
    assert report.first_divergence == "weights1"
    assert report["weights1"].verdict == "wrong shape"
    assert "it is the transpose" in report.explanation


# --- tutorial 2: the mean loss, and a value read twice (t2 = t1 * t1) -------------------------
def _tutorial2():
    loss, names = reports.named_loss("2")
    net = t2.NeuralNetwork(2, 4, 1, weights=t2.initial_weights(0))
    y_pred = net.forward(t2.X)
    return loss, names, net, y_pred


def test_tutorial2_own_chain_is_twice_the_mean_gradient():
    """The tutorial differentiates 0.5*sum((y_pred - y)**2); autograd's loss is the mean over
    N = 4 rows: every node is N/2 = 2 times autograd's."""
    loss, names, net, y_pred = _tutorial2()
    delta2 = (y_pred - t2.Y) * net.sigmoid_derivative(net.z2)
    delta1 = np.dot(delta2, net.weights2.T) * net.sigmoid_derivative(net.z1)
    report = ag.compare_intermediates(
        loss, {"dh2": y_pred - t2.Y, "dz2": delta2, "dz1": delta1,
               "weights1": t2.handwritten_gradients(t2.initial_weights(0))["weights1"]}, names)
    assert report.first_divergence == "h2"
    assert "every given gradient is 2 x autograd's" in report.explanation


def test_tutorial2_correct_chain_and_a_missing_contribution():
    loss, names, net, y_pred = _tutorial2()
    n = t2.Y.size
    t1_ = y_pred - t2.Y
    dt2 = np.full_like(t1_, 1 / n)
    right = {"dt2": dt2, "dt1": 2 * dt2 * t1_}
    right["dh2"] = right["dt1"]
    right["dz2"] = right["dh2"] * net.sigmoid_derivative(net.z2)
    right["dweights2"] = net.a1.T @ right["dz2"]
    assert ag.compare_intermediates(loss, right, names).ok
    wrong = dict(right, dt1=dt2 * t1_)  # t2 = t1 * t1 read t1 twice; one contribution kept
    report = ag.compare_intermediates(loss, wrong, names)
    assert report.first_divergence == "t1"
    assert "yours equals only the contribution through t2" in report.explanation
    assert "t1 is read 2 times" in report.explanation


def test_names_and_errors():
    net, chain = _tutorial1_chain()
    assert _tutorial1({"h2": chain["dh2"]}).ok
    assert _tutorial1({"d_h2": chain["dh2"]}).ok
    with pytest.raises(KeyError, match=r"user_grads has 'dq9', which names no node .*'z1'"):
        _tutorial1({"dq9": chain["dh2"]})
    with pytest.raises(ValueError, match="'dh2' and 'h2' both name node 'h2'"):
        _tutorial1({"dh2": chain["dh2"], "h2": chain["dh2"]})
    with pytest.raises(TypeError, match="compare_intermediates: loss must be a Tensor"):
        ag.compare_intermediates(np.ones(1), {"h2": 1.0})
    with pytest.raises(TypeError, match="compare_intermediates: user_grads must be a non-empty"):
        _tutorial1({})
