"""The user's own variable names in `ag.compile`'s generated code (issue 23, item 4): where the
user wrote `layer1 = ag.sigmoid(X @ W1)` the code says `layer1` and `d_layer1`; wherever that
is not certain the z1/h1 names stay, and the code always equals eager."""

from __future__ import annotations

import re

import numpy as np

import autograd_nn as ag
from autograd_nn_course import tutorial1 as t1


def _compiled_source(fn, *args):
    """The generated source of ag.value_and_grad(fn) at `args`, after checking it against
    eager."""
    step = ag.compile(ag.value_and_grad(fn))
    value, grads = step(*args)
    expected_value, expected_grads = ag.value_and_grad(fn)(*args)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(grads, expected_grads, rtol=1e-12, atol=1e-15)
    return step.source.split("value_changed()\n")[-1]


def _assigned(source):
    """The names the generated function assigns, in order."""
    return re.findall(r"^    (\w+) = ", source, flags=re.M)


def tutorial_loss(params, X, Y):
    layer1 = ag.sigmoid(ag.dot(X, params["weights1"]))
    output = ag.sigmoid(ag.dot(layer1, params["weights2"]))
    return ag.sum((Y - output) ** 2)


def test_first_tutorial_compiles_with_its_own_names_and_agrees_with_eager():
    step = ag.compile(ag.value_and_grad(tutorial_loss))
    params = t1.initial_weights(0)
    for _ in range(3):  # a few training steps: each agrees with eager
        value, grads = step(params, t1.X, t1.Y)
        expected_value, expected_grads = ag.value_and_grad(tutorial_loss)(params, t1.X, t1.Y)
        np.testing.assert_allclose(value, expected_value, rtol=1e-12)
        for k in params:
            np.testing.assert_allclose(grads[k], expected_grads[k], rtol=1e-12)
        params = {k: v - grads[k] for k, v in params.items()}
    source = step.source
    for line in ("layer1 = sigmoid(z1)", "z2 = np.dot(layer1, weights2)",
                 "output = sigmoid(z2)", "d_output = ", "d_layer1 = d_z2 @ weights2.T",
                 "d_z1 = d_layer1 * layer1 * (1.0 - layer1)", "d_weights2 = layer1.T @ d_z2"):
        assert line in source, line
    assert not re.search(r"\bh[12]\b", source)  # each value has one name everywhere
    assigned = _assigned(source.split("def tutorial_loss(")[1])
    assert len(assigned) == len(set(assigned))


def test_no_source_keeps_the_fallback_names():
    namespace = {"ag": ag}
    exec("def f(w, x):\n    layer1 = ag.tanh(x @ w)\n    return (layer1 ** 2).sum()\n",  # noqa: S102
         namespace)
    rng = np.random.default_rng(0)
    source = _compiled_source(namespace["f"], rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assert "h1 = np.tanh(z1)" in source and "layer1" not in source


def test_a_name_already_taken_by_an_argument_or_an_earlier_value_falls_back():
    def f(w, x):
        x = ag.tanh(x @ w)  # `x` is the argument's name
        out = ag.sigmoid(x)
        out = out * out  # a second `out`: the first keeps the name
        return out.sum()

    rng = np.random.default_rng(1)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assigned = _assigned(source)
    assert "x" not in assigned and assigned.count("out") == 1
    assert "out = sigmoid(h1)" in source and "h1 = np.tanh(" in source


def test_several_statements_on_a_line_or_tuple_targets_fall_back():
    def f(w, x):
        a = ag.tanh(x @ w); b = ag.sigmoid(a)  # noqa: E702 (the case under test)
        c, d = ag.exp(-b), b * 2.0
        return (c * d).sum()

    rng = np.random.default_rng(2)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assert not {"a", "b", "c", "d"} & set(_assigned(source))


def test_a_name_that_would_shadow_a_helper_numpy_or_a_builtin_the_code_uses_falls_back():
    def f(w, x):
        sigmoid = ag.sigmoid(x @ w)  # the generated module's helper is called sigmoid
        np = ag.tanh(sigmoid)  # noqa: F841 (shadowing np)
        return ag.sum(np * 3.0)

    rng = np.random.default_rng(3)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assigned = _assigned(source)
    assert "sigmoid" not in assigned and "np" not in assigned
    assert "h1 = sigmoid(z1)" in source and "h2 = np.tanh(h1)" in source


def test_a_loop_reassigning_one_name():
    def chained(ws, x):
        h = x
        for w in ws:
            h = ag.tanh(h @ w)  # each pass builds on the last: the last value is h
        return (h ** 2).sum()

    def independent(w, xs):
        total = 0.0
        for x in xs:
            y = ag.tanh(x @ w)  # a value per pass: no single value to call y
            total = total + y.sum()
        return total

    rng = np.random.default_rng(4)
    ws = [rng.normal(size=(3, 3)) for _ in range(3)]
    source = _compiled_source(chained, ws, rng.normal(size=(2, 3)))
    assert _assigned(source).count("h") == 1
    assert re.search(r"^    h = np\.tanh\(z3\)", source, flags=re.M)
    assert "L = (h ** 2).sum()" in source  # the later reads say h too
    w = rng.normal(size=(3, 2))
    source = _compiled_source(lambda w, xs: independent(w, xs), w,
                              [rng.normal(size=(4, 3)) for _ in range(3)])
    assert "y" not in _assigned(source)


def test_lambdas_comprehensions_and_unused_results_give_no_wrong_name():
    def f(w, x):
        act = lambda v: ag.tanh(v)  # noqa: E731 (the op runs in the lambda's frame)
        parts = [ag.sigmoid(x[i] @ w) for i in range(2)]
        hidden = act(x @ w)
        unused = ag.exp(hidden).sum()  # noqa: F841 (dead: hidden must not be called unused)
        return (hidden * 2.0).sum() + (parts[0] * parts[1]).sum()

    rng = np.random.default_rng(5)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assigned = _assigned(source)
    assert not {"act", "parts", "unused"} & set(assigned)
    assert "hidden" not in assigned  # its value is the lambda's, not the x @ w it was given


def _activation(v):
    return ag.tanh(v)


def _layer(x, w):
    out = ag.sigmoid(x @ w)
    return out


def test_a_statement_calling_a_function_of_the_user_is_not_named_after_its_argument():
    def f(w, x):
        hidden = _activation(x @ w)  # the statement's own op x @ w is not hidden's value
        y = _layer(hidden, w.T)  # no op of its own: the value keeps _layer's name `out`
        return (y ** 2).sum()

    rng = np.random.default_rng(7)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assigned = _assigned(source)
    assert "hidden" not in assigned and "y" not in assigned
    assert re.search(r"^    z1 = x @ w", source, flags=re.M)
    assert re.search(r"^    out = sigmoid\(", source, flags=re.M)


def test_a_multi_line_statement_names_its_value_not_an_inner_op():
    def f(w, x):
        layer = ag.tanh(
            x @ w
        )
        return (layer ** 2).sum()

    rng = np.random.default_rng(6)
    source = _compiled_source(f, rng.normal(size=(3, 2)), rng.normal(size=(4, 3)))
    assert re.search(r"^    layer = np\.tanh\(z1\)", source, flags=re.M)
    assert re.search(r"^    z1 = x @ w", source, flags=re.M)
