"""The edges of the newer elementwise rows: NaN, ties, infinities, huge inputs, integers and
refusals, against NumPy and PyTorch (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")
F = torch.nn.functional

_NAN = np.nan


def _values_and_grads(f_ag, f_t, *arrays):
    """Our value and gradients of sum(f) next to torch's."""
    ours = ag.grad(lambda *xs: f_ag(*xs).sum(), argnums=tuple(range(len(arrays))))(*arrays)
    value = f_ag(*arrays).data
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f_t(*ts)
    out.sum().backward()
    return value, ours, out.detach().numpy(), tuple(t.grad.numpy() for t in ts)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ignore_nan_and_give_ties_to_a_as_torch(name):
    a = np.array([1.0, _NAN, 2.0, _NAN, 3.0, -1.0])
    b = np.array([_NAN, 1.0, 2.0, _NAN, 0.0, 4.0])
    value, grads, t_value, t_grads = _values_and_grads(getattr(ag, name), getattr(torch, name),
                                                       a, b)
    np.testing.assert_array_equal(value, getattr(np, name)(a, b))
    np.testing.assert_array_equal(value, t_value)
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(grads[0][:4], [1.0, 0.0, 1.0, 1.0])  # the tie goes to a


def test_maximum_still_splits_ties_where_fmax_does_not():
    a, b = np.array([2.0]), np.array([2.0])
    assert ag.grad(lambda x, y: ag.maximum(x, y).sum(), argnums=(0, 1))(a, b) == (0.5, 0.5)
    assert ag.grad(lambda x, y: ag.fmax(x, y).sum(), argnums=(0, 1))(a, b) == (1.0, 0.0)


def test_copysign_at_zero_and_negative_zero_as_torch():
    a = np.array([0.0, -0.0, 2.0, -3.0, 1.5])
    b = np.array([-1.0, 1.0, -0.0, 0.0, -2.0])
    value, grads, t_value, t_grads = _values_and_grads(ag.copysign, torch.copysign, a, b)
    np.testing.assert_array_equal(value, np.copysign(a, b))
    np.testing.assert_array_equal(np.signbit(value), np.signbit(t_value))
    np.testing.assert_array_equal(grads[0], t_grads[0])
    np.testing.assert_array_equal(grads[0], [0.0, 0.0, -1.0, -1.0, -1.0])
    np.testing.assert_array_equal(grads[1], np.zeros(5))


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e300])
def test_logaddexp_is_finite_and_exact_for_large_inputs(scale):
    a = np.array([1.0, -1.0, 0.7, -0.2]) * scale
    b = np.array([0.5, -1.0, -0.9, 0.3]) * scale
    for f, f_t in ((ag.logaddexp, torch.logaddexp), (ag.logaddexp2, torch.logaddexp2)):
        value, grads, t_value, t_grads = _values_and_grads(f, f_t, a, b)
        assert np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in grads)
        np.testing.assert_allclose(value, t_value, rtol=1e-14, atol=1e-16)  # torch: -5e-17 for 0
        for ours, theirs in zip(grads, t_grads, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(grads[0] + grads[1], 1.0, rtol=1e-14)  # weights sum to one


@pytest.mark.parametrize("name, f_t", [
    ("logsigmoid", F.logsigmoid), ("mish", F.mish), ("selu", F.selu),
    ("celu", F.celu), ("hardswish", F.hardswish), ("quick_gelu",
                                                   lambda x: x * torch.sigmoid(1.702 * x)),
])
def test_activations_are_finite_and_match_torch_for_large_inputs(name, f_t):
    x = np.array([-1e300, -800.0, -50.0, -20.5, -3.0, 3.0, 20.5, 50.0, 800.0, 1e300])
    value, (grad,), t_value, (t_grad,) = _values_and_grads(getattr(ag, name), f_t, x)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, t_value, rtol=1e-14, atol=0)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-12, atol=1e-300)


