"""Saving and loading state dicts as `.npz` files, without pickle.

`save(path, state_dict)` writes exactly `path` (no ".npz" appended) with `np.savez`, through a
temporary file that replaces the target only once complete. `load(path)` reads with
`allow_pickle=False`, so opening a file can never run code; anything that is not an .npz of
plain numeric arrays raises `SerializationError` naming the file and the problem.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["SerializationError", "load", "save"]

# np.savez(file, *args, allow_pickle=..., **arrays) cannot take these as array names.
_RESERVED = frozenset({"file", "allow_pickle"})


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
        if key in _RESERVED:
            raise SerializationError(
                f"save {path!r}: the key {key!r} is reserved by np.savez; rename it"
            )
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise SerializationError(
                f"save {path!r}: {key!r} has dtype {arr.dtype}; only numeric arrays can be "
                "saved (no objects or strings, which would need pickle)"
            )
        out[key] = arr
    return out


def save(path: str | os.PathLike, state_dict: Mapping[str, Any]) -> None:
    """Write `state_dict` (name -> array or Tensor) to `path` as an uncompressed .npz."""
    path = os.fspath(path)
    arrays = _arrays(state_dict, path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SerializationError(f"save {path!r}: the folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by `save` (or any .npz of numeric arrays) into name -> ndarray."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SerializationError(f"load {path!r}: no such file")
    if os.path.isdir(path):
        raise SerializationError(f"load {path!r}: is a directory, not an .npz file")
    if not zipfile.is_zipfile(path):
        raise SerializationError(
            f"load {path!r}: not an .npz file (not a readable zip archive: another format, or "
            "a truncated or damaged file); ag.save writes .npz archives"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise SerializationError(
                f"load {path!r}: the archive contains object arrays, which need pickle to load; "
                "refusing (loading must never run code)"
            ) from None
        raise SerializationError(f"load {path!r}: corrupt .npz file ({err})") from err
    except Exception as err:  # noqa: BLE001 (zip/zlib/format errors of a damaged file)
        raise SerializationError(
            f"load {path!r}: corrupt .npz file ({type(err).__name__}: {err})"
        ) from err
    for key, arr in out.items():
        if arr.dtype.kind not in "biufc":
            raise SerializationError(
                f"load {path!r}: entry {key!r} has non-numeric dtype {arr.dtype}"
            )
    return out
