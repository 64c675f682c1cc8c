"""Independent reference for gradients: central finite differences in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_grad(f: Callable[..., float], args: list[np.ndarray], i: int, eps: float = 1e-6):
    """d f(*args) / d args[i] by central differences, one element at a time (float64)."""
    args = [np.array(a, dtype=np.float64, copy=True) for a in args]
    x = args[i]
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = float(f(*args))
        flat[k] = old - eps
        minus = float(f(*args))
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps)
    return grad



def numeric_grad_dict(f: Callable[[dict], float], params: dict[str, np.ndarray],
                      eps: float = 1e-6) -> dict[str, np.ndarray]:
    """d f(params) / d params[key] by central differences for every floating entry (float64);
    integer entries (counters, indices) are left out."""
    out = {}
    for key, value in params.items():
        if value.dtype.kind != "f":
            continue
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            g[idx] = (f(plus) - f(minus)) / (2 * eps)
        out[key] = g
    return out
