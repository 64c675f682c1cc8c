"""MultiStepLR, LambdaLR, OneCycleLR, SequentialLR and ReduceLROnPlateau against
torch.optim.lr_scheduler: the lr of every parameter group (and OneCycle's momentum) at every
step, with two groups of different lrs."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.optim import lr_scheduler as S

torch = pytest.importorskip("torch")
T = torch.optim.lr_scheduler
STEPS = 30


def _pair(kind="SGD", **kw):
    """Our optimizer and torch's, each with two parameter groups (lr 0.5 and 0.1)."""
    ours = [ag.Tensor(np.zeros(2), requires_grad=True) for _ in range(2)]
    theirs = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    opt = getattr(ag.optim, kind)([{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.1}],
                                  lr=0.5, **kw)
    t_opt = getattr(torch.optim, kind)([{"params": [theirs[0]]},
                                        {"params": [theirs[1]], "lr": 0.1}], lr=0.5, **kw)
    return opt, t_opt


def _run(opt, sched, steps=STEPS, metrics=None, extra=()):
    """Every group's lr (and the `extra` options) after construction and each step."""
    seen = []

    def record():
        row = [g["lr"] for g in opt.param_groups]
        for key in extra:
            row += [g[key][0] if key == "betas" else g[key] for g in opt.param_groups]
        seen.append(row)

    record()
    for i in range(steps):
        opt.step()
        sched.step(metrics[i]) if metrics is not None else sched.step()
        record()
    return np.array(seen, dtype=float)


CASES = [
    ("MultiStepLR", lambda M, o: M.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.5), {}, ()),
    ("LambdaLR", lambda M, o: M.LambdaLR(o, lambda s: 0.95 ** s + 0.01 * (s % 3)), {}, ()),
    ("LambdaLR-per-group", lambda M, o: M.LambdaLR(
        o, [lambda s: 1 / (1 + s), lambda s: min(1.0, (s + 1) / 5)]), {}, ()),
    ("OneCycleLR-cos-sgd", lambda M, o: M.OneCycleLR(o, max_lr=[1.0, 0.2], total_steps=STEPS),
     dict(momentum=0.9), ("momentum",)),
    ("OneCycleLR-linear-three-phase", lambda M, o: M.OneCycleLR(
        o, max_lr=0.8, epochs=5, steps_per_epoch=6, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0, cycle_momentum=False),
     {}, ()),
    ("SequentialLR-warmup-cosine", lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=5), M.CosineAnnealingLR(o, T_max=20)],
        milestones=[5]), {}, ()),
    ("SequentialLR-three", lambda M, o: M.SequentialLR(
        o, [M.ExponentialLR(o, 0.9), M.MultiStepLR(o, [2, 4]), M.StepLR(o, 3, gamma=0.7)],
        milestones=[6, 14]), {}, ()),
]


@pytest.mark.parametrize("name, make, opt_kw, extra", CASES, ids=[c[0] for c in CASES])
def test_schedules_match_torch_for_every_group(name, make, opt_kw, extra):
    opt, t_opt = _pair(**opt_kw)
    ours = _run(opt, make(S, opt), extra=extra)
    theirs = _run(t_opt, make(T, t_opt), extra=extra)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert len(set(np.round(ours[:, 0], 12))) > 3  # the schedule actually moves


def test_one_cycle_cycles_adams_beta1():
    opt, t_opt = _pair("Adam")
    ours = _run(opt, S.OneCycleLR(opt, max_lr=0.3, total_steps=STEPS), extra=("betas",))
    theirs = _run(t_opt, T.OneCycleLR(t_opt, max_lr=0.3, total_steps=STEPS), extra=("betas",))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="OneCycleLR: stepped 31 times, but total_steps is 30"):
        S.OneCycleLR(opt, max_lr=0.3, total_steps=STEPS).step(STEPS + 1)


