"""AdamW, RMSprop, Adagrad, Adam(amsgrad=True), parameter groups and state_dict resume against
torch.optim (20 steps, every parameter, float64), their functional forms, and their errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import optim

RNG = np.random.default_rng(3)
X = RNG.normal(size=(6, 3))
Y = RNG.normal(size=(6, 2))
INIT = {"W": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(2,)), "c": RNG.normal(size=(2,))}
STEPS = 20


def _loss(p, step, lib, x=X, y=Y):
    """A nonlinear loss; `c` joins from step 2 on, so its grad is None before (skipped)."""
    h = lib.tanh(x @ p["W"] + p["b"])
    out = ((h - y) ** 2).sum()
    if step >= 2:
        out = out + (p["c"] * p["c"] * h[0]).sum()
    return out


def _groups(params, group_options):
    """One group per options dict (W alone, then b and c), or a plain list without options."""
    if group_options is None:
        return list(params.values())
    first, second = group_options
    return [{"params": [params["W"]], **first}, {"params": [params["b"], params["c"]], **second}]


def _ours(cls, kw, group_options=None, steps=STEPS, params=None, opt=None, start=0):
    params = params or {k: ag.Tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = opt or cls(_groups(params, group_options), **kw)
    history = []
    for step in range(start, start + steps):
        opt.zero_grad()
        _loss(params, step, ag).backward()
        opt.step()
        history.append({k: p.data.copy() for k, p in params.items()})
    return history, params, opt


def _torch(cls_name, kw, group_options=None):
    torch = pytest.importorskip("torch")
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = getattr(torch.optim, cls_name)(_groups(params, group_options), **kw)
    history = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        _loss(params, step, torch, torch.tensor(X), torch.tensor(Y)).backward()
        opt.step()
        history.append({k: p.detach().numpy().copy() for k, p in params.items()})
    return history


SETTINGS = [
    ("AdamW", {}),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.95), weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.03, amsgrad=True)),
    ("Adam", dict(lr=0.03, amsgrad=True, weight_decay=0.1, betas=(0.5, 0.9))),
    ("RMSprop", {}),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.005, momentum=0.9)),
    ("RMSprop", dict(lr=0.003, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.5, alpha=0.95)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
]


def _assert_same_trajectory(ours, theirs):
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for key in INIT:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-12,
                                       err_msg=f"step {step}, {key}")


@pytest.mark.parametrize("name, kw", SETTINGS, ids=[f"{n}-{kw}" for n, kw in SETTINGS])
def test_trajectory_matches_torch(name, kw):
    ours, _, _ = _ours(getattr(optim, name), kw)
    _assert_same_trajectory(ours, _torch(name, kw))
    np.testing.assert_array_equal(ours[1]["c"], INIT["c"])  # no grad yet: untouched
    assert not np.allclose(ours[-1]["c"], INIT["c"])


GROUPS = [
    ("SGD", dict(lr=0.05, momentum=0.9), (dict(lr=0.01), dict(momentum=0.5, nesterov=True))),
    ("Adam", dict(lr=0.01), (dict(lr=0.05, amsgrad=True), dict(weight_decay=0.1))),
    ("AdamW", dict(lr=0.01), (dict(weight_decay=0.0), dict(lr=0.03, betas=(0.8, 0.9)))),
    ("RMSprop", dict(lr=0.01), (dict(centered=True), dict(lr=0.002, momentum=0.9))),
    ("Adagrad", dict(lr=0.05), (dict(lr_decay=0.1), dict(lr=0.2))),
]


@pytest.mark.parametrize("name, kw, groups", GROUPS, ids=[g[0] for g in GROUPS])
def test_parameter_groups_match_torch(name, kw, groups):
    ours, _, opt = _ours(getattr(optim, name), kw, groups)
    _assert_same_trajectory(ours, _torch(name, kw, groups))
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["params"][1] is not None
    for key, value in {**kw, **groups[0]}.items():
        got = opt.param_groups[0][key]
        assert got == (tuple(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.02, amsgrad=True)),
    ("AdamW", dict(lr=0.02)), ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
])
def test_resuming_from_state_dict_equals_an_uninterrupted_run(name, kw):
    cls = getattr(optim, name)
    whole, _, _ = _ours(cls, kw)
    # run 7 steps, save the parameters and the optimizer, go on from copies in a new optimizer
    first, params, opt = _ours(cls, kw, steps=7)
    saved_params = {k: p.data.copy() for k, p in params.items()}
    saved = copy.deepcopy(opt.state_dict())
    opt.step()  # the original keeps moving; the saved copy must not follow
    resumed_params = {k: ag.Tensor(v, requires_grad=True) for k, v in saved_params.items()}
    resumed = cls(list(resumed_params.values()), lr=0.5)  # the options come from the state
    resumed.load_state_dict(saved)
    rest, _, _ = _ours(cls, kw, steps=STEPS - 7, params=resumed_params, opt=resumed, start=7)
    for step, (a, b) in enumerate(zip(first + rest, whole, strict=True)):
        for key in INIT:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {step}, {key}")
    assert resumed.param_groups[0]["lr"] == kw["lr"]


def test_state_dict_is_a_copy_and_names_parameters_by_position():
    _, params, opt = _ours(optim.Adam, dict(lr=0.01), steps=3)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert set(sd["state"]) == {0, 1, 2}
    assert sd["state"][2]["step"] == 1 and sd["state"][0]["step"] == 3
    sd["state"][0]["m"][...] = 99.0
    assert not (opt.state[0]["m"] == 99.0).any()
    assert opt.params[0] is params["W"]


def test_functional_forms_match_the_classes():
    cases = [
        (optim.RMSprop, optim.rmsprop_init, optim.rmsprop_update,
         dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
        (optim.Adagrad, optim.adagrad_init, optim.adagrad_update,
         dict(lr=0.1, lr_decay=0.02, weight_decay=0.01)),
        (optim.AdamW, optim.adam_init, optim.adamw_update, dict(lr=0.02, weight_decay=0.1)),
        (optim.AdamW, lambda p: optim.adam_init(p, amsgrad=True), optim.adamw_update,
         dict(lr=0.02, amsgrad=True)),
        (optim.Adam, lambda p: optim.adam_init(p, amsgrad=True), optim.adam_update,
         dict(lr=0.02, amsgrad=True)),
    ]
    for cls, init, update, kw in cases:
        params = {k: v.copy() for k, v in INIT.items()}
        state = init(params)
        tensors = {k: ag.Tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
        opt = cls(list(tensors.values()), **kw)
        # Tensors in, Tensors out: the path ag.compile records
        t_params = {k: ag.Tensor(v.copy()) for k, v in INIT.items()}
        t_state = init(params)
        for step in range(STEPS):
            grads = ag.grad(lambda p, s=step: _loss(p, s + 2, ag))(params)
            params, state = update(params, grads, state, **kw)
            t_params, t_state = update(t_params, grads, t_state, **kw)
            opt.zero_grad()
            _loss(tensors, step + 2, ag).backward()
            opt.step()
            for key in INIT:
                np.testing.assert_allclose(params[key], tensors[key].data, rtol=1e-13,
                                           atol=1e-15, err_msg=f"{update.__name__} {step}")
                assert isinstance(t_params[key], ag.Tensor)
                np.testing.assert_allclose(t_params[key].data, params[key], rtol=1e-13,
                                           atol=1e-15)
        assert int(state["step"]) == STEPS


def test_float32_parameters_stay_float32():
    for cls in (optim.AdamW, optim.RMSprop, optim.Adagrad):
        p = ag.Tensor(np.ones(3, np.float32), requires_grad=True)
        opt = cls([p], lr=0.1)
        (p * p).sum().backward()
        opt.step()
        assert p.data.dtype == np.float32
    params = {"w": np.ones(3, np.float32)}
    grads = {"w": np.full(3, 0.5, np.float32)}
    new, state = optim.rmsprop_update(params, grads, optim.rmsprop_init(params), momentum=0.9)
    assert new["w"].dtype == np.float32 and state["momentum_buffer"]["w"].dtype == np.float32
    new, state = optim.adagrad_update(params, grads, optim.adagrad_init(params), lr_decay=0.1)
    assert new["w"].dtype == np.float32 and state["sum"]["w"].dtype == np.float32


def test_lr_attribute_reads_and_sets_every_group():
    a = ag.Tensor(np.ones(2), requires_grad=True)
    b = ag.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2]
    opt.param_groups[1]["lr"] = 0.3
    with pytest.raises(AttributeError, match=r"SGD.lr: the 2 parameter groups have different "
                                             r"values \[0.2, 0.3\]"):
        _ = opt.lr
    opt.lr = -1.0
    (a.sum() + b.sum()).backward()
    with pytest.raises(ValueError, match=r"SGD: lr must be finite and >= 0 \(a schedule may "
                                         r"take it to 0\), got -1.0"):
        opt.step()


def test_errors_name_the_optimizer_and_the_option():
    p = ag.Tensor(np.ones(2), requires_grad=True, name="p")
    q = ag.Tensor(np.ones(3), requires_grad=True, name="q")
    with pytest.raises(ValueError, match=r"RMSprop: alpha must be in \[0, 1\], got 1.5"):
        optim.RMSprop([p], alpha=1.5)
    with pytest.raises(ValueError, match="RMSprop: momentum must be >= 0, got -0.1"):
        optim.RMSprop([p], momentum=-0.1)
    with pytest.raises(TypeError, match="RMSprop: centered must be True or False, got 'yes'"):
        optim.RMSprop([p], centered="yes")
    with pytest.raises(ValueError, match="Adagrad: lr_decay must be >= 0"):
        optim.Adagrad([p], lr_decay=-1)
    with pytest.raises(TypeError, match="AdamW: amsgrad must be True or False"):
        optim.AdamW([p], amsgrad=1)
    with pytest.raises(TypeError, match=r"SGD: group 1: unknown option\(s\) \['betas'\]"):
        optim.SGD([{"params": [p]}, {"params": [q], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(TypeError, match="mixes parameter-group dicts with Tensors"):
        optim.SGD([{"params": [p]}, q], lr=0.1)
    with pytest.raises(ValueError, match="'p' appears more than once"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="amsgrad=True needs the state from "
                                         r"ag.optim.adam_init\(params, amsgrad=True\)"):
        optim.adam_update({"p": np.ones(2)}, {"p": np.ones(2)},
                          optim.adam_init({"p": np.ones(2)}), amsgrad=True)
    with pytest.raises(TypeError, match=r"rmsprop_update: state must come from "
                                        r"ag.optim.rmsprop_init"):
        optim.rmsprop_update({"p": np.ones(2)}, {"p": np.ones(2)},
                             optim.adam_init({"p": np.ones(2)}))
    opt = optim.Adam([p, q], lr=0.1)
    (p.sum() + q.sum()).backward()
    opt.step()
    other = optim.Adam([q, p], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state 'm' of parameter 'q' "
                                         r"has shape \(2,\), the parameter \(3,\)"):
        other.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"groups of \[2\] parameters, this optimizer \[1\]"):
        optim.Adam([p]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"option\(s\) \['amsgrad', 'betas', 'eps'\] that SGD "
                                         "does not take"):
        optim.SGD([p, q], lr=0.1).load_state_dict(opt.state_dict())


def test_a_deep_copy_of_model_and_optimizer_continues_the_same_trajectory():
    """State is keyed by position, not id, so a copied (or unpickled) optimizer keeps it."""
    import pickle

    _, params, opt = _ours(optim.RMSprop, dict(lr=0.01, momentum=0.9), steps=5)
    twin_params, twin_opt = copy.deepcopy((params, opt))
    thawed_params, thawed_opt = pickle.loads(pickle.dumps((params, opt)))
    runs = [_ours(optim.RMSprop, {}, steps=5, params=p, opt=o, start=5)[0]
            for p, o in ((params, opt), (twin_params, twin_opt), (thawed_params, thawed_opt))]
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            for key in INIT:
                np.testing.assert_array_equal(a[key], b[key])


COMPILED = [
    (optim.rmsprop_init, optim.rmsprop_update, dict(lr=0.01, momentum=0.9, centered=True)),
    (optim.adagrad_init, optim.adagrad_update, dict(lr=0.1, lr_decay=0.05, weight_decay=0.01)),
    (optim.adam_init, optim.adamw_update, dict(lr=0.02, weight_decay=0.1)),
    (lambda p: optim.adam_init(p, amsgrad=True), optim.adam_update, dict(lr=0.02, amsgrad=True)),
]


@pytest.mark.parametrize("init, update, kw", COMPILED, ids=[c[1].__name__ + str(c[2].get(
    "amsgrad", "")) for c in COMPILED])
def test_compiled_training_step_matches_eager_with_one_trace(init, update, kw):
    """The new functional forms compile as adam_update does: the step counter is an input
    (Adagrad's lr_decay reads it as a value), so one specialisation serves every step."""
    def train_step(params, state, x, y):
        loss, grads = ag.value_and_grad(
            lambda p: ((ag.tanh(x @ p["W"] + p["b"]) - y) ** 2).sum())(params)
        params, state = update(params, grads, state, **kw)
        return loss, params, state

    rng = np.random.default_rng(9)
    batches = [(rng.normal(size=(6, 3)), rng.normal(size=(6, 2))) for _ in range(8)]
    compiled = ag.compile(train_step)
    runs = []
    for step in (train_step, compiled):
        params = {"W": INIT["W"].copy(), "b": INIT["b"].copy()}
        state = init(params)
        history = []
        for x, y in batches:
            loss, params, state = step(params, state, x, y)
            history.append((float(loss), params))
        runs.append(history)
    assert compiled.traces == 1
    for (loss_e, p_e), (loss_c, p_c) in zip(*runs, strict=True):
        assert loss_c == pytest.approx(loss_e, rel=1e-12)
        for key in p_e:
            assert type(p_c[key]) is np.ndarray
            np.testing.assert_allclose(p_c[key], p_e[key], rtol=1e-12, atol=1e-14)
    assert not np.allclose(runs[1][-1][1]["W"], INIT["W"])
