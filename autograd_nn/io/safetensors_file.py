"""The safetensors format with NumPy and json alone: an 8-byte little-endian header length, a
JSON header (name -> dtype, shape, byte offsets; "__metadata__" -> str: str) and raw bytes.

`load` validates the whole header (types, dtypes, shapes, offsets against the file size, no
overlap or gap) before it allocates any array, so a hostile file costs at most its header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .npz import SerializationError, _arrays, write_atomically

__all__ = ["load", "save"]

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the limit the safetensors package itself applies
INT64_MAX = 2 ** 63 - 1
MAX_DIMS = 64  # NumPy 2's limit on an array's dimensions

# safetensors dtype name -> NumPy dtype (always little-endian in the file)
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}
# dtypes of the format NumPy has no type for: refused by name rather than reinterpreted
UNSUPPORTED = {"BF16": "bfloat16", "F8_E4M3": "float8 e4m3", "F8_E5M2": "float8 e5m2",
               "F8_E8M0": "float8 e8m0", "F4": "float4", "F6_E2M3": "float6", "F6_E3M2": "float6",
               "C64": "complex64"}


def _dtype_name(arr: np.ndarray, key: str, path: str) -> str:
    name = _NAMES.get((arr.dtype.kind, arr.dtype.itemsize))
    if name is None:
        raise SerializationError(
            f"save {path!r}: {key!r} has dtype {arr.dtype}, which safetensors has no name for "
            f"(it stores {', '.join(DTYPES)}); cast it, or save as .npz")
    return name


def save(path: str | os.PathLike, state_dict: Mapping[str, Any],
         metadata: Mapping[str, str] | None = None) -> None:
    """Write `state_dict` (name -> array or Tensor) to `path` as safetensors, with optional
    `metadata` (str -> str), through a temporary file that replaces `path` once complete."""
    path = os.fspath(path)
    arrays = _arrays(state_dict, path)
    if metadata is not None and (not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise SerializationError(f"save {path!r}: metadata must be a dict of str -> str, got "
                                 f"{metadata!r}")
    if "__metadata__" in arrays:
        raise SerializationError(f"save {path!r}: '__metadata__' is reserved by safetensors "
                                 "for the metadata; rename that entry")
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for key, arr in arrays.items():
        dtype = DTYPES[_dtype_name(arr, key, path)]
        blob = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        header[key] = {"dtype": _dtype_name(arr, key, path), "shape": list(arr.shape),
                       "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the package writes it

    def write(f: Any) -> None:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)

    write_atomically(path, ".safetensors", write)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_fits(bad: str, shape: list[int], dtype: np.dtype) -> None:
    """Refuse a shape NumPy cannot hold (too many dimensions, a dimension or a byte size past
    int64) before NumPy sees it."""
    if len(shape) > MAX_DIMS:
        raise SerializationError(f"{bad} has {len(shape)} dimensions; NumPy holds at most "
                                 f"{MAX_DIMS}")
    nbytes = dtype.itemsize
    for n in shape:
        if n > INT64_MAX:
            raise SerializationError(f"{bad} has shape {shape!r:.100}: the dimension {n} does "
                                     "not fit in int64 (a damaged or hostile file)")
        nbytes *= max(n, 1)
    if nbytes > INT64_MAX:
        raise SerializationError(f"{bad} has shape {shape!r:.100}: its byte size (zero dimensions "
                                 "aside) does not fit in int64 (a damaged or hostile file)")


def _entry(name: str, spec: Any, path: str) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """One header entry, checked: (dtype, shape, begin, end) with end - begin its exact size."""
    bad = f"load {path!r}: the header's entry {name!r}"
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise SerializationError(f"{bad} must hold exactly dtype, shape and data_offsets, got "
                                 f"{spec!r:.200}")
    code, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if code in UNSUPPORTED:
        raise SerializationError(
            f"{bad} has dtype {code} ({UNSUPPORTED[code]}), which NumPy cannot hold; convert "
            "it where it was written (to F32, say) and save again")
    if code not in DTYPES:
        raise SerializationError(f"{bad} has unknown dtype {code!r:.50}")
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        raise SerializationError(f"{bad} has shape {shape!r:.100}; expected a list of "
                                 "non-negative ints")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n)
                                                                      for n in offsets):
        raise SerializationError(f"{bad} has data_offsets {offsets!r:.100}; expected [begin, end]")
    begin, end = offsets
    dtype = DTYPES[code]
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if end - begin != size:
        raise SerializationError(
            f"{bad} has shape {shape} {code} ({size} bytes) but data_offsets [{begin}, {end}] "
            f"span {end - begin} bytes (a damaged or hostile file)")
    _check_fits(bad, shape, dtype)
    return dtype, tuple(shape), begin, end


def read_header(f: Any, path: str, file_size: int
                ) -> tuple[dict[str, tuple[np.dtype, tuple[int, ...], int, int]], dict[str, str],
                           int]:
    """The validated header: entries, metadata and where the data starts, before any data is
    read (so a file claiming more than it holds is refused without allocating it)."""
    start = f.read(8)
    if len(start) < 8:
        raise SerializationError(f"load {path!r}: truncated: {file_size} bytes, shorter than "
                                 "safetensors' 8-byte header length")
    length = int.from_bytes(start, "little")
    if length > MAX_HEADER_BYTES:
        raise SerializationError(f"load {path!r}: the header claims {length} bytes, more than "
                                 f"the {MAX_HEADER_BYTES}-byte limit (not safetensors, or hostile)")
    if 8 + length > file_size:
        raise SerializationError(f"load {path!r}: truncated: the header claims {length} bytes "
                                 f"but the file has {file_size - 8} after the length")
    raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as err:
        raise SerializationError(f"load {path!r}: the header is not valid JSON ({err}); not a "
                                 "safetensors file, or a damaged one") from None
    except RecursionError:
        raise SerializationError(f"load {path!r}: the header nests JSON too deeply to read "
                                 "(not a safetensors file, or a hostile one)") from None
    if not isinstance(header, dict):
        raise SerializationError(f"load {path!r}: the header is a JSON "
                                 f"{type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SerializationError(f"load {path!r}: __metadata__ must map str -> str, got "
                                 f"{metadata!r:.200}")
    entries = {name: _entry(name, spec, path) for name, spec in header.items()}
    data_size = file_size - 8 - length
    expected = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin < expected:
            raise SerializationError(f"load {path!r}: the entry {name!r} at bytes [{begin}, "
                                     f"{end}] overlaps the entry before it (ends at {expected})")
        if begin > expected:
            raise SerializationError(f"load {path!r}: {begin - expected} bytes before the entry "
                                     f"{name!r} belong to no entry (a damaged file)")
        expected = end
    if expected > data_size:
        raise SerializationError(f"load {path!r}: truncated: the entries need {expected} bytes "
                                 f"of data, the file holds {data_size}")
    if expected < data_size:
        raise SerializationError(f"load {path!r}: {data_size - expected} bytes after the last "
                                 "entry belong to no entry (a damaged or oversized file)")
    return entries, metadata, 8 + length


def load(path: str | os.PathLike, with_metadata: bool = False) -> Any:
    """Read a safetensors file into name -> ndarray (native byte order); with
    `with_metadata=True`, a pair (arrays, metadata)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SerializationError(f"load {path!r}: " + ("is a directory, not a .safetensors file"
                                                        if os.path.isdir(path) else "no such file"))
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        entries, metadata, data_start = read_header(f, path, size)
        for name, (dtype, shape, begin, end) in entries.items():
            f.seek(data_start + begin)
            data = f.read(end - begin)
            if len(data) != end - begin:  # the file shrank while being read
                raise SerializationError(f"load {path!r}: entry {name!r} is truncated")
            arr = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
            out[name] = arr.reshape(shape)
    return (out, dict(metadata)) if with_metadata else out
