"""Explain's formulas with the numbers put in: `dL/dz1 = dL/dh1 * sigmoid'(z1)` at one element
becomes `0.0123 * sigmoid'(0.61)`; rules that mix elements (matmul, sums, scans, broadcasting)
get small arrays written out and larger ones left as names with their shapes.

Whether a rule may be written at one element is read from the rows of the ops that use the
node (`Primitive.elementwise`), never guessed from the formula's text."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..core.formatting import number_text, shape_text
from ..graph import GraphView

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


def _axes_phrase(axes: tuple[int, ...]) -> str:
    return f"axis {axes[0]}" if len(axes) == 1 else f"axes {axes}"


def mixing(view: GraphView, k: int) -> list[str]:
    """Why node k's gradient cannot be written out at one element, from the rows of the ops
    that read it (one reason per op, e.g. "cumsum mixes elements along axis 0"); empty when
    every one is an elementwise row on an input of its own shape."""
    x = view.tensors[k]
    reasons: list[str] = []
    for c in sorted(set(view.consumers[k])):
        node = view.tensors[c]
        if not node.requires_grad or node._op is None:
            continue
        prim, params = node._op, node._params or {}
        if prim.elementwise:
            if tuple(x.shape) == tuple(node.shape):
                continue
            lead = len(node.shape) - len(x.shape)
            axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(x.shape)
                                              if s == 1 and node.shape[lead + i] != 1)
            reason = f"{node.op} broadcasts {view.names[k]} along {_axes_phrase(axes)}"
        elif "axis" in params:
            axis = params["axis"]
            if axis is None:
                reason = f"{node.op} mixes elements along every axis"
            else:
                axes = tuple(axis) if isinstance(axis, (tuple, list)) else (int(axis),)
                reason = f"{node.op} mixes elements along {_axes_phrase(axes)}"
        else:
            reason = f"{node.op} is not elementwise"
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def broadcasts_to(text: str, values: Mapping[str, np.ndarray], names: list[str], root: str,
                  shape: tuple) -> bool:
    """Whether every symbol of `text` broadcasts to `shape` (so it has a value at each of its
    elements)."""
    found = [m.group(1) for m in _symbols(names, root).finditer(text) if m.group(1) in values]
    return all(_broadcasts(np.shape(values[s]), shape) for s in found)


def plug(text: str, values: Mapping[str, np.ndarray], names: list[str], root: str,
         shape: tuple, idx: tuple | None) -> str:
    """`text` with each symbol replaced by its value: at element `idx` of the node (shape
    `shape`) when `idx` is given (an elementwise rule, see `mixing`), else written out when
    small."""
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
