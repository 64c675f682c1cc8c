"""The engine's classic regressions: fan-out, diamonds, accumulation, depth, dtypes, release."""

from __future__ import annotations

import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd_nn as ag


def test_fan_out_b_equals_a_plus_a():
    a = ag.Tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0
    assert isinstance(a.grad, np.ndarray) and a.grad.shape == ()


def test_polynomial_x_cubed_plus_x():
    x = ag.Tensor(2.0, requires_grad=True)
    y = x * x * x + x
    y.backward()
    assert x.grad == 3 * 2.0**2 + 1


def test_diamond():
    x = ag.Tensor([1.0, -2.0, 0.5], requires_grad=True)
    a = x.exp()
    left = a * 2.0
    right = a.sigmoid()
    y = (left * right).sum()
    y.backward()
    xs = x.data
    s = 1 / (1 + np.exp(-np.exp(xs)))
    expected = 2 * np.exp(xs) * s + 2 * np.exp(xs) * s * (1 - s) * np.exp(xs)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_shared_subexpression_many_consumers():
    x = ag.Tensor(1.5, requires_grad=True)
    h = x * x
    total = sum((h for _ in range(50)), ag.Tensor(0.0))
    total.backward()
    np.testing.assert_allclose(x.grad, 50 * 2 * 1.5)


def test_backward_twice_accumulates_exactly_twice():
    w = ag.Tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0
    y = (h * h).sum()
    y.backward(retain_graph=True)
    first = w.grad.copy()
    y.backward()
    np.testing.assert_allclose(w.grad, 2 * first)
    assert h.grad is None, "intermediate nodes must not keep gradients"


def test_second_backward_through_released_graph_is_a_clear_error():
    w = ag.Tensor([1.0, 2.0], requires_grad=True)
    y = (w.sigmoid() * 2.0).sum()
    y.backward()
    assert y.graph_released
    with pytest.raises(ag.GraphReleasedError, match="retain_graph=True"):
        y.backward()


def test_zero_grad_and_fresh_graph():
    w = ag.Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.zero_grad()
    assert w.grad is None
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_deep_chain_100k_backpropagates_iteratively():
    depth = 100_000
    assert depth > sys.getrecursionlimit()
    x = ag.Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0000001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0000001**depth, rtol=1e-9)


def test_deep_chain_is_freed_after_backward():
    x = ag.Tensor(np.ones(8), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    middle = weakref.ref(y.parents[0].parents[0])
    y.sum().backward()
    gc.disable()
    try:
        assert middle() is None, "intermediate tensors must be released by reference counting"
    finally:
        gc.enable()


def test_dropping_a_deep_graph_does_not_overflow_the_c_stack():
    x = ag.Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(200_000):
        y = y * 1.0
    del y  # freeing a 200,000-deep chain of nodes must not crash


def test_graph_memory_per_op_is_small():
    x = ag.Tensor(np.ones(8), requires_grad=True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_op = (after - before) / 10_000
    assert per_op < 1024, f"{per_op:.0f} bytes per op while the graph is alive"
    del y


def test_float32_stays_float32():
    x = ag.Tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32), requires_grad=True)
    w = ag.Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    y = ((x * 2.0 + 1).sigmoid() @ w).tanh().sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_float32_with_float64_constant_gives_float32_grad():
    x = ag.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * np.array([1.0, 2.0, 3.0])).sum()  # float64 constant promotes the forward
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1, 2, 3])


def test_scalar_reductions_give_ndarrays():
    x = ag.Tensor([[1.0, 2.0]], requires_grad=True)
    s = x.sum()
    assert isinstance(s.data, np.ndarray) and s.shape == ()
    s.backward()
    assert isinstance(x.grad, np.ndarray)


def test_tensor_is_usable_as_dict_key():
    a, b = ag.Tensor([1.0, 2.0]), ag.Tensor([1.0, 2.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"
    assert len({a, b, a}) == 2


def test_no_grad_context_and_decorator():
    w = ag.Tensor([1.0], requires_grad=True)
    with ag.no_grad():
        y = w * 2
    assert not y.requires_grad and y.is_leaf

    @ag.no_grad()
    def f(t):
        return t * 3

    z = f(w)
    assert not z.requires_grad
    assert (w * 2).requires_grad, "grad mode is restored after the block"


def test_constants_get_no_gradient_work():
    x = ag.Tensor([1.0, 2.0], requires_grad=True)
    c = ag.Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_detach_cuts_the_graph():
    x = ag.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, x.data**2)


def test_backward_with_explicit_grad_for_non_scalar():
    x = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 12.0])


