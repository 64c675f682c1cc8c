"""Loss functions on Tensors (or arrays): regression and classification, numerically stable;
also the functional forms of the layers (batch_norm, layer_norm, group_norm, dropout,
embedding), normalize and scaled_dot_product_attention.

Every loss takes `reduction="mean" | "sum" | "none"`. Predictions may be Tensors or arrays;
targets that are plain arrays are cast to the prediction's float dtype, so a float32 model
gets a float32 loss. Shapes are checked up front: silent broadcasting of (N,) against (N, 1)
is the classic way a loss computes the wrong thing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functions as ag
from ..core import state
from ..core.tensor import Tensor
from .attention import scaled_dot_product_attention
from .normalization import batch_norm, group_norm, layer_norm
from .sparse import dropout, embedding

__all__ = [
    "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "dropout", "embedding", "group_norm", "huber_loss", "kl_div", "l1_loss", "layer_norm",
    "mse_loss", "nll_loss", "smooth_l1_loss", "sum_of_squares",
    "normalize", "scaled_dot_product_attention",
]

normalize = ag.normalize  # torch.nn.functional.normalize (an op row: ag.normalize)

_REDUCTIONS = ("mean", "sum", "none")


class Loss:
    """The scope object of a loss function's ops: pictures frame them like a module's, titled
    "Loss <function>", and fold them into one box with max_depth."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Loss()"


_LOSS = Loss()


def _framed(fn: Callable) -> Callable:
    """Run the loss `fn` inside a naming scope of its own (as a Module call does)."""
    entry = (fn.__name__, _LOSS)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Tensor:
        token = state.push_scope(entry)
        try:
            return fn(*args, **kwargs)
        finally:
            state.pop_scope(token)

    return run


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


def _first_bad(data: np.ndarray, bad: np.ndarray) -> str:
    """'N of M do not; the first is V at index I': the offending entries of a checked input."""
    flat = int(np.flatnonzero(bad.reshape(-1))[0])
    idx = tuple(int(i) for i in np.unravel_index(flat, data.shape))
    return (f"{int(bad.sum())} of {data.size} do not; the first is {float(data[idx])!r} at "
            f"index {idx}")


def _check_unit_interval(target: Tensor, where: str) -> None:
    """Binary cross-entropy needs targets in [0, 1] (0/1 labels or soft labels)."""
    bad = ~((target.data >= 0) & (target.data <= 1))  # NaN counts as bad too
    if bad.any():
        raise ValueError(f"{where}: targets must lie in [0, 1] (0/1 labels or probabilities), "
                         f"but {_first_bad(target.data, bad)}")


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
@_framed
def sum_of_squares(pred: Any, target: Any) -> Tensor:
    """sum((target - pred)^2): the loss of the first tutorial (no averaging, no 1/2)."""
    pred = _as_input(pred, "pred", "sum_of_squares")
    target = _as_target(target, pred, "sum_of_squares")
    diff = target - pred
    return ag.sum(diff * diff)


@_framed
def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (pred - target)^2, averaged (or summed) over all elements."""
    _check_reduction(reduction, "mse_loss")
    pred = _as_input(pred, "pred", "mse_loss")
    target = _as_target(target, pred, "mse_loss")
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


def _check_width(value: Any, name: str, where: str) -> float:
    """A non-negative finite threshold (beta, delta): a negative one has no meaning."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


@_framed
def l1_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error |pred - target| (torch.nn.functional.l1_loss); the gradient at
    pred == target is 0, as torch's sign(0)."""
    _check_reduction(reduction, "l1_loss")
    pred = _as_input(pred, "pred", "l1_loss")
    target = _as_target(target, pred, "l1_loss")
    return _reduce(ag.abs(pred - target), reduction, "l1_loss")


def _quadratic_near_zero(diff: Tensor, width: float, scale_quadratic: bool) -> Tensor:
    """0.5 d^2 (divided by width if scale_quadratic) where |d| < width, else the linear part
    width * (|d| - width/2) (or |d| - width/2); the choice is a Tensor op, so `ag.compile`
    computes it from each call's values."""
    size = ag.abs(diff)
    inside = size < width
    if scale_quadratic:  # smooth L1: 0.5 d^2 / beta, |d| - beta/2
        quadratic = 0.5 * diff * diff / width
        linear = size - 0.5 * width
    else:  # Huber: 0.5 d^2, delta (|d| - delta/2)
        quadratic = 0.5 * diff * diff
        linear = width * (size - 0.5 * width)
    return ag.where(inside, quadratic, linear)


