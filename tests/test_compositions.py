"""A composition matrix of function transforms, checked against torch.func in float64.

Written from the README and the public docstrings only (``help(ag.jvp)`` and friends), not
from the implementation, so that it does not share its blind spots.

Every transform is written twice, once with autograd_nn and once with torch.func, as a
function-to-function wrapper over single-argument functions, so that any composition
``outer(inner(f))`` can be built on both sides and the numbers compared:

- ``grad``/``hessian``/``hvp`` need a scalar: they are applied to ``scalarize(f)``, i.e.
  ``((f(x) + w) ** 2).sum()`` with a fixed ``w`` shaped like f's output;
- ``vjp`` pulls back a fixed cotangent shaped like the output; ``jvp`` pushes a fixed tangent
  shaped like the input;
- ``vmap`` maps over a new axis 0 (``vmap1``: in_axes=1, out_axes=1), so the input of the
  composition grows one axis per vmap;
- ``checkpoint``, ``custom_vjp`` (a hand-written backward that is the true VJP) and
  ``hook`` (a pass-through ``register_hook`` on an intermediate) do not change the function,
  so their reference is the plain torch function (torch.func does not compose with
  torch.utils.checkpoint / hooks, and an autograd.Function would only restate the same math).

A raise is a failure unless the README or a docstring documents the refusal (none of the
combinations here is documented as refused).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autograd_nn as ag

# torch.func.jvp's first use warns from torch's own internals (torch.jit.script deprecation);
# that is torch's business, not autograd_nn's: only that message is ignored.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

ATOL = 1e-10
RTOL = 1e-9

# ---------------------------------------------------------------------------------------------
# fixed data (float64)
# ---------------------------------------------------------------------------------------------

BASE_SHAPE = (2, 3)
M = np.array([[0.3, -1.2, 0.7, 0.1], [1.1, 0.4, -0.5, 0.9], [-0.6, 0.8, 0.2, -1.3]])
BVEC = np.array([0.2, -0.4, 0.9])
TAKE_IDX = np.array([[2, 0], [1, 1]])
GATHER_IDX = np.array([[1, 0, 1], [0, 0, 1]])
TARGETS = np.array([2, 0])
SCATTER_IDX = np.array([[0, 0, 2], [1, 1, 1]])  # along axis 1 of the base shape: repeats
FILL_MASK = np.array([[True, False, False], [False, True, True]])
BATCH_SIZES = (4, 5, 3)  # successive vmaps get different sizes, to catch axis mix-ups


def pattern(shape, seed=0, low=0.5, high=1.5):
    """A fixed, non-constant float64 array of `shape` (deterministic in shape and seed)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    k = np.arange(n, dtype=np.float64)
    vals = low + (high - low) * (0.5 + 0.5 * np.sin(1.7 * k + 0.3 + 0.9 * seed))
    return vals.reshape(shape)


def to_numpy(r):
    if isinstance(r, ag.Tensor):
        return np.asarray(r.data)
    if isinstance(r, (tuple, list)):
        return type(r)(to_numpy(v) for v in r)
    if isinstance(r, dict):
        return {k: to_numpy(v) for k, v in r.items()}
    return np.asarray(r)


def t_to_numpy(r):
    if isinstance(r, (tuple, list)):
        return type(r)(t_to_numpy(v) for v in r)
    if isinstance(r, dict):
        return {k: t_to_numpy(v) for k, v in r.items()}
    return r.detach().numpy(force=True)  # force: torch may return a ZeroTensor


def assert_close(actual, expected, what=""):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{what}: expected a dict, got {type(actual)}"
        assert set(actual) == set(expected), f"{what}: keys {set(actual)} != {set(expected)}"
        for k in expected:
            assert_close(actual[k], expected[k], f"{what}[{k!r}]")
        return
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)), f"{what}: expected a sequence, got {actual!r}"
        n, m = len(actual), len(expected)
        assert n == m, f"{what}: {n} items, expected {m}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{what}[{i}]")
        return
    actual = to_numpy(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}"
    )
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


# ---------------------------------------------------------------------------------------------
# the functions, written twice
# ---------------------------------------------------------------------------------------------


def _ag_ce_manual(x):
    logp = ag.log_softmax(x, axis=-1)
    return -ag.take_along_axis(logp, TARGETS[:, None], axis=1)[:, 0]


AG_FUNCS = {
    "sin": lambda x: ag.sin(x),
    "exp": lambda x: ag.exp(x),
    "tanh": lambda x: ag.tanh(x),
    "cube": lambda x: x**3,
    "recip3": lambda x: 3.0 / x,
    "matmul": lambda x: x @ M,
    "sum0": lambda x: ag.sum(x, axis=0),
    "sum-1": lambda x: ag.sum(x, axis=-1),
    "mean0": lambda x: ag.mean(x, axis=0),
    "mean-1": lambda x: ag.mean(x, axis=-1),
    "prod0": lambda x: ag.prod(x, axis=0),
    "prod-1": lambda x: ag.prod(x, axis=-1),
    "std0": lambda x: ag.std(x, axis=0),
    "std-1": lambda x: ag.std(x, axis=-1),
    "lse0": lambda x: ag.logsumexp(x, axis=0),
    "lse-1": lambda x: ag.logsumexp(x, axis=-1),
    "take_along": lambda x: ag.take_along_axis(x, TAKE_IDX, axis=1),
    "gather": lambda x: ag.gather(x, 0, GATHER_IDX),
    "ce_manual": _ag_ce_manual,
    "cross_entropy": lambda x: ag.nn.functional.cross_entropy(x, TARGETS, reduction="none"),
    "bcast": lambda x: ag.tanh(x + BVEC) * x,
    "sort-1": lambda x: ag.sort(x, axis=-1),
    "topk": lambda x: ag.topk(x, 2)[0],
    "scatter_mean": lambda x: ag.scatter_reduce(x, 1, SCATTER_IDX, x * 1.5, "mean"),
    "scatter_amax": lambda x: ag.scatter_reduce(x, 1, SCATTER_IDX, x * 1.5, "amax"),
    "masked_fill": lambda x: ag.masked_fill(x * x, FILL_MASK, 0.5),
    "cummax1": lambda x: ag.cummax(x, 1).values,
    "lcse-1": lambda x: ag.logcumsumexp(x, -1),
    "normalize-1": lambda x: ag.normalize(x, axis=-1),
    "attention": lambda x: ag.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True),
}


