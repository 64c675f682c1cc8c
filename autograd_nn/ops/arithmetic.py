"""Elementwise arithmetic with broadcasting: + - * / ** and maximum, minimum, where.

Each primitive's forward and vector-Jacobian rules sit together. Rules may return broadcast
shapes: the engine sums every gradient back to its input's shape in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import apply, apply1, apply2, primitive
from ..tensor import Tensor
from .base import lift, pair

add_p = primitive(
    "add", np.add,
    lambda B, g, ans, a, b: g,
    lambda B, g, ans, a, b: g,
)
sub_p = primitive(
    "sub", np.subtract,
    lambda B, g, ans, a, b: g,
    lambda B, g, ans, a, b: -g,
)
mul_p = primitive(
    "mul", np.multiply,
    lambda B, g, ans, a, b: g * b,
    lambda B, g, ans, a, b: g * a,
)
div_p = primitive(
    "div", np.true_divide,
    lambda B, g, ans, a, b: g / b,
    lambda B, g, ans, a, b: -g * ans / b,
)
neg_p = primitive("neg", np.negative, lambda B, g, ans, x: -g)


def _pow_vjp_base(B, g, ans, x, y):
    # d(x**y)/dx = y * x**(y-1), and exactly 0 where y == 0 (x**0 is constant). The double where
    # keeps 0 * x**-1 = 0 * inf out of higher derivatives at x = 0.
    flat = B.raw(y) == 0
    if not flat.any():
        return g * y * x ** (y - 1)
    safe_x = B.where(flat, 1, x)
    return B.where(flat, 0, g * y * safe_x ** (y - 1))


def _pow_vjp_exponent(B, g, ans, x, y):
    # d(x**y)/dy = x**y * log(x), defined for x > 0; at x <= 0 we use 0 (the "double where" keeps
    # log away from non-positive values so no NaN reaches the gradient).
    positive = B.raw(x) > 0
    safe_x = B.where(positive, x, 1)
    return B.where(positive, g * ans * B.log(safe_x), 0)


power_p = primitive("pow_tensor", np.power, _pow_vjp_base, _pow_vjp_exponent)


def _pow_scalar_forward(x, exponent):
    return x ** exponent  # NumPy's fast paths for 2, 0.5, -1, ... apply to a Python scalar


def _pow_scalar_vjp(B, g, ans, x, exponent):
    # c * x**(c-1), with the c = 0 and c = 1 cases exact: no 0 * x**-1 at x = 0 in higher orders.
    if exponent == 0:
        return g * 0
    if exponent == 1:
        return g
    return g * (exponent * x ** (exponent - 1))


pow_scalar_p = primitive(
    "pow", _pow_scalar_forward, _pow_scalar_vjp, doc="x ** c for a constant Python number c"
)


def _split_ties(B, a, b, picked_a: bool):
    """Weights for max/min of two tensors: 1 where one side wins, 1/2 each on ties."""
    ar, br = B.raw(a), B.raw(b)
    wins = (ar > br) if picked_a else (ar < br)
    return np.where(wins, 1.0, np.where(ar == br, 0.5, 0.0)).astype(np.result_type(ar, br))


maximum_p = primitive(
    "maximum", np.maximum,
    lambda B, g, ans, a, b: g * _split_ties(B, a, b, True),
    lambda B, g, ans, a, b: g * _split_ties(B, b, a, True),
    doc="ties split the gradient equally between the two inputs",
)
minimum_p = primitive(
    "minimum", np.minimum,
    lambda B, g, ans, a, b: g * _split_ties(B, a, b, False),
    lambda B, g, ans, a, b: g * _split_ties(B, b, a, False),
    doc="ties split the gradient equally between the two inputs",
)


def _where_forward(a, b, condition):
    return np.where(condition, a, b)


where_p = primitive(
    "where", _where_forward,
    lambda B, g, ans, a, b, condition: B.where(condition, g, 0),
    lambda B, g, ans, a, b, condition: B.where(condition, 0, g),
)


# --- public functions ------------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting."""
    a, b = pair(a, b, "add")
    return apply2(add_p, a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting."""
    a, b = pair(a, b, "sub")
    return apply2(sub_p, a, b)


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise with broadcasting."""
    a, b = pair(a, b, "mul")
    return apply2(mul_p, a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise with broadcasting."""
    a, b = pair(a, b, "div")
    return apply2(div_p, a, b)


def neg(x: Any) -> Tensor:
    """-x."""
    return apply1(neg_p, lift(x, None, "neg"))


def power(a: Any, b: Any) -> Tensor:
    """a ** b elementwise; the gradient for b uses log(a) and is 0 where a <= 0."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return apply(pow_scalar_p, (a,), {"exponent": b})
    a, b = pair(a, b, "pow_tensor")
    return apply2(power_p, a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; where a == b the gradient is split equally between them."""
    a, b = pair(a, b, "maximum")
    return apply2(maximum_p, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; where a == b the gradient is split equally between them."""
    a, b = pair(a, b, "minimum")
    return apply2(minimum_p, a, b)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if condition else b`; condition is a constant (no gradient).

    Masking does not stop NaN: where(c, sqrt(x), 0) at x = 0 still has an infinite sqrt'(0) in
    the untaken branch. Make the untaken input safe first (the "double where" recipe).
    """
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    a, b = pair(a, b, "where")
    return apply(where_p, (a, b), {"condition": cond})


def compare(a: Any, b: Any, ufunc: Any, symbol: str) -> Tensor:
    """Elementwise comparison: a boolean Tensor outside the graph (comparisons have no gradient)."""
    a, b = pair(a, b, symbol)
    try:
        return Tensor(ufunc(a.data, b.data))
    except ValueError as err:
        raise ValueError(
            f"{symbol}: cannot compare shapes {a.shape} and {b.shape}: {err}"
        ) from None
