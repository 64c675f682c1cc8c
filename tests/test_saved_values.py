"""Writes into values a live graph saved are caught; rebinding and optimizer steps stay right."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import test_core_ops

import autograd_nn as ag
from autograd_nn.core import saved
from autograd_nn.core.ops.registry import PRIMITIVES

LARGE = (64, 64)  # 32 KiB of float64: above saved.SMALL, so held read-only instead of copied


def test_small_write_between_forward_and_backward_is_named_at_backward():
    w = ag.Tensor(np.ones((3, 4)), requires_grad=True, name="weights1")
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), name="inputs")  # read by the rule for w
    loss = ag.sigmoid(ag.dot(x, w)).sum()
    x.data[0, 0] = 5.0  # the forward read the old value
    with pytest.raises(ag.ModifiedInPlaceError) as err:
        loss.backward()
    message = str(err.value)
    assert "dot" in message and "'inputs'" in message and "(2, 3) float64" in message
    assert "after backward()" in message


def test_a_write_no_rule_reads_changes_no_gradient():
    """An op keeps only what the rules of inputs that need a gradient read: dot's rule for w
    reads x, not w, so a write into w after the forward leaves w's gradient as it was."""
    x = np.arange(6.0).reshape(2, 3)

    def run(write: bool) -> np.ndarray:
        w = ag.Tensor(np.ones((3, 4)), requires_grad=True)
        loss = ag.sigmoid(ag.dot(x, w)).sum()
        if write:
            w.data[0, 0] = 5.0
        loss.backward()
        return w.grad

    np.testing.assert_array_equal(run(True), run(False))


def test_a_write_into_the_users_own_array_is_caught_too():
    arr = np.linspace(0.1, 1.0, 4)
    x = ag.Tensor(arr, requires_grad=True)
    y = (x * x).sum()
    if x.data is arr:  # the tensor wraps the caller's array without copying
        arr += 1.0
        with pytest.raises(ag.ModifiedInPlaceError, match="mul"):
            y.backward()
    else:
        arr += 1.0
        y.backward()
        np.testing.assert_array_equal(x.grad, 2 * np.linspace(0.1, 1.0, 4))


def test_a_write_into_a_result_that_backward_reads_is_named():
    x = ag.Tensor(np.array([0.1, 0.2]), requires_grad=True)
    e = ag.exp(x)
    loss = e.sum()
    e.data[:] = 0.0  # exp's rule reads its own result
    with pytest.raises(ag.ModifiedInPlaceError, match="the result of exp"):
        loss.backward()


def test_large_saved_arrays_are_read_only_while_the_graph_lives(rng):
    w = ag.Tensor(rng.normal(size=LARGE), requires_grad=True)
    loss = (w * w).sum()
    with pytest.raises(ValueError, match="read-only"):
        w.data[0, 0] = 1.0
    loss.backward()
    w.data[0, 0] = 1.0  # released by backward: writable again
    loss2 = ag.tanh(w).sum()
    del loss2  # a graph dropped without backward lets go too
    w.data -= 0.1 * w.grad
    assert w.data.flags.writeable and not saved._counts


def test_retain_graph_keeps_the_hold_until_the_graph_is_dropped(rng):
    w = ag.Tensor(rng.normal(size=LARGE), requires_grad=True)
    loss = ag.sin(w).sum()  # sin's rule reads its input
    loss.backward(retain_graph=True)
    assert not w.data.flags.writeable
    del loss
    assert w.data.flags.writeable


def test_small_retained_graph_sees_a_write_before_its_second_backward():
    w = ag.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    w.data += 1.0  # legal for the first backward, not for the graph kept for a second one
    with pytest.raises(ag.ModifiedInPlaceError):
        loss.backward()


@pytest.mark.parametrize("shape", [(3,), LARGE])
def test_rebinding_data_keeps_the_gradient_of_the_forward(shape, rng):
    start = rng.normal(size=shape)
    w = ag.Tensor(start.copy(), requires_grad=True)
    loss = (w * w).sum()
    w.data = w.data + 10.0  # a new array: the graph still has the one it read
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2 * start)


