"""ag.compile(f, backend="numba" | "jax"): the same generated source run by numba or JAX,
equal to eager, or refused by a CompileError naming the op and the user's line."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
from test_compile import _assert_tree_close, _op_cases, check_tutorial1_training

import autograd_nn as ag
from autograd_nn.compiler import CompileError, backends
from autograd_nn_course import tutorial1 as t1
from autograd_nn_course import tutorial2 as t2

BACKENDS = ["numba", "jax"]
# rows of _op_cases (forward and gradient) each backend runs, measured: a floor, so that an op
# that stops running is noticed (numba lacks keepdims, axis forms of max, einsum, np.pad ...)
RUNS_AT_LEAST = {"numba": 220, "jax": 266}
# numba compiles each kernel for about a second: the whole matrix (about 500 kernels, 4 min on
# 2 cores) runs with AUTOGRAD_NN_FULL_MATRIX=1 (`make test-backends`); `make test` runs the
# common ops' gradients once and every 24th row of the rest, which notices a broken backend
FULL_MATRIX = os.environ.get("AUTOGRAD_NN_FULL_MATRIX") == "1"
COMMON = {"add", "mul", "exp", "tanh", "sigmoid", "relu", "sum", "mean", "matmul", "dot",
          "softmax", "log_softmax", "getitem", "transpose", "reshape"}


@pytest.fixture(params=BACKENDS)
def backend(request):
    pytest.importorskip(request.param)
    return request.param


def test_every_op_row_agrees_with_eager_or_is_refused_by_name(backend, rng):
    ran, refused = [], []
    sampled = backend == "numba" and not FULL_MATRIX
    seen: set[str] = set()
    for k, (name, f, inputs) in enumerate(_op_cases(rng)):
        w = rng.normal(size=f(*[ag.Tensor(a) for a in inputs]).shape)
        if sampled and (name in seen or (name not in COMMON and k % 24)):
            continue
        seen.add(name)

        def loss(*xs, f=f, w=w):
            return (f(*xs) * w).sum()

        argnums = tuple(range(len(inputs)))
        rows = [("forward", f, lambda *xs, f=f: f(*[ag.Tensor(a) for a in xs])),
                ("gradient", ag.grad(loss, argnums), ag.grad(loss, argnums))]
        for kind, fn, eager in rows:
            if sampled and kind == "forward" and name in COMMON:
                continue  # the gradient row runs the forward too
            try:
                out = ag.compile(fn, backend=backend)(*inputs)
            except CompileError as e:
                message = str(e)
                assert f"backend={backend!r}" in message and "the op " in message, message
                assert "backend='numpy'" in message, message
                refused.append((name, kind))
                continue
            _assert_tree_close(out, eager(*inputs))
            ran.append((name, kind))
    print(f"{backend}: {len(ran)} rows run, {len(refused)} refused: {refused}")
    if not sampled:
        assert len(ran) >= RUNS_AT_LEAST[backend], (len(ran), refused)
    else:  # the sample keeps the full matrix's ratio of refusals, give or take
        assert len(ran) >= 0.7 * (len(ran) + len(refused)), (len(ran), refused)
    assert not COMMON & {name for name, _ in refused}, refused


def test_tutorial1_training_equals_eager(backend):
    check_tutorial1_training(backend)


def test_tutorial2_gradients_equal_eager(backend):
    eager = ag.value_and_grad(t2.fixed_loss)
    step = ag.compile(eager, backend=backend)
    params = t2.fixed_initial_params(0)
    _assert_tree_close(step(params, t2.X, t2.Y), eager(params, t2.X, t2.Y))


def test_digits_mlp_with_integer_targets_changing_per_batch(backend):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X_all, y_all = digits.data / 16.0, digits.target
    rng = np.random.default_rng(0)
    sizes = [64, 128, 64, 10]
    params = {f"W{i}": rng.normal(scale=0.3, size=(a, b)) for i, (a, b) in
              enumerate(zip(sizes[:-1], sizes[1:], strict=True))}
    params.update({f"b{i}": np.zeros(b) for i, b in enumerate(sizes[1:])})

    def loss(p, X, y):
        h = ag.relu(X @ p["W0"] + p["b0"])
        h = ag.relu(h @ p["W1"] + p["b1"])
        return ag.nn.functional.cross_entropy(h @ p["W2"] + p["b2"], y)

    eager = ag.value_and_grad(loss)
    step = ag.compile(eager, backend=backend)
    for batch in range(4):
        rows = rng.choice(len(y_all), size=32 if batch < 3 else 17, replace=False)
        X, y = X_all[rows], y_all[rows]  # new targets every batch, a smaller last batch
        _assert_tree_close(step(params, X, y), eager(params, X, y))
    assert step.traces == 2
    assert "kernel" in step.source


def test_guards_still_trace_again(backend, rng):
    scale = {"value": 2.0}

    def f(x):
        return (ag.tanh(x) * scale["value"]).sum()

    step = ag.compile(ag.grad(f), backend=backend)
    x = rng.normal(size=(3, 4))
    _assert_tree_close(step(x), ag.grad(f)(x))
    x5 = rng.normal(size=(5, 4))
    _assert_tree_close(step(x5), ag.grad(f)(x5))  # a new shape: traced again
    assert step.traces == 2
    scale["value"] = 3.0  # a changed closure value: traced again, not the old constant
    _assert_tree_close(step(x), ag.grad(f)(x))
    assert step.traces == 3

    def g(x):
        s = x.sum()
        return s * 2.0 if s > 0 else -s  # a branch on a value: checked after the kernel

    branch = ag.compile(g, backend=backend)
    pos, neg = np.abs(x), -np.abs(x)
    _assert_tree_close(branch(pos), g(ag.Tensor(pos)))
    _assert_tree_close(branch(neg), g(ag.Tensor(neg)))
    assert branch.traces == 2


def test_source_shows_the_kernel_each_backend_runs(backend):
    step = ag.compile(ag.value_and_grad(t1.loss), backend=backend)
    step(t1.initial_weights(0), t1.X, t1.Y)
    src = step.source
    kernel = src.split("def loss_kernel(")[1].split("\ndef ")[0]
    if backend == "numba":
        assert "@numba.njit(cache=True)\ndef loss_kernel(" in src
        # (4, 3) @ (3, 4): three loops, which numba runs faster than a call into BLAS
        assert "z1 = small_matmul(X, weights1)  # dot:" in kernel
        assert "d_weights1 = small_matmul(X.T, d_z1)  # matmul:" in kernel
        assert "def small_matmul(a, b):" in src
    else:
        assert "@jax.jit\ndef loss_kernel(" in src and "jax.enable_x64(True)" in src
        assert "z1 = jnp.dot(X, weights1)" in kernel and not re.search(r"(?<!j)np\.", kernel)
    assert "SpecialisationError" not in kernel  # the checks stay in the Python wrapper
    default = ag.compile(ag.value_and_grad(t1.loss))
    default(t1.initial_weights(0), t1.X, t1.Y)
    assert "kernel" not in default.source and "needs only NumPy" in default.source


def test_numba_kernel_is_cached_on_disk(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setenv("AUTOGRAD_NN_CACHE", str(tmp_path))
    step = ag.compile(ag.grad(t1.loss), backend="numba")
    step(t1.initial_weights(0), t1.X, t1.Y)
    modules = list((tmp_path / "numba").glob("compiled_loss_*.py"))
    assert len(modules) == 1 and modules[0].read_text() == step.source
    assert list((tmp_path / "numba" / "__pycache__").glob("*loss_kernel*.nbi"))


def test_jax_keeps_float64_and_leaves_the_global_flag_alone(rng):
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    x = rng.normal(size=(4, 3))
    out = ag.compile(ag.grad(lambda x: (ag.exp(x) * x).sum()), backend="jax")(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    _assert_tree_close(out, ag.grad(lambda x: (ag.exp(x) * x).sum())(x))
    assert jax.config.jax_enable_x64 == before


def test_unknown_backend_and_missing_package_name_what_to_do(monkeypatch):
    with pytest.raises(ValueError, match="'numpy', 'numba', 'jax'"):
        ag.compile(t1.loss, backend="torch")
    monkeypatch.setitem(sys.modules, "numba", None)  # as if numba were not installed
    with pytest.raises(ImportError, match=r"pip install 'autograd_nn\[numba\]'"):
        ag.compile(t1.loss, backend="numba")
    with pytest.raises(ImportError, match=r"autograd_nn\[numba\]"):
        backends.check("numba")


def test_boolean_mask_is_refused_in_user_terms(backend, rng):
    x = rng.normal(size=(3, 4))
    step = ag.compile(lambda x: x[x > 0].sum(), backend=backend)
    with pytest.raises(CompileError, match="boolean mask.*backend='numpy'"):
        step(x)



def test_an_input_returned_comes_back_as_a_new_array(backend):
    x = np.arange(3.0)
    out, total = ag.compile(lambda x: (x * 1.0, (x * 2.0).sum()), backend=backend)(x)
    assert not np.shares_memory(out.data, x) and float(total.data) == 6.0
    _assert_tree_close(out.data, x)


def test_numba_writes_small_float_products_as_loops_and_big_ones_through_blas(rng):
    pytest.importorskip("numba")
    small, big = rng.normal(size=(5, 4)), rng.normal(size=(40, 60))

    def f(a, b):
        return ag.tanh(a @ b).sum()

    for a, b, form in ((small, small.T, "small_matmul(a, b)"), (big, big.T, "a @ b"),
                       (small.astype(np.float32), small.T.astype(np.float32),
                        "small_matmul(a, b)")):
        step = ag.compile(ag.grad(f, (0, 1)), backend="numba")
        _assert_tree_close(step(a, b), ag.grad(f, (0, 1))(a, b),
                           **({} if a.dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)))
        assert form in step.source.split("_kernel(")[1]  # the kernel itself


def test_numba_refuses_a_kernel_that_computes_float32_in_float64(rng):
    """numba types a bare float constant as float64; a kernel that widens a float32 value
    would return other numbers than eager, so it is refused naming the value, never run."""
    pytest.importorskip("numba")
    x = rng.normal(size=(3, 4)).astype(np.float32)
    step = ag.compile(ag.grad(lambda x: (ag.mish(x) * 1.5).sum()), backend="numba")
    with pytest.raises(CompileError, match=r"numba computes \w+ .* in float64, where eager "
                                           r"gives float32"):
        step(x)
    again = ag.compile(ag.grad(lambda x: (ag.mish(x) * 1.5).sum()), backend="numba")
    with pytest.raises(CompileError, match="in float64, where eager gives float32"):
        again(x)  # the kernel now comes from numba's disk cache: still checked
    sig = ag.compile(ag.grad(lambda x: (ag.sigmoid(x) * 1.5).sum()), backend="numba")
    got = sig(x)
    assert got.dtype == np.float32
    _assert_tree_close(got, ag.grad(lambda x: (ag.sigmoid(x) * 1.5).sum())(x), rtol=1e-6,
                       atol=1e-7)
