"""safetensors through ag.save / ag.load: round trips, metadata, the package both ways, and
hostile files refused by name before anything is allocated."""

import json
import struct

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.io import SerializationError

DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_]


def _state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {f"t_{np.dtype(d).name}": (rng.standard_normal((3, 4)) * 50).astype(d) for d in DTYPES}
    out["scalar"] = np.array(2.5)
    out["empty"] = np.zeros((0, 3), np.float32)
    out["fortran"] = np.asfortranarray(rng.standard_normal((3, 5)))
    out["big_endian"] = np.arange(6, dtype=">f4").reshape(2, 3)
    return out


def _equal(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert b[k].dtype == np.asarray(a[k]).dtype.newbyteorder("="), k
        assert b[k].shape == a[k].shape, k
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)


def test_round_trip_every_dtype_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    state = _state()
    ag.save(path, state, metadata={"format": "pt", "note": "ü"})
    loaded, meta = ag.load(path, with_metadata=True)
    _equal(state, loaded)
    assert meta == {"format": "pt", "note": "ü"}
    assert all(v.flags.writeable for v in loaded.values())
    assert (path.stat().st_size - 8 - int.from_bytes(path.read_bytes()[:8], "little")) == \
        sum(v.nbytes for v in state.values())


def test_module_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 3))
    model.train()
    model(np.random.default_rng(1).standard_normal((2, 1, 3, 3)))  # running stats move
    path = tmp_path / "m.safetensors"
    model.save(path)
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 3))
    other.load(path)
    _equal(model.state_dict(), other.state_dict())


def test_metadata_refused_for_npz_and_bad_metadata(tmp_path):
    with pytest.raises(SerializationError, match="metadata is stored only in .safetensors"):
        ag.save(tmp_path / "m.npz", {"a": np.ones(2)}, metadata={"a": "b"})
    with pytest.raises(SerializationError, match="metadata must be a dict of str -> str"):
        ag.save(tmp_path / "m.safetensors", {"a": np.ones(2)}, metadata={"a": 1})
    with pytest.raises(SerializationError, match="complex128.*safetensors has no name"):
        ag.save(tmp_path / "m.safetensors", {"a": np.ones(2, complex)})


def _write(path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + raw + data)


@pytest.mark.parametrize(("header", "data", "message"), [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4,
     "truncated: the entries need 8 bytes of data, the file holds 4"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12,
     "'b' at bytes \\[4, 12\\] overlaps"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 16,
     "8 bytes after the last entry belong to no entry"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12,
     "4 bytes before the entry 'a' belong to no entry"),
    ({"a": {"dtype": "F32", "shape": [10 ** 12, 10 ** 12], "data_offsets": [0, 8]}}, b"\0" * 8,
     "shape .* bytes\\) but data_offsets \\[0, 8\\] span 8 bytes"),
    ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
     "dtype BF16 \\(bfloat16\\), which NumPy cannot hold"),
    ({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2, "unknown dtype 'Q8'"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "non-negative ints"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4, "expected \\[begin"),
    ({"a": {"dtype": "F32", "shape": [1]}}, b"", "exactly dtype, shape and data_offsets"),
    ({"__metadata__": {"a": 1}}, b"", "__metadata__ must map str -> str"),
    (b"[1, 2]", b"", "the header is a JSON list"),
    (b"\xff\xfe", b"", "the header is not valid JSON"),
    (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {}}', b"\0" * 4,
     "'a' appears twice"),
])
def test_hostile_files_refused_by_name(tmp_path, header, data, message):
    path = tmp_path / "bad.safetensors"
    _write(path, header, data)
    with pytest.raises(SerializationError, match=message):
        ag.load(path)


def test_header_lengths_refused_before_reading(tmp_path):
    path = tmp_path / "bad.safetensors"
    _write(path, b"{}", length=2 ** 40)
    with pytest.raises(SerializationError, match="more than the 104857600-byte limit"):
        ag.load(path)
    _write(path, b"{}", length=1000)
    with pytest.raises(SerializationError, match="truncated: the header claims 1000 bytes"):
        ag.load(path)
    path.write_bytes(b"\1\0")
    with pytest.raises(SerializationError, match="truncated: 2 bytes"):
        ag.load(path)
    with pytest.raises(SerializationError, match="no such file"):
        ag.load(tmp_path / "none.safetensors")


def test_truncated_copy_of_a_real_file_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    ag.save(path, _state())
    raw = path.read_bytes()
    for cut in (len(raw) - 1, len(raw) // 2, 9):
        (tmp_path / "cut.safetensors").write_bytes(raw[:cut])
        with pytest.raises(SerializationError, match="truncated"):
            ag.load(tmp_path / "cut.safetensors")


def test_the_safetensors_package_reads_ours_and_we_read_its(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package (test extra)")
    state = {k: v for k, v in _state().items() if k not in ("big_endian",)}
    ours = tmp_path / "ours.safetensors"
    ag.save(ours, state, metadata={"who": "autograd_nn"})
    theirs_read = st.load_file(str(ours))
    _equal(state, {k: theirs_read[k] for k in state})
    from safetensors import safe_open
    with safe_open(str(ours), framework="np") as f:
        assert f.metadata() == {"who": "autograd_nn"}
    theirs = tmp_path / "theirs.safetensors"
    st.save_file({k: v.copy(order="C") for k, v in state.items()}, str(theirs),
                 metadata={"format": "np"})
    loaded, meta = ag.load(theirs, with_metadata=True)
    assert meta == {"format": "np"}
    assert sorted(loaded) == sorted(state)
    _equal({k: state[k] for k in loaded}, loaded)


def test_torch_writes_and_reads_ours(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch (test extra)")
    st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package")
    linear = torch.nn.Linear(3, 2)
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(linear.state_dict(), str(path))
    model = nn.Linear(3, 2, dtype=np.float32)
    model.load_state_dict(ag.io.from_torch(ag.load(path), model))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x).data, linear(torch.from_numpy(x)).detach().numpy(),
                               atol=1e-6)
    ag.save(tmp_path / "ours.safetensors", ag.io.to_torch(model, tensors=False))
    back = torch.nn.Linear(3, 2)
    back.load_state_dict(st_torch.load_file(str(tmp_path / "ours.safetensors")), strict=True)
    assert torch.equal(back.weight, linear.weight)
