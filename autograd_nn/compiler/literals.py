"""Python source for the values a generated module holds: numbers (inf and nan too), NumPy
scalars and types, strings, None, containers of them, slices and arrays. Each reads back equal
with only NumPy imported as `np`; anything else is refused by name."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.tensor import Size

# the static values a compiled function's arguments may hold, and its checks can compare
PLAIN_TYPES = (bool, int, float, complex, str, bytes)
_SCALAR_KINDS = "biufcSU"


class LiteralError(TypeError):
    """The value has no source form a NumPy-only module can hold."""


def number(value: bool | int | float | complex) -> str:
    """A Python number as source; inf and nan through NumPy (`-np.inf`, `np.nan`)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "-np.inf"
    if isinstance(value, complex) and not (math.isfinite(value.real) and
                                           math.isfinite(value.imag)):
        return f"complex({number(value.real)}, {number(value.imag)})"
    return repr(value)


def numpy_type(kind: type) -> str:
    """`np.float64` for NumPy's scalar type float64 (`np.bool_` where `np.bool` is missing)."""
    for name in (kind.__name__, np.dtype(kind).name, f"{kind.__name__}_"):
        if getattr(np, name, None) is kind:
            return f"np.{name}"
    raise LiteralError(f"NumPy's scalar type {kind.__name__} has no name in the numpy module")


def type_text(value: Any) -> str:
    """The source for the exact type of a static value (`float`, `np.float32`)."""
    if type(value) in PLAIN_TYPES or type(value) is Size:
        return "int" if type(value) is Size else type(value).__name__
    if isinstance(value, np.generic) and value.dtype.kind in _SCALAR_KINDS:
        return numpy_type(type(value))
    raise LiteralError(describe(value))


def literal(value: Any) -> str:
    """Source that evaluates to `value`: None, a number, a string, a NumPy scalar or dtype, a
    slice, Ellipsis, or a tuple/list/dict of them."""
    if value is None or value is Ellipsis:
        return repr(value)
    if type(value) is Size:  # `t.size`, an int that torch code may also call: its number
        return repr(int(value))
    if isinstance(value, np.generic) and value.dtype.kind in _SCALAR_KINDS:
        return f"{numpy_type(type(value))}({number(value.item())})"
    if type(value) in PLAIN_TYPES:
        return number(value) if isinstance(value, (float, complex)) else repr(value)
    if isinstance(value, np.dtype):
        return f"np.dtype({value.name!r})"
    if isinstance(value, type) and issubclass(value, np.generic):
        return numpy_type(value)
    if isinstance(value, slice):
        return f"slice({literal(value.start)}, {literal(value.stop)}, {literal(value.step)})"
    if type(value) in (tuple, list):
        inner = ", ".join(literal(v) for v in value)
        if type(value) is list:
            return f"[{inner}]"
        return f"({inner}{',' if len(value) == 1 else ''})"
    if type(value) is dict:
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise LiteralError(describe(value))


def differs(expr: str, value: Any) -> str:
    """A condition true when `expr` no longer equals the traced `value` (nan stays nan)."""
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return f"not np.isnan({expr})"
    if isinstance(value, (float, np.floating)) and value == 0:  # -0.0 == 0.0, but 1/x differs
        return f"{expr} != 0 or np.signbit({expr}) != {bool(np.signbit(value))}"
    return f"{expr} != {literal(value)}"


def differs_anywhere(expr: str, value: Any) -> str:
    """`differs` for an array (a value every example of a vmap shared): true when any element
    no longer equals the traced `value`."""
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return f"not np.isnan({expr}).all()"
    if isinstance(value, (float, np.floating)) and value == 0:
        return (f"np.any(({expr} != 0) | (np.signbit({expr}) != "
                f"{bool(np.signbit(value))}))")
    return f"np.any({expr} != {literal(value)})"


def array(arr: np.ndarray) -> str:
    """An array constant: np.full for one repeated value, np.arange for 0..n-1, else np.array
    (np.zeros for an empty one, which keeps its shape)."""
    dtype = numpy_type(arr.dtype.type)
    if not arr.size:
        return f"np.zeros({arr.shape!r}, dtype={dtype})"
    flat = arr.reshape(-1)
    if flat.size and (np.all(flat == flat[0]) or np.all(flat != flat)):  # nan != nan
        return f"np.full({arr.shape!r}, {number(flat[0].item())}, dtype={dtype})"
    if arr.ndim == 1 and arr.dtype.kind in "iu" and np.array_equal(arr, np.arange(arr.size)):
        return f"np.arange({arr.size}, dtype={dtype})"
    return f"np.array({_nested(arr.tolist())}, dtype={dtype})"


def _nested(items: Any) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(v) for v in items) + "]"
    return number(items) if isinstance(items, (float, complex)) else repr(items)


def describe(value: Any) -> str:
    """Why `value` cannot be written: its type, and what can be."""
    return (f"a {type(value).__module__}.{type(value).__qualname__} has no source form in "
            "generated code (static values can be None, bool, int, float, complex, str, bytes, "
            "NumPy scalars, and dicts/lists/tuples of them)")
