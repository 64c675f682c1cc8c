"""Loss functions on Tensors (or arrays): regression and classification, numerically stable;
also the functional forms of the layers (batch_norm, layer_norm, dropout, embedding).

Every loss takes `reduction="mean" | "sum" | "none"`. Predictions may be Tensors or arrays;
targets that are plain arrays are cast to the prediction's float dtype, so a float32 model
gets a float32 loss. Shapes are checked up front: silent broadcasting of (N,) against (N, 1)
is the classic way a loss computes the wrong thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..tensor import Tensor
from .normalization import batch_norm, layer_norm
from .sparse import dropout, embedding

__all__ = [
    "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "dropout", "embedding", "layer_norm", "mse_loss", "nll_loss", "sum_of_squares",
]

_REDUCTIONS = ("mean", "sum", "none")


def _as_input(x: Any, what: str, where: str) -> Tensor:
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.dtype.kind != "f":
        raise TypeError(f"{where}: {what} must be floating point, got dtype {t.dtype}")
    return t


def _as_target(target: Any, like: Tensor, where: str) -> Tensor:
    """A float target with `like`'s shape; constant targets take `like`'s dtype."""
    if isinstance(target, Tensor) and (target.requires_grad or target.dtype == like.dtype):
        t = target  # kept as given, so graph pictures show the user's own (named) tensor
    else:
        arr = target.data if isinstance(target, Tensor) else np.asarray(target)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{where}: target must be numeric, got dtype {arr.dtype}")
        t = Tensor(arr.astype(like.dtype, copy=False), name=getattr(target, "name", None))
    if t.shape != like.shape:
        raise ValueError(
            f"{where}: prediction has shape {like.shape} but target has shape {t.shape}; they "
            "must match exactly (reshape one, e.g. y.reshape(-1, 1), to avoid broadcasting)"
        )
    return t


def _check_unit_interval(target: Tensor, where: str) -> None:
    """Binary cross-entropy needs targets in [0, 1] (0/1 labels or soft labels)."""
    bad = ~((target.data >= 0) & (target.data <= 1))  # NaN counts as bad too
    if bad.any():
        flat = int(np.flatnonzero(bad.reshape(-1))[0])
        idx = tuple(int(i) for i in np.unravel_index(flat, target.shape))
        raise ValueError(
            f"{where}: targets must lie in [0, 1] (0/1 labels or probabilities), but "
            f"{int(bad.sum())} of {target.size} do not; the first is {target.data[idx]!r} at "
            f"index {idx}"
        )


def _reduce(loss: Tensor, reduction: str, where: str) -> Tensor:
    if reduction == "mean":
        return ag.mean(loss)
    if reduction == "sum":
        return ag.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_reduction(reduction: str, where: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------
def sum_of_squares(pred: Any, target: Any) -> Tensor:
    """sum((target - pred)^2): the loss of the first tutorial (no averaging, no 1/2)."""
    pred = _as_input(pred, "pred", "sum_of_squares")
    target = _as_target(target, pred, "sum_of_squares")
    diff = target - pred
    return ag.sum(diff * diff)


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (pred - target)^2, averaged (or summed) over all elements."""
    _check_reduction(reduction, "mse_loss")
    pred = _as_input(pred, "pred", "mse_loss")
    target = _as_target(target, pred, "mse_loss")
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------
def binary_cross_entropy(
    prob: Any, target: Any, eps: float = 1e-12, reduction: str = "mean"
) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) on probabilities p, clipped to [eps, 1 - eps].

    Targets must lie in [0, 1] (labels or soft labels). Clipping keeps the loss finite at
    p = 0 or 1 (the gradient there is 0: saturated). In
    float32, eps is raised to the dtype's resolution below 1 so that 1 - eps < 1. Prefer
    `binary_cross_entropy_with_logits` on raw scores: it needs no clipping.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    prob = _as_input(prob, "prob", "binary_cross_entropy")
    target = _as_target(target, prob, "binary_cross_entropy")
    _check_unit_interval(target, "binary_cross_entropy")
    if not 0 < eps < 0.5:
        raise ValueError(f"binary_cross_entropy: eps must be in (0, 0.5), got {eps}")
    eps = max(float(eps), float(np.finfo(prob.dtype).epsneg))
    p = ag.clip(prob, eps, 1.0 - eps)
    loss = -(target * ag.log(p) + (1 - target) * ag.log1p(-p))
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    logits: Any, target: Any, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of sigmoid(logits), as max(x, 0) - x*y + log1p(exp(-|x|)).

    Targets must lie in [0, 1]. Finite and warning-free for any logit; the gradient is
    sigmoid(x) - y everywhere (at x = 0 `maximum` splits its tie 1/2-1/2, which gives exactly
    sigmoid(0) - y = 0.5 - y).
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x = _as_input(logits, "logits", "binary_cross_entropy_with_logits")
    y = _as_target(target, x, "binary_cross_entropy_with_logits")
    _check_unit_interval(y, "binary_cross_entropy_with_logits")
    loss = ag.maximum(x, 0.0) - x * y + ag.log1p(ag.exp(-ag.abs(x)))
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# ---------------------------------------------------------------------------------------------
# Multi-class classification
# ---------------------------------------------------------------------------------------------
def _class_indices(targets: Any, n: int, n_classes: int, where: str) -> np.ndarray:
    arr = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if arr.dtype.kind not in "iu":
        hint = " (cast with .astype(int))" if arr.dtype.kind in "fb" else ""
        raise TypeError(
            f"{where}: class-index targets must be integers, got dtype {arr.dtype}{hint}"
        )
    if arr.shape != (n,):
        raise ValueError(
            f"{where}: for inputs of shape ({n}, {n_classes}) the targets must be class indices "
            f"of shape ({n},) (or probabilities of shape ({n}, {n_classes})), got {arr.shape}"
        )
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise IndexError(
            f"{where}: target {int(arr[i])} at position {i} is out of range for {n_classes} "
            f"classes (valid: 0..{n_classes - 1})"
        )
    return arr


