"""Rearranging and gathering: pad (a row; its other modes are gathers), and composites of the
shape rows: squeeze, unsqueeze, flatten, ravel, moveaxis, flip, roll, tile, repeat,
take_along_axis, gather, the split family and hstack/vstack. A composite records the rows it is
made of, so its gradient is theirs (a gather's is a scatter-add, a tile's a sum)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import Call, composite, normalize_axis, primitive, prims
from .shape import pick


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (int, np.integer, tuple, list)):
        raise TypeError(f"{what} must be an int or a sequence of ints, got {value!r}")
    items = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{what} must be ints, got {value!r}")
    return tuple(int(v) for v in items)


# --- pad ----------------------------------------------------------------------------------------
_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def _is_whole(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _pad_widths(x, pad_width: Any) -> tuple:
    """pad_width as NumPy reads it ((before, after) per axis), integers only: a fractional width
    is refused, as np.pad does, not rounded."""
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=object), (x.ndim, 2)).tolist()
    except ValueError:
        raise ValueError(f"pad_width {pad_width!r} does not fit a tensor with {x.ndim} dims "
                         "(one int, (before, after), or one such pair per axis)") from None
    if not all(_is_whole(v) for pair in widths for v in pair):
        raise TypeError(f"pad_width must hold integers (not float or bool), got {pad_width!r}")
    return tuple((int(a), int(b)) for a, b in widths)


def _side_values(x, constant_values: Any) -> Any:
    """constant_values as one number, or (before, after) per axis when the sides differ."""
    if isinstance(constant_values, (int, float, np.number)) and not isinstance(
            constant_values, (bool, np.bool_)):
        return float(constant_values)
    try:
        values = np.broadcast_to(np.asarray(constant_values, dtype=float), (x.ndim, 2))
    except (ValueError, TypeError):
        raise ValueError(f"constant_values must be a number, (before, after), or one such pair "
                         f"per axis of a tensor with {x.ndim} dims, got "
                         f"{constant_values!r}") from None
    if (values == values.flat[0]).all():
        return float(values.flat[0])
    return tuple((float(a), float(b)) for a, b in values)


def _pad_sides(x, widths: tuple, values: tuple) -> Any:
    """Constant padding with its own value on each side: axis by axis, before then after, as
    np.pad fills (a corner takes the value of the last axis padded)."""
    for axis, ((a, b), (va, vb)) in enumerate(zip(widths, values, strict=True)):
        for width, value, before in ((a, va, True), (b, vb, False)):
            if width:
                side = tuple(((width, 0) if before else (0, width)) if k == axis else (0, 0)
                             for k in range(x.ndim))
                x = prims.pad(x, pad_width=side, value=value)
    return x


def _pad_params(x, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
    widths = _pad_widths(x, pad_width)
    constant_values = _side_values(x, constant_values)
    if isinstance(constant_values, tuple):
        if mode != "constant":
            raise ValueError(f"constant_values is for mode 'constant', got mode {mode!r}")
        if any(a < 0 or b < 0 for a, b in widths):
            x = _crop(x, widths)
            widths = tuple((max(a, 0), max(b, 0)) for a, b in widths)
        return _pad_sides(x, widths, constant_values)
    if any(a < 0 or b < 0 for a, b in widths):
        if mode != "constant":
            raise ValueError(f"negative pad widths (cropping) need mode 'constant', got "
                             f"{pad_width!r} with mode {mode!r}: crop by slicing first")
        x = _crop(x, widths)
        widths = tuple((max(a, 0), max(b, 0)) for a, b in widths)
        if not any(a or b for a, b in widths):
            return x
        return Call(pad, (x,), {"pad_width": widths, "value": float(constant_values)})
    if mode == "constant":
        return {"pad_width": widths, "value": float(constant_values)}
    if mode not in _INDEX_MODES:
        raise ValueError(f"mode must be 'constant' or one of {_INDEX_MODES}, got {mode!r}")
    for axis, (a, b) in enumerate(widths):  # one gather per axis: the indices np.pad would copy
        if a or b:
            if x.shape[axis] == 0 or (mode == "reflect" and x.shape[axis] == 1):
                raise ValueError(f"cannot pad an axis of size {x.shape[axis]} with mode {mode!r}")
            source = np.pad(np.arange(x.shape[axis]), (a, b), mode=mode)
            x = prims.getitem(x, index=(slice(None),) * axis + (source,))
    return x


def _crop(x, widths: tuple) -> Any:
    """x with the negative pad widths cut off its sides (torch's F.pad crops so)."""
    index = []
    for axis, (a, b) in enumerate(widths):
        n = x.shape[axis]
        if -min(a, 0) - min(b, 0) > n:
            raise ValueError(f"pad widths {widths[axis]} crop more than axis {axis} of size {n}")
        index.append(slice(-min(a, 0), n + min(b, 0)))
    return prims.getitem(x, index=tuple(index))


pad = primitive(
    "pad", lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
    lambda g, ans, x, pad_width, value: prims.getitem(
        g, index=tuple(slice(a, a + n) for (a, _), n in zip(pad_width, x.shape, strict=True))),
    prepare=_pad_params, source="np.pad({x}, {pad_width}, constant_values={value})",
    batch=lambda forward, arrays, batched, params, n, prefix: np.pad(
        arrays[0], [(0, 0)] * n + list(params["pad_width"]), constant_values=params["value"]),
    doc="np.pad with mode 'constant' (the gradient is the inner slice) or 'edge', 'reflect', "
        "'symmetric', 'wrap' (gathers: copied elements collect their copies' gradients). "
        "Negative widths crop that side (mode 'constant', as torch's F.pad).",
)


# --- reshaping composites -----------------------------------------------------------------------
def _squeeze(x, axis: Any = None):
    """Drop size-1 axes (all of them, or the given ones, which must have size 1)."""
    axes = range(x.ndim) if axis is None else normalize_axis(axis, x.ndim)
    drop = [a for a in axes if x.shape[a] == 1]
    if axis is not None and len(drop) != len(axes):
        raise ValueError(f"cannot squeeze axis {axis!r} of shape {x.shape}: its size is not 1")
    return prims.reshape(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in drop))


