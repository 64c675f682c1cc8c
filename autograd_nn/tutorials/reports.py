"""Each tutorial's hand-written backprop checked against autograd, as text and as a named loss.

What `autograd-nn compare|explain|graph` print or draw, and the demo's compare.txt/explain.txt.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ..check import compare_backprop, explain
from ..tensor import Tensor

__all__ = ["TUTORIALS", "compare_text", "explain_text", "named_loss", "tutorial"]

TUTORIALS = ("1", "2")


def tutorial(k: str) -> ModuleType:
    """The module of tutorial `k` ("1" or "2")."""
    if k not in TUTORIALS:
        raise ValueError(f"tutorial must be one of {', '.join(TUTORIALS)}, got {k!r}")
    return importlib.import_module(f"{__package__}.tutorial{k}")


def compare_text(k: str, seed: int = 0) -> str:
    """Tutorial k's hand-written gradients against autograd's, from the same initial weights."""
    mod = tutorial(k)
    params = mod.initial_weights(seed)
    report = compare_backprop(mod.handwritten_gradients, mod.loss, params, mod.X, mod.Y)
    doc = (mod.loss.__doc__ or "").strip().splitlines()
    title = f"Tutorial {k}: hand-written backprop vs autograd (initial weights, seed {seed})"
    lines = [title, "=" * len(title)]
    if doc:
        lines.append(f"autograd's loss: {doc[0]}")
    lines += [str(report), ""]
    return "\n".join(lines)


def named_loss(k: str, seed: int = 0) -> tuple[Tensor, dict[str, Any]]:
    """Tutorial k's loss at its initial weights, and the names `explain` and `graph` give its
    leaves: the data X, Y and the loss L."""
    mod = tutorial(k)
    params = {name: Tensor(v, requires_grad=True, name=name)
              for name, v in mod.initial_weights(seed).items()}
    loss = mod.loss(params, mod.X, mod.Y)
    return loss, {"X": mod.X, "Y": mod.Y, "L": loss}


def explain_text(k: str, seed: int = 0) -> str:
    """Tutorial k's loss, its chain rule written out per node."""
    loss, names = named_loss(k, seed)
    title = f"Tutorial {k}: the chain rule of autograd's loss (initial weights, seed {seed})"
    return "\n".join([title, "=" * len(title), str(explain(loss, names)), ""])
