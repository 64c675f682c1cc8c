"""Weight initialisers: functions `(shape, ..., rng=None, dtype=float64) -> ndarray`.

Every initialiser draws from a `np.random.Generator` you pass as `rng` (an int seed or None also
work: they go through `np.random.default_rng`), so a model is reproducible from one seed.
Fan-in and fan-out follow our weight layout (in_features, out_features): for a shape
(a, ..., out) fan_in = a * ... (all but the last axis) and fan_out = out; a 1-D shape (n,) has
fan_in = fan_out = n.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "as_rng", "fans", "kaiming_normal", "kaiming_uniform", "normal", "ones", "uniform",
    "xavier_normal", "xavier_uniform", "zeros",
]

Shape = int | tuple[int, ...]


def as_rng(rng: Any = None) -> np.random.Generator:
    """`rng` as a Generator: a Generator is used as is, an int seeds a new one, None is unseeded."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "rng: expected a np.random.Generator (e.g. np.random.default_rng(0)) or an int "
            "seed, got the legacy np.random.RandomState"
        )
    return np.random.default_rng(rng)


def _shape(shape: Shape, where: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"{where}: shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype: Any, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: weights need a floating dtype, got {dtype}")
    return dtype


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of `shape` in the (in_features, out_features) layout."""
    shape = _shape(shape, "fans")
    if len(shape) == 0:
        raise ValueError("fans: a scalar weight has no fan-in/fan-out")
    if len(shape) == 1:
        return shape[0], shape[0]
    return math.prod(shape[:-1]), shape[-1]


def zeros(shape: Shape, rng: Any = None, dtype: Any = np.float64) -> np.ndarray:
    """All zeros (the usual bias init); `rng` is accepted and ignored for a uniform signature."""
    return np.zeros(_shape(shape, "zeros"), dtype=_float_dtype(dtype, "zeros"))


def ones(shape: Shape, rng: Any = None, dtype: Any = np.float64) -> np.ndarray:
    """All ones; `rng` is accepted and ignored."""
    return np.ones(_shape(shape, "ones"), dtype=_float_dtype(dtype, "ones"))


def uniform(
    shape: Shape, low: float = 0.0, high: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Uniform on [low, high); the defaults give `np.random.rand`'s distribution."""
    if not high > low:
        raise ValueError(f"uniform: need high > low, got low={low}, high={high}")
    shape = _shape(shape, "uniform")
    out = low + (high - low) * as_rng(rng).random(shape)
    return out.astype(_float_dtype(dtype, "uniform"), copy=False)


def normal(
    shape: Shape, std: float = 0.01, rng: Any = None, dtype: Any = np.float64, mean: float = 0.0
) -> np.ndarray:
    """Gaussian with standard deviation `std`; the default is the tutorials' `randn * 0.01`."""
    if not std >= 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    shape = _shape(shape, "normal")
    out = mean + std * as_rng(rng).standard_normal(shape)
    return out.astype(_float_dtype(dtype, "normal"), copy=False)


def xavier_uniform(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); keeps variance
    roughly constant through tanh/sigmoid layers."""
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return uniform(shape, -bound, bound, rng, dtype) if bound > 0 else zeros(shape, dtype=dtype)


def xavier_normal(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return normal(shape, gain * math.sqrt(2.0 / max(fan_in + fan_out, 1)), rng, dtype)


def _kaiming_fan(shape: Shape, mode: str, where: str) -> int:
    fan_in, fan_out = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return max(fan_in if mode == "fan_in" else fan_out, 1)


def kaiming_uniform(
    shape: Shape, gain: float = math.sqrt(2.0), mode: str = "fan_in", rng: Any = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He uniform: U(-a, a) with a = gain * sqrt(3 / fan); the default gain sqrt(2) suits ReLU."""
    bound = gain * math.sqrt(3.0 / _kaiming_fan(shape, mode, "kaiming_uniform"))
    return uniform(shape, -bound, bound, rng, dtype) if bound > 0 else zeros(shape, dtype=dtype)


def kaiming_normal(
    shape: Shape, gain: float = math.sqrt(2.0), mode: str = "fan_in", rng: Any = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He normal: N(0, std^2) with std = gain / sqrt(fan); the default gain sqrt(2) suits ReLU."""
    return normal(shape, gain / math.sqrt(_kaiming_fan(shape, mode, "kaiming_normal")), rng, dtype)
