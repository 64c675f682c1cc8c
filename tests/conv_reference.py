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
