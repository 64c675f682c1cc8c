"""HIPS's make_vjp/make_jvp as autograd_nn's vjp/jvp, and a vector space for its checks.

`vspace` is test machinery (random directions, inner products for HIPS's check_grads), computed
on the values autograd_nn returns; no op of the library under test is computed here.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

import autograd_nn as ag


def make_vjp(fun: Callable, x: Any) -> tuple:
    """HIPS order: (vjp, ans); ag.vjp gives (ans, vjp) with one cotangent per primal."""
    ans, vjp = ag.vjp(fun, x)
    return (lambda g: vjp(g)[0]), ans


def make_jvp(fun: Callable, x: Any) -> Callable:
    return lambda v: ag.jvp(fun, (x,), (v,))


def _value(x: Any) -> Any:
    if isinstance(x, ag.Tensor):
        return np.asarray(x.data)
    if isinstance(x, (tuple, list)):
        return type(x)(_value(e) for e in x)
    return x


class VSpace:
    """The space of values shaped like one example: shape and dtype, or a tuple of spaces."""

    def __init__(self, example: Any) -> None:
        example = _value(example)
        if isinstance(example, (tuple, list)):
            self.parts = [VSpace(e) for e in example]
            self.kind = type(example)
        else:
            self.parts = None
            arr = np.asarray(example)
            self.shape, self.dtype = arr.shape, arr.dtype
            self.complex = np.iscomplexobj(arr)
            self.size = arr.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VSpace) or (self.parts is None) != (other.parts is None):
            return False
        if self.parts is not None:
            return self.kind == other.kind and self.parts == other.parts
        return self.shape == other.shape and self.dtype == other.dtype

    def __repr__(self) -> str:
        if self.parts is not None:
            return f"VSpace({self.kind.__name__} of {self.parts})"
        return f"VSpace(shape={self.shape}, dtype={self.dtype})"

    def randn(self) -> Any:
        if self.parts is not None:
            return self.kind(p.randn() for p in self.parts)
        out = np.random.randn(*self.shape)
        if self.complex:
            out = out + 1j * np.random.randn(*self.shape)
        return out.astype(self.dtype) if self.shape else self.dtype.type(out)

    def _zip(self, f: Callable, *xs: Any) -> Any:
        xs = [_value(x) for x in xs]
        if self.parts is not None:
            return self.kind(f(p, *es) for p, *es in zip(self.parts, *xs))
        return None

    def add(self, x: Any, y: Any) -> Any:
        if self.parts is not None:
            return self._zip(lambda p, a, b: p.add(a, b), x, y)
        return _value(x) + _value(y)

    def scalar_mul(self, x: Any, a: float) -> Any:
        if self.parts is not None:
            return self._zip(lambda p, e: p.scalar_mul(e, a), x)
        return _value(x) * a

    def inner_prod(self, x: Any, y: Any) -> float:
        if self.parts is not None:
            return sum(p.inner_prod(a, b) for p, a, b in zip(self.parts, _value(x), _value(y)))
        x, y = np.ravel(_value(x)), np.ravel(_value(y))
        return float(np.real(np.dot(np.conj(x), y)))

    def covector(self, x: Any) -> Any:
        if self.parts is not None:
            return self._zip(lambda p, e: p.covector(e), x)
        return np.conj(_value(x)) if self.complex else _value(x)


def vspace(x: Any) -> VSpace:
    return VSpace(x)