@pytest.mark.parametrize("shape", [(4, 3), LARGE])
@pytest.mark.parametrize("make", [lambda p: ag.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: ag.optim.Adam(p, lr=0.1)])
def test_optimizers_step_while_another_graph_still_reads_the_parameter(shape, make, rng):
    start = rng.normal(size=shape)
    w = ag.Tensor(start.copy(), requires_grad=True)
    opt = make([w])
    held = (ag.sin(w) * 2).sum()  # a graph the caller keeps, backpropagated later
    (w * w).sum().backward()
    opt.step()
    assert not np.array_equal(w.data, start)
    w.grad = None
    held.backward()
    np.testing.assert_allclose(w.grad, 2 * np.cos(start), rtol=1e-12)
    assert w.data.dtype == start.dtype


def test_float32_parameter_stays_float32_when_stepped_by_rebinding(rng):
    w = ag.Tensor(rng.normal(size=LARGE).astype(np.float32), requires_grad=True)
    held = (w * w).sum()
    w.grad = np.ones(LARGE)  # a float64 gradient
    ag.optim.SGD([w], lr=0.1).step()
    assert w.data.dtype == np.float32
    del held


def test_arrays_read_only_before_stay_read_only(rng):
    arr = rng.normal(size=LARGE)
    arr.flags.writeable = False
    w = ag.Tensor(arr, requires_grad=True)
    (w * w).sum().backward()
    assert not arr.flags.writeable


def test_a_view_holds_its_base_read_only(rng):
    big = rng.normal(size=(128, 64))
    x = ag.Tensor(big[:, :], requires_grad=True)  # a view of the caller's array
    loss = (x * x).sum()
    if x.data.base is big:
        with pytest.raises(ValueError, match="read-only"):
            big[0, 0] = 3.0
    loss.backward()
    big[0, 0] = 3.0
    assert not saved._counts


def test_small_view_written_through_its_base_is_caught():
    base = np.linspace(0.0, 1.0, 8)
    x = ag.Tensor(base[2:6], requires_grad=True)
    loss = (x * x).sum()
    if x.data.base is base:
        base[3] = 10.0
        with pytest.raises(ag.ModifiedInPlaceError):
            loss.backward()


def test_tutorial_style_updates_after_backward_keep_working(rng):
    weights = ag.Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    big = ag.Tensor(rng.normal(size=LARGE), requires_grad=True)
    for _ in range(3):
        loss = (ag.sigmoid(weights) ** 2).sum() + (ag.tanh(big) ** 2).sum()
        loss.backward()
        weights.data -= 0.1 * weights.grad
        big.data -= 0.1 * big.grad
        weights.grad = big.grad = None
    assert not saved._counts


def test_functional_grad_releases_the_callers_arrays(rng):
    x = rng.normal(size=LARGE)
    g = ag.grad(lambda v: (ag.tanh(v) * v).sum())(x)
    assert g.shape == LARGE and x.flags.writeable and not saved._counts


def test_two_threads_share_a_large_parameter(rng):
    w = ag.Tensor(rng.normal(size=LARGE), requires_grad=True)
    errors = []

    def train():
        try:
            for _ in range(50):
                ag.grad(lambda v: (ag.tanh(v) * w).sum())(np.ones(LARGE))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not saved._counts and w.data.flags.writeable


# --- which values each row's backward reads -----------------------------------------------
def _garbage(value, rng):
    return np.asarray(rng.normal(size=np.shape(value)) * 1e3, dtype=np.asarray(value).dtype)


