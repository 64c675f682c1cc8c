"""linspace as a composite of rows: start and stop may be Tensors, and get gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import composite, normalize_axis, prims


def _linspace(start, stop, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0):
    """`num` evenly spaced values from start to stop (stop included unless endpoint=False), as
    np.linspace: start + k * (stop - start) / div, the last one exactly stop; start and stop
    may be arrays (the values run along `axis`) and Tensors (differentiable)."""
    if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 0:
        raise ValueError(f"num must be a non-negative int, got {num!r}")
    if start.dtype.kind != "f":
        start = prims.astype(start, dtype=np.float64)
    if stop.dtype.kind != "f":
        stop = prims.astype(stop, dtype=np.float64)
    ndim = max(start.ndim, stop.ndim)
    k = np.arange(num, dtype=np.result_type(start.dtype, stop.dtype)).reshape((-1,) + (1,) * ndim)
    div = num - 1 if endpoint else num
    if div > 0:
        out = k * ((stop - start) / div) + start
        if endpoint and num > 1:
            out = prims.where(k == num - 1, stop, out)
    else:  # one value (or none): start, as NumPy
        out = k * (stop - start) + start
    if ndim and axis != 0:
        (dest,) = normalize_axis(axis, ndim + 1)
        out = prims.transpose(out, axes=tuple(range(1, dest + 1)) + (0,) +
                              tuple(range(dest + 1, ndim + 1)))
    return out if dtype is None else prims.astype(out, dtype=np.dtype(dtype))


linspace = composite("linspace", _linspace, inputs=2)
