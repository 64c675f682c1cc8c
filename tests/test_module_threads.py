"""functional_call never mutates its Module (so threads can share one), BatchNorm's running
statistics get true gradients through it, and vmap refuses train-mode BatchNorm untouched."""

from __future__ import annotations

import pickle
import sys
import threading

import numpy as np
import pytest
from numeric import numeric_grad_dict

import autograd_nn as ag
from autograd_nn import nn


class _Probe(nn.Module):
    """y = x * weight + bias, remembering the weight and bias each call saw."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.array([2.0]))
        self.bias = nn.Parameter(np.array([1.0]))
        self.seen: list[tuple[float, float]] = []

    def forward(self, x):
        self.seen.append((float(self.weight.data[0]), float(self.bias.data[0])))
        return x * self.weight + self.bias


# --- 1. functional_call from many threads ---------------------------------------------------
def test_functional_call_from_many_threads_on_one_shared_module():
    model = nn.MLP([3, 8, 2], activation="tanh", rng=0)
    own = {name: p for name, p in model.named_parameters()}
    before = model.state_dict()
    x = np.random.default_rng(1).normal(size=(4, 3))
    n_threads, rounds = 6, 50
    params = [{k: v + 0.1 * i for k, v in before.items()} for i in range(n_threads)]
    expected = [nn.functional_call(model, p, x).data for p in params]
    calls = [lambda: model(x)] + [  # thread 0 calls the module itself, with its own parameters
        lambda i=i: nn.functional_call(model, params[i], x) for i in range(1, n_threads)]
    barrier = threading.Barrier(n_threads)
    wrong: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(10)
            for _ in range(rounds):
                if not np.array_equal(calls[i]().data, expected[i]):
                    wrong.append(i)
        except BaseException as err:  # noqa: BLE001 (reported to the main thread)
            errors.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
    assert wrong == [], f"{len(wrong)} of {n_threads * rounds} calls saw another thread's params"
    assert dict(model.named_parameters()) == own
    for key, arr in model.state_dict().items():
        np.testing.assert_array_equal(arr, before[key])


def test_functional_call_leaves_the_module_attributes_alone_during_the_call():
    probe = _Probe()
    w0, b0 = probe.weight, probe.bias
    seen_outside = []

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = probe

        def forward(self, x):
            out = self.inner(x)
            seen_outside.append("weight" in probe.__dict__)
            return out

    out = nn.functional_call(Spy(), {"inner.weight": np.array([5.0])}, np.array([1.0]))
    np.testing.assert_allclose(out.data, [6.0])
    assert seen_outside == [False]  # parameters are not instance attributes, so never swapped
    assert probe.weight is w0 and probe.bias is b0


def test_nested_functional_call_sees_the_outer_values_and_leaves_no_override():
    probe = _Probe()
    w0, b0 = probe.weight, probe.bias

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.probe = probe

        def forward(self, x):
            inner = nn.functional_call(probe, {"bias": np.array([10.0])}, x)
            return self.probe(x) + inner

    out = nn.functional_call(Outer(), {"probe.weight": np.array([3.0])}, np.array([1.0]))
    assert probe.seen == [(3.0, 10.0), (3.0, 1.0)]
    np.testing.assert_allclose(out.data, [(3 + 10) + (3 + 1)])
    assert probe.weight is w0 and probe.bias is b0
    np.testing.assert_allclose(probe(np.array([1.0])).data, [3.0])


def test_an_error_inside_functional_call_leaves_no_override():
    probe = _Probe()
    w0 = probe.weight

    def boom(x):
        raise RuntimeError("boom")

    probe.forward = boom
    with pytest.raises(RuntimeError, match="boom"):
        nn.functional_call(probe, {"weight": np.array([7.0])}, np.array([1.0]))
    del probe.forward
    assert probe.weight is w0 and probe._parameters["weight"] is w0
    np.testing.assert_allclose(probe(np.array([1.0])).data, [3.0])
    assert probe.seen == [(2.0, 1.0)]


def test_module_bookkeeping_survives_parameters_outside_the_instance_dict():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3), nn.Linear(3, 1, rng=1))
    assert "weight" not in vars(model[0]) and "running_mean" not in vars(model[1])
    assert hasattr(model[0], "weight") and "weight" in dir(model[0])
    with pytest.raises(AttributeError, match="nope"):
        _ = model[0].nope
    model[0].bias = None  # a parameter set to None is unregistered, and reads as None
    assert model[0].bias is None and "0.bias" not in model.state_dict()
    twin = pickle.loads(pickle.dumps(model))
    x = np.ones((4, 2))
    np.testing.assert_array_equal(twin(x).data, model(x).data)
    assert twin[0].weight is not model[0].weight and twin[0].weight.name == "0.weight"
    del model[2].weight
    assert not hasattr(model[2], "weight") and "2.weight" not in model.state_dict()


# --- 2. BatchNorm running statistics through functional_call --------------------------------
def _bn_model(rng: np.random.Generator) -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Tanh(),
                          nn.Linear(4, 1, rng=1))
    model[1].running_mean.data[:] = rng.normal(size=4)
    model[1].running_var.data[:] = rng.uniform(0.5, 2.0, size=4)
    return model


@pytest.mark.parametrize("training", [False, True])
def test_batchnorm_running_stat_gradients_match_finite_differences(training):
    rng = np.random.default_rng(0)
    model = _bn_model(rng).train(training)
    x = rng.normal(size=(5, 3))
    params = model.state_dict()

    def loss(p):
        return (nn.functional_call(model, p, x) ** 2).sum()

    grads = ag.grad(loss)({k: v.copy() for k, v in params.items()})
    fd = numeric_grad_dict(lambda p: float(loss(p).data), params)
    for key, expected in fd.items():
        np.testing.assert_allclose(grads[key], expected, rtol=1e-6, atol=1e-8, err_msg=key)
    stat_grad = np.abs(fd["1.running_mean"]).sum() + np.abs(fd["1.running_var"]).sum()
    assert (stat_grad > 1e-3) == (not training)  # eval uses the running statistics, train not


def test_batchnorm_eval_output_keeps_its_dtype_with_float64_statistics():
    bn = nn.BatchNorm1d(3, affine=False).eval()
    bn.running_var.data[:] = 4.0
    out = bn(np.ones((2, 3), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, 1 / np.sqrt(4 + 1e-5), rtol=1e-6)


# --- 3. vmap over BatchNorm -----------------------------------------------------------------
def test_vmap_refuses_train_mode_batchnorm_before_changing_its_statistics():
    rng = np.random.default_rng(0)
    model = _bn_model(rng)
    before = model.state_dict()
    with pytest.raises(RuntimeError, match=r"BatchNorm1d.*vmap.*model\.eval\(\).*functional_call"):
        ag.vmap(model)(rng.normal(size=(2, 5, 3)))
    for key, arr in model.state_dict().items():
        np.testing.assert_array_equal(arr, before[key], err_msg=key)


def test_vmap_over_batchnorm_in_eval_mode_or_without_running_stats_is_per_example():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(2, 5, 3))
    model = _bn_model(rng).eval()
    np.testing.assert_allclose(ag.vmap(model)(xs).data, np.stack([model(x).data for x in xs]),
                               rtol=1e-12)
    free = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4, track_running_stats=False))
    np.testing.assert_allclose(ag.vmap(free)(xs).data, np.stack([free(x).data for x in xs]),
                               rtol=1e-12, atol=1e-14)
