"""ag.grad / ag.value_and_grad: nesting of arguments, argnums, and higher-order derivatives."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag


def test_grad_of_simple_function_returns_ndarray():
    g = ag.grad(lambda x: (x**2).sum())(np.array([1.0, -2.0]))
    assert isinstance(g, np.ndarray)
    np.testing.assert_array_equal(g, [2.0, -4.0])


def test_value_and_grad_over_dict_of_params(rng):
    params = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
    x = rng.normal(size=(5, 3))
    y = rng.normal(size=(5, 2))

    def loss(p, x, y):
        return (((x @ p["w"] + p["b"]).tanh() - y) ** 2).mean()

    value, grads = ag.value_and_grad(loss)(params, x, y)
    assert set(grads) == {"w", "b"}
    assert isinstance(value, np.ndarray) and value.shape == ()

    def loss_np(w, b):
        return np.mean((np.tanh(x @ w + b) - y) ** 2)

    np.testing.assert_allclose(value, loss_np(params["w"], params["b"]), rtol=1e-14)
    np.testing.assert_allclose(grads["w"], numeric_grad(loss_np, [params["w"], params["b"]], 0),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads["b"], numeric_grad(loss_np, [params["w"], params["b"]], 1),
                               rtol=1e-6, atol=1e-9)
    assert params["w"].shape == (3, 2), "inputs are not modified"


def test_nested_lists_tuples_and_namedtuples():
    Pair = namedtuple("Pair", "a b")
    arg = {"layers": [(np.array(1.0), np.array([2.0, 3.0]))], "pair": Pair(np.array(4.0), 5.0)}

    def f(p):
        (w, v), = p["layers"]
        return w * v.sum() + p["pair"].a * p["pair"].b

    g = ag.grad(f)(arg)
    assert isinstance(g["layers"], list) and isinstance(g["layers"][0], tuple)
    assert isinstance(g["pair"], Pair)
    np.testing.assert_allclose(g["layers"][0][0], 5.0)
    np.testing.assert_allclose(g["layers"][0][1], [1.0, 1.0])
    np.testing.assert_allclose(g["pair"].a, 5.0)
    np.testing.assert_allclose(g["pair"].b, 4.0)


def test_argnums_int_and_tuple():
    def f(a, b, c):
        return (a * b * c).sum()

    a, b, c = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])
    np.testing.assert_array_equal(ag.grad(f, argnums=1)(a, b, c), a * c)
    ga, gc = ag.grad(f, argnums=(0, 2))(a, b, c)
    np.testing.assert_array_equal(ga, b * c)
    np.testing.assert_array_equal(gc, a * b)
    np.testing.assert_array_equal(ag.grad(f, argnums=-1)(a, b, c), a * b)
    with pytest.raises(ValueError, match="argnums"):
        ag.grad(f, argnums=3)(a, b, c)


def test_python_numbers_and_ints_are_differentiated_as_float64():
    assert ag.grad(lambda x: x * x)(3) == 6.0
    assert ag.grad(lambda x: x * x)(3.0).dtype == np.float64


def test_float32_inputs_give_float32_grads():
    g = ag.grad(lambda x: (x.sigmoid() * 2.0).sum())(np.ones(3, dtype=np.float32))
    assert g.dtype == np.float32


def test_function_independent_of_input_gives_zeros():
    g = ag.grad(lambda x, y: (y * 2).sum(), argnums=0)(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(3))
    g = ag.grad(lambda x: 5.0)(np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_non_scalar_output_is_an_error():
    with pytest.raises(ValueError, match=r"scalar.*\(3,\)"):
        ag.grad(lambda x: x * 2)(np.ones(3))


def test_grad_does_not_touch_leaf_grad_attributes():
    w = ag.Tensor([1.0, 2.0], requires_grad=True)
    g = ag.grad(lambda t: (t * t).sum())(w)
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert w.grad is None


def _d(f, n):
    for _ in range(n):
        f = ag.grad(f)
    return f


@pytest.mark.parametrize(
    "f, derivs, x",
    [
        (lambda x: x**3, [lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6.0], 1.7),
        (lambda x: ag.exp(2 * x), [lambda x: 2 * np.exp(2 * x), lambda x: 4 * np.exp(2 * x)], 0.3),
        (ag.tanh,
         [lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)], 0.4),
        (lambda x: ag.sigmoid(x),
         [lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s),
          lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s)], -0.8),
        (lambda x: ag.log(x) * x, [lambda x: np.log(x) + 1, lambda x: 1 / x, lambda x: -1 / x**2],
         2.5),
        (lambda x: 1 / x, [lambda x: -1 / x**2, lambda x: 2 / x**3], 1.3),
        (lambda x: ag.sqrt(x), [lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x**-1.5], 2.0),
    ],
)
def test_higher_order_scalar_derivatives(f, derivs, x):
    for order, expected in enumerate(derivs, start=1):
        got = _d(f, order)(x)
        np.testing.assert_allclose(got, expected(x), rtol=1e-10, err_msg=f"order {order}")


def test_hessian_vector_product_against_finite_differences(rng):
    a = rng.normal(size=(4, 4))
    x0 = rng.normal(size=4)
    v = rng.normal(size=4)

    def f(x):
        return (ag.softmax(a @ x) * ag.log_softmax(x)).sum() + (ag.tanh(x) ** 2).sum()

    def grad_dot_v(x):
        return (ag.grad(f)(x) * v).sum()

    hvp = ag.grad(grad_dot_v)(x0)
    eps = 1e-5
    fd = (ag.grad(f)(x0 + eps * v) - ag.grad(f)(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: (x.max(axis=0) * x.sum(axis=1)).sum(),
        lambda x: (x[[0, 0, 1]] ** 2).sum() * x.mean(),
        lambda x: ag.logsumexp(x * x, axis=1).sum(),
        lambda x: (ag.concatenate([x, x * 2], axis=1) ** 3).sum(),
        lambda x: (ag.stack([x, x.T.T], axis=0).reshape(-1) ** 2).sum(),
        lambda x: ((x @ x.T) ** 2).sum(),
        lambda x: (ag.where(x > 0, x**2, -x) * x).sum(),
        lambda x: (ag.maximum(x, 0.1) * x ** 2).sum(),
        lambda x: ag.clip(x, -0.5, 0.5).sum() * (x**2).sum(),
        lambda x: (ag.relu(x) * x).sum() + ag.abs(x).sum() ** 2,
        lambda x: ((x + 2.0) ** x).sum(),
        lambda x: (x**4).sum() / x.size,
        lambda x: (ag.softmax(x, axis=0) * x).sum() + (ag.sigmoid(x) * x).sum(),
        lambda x: (ag.log_softmax(x, axis=1) * x).sum() + (ag.exp(x) / (1 + x**2)).sum(),
    ],
)
def test_second_order_through_every_rule_family(f, rng):
    x0 = rng.normal(size=(3, 3))
    v = rng.normal(size=(3, 3))

    def gv(x):
        return (ag.grad(f)(x) * v).sum()

    hvp = ag.grad(gv)(x0)
    eps = 1e-5
    fd = (ag.grad(f)(x0 + eps * v) - ag.grad(f)(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-7)


def test_inner_grad_closing_over_outer_variable():
    # d/dx [ d/dy (x * y^2) at y=3 ] = d/dx [6x] = 6
    def outer(x):
        return ag.grad(lambda y: x * y**2)(3.0)

    assert ag.grad(outer)(2.0) == 6.0


def test_nested_grad_value_is_a_tensor_inside_outer():
    seen = {}

    def outer(x):
        g = ag.grad(lambda z: z**2)(x)
        seen["type"] = type(g)
        return g * x

    np.testing.assert_allclose(ag.grad(outer)(3.0), 12.0)  # d/dx (2x * x) = 4x
    assert seen["type"] is ag.Tensor


def test_has_aux_returns_extra_values_undifferentiated():
    def f(x):
        y = (x**2).sum()
        return y, {"pred": x * 3, "note": "ok"}

    (value, aux), g = ag.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(value, 5.0)
    np.testing.assert_array_equal(aux["pred"], [3.0, 6.0])
    assert isinstance(aux["pred"], np.ndarray) and aux["note"] == "ok"
    np.testing.assert_array_equal(g, [2.0, 4.0])
    g2, aux2 = ag.grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g2, g)


def test_returning_a_tuple_without_has_aux_is_a_clear_error():
    with pytest.raises(TypeError, match="has_aux=True"):
        ag.grad(lambda x: ((x**2).sum(), x))(np.ones(2))
    with pytest.raises(TypeError, match="pair"):
        ag.grad(lambda x: (x**2).sum(), has_aux=True)(np.ones(2))


def test_numpy_reductions_keep_the_graph_and_np_dot_is_ag_dot():
    w = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    total = np.sum(w) + np.mean(w) + np.max(w)
    assert isinstance(total, ag.Tensor)
    total.backward()
    np.testing.assert_allclose(w.grad, [1 + 1 / 3, 1 + 1 / 3, 1 + 1 / 3 + 1])
    assert np.dot(np.ones((2, 3)), w).op == "dot"  # tests/test_numpy_dispatch.py
    with pytest.raises(TypeError, match=r"np\.median.*drop its gradient"):
        np.median(w)
    with pytest.raises(TypeError, match="out"):
        np.sum(w, out=np.zeros(()))
    np.testing.assert_array_equal(np.asarray(ag.Tensor([1.0, 2.0])), [1.0, 2.0])  # constants ok


def test_scalar_gradients_are_ndarrays():
    g = ag.grad(lambda x: x * x)(3)
    assert isinstance(g, np.ndarray) and g.shape == () and g == 6.0


@pytest.mark.parametrize(
    "f, order",
    [(lambda x: x**0, 1), (lambda x: x**1, 2), (lambda x: x**2, 3), (lambda x: x**3, 4),
     (lambda x: x ** ag.Tensor(1.0), 2), (lambda x: x ** ag.Tensor(0.0), 1)],
)
def test_power_derivatives_at_zero_are_zero_not_nan(f, order):
    assert _d(f, order)(0.0) == 0.0


def test_duplicate_argnums_are_refused():
    with pytest.raises(ValueError, match="same argument twice"):
        ag.grad(lambda x, y: (x * y).sum(), argnums=(0, 0))(np.ones(2), 3.0)


def test_dict_subclasses_keep_their_type():
    from collections import OrderedDict, defaultdict

    for arg in (OrderedDict(a=np.ones(2)), defaultdict(float, a=np.ones(2))):
        g = ag.grad(lambda p: (p["a"] * 2).sum())(arg)
        assert type(g) is type(arg)
        np.testing.assert_array_equal(g["a"], [2.0, 2.0])


def test_returned_gradients_never_share_memory():
    ga, gb = ag.grad(lambda a, b: (a + b).sum(), argnums=(0, 1))(np.ones(3), np.ones(3))
    assert not np.shares_memory(ga, gb)
    ga *= 10
    np.testing.assert_array_equal(gb, [1.0, 1.0, 1.0])
