"""Convolution and pooling written the slow, obvious way (loops over output pixels), as an
independent NumPy reference for the finite-difference tests."""

from __future__ import annotations

import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for k in range(o):
        g = k // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, k, i, j] = (patch * w[k]).sum(axis=(1, 2, 3))
    return out


def conv_transpose2d(y, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    n, c, h, wd = y.shape
    _, og, kh, kw = w.shape
    ci = c // groups
    fh = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    fw = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    out = np.zeros((n, og * groups, fh, fw))
    for ch in range(c):
        g = ch // ci
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for b in range(kw):
                        out[:, g * og:(g + 1) * og, i * sh + a * dh, j * sw + b * dw] += \
                            y[:, ch, i, j, None] * w[ch, :, a, b]
    return out[:, :, ph:fh - ph, pw:fw - pw]


def pool2d(x, kernel, stride=None, padding=0, reduce=np.max, fill=-np.inf):
    (kh, kw) = _pair(kernel)
    (sh, sw) = _pair(kernel if stride is None else stride)
    (ph, pw) = _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw],
                                     axis=(2, 3))
    return out


def max_pool_route(g, x, kernel):
    """max_pool2d's backward by loops: each output gradient goes to its window's first maximum
    (row-major order within the window), non-overlapping windows of `kernel`."""
    k = kernel
    out = np.zeros_like(x)
    n, c, oh, ow = g.shape
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = x[a, b, i * k:i * k + k, j * k:j * k + k]
                    r, s = np.unravel_index(int(np.argmax(window)), window.shape)
                    out[a, b, i * k + r, j * k + s] += g[a, b, i, j]
    return out


# --- any number of spatial dims (loops over output places) ---------------------------------------
def _tuple(v, d):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * d


