"""Rounding (floor, ceil, round, trunc), whose gradient is 0 everywhere, and mod."""

from __future__ import annotations

import numpy as np

from .registry import primitive, prims


def _to_integer(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    return np.abs(x - np.round(x)), "an integer (where the result jumps)"


def _to_half(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    return np.abs(x - np.floor(x) - 0.5), "a half-integer (where the result jumps)"


def _rounding(name: str, fn, doc: str, kink):
    return primitive(name, fn, lambda g, ans, x: 0.0 * g, method=True,
                     kink=kink, doc=doc + " The gradient is 0 (also at the jumps), as in PyTorch.",
                     elementwise=True)


floor = _rounding("floor", np.floor, "The largest integer <= x, elementwise.", _to_integer)
ceil = _rounding("ceil", np.ceil, "The smallest integer >= x, elementwise.", _to_integer)
trunc = _rounding("trunc", np.trunc, "x rounded towards zero, elementwise.", _to_integer)
round = _rounding(  # noqa: A001 (mirrors numpy.round)
    "round", np.round, "x rounded to the nearest integer, halves to even (np.round).", _to_half)


def _jump_at_multiples(inputs, params):
    """Distance from a to the nearest multiple of b: where mod, fmod and the divisions jump."""
    a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
    q = a / b
    return np.abs(q - np.round(q)) * np.abs(b), "a multiple of b (where the result jumps)"


mod = primitive(
    "mod", np.mod, lambda g, ans, a, b: g, lambda g, ans, a, b: -g * prims.floor(a / b),
    doc="a - floor(a / b) * b: the remainder with the sign of b (np.mod, torch.remainder).",
    kink=_jump_at_multiples, elementwise=True,
    operator=("__mod__", "__rmod__"),
)


fmod = primitive(
    "fmod", np.fmod, lambda g, ans, a, b: g, lambda g, ans, a, b: -g * prims.trunc(a / b),
    doc="a - trunc(a / b) * b: the remainder with the sign of a (np.fmod, torch.fmod).",
    kink=_jump_at_multiples, elementwise=True)
floor_divide = primitive(
    "floor_divide", np.floor_divide, lambda g, ans, a, b: 0.0 * g, lambda g, ans, a, b: 0.0 * g,
    doc="floor(a / b) elementwise (a // b, np.floor_divide); integers stay integers. The "
        "gradient is 0, as PyTorch's.", source="{a} // {b}", display="{a} // {b}",
    kink=_jump_at_multiples, elementwise=True, operator=("__floordiv__", "__rfloordiv__"))


def _trunc_divide_forward(a, b):
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":  # integers: exact, no float rounding
        q = np.floor_divide(a, b)
        return q + ((q * b != a) & ((a < 0) != (b < 0)))
    return np.trunc(np.true_divide(a, b))


trunc_divide = primitive(
    "trunc_divide", _trunc_divide_forward,
    lambda g, ans, a, b: 0.0 * g, lambda g, ans, a, b: 0.0 * g,
    doc="a / b rounded toward zero (torch.div with rounding_mode='trunc'); integers stay "
        "integers. The gradient is 0, as PyTorch's.",
    helper={"trunc_divide": _trunc_divide_forward}, source="trunc_divide({a}, {b})",
    kink=_jump_at_multiples, elementwise=True)
