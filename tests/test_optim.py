"""ag.optim: SGD and Adam against torch.optim trajectories, functional forms, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import optim

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 3))
Y = RNG.normal(size=(5, 2))
INIT = {"W": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(2,)), "c": RNG.normal(size=(2,))}
STEPS = 6


def _loss(W, b, c, step, lib_tanh):
    """A nonlinear loss; `c` only takes part from step 2 on, so its grad is None before."""
    h = lib_tanh(X @ W + b)
    out = ((h - Y) ** 2).sum()
    if step >= 2:
        out = out + (c * c * h[0]).sum()
    return out


def _ours(make_opt):
    params = {k: ag.Tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = make_opt(list(params.values()))
    history = []
    for step in range(STEPS):
        opt.zero_grad()
        _loss(params["W"], params["b"], params["c"], step, ag.tanh).backward()
        if step < 2:
            assert params["c"].grad is None
        opt.step()
        history.append({k: p.data.copy() for k, p in params.items()})
    return history


def _torch(make_opt):
    torch = pytest.importorskip("torch")
    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    Xt = torch.tensor(X)
    Yt = torch.tensor(Y)
    opt = make_opt(list(params.values()))
    history = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        h = torch.tanh(Xt @ params["W"] + params["b"])
        out = ((h - Yt) ** 2).sum()
        if step >= 2:
            out = out + (params["c"] * params["c"] * h[0]).sum()
        out.backward()
        opt.step()
        history.append({k: p.detach().numpy().copy() for k, p in params.items()})
    return history


SETTINGS = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("adam", dict(lr=0.02, weight_decay=0.1)),
]


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=[f"{k}-{kw}" for k, kw in SETTINGS])
def test_trajectory_matches_torch(kind, kw):
    torch = pytest.importorskip("torch")
    ours_cls = optim.SGD if kind == "sgd" else optim.Adam
    torch_cls = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
    ours = _ours(lambda ps: ours_cls(ps, **kw))
    theirs = _torch(lambda ps: torch_cls(ps, **kw))
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for key in INIT:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-12,
                                       err_msg=f"step {step}, {key}")
    # c had no grad for the first two steps: untouched then, moved afterwards
    np.testing.assert_array_equal(ours[1]["c"], INIT["c"])
    assert not np.allclose(ours[-1]["c"], INIT["c"])


def _functional_history(kind, kw):
    params = {k: v.copy() for k, v in INIT.items()}
    state = optim.adam_init(params) if kind == "adam" else optim.sgd_init(params)
    history = []
    for step in range(STEPS):
        # the functional form updates every leaf each step: use step >= 2 for all of them
        grads = ag.grad(lambda p, s=step: _loss(p["W"], p["b"], p["c"], s + 2, ag.tanh))(params)
        if kind == "adam":
            params, state = optim.adam_update(params, grads, state, **kw)
        else:
            params, state = optim.sgd_update(params, grads, state=state, **kw)
        history.append(params)
    return history


@pytest.mark.parametrize("kind, kw", [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1)),
])
def test_functional_forms_match_the_classes(kind, kw):
    fn_hist = _functional_history(kind, kw)
    params = {k: ag.Tensor(v.copy(), requires_grad=True) for k, v in INIT.items()}
    opt = (optim.Adam if kind == "adam" else optim.SGD)(list(params.values()), **kw)
    for step in range(STEPS):
        opt.zero_grad()
        _loss(params["W"], params["b"], params["c"], step + 2, ag.tanh).backward()
        opt.step()
        for key in INIT:
            np.testing.assert_allclose(fn_hist[step][key], params[key].data, rtol=1e-13,
                                       atol=1e-15)


def test_functional_updates_do_not_mutate_inputs_and_keep_dtype():
    params = {"w": np.ones(3, np.float32), "nested": [np.zeros((2, 2), np.float32)]}
    grads = {"w": np.full(3, 0.5, np.float32), "nested": [np.ones((2, 2), np.float32)]}
    snapshot = {"w": params["w"].copy(), "g": grads["w"].copy()}
    new = optim.sgd_update(params, grads, lr=0.1)
    np.testing.assert_array_equal(params["w"], snapshot["w"])
    np.testing.assert_array_equal(grads["w"], snapshot["g"])
    np.testing.assert_allclose(new["w"], 1 - 0.1 * 0.5)
    assert new["w"].dtype == np.float32 and new["nested"][0].dtype == np.float32
    state = optim.adam_init(params)
    new, state2 = optim.adam_update(params, grads, state, lr=0.1)
    assert state["step"] == 0 and state2["step"] == 1
    np.testing.assert_array_equal(state["m"]["w"], 0)
    np.testing.assert_array_equal(params["w"], snapshot["w"])
    assert new["w"].dtype == np.float32 and state2["m"]["w"].dtype == np.float32
    # first Adam step moves every coordinate with a nonzero grad by ~lr
    np.testing.assert_allclose(new["w"], 1 - 0.1, rtol=1e-5)


def test_hyperparameter_and_parameter_errors():
    p = ag.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="lr must be a positive finite number, got 0"):
        optim.SGD([p], lr=0)
    with pytest.raises(ValueError, match="lr must be a positive"):
        optim.Adam([p], lr=-1e-3)
    with pytest.raises(ValueError, match="lr must be a positive"):
        optim.SGD([p], lr=float("nan"))
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\), got 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\), got -0.1"):
        optim.Adam([p], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.Adam([p], betas=0.9)
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        optim.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        optim.Adam([p], weight_decay=-1)
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        optim.SGD([p], lr=0.1, nesterov=True)
    frozen = ag.Tensor(np.ones(2), name="frozen")
    with pytest.raises(ValueError, match="'frozen' .* does not require grad"):
        optim.SGD([p, frozen], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="#1 is a ndarray, expected a Tensor"):
        optim.SGD([p, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="got a dict"):
        optim.SGD({"p": p}, lr=0.1)
    with pytest.raises(ValueError, match="appears more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="momentum needs state"):
        optim.sgd_update({"p": np.ones(2)}, {"p": np.ones(2)}, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"missing \['q'\], extra \['r'\]"):
        optim.sgd_update({"p": np.ones(2), "q": np.ones(1)}, {"p": np.ones(2), "r": np.ones(1)},
                         lr=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        optim.adam_update({"p": np.ones(2)}, {"p": np.ones(2)}, optim.adam_init({"p": np.ones(2)}),
                          lr=0.0)


def test_named_parameters_are_accepted_and_named_in_errors():
    model = ag.nn.MLP([2, 3, 1], rng=0)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.names == [n for n, _ in model.named_parameters()]
    model(np.ones((1, 2))).sum().backward()
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    for b, p in zip(before, model.parameters(), strict=True):
        np.testing.assert_allclose(p.data, b - 0.1 * p.grad, rtol=1e-15)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_sgd_update_takes_adams_order_and_keeps_the_earlier_forms():
    """issue 22: `sgd_update(params, grads, state, lr=...)` as `adam_update`, `(params, state)`
    back; the earlier `(params, grads, lr)` and `lr=..., state=...` forms still work."""
    import inspect

    sgd_names = list(inspect.signature(optim.sgd_update).parameters)[:4]
    adam_names = list(inspect.signature(optim.adam_update).parameters)[:4]
    assert sgd_names == adam_names == ["params", "grads", "state", "lr"]
    params = {"w": np.array([1.0, -2.0]), "b": np.array([0.5])}
    grads = {"w": np.array([0.5, 0.25]), "b": np.array([-1.0])}
    expected = {"w": np.array([0.95, -2.025]), "b": np.array([0.6])}

    def same(a, b):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-15)

    # the newcomer's call, written like adam_update's
    new, state = optim.sgd_update(params, grads, optim.sgd_init(params), lr=0.1)
    same(new, expected)
    assert state["step"] == 1
    # the same order with momentum, positionally as well: both forms give one trajectory
    s_new = s_old = optim.sgd_init(params)
    p_new = p_old = params
    for _ in range(3):
        p_new, s_new = optim.sgd_update(p_new, grads, s_new, 0.1, 0.9, 0.01, 0.1)
        p_old, s_old = optim.sgd_update(p_old, grads, lr=0.1, momentum=0.9, weight_decay=0.01,
                                        state=s_old, dampening=0.1)
        same(p_new, p_old)
        same(s_new["momentum_buffer"], s_old["momentum_buffer"])
    assert s_new["step"] == s_old["step"] == 3
    # the earlier forms: lr in third place or by keyword (params back), state by keyword
    same(optim.sgd_update(params, grads, 0.1), expected)
    same(optim.sgd_update(params, grads, lr=0.1), expected)
    same(optim.sgd_update(params, grads, np.float64(0.1)), expected)
    old_p, old_s = optim.sgd_update(params, grads, 0.1, momentum=0.9, state=optim.sgd_init(params))
    same(old_p, expected)
    assert old_s["step"] == 1
    # Tensors in, Tensors out, in the new order too
    tp, ts = optim.sgd_update({k: ag.Tensor(v) for k, v in params.items()}, grads,
                              optim.sgd_init(params), lr=0.1)
    assert isinstance(tp["w"], ag.Tensor)
    same({k: v.data for k, v in tp.items()}, expected)
    # mistakes are named
    with pytest.raises(TypeError, match="lr is required"):
        optim.sgd_update(params, grads, optim.sgd_init(params))
    with pytest.raises(TypeError, match="state given twice"):
        optim.sgd_update(params, grads, optim.sgd_init(params), lr=0.1,
                         state=optim.sgd_init(params))
    with pytest.raises(TypeError, match="read as lr"):
        optim.sgd_update(params, grads, 0.1, 0.9)
    with pytest.raises(TypeError, match="unexpected keyword argument 'betas'"):
        optim.sgd_update(params, grads, lr=0.1, betas=(0.9, 0.99))
