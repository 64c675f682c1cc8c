"""Transforms inside `ag.compile` (issue 23, items 2 and 3).

`ag.iterate(step, n)`: n training steps as one compiled call (a generated `for` loop), equal to
the eager loop after 1500 steps of the first tutorial's network with SGD and Adam.
`compile(vmap(grad(f)))`, `compile(jacrev)`, `compile(hvp)`, `compile(jacfwd)`,
`compile(hessian)`: one batched function, equal to eager and to torch.func; what still cannot
be compiled is refused naming vmap, the op and the user's line.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import autograd_nn as ag
from autograd_nn import optim
from autograd_nn.compiler import CompileError
from autograd_nn_course import tutorial1

TIGHT = dict(rtol=1e-12, atol=1e-12)


def _leaves(tree):
    return [np.asarray(x.data if isinstance(x, ag.Tensor) else x) for x in ag.tree_flatten(tree)[0]]


def assert_trees_close(got, want, **tol):
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, **(tol or TIGHT))


# --- ag.iterate: N steps in one compiled call --------------------------------------------------
def _sgd_step(params, X, Y):
    value, grads = ag.value_and_grad(tutorial1.loss)(params, X, Y)
    return optim.sgd_update(params, grads, lr=0.5), value


def _adam_step(params, state, X, Y):
    grads = ag.grad(tutorial1.loss)(params, X, Y)
    return optim.adam_update(params, grads, state, lr=0.01)


def _eager_sgd(params, steps):
    losses = []
    for _ in range(steps):
        params, value = _sgd_step(params, tutorial1.X, tutorial1.Y)
        losses.append(value)
    return params, np.array(losses)


def _eager_adam(params, state, steps):
    for _ in range(steps):
        params, state = _adam_step(params, state, tutorial1.X, tutorial1.Y)
    return params, state


def test_iterate_sgd_1500_steps_equals_the_eager_loop():
    params = tutorial1.initial_weights(0)
    want_params, want_losses = _eager_sgd(params, tutorial1.ITERATIONS)
    train = ag.iterate(_sgd_step, tutorial1.ITERATIONS, history=True)
    eager = train(params, tutorial1.X, tutorial1.Y)
    compiled = ag.compile(train)
    got = compiled(params, tutorial1.X, tutorial1.Y)
    assert_trees_close(eager, (want_params, want_losses))
    assert_trees_close(got, (want_params, want_losses))
    assert want_losses[-1] < 0.05 * want_losses[0]  # it trained
    again = compiled(params, tutorial1.X, tutorial1.Y)  # the inputs were not changed
    assert_trees_close(again, got)
    assert compiled.traces == 1
    body = compiled.source.split("\ndef ")[-1]  # the generated function itself
    assert len(re.findall(r"^ +for ", body, re.M)) == 1 and f"range({tutorial1.ITERATIONS})" in body
    assert body.count("np.dot(X, weights1)") == 1  # the step written once, not unrolled


def test_iterate_adam_1500_steps_equals_the_eager_loop():
    params = tutorial1.initial_weights(1)
    state = optim.adam_init(params)
    want = _eager_adam(params, state, tutorial1.ITERATIONS)
    train = ag.iterate(_adam_step, tutorial1.ITERATIONS, carry=2)
    assert_trees_close(train(params, state, tutorial1.X, tutorial1.Y), want)
    got = ag.compile(train)(params, state, tutorial1.X, tutorial1.Y)
    assert_trees_close(got, want)
    assert int(got[1]["step"]) == tutorial1.ITERATIONS and isinstance(got[1]["step"], np.ndarray)


def test_iterate_sgd_with_momentum_through_the_state():
    params = tutorial1.initial_weights(2)

    def step(params, state, X, Y):
        grads = ag.grad(tutorial1.loss)(params, X, Y)
        return optim.sgd_update(params, grads, state, lr=0.1, momentum=0.9)

    state = optim.sgd_init(params)
    want = (params, state)
    for _ in range(200):
        want = step(*want, tutorial1.X, tutorial1.Y)
    got = ag.compile(ag.iterate(step, 200, carry=2))(params, state, tutorial1.X, tutorial1.Y)
    assert_trees_close(got, want)


def test_a_new_n_is_another_function_and_n_is_fixed():
    params = tutorial1.initial_weights(0)
    short = ag.compile(ag.iterate(_sgd_step, 3, history=True))
    longer = ag.compile(ag.iterate(_sgd_step, 5, history=True))
    a, la = short(params, tutorial1.X, tutorial1.Y)
    b, lb = longer(params, tutorial1.X, tutorial1.Y)
    assert la.shape == (3,) and lb.shape == (5,)
    np.testing.assert_array_equal(la, lb[:3])
    assert_trees_close(b, _eager_sgd(params, 5)[0])
    with pytest.raises(AttributeError):
        short.fn.n = 7


def test_iterate_zero_steps_and_bad_arguments():
    params = tutorial1.initial_weights(0)
    same = ag.compile(ag.iterate(lambda p, X, Y: _sgd_step(p, X, Y)[0], 0))(
        params, tutorial1.X, tutorial1.Y)
    assert_trees_close(same, params)
    for bad in (dict(n=-1), dict(n=2.0), dict(n=3, carry=0), dict(n=0, history=True)):
        with pytest.raises(ValueError, match="iterate"):
            ag.iterate(_sgd_step, **bad)


@pytest.mark.parametrize("change, message", [
    (lambda p: {**p, "extra": p["weights1"]}, r"another structure .*keys"),
    (lambda p: {"weights1": p["weights1"][:, :2] * 1.0, "weights2": p["weights2"]},
     r"params\['weights1'\] with shape \(3, 2\).*came in with shape \(3, 4\)"),
    (lambda p: {"weights1": ag.astype(p["weights1"], np.float32), "weights2": p["weights2"]},
     r"params\['weights1'\] .*dtype float32.*dtype float64"),
])
def test_a_carry_that_changes_is_refused_by_name(change, message):
    params = tutorial1.initial_weights(0)

    def step(params, X, Y):
        return change(params)

    train = ag.iterate(step, 4)
    with pytest.raises(TypeError, match=message):
        train(params, tutorial1.X, tutorial1.Y)
    with pytest.raises(CompileError, match=message):
        ag.compile(train)(params, tutorial1.X, tutorial1.Y)


def test_a_carry_that_becomes_a_constant_is_a_new_array_each_call():
    def step(w, x):
        return ag.Tensor(np.ones(3))

    w, x = np.zeros(3), np.ones(3)
    looped = ag.compile(ag.iterate(step, 2))
    first = looped(w, x)
    first.data[0] = 5.0  # the caller's array: writing into it changes no later result
    np.testing.assert_array_equal(looped(w, x).data, np.ones(3))


def test_a_step_returning_the_wrong_number_of_carries_is_refused():
    params = tutorial1.initial_weights(0)
    train = ag.iterate(lambda p, s, X, Y: p, 3, carry=2)
    with pytest.raises(TypeError, match="tuple of the 2 carried values"):
        train(params, optim.sgd_init(params), tutorial1.X, tutorial1.Y)


def test_a_step_that_reads_a_value_is_refused_in_a_compiled_loop():
    def step(w, x):
        loss = ((x @ w) ** 2).sum()
        if loss.item() > 1.0:  # a value that changes every step: no specialisation fits
            return w * 0.5
        return w

    w, x = np.ones((3, 2)), np.ones((4, 3))
    with pytest.raises(CompileError, match=r"reads the value of a Tensor .*\.item|item"):
        ag.compile(ag.iterate(step, 10))(w, x)


def test_iterate_compiled_is_faster_than_calling_the_compiled_step():
    """Not a timing assertion: the loop runs the step n times (the counter says so)."""
    calls = []

    def step(w, x):
        calls.append(1)
        return w - 0.1 * ag.grad(lambda w: ((x @ w) ** 2).sum())(w)

    w, x = np.ones((3, 2)), np.linspace(0, 1, 12).reshape(4, 3)
    want = w
    for _ in range(50):
        want = want - 0.1 * 2 * x.T @ (x @ want)
    got = ag.compile(ag.iterate(step, 50))(w, x)
    np.testing.assert_allclose(got, want, **TIGHT)
    assert len(calls) == 1  # traced once, the loop is in the generated code


# --- compile(vmap(grad(f))): per-example gradients ---------------------------------------------
def _mlp_params(rng, sizes=(6, 8, 5, 4)):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        p[f"W{i}"] = rng.normal(size=(a, b)) / np.sqrt(a)
        p[f"b{i}"] = rng.normal(size=b) * 0.1
    return p


def _example_loss(p, x, y):
    """One example's loss: a relu/tanh MLP, -log_softmax(z)[y] with an integer target."""
    h = ag.relu(x @ p["W0"] + p["b0"])
    h = ag.tanh(h @ p["W1"] + p["b1"])
    z = h @ p["W2"] + p["b2"]
    return -ag.log_softmax(z)[y]


