"""Compiled training steps (issue 20, point 3): `sgd_update` / `adam_update` trace as ops.

A compiled `value_and_grad` + optimizer step must update from each call's values (not replay
the ones seen while tracing), keep one specialisation across steps (the step counter is an
input), agree with the same loop run eagerly, and follow torch.optim.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import optim

STEPS = 10
SIZES = (4, 8, 3)  # inputs, hidden units, outputs


def _params(seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = SIZES
    return {
        "w1": rng.normal(scale=0.5, size=(n_in, n_hidden)).astype(dtype),
        "b1": rng.normal(scale=0.1, size=(n_hidden,)).astype(dtype),
        "w2": rng.normal(scale=0.5, size=(n_hidden, n_out)).astype(dtype),
        "b2": np.zeros(n_out, dtype),
    }


def _batches(seed: int = 1, n: int = STEPS, dtype=np.float64) -> list[tuple[np.ndarray, ...]]:
    """A new (x, y) every step: inputs that change between calls."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(6, SIZES[0])).astype(dtype),
             rng.normal(size=(6, SIZES[2])).astype(dtype)) for _ in range(n)]


def _mlp_loss(p, x, y):
    hidden = ag.tanh(x @ p["w1"] + p["b1"])
    return ((hidden @ p["w2"] + p["b2"] - y) ** 2).mean()


SETTINGS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]
IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for kind, kw in SETTINGS]


def _stateful(kind: str, kw: dict) -> bool:
    return kind == "adam" or "momentum" in kw


def _init(kind: str, kw: dict, params: dict):
    if kind == "adam":
        return optim.adam_init(params)
    return optim.sgd_init(params) if "momentum" in kw else None


def _train_step(kind: str, kw: dict):
    """(params, state, x, y) -> (loss, params, state): the step a user writes and compiles."""
    def train_step(params, state, x, y):
        loss, grads = ag.value_and_grad(_mlp_loss)(params, x, y)
        if kind == "adam":
            params, state = optim.adam_update(params, grads, state, **kw)
        elif state is None:
            params = optim.sgd_update(params, grads, **kw)
        else:
            params, state = optim.sgd_update(params, grads, state=state, **kw)
        return loss, params, state
    return train_step


def _run(step, kind, kw, batches, params=None, dtype=np.float64):
    params = _params(dtype=dtype) if params is None else params
    state = _init(kind, kw, params)
    history = []
    for x, y in batches:
        loss, params, state = step(params, state, x, y)
        history.append((loss, params, state))
    return history


def _max_difference(a, b) -> float:
    leaves_a, leaves_b = ag.tree_flatten(a)[0], ag.tree_flatten(b)[0]
    assert len(leaves_a) == len(leaves_b)
    return max((float(np.max(np.abs(np.asarray(x, float) - np.asarray(y, float))))
                for x, y in zip(leaves_a, leaves_b, strict=True) if x is not None), default=0.0)


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=IDS)
def test_compiled_training_loop_matches_eager_with_one_trace(kind, kw):
    batches = _batches()
    eager = _run(_train_step(kind, kw), kind, kw, batches)
    step = ag.compile(_train_step(kind, kw))
    compiled = _run(step, kind, kw, batches)
    # one specialisation serves every step: the step counter is an input, and SGD's first
    # momentum step is chosen by value (ag.where), not by a guarded Python branch
    assert step.traces == 1
    for i, (e, c) in enumerate(zip(eager, compiled, strict=True)):
        assert _max_difference(e, c) <= 1e-12, f"step {i}"
        # arrays in, arrays out, as the eager loop gives
        for leaf in ag.tree_flatten(c[1:])[0]:
            assert leaf is None or type(leaf) is np.ndarray
        if _stateful(kind, kw):
            assert c[2]["step"].shape == () and c[2]["step"].dtype == np.int64
            assert int(c[2]["step"]) == i + 1 == int(e[2]["step"])
    # the loop trained: the parameters moved
    assert _max_difference(compiled[-1][1], _params()) > 1e-3


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=IDS)
def test_compiled_step_does_not_replay_trace_time_values(kind, kw):
    """The issue's symptom: the update was computed with NumPy while tracing and baked into the
    generated code, so a call with new inputs returned the first call's parameters."""
    eager_step = _train_step(kind, kw)
    step = ag.compile(_train_step(kind, kw))
    (x0, y0), (x1, y1) = _batches(n=2)
    params = _params()
    state = _init(kind, kw, params)
    first = step(params, state, x0, y0)
    # the same parameters and state, a new batch: a new update
    second = step(params, state, x1, y1)
    assert _max_difference(second, eager_step(params, state, x1, y1)) <= 1e-12
    assert _max_difference(second[1], first[1]) > 1e-4
    # new parameters, the first batch again
    other = _params(seed=7)
    third = step(other, _init(kind, kw, other), x0, y0)
    assert _max_difference(third, eager_step(other, _init(kind, kw, other), x0, y0)) <= 1e-12
    if _stateful(kind, kw):
        # a later step counter (bias correction, momentum buffer already started) is a value
        _, later_params, later_state = eager_step(params, state, x0, y0)
        later_state = {**later_state, "step": np.array(5, dtype=np.int64)}
        got = step(later_params, later_state, x1, y1)
        assert _max_difference(got, eager_step(later_params, later_state, x1, y1)) <= 1e-12
        assert int(got[2]["step"]) == 6
    assert step.traces == 1


