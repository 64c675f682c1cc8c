"""Issue 24's scans, products, attention and PyTorch-style names: each op against PyTorch (values
and gradients, float64) and finite differences, under vmap (against a loop), jvp (against
torch.func or finite differences) and ag.compile (NumPy; numba and JAX agree or refuse by name)."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn.compiler import CompileError

torch = pytest.importorskip("torch")
F = torch.nn.functional
sdpa = ag.nn.functional.scaled_dot_product_attention
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

_BOOL_MASK = np.array([[True, False, True, True, False], [False] * 5, [True, True, False, True,
                                                                      True]])
_FLOAT_MASK = np.where(_BOOL_MASK, np.linspace(-1, 1, 15).reshape(3, 5), -np.inf)
_COORDS = np.array([0.0, 0.5, 1.7, 2.0, 3.1])

# name: (autograd_nn function, torch function or None, input shapes). Each takes float64 arrays.
OPS = {
    "cummax": (lambda x: ag.cummax(x, 1).values, lambda x: torch.cummax(x, 1).values,
               [(3, 5)]),
    "cummin": (lambda x: ag.cummin(x, -1).values, lambda x: torch.cummin(x, -1).values,
               [(3, 5)]),
    "cummax flat": (lambda x: ag.cummax(x).values, lambda x: torch.cummax(x.reshape(-1), 0).values,
                    [(3, 5)]),
    "logcumsumexp": (lambda x: ag.logcumsumexp(x, 0), lambda x: torch.logcumsumexp(x, 0),
                     [(3, 5)]),
    "logcumsumexp big": (lambda x: ag.logcumsumexp(x * 400.0, 1),
                         lambda x: torch.logcumsumexp(x * 400.0, 1), [(3, 5)]),
    "diff": (lambda x: ag.diff(x, 2, axis=0), lambda x: torch.diff(x, 2, dim=0), [(4, 5)]),
    "diff edges": (lambda x, p: ag.diff(x, prepend=p[:, :2], append=1.5),
                   lambda x, p: torch.diff(x, prepend=p[:, :2],
                                           append=torch.full((3, 1), 1.5, dtype=x.dtype)),
                   [(3, 5), (3, 4)]),
    "normalize": (lambda x: ag.normalize(x), F.normalize, [(3, 5)]),
    "normalize p": (lambda x: ag.normalize(x, 3.0, axis=-1, eps=0.5),
                    lambda x: F.normalize(x, 3.0, -1, 0.5), [(3, 5)]),
    "normalize p=1": (lambda x: ag.normalize(x, 1, dim=0), lambda x: F.normalize(x, 1, 0),
                      [(3, 5)]),
    "normalize inf": (lambda x: ag.normalize(x, np.inf), lambda x: F.normalize(x, np.inf),
                      [(3, 5)]),
    "prod dim": (lambda x: ag.prod(x, dim=0, keepdim=True),
                 lambda x: torch.prod(x, dim=0, keepdim=True), [(3, 5)]),
    "mean dim": (lambda x: x.mean(dim=1, keepdim=True), lambda x: x.mean(dim=1, keepdim=True),
                 [(3, 5)]),
    "cross": (lambda a, b: ag.cross(a, b, axis=0), lambda a, b: torch.linalg.cross(a, b, dim=0),
              [(3, 4), (3, 4)]),
    "cross broadcast": (lambda a, b: ag.cross(a, b), lambda a, b: torch.linalg.cross(
        a, b.expand(4, 3)), [(4, 3), (3,)]),
    "inner": (ag.inner, torch.inner, [(2, 3, 4), (5, 4)]),
    "kron": (ag.kron, torch.kron, [(2, 3), (3, 2)]),
    "kron ranks": (ag.kron, torch.kron, [(2, 2, 3), (3,)]),
    "einsum size-1": (lambda a, b: ag.einsum("ij,jk->ik", a, b),
                      lambda a, b: torch.einsum("ij,jk->ik", a, b), [(3, 1), (4, 5)]),
    "einsum ellipsis": (lambda a, b: ag.einsum("...ij,...jk->...ik", a, b),
                        lambda a, b: torch.einsum("...ij,...jk->...ik", a, b),
                        [(2, 1, 3, 4), (5, 4, 2)]),
    "einsum mixed": (lambda a, b: ag.einsum("bi,bi->b", a, b),
                     lambda a, b: torch.einsum("bi,bi->b", a, b), [(3, 4), (1, 4)]),
    "attention": (sdpa, F.scaled_dot_product_attention, [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    "attention causal": (lambda q, k, v: sdpa(q, k, v, is_causal=True, scale=0.7),
                         lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                        scale=0.7),
                         [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    "attention bool mask": (lambda q, k, v: sdpa(q, k, v, attn_mask=_BOOL_MASK),
                            lambda q, k, v: F.scaled_dot_product_attention(
                                q, k, v, attn_mask=torch.tensor(_BOOL_MASK)),
                            [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    "attention float mask": (lambda q, k, v: sdpa(q, k, v, _FLOAT_MASK),
                             lambda q, k, v: F.scaled_dot_product_attention(
                                 q, k, v, torch.tensor(_FLOAT_MASK)),
                             [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    "linspace": (lambda a, b: ag.linspace(a, b, 6), None, [(3,), (3,)]),
    "linspace axis": (lambda a, b: ag.linspace(a, b, 4, endpoint=False, axis=-1), None,
                      [(2, 3), (3,)]),
    "gradient": (lambda x: ag.gradient(x)[1], None, [(4, 5)]),
    "gradient order 2": (lambda x: ag.gradient(x, 0.5, _COORDS, edge_order=2)[1], None,
                         [(4, 5)]),
    "gradient coordinates": (lambda x: ag.gradient(x, _COORDS, axis=-1), None, [(4, 5)]),
}
NUMPY = {  # the NumPy reference of the rows without a torch function
    "linspace": lambda a, b: np.linspace(a, b, 6),
    "linspace axis": lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=-1),
    "gradient": lambda x: np.gradient(x)[1],
    "gradient order 2": lambda x: np.gradient(x, 0.5, _COORDS, edge_order=2)[1],
    "gradient coordinates": lambda x: np.gradient(x, _COORDS, axis=-1),
}


TORCH_FORWARD_UNSTABLE = {"logcumsumexp big"}


def test_torch_forward_mode_of_logcumsumexp_is_the_unstable_one():
    """Why TORCH_FORWARD_UNSTABLE exists: torch.func.jvp disagrees with finite differences
    (and the double-backward jvp gives nan); torch's reverse-mode Jacobian is right."""
    x, t = _t([[0.3, -1.2, 2.0]]), _t([[1.0, 0.5, -0.2]])
    f = lambda v: torch.logcumsumexp(v * 400.0, 1)  # noqa: E731
    eps = 1e-7
    central = (f(x + eps * t) - f(x - eps * t)) / (2 * eps)
    assert not np.allclose(torch.func.jvp(f, (x,), (t,))[1].numpy(), central.numpy(), rtol=1e-3)
    assert np.isnan(torch.autograd.functional.jvp(f, x, t)[1].numpy()).any()  # double backward
    np.testing.assert_allclose(ag.jvp(lambda v: ag.logcumsumexp(v * 400.0, 1), (x.numpy(),),
                                      (t.numpy(),))[1], central.numpy(), rtol=1e-6)


