"""NumPy's and PyTorch's conventions at the edges: 0-d input to reductions and scans, and clip
with lo > hi, against both (float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name, f_t", [
    ("sum", torch.sum), ("mean", torch.mean), ("prod", torch.prod), ("max", torch.amax),
    ("min", torch.amin), ("logsumexp", torch.logsumexp)])
@pytest.mark.parametrize("axis", [0, -1, (0,), (-1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_of_0d_input_over_axis_0_or_minus_1_as_torch(name, f_t, axis, keepdims):
    x = np.array(0.8)
    out = getattr(ag, name)(ag.Tensor(x, requires_grad=True), axis=axis, keepdims=keepdims)
    t = torch.tensor(x, requires_grad=True)
    expected = f_t(t, dim=axis if isinstance(axis, int) else axis[0], keepdim=keepdims)
    assert out.shape == tuple(expected.shape) == ()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-15)
    grad = ag.grad(lambda v: getattr(ag, name)(v, axis=axis, keepdims=keepdims) * 2.0)(x)
    (expected * 2.0).backward()
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("name", ["sum", "prod", "logsumexp", "mean"])
def test_reductions_of_0d_input_still_refuse_other_axes(name):
    with pytest.raises(np.exceptions.AxisError, match=f"{name}: axis 1 is out of range"):
        getattr(ag, name)(np.array(1.0), axis=1)
    with pytest.raises(ValueError, match=f"{name}: repeated axis"):
        getattr(ag, name)(np.array(1.0), axis=(0, 0))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_scans_of_0d_input_give_one_element_as_numpy(name, axis):
    x = np.array(1.5)
    out = getattr(ag, name)(x, axis)
    expected = getattr(np, name)(x, axis=axis)
    assert out.shape == expected.shape == (1,)
    np.testing.assert_array_equal(out.data, expected)
    grad = ag.grad(lambda v: (getattr(ag, name)(v, axis) * 3.0).sum())(x)
    assert grad.shape == () and grad == 3.0
    with pytest.raises(np.exceptions.AxisError, match=f"{name}: axis 1 is out of range"):
        getattr(ag, name)(x, 1)


def test_clip_with_lo_above_hi_gives_hi_everywhere_as_numpy_and_torch():
    x = np.array([-1.0, 0.0, 1.5, 3.0, 5.0])
    out = ag.clip(ag.Tensor(x, requires_grad=True), 3, 0)
    np.testing.assert_array_equal(out.data, np.clip(x, 3, 0))
    t = torch.tensor(x, requires_grad=True)
    expected = torch.clamp(t, 3, 0)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    expected.sum().backward()
    grad = ag.grad(lambda v: ag.clip(v, 3, 0).sum())(x)
    np.testing.assert_array_equal(grad, t.grad.numpy())
    np.testing.assert_array_equal(grad, np.zeros(5))


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("x, kwargs", [
    (np.array([1.5]), {"ddof": 1}), (np.array([1.0, 2.0]), {"ddof": 2}),
    (np.array([3.0, 3.0]), {"ddof": 5}), (np.ones((2, 0)), {"axis": 1}),
    (np.ones((2, 0)), {"axis": 0}), (np.ones((3, 2)), {"axis": 0, "ddof": 3}),
], ids=str)
def test_var_and_std_without_degrees_of_freedom_are_nan_or_inf_as_torch(name, x, kwargs):
    out = getattr(ag, name)(x, **kwargs)  # no RuntimeWarning: warnings are errors here
    dim = kwargs.get("axis")
    with warnings.catch_warnings():  # torch's own UserWarning about the degrees of freedom
        warnings.simplefilter("ignore", UserWarning)
        expected = getattr(torch, name)(torch.tensor(x), **({} if dim is None else {"dim": dim}),
                                        correction=kwargs.get("ddof", 0))
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())
    grad = ag.grad(lambda v: getattr(ag, name)(v, **kwargs).sum())(x)
    assert grad.shape == x.shape and np.all(np.isnan(grad))  # undefined: nan, never a number
    compiled = ag.compile(lambda v: getattr(ag, name)(v, **kwargs))(x)
    np.testing.assert_array_equal(compiled.data if hasattr(compiled, "data") else compiled,
                                  out.data)
