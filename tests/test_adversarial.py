"""The project's own adversarial suite: drawn shapes (0-d and zero-size too), dtypes, hostile
files and concurrent training, each checked against NumPy 2 or PyTorch rather than against
ourselves. Without PyTorch only the checks against it skip, each on its own (`needs_torch`)."""

from __future__ import annotations

import io
import threading
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import autograd_nn as ag
from autograd_nn.io import SerializationError

try:
    import torch
except ImportError:  # no PyTorch: only the checks against it skip, each on its own
    torch = test_core_torch = None
else:
    import test_core_torch
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


def _torch_rows(table: str) -> list[str]:
    """The row names of test_core_torch's table (which needs torch to import)."""
    return sorted(getattr(test_core_torch, table)) if torch is not None else ["(needs torch)"]


FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
shapes = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def _against_torch(f_ag, f_torch, arrays):
    """Forward values and the gradient of sum(out * w) of both, for the same inputs."""
    tensors = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = f_ag(*tensors)
    w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)  # positive: -inf outputs add up
    (out * w).sum().backward()
    t_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    with warnings.catch_warnings():  # PyTorch's own warnings (var of nothing); ours stay errors
        warnings.simplefilter("ignore")
        t_out = f_torch(*t_in)
        (t_out * torch.tensor(w)).sum().backward()
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, t in zip(tensors, t_in, strict=True):
        assert a.grad is not None and a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def _values(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


@needs_torch
@pytest.mark.parametrize("name", _torch_rows("UNARY"))
@FUZZ
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_rows_on_any_shape_against_torch(name, shape, seed):
    f_ag, f_torch = test_core_torch.UNARY[name]
    _against_torch(f_ag, f_torch, [_values(shape, seed)])


@needs_torch
@pytest.mark.parametrize("name", _torch_rows("BINARY"))
@FUZZ
@given(pair=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                          max_side=3), seed=st.integers(0, 2**16))
def test_binary_rows_on_broadcast_shapes_against_torch(name, pair, seed):
    f_ag, f_torch = test_core_torch.BINARY[name]
    a, b = pair.input_shapes
    _against_torch(f_ag, f_torch, [_values(a, seed), _values(b, seed + 1)])


REDUCERS = {
    "sum": (lambda x, ax: x.sum(axis=ax), lambda x, ax: x.sum(dim=ax)),
    "mean": (lambda x, ax: x.mean(axis=ax), lambda x, ax: x.mean(dim=ax)),
    "softmax": (lambda x, ax: ag.softmax(x, axis=ax), lambda x, ax: torch.softmax(x, dim=ax)),
    "log_softmax": (lambda x, ax: ag.log_softmax(x, axis=ax),
                    lambda x, ax: torch.log_softmax(x, dim=ax)),
    "logsumexp": (lambda x, ax: ag.logsumexp(x, axis=ax),
                  lambda x, ax: torch.logsumexp(x, dim=ax)),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(REDUCERS))
@FUZZ
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_reductions_over_any_axis_including_empty_ones_against_torch(name, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    f_ag, f_torch = REDUCERS[name]
    x = _values(shape, 3)
    if name == "mean" and shape[axis] == 0:  # a mean of nothing: NaN in both, gradient empty
        out = f_ag(ag.Tensor(x), axis)
        assert np.isnan(out.data).all() and out.shape == tuple(f_torch(torch.tensor(x), axis).shape)
        return
    _against_torch(lambda t: f_ag(t, axis), lambda t: f_torch(t, axis), [x])


# --- dtypes: Python numbers and mixed arrays promote exactly as NumPy 2 -----------------------
DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 0, 1, -1, 7, 300, -129, 2.5, -0.5, 1e300]
OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
       "minimum": np.minimum}


def _ours(name, a, b):
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "maximum": ag.maximum, "minimum": ag.minimum}[name]
    return fn(a, b)


