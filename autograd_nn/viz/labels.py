"""Label lines and tooltip text of graph pictures (plain text; dot.py escapes and styles it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.formatting import number_text, shape_text
from . import summary
from .model import Line, Span
from .style import NONFINITE_MARK, VANISH_MARK


def plain(text: str) -> Line:
    return Line((Span(text),))


def bold(text: str) -> Line:
    return Line((Span(text, bold=True),))


def italic(text: str) -> Line:
    return Line((Span(text, italic=True),))


def small(text: str, size: int = 9) -> Line:
    return Line((Span(text, size=size),))


def module_title(cls: str, qual: str, sep: str = " ") -> Line:
    """'Linear layers.0': the class name in bold, then the module's qualified name."""
    return Line((Span(cls, bold=True),) + ((Span(sep + qual),) if qual else ()))


def header(title: str | None, notes: Sequence[str]) -> tuple[Line, ...]:
    """A picture's (or one of its graphs') title in large bold type, then its notes."""
    lines = [Line((Span(title, bold=True, size=14),))] if title else []
    return tuple(lines + [small(n, 10) for n in notes])


def shape_dtype(shape: tuple, dtype: Any) -> str:
    """'(4, 3) float64', 'scalar float64'."""
    return f"{shape_text(shape, 'spaced')} {dtype}"


def param_text(value: Any) -> str:
    """A short rendering of one op parameter (arrays by shape, long reprs cut)."""
    if isinstance(value, np.ndarray):
        return f"<{shape_dtype(value.shape, value.dtype)}>"
    if isinstance(value, np.dtype) or isinstance(value, type):
        try:
            return str(np.dtype(value))
        except TypeError:
            return str(value)
    text = repr(value)
    return text if len(text) <= 28 else text[:25] + "..."


def params_line(params: dict | None) -> str:
    """'axis=(1,), keepdims' style summary of op parameters (defaults left out)."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if key == "keepdims":
            if value:
                parts.append("keepdims")
            continue
        if value is None:
            continue
        parts.append(f"{key}={param_text(value)}")
    return ", ".join(parts)


def call_title(op: str, n_args: int, constants: dict[int, np.ndarray]) -> str:
    """'mul(·, 0.5)' when scalar constants are written into the op, else just the op name."""
    if not constants:
        return op
    args = [number_text(np.asarray(constants[i]).reshape(()).item(), 4) if i in constants
            else "·" for i in range(n_args)]
    return f"{op}({', '.join(args)})"


def grad_lines(g: np.ndarray | None, metric: float | None, metric_name: str,
               vanishing: bool, nonfinite: bool) -> list[Line]:
    """Label lines about a gradient: its summary, the colour metric, a mark."""
    if g is None:
        return []
    lines = [plain(f"∇ {summary.short(g)}")]
    if metric is not None:
        lines.append(small(f"{metric_name} {number_text(metric, 2)}"))
    if nonfinite:
        lines.append(bold(NONFINITE_MARK))
    elif vanishing:
        lines.append(bold(VANISH_MARK))
    return lines


def op_histogram(ops: Sequence[str]) -> str:
    """'5000 mul, 5000 add' (most frequent first, ties by name)."""
    counts = Counter(ops)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{n} {name}" for name, n in items[:4])
    if len(items) > 4:
        text += f", {len(items) - 4} more kinds"
    return text


def operand_names(op: object) -> tuple[str, ...]:
    """The input names of a non-commutative op with several inputs (("a", "b") of sub,
    ("xs[0]", "xs[1]", ...) are left to variadic ops), else ()."""
    if op is None or op.text.commutative or op.variadic or len(op.inputs) < 2:
        return ()
    return tuple(op.inputs)


def operand_form(op: object) -> str | None:
    """'a - b', 'a @ b', 'dot(a, b)': how a non-commutative op combines its operands."""
    names = operand_names(op)
    if not names:
        return None
    display = op.text.display if isinstance(op.text.display, str) else None
    if display is None:
        return f"{op.name}({', '.join(names)})"
    for n in names:
        display = display.replace("{" + n + "}", n)
    return display
