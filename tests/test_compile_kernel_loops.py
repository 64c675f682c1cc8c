"""`ag.compile(ag.iterate(step, n), backend="numba" | "jax")`: the n steps inside one kernel (a
numba `for` loop, a `jax.lax.fori_loop` under one `jax.jit`), equal to the eager loop and to the
NumPy backend; skipped where the backend's package is missing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_compile_transforms import _adam_step, _eager_adam, _eager_sgd, _sgd_step

import autograd_nn as ag
from autograd_nn import optim
from autograd_nn.compiler import CompileError
from autograd_nn_course import tutorial1 as t1

TIGHT = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(params=["numba", "jax"])
def backend(request):
    pytest.importorskip(request.param)
    return request.param


def _close(got, want, **tol):
    got_leaves, want_leaves = ag.tree_flatten(got)[0], ag.tree_flatten(want)[0]
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        g = np.asarray(g.data if isinstance(g, ag.Tensor) else g)
        w = np.asarray(w.data if isinstance(w, ag.Tensor) else w)
        assert type(g) is np.ndarray and g.flags.writeable
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, **(tol or TIGHT))


def _kernel(source: str) -> str:
    """The generated kernel function's text."""
    return re.search(r"\ndef \w+_kernel\(.*?(?=\n\n\n|\Z)", source, re.S).group(0)


def test_1500_sgd_steps_in_one_kernel_equal_the_eager_loop(backend):
    params = t1.initial_weights(0)
    want = _eager_sgd(params, t1.ITERATIONS)
    compiled = ag.compile(ag.iterate(_sgd_step, t1.ITERATIONS, history=True), backend=backend)
    got = compiled(params, t1.X, t1.Y)
    _close(got, want)
    _close(got, ag.compile(ag.iterate(_sgd_step, t1.ITERATIONS, history=True))(
        params, t1.X, t1.Y))
    assert want[1][-1] < 0.05 * want[1][0]  # it trained
    _close(compiled(params, t1.X, t1.Y), got)  # the inputs were not changed
    assert compiled.traces == 1
    kernel = _kernel(compiled.source)
    if backend == "numba":
        assert len(re.findall(r"^ +for step_number in range\(1500\):", kernel, re.M)) == 1
    else:
        assert "jax.lax.fori_loop(0, 1500, one_step," in kernel
    assert kernel.count("(X, weights1)") == 1  # the step written once, not unrolled


def test_adam_1500_steps_carry_a_0d_step_counter(backend):
    params = t1.initial_weights(1)
    state = optim.adam_init(params)
    want = _eager_adam(params, state, t1.ITERATIONS)
    got = ag.compile(ag.iterate(_adam_step, t1.ITERATIONS, carry=2), backend=backend)(
        params, state, t1.X, t1.Y)
    _close(got, want)
    assert int(got[1]["step"]) == t1.ITERATIONS and got[1]["step"].shape == ()


def test_sgd_with_momentum_in_float32(backend):
    params = {k: v.astype(np.float32) for k, v in t1.initial_weights(2).items()}
    X, Y = t1.X.astype(np.float32), t1.Y.astype(np.float32)

    def step(params, state, X, Y):
        grads = ag.grad(t1.loss)(params, X, Y)
        return optim.sgd_update(params, grads, state, lr=0.1, momentum=0.9)

    want = (params, optim.sgd_init(params))
    for _ in range(200):
        want = step(*want, X, Y)
    got = ag.compile(ag.iterate(step, 200, carry=2), backend=backend)(
        params, optim.sgd_init(params), X, Y)
    _close(got, want, rtol=2e-5, atol=1e-6)  # float32: BLAS and loops round differently


def test_zero_steps_return_new_arrays_equal_to_the_inputs(backend):
    params = t1.initial_weights(0)
    got = ag.compile(ag.iterate(lambda p, X, Y: _sgd_step(p, X, Y)[0], 0), backend=backend)(
        params, t1.X, t1.Y)
    _close(got, params)
    assert not any(np.shares_memory(got[k], params[k]) for k in params)


def test_a_swap_of_two_carried_values_is_right(backend):
    def step(a, b, x):
        return b * x, a

    a, b, x = np.arange(3.0), np.ones(3), np.full(3, 2.0)
    want = ag.iterate(step, 5, carry=2)(a, b, x)
    got = ag.compile(ag.iterate(step, 5, carry=2), backend=backend)(a, b, x)
    _close(got, want)
    assert not np.shares_memory(got[0], a) and not np.shares_memory(got[1], b)


def test_a_carry_that_becomes_a_constant(backend):
    def step(w, x):
        return ag.Tensor(np.ones(3)) + 0 * w

    looped = ag.compile(ag.iterate(lambda w, x: ag.Tensor(np.ones(3)), 2), backend=backend)
    first = looped(np.zeros(3), np.ones(3))
    first.data[0] = 5.0  # the caller's own array: a later call is unchanged
    np.testing.assert_array_equal(looped(np.zeros(3), np.ones(3)).data, np.ones(3))
    _close(ag.compile(ag.iterate(step, 3), backend=backend)(np.zeros(3), np.ones(3)),
           ag.iterate(step, 3)(np.zeros(3), np.ones(3)))


def test_a_new_shape_traces_again_and_keeps_the_old_one(backend):
    def step(w, x):
        return w - 0.1 * ag.grad(lambda v: (ag.tanh(x @ v) ** 2).sum())(w)

    looped = ag.compile(ag.iterate(step, 3), backend=backend)
    for rows in (4, 6, 4):
        w, x = np.ones((3, 2)), np.linspace(-1, 1, rows * 3).reshape(rows, 3)
        _close(looped(w, x), ag.iterate(step, 3)(w, x))
    assert looped.traces == 2


def test_a_step_reading_a_value_is_refused_on_a_kernel_backend(backend):
    def step(w, x):
        if ((x @ w) ** 2).sum().item() > 1.0:
            return w * 0.5
        return w

    with pytest.raises(CompileError, match=r"reads the value of a Tensor"):
        ag.compile(ag.iterate(step, 10), backend=backend)(np.ones((3, 2)), np.ones((4, 3)))


def test_the_loop_source_runs_as_a_saved_module(backend, tmp_path):
    looped = ag.compile(ag.iterate(_sgd_step, 20, history=True), backend=backend)
    params = t1.initial_weights(0)
    want = looped(params, t1.X, t1.Y)
    path = looped.save(tmp_path / "loop.py")
    namespace: dict = {"__name__": "saved_loop"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 (our file)
    _close(namespace[looped.source.split("__all__ = ['")[1].split("'")[0]](params, t1.X, t1.Y),
           want)