def _inputs(name, rng):
    return [rng.normal(size=s) for s in OPS[name][2]]


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(OPS))
def test_values_and_gradients_match_torch_and_finite_differences(name, rng):
    f_ag, f_t, _ = OPS[name]
    xs = _inputs(name, rng)
    out = f_ag(*[ag.Tensor(x) for x in xs])
    w = rng.normal(size=out.shape)
    grads = ag.grad(lambda *a: (f_ag(*a) * w).sum(), tuple(range(len(xs))))(*xs)
    if f_t is not None:
        ts = [_t(x).requires_grad_() for x in xs]
        t_out = f_t(*ts)
        (t_out * _t(w)).sum().backward()
        np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
        for g, t in zip(grads, ts, strict=True):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(out.data, NUMPY[name](*xs), rtol=1e-12, atol=1e-12)

    def loss(*a):
        return float(np.sum(f_ag(*[ag.Tensor(v) for v in a]).data * w))

    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, numeric_grad(loss, list(xs), i), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_vmap_equals_a_loop(name, rng):
    f_ag = OPS[name][0]
    batch = [np.stack([rng.normal(size=s) for _ in range(3)]) for s in OPS[name][2]]
    loop = np.stack([f_ag(*[ag.Tensor(x[i]) for x in batch]).data for i in range(3)])
    np.testing.assert_allclose(ag.vmap(f_ag)(*batch), loop, rtol=1e-12, atol=1e-13)
    w = rng.normal(size=loop.shape)

    def weighted(*args):
        *xs, wi = args
        return (f_ag(*xs) * wi).sum()

    n = len(batch)
    per = ag.vmap(ag.grad(weighted, tuple(range(n))))(*batch, w)
    for j in range(n):
        each = np.stack([ag.grad(weighted, j)(*[x[i] for x in batch], w[i]) for i in range(3)])
        np.testing.assert_allclose(per[j], each, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPS))
