"""vjp, jvp, jacobians, hessian, hvp, vmap, custom_vjp, checkpoint and hooks, each against
torch.func / torch.autograd (float64, CPU) or against finite differences. Without PyTorch only
the checks against it skip, each on its own (`needs_torch`)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import test_core_ops
from hypothesis import given, settings
from hypothesis import strategies as st
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn.check import GradcheckError

try:
    import torch
    from torch import func as tfunc
except ImportError:  # no PyTorch: only the checks against it skip, each on its own
    torch = tfunc = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")

# torch.func itself calls torch.jit.script, which torch 2.13 deprecates: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _mlp_params(rng, sizes=(4, 5, 3)):
    return [(rng.normal(size=(a, b)) / np.sqrt(a), rng.normal(size=b) * 0.1)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def _mlp_ag(flat_w, params, x):
    """An MLP's loss as a function of its first weight (the others fixed)."""
    h = x
    for k, (w, b) in enumerate(params):
        h = h @ (flat_w if k == 0 else w) + b
        if k < len(params) - 1:
            h = ag.tanh(h)
    return ag.logsumexp(h, axis=-1) - h[..., 0]


def _mlp_torch(flat_w, params, x):
    h = x
    for k, (w, b) in enumerate(params):
        h = h @ (flat_w if k == 0 else _t(w)) + _t(b)
        if k < len(params) - 1:
            h = torch.tanh(h)
    return torch.logsumexp(h, dim=-1) - h[..., 0]


@pytest.fixture
def mlp(rng):
    params = _mlp_params(rng)
    x = rng.normal(size=(6, 4))
    return params, x


