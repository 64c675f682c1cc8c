"""Tutorial 2 (seed 001): each step on Tensors, the softmax bug, and the stuck XOR network."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn_course import tutorial2 as t2

# What the tutorial printed (copied from the seed text, not from our code).
PRINTED_NEURON = "4.8"
PRINTED_LAYER = "[4.8, 1.21, 3.465]"
PRINTED_BATCH = """[[ 4.8    1.21   2.385]
 [ 8.9   -1.81   0.2  ]
 [ 1.41   1.051  0.026]]"""
PRINTED_TWO_LAYERS = """[[-2.1744   3.21425  1.19065]
 [ 0.707    0.6828   4.5213 ]
 [-1.39594  1.9477  -0.14521]]"""
PRINTED_SOFTMAX_10 = """[[0.26313249, 0.04329137, 0.42226619, 0.60848946],
       [0.71526828, 0.8695305 , 0.00773408, 0.36906752],
       [0.02159923, 0.08717812, 0.56999974, 0.02244302]]"""


def parse_printed(text: str) -> tuple[np.ndarray, float]:
    """The numbers in a printed array, and half a unit of its last printed decimal."""
    tokens = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    decimals = max(len(tok.split(".")[1]) if "." in tok else 0 for tok in tokens)
    values = np.array([float(tok) for tok in tokens])
    return values, 0.5 * 10.0 ** -decimals


def assert_matches_printed(value, printed: str) -> None:
    expected, tol = parse_printed(printed)
    got = np.ravel(np.asarray(value, dtype=np.float64))
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= tol + 1e-12, (got, expected)


# --- neuron, layer, batch, two layers ----------------------------------------------------------
def test_single_neuron():
    ref_py = t2.single_neuron_python()
    ref_np = t2.single_neuron_numpy()
    out = t2.single_neuron()
    assert isinstance(out, ag.Tensor) and out.shape == ()
    assert out.item() == pytest.approx(ref_np, abs=1e-15)
    assert ref_py[0] == pytest.approx(ref_np, abs=1e-15)
    assert_matches_printed(out.data, PRINTED_NEURON)
    assert_matches_printed(ref_py, PRINTED_NEURON)


def test_single_neuron_gradient_is_the_inputs():
    w = ag.Tensor(t2.NEURON_WEIGHTS, requires_grad=True)
    b = ag.Tensor(t2.NEURON_BIAS, requires_grad=True)
    t2.single_neuron(weights=w, bias=b).backward()
    np.testing.assert_array_equal(w.grad, t2.NEURON_INPUTS)
    assert b.grad == 1.0


def test_layer():
    out = t2.layer()
    assert out.shape == (3,)
    np.testing.assert_allclose(out.data, t2.layer_numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(out.data, t2.layer_python(), rtol=0, atol=1e-14)
    assert_matches_printed(out.data, PRINTED_LAYER)
    assert_matches_printed(t2.layer_python(), PRINTED_LAYER)


def test_batch():
    out = t2.batch()
    assert out.shape == (3, 3)
    ref = np.dot(t2.BATCH_INPUTS, t2.BATCH_WEIGHTS.T) + t2.BATCH_BIASES
    np.testing.assert_allclose(out.data, ref, rtol=0, atol=1e-14)
    np.testing.assert_allclose(t2.batch_numpy(), ref, rtol=0, atol=0)
    assert_matches_printed(out.data, PRINTED_BATCH)
    # each row of the batch is the layer computation on that sample
    for i in range(3):
        row = t2.layer(t2.BATCH_INPUTS[i], t2.BATCH_WEIGHTS, t2.BATCH_BIASES)
        np.testing.assert_allclose(out.data[i], row.data, rtol=0, atol=1e-14)


def test_two_layers():
    out = t2.two_layers()
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out.data, t2.two_layers_numpy(), rtol=0, atol=1e-13)
    assert_matches_printed(out.data, PRINTED_TWO_LAYERS)


def test_two_layers_gradient_matches_finite_differences():
    w2 = t2.LAYER2_WEIGHTS

    def f(w2_):
        return float(np.sum(np.dot(t2.batch_numpy(), w2_) ** 2))

    g = ag.grad(lambda w: (t2.two_layers(weights2=w, biases2=0.0) ** 2).sum())(w2)
    np.testing.assert_allclose(g, numeric_grad(f, [w2], 0), rtol=1e-6, atol=1e-6)


# --- activations --------------------------------------------------------------------------------
def test_sigmoid_and_relu_match_the_tutorial_and_stay_finite():
    z = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(t2.sigmoid(z).data, t2.sigmoid_numpy(z), rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(t2.relu(z).data, t2.ReLU(z))
    big = np.array([-1000.0, 1000.0])
    with np.errstate(over="ignore"):
        assert t2.sigmoid_numpy(big)[0] == 0.0  # overflow in exp(1000), silenced here
    np.testing.assert_allclose(t2.sigmoid(big).data, [0.0, 1.0], rtol=0, atol=1e-300)


def test_tutorial_softmax_reproduces_its_printed_output():
    assert_matches_printed(t2.Softmax(10), PRINTED_SOFTMAX_10)


def test_tutorial_softmax_ignores_x_and_normalises_columns():
    buggy, correct = t2.softmax_difference(t2.inputs)
    # the tutorial's columns sum to 1, its rows do not; the correct one is per row
    np.testing.assert_allclose(buggy.sum(axis=0), 1.0, rtol=1e-14)
    assert np.max(np.abs(buggy.sum(axis=1) - 1.0)) > 0.2
    np.testing.assert_allclose(correct.sum(axis=1), 1.0, rtol=1e-14)
    # the correct one, against the textbook formula computed independently
    e = np.exp(t2.inputs)
    np.testing.assert_allclose(correct, e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    # whatever x is, the tutorial returns the same (3, 4) array
    x = np.array([1.0, 2.0, 3.0])
    buggy_x, correct_x = t2.softmax_difference(x)
    assert buggy_x.shape == (3, 4)
    np.testing.assert_allclose(buggy_x, buggy, rtol=1e-14)
    np.testing.assert_allclose(t2.Softmax(-3.0), buggy, rtol=1e-14)
    np.testing.assert_allclose(correct_x, np.exp(x) / np.exp(x).sum(), rtol=1e-14)


def test_correct_softmax_is_stable_where_the_tutorials_breaks():
    x = np.array([1000.0, 1001.0, 1002.0])
    with np.errstate(all="ignore"):
        buggy, correct = t2.softmax_difference(x)  # exp(inputs - 1002) underflows: 0 / 0
    assert np.isnan(buggy).all()
    e = np.exp([0.0, 1.0, 2.0])
    np.testing.assert_allclose(correct, e / e.sum(), rtol=1e-14)


# --- the 2-4-1 network --------------------------------------------------------------------------
def _half_sse_numpy(w1, w2):
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    return 0.5 * float(np.sum((s(s(t2.X @ w1) @ w2) - t2.Y) ** 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_handwritten_gradients_equal_autograd_up_to_the_documented_factor(seed):
    w = t2.initial_weights(seed)
    hand = t2.handwritten_gradients(w)
    of_objective = ag.grad(t2.tutorial_objective)(w)
    of_mean = ag.grad(t2.loss)(w)
    args = [w["weights1"], w["weights2"]]
    n = len(t2.X)
    for i, k in enumerate(("weights1", "weights2")):
        np.testing.assert_allclose(hand[k], of_objective[k], rtol=1e-10, atol=1e-18)
        np.testing.assert_allclose(hand[k], (n / 2) * of_mean[k], rtol=1e-10, atol=1e-18)
        np.testing.assert_allclose(hand[k], numeric_grad(_half_sse_numpy, args, i, eps=1e-5),
                                   rtol=1e-5, atol=1e-10)
    # the printed loss is the mean of squares
    pred = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(t2.X @ w["weights1"]))) @ w["weights2"])))
    assert t2.loss(w).item() == pytest.approx(np.mean((pred - t2.Y) ** 2), rel=1e-14)


def test_reference_class_prints_like_the_tutorial(capsys):
    net = t2.NeuralNetwork(2, 4, 1, weights=t2.initial_weights(0))
    losses = net.train(t2.X, t2.Y, learning_rate=0.1, epochs=1000)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"Epoch {e}: Loss = 0.2500" for e in range(0, 1000, 100)]
    assert len(losses) == 1000


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_loss_stays_at_0_2500_for_1000_epochs(seed):
    _, losses = t2.train_handwritten(t2.initial_weights(seed), lr=0.1, epochs=1000)
    assert len(losses) == 1000
    assert {f"{v:.4f}" for v in losses} == {"0.2500"}


@pytest.mark.parametrize("style", ["function", "module"])
def test_autograd_training_follows_the_handwritten_steps(style):
    w0 = t2.initial_weights(0)
    ref_w, ref_losses = t2.train_handwritten(w0, lr=0.1, epochs=1000)
    got_w, got_losses = t2.train_autograd(w0, lr=0.1, epochs=1000, style=style)
    for k in ref_w:
        np.testing.assert_allclose(got_w[k], ref_w[k], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_losses, ref_losses, rtol=1e-12)


def test_why_it_is_stuck_tiny_gradients_at_half_outputs():
    w0 = t2.initial_weights(0)
    net = t2.NeuralNetwork(2, 4, 1, weights=w0)
    pred = net.forward(t2.X)
    assert np.max(np.abs(net.a1 - 0.5)) < 0.01 and np.max(np.abs(pred - 0.5)) < 0.01
    diag = t2.plateau_diagnostics(w0)
    assert diag["loss"] == pytest.approx(0.25, abs=1e-4)
    assert diag["max_abs_grad"] < 2e-3  # lr 0.1 moves a weight by < 2e-4 per epoch


def test_zero_weights_are_a_degenerate_saddle():
    zero = {"weights1": np.zeros((2, 4)), "weights2": np.zeros((4, 1))}
    diag = t2.plateau_diagnostics(zero)
    for g in diag["grad"].values():
        np.testing.assert_array_equal(g, 0.0)
    eig = np.sort(diag["hessian_eigenvalues"])
    # derived by hand: along sum(weights2) the loss is s^2 - s + 1/2 with s = sigmoid(t),
    # whose second derivative at t = 0 is 2 * sigmoid'(0)^2 = 1/8; every other direction is flat
    assert eig[-1] == pytest.approx(0.125, rel=1e-10)
    np.testing.assert_allclose(eig[:-1], 0.0, atol=1e-12)


def test_hessian_matches_torch():
    torch = pytest.importorskip("torch")
    w0 = t2.initial_weights(0)
    x = torch.tensor(t2.X)
    y = torch.tensor(t2.Y)

    def f(v):
        w1, w2 = v[:8].reshape(2, 4), v[8:].reshape(4, 1)
        return ((torch.sigmoid(torch.sigmoid(x @ w1) @ w2) - y) ** 2).mean()

    v0 = torch.tensor(np.concatenate([w0["weights1"].ravel(), w0["weights2"].ravel()]))
    expected = torch.autograd.functional.hessian(f, v0).numpy()
    np.testing.assert_allclose(t2.hessian(w0), expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_start_is_the_problem(seed):
    """Same bias-free network and learning rate: stuck from the tutorial's start, learns from
    Xavier weights."""
    xavier = t2.fixed_initial_params(seed)
    start = {"weights1": xavier["weights1"], "weights2": xavier["weights2"]}
    _, from_xavier = t2.train_autograd(start, lr=2.5, epochs=1000)
    _, from_tiny = t2.train_autograd(t2.initial_weights(seed), lr=2.5, epochs=1000)
    assert from_xavier[-1] < 0.01
    assert from_tiny[-1] == pytest.approx(0.25, abs=1e-4)


# --- the fix ------------------------------------------------------------------------------------
def test_fixed_initial_params():
    p = t2.fixed_initial_params(0)
    assert {k: v.shape for k, v in p.items()} == t2.FIXED_SHAPES
    np.testing.assert_array_equal(p["bias1"], 0.0)
    assert np.max(np.abs(p["weights1"])) <= np.sqrt(6 / (2 + 4))
    assert np.max(np.abs(p["weights2"])) <= np.sqrt(6 / (4 + 1))
    np.testing.assert_array_equal(p["weights1"], t2.fixed_initial_params(0)["weights1"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_fixed_network_learns_xor_with_sgd(seed):
    params, losses = t2.train_fixed(seed=seed, epochs=1000)
    assert losses[0] > 0.2
    assert losses[-1] < 0.01
    assert t2.fixed_loss(params).item() < 0.01
    with ag.no_grad():
        pred = t2.fixed_forward(params).data
    np.testing.assert_array_equal(np.round(pred), t2.Y)


def test_fixed_network_learns_xor_with_adam():
    params, losses = t2.train_fixed(seed=0, epochs=1000, optimizer="adam")
    assert t2.fixed_loss(params).item() < 0.01


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fixed_module_and_function_styles_agree(optimizer):
    pf, lf = t2.train_fixed(seed=0, epochs=300, optimizer=optimizer, style="function")
    pm, lm = t2.train_fixed(seed=0, epochs=300, optimizer=optimizer, style="module")
    assert set(pm) == set(pf) == set(t2.FIXED_SHAPES)
    for k in pf:
        np.testing.assert_allclose(pm[k], pf[k], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lm, lf, rtol=1e-9)


def test_fixed_module_matches_function():
    p = t2.fixed_initial_params(2)
    model = t2.FixedNetwork(p)
    np.testing.assert_array_equal(model(t2.X).data, t2.fixed_forward(p).data)
    np.testing.assert_array_equal(
        ag.nn.functional_call(t2.FixedNetwork(seed=5), p, t2.X).data, t2.fixed_forward(p).data
    )
    net = t2.Network(weights=t2.initial_weights(1))
    np.testing.assert_array_equal(net(t2.X).data, t2.forward(t2.initial_weights(1)).data)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(KeyError, match="missing \\['bias2'\\]"):
        t2.fixed_forward({k: v for k, v in t2.fixed_initial_params(0).items() if k != "bias2"})
    with pytest.raises(ValueError, match="bias1.*shape \\(3,\\), expected \\(4,\\)"):
        t2.fixed_forward({**t2.fixed_initial_params(0), "bias1": np.zeros(3)})
    with pytest.raises(ValueError, match="optimizer must be"):
        t2.train_fixed(optimizer="rmsprop")
    with pytest.raises(ValueError, match="style must be"):
        t2.train_fixed(style="jax")
    with pytest.raises(ValueError, match="style must be"):
        t2.train_autograd(t2.initial_weights(0), style="jax")
