"""gradcheck: passes on correct gradients, and on wrong ones reports input, element, values and
the likely cause. Wrong gradients are planted by monkeypatching a primitive's VJP rule."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.check import GradcheckError, gradcheck

rng = np.random.default_rng(3)
W = rng.standard_normal((3, 4))
X = rng.standard_normal((5, 3))


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def two_layer(W, X):
    return ag.sigmoid(ag.matmul(X, W)).sum()


# --- passing cases -----------------------------------------------------------------------------
def test_correct_gradients_pass():
    assert gradcheck(two_layer, W, X, names=["W", "X"]) is True
    assert gradcheck(lambda a, b: (ag.maximum(a, b) * ag.tanh(a)).mean(),
                     rng.standard_normal(6), rng.standard_normal(6)) is True
    assert gradcheck(lambda x: ag.log_softmax(x, axis=1).sum(), rng.standard_normal((3, 4)))


def test_dict_inputs_and_constants():
    params = {"W": W, "b": rng.standard_normal(4)}
    labels = np.array([0, 2, 1, 3, 0])  # an integer constant, passed through untouched

    def loss(p, X, labels):
        assert isinstance(labels, np.ndarray) and labels.dtype.kind == "i"
        logits = ag.matmul(X, p["W"]) + p["b"]
        return -ag.log_softmax(logits, axis=1)[np.arange(5), labels].mean()

    assert gradcheck(loss, params, X, labels)


def test_non_scalar_output_and_random_mode_and_order2():
    assert gradcheck(lambda W, X: ag.tanh(ag.matmul(X, W)), W, X)
    big = rng.standard_normal((40, 30))
    assert gradcheck(lambda a: (ag.sigmoid(a) ** 3).sum(), big, mode="random", n_directions=3)
    assert gradcheck(lambda W, X: (ag.sigmoid(ag.matmul(X, W)) ** 3).sum(), W, X, order=2)


# --- failures ----------------------------------------------------------------------------------
def plant(monkeypatch, name, rule):
    prim = ag.PRIMITIVES[name]
    monkeypatch.setattr(prim, "vjps", (rule,))


def test_wrong_vjp_report_names_input_element_and_values(monkeypatch):
    # sigmoid' planted as s instead of s * (1 - s)
    plant(monkeypatch, "sigmoid", lambda g, ans, x: g * ans)
    with pytest.raises(GradcheckError) as info:
        gradcheck(two_layer, W, X, names=["W", "X"])
    fl = info.value.failure
    # independent values: the planted rule evaluated with NumPy, and float64 finite differences
    s = np_sigmoid(X @ W)
    wrong = X.T @ s

    def f(Wn):
        return np_sigmoid(X @ Wn).sum()

    numeric = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[idx] = 1e-6
        numeric[idx] = (f(W + e) - f(W - e)) / 2e-6
    assert fl.input_label == "W" and fl.input_shape == (3, 4)
    assert fl.analytic == pytest.approx(wrong[fl.index], rel=1e-12)
    assert fl.numeric == pytest.approx(numeric[fl.index], rel=1e-6)
    worst = np.unravel_index(np.argmax(np.abs(wrong - numeric) - 1e-3 * np.abs(numeric)),
                             W.shape)
    assert fl.index == tuple(int(i) for i in worst)
    msg = str(info.value)
    assert "with respect to W (shape (3, 4), float64)" in msg
    assert f"worst element ({fl.index[0]}, {fl.index[1]})" in msg
    assert "analytic" in msg and "numeric" in msg and "rel error" in msg
    assert isinstance(info.value, AssertionError)


def test_sign_error_is_named(monkeypatch):
    plant(monkeypatch, "exp", lambda g, ans, x: -g * ans)
    with pytest.raises(GradcheckError, match="minus the numeric one"):
        gradcheck(lambda x: ag.exp(x).sum(), rng.standard_normal(4), names=["x"])


def test_factor_error_is_named(monkeypatch):
    plant(monkeypatch, "tanh", lambda g, ans, x: 2 * g * (1 - ans * ans))
    with pytest.raises(GradcheckError, match=r"is 2 x the numeric one"):
        gradcheck(lambda x: ag.tanh(x).sum(), rng.standard_normal(5))


def test_failure_second_input_is_named_by_position(monkeypatch):
    # only the rule for the second operand of mul is wrong
    prim = ag.PRIMITIVES["mul"]
    monkeypatch.setattr(prim, "vjps", (prim.vjps[0], lambda g, ans, a, b: g * b))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: (a * b).sum(), rng.standard_normal(3) + 3, rng.standard_normal(3))
    assert info.value.failure.input_label == "input 1"


def test_relu_kink_is_diagnosed():
    x = np.array([0.0, 1.5, -2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: ag.relu(x * 2.0).sum(), x)
    msg = str(info.value)
    assert info.value.failure.index == (0,)
    assert "relu input element (0,)" in msg and "kink at 0" in msg
    # the creation site of the relu is this test file
    assert os.path.basename(__file__) in msg


def test_clip_and_maximum_kinks_are_diagnosed():
    with pytest.raises(GradcheckError, match="clip input element"):
        gradcheck(lambda x: ag.clip(x, -1.0, 1.0).sum(), np.array([0.2, 1.0]))
    with pytest.raises(GradcheckError, match="maximum"):
        gradcheck(lambda x: ag.maximum(x, 0.5).sum() * ag.maximum(x, 0.5).sum(),
                  np.array([0.5, 1.0]), atol=1e-9, rtol=1e-9)


def test_float32_input_suggests_float64():
    x = np.array([0.123456, 0.987654], dtype=np.float32)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: (((x + 1e4) - 1e4) ** 3).sum(), x, names=["x"])
    msg = str(info.value)
    assert "float32" in msg and "float64" in msg
    # the same function in float64 passes: the failure is float32 precision, not a wrong rule
    assert gradcheck(lambda x: (((x + 1e4) - 1e4) ** 3).sum(), x.astype(np.float64))


def test_internal_float32_cast_is_diagnosed():
    with pytest.raises(GradcheckError, match="f returns float32"):
        gradcheck(lambda x: (x.astype(np.float32) ** 2).sum(), np.array([0.3, 1.0, -2.0]))


def test_second_order_catches_a_rule_that_is_only_first_order_right(monkeypatch):
    # correct values, but the rule hides its dependence on x from a nested grad
    plant(monkeypatch, "sigmoid",
          lambda g, ans, x: g * ag.ops.registry.value_of(ans) * (1 - ag.ops.registry.value_of(ans)))
    f = lambda W, X: ag.sigmoid(ag.matmul(X, W)).sum()  # noqa: E731
    assert gradcheck(f, W, X, order=1)
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, W, X, order=2)
    assert info.value.failure.order == 2
    assert "second-order gradient" in str(info.value)


def test_random_mode_failure_is_localised(monkeypatch):
    plant(monkeypatch, "sigmoid", lambda g, ans, x: g * ans)
    with pytest.raises(GradcheckError) as info:
        gradcheck(two_layer, W, X, mode="random", n_directions=2)
    fl = info.value.failure
    assert fl.mode == "random" and fl.index is not None
    assert "random unit direction #0" in str(info.value)
    assert "localised by a full check" in str(info.value)


def test_non_scalar_output_failure_mentions_projection(monkeypatch):
    plant(monkeypatch, "tanh", lambda g, ans, x: g)
    with pytest.raises(GradcheckError, match=r"checked through sum\(f\(x\) \* v\)"):
        gradcheck(lambda x: ag.tanh(x), rng.standard_normal((2, 3)))


def test_nan_gradient_points_to_detect_anomaly():
    with pytest.raises(GradcheckError, match="detect_anomaly"):
        gradcheck(lambda x: (ag.sqrt(x) * 0.0).sum() + x.sum(), np.array([0.0, 1.0]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        gradcheck(two_layer, W, X, mode="fast")
    with pytest.raises(ValueError, match="order"):
        gradcheck(two_layer, W, X, order=3)
    with pytest.raises(TypeError, match="no floating-point input"):
        gradcheck(lambda i: ag.Tensor(1.0), np.array([1, 2]))
    with pytest.raises(TypeError, match="at least one input"):
        gradcheck(two_layer)
    assert ag.gradcheck is gradcheck


def _custom_square(vjp):
    """x**2 as a one-off primitive (not registered) with the given VJP rule."""
    prim = ag.ops.Primitive("test_square", lambda x: x * x, (vjp,), doc="x**2 for a test")

    def square(x):
        return prim(x if isinstance(x, ag.Tensor) else ag.Tensor(x))  # a row records on Tensors

    return square


def test_order_2_also_checks_first_derivatives():
    # d(x^2)/dx with the wrong sign: its own derivative (-2) is a perfectly consistent second
    # derivative of the wrong first derivative, so only a first-order check can see the error
    bad = _custom_square(lambda g, ans, x: -2 * x * g)
    f = lambda x: bad(x).sum()  # noqa: E731
    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, x, order=2)
    assert info.value.failure.order == 1
    assert "step 1: first derivatives" in str(info.value)
    assert "sign error" in str(info.value)
    np.testing.assert_allclose(info.value.failure.numeric, 2 * x[info.value.failure.index])
    # the correct rule passes both steps
    good = _custom_square(lambda g, ans, x: 2 * x * g)
    assert gradcheck(lambda x: good(x).sum(), x, order=2)
    assert gradcheck(lambda x: good(x).sum(), x, order=2, mode="random")


# --- evaluations of the user's function ---------------------------------------------------------
def counted(f):
    """f, counting its calls in `.calls`."""
    def wrapper(*args):
        wrapper.calls += 1
        return f(*args)

    wrapper.calls = 0
    return wrapper


def test_function_is_evaluated_once_for_autograd_and_twice_per_difference():
    x = rng.standard_normal(3)
    f = counted(lambda x: (ag.tanh(x) ** 2).sum())
    assert gradcheck(f, x) and f.calls == 1 + 2 * 3
    f = counted(lambda x: ag.tanh(x) * 2.0)  # non-scalar: projected, still no probing call
    assert gradcheck(f, x) and f.calls == 1 + 2 * 3
    f = counted(lambda x: (ag.tanh(x) ** 2).sum())
    assert gradcheck(f, x, mode="random", n_directions=2) and f.calls == 1 + 2 * 2
    f = counted(lambda x: (ag.tanh(x) ** 2).sum())
    assert gradcheck(f, x, order=2) and f.calls == 2 * (1 + 2 * 3)  # each step: same count
    f = counted(lambda p, X, labels: (ag.matmul(X, p["W"]) + p["b"][0]).sum())
    p = {"W": W, "b": [rng.standard_normal(4)]}
    assert gradcheck(f, p, X, np.array([1, 2])) and f.calls == 1 + 2 * (W.size + 4 + X.size)


def test_a_failure_adds_only_the_graph_inspection(monkeypatch):
    plant(monkeypatch, "tanh", lambda g, ans, x: 2 * g * (1 - ans * ans))
    f = counted(lambda x: ag.tanh(x).sum())
    with pytest.raises(GradcheckError):
        gradcheck(f, rng.standard_normal(3))
    assert f.calls == 1 + 2 * 3 + 1  # + 1: the graph rebuilt with creation sites for kinks


def test_nested_input_failure_is_labelled_by_path(monkeypatch):
    plant(monkeypatch, "sigmoid", lambda g, ans, x: g * ans)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda p, Xs: ag.sigmoid(ag.matmul(Xs[0], p["W"])).sum(), {"W": W}, [X])
    assert info.value.failure.input_label == "input 0['W']"
    assert "with respect to input 0['W'] (shape (3, 4), float64)" in str(info.value)
