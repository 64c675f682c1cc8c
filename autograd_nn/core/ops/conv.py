"""Convolutions over 1, 2 or 3 spatial dims in PyTorch's layout (x (N, C, *S), weight
(out, in/groups, *K)).

For each dimension d three rows close under differentiation: `conv{d}d(x, w)`,
`conv_transpose{d}d(y, w)` (its adjoint in x) and `conv{d}d_weight(x, gy)` (its adjoint in w).
Each rule is one of the three, so gradients of every order stay convolutions. The kernels are
written once for any d: windows are `as_strided` views, each product is one batched GEMM over
the groups, and the only Python loop is over kernel offsets when windows are summed back (never
over pixels). Pooling is in pooling.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import primitive, prims

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
_KERNEL_NAMES = {1: "kl", 2: "kh, kw", 3: "kd, kh, kw"}


# --- NumPy kernels (self-contained: ag.compile copies them into the generated module) ---------
def conv_windows(x, kernel, stride, padding, dilation, fill):
    """Every kernel window of the padded input as a strided view (n, c, *kernel, *out).
    Each padding entry is an int (both sides) or a (before, after) pair."""
    d = len(kernel)
    pads = tuple((p, p) if np.ndim(p) == 0 else tuple(p) for p in padding)
    if any(a or b for a, b in pads):
        x = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=fill)
    size = x.shape[2:]
    out = tuple((size[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(d))
    st = x.strides
    return np.lib.stride_tricks.as_strided(
        x, x.shape[:2] + tuple(kernel) + out,
        st[:2] + tuple(st[2 + i] * dilation[i] for i in range(d))
        + tuple(st[2 + i] * stride[i] for i in range(d)), writeable=False)


def conv_columns(x, kernel, stride, padding, dilation, groups):
    """im2col in channels-last order: (groups, n*prod(out), prod(kernel)*c/groups), one copy.
    The runs copied are kw*c long (not ow), which is what makes small images fast."""
    d = len(kernel)
    xt = x.transpose((0,) + tuple(range(2, d + 2)) + (1,))  # free when x came out of a conv
    if any(padding):  # zeros and one copy in (np.pad costs more on small images)
        padded = np.zeros((xt.shape[0],) + tuple(xt.shape[1 + i] + 2 * padding[i]
                                                for i in range(d)) + (xt.shape[-1],), xt.dtype)
        padded[(slice(None),) + tuple(slice(p, p + n) for p, n in zip(
            padding, xt.shape[1:-1]))] = xt
        xt = padded
    n, c, size, st = xt.shape[0], xt.shape[-1], xt.shape[1:-1], xt.strides
    out = tuple((size[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(d))
    win = np.lib.stride_tricks.as_strided(
        xt, (n,) + out + tuple(kernel) + (c,),
        (st[0],) + tuple(st[1 + i] * stride[i] for i in range(d))
        + tuple(st[1 + i] * dilation[i] for i in range(d)) + (st[-1],), writeable=False)
    m, k = int(np.prod(out)), int(np.prod(kernel))
    if groups == 1:
        return win.reshape(1, n * m, k * c), out
    win = win.reshape((n,) + out + tuple(kernel) + (groups, c // groups))
    win = win.transpose((2 * d + 1,) + tuple(range(2 * d + 1)) + (2 * d + 2,))
    return win.reshape(groups, n * m, k * (c // groups)), out


def conv_forward(x, w, stride, padding, dilation, groups):
    """Cross-correlation of x (n, c, *size) with w (o, c/groups, *kernel): one GEMM per group.
    The result has channels-last memory, which the next convolution reads for free."""
    o, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    d, k = len(kernel), int(np.prod(kernel))
    cols, out = conv_columns(x, kernel, stride, padding, dilation, groups)
    wk = w.reshape((groups, o // groups, cg) + kernel)
    wk = wk.transpose((0,) + tuple(range(3, d + 3)) + (2, 1)).reshape(groups, k * cg, o // groups)
    res = np.matmul(cols, wk)  # (g, n*prod(out), o/g)
    n = x.shape[0]
    if groups == 1:
        return res.reshape((n,) + out + (o,)).transpose((0, d + 1) + tuple(range(1, d + 1)))
    res = res.reshape((groups, n) + out + (o // groups,))
    res = res.transpose((1, 0, d + 2) + tuple(range(2, d + 2)))
    return res.reshape((n, o) + out)


def conv_transpose_forward(y, w, stride, padding, output_padding, dilation, groups):
    """The adjoint of the convolution in its input: y (n, c_in, *size) through w
    (c_in, o/groups, *kernel). At stride 1 it is a convolution with the flipped kernel;
    otherwise every input pixel's kernel-sized contribution is summed in, one strided add per
    kernel offset."""
    n, c_in, size = y.shape[0], y.shape[1], y.shape[2:]
    og, kernel = w.shape[1], w.shape[2:]
    d, ci = len(kernel), c_in // groups
    reach = tuple(dilation[i] * (kernel[i] - 1) - padding[i] for i in range(d))
    if all(s == 1 for s in stride) and min(reach) >= 0:
        flipped = w.reshape((groups, ci, og) + kernel).transpose((0, 2, 1) + tuple(range(3, d + 3)))
        flipped = flipped[(Ellipsis,) + (slice(None, None, -1),) * d]
        return conv_forward(y, flipped.reshape((groups * og, ci) + kernel), stride, reach,
                            dilation, groups)
    m, k = int(np.prod(size)), int(np.prod(kernel))
    yt = y.reshape(n, groups, ci, m).transpose(1, 0, 3, 2).reshape(groups, n * m, ci)
    cols = np.matmul(yt, w.reshape(groups, ci, og * k))  # (g, n*m, og*k)
    cols = cols.reshape((groups, n) + size + (og,) + kernel)
    full = tuple((size[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 + output_padding[i]
                 for i in range(d))
    out = np.zeros((n,) + full + (groups, og), dtype=cols.dtype)
    order = (1,) + tuple(range(2, d + 2)) + (0, d + 2)
    for offset in np.ndindex(*kernel):  # one strided add per kernel offset
        where = tuple(slice(offset[i] * dilation[i],
                            offset[i] * dilation[i] + stride[i] * (size[i] - 1) + 1, stride[i])
                      for i in range(d))
        out[(slice(None),) + where] += cols[(Ellipsis,) + offset].transpose(order)
    out = out.reshape((n,) + full + (groups * og,)).transpose((0, d + 1) + tuple(range(1, d + 1)))
    return out[(slice(None), slice(None)) + tuple(slice(padding[i], full[i] - padding[i])
                                                  for i in range(d))]


def conv_weight_forward(x, gy, kernel, stride, padding, dilation, groups):
    """The adjoint of the convolution in its weight: sum over batch and pixels of gy times x's
    windows."""
    d = len(kernel)
    cols, out = conv_columns(x, kernel, stride, padding, dilation, groups)
    n, o = gy.shape[:2]
    cg, m = x.shape[1] // groups, int(np.prod(out))
    gys = gy.transpose((0,) + tuple(range(2, d + 2)) + (1,)).reshape(n * m, groups, o // groups)
    gys = gys.transpose(1, 2, 0)
    gw = np.matmul(gys, cols)  # (g, o/g, prod(kernel)*cg)
    gw = gw.reshape((groups, o // groups) + tuple(kernel) + (cg,))
    gw = gw.transpose((0, 1, d + 2) + tuple(range(2, d + 2)))
    return gw.reshape((o, cg) + tuple(kernel))


# --- parameters ---------------------------------------------------------------------------------
def tuple_of(value: Any, what: str, minimum: int, d: int) -> tuple[int, ...]:
    """An int or d ints, each >= minimum, as a d-tuple."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * d
    if len(items) != d or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        count = "a pair of" if d == 2 else str(d)
        raise TypeError(f"{what} must be an int or {count} ints, got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def padding_pairs(value: Any, d: int, what: str = "padding") -> tuple[tuple[int, int], ...]:
    """Padding as (before, after) per spatial dim, from an int, d ints (both sides) or 2*d ints
    in F.pad's order (the last dim first: left, right, top, bottom, ...)."""
    if isinstance(value, (tuple, list)) and len(value) == 2 * d and d > 1 or (
            d == 1 and isinstance(value, (tuple, list)) and len(value) == 2):
        items = tuple_of(value, what, 0, 2 * d)
        return tuple((items[2 * (d - 1 - i)], items[2 * (d - 1 - i) + 1]) for i in range(d))
    try:
        items = tuple_of(value, what, 0, d)
    except TypeError:
        raise TypeError(f"{what} must be an int, {d} ints or {2 * d} ints in F.pad's order "
                        f"(last dim first), got {value!r}") from None
    return tuple((p, p) for p in items)


def check_layout(t, what: str, d: int, kinds: str = "f") -> None:
    """t must be (N, C, *d spatial dims) of a dtype kind in `kinds`."""
    if t.ndim != d + 2:
        raise ValueError(f"{what} must be {d + 2}-D {LAYOUTS[d]}, got shape {t.shape} ({t.dtype})")
    if t.dtype.kind not in kinds:
        kind = "floating point" if kinds == "f" else "floating point or integer"
        raise TypeError(f"{what} must be {kind}, got dtype {t.dtype} (shape {t.shape})")


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a window of k (dilation d) sliding by s over size + p padded places."""
    return (size + p - d * (k - 1) - 1) // s + 1


def check_output(x_shape, kernel, stride, pads, dilation) -> None:
    """Refuse an input too small for the kernel (an empty output)."""
    out = tuple(out_size(x_shape[2 + i], kernel[i], stride[i], sum(pads[i]), dilation[i])
                for i in range(len(kernel)))
    if min(out) < 1:
        shown = tuple(a if a == b else (a, b) for a, b in pads)
        shown = shown[0] if len(set(shown)) == 1 else shown
        raise ValueError(
            f"input of shape {tuple(x_shape)} is too small for kernel {tuple(kernel)} with "
            f"padding {shown if isinstance(shown, tuple) else (shown,) * len(kernel)} and "
            f"dilation {tuple(dilation)} (output would be {out})")


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
    return out + prims.reshape(b, shape=(1, -1) + (1,) * (out.ndim - 2))


def same_padding(kernel, dilation) -> tuple[tuple[int, int], ...]:
    """PyTorch's padding='same' at stride 1: the total d*(k-1) split with the odd one after."""
    total = [dilation[i] * (kernel[i] - 1) for i in range(len(kernel))]
    return tuple((t // 2, t - t // 2) for t in total)


def _conv_params(d: int):
    name = f"conv{d}d"

    def prepare(x, w, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                groups: int = 1):
        check_layout(x, "input x", d)
        check_layout(w, "weight w", d)
        groups = _check_groups(groups, x.shape[1], w.shape[0],
                               f"input channels ({x.shape[1]}) and output channels "
                               f"({w.shape[0]})")
        if x.shape[1] != w.shape[1] * groups:
            raise ValueError(
                f"input x {x.shape} has {x.shape[1]} channels but weight w {w.shape} with "
                f"groups={groups} expects {w.shape[1] * groups} "
                f"(weight layout: out, in/groups, {_KERNEL_NAMES[d]})")
        dilation = tuple_of(dilation, "dilation", 1, d)
        stride = tuple_of(stride, "stride", 1, d)
        pads = _string_padding(padding, w.shape[2:], stride, dilation) \
            if isinstance(padding, str) else padding_pairs(padding, d)
        check_output(x.shape, w.shape[2:], stride, pads, dilation)
        both = tuple(min(a, b) for a, b in pads)
        params = {"stride": stride, "padding": both, "dilation": dilation, "groups": groups}
        uneven = tuple((a - m, b - m) for (a, b), m in zip(pads, both, strict=True))
        if b is None and not any(a or c for a, c in uneven):
            return params
        if any(a or c for a, c in uneven):
            x = prims.pad(x, pad_width=((0, 0), (0, 0)) + uneven, value=0.0)
        out = getattr(prims, name)(x, w, **params)
        return out if b is None else _with_bias(out, b, name)

    return prepare


def _string_padding(mode: str, kernel, stride, dilation):
    """PyTorch's padding="valid" (none) and "same" (stride 1; an odd total puts the extra row
    and column at the end)."""
    if mode == "valid":
        return tuple((0, 0) for _ in kernel)
    if mode != "same":
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {mode!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"padding='same' needs stride 1, got stride {stride} (as in PyTorch, "
                         "which refuses it for strided convolutions)")
    return same_padding(kernel, dilation)


def _fit_padding(x_shape, g_shape, kernel, stride, padding, dilation) -> tuple[int, ...]:
    """The output_padding that makes conv_transpose of g come back at x's spatial size (the
    places a floor-divided stride skipped)."""
    return tuple(int(x_shape[2 + i] - ((g_shape[2 + i] - 1) * stride[i] - 2 * padding[i]
                                       + dilation[i] * (kernel[i] - 1) + 1))
                 for i in range(len(kernel)))


def _row(kind: str, w) -> Any:
    return getattr(prims, kind.format(d=w.ndim - 2))


def _conv_vjp_x(g, ans, x, w, stride, padding, dilation, groups):
    fit = _fit_padding(x.shape, ans.shape, w.shape[2:], stride, padding, dilation)
    return _row("conv_transpose{d}d", w)(g, w, stride=stride, padding=padding,
                                         output_padding=fit, dilation=dilation, groups=groups)


def _conv_vjp_w(g, ans, x, w, stride, padding, dilation, groups):
    return _row("conv{d}d_weight", w)(x, g, kernel=tuple(w.shape[2:]), stride=stride,
                                      padding=padding, dilation=dilation, groups=groups)


# --- batch rules (ag.vmap) ----------------------------------------------------------------------
def fold(a: np.ndarray, n: int) -> np.ndarray:
    """Batch dims and the images' N as one N: (P..., N, C, *S) -> (P*N, C, *S)."""
    return a.reshape((-1,) + a.shape[n + 1:])


def full_prefix(a: np.ndarray, n: int, batched: bool, prefix: tuple) -> np.ndarray:
    """`a` with every batch dim at its full size: an input batched at only some vmap levels
    (size 1 at the others) or at none is repeated for the examples it is shared by."""
    return np.broadcast_to(a, prefix + (a.shape[n:] if batched else a.shape))


def _into_channels(a: np.ndarray, n: int, batched: bool, prefix: tuple) -> np.ndarray:
    """A batch of image stacks as one stack with the batch in the channels:
    (P..., N, C, *S) -> (N, P*C, *S); an input shared by some or all examples is repeated."""
    a = full_prefix(a, n, batched, prefix)
    b = int(np.prod(prefix))
    a = a.reshape((b,) + a.shape[n:])
    return np.swapaxes(a, 0, 1).reshape((a.shape[1], b * a.shape[2]) + a.shape[3:])


def _out_of_channels(out: np.ndarray, prefix: tuple) -> np.ndarray:
    """(N, P*O, *S) -> (P..., N, O, *S)."""
    b = int(np.prod(prefix))
    out = out.reshape((out.shape[0], b, out.shape[1] // b) + out.shape[2:])
    return np.swapaxes(out, 0, 1).reshape(prefix + (out.shape[0],) + out.shape[2:])


def _batch_conv(forward, arrays, batched, params, n, prefix):
    """A convolution or its transpose of examples: one call on the folded batch when the weight
    is shared, grouped by example when each example has its own weight."""
    x, w = arrays
    if not batched[1]:
        out = forward(fold(x, n), w, **params)
        return out.reshape(x.shape[:n + 1] + out.shape[1:])
    b = int(np.prod(prefix))
    grouped = {**params, "groups": params["groups"] * b}
    w = full_prefix(w, n, True, prefix).reshape((-1,) + w.shape[n + 1:])
    out = forward(_into_channels(x, n, batched[0], prefix), w, **grouped)
    return _out_of_channels(out, prefix)


def _batch_conv_weight(forward, arrays, batched, params, n, prefix):
    """The weight gradient of examples: grouped by example, one call."""
    x, gy = arrays
    b = int(np.prod(prefix))
    grouped = {**params, "groups": params["groups"] * b}
    out = forward(_into_channels(x, n, batched[0], prefix),
                  _into_channels(gy, n, batched[1], prefix), **grouped)
    return out.reshape(prefix + (out.shape[0] // b,) + out.shape[1:])


_KERNELS = {"conv_columns": conv_columns, "conv_forward": conv_forward}


def _conv_transpose_params(d: int):
    name = f"conv_transpose{d}d"

    def prepare(y, w, b: Any = None, stride: Any = 1, padding: Any = 0,
                output_padding: Any = 0, groups: int = 1, dilation: Any = 1):
        check_layout(y, "input y", d)
        check_layout(w, "weight w", d)
        groups = _check_groups(groups, y.shape[1], w.shape[0],
                               f"input channels ({y.shape[1]}) and the weight's first dim "
                               f"({w.shape[0]})")
        if y.shape[1] != w.shape[0]:
            raise ValueError(
                f"input y {y.shape} has {y.shape[1]} channels but weight w {w.shape} expects "
                f"{w.shape[0]} (weight layout: in, out/groups, *kernel)")
        stride = tuple_of(stride, "stride", 1, d)
        output_padding = tuple_of(output_padding, "output_padding", 0, d)
        dilation = tuple_of(dilation, "dilation", 1, d)
        if any(output_padding[i] >= stride[i] for i in range(d)):
            raise ValueError(f"output_padding {output_padding} must be smaller than stride "
                             f"{stride}")
        params = {"stride": stride, "padding": tuple_of(padding, "padding", 0, d),
                  "output_padding": output_padding, "dilation": dilation, "groups": groups}
        size = tuple((y.shape[2 + i] - 1) * stride[i] - 2 * params["padding"][i]
                     + dilation[i] * (w.shape[2 + i] - 1) + output_padding[i] + 1
                     for i in range(d))
        if min(size) < 1:
            raise ValueError(f"padding {params['padding']} leaves no output (size {size}) for "
                             f"input y {y.shape} and weight w {w.shape}")
        if b is None:
            return params
        return _with_bias(getattr(prims, name)(y, w, **params), b, name)

    return prepare


def _conv_transpose_vjp_y(g, ans, y, w, stride, padding, output_padding, dilation, groups):
    return _row("conv{d}d", w)(g, w, stride=stride, padding=padding, dilation=dilation,
                               groups=groups)


def _conv_transpose_vjp_w(g, ans, y, w, stride, padding, output_padding, dilation, groups):
    return _row("conv{d}d_weight", w)(g, y, kernel=tuple(w.shape[2:]), stride=stride,
                                      padding=padding, dilation=dilation, groups=groups)


def _conv_weight_vjp_x(g, ans, x, gy, kernel, stride, padding, dilation, groups):
    fit = _fit_padding(x.shape, gy.shape, kernel, stride, padding, dilation)
    return _row("conv_transpose{d}d", x)(gy, g, stride=stride, padding=padding,
                                         output_padding=fit, dilation=dilation, groups=groups)


def _conv_weight_vjp_gy(g, ans, x, gy, kernel, stride, padding, dilation, groups):
    return _row("conv{d}d", x)(x, g, stride=stride, padding=padding, dilation=dilation,
                               groups=groups)


def _conv_weight_params(d: int):
    def prepare(x, gy, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                groups: int = 1):
        check_layout(x, "input x", d)
        check_layout(gy, "output gradient gy", d)
        kernel = tuple_of(kernel, "kernel", 1, d)
        params = {"kernel": kernel, "stride": tuple_of(stride, "stride", 1, d),
                  "padding": tuple_of(padding, "padding", 0, d),
                  "dilation": tuple_of(dilation, "dilation", 1, d),
                  "groups": _check_groups(groups, x.shape[1], gy.shape[1],
                                          "channels of x and gy")}
        pads = tuple((p, p) for p in params["padding"])
        check_output(x.shape, kernel, params["stride"], pads, params["dilation"])
        expected = tuple(out_size(x.shape[2 + i], kernel[i], params["stride"][i],
                                  2 * params["padding"][i], params["dilation"][i])
                         for i in range(d))
        if gy.shape[0] != x.shape[0] or gy.shape[2:] != expected:
            raise ValueError(f"gy of shape {gy.shape} is not conv{d}d's output shape for x "
                             f"{x.shape} (expected {(x.shape[0], 'O') + expected})")
        return params

    return prepare


def _define(d: int) -> tuple:
    """The three rows of d spatial dims."""
    layout, kernel = LAYOUTS[d], ", ".join("k" + "DHW"[3 - d + i] for i in range(d))
    if d == 1:
        kernel = "kL"
    conv = primitive(
        f"conv{d}d", conv_forward, _conv_vjp_x, _conv_vjp_w, inputs=("x", "w"),
        prepare=_conv_params(d), batch=_batch_conv, bilinear=True,
        source="conv_forward({x}, {w}, {stride}, {padding}, {dilation}, {groups})",
        helper=_KERNELS,
        doc=f"{d}-D cross-correlation (PyTorch's conv{d}d): x {layout}, w (O, C/groups, "
            f"{kernel}), optional bias b (O,); padding is an int, {d} ints, {2 * d} ints in "
            "F.pad's order (last dim first), 'same' or 'valid'.",
    )
    transpose = primitive(
        f"conv_transpose{d}d", conv_transpose_forward, _conv_transpose_vjp_y,
        _conv_transpose_vjp_w, inputs=("y", "w"), prepare=_conv_transpose_params(d),
        batch=_batch_conv, bilinear=True,
        source="conv_transpose_forward({y}, {w}, {stride}, {padding}, {output_padding}, "
               "{dilation}, {groups})",
        helper={**_KERNELS, "conv_transpose_forward": conv_transpose_forward},
        doc=f"Transposed {d}-D convolution (PyTorch's conv_transpose{d}d): y {layout}, "
            f"w (C, O/groups, {kernel}), optional bias b (O,).",
    )
    weight = primitive(
        f"conv{d}d_weight", conv_weight_forward, _conv_weight_vjp_x, _conv_weight_vjp_gy,
        inputs=("x", "gy"), prepare=_conv_weight_params(d), batch=_batch_conv_weight,
        bilinear=True,
        source="conv_weight_forward({x}, {gy}, {kernel}, {stride}, {padding}, {dilation}, "
               "{groups})",
        helper={**_KERNELS, "conv_weight_forward": conv_weight_forward},
        doc=f"The gradient of conv{d}d with respect to its weight, for output gradient gy (a "
            f"row of its own so that every order of conv{d}d's gradient is again a "
            "convolution).",
    )
    return conv, transpose, weight


conv1d, conv_transpose1d, conv1d_weight = _define(1)
conv2d, conv_transpose2d, conv2d_weight = _define(2)
conv3d, conv_transpose3d, conv3d_weight = _define(3)
