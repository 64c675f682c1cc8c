"""Property tests: random compositions of ops on random broadcastable shapes.

Hypothesis draws a base shape, leaves whose shapes broadcast to it, and a program of unary,
binary and keepdims-reduction steps. The gradient of the program's weighted sum must match
central finite differences for every leaf, and keep each leaf's shape and dtype.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numeric import numeric_grad

import autograd_nn as ag

UNARY = {
    "tanh": ag.tanh,
    "sigmoid": ag.sigmoid,
    "exp_tanh": lambda x: ag.exp(ag.tanh(x)),
    "square": lambda x: x * x,
    "log1p_sq": lambda x: ag.log1p(x * x),
    "neg_scale": lambda x: -0.5 * x,
    "arctan": ag.arctan,
    "softplus": ag.softplus,
    "gelu": ag.gelu,
    "silu": ag.silu,
    "erf": ag.erf,
    "cosh_tanh": lambda x: ag.cosh(ag.tanh(x)),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.0 + b * b),
}
AXIS_OPS = {
    "sum": lambda x, ax: x.sum(axis=ax, keepdims=True),
    "mean": lambda x, ax: x.mean(axis=ax, keepdims=True),
    "logsumexp": lambda x, ax: ag.logsumexp(x, axis=ax, keepdims=True),
    "softmax": lambda x, ax: ag.softmax(x, axis=ax),
    "log_softmax": lambda x, ax: ag.log_softmax(x, axis=ax),
    "var": lambda x, ax: ag.var(x, axis=ax, keepdims=True),
    "prod": lambda x, ax: ag.prod(ag.tanh(x), axis=ax, keepdims=True),
    "cumsum": lambda x, ax: ag.cumsum(x, ax),
    "cumprod": lambda x, ax: ag.cumprod(ag.tanh(x), ax),
}


@st.composite
def programs(draw):
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    n_leaves = draw(st.integers(1, 3))
    leaf_shapes = []
    for _ in range(n_leaves):
        drop = draw(st.integers(0, len(base)))
        shape = tuple(1 if draw(st.booleans()) else n for n in base[drop:])
        leaf_shapes.append(shape)
    steps = []
    n_values = n_leaves
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "axis"]))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))),
                          draw(st.integers(0, n_values - 1))))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))),
                          draw(st.integers(0, n_values - 1)), draw(st.integers(0, n_values - 1))))
        else:
            steps.append(("axis", draw(st.sampled_from(sorted(AXIS_OPS))),
                          draw(st.integers(0, n_values - 1)), draw(st.integers(0, 7))))
        n_values += 1
    seed = draw(st.integers(0, 2**32 - 1))
    return base, leaf_shapes, steps, seed


def _run(steps, leaves):
    values = list(leaves)
    for step in steps:
        if step[0] == "unary":
            values.append(UNARY[step[1]](values[step[2]]))
        elif step[0] == "binary":
            values.append(BINARY[step[1]](values[step[2]], values[step[3]]))
        else:
            x = values[step[2]]
            if x.ndim == 0:
                values.append(x * 1.0)
            else:
                values.append(AXIS_OPS[step[1]](x, step[3] % x.ndim))
    return values[-1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_compositions_match_finite_differences(program):
    base, leaf_shapes, steps, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in leaf_shapes]
    leaves = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = _run(steps, leaves)
    weights = rng.normal(size=out.shape)
    (out * weights).sum().backward()

    def f(*xs):
        with ag.no_grad():
            return float((_run(steps, [ag.Tensor(x) for x in xs]) * weights).sum().item())

    for i, leaf in enumerate(leaves):
        if leaf.grad is None:  # the program did not use this leaf
            np.testing.assert_allclose(numeric_grad(f, arrays, i), 0.0, atol=1e-7)
            continue
        assert leaf.grad.shape == leaf.shape and leaf.grad.dtype == leaf.dtype
        np.testing.assert_allclose(leaf.grad, numeric_grad(f, arrays, i), rtol=1e-5, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_compositions_float32_keeps_dtype(program):
    base, leaf_shapes, steps, seed = program
    rng = np.random.default_rng(seed)
    leaves = [ag.Tensor(rng.normal(size=s).astype(np.float32), requires_grad=True)
              for s in leaf_shapes]
    out = _run(steps, leaves)
    assert out.dtype == np.float32
    out.sum().backward()
    for leaf in leaves:
        assert leaf.grad is None or leaf.grad.dtype == np.float32


@settings(max_examples=60, deadline=None)
@given(programs())
def test_functional_grad_equals_backward(program):
    base, leaf_shapes, steps, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in leaf_shapes]
    grads = ag.grad(lambda *xs: _run(steps, list(xs)).sum(),
                    argnums=tuple(range(len(arrays))))(*arrays)
    leaves = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = _run(steps, leaves).sum()
    out.backward()
    for g, leaf in zip(grads, leaves, strict=True):
        expected = leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_compositions_second_order_matches_finite_differences_of_grad(program):
    base, leaf_shapes, steps, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in leaf_shapes]
    weights = rng.normal(size=_run(steps, [ag.Tensor(a) for a in arrays]).shape)
    direction = rng.normal(size=leaf_shapes[0])

    def f(x0):
        return (_run(steps, [x0, *arrays[1:]]) * weights).sum()

    def grad_along(x0):
        return (ag.grad(f)(x0) * direction).sum()

    hvp = ag.grad(grad_along)(arrays[0])
    eps = 1e-5
    fd = (ag.grad(f)(arrays[0] + eps * direction) - ag.grad(f)(arrays[0] - eps * direction)) / (
        2 * eps
    )
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-6)
