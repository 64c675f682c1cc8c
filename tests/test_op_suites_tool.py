"""scripts/op_suites: the outcome classifier and the tinygrad-style adapter (no suite runs here)."""

import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_nn as ag

TOOL = Path(__file__).resolve().parent.parent / "scripts" / "op_suites"
sys.path += [str(TOOL), str(TOOL / "adapters")]  # last: shadows nothing

from classify import classify  # noqa: E402
from tinylike import MissingName, Tensor  # noqa: E402


def _raised(f):
    try:
        f()
    except BaseException as e:  # noqa: BLE001 - any outcome is classified
        return e
    raise AssertionError("nothing raised")


def test_a_wrapped_value_mismatch_is_a_wrong_value():
    def compare():
        try:
            np.testing.assert_allclose(np.ones(2), np.zeros(2))
        except AssertionError as e:
            raise Exception(f"backward pass tensor 0 failed: {e}")  # noqa: B904 - as tinygrad does

    assert classify(_raised(compare)) == "wrong-value"


def test_dtype_and_not_raised_are_told_apart_from_wrong_values():
    assert classify(AssertionError("dtype mismatch: tinygrad=float64 | torch=float32")) == (
        "wrong-dtype")
    assert classify(AssertionError("ValueError not raised")) == "not-raised"


def test_missing_names_and_autograd_nn_refusals():
    assert classify(_raised(lambda: Tensor(np.ones(2)).no_such_op())) == "missing-op"
    assert classify(_raised(lambda: ag.reshape(np.ones(2), (3,)))) == "refused"
    assert classify(_raised(lambda: {}["k"])) == "error-other"


def test_the_adapter_forwards_to_autograd_nn_unchanged():
    x = np.linspace(-2, 2, 12).reshape(3, 4).astype(np.float32)
    t = Tensor(x)
    assert np.array_equal(t.relu().numpy(), ag.relu(x).data)
    assert np.array_equal(t.sum(axis=1, keepdim=True).numpy(), ag.sum(x, 1, keepdims=True).data)
    assert np.array_equal(t.permute(1, 0).numpy(), x.T)
    assert np.array_equal(Tensor.pow(t, 2.0).numpy(), ag.power(x, 2.0).data)
    assert Tensor.pow is Tensor.pow  # tinygrad's tests compare ops by identity
    (g,) = t.tanh().sum().gradient(t)
    assert np.allclose(g.numpy(), 1 - np.tanh(x) ** 2, atol=1e-6)


def test_a_name_autograd_nn_lacks_is_missing_not_imitated():
    with pytest.raises(MissingName):  # (linspace was the example until it was built)
        Tensor(np.ones(4)).multinomial(2)
    with pytest.raises(MissingName):
        Tensor(np.ones(4)).chunk(2)
