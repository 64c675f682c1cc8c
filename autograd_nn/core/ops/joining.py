"""Joining and splitting, as composites of the shape rows (NumPy's semantics): append,
column_stack, atleast_1d/2d/3d and dsplit. Their gradients are those of the reshapes,
concatenations and slices they record."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrange import _split
from .registry import composite, normalize_axis, prims


def _array(x: Any) -> Any:
    """A Tensor as it is, anything else as a NumPy array (the rows then run NumPy on it)."""
    return x if hasattr(x, "_apply_primitive") else np.asarray(x)


def _append(arr, values: Any, axis: Any = None):
    """np.append: values joined after arr along `axis`; both are flattened when axis is None."""
    values = _array(values)
    if axis is None:
        return prims.concatenate(prims.reshape(arr, shape=(-1,)),
                                 prims.reshape(values, shape=(-1,)), axis=0)
    (axis,) = normalize_axis(axis, arr.ndim)
    if values.ndim != arr.ndim:
        raise ValueError(f"values of shape {values.shape} need as many dims as arr {arr.shape} "
                         f"to be appended along axis {axis}")
    return prims.concatenate(arr, values, axis=axis)


def _column_stack(xs):
    """np.column_stack: 1-D inputs become columns, 2-D ones are joined as they are (axis 1)."""
    xs = [prims.reshape(x, shape=(-1, 1)) if x.ndim < 2 else x for x in xs]
    return prims.concatenate(*xs, axis=1)


def _at_least(ndim: int, x):
    """x with size-1 axes added as np.atleast_<ndim>d places them."""
    x = _array(x)
    if x.ndim >= ndim:
        return x
    if ndim == 3 and x.ndim == 2:
        shape = tuple(x.shape) + (1,)
    elif ndim == 3:  # 0-d and 1-D: (1, n, 1)
        shape = (1, int(x.size), 1)
    else:
        shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
    return prims.reshape(x, shape=shape)


def _atleast_1d(*arys: Any) -> Any:
    """np.atleast_1d: 0-d inputs as shape (1,); one tensor for one input, else a tuple."""
    out = tuple(_at_least(1, x) for x in arys)
    return out[0] if len(out) == 1 else out


def _atleast_2d(*arys: Any) -> Any:
    """np.atleast_2d: (n,) as (1, n), 0-d as (1, 1); one tensor for one input, else a tuple."""
    out = tuple(_at_least(2, x) for x in arys)
    return out[0] if len(out) == 1 else out


def _atleast_3d(*arys: Any) -> Any:
    """np.atleast_3d: (n,) as (1, n, 1), (m, n) as (m, n, 1); one tensor for one input, else a
    tuple."""
    out = tuple(_at_least(3, x) for x in arys)
    return out[0] if len(out) == 1 else out


def _dsplit(x, indices_or_sections: Any) -> list:
    """Split along axis 2 of an at-least-3-D tensor, as np.dsplit."""
    if x.ndim < 3:
        raise ValueError(f"dsplit needs at least 3 dims, got shape {x.shape}")
    return _split(x, indices_or_sections, 2)


append = composite("append", _append)
column_stack = composite("column_stack", _column_stack, variadic=True)
atleast_1d = composite("atleast_1d", _atleast_1d, inputs=0)
atleast_2d = composite("atleast_2d", _atleast_2d, inputs=0)
atleast_3d = composite("atleast_3d", _atleast_3d, inputs=0)
dsplit = composite("dsplit", _dsplit)
