"""Resampling images, as composites of gathers and pooling rows (so their gradients are
scatter-adds and routings, and vmap, jvp and ag.compile need nothing new): `unfold` (im2col),
`max_unpool2d`, `interpolate` (nearest, linear/bilinear) and adaptive average and max pooling
over 1 or 2 spatial dims, each as PyTorch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .conv import LAYOUTS, check_layout, check_output, padding_pairs, tuple_of
from .registry import composite, prims, value_of
from .shape import _index_call, pick


def _along(x, axis: int, index: np.ndarray):
    """x gathered along `axis` at `index` (an int array): a getitem, whose gradient adds back."""
    return pick(x, (slice(None),) * axis + (index,))


# --- unfold -------------------------------------------------------------------------------------
def _unfold(x, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1):
    """Every kernel window of x (N, C, H, W) as a column (PyTorch's F.unfold, im2col):
    (N, C*kh*kw, L) with L the number of windows, channels outermost in each column."""
    check_layout(x, "input x", 2)
    kernel = tuple_of(kernel_size, "kernel_size", 1, 2)
    dilation, stride = tuple_of(dilation, "dilation", 1, 2), tuple_of(stride, "stride", 1, 2)
    pads = padding_pairs(padding, 2)
    check_output(x.shape, kernel, stride, pads, dilation)
    if any(a or b for a, b in pads):
        x = prims.pad(x, pad_width=((0, 0), (0, 0)) + pads, value=0.0)
    places = [np.arange(k)[:, None] * dl + np.arange((size - dl * (k - 1) - 1) // s + 1) * s
              for k, dl, s, size in zip(kernel, dilation, stride, x.shape[2:], strict=True)]
    rows, cols = places[0][:, None, :, None], places[1][None, :, None, :]
    windows = pick(x, (slice(None), slice(None), rows, cols))  # (N, C, kh, kw, oh, ow)
    n, c = x.shape[:2]
    return prims.reshape(windows, shape=(n, c * kernel[0] * kernel[1], -1))


# --- max_unpool2d -------------------------------------------------------------------------------
def _max_unpool2d(x, indices: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                  output_size: Any = None):
    """max_pool2d's partial inverse (PyTorch's max_unpool2d): zeros with each value of x (N, C,
    H, W) put at its index (flat per (H, W) plane, as max_pool2d(..., return_indices=True) gives
    them)."""
    check_layout(x, "input x", 2)
    kernel = tuple_of(kernel_size, "kernel_size", 1, 2)
    stride = kernel if stride is None else tuple_of(stride, "stride", 1, 2)
    pad = tuple_of(padding, "padding", 0, 2)
    n, c, h, w = x.shape
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * pad[i] + kernel[i] for i in range(2))
    if output_size is not None:
        asked = tuple(int(v) for v in tuple(output_size)[-2:])
        if any(not size[i] - stride[i] < asked[i] < size[i] + stride[i] for i in range(2)):
            raise ValueError(f"output_size {tuple(output_size)} must be within stride {stride} "
                             f"of the default size {size}")
        size = asked
    where = np.asarray(value_of(indices))
    if where.shape != x.shape or where.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers shaped like x {x.shape}, got "
                         f"{where.dtype} {where.shape}")
    plane = size[0] * size[1]
    if where.size and (where.min() < 0 or where.max() >= plane):
        raise ValueError(f"indices must lie in [0, {plane}) for output size {size}, got "
                         f"[{where.min()}, {where.max()}]")
    flat = where.reshape(n * c, h * w)
    if h * w > 1 and (np.diff(np.sort(flat, axis=1), axis=1) == 0).any():
        raise ValueError("indices repeat within a plane (overlapping pooling windows): PyTorch "
                         "keeps one of the values there; unpool the output of non-overlapping "
                         "pooling instead")
    index = (np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], where)
    params = _index_call(x, index, (n, c, plane))
    out = prims.scatter_add(x, **params)
    return prims.reshape(out, shape=(n, c) + size)


# --- interpolate --------------------------------------------------------------------------------
def _sizes(x, size: Any, scale_factor: Any, d: int) -> tuple[tuple[int, ...], tuple]:
    """The output size and the scale PyTorch maps output places back with (1/scale_factor when
    it is given, else input/output)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("give exactly one of size and scale_factor")
    if size is not None:
        out = tuple_of(size, "size", 1, d)
        return out, tuple(x.shape[2 + i] / out[i] for i in range(d))
    factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else \
        (scale_factor,) * d
    if len(factors) != d or not all(isinstance(f, (int, float)) and f > 0 for f in factors):
        raise ValueError(f"scale_factor must be a positive number or {d} of them, got "
                         f"{scale_factor!r}")
    out = tuple(int(np.floor(x.shape[2 + i] * factors[i])) for i in range(d))
    if min(out) < 1:
        raise ValueError(f"scale_factor {scale_factor!r} leaves no output for input {x.shape}")
    return out, tuple(1.0 / f for f in factors)


