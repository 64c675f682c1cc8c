"""Every op's gradient against central finite differences (float64), over broadcastable shapes.

The references are written with plain NumPy here, independently of the ops' own forwards.
"""

from __future__ import annotations

import itertools
import math

import conv_reference as ref
import numpy as np
import pytest
import test_ops_joining
import test_ops_scatter
import test_ops_sorting
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn.core.ops.registry import prims
from autograd_nn.core.ops.shape import SLOT

SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1), (2, 3, 4)]
def _broadcastable(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


PAIRS = [(a, b) for a, b in itertools.product(SHAPES, SHAPES) if _broadcastable(a, b)]


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


# name -> (autograd function, numpy reference, input sampler)
def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _signed_away_from_zero(rng, shape):
    return rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _normal(rng, shape):
    return rng.normal(size=shape)


def _in_unit(rng, shape):
    return rng.uniform(-0.9, 0.9, size=shape)


def _off_grid(rng, shape):
    """Values at least 0.1 away from every integer and half-integer (where rounding jumps)."""
    return rng.integers(-3, 3, size=shape) + rng.choice([0.2, 0.3, 0.7, 0.8], size=shape)


def _small_signed(rng, shape):
    return rng.uniform(0.2, 0.8, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _wide_signed(rng, shape):
    return rng.uniform(1.5, 2.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _away_from(*points):
    def sample(rng, shape):
        x = rng.uniform(-8.0, 8.0, size=shape)
        for p in points:  # nudge values within 0.2 of a kink away from it
            x = np.where(np.abs(x - p) < 0.2, p + 0.5, x)
        return x

    return sample


def _quotient_numerator(rng, shape):
    """With _quotient_denominator: |a / b| stays in (1.4, 1.7), away from where a quotient
    rounded to an integer jumps, and its rounded value is +-1 (so fmod's gradient for b is not
    0)."""
    return rng.uniform(3.1, 3.4, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _quotient_denominator(rng, shape):
    return rng.uniform(2.0, 2.2, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _above_one(rng, shape):
    return rng.uniform(1.2, 3.0, size=shape)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


_erf_ref = np.vectorize(math.erf)
_erfc_ref = np.vectorize(math.erfc)


def _gelu_ref(x):
    return 0.5 * x * (1 + _erf_ref(x / np.sqrt(2)))


def _gelu_tanh_ref(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


BINARY = {
    "mod": (ag.mod, np.mod, _small_signed, _wide_signed),
    "mod operator": (lambda a, b: a % b, np.mod, _small_signed, _wide_signed),
    "hypot": (ag.hypot, np.hypot, _signed_away_from_zero, _normal),
    "arctan2": (ag.arctan2, np.arctan2, _normal, _signed_away_from_zero),
    "add": (lambda a, b: a + b, np.add, _normal, _normal),
    "sub": (lambda a, b: a - b, np.subtract, _normal, _normal),
    "mul": (lambda a, b: a * b, np.multiply, _normal, _normal),
    "div": (lambda a, b: a / b, np.divide, _normal, _signed_away_from_zero),
    "pow": (lambda a, b: a ** b, np.power, _positive, _normal),
    "maximum": (ag.maximum, np.maximum, _normal, _normal),
    "minimum": (ag.minimum, np.minimum, _normal, _normal),
    "logaddexp": (ag.logaddexp, lambda a, b: np.log(np.exp(a) + np.exp(b)), _normal, _normal),
    "logaddexp2": (ag.logaddexp2, lambda a, b: np.log2(2.0 ** a + 2.0 ** b), _normal, _normal),
    "copysign": (ag.copysign, lambda a, b: np.abs(a) * np.where(b < 0, -1.0, 1.0),
                 _signed_away_from_zero, _signed_away_from_zero),
    "fmod": (ag.fmod, lambda a, b: a - np.trunc(a / b) * b, _quotient_numerator,
             _quotient_denominator),
    "fmax": (ag.fmax, np.maximum, _normal, _normal),  # no NaN or ties in these samples
    "fmin": (ag.fmin, np.minimum, _normal, _normal),
    "lerp": (lambda a, b: ag.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a), _normal, _normal),
    "lerp weight": (lambda a, w: ag.lerp(a, 2.0, w), lambda a, w: a + w * (2.0 - a), _normal,
                    _normal),
    "floor_divide": (lambda a, b: a // b, lambda a, b: np.floor(a / b), _quotient_numerator,
                     _quotient_denominator),
    "div floor": (lambda a, b: ag.div(a, b, rounding_mode="floor"), lambda a, b: np.floor(a / b),
                  _quotient_numerator, _quotient_denominator),
    "trunc_divide": (lambda a, b: ag.div(a, b, rounding_mode="trunc"),
                     lambda a, b: np.trunc(a / b), _quotient_numerator, _quotient_denominator),
}


def _check(f_ag, f_np, inputs, rng, atol=1e-6, rtol=1e-5):
    """Compare autograd's gradient of sum(f(inputs) * W) with finite differences, per input."""
    out_shape = np.shape(f_np(*inputs))
    weights = rng.normal(size=out_shape)
    tensors = [ag.Tensor(x, requires_grad=True) for x in inputs]
    out = f_ag(*tensors)
    assert out.shape == out_shape
    np.testing.assert_allclose(out.data, f_np(*inputs), rtol=1e-12, atol=1e-12)
    (out * weights).sum().backward()

    def loss(*xs):
        return np.sum(f_np(*xs) * weights)

    for i, t in enumerate(tensors):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.data.shape
        assert t.grad.dtype == t.data.dtype
        expected = numeric_grad(loss, list(inputs), i)
        np.testing.assert_allclose(t.grad, expected, atol=atol, rtol=rtol, err_msg=f"input {i}")


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", PAIRS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_binary_op_gradients_broadcast(name, shapes, rng):
    f_ag, f_np, sample_a, sample_b = BINARY[name]
    a, b = sample_a(rng, shapes[0]), sample_b(rng, shapes[1])
    _check(f_ag, f_np, [a, b], rng)


@pytest.mark.parametrize("shapes", PAIRS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_where_gradients_broadcast(shapes, rng):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    cond = rng.random(np.broadcast_shapes(shapes[0], shapes[1])) > 0.5
    _check(lambda x, y: ag.where(cond, x, y), lambda x, y: np.where(cond, x, y), [a, b], rng)


UNARY = {
    "exp": (ag.exp, np.exp, _normal),
    "log": (ag.log, np.log, _positive),
    "log1p": (ag.log1p, np.log1p, _positive),
    "sqrt": (ag.sqrt, np.sqrt, _positive),
    "abs": (ag.abs, np.abs, _signed_away_from_zero),
    "neg": (lambda x: -x, np.negative, _normal),
    "tanh": (ag.tanh, np.tanh, _normal),
    "sigmoid": (ag.sigmoid, _sigmoid_ref, _normal),
    "relu": (ag.relu, lambda x: np.maximum(x, 0), _signed_away_from_zero),
    "clip": (lambda x: ag.clip(x, -1.0, 1.0), lambda x: np.clip(x, -1, 1), _signed_away_from_zero),
    "pow2": (lambda x: x ** 2, np.square, _normal),
    "square": (ag.square, np.square, _normal),
    "sin": (ag.sin, np.sin, _normal),
    "cos": (ag.cos, np.cos, _normal),
    "tan": (ag.tan, np.tan, lambda rng, shape: rng.uniform(-1.2, 1.2, size=shape)),
    "exp2": (ag.exp2, np.exp2, _normal),
    "log2": (ag.log2, np.log2, _positive),
    "sign": (ag.sign, np.sign, _signed_away_from_zero),
    "rdiv": (lambda x: 1.0 / x, lambda x: 1.0 / x, _signed_away_from_zero),
    "rsub": (lambda x: 3.0 - x, lambda x: 3.0 - x, _normal),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, _normal),
    "rmod": (lambda x: 5.0 % x, lambda x: 5.0 % x,  # 5 / x stays between 2 and 3 (no jump)
             lambda rng, shape: rng.uniform(1.8, 2.4, size=shape) * rng.choice([-1.0, 1.0],
                                                                               size=shape)),
    "arcsin": (ag.arcsin, np.arcsin, _in_unit),
    "arccos": (ag.arccos, np.arccos, _in_unit),
    "arctan": (ag.arctan, np.arctan, _normal),
    "sinh": (ag.sinh, np.sinh, _normal),
    "cosh": (ag.cosh, np.cosh, _normal),
    "log10": (ag.log10, np.log10, _positive),
    "expm1": (ag.expm1, np.expm1, _normal),
    "reciprocal": (ag.reciprocal, lambda x: 1 / x, _signed_away_from_zero),
    "rsqrt": (ag.rsqrt, lambda x: 1 / np.sqrt(x), _positive),
    "erf": (ag.erf, _erf_ref, _normal),
    "erfc": (ag.erfc, _erfc_ref, _normal),
    "floor": (ag.floor, np.floor, _off_grid),
    "ceil": (ag.ceil, np.ceil, _off_grid),
    "trunc": (ag.trunc, np.trunc, _off_grid),
    "round": (ag.round, np.round, _off_grid),
    "leaky_relu": (lambda x: ag.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                   _signed_away_from_zero),
    "elu": (lambda x: ag.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)),
            _signed_away_from_zero),
    "softplus": (ag.softplus, lambda x: np.log(1 + np.exp(x)), _normal),
    "softplus beta": (lambda x: ag.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: np.where(2 * x > 3, x, np.log(1 + np.exp(2 * x)) / 2),
                      _away_from(1.5)),
    "hardtanh": (lambda x: ag.hardtanh(x, -2.0, 3.0), lambda x: np.clip(x, -2, 3),
                 _away_from(-2.0, 3.0)),
    "relu6": (ag.relu6, lambda x: np.clip(x, 0, 6), _away_from(0.0, 6.0)),
    "gelu": (ag.gelu, _gelu_ref, _normal),
    "gelu tanh": (lambda x: ag.gelu(x, approximate="tanh"), _gelu_tanh_ref, _normal),
    "silu": (ag.silu, lambda x: x / (1 + np.exp(-x)), _normal),
    "softsign": (ag.softsign, lambda x: x / (1 + np.abs(x)), _signed_away_from_zero),
    "standardize": (ag.standardize, lambda x: (x - x.mean()) / np.sqrt(x.var() + 1e-5), _normal),
    "arcsinh": (ag.arcsinh, lambda x: np.log(x + np.sqrt(x * x + 1)), _normal),
    "arccosh": (ag.arccosh, lambda x: np.log(x + np.sqrt(x * x - 1)), _above_one),
    "arctanh": (ag.arctanh, lambda x: 0.5 * np.log((1 + x) / (1 - x)), _in_unit),
    "deg2rad": (ag.deg2rad, lambda x: x / 180.0 * np.pi, _normal),
    "radians": (ag.radians, lambda x: x / 180.0 * np.pi, _normal),
    "rad2deg": (ag.rad2deg, lambda x: x / np.pi * 180.0, _normal),
    "degrees": (ag.degrees, lambda x: x / np.pi * 180.0, _normal),
    "sinc": (ag.sinc, lambda x: np.sin(np.pi * x) / (np.pi * x), _signed_away_from_zero),
    "nan_to_num": (lambda x: ag.nan_to_num(ag.where(x > 1.5, np.inf, ag.where(x < -1.5, np.nan, x)),
                                           nan=3.0, posinf=7.0),
                   lambda x: np.where(x > 1.5, 7.0, np.where(x < -1.5, 3.0, x)),
                   _away_from(-1.5, 1.5)),
    "rfloordiv": (lambda x: 7.0 // x, lambda x: np.floor(7.0 / x),  # 7 / x in (3.2, 3.5)
                  lambda rng, shape: rng.uniform(2.0, 2.2, size=shape)),
    "hardsigmoid": (ag.hardsigmoid, lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
                    _away_from(-3.0, 3.0)),
    "hardswish": (ag.hardswish, lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
                  _away_from(-3.0, 3.0)),
    "mish": (ag.mish, lambda x: x * np.tanh(np.log(1 + np.exp(x))), _normal),
    "selu": (ag.selu, lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * (np.exp(x) - 1)),
             _signed_away_from_zero),
    "celu": (lambda x: ag.celu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x / 1.5) - 1)),
             _signed_away_from_zero),
    "logsigmoid": (ag.logsigmoid, lambda x: -np.log(1 + np.exp(-x)), _normal),
    "softmin": (ag.softmin, lambda x: np.exp(-x) / np.exp(-x).sum(axis=-1, keepdims=True),
                _normal),
    "quick_gelu": (ag.quick_gelu, lambda x: x / (1 + np.exp(-1.702 * x)), _normal),
    "logcumsumexp last": (lambda x: ag.logcumsumexp(x, -1),
                          lambda x: np.logaddexp.accumulate(np.atleast_1d(x), -1), _normal),
    "cummax last": (lambda x: ag.cummax(x, -1).values,
                    lambda x: np.maximum.accumulate(np.atleast_1d(x), -1), _normal),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_op_gradients(name, shape, rng):
    f_ag, f_np, sample = UNARY[name]
    _check(f_ag, f_np, [sample(rng, shape)], rng)


