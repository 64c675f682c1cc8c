"""Activations and normalisers, each fused into one numerically stable node.

sigmoid, tanh, relu, softmax, log_softmax and logsumexp are finite and warning-free for inputs
of any magnitude: sigmoid uses exp(-|x|), the others subtract the maximum first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import apply, apply1, primitive
from ..tensor import Tensor
from .base import lift, normalize_axis


def _sigmoid_forward(x):
    # exp(-|x|) never overflows; the numerator is 1 for x >= 0 and exp(x) = exp(-|x|) below, which
    # keeps full relative precision in both tails (no 1 - s cancellation).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1 + e)


sigmoid_p = primitive("sigmoid", _sigmoid_forward, lambda B, g, ans, x: g * ans * (1 - ans))
tanh_p = primitive("tanh", np.tanh, lambda B, g, ans, x: g * (1 - ans * ans))


def _relu_forward(x):
    return np.maximum(x, 0)


relu_p = primitive(
    "relu", _relu_forward, lambda B, g, ans, x: g * (B.raw(x) > 0), doc="relu'(0) = 0"
)


def _softmax_forward(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


softmax_p = primitive(
    "softmax", _softmax_forward,
    lambda B, g, ans, x, axis: ans * (g - B.sum(g * ans, axis=axis, keepdims=True)),
)


def _log_softmax_forward(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


log_softmax_p = primitive(
    "log_softmax", _log_softmax_forward,
    lambda B, g, ans, x, axis: g - B.exp(ans) * B.sum(g, axis=axis, keepdims=True),
)


def _logsumexp_forward(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) along the axis: no inf - inf
    with np.errstate(divide="ignore"):  # a row of only -inf has logsumexp -inf, exactly
        out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)


def _logsumexp_vjp(B, g, ans, x, axis, keepdims):
    if not keepdims and axis is not None:
        g = B.expand_dims(g, axis)
        ans = B.expand_dims(ans, axis)
    return g * B.exp(x - ans)


logsumexp_p = primitive("logsumexp", _logsumexp_forward, _logsumexp_vjp)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow for any x."""
    return apply1(sigmoid_p, lift(x, None, "sigmoid"))


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return apply1(tanh_p, lift(x, None, "tanh"))


def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at exactly 0 is 0."""
    return apply1(relu_p, lift(x, None, "relu"))


def _single_axis(x: Tensor, axis: int, op: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{op}: needs at least one dimension, got a 0-d tensor")
    return normalize_axis(axis, x.ndim, op)[0]


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, with the maximum subtracted first."""
    x = lift(x, None, "softmax")
    return apply(softmax_p, (x,), {"axis": _single_axis(x, axis, "softmax")})


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log(softmax(x)) along `axis`, computed as x - logsumexp(x) (no log of 0)."""
    x = lift(x, None, "log_softmax")
    return apply(log_softmax_p, (x,), {"axis": _single_axis(x, axis, "log_softmax")})


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis` (all axes by default), stable for large |x|."""
    x = lift(x, None, "logsumexp")
    axes = normalize_axis(axis, x.ndim, "logsumexp")
    return apply(logsumexp_p, (x,), {"axis": axes, "keepdims": bool(keepdims)})