def test_compiling_the_update_alone():
    """`ag.compile` of the update itself: params, grads and state are all inputs."""
    update = ag.compile(lambda p, g, s: optim.adam_update(p, g, s, lr=0.05, weight_decay=0.01))
    sgd = ag.compile(lambda p, g, s: optim.sgd_update(p, g, 0.1, momentum=0.9, state=s))
    rng = np.random.default_rng(3)
    p_adam = p_sgd = p_eager_adam = p_eager_sgd = _params()
    s_adam = s_eager_adam = optim.adam_init(p_adam)
    s_sgd = s_eager_sgd = optim.sgd_init(p_sgd)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in p_adam.items()}
        p_adam, s_adam = update(p_adam, grads, s_adam)
        p_eager_adam, s_eager_adam = optim.adam_update(p_eager_adam, grads, s_eager_adam,
                                                       lr=0.05, weight_decay=0.01)
        p_sgd, s_sgd = sgd(p_sgd, grads, s_sgd)
        p_eager_sgd, s_eager_sgd = optim.sgd_update(p_eager_sgd, grads, 0.1, momentum=0.9,
                                                    state=s_eager_sgd)
        assert _max_difference((p_adam, s_adam), (p_eager_adam, s_eager_adam)) <= 1e-12
        assert _max_difference((p_sgd, s_sgd), (p_eager_sgd, s_eager_sgd)) <= 1e-12
    assert update.traces == 1 and sgd.traces == 1
    assert "step + np.int64(1)" in update.source  # the counter is computed, not a constant


def test_float32_training_stays_float32_under_compile():
    kind, kw = "adam", dict(lr=0.01, weight_decay=0.01)
    batches = _batches(dtype=np.float32)
    eager = _run(_train_step(kind, kw), kind, kw, batches, dtype=np.float32)
    step = ag.compile(_train_step(kind, kw))
    compiled = _run(step, kind, kw, batches, dtype=np.float32)
    assert step.traces == 1
    for e, c in zip(eager, compiled, strict=True):
        for leaf in ag.tree_flatten((c[1], c[2]["m"], c[2]["v"]))[0]:
            assert leaf.dtype == np.float32
        assert _max_difference(e, c) <= 1e-6


def test_a_python_int_step_from_an_old_state_dict():
    """Old state dicts hold `"step": 0`. Eagerly it works as before; compiled, the int is a
    static value, so the first call traces for it and returns the step as an array, and
    every later call uses the second specialisation."""
    kind, kw = "adam", dict(lr=0.01)
    batches = _batches()
    params = _params()
    old_state = {**optim.adam_init(params), "step": 0}
    eager_step, step = _train_step(kind, kw), ag.compile(_train_step(kind, kw))
    ep, es, cp, cs = params, old_state, params, old_state
    for x, y in batches:
        _, ep, es = eager_step(ep, es, x, y)
        _, cp, cs = step(cp, cs, x, y)
        assert type(es["step"]) is np.ndarray and type(cs["step"]) is np.ndarray
        assert _max_difference((ep, es), (cp, cs)) <= 1e-12
    assert int(es["step"]) == int(cs["step"]) == STEPS
    assert step.traces == 2
    # SGD with momentum too
    sgd_kw = dict(lr=0.1, momentum=0.9)
    new, state = optim.sgd_update(params, params, state={**optim.sgd_init(params), "step": 0},
                                  **sgd_kw)
    assert state["step"].shape == () and int(state["step"]) == 1
    np.testing.assert_array_equal(state["momentum_buffer"]["w1"], params["w1"])


