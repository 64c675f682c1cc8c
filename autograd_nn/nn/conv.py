"""Convolution layers in PyTorch's layout (N, C, *spatial), so state dicts carry over."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..core.ops.conv import padding_pairs, same_padding, tuple_of
from ..core.tensor import Tensor
from . import init as I
from .module import Module, Parameter

# the pooling layers lived here before nn/pooling.py: still importable from nn.conv
from .pooling import (  # noqa: F401
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool2d,
    Unfold,
    Upsample,
)

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AvgPool1d", "AvgPool2d", "AvgPool3d", "Conv1d", "Conv2d", "Conv3d",
           "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "MaxPool1d", "MaxPool2d",
           "MaxPool3d", "MaxUnpool2d", "Unfold", "Upsample"]


def _size(value: Any, what: str, where: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: {what} must be a positive int, got {value!r}")
    return int(value)


def _uniform_fan_in(shape: tuple, fan_in: int, rng: np.random.Generator, dtype: Any):
    """PyTorch's default conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform, a=√5)."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class _ConvBase(Module):
    dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any, padding: Any, dilation: Any, groups: int, bias: bool, rng: Any,
                 dtype: Any) -> None:
        super().__init__()
        kind, d = type(self).__name__, self.dims
        self.in_channels = _size(in_channels, "in_channels", kind)
        self.out_channels = _size(out_channels, "out_channels", kind)
        self.groups = _size(groups, "groups", kind)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{kind}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        k = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * d
        if len(k) != d:
            raise ValueError(f"{kind}: kernel_size must be an int or {d} ints, got "
                             f"{kernel_size!r}")
        self.kernel_size = tuple(_size(v, "kernel_size", kind) for v in k)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        rng = I.as_rng(rng)
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        fan_in = shape[1] * int(np.prod(self.kernel_size))
        self.weight = Parameter(_uniform_fan_in(shape, fan_in, rng, dtype))
        self.bias = Parameter(_uniform_fan_in((self.out_channels,), fan_in, rng, dtype)) \
            if bias else None

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"bias={self.bias is not None}")


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class _Conv(_ConvBase):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", rng: Any = None, dtype: Any = np.float64) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, rng, dtype)
        kind, d = type(self).__name__, self.dims
        if padding_mode != "zeros" and padding_mode not in _PAD_MODES:
            raise ValueError(f"{kind}: padding_mode must be 'zeros' or one of "
                             f"{sorted(_PAD_MODES)}, got {padding_mode!r}")
        if padding == "same" and tuple_of(stride, "stride", 1, d) != (1,) * d:
            raise ValueError(f"{kind}: padding='same' needs stride 1, got stride {stride!r} (as "
                             "in PyTorch, which refuses it for strided convolutions)")
        self.padding_mode = padding_mode

    def _pad_widths(self) -> tuple:
        """(before, after) per spatial dim for a non-zero padding_mode."""
        if self.padding == "valid":
            return ((0, 0),) * self.dims
        if self.padding == "same":
            return same_padding(self.kernel_size, tuple_of(self.dilation, "dilation", 1,
                                                           self.dims))
        return padding_pairs(self.padding, self.dims)

    def forward(self, x: Any) -> Tensor:
        """The convolution applied to its input (padded first when padding_mode is not
        'zeros', as PyTorch does)."""
        padding = self.padding
        if self.padding_mode != "zeros":
            widths = ((0, 0), (0, 0)) + self._pad_widths()
            x = ag.pad(x, widths, mode=_PAD_MODES[self.padding_mode])
            padding = 0
        conv = getattr(ag, f"conv{self.dims}d")
        return conv(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution: weight (out, in/groups, k) and bias (out,), initialised as PyTorch does;
    `padding_mode` "zeros", "reflect", "replicate" or "circular" as PyTorch's."""

    dims = 1


class Conv2d(_Conv):
    """2-D convolution: weight (out, in/groups, kh, kw) and bias (out,), initialised as PyTorch
    does (uniform within ±1/sqrt(fan_in)); `padding_mode` "zeros", "reflect", "replicate" or
    "circular" as PyTorch's, also with padding='same'."""

    dims = 2


class Conv3d(_Conv):
    """3-D convolution: weight (out, in/groups, kd, kh, kw) and bias (out,), initialised as
    PyTorch does; `padding_mode` as Conv2d's."""

    dims = 3


class _ConvTranspose(_ConvBase):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, rng: Any = None, dtype: Any = np.float64) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, rng, dtype)
        self.output_padding = output_padding

    def forward(self, x: Any) -> Tensor:
        """The transposed convolution applied to its input."""
        conv = getattr(ag, f"conv_transpose{self.dims}d")
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                    self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution: weight (in, out/groups, k) and bias (out,)."""

    dims = 1


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution: weight (in, out/groups, kh, kw) and bias (out,)."""

    dims = 2


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-D convolution: weight (in, out/groups, kd, kh, kw) and bias (out,)."""

    dims = 3
