"""The silently wrong compositions reported against the flag-based engine, each pinned to the
right number (values by hand or central finite differences in float64)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.graph import edge_gradient

X2 = np.array([1.0, 2.0])


def cube_sum(x):
    return (x ** 3).sum()


def jvp2(f, x, d, dx):
    """Forward over forward: the outer jvp differentiates what the inner one computes."""
    return ag.jvp(lambda x_: ag.jvp(f, (x_,), (d,))[1], (x,), (dx,))[1]


def test_jvp_through_vmap():
    _, t = ag.jvp(ag.vmap(ag.sin), (np.ones((2, 3)),), (np.ones((2, 3)),))
    np.testing.assert_allclose(t, np.full((2, 3), np.cos(1.0)), rtol=1e-14)


@pytest.mark.parametrize("outer", ["jacfwd", "jacrev", "jacobian"])
@pytest.mark.parametrize("inner", ["jacfwd", "jacrev", "jacobian"])
def test_jacobian_of_jacobian(outer, inner):
    got = getattr(ag, outer)(getattr(ag, inner)(cube_sum))(X2)
    np.testing.assert_allclose(got, np.diag(6 * X2), rtol=1e-14)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jacobian_of_vmap(transform):
    got = getattr(ag, transform)(ag.vmap(ag.sin))(X2)
    np.testing.assert_allclose(got, np.diag(np.cos(X2)), rtol=1e-14)


def test_jvp_of_jacrev():
    _, t = ag.jvp(ag.jacrev(cube_sum), (X2,), (np.ones(2),))
    np.testing.assert_allclose(t, 6 * X2, rtol=1e-14)


@pytest.mark.parametrize("f, x, want", [
    (ag.exp, 0.5, np.exp(0.5)),
    (lambda y: 3.0 / y, 2.0, 0.75),  # d2/dy2 of 3/y = 6/y**3
    (lambda y: ag.prod(y), np.array([2.0, 3.0]), 2.0),  # mixed second derivative, summed
])
def test_forward_over_forward(f, x, want):
    d = np.ones_like(np.asarray(x, dtype=float))
    np.testing.assert_allclose(jvp2(f, x, d, d), want, rtol=1e-12)


def test_forward_over_forward_std_against_finite_differences():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    d, dx = np.array([1.0, 0.0, -1.0, 2.0]), np.array([0.5, 1.0, 0.0, -1.0])
    eps = 1e-4

    def directional(y):
        return float(ag.jvp(ag.std, (y,), (d,))[1])

    fd = (directional(x + eps * dx) - directional(x - eps * dx)) / (2 * eps)
    np.testing.assert_allclose(jvp2(ag.std, x, d, dx), fd, rtol=1e-6)


def test_numpy_ufunc_on_a_tensor_carrying_a_tangent_is_its_row_or_refused():
    value, tangent = ag.jvp(lambda x: np.sin(x), (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(tangent, np.cos(np.ones(2)))  # np.sin is ag.sin
    with pytest.raises(TypeError, match=r"np\.cbrt.*tangent"):
        ag.jvp(lambda x: np.cbrt(x), (np.ones(2),), (np.ones(2),))


def test_vmap_with_a_batched_integer_index():
    got = ag.vmap(lambda v, i: v[i])(np.arange(12.0).reshape(3, 4), np.array([0, 1, 3]))
    np.testing.assert_array_equal(got, [0.0, 5.0, 11.0])


def test_vmap_of_a_per_example_loss_and_its_gradient():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(3, 5)), np.array([1, 4, 0])

    def loss(z, y):
        return -ag.log_softmax(z)[y]

    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(ag.vmap(loss)(z, y), -logp[np.arange(3), y], rtol=1e-14)
    want = np.exp(logp) - np.eye(5)[y]
    np.testing.assert_allclose(ag.vmap(ag.grad(loss))(z, y), want, rtol=1e-12, atol=1e-15)
    ce = ag.vmap(lambda zi, yi: ag.nn.functional.cross_entropy(zi[None], yi[None]))(z, y)
    np.testing.assert_allclose(ce, -logp[np.arange(3), y], rtol=1e-14)


def test_vmap_of_take_along_axis_and_gather():
    x = np.arange(24.0).reshape(2, 3, 4)
    i = np.array([[[0], [1], [2]], [[3], [2], [1]]])
    want = np.take_along_axis(x, i, axis=2)
    np.testing.assert_array_equal(ag.vmap(lambda a, b: ag.take_along_axis(a, b, 1))(x, i), want)
    np.testing.assert_array_equal(ag.vmap(lambda a, b: ag.gather(a, 1, b))(x, i), want)


def test_second_order_through_checkpoint():
    def f(x):
        return ag.checkpoint(lambda h: h ** 3)(x).sum()

    np.testing.assert_allclose(ag.grad(lambda x: ag.grad(f)(x).sum())(X2), 6 * X2, rtol=1e-14)
    np.testing.assert_allclose(ag.hessian(f)(X2), np.diag(6 * X2), rtol=1e-14)


def test_second_order_through_custom_vjp_is_refused_by_name():
    @ag.custom_vjp
    def f(x):
        return ag.sin(x)

    f.defvjp(lambda x: (np.sin(x), np.cos(x)), lambda c, g: (g * c,))
    np.testing.assert_allclose(ag.grad(lambda x: f(x).sum())(X2), np.cos(X2), rtol=1e-14)
    with pytest.raises(NotImplementedError, match="custom_vjp f: a higher-order gradient"):
        ag.grad(lambda x: ag.grad(lambda y: f(y).sum())(x).sum())(X2)


def test_hvp_on_a_params_dict():
    got = ag.hvp(lambda p: (p["a"] ** 3).sum() + (p["a"] * p["b"]).sum(),
                 {"a": X2, "b": np.array([0.5, 1.0])}, {"a": np.ones(2), "b": np.ones(2)})
    np.testing.assert_allclose(got["a"], 6 * X2 + 1, rtol=1e-14)
    np.testing.assert_allclose(got["b"], np.ones(2), rtol=1e-14)


def test_grad_of_vmap_with_a_per_example_broadcast():
    def f(b):
        return ag.vmap(lambda xi, bi: (xi * bi).sum())(np.ones((5, 3)), b).sum()

    np.testing.assert_allclose(ag.grad(f)(np.ones(5)), np.full(5, 3.0))


# --- read-only tools (D2, D4) -------------------------------------------------------------------
def test_explain_and_pictures_write_no_grad_and_run_no_hook():
    x = ag.Tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    calls = []
    h.register_hook(lambda g: calls.append(1))
    loss = (h * 3).sum()
    for _ in range(3):
        ag.explain(loss)
        ag.draw_graph(loss)  # builds the DOT text (no rendering)
        ag.explore(loss)
    assert h.grad is None and x.grad is None and calls == []
    loss.backward()
    np.testing.assert_array_equal(h.grad, [3.0, 3.0])
    assert calls == [1]


def test_edge_gradient_reads_the_values_the_forward_saw():
    a = ag.Tensor([1.0, 2.0], requires_grad=True)
    b = a * a
    loss = (b * b).sum()
    a.data = np.array([10.0, 20.0])  # rebinding is allowed: the graph keeps what it saw
    terms = [edge_gradient(b, i, np.ones(2)) for i in range(2)]
    np.testing.assert_array_equal(terms[0] + terms[1], [2.0, 4.0])
    loss.backward()
    np.testing.assert_array_equal(a.grad, 4 * np.array([1.0, 2.0]) ** 3)
