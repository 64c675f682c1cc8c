"""`Compiled.save` with several specialisations (issue 23, item 5): one module, NumPy alone,
every cached specialisation plus a dispatcher under the function's name that picks one by the
arguments' structure, shapes, dtypes and static values, and refuses others by name."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autograd_nn as ag


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_fresh(path, calls, tmp_path):
    """Import the saved module in a new Python with no path of ours and autograd_nn blocked;
    call its dispatcher on each saved argument list; the results, as arrays."""
    np.save(tmp_path / "calls.npy", np.array(calls, dtype=object), allow_pickle=True)
    script = textwrap.dedent(f"""
        import importlib.util, json, sys
        sys.modules["autograd_nn"] = None  # any import of autograd_nn fails
        import numpy as np
        spec = importlib.util.spec_from_file_location("saved", {str(path)!r})
        m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        f = getattr(m, m.__all__[0])
        out = []
        for args in np.load({str(tmp_path / 'calls.npy')!r}, allow_pickle=True):
            value, grad = f(*args)
            out.append([float(value), np.asarray(grad).tolist(), str(np.asarray(grad).dtype)])
        print(json.dumps([m.__all__, out]))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _loss(w, x, scale):
    layer1 = ag.sigmoid(x @ w)
    return ((layer1 - 0.5) ** 2).sum() * scale


def test_three_specialisations_saved_run_in_a_fresh_process_like_eager(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2))
    calls = [(w, rng.normal(size=(4, 3)), 2.0),  # batch 4
             (w, rng.normal(size=(8, 3)), 2.0),  # batch 8
             (w.astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32), 2.0)]
    step = ag.compile(ag.value_and_grad(_loss))
    for args in calls:
        step(*args)
    assert step.specialisations == 3
    path = step.save(tmp_path / "three.py")
    names, results = _run_fresh(path, calls, tmp_path)
    assert names == ["_loss"]
    for args, (value, grad, dtype) in zip(calls, results, strict=True):
        expected_value, expected_grad = ag.value_and_grad(_loss)(*args)
        assert dtype == str(expected_grad.dtype)
        tol = 1e-6 if expected_grad.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(value, float(expected_value), rtol=tol)
        np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)
    source = path.read_text()
    for batch in (4, 8):  # each specialisation is its own function with its shapes documented
        assert f"x: ({batch}, 3) float64" in source
    assert "x: (4, 3) float32" in source
    assert source.count("def _loss_") == 3 and "def _loss(*args" in source