def test_logsigmoid_keeps_full_precision_far_below_zero():
    x = np.array([-25.0, -21.0])  # e^x is above the spacing of float64 near x
    exact = x - np.log1p(np.exp(x))  # log(sigmoid(x)) = x - log(1 + e^x)
    np.testing.assert_array_equal(ag.logsigmoid(x).data, exact)
    assert np.all(ag.logsigmoid(x).data != x)  # not -softplus(-x), which is x past threshold


def test_inverse_hyperbolic_gradients_stay_finite_for_huge_inputs():
    x = np.array([1e200, -1e200, 3.0])
    grad = ag.grad(lambda t: ag.arcsinh(t).sum())(x)
    np.testing.assert_allclose(grad, [1e-200, 1e-200, 1 / np.sqrt(10.0)], rtol=1e-15)
    grad = ag.grad(lambda t: ag.arccosh(t).sum())(np.array([1e200, 2.0]))
    np.testing.assert_allclose(grad, [1e-200, 1 / np.sqrt(3.0)], rtol=1e-15)


def test_sinc_at_zero_as_torch():
    x = np.array([0.0, 0.5, -1.0, 1e-3])
    value, (grad,), t_value, (t_grad,) = _values_and_grads(ag.sinc, torch.sinc, x)
    np.testing.assert_array_equal(value, np.sinc(x))
    np.testing.assert_allclose(value, t_value, rtol=1e-15)
    assert grad[0] == 0.0 == t_grad[0]
    np.testing.assert_allclose(grad, t_grad, rtol=1e-9)


def test_nan_to_num_defaults_follow_numpy_and_gradient_is_zero_off_the_finite_values():
    x = np.array([_NAN, np.inf, -np.inf, 1.5], dtype=np.float32)
    out = ag.nan_to_num(x)
    np.testing.assert_array_equal(out.data, np.nan_to_num(x))
    assert out.dtype == np.float32
    value, (grad,), t_value, (t_grad,) = _values_and_grads(
        lambda t: ag.nan_to_num(t, nan=1.0, posinf=2.0, neginf=-2.0),
        lambda t: torch.nan_to_num(t, nan=1.0, posinf=2.0, neginf=-2.0), x.astype(np.float64))
    np.testing.assert_array_equal(value, t_value)
    np.testing.assert_array_equal(grad, t_grad)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="nan_to_num: posinf must be a number or None"):
        ag.nan_to_num(x, posinf="big")


def test_value_tests_and_isclose_match_numpy_and_torch():
    a = np.array([1.0, _NAN, np.inf, -np.inf, 1.0 + 1e-9, 0.0, _NAN])
    b = np.array([1.0, _NAN, np.inf, np.inf, 1.0, 1e-9, 1.0])
    t = ag.Tensor(a, requires_grad=True)
    for name in ("isnan", "isinf", "isfinite"):
        out = getattr(ag, name)(t)
        np.testing.assert_array_equal(out.data, getattr(np, name)(a))
        np.testing.assert_array_equal(out.data, getattr(torch, name)(torch.tensor(a)).numpy())
        assert out.dtype == np.bool_ and not out.requires_grad
        np.testing.assert_array_equal(getattr(t, name)().data, out.data)  # also a method
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-8}, {"rtol": 0.1}):
        out = ag.isclose(t, b, **kwargs)
        np.testing.assert_array_equal(out.data, np.isclose(a, b, **kwargs))
        np.testing.assert_array_equal(
            out.data, torch.isclose(torch.tensor(a), torch.tensor(b), **kwargs).numpy())
        assert not out.requires_grad
    with pytest.raises(ValueError, match="isclose: rtol must be a non-negative number"):
        ag.isclose(a, b, rtol=-1.0)