def test_every_rule_reads_no_value_the_analysis_calls_unread(rng):
    """Replace each value a row is said not to read with garbage: its rules give the same."""
    checked = set()
    for out in test_core_ops.table_runs(rng):
        for node in ag.engine.topological_order([out]):
            prim = node._op
            if prim is None or not node.requires_grad:
                continue
            if prim.saves is None:
                prim.find_reads()
            ins = [p.data for p in node._parents]
            read = range(len(ins)) if prim.read_inputs is None else prim.read_inputs
            fake_ins = [x if i in read else _garbage(x, rng) for i, x in enumerate(ins)]
            fake_ans = node.data if prim.reads_ans else _garbage(node.data, rng)
            g = rng.normal(size=node.shape)
            params = node._params or {}
            for i in range(len(ins)):
                rule = prim.vjps[0] if prim.variadic else prim.vjps[i]
                if rule is None:
                    continue
                args = (i,) if prim.variadic else ()
                real = rule(*args, g, node.data, *ins, **params)
                fake = rule(*args, g, fake_ans, *fake_ins, **params)
                np.testing.assert_array_equal(np.asarray(real), np.asarray(fake),
                                              err_msg=f"{prim.name} input {i}")
            checked.add(prim.name)
    differentiable = {n for n, p in PRIMITIVES.items() if any(r is not None for r in p.vjps)}
    assert differentiable - checked <= {"pow_tensor", "scatter_add", "sum_to", "dot"} - checked


def test_the_analysis_keeps_only_what_is_needed():
    expect = {"add": (False, ()), "sum": (False, ()), "reshape": (False, ()),
              "exp": (True, ()), "mul": (False, (0, 1)), "div": (True, (1,)),
              "concatenate": (False, ()), "where": (False, (0,))}
    for name, (ans, inputs) in expect.items():
        prim = PRIMITIVES[name]
        prim.find_reads()
        assert (prim.reads_ans, prim.read_inputs) == (ans, inputs), name
    assert not PRIMITIVES["add"].saves and PRIMITIVES["mul"].saves


def test_a_read_only_write_under_our_calls_is_explained(rng, tmp_path):
    """issue 22: NumPy's bare "assignment destination is read-only" gets the reason and the fix
    where the write runs under grad, a Module's forward or the loss the command runs."""
    from autograd_nn.core.readonly import ReadOnlyWriteError
    from autograd_nn.userfile import UserFileError, load_loss

    table = rng.normal(size=LARGE)  # held read-only by the graph of table @ w
    w = ag.Tensor(rng.normal(size=(64, 2)), requires_grad=True)

    def loss_then_write(w):
        loss = (table @ w).sum()
        table[0, 0] = 0.0
        return loss

    for run, where in [(lambda: ag.grad(loss_then_write)(w.data),
                        "in loss_then_write, run by grad"),
                       (lambda: ag.value_and_grad(loss_then_write)(w.data), "run by grad")]:
        with pytest.raises(ReadOnlyWriteError) as err:
            run()
        message = str(err.value)
        assert message.startswith("assignment destination is read-only") and where in message
        assert "live graph" in message and "after backward()" in message
        assert "x = x.copy()" in message and "p.data = p.data - lr * p.grad" in message
        assert isinstance(err.value, ValueError)  # existing handlers still catch it

    class WritesIntoItsInput(ag.nn.Module):
        def forward(self, w):
            return loss_then_write(w)

    with pytest.raises(ReadOnlyWriteError, match=r"read-only in WritesIntoItsInput.forward: .*"
                                                 r"after backward\(\)"):
        WritesIntoItsInput()(w)
    model = tmp_path / "model.py"
    model.write_text("import numpy as np\nimport autograd_nn as ag\n\n"
                     "def loss():\n"
                     "    x = np.ones((64, 64))\n"
                     "    w = ag.Tensor(np.ones((64, 1)), requires_grad=True)\n"
                     "    out = (x @ w).sum()\n"
                     "    x[0] = 2.0\n"
                     "    return out\n")
    with pytest.raises(UserFileError, match=r"loss failed: ReadOnlyWriteError: .*live graph"):
        load_loss(f"{model}:loss")
    # other ValueErrors pass through as they are
    with pytest.raises(ValueError, match="^boom$"):
        ag.grad(lambda v: (_ for _ in ()).throw(ValueError("boom")))(1.0)
    table.flags.writeable = True