def test_two_specialisations_differing_in_a_static_argument(tmp_path):
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=(3, 2)), rng.normal(size=(5, 3))
    step = ag.compile(ag.value_and_grad(_loss))
    step(w, x, 2.0)
    step(w, x, 3)
    calls = [(w, x, 3), (w, x, 2.0)]
    _, results = _run_fresh(step.save(tmp_path / "static.py"), calls, tmp_path)
    for args, (value, grad, _) in zip(calls, results, strict=True):
        expected_value, expected_grad = ag.value_and_grad(_loss)(*args)
        np.testing.assert_allclose(value, float(expected_value), rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


def test_unseen_signature_is_refused_by_name_listing_the_saved_ones(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, 2))
    step = ag.compile(ag.value_and_grad(_loss))
    step(w, rng.normal(size=(4, 3)), 2.0)
    step(w, rng.normal(size=(8, 3)), 2.0)
    saved = _load(step.save(tmp_path / "two.py"), "saved_two")
    with pytest.raises(ValueError, match=r"_loss: no saved specialisation fits the arguments "
                                         r"\(w: \(3, 2\) float64; x: \(5, 3\) float64; "
                                         r"scale = 2.0 \(static\)\)") as info:
        saved._loss(w, rng.normal(size=(5, 3)), 2.0)
    assert "1. w: (3, 2) float64; x: (4, 3) float64; scale = 2.0 (static)" in str(info.value)
    assert "2. w: (3, 2) float64; x: (8, 3) float64; scale = 2.0 (static)" in str(info.value)
    with pytest.raises(ValueError, match="scale = 5.0"):
        saved._loss(w, rng.normal(size=(4, 3)), 5.0)
    with pytest.raises(ValueError, match="no saved specialisation"):
        saved._loss(w, [[1.0, 2.0, 3.0]], 2.0)  # a list where an array was
    for batch in (8, 4, 4, 8, 8, 4):  # alternating: each call picks its own again
        x = rng.normal(size=(batch, 3))
        value, grad = saved._loss(w, x, 2.0)
        expected_value, expected_grad = ag.value_and_grad(_loss)(w, x, 2.0)
        np.testing.assert_allclose(value, expected_value, rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_constants_that_differ_per_specialisation_keep_their_own_values(tmp_path):
    def f(x):
        positions = np.arange(x.shape[0], dtype=np.float64)[:, None]  # a constant per batch
        return (ag.tanh(x) * positions).sum()

    step = ag.compile(ag.value_and_grad(f))
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 2)), rng.normal(size=(5, 2))]
    for x in xs:
        step(x)
    saved = _load(step.save(tmp_path / "constants.py"), "saved_constants")
    run = getattr(saved, saved.__all__[0])
    for x in reversed(xs):
        value, grad = run(x)
        expected_value, expected_grad = ag.value_and_grad(f)(x)
        np.testing.assert_allclose(value, expected_value, rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_closure_values_are_constants_until_bind_function_then_pick_or_refuse(tmp_path):
    settings = {"scale": 2.0}

    def f(x):
        return (ag.tanh(x) * settings["scale"]).sum()

    step = ag.compile(f)
    x = np.array([0.5, -1.0, 2.0])
    assert float(step(x)) == pytest.approx(2.0 * np.tanh(x).sum())
    settings["scale"] = 3.0
    assert float(step(x)) == pytest.approx(3.0 * np.tanh(x).sum())
    assert step.specialisations == 2  # one signature, two values of the closure
    saved = _load(step.save(tmp_path / "values.py"), "saved_values")
    run = getattr(saved, saved.__all__[0])
    assert float(run(x)) == pytest.approx(2.0 * np.tanh(x).sum())  # unbound: the first, as traced
    saved.bind_function(f)  # bound: every call checks the closure and picks by it
    assert float(run(x)) == pytest.approx(3.0 * np.tanh(x).sum())
    settings["scale"] = 2.0
    assert float(run(x)) == pytest.approx(2.0 * np.tanh(x).sum())
    settings["scale"] = 7.0
    with pytest.raises(ValueError, match="scale.*was 3.0 when traced, is 7.0"):
        run(x)


def test_bound_arrays_are_checked_in_every_specialisation(tmp_path):
    A = np.array([1.0, 2.0])

    def f(x):
        return (ag.tanh(x) * A).sum()

    step = ag.compile(f)
    rng = np.random.default_rng(4)
    x2, x3 = rng.normal(size=(2, 2)), rng.normal(size=(3, 2))
    step(x2)
    step(x3)
    saved = _load(step.save(tmp_path / "bound.py"), "saved_bound")
    run = getattr(saved, saved.__all__[0])
    saved.bind(A)
    for x in (x2, x3):
        assert float(run(x)) == pytest.approx(f(x).data)
    A[0] = 5.0
    for x in (x2, x3):
        with pytest.raises(ValueError, match="changed since tracing"):
            run(x)


def test_one_specialisation_saves_the_source_unchanged(tmp_path):
    step = ag.compile(ag.value_and_grad(_loss))
    step(np.ones((3, 2)), np.ones((4, 3)), 2.0)
    assert step.save(tmp_path / "one.py").read_text() == step.source


def test_a_function_named_like_a_builtin_or_helper_gets_a_dispatcher_that_shadows_nothing(
        tmp_path):
    def sigmoid(x):
        return ag.sigmoid(x).sum()

    def sum(x):  # noqa: A001 (the name under test)
        return ag.sigmoid(x).sum() * 2.0

    for fn in (sigmoid, sum):
        step = ag.compile(ag.value_and_grad(fn))
        xs = [np.array([0.5, -1.0]), np.array([0.5, -1.0, 3.0])]
        for x in xs:
            step(x)
        saved = _load(step.save(tmp_path / f"{fn.__name__}_saved.py"), f"saved_{fn.__name__}")
        run = getattr(saved, saved.__all__[0])
        assert saved.__all__[0] != "sum"  # a module-level sum would shadow the builtin
        for x in xs:
            value, grad = run(x)
            np.testing.assert_allclose(grad, ag.grad(fn)(x), rtol=1e-12)


def test_specialisations_reading_different_arrays_each_keep_their_own_bind(tmp_path):
    A, B = np.array([1.0, 2.0]), np.array([3.0, -1.0])

    def f(x):
        out = ag.tanh(x) * A
        if x.shape[0] == 3:  # this batch size uses B: its bind lists B's use
            out = out * B
        return out.sum()

    step = ag.compile(f)
    rng = np.random.default_rng(5)
    x2, x3 = rng.normal(size=(2, 2)), rng.normal(size=(3, 2))
    step(x2)
    step(x3)
    saved = _load(step.save(tmp_path / "binds.py"), "saved_binds")
    run = getattr(saved, saved.__all__[0])
    assert "`bind_2` for f_2" in saved.__doc__
    assert "used at test_compile_save.py" in saved.bind_2.__doc__
    saved.bind(A, B)  # each binds the closure's arrays in the order its docstring lists
    saved.bind_2(A, B)
    for x in (x2, x3):
        assert float(run(x)) == pytest.approx(float(f(x).data))
    B[0] = 9.0
    for x in (x2, x3):
        with pytest.raises(ValueError, match="changed since tracing"):
            run(x)
