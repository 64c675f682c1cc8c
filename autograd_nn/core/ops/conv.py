"""Convolution and pooling on NCHW arrays in PyTorch's layout (weight (out, in/groups, kh, kw)).

Three rows close under differentiation: `conv2d(x, w)`, `conv_transpose2d(y, w)` (its adjoint in
x) and `conv2d_weight(x, gy)` (its adjoint in w). Each rule is one of the three, so gradients of
every order stay convolutions. Windows are `as_strided` views; each product is one batched GEMM
over the groups; the only Python loop is over the kh*kw kernel offsets when windows are summed
back (never over pixels). Max pooling routes each window's gradient to its first maximum (scan
order), as PyTorch does; average pooling is a convolution with a constant kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import composite, primitive, prims, value_of


# --- NumPy kernels (self-contained: ag.compile copies them into the generated module) ---------
def conv_windows(x, kernel, stride, padding, dilation, fill):
    """Every (kh, kw) window of the padded input as a strided view (n, c, kh, kw, oh, ow)."""
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False)


def conv_columns(x, kernel, stride, padding, dilation, groups):
    """im2col in channels-last order: (groups, n*oh*ow, kh*kw*c/groups), one copy. The runs
    copied are kw*c long (not ow), which is what makes small images fast."""
    xt = x.transpose(0, 2, 3, 1)  # a view; free when x came out of conv2d (NHWC in memory)
    ph, pw = padding
    if ph or pw:
        xt = np.pad(xt, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    n, h, w, c = xt.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = xt.strides
    win = np.lib.stride_tricks.as_strided(
        xt, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)
    if groups == 1:
        return win.reshape(1, n * oh * ow, kh * kw * c), oh, ow
    win = win.reshape(n, oh, ow, kh, kw, groups, c // groups).transpose(5, 0, 1, 2, 3, 4, 6)
    return win.reshape(groups, n * oh * ow, kh * kw * (c // groups)), oh, ow


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """Cross-correlation of x (n, c, h, w) with w (o, c/groups, kh, kw): one GEMM per group.
    The result is NCHW with channels-last memory, which the next convolution reads for free."""
    o, cg, kh, kw = w.shape
    cols, oh, ow = conv_columns(x, (kh, kw), stride, padding, dilation, groups)
    wk = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    out = np.matmul(cols, wk.reshape(groups, kh * kw * cg, o // groups))  # (g, n*oh*ow, o/g)
    n = x.shape[0]
    if groups == 1:
        return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    out = out.reshape(groups, n, oh, ow, o // groups).transpose(1, 0, 4, 2, 3)
    return out.reshape(n, o, oh, ow)


def conv_transpose2d_forward(y, w, stride, padding, output_padding, dilation, groups):
    """The adjoint of conv2d in its input: y (n, c_in, h, w) through w (c_in, o/groups, kh, kw).
    At stride 1 it is a convolution with the flipped kernel; otherwise every input pixel's
    kernel-sized contribution is summed in, one strided add per kernel offset."""
    n, c_in, h, wd = y.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ci = c_in // groups
    qh, qw = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    if sh == sw == 1 and qh >= 0 and qw >= 0:
        flipped = w.reshape(groups, ci, og, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        return conv2d_forward(y, flipped.reshape(groups * og, ci, kh, kw), (1, 1), (qh, qw),
                              dilation, groups)
    yt = y.transpose(1, 0, 2, 3).reshape(groups, ci, n * h * wd).transpose(0, 2, 1)
    cols = np.matmul(yt, w.reshape(groups, ci, og * kh * kw))  # (g, n*h*w, og*kh*kw)
    cols = cols.reshape(groups, n, h, wd, og, kh, kw)
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    out = np.zeros((n, full_h, full_w, groups, og), dtype=cols.dtype)
    for i in range(kh):  # one strided add per kernel offset
        for j in range(kw):
            out[:, i * dh:i * dh + sh * (h - 1) + 1:sh, j * dw:j * dw + sw * (wd - 1) + 1:sw] += \
                cols[:, :, :, :, :, i, j].transpose(1, 2, 3, 0, 4)
    out = out.reshape(n, full_h, full_w, groups * og).transpose(0, 3, 1, 2)
    return out[:, :, ph:full_h - ph, pw:full_w - pw]


def conv2d_weight_forward(x, gy, kernel, stride, padding, dilation, groups):
    """The adjoint of conv2d in its weight: sum over batch and pixels of gy times x's windows."""
    cols, oh, ow = conv_columns(x, kernel, stride, padding, dilation, groups)
    n, o = gy.shape[:2]
    cg = x.shape[1] // groups
    gys = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, groups, o // groups).transpose(1, 2, 0)
    gw = np.matmul(gys, cols)  # (g, o/g, kh*kw*cg)
    gw = gw.reshape(groups, o // groups, kernel[0], kernel[1], cg).transpose(0, 1, 4, 2, 3)
    return gw.reshape(o, cg, kernel[0], kernel[1])


def max_pool2d_forward(x, kernel, stride, padding, dilation):
    """The maximum of every window (padding never wins: it is -inf)."""
    return conv_windows(x, kernel, stride, padding, dilation, -np.inf).max(axis=(2, 3))


def max_pool2d_indices(x, kernel, stride, padding, dilation):
    """Flat indices into x of each window's first maximum (the element PyTorch routes to)."""
    win = conv_windows(x, kernel, stride, padding, dilation, -np.inf)
    n, c, kh, kw, oh, ow = win.shape
    # the window on the last axis: argmax along a contiguous axis is many times faster
    k = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, oh, ow, kh * kw).argmax(axis=-1)
    rows = np.arange(oh).reshape(-1, 1) * stride[0] - padding[0] + (k // kw) * dilation[0]
    cols = np.arange(ow) * stride[1] - padding[1] + (k % kw) * dilation[1]
    planes = np.arange(n * c).reshape(n, c, 1, 1)
    return (planes * x.shape[2] + rows) * x.shape[3] + cols


def max_pool2d_route(g, x, kernel, stride, padding, dilation):
    """max_pool2d's backward: g (n, c, oh, ow) added into zeros shaped like x at each window's
    first maximum."""
    out = np.zeros(x.size, dtype=g.dtype)
    np.add.at(out, max_pool2d_indices(x, kernel, stride, padding, dilation).reshape(-1),
              g.reshape(-1))
    return out.reshape(x.shape)


# --- parameters ---------------------------------------------------------------------------------
def _pair(value: Any, what: str, minimum: int) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{what} must be an int or a pair of ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _check_nchw(t, what: str) -> None:
    if t.ndim != 4:
        raise ValueError(f"{what} must be 4-D (N, C, H, W), got shape {t.shape} ({t.dtype})")
    if t.dtype.kind != "f":
        raise TypeError(f"{what} must be floating point, got dtype {t.dtype} (shape {t.shape})")


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check_output(x_shape, kernel, stride, padding, dilation) -> None:
    out = [_out_size(x_shape[2 + i], kernel[i], stride[i], padding[i], dilation[i])
           for i in range(2)]
    if min(out) < 1:
        raise ValueError(
            f"input of shape {tuple(x_shape)} is too small for kernel {tuple(kernel)} with "
            f"padding {padding} and dilation {dilation} (output would be {tuple(out)})")


def _check_groups(groups: Any, c: int, o: int, what: str) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if c % groups or o % groups:
        raise ValueError(f"groups={groups} must divide both the {what}")
    return int(groups)


def _with_bias(out, b, where: str):
    if not hasattr(b, "shape"):
        b = np.asarray(b, dtype=out.dtype)
    if b.shape != (out.shape[1],):
        raise ValueError(f"{where}: bias b must have shape ({out.shape[1]},), got {b.shape}")
    return out + prims.reshape(b, shape=(1, -1, 1, 1))


def _conv2d_params(x, w, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                   groups: int = 1):
    _check_nchw(x, "input x")
    _check_nchw(w, "weight w")
    groups = _check_groups(groups, x.shape[1], w.shape[0],
                           f"input channels ({x.shape[1]}) and output channels ({w.shape[0]})")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(
            f"input x {x.shape} has {x.shape[1]} channels but weight w {w.shape} with "
            f"groups={groups} expects {w.shape[1] * groups} "
            "(weight layout: out, in/groups, kh, kw)")
    dilation = _pair(dilation, "dilation", 1)
    stride = _pair(stride, "stride", 1)
    uneven = None
    if isinstance(padding, str):
        padding, uneven = _string_padding(padding, w.shape[2:], stride, dilation)
    params = {"stride": stride, "padding": _pair(padding, "padding", 0), "dilation": dilation,
              "groups": groups}
    _check_output(x.shape, w.shape[2:], params["stride"], params["padding"], params["dilation"])
    if b is None and uneven is None:
        return params
    if uneven is not None:
        x = prims.pad(x, pad_width=uneven, value=0.0)
    out = prims.conv2d(x, w, **params)
    return out if b is None else _with_bias(out, b, "conv2d")


def _string_padding(mode: str, kernel, stride, dilation):
    """PyTorch's padding="valid" (none) and "same" (stride 1): (padding, None), or (0, the pad
    widths) when a total is odd (the extra row and column go at the end)."""
    if mode == "valid":
        return 0, None
    if mode != "same":
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {mode!r}")
    if stride != (1, 1):
        raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
    total = [dilation[i] * (kernel[i] - 1) for i in range(2)]
    if total[0] % 2 == 0 and total[1] % 2 == 0:
        return (total[0] // 2, total[1] // 2), None
    return 0, ((0, 0), (0, 0)) + tuple((t // 2, t - t // 2) for t in total)


def _fit_padding(x_shape, g_shape, kernel, stride, padding, dilation) -> tuple[int, int]:
    """The output_padding that makes conv_transpose2d of g come back at x's spatial size (the
    rows and columns a floor-divided stride skipped)."""
    return tuple(int(x_shape[2 + i] - ((g_shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                       + dilation[i] * (kernel[i] - 1) + 1)) for i in range(2))


def _conv2d_vjp_x(g, ans, x, w, stride, padding, dilation, groups):
    fit = _fit_padding(x.shape, ans.shape, w.shape[2:], stride, padding, dilation)
    return prims.conv_transpose2d(g, w, stride=stride, padding=padding, output_padding=fit,
                                  dilation=dilation, groups=groups)


def _conv2d_vjp_w(g, ans, x, w, stride, padding, dilation, groups):
    return prims.conv2d_weight(x, g, kernel=tuple(w.shape[2:]), stride=stride, padding=padding,
                               dilation=dilation, groups=groups)


# --- batch rules (ag.vmap) ----------------------------------------------------------------------
def _fold(a: np.ndarray, n: int) -> np.ndarray:
    """Batch dims and the images' N as one N: (P..., N, C, H, W) -> (P*N, C, H, W)."""
    return a.reshape((-1,) + a.shape[n + 1:])


def _into_channels(a: np.ndarray, n: int, batched: bool, prefix: tuple) -> np.ndarray:
    """A batch of image stacks as one stack with the batch in the channels:
    (P..., N, C, H, W) -> (N, P*C, H, W); an unbatched stack is repeated for every example."""
    if not batched:
        a = np.broadcast_to(a, prefix + a.shape)
    b = int(np.prod(prefix))
    a = a.reshape((b,) + a.shape[n:])
    return np.swapaxes(a, 0, 1).reshape((a.shape[1], b * a.shape[2]) + a.shape[3:])


def _out_of_channels(out: np.ndarray, prefix: tuple) -> np.ndarray:
    """(N, P*O, H, W) -> (P..., N, O, H, W)."""
    b = int(np.prod(prefix))
    out = out.reshape((out.shape[0], b, out.shape[1] // b) + out.shape[2:])
    return np.swapaxes(out, 0, 1).reshape(prefix + (out.shape[0],) + out.shape[2:])


def _weights(w: np.ndarray, n: int, batched: bool, prefix: tuple) -> np.ndarray:
    if not batched:
        w = np.broadcast_to(w, prefix + w.shape)
    return w.reshape((-1,) + w.shape[n + 1:])


def _batch_conv(forward, arrays, batched, params, n, prefix):
    """conv2d / conv_transpose2d of examples: one call on the folded batch when the weight is
    shared, grouped by example when each example has its own weight."""
    x, w = arrays
    if not batched[1]:
        out = forward(_fold(x, n), w, **params)
        return out.reshape(x.shape[:n + 1] + out.shape[1:])
    b = int(np.prod(prefix))
    grouped = {**params, "groups": params["groups"] * b}
    out = forward(_into_channels(x, n, batched[0], prefix), _weights(w, n, True, prefix),
                  **grouped)
    return _out_of_channels(out, prefix)


def _batch_conv_weight(forward, arrays, batched, params, n, prefix):
    """conv2d's weight gradient of examples: grouped by example, one call."""
    x, gy = arrays
    b = int(np.prod(prefix))
    grouped = {**params, "groups": params["groups"] * b}
    out = forward(_into_channels(x, n, batched[0], prefix),
                  _into_channels(gy, n, batched[1], prefix), **grouped)
    return out.reshape(prefix + (out.shape[0] // b,) + out.shape[1:])


_CONV_SOURCE = "conv2d_forward({x}, {w}, {stride}, {padding}, {dilation}, {groups})"
_KERNELS = {"conv_columns": conv_columns, "conv2d_forward": conv2d_forward}

conv2d = primitive(
    "conv2d", conv2d_forward, _conv2d_vjp_x, _conv2d_vjp_w, inputs=("x", "w"),
    prepare=_conv2d_params, source=_CONV_SOURCE, batch=_batch_conv,
    helper={**_KERNELS, "conv2d_forward": conv2d_forward},
    doc="2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), w (O, C/groups, kH, kW), "
        "optional bias b (O,); padding is an int, a pair, 'same' or 'valid'.",
)


def _conv_transpose2d_params(y, w, b: Any = None, stride: Any = 1, padding: Any = 0,
                             output_padding: Any = 0, groups: int = 1, dilation: Any = 1):
    _check_nchw(y, "input y")
    _check_nchw(w, "weight w")
    groups = _check_groups(groups, y.shape[1], w.shape[0],
                           f"input channels ({y.shape[1]}) and the weight's first dim "
                           f"({w.shape[0]})")
    if y.shape[1] != w.shape[0]:
        raise ValueError(
            f"input y {y.shape} has {y.shape[1]} channels but weight w {w.shape} expects "
            f"{w.shape[0]} (weight layout: in, out/groups, kh, kw)")
    stride = _pair(stride, "stride", 1)
    output_padding = _pair(output_padding, "output_padding", 0)
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        raise ValueError(f"output_padding {output_padding} must be smaller than stride {stride}")
    params = {"stride": stride, "padding": _pair(padding, "padding", 0),
              "output_padding": output_padding, "dilation": _pair(dilation, "dilation", 1),
              "groups": groups}
    size = [(y.shape[2 + i] - 1) * stride[i] - 2 * params["padding"][i]
            + params["dilation"][i] * (w.shape[2 + i] - 1) + output_padding[i] + 1
            for i in range(2)]
    if min(size) < 1:
        raise ValueError(f"padding {params['padding']} leaves no output (size {tuple(size)})")
    if b is None:
        return params
    return _with_bias(prims.conv_transpose2d(y, w, **params), b, "conv_transpose2d")


def _conv_transpose2d_vjp_y(g, ans, y, w, stride, padding, output_padding, dilation, groups):
    return prims.conv2d(g, w, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _conv_transpose2d_vjp_w(g, ans, y, w, stride, padding, output_padding, dilation, groups):
    return prims.conv2d_weight(g, y, kernel=tuple(w.shape[2:]), stride=stride, padding=padding,
                               dilation=dilation, groups=groups)


conv_transpose2d = primitive(
    "conv_transpose2d", conv_transpose2d_forward, _conv_transpose2d_vjp_y,
    _conv_transpose2d_vjp_w, inputs=("y", "w"), prepare=_conv_transpose2d_params,
    batch=_batch_conv,
    source="conv_transpose2d_forward({y}, {w}, {stride}, {padding}, {output_padding}, "
           "{dilation}, {groups})",
    helper={**_KERNELS, "conv_transpose2d_forward": conv_transpose2d_forward},
    doc="Transposed 2-D convolution (PyTorch's conv_transpose2d): y (N, C, H, W), "
        "w (C, O/groups, kH, kW), optional bias b (O,).",
)


def _conv2d_weight_vjp_x(g, ans, x, gy, kernel, stride, padding, dilation, groups):
    fit = _fit_padding(x.shape, gy.shape, kernel, stride, padding, dilation)
    return prims.conv_transpose2d(gy, g, stride=stride, padding=padding, output_padding=fit,
                                  dilation=dilation, groups=groups)


def _conv2d_weight_vjp_gy(g, ans, x, gy, kernel, stride, padding, dilation, groups):
    return prims.conv2d(x, g, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _conv2d_weight_params(x, gy, kernel: Any, stride: Any = 1, padding: Any = 0,
                          dilation: Any = 1, groups: int = 1):
    _check_nchw(x, "input x")
    _check_nchw(gy, "output gradient gy")
    kernel = _pair(kernel, "kernel", 1)
    params = {"kernel": kernel, "stride": _pair(stride, "stride", 1),
              "padding": _pair(padding, "padding", 0), "dilation": _pair(dilation, "dilation", 1),
              "groups": _check_groups(groups, x.shape[1], gy.shape[1], "channels of x and gy")}
    _check_output(x.shape, kernel, params["stride"], params["padding"], params["dilation"])
    expected = tuple(_out_size(x.shape[2 + i], kernel[i], params["stride"][i],
                               params["padding"][i], params["dilation"][i]) for i in range(2))
    if gy.shape[0] != x.shape[0] or gy.shape[2:] != expected:
        raise ValueError(f"gy of shape {gy.shape} is not conv2d's output shape for x {x.shape} "
                         f"(expected ({x.shape[0]}, O, {expected[0]}, {expected[1]}))")
    return params


conv2d_weight = primitive(
    "conv2d_weight", conv2d_weight_forward, _conv2d_weight_vjp_x, _conv2d_weight_vjp_gy,
    inputs=("x", "gy"), prepare=_conv2d_weight_params, batch=_batch_conv_weight,
    source="conv2d_weight_forward({x}, {gy}, {kernel}, {stride}, {padding}, {dilation}, "
           "{groups})",
    helper={**_KERNELS, "conv2d_weight_forward": conv2d_weight_forward},
    doc="The gradient of conv2d with respect to its weight, for output gradient gy (a row of "
        "its own so that every order of conv2d's gradient is again a convolution).",
)


# --- pooling ------------------------------------------------------------------------------------
def _pool_params(x, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1) -> dict:
    _check_nchw(x, "input x")
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding {padding} must be at most half the kernel size {kernel}")
    dilation = _pair(dilation, "dilation", 1)
    _check_output(x.shape, kernel, stride, padding, dilation)
    return {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}


def _max_pool2d_vjp(g, ans, x, kernel, stride, padding, dilation):
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
    out = forward(_fold(x, n), **params)
    return out.reshape(x.shape[:n + 1] + out.shape[1:])


def _batch_route(forward, arrays, batched, params, n, prefix):
    g, x = (a if b else np.broadcast_to(a, prefix + a.shape)
            for a, b in zip(arrays, batched, strict=True))
    return forward(_fold(g, n), _fold(x, n), **params).reshape(x.shape)


def _max_pool2d_kink(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    win = conv_windows(x, params["kernel"], params["stride"], params["padding"],
                       params["dilation"], -np.inf)
    n, c, kh, kw, oh, ow = win.shape
    if kh * kw < 2:
        return None
    top = np.sort(win.reshape(n, c, kh * kw, oh, ow), axis=2)[:, :, -2:]
    with np.errstate(invalid="ignore"):
        gap = np.nan_to_num(top[:, :, 1] - top[:, :, 0], nan=np.inf)
    return float(gap.min()), "a near tie inside a pooling window (the gradient jumps)"


_POOL_SOURCE = "{x}, {kernel}, {stride}, {padding}, {dilation})"
max_pool2d = primitive(
    "max_pool2d", max_pool2d_forward, _max_pool2d_vjp, prepare=_pool_params,
    source="max_pool2d_forward(" + _POOL_SOURCE,
    helper={"conv_windows": conv_windows, "max_pool2d_forward": max_pool2d_forward},
    doc="Maximum over each kernel window of x (N, C, H, W); the gradient goes to each window's "
        "first maximum, as in PyTorch.",
    notes=("max_pool2d_route adds {g} into zeros shaped like {x} at each window's first "
           "maximum",),
    kink=_max_pool2d_kink,
    batch=_batch_pool,
)
max_pool2d_route_row = primitive(
    "max_pool2d_route", max_pool2d_route, _route_vjp, None, inputs=("g", "x"),
    source="max_pool2d_route({g}, {x}, {kernel}, {stride}, {padding}, {dilation})",
    helper={"conv_windows": conv_windows, "max_pool2d_indices": max_pool2d_indices,
            "max_pool2d_route": max_pool2d_route},
    batch=_batch_route, public=None,
    doc="max_pool2d's backward: g added into zeros shaped like x at each window's first "
        "maximum (linear in g; piecewise constant in x).",
)
max_pool2d_indices_row = primitive(
    "max_pool2d_indices", max_pool2d_indices, None, prepare=_pool_params,
    source="max_pool2d_indices(" + _POOL_SOURCE,
    helper={"conv_windows": conv_windows, "max_pool2d_indices": max_pool2d_indices},
    doc="Flat indices into x of each window's first maximum (what max_pool2d's gradient uses).",
)


def _avg_pool2d(x, kernel_size: Any, stride: Any = None, padding: Any = 0,
                count_include_pad: bool = True):
    """Mean over each kernel window of x (N, C, H, W): a convolution of every channel with a
    constant kernel. Zero padding counts towards the mean unless `count_include_pad=False`."""
    p = _pool_params(x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    (kh, kw), stride, padding = p["kernel"], p["stride"], p["padding"]
    kernel = np.full((1, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype)
    out = prims.conv2d(prims.reshape(x, shape=(n * c, 1, h, w)), kernel, stride=stride,
                       padding=padding, dilation=(1, 1), groups=1)
    if not count_include_pad and (padding[0] or padding[1]):
        inside = conv2d_forward(np.ones((1, 1, h, w), dtype=x.dtype), kernel, stride, padding,
                                (1, 1), 1)  # the share of each window that is not padding
        out = out / inside
    return prims.reshape(out, shape=(n, c, *out.shape[2:]))


avg_pool2d = composite("avg_pool2d", _avg_pool2d)
