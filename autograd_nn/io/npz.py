"""Saving and loading state dicts as `.npz` files, without pickle.

`save(path, state_dict)` writes exactly `path` (no ".npz" appended) in np.savez's format, through
a temporary file that replaces the target only once complete. `load(path)` reads each member's
header first and never unpickles, so opening a file can never run code or allocate more than
the file holds; every failure of either raises `SerializationError` naming the file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..core.tensor import Tensor

__all__ = ["SerializationError", "load", "save"]

class SerializationError(ValueError):
    """A file could not be saved or loaded as a state dict (the message names the path)."""


def _arrays(state_dict: Mapping[str, Any], path: str) -> dict[str, np.ndarray]:
    if not isinstance(state_dict, Mapping):
        raise SerializationError(
            f"save {path!r}: expected a dict of name -> array, got {type(state_dict).__name__}"
        )
    out = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key:
            raise SerializationError(f"save {path!r}: keys must be non-empty strings, got {key!r}")
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise SerializationError(
                f"save {path!r}: {key!r} has dtype {arr.dtype}; only numeric arrays can be "
                "saved (no objects or strings, which would need pickle)"
            )
        out[key] = arr
    return out


def _check_target(path: str) -> str:
    """The folder `save` writes into, after checking `path` can be a file there."""
    if os.path.isdir(path):
        raise SerializationError(f"save {path!r}: is a directory; give a file name (model.npz)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SerializationError(f"save {path!r}: the folder {folder!r} does not exist")
    return folder


def save(path: str | os.PathLike, state_dict: Mapping[str, Any]) -> None:
    """Write `state_dict` (name -> array or Tensor) to `path` as an uncompressed .npz.

    Each key is stored as the archive member `key + ".npy"` (what np.savez does), so np.load
    reads the file too; `load` strips exactly that suffix, so keys ending in ".npy" survive."""
    path = os.fspath(path)
    arrays = _arrays(state_dict, path)

    def write(f: Any) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            for key, arr in arrays.items():
                with archive.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)

    write_atomically(path, ".npz", write)


def write_atomically(path: str, suffix: str, write: Callable[[Any], None]) -> None:
    """`write(file)` into a temporary file beside `path`, then moved onto it: a failed save
    never leaves half a file where the old one was."""
    folder = _check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    except OSError as err:
        raise SerializationError(f"save {path!r}: cannot write in {folder!r} ({err.strerror})"
                                 ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as err:
        raise SerializationError(f"save {path!r}: {err.strerror or err}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> np.ndarray:
    """One .npy member, refusing pickles, non-numeric dtypes and shapes the bytes can't hold."""
    name = info.filename[:-4]
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if dtype.hasobject:
            raise SerializationError(
                f"load {path!r}: entry {name!r} holds object arrays, which need pickle to load; "
                "refusing (loading must never run code)")
        if dtype.kind not in "biufc":
            raise SerializationError(
                f"load {path!r}: entry {name!r} has non-numeric dtype {dtype}")
        count = int(np.prod(shape, dtype=object))
        if count * dtype.itemsize > info.file_size:
            raise SerializationError(
                f"load {path!r}: entry {name!r} claims shape {shape} {dtype}, more than its "
                f"{info.file_size} bytes hold (a damaged or hostile file)")
        data = f.read(count * dtype.itemsize)
        rest = f.read()  # reading to the end makes zipfile check the member's CRC
    if len(data) != count * dtype.itemsize or rest:
        raise SerializationError(
            f"load {path!r}: entry {name!r} has {len(data) + len(rest)} bytes of data where "
            f"shape {shape} {dtype} needs {count * dtype.itemsize}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    arr = arr.astype(dtype.newbyteorder("=")) if not dtype.isnative else arr.copy()  # same values
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by `save` (or any .npz of numeric arrays) into name -> ndarray."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SerializationError(f"load {path!r}: no such file")
    if os.path.isdir(path):
        raise SerializationError(f"load {path!r}: is a directory, not an .npz file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise SerializationError(
            f"load {path!r}: not an .npz file (not a readable zip archive: another format, or "
            f"a truncated or damaged file; {err}); ag.save writes .npz archives"
        ) from None
    out: dict[str, np.ndarray] = {}
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                raise SerializationError(
                    f"load {path!r}: the archive member {info.filename!r} is not a .npy array")
            name = info.filename[:-4]
            if name in out:
                raise SerializationError(f"load {path!r}: the entry {name!r} appears twice")
            try:
                out[name] = _read_member(archive, info, path)
            except SerializationError:
                raise
            except Exception as err:  # noqa: BLE001 (zip, zlib and header errors of a bad file)
                raise SerializationError(
                    f"load {path!r}: entry {name!r} is damaged ({type(err).__name__}: {err})"
                ) from None
    return out