def _axes_for(shape):
    yield None
    for ax in range(len(shape)):
        yield ax
        yield ax - len(shape)
    if len(shape) >= 2:
        yield (0, len(shape) - 1)


REDUCTIONS = {
    "sum": (ag.sum, np.sum),
    "mean": (ag.mean, np.mean),
    "max": (ag.max, np.max),
    "min": (ag.min, np.min),
    "prod": (ag.prod, np.prod),
    "var": (ag.var, np.var),
    "std": (ag.std, np.std),
    "norm": (ag.norm, lambda x, axis=None, keepdims=False: np.sqrt(
        np.sum(x * x, axis=axis, keepdims=keepdims))),
    "logsumexp": (
        ag.logsumexp,
        lambda x, axis=None, keepdims=False: np.log(
            np.sum(np.exp(x), axis=axis, keepdims=keepdims)
        ),
    ),
}


def _flat_scan(accumulate):
    """A NumPy running op as the scans take axis: None (or a 0-d input) scans the flattened."""
    def scan(a, axis=None):
        if axis is None or a.ndim == 0:
            return accumulate(np.reshape(a, -1), axis=0)
        return accumulate(a, axis=axis)

    return scan


SCANS = {"cumsum": (ag.cumsum, np.cumsum), "cumprod": (ag.cumprod, np.cumprod),
         "logcumsumexp": (ag.logcumsumexp, _flat_scan(np.logaddexp.accumulate)),
         "cummax": (lambda x, axis=None: ag.cummax(x, axis).values,
                    _flat_scan(np.maximum.accumulate)),
         "cummin": (lambda x, axis=None: ag.cummin(x, axis).values,
                    _flat_scan(np.minimum.accumulate))}