def _outcome(fn):
    """(dtype, values) or the kind of error (overflow, or refused as a bad operand)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float16 overflow to inf warns in both alike
        try:
            out = fn()
        except OverflowError:
            return "overflow"
        except TypeError:
            return "type error"
    arr = out.data if isinstance(out, ag.Tensor) else np.asarray(out)
    return arr.dtype, repr(arr.tolist())  # repr: NaN equals NaN


@FUZZ
@given(dtype=st.sampled_from(DTYPES), scalar=st.sampled_from(SCALARS),
       name=st.sampled_from(sorted(OPS)), scalar_first=st.booleans())
def test_python_numbers_are_weak_as_in_numpy_2(dtype, scalar, name, scalar_first):
    if name == "sub" and dtype == "bool":
        return  # NumPy refuses boolean subtract; checked in the next test
    arr = np.array([0, 1, 3], dtype=dtype)
    args = (scalar, arr) if scalar_first else (arr, scalar)
    t_args = (scalar, ag.Tensor(arr)) if scalar_first else (ag.Tensor(arr), scalar)
    expected = _outcome(lambda: OPS[name](*args))
    got = _outcome(lambda: _ours(name, *t_args))
    assert got == expected, (dtype, scalar, name, scalar_first)


@FUZZ
@given(a=st.sampled_from(DTYPES), b=st.sampled_from(DTYPES), name=st.sampled_from(sorted(OPS)))
def test_array_dtypes_promote_as_in_numpy_2(a, b, name):
    x, y = np.array([0, 1, 1], dtype=a), np.array([1, 1, 0], dtype=b)
    expected = _outcome(lambda: OPS[name](x, y))
    got = _outcome(lambda: _ours(name, ag.Tensor(x), ag.Tensor(y)))
    if expected == "type error":
        assert got == "type error"
    else:
        assert got == expected, (a, b, name)


# --- hostile files: only SerializationError, never another exception, never code ---------------
def _try_load(tmp_path, blob: bytes) -> None:
    path = tmp_path / "fuzz.npz"
    path.write_bytes(blob)
    try:
        out = ag.load(path)
    except SerializationError as err:
        assert "fuzz.npz" in str(err)
        return
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "biufc" for v in out.values())


@FUZZ
@given(blob=st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(tmp_path_factory, blob):
    _try_load(tmp_path_factory.mktemp("bytes"), blob)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


@FUZZ
@given(members=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.sampled_from(
    ["array", "object", "garbage", "truncated", "header"])), min_size=1, max_size=4),
    cut=st.integers(1, 40))
def test_random_archives_are_refused_or_loaded_cleanly(tmp_path_factory, members, cut):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: part of the fuzz
        for name, kind in members:
            if kind == "array":
                body = _npy(np.arange(4.0))
            elif kind == "object":  # a planted pickle
                body = _npy(np.array([{"x": 1}], dtype=object))
            elif kind == "garbage":
                body = bytes(range(cut))
            elif kind == "truncated":
                body = _npy(np.arange(20.0))[:-cut]
            else:  # a header claiming an enormous array
                body = _npy(np.zeros(1)).replace(b"(1,)", b"(99999999999,)")
            z.writestr(name + ".npy", body)
    _try_load(tmp_path_factory.mktemp("zips"), buf.getvalue())


# --- two threads training at once ---------------------------------------------------------------
def _train(seed: int, steps: int = 30) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    model = ag.nn.MLP([4, 8, 3], rng=rng)
    opt = ag.optim.Adam(model.parameters(), lr=0.01)
    X, y = rng.normal(size=(16, 4)), rng.integers(0, 3, size=16)
    for _ in range(steps):
        opt.zero_grad()
        ag.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return [p.data.copy() for p in model.parameters()]


def test_two_threads_training_at_once_match_training_alone():
    alone = [_train(1), _train(2)]
    results: dict[int, list] = {}

    def run(seed):
        results[seed] = _train(seed)

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, expected in zip((1, 2), alone, strict=True):
        for got, want in zip(results[seed], expected, strict=True):
            np.testing.assert_array_equal(got, want)


# --- fractional sizes are refused, never truncated ----------------------------------------------
FRACTIONAL = {
    "MLP": lambda: ag.nn.MLP([2.9, 4, 1]),
    "Linear": lambda: ag.nn.Linear(2.5, 3),
    "Conv2d": lambda: ag.nn.Conv2d(2.5, 4, 3),
    "Embedding": lambda: ag.nn.Embedding(10.5, 3),
    "LayerNorm": lambda: ag.nn.LayerNorm(3.5),
    "BatchNorm1d": lambda: ag.nn.BatchNorm1d(2.2),
    "MaxPool2d": lambda: ag.nn.MaxPool2d(2.5),
    "AvgPool2d": lambda: ag.nn.AvgPool2d(2, stride=1.5),
    "reshape": lambda: ag.reshape(ag.Tensor(np.ones(12)), (1.5, 8)),
    "broadcast_to": lambda: ag.broadcast_to(ag.Tensor(np.ones(3)), (2.0, 3)),
    "tile": lambda: ag.tile(ag.Tensor(np.ones(3)), 2.5),
    "repeat": lambda: ag.repeat(ag.Tensor(np.ones(3)), 1.5),
    "split": lambda: ag.split(ag.Tensor(np.ones(4)), 1.5),
    "roll": lambda: ag.roll(ag.Tensor(np.ones(4)), 1.5),
    "sum axis": lambda: ag.sum(ag.Tensor(np.ones(4)), axis=0.0),
    "StepLR": lambda: ag.optim.lr_scheduler.StepLR(
        ag.optim.SGD([ag.Tensor(np.ones(1), requires_grad=True)], lr=0.1), step_size=1.5),
}


@pytest.mark.parametrize("name", sorted(FRACTIONAL))
def test_fractional_sizes_are_refused_by_name(name):
    with pytest.raises((TypeError, ValueError)) as err:
        FRACTIONAL[name]()
    message = str(err.value)
    assert any(ch.isdigit() for ch in message) and ("int" in message or "must be" in message)
    assert name.split()[0] in message


@pytest.mark.parametrize("call", [
    lambda x: ag.sum(x, axis=0, keepdims="no"), lambda x: ag.norm(x, axis=0, keepdims="no"),
    lambda x: ag.argmax(x, axis=0, keepdims="no"), lambda x: ag.logsumexp(x, 0, keepdims="no")])
def test_a_string_keepdims_is_refused_not_read_as_true(call):
    with pytest.raises(TypeError, match="keepdims must be True or False, got 'no'"):
        call(ag.Tensor(np.ones((2, 3))))
