"""Elementwise arithmetic with broadcasting: + - * / ** and maximum, minimum, where, comparisons.

Each row: name, NumPy forward, one vector-Jacobian rule per input, then how `explain` writes it.
Rules may return broadcast shapes: the engine sums every gradient to its input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..formatting import constant_text
from .registry import (
    Call,
    minus_zero,
    over_one,
    plain_without_params,
    plus_zero,
    primitive,
    prims,
    times_one,
    value_of,
)

add = primitive(
    "add", np.add,
    lambda g, ans, a, b: g,
    lambda g, ans, a, b: g,
    doc="a + b with broadcasting.", display="{a} + {b}", source="{a} + {b}",
    elementwise=True, operator=("__add__", "__radd__"), commutative=True, identity=plus_zero,
)
sub = primitive(
    "sub", np.subtract,
    lambda g, ans, a, b: g,
    lambda g, ans, a, b: -g,
    doc="a - b with broadcasting.", display="{a} - {b}", source="{a} - {b}",
    elementwise=True, operator=("__sub__", "__rsub__"), identity=minus_zero,
)
mul = primitive(
    "mul", np.multiply,
    lambda g, ans, a, b: g * b,
    lambda g, ans, a, b: g * a,
    doc="a * b elementwise with broadcasting.", display="{a} * {b}", source="{a} * {b}",
    elementwise=True,
    operator=("__mul__", "__rmul__"), commutative=True, identity=times_one,
)
@plain_without_params
def _div_params(a, b, rounding_mode: str | None = None) -> Call | None:
    """None: true division; "floor" and "trunc" run those rows (torch.div's rounding_mode)."""
    if rounding_mode is None:
        return None
    if rounding_mode == "floor":
        return Call(prims.floor_divide, (a, b))
    if rounding_mode == "trunc":
        return Call(prims.trunc_divide, (a, b))
    raise ValueError(f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


div = primitive(
    "div", np.true_divide,
    lambda g, ans, a, b: g / b,
    lambda g, ans, a, b: -g * ans / b,
    doc="a / b elementwise with broadcasting; rounding_mode='floor' or 'trunc' rounds the "
        "quotient (torch.div; its gradient is 0).",
    display="{a} / {b}", source="{a} / {b}", prepare=_div_params,
    elementwise=True,
    operator=("__truediv__", "__rtruediv__"), identity=over_one,
)
def _double_negation(node, inputs, params, constant):
    inner = inputs[0]  # -(-x) is x
    if inner._op is not None and inner._op.name == "neg" and constant(inner) is None:
        return inner.parents[0]
    return None


neg = primitive(
    "neg", np.negative, lambda g, ans, x: -g,
    elementwise=True, doc="-x.", display="-{x}", source="-{x}",
    operator=("__neg__", None), identity=_double_negation,
)


def _pow_vjp_base(g, ans, x, y):
    # d(x**y)/dx = y * x**(y-1), and exactly 0 where y == 0 (x**0 is constant). The double where
    # keeps 0 * x**-1 = 0 * inf out of higher derivatives at x = 0.
    # At x == 0 with y < 1, x**(y-1) is inf, as torch gives it; NumPy's divide-by-zero warning
    # about that inf is not the user's (their forward x**y was finite), so it is silenced here.
    flat = y == 0
    with np.errstate(divide="ignore"):
        if not np.any(value_of(flat)):
            return g * y * x ** (y - 1)
        return prims.where(flat, 0.0, g * y * prims.where(flat, 1.0, x) ** (y - 1))


def _pow_vjp_exponent(g, ans, x, y):
    # d(x**y)/dy = x**y * log(x): defined for x > 0; 0 at x == 0 (0**y is flat in y for y > 0,
    # as JAX and HIPS autograd say); nan for x < 0, where no real derivative exists (torch, JAX
    # and HIPS agree). The inner where keeps log away from x <= 0, so no warning is raised.
    positive = x > 0
    at_log = g * ans * prims.log(prims.where(positive, x, 1.0))
    return prims.where(positive, at_log, prims.where(x == 0, 0.0, np.nan))


def _pow_scalar_forward(x, exponent):
    return x ** exponent  # NumPy's fast paths for 2, 0.5, -1, ... apply to a Python scalar


def _pow_scalar_vjp(g, ans, x, exponent):
    # c * x**(c-1), with the c = 0 and c = 1 cases exact: no 0 * x**-1 at x = 0 in higher orders.
    if exponent == 0:
        return g * 0
    if exponent == 1:
        return g
    with np.errstate(divide="ignore"):  # inf at x == 0 for c < 1, as torch: see the base rule
        return g * (exponent * x ** (exponent - 1))


pow_scalar = primitive(
    "pow", _pow_scalar_forward, _pow_scalar_vjp,
    elementwise=True, doc="x ** c for a constant Python number c.",
    display=lambda ctx: f"{ctx.x} ** {constant_text(ctx.params['exponent'])}",
    source=lambda params, shapes: "{x} ** " + repr(params["exponent"]),
    identity=lambda node, inputs, params, constant: inputs[0] if params["exponent"] == 1
    else None,
    public=None,  # reached through power(x, c) and x ** c
)


power = primitive(
    "pow_tensor", np.power, _pow_vjp_base, _pow_vjp_exponent,
    doc="a ** b elementwise; b's gradient is log(a) * a ** b: 0 where a == 0, nan where a < 0 "
        "(no real derivative; torch, JAX and HIPS autograd give nan too).",
    display="{a} ** {b}",
    source="{a} ** {b}",
    elementwise=True, number_param=("exponent", pow_scalar), public="power",
    operator=("__pow__", "__rpow__"),
)


def _tie_weights(a, b, wins):
    """1 where `wins`, 1/2 where a == b: max/min of two inputs split ties equally."""
    return prims.where(a == b, 0.5, wins * 1.0)


def _near_tie(inputs, params):
    a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
    return np.abs(a - b), "a tie with the other operand"


maximum = primitive(
    "maximum", np.maximum,
    lambda g, ans, a, b: g * _tie_weights(a, b, a > b),
    lambda g, ans, a, b: g * _tie_weights(b, a, b > a),
    doc="Elementwise maximum; where a == b the gradient is split equally between them.",
    source="np.maximum({a}, {b})",
    notes=("ties between {a} and {b} share the gradient equally",), kink=_near_tie,
    elementwise=True, commutative=True,
)
minimum = primitive(
    "minimum", np.minimum,
    lambda g, ans, a, b: g * _tie_weights(a, b, a < b),
    lambda g, ans, a, b: g * _tie_weights(b, a, b < a),
    doc="Elementwise minimum; where a == b the gradient is split equally between them.",
    source="np.minimum({a}, {b})",
    notes=("ties between {a} and {b} share the gradient equally",), kink=_near_tie,
    elementwise=True, commutative=True,
)


def _where_prepare(condition, a, b):
    if condition.dtype != np.bool_:  # the cast recorded, so a compiled where reads each call's
        return Call(where, (prims.cast(condition, dtype=np.dtype(bool)), a, b))  # condition
    return None


where = primitive(
    "where", np.where,
    None,
    lambda g, ans, c, a, b: prims.where(c, g, 0.0),
    lambda g, ans, c, a, b: prims.where(c, 0.0, g),
    inputs=("condition", "a", "b"), prepare=_where_prepare,
    doc="Elementwise `a if condition else b`; condition is a constant (no gradient).\n\n"
        "Masking does not stop NaN: where(c, sqrt(x), 0) at x = 0 still has an infinite "
        "sqrt'(0) in the untaken branch. Make the untaken input safe first (double where).",
    display="where({condition}, {a}, {b})", source="np.where({condition}, {a}, {b})",
    elementwise=True,
)


def _comparison(name: str, ufunc: Any, symbol: str, operator: str, commutative: bool = False):
    return primitive(
        name, ufunc, None, None,
        doc=f"a {symbol} b elementwise: a boolean Tensor without gradient.",
        display=f"{{a}} {symbol} {{b}}", source=f"{{a}} {symbol} {{b}}", elementwise=True,
        operator=(operator, None), commutative=commutative,
    )


equal = _comparison("equal", np.equal, "==", "__eq__", commutative=True)
not_equal = _comparison("not_equal", np.not_equal, "!=", "__ne__", commutative=True)
less = _comparison("less", np.less, "<", "__lt__")
less_equal = _comparison("less_equal", np.less_equal, "<=", "__le__")
greater = _comparison("greater", np.greater, ">", "__gt__")
greater_equal = _comparison("greater_equal", np.greater_equal, ">=", "__ge__")
