"""normalize (torch.nn.functional.normalize): x / max(||x||_p, eps) along one axis."""

from __future__ import annotations

from typing import Any

from .registry import composite, normalize_axis, prims


def _normalize(x, p: float = 2.0, axis: int | None = None, eps: float = 1e-12, *,
               dim: Any = None):
    """x divided by its p-norm along `axis` (PyTorch's default dim=1; `dim=` is accepted too,
    not both), the norm kept at least `eps` so that zero vectors stay zero, as F.normalize."""
    if dim is not None and axis is not None:
        raise TypeError(f"give axis= or PyTorch's dim=, not both (axis={axis!r}, dim={dim!r})")
    axis = 1 if axis is None and dim is None else (axis if dim is None else dim)
    if x.ndim == 0:
        raise ValueError("normalize needs at least 1 dim, got a 0-d tensor")
    (ax,) = normalize_axis(axis, x.ndim)
    return x / prims.maximum(_p_norm(x, p, ax), eps)


def _p_norm(x, p: float, axis: int):
    """The p-norm along `axis`, kept as a size-1 axis (the 2-norm by the scaled row)."""
    if p == 2:
        return prims.norm(x, axis=(axis,), keepdims=True)
    size = prims.abs(x)
    if p == float("inf"):
        return prims.max(size, axis=(axis,), keepdims=True)
    if p == 1:
        return prims.sum(size, axis=(axis,), keepdims=True)
    if not p > 0:
        raise ValueError(f"p must be positive, got {p!r}")
    total = prims.sum(size ** float(p), axis=(axis,), keepdims=True)
    zero = total == 0  # a zero (or empty) vector: norm 0 with gradient 0, not 0 ** (1/p - 1)
    return prims.where(zero, 0.0, prims.where(zero, 1.0, total) ** (1.0 / p))


normalize = composite("normalize", _normalize)