def torch_funcs(torch):
    F = torch.nn.functional
    Mt = torch.tensor(M)
    Bt = torch.tensor(BVEC)
    Ti = torch.tensor(TAKE_IDX)
    Gi = torch.tensor(GATHER_IDX)
    Yt = torch.tensor(TARGETS)
    Si = torch.tensor(SCATTER_IDX)
    Fm = torch.tensor(FILL_MASK)

    def ce_manual(x):
        logp = torch.log_softmax(x, dim=-1)
        return -torch.take_along_dim(logp, Yt[:, None], dim=1)[:, 0]

    return {
        "sin": torch.sin,
        "exp": torch.exp,
        "tanh": torch.tanh,
        "cube": lambda x: x**3,
        "recip3": lambda x: 3.0 / x,
        "matmul": lambda x: x @ Mt,
        "sum0": lambda x: x.sum(0),
        "sum-1": lambda x: x.sum(-1),
        "mean0": lambda x: x.mean(0),
        "mean-1": lambda x: x.mean(-1),
        "prod0": lambda x: x.prod(0),
        "prod-1": lambda x: x.prod(-1),
        # written out: torch's own std backward refuses third order (an in-place masked_fill)
        "std0": lambda x: torch_std(torch, x, 0),
        "std-1": lambda x: torch_std(torch, x, -1),
        "lse0": lambda x: torch.logsumexp(x, 0),
        "lse-1": lambda x: torch.logsumexp(x, -1),
        "take_along": lambda x: torch.take_along_dim(x, Ti, dim=1),
        "gather": lambda x: torch.gather(x, 0, Gi),
        "ce_manual": ce_manual,
        "cross_entropy": lambda x: F.cross_entropy(x, Yt, reduction="none"),
        "bcast": lambda x: torch.tanh(x + Bt) * x,
        "sort-1": lambda x: torch.sort(x, dim=-1, stable=True)[0],
        "topk": lambda x: torch.topk(x, 2)[0],
        "scatter_mean": lambda x: x.scatter_reduce(1, Si, x * 1.5, "mean"),
        "scatter_amax": lambda x: x.scatter_reduce(1, Si, x * 1.5, "amax"),
        "masked_fill": lambda x: (x * x).masked_fill(Fm, 0.5),
        # the values gathered at torch.cummax's indices: torch's own cummax backward warns
        # under its vmap (no batching rule for cummaxmin_backward)
        "cummax1": lambda x: torch.gather(x, 1, torch.cummax(x.detach(), 1).indices),
        "lcse-1": lambda x: torch.logcumsumexp(x, -1),
        "normalize-1": lambda x: F.normalize(x, dim=-1),
        "attention": lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=True),
    }


# ---------------------------------------------------------------------------------------------
# the transforms, written twice (function -> function of one array)
# ---------------------------------------------------------------------------------------------


def ag_scalarize(f):
    def s(x):
        y = f(x)
        return ((y + pattern(y.shape, seed=1)) ** 2).sum()

    return s


def ag_custom(f):
    """f with a hand-written backward that is its true VJP (computed with ag.vjp)."""

    @ag.custom_vjp
    def g(x):
        return f(x)

    def fwd(x):
        return f(x), x

    def bwd(x, ct):
        return (ag.vjp(f, x)[1](ct)[0],)

    g.defvjp(fwd, bwd)
    return g


def ag_hook(f):
    """f, with a pass-through hook on an intermediate (must change nothing)."""

    def g(x):
        h = x * 1.0
        if isinstance(h, ag.Tensor) and h.requires_grad:
            h.register_hook(lambda gr: gr)
        return f(h)

    return g


def ag_vjp_t(f):
    def g(x):
        out, pull = ag.vjp(f, x)
        return pull(pattern(out.shape, seed=2))[0]

    return g


def ag_jvp_t(f):
    return lambda x: ag.jvp(f, (x,), (pattern(x.shape, seed=3, low=-1.0, high=1.0),))[1]


def ag_hvp_t(f):
    return lambda x: ag.hvp(ag_scalarize(f), x, pattern(x.shape, seed=4, low=-1.0, high=1.0))


AG_T = {
    "grad": lambda f: ag.grad(ag_scalarize(f)),
    "vjp": ag_vjp_t,
    "jvp": ag_jvp_t,
    "jacrev": lambda f: ag.jacrev(f),
    "jacfwd": lambda f: ag.jacfwd(f),
    "jacobian": lambda f: ag.jacobian(f),
    "hessian": lambda f: ag.hessian(ag_scalarize(f)),
    "hvp": ag_hvp_t,
    "vmap": lambda f: ag.vmap(f),
    "vmap1": lambda f: ag.vmap(f, in_axes=1, out_axes=1),
    "checkpoint": lambda f: ag.checkpoint(f),
    "custom_vjp": ag_custom,
    "hook": ag_hook,
}
TRANSFORMS = list(AG_T)
VMAP_AXIS = {"vmap": 0, "vmap1": 1}


def torch_transforms(torch):
    tf = torch.func

    def T(a):
        return torch.as_tensor(a, dtype=torch.float64)

    def scalarize(f):
        def s(x):
            y = f(x)
            return ((y + T(pattern(y.shape, seed=1))) ** 2).sum()

        return s

    def vjp_t(f):
        def g(x):
            out, pull = tf.vjp(f, x)
            return pull(T(pattern(out.shape, seed=2)))[0]

        return g

    def jvp_t(f):
        return lambda x: tf.jvp(f, (x,), (T(pattern(x.shape, seed=3, low=-1.0, high=1.0)),))[1]

    def hvp_t(f):
        def g(x):
            v = T(pattern(x.shape, seed=4, low=-1.0, high=1.0))
            return tf.jvp(tf.grad(scalarize(f)), (x,), (v,))[1]

        return g

    return {
        "grad": lambda f: tf.grad(scalarize(f)),
        "vjp": vjp_t,
        "jvp": jvp_t,
        "jacrev": lambda f: tf.jacrev(f),
        "jacfwd": lambda f: tf.jacfwd(f),
        "jacobian": lambda f: tf.jacrev(f),
        "hessian": lambda f: tf.hessian(scalarize(f)),
        "hvp": hvp_t,
        "vmap": lambda f: tf.vmap(f),
        # out_dims=1 on an unbatched result trips torch's own vmap; move the axis instead
        "vmap1": lambda f: lambda x: tf.vmap(f, in_dims=1)(x).movedim(0, 1),
        "checkpoint": lambda f: f,
        "custom_vjp": lambda f: f,
        "hook": lambda f: f,
    }


