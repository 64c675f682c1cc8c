"""ag.compile: traced once, generated straight-line NumPy afterwards, equal to eager."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import test_core_ops

import autograd_nn as ag
from autograd_nn.compiler import CompileError
from autograd_nn_course import tutorial1 as t1
from autograd_nn_course import tutorial2 as t2


def _assert_tree_close(a, b, rtol=1e-12, atol=1e-12):
    la, _ = ag.tree_flatten(a)
    lb, _ = ag.tree_flatten(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        if isinstance(x, ag.Tensor):
            assert isinstance(y, ag.Tensor)
            x, y = x.data, y.data
        assert type(x) is type(y) or (isinstance(x, np.ndarray) and isinstance(y, np.ndarray))
        assert np.asarray(x).shape == np.asarray(y).shape
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape and x.dtype == y.dtype


# --- the tutorials -----------------------------------------------------------------------------
def test_tutorial1_gradients_and_training_equal_eager():
    check_tutorial1_training("numpy")


def check_tutorial1_training(backend: str) -> None:
    """The first tutorial's gradient compiled on `backend`, then 1500 training steps, equal to
    eager to 1e-12 with one trace."""
    eager = ag.value_and_grad(t1.loss)
    step = ag.compile(eager, backend=backend)
    params = t1.initial_weights(0)
    _assert_tree_close(step(params, t1.X, t1.Y), eager(params, t1.X, t1.Y))
    p_eager, p_comp = dict(params), dict(params)
    for _ in range(1500):
        _, g = eager(p_eager, t1.X, t1.Y)
        p_eager = {k: v - g[k] for k, v in p_eager.items()}
        _, g = step(p_comp, t1.X, t1.Y)
        p_comp = {k: v - g[k] for k, v in p_comp.items()}
    for k in params:
        np.testing.assert_allclose(p_comp[k], p_eager[k], rtol=1e-12, atol=1e-12)
    assert step.traces == 1


def test_tutorial1_source_reads_like_handwritten_backprop():
    step = ag.compile(ag.value_and_grad(t1.loss))
    step(t1.initial_weights(0), t1.X, t1.Y)
    src = step.source
    for line in ("z1 = np.dot(X, weights1)", "layer1 = sigmoid(z1)",
                 "d_z2 = d_h2 * h2 * (1.0 - h2)",
                 "d_weights2 = layer1.T @ d_z2", "d_layer1 = d_z2 @ weights2.T",
                 "d_weights1 = X.T @ d_z1"):
        assert line in src, line
    assert "import autograd_nn" not in src and "from autograd_nn" not in src
    assert "sum_to" not in src and "broadcast_to" not in src and "astype" not in src
    entry = src.split("def loss(")[1]
    body = [ln for ln in entry.splitlines() if ln.startswith("    ") and " = " in ln]
    assert all("#" in ln for ln in body if not ln.strip().startswith(("weights", "X", "Y")))
    assert "tutorial1.py:" in src  # each value says where the user's code created it


def test_tutorial2_fixed_network_gradients_equal_eager():
    eager = ag.value_and_grad(t2.fixed_loss)
    step = ag.compile(eager)
    params = t2.fixed_initial_params(0)
    _assert_tree_close(step(params, t2.X, t2.Y), eager(params, t2.X, t2.Y))


# --- real data: the digits MLP with integer targets that change every batch -------------------
def test_digits_mlp_cross_entropy_batches_and_retrace():
    rng = np.random.default_rng(0)
    sizes = [64, 32, 10]
    params = {f"W{i}": rng.normal(scale=0.3, size=(a, b)) for i, (a, b) in
              enumerate(zip(sizes[:-1], sizes[1:], strict=True))}
    params.update({f"b{i}": np.zeros(b) for i, b in enumerate(sizes[1:])})

    def loss(p, X, y):
        h = ag.relu(X @ p["W0"] + p["b0"])
        return ag.nn.functional.cross_entropy(h @ p["W1"] + p["b1"], y)

    eager = ag.value_and_grad(loss)
    step = ag.compile(eager)
    for batch in range(4):
        n = 32 if batch < 3 else 17  # the last batch is smaller: a new signature
        X = rng.normal(size=(n, 64))
        y = rng.integers(0, 10, size=n)
        _assert_tree_close(step(params, X, y), eager(params, X, y))
    assert step.traces == 2
    assert "y" in step.source and "np.add.at" in step.source


# --- every op of the registry -----------------------------------------------------------------
def _op_cases(rng):
    for name, (f, _, *samplers) in {**test_core_ops.BINARY, **test_core_ops.UNARY}.items():
        yield name, f, [s(rng, (3, 4)) for s in samplers]
    x = rng.normal(size=(2, 3, 4))
    for name, (f, _) in {**test_core_ops.SHAPE_OPS, **test_core_ops.REDUCTIONS,
                         **test_core_ops.SCANS}.items():
        yield name, f, [x]
    yield "where", lambda a: ag.where(a > 0, a, 1.0), [x]
    yield "softmax", ag.softmax, [x]
    yield "log_softmax", ag.log_softmax, [x]
    yield "matmul", lambda a, b: a @ b, [rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5))]
    yield "dot", ag.dot, [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    yield "getitem", lambda a: a[np.array([0, 1, 1]), 1:], [x]
    yield "concatenate", lambda a: ag.concatenate([a, a * 2.0], axis=1), [x]
    yield "stack", lambda a: ag.stack([a, a * 2.0]), [x]
    yield "astype", lambda a: a.astype(np.float32) * 2.0, [x]
    for name, (f, _, shapes) in test_core_ops.CONV.items():
        yield name, f, [rng.normal(size=s) for s in shapes]


def test_every_op_compiles_forward_and_gradient(rng):
    seen = set()
    for _, f, inputs in _op_cases(rng):
        compiled = ag.compile(f)
        _assert_tree_close(compiled(*inputs), f(*[ag.Tensor(a) for a in inputs]))
        w = rng.normal(size=f(*[ag.Tensor(a) for a in inputs]).shape)

        def loss(*xs, f=f, w=w):
            return (f(*xs) * w).sum()

        argnums = tuple(range(len(inputs)))
        _assert_tree_close(ag.compile(ag.grad(loss, argnums))(*inputs),
                           ag.grad(loss, argnums)(*inputs))
        seen |= {t.op for t in ag.engine.topological_order([f(*[ag.Tensor(a, requires_grad=True)
                                                                 for a in inputs])]) if t.op}
    for name, (f, _) in test_core_ops.COMPARISONS.items():
        a, b = rng.integers(0, 3, size=(3, 4)).astype(float), rng.normal(size=4).round()
        _assert_tree_close(ag.compile(f)(a, b), f(ag.Tensor(a), ag.Tensor(b)))
        seen.add(name)
    for name, (f, _) in test_core_ops.NO_GRADIENT.items():
        x = rng.normal(size=(2, 3, 5, 4))
        _assert_tree_close(ag.compile(f)(x), f(ag.Tensor(x)))
        seen.add(name)
    # scatter_add: getitem's backward; take_index / put_add run only under vmap (compiled
    # against eager in tests/test_compile_transforms.py)
    missing = set(ag.PRIMITIVES) - seen - {"scatter_add", "take_index", "put_add"}
    assert not missing, missing


# --- higher order, argnums, has_aux, Modules --------------------------------------------------
def test_second_order_and_hessian_vector_products(rng):
    def f(x):
        return (ag.tanh(x) ** 3).sum() + (ag.sigmoid(x) * x).sum()

    x = rng.normal(size=5)
    _assert_tree_close(ag.compile(ag.grad(ag.grad(lambda x: f(x))))(np.array(0.3)),
                       ag.grad(ag.grad(lambda x: f(x)))(np.array(0.3)))
    v = rng.normal(size=5)

    def hvp(x, v):
        return ag.grad(lambda x: (ag.grad(f)(x) * v).sum())(x)

    _assert_tree_close(ag.compile(hvp)(x, v), hvp(x, v))


def test_argnums_has_aux_and_numbers_are_static(rng):
    def f(a, b, scale):
        out = ((a * b).sum() * scale)
        return out, {"mean_a": ag.mean(a), "scale": scale}

    a, b = rng.normal(size=3), rng.normal(size=3)
    eager = ag.value_and_grad(f, argnums=(0, 1), has_aux=True)
    step = ag.compile(eager)
    _assert_tree_close(step(a, b, 2.0), eager(a, b, 2.0))
    _assert_tree_close(step(a, b, 3.0), eager(a, b, 3.0))  # a new static value: traced again
    assert step.traces == 2


def test_module_through_functional_call(rng):
    model = ag.nn.MLP([3, 8, 2], activation="tanh", rng=0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)

    def loss(params, X, y):
        return ag.nn.functional.cross_entropy(ag.nn.functional_call(model, params, X), y)

    eager = ag.value_and_grad(loss)
    step = ag.compile(eager)
    params = model.state_dict()
    _assert_tree_close(step(params, X, y), eager(params, X, y))
    params2 = {k: v + 0.1 for k, v in params.items()}  # new values, same shapes: no retrace
    _assert_tree_close(step(params2, X, y), eager(params2, X, y))
    assert step.traces == 1


# --- guards and refusals ----------------------------------------------------------------------
def test_control_flow_on_values_is_guarded_and_traced_again():
    def f(x):
        s = x.sum()
        if s > 0:  # a Python branch on a Tensor's value
            return s * 2.0
        return -s

    step = ag.compile(f)
    for x in (np.array([1.0, 2.0]), np.array([3.0, 1.0]), np.array([-1.0, -2.0]),
              np.array([2.0, 2.0])):
        np.testing.assert_array_equal(step(x).data, f(ag.Tensor(x)).data)
    assert step.traces == 2
    assert "SpecialisationError" in step.source and "bool(" in step.source

    def g(x):
        return x * float(x.max())  # a value read with float(): guarded too

    step = ag.compile(g)
    for x in (np.array([1.0, 2.0]), np.array([1.0, 5.0])):
        np.testing.assert_array_equal(step(x).data, g(ag.Tensor(x)).data)
    assert step.traces == 2


def test_closed_over_parameters_and_numpy_side_computations_are_refused(rng):
    w = ag.Tensor(rng.normal(size=3), requires_grad=True, name="w")
    with pytest.raises(CompileError, match=r"'w'\) at test_compile.py:\d+.*pass it as an arg"):
        ag.compile(lambda x: (x * w).sum())(rng.normal(size=3))

    def f(x, idx):
        return x[idx.data[::-1]]  # an index computed with NumPy from an input

    with pytest.raises(CompileError, match=r"'idx'.*NumPy.*getitem at test_compile.py:\d+"):
        ag.compile(f)(rng.normal(size=4), np.array([0, 2]))

    def g(p, y):  # a traced value changed with NumPy and fed back as a constant
        return ag.nn.functional.cross_entropy(p, ag.softmax(y).data[::-1])

    with pytest.raises(CompileError, match=r"softmax created at test_compile.py:\d+"):
        ag.compile(g)(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))


def test_indices_and_values_computed_as_tensors_stay_inputs(rng):
    def f(x, idx):
        return (x[idx[::-1]] * 2.0).sum()  # an index computed with Tensor ops

    def g(p, y):  # a traced value cut off with .detach() and fed back
        return ag.nn.functional.cross_entropy(p, ag.softmax(y).detach())

    def h(p, y):  # the same through .data: the user's code read the values, so they are guarded
        return ag.nn.functional.cross_entropy(p, ag.softmax(y).data)

    for fn, make, traces in (
            (f, lambda: (rng.normal(size=4), rng.integers(0, 4, size=3)), 1),
            (g, lambda: (rng.normal(size=(2, 3)), rng.normal(size=(2, 3))), 1),
            (h, lambda: (rng.normal(size=(2, 3)), rng.normal(size=(2, 3))), 3)):
        step = ag.compile(ag.value_and_grad(fn))
        for _ in range(3):  # new values each call: nothing of the first call is baked in
            args = make()
            _assert_tree_close(step(*args), ag.value_and_grad(fn)(*args))
        assert step.traces == traces


# --- the saved module runs with NumPy alone ---------------------------------------------------
def test_saved_module_runs_where_autograd_nn_cannot_be_imported(tmp_path):
    step = ag.compile(ag.value_and_grad(t1.loss))
    params = t1.initial_weights(0)
    value, grads = step(params, t1.X, t1.Y)
    assert step.save(tmp_path / "tutorial1_step.py").exists()
    np.savez(tmp_path / "inputs.npz", X=t1.X, Y=t1.Y, **params)
    code = f"""