def test_jvp_matches_torch_func_or_finite_differences(name, rng):
    f_ag, f_t, _ = OPS[name]
    xs, ts = _inputs(name, rng), _inputs(name, rng)
    value, tangent = ag.jvp(f_ag, tuple(xs), tuple(ts))
    if f_t is not None:
        if name in TORCH_FORWARD_UNSTABLE:  # its reverse-mode Jacobian times the tangent
            (x,), (t,) = xs, ts
            jac = torch.autograd.functional.jacobian(f_t, _t(x))
            t_value, t_tangent = f_t(_t(x)), torch.tensordot(jac, _t(t), dims=t.ndim)
        else:
            t_value, t_tangent = torch.func.jvp(f_t, tuple(map(_t, xs)), tuple(map(_t, ts)))
        np.testing.assert_allclose(value, t_value.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10, atol=1e-12)
    eps = 1e-6
    ahead = f_ag(*[ag.Tensor(x + eps * t) for x, t in zip(xs, ts, strict=True)]).data
    behind = f_ag(*[ag.Tensor(x - eps * t) for x, t in zip(xs, ts, strict=True)]).data
    np.testing.assert_allclose(tangent, (ahead - behind) / (2 * eps), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_compiled_forward_and_gradient_equal_eager_on_new_inputs(name, rng):
    f_ag = OPS[name][0]
    xs, new = _inputs(name, rng), _inputs(name, rng)
    w = rng.normal(size=f_ag(*[ag.Tensor(x) for x in xs]).shape)

    def loss(*a):
        return (f_ag(*a) * w).sum()

    step = ag.grad(loss, tuple(range(len(xs))))
    forward, backward = ag.compile(f_ag), ag.compile(step)
    forward(*xs), backward(*xs)  # traced on the first inputs, run on the new ones
    np.testing.assert_allclose(forward(*new).data, f_ag(*[ag.Tensor(x) for x in new]).data,
                               rtol=1e-12, atol=1e-12)
    for g, e in zip(backward(*new), step(*new), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_kernel_backends_agree_or_refuse_by_name(backend, rng):
    pytest.importorskip(backend)
    ran, refused = [], []
    for name in ("cummax", "logcumsumexp", "diff", "normalize", "cross", "kron",
                 "einsum size-1", "attention bool mask", "linspace", "gradient order 2"):
        f_ag = OPS[name][0]
        xs = _inputs(name, rng)
        w = rng.normal(size=f_ag(*[ag.Tensor(x) for x in xs]).shape)
        step = ag.grad(lambda *a, f=f_ag, w=w: (f(*a) * w).sum(), tuple(range(len(xs))))
        try:
            got = ag.compile(step, backend=backend)(*xs)
        except CompileError as err:
            assert f"backend={backend!r}" in str(err) and "the op " in str(err), str(err)
            refused.append(name)
            continue
        for g, e in zip(got, step(*xs), strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        ran.append(name)
    assert len(ran) >= 5, (ran, refused)  # measured: JAX runs all ten, numba seven


# --- the ops' edges -----------------------------------------------------------------------------
def test_cummax_and_cummin_indices_follow_torch_on_ties_and_nan():
    for data in ([1.0, 3.0, 3.0, 2.0, 5.0, 5.0], [2.0, 1.0, 1.0, 3.0, 1.0],
                 [1.0, np.nan, 2.0, np.nan, 0.5]):
        for ours, theirs in ((ag.cummax, torch.cummax), (ag.cummin, torch.cummin)):
            got, want = ours(np.array(data), 0), theirs(torch.tensor(data), 0)
            np.testing.assert_array_equal(got.values.data, want.values.numpy())
            np.testing.assert_array_equal(got.indices.data, want.indices.numpy())
            assert got.indices.dtype == np.int64 and not got.indices.requires_grad
    x = ag.Tensor(np.array([1.0, 3.0, 3.0, 2.0]), requires_grad=True)
    ag.cummax(x, 0).values.sum().backward()  # each value's gradient goes to its index
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 2.0, 0.0])


def test_logcumsumexp_is_stable_and_flattens_without_axis():
    x = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, 1.0]])
    np.testing.assert_allclose(ag.logcumsumexp(x, 1).data,
                               torch.logcumsumexp(torch.tensor(x), 1).numpy(), rtol=1e-15)
    assert np.isfinite(ag.grad(lambda t: ag.logcumsumexp(t * 10.0, 1).sum())(x[:1])).all()
    np.testing.assert_allclose(ag.logcumsumexp(x[:1]).data,
                               np.logaddexp.accumulate(x[:1].reshape(-1)))


