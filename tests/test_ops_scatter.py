"""Scatter and masks (scatter, scatter_reduce, masked_fill, masked_select, nonzero/argwhere,
one_hot, meshgrid, rot90, cropping with negative pad widths): values and gradients against
PyTorch, ties and zeros included, under vmap with per-example indices against a loop, jvp
against torch.func. The finite-difference rows (SHAPE_ROWS, NO_GRADIENT_ROWS) join
test_core_ops' tables, which the registry, compile and backend tests read."""

from __future__ import annotations

import numpy as np
import pytest
from array_op_checks import against_torch, jvp_against_torch, vmap_equals_loop

import autograd_nn as ag

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

_R = np.random.default_rng(11)
_DUP = _R.integers(0, 4, size=(2, 3, 5))  # along dim 2 of (2, 3, 4): positions repeat
_UNIQUE = np.argsort(_R.random((2, 3, 4)), axis=2)[:, :, :3]  # no position twice
_UNIQUE1 = np.argsort(_R.random((2, 3, 4)), axis=1)[:, :2]  # along dim 1, (2, 2, 4)
_MASK = _R.random((2, 3, 4)) > 0.5
_MASK34 = _R.random((3, 4)) > 0.4


def scatter_reduce_reference(x, dim, index, src, reduce, include_self=True):
    """torch's scatter_reduce written as a loop over the index (independent of the row)."""
    out = np.array(x, dtype=float)
    groups: dict[tuple, list] = {}
    for pos in np.ndindex(index.shape):
        target = list(pos)
        target[dim] = index[pos]
        groups.setdefault(tuple(target), []).append(src[pos])
    for target, values in groups.items():
        values = ([out[target]] if include_self else []) + values
        out[target] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max,
                       "amin": np.min}[reduce](values)
    return out


def _src(t):
    """A (2, 3, 5) src made from the (2, 3, 4) input (no ties with it where it lands)."""
    return ag.concatenate([t * 1.7 + 0.3, t[..., :1] * -1.3], axis=2)


def _src_np(a):
    return np.concatenate([a * 1.7 + 0.3, a[..., :1] * -1.3], axis=2)


SHAPE_ROWS = {  # on a (2, 3, 4) input: (autograd function, NumPy reference)
    "scatter": (lambda t: ag.scatter(t, 2, _UNIQUE, t[:, :, ::-1] * 2.0),
                lambda a: scatter_reduce_reference(a, 2, _UNIQUE, a[:, :, ::-1] * 2.0, "sum",
                                                   False)),
    "scatter value": (lambda t: t.scatter(1, _UNIQUE1, -2.5),
                      lambda a: scatter_reduce_reference(a, 1, _UNIQUE1, np.full((2, 2, 4), -2.5),
                                                         "sum", False)),
    "masked_fill": (lambda t: ag.masked_fill(t, _MASK, -1.5),
                    lambda a: np.where(_MASK, -1.5, a)),
    "masked_fill tensor value": (lambda t: t.masked_fill(_MASK34, t[1, 2, 3] * 2),
                                 lambda a: np.where(_MASK34, a[1, 2, 3] * 2, a)),
    "masked_select": (lambda t: ag.masked_select(t, _MASK34) * 2,
                      lambda a: a[np.broadcast_to(_MASK34, a.shape)] * 2),
    "meshgrid": (lambda t: ag.stack(ag.meshgrid(t[0, 0], t[1, :, 0] * 2)),
                 lambda a: np.stack(np.meshgrid(a[0, 0], a[1, :, 0] * 2))),
    "meshgrid ij sparse": (
        lambda t: sum(ag.meshgrid(t[0, 0], t[1, :, 0], t[1, 1, :2], indexing="ij", sparse=True)),
        lambda a: sum(np.meshgrid(a[0, 0], a[1, :, 0], a[1, 1, :2], indexing="ij", sparse=True))),
    "rot90": (lambda t: ag.rot90(t, 1, (1, 2)), lambda a: np.rot90(a, 1, (1, 2))),
    "rot90 k=2": (lambda t: ag.rot90(t, 2), lambda a: np.rot90(a, 2)),
    "rot90 k=-1": (lambda t: ag.rot90(t, -1, (2, 0)), lambda a: np.rot90(a, -1, (2, 0))),
    "pad crop": (lambda t: ag.pad(t, ((0, 0), (-1, 2), (1, -2)), constant_values=3.0),
                 lambda a: np.pad(a[:, 1:, :2], ((0, 0), (0, 2), (1, 0)), constant_values=3.0)),
}
for _reduce in ("sum", "prod", "mean", "amax", "amin"):
    for _self in (True, False):
        SHAPE_ROWS[f"scatter_reduce {_reduce}{'' if _self else ' without self'}"] = (
            lambda t, r=_reduce, s=_self: ag.scatter_reduce(t, 2, _DUP, _src(t), r,
                                                            include_self=s),
            lambda a, r=_reduce, s=_self: scatter_reduce_reference(a, 2, _DUP, _src_np(a), r, s))