@_framed
def smooth_l1_loss(pred: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta/2, with d = pred - target
    (torch.nn.functional.smooth_l1_loss); beta = 0 is the L1 loss."""
    where = "smooth_l1_loss"
    _check_reduction(reduction, where)
    beta = _check_width(beta, "beta", where)
    pred = _as_input(pred, "pred", where)
    target = _as_target(target, pred, where)
    diff = pred - target
    if beta == 0:
        return _reduce(ag.abs(diff), reduction, where)
    return _reduce(_quadratic_near_zero(diff, beta, True), reduction, where)


@_framed
def huber_loss(pred: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta/2), with d = pred - target
    (torch.nn.functional.huber_loss): smooth_l1_loss times delta. delta must be > 0."""
    where = "huber_loss"
    _check_reduction(reduction, where)
    delta = _check_width(delta, "delta", where)
    if delta == 0:
        raise ValueError(f"{where}: delta must be > 0, got {delta!r} (for the L1 loss use "
                         "l1_loss)")
    pred = _as_input(pred, "pred", where)
    target = _as_target(target, pred, where)
    return _reduce(_quadratic_near_zero(pred - target, delta, False), reduction, where)


_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


@_framed
def kl_div(input: Any, target: Any, reduction: str = "mean",  # noqa: A002 (torch's name)
           log_target: bool = False) -> Tensor:
    """KL(target || q) pointwise, with `input` = log q: target * (log target - input), 0 where
    target is 0 (torch.nn.functional.kl_div); with log_target=True the target is given as log
    probabilities: exp(target) * (target - input).

    reduction "batchmean" divides the sum by input.shape[0] (the true KL divergence per
    sample); "mean" divides by the number of elements, as torch does (torch warns that this is
    not the KL divergence). Targets must be >= 0 (log_target=False); shapes must match. A target
    that requires grad gets gradient log(target) + 1 - input, and 0 where it is 0 (its term is
    the constant 0 there; torch gives nan, the one-sided derivative is -inf).
    """
    where = "kl_div"
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {_KL_REDUCTIONS}, got {reduction!r}")
    log_q = _as_input(input, "input", where)
    target = _as_target(target, log_q, where)
    if log_target:
        loss = ag.exp(target) * (target - log_q)
    else:
        bad = ~(target.data >= 0)  # NaN counts as bad too
        if bad.any():
            raise ValueError(f"{where}: targets must be probabilities >= 0 (log_target=False), "
                             f"but {_first_bad(target.data, bad)}; for log-probability targets "
                             "pass log_target=True")
        positive = target > 0
        safe = ag.where(positive, target, np.ones((), dtype=log_q.dtype))
        zero = np.zeros((), dtype=log_q.dtype)
        loss = ag.where(positive, target * (ag.log(safe) - log_q), zero)
    if reduction == "batchmean":
        if log_q.ndim == 0:
            raise ValueError(f"{where}: reduction='batchmean' needs a batch axis, got a 0-d "
                             "input")
        return ag.sum(loss) / log_q.shape[0]
    return _reduce(loss, reduction, where)


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------
def _check_probabilities(prob: Tensor, where: str) -> None:
    """Probabilities must lie in [0, 1]: raw scores (logits) here would be clipped silently."""
    bad = ~((prob.data >= 0) & (prob.data <= 1))
    if bad.any():
        raise ValueError(
            f"{where}: prob must hold probabilities in [0, 1], but "
            f"{_first_bad(prob.data, bad)}. For raw scores (logits) use "
            "binary_cross_entropy_with_logits, which needs no sigmoid")


@_framed
def binary_cross_entropy(
    prob: Any, target: Any, eps: float = 1e-12, reduction: str = "mean"
) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) on probabilities p, clipped to [eps, 1 - eps].

    `prob` must lie in [0, 1] (logits are refused, not clipped) and targets too (labels or soft
    labels). Clipping keeps the loss finite at p = 0 or 1 (the gradient there is 0:
    saturated). In float32, eps is raised to the dtype's resolution below 1 so that 1 - eps < 1.
    Prefer `binary_cross_entropy_with_logits` on raw scores: it needs no clipping.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    prob = _as_input(prob, "prob", "binary_cross_entropy")
    target = _as_target(target, prob, "binary_cross_entropy")
    _check_probabilities(prob, "binary_cross_entropy")
    _check_unit_interval(target, "binary_cross_entropy")
    if not 0 < eps < 0.5:
        raise ValueError(f"binary_cross_entropy: eps must be in (0, 0.5), got {eps}")
    eps = max(float(eps), float(np.finfo(prob.dtype).epsneg))
    p = ag.clip(prob, eps, 1.0 - eps)
    loss = -(target * ag.log(p) + (1 - target) * ag.log1p(-p))
    return _reduce(loss, reduction, "binary_cross_entropy")


