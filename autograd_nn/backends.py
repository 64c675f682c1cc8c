"""The two namespaces that backward rules run on.

First-order gradients run every rule on raw arrays with `array_backend` (NumPy functions: fast,
no graph). When a nested `grad` needs the backward pass itself recorded, the engine passes
`tensor_backend` instead: the same names, implemented by differentiable Tensor ops. Rules use
`B.raw(x)` for values that only choose a branch (masks), which are not differentiated.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from . import engine
from . import functions as F
from .engine import _sum_to
from .ops.shape import _scatter_add_forward
from .tensor import Tensor


def _identity(x):
    return x


def _broadcast_to(x, shape):
    """A writable copy of x broadcast to shape (np.broadcast_to is slow on small arrays and
    returns a read-only view)."""
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x
    return out


def _tensor_data(t):
    return t.data if isinstance(t, Tensor) else t


array_backend = SimpleNamespace(
    raw=_identity,
    exp=np.exp, log=np.log, where=np.where, sum=np.sum, broadcast_to=_broadcast_to,
    sum_to=lambda x, shape: _sum_to(x, tuple(shape)),
    reshape=np.reshape, transpose=np.transpose, swapaxes=np.swapaxes, expand_dims=np.expand_dims,
    scatter_add=lambda g, index, shape: _scatter_add_forward(g, index, tuple(shape)),
    getitem=lambda x, index: x[index],
    astype=lambda x, dtype: x.astype(dtype),
)

tensor_backend = SimpleNamespace(
    raw=_tensor_data,
    exp=F.exp, log=F.log, where=F.where, sum=F.sum, broadcast_to=F.broadcast_to,
    sum_to=F.sum_to, reshape=F.reshape, transpose=F.transpose, swapaxes=F.swapaxes,
    expand_dims=F.expand_dims, scatter_add=F.scatter_add, getitem=F.getitem, astype=F.astype,
)

missing = set(vars(array_backend)) ^ set(vars(tensor_backend))
assert not missing, f"backends disagree on {missing}"

engine.BACKENDS = (array_backend, tensor_backend)