NO_GRADIENT_ROWS = {  # on a (2, 3, 5, 4) input: (function, NumPy reference)
    "argwhere": (lambda x: ag.argwhere(x > 0.5), lambda x: np.argwhere(x > 0.5)),
    "nonzero": (lambda x: ag.stack(ag.nonzero(x > 0.5)), lambda x: np.stack(np.nonzero(x > 0.5))),
    "one_hot": (lambda x: ag.one_hot(ag.argmax(x, axis=3), 4),
                lambda x: np.eye(4, dtype=np.int64)[np.argmax(x, axis=3)]),
}

# data with ties and zeros: small integers
_X = np.array([[2.0, 0.0, -1.0, 1.0], [1.0, 1.0, 0.0, 2.0], [0.0, -1.0, 2.0, 2.0]])
_S = np.array([[2.0, 1.0, 0.0, 2.0, -1.0, 5.0], [1.0, 0.0, 0.0, 2.0, 1.0, 5.0],
               [-1.0, 2.0, 2.0, 0.0, 1.0, 5.0]])
_I = np.array([[0, 0, 1, 3, 3], [1, 1, 2, 2, 2], [3, 3, 3, 0, 1]])  # (3, 5): repeats
_X_APART = _X + 0.5  # no x equals a result where src lands (include_self=False)
REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _torch_rows():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ti = torch.tensor(_I)
    ui = torch.tensor(_UNIQUE)
    rows = {
        "scatter": (lambda x, s: ag.scatter(x, 2, _UNIQUE, s),
                    lambda x, s: torch.scatter(x, 2, ui, s), [_A, _A[:, :, :3].copy()]),
        "scatter value": (lambda x: ag.scatter(x, 2, _UNIQUE, 4.0),
                          lambda x: torch.scatter(x, 2, ui, 4.0), [_A]),
        "masked_fill": (lambda x: ag.masked_fill(x, _MASK34, 0.5),
                        lambda x: x.masked_fill(torch.tensor(_MASK34), 0.5), [_A]),
        "masked_fill tensor value": (
            lambda x, v: ag.masked_fill(x, _MASK34, v[0, 0, 0]),
            lambda x, v: x.masked_fill(torch.tensor(_MASK34), v[0, 0, 0]), [_A, _A * 3]),
        "masked_select": (lambda x: ag.masked_select(x, _MASK34),
                          lambda x: torch.masked_select(x, torch.tensor(_MASK34)), [_A]),
        "meshgrid": (lambda x, y: ag.meshgrid(x[0, 0], y[0, :, 1]),
                     lambda x, y: torch.meshgrid(x[0, 0], y[0, :, 1], indexing="xy"), [_A, _A]),
        "meshgrid ij": (lambda x: ag.meshgrid(x[0, 0], x[1, 1], x[0, :, 0], indexing="ij"),
                        lambda x: torch.meshgrid(x[0, 0], x[1, 1], x[0, :, 0], indexing="ij"),
                        [_A]),
        "rot90": (lambda x: ag.rot90(x, 1, (1, 2)), lambda x: torch.rot90(x, 1, (1, 2)), [_A]),
        "rot90 k=3": (lambda x: ag.rot90(x, 3), lambda x: torch.rot90(x, 3), [_A]),
        "pad crop": (lambda x: ag.pad(x, ((1, -1), (0, 0), (-2, 3))),
                     lambda x: F.pad(x, (-2, 3, 0, 0, 1, -1)), [_A]),
    }
    for r in REDUCES:
        for inc in (True, False):
            x0 = _X if inc or r not in ("amax", "amin") else _X_APART
            rows[f"scatter_reduce {r} {inc}"] = (
                lambda x, s, r=r, inc=inc: ag.scatter_reduce(x, 1, _I, s, r, include_self=inc),
                lambda x, s, r=r, inc=inc: x.scatter_reduce(1, ti, s, r, include_self=inc),
                [x0, _S[:, :5].copy()])
    return rows