def test_max_ties_split_gradient_equally():
    x = ag.Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])
    a = ag.Tensor([1.0, 2.0], requires_grad=True)
    b = ag.Tensor([1.0, 1.0], requires_grad=True)
    ag.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


def test_relu_subgradient_at_zero_is_zero():
    x = ag.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stable_numerics_at_plus_minus_1000(dtype):
    x = ag.Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype), requires_grad=True)
    outputs = [
        x.sigmoid(), x.tanh(), x.softmax(), x.log_softmax(), x.logsumexp(),
        ag.logsumexp(ag.stack([x, x]), axis=0),
    ]
    for out in outputs:
        assert np.isfinite(out.data).all(), out
        assert out.dtype == dtype
    total = sum((o.sum() for o in outputs), ag.Tensor(np.zeros((), dtype)))
    total.backward()
    assert np.isfinite(x.grad).all()
    sig = x.sigmoid().data
    assert sig[0] == 0.0 and sig[-1] == 1.0 and sig[2] == 0.5
    np.testing.assert_allclose(x.softmax().data, [0, 0, 0, 0, 1], atol=1e-30)


def test_logsumexp_all_minus_inf_rows():
    x = ag.Tensor(np.array([[-np.inf, -np.inf], [0.0, 0.0]]))
    out = ag.logsumexp(x, axis=1)
    assert out.data[0] == -np.inf
    np.testing.assert_allclose(out.data[1], np.log(2.0))


def test_graphs_have_no_reference_cycles():
    x = ag.Tensor(np.ones((4, 3)), requires_grad=True)
    w = ag.Tensor(np.ones((3, 2)), requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            loss = (ag.sigmoid(x @ w) ** 2).mean()
            loss.backward(retain_graph=True)
        del loss
        assert gc.collect() == 0, "dropping a graph left cyclic garbage behind"
    finally:
        gc.enable()


def test_memory_stays_flat_across_training_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 16))
    w1 = ag.Tensor(rng.normal(size=(16, 64)), requires_grad=True)
    w2 = ag.Tensor(rng.normal(size=(64, 1)), requires_grad=True)

    def step():
        loss = (ag.tanh(x @ w1) @ w2).mean()
        loss.backward()
        for p in (w1, w2):
            p.data -= 0.01 * p.grad
            p.grad = None
        return loss  # the caller keeps the loss, as training loops often do

    kept = [step() for _ in range(5)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept += [step() for _ in range(200)]
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # Each kept loss may hold its own 0-d value, not its graph's (32, 64) activations.
    assert grown < 200 * 1024, f"memory grew by {grown} bytes over 200 steps"


def test_topological_order_is_iterative_deterministic_and_complete():
    x = ag.Tensor(1.0, requires_grad=True, name="x")
    a = x * 2.0
    b = a + a
    c = b * x
    order = ag.engine.topological_order([c])
    position = {id(t): k for k, t in enumerate(order)}
    assert order[-1] is c and len(order) == len({id(t) for t in order}) == 5
    for t in order:
        for p in t.parents:
            assert position[id(p)] < position[id(t)]
    assert [t.op for t in order] == [t.op for t in ag.engine.topological_order([c])]
    y = x
    for k in range(50_000):
        y = y + float(k % 2 + 1)  # two numbers: two shared constants
    deep = ag.engine.topological_order([y])
    assert len(deep) == 50_003 and len({id(t) for t in deep}) == 50_003
    assert sorted(float(t.data) for t in deep if t.op is None and not t.requires_grad) == [1, 2]


def test_complex_values_cannot_enter_a_graph_that_needs_gradients():
    x = ag.Tensor(2.0, requires_grad=True)
    with pytest.raises(TypeError, match="mul: complex result"):
        x * 1j
    assert (ag.Tensor(2.0) * 1j).dtype.kind == "c"  # without gradients complex math is fine


def test_cast_to_integer_leaves_the_graph():
    x = ag.Tensor([1.7, 2.2], requires_grad=True)
    y = x.astype(np.int64)
    assert not y.requires_grad and y.dtype == np.int64
    (x.astype(np.int64) * 2.5 + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_grad_at_top_level_leaves_a_closed_over_graph_alone():
    w = ag.Tensor(np.ones(3), requires_grad=True)
    h = w * 2
    g = ag.grad(lambda x: (h * x).sum())(np.ones(3))
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])
    h.sum().backward()  # the outer graph was neither run nor released by ag.grad
    np.testing.assert_array_equal(w.grad, [2.0, 2.0, 2.0])