def input_for(chain, seed=0):
    """The input of outer(...(inner(f))): base shape, one batch axis per vmap (innermost first)."""
    shape = list(BASE_SHAPE)
    nb = 0
    for name in reversed(chain):
        if name in VMAP_AXIS:
            shape.insert(VMAP_AXIS[name], BATCH_SIZES[nb % len(BATCH_SIZES)])
            nb += 1
    return pattern(shape, seed=seed)


def build(transforms, chain, f):
    g = f
    for name in reversed(chain):  # chain is outer -> inner
        g = transforms[name](g)
    return g


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


ORDER = {"grad": 1, "vjp": 1, "jvp": 1, "jacrev": 1, "jacfwd": 1, "jacobian": 1,
         "hessian": 2, "hvp": 2}


FORWARD_MODE = {"jvp", "jacfwd", "jacobian"}  # jacobian: forward mode when the output is larger


def second_order_over_custom(chain):
    """Does the chain differentiate a custom_vjp function twice (or more), or in forward mode?
    The README: both are refused by name (a hand-written rule gives only the vjp, as in JAX
    and PyTorch)."""
    if "custom_vjp" not in chain:
        return False
    outer = chain[: chain.index("custom_vjp")]
    return sum(ORDER.get(t, 0) for t in outer) >= 2 or bool(FORWARD_MODE & set(outer))


def check_chain(torch, chain, fname):
    x = input_for(chain)
    expected = build(torch_transforms(torch), chain, torch_funcs(torch)[fname])(
        torch.tensor(x, dtype=torch.float64)
    )
    what = "-".join(chain) + f" of {fname}"
    if second_order_over_custom(chain):
        # the brief: second order through custom_vjp is right, or refused naming custom_vjp
        _second_order_or_named_refusal(
            lambda: build(AG_T, chain, AG_FUNCS[fname])(x), t_to_numpy(expected), what
        )
        return
    actual = build(AG_T, chain, AG_FUNCS[fname])(x)
    assert_close(actual, t_to_numpy(expected), what)


# ---------------------------------------------------------------------------------------------
# the matrix
# ---------------------------------------------------------------------------------------------

# each transform on every function
SINGLE = [pytest.param(t, f, id=f"{t}-{f}") for t in TRANSFORMS for f in AG_FUNCS]


@pytest.mark.torch
@pytest.mark.parametrize("t, fname", SINGLE)
def test_single(torch, t, fname):
    check_chain(torch, [t], fname)


# every ordered pair (outer o inner) on a few representative functions
PAIR_FUNCS = ["cube", "recip3", "matmul", "prod-1", "std0", "lse-1", "take_along", "gather",
              "cross_entropy"]
PAIRS = [
    pytest.param(o, i, f, id=f"{o}-{i}-{f}")
    for o, i in itertools.product(TRANSFORMS, TRANSFORMS)
    for f in PAIR_FUNCS
]


@pytest.mark.torch
@pytest.mark.parametrize("outer, inner, fname", PAIRS)
def test_pair(torch, outer, inner, fname):
    check_chain(torch, [outer, inner], fname)


# selected pairs on every function
PAIRS_ALL_FUNCS = [
    ("jvp", "vmap"),
    ("vmap", "jvp"),
    ("jacfwd", "jacrev"),
    ("jacrev", "jacfwd"),
    ("jacrev", "jacrev"),
    ("jacfwd", "jacfwd"),
    ("jacobian", "jacobian"),
    ("jvp", "jacrev"),
    ("jvp", "jvp"),
    ("vmap", "grad"),
    ("grad", "vmap"),
    ("grad", "grad"),
    ("hessian", "checkpoint"),
    ("grad", "custom_vjp"),
    ("hessian", "custom_vjp"),
    ("vmap", "vmap1"),
]
PAIRS2 = [
    pytest.param(o, i, f, id=f"{o}-{i}-{f}")
    for o, i in PAIRS_ALL_FUNCS
    for f in AG_FUNCS
    if f not in PAIR_FUNCS
]


@pytest.mark.torch
@pytest.mark.parametrize("outer, inner, fname", PAIRS2)
def test_pair_more(torch, outer, inner, fname):
    check_chain(torch, [outer, inner], fname)


TRIPLES = [
    ("vmap", "jacfwd", "jacrev"),
    ("jvp", "vmap", "grad"),
    ("grad", "vmap", "jvp"),
    ("jacfwd", "jacrev", "vmap"),
    ("jacrev", "jacfwd", "vmap"),
    ("vmap", "grad", "grad"),
    ("vmap", "vmap", "grad"),
    ("vmap", "vmap", "vmap1"),
    ("grad", "grad", "grad"),
    ("jvp", "jvp", "jvp"),
    ("jacrev", "jacrev", "jacrev"),
    ("jacfwd", "jacfwd", "jacfwd"),
    ("hessian", "vmap", "checkpoint"),
    ("grad", "grad", "checkpoint"),
    ("grad", "grad", "custom_vjp"),
    ("jvp", "grad", "custom_vjp"),
    ("vmap", "grad", "checkpoint"),
    ("vmap", "hessian", "hook"),
    ("jacrev", "vmap1", "jvp"),
    ("hvp", "vmap", "jacrev"),
    ("vjp", "jvp", "vmap"),
    ("jvp", "vjp", "vmap1"),
    ("jacobian", "checkpoint", "jacobian"),
    ("grad", "hook", "grad"),
]
TRIPLE_FUNCS = ["cube", "recip3", "prod0", "lse-1", "cross_entropy"]
TRIPLE_PARAMS = [
    pytest.param(list(c), f, id="-".join(c) + f"-{f}") for c in TRIPLES for f in TRIPLE_FUNCS
]