# --- vjp, jvp, jacobians, hessian, hvp ------------------------------------------------------
@needs_torch
def test_vjp_and_jvp_match_torch_func(mlp, rng):
    params, x = mlp
    w = params[0][0]
    f_ag = lambda w_: _mlp_ag(w_, params, x)  # noqa: E731
    f_t = lambda w_: _mlp_torch(w_, params, _t(x))  # noqa: E731
    out, pull = ag.vjp(f_ag, w)
    ct = rng.normal(size=out.shape)
    t_out, t_pull = tfunc.vjp(f_t, _t(w))
    np.testing.assert_allclose(out, t_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(pull(ct)[0], t_pull(_t(ct))[0].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pull(2 * ct)[0], 2 * t_pull(_t(ct))[0].numpy(), rtol=1e-10)
    tangent = rng.normal(size=w.shape)
    value, jt = ag.jvp(f_ag, (w,), (tangent,))
    _, t_jt = tfunc.jvp(f_t, (_t(w),), (_t(tangent),))
    np.testing.assert_allclose(value, t_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(jt, t_jt.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("which", ["jacrev", "jacfwd", "jacobian"])
def test_jacobians_match_torch(which, mlp):
    params, x = mlp
    w = params[0][0]
    jac = getattr(ag, which)(lambda w_: _mlp_ag(w_, params, x))(w)
    ref = tfunc.jacrev(lambda w_: _mlp_torch(w_, params, _t(x)))(_t(w)).numpy()
    assert jac.shape == (6, 4, 5)
    np.testing.assert_allclose(jac, ref, rtol=1e-10, atol=1e-12)


@needs_torch
def test_jacobian_of_several_arguments_and_a_matrix_output(rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    ja, jb = ag.jacrev(lambda p, q: ag.tanh(p @ q), argnums=(0, 1))(a, b)
    ra, rb = tfunc.jacrev(lambda p, q: torch.tanh(p @ q), argnums=(0, 1))(_t(a), _t(b))
    np.testing.assert_allclose(ja, ra.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jb, rb.numpy(), rtol=1e-10, atol=1e-12)
    fa, fb = ag.jacfwd(lambda p, q: ag.tanh(p @ q), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(fa, ra.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fb, rb.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
def test_hessian_and_hvp_match_torch(mlp, rng):
    params, x = mlp
    w = params[0][0]
    loss_ag = lambda w_: _mlp_ag(w_, params, x).mean()  # noqa: E731
    loss_t = lambda w_: _mlp_torch(w_, params, _t(x)).mean()  # noqa: E731
    hess = ag.hessian(loss_ag)(w)
    ref = torch.autograd.functional.hessian(loss_t, _t(w)).numpy()
    assert hess.shape == (4, 5, 4, 5)
    np.testing.assert_allclose(hess, ref, rtol=1e-9, atol=1e-12)
    v = rng.normal(size=w.shape)
    np.testing.assert_allclose(ag.hvp(loss_ag, w, v),
                               (ref.reshape(20, 20) @ v.reshape(20)).reshape(4, 5),
                               rtol=1e-9, atol=1e-12)


def test_transforms_inside_grad_give_differentiable_results(rng):
    x = rng.normal(size=3)
    # d/dx of the trace of the Jacobian of tanh (its diagonal is 1 - tanh^2)
    g = ag.grad(lambda v: ag.jacrev(ag.tanh)(v).sum())(x)
    np.testing.assert_allclose(g, -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-10)
    g2 = ag.grad(lambda v: ag.jvp(ag.sin, (v,), (np.ones(3),))[1].sum())(x)
    np.testing.assert_allclose(g2, -np.sin(x), rtol=1e-10)


# --- vmap -------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("in_axes, shape_a, shape_b", [
    (0, (5, 3), (5, 3, 2)), (1, (3, 5), (3, 5, 2)), ((0, None), (5, 3), (3, 2)),
    ((1, 0), (3, 5), (5, 3, 2)), ((None, 2), (3,), (3, 2, 5))])
def test_vmap_over_in_axes_matches_torch(in_axes, shape_a, shape_b, rng):
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)

    def f_ag(p, q):  # per example: p (3,), q (3, 2)
        return ag.softmax(ag.tanh(p @ q), axis=-1) + ag.logsumexp(q, axis=0) * p.sum()

    def f_t(p, q):
        return torch.softmax(torch.tanh(p @ q), dim=-1) + torch.logsumexp(q, dim=0) * p.sum()

    axes = in_axes if isinstance(in_axes, tuple) else (in_axes, in_axes)
    ours = ag.vmap(f_ag, in_axes=axes)(a, b)
    ref = tfunc.vmap(f_t, in_dims=axes)(_t(a), _t(b)).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-13)


@needs_torch
def test_vmap_of_grad_gives_per_example_gradients_like_torch(mlp):
    params, x = mlp
    w = params[0][0]
    per_ag = ag.vmap(ag.grad(lambda w_, xi: _mlp_ag(w_, params, xi)), in_axes=(None, 0))(w, x)
    per_t = tfunc.vmap(tfunc.grad(lambda w_, xi: _mlp_torch(w_, params, xi)),
                       in_dims=(None, 0))(_t(w), _t(x)).numpy()
    assert per_ag.shape == (6, 4, 5)
    np.testing.assert_allclose(per_ag, per_t, rtol=1e-10, atol=1e-12)
    loop = np.stack([ag.grad(lambda w_, xi=xi: _mlp_ag(w_, params, xi))(w) for xi in x])
    np.testing.assert_allclose(per_ag, loop, rtol=1e-12, atol=1e-14)


def test_grad_of_vmap_sums_over_the_batch(mlp):
    params, x = mlp
    w = params[0][0]
    g = ag.grad(lambda w_: ag.vmap(lambda xi: _mlp_ag(w_, params, xi))(x).sum())(w)
    ref = ag.grad(lambda w_: _mlp_ag(w_, params, x).sum())(w)
    np.testing.assert_allclose(g, ref, rtol=1e-12)


@needs_torch
def test_vmap_of_vmap_and_out_axes(rng):
    m = rng.normal(size=(3, 4, 5))
    ours = ag.vmap(ag.vmap(lambda v: ag.log_softmax(v, axis=0) * v.sum()), out_axes=1)(m)
    ref = tfunc.vmap(tfunc.vmap(lambda v: torch.log_softmax(v, dim=0) * v.sum()),
                     out_dims=1)(_t(m)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-13)


@needs_torch
def test_vmap_of_jacobian_batches_jacobians(rng):
    xs = rng.normal(size=(4, 3))
    w = rng.normal(size=(3, 3))
    ours = ag.vmap(ag.jacrev(lambda v: ag.tanh(v @ w)))(xs)
    ref = tfunc.vmap(tfunc.jacrev(lambda v: torch.tanh(v @ _t(w))))(_t(xs)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


UNARY = [(n, lambda t, n=n: getattr(torch, n)(t))
         for n in ("tanh", "sigmoid", "exp", "sin", "relu", "square")]
REDUCE = [("sum", lambda t, ax: t.sum(dim=ax)), ("mean", lambda t, ax: t.mean(dim=ax)),
          ("softmax", lambda t, ax: torch.softmax(t, dim=ax)),
          ("logsumexp", lambda t, ax: torch.logsumexp(t, dim=ax))]


@needs_torch
@settings(max_examples=30, deadline=None, derandomize=True)
@given(ops=st.lists(st.one_of(st.sampled_from(UNARY).map(lambda o: ("u", o)),
                              st.sampled_from(REDUCE).map(lambda o: ("r", o)),
                              st.just(("m", None)), st.just(("t", None))),
                    min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_vmap_and_vmap_grad_of_drawn_compositions_match_torch(ops, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(3, 3))
    xs = rng.normal(size=(4, 3, 3))

    def build(lib):
        def f(x):
            for kind, op in ops:
                if kind == "u":
                    x = getattr(ag, op[0])(x) if lib == "ag" else op[1](x)
                elif kind == "r" and x.ndim == 2:
                    x = (getattr(ag, op[0])(x, axis=-1) if op[0] in ("softmax", "logsumexp")
                         else getattr(x, op[0])(axis=-1)) if lib == "ag" else op[1](x, -1)
                elif kind == "m" and x.ndim == 2:
                    x = x @ (w if lib == "ag" else _t(w))
                elif kind == "t" and x.ndim == 2:
                    x = x.T
            return (x * x).sum()
        return f

    ours = ag.vmap(build("ag"))(xs)
    ref = tfunc.vmap(build("torch"))(_t(xs)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    g = ag.vmap(ag.grad(build("ag")))(xs)
    tg = tfunc.vmap(tfunc.grad(build("torch")))(_t(xs)).numpy()
    np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-11)


def test_vmap_refuses_what_it_cannot_do(rng):
    with pytest.raises(ValueError, match="disagree on the batch size"):
        ag.vmap(lambda a, b: a + b)(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="no argument is batched"):
        ag.vmap(lambda a: a, in_axes=None)(np.ones(3))
    with pytest.raises(np.exceptions.AxisError, match="in_axes 2"):
        ag.vmap(lambda a: a, in_axes=2)(np.ones((3, 2)))
    leaked = []
    ag.vmap(lambda a: leaked.append(a * 2) or a)(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="inside vmap is used outside it"):
        leaked[0] + 1.0
    sq = ag.custom_vjp(lambda x: x * x)  # runs its fwd and bwd once per example under vmap
    sq.defvjp(lambda x: (x * x, x), lambda x, g: (2 * x * g,))
    a = rng.normal(size=(3, 2))
    np.testing.assert_array_equal(ag.vmap(lambda r: sq(r * 2.0))(a), (2 * a) ** 2)
    np.testing.assert_allclose(ag.vmap(ag.grad(lambda r: sq(r * 2.0).sum()))(a), 8 * a)


def test_inside_vmap_shapes_are_one_examples():
    seen = []
    ag.vmap(lambda a: seen.append((a.shape, a.ndim, len(a))) or a)(np.ones((7, 3, 2)))
    assert seen == [((3, 2), 2, 3)]


# --- custom rules, checkpointing, hooks -------------------------------------------------------
def _softplus_with_rule(correct: bool = True):
    @ag.custom_vjp
    def softplus(x):
        return ag.log1p(ag.exp(x))

    def fwd(x):
        return np.logaddexp(0.0, x), x

    def bwd(x, g):
        s = 1 / (1 + np.exp(-x))
        return (g * (s if correct else 2 * s),)

    softplus.defvjp(fwd, bwd)
    return softplus


def test_custom_vjp_gradient_matches_finite_differences(rng):
    x = rng.normal(size=(3, 4))
    softplus = _softplus_with_rule()
    g = ag.grad(lambda v: (softplus(v) * np.arange(12.0).reshape(3, 4)).sum())(x)
    num = numeric_grad(lambda v: float((np.logaddexp(0, v) * np.arange(12.0).reshape(3, 4))
                                       .sum()), [x], 0)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    assert ag.gradcheck(lambda v: softplus(v).sum(), x)
    with pytest.raises(GradcheckError, match="2 x the numeric"):
        ag.gradcheck(lambda v: _softplus_with_rule(False)(v).sum(), x)


@needs_torch
def test_custom_vjp_gradient_matches_torch(rng):
    x = rng.normal(size=(3, 4))
    g = ag.grad(lambda v: (_softplus_with_rule()(v) * np.arange(12.0).reshape(3, 4)).sum())(x)
    t = _t(x).requires_grad_()
    (torch.nn.functional.softplus(t) * _t(np.arange(12.0).reshape(3, 4))).sum().backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_custom_vjp_wrong_shapes_name_the_function():
    @ag.custom_vjp
    def doubled(x):
        return 2 * x

    doubled.defvjp(lambda x: (2 * x, None), lambda r, g: (np.ones(7),))
    with pytest.raises(ValueError, match=r"custom_vjp doubled: bwd returned a gradient of "
                                         r"shape \(7,\) for input #0 of shape \(3,\)"):
        ag.grad(lambda v: doubled(v).sum())(np.ones(3))
    doubled.defvjp(lambda x: (2 * x, None), lambda r, g: (g, g))
    with pytest.raises(ValueError, match="2 gradients for 1 inputs"):
        ag.grad(lambda v: doubled(v).sum())(np.ones(3))


def _deep(n_layers, rng, width=64):
    ws = [ag.Tensor(rng.normal(size=(width, width)) / np.sqrt(width), requires_grad=True)
          for _ in range(n_layers)]
    return ws


def _forward(ws, x, checkpointed, per_block=4):
    """tanh layers, checkpointed in blocks of `per_block` (only block inputs are kept)."""
    h = x
    for k in range(0, len(ws), per_block):
        def block(v, part=ws[k:k + per_block]):
            for w in part:
                v = ag.tanh(v @ w)
            return v
        h = ag.checkpoint(block)(h) if checkpointed else block(h)
    return (h * h).mean()


def test_checkpointed_gradients_equal_plain_ones_and_keep_less(rng):
    ws = _deep(20, rng)
    x = ag.Tensor(rng.normal(size=(32, 64)), requires_grad=True)
    grads = {}
    peak = {}
    for mode in (False, True):
        for w in ws:
            w.grad = None
        x.grad = None
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        loss = _forward(ws, x, mode)
        peak[mode] = tracemalloc.get_traced_memory()[0] - base  # held by the live graph
        tracemalloc.stop()
        loss.backward()
        grads[mode] = [w.grad.copy() for w in ws] + [x.grad.copy()]
    for a, b in zip(grads[False], grads[True], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # plain: two activations per layer; checkpointed: one per block of four layers
    assert peak[True] < 0.25 * peak[False], peak


@needs_torch
def test_hooks_see_and_replace_gradients_like_torch(rng):
    x0 = rng.normal(size=(2, 3))
    x = ag.Tensor(x0, requires_grad=True)
    h = ag.tanh(x)
    h.retain_grad()
    h.register_hook(lambda g: g * 3)
    (h * h).sum().backward()
    t = _t(x0).requires_grad_()
    th = torch.tanh(t)
    th.retain_grad()
    th.register_hook(lambda g: g * 3)
    (th * th).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.grad, th.grad.numpy(), rtol=1e-12)


def test_hooks_observe_replace_and_refuse(rng):
    x0 = rng.normal(size=(2, 3))
    x = ag.Tensor(x0, requires_grad=True)
    h = ag.tanh(x)
    seen = []
    remove = h.register_hook(lambda g: seen.append(g.copy()) or g * 3)
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * np.tanh(x0), rtol=1e-12)
    np.testing.assert_allclose(x.grad, 6 * np.tanh(x0) * (1 - np.tanh(x0) ** 2), rtol=1e-12)
    remove()
    x.grad = None
    h2 = ag.tanh(x)
    h2.register_hook(lambda g: None)  # observing only
    (h2 * h2).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.tanh(x0) * (1 - np.tanh(x0) ** 2), rtol=1e-12)
    leaf = ag.Tensor(x0, requires_grad=True)
    leaf.register_hook(lambda g: g + 1.0)
    (leaf * 2).sum().backward()
    np.testing.assert_allclose(leaf.grad, 3.0 * np.ones_like(x0))
    with pytest.raises(ValueError, match="hook must return None or a gradient"):
        bad = ag.Tensor(x0, requires_grad=True)
        bad.register_hook(lambda g: np.ones(5))
        (bad * 2).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.Tensor(x0).register_hook(print)


# --- every row under vmap: the batched run equals a loop over the examples ----------------------
NOT_BATCHED = {"argwhere"}  # each example has its own number of nonzero elements
# (max_pool2d_indices batches now: each folded flat index is taken back into its own example)


def test_rows_without_a_batching_rule_are_the_known_ones():
    from autograd_nn.core.ops.registry import PRIMITIVES

    missing = {n for n, p in PRIMITIVES.items() if p.modes.batch is None and not p.elementwise}
    assert missing == NOT_BATCHED


def _loop_and_vmap(f, xs, ws):
    loop = np.stack([f(ag.Tensor(x)).data for x in xs])
    np.testing.assert_allclose(ag.vmap(f)(xs), loop, rtol=1e-12, atol=1e-14)

    def weighted(x, w):
        return (f(x) * w).sum()

    g_loop = np.stack([ag.grad(weighted)(x, w) for x, w in zip(xs, ws, strict=True)])
    np.testing.assert_allclose(ag.vmap(ag.grad(weighted))(xs, ws), g_loop, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("name", sorted(test_core_ops.UNARY))
def test_vmap_of_every_unary_table_row_equals_a_loop(name, rng):
    f, _, sample = test_core_ops.UNARY[name]
    xs = sample(rng, (3, 4, 5))
    ws = rng.normal(size=np.shape(f(ag.Tensor(xs[0])).data))
    _loop_and_vmap(f, xs, np.broadcast_to(ws, (3,) + ws.shape).copy())


@pytest.mark.parametrize("name", sorted(test_core_ops.BINARY))
def test_vmap_of_every_binary_table_row_equals_a_loop(name, rng):
    f, _, sample_a, sample_b = test_core_ops.BINARY[name]
    other = sample_b(rng, (5,))  # shared by every example, broadcast against (4, 5)
    xs = sample_a(rng, (3, 4, 5))
    g = lambda x: f(x, other)  # noqa: E731
    _loop_and_vmap(g, xs, rng.normal(size=(3, 4, 5)))


# --- forward mode, row by row -------------------------------------------------------------------
def _torch_rows(table: str) -> list[str]:
    """The row names of test_core_torch's table (which needs torch to import)."""
    if torch is None:
        return ["(needs torch)"]
    import test_core_torch

    return sorted(getattr(test_core_torch, table))


@needs_torch
@pytest.mark.parametrize("name", _torch_rows("UNARY"))
def test_jvp_of_every_unary_table_row_matches_torch(name, rng):
    import test_core_torch

    f_ag, f_t = test_core_torch.UNARY[name]
    x, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    value, tangent = ag.jvp(f_ag, (x,), (t,))
    t_value, t_tangent = tfunc.jvp(f_t, (_t(x),), (_t(t),))
    np.testing.assert_allclose(value, t_value.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name", _torch_rows("BINARY"))
def test_jvp_of_every_binary_table_row_matches_torch(name, rng):
    import test_core_torch

    f_ag, f_t = test_core_torch.BINARY[name]
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    ta, tb = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    _, tangent = ag.jvp(f_ag, (a, b), (ta, tb))
    _, t_tangent = tfunc.jvp(f_t, (_t(a), _t(b)), (_t(ta), _t(tb)))
    np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10, atol=1e-12)


def test_forward_mode_uses_row_rules_and_falls_back_only_where_documented(monkeypatch, rng):
    import autograd_nn.transforms.forward as fw

    used = []
    real = fw._double_vjp

    def counted(prim, *args):
        used.append(prim.name)
        return real(prim, *args)

    monkeypatch.setattr(fw, "_double_vjp", counted)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    ag.jvp(lambda v: (ag.tanh(v @ w) * 2.0 + v.sum()).reshape(6)[1:], (x,), (x,))
    assert used == []  # elementwise, bilinear and linear rows: no fallback
    ag.jvp(lambda v: ag.log_softmax(v, axis=1), (x,), (x,))
    assert used == ["log_softmax"]


def test_forward_over_reverse_and_forward_over_forward(rng):
    x, v = rng.normal(size=3), rng.normal(size=3)
    w = rng.normal(size=(3, 3))
    f = lambda y: (ag.tanh(y @ w) ** 2).sum()  # noqa: E731
    _, hv = ag.jvp(ag.grad(f), (x,), (v,))  # H v, forward over reverse
    np.testing.assert_allclose(hv, ag.hvp(f, x, v), rtol=1e-10)
    # d^2/ds^2 sin(x + s v) at s = 0 is -sin(x) v^2
    _, second = ag.jvp(lambda y: ag.jvp(ag.sin, (y,), (v,))[1], (x,), (v,))
    np.testing.assert_allclose(second, -np.sin(x) * v * v, rtol=1e-12)


def test_vmap_of_convolutions_einsum_and_pad_equals_a_loop(rng):
    w = rng.normal(size=(4, 2, 3, 3)) / 3
    xs = rng.normal(size=(3, 2, 2, 6, 6))  # 3 examples, each an (N=2, C=2, 6, 6) batch

    def net(x, w):
        h = ag.tanh(ag.conv2d(x, w, padding=1, stride=2))            # (2, 4, 3, 3)
        h = ag.conv_transpose2d(h, w, stride=2)                      # back to 2 channels
        h = ag.pad(h, ((0, 0), (0, 0), (1, 0), (0, 1)))
        h = ag.max_pool2d(h, 2) + ag.avg_pool2d(h, 2)
        return ag.einsum("nchw,nchw->c", h, h)

    _loop_and_vmap(lambda x: net(x, w), xs, rng.normal(size=(3, 2)))
    # per-example gradients of the weight (conv2d_weight on a batch of examples)
    loss = lambda w_, x: (net(x, w_) * np.arange(1.0, 3.0)).sum()  # noqa: E731
    per = ag.vmap(ag.grad(loss), in_axes=(None, 0))(w, xs)
    loop = np.stack([ag.grad(loss)(w, x) for x in xs])
    np.testing.assert_allclose(per, loop, rtol=1e-10, atol=1e-12)
    # and each example with its own weight
    ws = rng.normal(size=(3, 4, 2, 3, 3)) / 3
    own = ag.vmap(lambda x, w_: net(x, w_))(xs, ws)
    np.testing.assert_allclose(own, np.stack([net(ag.Tensor(x), w_).data
                                              for x, w_ in zip(xs, ws, strict=True)]),
                               rtol=1e-10, atol=1e-12)


def test_a_result_the_same_for_every_example_is_repeated_and_differentiable():
    w = ag.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    out = ag.vmap(lambda x: w * 2, out_axes=1)(ag.Tensor(np.ones((4, 2))))
    assert out.shape == (3, 4) and out.requires_grad
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, [8.0, 8.0, 8.0])  # 4 examples, times 2
    assert ag.vmap(ag.vmap(lambda x: np.ones(2)))(np.ones((3, 4, 5))).shape == (3, 4, 2)


def test_vmap_batch_size_error_names_the_values_and_suggests_in_axes():
    """issue 22: vmap without in_axes on (params, X, y) names p['w'], p['b'], x, y by their
    argument names and keys, and gives the in_axes that fixes it, built from the call."""
    params = {"w": np.ones((3, 2)), "b": np.zeros(2)}
    X, y = np.ones((16, 3)), np.ones((16, 2))

    def loss(p, x, target):
        return ((x @ p["w"] + p["b"] - target) ** 2).sum()

    with pytest.raises(ValueError) as err:
        ag.vmap(ag.grad(loss))(params, X, y)
    text = str(err.value)
    assert "disagree on the batch size" in text
    assert "3: p['w'] (axis 0)" in text and "2: p['b'] (axis 0)" in text
    assert "16: x (axis 0), target (axis 0)" in text
    assert "If p is the same for every example" in text
    assert "in_axes=(None, 0, 0)" in text
    # the suggestion works
    per_example = ag.vmap(ag.grad(loss), in_axes=(None, 0, 0))(params, X, y)
    assert per_example["w"].shape == (16, 3, 2)
    # batch axes other than 0 are kept; a dict argument of mixed sizes gets a dict of axes
    with pytest.raises(ValueError, match=r"in_axes=\(None, 1\)"):
        ag.vmap(lambda w, x: x @ w, in_axes=(0, 1))(np.ones((3, 2)), np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"in_axes=\(\{'a': None, 'x': 0\},\)"):
        ag.vmap(lambda d: d["a"] + d["x"])({"a": np.ones(2), "x": np.ones((16, 2))})
