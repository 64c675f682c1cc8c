"""ag.save / ag.load: .npz round trips, and clear errors for anything else (never unpickling)."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.serialization import SerializationError


def _state():
    rng = np.random.default_rng(0)
    return {
        "layers.0.weight": rng.normal(size=(3, 4)),
        "layers.0.bias": np.zeros(4, np.float32),
        "step": np.array(7),
        "mask": np.array([True, False]),
        "arr_0": np.arange(3),  # np.savez's own positional naming must not collide
    }


def test_round_trip_keeps_names_order_values_and_dtypes(tmp_path):
    sd = _state()
    path = tmp_path / "model.weights"  # any suffix: the exact path is written
    ag.save(path, sd)
    assert path.exists() and not (tmp_path / "model.weights.npz").exists()
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.weights"]  # no temp file left
    back = ag.load(str(path))
    assert list(back) == list(sd)
    for key in sd:
        np.testing.assert_array_equal(back[key], sd[key])
        assert back[key].dtype == sd[key].dtype
        assert isinstance(back[key], np.ndarray)


def test_module_state_dict_and_tensors_round_trip(tmp_path):
    model = ag.nn.MLP([2, 3, 1], rng=0)
    path = tmp_path / "mlp.npz"
    ag.save(path, {**model.state_dict(), "extra": ag.Tensor([1.0, 2.0])})
    loaded = ag.load(path)
    np.testing.assert_array_equal(loaded.pop("extra"), [1.0, 2.0])
    fresh = ag.nn.MLP([2, 3, 1], rng=1)
    fresh.load_state_dict(loaded)
    x = np.ones((2, 2))
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "w.npz"
    ag.save(path, {"a": np.ones(2)})
    ag.save(path, {"b": np.zeros(3)})
    assert list(ag.load(path)) == ["b"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(SerializationError, match=r"nope\.npz.*no such file"):
        ag.load(path)
    assert issubclass(SerializationError, ValueError)


def test_not_an_npz_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, I am text")
    with pytest.raises(SerializationError, match=r"notes\.txt.*not an \.npz file"):
        ag.load(path)
    npy = tmp_path / "single.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(SerializationError, match=r"single\.npy.*not an \.npz file"):
        ag.load(npy)
    with pytest.raises(SerializationError, match="is a directory"):
        ag.load(tmp_path)


class _Exploit:
    """Unpickling this would create a marker file: loading must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(SerializationError, match=r"evil\.npz"):
        ag.load(path)
    assert not marker.exists()


def test_npz_with_object_arrays_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "objects.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = _Exploit(str(marker))
    np.savez(path, good=np.ones(2), bad=payload)
    with pytest.raises(SerializationError, match=r"objects\.npz.*object arrays.*pickle"):
        ag.load(path)
    assert not marker.exists()


def test_corrupt_npz(tmp_path):
    good = tmp_path / "good.npz"
    ag.save(good, {"w": np.arange(1000.0)})
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match=r"truncated\.npz"):
        ag.load(truncated)
    # flip bytes inside the array payload but keep the zip directory intact
    damaged = tmp_path / "damaged.npz"
    raw = bytearray(data)
    start = data.index(b"\x93NUMPY")
    raw[start:start + 12] = b"\x00" * 12  # destroy the .npy header
    damaged.write_bytes(bytes(raw))
    with pytest.raises(SerializationError, match=r"damaged\.npz'?: corrupt .npz file .*CRC"):
        ag.load(damaged)


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(SerializationError, match="only numeric arrays"):
        ag.save(tmp_path / "x.npz", {"names": np.array(["a", "b"])})
    with pytest.raises(SerializationError, match="dtype object"):
        ag.save(tmp_path / "x.npz", {"obj": np.array([{}, 1], dtype=object)})
    with pytest.raises(SerializationError, match="keys must be non-empty strings"):
        ag.save(tmp_path / "x.npz", {1: np.ones(1)})
    with pytest.raises(SerializationError, match="reserved by np.savez"):
        ag.save(tmp_path / "x.npz", {"file": np.ones(1)})
    with pytest.raises(SerializationError, match="expected a dict"):
        ag.save(tmp_path / "x.npz", [np.ones(1)])
    with pytest.raises(SerializationError, match="does not exist"):
        ag.save(tmp_path / "missing_dir" / "x.npz", {"a": np.ones(1)})
    assert not os.path.exists(tmp_path / "x.npz")