@_framed
def binary_cross_entropy_with_logits(
    logits: Any, target: Any, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """Binary cross-entropy of sigmoid(logits), as max(x, 0) - x*y + log1p(exp(-|x|)).

    Targets must lie in [0, 1]. Finite and warning-free for any logit; the gradient is
    sigmoid(x) - y everywhere (at x = 0 `maximum` splits its tie 1/2-1/2, which gives exactly
    sigmoid(0) - y = 0.5 - y). `pos_weight` (finite, >= 0, broadcastable to the logits, e.g.
    one per class on the last axis) weighs the positive term as torch's does:
    -(pos_weight * y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), computed as
    (1 - y) x + (1 + (pos_weight - 1) y) (log1p(exp(-|x|)) + max(-x, 0)), stable for any x.
    """
    where = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, where)
    x = _as_input(logits, "logits", where)
    y = _as_target(target, x, where)
    _check_unit_interval(y, where)
    softplus_tail = ag.log1p(ag.exp(-ag.abs(x)))
    if pos_weight is None:
        loss = ag.maximum(x, 0.0) - x * y + softplus_tail
    else:
        w = _pos_weight(pos_weight, x, where)
        log_weight = (w - 1) * y + 1
        loss = (1 - y) * x + log_weight * (softplus_tail + ag.maximum(-x, 0.0))
    return _reduce(loss, reduction, where)


def _pos_weight(pos_weight: Any, like: Tensor, where: str) -> Any:
    """pos_weight as an array (or a Tensor that requires grad) of like's dtype, checked: finite,
    >= 0, and broadcastable to like's shape without growing it."""
    arr = pos_weight.data if isinstance(pos_weight, Tensor) else np.asarray(pos_weight)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: pos_weight must be numeric, got dtype {arr.dtype}")
    try:
        grown = np.broadcast_shapes(arr.shape, like.shape)
    except ValueError:
        grown = None
    if grown != like.shape:
        raise ValueError(f"{where}: pos_weight of shape {arr.shape} does not broadcast to the "
                         f"logits' shape {like.shape} (give one weight per class on the last "
                         f"axis, shape ({like.shape[-1] if like.ndim else 1},))")
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise ValueError(f"{where}: pos_weight must be finite and >= 0, got {arr}")
    if isinstance(pos_weight, Tensor) and pos_weight.requires_grad:
        return pos_weight
    return arr.astype(like.dtype)


# ---------------------------------------------------------------------------------------------
# Multi-class classification: (N, C) scores, or (N, C, d1, ...) with a class per position
# ---------------------------------------------------------------------------------------------
def _scores(x: Any, what: str, where: str) -> Tensor:
    """(N, C, d1, ...) scores as (N*d1*..., C) rows (class axis last)."""
    t = _as_input(x, what, where)
    if t.ndim < 2:
        raise ValueError(
            f"{where}: expected {what} of shape (N, C) (or (N, C, d1, ...)) with class scores "
            f"on axis 1, got {t.shape}"
        )
    if t.ndim == 2:
        return t
    return ag.reshape(ag.moveaxis(t, 1, -1), (-1, t.shape[1]))


