"""One way to write shapes, numbers and indices as text, for every report and picture."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["constant_text", "index_text", "number_text", "shape_text"]


def shape_text(shape: tuple | None, style: str = "compact") -> str:
    """`(3,4)` / `(4,)` / `()` (compact), or `(3, 4)` / `scalar` (style="spaced"); None is `?`."""
    if shape is None:
        return "?"
    shape = tuple(int(n) for n in shape)
    if style == "spaced":
        return "scalar" if shape == () else str(shape)
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ",".join(str(n) for n in shape) + ")"


def number_text(x: Any, digits: int = 3) -> str:
    """A number in `digits` significant digits: "0.25", "-1.2e-05", "nan", "inf", "0"; None is
    "n/a"; bools and integers are written exactly."""
    if x is None:
        return "n/a"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0"
    return f"{x:.{digits}g}"


def constant_text(v: Any) -> str:
    """A constant as written in a formula: 2.0 -> '2', 0.1 -> '0.1', 1/3 -> '0.333333'."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def index_text(idx: tuple, style: str = "compact") -> str:
    """An element index: `(0,2)` (compact) or `(0, 2)` (style="spaced")."""
    items = [str(int(i)) for i in idx]
    if style == "spaced":
        return str(tuple(int(i) for i in idx))
    return "(" + ",".join(items) + ")"
