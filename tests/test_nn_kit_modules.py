"""GELU and SiLU modules (and MLP's activation="gelu"/"silu"), GroupNorm, forward hooks and
BatchNorm's cumulative momentum=None, against torch.nn (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(11)


def _value_and_input_grad(module, t_module, x):
    w = RNG.normal(size=module(x).shape)
    xt = ag.Tensor(x, requires_grad=True)
    (module(xt) * w).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    out = t_module(tx)
    (out * torch.tensor(w)).sum().backward()
    return module(x).data, xt.grad, out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
], ids=["gelu", "gelu-tanh", "silu"])
def test_activation_modules_match_torch(ours, theirs):
    x = RNG.normal(scale=3.0, size=(4, 5))
    y, g, ty, tg = _value_and_input_grad(ours(), theirs(), x)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, torch_act", [("gelu", "GELU"), ("silu", "SiLU")])
def test_mlp_takes_gelu_and_silu_by_name(name, torch_act):
    mlp = nn.MLP([3, 5, 4, 2], activation=name, rng=0)
    assert isinstance(mlp.activations[0], getattr(nn, torch_act))
    assert mlp.activations[0] is not mlp.activations[1]
    layers = []
    for i, layer in enumerate(mlp.layers):
        lin = torch.nn.Linear(layer.in_features, layer.out_features).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer.weight.data.T))
            lin.bias.copy_(torch.tensor(layer.bias.data))
        layers.append(lin)
        if i < len(mlp.layers) - 1:
            layers.append(getattr(torch.nn, torch_act)())
    x = RNG.normal(size=(6, 3))
    y, g, ty, tg = _value_and_input_grad(mlp, torch.nn.Sequential(*layers), x)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("groups, channels, shape", [
    (2, 4, (3, 4)), (2, 6, (2, 6, 5)), (3, 6, (2, 6, 4, 3)), (1, 4, (2, 4, 3, 3)),
    (4, 4, (2, 4, 3, 3)),
])
def test_group_norm_matches_torch(groups, channels, shape):
    ours = nn.GroupNorm(groups, channels)
    theirs = torch.nn.GroupNorm(groups, channels).double()
    ours.weight.data = RNG.normal(size=channels)
    ours.bias.data = RNG.normal(size=channels)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = RNG.normal(loc=2.0, scale=3.0, size=shape)
    y, g, ty, tg = _value_and_input_grad(ours, theirs, x)
    np.testing.assert_allclose(y, ty, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-11,
                               atol=1e-13)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-12)


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected an input \(N, 4, ...\), "
                                         r"got shape \(2, 3, 5\)"):
        nn.GroupNorm(2, 4)(np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="group_norm: num_groups must be a positive int "
                                         "dividing the 4 channels"):
        nn.functional.group_norm(np.ones((2, 4)), 3)


def test_batch_norm_momentum_none_is_the_cumulative_average():
    ours = nn.BatchNorm1d(3, momentum=None)
    theirs = torch.nn.BatchNorm1d(3, momentum=None).double()
    for _ in range(6):
        x = RNG.normal(loc=1.0, scale=2.0, size=(5, 3))
        ours(x)
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked.data) == 6
    ours.eval()
    theirs.eval()
    x = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


def test_forward_hooks_capture_replace_and_remove():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    x = RNG.normal(size=(5, 3))
    captured = {}

    def capture(module, args, output):
        captured[type(module).__name__] = (args[0], output)

    handle = model[1].register_forward_hook(capture)
    out = model(x)
    relu_in, relu_out = captured["ReLU"]
    np.testing.assert_array_equal(relu_out.data, np.maximum(relu_in.data, 0))
    np.testing.assert_array_equal(model[2](relu_out).data, out.data)
    # a hook's non-None return replaces the output; pre-hooks may replace the inputs
    with model[2].register_forward_hook(lambda m, a, o: o * 0):
        assert not model(x).data.any()
    np.testing.assert_array_equal(model(x).data, out.data)  # removed on leaving the block
    with model[0].register_forward_pre_hook(lambda m, a: (a[0] * 2,)):
        doubled = model(x).data
    np.testing.assert_array_equal(doubled, model(2 * x).data)
    handle.remove()
    handle.remove()  # a second remove is a no-op
    captured.clear()
    model(x)
    assert captured == {}
    # gradients flow through a hooked module as without it
    with model[1].register_forward_hook(capture):
        g_hooked = ag.grad(lambda x: model(x).sum())(x)
    np.testing.assert_array_equal(g_hooked, ag.grad(lambda x: model(x).sum())(x))
    with pytest.raises(TypeError, match="ReLU.register_forward_hook: hook must be callable"):
        model[1].register_forward_hook("print")


def test_hooks_are_refused_under_compile():
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.ReLU())
    handle = model[1].register_forward_hook(lambda m, a, o: None)
    params = {k: v.data for k, v in model.named_parameters()}
    x = RNG.normal(size=(2, 3))
    step = ag.compile(lambda p, x: nn.functional_call(model, p, x).sum())
    with pytest.raises(RuntimeError, match=r"ReLU at '1' has forward hooks, which code "
                                           r"generated by ag.compile would not run"):
        step(params, x)
    handle.remove()
    assert float(step(params, x)) == pytest.approx(float(model(x).sum()), rel=1e-14)
