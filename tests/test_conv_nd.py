"""Convolutions over 1 and 3 spatial dims, pooling's ceil_mode / return_indices / padding per
side / integer input, and the resampling ops (unfold, max_unpool2d, interpolate, adaptive
pooling), all against PyTorch in float64 (values and every input's gradient), under vmap and
forward mode, and their errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")
F = torch.nn.functional
tfunc = pytest.importorskip("torch.func")

SIZES = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _both(f_ag, f_t, arrays, rng, rtol=1e-10):
    """Forward values and the gradient of every float input, against PyTorch (float64)."""
    tensors = [ag.Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = f_ag(*tensors)
    w = rng.normal(size=out.shape)
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t_out = f_t(*t_in)
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=rtol, atol=1e-12)
    if not out.requires_grad:
        return
    (out * w).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for a, t in zip(tensors, t_in, strict=True):
        if t.requires_grad:
            np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=rtol, atol=1e-12)


# --- convolutions -------------------------------------------------------------------------------
CONV_CASES = [  # (dims, batch, out channels, kernel, stride, padding, dilation, groups)
    case for case in itertools.product([1, 3], [1, 2], [4], [1, 2, 3], [1, 2, 4], [0, 1],
                                       [1, 2], [1, 2])
    if not (case[0] == 3 and case[6] == 2 and case[3] == 3)  # kernel wider than a dim
]


@pytest.mark.parametrize("case", CONV_CASES[::2], ids=str)
def test_conv_nd_matches_torch(case, rng):
    d, n, o, k, s, p, dl, g = case
    x = rng.normal(size=(n, 2 * g) + SIZES[d])
    w, b = rng.normal(size=(o, 2) + (k,) * d), rng.normal(size=o)
    conv, t_conv = getattr(ag, f"conv{d}d"), getattr(F, f"conv{d}d")
    _both(lambda x, w, b: conv(x, w, b, s, p, dl, g),
          lambda x, w, b: t_conv(x, w, b, s, p, dl, g), [x, w, b], rng)


@pytest.mark.parametrize("case", [  # (dims, kernel, stride, padding, output_padding, groups, dil)
    (1, 3, 2, 1, 1, 1, 1), (1, 2, 3, 0, 2, 2, 1), (1, 3, 1, 0, 0, 1, 2), (3, 2, 2, 0, 1, 1, 1),
    (3, (2, 1, 3), (1, 2, 1), (1, 0, 1), (0, 1, 0), 2, 1), (3, 2, 1, 1, 0, 1, 2),
    (1, 1, 4, 0, 3, 1, 1),
], ids=str)
def test_conv_transpose_nd_matches_torch(case, rng):
    d, k, s, p, op, g, dl = case
    kernel = k if isinstance(k, tuple) else (k,) * d
    y = rng.normal(size=(2, 2 * g) + SIZES[d][:d])
    w, b = rng.normal(size=(2 * g, 3) + kernel), rng.normal(size=3 * g)
    conv, t_conv = getattr(ag, f"conv_transpose{d}d"), getattr(F, f"conv_transpose{d}d")
    _both(lambda y, w, b: conv(y, w, b, s, p, op, g, dl),
          lambda y, w, b: t_conv(y, w, b, s, p, op, g, dl), [y, w, b], rng)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_padding_per_side_is_f_pad_then_convolve(d, rng):
    pads = (2, 0, 1, 1, 0, 3)[:2 * d]
    x, w = rng.normal(size=(2, 3) + SIZES[d]), rng.normal(size=(4, 3) + (2,) * d)
    conv, t_conv = getattr(ag, f"conv{d}d"), getattr(F, f"conv{d}d")
    _both(lambda x, w: conv(x, w, padding=pads, stride=2),
          lambda x, w: t_conv(F.pad(x, pads), w, stride=2), [x, w], rng)


def test_second_order_of_conv3d_matches_torch_double_backward(rng):
    x, w = rng.normal(size=(2, 2, 4, 3, 4)), rng.normal(size=(3, 2, 2, 2, 2))
    v = rng.normal(size=(2, 3, 3, 1, 3))

    def f_ag(x, w):
        return (ag.tanh(ag.conv3d(x, w, stride=2, padding=(1, 0, 1))) * v).sum()

    h_ag = ag.grad(lambda x, w: sum((g ** 2).sum() for g in ag.grad(f_ag, argnums=(0, 1))(
        x, w)), argnums=(0, 1))(x, w)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    out = (torch.tanh(F.conv3d(tx, tw, stride=2, padding=(1, 0, 1))) * torch.tensor(v)).sum()
    g1, g2 = torch.autograd.grad(out, (tx, tw), create_graph=True)
    h_t = torch.autograd.grad((g1 ** 2).sum() + (g2 ** 2).sum(), (tx, tw))
    for ours, theirs in zip(h_ag, h_t, strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12)


# --- pooling ------------------------------------------------------------------------------------
POOL_CASES = [  # (kernel, stride, padding, dilation, ceil_mode)
    (2, None, 0, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False), (3, 2, 1, 1, False),
    (2, 3, 0, 1, True), (1, 2, 0, 1, True), (3, 3, 1, 1, True), (2, 4, 1, 1, False),
]


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_max_pooling_values_gradients_and_indices_match_torch(d, case, rng):
    k, s, p, dl, ceil = case
    x = rng.normal(size=(2, 3) + SIZES[d])
    pool, t_pool = getattr(ag, f"max_pool{d}d"), getattr(F, f"max_pool{d}d")
    _both(lambda x: pool(x, k, s, p, dl, ceil), lambda x: t_pool(x, k, s, p, dl, ceil), [x], rng)
    out, where = pool(x, k, s, p, dl, ceil, return_indices=True)
    t_out, t_where = t_pool(torch.tensor(x), k, s, p, dl, ceil, return_indices=True)
    np.testing.assert_array_equal(where.data, t_where.numpy())
    assert where.dtype == np.int64 and not where.requires_grad


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_avg_pooling_matches_torch(d, case, rng):
    k, s, p, dl, ceil = case
    if dl != 1:
        return  # average pooling has no dilation (in PyTorch either)
    x = rng.normal(size=(1, 2) + SIZES[d])
    pool, t_pool = getattr(ag, f"avg_pool{d}d"), getattr(F, f"avg_pool{d}d")
    for include in (True, False):
        _both(lambda x, i=include: pool(x, k, s, p, i, ceil),
              lambda x, i=include: t_pool(x, k, s, p, ceil, i), [x], rng)
    if d > 1:
        _both(lambda x: pool(x, k, s, p, divisor_override=3),
              lambda x: t_pool(x, k, s, p, divisor_override=3), [x], rng)


def test_ties_and_nan_go_where_torch_sends_them(rng):
    x = np.zeros((1, 2, 4, 4, 4))  # every window one big tie
    x[0, 1, 1:3, 1:3, 1:3] = 1.0
    for k, s in ((2, 2), (3, 1), (2, 1)):
        _both(lambda t, k=k, s=s: ag.max_pool3d(t, k, s), lambda t, k=k, s=s: F.max_pool3d(t, k, s),
              [x], rng)
        _both(lambda t, k=k, s=s: ag.max_pool2d(t[:, :, 0], k, s),
              lambda t, k=k, s=s: F.max_pool2d(t[:, :, 0], k, s), [x], rng)
    nan = rng.normal(size=(1, 1, 4, 4))
    nan[0, 0, 1, 1] = np.nan
    np.testing.assert_array_equal(ag.max_pool2d(nan, 2).data,
                                  F.max_pool2d(torch.tensor(nan), 2).numpy())


def test_max_pooling_pads_per_side_like_f_pad_with_minus_infinity(rng):
    x = rng.normal(size=(2, 3, 7, 6))
    pads = (1, 0, 0, 1)
    _both(lambda x: ag.max_pool2d(x, 3, 2, padding=pads),
          lambda x: F.max_pool2d(F.pad(x, pads, value=-np.inf), 3, 2), [x], rng)
    _both(lambda x: ag.avg_pool2d(x, 2, 2, padding=pads),
          lambda x: F.avg_pool2d(F.pad(x, pads), 2, 2), [x], rng)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_max_pooling_of_integers_as_torch(dtype, rng):
    x = rng.integers(0, 100, size=(2, 3, 7, 6)).astype(dtype)
    out, where = ag.max_pool2d(x, 3, 2, 1, return_indices=True)
    t_out, t_where = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert out.dtype == dtype and not out.requires_grad
    np.testing.assert_array_equal(out.data, t_out.numpy())
    np.testing.assert_array_equal(where.data, t_where.numpy())
    np.testing.assert_array_equal(ag.max_pool3d(x[:, :, None], (1, 2, 2)).data,
                                  F.max_pool3d(torch.tensor(x[:, :, None]), (1, 2, 2)).numpy())


# --- resampling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k, d, p, s", [(3, 1, 0, 1), ((2, 3), 2, 1, (2, 1)), (2, 1, (1, 0), 3),
                                        (1, 1, 0, 2), (4, 1, 2, 5)], ids=str)
def test_unfold_matches_torch(k, d, p, s, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    _both(lambda x: ag.unfold(x, k, d, p, s), lambda x: F.unfold(x, k, d, p, s), [x], rng)


@pytest.mark.parametrize("size", [(3, 2), (4, 4), (7, 6), (1, 1), (5, 3), (10, 13), (None, 2)],
                         ids=str)
def test_adaptive_pooling_2d_matches_torch(size, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    _both(lambda x: ag.adaptive_avg_pool2d(x, size), lambda x: F.adaptive_avg_pool2d(x, size),
          [x], rng)
    _both(lambda x: ag.adaptive_max_pool2d(x, size), lambda x: F.adaptive_max_pool2d(x, size),
          [x], rng)


@pytest.mark.parametrize("size", [1, 3, 4, 11, 15])
def test_adaptive_pooling_1d_matches_torch(size, rng):
    x = rng.normal(size=(1, 3, 11))
    _both(lambda x: ag.adaptive_avg_pool1d(x, size), lambda x: F.adaptive_avg_pool1d(x, size),
          [x], rng)
    _both(lambda x: ag.adaptive_max_pool1d(x, size), lambda x: F.adaptive_max_pool1d(x, size),
          [x], rng)


INTERPOLATE = [dict(size=(9, 4)), dict(scale_factor=2), dict(scale_factor=(1.5, 0.7)),
               dict(size=(3, 13)), dict(scale_factor=2.3), dict(size=(1, 1))]


@pytest.mark.parametrize("kw", INTERPOLATE, ids=str)
def test_interpolate_2d_matches_torch(kw, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    _both(lambda x: ag.interpolate(x, mode="nearest", **kw),
          lambda x: F.interpolate(x, mode="nearest", **kw), [x], rng)
    for corners in (False, True):
        _both(lambda x, c=corners: ag.interpolate(x, mode="bilinear", align_corners=c, **kw),
              lambda x, c=corners: F.interpolate(x, mode="bilinear", align_corners=c, **kw),
              [x], rng)


@pytest.mark.parametrize("kw", [dict(size=9), dict(scale_factor=2), dict(size=4),
                                dict(scale_factor=0.6), dict(size=1)], ids=str)
def test_interpolate_1d_matches_torch(kw, rng):
    x = rng.normal(size=(2, 3, 11))
    _both(lambda x: ag.interpolate(x, mode="nearest", **kw),
          lambda x: F.interpolate(x, mode="nearest", **kw), [x], rng)
    for corners in (False, True):
        _both(lambda x, c=corners: ag.interpolate(x, mode="linear", align_corners=c, **kw),
              lambda x, c=corners: F.interpolate(x, mode="linear", align_corners=c, **kw),
              [x], rng)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 3, 1), ((2, 3), (2, 3), 0), (2, 3, 0)],
                         ids=str)
def test_max_unpool2d_inverts_max_pool2d_as_torch(k, s, p, rng):
    x = rng.normal(size=(2, 3, 7, 6))
    pooled, where = F.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    ours = ag.max_pool2d(x, k, s, p, return_indices=True)[1]
    np.testing.assert_array_equal(ours.data, where.numpy())
    _both(lambda v: ag.max_unpool2d(v, ours, k, s, p, output_size=x.shape[2:]),
          lambda v: F.max_unpool2d(v, where, k, s, p, output_size=x.shape[2:]),
          [pooled.numpy()], rng)
    if p == 0 and k == s:  # else the default size is smaller than x (torch refuses it too)
        _both(lambda v: ag.max_unpool2d(v, ours, k, s), lambda v: F.max_unpool2d(v, where, k, s),
              [pooled.numpy()], rng)


# --- layers -------------------------------------------------------------------------------------
# PyTorch itself warns that an even kernel with padding='same' makes it copy a padded input
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_layers_with_every_padding_mode_match_torch(d, mode, rng):
    for padding, k, dilation in (("same", 3, 1), ("same", 4, 2), (1, 3, 1), ("valid", 2, 1)):
        ours = getattr(ag.nn, f"Conv{d}d")(4, 6, k, padding=padding, padding_mode=mode,
                                            dilation=dilation, groups=2, rng=0)
        theirs = getattr(torch.nn, f"Conv{d}d")(4, 6, k, padding=padding, padding_mode=mode,
                                                 dilation=dilation, groups=2).double()
        theirs.load_state_dict({key: torch.tensor(v) for key, v in ours.state_dict().items()})
        x = rng.normal(size=(2, 4) + SIZES[d])
        np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=f"Conv{d}d: padding='same' needs stride 1"):
        getattr(ag.nn, f"Conv{d}d")(4, 6, 3, stride=2, padding="same")


@pytest.mark.parametrize("d", [1, 3])
def test_transposed_conv_and_pooling_layers_match_torch(d, rng):
    ours = getattr(ag.nn, f"ConvTranspose{d}d")(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                rng=0)
    theirs = getattr(torch.nn, f"ConvTranspose{d}d")(4, 6, 3, stride=2, padding=1,
                                                     output_padding=1).double()
    theirs.load_state_dict({key: torch.tensor(v) for key, v in ours.state_dict().items()})
    x = rng.normal(size=(2, 4) + SIZES[d])
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    for name, args in ((f"MaxPool{d}d", (3, 2, 1)), (f"AvgPool{d}d", (2,))):
        ours, theirs = getattr(ag.nn, name)(*args), getattr(torch.nn, name)(*args)
        np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).numpy(), rtol=1e-12)


def test_resampling_layers_match_torch(rng):
    x = rng.normal(size=(2, 3, 7, 6))
    t = torch.tensor(x)
    pairs = [(ag.nn.AdaptiveAvgPool2d((3, 2)), torch.nn.AdaptiveAvgPool2d((3, 2))),
             (ag.nn.AdaptiveMaxPool2d(4), torch.nn.AdaptiveMaxPool2d(4)),
             (ag.nn.Unfold(2, stride=2), torch.nn.Unfold(2, stride=2)),
             (ag.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
              torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)),
             (ag.nn.MaxPool2d(2, ceil_mode=True), torch.nn.MaxPool2d(2, ceil_mode=True))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x).data, theirs(t).numpy(), rtol=1e-12)
    x1 = x[:, :, 0]
    for ours, theirs in ((ag.nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4)),
                         (ag.nn.AdaptiveMaxPool1d(2), torch.nn.AdaptiveMaxPool1d(2))):
        np.testing.assert_allclose(ours(x1).data, theirs(torch.tensor(x1)).numpy(), rtol=1e-12)
    pooled, where = ag.nn.MaxPool2d(2, return_indices=True)(x)
    t_pooled, t_where = torch.nn.MaxPool2d(2, return_indices=True)(t)
    np.testing.assert_array_equal(where.data, t_where.numpy())
    np.testing.assert_allclose(ag.nn.MaxUnpool2d(2)(pooled, where, x.shape[2:]).data,
                               torch.nn.MaxUnpool2d(2)(t_pooled, t_where, x.shape[2:]).numpy())


# --- vmap and forward mode, for the new rows and composites --------------------------------------
TRANSFORMED = {  # name -> (our function, torch's function, input shapes)
    "conv1d": (lambda x, w: ag.conv1d(x, w, stride=2, padding=1),
               lambda x, w: F.conv1d(x, w, stride=2, padding=1), [(2, 2, 7), (3, 2, 3)]),
    "conv3d": (lambda x, w: ag.conv3d(x, w, padding=(1, 0, 0), groups=2),
               lambda x, w: F.conv3d(x, w, padding=(1, 0, 0), groups=2),
               [(1, 4, 3, 3, 4), (2, 2, 2, 2, 2)]),
    "conv_transpose1d": (lambda y, w: ag.conv_transpose1d(y, w, stride=2),
                         lambda y, w: F.conv_transpose1d(y, w, stride=2), [(2, 2, 4), (2, 3, 3)]),
    "conv_transpose3d": (lambda y, w: ag.conv_transpose3d(y, w, stride=(2, 1, 1)),
                         lambda y, w: F.conv_transpose3d(y, w, stride=(2, 1, 1)),
                         [(1, 2, 2, 3, 2), (2, 1, 2, 2, 2)]),
    "max_pool1d": (lambda x: ag.max_pool1d(x, 3, 2, 1, ceil_mode=True),
                   lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 8)]),
    "max_pool3d": (lambda x: ag.max_pool3d(x, 2, 1), lambda x: F.max_pool3d(x, 2, 1),
                   [(1, 2, 3, 3, 4)]),
    "avg_pool3d": (lambda x: ag.avg_pool3d(x, 2, ceil_mode=True),
                   lambda x: F.avg_pool3d(x, 2, ceil_mode=True), [(1, 2, 3, 3, 5)]),
    "unfold": (lambda x: ag.unfold(x, 2, padding=1), lambda x: F.unfold(x, 2, padding=1),
               [(2, 2, 4, 3)]),
    "interpolate": (lambda x: ag.interpolate(x, size=(5, 2), mode="bilinear",
                                             align_corners=False),
                    lambda x: F.interpolate(x, size=(5, 2), mode="bilinear",
                                            align_corners=False), [(1, 2, 3, 4)]),
    "adaptive_avg_pool2d": (lambda x: ag.adaptive_avg_pool2d(x, (2, 3)),
                            lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(2, 2, 5, 4)]),
    "adaptive_max_pool2d": (lambda x: ag.adaptive_max_pool2d(x, (3, 2)),
                            lambda x: F.adaptive_max_pool2d(x, (3, 2)), [(2, 2, 5, 4)]),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_vmap_equals_a_loop_and_jvp_matches_torch(name, rng):
    f_ag, f_t, shapes = TRANSFORMED[name]
    batch = [rng.normal(size=(3,) + shapes[0])] + [rng.normal(size=s) for s in shapes[1:]]
    shared = batch[1:]
    looped = np.stack([f_ag(x, *shared).data for x in batch[0]])
    np.testing.assert_allclose(ag.vmap(lambda x: f_ag(x, *shared))(batch[0]), looped,
                               rtol=1e-12, atol=1e-14)
    if shared:  # a weight per example too
        weights = rng.normal(size=(3,) + shapes[1])
        looped = np.stack([f_ag(x, w).data for x, w in zip(batch[0], weights, strict=True)])
        np.testing.assert_allclose(ag.vmap(f_ag)(batch[0], weights), looped, rtol=1e-12,
                                   atol=1e-14)
    probe = rng.normal(size=f_ag(batch[0][0], *shared).shape)
    grads = np.stack([ag.grad(lambda x: (f_ag(x, *shared) * probe).sum())(x) for x in batch[0]])
    np.testing.assert_allclose(ag.vmap(ag.grad(lambda x: (f_ag(x, *shared) * probe).sum()))(
        batch[0]), grads, rtol=1e-10, atol=1e-12)
    inputs = [batch[0][0]] + shared
    tangents = [rng.normal(size=a.shape) for a in inputs]
    value, tangent = ag.jvp(f_ag, tuple(inputs), tuple(tangents))
    t_value, t_tangent = tfunc.jvp(f_t, tuple(torch.tensor(a) for a in inputs),
                                   tuple(torch.tensor(t) for t in tangents))
    np.testing.assert_allclose(value, t_value.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10, atol=1e-12)


def test_compiled_cnn_in_three_dims_equals_eager(rng):
    x, w = rng.normal(size=(2, 2, 4, 5, 4)), rng.normal(size=(3, 2, 2, 2, 2))

    def loss(w):
        h = ag.relu(ag.conv3d(x, w, padding=1))
        return (ag.max_pool3d(h, 2, ceil_mode=True) ** 2).sum() + ag.avg_pool3d(h, 2).sum()

    np.testing.assert_allclose(ag.compile(ag.grad(loss))(w), ag.grad(loss)(w), rtol=1e-12)


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: ag.conv1d(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3))),
     r"conv1d: input x must be 3-D \(N, C, L\), got shape \(2, 3, 5, 5\)"),
    (lambda: ag.conv3d(np.ones((1, 2, 3, 3, 3)), np.ones((4, 3, 2, 2, 2))),
     r"conv3d: input x \(1, 2, 3, 3, 3\) has 2 channels but weight w \(4, 3, 2, 2, 2\)"),
    (lambda: ag.conv3d(np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 3, 3, 3))),
     r"conv3d: input of shape \(1, 1, 2, 2, 2\) is too small for kernel \(3, 3, 3\)"),
    (lambda: ag.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 2)), padding=(1, 2, 3)),
     r"conv1d: padding must be an int, 1 ints or 2 ints in F.pad's order"),
    (lambda: ag.conv_transpose3d(np.ones((1, 2, 3, 3, 3)), np.ones((2, 1, 3, 3, 3)), stride=2,
                                 output_padding=2),
     r"conv_transpose3d: output_padding \(2, 2, 2\) must be smaller than stride \(2, 2, 2\)"),
    (lambda: ag.max_pool1d(np.ones((1, 1, 4)), 2, padding=2),
     r"max_pool1d: padding \(2,\) must be at most half the kernel size \(2,\)"),
    (lambda: ag.max_pool2d(np.ones((1, 1, 4, 4), dtype=bool), 2),
     r"max_pool2d: input x must be floating point or integer, got dtype bool"),
    (lambda: ag.avg_pool2d(np.ones((1, 1, 4, 4), dtype=int), 2),
     r"avg_pool2d: input x must be floating point, got dtype int64"),
    (lambda: ag.max_pool2d(np.ones((1, 1, 4, 4)), 2, ceil_mode="yes"),
     r"max_pool2d: ceil_mode must be a bool"),
    (lambda: ag.interpolate(np.ones((1, 1, 4, 4)), size=3, mode="bicubic"),
     r"interpolate: mode must be 'nearest' or bilinear for 4-D input, got 'bicubic'"),
    (lambda: ag.interpolate(np.ones((1, 1, 4, 4)), size=3, scale_factor=2),
     r"interpolate: give exactly one of size and scale_factor"),
    (lambda: ag.interpolate(np.ones((1, 1, 4)), size=3, align_corners=True),
     r"interpolate: align_corners applies to the linear modes only"),
    (lambda: ag.max_unpool2d(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), dtype=int), 2),
     r"max_unpool2d: indices repeat within a plane"),
    (lambda: ag.max_unpool2d(np.ones((1, 1, 2, 2)), np.arange(4).reshape(1, 1, 2, 2) * 9, 2),
     r"max_unpool2d: indices must lie in \[0, 16\) for output size \(4, 4\), got \[0, 27\]"),
    (lambda: ag.unfold(np.ones((1, 1, 2, 2)), 3),
     r"unfold: input of shape \(1, 1, 2, 2\) is too small for kernel \(3, 3\)"),
    (lambda: ag.nn.Conv3d(2, 4, (3, 3)), r"Conv3d: kernel_size must be an int or 3 ints"),
    (lambda: ag.nn.Conv1d(2, 4, 3, padding_mode="mirror"), r"Conv1d: padding_mode must be"),
    (lambda: ag.nn.MaxPool3d(2.5), r"MaxPool3d: kernel_size must be an int or a tuple of ints"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize("name,shape,size", [("adaptive_max_pool1d", (3, 2, 4, 11), 4),
                                             ("adaptive_max_pool2d", (3, 1, 2, 7, 9), (3, 4))])
def test_adaptive_max_pool_indices_under_vmap_equal_torch_per_example(name, shape, size, rng):
    # integer-valued input: ties, where the first maximum in scan order must be the one named
    x = rng.integers(-3, 3, size=shape).astype(np.float64)
    out, where = ag.vmap(lambda a: getattr(ag, name)(a, size, return_indices=True))(x)
    for i in range(shape[0]):
        t_out, t_where = getattr(F, name)(torch.tensor(x[i]), size, return_indices=True)
        np.testing.assert_array_equal(np.asarray(out)[i], t_out.numpy())
        np.testing.assert_array_equal(np.asarray(where)[i], t_where.numpy())


def test_max_pool3d_indices_under_nested_vmap_equal_torch(rng):
    x = rng.normal(size=(2, 3, 1, 2, 4, 5, 4))
    _, where = ag.vmap(ag.vmap(lambda a: ag.max_pool3d(a, 2, 1, return_indices=True)))(x)
    for i, j in itertools.product(range(2), range(3)):
        t_where = F.max_pool3d(torch.tensor(x[i, j]), 2, 1, return_indices=True)[1]
        np.testing.assert_array_equal(np.asarray(where)[i, j], t_where.numpy())