def _unsqueeze(x, dim: int):
    """Insert a size-1 axis at `dim` (PyTorch's unsqueeze; np.expand_dims)."""
    (dim,) = normalize_axis(dim, x.ndim + 1)
    return prims.reshape(x, shape=x.shape[:dim] + (1,) + x.shape[dim:])


def _flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge axes start_dim..end_dim into one (all of them by default: a 1-D result)."""
    if x.ndim == 0:
        return prims.reshape(x, shape=(1,))
    (start,), (end,) = normalize_axis(start_dim, x.ndim), normalize_axis(end_dim, x.ndim)
    if start > end:
        raise ValueError(f"start_dim {start_dim} comes after end_dim {end_dim} for shape "
                         f"{x.shape}")
    return prims.reshape(x, shape=x.shape[:start] + (-1,) + x.shape[end + 1:])


def _ravel(x):
    """The elements as a 1-D tensor (C order)."""
    return prims.reshape(x, shape=(-1,))


def _moveaxis(x, source: Any, destination: Any):
    """Move axes to new positions, keeping the order of the others (np.moveaxis)."""
    src, dst = _ints(source, "source"), _ints(destination, "destination")
    if len(src) != len(dst):
        raise ValueError(f"source {source!r} and destination {destination!r} differ in length")
    src = [normalize_axis(a, x.ndim)[0] for a in src]
    dst = [normalize_axis(a, x.ndim)[0] for a in dst]
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return prims.transpose(x, axes=tuple(order))


squeeze = composite("squeeze", _squeeze, method=True)
unsqueeze = composite("unsqueeze", _unsqueeze, method=True)
flatten = composite("flatten", _flatten, method=True)
ravel = composite("ravel", _ravel, method=True)
moveaxis = composite("moveaxis", _moveaxis)


# --- reordering and repeating -------------------------------------------------------------------
def _flip(x, axis: Any = None):
    """Reverse the order of elements along `axis` (all axes by default)."""
    axes = range(x.ndim) if axis is None else normalize_axis(axis, x.ndim)
    index = tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim))
    return prims.getitem(x, index=index)


def _roll(x, shift: Any, axis: Any = None):
    """Shift elements cyclically along `axis` (the flattened tensor by default), as np.roll."""
    if axis is None:
        return prims.reshape(_roll(prims.reshape(x, shape=(-1,)), shift, 0), shape=x.shape)
    shifts, axes = _ints(shift, "shift"), _ints(axis, "axis")
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ValueError(f"shift {shift!r} and axis {axis!r} differ in length")
    for s, a in zip(shifts, axes, strict=True):
        (a,) = normalize_axis(a, x.ndim)
        n = x.shape[a]
        if n:
            index = (slice(None),) * a + ((np.arange(n) - s) % n,)
            x = prims.getitem(x, index=index)
    return x


def _tile(x, reps: Any):
    """Repeat the whole tensor `reps` times along each axis (np.tile): a broadcast and a
    reshape, so the gradient is a sum over the copies."""
    reps = _ints(reps, "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"reps must be non-negative, got {reps}")
    ndim = max(len(reps), x.ndim)
    reps = (1,) * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
    spread = prims.reshape(x, shape=tuple(v for n in shape for v in (1, n)))
    wide = prims.broadcast_to(spread, shape=tuple(v for r, n in zip(reps, shape, strict=True)
                                                  for v in (r, n)))
    return prims.reshape(wide, shape=tuple(r * n for r, n in zip(reps, shape, strict=True)))


def _repeat(x, repeats: Any, axis: Any = None):
    """Repeat each element `repeats` times along `axis` (the flattened tensor by default)."""
    if axis is None:
        x, axis = prims.reshape(x, shape=(-1,)), 0
    (axis,) = normalize_axis(axis, x.ndim)
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any():
        raise ValueError(f"repeats must be non-negative ints, got {repeats!r}")
    index = np.repeat(np.arange(x.shape[axis]), counts)
    return prims.getitem(x, index=(slice(None),) * axis + (index,))


flip = composite("flip", _flip, method=True)
roll = composite("roll", _roll)
tile = composite("tile", _tile)
repeat = composite("repeat", _repeat, method=True)


# --- gathering ----------------------------------------------------------------------------------
def _values(x: Any) -> np.ndarray:
    return np.asarray(x.data if hasattr(x, "_apply_primitive") else x)


def _gather_index(x, indices: Any, axis: int, where: str) -> tuple:
    """The index picking `indices` along `axis` and every position elsewhere; an index Tensor
    stays one (under vmap each example then picks its own)."""
    idx = _values(indices)
    shape = indices.shape if hasattr(indices, "_apply_primitive") else idx.shape
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if len(shape) != x.ndim:
        raise ValueError(f"indices of shape {shape} need as many dims as x {x.shape}")
    (axis,) = normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{where}: an index is out of range for axis {axis} of size {n}")
    grids = np.ix_(*[np.arange(m) for m in shape]) if shape else ()
    picked = indices if hasattr(indices, "_apply_primitive") else idx  # a Tensor stays one
    return tuple(picked if a == axis else grids[a] for a in range(x.ndim))


def _take_along_axis(x, indices: Any, axis: int):
    """np.take_along_axis: out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis`
    (indices broadcast against x in the other axes)."""
    idx = indices if hasattr(indices, "_apply_primitive") else _values(indices)
    if idx.ndim == x.ndim:
        (ax,) = normalize_axis(axis, x.ndim)
        shape = tuple(idx.shape[a] if a == ax else max(idx.shape[a], x.shape[a])
                      for a in range(x.ndim))
        idx = prims.broadcast_to(idx, shape=shape) if idx is indices else np.broadcast_to(
            idx, shape)
    return pick(x, _gather_index(x, idx, axis, "take_along_axis"))


def _gather(x, dim: int, index: Any):
    """torch.gather: out[i][j] = x[index[i][j]][j] along `dim` (index may be smaller than x in
    the other dims)."""
    return pick(x, _gather_index(x, index, dim, "gather"))


take_along_axis = composite("take_along_axis", _take_along_axis)
gather = composite("gather", _gather)


# --- splitting and stacking ---------------------------------------------------------------------
def _array_split(x, indices_or_sections: Any, axis: int = 0):
    """Split into pieces along `axis`: n near-equal sections, or at the given indices."""
    (axis,) = normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError(f"the number of sections must be positive, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    else:
        bounds = [0, *_ints(indices_or_sections, "indices"), n]
    index = (slice(None),) * axis
    return [prims.getitem(x, index=index + (slice(a, max(a, b)),))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _split(x, indices_or_sections: Any, axis: int = 0):
    """np.split: an int makes that many equal pieces (which must divide the axis), a list splits
    at those indices. NumPy's meaning: split(x, 32) makes 32 pieces, where torch.split(x, 32)
    makes pieces of 32 each; for those, split at indices: split(x, list(range(32, n, 32)))."""
    if isinstance(indices_or_sections, (int, np.integer)):
        (ax,) = normalize_axis(axis, x.ndim)
        k, n = int(indices_or_sections), x.shape[ax]
        if k <= 0 or n % k:
            cuts = list(range(k, n, k)) if k > 0 else []
            shown = str(cuts) if len(cuts) <= 6 else f"list(range({k}, {n}, {k}))"
            raise ValueError(
                f"{k} sections do not divide axis {axis} of shape {x.shape} evenly. As in "
                f"NumPy, split(x, {k}) makes {k} equal pieces (array_split allows unequal ones); "
                f"PyTorch's torch.split(x, {k}) makes pieces of {k} each: "
                f"ag.split(x, {shown}, axis={axis}) does that")
    return _array_split(x, indices_or_sections, axis)


def _view(x, *shape: Any):
    """PyTorch's `t.view(2, 3)`: the same elements in a new shape (a reshape: Tensors are never
    written in place here, so sharing memory makes no difference). `view(dtype)`, which
    reinterprets the bytes, is refused."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) for n in shape):
        raise TypeError(f"view takes a shape (ints), got {shape!r}; reinterpreting the bytes as "
                        "another dtype is not supported (use .astype(dtype) to convert values)")
    return prims.reshape(x, shape=tuple(int(n) for n in shape))


def _hsplit(x, indices_or_sections: Any):
    """Split along axis 1 (axis 0 for 1-D), as np.hsplit."""
    return _split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def _vsplit(x, indices_or_sections: Any):
    """Split along axis 0 of an at-least-2-D tensor, as np.vsplit."""
    if x.ndim < 2:
        raise ValueError(f"vsplit needs at least 2 dims, got shape {x.shape}")
    return _split(x, indices_or_sections, 0)


def _hstack(xs):
    """Join along axis 1 (axis 0 for 1-D inputs), as np.hstack."""
    xs = [prims.reshape(x, shape=(1,)) if x.ndim == 0 else x for x in xs]
    return prims.concatenate(*xs, axis=0 if xs[0].ndim == 1 else 1)


def _vstack(xs):
    """Join along axis 0, 1-D inputs as rows, as np.vstack."""
    xs = [prims.reshape(x, shape=(1, -1)) if x.ndim < 2 else x for x in xs]
    return prims.concatenate(*xs, axis=0)


array_split = composite("array_split", _array_split)
split = composite("split", _split)
view = composite("view", _view, method=True)
hsplit = composite("hsplit", _hsplit)
vsplit = composite("vsplit", _vsplit)
hstack = composite("hstack", _hstack, variadic=True)
vstack = composite("vstack", _vstack, variadic=True)