@pytest.mark.parametrize("kw", [
    {}, dict(patience=2, factor=0.5), dict(mode="max", patience=1, cooldown=2),
    dict(patience=0, threshold=0.05, threshold_mode="abs", min_lr=[0.01, 0.02]),
    dict(patience=1, threshold=0.01, mode="max", threshold_mode="abs", eps=0.05),
])
def test_reduce_on_plateau_matches_torch(kw):
    rng = np.random.default_rng(5)
    # improving, then flat with noise, then improving again, then flat
    metrics = np.concatenate([np.linspace(1, 0.5, 8), 0.5 + 0.01 * rng.random(15),
                              np.linspace(0.5, 0.2, 10), 0.2 + 0.001 * rng.random(27)])
    opt, t_opt = _pair()
    ours = _run(opt, S.ReduceLROnPlateau(opt, **kw), steps=len(metrics), metrics=metrics)
    theirs = _run(t_opt, T.ReduceLROnPlateau(t_opt, **kw), steps=len(metrics), metrics=metrics)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert len(set(ours[:, 0])) > 1 or kw.get("mode") == "max"


def test_reduce_on_plateau_takes_a_tensor_metric_and_refuses_others():
    opt, _ = _pair()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(ag.Tensor(np.array(1.0)))
    sched.step(ag.Tensor(np.array(2.0)))
    assert sched.get_last_lr() == pytest.approx([0.05, 0.01])
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: metric must be a number"):
        sched.step("loss")


def test_scheduler_state_dict_resumes_the_sequence():
    def make(o):
        return S.SequentialLR(o, [S.LinearLR(o, 0.2, total_iters=4),
                                  S.MultiStepLR(o, [3, 8])], milestones=[4])

    opt, _ = _pair()
    whole = _run(opt, make(opt))
    opt2, _ = _pair()
    sched = make(opt2)
    first = _run(opt2, sched, steps=10)
    saved_sched, saved_opt = sched.state_dict(), opt2.state_dict()
    opt3, _ = _pair()
    resumed = make(opt3)
    opt3.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    rest = _run(opt3, resumed, steps=STEPS - 10)
    np.testing.assert_array_equal(np.concatenate([first, rest[1:]]), whole)


def test_lambda_lr_state_dict_pickles_and_resumes():
    import pickle

    def make(o):
        return S.LambdaLR(o, [lambda s: 0.9 ** s, lambda s: 1 / (1 + s)])

    opt, _ = _pair()
    whole = _run(opt, make(opt))
    opt2, _ = _pair()
    sched = make(opt2)
    first = _run(opt2, sched, steps=10)
    saved = pickle.loads(pickle.dumps((sched.state_dict(), opt2.state_dict())))
    assert saved[0]["lr_lambdas"] == [None, None]
    opt3, _ = _pair()
    resumed = make(opt3)
    opt3.load_state_dict(saved[1])
    resumed.load_state_dict(saved[0])
    rest = _run(opt3, resumed, steps=STEPS - 10)
    np.testing.assert_array_equal(np.concatenate([first, rest[1:]]), whole)


def test_scheduler_errors_are_named():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="MultiStepLR: milestones must be a non-empty list"):
        S.MultiStepLR(opt, milestones=[])
    with pytest.raises(ValueError, match="LambdaLR: expected 2 lr_lambdas"):
        S.LambdaLR(opt, [lambda s: 1.0])
    with pytest.raises(TypeError, match="LambdaLR: lr_lambda #0 must be a function"):
        S.LambdaLR(opt, 0.5)
    with pytest.raises(ValueError, match="OneCycleLR: give total_steps, or epochs and "
                                         "steps_per_epoch"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="OneCycleLR: cycle_momentum=True needs an optimizer "
                                         "with momentum or betas; Adagrad has neither"):
        S.OneCycleLR(ag.optim.Adagrad([ag.Tensor(np.zeros(1), requires_grad=True)]),
                     max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: factor must be in \[0, 1\)"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="SequentialLR: 2 schedulers need 1 milestones, got 0"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], milestones=[])
    other, _ = _pair()
    with pytest.raises(ValueError, match=r"SequentialLR: scheduler #1 \(StepLR\) drives another"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(other, 3)], milestones=[3])
    with pytest.raises(TypeError, match="SequentialLR: scheduler #0 is a ReduceLROnPlateau"):
        S.SequentialLR(opt, [S.ReduceLROnPlateau(opt)], milestones=[])
