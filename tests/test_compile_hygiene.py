"""ag.compile's names, argument kinds, constants and cache (issue 20): always equal to eager.

Each case runs the compiled function twice (tracing, then the generated code's own path) and
the module `.save()` writes, and compares all three with the eager call.
"""

from __future__ import annotations

import importlib.util
from collections import namedtuple

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.compiler import CompileError

Batch = namedtuple("Batch", "x y")


def _equal(got, expected):
    la, lb = ag.tree_flatten(got)[0], ag.tree_flatten(expected)[0]
    assert len(la) == len(lb)
    for a, b in zip(la, lb, strict=True):
        a, b = (x.data if isinstance(x, ag.Tensor) else x for x in (a, b))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15,
                                   equal_nan=True)


def _saved(step, path):
    """The function of the module `step.save(path)` writes, imported from the file."""
    spec = importlib.util.spec_from_file_location(path.stem, step.save(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, module.__all__[0])


def _check(fn, tmp_path, *args, **kwargs):
    """Compiled (traced, then generated), saved and eager give the same numbers."""
    step = ag.compile(fn)
    eager = fn(*args, **kwargs)
    _equal(step(*args, **kwargs), eager)
    _equal(step(*args, **kwargs), eager)
    _equal(_saved(step, tmp_path / f"saved_{step.traces}.py")(*args, **kwargs), eager)
    return step


# --- 1. names: one allocator, nothing shadows anything ---------------------------------------
def test_a_params_key_spelled_like_another_argument_keeps_both(rng, tmp_path):
    g = lambda p, x: (x @ p["x"]).sum()  # noqa: E731
    A, B = np.array([[1.0], [2.0]]), np.array([[1.0, 2.0]])
    step = ag.compile(g)
    assert float(step({"x": A}, B).data) == float(g({"x": ag.Tensor(A)}, ag.Tensor(B)).data) \
        == 5.0  # not 54.0
    _check(ag.value_and_grad(g), tmp_path, {"x": A}, B)

    def h(p, b, y):
        return (p["b"] * b).sum() + (p["y"] * y ** 2).sum()

    p = {"b": rng.normal(size=3), "y": rng.normal(size=3)}
    _check(ag.value_and_grad(h, argnums=(0, 1, 2)), tmp_path, p, rng.normal(size=3),
           rng.normal(size=3))


def test_arguments_named_like_numpy_helpers_and_module_names(rng, tmp_path):
    def f(np, sigmoid, float64, SpecialisationError, C1, softplus_forward):  # noqa: N803
        y = ag.tanh(np) * ag.sigmoid(sigmoid) + ag.softplus(float64) * SpecialisationError
        return (y * C1 + softplus_forward * WEIGHTS).sum()

    args = [rng.normal(size=3) for _ in range(6)]
    _check(ag.value_and_grad(f, argnums=tuple(range(6))), tmp_path, *args)


WEIGHTS = np.array([0.5, -2.0, 3.0])
KEYS = ["x", "p", "np", "float64", "sigmoid", "softplus_forward", "C1", "C2", "type", "len",
        "SpecialisationError", "keywords", "loss", "class", "1st", "a-b", "\ufb01", "fi",
        "__debug__"]  # "\ufb01" (the ligature) is the identifier fi to Python


def test_params_keys_named_like_anything(rng, tmp_path):
    scales = {k: rng.normal(size=3) for k in KEYS}  # one constant per key: a swap shows

    def loss(p, x):
        terms = [(ag.softplus(p[k] * x) * scales[k]).sum() for k in KEYS]
        return ag.stack(terms).sum() + (ag.sigmoid(x) * WEIGHTS).sum()

    params = {k: rng.normal(size=3) for k in KEYS}
    _check(ag.value_and_grad(loss), tmp_path, params, rng.normal(size=3))


@pytest.mark.parametrize("name", ["softplus_forward", "sigmoid", "float64", "C1", "C2", "np",
                                  "SpecialisationError", "type", "x", "loss", "W"])
def test_a_tensor_named_like_a_module_name(name, rng, tmp_path):
    def loss(x, W):  # noqa: N803
        y = x @ W
        y.name = name
        z = ag.softplus(y) * WEIGHTS + ag.sigmoid(y) * np.array([1.0, 0.0, -1.0])
        return (z * y.astype(np.float32)).sum()

    _check(ag.value_and_grad(loss, argnums=(0, 1)), tmp_path, rng.normal(size=(2, 4)),
           rng.normal(size=(4, 3)))


def test_a_function_named_like_a_builtin_the_helpers_call(rng, tmp_path):
    def range(x, w):  # the strided conv2d gradient's helper loops with range()
        return (ag.conv2d(x, w, stride=2, padding=1) ** 2).sum()

    _check(ag.value_and_grad(range, argnums=(0, 1)), tmp_path, rng.normal(size=(1, 2, 5, 5)),
           rng.normal(size=(3, 2, 3, 3)))


def test_one_namespace_hands_out_every_name():
    from autograd_nn.compiler.names import Namespace

    names = Namespace()
    assert names.reserve("np") == "np" and names.fresh("np") == "np_2"
    assert [names.fresh(n) for n in ("\ufb01", "fi", "class", "type", "1x", "a-b")] == \
        ["fi", "fi_2", "class_2", "type_2", "v_1x", "a_b"]


# --- 2. every argument kind eager accepts -----------------------------------------------------
def _scaled(x, mask, scale, power, flag, mode):
    y = x * scale
    if mask is not None:
        y = ag.where(mask, y, 0.0)
    y = y ** power
    return (y if flag else -y).sum() * (2.0 if mode == "double" else 1.0)


STATICS = [
    (None, np.float64(0.5), np.int64(2), True, "double"),
    (None, np.float32(0.25), 3, np.bool_(False), "single"),
    (np.array([True, False, True, True]), 1.5, np.int32(2), False, None),
    (None, 2, 1.0, 1, b"bytes"),
    (None, 0.5, 2, True, 'a """quoted""" \\ mode\n'),  # written into the docstring too
]


@pytest.mark.parametrize("statics", STATICS, ids=["np_float64", "np_float32", "mask",
                                                    "python_numbers", "quoted_string"])
def test_none_and_numpy_and_python_scalars(statics, rng, tmp_path):
    _check(ag.value_and_grad(_scaled), tmp_path, rng.normal(size=4), *statics)


def test_one_compiled_function_across_argument_kinds(rng):
    step, x = ag.compile(ag.value_and_grad(_scaled)), rng.normal(size=4)
    for statics in STATICS * 2 + [(None, np.float64(0.75), np.int64(2), True, "double")]:
        _equal(step(x, *statics), ag.value_and_grad(_scaled)(x, *statics))
    assert step.traces == len(STATICS) + 1  # a changed NumPy scalar traced again


def test_nested_containers_and_namedtuples(rng, tmp_path):
    def loss(params, batch, config):
        h = batch.x
        for W, b in params["layers"]:  # noqa: N806
            h = ag.tanh(h @ W + b) * config["scale"][0]
        return ((h - batch.y) ** 2).mean() + (0.0 if config["extra"] is None else 1.0)

    params = {"layers": [(rng.normal(size=(3, 4)), rng.normal(size=4)),
                         (rng.normal(size=(4, 2)), rng.normal(size=2))]}
    batch = Batch(rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    config = {"scale": (np.float64(0.5), "tag"), "extra": None}
    _check(ag.value_and_grad(loss), tmp_path, params, batch, config)


def test_keyword_arguments_are_inputs_or_static(rng, tmp_path):
    def f(x, *, w, bias=None, scale=1.0):
        y = x @ w * scale
        return (y if bias is None else y + bias).sum()

    x, w = rng.normal(size=(2, 3)), rng.normal(size=3)
    step = _check(ag.value_and_grad(f), tmp_path, x, w=w, scale=np.float64(2.0))
    w2 = rng.normal(size=3)  # a keyword array is an input: new values, no new trace
    _equal(step(x, w=w2, scale=np.float64(2.0)), ag.value_and_grad(f)(x, w=w2,
                                                                     scale=np.float64(2.0)))
    assert step.traces == 1
    b = rng.normal(size=2)
    _equal(step(x, w=w, bias=b), ag.value_and_grad(f)(x, w=w, bias=b))


def test_a_static_argument_without_source_form_is_refused_by_name(rng):
    def f(x, activation):
        return activation(x).sum()

    with pytest.raises(CompileError, match=r"argument activation is static.*function"):
        ag.compile(f)(rng.normal(size=3), ag.tanh)


# --- 3. constants: inf and nan ----------------------------------------------------------------
def test_attention_mask_with_minus_inf(rng, tmp_path):
    def attention(q, k, v, mask):
        scores = ag.where(mask, q @ k.T / 2.0, -np.inf)  # the usual causal mask
        return (ag.softmax(scores, axis=-1) @ v).sum()

    q, k, v = (rng.normal(size=(4, 2)) for _ in range(3))
    mask = np.tril(np.ones((4, 4), dtype=bool))
    _check(ag.value_and_grad(attention, argnums=(0, 1, 2)), tmp_path, q, k, v, mask)


def test_nan_and_inf_constants_guards_and_static_values(rng, tmp_path):
    def f(x, fill):
        return (ag.where(x > 0, x, np.nan), x * np.array([1.0, np.inf, -np.inf, 2.0]),
                ag.where(x > 0, fill, -np.inf), ag.maximum(x, -np.inf))

    x = np.array([1.0, -1.0, 2.0, -3.0])
    for fill in (np.nan, np.inf, float("nan")):
        step = _check(f, tmp_path, x, fill)
        step(x, fill)
        assert step.traces == 1  # a nan stays equal to itself: no trace on every call

    step = ag.compile(lambda x, fill: ag.where(x > 0, x, fill))
    for n in (2, 3, 2, 3):  # each nan a new float: still the same static value
        _equal(step(np.ones(n), float("nan")), np.ones(n))
    assert step.traces == 2

    def g(x):
        return x * float(ag.max(x))  # a guard whose value is inf or nan

    for peak in (np.inf, np.nan):
        step = _check(g, tmp_path, np.array([1.0, peak]))
        assert step.traces == 1
        _equal(step(np.array([1.0, 2.0])), g(np.array([1.0, 2.0])))
        assert step.traces == 2


# --- 4. a bounded specialisation cache --------------------------------------------------------
def test_the_specialisation_cache_is_a_bounded_lru():
    from autograd_nn.compiler import DEFAULT_CACHE_SIZE

    f = lambda x: (x * 2.0).sum()  # noqa: E731
    step = ag.compile(f, cache_size=2)
    for n in (1, 2, 3):
        step(np.ones(n))
    assert (step.specialisations, step.traces) == (2, 3)
    step(np.ones(2))  # kept, and now the most recently used
    assert step.traces == 3
    step(np.ones(1))  # evicted: traced again, evicting 3 (the least recently used)
    assert (step.specialisations, step.traces) == (2, 4)
    step(np.ones(2))
    assert step.traces == 4
    _equal(step(np.ones(3)), f(np.ones(3)))
    assert step.traces == 5

    step = ag.compile(f)
    assert step.cache_size == DEFAULT_CACHE_SIZE
    for n in range(DEFAULT_CACHE_SIZE + 6):
        step(np.ones(n + 1))
    assert step.specialisations == DEFAULT_CACHE_SIZE

    @ag.compile(cache_size=1)
    def branch(x):
        s = x.sum()
        return s * 2.0 if s > 0 else -s  # two specialisations of one signature (a guard)

    for x in (np.ones(2), -np.ones(2), np.ones(2)):
        _equal(branch(x), branch.fn(x))
    assert (branch.specialisations, branch.traces) == (1, 3)
    with pytest.raises(ValueError, match="cache_size"):
        ag.compile(f, cache_size=0)
