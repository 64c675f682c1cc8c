"""Blind tests (README, issue 24 and docstrings only) for the ops added in issue 24:
cummax/cummin, logcumsumexp, diff, gradient, normalize, sum/prod dtype=,
scaled_dot_product_attention, linspace with Tensor ends, cross/inner/kron, einsum broadcasting,
the PyTorch aliases, split, power's exponent gradient. Values and gradients against torch
(float64) or central finite differences."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import autograd_nn as ag
import autograd_nn.nn.functional as F

pytestmark = pytest.mark.filterwarnings("error")

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _torch_float64():
    """torch's default dtype float64 for these tests only (lead's edit: set at import, it
    leaked into every later test of the same worker, where torch models became float64)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def arr(x):
    if isinstance(x, ag.Tensor):
        return np.asarray(x.data)
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def close(a, b, rtol=1e-9, atol=1e-10):
    np.testing.assert_allclose(arr(a), arr(b), rtol=rtol, atol=atol)


def fd_grad(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp = x.copy()
        xp[i] += eps
        xm = x.copy()
        xm[i] -= eps
        g[i] = (float(arr(f(xp))) - float(arr(f(xm)))) / (2 * eps)
    return g


def tgrad(f, *xs):
    """torch gradient of scalar f w.r.t. every x (float64)."""
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = f(*ts)
    gs = torch.autograd.grad(out, ts, allow_unused=True)
    return [np.zeros_like(x) if g is None else g.numpy() for g, x in zip(gs, xs)]


def tjvp(f, primals, tangents):
    """torch.func.jvp, torch's own DeprecationWarning (torch.jit.script) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.func.jvp(f, primals, tangents)


def W(shape):
    return RNG.standard_normal(shape)


# ------------------------------------------------------------------- cummax / cummin


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumext_values_indices_grad_vs_torch(name, axis):
    x = np.array([[1.0, 3.0, 3.0, 0.5], [2.0, -1.0, 2.0, 5.0], [0.0, 0.0, 7.0, -3.0]])
    w = W(x.shape)
    r = getattr(ag, name)(x, axis=axis)
    tr = getattr(torch, name)(torch.tensor(x), dim=axis)
    close(r.values, tr.values)
    np.testing.assert_array_equal(arr(r.indices), tr.indices.numpy())
    assert arr(r.indices).dtype == np.int64
    v, i = r  # tuple unpacking like torch
    close(v, tr.values)
    g = ag.grad(lambda a: (getattr(ag, name)(a, axis=axis).values * w).sum())(x)
    (tg,) = tgrad(lambda a: (getattr(torch, name)(a, dim=axis).values * torch.tensor(w)).sum(), x)
    close(g, tg)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cumext_nan_propagates_like_torch(name):
    x = np.array([1.0, np.nan, 5.0, -2.0])
    r = getattr(ag, name)(x, axis=0)
    tr = getattr(torch, name)(torch.tensor(x), dim=0)
    close(r.values, tr.values)
    np.testing.assert_array_equal(arr(r.indices), tr.indices.numpy())


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cumext_vmap_jvp_compile(name):
    x = W((4, 5))
    t = W((4, 5))
    fn = getattr(ag, name)
    tfn = getattr(torch, name)
    # vmap over axis 0, scan along the example's axis 0
    out = ag.vmap(lambda a: fn(a, axis=0).values)(x)
    close(out, tfn(torch.tensor(x), dim=1).values)
    out = ag.vmap(lambda a: fn(a, axis=0).values, in_axes=1)(x)
    close(out, tfn(torch.tensor(x), dim=0).values.T)
    p, tan = ag.jvp(lambda a: fn(a, axis=1).values, (x,), (t,))
    tp, ttan = tjvp(lambda a: tfn(a, dim=1).values, (torch.tensor(x),), (torch.tensor(t),))
    close(p, tp)
    close(tan, ttan)
    c = ag.compile(lambda a: fn(a, axis=1).values)
    close(c(x), tfn(torch.tensor(x), dim=1).values)
    close(c(x + 1), tfn(torch.tensor(x + 1), dim=1).values)
    cg = ag.compile(ag.grad(lambda a: (fn(a, axis=1).values ** 2).sum()))
    (tg,) = tgrad(lambda a: (tfn(a, dim=1).values ** 2).sum(), x)
    close(cg(x), tg)
    ck = ag.grad(lambda a: (ag.checkpoint(lambda b: fn(b, axis=0).values * b)(a)).sum())(x)
    (tg,) = tgrad(lambda a: (tfn(a, dim=0).values * a).sum(), x)
    close(ck, tg)


def test_cummax_default_axis_flattened_and_dim_alias():
    x = W((3, 4))
    r = ag.cummax(x)
    tr = torch.cummax(torch.tensor(x).flatten(), dim=0)
    close(r.values, tr.values)
    r2 = ag.cummax(x, dim=1) if "dim" in str(ag.cummax.__doc__) else ag.cummax(x, axis=1)
    close(r2.values, torch.cummax(torch.tensor(x), dim=1).values)


# ------------------------------------------------------------------- logcumsumexp


@pytest.mark.parametrize("axis", [0, 1])
def test_logcumsumexp_vs_torch_values_grad(axis):
    x = W((4, 5))
    w = W((4, 5))
    close(ag.logcumsumexp(x, axis=axis), torch.logcumsumexp(torch.tensor(x), dim=axis))
    g = ag.grad(lambda a: (ag.logcumsumexp(a, axis=axis) * w).sum())(x)
    (tg,) = tgrad(lambda a: (torch.logcumsumexp(a, dim=axis) * torch.tensor(w)).sum(), x)
    close(g, tg)


def test_logcumsumexp_large_inputs_stable():
    x = np.array([1000.0, 1001.0, -1000.0, 999.0, 2000.0])
    w = np.array([0.3, -1.0, 2.0, 0.5, 1.5])
    out = ag.logcumsumexp(x, axis=0)
    assert np.all(np.isfinite(arr(out)))
    close(out, torch.logcumsumexp(torch.tensor(x), dim=0))
    g = ag.grad(lambda a: (ag.logcumsumexp(a, axis=0) * w).sum())(x)
    assert np.all(np.isfinite(g))
    (tg,) = tgrad(lambda a: (torch.logcumsumexp(a, dim=0) * torch.tensor(w)).sum(), x)
    close(g, tg)
    y = -np.array([1000.0, 1001.0, 999.0])
    close(ag.logcumsumexp(y, axis=0), torch.logcumsumexp(torch.tensor(y), dim=0))


def test_logcumsumexp_float32_keeps_dtype_and_hessian():
    x32 = W((5,)).astype(np.float32)
    out = ag.logcumsumexp(x32, axis=0)
    assert arr(out).dtype == np.float32
    x = W((4,))
    h = ag.hessian(lambda a: ag.logcumsumexp(a, axis=0).sum())(x)
    th = torch.autograd.functional.hessian(
        lambda a: torch.logcumsumexp(a, dim=0).sum(), torch.tensor(x)
    )
    close(h, th)


def test_logcumsumexp_neg_inf_entries():
    x = np.array([-np.inf, 0.0, -np.inf, 1.0])
    close(ag.logcumsumexp(x, axis=0), torch.logcumsumexp(torch.tensor(x), dim=0))


def test_logcumsumexp_vmap_jvp_compile():
    x = W((3, 6))
    t = W((3, 6))
    close(
        ag.vmap(lambda a: ag.logcumsumexp(a, axis=0))(x), torch.logcumsumexp(torch.tensor(x), dim=1)
    )
    p, tan = ag.jvp(lambda a: ag.logcumsumexp(a, axis=1), (x,), (t,))
    _, ttan = tjvp(lambda a: torch.logcumsumexp(a, dim=1), (torch.tensor(x),), (torch.tensor(t),))
    close(tan, ttan)
    c = ag.compile(ag.grad(lambda a: (ag.logcumsumexp(a, axis=1) ** 2).sum()))
    (tg,) = tgrad(lambda a: (torch.logcumsumexp(a, dim=1) ** 2).sum(), x)
    close(c(x), tg)


# ------------------------------------------------------------------- diff


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("axis", [0, -1])
def test_diff_values_and_grad_vs_numpy_torch(n, axis):
    x = W((5, 6))
    close(ag.diff(x, n=n, axis=axis), np.diff(x, n=n, axis=axis))
    w = W(np.diff(x, n=n, axis=axis).shape)
    g = ag.grad(lambda a: (ag.diff(a, n=n, axis=axis) * w).sum())(x)
    (tg,) = tgrad(
        lambda a: (
            (torch.diff(a, n=n, dim=axis) * torch.tensor(w)).sum()
            if n
            else (a * torch.tensor(w)).sum()
        ),
        x,
    )
    close(g, tg)


def test_diff_prepend_append_grads():
    x = W((3, 4))
    pre = W((3, 2))
    app = W((3, 1))
    ref = np.diff(x, n=2, axis=1, prepend=pre, append=app)
    out = ag.diff(x, n=2, axis=1, prepend=pre, append=app)
    close(out, ref)
    w = W(ref.shape)
    g = ag.grad(
        lambda a, p, q: (ag.diff(a, n=2, axis=1, prepend=p, append=q) * w).sum(), argnums=(0, 1, 2)
    )(x, pre, app)
    tg = tgrad(
        lambda a, p, q: (torch.diff(a, n=2, dim=1, prepend=p, append=q) * torch.tensor(w)).sum(),
        x,
        pre,
        app,
    )
    for a, b in zip(g, tg):
        close(a, b)
    # a scalar prepend broadcasts along the axis, as np.diff
    close(ag.diff(x, axis=0, prepend=0.0), np.diff(x, axis=0, prepend=0.0))
    close(ag.diff(x, axis=1, append=2.5), np.diff(x, axis=1, append=2.5))


def test_diff_int_and_bool_dtype_like_numpy():
    # BUG (bool part): np.diff on bool input gives not_equal of neighbours (bool); ag.diff raises
    # "diff: sub: ... numpy boolean subtract ... is not supported".
    xi = np.array([1, 4, 9, 16], dtype=np.int32)
    out = ag.diff(xi)
    np.testing.assert_array_equal(arr(out), np.diff(xi))
    assert arr(out).dtype == np.diff(xi).dtype
    xb = np.array([True, False, False, True])
    np.testing.assert_array_equal(arr(ag.diff(xb)), np.diff(xb))


def test_diff_n_larger_than_axis_gives_empty_like_numpy():
    x = W((3,))
    close(ag.diff(x, n=5), np.diff(x, n=5))
    assert arr(ag.diff(x, n=5)).shape == (0,)


def test_diff_bad_inputs_named():
    with pytest.raises(Exception, match=r"diff") as e:
        ag.diff(W((3,)), n=-1)
    assert "n" in str(e.value)
    with pytest.raises(Exception, match=r"diff"):
        ag.diff(np.float64(3.0))  # 0-d: numpy refuses too
    with pytest.raises(Exception, match=r"diff") as e:
        ag.diff(W((3, 4)), axis=2)
    assert "axis" in str(e.value)


def test_diff_vmap_jvp_checkpoint_compile_grad2():
    x = W((4, 5))
    t = W((4, 5))
    close(ag.vmap(lambda a: ag.diff(a, n=2))(x), np.diff(x, n=2, axis=1))
    close(
        ag.vmap(lambda a: ag.diff(a, prepend=a[:1]), in_axes=1)(x),
        np.diff(x, axis=0, prepend=x[:1]).T,
    )
    _, tan = ag.jvp(lambda a: ag.diff(a, axis=0), (x,), (t,))
    close(tan, np.diff(t, axis=0))
    f = lambda a: (ag.diff(a, n=2, axis=1) ** 3).sum()  # noqa: E731
    tf = lambda a: (torch.diff(a, n=2, dim=1) ** 3).sum()  # noqa: E731
    (tg,) = tgrad(tf, x)
    close(ag.compile(ag.grad(f))(x), tg)
    close(ag.grad(lambda a: ag.checkpoint(lambda b: ag.diff(b, n=2, axis=1) ** 3)(a).sum())(x), tg)
    v = W(x.shape)
    hvp = ag.grad(lambda a: (ag.grad(f)(a) * v).sum())(x)
    th = torch.autograd.functional.hvp(tf, torch.tensor(x), torch.tensor(v))[1]
    close(hvp, th)


# ------------------------------------------------------------------- gradient (np.gradient)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_1d_values_vs_numpy(edge_order):
    x = W((7,))
    close(ag.gradient(x, edge_order=edge_order), np.gradient(x, edge_order=edge_order))
    close(ag.gradient(x, 0.3, edge_order=edge_order), np.gradient(x, 0.3, edge_order=edge_order))
    coords = np.cumsum(np.abs(W((7,))) + 0.1)
    close(
        ag.gradient(x, coords, edge_order=edge_order), np.gradient(x, coords, edge_order=edge_order)
    )


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_2d_tuple_and_axis(edge_order):
    x = W((5, 6))
    ref = np.gradient(x, 0.5, 2.0, edge_order=edge_order)
    out = ag.gradient(x, 0.5, 2.0, edge_order=edge_order)
    assert isinstance(out, (tuple, list)) and len(out) == 2
    for a, b in zip(out, ref):
        close(a, b)
    c1 = np.cumsum(np.abs(W((6,))) + 0.2)
    close(
        ag.gradient(x, c1, axis=1, edge_order=edge_order),
        np.gradient(x, c1, axis=1, edge_order=edge_order),
    )
    close(
        ag.gradient(x, axis=-1, edge_order=edge_order),
        np.gradient(x, axis=-1, edge_order=edge_order),
    )
    out = ag.gradient(x, axis=(1, 0), edge_order=edge_order)
    for a, b in zip(out, np.gradient(x, axis=(1, 0), edge_order=edge_order)):
        close(a, b)


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_grad_vs_torch_gradient_and_fd(edge_order):
    x = W((6,))
    w = W((6,))
    coords = np.cumsum(np.abs(W((6,))) + 0.1)
    g = ag.grad(lambda a: (ag.gradient(a, coords, edge_order=edge_order) * w).sum())(x)
    (tg,) = tgrad(
        lambda a: (
            torch.gradient(a, spacing=(torch.tensor(coords),), edge_order=edge_order)[0]
            * torch.tensor(w)
        ).sum(),
        x,
    )
    close(g, tg)
    fd = fd_grad(lambda a: (np.gradient(a, coords, edge_order=edge_order) * w).sum(), x)
    close(g, fd, rtol=1e-6, atol=1e-7)


def test_gradient_tensor_coordinates_refused_by_name():
    # the docstring makes spacings constants; a Tensor spacing must be refused by name, not
    # silently detached
    x = W((6,))
    coords = np.cumsum(np.abs(W((6,))) + 0.3)
    with pytest.raises(TypeError, match=r"gradient") as e:
        ag.grad(lambda c: ag.gradient(x, c).sum())(coords)
    assert "spacing" in str(e.value)


def test_gradient_edge_cases_and_errors():
    x = W((2,))
    close(ag.gradient(x), np.gradient(x))
    with pytest.raises(Exception, match=r"gradient") as e:
        ag.gradient(W((2,)), edge_order=2)  # numpy: needs at least edge_order + 1 points
    assert "edge_order" in str(e.value)
    with pytest.raises(Exception, match=r"gradient") as e:
        ag.gradient(W((5,)), edge_order=3)
    assert "edge_order" in str(e.value)
    with pytest.raises(Exception, match=r"gradient"):
        ag.gradient(W((5,)), np.arange(4.0))  # coordinates of the wrong length
    xi = np.array([1, 4, 9, 16, 25])
    close(ag.gradient(xi), np.gradient(xi))


def test_gradient_vmap_jvp_compile():
    x = W((3, 7))
    t = W((3, 7))
    close(
        ag.vmap(lambda a: ag.gradient(a, 0.5, edge_order=2))(x),
        np.gradient(x, 0.5, axis=1, edge_order=2),
    )
    _, tan = ag.jvp(lambda a: ag.gradient(a, axis=1, edge_order=2), (x,), (t,))
    close(tan, np.gradient(t, axis=1, edge_order=2))
    f = lambda a: (ag.gradient(a, 0.7, axis=0) ** 2).sum()  # noqa: E731
    g = ag.grad(f)(x)
    close(ag.compile(ag.grad(f))(x), g)
    close(g, fd_grad(lambda a: (np.gradient(a, 0.7, axis=0) ** 2).sum(), x), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------- normalize


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_normalize_vs_torch(p, axis):
    x = W((3, 4, 2))
    w = W((3, 4, 2))
    close(ag.normalize(x, p=p, axis=axis), TF.normalize(torch.tensor(x), p=p, dim=axis))
    close(ag.normalize(x, p=p, dim=axis), TF.normalize(torch.tensor(x), p=p, dim=axis))
    g = ag.grad(lambda a: (ag.normalize(a, p=p, axis=axis) * w).sum())(x)
    (tg,) = tgrad(lambda a: (TF.normalize(a, p=p, dim=axis) * torch.tensor(w)).sum(), x)
    close(g, tg)


def test_normalize_default_dim1_zero_vector_and_eps():
    x = W((2, 3))
    x[1] = 0.0
    out = ag.normalize(x)
    close(out, TF.normalize(torch.tensor(x)))
    assert np.all(arr(out)[1] == 0)
    w = W((2, 3))
    g = ag.grad(lambda a: (ag.normalize(a) * w).sum())(x)
    (tg,) = tgrad(lambda a: (TF.normalize(a) * torch.tensor(w)).sum(), x)
    assert np.all(np.isfinite(g))
    close(g, tg)
    y = np.array([[1e-14, -2e-14, 0.5e-14]])
    close(ag.normalize(y, eps=1e-12), TF.normalize(torch.tensor(y), eps=1e-12))


def test_normalize_vmap_jvp_compile_hessian():
    x = W((4, 3))
    t = W((4, 3))
    close(ag.vmap(lambda a: ag.normalize(a, axis=0))(x), TF.normalize(torch.tensor(x), dim=1))
    _, tan = ag.jvp(lambda a: ag.normalize(a, axis=1), (x,), (t,))
    _, ttan = tjvp(lambda a: TF.normalize(a, dim=1), (torch.tensor(x),), (torch.tensor(t),))
    close(tan, ttan)
    c = ag.compile(lambda a: ag.normalize(a, p=3.0, axis=0))
    close(c(x), TF.normalize(torch.tensor(x), p=3.0, dim=0))
    h = ag.hessian(lambda a: (ag.normalize(a, axis=0) * np.arange(3.0)).sum())(x[0])
    th = torch.autograd.functional.hessian(
        lambda a: (TF.normalize(a, dim=0) * torch.arange(3.0)).sum(), torch.tensor(x[0])
    )
    close(h, th)


def test_normalize_bad_axis():
    with pytest.raises(Exception, match=r"normalize") as e:
        ag.normalize(W((2, 3)), axis=5)
    assert "axis" in str(e.value)


def test_normalize_axis_and_dim_both_refused():
    # BUG: ag.sum(x, axis=0, dim=1) is refused ("give axis= or PyTorch's dim=, not both"), but
    # ag.normalize(x, axis=0, dim=1) silently uses dim=1 and drops the explicit axis=0.
    with pytest.raises(Exception, match=r"normalize") as e:
        ag.normalize(W((2, 3)), axis=0, dim=1)
    assert "dim" in str(e.value) and "axis" in str(e.value)


# ------------------------------------------------------------------- sum/prod dtype=


def test_sum_prod_dtype_like_numpy():
    xi = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8)
    for fn, nfn in ((ag.sum, np.sum), (ag.prod, np.prod)):
        for dt in (np.int64, np.float64, np.float32):
            out = fn(xi, axis=1, dtype=dt)
            ref = nfn(xi, axis=1, dtype=dt)
            np.testing.assert_array_equal(arr(out), ref)
            assert arr(out).dtype == ref.dtype
    big = np.full(100, 100, dtype=np.int8)
    assert int(arr(ag.sum(big, dtype=np.int64))) == 10000
    x32 = W((50,)).astype(np.float32)
    out = ag.sum(x32, dtype=np.float64)
    assert arr(out).dtype == np.float64
    close(out, np.sum(x32, dtype=np.float64))


def test_sum_prod_dtype_gradient():
    x32 = W((3, 4)).astype(np.float32)
    g = ag.grad(lambda a: ag.sum(a * a, dtype=np.float64))(x32)
    close(g, 2 * x32.astype(np.float64), rtol=1e-6)
    assert arr(g).dtype == np.float32  # the gradient of a float32 input is float32
    x = W((3, 4))
    g = ag.grad(lambda a: ag.prod(a, axis=0, dtype=np.float64).sum())(x)
    (tg,) = tgrad(lambda a: torch.prod(a, dim=0, dtype=torch.float64).sum(), x)
    close(g, tg)


# ------------------------------------------------------------------- attention


def _sdpa_pair(q, k, v, **kw):
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tkw = dict(kw)
    if isinstance(tkw.get("attn_mask"), np.ndarray):
        tkw["attn_mask"] = torch.tensor(tkw["attn_mask"])
    tout = TF.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), **tkw)
    return out, tout


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "scale", "bool_bcast"])
def test_sdpa_values_and_grads_vs_torch(kind):
    B, H, L, S, E, Ev = 2, 3, 4, 5, 6, 7
    q, k, v = W((B, H, L, E)), W((B, H, S, E)), W((B, H, S, Ev))
    kw = {}
    if kind == "bool":
        m = RNG.random((B, H, L, S)) > 0.3
        m[..., 0] = True
        kw["attn_mask"] = m
    elif kind == "bool_bcast":
        m = RNG.random((L, S)) > 0.4
        m[:, 1] = True
        kw["attn_mask"] = m
    elif kind == "float":
        kw["attn_mask"] = W((1, H, L, S))
    elif kind == "causal":
        kw["is_causal"] = True
    elif kind == "scale":
        kw["scale"] = 0.37
    out, tout = _sdpa_pair(q, k, v, **kw)
    close(out, tout)
    w = W(arr(tout).shape)
    g = ag.grad(
        lambda a, b, c: (F.scaled_dot_product_attention(a, b, c, **kw) * w).sum(), argnums=(0, 1, 2)
    )(q, k, v)
    tkw = {kk: (torch.tensor(vv) if isinstance(vv, np.ndarray) else vv) for kk, vv in kw.items()}
    tg = tgrad(
        lambda a, b, c: (TF.scaled_dot_product_attention(a, b, c, **tkw) * torch.tensor(w)).sum(),
        q,
        k,
        v,
    )
    for a, b in zip(g, tg):
        close(a, b)


def test_sdpa_float_mask_gradient():
    q, k, v = W((2, 3, 4)), W((2, 5, 4)), W((2, 5, 3))
    m = W((3, 5))
    w = W((2, 3, 3))
    g = ag.grad(lambda mm: (F.scaled_dot_product_attention(q, k, v, attn_mask=mm) * w).sum())(m)
    (tg,) = tgrad(
        lambda mm: (
            TF.scaled_dot_product_attention(
                torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=mm
            )
            * torch.tensor(w)
        ).sum(),
        m,
    )
    close(g, tg)


def test_sdpa_fully_masked_rows_zero_and_zero_grad():
    q, k, v = W((1, 2, 3, 4)), W((1, 2, 5, 4)), W((1, 2, 5, 4))
    m = RNG.random((1, 2, 3, 5)) > 0.5
    m[0, 0, 1, :] = False  # a fully masked row
    m[0, 1, 2, :] = False
    m[0, 0, 0, :] = True
    out, tout = _sdpa_pair(q, k, v, attn_mask=m)
    close(out, tout)
    assert np.all(arr(out)[0, 0, 1] == 0) and np.all(arr(out)[0, 1, 2] == 0)
    w = W((1, 2, 3, 4))
    g = ag.grad(
        lambda a, b, c: (F.scaled_dot_product_attention(a, b, c, attn_mask=m) * w).sum(),
        argnums=(0, 1, 2),
    )(q, k, v)
    for gi in g:
        assert np.all(np.isfinite(gi))
    tg = tgrad(
        lambda a, b, c: (
            TF.scaled_dot_product_attention(a, b, c, attn_mask=torch.tensor(m)) * torch.tensor(w)
        ).sum(),
        q,
        k,
        v,
    )
    for a, b in zip(g, tg):
        close(a, b)
    assert np.all(g[0][0, 0, 1] == 0)
    # an additive mask of -inf over a whole row: torch gives 0 as well (same "fully masked" rule)
    fm = np.zeros((3, 5))
    fm[1] = -np.inf
    out, tout = _sdpa_pair(q, k, v, attn_mask=fm)
    close(out, tout)


def test_sdpa_causal_L_ne_S_and_no_batch():
    q, k, v = W((3, 4)), W((6, 4)), W((6, 2))
    out, tout = _sdpa_pair(q, k, v, is_causal=True)
    close(out, tout)
    q, k, v = W((6, 4)), W((3, 4)), W((3, 2))
    out, tout = _sdpa_pair(q, k, v, is_causal=True)
    close(out, tout)


def test_sdpa_vmap_jvp_compile_checkpoint_grad2():
    B, L, S, E = 3, 4, 5, 2
    q, k, v = W((B, L, E)), W((B, S, E)), W((B, S, E))
    tq, tk, tv = W((B, L, E)), W((B, S, E)), W((B, S, E))
    m = RNG.random((L, S)) > 0.3
    m[:, 0] = True
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=m)  # noqa: E731
    tf = lambda a, b, c: TF.scaled_dot_product_attention(a, b, c, attn_mask=torch.tensor(m))  # noqa: E731
    T = [torch.tensor(z) for z in (q, k, v)]
    close(ag.vmap(f)(q, k, v), tf(*T))
    close(ag.vmap(f, in_axes=(0, None, None))(q, k[0], v[0]), tf(T[0], T[1][0], T[2][0]))
    p, tan = ag.jvp(f, (q, k, v), (tq, tk, tv))
    tp, ttan = tjvp(tf, tuple(T), tuple(torch.tensor(z) for z in (tq, tk, tv)))
    close(p, tp)
    close(tan, ttan)
    c = ag.compile(f)
    close(c(q, k, v), tf(*T))
    cc = ag.compile(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True))
    close(cc(q, k, v), TF.scaled_dot_product_attention(*T, is_causal=True))
    loss = lambda a: (f(a, k, v) ** 2).sum()  # noqa: E731
    (tg,) = tgrad(lambda a: (tf(a, T[1], T[2]) ** 2).sum(), q)
    close(ag.grad(loss)(q), tg)
    close(ag.compile(ag.grad(loss))(q), tg)
    close(ag.grad(lambda a: (ag.checkpoint(lambda z: f(z, k, v))(a) ** 2).sum())(q), tg)
    vec = W(q.shape)
    hvp = ag.grad(lambda a: (ag.grad(loss)(a) * vec).sum())(q)
    th = torch.autograd.functional.hvp(
        lambda a: (tf(a, T[1], T[2]) ** 2).sum(), T[0], torch.tensor(vec)
    )[1]
    close(hvp, th)


def test_sdpa_float32_dtype():
    # BUG: float32 q, k, v give a float64 result with the default scale (1/sqrt(E) enters as
    # float64);
    # with scale=0.5 the result stays float32. README: arrays keep their dtype through every
    # op; torch keeps it.
    q = W((2, 3, 4)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, q, q)
    assert arr(out).dtype == np.float32
    close(out, TF.scaled_dot_product_attention(*(torch.tensor(q),) * 3), rtol=1e-5, atol=1e-6)


def test_sdpa_bad_shapes_and_dropout_named():
    with pytest.raises(Exception, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(W((2, 3, 4)), W((2, 5, 3)), W((2, 5, 4)))
    assert "key" in str(e.value) and "query" in str(e.value)
    with pytest.raises(Exception, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(W((2, 3, 4)), W((2, 5, 4)), W((2, 5, 4)), dropout_p=0.5)
    assert "rng" in str(e.value)
    with pytest.raises(Exception, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(
            W((2, 3, 4)), W((2, 5, 4)), W((2, 5, 4)), attn_mask=np.ones((3, 5)), is_causal=True
        )


def test_sdpa_bad_mask_shape_named():
    # BUG: a mask of shape (3, 4) for scores (2, 3, 5) fails inside `where` ("where: cannot
    # apply to inputs of
    # shapes/dtypes ((3, 4) bool, (2, 3, 5) float64, ...)"): the error names neither
    # scaled_dot_product_attention
    # nor attn_mask.
    with pytest.raises(Exception, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(
            W((2, 3, 4)), W((2, 5, 4)), W((2, 5, 4)), attn_mask=np.ones((3, 4), bool)
        )
    assert "attn_mask" in str(e.value)


def test_sdpa_int_mask_refused_like_torch():
    # BUG: an integer 0/1 mask is silently added to the scores (as if additive), where a user
    # means a boolean
    # mask; torch refuses it ("Expected attn_mask dtype to be bool or float or to match query
    # dtype").
    q = W((2, 3, 4))
    m = (RNG.random((3, 3)) > 0.5).astype(np.int64)
    with pytest.raises(Exception, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(q, q, q, attn_mask=m)
    assert "attn_mask" in str(e.value)


# ------------------------------------------------------------------- linspace


@pytest.mark.parametrize("num,endpoint", [(5, True), (5, False), (1, True), (2, True)])
def test_linspace_tensor_ends_values_and_grads(num, endpoint):
    start, stop = 0.3, 2.1
    ref = np.linspace(start, stop, num, endpoint=endpoint)
    close(ag.linspace(ag.Tensor(start), ag.Tensor(stop), num, endpoint=endpoint), ref)
    w = W((num,))
    g = ag.grad(lambda a, b: (ag.linspace(a, b, num, endpoint=endpoint) * w).sum(), argnums=(0, 1))(
        start, stop
    )
    fa = fd_grad(
        lambda a: (np.linspace(a, stop, num, endpoint=endpoint) * w).sum(), np.array(start)
    )
    fb = fd_grad(
        lambda b: (np.linspace(start, b, num, endpoint=endpoint) * w).sum(), np.array(stop)
    )
    close(g[0], fa, rtol=1e-6, atol=1e-8)
    close(g[1], fb, rtol=1e-6, atol=1e-8)
    # torch.linspace has no gradient: compare the formula start + k (stop - start) / (num - 1)
    w = W((7,))
    g = ag.grad(lambda a, b: (ag.linspace(a, b, 7) * w).sum(), argnums=(0, 1))(0.0, 1.0)
    k = np.arange(7) / 6
    close(g[0], (w * (1 - k)).sum())
    close(g[1], (w * k).sum())


def test_linspace_array_ends_axis_and_num0():
    a, b = W((3,)), W((3,))
    for axis in (0, 1, -1):
        close(ag.linspace(a, b, 4, axis=axis), np.linspace(a, b, 4, axis=axis))
    w = W((3, 4))
    g = ag.grad(lambda s: (ag.linspace(s, b, 4, axis=1) * w).sum())(a)
    close(g, fd_grad(lambda s: (np.linspace(s, b, 4, axis=1) * w).sum(), a), rtol=1e-6, atol=1e-8)
    assert arr(ag.linspace(0.0, 1.0, 0)).shape == (0,)
    assert arr(ag.linspace(0, 10, 5, dtype=np.int64)).dtype == np.int64
    np.testing.assert_array_equal(
        arr(ag.linspace(0, 10, 4, dtype=np.int64)), np.linspace(0, 10, 4, dtype=np.int64)
    )


def test_linspace_vmap_jvp_compile():
    a, b = W((4,)), W((4,))
    close(ag.vmap(lambda s, e: ag.linspace(s, e, 5))(a, b), np.linspace(a, b, 5, axis=1))
    _, tan = ag.jvp(lambda s, e: ag.linspace(s, e, 5), (1.0, 3.0), (0.5, -1.0))
    close(tan, np.linspace(0.5, -1.0, 5))
    c = ag.compile(ag.grad(lambda s: (ag.linspace(s, 2.0, 6) ** 2).sum()))
    close(
        c(np.array(0.5)),
        fd_grad(lambda s: (np.linspace(s, 2.0, 6) ** 2).sum(), np.array(0.5)),
        rtol=1e-6,
    )
    with pytest.raises(Exception, match=r"linspace") as e:
        ag.linspace(0.0, 1.0, -2)
    assert "num" in str(e.value)


# ------------------------------------------------------------------- cross / inner / kron


@pytest.mark.parametrize(
    "shapes,axis",
    [(((3,), (3,)), -1), (((4, 3), (3,)), -1), (((3, 5), (3, 1)), 0), (((2, 1, 3), (4, 3)), -1)],
)
def test_cross_vs_torch(shapes, axis):
    a, b = W(shapes[0]), W(shapes[1])
    close(ag.cross(a, b, axis=axis), np.cross(a, b, axis=axis))
    out_shape = np.cross(a, b, axis=axis).shape
    w = W(out_shape)
    ga, gb = ag.grad(lambda x, y: (ag.cross(x, y, axis=axis) * w).sum(), argnums=(0, 1))(a, b)

    def tf(x, y):
        x, y = torch.broadcast_tensors(x, y)
        return (torch.linalg.cross(x, y, dim=axis) * torch.tensor(w)).sum()

    ta, tb = tgrad(tf, a, b)
    close(ga, ta)
    close(gb, tb)


def test_cross_transforms_and_errors():
    a, b = W((4, 3)), W((4, 3))
    ta, tb = W((4, 3)), W((4, 3))
    close(ag.vmap(ag.cross)(a, b), np.cross(a, b))
    close(ag.vmap(ag.cross, in_axes=(0, None))(a, b[0]), np.cross(a, b[0]))
    _, tan = ag.jvp(ag.cross, (a, b), (ta, tb))
    close(tan, np.cross(ta, b) + np.cross(a, tb))
    close(ag.compile(ag.cross)(a, b), np.cross(a, b))
    with pytest.raises(Exception, match=r"cross") as e:
        ag.cross(W((4, 2)), W((4, 2)))
    assert "3" in str(e.value)


@pytest.mark.parametrize(
    "sa,sb",
    [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 1, 3), (5, 3)), ((), (4,)), ((3,), ())],
)
def test_inner_vs_numpy_and_grad(sa, sb):
    a, b = W(sa), W(sb)
    ref = np.inner(a, b)
    close(ag.inner(a, b), ref)
    w = W(np.shape(ref))
    ga, gb = ag.grad(lambda x, y: (ag.inner(x, y) * w).sum(), argnums=(0, 1))(a, b)
    ta, tb = tgrad(lambda x, y: (torch.inner(x, y) * torch.tensor(w)).sum(), a, b)
    close(ga, ta)
    close(gb, tb)


def test_inner_mismatch_error():
    with pytest.raises(Exception, match=r"inner"):
        ag.inner(W((2, 3)), W((2, 4)))


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((2,), (3,)),
        ((2, 3), (4, 1)),
        ((2, 2), (3,)),
        ((3,), (2, 2)),
        ((1, 2, 2), (2, 3)),
        ((), (2, 2)),
    ],
)
def test_kron_vs_numpy_torch(sa, sb):
    a, b = W(sa), W(sb)
    ref = np.kron(a, b)
    close(ag.kron(a, b), ref)
    w = W(ref.shape)
    ga, gb = ag.grad(lambda x, y: (ag.kron(x, y) * w).sum(), argnums=(0, 1))(a, b)
    fa = fd_grad(lambda x: (np.kron(x, b) * w).sum(), a)
    fb = fd_grad(lambda y: (np.kron(a, y) * w).sum(), b)
    close(ga, fa, rtol=1e-6, atol=1e-7)
    close(gb, fb, rtol=1e-6, atol=1e-7)


def test_inner_kron_vmap_jvp_compile():
    a, b = W((3, 2, 2)), W((3, 2))
    close(ag.vmap(ag.kron)(a, b), np.stack([np.kron(a[i], b[i]) for i in range(3)]))
    close(ag.vmap(ag.inner)(a, b), np.stack([np.inner(a[i], b[i]) for i in range(3)]))
    ta, tb = W(a.shape), W(b.shape)
    _, tan = ag.jvp(ag.kron, (a, b), (ta, tb))
    close(tan, np.kron(ta, b) + np.kron(a, tb))
    _, tan = ag.jvp(ag.inner, (a, b), (ta, tb))
    close(tan, np.inner(ta, b) + np.inner(a, tb))
    close(ag.compile(ag.kron)(a, b), np.kron(a, b))
    close(ag.compile(ag.inner)(a, b), np.inner(a, b))


# ------------------------------------------------------------------- einsum broadcasting


EINSUM_CASES = [
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij,...jk", [(3, 4), (2, 4, 5)]),
    ("ij,jk->ik", [(1, 4), (4, 3)]),  # plain
    ("bij,bjk->bik", [(1, 3, 4), (5, 4, 2)]),  # size-1 broadcast of a named axis
    ("i,i->", [(1,), (4,)]),  # size-1 against 4 under a contracted letter
    ("...i,...i->...", [(3, 1, 4), (5, 4)]),
    ("ii->i", [(3, 3)]),
    ("i...->...", [(3, 2, 2)]),
    ("ij...,j->i...", [(2, 3, 4), (3,)]),
    ("...", [(2, 3)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUM_CASES)
def test_einsum_broadcasting_vs_numpy_torch(spec, shapes):
    ops = [W(s) for s in shapes]
    try:
        ref = np.einsum(spec, *ops)
    except ValueError:
        ref = torch.einsum(spec, *[torch.tensor(o) for o in ops]).numpy()
    tref = torch.einsum(spec, *[torch.tensor(o) for o in ops]).numpy()
    close(tref, ref)
    close(ag.einsum(spec, *ops), ref)
    w = W(ref.shape)
    g = ag.grad(lambda *xs: (ag.einsum(spec, *xs) * w).sum(), argnums=tuple(range(len(ops))))(*ops)
    tg = tgrad(lambda *xs: (torch.einsum(spec, *xs) * torch.tensor(w)).sum(), *ops)
    for a, b in zip(g, tg):
        close(a, b)


def test_einsum_transforms():
    a, b = W((1, 3, 4)), W((2, 4, 5))
    spec = "...ij,...jk->...ik"
    ta, tb = W(a.shape), W(b.shape)
    _, tan = ag.jvp(lambda x, y: ag.einsum(spec, x, y), (a, b), (ta, tb))
    close(tan, np.einsum(spec, ta, b) + np.einsum(spec, a, tb))
    c = ag.compile(lambda x, y: ag.einsum(spec, x, y))
    close(c(a, b), np.einsum(spec, a, b))
    out = ag.vmap(lambda x, y: ag.einsum("...j,jk->...k", x, y), in_axes=(0, None))(
        W((4, 1, 3)), W((3, 2))
    )
    assert arr(out).shape == (4, 1, 2)
    f = lambda x: (ag.einsum(spec, x, b) ** 2).sum()  # noqa: E731
    (tg,) = tgrad(lambda x: (torch.einsum(spec, x, torch.tensor(b)) ** 2).sum(), a)
    close(ag.compile(ag.grad(f))(a), tg)
    close(ag.grad(lambda x: (ag.checkpoint(lambda z: ag.einsum(spec, z, b))(x) ** 2).sum())(a), tg)


def test_einsum_bad_inputs():
    with pytest.raises(Exception, match=r"einsum"):
        ag.einsum("ij,jk->ik", W((2, 3)), W((4, 5)))
    with pytest.raises(Exception, match=r"einsum"):
        ag.einsum("ij,jk->ik", W((2, 3)))


# ------------------------------------------------------------------- PyTorch aliases


@pytest.mark.parametrize(
    "name,tname",
    [
        ("sum", "sum"),
        ("mean", "mean"),
        ("prod", "prod"),
        ("logsumexp", "logsumexp"),
        ("cumsum", "cumsum"),
        ("softmax", "softmax"),
    ],
)
def test_dim_keepdim_aliases(name, tname):
    x = W((3, 4, 2))
    fn = getattr(ag, name)
    tfn = getattr(torch, tname)
    if name in ("cumsum", "softmax"):
        close(fn(x, dim=1), tfn(torch.tensor(x), dim=1))
        close(getattr(ag.Tensor(x), name)(dim=1), tfn(torch.tensor(x), dim=1))
        return
    close(fn(x, dim=1, keepdim=True), tfn(torch.tensor(x), dim=1, keepdim=True))
    close(fn(x, dim=-1), tfn(torch.tensor(x), dim=-1))
    close(
        getattr(ag.Tensor(x), name)(dim=0, keepdim=True), tfn(torch.tensor(x), dim=0, keepdim=True)
    )
    w = W(arr(tfn(torch.tensor(x), dim=1, keepdim=True)).shape)
    g = ag.grad(lambda a: (fn(a, dim=1, keepdim=True) * w).sum())(x)
    (tg,) = tgrad(lambda a: (tfn(a, dim=1, keepdim=True) * torch.tensor(w)).sum(), x)
    close(g, tg)


def test_dim_and_axis_both_given_refused():
    with pytest.raises(Exception, match=r"sum") as e:
        ag.sum(W((2, 3)), axis=0, dim=1)
    assert "dim" in str(e.value) and "axis" in str(e.value)


def test_argmax_all_any_dim():
    x = W((3, 4))
    np.testing.assert_array_equal(
        arr(ag.argmax(x, dim=1)), torch.argmax(torch.tensor(x), dim=1).numpy()
    )
    np.testing.assert_array_equal(
        arr(ag.argmin(x, dim=0, keepdim=True)),
        torch.argmin(torch.tensor(x), dim=0, keepdim=True).numpy(),
    )
    b = x > 0
    np.testing.assert_array_equal(arr(ag.all(b, dim=1)), torch.all(torch.tensor(b), dim=1).numpy())
    np.testing.assert_array_equal(
        arr(ag.any(b, dim=0, keepdim=True)), torch.any(torch.tensor(b), dim=0, keepdim=True).numpy()
    )


def test_max_dim_and_var_dim_refused_with_reason():
    x = ag.Tensor(W((3, 4)))
    with pytest.raises(Exception, match=r"max") as e:
        ag.max(x, dim=1)
    assert "indices" in str(e.value) or "torch" in str(e.value)
    with pytest.raises(Exception, match=r"var") as e:
        ag.var(x, dim=1)
    assert "N - 1" in str(e.value) or "ddof" in str(e.value) or "torch" in str(e.value)


def test_transpose_two_axes_and_2d_refused():
    x = W((2, 3, 4, 5))
    t = ag.Tensor(x, requires_grad=True)
    close(t.transpose(-2, -1), torch.tensor(x).transpose(-2, -1))
    close(t.transpose(1, 3), torch.tensor(x).transpose(1, 3))
    close(t.transpose(0, 2, 1, 3), np.transpose(x, (0, 2, 1, 3)))  # NumPy's full order
    close(t.transpose(), x.T)
    w = W((2, 3, 5, 4))
    g = ag.grad(
        lambda a: (
            (ag.Tensor(a).transpose(-2, -1) * w).sum()
            if not isinstance(a, ag.Tensor)
            else (a.transpose(-2, -1) * w).sum()
        )
    )(x)
    close(g, np.swapaxes(w, -2, -1))
    with pytest.raises(Exception, match=r"transpose") as e:
        ag.Tensor(W((2, 3))).transpose(0, 1)
    assert "torch" in str(e.value) or "swap" in str(e.value)
    x2 = W((2, 3))
    close(ag.Tensor(x2).transpose(1, 0), x2.T)  # NumPy and torch agree
    close(
        ag.Tensor(x2).transpose(-1, -2), x2.T
    )  # torch's swap of two axes == NumPy's order here too
    # transpose(a, b) under vmap: the example's axes
    out = ag.vmap(lambda a: a.transpose(-2, -1))(x)
    close(out, np.swapaxes(x, -2, -1))


def test_view_and_size():
    x = W((2, 3, 4))
    t = ag.Tensor(x)
    close(t.view(6, 4), x.reshape(6, 4))
    close(t.view((4, -1)), x.reshape(4, -1))
    close(t.view(-1), x.reshape(-1))
    assert t.size() == (2, 3, 4)
    assert tuple(t.size()) == tuple(torch.tensor(x).size())
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.size == 24  # NumPy's attribute
    assert int(t.size) == 24
    g = ag.grad(lambda a: (a.view(4, 6) * np.arange(24.0).reshape(4, 6)).sum())(x)
    close(g, np.arange(24.0).reshape(2, 3, 4))
    with pytest.raises(Exception, match=r"view") as e:
        t.view(np.float32)
    assert "dtype" in str(e.value) or "float32" in str(e.value)
    with pytest.raises(Exception, match=r"view"):
        t.view(5, 5)
    with pytest.raises(Exception, match=r"size") as e:
        t.size(3)
    assert "3" in str(e.value)
    close(ag.vmap(lambda a: a.view(-1))(x), x.reshape(2, -1))
    close(ag.compile(lambda a: a.view(3, 8))(x), x.reshape(3, 8))


def test_split_numpy_meaning_and_torch_hint():
    x = W((6, 4))
    pieces = ag.split(x, 3)
    assert len(pieces) == 3
    for p, r in zip(pieces, np.split(x, 3)):
        close(p, r)
    pieces = ag.split(x, [2, 5])
    for p, r in zip(pieces, np.split(x, [2, 5])):
        close(p, r)
    pieces = ag.split(x, 2, axis=1)
    for p, r in zip(pieces, np.split(x, 2, axis=1)):
        close(p, r)
    # NumPy's int: sections that must divide the axis; the error points to torch's meaning
    with pytest.raises(Exception, match=r"split") as e:
        ag.split(W((10, 2)), 4)
    assert "[" in str(e.value) or "indices" in str(e.value)
    w = W((2, 4))
    g = ag.grad(lambda a: (ag.split(a, 3)[1] * w).sum())(x)
    ref = np.zeros_like(x)
    ref[2:4] = w
    close(g, ref)
    # torch.split(x, 2) == split at indices range(2, n, 2)
    tparts = torch.split(torch.tensor(x), 2)
    for p, r in zip(ag.split(x, list(range(2, 6, 2))), tparts):
        close(p, r)


# ------------------------------------------------------------------- power's exponent gradient


def test_power_exponent_grad_at_zero_and_negative_bases_vs_torch():
    a = np.array([-2.0, -0.5, 0.0, 0.0, 0.0, 1.5, 3.0, -3.0])
    b = np.array([2.0, 3.0, 2.0, 0.5, 0.0, -1.2, 0.7, 2.0])
    with warnings.catch_warnings():  # the leak of NumPy's RuntimeWarning is tested on its own below
        warnings.simplefilter("ignore", RuntimeWarning)
        ga, gb = ag.grad(lambda x, y: ag.power(x, y).sum(), argnums=(0, 1))(a, b)
    ta, tb = tgrad(lambda x, y: torch.pow(x, y).sum(), a, b)
    np.testing.assert_allclose(gb, tb, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(ga, ta, rtol=1e-12, equal_nan=True)
    assert np.isnan(gb[0]) and np.isnan(gb[1]) and gb[2] == 0 and gb[3] == 0
    # same through the operator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gb2 = ag.grad(lambda y: (ag.Tensor(a) ** y).sum())(b)
    np.testing.assert_allclose(gb2, tb, rtol=1e-12, equal_nan=True)


def test_power_base_grad_at_zero_base_no_runtime_warning():
    # BUG: d(0 ** 0.5)/da is inf (torch gives inf, silently); autograd_nn gives the right inf
    # but lets
    # NumPy's "RuntimeWarning: divide by zero encountered in power" escape from the op's
    # backward rule.
    a, b = np.array([0.0]), np.array([0.5])
    ga, gb = ag.grad(lambda x, y: ag.power(x, y).sum(), argnums=(0, 1))(a, b)
    ta, tb = tgrad(lambda x, y: torch.pow(x, y).sum(), a, b)
    np.testing.assert_array_equal(ga, ta)
    np.testing.assert_array_equal(gb, tb)


def test_compile_grad_python_float_argument():
    # BUG: ag.grad(f)(0.5) works eagerly (README: ag.grad(lambda v: v ** 3)(3.0)), but
    # ag.compile(ag.grad(f))(0.5)
    # raises "compile: <lambda> uses a Tensor that requires grad but is not an argument (()
    # float64)": the
    # Python float argument itself is the Tensor it names. With np.array(0.5) it works.
    c = ag.compile(ag.grad(lambda s: (ag.exp(s) ** 2).sum()))
    close(c(0.5), 2 * np.exp(1.0))
    c = ag.compile(ag.grad(lambda s: (ag.linspace(s, 2.0, 6) ** 2).sum()))
    close(c(0.5), fd_grad(lambda s: (np.linspace(s, 2.0, 6) ** 2).sum(), np.array(0.5)), rtol=1e-6)


def test_power_exponent_grad_positive_base_fd_jvp_grad2():
    a = np.abs(W((5,))) + 0.3
    b = W((5,))
    gb = ag.grad(lambda y: ag.power(a, y).sum())(b)
    close(gb, fd_grad(lambda y: np.power(a, y).sum(), b), rtol=1e-6, atol=1e-8)
    tb = W((5,))
    _, tan = ag.jvp(lambda y: ag.power(a, y), (b,), (tb,))
    _, ttan = tjvp(lambda y: torch.pow(torch.tensor(a), y), (torch.tensor(b),), (torch.tensor(tb),))
    close(tan, ttan)
    h = ag.hessian(lambda y: ag.power(a, y).sum())(b)
    th = torch.autograd.functional.hessian(
        lambda y: torch.pow(torch.tensor(a), y).sum(), torch.tensor(b)
    )
    close(h, th)
    close(ag.compile(ag.grad(lambda y: ag.power(a, y).sum()))(b), gb)
    close(
        ag.vmap(ag.grad(lambda y: ag.power(a, y).sum()))(np.stack([b, b + 1])),
        np.stack([gb, ag.grad(lambda y: ag.power(a, y).sum())(b + 1)]),
    )


def test_power_exponent_jvp_zero_base_matches_torch():
    a = np.array([0.0, 0.0, -1.0])
    b = np.array([2.0, 0.0, 2.0])
    _, tan = ag.jvp(lambda y: ag.power(a, y), (b,), (np.ones(3),))
    _, ttan = tjvp(lambda y: torch.pow(torch.tensor(a), y), (torch.tensor(b),), (torch.ones(3),))
    np.testing.assert_allclose(arr(tan), ttan.numpy(), equal_nan=True)


# ------------------------------------------------------------------- general: no warnings, 0-d


def test_no_warnings_on_ops():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ag.logcumsumexp(np.array([-np.inf, -np.inf, 0.0]), axis=0)
        ag.normalize(np.zeros((2, 3)))
        ag.grad(lambda a: ag.normalize(a).sum())(np.zeros((2, 3)))
        m = np.zeros((2, 2), bool)
        F.scaled_dot_product_attention(W((2, 3)), W((2, 3)), W((2, 3)), attn_mask=m)


# ------------------------------------------------------------------- perturbed inputs


@pytest.mark.parametrize("name", ["cummax", "cummin", "logcumsumexp"])
def test_scans_0d_empty_noncontiguous_float32(name):
    fn = getattr(ag, name)
    tfn = getattr(torch, name)
    pick = (lambda r: r.values) if name != "logcumsumexp" else (lambda r: r)
    # 0-d: torch treats it as one element along dim 0 (issue 24: follow NumPy 2 / torch at 0-d)
    x0 = np.array(1.7)
    close(pick(fn(x0, axis=0)), pick(tfn(torch.tensor(x0), dim=0)))
    # empty along the scanned axis
    xe = np.zeros((0, 3))
    assert arr(pick(fn(xe, axis=0))).shape == (0, 3)
    # non-contiguous
    xn = W((6, 5))[::2, ::-1].T
    close(pick(fn(xn, axis=1)), pick(tfn(torch.tensor(np.ascontiguousarray(xn)), dim=1)))
    w = W(xn.shape)
    g = ag.grad(lambda a: (pick(fn(a, axis=1)) * w).sum())(xn)
    (tg,) = tgrad(lambda a: (pick(tfn(a, dim=1)) * torch.tensor(w)).sum(), np.ascontiguousarray(xn))
    close(g, tg)
    # float32 stays float32
    x32 = W((3, 4)).astype(np.float32)
    assert arr(pick(fn(x32, axis=1))).dtype == np.float32
    # batch 1 under vmap, per-example gradients
    xb = W((1, 5))
    pg = ag.vmap(ag.grad(lambda a: (pick(fn(a, axis=0)) ** 2).sum()))(xb)
    (tg,) = tgrad(lambda a: (pick(tfn(a, dim=0)) ** 2).sum(), xb[0])
    close(pg[0], tg)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cumext_int_input_and_bad_axis(name):
    fn = getattr(ag, name)
    xi = np.array([[3, 1, 4], [1, 5, 9]], dtype=np.int32)
    r = fn(xi, axis=1)
    tr = getattr(torch, name)(torch.tensor(xi), dim=1)
    np.testing.assert_array_equal(arr(r.values), tr.values.numpy())
    np.testing.assert_array_equal(arr(r.indices), tr.indices.numpy())
    assert arr(r.values).dtype == np.int32
    with pytest.raises(Exception, match=name) as e:
        fn(W((2, 3)), axis=2)
    assert "axis" in str(e.value)


def test_jacrev_jacfwd_on_new_ops():
    x = W((4,))
    for f, tf in (
        (lambda a: ag.logcumsumexp(a, axis=0), lambda a: torch.logcumsumexp(a, dim=0)),
        (lambda a: ag.cummax(a, axis=0).values, lambda a: torch.cummax(a, dim=0).values),
        (lambda a: ag.normalize(a, axis=0), lambda a: TF.normalize(a, dim=0)),
        (lambda a: ag.diff(a, n=2, prepend=a[:1]), lambda a: torch.diff(a, n=2, prepend=a[:1])),
        (lambda a: ag.cross(a[:3], a[1:]), lambda a: torch.linalg.cross(a[:3], a[1:])),
        (lambda a: ag.kron(a[:2], a[2:]), lambda a: torch.kron(a[:2], a[2:])),
        (
            lambda a: ag.einsum("i,j->ij", a, a).ravel(),
            lambda a: torch.einsum("i,j->ij", a, a).ravel(),
        ),
    ):
        tj = torch.autograd.functional.jacobian(tf, torch.tensor(x))
        close(ag.jacrev(f)(x), tj)
        close(ag.jacfwd(f)(x), tj)


# ------------------------------------------------------------------- NumPy's own names on Tensors

NP_CASES = {
    "diff": (
        lambda m, a: m.diff(a, axis=1, prepend=0.0),
        lambda a: torch.diff(a, dim=1, prepend=torch.zeros(a.shape[0], 1)),
    ),
    "gradient": (
        lambda m, a: m.gradient(a, 0.5, axis=1, edge_order=2),
        lambda a: torch.gradient(a, spacing=0.5, dim=1, edge_order=2)[0],
    ),
    "cross": (
        lambda m, a: m.cross(a[:, :3], a[:, 1:]),
        lambda a: torch.linalg.cross(a[:, :3], a[:, 1:]),
    ),
    "kron": (lambda m, a: m.kron(a, a[:2, :2]), lambda a: torch.kron(a, a[:2, :2])),
    "inner": (lambda m, a: m.inner(a, a), lambda a: torch.inner(a, a)),
    "einsum": (
        lambda m, a: m.einsum("...i,...i->...", a, a),
        lambda a: torch.einsum("...i,...i->...", a, a),
    ),
    "linspace": (lambda m, a: m.linspace(a[0], a[1], 5), None),
    "prod_dtype": (
        lambda m, a: m.prod(a, axis=0, dtype=np.float64),
        lambda a: torch.prod(a, dim=0, dtype=torch.float64),
    ),
}


@pytest.mark.parametrize("name", sorted(NP_CASES))
def test_numpy_function_on_tensor_records_new_ops(name):
    # README: "every other NumPy function or ufunc that has an op here ... runs that op"
    # BUG (cross): np.cross(t_a, t_b) on Tensors fails with "TypeError: cross: cannot unpack
    # non-iterable NoneType object", while ag.cross(t_a, t_b) works.
    f, tf = NP_CASES[name]
    x = W((3, 4))
    ref = arr(f(ag, x))
    out = f(np, ag.Tensor(x))
    assert isinstance(out, ag.Tensor)
    close(out, ref)
    w = W(ref.shape)
    g = ag.grad(lambda a: (f(np, a) * w).sum())(x)
    close(g, ag.grad(lambda a: (f(ag, a) * w).sum())(x))
    if tf is not None:
        (tg,) = tgrad(lambda a: (tf(a) * torch.tensor(w)).sum(), x)
        close(g, tg)


# ------------------------------------------------------------------- more edges


def test_sdpa_gqa_refused_by_name_and_head_mismatch_named():
    q, k, v = W((2, 4, 3, 5)), W((2, 2, 6, 5)), W((2, 2, 6, 5))
    with pytest.raises(NotImplementedError, match=r"scaled_dot_product_attention") as e:
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    assert "enable_gqa" in str(e.value)


def test_size_and_view_under_vmap_see_the_example():
    x = W((2, 3, 4))
    out = ag.vmap(lambda a: a.reshape(a.size(0) * a.size(1)))(x)
    close(out, x.reshape(2, 12))
    out = ag.vmap(lambda a: a.view(a.size()[::-1]))(x)
    close(out, x.reshape(2, 4, 3))
    close(ag.Tensor(x).transpose(1, 0), torch.tensor(x).transpose(1, 0))


def test_sum_dtype_under_transforms():
    x = W((3, 4)).astype(np.float32)
    assert arr(ag.vmap(lambda a: ag.sum(a, dtype=np.float64))(x)).dtype == np.float64
    assert arr(ag.compile(lambda a: ag.sum(a, axis=1, dtype=np.float64))(x)).dtype == np.float64
    p, t = ag.jvp(lambda a: ag.sum(a, dtype=np.float64), (x,), (x,))
    assert arr(p).dtype == np.float64 and arr(t).dtype == np.float64
    close(p, np.sum(x, dtype=np.float64))
    close(t, np.sum(x, dtype=np.float64))
    assert arr(ag.Tensor(x).sum(dtype=np.float64)).dtype == np.float64
    # an integer dtype truncates as NumPy does, and grad refuses the integer result by name
    xf = np.array([1.7, 2.6])
    assert int(arr(ag.sum(xf, dtype=np.int64))) == np.sum(xf, dtype=np.int64)
    with pytest.raises(TypeError, match=r"grad"):
        ag.grad(lambda a: ag.sum(a, dtype=np.int64))(xf)


def test_split_error_points_to_torch_meaning():
    with pytest.raises(ValueError, match=r"split") as e:
        ag.split(W((10,)), 4)
    msg = str(e.value)
    assert "[4, 8]" in msg and "torch" in msg.lower()


def test_cross_int_kron_inner_0d():
    out = ag.cross(np.array([1, 2, 3]), np.array([4, 5, 6]))
    np.testing.assert_array_equal(arr(out), np.cross([1, 2, 3], [4, 5, 6]))
    assert arr(out).dtype == np.cross([1, 2, 3], [4, 5, 6]).dtype
    close(ag.kron(np.array(2.0), np.array(3.0)), np.kron(2.0, 3.0))
    close(ag.inner(np.array(2.0), np.array(3.0)), np.inner(2.0, 3.0))
    assert arr(ag.kron(W((2,)).astype(np.float32), W((2,)).astype(np.float32))).dtype == np.float32


def test_power_constant_exponent_grad_at_zero_no_runtime_warning():
    # lead's addition: the x ** c row (a Python exponent) had the same escaping warning.
    x = np.array([0.0, 4.0])
    g = ag.grad(lambda v: (v ** 0.5).sum())(x)
    t = torch.tensor(x, requires_grad=True)
    (t ** 0.5).sum().backward()
    np.testing.assert_array_equal(g, t.grad.numpy())
    g2 = ag.grad(lambda v: ag.grad(lambda w: (w ** 0.5).sum())(v).sum())(x)
    t = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((t ** 0.5).sum(), t, create_graph=True)
    gt.sum().backward()
    np.testing.assert_array_equal(g2, t.grad.numpy())


def test_power_tensor_exponent_second_order_at_zero_like_torch():
    # lead's addition: the silenced base rule keeps its second derivative (-inf at 0 for 0.5).
    x, y = np.array([0.0, 4.0]), np.array([0.5, 0.5])
    g2 = ag.grad(lambda v: ag.grad(lambda w: ag.power(w, y).sum())(v).sum())(x)
    t = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.pow(t, torch.tensor(y)).sum(), t, create_graph=True)
    gt.sum().backward()
    np.testing.assert_array_equal(g2, t.grad.numpy())
