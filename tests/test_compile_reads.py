"""ag.compile and what a function reads besides its arguments (issue 20): values read through
`.data`/`.numpy()`, Python values reached through the closure, globals, defaults and
attributes, random draws, and the warning when something keeps changing. Each case is one
the issue found silently wrong: here it must equal eager, trace again, or be refused by name.
"""

from __future__ import annotations

import random
import threading
import warnings

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.compiler import CompileError, RetraceWarning


def _eager(fn, *args):
    out = fn(*[ag.Tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    return np.asarray(out.data if isinstance(out, ag.Tensor) else out)


def _value(out):
    return np.asarray(out.data if isinstance(out, ag.Tensor) else out)


def _agrees(fn, calls, compiled=None):
    """Compiled and eager agree on every call; returns the compiled function."""
    compiled = compiled or ag.compile(fn)
    for args in calls:
        np.testing.assert_allclose(_value(compiled(*args)), _eager(fn, *args), rtol=1e-12,
                                   atol=1e-12)
    return compiled


# --- values read through .data and .numpy() -------------------------------------------------
def test_branch_on_data_follows_the_new_values():
    f = ag.grad(lambda x: ag.sum(x ** 2) if x.data.sum() > 0 else ag.sum(x ** 3))
    step = _agrees(f, [(np.array([1.0, 2.0]),), (np.array([-1.0, -2.0]),)])
    assert step.traces == 2  # the guard saw the values change and traced again


def test_data_in_python_arithmetic_is_guarded():
    def centred(x):
        return ag.sum(ag.tanh(x - x.data.mean()))

    def scaled(x):  # the reproduction: traced at [0.1, 0.2], called at [-1, 0.5]
        h = ag.tanh(x)
        return ag.sum(h * float(h.data.sum()))

    _agrees(centred, [(np.array([1.0, 2.0]),), (np.array([-1.0, 5.0]),)])
    step = _agrees(scaled, [(np.array([0.1, 0.2]),), (np.array([-1.0, 0.5]),)])
    assert abs(float(step(np.array([-1.0, 0.5])).data) - 0.08969) < 1e-4


def test_accuracy_from_logits_data_is_right_on_every_batch():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3))

    def accuracy(x, y):
        logits = x @ w
        return float(np.mean(np.argmax(logits.data, axis=1) == y))

    step = ag.compile(accuracy, warn_retraces=None)
    for _ in range(4):
        x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
        assert step(x, y) == accuracy(ag.Tensor(x), y)


def test_numpy_and_detach_then_data_are_guarded():
    def via_numpy(x):
        return ag.sum(x * x.numpy().max())

    def via_detach(x):
        return ag.sum(x * float(ag.tanh(x).detach().data.sum()))

    for f in (via_numpy, via_detach):
        _agrees(f, [(np.array([1.0, 2.0]),), (np.array([3.0, -2.0]),)])


def test_detach_fed_back_as_a_tensor_needs_no_guard():
    def f(p, y):
        return ag.nn.functional.cross_entropy(p, ag.softmax(y).detach())

    rng = np.random.default_rng(1)
    step = ag.compile(ag.value_and_grad(f))
    for _ in range(3):
        p, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
        v, g = step(p, y)
        v2, g2 = ag.value_and_grad(f)(p, y)
        np.testing.assert_allclose(v, v2, rtol=1e-12)
        np.testing.assert_allclose(g, g2, rtol=1e-12)
    assert step.traces == 1


def test_writes_through_data_are_refused_by_name():
    def write_into(x):
        h = ag.tanh(x)
        h.data[0] = 0.0
        return ag.sum(h)

    def rebind(x):
        h = ag.tanh(x)
        h.data = h.data * 2
        return ag.sum(h)

    with pytest.raises(CompileError, match=r"writes into .*read-only"):
        ag.compile(write_into)(np.ones(2))
    with pytest.raises(CompileError, match=r"rebinds \.data of a traced Tensor \(\(2,\) float64\)"):
        ag.compile(rebind)(np.ones(2))