def _linear_weights(n_in: int, n_out: int, scale: float, align_corners: bool):
    """Each output place's two source places and the second one's weight (PyTorch's rule)."""
    place = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = place * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = np.maximum((place + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, src - low


def _interpolate(x, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None):
    """Resize x (N, C, L) or (N, C, H, W) (PyTorch's F.interpolate): mode 'nearest', 'linear'
    (3-D input) or 'bilinear' (4-D), align_corners as PyTorch's."""
    if x.ndim not in (3, 4):
        raise ValueError(f"input x must be 3-D {LAYOUTS[1]} or 4-D {LAYOUTS[2]}, got shape "
                         f"{x.shape}")
    d = x.ndim - 2
    check_layout(x, "input x", d)
    modes = {"nearest": None, "linear": 1, "bilinear": 2}
    if mode not in modes or modes[mode] not in (None, d):
        raise ValueError(f"mode must be 'nearest' or {'linear' if d == 1 else 'bilinear'} for "
                         f"{d + 2}-D input, got {mode!r} (other modes are not supported)")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners applies to the linear modes only (as in PyTorch)")
    out, scale = _sizes(x, size, scale_factor, d)
    for i in range(d):
        axis, n_in = 2 + i, x.shape[2 + i]
        if mode == "nearest":
            # PyTorch's floorf(place * scale) in float32, with the scale as a float
            places = np.arange(out[i], dtype=np.float32) * np.float32(scale[i])
            src = np.minimum(np.floor(places).astype(np.intp), n_in - 1)
            x = _along(x, axis, src)
            continue
        low, high, weight = _linear_weights(n_in, out[i], scale[i], bool(align_corners))
        shape = (-1,) + (1,) * (d - 1 - i)
        weight = weight.reshape(shape).astype(x.dtype)
        x = _along(x, axis, low) * (1.0 - weight) + _along(x, axis, high) * weight
    return x


# --- adaptive pooling ---------------------------------------------------------------------------
def _bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, int]:
    """PyTorch's adaptive bins [floor(i*n/o), ceil((i+1)*n/o)) as one index array of
    n_out * widest places (places past a bin's end point at n_in, a fill), and the bin sizes."""
    start = (np.arange(n_out) * n_in) // n_out
    end = -((-(np.arange(n_out) + 1) * n_in) // n_out)
    widest = int((end - start).max())
    index = start[:, None] + np.arange(widest)
    index = np.where(index < end[:, None], index, n_in)
    return index.reshape(-1), end - start, widest


def _adaptive(x, output_size: Any, d: int, fill: float):
    check_layout(x, "input x", d)
    sizes = tuple(x.shape[2 + i] if v is None else v for i, v in enumerate(
        tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * d))
    out = tuple_of(sizes, "output_size", 1, d)
    return out, [_bins(x.shape[2 + i], out[i]) for i in range(d)]


def _adaptive_avg_pool(x, output_size: Any, d: int):
    out, bins = _adaptive(x, output_size, d, 0.0)
    for i, (index, counts, widest) in enumerate(bins):
        axis = 2 + i
        padded = prims.pad(x, pad_width=((0, 0),) * axis + ((0, 1),) + ((0, 0),) * (d - 1 - i),
                           value=0.0)
        taken = _along(padded, axis, index)
        taken = prims.reshape(taken, shape=taken.shape[:axis] + (out[i], widest)
                              + taken.shape[axis + 1:])
        summed = prims.sum(taken, axis=(axis + 1,), keepdims=False)
        x = summed / counts.reshape((-1,) + (1,) * (d - 1 - i)).astype(x.dtype)
    return x


def _adaptive_max_pool(x, output_size: Any, d: int, return_indices: bool):
    out, bins = _adaptive(x, output_size, d, -np.inf)
    fill = -np.inf if x.dtype.kind == "f" else float(np.iinfo(x.dtype).min)
    widths = ((0, 0), (0, 0)) + ((0, 1),) * d
    padded = prims.pad(x, pad_width=widths, value=fill)
    for i, (index, _, _) in enumerate(bins):
        padded = _along(padded, 2 + i, index)
    kernel = tuple(widest for _, _, widest in bins)
    if d == 1:
        padded = prims.reshape(padded, shape=padded.shape[:2] + (1,) + padded.shape[2:])
        kernel = (1,) + kernel
    params = {"kernel": kernel, "stride": kernel, "padding": (0, 0), "dilation": (1, 1)}
    pooled = prims.reshape(prims.max_pool2d(padded, **params), shape=x.shape[:2] + out)
    if not return_indices:
        return pooled
    where = prims.max_pool2d_indices(padded, **params) % int(np.prod(padded.shape[2:]))
    return pooled, prims.reshape(_bin_places_to_input(where, x.shape[2:], out, kernel[-d:]),
                                 shape=pooled.shape)


def _bin_places_to_input(where, size: tuple, out: tuple, widest: tuple):
    """Flat places in the gathered bins (each bin `widest` wide) as flat places in x's plane,
    as torch's indices: a bin's k-th place is its start floor(i*n/o) plus k. A fill place is
    never picked (each bin's first place is real and ties go to the first in scan order)."""
    d, flat = len(size), 0
    for i in range(d):
        stride = int(np.prod([out[j] * widest[j] for j in range(i + 1, d)]))
        place = where // stride % (out[i] * widest[i])
        start = place // widest[i] * size[i] // out[i]
        flat = flat * size[i] + start + place % widest[i]
    return flat


def adaptive_avg_pool1d(x, output_size: Any):
    """Mean over PyTorch's adaptive bins of x (N, C, L): output_size places."""
    return _adaptive_avg_pool(x, output_size, 1)


def adaptive_avg_pool2d(x, output_size: Any):
    """Mean over PyTorch's adaptive bins of x (N, C, H, W): an int, a pair, or None in a pair
    (keep that size)."""
    return _adaptive_avg_pool(x, output_size, 2)


def adaptive_max_pool1d(x, output_size: Any, return_indices: bool = False):
    """Maximum over PyTorch's adaptive bins of x (N, C, L) (the gradient to the first
    maximum, as in PyTorch); return_indices=True also gives each maximum's place in L."""
    return _adaptive_max_pool(x, output_size, 1, return_indices)


def adaptive_max_pool2d(x, output_size: Any, return_indices: bool = False):
    """Maximum over PyTorch's adaptive bins of x (N, C, H, W) (the gradient to the first
    maximum in scan order, as in PyTorch); return_indices=True also gives each maximum's
    flat index per (H, W) plane, as torch's."""
    return _adaptive_max_pool(x, output_size, 2, return_indices)


unfold = composite("unfold", _unfold)
max_unpool2d = composite("max_unpool2d", _max_unpool2d)
interpolate = composite("interpolate", _interpolate)
composite("adaptive_avg_pool1d", adaptive_avg_pool1d)
composite("adaptive_avg_pool2d", adaptive_avg_pool2d)
composite("adaptive_max_pool1d", adaptive_max_pool1d)
composite("adaptive_max_pool2d", adaptive_max_pool2d)
