"""ag.save / ag.load: .npz round trips, and clear errors for anything else (never unpickling)."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.io import SerializationError


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
    with pytest.raises(SerializationError, match=r"damaged\.npz'?: entry 'w' is damaged"):
        ag.load(damaged)


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(SerializationError, match="only numeric arrays"):
        ag.save(tmp_path / "x.npz", {"names": np.array(["a", "b"])})
    with pytest.raises(SerializationError, match="dtype object"):
        ag.save(tmp_path / "x.npz", {"obj": np.array([{}, 1], dtype=object)})
    with pytest.raises(SerializationError, match="keys must be non-empty strings"):
        ag.save(tmp_path / "x.npz", {1: np.ones(1)})
    with pytest.raises(SerializationError, match="expected a dict"):
        ag.save(tmp_path / "x.npz", [np.ones(1)])
    with pytest.raises(SerializationError, match="does not exist"):
        ag.save(tmp_path / "missing_dir" / "x.npz", {"a": np.ones(1)})
    assert not os.path.exists(tmp_path / "x.npz")


def test_payload_damage_is_caught_by_the_checksum(tmp_path):
    good = tmp_path / "good.npz"
    ag.save(good, {"w": np.arange(1000.0)})
    raw = bytearray(good.read_bytes())
    start = raw.index(b"\x93NUMPY") + 200  # inside the numbers, past the header
    raw[start:start + 8] = b"\xff" * 8
    damaged = tmp_path / "payload.npz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(SerializationError, match=r"payload\.npz'?: entry 'w' is damaged.*CRC"):
        ag.load(damaged)


def test_keys_that_np_savez_could_not_keep_round_trip(tmp_path):
    state = {"a": np.ones(2), "a.npy": np.zeros(3), "file": np.arange(2.0),
             "allow_pickle": np.ones((1, 1)), "layer/weight": np.eye(2)}
    ag.save(tmp_path / "k.npz", state)
    back = ag.load(tmp_path / "k.npz")
    assert set(back) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(back[key], value)
    with np.load(tmp_path / "k.npz") as npz:  # still an ordinary .npz
        np.testing.assert_array_equal(npz["layer/weight"], np.eye(2))


def test_fortran_order_and_compressed_archives_load(tmp_path):
    f = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.savez_compressed(tmp_path / "c.npz", f=f)
    back = ag.load(tmp_path / "c.npz")["f"]
    np.testing.assert_array_equal(back, f)


def test_a_member_that_is_not_an_array_is_named(tmp_path):
    import zipfile

    path = tmp_path / "mixed.npz"
    np.savez(path, w=np.ones(2))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(SerializationError, match=r"mixed\.npz.*'notes\.txt' is not a \.npy"):
        ag.load(path)


def test_a_shape_larger_than_the_file_is_refused_before_allocating(tmp_path):
    import zipfile

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"
    header += " " * (63 - len(header) % 64) + "\n"
    blob = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", blob + b"\x00" * 64)
    with pytest.raises(SerializationError, match=r"huge\.npz.*claims shape"):
        ag.load(path)


def test_saving_onto_a_directory_or_unwritable_folder_names_the_path(tmp_path, monkeypatch):
    with pytest.raises(SerializationError, match="is a directory"):
        ag.save(tmp_path, {"w": np.ones(1)})

    def refuse(*args, **kwargs):  # what a read-only folder does (root would ignore chmod)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ag.io.npz.tempfile, "mkstemp", refuse)
    with pytest.raises(SerializationError, match=r"w\.npz'?: cannot write in .*Permission"):
        ag.save(tmp_path / "w.npz", {"w": np.ones(1)})


def test_load_state_dict_dtype_hint_is_one_that_works():
    model = ag.nn.Linear(2, 1)
    state = {k: v.astype(np.float32) for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"model\.astype\(np\.float32\)") as err:
        model.load_state_dict(state)
    model.astype(np.float32).load_state_dict(state)  # the hint, followed, works
    ints = {k: v.astype(np.int64) for k, v in ag.nn.Linear(2, 1).state_dict().items()}
    with pytest.raises(ValueError, match="cannot hold int64") as err:
        ag.nn.Linear(2, 1).load_state_dict(ints)
    assert "astype(int64)" not in str(err.value)


def test_a_big_endian_file_loads_into_a_native_model(tmp_path):
    """'>f8' and '<f8' hold the same numbers: a big-endian .npz (written on another machine or
    by np.savez with a '>f8' array) loads, in native byte order, with equal values."""
    m = ag.nn.Linear(3, 2)
    sd = {k: v.astype(">f8") for k, v in m.state_dict().items()}
    path = tmp_path / "big_endian.npz"
    np.savez(path, **sd)
    loaded = ag.load(path)
    assert all(v.dtype == np.float64 and v.dtype.isnative for v in loaded.values())
    fresh = ag.nn.Linear(3, 2)
    fresh.load_state_dict(loaded)
    fresh.load_state_dict(sd)  # arrays of the other byte order straight from NumPy too
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    with pytest.raises(ValueError, match=r"model\.astype\(np\.float32\)"):
        fresh.load_state_dict({k: v.astype(">f4") for k, v in sd.items()})
