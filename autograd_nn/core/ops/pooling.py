"""Max and average pooling over 1, 2 or 3 spatial dims, as PyTorch's (ceil_mode, return_indices,
and padding per side in F.pad's order, which PyTorch writes as F.pad then pool).

Max pooling is three rows (`max_pool2d`, its backward `max_pool2d_route`, and
`max_pool2d_indices`) that work on any number of spatial dims; 1-D pooling is 2-D pooling of a
height-1 image and 3-D max pooling is 2-D pooling of every depth slice followed by 2-D pooling
over depth (exact: the maximum is separable, and the first maximum in (d, h, w) scan order is
the one both stages pick). The gradient goes to each window's first maximum, as in PyTorch.
Average pooling is a convolution with a constant kernel, divided by the counted places.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrange import take_along_axis
from .conv import (
    LAYOUTS,
    check_layout,
    check_output,
    conv_forward,
    conv_windows,
    fold,
    padding_pairs,
    tuple_of,
)
from .registry import composite, primitive, prims, value_of


# --- NumPy kernels (self-contained: ag.compile copies them into the generated module) ---------
def pool_offsets(x, kernel, stride, padding, dilation, fill):
    """x padded with `fill`, and for every kernel offset (in scan order) the strided slice of
    the element each window holds there: pooling is then a few elementwise passes over
    output-sized views, fast in any memory layout (a reduce over small window axes is not)."""
    d = len(kernel)
    pads = tuple((p, p) if np.ndim(p) == 0 else tuple(p) for p in padding)
    if any(a or b for a, b in pads):
        x = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=fill)
    out = tuple((x.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                for i in range(d))
    views = []
    for offset in np.ndindex(*kernel):
        views.append((slice(None), slice(None)) + tuple(
            slice(offset[i] * dilation[i], offset[i] * dilation[i] + stride[i] * (out[i] - 1) + 1,
                  stride[i]) for i in range(d)))
    return x, views


def max_pool_forward(x, kernel, stride, padding, dilation):
    """The maximum of every window (padding never wins: it is -inf, or the integer minimum)."""
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp, views = pool_offsets(x, kernel, stride, padding, dilation, fill)
    if len(views) == 1:
        return xp[views[0]].copy()
    out = np.maximum(xp[views[0]], xp[views[1]])
    for view in views[2:]:
        np.maximum(out, xp[view], out=out)
    return out


def max_pool_indices(x, kernel, stride, padding, dilation):
    """Flat indices into x of each window's first maximum (the element PyTorch routes to)."""
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = conv_windows(x, kernel, stride, padding, dilation, fill)
    d = len(kernel)
    n, c, out = x.shape[0], x.shape[1], win.shape[2 + d:]
    # the window on the last axis: argmax along a contiguous axis is many times faster
    k = win.transpose((0, 1) + tuple(range(2 + d, 2 + 2 * d)) + tuple(range(2, 2 + d)))
    k = k.reshape((n, c) + out + (-1,)).argmax(axis=-1)
    flat = np.arange(n * c).reshape((n, c) + (1,) * d)
    for i in range(d):
        before = padding[i] if np.ndim(padding[i]) == 0 else padding[i][0]
        offset = (k // int(np.prod(kernel[i + 1:]))) % kernel[i]
        place = np.arange(out[i]).reshape((-1,) + (1,) * (d - 1 - i)) * stride[i] - before
        flat = flat * x.shape[2 + i] + place + offset * dilation[i]
    return flat


def max_pool_route(g, x, kernel, stride, padding, dilation):
    """max pooling's backward: g added into zeros shaped like x at each window's first maximum
    (the first offset, in scan order, holding the window's maximum)."""
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp, views = pool_offsets(x, kernel, stride, padding, dilation, fill)
    # one contiguous slab per offset (K, n, c, *out): each pass below then runs over long rows
    # (the views themselves have rows as short as the output's width)
    stack = np.stack([xp[view] for view in views])
    hits = (stack == stack.max(axis=0)) | (stack != stack)  # a NaN is its window's maximum
    out = np.zeros(xp.shape, dtype=g.dtype)
    apart = all(stride[i] >= dilation[i] * (kernel[i] - 1) + 1 for i in range(len(kernel)))
    taken = hits[0].copy()
    for k, view in enumerate(views):
        if k:
            hits[k] &= ~taken  # only the first maximum in scan order
            taken |= hits[k]
        if apart:  # no two windows share an element: each place is written once
            out[view] = np.where(hits[k], g, 0)
        else:
            out[view] += np.where(hits[k], g, 0)
    if out.shape == x.shape:
        return out
    pads = tuple((p, p) if np.ndim(p) == 0 else tuple(p) for p in padding)
    return out[(slice(None), slice(None)) + tuple(
        slice(pads[i][0], pads[i][0] + x.shape[2 + i]) for i in range(len(kernel)))]


# --- rows ---------------------------------------------------------------------------------------
def _max_pool_vjp(g, ans, x, kernel, stride, padding, dilation):
    return prims.max_pool2d_route(g, x, kernel=kernel, stride=stride, padding=padding,
                                  dilation=dilation)


def _route_vjp(h, ans, g, x, kernel, stride, padding, dilation):
    """The routing is linear in g: its adjoint picks h at each window's first maximum."""
    where = prims.max_pool2d_indices(x, kernel=kernel, stride=stride, padding=padding,
                                     dilation=dilation)
    picked = prims.getitem(prims.reshape(h, shape=(-1,)),
                           index=value_of(prims.reshape(where, shape=(-1,))))
    return prims.reshape(picked, shape=g.shape)


def _batch_pool(forward, arrays, batched, params, n, prefix):
    """Pooling of examples: the batch folded into the images' N (each image pools alone)."""
    x = arrays[0]
    out = forward(fold(x, n), **params)
    return out.reshape(x.shape[:n + 1] + out.shape[1:])


def _batch_route(forward, arrays, batched, params, n, prefix):
    g, x = (a if b else np.broadcast_to(a, prefix + a.shape)
            for a, b in zip(arrays, batched, strict=True))
    return forward(fold(g, n), fold(x, n), **params).reshape(x.shape)


def _batch_indices(forward, arrays, batched, params, n, prefix):
    """Indices of examples: the batch folded into N, then each flat index taken back into its
    own example's x (the folded index less the examples before it)."""
    x = arrays[0]
    out = forward(fold(x, n), **params)
    return out.reshape(x.shape[:n + 1] + out.shape[1:]) % int(np.prod(x.shape[n:]))


def _max_pool_kink(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    win = conv_windows(x, params["kernel"], params["stride"], params["padding"],
                       params["dilation"], -np.inf)
    d = len(params["kernel"])
    size = int(np.prod(params["kernel"]))
    if size < 2:
        return None
    top = np.sort(win.reshape(x.shape[:2] + (size,) + win.shape[2 + d:]), axis=2)[:, :, -2:]
    with np.errstate(invalid="ignore"):
        gap = np.nan_to_num(top[:, :, 1] - top[:, :, 0], nan=np.inf)
    return float(gap.min()), "a near tie inside a pooling window (the gradient jumps)"


_POOL_SOURCE = "{x}, {kernel}, {stride}, {padding}, {dilation})"
max_pool2d_row = primitive(
    "max_pool2d", max_pool_forward, _max_pool_vjp, public=None,
    source="max_pool_forward(" + _POOL_SOURCE,
    helper={"pool_offsets": pool_offsets, "max_pool_forward": max_pool_forward},
    doc="Maximum over each kernel window of x (N, C, *S); the gradient goes to each window's "
        "first maximum, as in PyTorch.",
    notes=("max_pool2d_route adds {g} into zeros shaped like {x} at each window's first "
           "maximum",),
    kink=_max_pool_kink, batch=_batch_pool,
)
max_pool2d_route_row = primitive(
    "max_pool2d_route", max_pool_route, _route_vjp, None, inputs=("g", "x"),
    source="max_pool_route({g}, {x}, {kernel}, {stride}, {padding}, {dilation})",
    helper={"pool_offsets": pool_offsets, "max_pool_route": max_pool_route},
    batch=_batch_route, public=None,
    doc="Max pooling's backward: g added into zeros shaped like x at each window's first "
        "maximum (linear in g; piecewise constant in x).",
)


def _indices_params(x, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    dilation: Any = 1) -> dict:
    return pool_params(x, 2, kernel_size, stride, padding, dilation, False, "fiu")


max_pool2d_indices_row = primitive(
    "max_pool2d_indices", max_pool_indices, None, prepare=_indices_params,
    batch=_batch_indices,
    source="max_pool_indices(" + _POOL_SOURCE,
    helper={"conv_windows": conv_windows, "max_pool_indices": max_pool_indices},
    doc="Flat indices into x of each window's first maximum (what max_pool2d's gradient uses).",
)


# --- parameters ---------------------------------------------------------------------------------
def _ceil_extra(size: int, k: int, s: int, before: int, after: int, dil: int) -> int:
    """The places ceil_mode adds after the end: one more window when the last would start inside
    the input or its padding before (PyTorch's rule)."""
    span = size + before + after - dil * (k - 1) - 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + before:
        out -= 1
    return max(0, (out - 1) * s - span)


def pool_params(x, d: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                ceil_mode: bool, kinds: str = "f") -> dict:
    """The row parameters of a pooling of d spatial dims: padding per dim is an int (both
    sides) or a (before, after) pair, ceil_mode's extra places added after."""
    check_layout(x, "input x", d, kinds)
    kernel = tuple_of(kernel_size, "kernel_size", 1, d)
    stride = kernel if stride is None or stride == () else tuple_of(stride, "stride", 1, d)
    pads = padding_pairs(padding, d)
    if any(max(p) > k // 2 for p, k in zip(pads, kernel, strict=True)):
        shown = padding if isinstance(padding, (tuple, list)) else (padding,) * d
        raise ValueError(f"padding {tuple(shown)} must be at most half the kernel size {kernel}")
    dilation = tuple_of(dilation, "dilation", 1, d)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    check_output(x.shape, kernel, stride, pads, dilation)
    if ceil_mode:
        pads = tuple((a, b + _ceil_extra(x.shape[2 + i], kernel[i], stride[i], a, b,
                                         dilation[i]))
                     for i, (a, b) in enumerate(pads))
    padding = tuple(a if a == b else (a, b) for a, b in pads)
    return {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}


def _as_2d(x, d: int):
    """1-D pooling as 2-D pooling of a height-1 image."""
    return prims.reshape(x, shape=x.shape[:2] + (1,) + x.shape[2:]) if d == 1 else x


def _params_2d(p: dict) -> dict:
    return {key: ((1 if key != "padding" else 0),) + value for key, value in p.items()}


def _max_pool(x, d: int, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    p = pool_params(x, d, kernel_size, stride, padding, dilation, ceil_mode, "fiu")
    if d == 3:
        return _max_pool3d(x, p, return_indices)
    flat, p2 = _as_2d(x, d), p if d == 2 else _params_2d(p)
    out = prims.max_pool2d(flat, **p2)
    out = prims.reshape(out, shape=x.shape[:2] + out.shape[2 + (2 - d):])
    if not return_indices:
        return out
    where = prims.max_pool2d_indices(flat, **p2)
    return out, prims.reshape(where % int(np.prod(x.shape[2:])), shape=out.shape)


def _max_pool3d(x, p: dict, return_indices: bool):
    """The maximum over (h, w) of each depth slice, then over depth (separable, exact)."""
    n, c, depth, h, w = x.shape
    first = {key: value[1:] for key, value in p.items()}
    planes = prims.reshape(x, shape=(n, c * depth, h, w))
    inner = prims.max_pool2d(planes, **first)
    oh, ow = inner.shape[2:]
    columns = prims.reshape(inner, shape=(n, c, depth, oh * ow))
    second = {key: (value[0], 0 if key == "padding" else 1) for key, value in p.items()}
    second["kernel"], second["stride"] = (p["kernel"][0], 1), (p["stride"][0], 1)
    outer = prims.max_pool2d(columns, **second)
    out = prims.reshape(outer, shape=(n, c, outer.shape[2], oh, ow))
    if not return_indices:
        return out
    in_plane = prims.reshape(prims.max_pool2d_indices(planes, **first) % (h * w),
                             shape=(n, c, depth, oh * ow))
    at_depth = prims.max_pool2d_indices(columns, **second) % (depth * oh * ow) // (oh * ow)
    where = take_along_axis(in_plane, at_depth, axis=2) + at_depth * (h * w)
    return out, prims.reshape(where, shape=out.shape)


def _max_pool_function(d: int):
    def max_pool(x, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False, return_indices: bool = False):
        return _max_pool(x, d, kernel_size, stride, padding, dilation, ceil_mode,
                         return_indices)

    max_pool.__doc__ = (
        f"Maximum over each kernel window of x {LAYOUTS[d]} (PyTorch's max_pool{d}d, also of "
        "integer input); return_indices=True also gives each maximum's flat index per plane.")
    return max_pool


def _avg_pool_function(d: int):
    def avg_pool(x, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True, ceil_mode: bool = False,
                 divisor_override: int | None = None):
        return _avg_pool(x, d, kernel_size, stride, padding, count_include_pad, ceil_mode,
                         divisor_override)

    avg_pool.__doc__ = (
        f"Mean over each kernel window of x {LAYOUTS[d]} (PyTorch's avg_pool{d}d): a "
        "convolution with a constant kernel. Zero padding counts towards the mean unless "
        "count_include_pad=False; ceil_mode's extra places never count.")
    return avg_pool


def _avg_pool(x, d: int, kernel_size, stride, padding, count_include_pad, ceil_mode,
              divisor_override):
    p = pool_params(x, d, kernel_size, stride, padding, 1, ceil_mode)
    asked = padding_pairs(padding, d)
    kernel, stride = p["kernel"], p["stride"]
    pads = tuple((q, q) if np.ndim(q) == 0 else q for q in p["padding"])
    n, c, size = x.shape[0], x.shape[1], x.shape[2:]
    count = float(np.prod(kernel))
    weight = np.full((1, 1) + kernel, 1.0 / count, dtype=x.dtype)
    flat = prims.reshape(x, shape=(n * c, 1) + size)
    both = tuple(min(q) for q in pads)
    if any(a != b for a, b in pads):
        flat = prims.pad(flat, pad_width=((0, 0), (0, 0)) + tuple(
            (a - m, b - m) for (a, b), m in zip(pads, both, strict=True)), value=0.0)
    out = getattr(prims, f"conv{d}d")(flat, weight, stride=stride, padding=both,
                                      dilation=(1,) * d, groups=1)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override <= 0:
            raise ValueError(f"divisor_override must be a positive int, got "
                             f"{divisor_override!r}")
        out = out * (count / divisor_override)
    elif pads != asked or not count_include_pad and any(a or b for a, b in asked):
        # the share of each window that counts: the input, and its padding when asked
        counted = np.ones(size, dtype=x.dtype)
        if count_include_pad:
            counted = np.pad(counted, asked, constant_values=1.0)
            pads = tuple((a - q, b - r) for (a, b), (q, r) in zip(pads, asked, strict=True))
        counted = np.pad(counted, pads)
        share = conv_forward(counted.reshape((1, 1) + counted.shape), weight, stride,
                             (0,) * d, (1,) * d, 1)
        out = out / share
    return prims.reshape(out, shape=(n, c) + out.shape[2:])


max_pool1d = composite("max_pool1d", _max_pool_function(1))
max_pool2d = composite("max_pool2d", _max_pool_function(2))
max_pool3d = composite("max_pool3d", _max_pool_function(3))
avg_pool1d = composite("avg_pool1d", _avg_pool_function(1))
avg_pool2d = composite("avg_pool2d", _avg_pool_function(2))
avg_pool3d = composite("avg_pool3d", _avg_pool_function(3))
