"""Tutorial 1 (seed 000): the hand-written 3-4-1 network and its autograd rebuilds agree."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn_course import tutorial1 as t1


def _sse_numpy(w1: np.ndarray, w2: np.ndarray) -> float:
    """The tutorial's loss in plain NumPy, as an independent reference for finite differences."""
    out = 1.0 / (1.0 + np.exp(-(1.0 / (1.0 + np.exp(-(t1.X @ w1))) @ w2)))
    return float(np.sum((t1.Y - out) ** 2))


def test_data_is_the_tutorials():
    assert t1.X.dtype == np.float64 and t1.Y.dtype == np.float64
    np.testing.assert_array_equal(t1.X, [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(t1.Y, [[0], [1], [1], [0]])


def test_initial_weights_are_seeded_uniform_like_rand():
    a, b = t1.initial_weights(0), t1.initial_weights(0)
    assert a.keys() == {"weights1", "weights2"}
    assert a["weights1"].shape == (3, 4) and a["weights2"].shape == (4, 1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert np.all((a[k] >= 0) & (a[k] < 1))
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(a["weights1"], rng.random((3, 4)))
    assert not np.array_equal(t1.initial_weights(1)["weights1"], a["weights1"])


def test_reference_class_runs_unseeded_like_the_tutorial():
    saved = np.random.get_state()  # the tutorial draws from the global RNG; leave it as found
    try:
        nn = t1.NeuralNetwork(t1.X, t1.Y)
    finally:
        np.random.set_state(saved)
    assert np.all((nn.weights1 >= 0) & (nn.weights1 < 1))
    assert nn.weights1.shape == (3, 4) and nn.weights2.shape == (4, 1)
    np.testing.assert_array_equal(nn.output, np.zeros((4, 1)))
    nn.feedforward()
    nn.backprop()
    assert nn.output.shape == (4, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_handwritten_gradients_are_minus_the_true_gradient(seed):
    w = t1.initial_weights(seed)
    hand = t1.handwritten_gradients(w, t1.X, t1.Y)
    auto = ag.grad(t1.loss)(w, t1.X, t1.Y)
    args = [w["weights1"], w["weights2"]]
    fd = {"weights1": numeric_grad(_sse_numpy, args, 0),
          "weights2": numeric_grad(_sse_numpy, args, 1)}
    for k in ("weights1", "weights2"):
        np.testing.assert_allclose(hand[k], -auto[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(auto[k], fd[k], rtol=1e-6, atol=1e-8)


def test_loss_is_the_sum_of_squares():
    w = t1.initial_weights(0)
    assert float(t1.loss(w).item()) == pytest.approx(_sse_numpy(w["weights1"], w["weights2"]),
                                                     rel=1e-14)
    nn_loss = ag.nn.functional.sum_of_squares(t1.forward(w), t1.Y).item()
    assert float(t1.loss(w).item()) == pytest.approx(nn_loss, rel=1e-14)


@pytest.mark.parametrize("style", ["function", "module"])
@pytest.mark.parametrize("seed", [0, 7])
def test_1500_iterations_match_the_handwritten_run(style, seed):
    w0 = t1.initial_weights(seed)
    ref_w, ref_out = t1.train_handwritten(w0, 1500)
    got_w, got_out = t1.train_autograd(w0, 1500, style=style)
    assert set(got_w) == {"weights1", "weights2"}
    for k in ref_w:
        np.testing.assert_allclose(got_w[k], ref_w[k], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_out, ref_out, rtol=0, atol=1e-9)
    # and it learned, as the tutorial claims: every prediction within 0.1 of its target
    assert np.max(np.abs(ref_out - t1.Y)) < 0.1


def test_output_is_the_prediction_before_the_last_update():
    w0 = t1.initial_weights(0)
    w_before, _ = t1.train_handwritten(w0, 1499)
    _, out = t1.train_handwritten(w0, 1500)
    with ag.no_grad():
        np.testing.assert_allclose(t1.forward(w_before).data, out, rtol=0, atol=1e-15)


def test_training_does_not_mutate_the_callers_weights():
    w0 = t1.initial_weights(0)
    keep = {k: v.copy() for k, v in w0.items()}
    t1.train_handwritten(w0, 5)
    t1.train_autograd(w0, 5, style="function")
    t1.train_autograd(w0, 5, style="module")
    for k in w0:
        np.testing.assert_array_equal(w0[k], keep[k])


def test_module_and_function_styles_agree():
    w = t1.initial_weights(3)
    model = t1.Network(weights=w)
    assert [n for n, _ in model.named_parameters()] == ["weights1", "weights2"]
    np.testing.assert_array_equal(model(t1.X).data, t1.forward(w).data)
    np.testing.assert_array_equal(
        ag.nn.functional_call(t1.Network(seed=9), w, t1.X).data, t1.forward(w).data
    )
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, w[k])


def test_main_prints_predictions_like_the_tutorial(capsys):
    t1.main()
    printed = capsys.readouterr().out
    _, ref_out = t1.train_handwritten(t1.initial_weights(0))
    _, ag_out = t1.train_autograd(t1.initial_weights(0))
    for line in str(ref_out).splitlines() + str(ag_out).splitlines():
        assert line in printed
    assert "1500 iterations" in printed


def test_bad_params_give_clear_errors():
    with pytest.raises(KeyError, match="missing \\['weights2'\\]"):
        t1.forward({"weights1": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="weights1.*shape \\(4, 3\\), expected \\(3, 4\\)"):
        t1.forward({"weights1": np.zeros((4, 3)), "weights2": np.zeros((4, 1))})
    with pytest.raises(ValueError, match="style must be"):
        t1.train_autograd(t1.initial_weights(0), 1, style="jax")
    with pytest.raises(TypeError, match="params must be a dict"):
        t1.loss([1, 2])