def _torch_example_loss(p, x, y):
    h = torch.relu(x @ p["W0"] + p["b0"])
    h = torch.tanh(h @ p["W1"] + p["b1"])
    z = torch.log_softmax(h @ p["W2"] + p["b2"], -1)
    return -(z * (torch.arange(z.shape[-1]) == y)).sum()  # z[y], as torch's vmap allows


def _torch_per_example(p, X, y):
    tp = {k: torch.tensor(v) for k, v in p.items()}
    grads = torch.func.vmap(torch.func.grad(_torch_example_loss), in_dims=(None, 0, 0))(
        tp, torch.tensor(X), torch.tensor(y))
    return {k: grads[k].numpy() for k in p}


def test_per_example_gradients_compile_as_one_batched_function():
    rng = np.random.default_rng(0)
    p = _mlp_params(rng)
    per_example = ag.vmap(ag.grad(_example_loss), in_axes=(None, 0, 0))
    step = ag.compile(per_example)
    for batch in (7, 12):  # a second batch size traces again and is still right
        X = rng.normal(size=(batch, 6))
        y = rng.integers(0, 4, size=batch)
        got = step(p, X, y)
        assert_trees_close(got, per_example(p, X, y))
        assert_trees_close(got, _torch_per_example(p, X, y))
        one = ag.grad(_example_loss)(p, X[3], y[3])  # the examples are the examples
        assert_trees_close({k: v[3] for k, v in got.items()}, one)
    assert step.traces == 2
    assert "to_batch" not in step.source and "from_batch" not in step.source
    assert "vmap" not in step.source.split("def ")[-1].split('"""')[2]  # plain NumPy