def _class_indices(targets: Any, shape: tuple, ignore_index: int, where: str) -> np.ndarray:
    """Integer targets of the scores' shape without the class axis, checked, flattened."""
    arr = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    given = targets.shape if isinstance(targets, Tensor) else arr.shape  # one example's, in vmap
    n_classes = shape[1]
    expected = (shape[0],) + tuple(shape[2:])
    if arr.dtype.kind not in "iu":
        hint = " (cast with .astype(int))" if arr.dtype.kind in "fb" else ""
        raise TypeError(
            f"{where}: class-index targets must be integers, got dtype {arr.dtype}{hint}"
        )
    if given == tuple(shape):
        raise ValueError(
            f"{where}: integer targets of the scores' shape {tuple(shape)} are ambiguous: "
            f"class indices have shape {expected}; for one-hot or probability targets pass "
            "floats (targets.astype(float)), for indices of one-hot rows use targets.argmax(1)"
        )
    if given != expected:
        raise ValueError(
            f"{where}: for inputs of shape {tuple(shape)} the targets must be class indices "
            f"of shape {expected} (or probabilities of shape {tuple(shape)}), got {given}"
        )
    flat = arr.reshape(-1)
    bad = ((flat < 0) | (flat >= n_classes)) & (flat != ignore_index)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        position = i if arr.ndim == 1 else tuple(int(v) for v in np.unravel_index(i, arr.shape))
        raise IndexError(
            f"{where}: target {int(flat[i])} at position {position} is out of range for "
            f"{n_classes} classes (valid: 0..{n_classes - 1}, or ignore_index={ignore_index})"
        )
    return flat


def _class_weights(weight: Any, n_classes: int, dtype: np.dtype, where: str) -> Any:
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (n_classes,) or w.dtype.kind not in "biuf":
        raise ValueError(f"{where}: weight must be {n_classes} numbers (one per class), got "
                         f"shape {w.shape} dtype {w.dtype}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError(f"{where}: class weights must be finite and >= 0, got {w}")
    return w.astype(dtype)


def _unflatten(loss: Tensor, shape: tuple) -> Tensor:
    """Per-sample losses back in the targets' shape (N, d1, ...)."""
    return loss if len(shape) == 2 else ag.reshape(loss, (shape[0], *shape[2:]))


def _any_ignored(flat: Tensor, ignore_index: int) -> bool:
    """Whether some target is ignore_index (read with bool(), which ag.compile guards); inside
    vmap, whether any example has one (the general path is exact for all of them)."""
    if flat._levels is not None:
        return bool(np.any(flat.data == ignore_index))
    return bool(ag.any(flat == ignore_index))


def _every_example_keeps_one(per: Tensor) -> bool:
    """Whether some sample keeps a positive weight (in every example of a vmap)."""
    if per._levels is None:
        return bool(ag.any(per > 0))
    k = len(per._levels)
    return bool(np.all(np.any(per.data > 0, axis=tuple(range(k, per.data.ndim)))))


def _weighted_nll(log_p: Tensor, targets: Any, shape: tuple, weight: Any, ignore_index: int,
                  label_smoothing: float, reduction: str, where: str) -> Tensor:
    """-(1-s) w[t] log_p[t] - s/C sum_c w[c] log_p[c] per sample (0 where ignored); the mean
    divides by the total weight of the samples kept, as PyTorch does.

    The masks are Tensor ops on the targets, and whether any target is ignored is read with
    bool() on a Tensor, so `ag.compile` guards it: nothing computed from one batch's targets
    is baked into code that runs on the next."""
    _class_indices(targets, shape, ignore_index, where)
    n, n_classes = log_p.shape
    t = targets if isinstance(targets, Tensor) else Tensor(np.asarray(targets))
    flat = t if t.ndim == 1 else ag.reshape(t, (-1,))
    rows = np.arange(n)
    w = _class_weights(weight, n_classes, log_p.dtype, where)
    if w is None and not label_smoothing and not _any_ignored(flat, ignore_index):
        return _reduce(_unflatten(-ag.getitem(log_p, (rows, flat)), shape), reduction, where)
    kept = flat != ignore_index
    safe = ag.where(kept, flat, 0)
    zero = np.zeros((), dtype=log_p.dtype)
    per = ag.astype(kept, log_p.dtype) if w is None else ag.where(kept, ag.getitem(w, safe), zero)
    loss = -ag.getitem(log_p, (rows, safe)) * per
    if label_smoothing:
        spread = log_p if w is None else log_p * w
        smooth = -ag.sum(spread, axis=1) * ag.astype(kept, log_p.dtype)
        loss = loss * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)
    if reduction == "mean":
        if not _every_example_keeps_one(per):
            raise ValueError(f"{where}: every target is ignore_index={ignore_index} (or has "
                             "weight 0): the mean over no samples is undefined")
        return ag.sum(loss) / ag.sum(per)
    return _reduce(_unflatten(loss, shape), reduction, where)