import sys
sys.modules["autograd_nn"] = None  # any import of autograd_nn now fails
sys.path.insert(0, {str(tmp_path)!r})
import numpy as np
import tutorial1_step as m
d = np.load({str(tmp_path / 'inputs.npz')!r})
value, grads = getattr(m, m.__all__[0])({{"weights1": d["weights1"], "weights2": d["weights2"]}},
                                         d["X"], d["Y"])
np.save({str(tmp_path / 'out.npy')!r}, np.concatenate([np.ravel(value), grads["weights1"].ravel(),
                                                        grads["weights2"].ravel()]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "out.npy")
    expected = np.concatenate([np.ravel(value), grads["weights1"].ravel(),
                               grads["weights2"].ravel()])
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(RuntimeError, match="not been called"):
        _ = ag.compile(t1.loss).source


def test_readme_listing_is_what_compile_writes():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    section = readme[readme.index("### Compile"):]
    start = section.index("```text\n") + len("```text\n")
    listing = section[start:section.index("```", start)]
    step = ag.compile(ag.value_and_grad(t1.loss))
    step(t1.initial_weights(0), t1.X, t1.Y)
    for line in listing.strip("\n").splitlines():
        assert line in step.source, line


LOSSES = {
    "sum_of_squares": lambda p, y: ag.nn.functional.sum_of_squares(p, y),
    "mse_loss": lambda p, y: ag.nn.functional.mse_loss(p, y),
    "binary_cross_entropy": lambda p, y: ag.nn.functional.binary_cross_entropy(
        ag.sigmoid(p), (y > 0).astype(np.float64)),
    "binary_cross_entropy_with_logits": lambda p, y: ag.nn.functional.
    binary_cross_entropy_with_logits(p, (y > 0).astype(np.float64)),
    "cross_entropy soft": lambda p, y: ag.nn.functional.cross_entropy(p, ag.softmax(y)),
    "cross_entropy sum": lambda p, y: ag.nn.functional.cross_entropy(
        p, np.array([0, 2, 1, 2]), reduction="sum"),
    "nll_loss": lambda p, y: ag.nn.functional.nll_loss(ag.log_softmax(p), np.array([1, 0, 2, 2])),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_compiles_with_its_gradient(name, rng):
    f = LOSSES[name]
    p, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    eager = ag.value_and_grad(lambda p, y: f(p, y))
    _assert_tree_close(ag.compile(eager)(p, y), eager(p, y))


def test_differentiating_through_a_compiled_function_is_refused(rng):
    f = ag.compile(lambda x: (x * x).sum())
    x = rng.normal(size=3)
    np.testing.assert_allclose(f(x).data, (x * x).sum())
    with pytest.raises(TypeError, match=r"compile the gradient instead|Compile the gradient"):
        ag.grad(f)(x)  # would silently be zero: the generated code records no graph
    g = ag.compile(lambda x: (x * 2.0).sum())
    g(ag.Tensor(x))  # traced with a Tensor argument that needs no grad: fine
    with pytest.raises(TypeError, match="requires grad"):
        g(ag.Tensor(x, requires_grad=True))


def test_compile_of_vmap_agrees_with_eager():
    """Once refused (vmap's rows had no source form); now each op inside vmap is written as its
    batched NumPy, and the result is checked against eager (tests/test_compile_transforms.py
    has the rest, and the refusals that remain)."""
    f = lambda x: ag.vmap(lambda v, i: v[i])(x, np.array([0, 1])).sum()  # noqa: E731
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(ag.compile(f)(x), f(x))
    np.testing.assert_array_equal(ag.compile(f)(x), x[0, 0] + x[1, 1])


@pytest.mark.parametrize("expr", [
    lambda x: (x // 2.0) ** 2, lambda x: -(x // 2.0), lambda x: x * (x // 2.0),
    lambda x: (x < 1.0) == (x > 0.0), lambda x: ((x > 0.0) == (x > 1.0)) == (x > 2.0),
    lambda x: 2.0 ** (x // 2.0), lambda x: (x % 3.0) ** 2])
def test_operators_keep_their_brackets(expr):
    """Python precedence for //, %, comparisons (a chain `a < b < c` is not (a < b) < c)."""
    x = np.array([-3.5, -1.0, 0.0, 0.5, 1.5, 2.5, 7.0])
    np.testing.assert_array_equal(np.asarray(ag.compile(expr)(x)), expr(ag.Tensor(x)).data)


def test_bitwise_operators_keep_their_brackets():
    x = np.arange(-4, 12)
    for expr in (lambda v: (v ^ 3) >> 1, lambda v: v - (v & 1), lambda v: (v | 2) & 5,
                 lambda v: ~(v & 6), lambda v: (v << 2) ^ v, lambda v: v * (v & 3)):
        np.testing.assert_array_equal(np.asarray(ag.compile(expr)(x)), expr(ag.Tensor(x)).data)
