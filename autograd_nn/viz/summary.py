"""Numbers shown in graph pictures: short summaries for labels, fuller stats for tooltips.

Every statistic is computed on the finite entries only, so a tensor holding NaN or Inf still gets
a readable summary (and the count of non-finite entries is reported next to it) without NumPy
warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.formatting import number_text


@dataclass(frozen=True)
class Stats:
    """Statistics of one array (finite entries only for min/max/mean/std/rms)."""

    size: int
    n_finite: int
    n_nan: int
    n_inf: int
    n_zero: int
    min: float
    max: float
    mean: float
    std: float
    rms: float  # sqrt(mean(x**2)): the "typical magnitude", comparable across sizes

    @property
    def nonfinite(self) -> bool:
        return self.n_nan > 0 or self.n_inf > 0


def _as_real(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "c":
        return np.abs(a)
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    return a


def stats(a: np.ndarray) -> Stats:
    """Statistics of `a`; complex arrays are summarised by their magnitudes."""
    a = _as_real(a)
    size = int(a.size)
    if a.dtype.kind == "f":
        finite_mask = np.isfinite(a)
        n_finite = int(finite_mask.sum())
        n_nan = int(np.isnan(a).sum()) if n_finite < size else 0
        n_inf = size - n_finite - n_nan
        fin = a if n_finite == size else a[finite_mask]
    else:
        n_finite, n_nan, n_inf, fin = size, 0, 0, a
    n_zero = int(np.count_nonzero(fin == 0))
    if fin.size == 0:
        nan = float("nan")
        return Stats(size, n_finite, n_nan, n_inf, n_zero, nan, nan, nan, nan, nan)
    f64 = fin.astype(np.float64, copy=False)
    mean = float(f64.mean())
    rms = float(np.sqrt(np.mean(np.square(f64))))
    std = float(f64.std())
    return Stats(size, n_finite, n_nan, n_inf, n_zero, float(f64.min()), float(f64.max()), mean,
                 std, rms)


def short(a: np.ndarray) -> str:
    """One line for a node label: the number for size-1 arrays, else mean and [min, max]."""
    a = np.asarray(a)
    if a.size == 0:
        return "empty"
    if a.size == 1:
        return number_text(a.reshape(()).item())
    s = stats(a)
    if s.n_finite == 0:
        text = "all NaN/Inf"
    else:
        text = f"mean {number_text(s.mean)} [{number_text(s.min)}, {number_text(s.max)}]"
    if s.nonfinite:
        text += f" +{s.n_nan} NaN {s.n_inf} Inf"
    return text


def long(a: np.ndarray) -> str:
    """Fuller statistics for a tooltip (one line)."""
    a = np.asarray(a)
    s = stats(a)
    num = number_text
    if a.size == 1:
        head = num(a.reshape(()).item(), 6)
    else:
        head = (f"min {num(s.min, 4)}, max {num(s.max, 4)}, mean {num(s.mean, 4)}, "
                f"std {num(s.std, 4)}, rms {num(s.rms, 4)}")
    return f"{head}; zeros {s.n_zero}/{s.size}, NaN {s.n_nan}, Inf {s.n_inf}"


def rms_many(
    arrays: list[np.ndarray], chunk_bytes: int = 32 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """(rms, all_finite) of many arrays at once: arrays of one shape are stacked in chunks.

    Much faster than `stats` per array for long collapsed chains; rms is nan where an array
    holds NaN/Inf.
    """
    n = len(arrays)
    out = np.full(n, np.nan)
    finite = np.ones(n, dtype=bool)
    by_shape: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        by_shape.setdefault(np.shape(a), []).append(i)
    for shape, idx in by_shape.items():
        size = max(int(np.prod(shape, dtype=np.int64)), 1)
        step = max(1, chunk_bytes // (8 * size))
        for start in range(0, len(idx), step):
            part = idx[start:start + step]
            block = np.stack([_as_real(arrays[i]) for i in part]).astype(np.float64, copy=False)
            block = block.reshape(len(part), -1)
            ok = np.isfinite(block).all(axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                r = np.sqrt(np.mean(np.square(block), axis=1)) if block.shape[1] else np.zeros(
                    len(part))
            r[~ok] = np.nan
            out[part] = r
            finite[part] = ok
    return out, finite