@pytest.mark.parametrize("name", sorted(SCANS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scan_gradients(name, shape, rng):
    f_ag, f_np = SCANS[name]
    x = rng.normal(size=shape)
    for axis in [None, *range(-len(shape), len(shape))]:
        _check(lambda t, axis=axis: f_ag(t, axis), lambda a, axis=axis: f_np(a, axis=axis),
               [x], rng)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=str)
def test_products_with_zeros_have_exact_gradients(shape, rng):
    x = rng.normal(size=shape)
    x.reshape(-1)[[1, 3]] = 0.0  # one zero or two in a slice: both cases of the rule
    for axis in [None, *range(len(shape))]:
        _check(lambda t, axis=axis: ag.prod(t, axis=axis), lambda a, axis=axis: np.prod(a, axis),
               [x], rng)
        if axis is not None:
            _check(lambda t, axis=axis: ag.cumprod(t, axis), lambda a, axis=axis: np.cumprod(
                a, axis), [x], rng)


@pytest.mark.parametrize("ddof", [1, 2])
def test_var_and_std_with_ddof(ddof, rng):
    x = rng.normal(size=(4, 5))
    for axis in (None, 0, 1, (0, 1)):
        for f_ag, f_np in ((ag.var, np.var), (ag.std, np.std)):
            _check(lambda t, a=axis, f=f_ag: f(t, a, ddof),
                   lambda v, a=axis, f=f_np: f(v, a, ddof=ddof), [x], rng)


def test_norm_orders_and_extremes(rng):
    x = rng.normal(size=(3, 4))
    for ord_ in (1, 3, np.inf, -np.inf, 2):
        _check(lambda t, o=ord_: ag.norm(t, o, axis=1),
               lambda a, o=ord_: np.linalg.norm(a, o, axis=1), [x], rng)
    _check(lambda t: ag.norm(t, "fro"), lambda a: np.linalg.norm(a, "fro"), [x], rng)
    big = np.array([3e200, 4e200])
    assert ag.norm(big).item() == pytest.approx(5e200, rel=1e-15)
    np.testing.assert_array_equal(ag.grad(lambda t: ag.norm(t))(np.zeros(3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"norm: ord=2 over 2 axes is a matrix norm"):
        ag.norm(x, 2)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_gradients(name, shape, keepdims, rng):
    f_ag, f_np = REDUCTIONS[name]
    x = rng.normal(size=shape)
    for axis in _axes_for(shape):
        _check(
            lambda t, axis=axis: f_ag(t, axis=axis, keepdims=keepdims),
            lambda a, axis=axis: f_np(a, axis=axis, keepdims=keepdims),
            [x], rng,
        )


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s], ids=str)
def test_softmax_and_log_softmax_gradients(shape, rng):
    x = rng.normal(size=shape)
    for axis in range(-len(shape), len(shape)):
        _check(lambda t, ax=axis: ag.softmax(t, axis=ax), lambda a, ax=axis: _softmax_ref(a, ax),
               [x], rng)
        _check(lambda t, ax=axis: ag.log_softmax(t, axis=ax),
               lambda a, ax=axis: np.log(_softmax_ref(a, ax)), [x], rng)


MATMUL_SHAPES = [
    ((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
    ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradients(shapes, rng):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    _check(lambda x, y: x @ y, np.matmul, [a, b], rng)
    _check(ag.matmul, np.matmul, [a, b], rng)


@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if max(map(len, s)) <= 2], ids=str)
def test_dot_gradients(shapes, rng):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    _check(ag.dot, np.dot, [a, b], rng)
    _check(lambda x, y: x.dot(y), np.dot, [a, b], rng)


def test_dot_with_scalar_is_a_product(rng):
    a, b = rng.normal(size=()), rng.normal(size=(3,))
    _check(ag.dot, np.dot, [a, b], rng)


@pytest.mark.parametrize(
    "index",
    [0, -1, slice(1, 3), (slice(None), 2), (1, slice(None, None, -1)), np.array([0, 2, 2, 1]),
     (np.array([0, 1, 1]), np.array([3, 3, 0])), (Ellipsis, None, 1),
     np.array([True, False, True])],
    ids=str,
)
def test_getitem_gradients_accumulate_repeats(index, rng):
    x = rng.normal(size=(3, 4))
    _check(lambda t: t[index], lambda a: a[index], [x], rng)


def test_getitem_repeated_index_counts_twice():
    x = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


_IDX = np.random.default_rng(7).integers(0, 4, size=(2, 3, 5))
_SIGNS = np.arange(2 * 2 * 3 * 2).reshape(2, 2, 3, 2) % 3 - 1.0

SHAPE_OPS = {  # on a (2, 3, 4) input
    "reshape": (lambda t: t.reshape(4, 6), lambda a: a.reshape(4, 6)),
    "reshape -1": (lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    "T": (lambda t: t.T, lambda a: a.T),
    "transpose": (lambda t: t.transpose(1, 2, 0), lambda a: a.transpose(1, 2, 0)),
    "swapaxes": (lambda t: ag.swapaxes(t, 0, 2), lambda a: np.swapaxes(a, 0, 2)),
    "expand_dims": (lambda t: ag.expand_dims(t, 1), lambda a: np.expand_dims(a, 1)),
    "broadcast_to": (lambda t: ag.broadcast_to(t, (5, 2, 3, 4)),
                     lambda a: np.broadcast_to(a, (5, 2, 3, 4))),
    "sum_to": (lambda t: ag.sum_to(t, (3, 1)), lambda a: a.sum(axis=0).sum(axis=1, keepdims=True)),
    "scatter_add": (lambda t: ag.scatter_add(t, (slice(None), 1), (2, 5, 3, 4)),
                    lambda a: np.stack([np.zeros_like(a), a, *[np.zeros_like(a)] * 3], axis=1)),
    "pad": (lambda t: ag.pad(t, ((0, 1), (2, 0), (1, 1)), constant_values=3.0),
            lambda a: np.pad(a, ((0, 1), (2, 0), (1, 1)), constant_values=3.0)),
    "pad reflect": (lambda t: ag.pad(t, ((1, 1), (0, 2), (3, 1)), mode="reflect"),
                    lambda a: np.pad(a, ((1, 1), (0, 2), (3, 1)), mode="reflect")),
    "pad edge": (lambda t: ag.pad(t, 2, mode="edge"), lambda a: np.pad(a, 2, mode="edge")),
    "pad wrap": (lambda t: ag.pad(t, ((0, 0), (1, 4), (2, 2)), mode="wrap"),
                 lambda a: np.pad(a, ((0, 0), (1, 4), (2, 2)), mode="wrap")),
    "pad symmetric": (lambda t: ag.pad(t, ((0, 1), (2, 2), (0, 0)), mode="symmetric"),
                      lambda a: np.pad(a, ((0, 1), (2, 2), (0, 0)), mode="symmetric")),
    "squeeze": (lambda t: ag.squeeze(t[:, :1, None]), lambda a: np.squeeze(a[:, :1, None])),
    "squeeze axis": (lambda t: t[:1].squeeze(0), lambda a: a[:1].squeeze(0)),
    "unsqueeze": (lambda t: t.unsqueeze(-1), lambda a: a[..., None]),
    "flatten": (lambda t: ag.flatten(t, 1), lambda a: a.reshape(2, 12)),
    "flatten method": (lambda t: t.flatten(), lambda a: a.flatten()),
    "ravel": (lambda t: t.ravel(), np.ravel),
    "moveaxis": (lambda t: ag.moveaxis(t, [0, 1], [2, 0]),
                 lambda a: np.moveaxis(a, [0, 1], [2, 0])),
    "flip": (lambda t: ag.flip(t, 1), lambda a: np.flip(a, 1)),
    "flip all": (lambda t: t.flip(), np.flip),
    "roll": (lambda t: ag.roll(t, (1, -2), (0, 2)), lambda a: np.roll(a, (1, -2), (0, 2))),
    "roll flat": (lambda t: ag.roll(t, 5), lambda a: np.roll(a, 5)),
    "tile": (lambda t: ag.tile(t, (2, 1, 1, 3)), lambda a: np.tile(a, (2, 1, 1, 3))),
    "repeat": (lambda t: ag.repeat(t, [1, 0, 3], axis=1), lambda a: np.repeat(a, [1, 0, 3], 1)),
    "repeat flat": (lambda t: t.repeat(2), lambda a: a.repeat(2)),
    "take_along_axis": (lambda t: ag.take_along_axis(t, _IDX, axis=2),
                        lambda a: np.take_along_axis(a, _IDX, axis=2)),
    "gather": (lambda t: ag.gather(t, 1, _IDX[:, :2, :3] % 3),
               lambda a: np.take_along_axis(a[:, :, :3], _IDX[:, :2, :3] % 3, axis=1)),
    "split": (lambda t: ag.stack(ag.split(t, 2, axis=2)) * _SIGNS,
              lambda a: np.stack(np.split(a, 2, axis=2)) * _SIGNS),
    "array_split": (lambda t: ag.concatenate(ag.array_split(t, 3, axis=2)[::-1], axis=2),
                    lambda a: np.concatenate(np.array_split(a, 3, axis=2)[::-1], axis=2)),
    "hsplit": (lambda t: ag.hsplit(t, [1])[1], lambda a: np.hsplit(a, [1])[1]),
    "vsplit": (lambda t: ag.vsplit(t, 2)[0], lambda a: np.vsplit(a, 2)[0]),
    "hstack": (lambda t: ag.hstack([t, t[:, :1] * 2]), lambda a: np.hstack([a, a[:, :1] * 2])),
    "hstack 1-D": (lambda t: ag.hstack([t[0, 0], t[1, 1]]),
                   lambda a: np.hstack([a[0, 0], a[1, 1]])),
    "vstack": (lambda t: ag.vstack([t[0], t[1, 0]]), lambda a: np.vstack([a[0], a[1, 0]])),
    "einsum": (lambda t: ag.einsum("abc,cd,b->da", t, t[0].T, t[1, :, 0]),
               lambda a: np.einsum("abc,cd,b->da", a, a[0].T, a[1, :, 0])),
    "einsum implicit": (lambda t: ag.einsum("ijk,ilk", t, t), lambda a: np.einsum("ijk,ilk", a, a)),
    "einsum sum out": (lambda t: ag.einsum("ijk->j", t), lambda a: np.einsum("ijk->j", a)),
    "einsum ellipsis": (lambda t: ag.einsum("...j,jk->...k", t, t[0].T),
                        lambda a: np.einsum("...j,jk->...k", a, a[0].T)),
    "einsum diagonal": (lambda t: ag.einsum("iji,jk->ijk", t[:, :, :2], t[0]),
                        lambda a: np.einsum("iji,jk->ijk", a[:, :, :2], a[0])),
    "einsum trace": (lambda t: ag.einsum("ii", t[0, :, :3]),
                     lambda a: np.einsum("ii", a[0, :, :3])),
    "tensordot": (lambda t: ag.tensordot(t, t[0], axes=([1, 2], [0, 1])),
                  lambda a: np.tensordot(a, a[0], axes=([1, 2], [0, 1]))),
    "tensordot int": (lambda t: ag.tensordot(t, t[0].T, 1),
                      lambda a: np.tensordot(a, a[0].T, 1)),
    "outer": (lambda t: ag.outer(t[0], t[1, 0]), lambda a: np.outer(a[0], a[1, 0])),
    "diagonal": (lambda t: t.diagonal(1, 1, 2), lambda a: a.diagonal(1, 1, 2)),
    "trace": (lambda t: ag.trace(t, -1, 0, 1), lambda a: np.trace(a, -1, 0, 1)),
    "diag": (lambda t: ag.diag(t[0], 1), lambda a: np.diag(a[0], 1)),
    "diag of vector": (lambda t: ag.diag(t[0, 0], -2), lambda a: np.diag(a[0, 0], -2)),
    "tril": (lambda t: ag.tril(t, -1), lambda a: np.tril(a, -1)),
    "triu": (lambda t: ag.triu(t, 1), lambda a: np.triu(a, 1)),
    "diff": (lambda t: ag.diff(t, 2, axis=1, append=t[:, :1] * 3),
             lambda a: np.diff(a, 2, axis=1, append=a[:, :1] * 3)),
    "gradient": (lambda t: ag.stack(ag.gradient(t, [0.0, 1.0, 3.0], 2.0, axis=(1, 2),
                                                edge_order=2)),
                 lambda a: np.stack(np.gradient(a, [0.0, 1.0, 3.0], 2.0, axis=(1, 2),
                                                edge_order=2))),
    "gradient order 1": (lambda t: ag.stack(ag.gradient(t, 0.5)),
                         lambda a: np.stack(np.gradient(a, 0.5))),
    "cross": (lambda t: ag.cross(t[:, :, 1:], t[1, 0, :3], axis=-1),
              lambda a: np.cross(a[:, :, 1:], a[1, 0, :3], axis=-1)),
    "inner": (lambda t: ag.inner(t, t[0]), lambda a: np.inner(a, a[0])),
    "kron": (lambda t: ag.kron(t[0], t[1, :2]), lambda a: np.kron(a[0], a[1, :2])),
    "linspace": (lambda t: ag.linspace(t[0], t[1], 5, axis=1),
                 lambda a: np.linspace(a[0], a[1], 5, axis=1)),
    "normalize": (lambda t: ag.normalize(t, 3.0, axis=2),
                  lambda a: a / np.maximum(np.sum(np.abs(a) ** 3, axis=2, keepdims=True) ** (1 / 3),
                                           1e-12)),
    "view": (lambda t: t.view(4, -1), lambda a: a.reshape(4, -1)),
    "einsum broadcast": (lambda t: ag.einsum("...ij,...jk->...ik", t[:, None],
                                             ag.swapaxes(t[:1], 1, 2)),
                         lambda a: np.einsum("...ij,...jk->...ik", a[:, None],
                                             np.swapaxes(a[:1], 1, 2))),
    "standardize axes": (lambda t: ag.standardize(t, axis=(0, 2), eps=0.1),
                         lambda a: (a - a.mean((0, 2), keepdims=True)) / np.sqrt(
                             a.var((0, 2), keepdims=True) + 0.1)),
}
# the array ops' rows live with their own tests (joining, scatter and masks, sorting)
for _module in (test_ops_joining, test_ops_scatter, test_ops_sorting):
    SHAPE_OPS.update(_module.SHAPE_ROWS)


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_gradients(name, rng):
    f_ag, f_np = SHAPE_OPS[name]
    _check(f_ag, f_np, [rng.normal(size=(2, 3, 4))], rng)


# rows indexing by integer Tensors (vmap's per-example indexing runs them; compile refuses vmap)
_PICK = np.array([[2, 0], [1, 1]])
INDEX_TENSOR_OPS = {  # on a (2, 3, 4) input
    "take_index": (lambda t: prims.take_index(t, ag.Tensor(_PICK), template=(slice(None), SLOT)),
                   lambda a: a[:, _PICK]),
    "put_add": (lambda t: prims.put_add(t, ag.Tensor(np.array([1, 1])), template=(SLOT,),
                                        shape=(3, 3, 4)),  # a repeated index accumulates
                lambda a: _put_reference(a)),
}


def _put_reference(a):
    out = np.zeros((3, 3, 4))
    np.add.at(out, np.array([1, 1]), a)
    return out


@pytest.mark.parametrize("name", sorted(INDEX_TENSOR_OPS))
def test_index_tensor_op_gradients(name, rng):
    f_ag, f_np = INDEX_TENSOR_OPS[name]
    _check(f_ag, f_np, [rng.normal(size=(2, 3, 4))], rng)


# rows whose result has no gradient (indices, booleans): name -> (function, NumPy reference)
NO_GRADIENT = {
    "argmax": (lambda x: ag.argmax(x, axis=2), lambda x: np.argmax(x, axis=2)),
    "argmin": (lambda x: x.argmin(keepdims=True), lambda x: x.argmin(keepdims=True)),
    "all": (lambda x: ag.all(x > 0, axis=(0, 3)), lambda x: np.all(x > 0, axis=(0, 3))),
    "any": (lambda x: (x > 1).any(1), lambda x: (x > 1).any(1)),
    # astype to an integer or bool dtype: recorded without gradient (compile reads each call's)
    "cast": (lambda x: ag.astype(x * 3, np.int32), lambda x: (x * 3).astype(np.int32)),
    "max_pool2d_indices": (
        lambda x: ag.max_pool2d_indices(x, 2),
        lambda x: np.arange(x.size).reshape(x.shape)[:, :, :4, :4].reshape(2, 3, 2, 2, 2, 2)
        .transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 4)[
            tuple(np.indices((2, 3, 2, 2))) + (x[:, :, :4, :4].reshape(2, 3, 2, 2, 2, 2)
                                               .transpose(0, 1, 2, 4, 3, 5)
                                               .reshape(2, 3, 2, 2, 4).argmax(axis=-1),)]),
    "cummax_indices": (lambda x: ag.cummax(x, 2).indices,
                       lambda x: np.maximum.accumulate(
                           np.where(x == np.maximum.accumulate(x, 2),
                                    np.arange(5).reshape(5, 1), 0), 2)),
    "cummin_indices": (lambda x: ag.cummin(x).indices,
                       lambda x: np.maximum.accumulate(np.where(
                           x.reshape(-1) == np.minimum.accumulate(x.reshape(-1)),
                           np.arange(x.size), 0))),
    "isnan": (lambda x: ag.isnan(ag.where(x > 1, np.nan, x)), lambda x: x > 1),
    "isinf": (lambda x: ag.isinf(ag.where(x > 1, np.inf, ag.where(x < -1, -np.inf, x))),
              lambda x: np.abs(x) > 1),
    "isfinite": (lambda x: x.isfinite() & ag.isfinite(ag.where(x > 1, np.nan, x)),
                 lambda x: x <= 1),
    "invert": (lambda x: ~(x > 0), lambda x: x <= 0),
    "logical_not": (lambda x: ag.logical_not(x > 0), lambda x: x <= 0),
    "bitwise_and": (lambda x: (x > 0) & (x < 1), lambda x: (x > 0) & (x < 1)),
    "bitwise_or": (lambda x: (x > 1) | (x < -1), lambda x: np.abs(x) > 1),
    "bitwise_xor": (lambda x: (x > 0) ^ (x > 1), lambda x: (x > 0) & (x <= 1)),
    "left_shift": (lambda x: (x > 0).astype(np.int64) << 3, lambda x: np.where(x > 0, 8, 0)),
    "right_shift": (lambda x: 1000 >> (x > 0).astype(np.int64),
                    lambda x: np.where(x > 0, 500, 1000)),
}
for _module in (test_ops_scatter, test_ops_sorting):
    NO_GRADIENT.update(_module.NO_GRADIENT_ROWS)


@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_rows_without_gradient(name, rng):
    f_ag, f_np = NO_GRADIENT[name]
    x = rng.normal(size=(2, 3, 5, 4))
    out = f_ag(ag.Tensor(x, requires_grad=True))
    np.testing.assert_array_equal(out.data, f_np(x))
    assert not out.requires_grad and out.is_leaf


COMPARISONS = {
    "equal": (lambda a, b: a == b, np.equal), "not_equal": (lambda a, b: a != b, np.not_equal),
    "less": (lambda a, b: a < b, np.less), "less_equal": (lambda a, b: a <= b, np.less_equal),
    "greater": (lambda a, b: a > b, np.greater),
    "greater_equal": (lambda a, b: a >= b, np.greater_equal),
    "isclose": (ag.isclose, lambda a, b: np.abs(a - b) <= 1e-8 + 1e-5 * np.abs(b)),
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_have_no_gradient(name, rng):
    f_ag, f_np = COMPARISONS[name]
    a = rng.integers(0, 3, size=(3, 4)).astype(float)
    b = rng.integers(0, 3, size=(4,)).astype(float)
    out = f_ag(ag.Tensor(a, requires_grad=True), b)
    np.testing.assert_array_equal(out.data, f_np(a, b))
    assert out.dtype == np.bool_ and not out.requires_grad and out.is_leaf
    assert getattr(ag, name)(a, b).dtype == np.bool_  # also a public function


# name -> (autograd function, slow NumPy reference, input shapes); NCHW, PyTorch's weight layout
_POOLED = np.random.default_rng(7).normal(size=(2, 3, 4, 5))  # where max_pool2d_route routes to
_UNPOOL_AT = (np.random.default_rng(8).permutation(24)[:6] % 24).reshape(1, 1, 2, 3).repeat(
    2, 0).repeat(3, 1)  # distinct places in each (4, 6) plane
CONV = {
    "conv2d": (lambda x, w: ag.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2)),
               lambda x, w: ref.conv2d(x, w, (2, 1), 1, (1, 2)), [(2, 3, 6, 7), (4, 3, 3, 2)]),
    "conv2d groups": (lambda x, w: ag.conv2d(x, w, groups=2, padding=(0, 1)),
                      lambda x, w: ref.conv2d(x, w, 1, (0, 1), 1, 2), [(2, 4, 5, 5), (6, 2, 2, 3)]),
    "conv2d bias": (lambda x, w, b: ag.conv2d(x, w, b, stride=2),
                    lambda x, w, b: ref.conv2d(x, w, 2) + b.reshape(1, -1, 1, 1),
                    [(1, 2, 5, 6), (3, 2, 3, 3), (3,)]),
    "conv_transpose2d": (
        lambda y, w: ag.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1),
        lambda y, w: ref.conv_transpose2d(y, w, 2, 1, 1), [(2, 3, 3, 4), (3, 2, 3, 2)]),
    "conv_transpose2d groups": (
        lambda y, w: ag.conv_transpose2d(y, w, groups=2, dilation=2),
        lambda y, w: ref.conv_transpose2d(y, w, 1, 0, 0, 2, 2), [(1, 4, 3, 3), (4, 1, 2, 2)]),
    "conv2d_weight": (
        lambda x, gy: ag.conv2d_weight(x, gy, kernel=(2, 3), stride=2, padding=1),
        lambda x, gy: np.stack([np.stack([(ref.conv2d(x[:, [c]], np.eye(6).reshape(6, 1, 2, 3),
                                                      2, 1) * gy[:, [o]]).sum(axis=(0, 2, 3))
                                          .reshape(2, 3) for c in range(2)]) for o in range(3)]),
        [(2, 2, 5, 5), (2, 3, 3, 3)]),
    "max_pool2d": (lambda x: ag.max_pool2d(x, 2), lambda x: ref.pool2d(x, 2), [(2, 3, 5, 4)]),
    "max_pool2d_route": (  # max_pool2d's backward, linear in the gradient it routes
        lambda g: ag.ops.prims.max_pool2d_route(g, _POOLED, kernel=(2, 2), stride=(2, 2),
                                                padding=(0, 0), dilation=(1, 1)),
        lambda g: ref.max_pool_route(g, _POOLED, 2), [(2, 3, 2, 2)]),
    "max_pool2d overlapping": (lambda x: ag.max_pool2d(x, 3, stride=2, padding=1),
                               lambda x: ref.pool2d(x, 3, 2, 1), [(2, 2, 6, 5)]),
    "avg_pool2d": (lambda x: ag.avg_pool2d(x, (2, 3), stride=1, padding=1),
                   lambda x: ref.pool2d(x, (2, 3), 1, 1, np.mean, 0.0), [(2, 2, 4, 5)]),
    # 1-D and 3-D (the same kernels), ceil_mode and padding per side (F.pad's order)
    "conv1d": (lambda x, w: ag.conv1d(x, w, stride=2, padding=1, dilation=2),
               lambda x, w: ref.convnd(x, w, 2, 1, 2), [(2, 3, 9), (4, 3, 3)]),
    "conv3d": (lambda x, w: ag.conv3d(x, w, stride=(1, 2, 1), padding=(1, 0, 1), groups=2),
               lambda x, w: ref.convnd(x, w, (1, 2, 1), (1, 0, 1), 1, 2),
               [(1, 4, 4, 5, 3), (2, 2, 2, 3, 2)]),
    "conv2d asymmetric padding": (
        lambda x, w: ag.conv2d(x, w, padding=(1, 0, 2, 1)),
        lambda x, w: ref.conv2d(np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 0))), w),
        [(1, 2, 4, 5), (3, 2, 3, 2)]),
    "conv_transpose1d": (lambda y, w: ag.conv_transpose1d(y, w, stride=3, padding=1),
                         lambda y, w: ref.conv_transpose_nd(y, w, 3, 1), [(2, 2, 4), (2, 3, 3)]),
    "conv_transpose3d": (
        lambda y, w: ag.conv_transpose3d(y, w, stride=(2, 1, 2), output_padding=(1, 0, 0),
                                         groups=2),
        lambda y, w: ref.conv_transpose_nd(y, w, (2, 1, 2), 0, (1, 0, 0), 2),
        [(1, 4, 2, 3, 2), (4, 1, 2, 2, 2)]),
    "conv1d_weight": (
        lambda x, gy: ag.conv1d_weight(x, gy, kernel=3, stride=2, padding=1),
        lambda x, gy: ref.conv_weight_nd(x, gy, (3,), 2, 1), [(2, 2, 7), (2, 3, 4)]),
    "conv3d_weight": (
        lambda x, gy: ag.conv3d_weight(x, gy, kernel=(2, 1, 2), dilation=(1, 1, 2), groups=2),
        lambda x, gy: ref.conv_weight_nd(x, gy, (2, 1, 2), 1, 0, (1, 1, 2), 2),
        [(1, 4, 3, 2, 4), (1, 2, 2, 2, 2)]),
    "max_pool1d": (lambda x: ag.max_pool1d(x, 3, 2, 1, ceil_mode=True),
                   lambda x: ref.poolnd(x, 3, 2, 1, ceil_mode=True), [(2, 3, 8)]),
    "max_pool3d": (lambda x: ag.max_pool3d(x, 2, (1, 2, 2), 1),
                   lambda x: ref.poolnd(x, 2, (1, 2, 2), 1), [(1, 2, 3, 4, 5)]),
    "max_pool2d ceil_mode": (lambda x: ag.max_pool2d(x, 2, ceil_mode=True),
                             lambda x: ref.poolnd(x, 2, ceil_mode=True), [(2, 2, 5, 3)]),
    "max_pool2d padding per side": (
        lambda x: ag.max_pool2d(x, 3, 2, padding=(0, 1, 1, 0)),
        lambda x: ref.poolnd(np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 1)), constant_values=-np.inf),
                             3, 2), [(1, 2, 6, 5)]),
    "avg_pool1d": (lambda x: ag.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
                   lambda x: ref.poolnd(x, 3, 2, 1, np.sum, 0.0, count=lambda a, b: min(
                       b[0], 7) - max(a[0], 0)), [(2, 3, 7)]),
    "avg_pool3d": (lambda x: ag.avg_pool3d(x, 2, 1, ceil_mode=True),
                   lambda x: ref.poolnd(x, 2, 1, 0, np.mean, 0.0, ceil_mode=True),
                   [(1, 2, 3, 3, 4)]),
    "unfold": (lambda x: ag.unfold(x, 3, padding=1, stride=2),
               lambda x: ref.unfold(x, 3, 2, 1), [(2, 2, 5, 6)]),
    "max_unpool2d": (lambda x: ag.max_unpool2d(x, _UNPOOL_AT, 2),
                     lambda x: ref.max_unpool2d(x, _UNPOOL_AT, (4, 6)), [(2, 3, 2, 3)]),
    "interpolate nearest": (lambda x: ag.interpolate(x, size=(5, 3)),
                            lambda x: x[:, :, [0, 0, 1, 2, 3]][:, :, :, [0, 1, 3]],
                            [(2, 2, 4, 5)]),
    "interpolate bilinear": (
        lambda x: ag.interpolate(x, size=(6, 4), mode="bilinear", align_corners=False),
        lambda x: ref.bilinear(x, (6, 4), False), [(1, 2, 4, 5)]),
    "interpolate bilinear align_corners": (
        lambda x: ag.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True),
        lambda x: ref.bilinear(x, (4, 7), True), [(1, 2, 3, 5)]),
    "adaptive_avg_pool2d": (lambda x: ag.adaptive_avg_pool2d(x, (3, 2)),
                            lambda x: ref.adaptive_pool2d(x, (3, 2), np.mean), [(2, 2, 5, 7)]),
    "adaptive_max_pool2d": (lambda x: ag.adaptive_max_pool2d(x, (3, 4)),
                            lambda x: ref.adaptive_pool2d(x, (3, 4), np.max), [(2, 2, 5, 7)]),
    "adaptive_avg_pool1d": (
        lambda x: ag.adaptive_avg_pool1d(x, 4),
        lambda x: ref.adaptive_pool2d(x[:, :, None], (1, 4), np.mean)[:, :, 0], [(2, 3, 7)]),
    "adaptive_max_pool1d": (
        lambda x: ag.adaptive_max_pool1d(x, 3),
        lambda x: ref.adaptive_pool2d(x[:, :, None], (1, 3), np.max)[:, :, 0], [(2, 3, 8)]),
    "avg_pool2d ceil_mode": (
        lambda x: ag.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        lambda x: ref.poolnd(x, 3, 2, 1, np.sum, 0.0, ceil_mode=True, count=lambda a, b: (
            min(b[0], 7) - a[0]) * (min(b[1], 6) - a[1])), [(1, 2, 6, 5)]),
}