def test_tensors_in_tensors_out_with_the_same_values():
    rng = np.random.default_rng(5)
    params = {"w": rng.normal(size=(3, 2)), "b": [rng.normal(size=2).astype(np.float32)]}
    grads = {"w": rng.normal(size=(3, 2)), "b": [rng.normal(size=2).astype(np.float32)]}
    as_tensors = {"w": ag.Tensor(params["w"], requires_grad=True), "b": [ag.Tensor(params["b"][0])]}
    for init, update in [
        (optim.adam_init, lambda p, s: optim.adam_update(p, grads, s, lr=0.1, weight_decay=0.1)),
        (optim.sgd_init,
         lambda p, s: optim.sgd_update(p, grads, 0.1, momentum=0.9, dampening=0.2, state=s)),
    ]:
        arrays_p, arrays_s = params, init(params)
        tensors_p, tensors_s = as_tensors, init(params)
        for _ in range(3):  # the first step (where SGD starts its buffer) and two more
            arrays_p, arrays_s = update(arrays_p, arrays_s)
            tensors_p, tensors_s = update(tensors_p, tensors_s)
            for a, t in zip(ag.tree_flatten((arrays_p, arrays_s))[0],
                            ag.tree_flatten((tensors_p, tensors_s))[0], strict=True):
                assert type(a) is np.ndarray
                assert isinstance(t, ag.Tensor) and not t.requires_grad
                assert t.dtype == a.dtype
                np.testing.assert_array_equal(t.data, a)
    np.testing.assert_array_equal(as_tensors["w"].data, params["w"])  # inputs unchanged


def test_a_bad_step_counter_is_refused_by_name():
    params = {"w": np.ones(2)}
    with pytest.raises(TypeError, match=r"state\['step'\] must be an integer"):
        optim.adam_update(params, params, {**optim.adam_init(params), "step": 1.5})
    with pytest.raises(TypeError, match="state must come from ag.optim.sgd_init"):
        optim.sgd_update(params, params, 0.1, momentum=0.9, state={"step": 0})


@pytest.mark.parametrize("kind, kw", [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
], ids=["sgd", "sgd-momentum-wd", "sgd-dampening", "adam", "adam-wd"])
def test_compiled_loop_follows_torch_optim(kind, kw):
    torch = pytest.importorskip("torch")
    batches = _batches(n=5)
    step = ag.compile(_train_step(kind, kw))
    ours = _run(step, kind, kw, batches)
    assert step.traces == 1
    params = {k: torch.tensor(v, requires_grad=True) for k, v in _params().items()}
    cls = torch.optim.Adam if kind == "adam" else torch.optim.SGD
    opt = cls(list(params.values()), **kw)
    for i, (x, y) in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        hidden = torch.tanh(torch.tensor(x) @ params["w1"] + params["b1"])
        loss = ((hidden @ params["w2"] + params["b2"] - torch.tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
        assert abs(float(ours[i][0]) - loss.item()) <= 1e-12
        theirs = {k: p.detach().numpy() for k, p in params.items()}
        assert _max_difference(ours[i][1], theirs) <= 1e-12, f"step {i}"


def test_gradients_changed_with_ops_come_back_as_tensors_as_in_eager():
    """Clipped with an op, the gradients are Tensors in the eager call too: the update returns
    Tensors there, and the compiled step does the same (still one trace)."""
    def train_step(params, state, x, y):
        grads = ag.grad(_mlp_loss)(params, x, y)
        grads = {k: ag.clip(g, -0.05, 0.05) for k, g in grads.items()}
        return optim.adam_update(params, grads, state, lr=0.01)

    step = ag.compile(train_step)
    ep = cp = _params()
    es = cs = optim.adam_init(ep)
    for x, y in _batches(n=4):
        ep, es = train_step(ep, es, x, y)
        cp, cs = step(cp, cs, x, y)
        assert isinstance(ep["w1"], ag.Tensor) and isinstance(cp["w1"], ag.Tensor)
        assert _max_difference((ep, es), (cp, cs)) <= 1e-12
    assert int(np.asarray(cs["step"])) == 4
    # the first call gets arrays and returns Tensors; later calls get those Tensors, which the
    # first specialisation runs on (a retrace for them would be allowed too)
    assert step.traces <= 2