def test_diff_and_gradient_follow_numpy():
    x = np.arange(12.0).reshape(3, 4) ** 2
    for kwargs in ({}, {"n": 0}, {"n": 3, "axis": 0, "prepend": [[1.0, 2, 3, 4]]},
                   {"append": 0.5}):
        np.testing.assert_array_equal(ag.diff(x, **kwargs).data, np.diff(x, **kwargs))
    ints = np.array([1, 4, 9, 16])
    np.testing.assert_array_equal(ag.gradient(ints).data, np.gradient(ints))
    for got, want in zip(ag.gradient(x, 2.0, edge_order=2), np.gradient(x, 2.0, edge_order=2),
                         strict=True):
        np.testing.assert_allclose(got.data, want, rtol=1e-14)
    with pytest.raises(ValueError, match="gradient: the shape .* edge_order=2 needs at least 3"):
        ag.gradient(np.ones((2, 5)), edge_order=2)
    with pytest.raises(ValueError, match="diff: diff needs at least 1 dim"):
        ag.diff(np.float64(1.0))


def test_linspace_follows_numpy_and_differentiates_start_and_stop():
    for args in ((0, 1, 5), (2.0, -3.0, 7), (1, 2, 4, False), (3.0, 4.0, 1), (0.0, 1.0, 0)):
        np.testing.assert_array_equal(ag.linspace(*args).data, np.linspace(*args))
    d_start, d_stop = ag.grad(lambda a, b: (ag.linspace(a, b, 5) * np.arange(5.0)).sum(),
                              (0, 1))(np.float64(1.0), np.float64(3.0))
    assert d_start == pytest.approx(sum(k * (1 - k / 4) for k in range(5)))
    assert d_stop == pytest.approx(sum(k * k / 4 for k in range(5)))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, np.inf])
def test_normalize_of_a_zero_vector_is_zero_with_torch_gradient(p):
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    w = np.array([[0.3, -1.0, 2.0], [1.0, 0.5, -0.25]])
    got = ag.grad(lambda v: (ag.normalize(v, p) * w).sum())(x)
    t = _t(x).requires_grad_()
    (F.normalize(t, p) * _t(w)).sum().backward()
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=0)
    if np.isfinite(p):
        assert ag.normalize(np.ones((2, 0)), p).shape == (2, 0)
    else:  # the max over no elements: refused, as torch refuses it
        with pytest.raises(ValueError, match="normalize: max: .*zero-size"):
            ag.normalize(np.ones((2, 0)), p)


def test_products_refuse_what_numpy_and_torch_refuse():
    with pytest.raises(ValueError, match=r"cross: axis -1 of shapes \(2,\) and \(2,\) must "
                                         "have size 3"):
        ag.cross(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match=r"inner: the last axes of shapes \(2, 3\) and \(2,\)"):
        ag.inner(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="einsum: axis 'j' of 'ij,jk' has sizes 3 and 2"):
        ag.einsum("ij,jk", np.ones((2, 3)), np.ones((2, 2)))


def test_attention_refusals_and_dropout_with_a_seed(rng):
    q = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="dropout_p=0.5 needs rng="):
        sdpa(q, q, q, dropout_p=0.5)
    with pytest.raises(ValueError, match="attn_mask or is_causal, not both"):
        sdpa(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(NotImplementedError, match="enable_gqa"):
        sdpa(q, q, q, enable_gqa=True)
    a, b = sdpa(q, q, q, dropout_p=0.5, rng=3), sdpa(q, q, q, dropout_p=0.5, rng=3)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, sdpa(q, q, q).data)
    fully = sdpa(q, q, q, attn_mask=np.zeros((3, 3), bool))
    np.testing.assert_array_equal(fully.data, np.zeros((3, 4)))  # torch gives 0 there too


def test_a_float_mask_gets_its_gradient_as_in_torch(rng):
    q, k, v, m = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 2)), \
        rng.normal(size=(3, 5))
    g = ag.grad(lambda mask: sdpa(q, k, v, mask).sum())(m)
    tm = _t(m).requires_grad_()
    F.scaled_dot_product_attention(_t(q), _t(k), _t(v), tm).sum().backward()
    np.testing.assert_allclose(g, tm.grad.numpy(), rtol=1e-10, atol=1e-13)


