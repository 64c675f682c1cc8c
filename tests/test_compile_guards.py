"""ag.compile's guards on what a function reads outside its arguments (issue 20): a Module's
mode, closed-over arrays and constant Tensors, and writes into inputs. Compiled code always
equals eager, traces again, or refuses by name; never a different number."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.compiler import CompileError


def _import_saved(step, path):
    """The module `step.save(path)` writes, imported from the file."""
    spec = importlib.util.spec_from_file_location(path.stem, step.save(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batchnorm_model():
    model = ag.nn.Sequential(ag.nn.Linear(2, 3, rng=0), ag.nn.BatchNorm1d(3))
    return model.eval()


def test_module_mode_change_traces_again_and_train_batchnorm_is_refused():
    model = _batchnorm_model()
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])

    def forward(params, X):
        return ag.nn.functional_call(model, params, X).sum()

    params = model.state_dict()
    step = ag.compile(forward)
    np.testing.assert_allclose(step(params, X), forward(params, X).data)
    model.train()
    with pytest.raises(Exception, match="(?i)batch_norm|train"):
        step(params, X)
    model.eval()
    np.testing.assert_allclose(step(params, X), forward(params, X).data)
    assert step.traces == 1  # the eval specialisation is used again


def test_dropout_mode_change_is_noticed_even_when_eval_recorded_no_op():
    model = ag.nn.Sequential(ag.nn.Linear(2, 2, rng=0), ag.nn.Dropout(0.5)).eval()
    step = ag.compile(lambda params, X: ag.nn.functional_call(model, params, X).sum())
    params, X = model.state_dict(), np.ones((2, 2))
    step(params, X)
    model[1].train()  # only the Dropout, which recorded no op in eval mode
    with pytest.raises(Exception, match="(?i)dropout"):
        step(params, X)


def test_mutated_closed_over_array_traces_again():
    A = np.array([1.0, 2.0])
    f = lambda x: (x * A).sum()  # noqa: E731
    step = ag.compile(f)
    x = np.ones(2)
    assert step(x) == 3.0
    A[:] = [10.0, 20.0]
    assert step(x) == f(ag.Tensor(x)).item() == 30.0
    assert step.traces == 2


def test_array_folded_into_a_constant_is_still_guarded():
    A = np.array([1.0, 2.0])
    step = ag.compile(lambda x: (x * (ag.Tensor(A) * 2.0)).sum())
    assert step(np.ones(2)) == 6.0
    A[0] = 4.0
    assert step(np.ones(2)) == 12.0


def test_constant_tensor_with_rebound_data_traces_again():
    c = ag.Tensor([1.0, 2.0])
    step = ag.compile(lambda x: (x * c).sum())
    assert step(np.ones(2)) == 3.0
    c.data = np.array([5.0, 5.0])
    assert step(np.ones(2)) == 10.0


def test_write_into_an_input_is_refused_by_name():
    def f(x):
        x.data[0] = 0.0
        return x.sum()

    x = np.array([1.0, 2.0])
    with pytest.raises(CompileError, match="'x'.*read-only|writes into"):
        ag.compile(f)(x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert x.flags.writeable


def test_saved_module_checks_mode_and_arrays(tmp_path):
    model = _batchnorm_model()
    A = np.array([1.0, 2.0, 3.0])

    def forward(params, X):
        return (ag.nn.functional_call(model, params, X) * A).sum()

    params, X = model.state_dict(), np.array([[1.0, 2.0], [3.0, -1.0]])
    step = ag.compile(forward)
    step(params, X)
    saved = _import_saved(step, tmp_path / "saved_guards.py")
    run = getattr(saved, saved.__all__[0])
    assert "constant (3,) float64 array" in saved.bind.__doc__
    saved.bind(model, A)
    np.testing.assert_allclose(run(params, X), forward(params, X).data)
    A[0] = 7.0
    with pytest.raises(ValueError, match="array"):
        run(params, X)
    A[0] = 1.0
    model.train()
    with pytest.raises(ValueError, match="training"):
        run(params, X)


def test_rebound_closed_over_array_traces_again():
    env = {"c": np.array([1.0, 2.0])}
    step = ag.compile(lambda x: (x * env["c"]).sum())
    assert step(np.ones(2)) == 3.0
    env["c"] = np.array([3.0, 3.0])
    assert step(np.ones(2)) == 6.0
    assert step.traces == 2


def test_item_assignment_into_a_traced_input_is_refused_by_name():
    def f(x):
        x[0] = 0.0
        return ag.sum(ag.tanh(x))

    with pytest.raises(CompileError, match="the input 'x', every value read through .data "
                                           "and the arrays the function reaches are read-only"):
        ag.compile(f)(np.array([1.0, 2.0]))


def test_array_in_a_closed_over_list_replaced_twice_reuses_or_retraces():
    items = [np.array([1.0, 2.0])]
    step = ag.compile(lambda x: (x * items[0]).sum())
    for values in ([1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0]):
        items[0] = np.array(values)  # a new object each time: equal values reuse a trace
        assert step(np.ones(2)) == sum(values)


def test_adding_zero_keeps_the_sign_eager_gives():
    x = np.array([-0.0, 1.0])
    for f in (lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x - 0.0, lambda x: x + -0.0):
        np.testing.assert_array_equal(np.signbit(ag.compile(f)(x).data),
                                      np.signbit(f(ag.Tensor(x)).data))


def test_a_hook_added_after_compiling_is_refused_not_skipped():
    """Compiled code runs no Python: a forward hook that changes the output would be silently
    skipped, so adding one makes the next call retrace, which refuses the hooked module."""
    model = ag.nn.Sequential(ag.nn.Linear(3, 2, rng=0), ag.nn.Tanh())
    params = {k: v.data for k, v in model.named_parameters()}
    f = ag.compile(lambda p, x: ag.nn.functional_call(model, p, x))
    x = np.ones((4, 3))
    before = np.asarray(f(params, x))
    handle = model[0].register_forward_hook(lambda mod, args, out: out * 2.0)
    with pytest.raises(RuntimeError, match="Linear at '0' has forward hooks"):
        f(params, x)
    handle.remove()
    np.testing.assert_array_equal(np.asarray(f(params, x)), before)
    assert f.traces == 1  # the hook gone, the specialisation traced first fits again


def test_casts_to_integers_and_bools_follow_each_calls_values():
    """astype to int/bool, a float where-condition and an index made by a cast read each call's
    values (they were frozen at the first call's: silently the first call's answer)."""
    cases = {
        "astype int": lambda y: (y * 2).astype(np.int64) + 1,
        "astype bool": lambda y: ag.astype(y, bool) * 1.0,
        "float condition": lambda y: ag.where(y * 1.0, y, -y),
        "index by a cast": lambda y: ag.Tensor(np.arange(10.0))[ag.astype(y, np.int64)],
    }
    first, second = np.array([1.0, 0.0, 2.0]), np.array([0.0, 3.0, 0.0])
    for name, f in cases.items():
        compiled = ag.compile(f)
        for y in (first, second):
            got, want = compiled(y), f(y)
            np.testing.assert_array_equal(np.asarray(got.data), np.asarray(want.data), err_msg=name)
    g = ag.grad(lambda y: (ag.where(y, y, -y) * y.astype(np.int64)).sum())
    cg = ag.compile(g)
    for y in (first, second):
        np.testing.assert_array_equal(cg(y), g(y))