def test_per_example_value_and_grad_and_the_batched_target_pick():
    rng = np.random.default_rng(1)
    p = _mlp_params(rng)
    X, y = rng.normal(size=(9, 6)), rng.integers(0, 4, size=9)
    f = ag.vmap(ag.value_and_grad(_example_loss), in_axes=(None, 0, 0))
    got = ag.compile(f)(p, X, y)
    assert_trees_close(got, f(p, X, y))
    tp = {k: torch.tensor(v) for k, v in p.items()}
    losses = torch.func.vmap(_torch_example_loss, in_dims=(None, 0, 0))(
        tp, torch.tensor(X), torch.tensor(y))
    np.testing.assert_allclose(got[0], losses.numpy(), **TIGHT)


@pytest.mark.parametrize("in_axes, out_axes", [(0, 0), (1, 0), (0, 1), (1, 2), (-1, -1)])
def test_in_axes_and_out_axes(in_axes, out_axes):
    rng = np.random.default_rng(2)
    W = rng.normal(size=(3, 5))
    X = rng.normal(size=(4, 3) if in_axes == 0 else (3, 4))

    def f(W, x):
        return ag.outer(ag.tanh(x @ W), x) ** 2

    g = ag.vmap(ag.grad(lambda W, x: f(W, x).sum()), in_axes=(None, in_axes), out_axes=out_axes)
    h = ag.vmap(f, in_axes=(None, in_axes), out_axes=out_axes)
    for fn in (g, h):
        assert_trees_close(ag.compile(fn)(W, X), fn(W, X))


