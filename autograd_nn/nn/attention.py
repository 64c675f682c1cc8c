"""scaled_dot_product_attention, as torch.nn.functional's: softmax(q k^T * scale + mask) v,
written with the op rows (so grad, vmap, jvp and ag.compile see ordinary ops)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..core.tensor import Tensor
from .sparse import dropout

__all__ = ["scaled_dot_product_attention"]


def _tensor(x: Any, what: str) -> Tensor:
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: {what} needs at least 2 dims "
                         f"(..., length, features), got shape {t.shape}")
    return t


def _mask_values(attn_mask: Any, scores_shape: tuple) -> tuple[Any, bool]:
    """The mask as given (a Tensor stays one: a float mask may carry a gradient), and whether
    it is boolean (True: take part) rather than added to the scores. An integer mask is
    refused, as torch does: a 0/1 mask added to the scores would silently mask nothing."""
    mask = attn_mask if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    where = "scaled_dot_product_attention"
    kind = np.dtype(mask.dtype).kind
    if kind not in "bf":
        raise TypeError(f"{where}: attn_mask must be bool (True takes part) or float (added to "
                        f"the scores), as torch's, got dtype {mask.dtype}; for a 0/1 mask pass "
                        "mask.astype(bool)")
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(f"{where}: attn_mask of shape {mask.shape} does not broadcast to the "
                         f"scores' shape {scores_shape} (..., query length, key length)") from None
    return mask, kind == "b"


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False,
                                 rng: Any = None) -> Tensor:
    """torch.nn.functional.scaled_dot_product_attention: query (..., L, E), key (..., S, E),
    value (..., S, Ev) give (..., L, Ev). `attn_mask` is boolean (True takes part) or added to
    the scores; `is_causal` keeps key j <= query i. A query row with every key masked gives 0
    (as torch does), with zero gradient. Dropout on the weights needs `rng` (a seed or
    Generator) so that a run can be repeated."""
    where = "scaled_dot_product_attention"
    q, k, v = _tensor(query, "query"), _tensor(key, "key"), _tensor(value, "value")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{where}: query {q.shape}, key {k.shape} and value {v.shape} need "
                         "query's and key's last axes equal and key's and value's lengths equal")
    if enable_gqa:
        raise NotImplementedError(f"{where}: enable_gqa (grouped-query attention) is not "
                                  "supported; repeat key and value over the head axis first")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{where}: give attn_mask or is_causal, not both (as torch)")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"{where}: dropout_p must be in [0, 1], got {dropout_p!r}")
    if dropout_p > 0 and rng is None:
        raise ValueError(f"{where}: dropout_p={dropout_p} needs rng= (a seed or Generator), so "
                         "that the dropped weights can be drawn again; torch draws them from "
                         "its global generator, whose numbers these would not match anyway")
    # a Python float (weak under NumPy's promotion), so float32 inputs give float32, as torch
    factor = 1.0 / float(np.sqrt(q.shape[-1])) if scale is None else float(scale)
    scores = (q @ ag.swapaxes(k, -2, -1)) * factor
    length, keys = q.shape[-2], k.shape[-2]
    masked = is_causal or attn_mask is not None
    if is_causal:
        scores = ag.where(np.tril(np.ones((length, keys), dtype=bool)), scores, -np.inf)
    elif attn_mask is not None:
        mask, boolean = _mask_values(attn_mask, scores.shape)
        scores = ag.where(mask, scores, -np.inf) if boolean else scores + mask
    if masked:  # a row with every key masked: softmax of -inf alone is nan; torch gives 0
        dead = ag.all(scores == -np.inf, axis=-1, keepdims=True)
        weights = ag.where(dead, 0.0, ag.softmax(ag.where(dead, 0.0, scores), axis=-1))
    else:
        weights = ag.softmax(scores, axis=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, rng=rng)
    return weights @ v