def _picked(log_probs: Tensor, targets: Any, reduction: str, where: str) -> Tensor:
    """-log_probs[i, targets[i]], reduced."""
    if log_probs.ndim != 2:
        raise ValueError(
            f"{where}: expected inputs of shape (N, C) with class scores on the last axis, got "
            f"{log_probs.shape}"
        )
    n, c = log_probs.shape
    idx = _class_indices(targets, n, c, where)
    picked = ag.getitem(log_probs, (np.arange(n), idx))
    return _reduce(-picked, reduction, where)


def nll_loss(log_probs: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -log_probs[i, targets[i]] for log-probabilities of shape (N, C)."""
    _check_reduction(reduction, "nll_loss")
    log_probs = _as_input(log_probs, "log_probs", "nll_loss")
    return _picked(log_probs, targets, reduction, "nll_loss")


def cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw scores (N, C), computed through log_softmax (stable).

    `targets` are integer class indices of shape (N,), or float class probabilities (e.g.
    one-hot) of exactly the logits' shape, in which case the loss is
    -sum_c targets[i, c] * log_softmax(logits)[i, c]. The mean is over the N samples.
    """
    where = "cross_entropy"
    _check_reduction(reduction, where)
    logits = _as_input(logits, "logits", where)
    if logits.ndim != 2:
        raise ValueError(
            f"{where}: expected logits of shape (N, C) with class scores on the last axis, got "
            f"{logits.shape}"
        )
    log_p = ag.log_softmax(logits, -1)
    t_shape = targets.shape if isinstance(targets, (Tensor, np.ndarray)) else np.shape(targets)
    t_kind = (targets.dtype if isinstance(targets, (Tensor, np.ndarray))
              else np.asarray(targets).dtype).kind
    n, c = logits.shape
    if t_kind == "f" and tuple(t_shape) not in (logits.shape, (n,)):
        raise ValueError(
            f"{where}: logits have shape {logits.shape} but the float targets have shape "
            f"{tuple(t_shape)}; probability targets need the logits' shape ({n}, {c}), class "
            f"indices are integers of shape ({n},)"
        )
    if tuple(t_shape) == logits.shape:
        probs = _as_target(targets, logits, where)
        if probs.dtype.kind != "f":
            raise TypeError(f"{where}: probability targets must be floats, got {probs.dtype}")
        return _reduce(-ag.sum(probs * log_p, axis=-1), reduction, where)
    return _picked(log_p, targets, reduction, where)
