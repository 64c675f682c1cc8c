"""Explain's formulas with the numbers put in: `dL/dz1 = dL/dh1 * sigmoid'(z1)` at one element
becomes `0.0123 * sigmoid'(0.61)`; formulas that mix elements (matmul, sums) get small arrays
written out and larger ones left as names with their shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..formatting import number_text, shape_text

_MIXING = ("@", "sum(", ".T", "transpose", "mean(", "reshape", "broadcast", "vjp_", "sum_to")
_INLINE_LIMIT = 12  # arrays up to this many elements are written out in full


def _symbols(names: list[str], root: str) -> re.Pattern:
    alts = sorted(set(names), key=len, reverse=True)
    body = "|".join(re.escape(n) for n in alts)
    return re.compile(rf"(?<![\w/'])(d{re.escape(root)}/d(?:{body})|{body})(?![\w])")


def array_text(a: np.ndarray, digits: int = 4) -> str:
    """A small array on one line, `digits` significant digits."""
    a = np.asarray(a)
    if a.ndim == 0:
        return number_text(a.item(), digits)
    return "[" + ", ".join(array_text(x, digits) for x in a) + "]"


def is_elementwise(text: str, values: Mapping[str, np.ndarray], names: list[str], root: str,
                   shape: tuple) -> bool:
    """Whether each element of the formula's result depends only on the same element of its
    symbols (broadcast), so that it can be written out at one element."""
    found = [m.group(1) for m in _symbols(names, root).finditer(text) if m.group(1) in values]
    return not any(s in text for s in _MIXING) and all(
        _broadcasts(np.shape(values[s]), shape) for s in found)


def plug(text: str, values: Mapping[str, np.ndarray], names: list[str], root: str,
         shape: tuple, idx: tuple | None) -> str:
    """`text` with each symbol replaced by its value: at element `idx` of the node (shape
    `shape`) when `idx` is given (an elementwise formula), else written out when small."""
    pattern = _symbols(names, root)

    def value(match: re.Match) -> str:
        sym = match.group(1)
        if sym not in values:
            return sym
        arr = np.asarray(values[sym])
        bracketed = text[match.start() - 1:match.start()] == "(" and \
            text[match.end():match.end() + 1] == ")"
        if idx is not None:
            written = number_text(np.broadcast_to(arr, shape)[idx].item(), 4)
        elif arr.size <= _INLINE_LIMIT:
            written = array_text(arr)
        else:
            return f"{sym}{shape_text(arr.shape)}"
        return written if bracketed else _signed(written)

    return pattern.sub(value, text)


def _signed(text: str) -> str:
    """A negative number in brackets, so that `-x` and `2*x` stay readable once plugged."""
    return f"({text})" if text.startswith("-") else text


def _broadcasts(small: tuple, big: tuple) -> bool:
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))