_A = np.random.default_rng(5).normal(size=(2, 3, 4))
NAMES = ["scatter", "scatter value", "masked_fill", "masked_fill tensor value", "masked_select",
         "meshgrid", "meshgrid ij", "rot90", "rot90 k=3", "pad crop"] + [
    f"scatter_reduce {r} {inc}" for r in REDUCES for inc in (True, False)]
NOT_UNDER_VMAP = {"masked_select"}  # tested on its own below


@pytest.mark.parametrize("name", NAMES)
def test_against_torch(name, rng):
    f_ag, f_t, arrays = _torch_rows()[name]
    against_torch(f_ag, f_t, arrays, rng)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_equals_a_loop(name, rng):
    f_ag, _, arrays = _torch_rows()[name]
    if name.startswith("scatter_reduce a"):  # small steps keep ties and zeros where they are
        arrays = [a.copy() for a in arrays]
    vmap_equals_loop(f_ag, arrays, rng)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_against_torch(name, rng):
    f_ag, f_t, arrays = _torch_rows()[name]
    if "prod" not in name:
        jvp_against_torch(f_ag, f_t, arrays, rng)
        return
    # torch 2.13's forward mode gives scatter_reduce 'prod' a zero tangent: against central
    # differences instead (the product is a polynomial: exact to rounding)
    tangents = [rng.normal(size=a.shape) for a in arrays]
    _, ours = ag.jvp(f_ag, tuple(arrays), tuple(tangents))
    eps = 1e-6
    plus = f_ag(*[ag.Tensor(a + eps * t) for a, t in zip(arrays, tangents, strict=True)])
    minus = f_ag(*[ag.Tensor(a - eps * t) for a, t in zip(arrays, tangents, strict=True)])
    np.testing.assert_allclose(ours, (plus.data - minus.data) / (2 * eps), rtol=1e-6,
                               atol=1e-8)


def test_torch_forward_mode_of_scatter_prod_is_zero_so_it_is_not_the_reference(rng):
    """Why the jvp of 'prod' is checked against finite differences: torch's tangent is 0."""
    torch = pytest.importorskip("torch")
    from torch import func as tfunc

    x, s = _X + 0.3, _S[:, :5] + 0.2
    _, theirs = tfunc.jvp(lambda a, b: a.scatter_reduce(1, torch.tensor(_I), b, "prod"),
                          (torch.tensor(x), torch.tensor(s)),
                          (torch.ones(x.shape, dtype=torch.float64),
                           torch.ones(s.shape, dtype=torch.float64)))
    _, ours = ag.jvp(lambda a, b: ag.scatter_reduce(a, 1, _I, b, "prod"), (x, s),
                     (np.ones(x.shape), np.ones(s.shape)))
    assert not theirs.numpy().any() and np.abs(ours).min() > 0.05


