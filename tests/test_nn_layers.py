"""The convolutional, normalisation, dropout and embedding layers against torch.nn, state dicts
loaded both ways; train/eval; the schedules and gradient clipping against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")
nn = ag.nn


def _load_into_torch(ours, theirs):
    state = {k: torch.tensor(v) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)  # the same names and shapes


def _compare(ours, theirs, x, rng, rtol=1e-10):
    out = ours(ag.Tensor(x, requires_grad=True))
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    t_x = torch.tensor(x, requires_grad=True)
    t_out = theirs(t_x)
    (t_out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=rtol, atol=1e-12)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=rtol, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("make", [
    lambda: (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=0),
             torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=torch.float64)),
    lambda: (nn.Conv2d(4, 3, (2, 3), dilation=2, bias=False, rng=1),
             torch.nn.Conv2d(4, 3, (2, 3), dilation=2, bias=False, dtype=torch.float64)),
    lambda: (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=2),
             torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                      dtype=torch.float64)),
    lambda: (nn.Conv2d(4, 2, 3, padding=(2, 1), padding_mode="reflect", rng=3),
             torch.nn.Conv2d(4, 2, 3, padding=(2, 1), padding_mode="reflect",
                             dtype=torch.float64)),
    lambda: (nn.Conv2d(4, 2, 3, stride=2, padding=1, padding_mode="circular", rng=4),
             torch.nn.Conv2d(4, 2, 3, stride=2, padding=1, padding_mode="circular",
                             dtype=torch.float64)),
    lambda: (nn.Conv2d(4, 2, 3, padding=1, padding_mode="replicate", rng=5),
             torch.nn.Conv2d(4, 2, 3, padding=1, padding_mode="replicate", dtype=torch.float64)),
    lambda: (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
    lambda: (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
    lambda: (nn.Flatten(), torch.nn.Flatten()),
    lambda: (nn.LayerNorm((7, 6)), torch.nn.LayerNorm((7, 6), dtype=torch.float64)),
], ids=["conv", "conv dilated", "conv transpose", "conv reflect", "conv circular",
        "conv replicate", "max pool", "avg pool", "flatten", "layer norm"])
def test_layers_match_torch_with_the_same_state_dict(make, rng):
    ours, theirs = make()
    _load_into_torch(ours, theirs)
    _compare(ours, theirs, rng.normal(size=(2, 4, 7, 6)), rng)


def test_conv_init_follows_torch_bounds():
    layer = nn.Conv2d(3, 8, (3, 5), groups=1, rng=0)
    bound = 1 / np.sqrt(3 * 3 * 5)
    assert layer.weight.shape == (8, 3, 3, 5) and layer.bias.shape == (8,)
    biggest = np.abs(layer.weight.data).max()
    assert 0.9 * bound < biggest <= bound
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm2d, (4, 3, 5, 5)), (nn.BatchNorm1d, (6, 3)),
                                        (nn.BatchNorm1d, (4, 3, 7))])
def test_batch_norm_training_running_statistics_and_eval_match_torch(cls, shape, rng):
    ours = cls(3, momentum=0.2)
    theirs = getattr(torch.nn, cls.__name__)(3, momentum=0.2, dtype=torch.float64)
    ours.weight.data[:] = rng.normal(size=3)
    ours.bias.data[:] = rng.normal(size=3)
    _load_into_torch(ours, theirs)
    for _ in range(3):  # training steps update the running statistics
        ours.zero_grad()
        theirs.zero_grad()
        _compare(ours, theirs, rng.normal(size=shape) * 2 + 1, rng)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12,
                                   err_msg=name)
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    _compare(ours, theirs, rng.normal(size=shape), rng)
    before = ours.state_dict()["running_mean"].copy()
    ours(rng.normal(size=shape))
    np.testing.assert_array_equal(ours.state_dict()["running_mean"], before)  # eval: no update
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(3\): expected an input"):
        ours(np.ones((2, 4) + shape[2:]))


def test_dropout_is_seeded_scaled_and_the_identity_in_eval(rng):
    x = rng.normal(size=(200, 50))
    a, b = nn.Dropout(0.3, rng=5), nn.Dropout(0.3, rng=5)
    out_a, out_b = a(x), b(x)
    np.testing.assert_array_equal(out_a.data, out_b.data)
    kept = out_a.data != 0
    np.testing.assert_allclose(out_a.data[kept], x[kept] / 0.7, rtol=1e-15)
    assert abs(kept.mean() - 0.7) < 0.02
    t = ag.Tensor(x, requires_grad=True)
    a(t).sum().backward()
    assert set(np.unique(t.grad)) <= {0.0, 1 / 0.7}
    a.eval()
    assert a(t) is t
    assert nn.functional.dropout(t, 1.0).data.max() == 0.0


def test_embedding_matches_torch_and_refuses_bad_indices(rng):
    ours = nn.Embedding(10, 4, rng=0)
    theirs = torch.nn.Embedding(10, 4, dtype=torch.float64)
    _load_into_torch(ours, theirs)
    idx = np.array([[1, 2, 2], [9, 0, 1]])
    out = ours(idx)
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    t_out = theirs(torch.tensor(idx))
    (t_out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    with pytest.raises(IndexError, match=r"embedding: index 10 is out of range for 10"):
        ours(np.array([3, 10]))
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float64"):
        ours(np.array([1.0]))


def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    assert model.eval() is model and not any(m.training for m in model.modules())
    assert all(m.training for m in model.train().modules())


# --- schedules and clipping ----------------------------------------------------------------------
def _lrs(make_ours, make_theirs, steps=25):
    p = ag.Tensor(np.zeros(2), requires_grad=True)
    opt = ag.optim.SGD([p], lr=0.5)
    sched = make_ours(opt)
    ours = [sched.get_last_lr()[0]]
    tp = torch.zeros(2, requires_grad=True)
    t_opt = torch.optim.SGD([tp], lr=0.5)
    t_sched = make_theirs(t_opt)
    theirs = [t_sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        t_opt.step()
        sched.step()
        t_sched.step()
        ours.append(opt.lr)
        theirs.append(t_opt.param_groups[0]["lr"])
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize("name, ours, theirs", [
    ("StepLR", lambda o: ag.optim.lr_scheduler.StepLR(o, 4, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, 4, gamma=0.5)),
    ("ExponentialLR", lambda o: ag.optim.lr_scheduler.ExponentialLR(o, 0.9),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    ("LinearLR", lambda o: ag.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, total_iters=7),
     lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, total_iters=7)),
    ("LinearLR decay", lambda o: ag.optim.lr_scheduler.LinearLR(o, 1.0, 0.25, total_iters=10),
     lambda o: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.25, total_iters=10)),
    ("CosineAnnealingLR", lambda o: ag.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.01)),
])
def test_schedules_match_torch(name, ours, theirs):
    mine, reference = _lrs(ours, theirs)
    np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-15)
    assert len(set(np.round(mine, 12))) > 2  # the schedule actually moves


def test_schedule_arguments_are_checked():
    opt = ag.optim.SGD([ag.Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be positive, got 0"):
        ag.optim.lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="LinearLR: start_factor must be in"):
        ag.optim.lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(TypeError, match="CosineAnnealingLR: expected an optimizer"):
        ag.optim.lr_scheduler.CosineAnnealingLR(object(), 5)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(norm_type, rng):
    grads = [rng.normal(size=(3, 4)) * 5, rng.normal(size=(5,)) * 5]
    ours = [ag.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ours, theirs, grads, strict=True):
        p.grad = g.copy()
        t.grad = torch.tensor(g)
    total = ag.nn.utils.clip_grad_norm_(ours, 1.5, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type)
    assert total == pytest.approx(float(t_total), rel=1e-12)
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_matches_torch_and_leaves_small_norms(rng):
    g = rng.normal(size=(4, 4))
    p = ag.Tensor(np.zeros((4, 4)), requires_grad=True)
    t = torch.zeros((4, 4), dtype=torch.float64, requires_grad=True)
    p.grad, t.grad = g.copy(), torch.tensor(g)
    ag.nn.utils.clip_grad_value_([p], 0.5)
    torch.nn.utils.clip_grad_value_([t], 0.5)
    np.testing.assert_array_equal(p.grad, t.grad.numpy())
    q = ag.Tensor(np.zeros(2), requires_grad=True)
    q.grad = np.array([0.1, 0.2])
    ag.nn.utils.clip_grad_norm_([q], 10.0)
    np.testing.assert_array_equal(q.grad, [0.1, 0.2])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm"):
        q.grad = np.array([np.inf, 1.0])
        ag.nn.utils.clip_grad_norm_(q, 1.0, error_if_nonfinite=True)


def test_compiling_a_training_model_with_side_effects_is_refused(rng):
    x = rng.normal(size=(4, 2, 5, 5))
    for layer in (nn.BatchNorm2d(2), nn.Dropout(0.5, rng=0)):
        params = {name: p.data for name, p in layer.named_parameters()}

        def loss(params, x, layer=layer):
            return ag.nn.functional_call(layer, params, x).sum()

        with pytest.raises(RuntimeError, match="ag.compile"):
            ag.compile(ag.value_and_grad(loss, argnums=1))(params, x)
        layer.eval()  # in eval mode both are plain functions of their inputs: compiled as such
        value, grad = ag.compile(ag.value_and_grad(loss, argnums=1))(params, x)
        expected, expected_grad = ag.value_and_grad(loss, argnums=1)(params, x)
        np.testing.assert_allclose(value.data, expected.data, rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_embedding_padding_row_gets_no_gradient_as_in_torch(rng):
    ours = nn.Embedding(6, 3, padding_idx=2, rng=0)
    theirs = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)
    np.testing.assert_array_equal(ours.weight.data[2], 0.0)
    ours.weight.data[2] = 1.5  # a padding row that is no longer zero is still looked up
    _load_into_torch(ours, theirs)
    idx = np.array([[2, 1, 2], [0, 5, 2]])
    out = ours(idx)
    w = rng.normal(size=out.shape)
    (out * w).sum().backward()
    t_out = theirs(torch.tensor(idx))
    (t_out * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12)
    assert not ours.weight.grad[2].any()


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match=r"BatchNorm2d: momentum must be a number in \[0, 1\], "
                                         r"or None for the cumulative average, got 1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="Conv2d: groups=2 must divide in_channels=3"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be a positive int, got 0"):
        nn.Conv2d(3, 4, 0)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="Embedding: padding_idx 7 is out of range"):
        nn.Embedding(5, 2, padding_idx=7)
    with pytest.raises(ValueError, match=r"layer_norm: input of shape \(2, 3\) does not end in"):
        nn.LayerNorm(4)(np.ones((2, 3)))
