"""Forward values and gradients against PyTorch (CPU), an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1), (2, 3, 4)]


def _run_both(f_ag, f_torch, arrays, rng):
    weights = None
    tensors = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = f_ag(*tensors)
    weights = rng.normal(size=out.shape)
    (out * weights).sum().backward()
    t_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    t_out = f_torch(*t_in)
    (t_out * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, t in zip(tensors, t_in, strict=True):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    "pow": (lambda a, b: (a * a + 0.5) ** b, lambda a, b: (a * a + 0.5) ** b),
    "maximum": (ag.maximum, torch.maximum),
    "minimum": (ag.minimum, torch.minimum),
    "mod": (lambda a, b: ag.mod(a, b * b + 0.5), lambda a, b: torch.remainder(a, b * b + 0.5)),
    "hypot": (lambda a, b: ag.hypot(a, b + 3.0), lambda a, b: torch.hypot(a, b + 3.0)),
    "arctan2": (ag.arctan2, torch.atan2),
    "logaddexp": (lambda a, b: ag.logaddexp(3 * a, b), lambda a, b: torch.logaddexp(3 * a, b)),
    "logaddexp2": (lambda a, b: ag.logaddexp2(3 * a, b),
                   lambda a, b: torch.logaddexp2(3 * a, b)),
    "copysign": (ag.copysign, torch.copysign),
    "fmod": (lambda a, b: ag.fmod(3 * a, b * b + 0.5),
             lambda a, b: torch.fmod(3 * a, b * b + 0.5)),
    "fmax": (ag.fmax, torch.fmax),
    "fmin": (ag.fmin, torch.fmin),
    "lerp": (lambda a, b: ag.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3)),
    "lerp weight": (lambda a, w: ag.lerp(a, 2.0 + a, w),
                    lambda a, w: torch.lerp(a, 2.0 + a, w)),
    "floor_divide": (lambda a, b: (3 * a) // (b * b + 0.5) * a,  # torch's // has no derivative
                     lambda a, b: torch.div(3 * a, b * b + 0.5, rounding_mode="floor") * a),
    "trunc_divide": (lambda a, b: ag.div(3 * a, b * b + 0.5, rounding_mode="trunc") * a,
                     lambda a, b: torch.div(3 * a, b * b + 0.5, rounding_mode="trunc") * a),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sa", SHAPES, ids=str)
@pytest.mark.parametrize("sb", [(), (4,), (3, 1), (2, 3, 4)], ids=str)
def test_binary_against_torch(name, sa, sb, rng):
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        pytest.skip("shapes do not broadcast")
    f_ag, f_t = BINARY[name]
    _run_both(f_ag, f_t, [rng.normal(size=sa), rng.normal(size=sb)], rng)


UNARY = {
    "exp": (ag.exp, torch.exp),
    "log": (lambda x: ag.log(x * x + 0.1), lambda x: torch.log(x * x + 0.1)),
    "sqrt": (lambda x: ag.sqrt(x * x + 0.1), lambda x: torch.sqrt(x * x + 0.1)),
    "tanh": (ag.tanh, torch.tanh),
    "sigmoid": (ag.sigmoid, torch.sigmoid),
    "relu": (ag.relu, torch.relu),
    "abs": (ag.abs, torch.abs),
    "log1p": (lambda x: ag.log1p(x * x), lambda x: torch.log1p(x * x)),
    "sin": (ag.sin, torch.sin),
    "cos": (ag.cos, torch.cos),
    "tan": (lambda x: ag.tan(x * 0.5), lambda x: torch.tan(x * 0.5)),
    "square": (ag.square, torch.square),
    "exp2": (ag.exp2, torch.exp2),
    "log2": (lambda x: ag.log2(x * x + 0.1), lambda x: torch.log2(x * x + 0.1)),
    "sign": (lambda x: ag.sign(x) * x, lambda x: torch.sign(x) * x),
    "arcsin": (lambda x: ag.arcsin(ag.tanh(x)), lambda x: torch.asin(torch.tanh(x))),
    "arccos": (lambda x: ag.arccos(ag.tanh(x)), lambda x: torch.acos(torch.tanh(x))),
    "arctan": (ag.arctan, torch.atan),
    "sinh": (ag.sinh, torch.sinh),
    "cosh": (ag.cosh, torch.cosh),
    "log10": (lambda x: ag.log10(x * x + 0.1), lambda x: torch.log10(x * x + 0.1)),
    "expm1": (ag.expm1, torch.expm1),
    "reciprocal": (lambda x: ag.reciprocal(x * x + 0.5), lambda x: torch.reciprocal(x * x + 0.5)),
    "rsqrt": (lambda x: ag.rsqrt(x * x + 0.5), lambda x: torch.rsqrt(x * x + 0.5)),
    "erf": (ag.erf, torch.erf),
    "erfc": (ag.erfc, torch.erfc),
    "floor": (lambda x: ag.floor(3 * x) * x, lambda x: torch.floor(3 * x) * x),
    "ceil": (lambda x: ag.ceil(3 * x) * x, lambda x: torch.ceil(3 * x) * x),
    "trunc": (lambda x: ag.trunc(3 * x) * x, lambda x: torch.trunc(3 * x) * x),
    "round": (lambda x: ag.round(3 * x) * x, lambda x: torch.round(3 * x) * x),
    "leaky_relu": (lambda x: ag.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "elu": (lambda x: ag.elu(x, 0.7), lambda x: F.elu(x, 0.7)),
    "gelu": (ag.gelu, F.gelu),
    "gelu tanh": (lambda x: ag.gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "silu": (ag.silu, F.silu),
    "softplus": (lambda x: ag.softplus(4 * x), lambda x: F.softplus(4 * x)),
    "softplus beta": (lambda x: ag.softplus(x, 2.0, 1.0), lambda x: F.softplus(x, 2.0, 1.0)),
    "relu6": (lambda x: ag.relu6(4 * x), lambda x: F.relu6(4 * x)),
    "hardtanh": (lambda x: ag.hardtanh(x, -0.5, 1.0), lambda x: F.hardtanh(x, -0.5, 1.0)),
    "softsign": (ag.softsign, F.softsign),
    "standardize": (ag.standardize,
                    lambda x: (x - x.mean()) / torch.sqrt(x.var(correction=0) + 1e-5)),
    "arcsinh": (lambda x: ag.arcsinh(3 * x), lambda x: torch.asinh(3 * x)),
    "arccosh": (lambda x: ag.arccosh(x * x + 1.1), lambda x: torch.acosh(x * x + 1.1)),
    "arctanh": (lambda x: ag.arctanh(0.9 * ag.tanh(x)), lambda x: torch.atanh(0.9 * torch.tanh(x))),
    "deg2rad": (lambda x: ag.deg2rad(90 * x), lambda x: torch.deg2rad(90 * x)),
    "radians": (lambda x: ag.radians(90 * x), lambda x: torch.deg2rad(90 * x)),
    "rad2deg": (ag.rad2deg, torch.rad2deg),
    "degrees": (ag.degrees, torch.rad2deg),
    "sinc": (lambda x: ag.sinc(2 * x), lambda x: torch.sinc(2 * x)),
    "nan_to_num": (
        lambda x: ag.nan_to_num(ag.where(x > 1, np.inf, ag.where(x < -1, -np.inf, x)),
                                posinf=2.0, neginf=-3.0),
        lambda x: torch.nan_to_num(torch.where(x > 1, np.inf, torch.where(x < -1, -np.inf, x)),
                                   posinf=2.0, neginf=-3.0)),
    # F.hardsigmoid's float64 backward rounds 1/6 to float32: this row uses its definition;
    # test_hardsigmoid_matches_torch_function_to_its_float32_constant compares with F.hardsigmoid
    "hardsigmoid": (lambda x: ag.hardsigmoid(4 * x), lambda x: F.relu6(4 * x + 3) / 6),
    "hardswish": (lambda x: ag.hardswish(4 * x), lambda x: F.hardswish(4 * x)),
    "mish": (lambda x: ag.mish(4 * x), lambda x: F.mish(4 * x)),
    "selu": (lambda x: ag.selu(3 * x), lambda x: F.selu(3 * x)),
    # alpha = 0.5: F.celu's float64 backward rounds 1 / alpha to float32 (exact for 0.5)
    "celu": (lambda x: ag.celu(3 * x, 0.5), lambda x: F.celu(3 * x, 0.5)),
    "logsigmoid": (lambda x: ag.logsigmoid(8 * x), lambda x: F.logsigmoid(8 * x)),
    "softmin": (lambda x: ag.softmin(3 * x), lambda x: F.softmin(3 * x, dim=-1)),
    "quick_gelu": (ag.quick_gelu, lambda x: x * torch.sigmoid(1.702 * x)),
    # a 0-d input is scanned as one element (shape (1,)), as cumsum does
    "cummax": (lambda x: ag.cummax(x, -1).values,
               lambda x: torch.cummax(torch.atleast_1d(x), -1).values),
    "cummin": (lambda x: ag.cummin(x, 0).values,
               lambda x: torch.cummin(torch.atleast_1d(x), 0).values),
    # logcumsumexp is checked in test_ops_more.py: torch.func's forward rule of it loses
    # digits (1e-10 relative here, all of them for large inputs), so its jvp row is not torch's
    "normalize": (lambda x: ag.normalize(x.reshape((1, *x.shape)), 3.0, -1),
                  lambda x: F.normalize(x.reshape((1, *x.shape)), 3.0, -1)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_against_torch(name, shape, rng):
    f_ag, f_t = UNARY[name]
    _run_both(f_ag, f_t, [rng.normal(size=shape)], rng)


def test_hardsigmoid_matches_torch_function_to_its_float32_constant(rng):
    """Values equal F.hardsigmoid's; the gradient is exactly 1/6 inside (-3, 3), where torch's
    float64 backward uses float32(1/6) (3e-8 relative away)."""
    x = rng.normal(size=(50,)) * 3
    t = torch.tensor(x, requires_grad=True)
    y = F.hardsigmoid(t)
    y.sum().backward()
    np.testing.assert_allclose(ag.hardsigmoid(x).data, y.detach().numpy(), rtol=1e-15, atol=0)
    grad = ag.grad(lambda v: ag.hardsigmoid(v).sum())(x)
    np.testing.assert_array_equal(grad, np.where(np.abs(x) < 3, 1 / 6, 0.0))
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-7, atol=0)
    assert np.all((t.grad.numpy() == 0) | (t.grad.numpy() == np.float32(1 / 6)))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
def test_reductions_and_normalisers_against_torch(shape, rng):
    x = rng.normal(size=shape)
    for axis in range(len(shape)):
        _run_both(lambda t, a=axis: t.sum(axis=a), lambda t, a=axis: t.sum(dim=a), [x], rng)
        _run_both(lambda t, a=axis: t.mean(axis=a, keepdims=True),
                  lambda t, a=axis: t.mean(dim=a, keepdim=True), [x], rng)
        _run_both(lambda t, a=axis: t.max(axis=a), lambda t, a=axis: torch.amax(t, dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.softmax(t, axis=a),
                  lambda t, a=axis: torch.softmax(t, dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.log_softmax(t, axis=a),
                  lambda t, a=axis: torch.log_softmax(t, dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.logsumexp(t, axis=a),
                  lambda t, a=axis: torch.logsumexp(t, dim=a), [x], rng)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
def test_statistics_and_scans_against_torch(shape, rng):
    x = rng.normal(size=shape)
    for axis in range(len(shape)):
        _run_both(lambda t, a=axis: ag.prod(t, axis=a), lambda t, a=axis: t.prod(dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.var(t, axis=a, ddof=1),
                  lambda t, a=axis: t.var(dim=a, correction=1), [x], rng)
        _run_both(lambda t, a=axis: ag.std(t, axis=a), lambda t, a=axis: t.std(dim=a, correction=0),
                  [x], rng)
        _run_both(lambda t, a=axis: ag.norm(t, axis=a),
                  lambda t, a=axis: torch.linalg.vector_norm(t, dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.norm(t, 3, axis=a),
                  lambda t, a=axis: torch.linalg.vector_norm(t, 3, dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.cumsum(t, a), lambda t, a=axis: torch.cumsum(t, a), [x], rng)
        _run_both(lambda t, a=axis: ag.cumprod(t, a), lambda t, a=axis: torch.cumprod(t, a),
                  [x], rng)
        np.testing.assert_array_equal(ag.argmax(x, axis=axis).data,
                                      torch.argmax(torch.tensor(x), dim=axis).numpy())
        np.testing.assert_array_equal(ag.argmin(x, axis=axis).data,
                                      torch.argmin(torch.tensor(x), dim=axis).numpy())
    _run_both(ag.prod, torch.prod, [x], rng)
    _run_both(lambda t: ag.var(t, ddof=1), torch.var, [x], rng)
    _run_both(ag.norm, torch.linalg.vector_norm, [x], rng)


def test_products_with_zeros_and_constant_std_match_torch(rng):
    x = rng.normal(size=(3, 5))
    x[0, 1] = x[1, 2] = x[1, 4] = 0.0
    for axis in (0, 1):
        _run_both(lambda t, a=axis: ag.prod(t, axis=a), lambda t, a=axis: t.prod(dim=a), [x], rng)
        _run_both(lambda t, a=axis: ag.cumprod(t, a), lambda t, a=axis: torch.cumprod(t, a),
                  [x], rng)
    flat = np.ones((2, 3))
    _run_both(lambda t: ag.std(t, axis=1), lambda t: t.std(dim=1, correction=0), [flat], rng)
    _run_both(lambda t: ag.norm(t * 0.0, axis=1),
              lambda t: torch.linalg.vector_norm(t * 0.0, dim=1), [flat], rng)


def test_contractions_and_rearrangements_against_torch(rng):
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))
    _run_both(lambda x, y: ag.einsum("ijk,kl->jil", x, y),
              lambda x, y: torch.einsum("ijk,kl->jil", x, y), [a, b], rng)
    c = rng.normal(size=(2, 4, 3))
    _run_both(lambda x, y: ag.einsum("...ij,...jk->...ik", x, y),
              lambda x, y: torch.einsum("...ij,...jk->...ik", x, y), [a, c], rng)
    _run_both(lambda x: ag.einsum("iji->j", x[:, :, :2]),
              lambda x: torch.einsum("iji->j", x[:, :, :2]), [a], rng)
    _run_both(lambda x, y: ag.tensordot(x, y, 1), lambda x, y: torch.tensordot(x, y, 1), [a, b],
              rng)
    _run_both(lambda x, y: ag.outer(x[0, 0], y[0]), lambda x, y: torch.outer(x[0, 0], y[0]),
              [a, b], rng)
    m = rng.normal(size=(4, 4))
    _run_both(ag.trace, torch.trace, [m], rng)
    _run_both(lambda x: ag.diag(x, 1), lambda x: torch.diag(x, 1), [m], rng)
    _run_both(lambda x: ag.diag(x[0], -1), lambda x: torch.diag(x[0], -1), [m], rng)
    _run_both(lambda x: ag.tril(x, -1), lambda x: torch.tril(x, -1), [m], rng)
    _run_both(lambda x: ag.triu(x), lambda x: torch.triu(x), [m], rng)
    _run_both(lambda x: ag.pad(x, ((1, 0), (0, 0), (2, 1))),
              lambda x: F.pad(x, (2, 1, 0, 0, 1, 0)), [a], rng)
    for mode, torch_mode in (("reflect", "reflect"), ("edge", "replicate"), ("wrap", "circular")):
        _run_both(lambda x, m=mode: ag.pad(x, ((0, 0), (1, 2), (2, 1)), mode=m),
                  lambda x, m=torch_mode: F.pad(x[None], (2, 1, 1, 2), mode=m)[0], [a], rng)
    _run_both(lambda x: ag.tile(x, (2, 1, 3)), lambda x: torch.tile(x, (2, 1, 3)), [a], rng)
    _run_both(lambda x: ag.repeat(x, 2, axis=1), lambda x: torch.repeat_interleave(x, 2, dim=1),
              [a], rng)
    _run_both(lambda x: ag.roll(x, (1, 2), (0, 2)), lambda x: torch.roll(x, (1, 2), (0, 2)), [a],
              rng)
    _run_both(lambda x: ag.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), [a], rng)
    idx = rng.integers(0, 3, size=(2, 2, 4))
    _run_both(lambda x: ag.gather(x, 1, idx), lambda x: torch.gather(x, 1, torch.tensor(idx)),
              [a], rng)
    _run_both(lambda x: ag.moveaxis(x, 0, -1), lambda x: torch.movedim(x, 0, -1), [a], rng)
    _run_both(lambda x: ag.flatten(x, 1), lambda x: torch.flatten(x, 1), [a], rng)
    _run_both(lambda x: x.unsqueeze(1).squeeze(1), lambda x: x.unsqueeze(1).squeeze(1), [a], rng)
    _run_both(lambda x: ag.split(x, [1, 3], axis=2)[1],
              lambda x: torch.tensor_split(x, [1, 3], dim=2)[1], [a], rng)
    _run_both(lambda x, y: ag.vstack([x[0], y.T]), lambda x, y: torch.vstack([x[0], y.T]), [a, b],
              rng)
    _run_both(lambda x, y: ag.hstack([x[0].T, y]), lambda x, y: torch.hstack([x[0].T, y]), [a, b],
              rng)


def test_max_ties_match_torch_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    rng = np.random.default_rng(0)
    _run_both(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), [x], rng)
    _run_both(lambda t: t.max(), lambda t: torch.amax(t), [x], rng)
    _run_both(ag.maximum, torch.maximum, [x, np.full((2, 3), 2.0)], rng)


@pytest.mark.parametrize(
    "sa, sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
               ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5))],
    ids=str,
)
def test_matmul_against_torch(sa, sb, rng):
    _run_both(lambda a, b: a @ b, torch.matmul, [rng.normal(size=sa), rng.normal(size=sb)], rng)


def test_indexing_and_joining_against_torch(rng):
    x = rng.normal(size=(4, 3))
    idx = np.array([0, 2, 2, 3])
    _run_both(lambda t: t[idx], lambda t: t[torch.tensor(idx)], [x], rng)
    _run_both(lambda t: t[1:3, 1:], lambda t: t[1:3, 1:], [x], rng)
    _run_both(lambda a, b: ag.concatenate([a, b], axis=1),
              lambda a, b: torch.cat([a, b], dim=1), [x, x * 2], rng)
    _run_both(lambda a, b: ag.stack([a, b], axis=2),
              lambda a, b: torch.stack([a, b], dim=2), [x, x * 2], rng)


def test_mlp_step_against_torch(rng):
    x = rng.normal(size=(8, 5))
    w1, b1 = rng.normal(size=(5, 7)), rng.normal(size=(7,))
    w2, b2 = rng.normal(size=(7, 3)), rng.normal(size=(3,))
    labels = rng.integers(0, 3, size=8)

    def loss_ag(w1, b1, w2, b2):
        h = ag.relu(x @ w1 + b1)
        logp = ag.log_softmax(h @ w2 + b2, axis=1)
        return -logp[np.arange(8), labels].mean()

    def loss_t(w1, b1, w2, b2):
        h = torch.relu(torch.tensor(x) @ w1 + b1)
        return torch.nn.functional.cross_entropy(h @ w2 + b2, torch.tensor(labels))

    grads = ag.grad(loss_ag, argnums=(0, 1, 2, 3))(w1, b1, w2, b2)
    ts = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    loss_t(*ts).backward()
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_second_derivative_against_torch(rng):
    x0 = rng.normal(size=(5,))

    def f_ag(x):
        return (ag.tanh(x) * ag.sigmoid(2 * x) + x**3).sum()

    h_ag = ag.grad(lambda x: ag.grad(f_ag)(x).sum())(x0)
    xt = torch.tensor(x0, requires_grad=True)
    y = (torch.tanh(xt) * torch.sigmoid(2 * xt) + xt**3).sum()
    (g,) = torch.autograd.grad(y, xt, create_graph=True)
    (h_t,) = torch.autograd.grad(g.sum(), xt)
    np.testing.assert_allclose(h_ag, h_t.numpy(), rtol=1e-10)