@pytest.mark.parametrize("name", sorted(CONV))
def test_convolution_and_pooling_gradients(name, rng):
    f_ag, f_np, shapes = CONV[name]
    _check(f_ag, f_np, [rng.normal(size=s) for s in shapes], rng)


def covered_primitives(rng) -> set[str]:
    """The primitives the rows of this module's tables run (for the registry coverage test)."""
    recorded = {t.op for out in table_runs(rng) for t in ag.engine.topological_order([out])
                if t.op}
    # comparisons (and other rows without gradient) record no node: their tables name them
    return recorded | set(COMPARISONS) | set(NO_GRADIENT)


def table_runs(rng) -> list:
    """One output of every row of this module's tables, recorded on (3, 4) or (2, 3, 4) inputs."""
    runs = [f(*[ag.Tensor(s(rng, (3, 4)), requires_grad=True) for s in samplers])
            for f, _, *samplers in list(BINARY.values()) + list(UNARY.values())]
    x = ag.Tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    runs += [f(x) for f, _ in list(SHAPE_OPS.values()) + list(REDUCTIONS.values())
             + list(SCANS.values()) + list(INDEX_TENSOR_OPS.values())]
    runs += [f(x, x) for f, _ in COMPARISONS.values()]
    runs += [ag.where(x.data > 0, x, 1.0), ag.softmax(x), ag.log_softmax(x),
             x @ x.transpose(0, 2, 1), ag.dot(x[0], x[0].T), x[np.array([0, 1, 1])],
             ag.concatenate([x, x]), ag.stack([x, x]), x.astype(np.float32)]
    runs += [f(*[ag.Tensor(rng.normal(size=s), requires_grad=True) for s in shapes])
             for f, _, shapes in CONV.values()]
    return runs