# --- PyTorch-style names -------------------------------------------------------------------------
def test_dim_and_keepdim_on_reductions_mean_what_torch_means(rng):
    x = rng.normal(size=(3, 4, 2))
    t, tt = ag.Tensor(x), torch.tensor(x)
    pairs = [(t.sum(dim=1, keepdim=True), tt.sum(dim=1, keepdim=True)),
             (ag.mean(t, dim=(0, 2)), tt.mean(dim=(0, 2))),
             (ag.logsumexp(t, dim=-1), torch.logsumexp(tt, dim=-1)),
             (ag.softmax(t, dim=0), torch.softmax(tt, dim=0)),
             (ag.cumsum(t, dim=1), torch.cumsum(tt, dim=1)),
             (t.argmax(dim=2, keepdim=True), tt.argmax(dim=2, keepdim=True)),
             (ag.all(t > -1, dim=1), torch.all(tt > -1, dim=1)),
             (ag.prod(t, dtype=np.float32), torch.prod(tt, dtype=torch.float32))]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    assert np.sum(t, dtype=np.float32).dtype == np.float32  # NumPy's own call reaches the row
    assert ag.sum(np.arange(4, dtype=np.int8), dtype=np.float64).dtype == np.float64
    wide = np.full(300, 1.0, dtype=np.int8)  # the sum is 300: in int8 it would wrap around
    assert ag.sum(wide, dtype=np.int64).item() == np.sum(wide, dtype=np.int64) == 300
    grad = ag.grad(lambda v: ag.sum(v * v, axis=0, dtype=np.float32).sum())(x)
    assert grad.dtype == np.float64  # the cast's gradient comes back in the input's dtype
    np.testing.assert_allclose(grad, 2 * x.astype(np.float32), rtol=1e-6)


def test_names_that_mean_something_else_in_torch_are_refused_with_the_word(rng):
    t = ag.Tensor(rng.normal(size=(3, 4)))
    with pytest.raises(TypeError, match=r"max: dim= is PyTorch's name, and torch.max\(x, dim\) "
                                        r"returns \(values, indices\)"):
        t.max(dim=1)
    with pytest.raises(TypeError, match="min: .* argmin"):
        ag.min(t, dim=0)
    with pytest.raises(TypeError, match=r"var: .* \(correction=1\) .* \(ddof=0\)"):
        ag.var(t, dim=0)
    with pytest.raises(TypeError, match="sum: give axis= or PyTorch's dim=, not both"):
        t.sum(1, dim=0)
    with pytest.raises(ValueError, match=r"split: 32 sections do not divide axis 0 of shape "
                                         r"\(100,\) evenly.*torch.split\(x, 32\) makes pieces "
                                         r"of 32 each: ag.split\(x, \[32, 64, 96\], axis=0\)"):
        ag.split(np.ones(100), 32)
    pieces = ag.split(np.arange(100.0), [32, 64, 96])
    assert [len(p) for p in pieces] == [len(p) for p in torch.split(torch.arange(100.0), 32)]
    assert "32 pieces" in ag.split.__doc__ and "pieces of 32" in ag.split.__doc__


def test_transpose_of_two_axes_view_and_size(rng):
    x = rng.normal(size=(2, 3, 4))
    t, tt = ag.Tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(t.transpose(-2, -1).data, tt.transpose(-2, -1).numpy())
    np.testing.assert_array_equal(t.transpose(0, 2).data, tt.transpose(0, 2).numpy())
    np.testing.assert_array_equal(t.transpose(2, 0, 1).data, x.transpose(2, 0, 1))  # NumPy's
    np.testing.assert_array_equal(t.transpose((1, 0, 2)).data, x.transpose(1, 0, 2))
    m = ag.Tensor(x[0])
    np.testing.assert_array_equal(m.transpose(1, 0).data, x[0].T)  # both readings agree
    np.testing.assert_array_equal(m.transpose((0, 1)).data, x[0])  # NumPy's order, as a tuple
    with pytest.raises(ValueError, match=r"transpose: t.transpose\(-2, -1\) of a 2-D tensor is "
                                         "ambiguous.*swapaxes"):
        m.transpose(-2, -1)
    assert t.view(4, 6).shape == tt.view(4, 6).shape and t.view((-1,)).shape == (24,)
    with pytest.raises(TypeError, match="view: .*astype"):
        t.view(np.float32)
    assert t.size == 24 and t.size() == (2, 3, 4) and t.size(-1) == 4
    assert t.size() == tuple(tt.size()) and t.size(1) == tt.size(1)
    with pytest.raises(IndexError, match="size: dim 3 is out of range"):
        t.size(3)
    g = ag.grad(lambda v: (v.transpose(-1, -2).view(-1) * np.arange(24.0)).sum())(x)
    np.testing.assert_array_equal(g, np.arange(24.0).reshape(2, 4, 3).transpose(0, 2, 1))
