"""Gradient clipping on parameters' `.grad`, matching torch.nn.utils."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..core.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters: Any, where: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters) if isinstance(parameters, Iterable) else None
    if params is None or not all(isinstance(p, Tensor) for p in params):
        raise TypeError(f"{where}: parameters must be a Tensor or an iterable of Tensors")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so their joint `norm_type`-norm is at most `max_norm`;
    returns the norm before clipping. The scale is max_norm / (norm + 1e-6), as in PyTorch."""
    params = _with_grads(parameters, "clip_grad_norm_")
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not params:
        return 0.0
    if norm_type == np.inf:
        total = max(float(np.max(np.abs(p.grad))) if p.grad.size else 0.0 for p in params)
    else:
        total = float(sum(float(np.sum(np.abs(p.grad) ** norm_type)) for p in params)
                      ** (1.0 / norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total}")
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for p in params:
            p.grad = (p.grad * scale).astype(p.grad.dtype, copy=False)
    return total


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(parameters, "clip_grad_value_"):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