@pytest.mark.torch
@pytest.mark.parametrize("chain, fname", TRIPLE_PARAMS)
def test_triple(torch, chain, fname):
    check_chain(torch, chain, fname)


# ---------------------------------------------------------------------------------------------
# forward-over-forward: nested jvp
# ---------------------------------------------------------------------------------------------

NESTED_JVP = {
    "exp": (lambda x: ag.exp(x), lambda t, x: t.exp(x)),
    "recip3": (lambda y: 3.0 / y, lambda t, y: 3.0 / y),
    "prod": (lambda x: ag.prod(x), lambda t, x: x.prod()),
    "prod0": (lambda x: ag.prod(x, axis=0), lambda t, x: x.prod(0)),
    "std": (lambda x: ag.std(x), lambda t, x: torch_std(t, x)),
    "std-1": (lambda x: ag.std(x, axis=-1), lambda t, x: torch_std(t, x, -1)),
    "sin": (lambda x: ag.sin(x), lambda t, x: t.sin(x)),
    "lse0": (lambda x: ag.logsumexp(x, axis=0), lambda t, x: t.logsumexp(x, 0)),
}


def torch_std(torch, x, dim=None):
    """Population std written out (torch.std's backward breaks at third order)."""
    if dim is None:
        return torch.sqrt(((x - x.mean()) ** 2).mean())
    return torch.sqrt(((x - x.mean(dim, keepdim=True)) ** 2).mean(dim))


@pytest.mark.torch
@pytest.mark.parametrize("fname", list(NESTED_JVP))
def test_forward_over_forward(torch, fname):
    agf, tf_ = NESTED_JVP[fname]
    x = pattern(BASE_SHAPE)
    d = pattern(BASE_SHAPE, seed=5, low=-1, high=1)
    dx = pattern(BASE_SHAPE, seed=6, low=-1, high=1)
    actual = ag.jvp(lambda x_: ag.jvp(agf, (x_,), (d,))[1], (x,), (dx,))[1]
    tx, td, tdx = (torch.tensor(a) for a in (x, d, dx))
    f = lambda v: tf_(torch, v)  # noqa: E731
    expected = torch.func.jvp(lambda x_: torch.func.jvp(f, (x_,), (td,))[1], (tx,), (tdx,))[1]
    assert_close(actual, expected.numpy(), f"nested jvp of {fname}")


@pytest.mark.parametrize("fname", ["exp", "recip3", "prod", "std"])
def test_forward_over_forward_finite_differences(fname):
    """Nested jvp against a central difference of the inner jvp (no torch needed)."""
    agf = NESTED_JVP[fname][0]
    x = pattern(BASE_SHAPE)
    d = pattern(BASE_SHAPE, seed=5, low=-1, high=1)
    dx = pattern(BASE_SHAPE, seed=6, low=-1, high=1)
    actual = to_numpy(ag.jvp(lambda x_: ag.jvp(agf, (x_,), (d,))[1], (x,), (dx,))[1])
    # the inner jvp is first order and checked elsewhere; differentiate it numerically
    inner = lambda x_: to_numpy(ag.jvp(agf, (x_,), (d,))[1])  # noqa: E731
    eps = 1e-5
    fd = (inner(x + eps * dx) - inner(x - eps * dx)) / (2 * eps)
    assert actual.shape == fd.shape
    np.testing.assert_allclose(actual, fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# the specific cases of the brief (no torch needed)
# ---------------------------------------------------------------------------------------------


def test_jvp_of_vmap_sin_is_cos1():
    out = ag.jvp(ag.vmap(ag.sin), (np.ones((2, 3)),), (np.ones((2, 3)),))[1]
    assert_close(out, np.full((2, 3), np.cos(1.0)), "jvp(vmap(sin))")


def test_vmap_of_jvp_sin_is_cos1():
    out = ag.vmap(lambda x: ag.jvp(ag.sin, (x,), (np.ones(3),))[1])(np.ones((2, 3)))
    assert_close(out, np.full((2, 3), np.cos(1.0)), "vmap(jvp(sin))")


def test_vmap_batched_integer_index():
    out = ag.vmap(lambda v, i: v[i])(np.arange(12.0).reshape(3, 4), np.array([0, 1, 3]))
    assert_close(out, np.array([0.0, 5.0, 11.0]), "vmap(v[i])")


def test_vmap_shared_table_batched_index():
    table = np.arange(4.0) * 10
    out = ag.vmap(lambda v, i: v[i], in_axes=(None, 0))(table, np.array([3, 0, 2]))
    assert_close(out, np.array([30.0, 0.0, 20.0]), "vmap(v[i]) with v shared")


def test_vmap_batched_table_shared_index():
    out = ag.vmap(lambda v, i: v[i], in_axes=(0, None))(np.arange(12.0).reshape(3, 4), 2)
    assert_close(out, np.array([2.0, 6.0, 10.0]), "vmap(v[i]) with i shared")


def test_vmap_batched_index_axis1():
    table = np.arange(12.0).reshape(4, 3)  # examples along axis 1
    out = ag.vmap(lambda v, i: v[i], in_axes=(1, 0))(table, np.array([0, 3, 1]))
    assert_close(out, np.array([0.0, 10.0, 5.0]), "vmap(v[i]) in_axes=(1, 0)")


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _per_example_loss(z, y):
    return -ag.log_softmax(z)[y]


def test_vmap_per_example_loss_matches_loop():
    Z = pattern((5, 4), low=-2, high=2)
    Y = np.array([0, 3, 1, 1, 2])
    out = ag.vmap(_per_example_loss)(Z, Y)
    loop = np.array([float(to_numpy(_per_example_loss(Z[n], Y[n]))) for n in range(5)])
    assert_close(out, loop, "vmap(-log_softmax(z)[y])")
    assert_close(out, -_np_log_softmax(Z)[np.arange(5), Y], "against NumPy")


def test_vmap_grad_per_example_loss():
    Z = pattern((5, 4), low=-2, high=2)
    Y = np.array([0, 3, 1, 1, 2])
    out = ag.vmap(ag.grad(_per_example_loss))(Z, Y)
    sm = np.exp(_np_log_softmax(Z))
    expected = sm - np.eye(4)[Y]
    assert_close(out, expected, "vmap(grad(-log_softmax(z)[y]))")


def test_vmap_grad_cross_entropy_functional():
    Z = pattern((5, 4), low=-2, high=2)
    Y = np.array([0, 3, 1, 1, 2])
    loss = lambda z, y: ag.nn.functional.cross_entropy(z[None], y[None])  # noqa: E731
    out = ag.vmap(ag.grad(loss))(Z, Y)
    expected = np.exp(_np_log_softmax(Z)) - np.eye(4)[Y]
    assert_close(out, expected, "vmap(grad(cross_entropy))")


def test_grad_of_grad_through_checkpoint_is_6x():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: ag.checkpoint(lambda h: h**3)(x).sum()  # noqa: E731
    assert_close(ag.grad(f)(x), 3 * x**2, "grad through checkpoint")
    assert_close(ag.grad(lambda x: ag.grad(f)(x).sum())(x), 6 * x, "grad of grad")


def test_hessian_through_checkpoint():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: ag.checkpoint(lambda h: ag.sin(h) * h)(x).sum()  # noqa: E731
    expected = np.diag(2 * np.cos(x) - x * np.sin(x))
    assert_close(ag.hessian(f)(x), expected, "hessian through checkpoint")


def test_hvp_through_checkpoint():
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, -1.0])
    f = lambda x: ag.checkpoint(lambda h: h**3)(x).sum()  # noqa: E731
    assert_close(ag.hvp(f, x, v), 6 * x * v, "hvp through checkpoint")


