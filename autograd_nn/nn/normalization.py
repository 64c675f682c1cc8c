"""Normalisation layers: BatchNorm1d/2d (running statistics; batch statistics in training,
running ones in eval) and LayerNorm, with PyTorch's parameter and buffer names."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "layer_norm"]


def _normalise(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps) over `axes` (two passes: the variance of deviations)."""
    mean = ag.mean(x, axis=axes, keepdims=True)
    dev = x - mean
    var = ag.mean(dev * dev, axis=axes, keepdims=True)
    return dev / ag.sqrt(var + eps), mean, var


def batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every axis but the channels (axis 1), as torch's batch_norm.
    In training it uses the batch statistics and updates `running_mean` / `running_var` (arrays,
    in place) with `momentum`; the running variance is the unbiased one."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        count = x.size // c
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"got input of shape {x.shape}")
        out, mean, var = _normalise(x, axes, eps)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.data.reshape(c)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var.data.reshape(c) * (count / (count - 1))
    else:
        mean = np.asarray(running_mean, dtype=x.dtype).reshape(shape)
        var = np.asarray(running_var, dtype=x.dtype).reshape(shape)
        out = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        out = out * ag.reshape(weight, shape)
    if bias is not None:
        out = out + ag.reshape(bias, shape)
    return out


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) axes, then scale and shift."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape "
                         f"{shape}")
    out, _, _ = _normalise(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


class _BatchNorm(Module):
    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got "
                             f"{num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        self.track_running_stats = track_running_stats
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x: Any) -> Tensor:
        name = type(self).__name__
        ndim = getattr(x, "ndim", np.ndim(x))
        shape = getattr(x, "shape", np.shape(x))
        if ndim not in self._dims or shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): expected an input of "
                             f"{' or '.join(f'{d}-D' for d in self._dims)} with "
                             f"{self.num_features} channels on axis 1, got shape {shape}")
        tracked = self.track_running_stats
        if tracked and self.training:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        stats = (self.running_mean.data, self.running_var.data) if tracked else (None, None)
        return batch_norm(x, *stats, self.weight, self.bias, self.training or not tracked,
                          self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs per channel."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel."""

    _dims = (4,)


class LayerNorm(Module):
    """Normalisation over the trailing `normalized_shape` axes, with weight and bias of that
    shape (PyTorch's names)."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, float(eps)
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine else None

    def forward(self, x: Any) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