def test_astype_gradient_is_cast_back(rng):
    x = ag.Tensor(rng.normal(size=(3,)), requires_grad=True)
    w = rng.normal(size=(3,)).astype(np.float32)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * w).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, w.astype(np.float64))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_gradients(axis, rng):
    a, b, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    _check(lambda x, y, z: ag.concatenate([x, y, z], axis=axis),
           lambda x, y, z: np.concatenate([x, y, z], axis=axis), [a, b, c], rng)
    _check(lambda x, y, z: ag.stack([x, y, z], axis=axis),
           lambda x, y, z: np.stack([x, y, z], axis=axis), [a, b, c], rng)


def test_concatenate_mixed_constant_and_tensor(rng):
    a = ag.Tensor(rng.normal(size=(2, 2)), requires_grad=True)
    out = ag.concatenate([a, np.zeros((1, 2))], axis=0)
    (out * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(a.grad, np.arange(4.0).reshape(2, 2))


def covered_names() -> set[str]:
    """Every op name the tables of this module list (their first word): composites record the
    rows they are made of, so the registry test checks them by name."""
    tables = (BINARY, UNARY, REDUCTIONS, SCANS, SHAPE_OPS, CONV, NO_GRADIENT, COMPARISONS)
    return {key.split()[0] for table in tables for key in table}


def test_numpy_functions_reach_the_new_reductions_as_methods(rng):
    x = rng.normal(size=(3, 4))
    t = ag.Tensor(x)
    for name in ("var", "std", "prod", "argmax", "argmin", "all", "any", "cumsum", "cumprod"):
        np.testing.assert_allclose(getattr(np, name)(t, axis=1).data,
                                   getattr(np, name)(x, axis=1), rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(np.var(t, axis=0, ddof=1).data, np.var(x, axis=0, ddof=1))
    np.testing.assert_allclose(t.std(1, keepdims=True).data, x.std(1, keepdims=True))
    with pytest.raises(TypeError, match=r"np\.var \(dtype=.*ag\.var has no such argument"):
        np.var(ag.Tensor(x, requires_grad=True), dtype=np.float32)
    assert np.var(t, dtype=np.float32) == np.var(x, dtype=np.float32)  # no grad: NumPy's


def test_erf_without_scipy_agrees(monkeypatch, rng):
    import sys

    x = rng.normal(size=(3, 4)) * 3
    fast = (ag.erf(x).data, ag.erfc(x).data)
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # the import now fails
    np.testing.assert_allclose(ag.erf(x).data, fast[0], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(ag.erfc(x).data, fast[1], rtol=1e-14, atol=1e-300)
    assert ag.erf(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_, np.float32, np.float64])
@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangles_keep_the_input_dtype_as_numpy_does(name, dtype):
    x = (np.arange(12) % 5).reshape(3, 4).astype(dtype)
    for k in (-1, 0, 2):
        got, want = getattr(ag, name)(x, k), getattr(np, name)(x, k)
        assert got.dtype == want.dtype and np.array_equal(got.data, want)
