"""Activations and normalisers, each fused into one numerically stable node.

sigmoid, tanh, relu, softmax, log_softmax and logsumexp are finite and warning-free for inputs
of any magnitude: sigmoid uses exp(-|x|), the others subtract the maximum first.
"""

from __future__ import annotations

import numpy as np

from .batch_rules import shift_axis
from .registry import check_flag, normalize_axis, primitive, prims
from .unary import _kink_at_zero


def _sigmoid_forward(x):
    # exp(-|x|) never overflows; the numerator is 1 for x >= 0 and exp(x) = exp(-|x|) below, which
    # keeps full relative precision in both tails (no 1 - s cancellation).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1 + e)


sigmoid = primitive(
    "sigmoid", _sigmoid_forward, lambda g, ans, x: g * ans * (1 - ans),
    elementwise=True, doc="1 / (1 + exp(-x)), computed without overflow for any x.", method=True,
    helper={"sigmoid": _sigmoid_forward}, source="sigmoid({x})",
    formula=("{g} * sigmoid'({x})",), notes=("sigmoid'({x}) = {out}*(1-{out})",),
)
tanh = primitive(
    "tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans),
    elementwise=True, doc="Hyperbolic tangent.", method=True,
    formula=("{g} * tanh'({x})",), notes=("tanh'({x}) = 1-{out}**2",),
)
relu = primitive(
    "relu", lambda x: np.maximum(x, 0), lambda g, ans, x: g * (x > 0),
    elementwise=True, doc="max(x, 0); the gradient at exactly 0 is 0 (relu'(0) = 0).", method=True,
    source="np.maximum({x}, 0)",
    formula=("{g} * relu'({x})",), notes=("relu'({x}) = ({x} > 0)",), kink=_kink_at_zero,
)


def _one_axis(x, axis: int | None = -1) -> dict:
    """One axis (default the last), or None for every element at once (as scipy's softmax)."""
    if axis is None:
        return {"axis": None}
    if x.ndim == 0:
        raise ValueError(f"needs at least one dimension, got a 0-d tensor of dtype {x.dtype}")
    return {"axis": normalize_axis(axis, x.ndim)[0]}


def _softmax_forward(x, axis):
    # initial=-inf: an empty axis gives an empty result, not an error
    e = np.exp(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)


softmax = primitive(
    "softmax", _softmax_forward,
    lambda g, ans, x, axis: ans * (g - prims.sum(g * ans, axis=axis, keepdims=True)),
    prepare=_one_axis, method=True, helper={"softmax": _softmax_forward},
    source="softmax({x}, {axis})",
    batch=shift_axis(),
    doc="exp(x) / sum(exp(x)) along `axis`, with the maximum subtracted first.",
    formula=("{out} * ({g} - sum({g} * {out}, axis={axis}))",),
)


def _log_softmax_forward(x, axis):
    if x.size == 0:  # an empty axis: an empty result
        return np.empty_like(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


log_softmax = primitive(
    "log_softmax", _log_softmax_forward,
    lambda g, ans, x, axis: g - prims.exp(ans) * prims.sum(g, axis=axis, keepdims=True),
    prepare=_one_axis, method=True, helper={"log_softmax": _log_softmax_forward},
    source="log_softmax({x}, {axis})",
    batch=shift_axis(),
    doc="log(softmax(x)) along `axis`, computed as x - logsumexp(x) (no log of 0).",
    formula=("{g} - exp({out}) * sum({g}, axis={axis})",),
)


def _logsumexp_forward(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True, initial=-np.inf)  # nothing to sum: -inf, as PyTorch
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) along the axis: no inf - inf
    with np.errstate(divide="ignore"):  # a row of only -inf has logsumexp -inf, exactly
        out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)


def _logsumexp_vjp(g, ans, x, axis, keepdims):
    if not keepdims and axis is not None:
        g = prims.expand_dims(g, axis=axis)
        ans = prims.expand_dims(ans, axis=axis)
    return g * prims.exp(x - ans)


def _axes_keepdims(x, axis=None, keepdims: bool = False) -> dict:
    return {"axis": normalize_axis(axis, x.ndim), "keepdims": check_flag(keepdims, "keepdims")}


logsumexp = primitive(
    "logsumexp", _logsumexp_forward, _logsumexp_vjp, prepare=_axes_keepdims, method=True,
    helper={"logsumexp": _logsumexp_forward}, source="logsumexp({x}, {axis}, {keepdims})",
    batch=shift_axis(),
    doc="log(sum(exp(x))) over `axis` (all axes by default), stable for large |x|.",
    formula=("{g} * exp({x} - {out})",),
)