def test_vmap_of_indexing_reshapes_and_reductions():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 4, 3))
    cases = [
        ag.vmap(ag.grad(lambda x: (x[1:, 0] ** 2).sum() + x[0, 2])),
        ag.vmap(ag.grad(lambda x: (x[np.array([0, 2, 2])] ** 3).sum())),
        ag.vmap(lambda a: a.reshape(-1).sum() * a.T),
        ag.vmap(lambda a: ag.mean(a, axis=None) + ag.max(a, axis=0) - ag.softmax(a, axis=-1)),
        ag.vmap(lambda a: ag.sum(ag.stack([a, ag.exp(a)], axis=0) ** 2, axis=(0, 2))),
    ]
    for fn in cases:
        assert_trees_close(ag.compile(fn)(X), fn(X))


def test_vmap_of_shared_tables_matrices_and_products():
    rng = np.random.default_rng(8)
    T, W, X = rng.normal(size=(6, 3)), rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    idx, idx2 = rng.integers(0, 6, size=5), rng.integers(0, 6, size=(5, 2))
    cases = [
        (ag.vmap(lambda t, i: t[i] * 2.0, in_axes=(None, 0)), (T, idx)),
        (ag.vmap(ag.grad(lambda t, i: (ag.tanh(t[i]) ** 2).sum()), in_axes=(None, 0)),
         (T, idx2)),  # two picks per example, one repeated index accumulates
        (ag.vmap(lambda x, W: ag.exp(x * W), in_axes=(0, None)), (X, W)),
        (ag.vmap(ag.grad(lambda W, x: (ag.sin(x * W) @ x).sum()), in_axes=(None, 0)), (W, X)),
        (ag.vmap(ag.grad(lambda W, x: ag.sum(ag.tanh(W @ x))), in_axes=(None, 0)), (W, X)),
        (ag.vmap(lambda x: x @ x), (X,)),
    ]
    idx2[0] = (2, 2)
    for fn, args in cases:
        assert_trees_close(ag.compile(fn)(*args), fn(*args))


def test_nested_vmap_compiles():
    rng = np.random.default_rng(4)
    A, b = rng.normal(size=(5, 4, 3)), rng.normal(size=(4, 3))
    fn = ag.vmap(ag.vmap(lambda a, b: ag.sin(a) * b.sum()), in_axes=(0, None))
    assert_trees_close(ag.compile(fn)(A, b), fn(A, b))
    cube = rng.normal(size=(3, 3, 3))  # equal sizes: an axis moved wrongly would still fit
    cases = [
        (ag.vmap(ag.vmap(lambda a: ag.sin(a) * a[0])), (cube,)),
        (ag.vmap(ag.vmap(lambda a: ag.exp(a) * 2.0, in_axes=1), in_axes=0), (cube,)),
        (ag.vmap(ag.vmap(lambda a: ag.exp(a) * a.sum(), out_axes=1), in_axes=1), (cube,)),
        (ag.vmap(ag.vmap(lambda a, c: a @ c, in_axes=(1, None)), in_axes=(None, 2)),
         (cube, cube)),
    ]
    for fn, args in cases:
        assert_trees_close(ag.compile(fn)(*args), fn(*args))


# --- jacrev, jacfwd, hessian, hvp --------------------------------------------------------------
def _vector_fn(x):
    return ag.tanh(x) * ag.sum(x ** 2) + ag.sin(x[::-1])


