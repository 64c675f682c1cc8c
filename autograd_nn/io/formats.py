"""`save` / `load` by the file's name: `.safetensors` files through safetensors_file.py, every
other name as an uncompressed `.npz` (npz.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import npz, safetensors_file
from .npz import SerializationError

__all__ = ["load", "save"]


def _is_safetensors(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".safetensors")


def save(path: str | os.PathLike, state_dict: Mapping[str, Any],
         metadata: Mapping[str, str] | None = None) -> None:
    """Write `state_dict` (name -> array or Tensor) to `path`: safetensors when the name ends in
    ".safetensors" (with optional str -> str `metadata`), else an uncompressed .npz."""
    if _is_safetensors(path):
        safetensors_file.save(path, state_dict, metadata)
        return
    if metadata is not None:
        raise SerializationError(f"save {os.fspath(path)!r}: metadata is stored only in "
                                 ".safetensors files; name the file *.safetensors")
    npz.save(path, state_dict)


def load(path: str | os.PathLike, with_metadata: bool = False) -> Any:
    """Read a file written by `save` (.npz or .safetensors, by its name) into name -> ndarray;
    `with_metadata=True` returns (arrays, metadata) for a .safetensors file."""
    if _is_safetensors(path):
        return safetensors_file.load(path, with_metadata)
    if with_metadata:
        raise SerializationError(f"load {os.fspath(path)!r}: only .safetensors files hold "
                                 "metadata")
    return npz.load(path)