def _check_log_probabilities(log_p: Tensor, where: str) -> None:
    bad = ~(log_p.data <= 0)  # NaN counts as bad too
    if bad.any():
        raise ValueError(
            f"{where}: log_probs must be log-probabilities (<= 0), but "
            f"{_first_bad(log_p.data, bad)}; pass log_softmax(scores, axis=1), or give the raw "
            "scores to cross_entropy")


@_framed
def nll_loss(log_probs: Any, targets: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -weight[t] * log_probs[i, t] for log-probabilities (N, C) (or
    (N, C, d1, ...)) and class indices t; targets equal to ignore_index count for nothing."""
    where = "nll_loss"
    _check_reduction(reduction, where)
    log_probs = _as_input(log_probs, "log_probs", where)
    rows = _scores(log_probs, "log_probs", where)
    _class_indices(targets, log_probs.shape, ignore_index, where)
    _check_log_probabilities(log_probs, where)
    return _weighted_nll(rows, targets, log_probs.shape, weight, ignore_index, 0.0, reduction,
                         where)


def _check_distribution(probs: Tensor, where: str) -> None:
    """Probability targets: in [0, 1], and summing to 1 over the classes (axis 1)."""
    data = probs.data
    bad = ~((data >= 0) & (data <= 1))  # NaN counts as bad too
    if bad.any():
        raise ValueError(f"{where}: probability targets must lie in [0, 1], but "
                         f"{_first_bad(data, bad)}")
    sums = data.sum(axis=1)
    off = np.abs(sums - 1) > 1e-4 * max(1, data.shape[1] / 100)
    if off.any():
        raise ValueError(
            f"{where}: probability targets must sum to 1 over the classes (axis 1), but "
            f"{int(off.sum())} rows do not (the first sums to {float(sums[off][0])!r})"
        )


@_framed
def cross_entropy(logits: Any, targets: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw scores (N, C) (or (N, C, d1, ...)), through log_softmax.

    `targets` are integer class indices of shape (N,) (or (N, d1, ...)), or float class
    probabilities (e.g. one-hot) of exactly the logits' shape. Integer targets of the logits'
    shape are refused as ambiguous. As in PyTorch: `weight` (C,) weighs each class (the mean
    then divides by the total weight), targets equal to `ignore_index` count for nothing, and
    `label_smoothing` s mixes the targets with the uniform distribution (1-s) y + s/C.
    """
    where = "cross_entropy"
    _check_reduction(reduction, where)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{where}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    logits = _as_input(logits, "logits", where)
    rows = _scores(logits, "logits", where)
    log_p = ag.log_softmax(rows, -1)
    t_shape = tuple(targets.shape if isinstance(targets, (Tensor, np.ndarray))
                    else np.shape(targets))
    t_kind = (targets.dtype if isinstance(targets, (Tensor, np.ndarray))
              else np.asarray(targets).dtype).kind
    if t_kind != "f":
        return _weighted_nll(log_p, targets, logits.shape, weight, ignore_index, label_smoothing,
                             reduction, where)
    if t_shape != logits.shape:
        indices = (logits.shape[0], *logits.shape[2:])
        if t_shape == indices:
            _class_indices(targets, logits.shape, ignore_index, where)  # the cast hint
        raise ValueError(
            f"{where}: logits have shape {logits.shape} but the float targets have shape "
            f"{t_shape}; probability targets need the logits' shape {logits.shape}, class "
            f"indices are integers of shape {indices}"
        )
    if ignore_index != -100:
        raise ValueError(f"{where}: ignore_index applies to class-index targets, not to "
                         "probability targets")
    probs = _as_target(targets, logits, where)
    _check_distribution(probs, where)
    p_rows = _scores(probs, "targets", where)
    if label_smoothing:
        p_rows = p_rows * (1 - label_smoothing) + label_smoothing / logits.shape[1]
    w = _class_weights(weight, logits.shape[1], logits.dtype, where)
    per_class = p_rows * log_p if w is None else p_rows * log_p * w
    return _reduce(_unflatten(-ag.sum(per_class, axis=-1), logits.shape), reduction, where)