def test_checkpoint_with_outside_weight_second_order():
    """The docstring: Tensors f reads from outside its arguments get their gradients too."""
    x = np.array([0.5, -1.0, 2.0])

    def f(w):
        block = ag.checkpoint(lambda h: h * w**2)
        return block(ag.Tensor(x)).sum()

    w0 = np.array([1.5, 0.5, -2.0])
    assert_close(ag.grad(f)(w0), 2 * w0 * x, "grad wrt outside weight")
    assert_close(ag.hessian(f)(w0), np.diag(2 * x), "hessian wrt outside weight")


def _custom_sin():
    @ag.custom_vjp
    def csin(x):
        return ag.sin(x)

    csin.defvjp(lambda x: (ag.sin(x), x), lambda x, g: (g * ag.cos(x),))
    return csin


def _second_order_or_named_refusal(compute, expected, what):
    """The brief: second order through custom_vjp is either right or refused by name."""
    try:
        actual = compute()
    except Exception as e:  # a refusal must say what it refuses
        msg = str(e)
        assert "custom_vjp" in msg, f"{what}: a refusal that does not name custom_vjp: {e!r}"
        return
    assert_close(actual, expected, what)


def test_custom_vjp_first_order():
    csin = _custom_sin()
    x = np.array([0.5, -1.0, 2.0])
    assert_close(ag.grad(lambda v: csin(v).sum())(x), np.cos(x), "grad(custom sin)")
    assert_close(ag.vmap(ag.grad(lambda v: csin(v).sum()))(x), np.cos(x), "vmap(grad(csin))")


def test_custom_vjp_second_order_grad_grad():
    csin = _custom_sin()
    x = np.array([0.5, -1.0, 2.0])
    _second_order_or_named_refusal(
        lambda: ag.grad(lambda v: ag.grad(lambda u: csin(u).sum())(v).sum())(x),
        -np.sin(x),
        "grad(grad(custom sin))",
    )


def test_custom_vjp_second_order_hessian():
    csin = _custom_sin()
    x = np.array([0.5, -1.0, 2.0])
    _second_order_or_named_refusal(
        lambda: ag.hessian(lambda u: csin(u).sum())(x), np.diag(-np.sin(x)), "hessian(csin)"
    )


def test_custom_vjp_second_order_jacfwd_of_grad():
    csin = _custom_sin()
    x = np.array([0.5, -1.0, 2.0])
    _second_order_or_named_refusal(
        lambda: ag.jacfwd(ag.grad(lambda u: csin(u).sum()))(x),
        np.diag(-np.sin(x)),
        "jacfwd(grad(csin))",
    )


def test_custom_vjp_readme_clipped_identity_grad_jacrev_vmap():
    """The clipped identity of the README: grad, jacrev and vmap(grad) use the written rule."""

    @ag.custom_vjp
    def clipped_identity(x):
        return x

    clipped_identity.defvjp(lambda x: (x, None), lambda res, g: (np.clip(g, -1, 1),))
    x0 = np.array([0.1, 0.2, 0.3])
    g = ag.grad(lambda x: (3 * clipped_identity(x)).sum())(x0)
    assert_close(g, np.ones(3), "README clipped identity")
    # jacrev pulls back 3 * e_i, clipped to e_i: the identity
    assert_close(ag.jacrev(lambda x: 3 * clipped_identity(x))(x0), np.eye(3), "jacrev")
    per_ex = ag.vmap(ag.grad(lambda x: (3 * clipped_identity(x)).sum()))(np.stack([x0, x0]))
    assert_close(per_ex, np.ones((2, 3)), "vmap(grad(clipped identity))")


def test_register_hook_doubling_under_grad_and_vmap_grad():
    def f(x):
        h = x * 1.0
        h.register_hook(lambda g: 2 * g)
        return (h**3).sum()

    x = np.array([0.5, -1.0, 2.0])
    assert_close(ag.grad(f)(x), 6 * x**2, "grad with doubling hook")
    X = np.stack([x, 2 * x])
    assert_close(ag.vmap(ag.grad(f))(X), 6 * X**2, "vmap(grad) with doubling hook")


