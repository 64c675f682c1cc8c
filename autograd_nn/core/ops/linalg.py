"""Matrix products: matmul (with NumPy's batching and 1-D rules) and dot (np.dot, up to 2-D).

Backward issues the two GEMMs directly (g @ B^T and A^T @ g), never a broadcast-multiply-sum.
"""

from __future__ import annotations

import numpy as np

from .batch_rules import pad_after_prefix
from .registry import Call, primitive, prims


def _mT(x):
    return x.T if x.ndim == 2 else prims.swapaxes(x, axis1=x.ndim - 1, axis2=x.ndim - 2)


def _matmul_vjp_a(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n): outer product of g and b
        return prims.expand_dims(g, axis=-1) * b
    if a.ndim == 1 and b.ndim == 2:  # (k,) @ (k, m) -> (m,): g @ b^T
        return g @ b.T
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m): treat a as (1, k)
        ga = prims.expand_dims(g, axis=-2) @ _mT(b)
        return prims.reshape(prims.sum_to(ga, shape=(1,) + a.shape), shape=a.shape)
    return g @ _mT(b)


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
        return g * a
    if a.ndim == 1:  # (k,) @ (..., k, m): outer product of a and g
        return prims.expand_dims(a, axis=-1) * prims.expand_dims(g, axis=-2)
    if b.ndim == 1:  # (..., n, k) @ (k,): b as (k, 1)
        gb = _mT(a) @ prims.expand_dims(g, axis=-1)
        return prims.reshape(prims.sum_to(gb, shape=b.shape + (1,)), shape=b.shape)
    return _mT(a) @ g


def _check_product(op: str, a, b) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"operands must have at least 1 dimension, got shapes {a.shape} and {b.shape} "
            "(use * for scalars)"
        )
    ka, kb = a.shape[-1], (b.shape[0] if b.ndim == 1 else b.shape[-2])
    if ka != kb:
        raise ValueError(
            f"shapes {a.shape} and {b.shape} are not aligned: the last dim of the first "
            f"({ka}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} dim of the "
            f"second ({kb}) (dtypes {a.dtype}, {b.dtype})"
        )
    if a.ndim > 2 or b.ndim > 2:
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(
                f"batch dimensions {a.shape[:-2]} and {b.shape[:-2]} of shapes {a.shape} "
                f"and {b.shape} do not broadcast (dtypes {a.dtype}, {b.dtype})"
            ) from None


def _matmul_check(a, b) -> None:
    _check_product("matmul", a, b)


def _dot_check(a, b):
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(
            f"supports 1-D and 2-D operands, got shapes {a.shape} and {b.shape}; "
            "np.dot and np.matmul differ above 2-D, use matmul (the @ operator) for batches"
        )
    if a.ndim == 0 or b.ndim == 0:
        return Call(prims.mul, (a, b))
    _check_product("dot", a, b)
    return None


def _batch_matmul(forward, arrays, batched, params, n, prefix):
    """matmul (and dot, which agrees with it up to 2-D) of examples: a batched 1-D operand
    becomes a row (or column) so the batch dims stay batch dims, removed again after."""
    a, b = arrays
    ra, rb = a.ndim - (n if batched[0] else 0), b.ndim - (n if batched[1] else 0)
    if ra == 1 and rb == 1:  # inner products
        return (a * b).sum(axis=-1)
    row, col = ra == 1 and batched[0], rb == 1 and batched[1]
    if row:
        a = a.reshape(a.shape[:n] + (1,) + a.shape[n:])
        ra = 2
    if col:
        b = b.reshape(b.shape + (1,))
        rb = 2
    if batched[0] and not batched[1] and b.ndim == 2:  # every row times one matrix: one GEMM
        out = (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + b.shape[-1:])
    elif batched[1] and not batched[0] and a.ndim == 2 and rb == 2:  # likewise, transposed
        bt = np.swapaxes(b, -1, -2)
        out = np.swapaxes((bt.reshape(-1, bt.shape[-1]) @ a.T).reshape(
            bt.shape[:-1] + a.shape[:1]), -1, -2)
    else:
        if ra >= 2 and rb >= 2:  # same per-example rank, so batch dims line up on the left
            rank = max(ra, rb)
            a = pad_after_prefix(a, n, rank) if batched[0] else a
            b = pad_after_prefix(b, n, rank) if batched[1] else b
        out = np.matmul(a, b)
    if row:
        out = out.reshape(out.shape[:-2] + out.shape[-1:])
    if col:
        out = out.reshape(out.shape[:-1])
    return out


matmul = primitive(
    "matmul", np.matmul, _matmul_vjp_a, _matmul_vjp_b, prepare=_matmul_check, method=True,
    operator=("__matmul__", "__rmatmul__"),
    batch=_batch_matmul,
    bilinear=True,
    doc="Matrix product with NumPy semantics (batch dims broadcast, 1-D operands promoted).",
    display="{a} @ {b}", source="{a} @ {b}",
)
# np.dot agrees with np.matmul for 1-D and 2-D operands, so it shares the rules; its own name
# keeps graph pictures faithful to what the user wrote.
dot = primitive(
    "dot", np.dot, _matmul_vjp_a, _matmul_vjp_b, prepare=_dot_check, method=True,
    batch=_batch_matmul,
    bilinear=True,
    doc="np.dot for 1-D and 2-D operands (vector/matrix products); use matmul for batches.",
    source="np.dot({a}, {b})",
)
