"""Pooling and resampling layers (PyTorch's names and arguments): each holds its settings and
calls the function of the same name."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..core.tensor import Tensor
from .module import Module


def _check_sizes(where: str, **sizes: Any) -> None:
    """Pooling sizes: ints or tuples of ints (a fraction would be truncated); None is allowed
    (stride: the kernel size)."""
    for label, value in sizes.items():
        if value is None:
            continue
        items = value if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            raise TypeError(f"{where}: {label} must be an int or a tuple of ints, got {value!r}")


class _MaxPool(Module):
    dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, kernel_size=kernel_size, stride=stride,
                     padding=padding, dilation=dilation)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Any) -> Any:
        """The pooling applied to its input (with the indices when return_indices)."""
        return getattr(ag, f"max_pool{self.dims}d")(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
            self.return_indices)

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool1d(_MaxPool):
    """Maximum over kernel windows of (N, C, L) (stride defaults to the kernel size)."""

    dims = 1


class MaxPool2d(_MaxPool):
    """Maximum over kernel windows of (N, C, H, W) (stride defaults to the kernel size)."""

    dims = 2


class MaxPool3d(_MaxPool):
    """Maximum over kernel windows of (N, C, D, H, W) (stride defaults to the kernel size)."""

    dims = 3


class _AvgPool(Module):
    dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 count_include_pad: bool = True, ceil_mode: bool = False,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, kernel_size=kernel_size, stride=stride,
                     padding=padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad, self.ceil_mode = count_include_pad, ceil_mode
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        """The pooling applied to its input."""
        return getattr(ag, f"avg_pool{self.dims}d")(
            x, self.kernel_size, self.stride, self.padding, self.count_include_pad,
            self.ceil_mode, self.divisor_override)

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPool):
    """Mean over kernel windows of (N, C, L) (stride defaults to the kernel size)."""

    dims = 1


class AvgPool2d(_AvgPool):
    """Mean over kernel windows of (N, C, H, W) (stride defaults to the kernel size)."""

    dims = 2


class AvgPool3d(_AvgPool):
    """Mean over kernel windows of (N, C, D, H, W) (stride defaults to the kernel size)."""

    dims = 3


class _Adaptive(Module):
    function = "adaptive_avg_pool2d"

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, output_size=tuple(
            v for v in (output_size if isinstance(output_size, (tuple, list)) else
                        (output_size,)) if v is not None))
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        """The adaptive pooling applied to its input."""
        return getattr(ag, self.function)(x, self.output_size)

    def extra_repr(self) -> str:
        """The layer's settings, as shown in its repr."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_Adaptive):
    """Mean over PyTorch's adaptive bins: (N, C, L) -> (N, C, output_size)."""

    function = "adaptive_avg_pool1d"


class AdaptiveAvgPool2d(_Adaptive):
    """Mean over PyTorch's adaptive bins: (N, C, H, W) -> (N, C, *output_size)."""

    function = "adaptive_avg_pool2d"


class AdaptiveMaxPool1d(_Adaptive):
    """Maximum over PyTorch's adaptive bins: (N, C, L) -> (N, C, output_size)."""

    function = "adaptive_max_pool1d"


class AdaptiveMaxPool2d(_Adaptive):
    """Maximum over PyTorch's adaptive bins: (N, C, H, W) -> (N, C, *output_size)."""

    function = "adaptive_max_pool2d"


class MaxUnpool2d(Module):
    """max_pool2d's partial inverse: values put back at their indices, zeros elsewhere."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        _check_sizes("MaxUnpool2d", kernel_size=kernel_size, stride=stride, padding=padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any, indices: Any, output_size: Any = None) -> Tensor:
        """x unpooled at `indices` (from MaxPool2d(..., return_indices=True))."""
        return ag.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                               output_size)


class Unfold(Module):
    """Every kernel window as a column (im2col): (N, C, H, W) -> (N, C*kh*kw, L)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        _check_sizes("Unfold", kernel_size=kernel_size, dilation=dilation, padding=padding,
                     stride=stride)
        self.kernel_size, self.dilation, self.padding, self.stride = (kernel_size, dilation,
                                                                      padding, stride)

    def forward(self, x: Any) -> Tensor:
        """The windows of x as columns."""
        return ag.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)


class Upsample(Module):
    """Resize by `size` or `scale_factor` (mode 'nearest', 'linear' or 'bilinear'), as
    PyTorch's nn.Upsample."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None) -> None:
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners = align_corners

    def forward(self, x: Any) -> Tensor:
        """x resized."""
        return ag.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)