def test_traced_tensors_are_plain_tensors_after_the_trace():
    kept = []

    def f(x):
        h = ag.tanh(x)
        kept.append(h)
        kept.append(h.detach())
        return ag.sum(h)

    ag.compile(f)(np.ones(2))
    assert all(type(t) is ag.Tensor for t in kept)
    assert isinstance(kept[0].data, np.ndarray)


def test_saved_module_checks_the_values_read(tmp_path):
    f = ag.compile(lambda x: ag.sum(x * float(x.data.max())))
    f(np.array([1.0, 2.0]))
    namespace: dict = {}
    exec(compile(f.source, "saved", "exec"), namespace)  # noqa: S102
    fn = namespace[namespace["__all__"][0]]
    assert float(fn(np.array([1.0, 2.0]))) == 6.0
    with pytest.raises(namespace["SpecialisationError"], match="changed since the trace read"):
        fn(np.array([1.0, 3.0]))


# --- Python values the function reaches ---------------------------------------------------------
ALPHA = 0.5


def _uses_global(x):
    return ag.sum(ag.tanh(x)) * ALPHA


def test_a_rebound_global_number_traces_again():
    global ALPHA
    step = ag.compile(_uses_global)
    x = np.array([1.0, 2.0])
    try:
        assert abs(float(step(x).data) - 0.8628) < 1e-4
        ALPHA = -2.0
        np.testing.assert_allclose(_value(step(x)), _eager(_uses_global, x))  # was 0.8628
        assert abs(float(step(x).data) + 3.4512) < 1e-4
        assert step.traces == 2
    finally:
        ALPHA = 0.5


def test_closure_attribute_default_and_list_values_are_guarded():
    alpha = 0.5
    closure = ag.compile(lambda x: ag.sum(x) * alpha)

    class Settings:
        scale = 1.0  # a class attribute shadowed below by the instance's

    settings = Settings()
    settings.scale = 2.0
    attribute = ag.compile(lambda x: ag.sum(x) * settings.scale)

    def with_default(x, s=[1.0]):  # noqa: B006 (a mutated default is what is tested)
        return ag.sum(x) * s[0]
    default = ag.compile(with_default)

    weights = [1.0] * 12  # more than a handful: checked as one value
    long_list = ag.compile(lambda x: ag.sum(x * ag.Tensor(np.array(weights))[:2]))

    mode = "tanh"
    by_name = ag.compile(lambda x: ag.sum(ag.tanh(x) if mode == "tanh" else ag.exp(x)))

    x = np.array([1.0, 2.0])
    before = [float(c(x).data) for c in (closure, attribute, default, long_list, by_name)]
    alpha = 3.0  # noqa: F841 (read by the closure)
    settings.scale = 5.0
    with_default.__defaults__[0][0] = 7.0
    weights[1] = 4.0
    mode = "exp"  # noqa: F841 (read by the closure)
    after = [float(c(x).data) for c in (closure, attribute, default, long_list, by_name)]
    assert before == pytest.approx([1.5, 6.0, 3.0, 3.0, float(np.tanh(x).sum())])
    assert after == pytest.approx([9.0, 15.0, 21.0, 9.0, float(np.exp(x).sum())])


def test_unchanged_values_do_not_trace_again():
    alpha = 0.5
    step = ag.compile(lambda x: ag.sum(x) * alpha)
    for _ in range(5):
        step(np.ones(3))
    assert step.traces == 1


# --- random draws -----------------------------------------------------------------------------
def test_random_draws_while_tracing_are_refused_by_name():
    rng = np.random.default_rng(0)
    legacy = np.random.RandomState(0)
    python = random.Random(0)
    cases = {
        "NumPy's global generator": lambda x: ag.sum(x * np.random.normal(size=2)),
        "the generator rng": lambda x: ag.sum(x * rng.normal(size=2)),
        "the generator legacy": lambda x: ag.sum(x * legacy.normal(size=2)),
        "the generator python": lambda x: ag.sum(x) * python.random(),
        "Python's random module": lambda x: ag.sum(x) * random.random(),
    }
    for what, f in cases.items():
        with pytest.raises(CompileError, match=f"draws random numbers from {what}"):
            ag.compile(f)(np.ones(2))


