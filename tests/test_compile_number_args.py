"""ag.compile of grad/value_and_grad/jacrev called with Python numbers: the number is an input
(a 0-d float64 array, as the transform makes it eagerly), not a value baked into the code."""

import numpy as np
import pytest

import autograd_nn as ag


def _f(s):
    return (ag.exp(s) ** 2).sum()


@pytest.mark.parametrize("x", [0.5, 2, -1.25, np.float64(0.75), True])
def test_compiled_grad_of_a_number_matches_eager(x):
    c = ag.compile(ag.grad(_f))
    out = c(x)
    want = ag.grad(_f)(x)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64
    np.testing.assert_allclose(out, want, rtol=1e-15)
    np.testing.assert_allclose(out, 2 * np.exp(2 * float(x)), rtol=1e-14)


def test_compiled_grad_number_is_an_input_not_a_constant():
    c = ag.compile(ag.grad(_f))
    for x in (0.5, 1.5, 3, -2):  # float and int: one trace, each value computed
        np.testing.assert_allclose(c(x), 2 * np.exp(2.0 * x), rtol=1e-14)
    np.testing.assert_allclose(c(np.array(0.25)), 2 * np.exp(0.5), rtol=1e-14)
    assert c.traces == 1


def test_compiled_grad_retraces_for_another_value_type():
    c = ag.compile(ag.grad(_f))
    np.testing.assert_allclose(c(0.5), 2 * np.exp(1.0), rtol=1e-14)
    out = c(np.float32(0.5))  # a float32 input: another signature, as eagerly
    assert c.traces == 2 and out.dtype == np.float32
    np.testing.assert_allclose(out, ag.grad(_f)(np.float32(0.5)), rtol=1e-6)
    out = c(np.ones(3))  # an array: another signature again
    assert c.traces == 3 and out.shape == (3,)
    np.testing.assert_allclose(out, 2 * np.exp(2.0 * np.ones(3)), rtol=1e-14)


@pytest.mark.parametrize("x", [0.5, 3])
def test_compiled_value_and_grad_of_a_number(x):
    def f(a, b):
        return a ** 3 * b
    c = ag.compile(ag.value_and_grad(f, argnums=(0, 1)))
    (value, (ga, gb)) = c(x, 2.0)
    want_value, (wa, wb) = ag.value_and_grad(f, argnums=(0, 1))(x, 2.0)
    np.testing.assert_allclose(value, want_value, rtol=1e-15)
    np.testing.assert_allclose(ga, 3 * float(x) ** 2 * 2.0, rtol=1e-14)
    np.testing.assert_allclose(ga, wa, rtol=1e-15)
    np.testing.assert_allclose(gb, wb, rtol=1e-15)
    (value, (ga, gb)) = c(x + 1, 2.0)  # a new value, the same trace
    np.testing.assert_allclose(ga, 3 * float(x + 1) ** 2 * 2.0, rtol=1e-14)
    assert c.traces == 1


def test_compiled_grad_other_number_arguments_stay_static():
    def f(a, n):
        return (a ** n).sum()
    c = ag.compile(ag.grad(f))  # argnums=0: n is not differentiated, stays a static int
    np.testing.assert_allclose(c(2.0, 3), 12.0)
    np.testing.assert_allclose(c(2.0, 4), 32.0)
    assert c.traces == 2


@pytest.mark.parametrize("x", [0.5, 2])
def test_compiled_jacrev_of_a_number(x):
    def f(s):
        return ag.stack([ag.sin(s), s ** 2])
    c = ag.compile(ag.jacrev(f))
    out = c(x)
    np.testing.assert_allclose(out, ag.jacrev(f)(x), rtol=1e-15)
    np.testing.assert_allclose(out, [np.cos(float(x)), 2.0 * x], rtol=1e-14)


def test_compiled_grad_of_a_float_argument_through_linspace():
    c = ag.compile(ag.grad(lambda s: (ag.linspace(s, 2.0, 6) ** 2).sum()))
    np.testing.assert_allclose(c(0.5), ag.grad(lambda s: (ag.linspace(s, 2.0, 6) ** 2).sum())(0.5),
                               rtol=1e-14)