def test_no_grad_decorator_is_reentrant():
    @ag.no_grad()
    def f(n):
        if n:
            f(n - 1)
        return ag.state.is_grad_enabled()

    assert f(3) is False
    assert ag.state.is_grad_enabled()


def test_shape_op_arguments_are_checked():
    t = ag.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="transpose: axis 2 is out of range"):
        t.transpose(1, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        t.transpose(0, 0)
    with pytest.raises(ValueError, match="swapaxes: axis 5"):
        ag.swapaxes(t, 0, 5)
    assert ag.broadcast_to(ag.Tensor(1.0), 3).shape == (3,)


def test_a_python_number_is_one_shared_read_only_constant_per_value_and_dtype():
    x = ag.Tensor(np.ones(2), requires_grad=True)
    x32 = ag.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    a, b = x * 0.5, x * 0.5
    assert a.parents[1] is b.parents[1]  # one leaf for every `* 0.5` on float64
    with pytest.raises(ValueError, match="read-only"):
        a.parents[1].data[...] = 2.0
    assert (x32 * 0.5).parents[1] is not a.parents[1] and (x32 * 0.5).dtype == np.float32
    assert (x * True).parents[1] is (x * 1).parents[1] is (x * 1.0).parents[1]
    assert np.signbit((x * -0.0).data).all() and not np.signbit((x * 0.0).data).any()
    assert np.signbit((x * -0.0).data).all()  # the cached -0.0 stays -0.0
    assert np.isnan((x * float("nan")).data).all()
    assert (x - 1).parents[1] is (x + 1).parents[1]  # one constant 1.0, two ops
    np.testing.assert_array_equal((x - 1).data, [0, 0])


def test_sigmoid_eager_form_is_bit_identical_to_the_compiled_form():
    """The eager sigmoid (copysign, 0-d constants) gives the numbers of the self-contained form
    ag.compile writes, bit for bit, on every float dtype, special values and 0-d inputs."""
    from autograd_nn.core.ops.activations import _sigmoid_eager, _sigmoid_forward

    rng = np.random.default_rng(1)
    for dtype, raw in ((np.float16, np.uint16), (np.float32, np.uint32), (np.float64, np.uint64)):
        info = np.finfo(dtype)
        x = np.concatenate([
            (rng.normal(size=4000) * 50).astype(dtype),
            rng.integers(0, np.iinfo(raw).max, size=20000, dtype=raw).view(dtype),
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, info.max, -info.max, info.tiny,
                      -info.smallest_subnormal], dtype=dtype)])
        with np.errstate(all="ignore"):
            want, got = _sigmoid_forward(x), _sigmoid_eager(x)
        assert got.dtype == want.dtype
        assert np.array_equal(got.view(raw), want.view(raw)), dtype
        for shape in ((), (2, 0)):
            x = np.asarray(rng.normal(size=shape), dtype=dtype)
            want, got = _sigmoid_forward(x), _sigmoid_eager(x)
            assert type(got) is type(want) and np.array_equal(got, want)
    ints = np.array([-3, 0, 5], dtype=np.int8)  # not a float: the compiled form itself runs
    assert np.array_equal(_sigmoid_eager(ints), _sigmoid_forward(ints))


@pytest.mark.parametrize("needs", [(True, False), (False, True), (True, True), (False, False)])
def test_record_keeps_what_the_rules_that_will_run_read(needs):
    """The save plan looked up when an op records: mul by a constant keeps one copy, mul of two
    tensors that need grad keeps both, and a write into a kept array is still caught."""
    from autograd_nn.core.saved import ModifiedInPlaceError

    a, b = np.arange(1.0, 4.0), np.arange(4.0, 7.0)
    x, y = ag.Tensor(a, requires_grad=needs[0]), ag.Tensor(b, requires_grad=needs[1])
    out = x * y
    if not any(needs):
        assert out._saved is None and not out.requires_grad
        return
    assert len(out._saved) == 3 + 2 * sum(needs)  # arrays, result, hold, then (index, copy)s
    kept = a if needs[1] else b  # x's rule reads y and y's reads x
    kept[0] += 1.0
    with pytest.raises(ModifiedInPlaceError, match="mul"):
        out.sum().backward()