def test_floor_and_trunc_division_match_torch_also_for_integers():
    a = np.array([-7, 7, -7, 7, 6, -6, 0])
    b = np.array([2, -2, -2, 2, 3, 4, -5])
    ta, tb = torch.tensor(a), torch.tensor(b)
    for mode in ("floor", "trunc"):
        out = ag.div(a, b, rounding_mode=mode)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out.data, torch.div(ta, tb, rounding_mode=mode).numpy())
    np.testing.assert_array_equal((ag.Tensor(a) // b).data, a // b)
    np.testing.assert_array_equal((7 // ag.Tensor(b)).data, 7 // b)
    x, y = a * 0.75, b * 1.25
    for mode in ("floor", "trunc"):
        np.testing.assert_array_equal(
            ag.div(x, y, rounding_mode=mode).data,
            torch.div(torch.tensor(x), torch.tensor(y), rounding_mode=mode).numpy())
    grads = ag.grad(lambda p, q: (p // q).sum(), argnums=(0, 1))(x, y)
    assert all(np.all(g == 0) for g in grads)
    with pytest.raises(ValueError, match="div: rounding_mode must be None, 'trunc' or 'floor'"):
        ag.div(x, y, rounding_mode="round")


def test_fmod_has_the_sign_of_a_as_torch():
    a = np.array([-7.5, 7.5, -7.5, 7.5])
    b = np.array([2.0, -2.0, -2.0, 2.0])
    value, grads, t_value, t_grads = _values_and_grads(ag.fmod, torch.fmod, a, b)
    np.testing.assert_array_equal(value, np.fmod(a, b))
    np.testing.assert_array_equal(value, t_value)
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_lerp_with_a_tensor_weight_matches_torch(rng):
    a, b, w = rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=(3, 1))
    value, grads, t_value, t_grads = _values_and_grads(ag.lerp, torch.lerp, a, b, w)
    np.testing.assert_allclose(value, t_value, rtol=1e-12)
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_degree_conversions_are_numpy_s():
    x = np.array([0.0, 30.0, -180.0, 1e-3])
    np.testing.assert_array_equal(ag.deg2rad(x).data, np.deg2rad(x))
    np.testing.assert_array_equal(ag.radians(x).data, np.radians(x))
    np.testing.assert_array_equal(ag.rad2deg(x).data, np.rad2deg(x))
    np.testing.assert_array_equal(ag.degrees(x).data, np.degrees(x))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_bitwise_ops_on_integers_match_numpy_and_have_no_gradient(dtype):
    a = np.array([5, 3, 12, 0, 127], dtype=dtype)
    b = np.array([1, 2, 3, 4, 0], dtype=dtype)
    t = ag.Tensor(a)
    for ours, theirs in (
            (t & b, a & b), (t | b, a | b), (t ^ b, a ^ b), (~t, ~a), (t << b, a << b),
            (t >> b, a >> b), (b & t, b & a), (b | t, b | a), (ag.logical_not(t), ~a.astype(bool)),
            (ag.bitwise_and(a, b), a & b), (ag.left_shift(a, b), a << b), (ag.invert(a), ~a)):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours.data, theirs)
        assert not ours.requires_grad


def test_bitwise_ops_refuse_floats_by_name():
    x = ag.Tensor(np.ones(3), requires_grad=True)
    ints = np.arange(3)
    for what, call in (("bitwise_and", lambda: x & ints), ("bitwise_or", lambda: ints | x),
                       ("bitwise_xor", lambda: x ^ x), ("invert", lambda: ~x),
                       ("left_shift", lambda: ag.Tensor(ints) << 1.5),
                       ("right_shift", lambda: x >> 1)):
        with pytest.raises(TypeError, match=rf"^{what}: needs integer.*float64"):
            call()
    with pytest.raises(TypeError, match="left_shift: needs integer tensors, got bool"):
        ag.Tensor(np.array([True])) << np.array([1])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_treats_0d_input_as_one_element_as_torch(name):
    x = np.array(0.7)
    f_t = {"softmax": torch.softmax, "log_softmax": torch.log_softmax,
           "softmin": F.softmin}[name]
    for axis in (0, -1):
        out = getattr(ag, name)(x, axis=axis)
        expected = f_t(torch.tensor(x), dim=axis).numpy()
        assert out.shape == () and out.data == expected
    grad = ag.grad(lambda t: getattr(ag, name)(t) * 3.0)(x)
    assert grad.shape == () and grad == 0.0
    with pytest.raises(np.exceptions.AxisError, match=f"{name}: axis 1 is out of range for a 0-d"):
        getattr(ag, name)(x, axis=1)
