"""Matrix products: matmul (with NumPy's batching and 1-D rules) and dot (np.dot, up to 2-D).

Backward issues the two GEMMs directly (g @ B^T and A^T @ g), never a broadcast-multiply-sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Primitive, apply2, primitive
from ..tensor import Tensor
from .base import pair


def _mT(B, x):
    return x.T if x.ndim == 2 else B.swapaxes(x, -1, -2)


def _matmul_vjp_a(B, g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n): outer product of g and b
        return B.expand_dims(g, -1) * b
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m): treat a as (1, k)
        ga = B.expand_dims(g, -2) @ _mT(B, b)
        return B.reshape(B.sum_to(ga, (1,) + a.shape), a.shape)
    return g @ _mT(B, b)


def _matmul_vjp_b(B, g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
        return g * a
    if a.ndim == 1:  # (k,) @ (..., k, m): outer product of a and g
        return B.expand_dims(a, -1) * B.expand_dims(g, -2)
    if b.ndim == 1:  # (..., n, k) @ (k,): b as (k, 1)
        gb = _mT(B, a) @ B.expand_dims(g, -1)
        return B.reshape(B.sum_to(gb, b.shape + (1,)), b.shape)
    return _mT(B, a) @ g


matmul_p = primitive("matmul", np.matmul, _matmul_vjp_a, _matmul_vjp_b)
# np.dot agrees with np.matmul for 1-D and 2-D operands, so it shares the rules; its own name
# keeps graph pictures faithful to what the user wrote.
dot_p = primitive("dot", np.dot, _matmul_vjp_a, _matmul_vjp_b)


def _matmul_error(op: str, a: Tensor, b: Tensor) -> ValueError:
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    return ValueError(
        f"{op}: shapes {a.shape} and {b.shape} are not aligned: the last dim of the first "
        f"({ka}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} dim of the "
        f"second ({kb}) (dtypes {a.dtype}, {b.dtype})"
    )


def _product(prim: Primitive, a: Any, b: Any) -> Tensor:
    op = prim.name
    a, b = pair(a, b, op)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"{op}: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape} "
            "(use * for scalars)"
        )
    if a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2]):
        raise _matmul_error(op, a, b)
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(
                f"{op}: batch dimensions {a.shape[:-2]} and {b.shape[:-2]} of shapes {a.shape} "
                f"and {b.shape} do not broadcast (dtypes {a.dtype}, {b.dtype})"
            ) from None
    return apply2(prim, a, b)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy semantics (batch dims broadcast, 1-D operands promoted)."""
    return _product(matmul_p, a, b)


def dot(a: Any, b: Any) -> Tensor:
    """np.dot for 1-D and 2-D operands (vector/matrix products); use matmul for batches."""
    a, b = pair(a, b, "dot")
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(
            f"dot: supports 1-D and 2-D operands, got shapes {a.shape} and {b.shape}; "
            "np.dot and np.matmul differ above 2-D, use matmul (the @ operator) for batches"
        )
    if a.ndim == 0 or b.ndim == 0:
        from .arithmetic import mul

        return mul(a, b)
    return _product(dot_p, a, b)