@pytest.mark.parametrize("reduce", REDUCES)
def test_vmap_with_per_example_indices_equals_a_loop(reduce, rng):
    """Each example scatters with its own index (issue 19's per-example indexing)."""
    xs = rng.normal(size=(4, 3, 4)) + 3.0  # apart from src: no excluded-x ties
    ss = rng.normal(size=(4, 3, 5))
    idx = rng.integers(0, 4, size=(4, 3, 5))

    def f(x, i, s):
        return ag.scatter_reduce(x, 1, i, s, reduce, include_self=reduce != "mean")

    mapped = ag.vmap(f)(xs, idx, ss)
    loop = np.stack([f(ag.Tensor(x), i, ag.Tensor(s)).data for x, i, s in zip(xs, idx, ss,
                                                                            strict=True)])
    np.testing.assert_allclose(mapped, loop, rtol=1e-12)
    w = rng.normal(size=(4, 3, 4))

    def loss(x, s, i, wk):
        return (f(x, i, s) * wk).sum()

    per = ag.vmap(ag.grad(loss, (0, 1)))(xs, ss, idx, w)
    for k in range(4):
        one = ag.grad(loss, (0, 1))(xs[k], ss[k], idx[k], w[k])
        np.testing.assert_allclose(per[0][k], one[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(per[1][k], one[1], rtol=1e-10, atol=1e-12)


def test_scatter_and_one_hot_with_per_example_indices_under_vmap(rng):
    xs, ss = rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 2, 2))
    idx = np.stack([np.argsort(rng.random((2, 4)), axis=1)[:, :2] for _ in range(3)])
    mapped = ag.vmap(lambda x, i, s: ag.scatter(x, 1, i, s))(xs, idx, ss)
    loop = [ag.scatter(x, 1, i, s).data for x, i, s in zip(xs, idx, ss, strict=True)]
    np.testing.assert_array_equal(mapped, np.stack(loop))
    hot = ag.vmap(lambda i: ag.one_hot(i, 5))(idx)
    np.testing.assert_array_equal(hot, np.eye(5, dtype=np.int64)[idx])


def test_second_order_against_torch(rng):
    torch = pytest.importorskip("torch")
    x, s = _X + 0.25, _S[:, :5] * 0.7 + 0.1  # one zero-free and apart case per reduce
    s0 = s.copy()
    s0[0, 2] = 0.0  # a single zero in its position (prod takes the product of the others)
    for reduce, src in (("sum", s), ("mean", s), ("prod", s), ("prod", s0), ("amax", s)):
        def f_ag(a, b, reduce=reduce):
            return (ag.scatter_reduce(a, 1, _I, b, reduce) ** 2 * ag.sin(b[:, :4])).sum()

        def f_t(a, b, reduce=reduce):
            return (a.scatter_reduce(1, torch.tensor(_I), b, reduce) ** 2
                    * torch.sin(b[:, :4])).sum()

        v = (rng.normal(size=x.shape), rng.normal(size=src.shape))
        ours = ag.jvp(ag.grad(f_ag, (0, 1)), (x, src), v)[1]
        theirs = torch.autograd.functional.hvp(f_t, (torch.tensor(x), torch.tensor(src)),
                                               tuple(torch.tensor(a) for a in v))[1]
        for o, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(o, t.numpy(), rtol=1e-9, atol=1e-10, err_msg=reduce)