def convnd(x, w, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation of x (n, c, *S) with w (o, c/groups, *K), one output place at a time."""
    d = x.ndim - 2
    s, p, dl = _tuple(stride, d), _tuple(padding, d), _tuple(dilation, d)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in p))
    kernel = w.shape[2:]
    out_sz = tuple((xp.shape[2 + i] - dl[i] * (kernel[i] - 1) - 1) // s[i] + 1 for i in range(d))
    o, cg = w.shape[:2]
    out = np.zeros((x.shape[0], o) + out_sz)
    for k in range(o):
        g = k // (o // groups)
        for place in np.ndindex(*out_sz):
            index = tuple(slice(place[i] * s[i], place[i] * s[i] + dl[i] * (kernel[i] - 1) + 1,
                                dl[i]) for i in range(d))
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + index]
            out[(slice(None), k) + place] = (patch * w[k]).reshape(x.shape[0], -1).sum(axis=1)
    return out


def conv_transpose_nd(y, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed convolution by scattering every input place's kernel-sized contribution."""
    d = y.ndim - 2
    s, p, op, dl = (_tuple(v, d) for v in (stride, padding, output_padding, dilation))
    c, og, kernel = y.shape[1], w.shape[1], w.shape[2:]
    ci = c // groups
    full = tuple((y.shape[2 + i] - 1) * s[i] + dl[i] * (kernel[i] - 1) + 1 + op[i]
                 for i in range(d))
    out = np.zeros((y.shape[0], og * groups) + full)
    for ch in range(c):
        g = ch // ci
        for place in np.ndindex(*y.shape[2:]):
            for k in np.ndindex(*kernel):
                at = tuple(place[i] * s[i] + k[i] * dl[i] for i in range(d))
                out[(slice(None), slice(g * og, (g + 1) * og)) + at] += \
                    y[(slice(None), ch) + place][:, None] * w[(ch, slice(None)) + k]
    return out[(slice(None), slice(None)) + tuple(slice(p[i], full[i] - p[i]) for i in range(d))]


def conv_weight_nd(x, gy, kernel, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of convnd in its weight: gw[o, c, k] = sum over n and places of
    gy[n, o, place] * padded x[n, c, place * stride + k * dilation]."""
    d = x.ndim - 2
    s, p, dl = _tuple(stride, d), _tuple(padding, d), _tuple(dilation, d)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in p))
    o, cg = gy.shape[1], x.shape[1] // groups
    gw = np.zeros((o, cg) + tuple(kernel))
    for k_out in range(o):
        g = k_out // (o // groups)
        for place in np.ndindex(*gy.shape[2:]):
            for k in np.ndindex(*kernel):
                at = tuple(place[i] * s[i] + k[i] * dl[i] for i in range(d))
                gw[(k_out, slice(None)) + k] += (
                    gy[(slice(None), k_out) + place][:, None]
                    * xp[(slice(None), slice(g * cg, (g + 1) * cg)) + at]).sum(axis=0)
    return gw


def poolnd(x, kernel, stride=None, padding=0, reduce=np.max, fill=-np.inf, ceil_mode=False,
           count=None):
    """Max (or any reduction) over windows, one output place at a time; `count(window_lo,
    window_hi)` divides sums (average pooling's divisor) when given."""
    d = x.ndim - 2
    k = _tuple(kernel, d)
    s = _tuple(kernel if stride is None else stride, d)
    p = _tuple(padding, d)
    sizes = []
    for i in range(d):
        span = x.shape[2 + i] + 2 * p[i] - k[i]
        n_out = (-(-span // s[i]) if ceil_mode else span // s[i]) + 1
        if ceil_mode and (n_out - 1) * s[i] >= x.shape[2 + i] + p[i]:
            n_out -= 1
        sizes.append(n_out)
    extra = [max(0, (sizes[i] - 1) * s[i] + k[i] - x.shape[2 + i] - 2 * p[i]) for i in range(d)]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p[i], p[i] + extra[i]) for i in range(d)),
                constant_values=fill)
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for place in np.ndindex(*sizes):
        index = tuple(slice(place[i] * s[i], place[i] * s[i] + k[i]) for i in range(d))
        window = xp[(slice(None), slice(None)) + index].reshape(x.shape[:2] + (-1,))
        value = reduce(window, axis=2)
        if count is not None:
            value = value / count([place[i] * s[i] - p[i] for i in range(d)],
                                  [place[i] * s[i] - p[i] + k[i] for i in range(d)])
        out[(slice(None), slice(None)) + place] = value
    return out


def unfold(x, k, stride=1, padding=0):
    """im2col by loops: column l holds window l's elements, channels outermost."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = xp.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, c * k * k, oh * ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i * ow + j] = xp[:, :, i * stride:i * stride + k,
                                       j * stride:j * stride + k].reshape(n, -1)
    return out


def adaptive_pool2d(x, out_size, reduce):
    """PyTorch's adaptive bins [floor(i*n/o), ceil((i+1)*n/o)) by loops."""
    n, c, h, w = x.shape
    oh, ow = out_size
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            out[:, :, i, j] = reduce(x[:, :, rows, cols].reshape(n, c, -1), axis=2)
    return out


def bilinear(x, out_size, align_corners):
    """Bilinear resize, one output pixel at a time (PyTorch's source-place rule)."""
    n, c, h, w = x.shape
    oh, ow = out_size
    out = np.zeros((n, c, oh, ow))

    def source(i, n_in, n_out):
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        low = min(int(np.floor(src)), n_in - 1)
        return low, min(low + 1, n_in - 1), src - low

    for i in range(oh):
        a0, a1, s = source(i, h, oh)
        for j in range(ow):
            b0, b1, t = source(j, w, ow)
            out[:, :, i, j] = ((1 - s) * ((1 - t) * x[:, :, a0, b0] + t * x[:, :, a0, b1])
                               + s * ((1 - t) * x[:, :, a1, b0] + t * x[:, :, a1, b1]))
    return out


def max_unpool2d(x, indices, out_size):
    """Each value put at its flat index of its (H, W) plane."""
    n, c = x.shape[:2]
    out = np.zeros((n, c, out_size[0] * out_size[1]))
    for a in range(n):
        for b in range(c):
            out[a, b, indices[a, b].reshape(-1)] = x[a, b].reshape(-1)
    return out.reshape(n, c, *out_size)
