"""detect_anomaly: a planted log(0) is caught in forward, a NaN made only in backward is caught
in backward; both name the op and the line of this file that created it."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.check import detect_anomaly

HERE = os.path.basename(__file__)


def lineno() -> int:
    return inspect.currentframe().f_back.f_lineno


def test_planted_log_zero_caught_in_forward():
    x = ag.Tensor([1.0, 0.0, 2.0], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(ag.AnomalyError) as info:
            line = lineno() + 1
            ag.log(x * 1.0)
    msg = str(info.value)
    assert "forward of log" in msg
    assert "(3,) float64" in msg  # the shapes
    assert f"{HERE}:{line}" in msg  # the creation site
    assert "1 Inf" in msg
    assert not ag.state.is_anomaly_enabled()


def test_nan_only_in_backward_is_caught_in_backward():
    x = ag.Tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        line = lineno() + 1
        r = ag.sqrt(x)
        y = (r * 0.0).sum()  # forward finite; backward: 0 / (2 * sqrt(0)) = NaN
        assert np.isfinite(y.data)
        with pytest.raises(ag.AnomalyError) as info:
            y.backward()
    msg = str(info.value)
    assert "backward of sqrt" in msg and "input #0" in msg and "1 NaN" in msg
    assert f"{HERE}:{line}" in msg


def test_without_anomaly_mode_nan_passes_silently():
    x = ag.Tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (ag.sqrt(x) * 0.0).sum().backward()
    assert np.isnan(x.grad[0])
    assert ag.sqrt(x)._where is None


def test_sites_recorded_and_mode_restored_on_error():
    x = ag.Tensor([1.0], requires_grad=True)
    prev = ag.state.set_anomaly_enabled(False)
    try:
        with pytest.raises(RuntimeError):
            with detect_anomaly():
                line = lineno() + 1
                y = ag.exp(x)
                assert ag.state.is_anomaly_enabled()
                raise RuntimeError("boom")
        assert not ag.state.is_anomaly_enabled()
        assert y._where.startswith(__file__ + f":{line} in ")
    finally:
        ag.state.set_anomaly_enabled(prev)


def test_decorator_nesting_and_disabling():
    seen = []

    @detect_anomaly()
    def inner(depth):
        seen.append(ag.state.is_anomaly_enabled())
        if depth:
            inner(depth - 1)  # re-entering the same decorator instance
        with detect_anomaly(enabled=False):
            seen.append(ag.state.is_anomaly_enabled())
        seen.append(ag.state.is_anomaly_enabled())

    inner(1)
    assert seen == [True, True, False, True, False, True]
    assert not ag.state.is_anomaly_enabled()
    assert ag.detect_anomaly is detect_anomaly


def test_numpy_warnings_are_replaced_by_the_anomaly_error():
    # with warnings as errors (this suite's setting) NumPy's RuntimeWarning would otherwise
    # surface first, without the op's name
    x = ag.Tensor([0.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning), np.errstate(divide="warn"):
            with detect_anomaly(quiet_numpy=False):
                ag.log(x)
    with pytest.raises(ag.AnomalyError, match="forward of log"):
        with detect_anomaly():
            ag.log(x)


def test_nan_already_in_an_input_is_blamed_on_the_input():
    """issue 22: a NaN in the data is the input's, named, not an anomaly 'in forward of
    matmul'."""
    data = np.ones((3, 2))
    data[1, 0] = np.nan
    w = ag.Tensor(np.ones((2, 2)), requires_grad=True, name="w")
    with detect_anomaly():  # a NumPy array, named as the user's variable
        with pytest.raises(ag.AnomalyError) as info:
            line = lineno() + 1
            (data @ w).sum()
    msg = str(info.value)
    assert msg.startswith("anomaly in an input, not made by matmul: the input data ")
    assert "1 NaN and 0 Inf" in msg and "index (1, 0)" in msg and "input #0" in msg
    assert "forward of matmul" not in msg
    assert f"{HERE}:{line}" in msg
    assert "allow_inf" not in msg  # no Inf: no hint about it
    with detect_anomaly():  # a named Tensor
        with pytest.raises(ag.AnomalyError, match="the input 'X' \\(\\(3, 2\\) float64\\)"):
            ag.Tensor(data, name="X") @ w
    # a leaf Tensor that requires grad, reached through a params dict under ag.grad
    with detect_anomaly():
        with pytest.raises(ag.AnomalyError, match=r"the leaf Tensor p\['v'\]"):
            ag.grad(lambda p: (p["v"] @ w).sum())({"v": data})
    # an Inf in the input gets the allow_inf hint; an op that makes the NaN is still blamed
    data[1, 0] = np.inf
    with detect_anomaly():
        with pytest.raises(ag.AnomalyError, match=r"input #0.*detect_anomaly\(allow_inf=True\)"):
            ag.exp(data)
    with detect_anomaly():
        with pytest.raises(ag.AnomalyError, match="anomaly in forward of log"):
            ag.log(ag.Tensor([1.0, -1.0]))


def test_allow_inf_passes_a_causal_mask_and_still_stops_at_nan():
    """issue 22: detect_anomaly(allow_inf=True) runs attention with a -inf causal mask, forward
    and backward; NaN still stops; without it the mask is reported (as the input's)."""
    rng = np.random.default_rng(0)
    q = ag.Tensor(rng.normal(size=(5, 4)), requires_grad=True, name="q")
    k = ag.Tensor(rng.normal(size=(5, 4)), requires_grad=True, name="k")
    causal_mask = np.triu(np.full((5, 5), -np.inf), 1)

    def attention():
        return ag.softmax(q @ k.T / 2.0 + causal_mask, axis=-1)

    with detect_anomaly(allow_inf=True):
        weights = attention()
        (weights ** 2).sum().backward()
        assert ag.state.is_anomaly_enabled()
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0)
    assert np.isfinite(q.grad).all() and np.isfinite(k.grad).all()
    with detect_anomaly():  # the default: the mask's -inf is named as the input's
        with pytest.raises(ag.AnomalyError, match="the input causal_mask.*allow_inf=True"):
            attention()
    with detect_anomaly(allow_inf=True):  # NaN still stops, made by an op or given
        with pytest.raises(ag.AnomalyError, match="forward of add"):
            ag.Tensor([np.inf]) + ag.Tensor([-np.inf])
        with pytest.raises(ag.AnomalyError, match="anomaly in an input"):
            ag.Tensor([np.nan, 1.0]) * 2.0
        with detect_anomaly():  # an inner block without it, restored after
            with pytest.raises(ag.AnomalyError):
                ag.exp(ag.Tensor([1000.0]))
        ag.exp(ag.Tensor([1000.0]))  # Inf allowed again
    with detect_anomaly():
        with pytest.raises(ag.AnomalyError):
            ag.exp(ag.Tensor([1000.0]))
