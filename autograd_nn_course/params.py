"""The tutorials' weight dicts (name -> array): checked against expected shapes, and copied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd_nn import Tensor

__all__ = ["as_array", "check_params", "copy_params"]


def as_array(value: Any) -> np.ndarray:
    """The float64 array behind a Tensor, array, or nested list (always a fresh copy)."""
    data = value.data if isinstance(value, Tensor) else value
    return np.array(data, dtype=np.float64, copy=True)


def check_params(params: Any, shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Raise a clear error unless `params` maps exactly the names in `shapes` to those shapes."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{where}: params must be a dict with keys {sorted(shapes)}, "
            f"got {type(params).__name__}"
        )
    missing = [k for k in shapes if k not in params]
    extra = [k for k in params if k not in shapes]
    if missing or extra:
        raise KeyError(
            f"{where}: params must have exactly the keys {sorted(shapes)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for key, shape in shapes.items():
        value = params[key]  # a Tensor's .shape, not .data.shape: ag.compile guards .data
        got = tuple(value.shape if isinstance(value, Tensor) else np.shape(value))
        if got != tuple(shape):
            raise ValueError(f"{where}: params[{key!r}] has shape {got}, expected {tuple(shape)}")


def copy_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A dict of fresh float64 arrays with the same keys (so callers' arrays are never mutated)."""
    return {k: as_array(v) for k, v in params.items()}
