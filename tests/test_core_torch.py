"""Forward values and gradients against PyTorch (CPU), an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")

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
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_against_torch(name, shape, rng):
    f_ag, f_t = UNARY[name]
    _run_both(f_ag, f_t, [rng.normal(size=shape)], rng)


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