def test_register_hook_sees_gradient():
    seen = []
    x = ag.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    h = ag.tanh(x)
    h.register_hook(lambda g: seen.append(np.array(to_numpy(g))))
    (h**2).sum().backward()
    assert len(seen) == 1
    assert_close(seen[0], 2 * np.tanh(x.data), "hook gradient")
    assert_close(x.grad, 2 * np.tanh(x.data) * (1 - np.tanh(x.data) ** 2), "x.grad")


def test_vmap_vmap_matches_loop():
    X = pattern((3, 4, 2))
    f = lambda v: ag.sum(ag.sin(v) * v)  # noqa: E731
    out = ag.vmap(ag.vmap(f))(X)
    assert_close(out, (np.sin(X) * X).sum(-1), "vmap(vmap)")


def test_vmap_grad_grad_matches_analytic():
    X = pattern((4, 3))
    f = lambda v: ag.sum(v**3)  # noqa: E731
    out = ag.vmap(ag.grad(lambda v: ag.sum(ag.grad(f)(v))))(X)
    assert_close(out, 6 * X, "vmap(grad(grad))")


# ---------------------------------------------------------------------------------------------
# two-argument functions: batched indices, per-example broadcasting, in_axes/out_axes
# ---------------------------------------------------------------------------------------------

V2 = pattern((3, 4), low=-1, high=1)
I2 = np.array([0, 1, 3])


@pytest.mark.torch
def test_grad_of_vmap_batched_index(torch):
    f = lambda v: (ag.vmap(lambda a, i: a[i] ** 2)(v, I2)).sum()  # noqa: E731
    g = lambda v: (torch.func.vmap(lambda a, i: a[i] ** 2)(v, torch.tensor(I2))).sum()  # noqa: E731
    assert_close(ag.grad(f)(V2), torch.func.grad(g)(torch.tensor(V2)).numpy(), "grad(vmap(v[i]))")


@pytest.mark.torch
def test_jacrev_of_vmap_batched_index(torch):
    f = lambda v: ag.vmap(lambda a, i: a[i])(v, I2)  # noqa: E731
    g = lambda v: torch.func.vmap(lambda a, i: a[i])(v, torch.tensor(I2))  # noqa: E731
    assert_close(ag.jacrev(f)(V2), torch.func.jacrev(g)(torch.tensor(V2)).numpy(), "jacrev")
    assert_close(ag.jacfwd(f)(V2), torch.func.jacfwd(g)(torch.tensor(V2)).numpy(), "jacfwd")


@pytest.mark.torch
def test_jvp_of_vmap_batched_index(torch):
    f = lambda v: ag.vmap(lambda a, i: ag.exp(a[i]))(v, I2)  # noqa: E731
    g = lambda v: torch.func.vmap(lambda a, i: torch.exp(a[i]))(v, torch.tensor(I2))  # noqa: E731
    t = pattern((3, 4), seed=3)
    exp = torch.func.jvp(g, (torch.tensor(V2),), (torch.tensor(t),))[1].numpy()
    assert_close(ag.jvp(f, (V2,), (t,))[1], exp, "jvp(vmap(v[i]))")


@pytest.mark.torch
def test_vmap_grad_batched_index(torch):
    f = lambda a, i: ag.sin(a[i]) * a[(i + 1) % 4]  # noqa: E731
    g = lambda a, i: torch.sin(a[i]) * a[(i + 1) % 4]  # noqa: E731
    # a loop in the reference: torch's vmap refuses a[(i + 1) % 4] (data-dependent .item())
    exp = np.stack([torch.func.grad(g)(torch.tensor(V2[n]), int(I2[n])).numpy() for n in range(3)])
    assert_close(ag.vmap(ag.grad(f))(V2, I2), exp, "vmap(grad(v[i]))")


BATCHED_INDEX_OPS = {
    "take_along_axis": (lambda a, i: ag.take_along_axis(a, i, axis=1),
                        lambda t, a, i: t.take_along_dim(a, i, dim=1)),
    "gather": (lambda a, i: ag.gather(a, 1, i), lambda t, a, i: t.gather(a, 1, i)),
}


@pytest.mark.torch
@pytest.mark.parametrize("how", ["vmap", "grad-vmap", "jacrev-vmap", "jvp-vmap", "vmap-grad"])
@pytest.mark.parametrize("name", list(BATCHED_INDEX_OPS))
def test_vmap_batched_index_op(torch, name, how):
    """take_along_axis / gather with a per-example integer index under vmap (and around it)."""
    V = pattern((3, 2, 4), low=-1, high=1)
    IDX = np.array([[[0, 3]], [[1, 1]], [[2, 0]]])  # (3, 1, 2): one index per example
    tV, tI = torch.tensor(V), torch.tensor(IDX)
    agop, top = BATCHED_INDEX_OPS[name]
    tf_ = lambda a, i: top(torch, a, i)  # noqa: E731
    tvm, tgrad = torch.func.vmap, torch.func.grad
    if how == "vmap":
        actual, expected = ag.vmap(agop)(V, IDX), tvm(tf_)(tV, tI)
    elif how == "grad-vmap":
        actual = ag.grad(lambda v: (ag.vmap(agop)(v, IDX) ** 2).sum())(V)
        expected = tgrad(lambda v: (tvm(tf_)(v, tI) ** 2).sum())(tV)
    elif how == "jacrev-vmap":
        actual = ag.jacrev(lambda v: ag.vmap(agop)(v, IDX))(V)
        expected = torch.func.jacrev(lambda v: tvm(tf_)(v, tI))(tV)
    elif how == "jvp-vmap":
        t = pattern(V.shape, seed=3)
        actual = ag.jvp(lambda v: ag.exp(ag.vmap(agop)(v, IDX)), (V,), (t,))[1]
        expected = torch.func.jvp(lambda v: torch.exp(tvm(tf_)(v, tI)), (tV,),
                                  (torch.tensor(t),))[1]
    else:  # per-example gradients
        actual = ag.vmap(ag.grad(lambda a, i: (ag.sin(agop(a, i)) * 2.0).sum()))(V, IDX)
        expected = tvm(tgrad(lambda a, i: (torch.sin(tf_(a, i)) * 2.0).sum()))(tV, tI)
    assert_close(actual, expected.numpy(), f"{how} of batched {name}")


