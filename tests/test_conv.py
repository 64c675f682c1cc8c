"""Convolution and pooling against torch.nn.functional over many parameter combinations, second
order against PyTorch's double backward and finite differences, and the errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _both(f_ag, f_t, arrays, rng, rtol=1e-10):
    """Forward values and the gradient of every input, against PyTorch (float64)."""
    tensors = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = f_ag(*tensors)
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = f_t(*t_in)
    (t_out * torch.tensor(w)).sum().backward()
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=rtol, atol=1e-12)
    for a, t in zip(tensors, t_in, strict=True):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=rtol, atol=1e-12)


CONV_CASES = [  # (x shape, out channels, kernel, stride, padding, dilation, groups)
    (n_c_hw, o, k, s, p, d, g)
    for n_c_hw, o, k, s, p, d, g in itertools.product(
        [(2, 4, 7, 6), (1, 4, 5, 5)], [4, 6], [1, 3, (2, 3)], [1, 2, (1, 3)], [0, 1, (2, 0)],
        [1, 2], [1, 2])
    if not (d == 2 and k == (2, 3) and n_c_hw[2] == 5)
]


@pytest.mark.parametrize("case", CONV_CASES[::3], ids=str)
def test_conv2d_matches_torch(case, rng):
    shape, o, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w, b = rng.normal(size=shape), rng.normal(size=(o, shape[1] // g, kh, kw)), \
        rng.normal(size=o)
    _both(lambda x, w, b: ag.conv2d(x, w, b, s, p, d, g),
          lambda x, w, b: F.conv2d(x, w, b, s, p, d, g), [x, w, b], rng)


@pytest.mark.parametrize("case", [
    ((2, 4, 3, 4), 6, 3, 2, 1, 1, 1, 1), ((1, 4, 4, 3), 2, (2, 3), (2, 1), (1, 0), (1, 0), 2, 1),
    ((2, 2, 3, 3), 3, 3, 3, 0, (2, 0), 1, 2), ((1, 3, 5, 5), 3, 2, 1, 0, 0, 3, 1),
    ((2, 6, 2, 3), 4, 3, (1, 2), 2, (0, 1), 2, 2), ((1, 2, 6, 6), 2, 3, 1, 3, 0, 1, 1),
], ids=str)
def test_conv_transpose2d_matches_torch(case, rng):
    shape, o, k, s, p, op, g, d = case
    kh, kw = (k, k) if isinstance(k, int) else k
    y, w, b = rng.normal(size=shape), rng.normal(size=(shape[1], o // g, kh, kw)), \
        rng.normal(size=o)
    _both(lambda y, w, b: ag.conv_transpose2d(y, w, b, s, p, op, g, d),
          lambda y, w, b: F.conv_transpose2d(y, w, b, s, p, op, g, d), [y, w, b], rng)


@pytest.mark.parametrize("k, s, p, d", [(2, None, 0, 1), (3, 2, 1, 1), ((2, 3), (1, 2), (1, 1), 1),
                                        (3, 1, 1, 2), (2, 1, 0, 1)], ids=str)
def test_pooling_matches_torch(k, s, p, d, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    _both(lambda x: ag.max_pool2d(x, k, s, p, d), lambda x: F.max_pool2d(x, k, s, p, d), [x], rng)
    if d == 1:
        _both(lambda x: ag.avg_pool2d(x, k, s, p), lambda x: F.avg_pool2d(x, k, s, p), [x], rng)
        _both(lambda x: ag.avg_pool2d(x, k, s, p, count_include_pad=False),
              lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=False), [x], rng)


def test_max_pool_ties_go_where_torch_sends_them(rng):
    x = np.zeros((1, 2, 4, 4))  # every window is one big tie
    x[0, 1, 1:3, 1:3] = 1.0
    for k, s in ((2, 2), (3, 1), (2, 1)):
        _both(lambda t, k=k, s=s: ag.max_pool2d(t, k, s), lambda t, k=k, s=s: F.max_pool2d(t, k, s),
              [x], rng)


def test_conv_second_order_matches_torch_double_backward(rng):
    x, w = rng.normal(size=(2, 4, 6, 5)), rng.normal(size=(6, 2, 3, 2))
    v = rng.normal(size=(2, 6, 3, 3))

    def f_ag(x, w):
        out = ag.conv2d(x, w, stride=2, padding=1, groups=2)
        return (ag.tanh(out) * v).sum()

    gx, gw = ag.grad(f_ag, argnums=(0, 1))(x, w)
    hx, hw = ag.grad(lambda x, w: (ag.grad(f_ag, argnums=(0, 1))(x, w)[0] ** 2).sum() +
                     (ag.grad(f_ag, argnums=(0, 1))(x, w)[1] ** 2).sum(), argnums=(0, 1))(x, w)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    out = (torch.tanh(F.conv2d(tx, tw, stride=2, padding=1, groups=2)) * torch.tensor(v)).sum()
    g1, g2 = torch.autograd.grad(out, (tx, tw), create_graph=True)
    h1, h2 = torch.autograd.grad((g1 ** 2).sum() + (g2 ** 2).sum(), (tx, tw))
    for ours, theirs in ((gx, g1), (gw, g2), (hx, h1), (hw, h2)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"])
def test_second_order_against_finite_differences_of_the_gradient(op, rng):
    w = rng.normal(size=(3, 2, 2, 2))
    x = rng.normal(size=(1, 2, 4, 5) if op != "conv_transpose2d" else (1, 3, 3, 3))
    apply = {
        "conv2d": lambda t: ag.conv2d(t, w, stride=1, padding=1),
        "conv_transpose2d": lambda t: ag.conv_transpose2d(t, w, stride=2),
        "max_pool2d": lambda t: ag.max_pool2d(t * t, 2, 1),
        "avg_pool2d": lambda t: ag.avg_pool2d(t * t, 2, 1, 1),
    }[op]
    probe = rng.normal(size=apply(ag.Tensor(x)).shape)

    def f(t):
        return (ag.sin(apply(t)) * probe).sum()

    direction = rng.normal(size=x.shape)
    hvp = ag.grad(lambda t: (ag.grad(f)(t) * direction).sum())(x)
    fd = numeric_grad(lambda t: float((ag.grad(f)(t) * direction).sum()), [x], 0)
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-7)


def test_float32_stays_float32(rng):
    x = ag.Tensor(rng.normal(size=(2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = ag.Tensor(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    out = ag.max_pool2d(ag.conv2d(x, w, padding=1), 2)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    assert ag.avg_pool2d(x, 2).dtype == np.float32


@pytest.mark.parametrize("call, message", [
    (lambda: ag.conv2d(np.ones((2, 3, 5)), np.ones((4, 3, 3, 3))),
     r"conv2d: input x must be 4-D \(N, C, H, W\), got shape \(2, 3, 5\)"),
    (lambda: ag.conv2d(np.ones((2, 3, 5, 5)), np.ones((4, 2, 3, 3))),
     r"conv2d: input x \(2, 3, 5, 5\) has 3 channels but weight w \(4, 2, 3, 3\)"),
    (lambda: ag.conv2d(np.ones((2, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
     r"conv2d: groups=2 must divide both"),
    (lambda: ag.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
     r"conv2d: input of shape \(1, 1, 2, 2\) is too small for kernel \(3, 3\)"),
    (lambda: ag.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=0),
     r"conv2d: stride must be >= 1, got 0"),
    (lambda: ag.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), np.ones(2)),
     r"conv2d: bias b must have shape \(1,\), got \(2,\)"),
    (lambda: ag.conv2d(np.ones((1, 1, 4, 4), dtype=int), np.ones((1, 1, 3, 3))),
     r"conv2d: input x must be floating point, got dtype int64"),
    (lambda: ag.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2,
                                 output_padding=2),
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than stride \(2, 2\)"),
    (lambda: ag.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2),
     r"max_pool2d: padding \(2, 2\) must be at most half the kernel size"),
    (lambda: ag.avg_pool2d(np.ones((1, 1, 4, 4)), (2, 2, 2)),
     r"avg_pool2d: kernel_size must be an int or a pair of ints"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_saved_buffers_are_views_not_pixel_objects(rng):
    x = ag.Tensor(rng.normal(size=(8, 4, 16, 16)), requires_grad=True)
    w = ag.Tensor(rng.normal(size=(8, 4, 3, 3)), requires_grad=True)
    out = ag.conv2d(x, w, padding=1)
    # the node keeps only its inputs and output: no im2col matrix, nothing per pixel
    assert out.parents == (x, w) and out.data.nbytes == 8 * 8 * 16 * 16 * 8


# PyTorch itself warns that an even kernel makes it copy a padded input: the reference's notice
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("k, d", [(3, 1), (4, 1), ((2, 3), 2), ((1, 4), 1)], ids=str)
def test_string_padding_matches_torch(k, d, rng):
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w = rng.normal(size=(2, 3, 6, 7)), rng.normal(size=(4, 3, kh, kw))
    for mode in ("same", "valid"):
        _both(lambda x, w, m=mode: ag.conv2d(x, w, padding=m, dilation=d),
              lambda x, w, m=mode: F.conv2d(x, w, padding=m, dilation=d), [x, w], rng)
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        ag.conv2d(x, w, stride=2, padding="same")