def test_refusals_name_the_function_and_what_to_do(rng):
    x = ag.Tensor(_X, requires_grad=True)
    s = ag.Tensor(_S[:, :5].copy(), requires_grad=True)
    tied = ag.scatter_reduce(x, 1, _I, s, "amax", include_self=False)  # x[0, 0] == result
    with pytest.raises(ValueError, match=r"scatter_reduce: the gradient of reduce='amax' with "
                                         r"include_self=False where x equals the result"):
        tied.sum().backward()
    with pytest.raises(ValueError, match=r"^scatter: index writes some position of x twice"):
        ag.scatter(x, 1, _I, s)
    with pytest.raises(ValueError, match=r"^scatter_reduce: reduce must be one of"):
        ag.scatter_reduce(x, 1, _I, s, "max")
    with pytest.raises(TypeError, match=r"^scatter_reduce: index must be integers"):
        ag.scatter_reduce(x, 1, _I.astype(float), s, "sum")
    with pytest.raises(IndexError, match=r"^scatter: an index is out of range for dim 1"):
        ag.scatter(x, 1, _I + 4, 1.0)
    with pytest.raises(ValueError, match=r"^scatter_reduce: src of shape \(3, 4\) must"):
        ag.scatter_reduce(x, 1, _I, _X, "sum")
    with pytest.raises(ValueError, match="needs num_classes"):
        ag.vmap(lambda i: ag.one_hot(i))(np.array([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match=r"^one_hot: indices must lie in \[0, 2\)"):
        ag.one_hot(np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="masked_select of a mask that differs per example"):
        ag.vmap(lambda a, m: ag.masked_select(a, m))(np.ones((2, 3)), np.eye(2, 3) > 0)
    with pytest.raises(ValueError, match=r"^masked_fill: mask of shape \(2, 3, 4\) does not"):
        ag.masked_fill(np.ones((3, 4)), _MASK, 1.0)
    with pytest.raises(ValueError, match=r"^nonzero: nonzero of a 0-d tensor"):
        ag.nonzero(3.0)
    with pytest.raises(ValueError, match=r"^pad: negative pad widths \(cropping\) need mode"):
        ag.pad(np.ones((3, 4)), ((0, 0), (-1, 1)), mode="edge")
    with pytest.raises(ValueError, match=r"^pad: pad widths \(-2, -2\) crop more than axis 0"):
        ag.pad(np.ones((3, 4)), ((-2, -2), (0, 0)))
    with pytest.raises(NotImplementedError, match="argwhere"):
        ag.vmap(ag.argwhere)(np.ones((2, 3)))


def test_prod_second_order_with_two_zeros_in_one_position_is_refused_as_in_torch():
    s = _S[:, :5].copy()
    s[1, 0] = s[1, 1] = 0.0  # both go to position (1, 1)

    def f(a, b):
        return ag.scatter_reduce(a, 1, _I, b, "prod").sum()

    first = ag.grad(f, 1)(_X + 0.5, s)  # first order is fine: the others' products
    np.testing.assert_array_equal(first[1, :2], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"second derivative of reduce='prod' where two or "
                                         r"more zeros"):
        ag.hessian(lambda b: f(_X + 0.5, b))(s)


def test_compiled_scatter_follows_a_new_index_and_checks_it_again(rng):
    def f(x, i, s):
        return (ag.scatter_reduce(x, 1, i, s, "amax") * 2).sum() + ag.scatter(x, 1, i[:, :1],
                                                                              s).sum()

    step = ag.compile(ag.value_and_grad(f, (0, 2)))
    for _ in range(3):
        x, s = rng.normal(size=(3, 4)), rng.normal(size=(3, 5))
        i = rng.integers(0, 4, size=(3, 5))
        got, want = step(x, i, s), ag.value_and_grad(f, (0, 2))(x, i, s)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        for a, b in zip(got[1], want[1], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    dup = np.zeros((3, 5), dtype=np.int64)  # i[:, :1] is fine; now scatter's index repeats
    with pytest.raises(ValueError, match="index writes some position of x twice"):
        ag.compile(lambda x, i, s: ag.scatter(x, 1, i, s).sum())(rng.normal(size=(3, 4)), dup,
                                                                  rng.normal(size=(3, 5)))
    once = ag.compile(lambda x, i, s: ag.scatter(x, 1, i, s))
    x, s = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    once(x, np.array([[0, 1], [2, 3], [1, 0]]), s)
    with pytest.raises(ValueError, match="index writes some position of x twice"):
        once(x, np.array([[0, 0], [2, 3], [1, 0]]), s)  # the guard sees it and traces again


def test_masks_meshgrid_and_one_hot_follow_numpy_and_torch():
    torch = pytest.importorskip("torch")
    idx = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(
        ag.one_hot(idx).data, torch.nn.functional.one_hot(torch.tensor(idx)).numpy())
    assert ag.one_hot(idx).dtype == np.int64
    m = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(ag.argwhere(m).data, torch.nonzero(torch.tensor(m)).numpy())
    rows, cols = ag.nonzero(m)
    np.testing.assert_array_equal(ag.Tensor(np.arange(4.0).reshape(2, 2))[rows.data,
                                                                          cols.data].data,
                                  [0.0, 3.0])
    ints = ag.masked_fill(np.arange(4), np.array([True, False, True, False]), 7)
    assert ints.dtype == np.arange(4).dtype and list(ints.data) == [7, 1, 7, 3]
    g = ag.meshgrid(np.arange(2.0), np.arange(3.0))  # NumPy's default 'xy'
    assert isinstance(g, tuple) and g[0].shape == (3, 2)


@pytest.mark.parametrize("include_self", [True, False])
def test_integer_scatter_reduce_equals_torch(include_self):
    """Integers (no gradient): torch's integer mean rounds down; amax/amin fill from the
    dtype's extremes without x."""
    torch = pytest.importorskip("torch")
    x, s = np.array([[5, 1, -7, 2]]), np.array([[2, 3, -4, 4, 1]])
    i = np.array([[0, 0, 2, 2, 3]])
    for reduce in REDUCES:
        ours = ag.scatter_reduce(x, 1, i, s, reduce, include_self=include_self)
        theirs = torch.tensor(x).scatter_reduce(1, torch.tensor(i), torch.tensor(s), reduce,
                                                include_self=include_self)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, theirs.numpy(), err_msg=reduce)


@pytest.mark.parametrize("reduce", REDUCES)
def test_compiled_vmap_of_scatter_reduce_equals_eager(reduce, rng):
    """compile(vmap(...)): the forward with per-example indices, and per-example gradients with
    a shared index, equal eager vmap; per-example gradients with per-example indices are
    refused by name (their gather is not compiled under vmap yet)."""
    from autograd_nn.compiler import CompileError

    xs, ss = rng.normal(size=(4, 3, 5)) + 3.0, rng.normal(size=(4, 3, 6))
    idx = rng.integers(0, 5, size=(4, 3, 6))
    shared = idx[0]
    for include_self in (True, False):
        def f(x, i, s, inc=include_self):
            return ag.scatter_reduce(x, 1, i, s, reduce, include_self=inc)

        np.testing.assert_allclose(ag.compile(ag.vmap(f))(xs, idx, ss), ag.vmap(f)(xs, idx, ss),
                                   rtol=1e-12)

        def loss(x, s, inc=include_self):
            return (f(x, shared, s, inc) ** 2).sum()

        want = ag.vmap(ag.grad(loss, (0, 1)))(xs, ss)
        got = ag.compile(ag.vmap(ag.grad(loss, (0, 1))))(xs, ss)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(CompileError, match="of take_index at backward of scatter_reduce"):
        ag.compile(ag.vmap(ag.grad(lambda x, i, s: (f(x, i, s) ** 2).sum(), (0, 2))))(xs, idx,
                                                                                       ss)


def test_compiled_masked_select_reads_a_broadcast_mask_each_call():
    """A (3, 1) mask passed in broadcasts against x (3, 4); each call's mask decides, in value
    and gradient (torch.masked_select is the reference)."""
    torch = pytest.importorskip("torch")
    x = _R.normal(size=(3, 4))
    cf = ag.compile(ag.value_and_grad(lambda a, m: ag.sum(ag.masked_select(a, m) ** 3)))
    for m in [np.array([[True], [False], [True]]), np.array([[False], [True], [False]])]:
        value, g = cf(x, m)
        tx = torch.tensor(x, requires_grad=True)
        ref = (torch.masked_select(tx, torch.tensor(m)) ** 3).sum()
        ref.backward()
        np.testing.assert_allclose(np.asarray(value.data), ref.item(), rtol=1e-12)
        np.testing.assert_allclose(g.data, tx.grad.numpy(), rtol=1e-12)


def test_compiled_index_checks_run_again_for_new_values():
    """Range checks read at trace time are guarded: a later call with a bad index is refused."""
    cs = ag.compile(lambda i: ag.scatter(np.zeros(3), 0, i, np.ones(1)))
    np.testing.assert_array_equal(cs(np.array([1])).data, [0.0, 1.0, 0.0])
    with pytest.raises(IndexError, match="scatter: an index is out of range"):
        cs(np.array([-1]))
    co = ag.compile(lambda i: ag.one_hot(i, 3))
    np.testing.assert_array_equal(co(np.array([2])).data, [[0, 0, 1]])
    with pytest.raises(ValueError, match=r"one_hot: indices must lie in \[0, 3\)"):
        co(np.array([3]))


def test_pad_per_side_constant_values_gradient_is_the_inner_slice():
    """np.pad's per-side constant_values: values as NumPy's (corners from the last axis), and
    the gradient of x is the inner slice of the upstream gradient."""
    x = _R.normal(size=(2, 3))
    values = ((1.0, 2.0), (3.0, 4.0))
    out = ag.pad(x, ((1, 2), (2, 1)), constant_values=values)
    np.testing.assert_array_equal(out.data, np.pad(x, ((1, 2), (2, 1)), constant_values=values))
    ct = _R.normal(size=out.shape)
    g = ag.grad(lambda a: ag.sum(ag.pad(a, ((1, 2), (2, 1)), constant_values=values) * ct))(x)
    np.testing.assert_array_equal(g, ct[1:3, 2:5])
    with pytest.raises(TypeError, match="pad: pad_width must hold integers"):
        ag.pad(x, ((1, 0), (True, 0)))
