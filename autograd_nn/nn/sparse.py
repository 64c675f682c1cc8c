"""Dropout (seeded, identity in eval), Embedding (a table lookup) and Flatten."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as ag
from ..tensor import Tensor
from . import init as I
from .module import Module, Parameter

__all__ = ["Dropout", "Embedding", "Flatten", "dropout", "embedding"]


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not
    training. `rng` (a Generator or seed) makes the mask reproducible."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p!r}")
    x = x if isinstance(x, Tensor) else Tensor(x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * np.zeros((), dtype=x.dtype)
    keep = I.as_rng(rng).random(x.shape, dtype=np.float32) >= p
    return x * (keep * np.asarray(1 / (1 - p), dtype=x.dtype))


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) picked by integer `indices` of any shape."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        raise IndexError(f"embedding: index {int(idx[bad].reshape(-1)[0])} is out of range for "
                         f"{n} embeddings (valid: 0..{n - 1})")
    return ag.getitem(weight, idx)


class Dropout(Module):
    """Dropout with its own seeded generator (`rng`); the identity in eval mode."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self._rng = I.as_rng(rng)

    def forward(self, x: Any) -> Tensor:
        return dropout(x, self.p, self.training, self._rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Embedding(Module):
    """A table of `num_embeddings` vectors of size `embedding_dim`, initialised N(0, 1) like
    PyTorch; `weight` has PyTorch's name and shape."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: Any = None,
                 dtype: Any = np.float64) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(I.as_rng(rng).normal(size=(self.num_embeddings,
                                                           self.embedding_dim)).astype(dtype))

    def forward(self, indices: Any) -> Tensor:
        return embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Flatten axes start_dim..end_dim into one (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        return ag.flatten(x, self.start_dim, self.end_dim)