def test_a_generator_argument_is_refused_by_name():
    f = ag.compile(lambda x, r: ag.sum(x * r.normal(size=2)))
    with pytest.raises(CompileError, match=r"argument r is a random generator \(Generator\)"):
        f(np.ones(2), np.random.default_rng(0))


def test_drawing_outside_and_passing_the_array_compiles():
    rng = np.random.default_rng(0)
    f = ag.compile(lambda x, noise: ag.sum(x * noise))
    for _ in range(3):
        noise = rng.normal(size=2)
        assert float(f(np.ones(2), noise).data) == pytest.approx(noise.sum())
    assert f.traces == 1


# --- the warning when something keeps changing --------------------------------------------------
def test_retrace_warning_names_a_changing_static_argument():
    f = ag.compile(lambda x, t: ag.sum(x) * 0.9 ** t, warn_retraces=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in range(3):
            f(np.ones(2), t)
    with pytest.warns(RetraceWarning, match="a static argument was 2, is 3"):
        f(np.ones(2), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(np.ones(2), 4)  # said once


def test_retrace_warning_names_a_changing_closure_value_and_data_read():
    n = 0
    f = ag.compile(lambda x: ag.sum(x) * n, warn_retraces=2)
    with pytest.warns(RetraceWarning, match="n was 1, is 2"):
        for n in range(4):  # noqa: B007 (read by the closure)
            f(np.ones(2))
    g = ag.compile(lambda x: ag.sum(x * x.data.max()), warn_retraces=2)
    with pytest.warns(RetraceWarning, match=r"values of x changed since the trace read them at "
                                            r"test_compile_reads.py:\d+"):
        for k in range(4):
            g(np.ones(2) * k)


def test_new_shapes_do_not_count_as_retraces():
    f = ag.compile(lambda x: ag.sum(x), warn_retraces=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in range(1, 8):
            f(np.ones(n))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_warn_retraces_must_be_a_positive_int_or_none(bad):
    with pytest.raises(ValueError, match="warn_retraces must be a positive int or None"):
        ag.compile(lambda x: x, warn_retraces=bad)


# --- threads ------------------------------------------------------------------------------------
def test_threads_tracing_one_function_over_a_shared_module():
    model = ag.nn.Sequential(ag.nn.Linear(3, 4, rng=0), ag.nn.Tanh(), ag.nn.Linear(4, 1, rng=1))
    params = {k: v.data.copy() for k, v in model.named_parameters()}
    before = {k: v for k, v in model.named_parameters()}

    def loss(p, x):
        return ag.sum(ag.nn.functional_call(model, p, x) ** 2)

    step = ag.compile(ag.value_and_grad(loss))
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(5, 3)) for _ in range(8)]
    results: list = [None] * len(xs)
    errors: list = []
    barrier = threading.Barrier(len(xs))

    def work(k):
        try:
            barrier.wait()
            results[k] = step(params, xs[k])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k, x in enumerate(xs):
        value, grads = ag.value_and_grad(loss)(params, x)
        np.testing.assert_allclose(results[k][0], value, rtol=1e-12)
        for name in grads:
            np.testing.assert_allclose(results[k][1][name], grads[name], rtol=1e-12)
    after = dict(model.named_parameters())
    assert all(after[k] is before[k] for k in before)  # the Module still holds its own
    assert all(type(v) is ag.Tensor for v in after.values())


def test_backward_inside_a_compiled_function_is_refused_by_name():
    def f(x):
        loss = ag.sum(ag.tanh(x))
        loss.backward()
        return x.grad

    with pytest.raises(RuntimeError, match=r"backward\(\): called while ag.compile traces"):
        ag.compile(f)(ag.Tensor(np.ones(2)))


def _grad_under_no_grad(x):
    with ag.no_grad():
        g = ag.grad(lambda z: ag.sum(ag.tanh(z) ** 2))(x)
    return g


def _uses_it(x):
    return ag.sum(x * _grad_under_no_grad(x))  # eagerly, no_grad makes g a constant


def test_grad_inside_no_grad_follows_the_inputs():
    """It gave the traced gradient on every later call (0.197 for [1, -2] where eager gives
    0.640); an outer grad must still treat it as a constant, as eagerly."""
    for fn in (_grad_under_no_grad, ag.grad(_uses_it), ag.value_and_grad(_uses_it)):
        step = ag.compile(fn)
        for v in ([0.1, 0.2], [1.0, -2.0], [0.5, 3.0]):
            x = np.array(v)
            for got, want in zip(ag.compiler.trace.tree_flatten(step(x))[0],
                                 ag.compiler.trace.tree_flatten(fn(x))[0], strict=True):
                np.testing.assert_allclose(_value(got), _value(want), rtol=1e-12)
        assert step.traces == 1


def test_a_large_dict_of_numbers_is_checked_as_one_value():
    settings = {f"k{i}": float(i) for i in range(1000)}
    step = ag.compile(lambda x: ag.sum(x) * settings["k3"])
    x = np.ones(3)
    assert float(step(x).data) == 9.0
    settings["k3"] = 5.0  # changed in place
    assert float(step(x).data) == 15.0
    settings["k999"] = -1.0  # another entry: a retrace, the same number
    assert float(step(x).data) == 15.0 and step.traces == 3


SAVED_SCALE = {"scale": 2.0, "mode": "tanh"}


def _reads_settings(x):
    h = ag.tanh(x) if SAVED_SCALE["mode"] == "tanh" else ag.exp(x)
    return ag.sum(h) * SAVED_SCALE["scale"]


def test_saved_module_checks_python_values_once_given_the_function(tmp_path):
    step = ag.compile(_reads_settings)
    x = np.array([0.1, 0.2])
    step(x)
    namespace: dict = {}
    exec(compile(step.source, "saved", "exec"), namespace)  # noqa: S102
    fn = namespace[namespace["__all__"][0]]
    try:
        SAVED_SCALE["scale"] = 3.0
        assert float(fn(x)) == pytest.approx(2.0 * np.tanh(x).sum())  # unbound: constants
        namespace["bind_function"](_reads_settings)
        with pytest.raises(namespace["SpecialisationError"], match=r"'scale'.* was 2.0 when "
                                                                    r"traced, is 3.0"):
            fn(x)
        SAVED_SCALE["scale"] = 2.0
        assert float(fn(x)) == pytest.approx(2.0 * np.tanh(x).sum())
        SAVED_SCALE["mode"] = "exp"
        with pytest.raises(namespace["SpecialisationError"], match="'tanh' when traced"):
            fn(x)
    finally:
        SAVED_SCALE.update(scale=2.0, mode="tanh")


def test_random_generators_made_inside_the_function_are_refused():
    cases = [
        ("made without a seed", lambda x: ag.sum(x) * random.Random().random()),
        ("random.SystemRandom", lambda x: ag.sum(x) * random.SystemRandom().random()),
        ("made without a seed",
         lambda x: ag.sum(x) * np.random.Generator(np.random.PCG64()).normal()),
        ("made without a seed",
         lambda x: ag.sum(x) * np.random.default_rng(np.random.SeedSequence()).normal()),
    ]
    for what, f in cases:
        with pytest.raises(CompileError, match=what):
            ag.compile(f)(np.ones(2))
    seeded_bits = ag.compile(lambda x: ag.sum(x) * np.random.Generator(np.random.PCG64(3)).normal())
    assert float(seeded_bits(np.ones(2)).data) == pytest.approx(
        2 * np.random.Generator(np.random.PCG64(3)).normal())
    assert np.random.PCG64.__module__.startswith("numpy")  # the wrappers are gone after it
    seeded = ag.compile(lambda x: ag.sum(x) * random.Random(3).random())  # the same each call
    assert float(seeded(np.ones(2)).data) == pytest.approx(2 * random.Random(3).random())
    assert random.SystemRandom().random() < 1.0  # the patch is gone after the trace
