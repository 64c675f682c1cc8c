"""Text of node labels (HTML-like, see graphviz.org/doc/info/shapes.html#html) and tooltips."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import summary
from .style import NONFINITE_MARK, VANISH_MARK


def esc(text: str) -> str:
    """Text made safe inside an HTML-like label."""
    return html.escape(str(text), quote=False)


def small(text: str, size: int = 9) -> str:
    return f'<FONT POINT-SIZE="{size}">{text}</FONT>'


def html_label(lines: Sequence[str]) -> str:
    """Join already-escaped label lines into one HTML-like label."""
    return "<" + "<BR/>".join(lines) + ">"


def shape_text(shape: tuple) -> str:
    return "scalar" if shape == () else str(tuple(shape))


def tooltip(lines: Sequence[str], limit: int = 2000) -> str:
    """Tooltip text (a DOT escString: backslashes doubled, lines joined with \\n), cut to
    `limit` characters (Graphviz refuses quoted strings longer than 16384)."""
    text = "\n".join(str(x) for x in lines)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def param_text(value: Any) -> str:
    """A short rendering of one op parameter (arrays by shape, long reprs cut)."""
    if isinstance(value, np.ndarray):
        return f"<{shape_text(value.shape)} {value.dtype}>"
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
    args = [summary.fmt(np.asarray(constants[i]).reshape(()).item(), 4) if i in constants else "·"
            for i in range(n_args)]
    return f"{op}({', '.join(args)})"


def grad_lines(g: np.ndarray | None, metric: float | None, metric_name: str,
               vanishing: bool, nonfinite: bool) -> list[str]:
    """Label lines about a gradient (already escaped)."""
    if g is None:
        return []
    lines = [esc(f"∇ {summary.short(g)}")]
    if metric is not None:
        lines.append(small(esc(f"{metric_name} {summary.fmt(metric, 2)}")))
    if nonfinite:
        lines.append(f"<B>{esc(NONFINITE_MARK)}</B>")
    elif vanishing:
        lines.append(f"<B>{esc(VANISH_MARK)}</B>")
    return lines


def op_histogram(ops: Sequence[str]) -> str:
    """'5000 mul, 5000 add' (most frequent first, ties by name)."""
    counts = Counter(ops)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{n} {name}" for name, n in items[:4])
    if len(items) > 4:
        text += f", {len(items) - 4} more kinds"
    return text