def _scalar_fn(x):
    return ag.sum(ag.tanh(x) ** 3 * x) + ag.sum(ag.sin(x) ** 2)


def _torch_vector_fn(x):
    return torch.tanh(x) * (x ** 2).sum() + torch.sin(x.flip(0))


def _torch_scalar_fn(x):
    return (torch.tanh(x) ** 3 * x).sum() + (torch.sin(x) ** 2).sum()


@pytest.mark.parametrize("name", ["jacrev", "jacfwd", "hessian", "hvp", "jacfwd(jacrev)"])
def test_jacobians_and_hvp_compile(name):
    rng = np.random.default_rng(5)
    x, v = rng.normal(size=6), rng.normal(size=6)
    fns = {
        "jacrev": (ag.jacrev(_vector_fn), (x,),
                   lambda: torch.func.jacrev(_torch_vector_fn)(torch.tensor(x))),
        "jacfwd": (ag.jacfwd(_vector_fn), (x,),
                   lambda: torch.func.jacfwd(_torch_vector_fn)(torch.tensor(x))),
        "hessian": (ag.hessian(_scalar_fn), (x,),
                    lambda: torch.func.hessian(_torch_scalar_fn)(torch.tensor(x))),
        "hvp": (lambda x, v: ag.hvp(_scalar_fn, x, v), (x, v),
                lambda: torch.func.hessian(_torch_scalar_fn)(torch.tensor(x)) @ torch.tensor(v)),
        "jacfwd(jacrev)": (ag.jacfwd(ag.jacrev(_scalar_fn)), (x,),
                           lambda: torch.func.hessian(_torch_scalar_fn)(torch.tensor(x))),
    }
    fn, args, reference = fns[name]
    got = ag.compile(fn)(*args)
    assert_trees_close(got, fn(*args))
    with warnings.catch_warnings():  # torch.func's forward mode warns about torch.jit
        warnings.simplefilter("ignore", DeprecationWarning)
        want = reference().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


# --- what is still refused: in user terms --------------------------------------------------------
def test_an_op_without_a_batched_form_is_refused_naming_vmap_the_op_and_the_line():
    X = np.random.default_rng(7).normal(size=(5, 4, 3))
    fn = ag.vmap(lambda a: ag.einsum("ij,ij->i", a, a))
    np.testing.assert_allclose(fn(X), (X * X).sum(-1))  # eagerly fine
    with pytest.raises(CompileError) as info:
        ag.compile(fn)(X)
    message = str(info.value)
    assert "vmap" in message and "einsum" in message and "test_compile_transforms.py:" in message
    assert "to_batch" not in message and "row" not in message


def test_a_value_every_example_shares_is_guarded_in_each_example():
    """A Python branch inside vmap on a value all examples share compiles to a check of every
    example (it wrote bool() of the whole batch, which NumPy refused); a batch where the
    examples differ traces again, which refuses it as eager vmap does."""
    f = ag.compile(ag.vmap(lambda x: x * 2 if not bool((x > 100).any()) else x))
    np.testing.assert_array_equal(f(np.ones((3, 2))), np.full((3, 2), 2.0))
    np.testing.assert_array_equal(f(np.full((3, 2), 3.0)), np.full((3, 2), 6.0))
    assert f.traces == 1
    with pytest.raises(ValueError, match="differs between the examples of a vmap"):
        f(np.array([[1.0, 200.0], [1.0, 1.0], [1.0, 1.0]]))
    g = ag.compile(ag.vmap(lambda x: x * (x.sum() * 0.0 + 0.5).item()))
    np.testing.assert_array_equal(g(np.ones((3, 2))), np.full((3, 2), 0.5))
    np.testing.assert_array_equal(g(np.full((3, 2), 4.0)), np.full((3, 2), 2.0))
    assert g.traces == 1
