"""Convolution and pooling layers in PyTorch's layout (NCHW), so state dicts carry over."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..core.tensor import Tensor
from . import init as I
from .module import Module, Parameter

__all__ = ["AvgPool2d", "Conv2d", "ConvTranspose2d", "MaxPool2d"]


def _size(value: Any, what: str, where: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: {what} must be a positive int, got {value!r}")
    return int(value)


def _uniform_fan_in(shape: tuple, fan_in: int, rng: np.random.Generator, dtype: Any):
    """PyTorch's default conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform, a=√5)."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class _ConvBase(Module):
    def __init__(self, kind: str, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any, padding: Any, dilation: Any, groups: int, bias: bool, rng: Any,
                 dtype: Any) -> None:
        super().__init__()
        self.in_channels = _size(in_channels, "in_channels", kind)
        self.out_channels = _size(out_channels, "out_channels", kind)
        self.groups = _size(groups, "groups", kind)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{kind}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        k = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        self.kernel_size = tuple(_size(v, "kernel_size", kind) for v in k)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        rng = I.as_rng(rng)
        if kind == "Conv2d":
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        fan_in = shape[1] * self.kernel_size[0] * self.kernel_size[1]
        self.weight = Parameter(_uniform_fan_in(shape, fan_in, rng, dtype))
        self.bias = Parameter(_uniform_fan_in((self.out_channels,), fan_in, rng, dtype)) \
            if bias else None

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"bias={self.bias is not None}")


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Conv2d(_ConvBase):
    """2-D convolution: weight (out, in/groups, kh, kw) and bias (out,), initialised as PyTorch
    does (uniform within ±1/sqrt(fan_in)); `padding_mode` "zeros", "reflect", "replicate" or
    "circular" as PyTorch's."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", rng: Any = None, dtype: Any = np.float64) -> None:
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, rng, dtype)
        if padding_mode != "zeros" and (padding_mode not in _PAD_MODES or
                                        isinstance(padding, str)):
            raise ValueError(f"Conv2d: padding_mode must be 'zeros' or one of "
                             f"{sorted(_PAD_MODES)} (with numeric padding), got {padding_mode!r}")
        self.padding_mode = padding_mode

    def forward(self, x: Any) -> Tensor:
        """The Conv2d layer applied to its input."""
        padding = self.padding
        if self.padding_mode != "zeros":
            ph, pw = padding if isinstance(padding, (tuple, list)) else (padding, padding)
            x = ag.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode=_PAD_MODES[self.padding_mode])
            padding = 0
        return ag.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)


class ConvTranspose2d(_ConvBase):
    """Transposed 2-D convolution: weight (in, out/groups, kh, kw) and bias (out,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, rng: Any = None, dtype: Any = np.float64) -> None:
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, rng, dtype)
        self.output_padding = output_padding

    def forward(self, x: Any) -> Tensor:
        """The ConvTranspose2d layer applied to its input."""
        return ag.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)


class MaxPool2d(Module):
    """Maximum over kernel windows (stride defaults to the kernel size)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1) -> None:
        super().__init__()
        _check_pool_sizes(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation = dilation

    def forward(self, x: Any) -> Tensor:
        """The MaxPool2d layer applied to its input."""
        return ag.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over kernel windows (stride defaults to the kernel size)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        _check_pool_sizes(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x: Any) -> Tensor:
        """The AvgPool2d layer applied to its input."""
        return ag.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                             self.count_include_pad)

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_pool_sizes(where: str, kernel_size: Any, stride: Any, padding: Any) -> None:
    """Pooling sizes: ints or pairs of ints (a fraction would be truncated)."""
    for label, value in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
        if value is None and label == "stride":
            continue
        items = value if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            raise TypeError(f"{where}: {label} must be an int or a pair of ints, got {value!r}")
