"""Vector and matrix products as composites of rows: cross, inner, kron (as NumPy's)."""

from __future__ import annotations

from typing import Any

from .registry import composite, normalize_axis, prims


def _component(x, axis: int, k: int):
    return prims.getitem(x, index=(slice(None),) * axis + (slice(k, k + 1),))


def _cross(a, b, axis: int | None = -1):
    """The cross product of 3-vectors along `axis` of a and b (broadcast against each other), as
    np.cross(a, b, axis=axis) and torch.linalg.cross(a, b, dim=axis); None (NumPy's default):
    -1."""
    if axis is None:
        axis = -1
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"cross needs vectors, got shapes {a.shape} and {b.shape}")
    ndim = max(a.ndim, b.ndim)
    (ax,) = normalize_axis(axis, ndim)
    a = prims.reshape(a, shape=(1,) * (ndim - a.ndim) + tuple(a.shape))
    b = prims.reshape(b, shape=(1,) * (ndim - b.ndim) + tuple(b.shape))
    if a.shape[ax] != 3 or b.shape[ax] != 3:
        raise ValueError(f"axis {axis} of shapes {a.shape} and {b.shape} must have size 3 "
                         "(2-vectors, deprecated in NumPy 2, are not supported)")
    a0, a1, a2 = (_component(a, ax, k) for k in range(3))
    b0, b1, b2 = (_component(b, ax, k) for k in range(3))
    return prims.concatenate(a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0, axis=ax)


def _inner(a, b):
    """np.inner: the sum over the last axes, out[i..., j...] = sum_k a[i..., k] * b[j..., k];
    a 0-d operand multiplies."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"the last axes of shapes {a.shape} and {b.shape} differ")
    left = prims.reshape(a, shape=(-1, a.shape[-1]))
    right = prims.reshape(b, shape=(-1, b.shape[-1]))
    product = prims.matmul(left, prims.transpose(right, axes=(1, 0)))
    return prims.reshape(product, shape=tuple(a.shape[:-1]) + tuple(b.shape[:-1]))


def _kron(a, b):
    """The Kronecker product (np.kron): every element of a times the whole of b, as blocks."""
    ndim = max(a.ndim, b.ndim)
    sa = (1,) * (ndim - a.ndim) + tuple(a.shape)
    sb = (1,) * (ndim - b.ndim) + tuple(b.shape)
    spread_a = prims.reshape(a, shape=tuple(v for n in sa for v in (n, 1)))
    spread_b = prims.reshape(b, shape=tuple(v for n in sb for v in (1, n)))
    out: Any = spread_a * spread_b
    return prims.reshape(out, shape=tuple(int(m * n) for m, n in zip(sa, sb, strict=True)))


cross = composite("cross", _cross, inputs=2)
inner = composite("inner", _inner, inputs=2)
kron = composite("kron", _kron, inputs=2)