@pytest.mark.torch
@pytest.mark.parametrize("b_axis", [None, 0], ids=["b_shared", "b_per_example"])
@pytest.mark.parametrize("wrt", [0, 1], ids=["wrt_x", "wrt_b"])
def test_grad_of_vmap_broadcast(torch, b_axis, wrt):
    X = pattern((4, 2, 3), low=-1, high=1)
    B = pattern((3,), seed=2) if b_axis is None else pattern((4, 3), seed=2)
    agf = lambda x, b: ag.tanh(x + b) * x  # noqa: E731
    tf_ = lambda x, b: torch.tanh(x + b) * x  # noqa: E731
    s = lambda x, b: (ag.vmap(agf, in_axes=(0, b_axis))(x, b) ** 2).sum()  # noqa: E731
    ts = lambda x, b: (torch.func.vmap(tf_, in_dims=(0, b_axis))(x, b) ** 2).sum()  # noqa: E731
    exp = torch.func.grad(ts, argnums=wrt)(torch.tensor(X), torch.tensor(B)).numpy()
    assert_close(ag.grad(s, argnums=wrt)(X, B), exp, "grad(vmap(x + b))")
    # and per-example gradients: vmap(grad)
    g = ag.vmap(ag.grad(lambda x, b: (agf(x, b) ** 2).sum(), argnums=wrt), in_axes=(0, b_axis))
    tg = torch.func.vmap(
        torch.func.grad(lambda x, b: (tf_(x, b) ** 2).sum(), argnums=wrt), in_dims=(0, b_axis)
    )
    assert_close(g(X, B), tg(torch.tensor(X), torch.tensor(B)).numpy(), "vmap(grad(x + b))")


@pytest.mark.torch
def test_vmap_grad_per_example_gradients_mlp(torch):
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4), "v": rng.normal(size=4)}
    X = rng.normal(size=(6, 3))
    Y = rng.normal(size=6)

    def loss(p, x, y):
        return (ag.tanh(x @ p["w"] + p["b"]) @ p["v"] - y) ** 2

    def tloss(p, x, y):
        return (torch.tanh(x @ p["w"] + p["b"]) @ p["v"] - y) ** 2

    out = ag.vmap(ag.grad(loss), in_axes=(None, 0, 0))(params, X, Y)
    tp = {k: torch.tensor(v) for k, v in params.items()}
    exp = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
        tp, torch.tensor(X), torch.tensor(Y)
    )
    assert_close(out, t_to_numpy(exp), "per-example grads")


@pytest.mark.torch
def test_hvp_params_dict(torch):
    params = {"a": pattern((3,)), "b": pattern((2, 2), seed=1)}
    v = {"a": pattern((3,), seed=2, low=-1, high=1), "b": pattern((2, 2), seed=3, low=-1, high=1)}

    def f(p):
        return (p["a"] ** 3).sum() + (ag.sin(p["b"]) * p["a"][0]).sum()

    def tf_(p):
        return (p["a"] ** 3).sum() + (torch.sin(p["b"]) * p["a"][0]).sum()

    tp = {k: torch.tensor(a) for k, a in params.items()}
    tv = {k: torch.tensor(a) for k, a in v.items()}
    exp = torch.func.jvp(torch.func.grad(tf_), (tp,), (tv,))[1]
    assert_close(ag.hvp(f, params, v), t_to_numpy(exp), "hvp on a dict")


@pytest.mark.torch
def test_hessian_params_dict_grad_of_grad(torch):
    params = {"a": pattern((3,)), "b": pattern((2,), seed=1)}

    def f(p):
        return (p["a"] ** 2).sum() * ag.exp(p["b"]).sum()

    def tf_(p):
        return (p["a"] ** 2).sum() * torch.exp(p["b"]).sum()

    g = ag.grad(lambda p: ag.sum(ag.grad(f)(p)["a"] * p["b"][0]))(params)
    tp = {k: torch.tensor(a) for k, a in params.items()}
    tg = torch.func.grad(lambda p: (torch.func.grad(tf_)(p)["a"] * p["b"][0]).sum())(tp)
    assert_close(g, t_to_numpy(tg), "grad of grad on a dict")


@pytest.mark.torch
@pytest.mark.parametrize(
    "in_axes, out_axes",
    [((0, None), 0), ((1, None), 0), ((0, 0), 1), ((2, 0), -1), ((None, 0), 1), ((1, 1), -2)],
    ids=lambda a: str(a).replace(" ", ""),
)
def test_vmap_axes(torch, in_axes, out_axes):
    def shape_of(axis, base, B=4):
        if axis is None:
            return base
        s = list(base)
        s.insert(axis, B)
        return tuple(s)

    x = pattern(shape_of(in_axes[0], (2, 3)), low=-1, high=1)
    b = pattern(shape_of(in_axes[1], (3,)), seed=1)
    agf = lambda x, b: ag.sum(ag.exp(x) * b, axis=0) @ M  # noqa: E731
    tf_ = lambda x, b: (torch.exp(x) * b).sum(0) @ torch.tensor(M)  # noqa: E731
    out = ag.vmap(agf, in_axes=in_axes, out_axes=out_axes)(x, b)
    exp = torch.func.vmap(tf_, in_dims=in_axes, out_dims=out_axes)(torch.tensor(x), torch.tensor(b))
    assert_close(out, exp.numpy(), f"vmap in_axes={in_axes} out_axes={out_axes}")
    # and its derivative with respect to x, through the axes
    s = lambda x: (ag.vmap(agf, in_axes=in_axes, out_axes=out_axes)(x, b) ** 2).sum()  # noqa: E731
    ts = lambda x: (  # noqa: E731
        torch.func.vmap(tf_, in_dims=in_axes, out_dims=out_axes)(x, torch.tensor(b)) ** 2
    ).sum()
    assert_close(ag.grad(s)(x), torch.func.grad(ts)(torch.tensor(x)).numpy(), "grad through axes")


@pytest.mark.torch
def test_vmap_out_axes_none_and_tuple(torch):
    X = pattern((4, 3))
    w = pattern((3,), seed=1)
    out = ag.vmap(lambda x, w: (ag.sum(w**2), ag.sin(x) * w), in_axes=(0, None),
                  out_axes=(None, 1))(X, w)
    exp = torch.func.vmap(lambda x, w: ((w**2).sum(), torch.sin(x) * w), in_dims=(0, None),
                          out_dims=(None, 1))(torch.tensor(X), torch.tensor(w))
    assert_close(out, t_to_numpy(exp), "out_axes=(None, 1)")


@pytest.mark.torch
def test_vmap_nested_in_axes_none_inner(torch):
    """vmap(vmap(f, in_axes=(None, 0)), in_axes=(0, None)): an outer product of batches."""
    A = pattern((4, 3))
    Bm = pattern((5, 3), seed=1)
    f = lambda a, b: ag.sum(ag.tanh(a * b))  # noqa: E731
    tf_ = lambda a, b: torch.tanh(a * b).sum()  # noqa: E731
    out = ag.vmap(ag.vmap(f, in_axes=(None, 0)), in_axes=(0, None))(A, Bm)
    tvm = torch.func.vmap
    exp = tvm(tvm(tf_, in_dims=(None, 0)), in_dims=(0, None))(torch.tensor(A), torch.tensor(Bm))
    assert_close(out, exp.numpy(), "vmap(vmap) outer")
    outer = ag.vmap(ag.vmap(f, in_axes=(None, 0)), in_axes=(0, None))
    gout = ag.grad(lambda a: ag.sum(outer(a, Bm)))(A)
    gexp = torch.func.grad(
        lambda a: tvm(tvm(tf_, in_dims=(None, 0)), in_dims=(0, None))(a, torch.tensor(Bm)).sum()
    )(torch.tensor(A))
    assert_close(gout, gexp.numpy(), "grad(vmap(vmap))")


# ---------------------------------------------------------------------------------------------
# random small programs under random compositions
# ---------------------------------------------------------------------------------------------

try:
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

# (name, ag op, torch op); each keeps the (2, 3) shape and values moderate
PROGRAM_OPS = [
    ("sin", lambda x: ag.sin(x), lambda t, x: t.sin(x)),
    ("tanh", lambda x: ag.tanh(x), lambda t, x: t.tanh(x)),
    ("square", lambda x: x * x, lambda t, x: x * x),
    ("exp_half", lambda x: ag.exp(0.5 * x), lambda t, x: t.exp(0.5 * x)),
    ("softplus_recip", lambda x: 1.0 / (1.0 + x * x), lambda t, x: 1.0 / (1.0 + x * x)),
    ("mul_const", lambda x: x * BVEC, lambda t, x: x * t.tensor(BVEC)),
    ("softmax", lambda x: ag.softmax(x, axis=-1), lambda t, x: t.softmax(x, -1)),
    ("sub_mean0", lambda x: x - ag.mean(x, axis=0, keepdims=True),
     lambda t, x: x - x.mean(0, keepdim=True)),
]
PROGRAM_ENDS = [
    ("none", lambda x: x, lambda t, x: x),
    ("sum0", lambda x: ag.sum(x, axis=0), lambda t, x: x.sum(0)),
    ("lse-1", lambda x: ag.logsumexp(x, axis=-1), lambda t, x: t.logsumexp(x, -1)),
    ("matmul", lambda x: x @ M, lambda t, x: x @ t.tensor(M)),
    ("prod-1", lambda x: ag.prod(x, axis=-1), lambda t, x: x.prod(-1)),
]
PROGRAM_TRANSFORMS = ["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "hvp", "vmap",
                      "checkpoint"]

def _random_program_case(torch, ops, end, chain):
    def agf(x):
        for k in ops:
            x = PROGRAM_OPS[k][1](x)
        return PROGRAM_ENDS[end][1](x)

    def tf_(x):
        for k in ops:
            x = PROGRAM_OPS[k][2](torch, x)
        return PROGRAM_ENDS[end][2](torch, x)

    x = input_for(chain, seed=7) - 1.0
    expected = build(torch_transforms(torch), chain, tf_)(torch.tensor(x))
    # torch's higher-order prod rules divide by the inputs: at zeros they give nan where the
    # derivative exists (test_prod_at_zeros_third_order below checks one such case exactly)
    assume(all(np.isfinite(t_to_numpy(leaf)).all()
               for leaf in ag.tree_flatten(expected)[0] if hasattr(leaf, "shape")))
    actual = build(AG_T, chain, agf)(x)
    what = "-".join(chain) + " of " + ",".join(PROGRAM_OPS[k][0] for k in ops)
    assert_close(actual, t_to_numpy(expected), what + "," + PROGRAM_ENDS[end][0])


def test_prod_at_zeros_third_order():
    """sub_mean0, square, sub_mean0 of a 2-row input is identically 0 (both rows are equal
    after squaring), so every derivative of its prod is 0; torch.func gives nan here."""
    def f(x):
        h = (x - ag.mean(x, axis=0)) ** 2
        return ag.sum(ag.prod(h - ag.mean(h, axis=0), axis=-1))

    x = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]])
    ones = np.ones_like(x)
    third = ag.grad(lambda x: ag.jvp(lambda y: ag.sum(ag.grad(f)(y)), (x,), (ones,))[1])
    np.testing.assert_array_equal(third(x), np.zeros_like(x))


if given is not None:
    _programs = dict(
        ops=st.lists(st.sampled_from(range(len(PROGRAM_OPS))), min_size=1, max_size=4),
        end=st.sampled_from(range(len(PROGRAM_ENDS))),
    )
    _settings = settings(max_examples=40, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])

    @pytest.mark.torch
    @_settings
    @given(chain=st.lists(st.sampled_from(PROGRAM_TRANSFORMS), min_size=1, max_size=2),
           **_programs)
    def test_random_programs(torch, ops, end, chain):
        _random_program_case(torch, ops, end, chain)

    @pytest.mark.torch
    @_settings
    @given(chain=st.lists(st.sampled_from(["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                                           "hvp"]), min_size=1, max_size=3),
           **_programs)
    def test_random_programs_differentiation_only(torch, ops, end, chain):
        """The same without vmap/checkpoint, up to third order."""
        _random_program_case(torch, ops, end, chain)
