"""Each tutorial's hand-written backprop checked against autograd, as text and as a named loss.

What `autograd-nn compare|explain|graph` print or draw, and the demo's compare.txt/explain.txt.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from types import ModuleType
from typing import Any

from autograd_nn import Tensor
from autograd_nn.check import compare_backprop, explain

__all__ = ["TUTORIALS", "compare_text", "compile_text", "explain_text", "named_loss",
           "tutorial"]

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


def _handwritten_backprop(k: str) -> str:
    """The tutorial's own backprop lines, verbatim from its rebuilt class."""
    mod = tutorial(k)
    method = mod.NeuralNetwork.d_weights if k == "1" else mod.NeuralNetwork.gradients
    source = textwrap.dedent(inspect.getsource(method))
    statements = ast.parse(source).body[0].body
    if isinstance(statements[0], ast.Expr):  # the docstring
        statements = statements[1:]
    lines = source.splitlines()[statements[0].lineno - 1:]
    return textwrap.dedent("\n".join(ln.replace("  # noqa: E501", "") for ln in lines
                                     if ln.strip() and not ln.strip().startswith("#")))


def compile_text(k: str, seed: int = 0) -> str:
    """Tutorial k's hand-written backprop, then the NumPy `ag.compile` generates for its loss."""
    from autograd_nn import value_and_grad
    from autograd_nn.compiler import compile as ag_compile

    mod = tutorial(k)
    step = ag_compile(value_and_grad(mod.loss))
    step(mod.initial_weights(seed), mod.X, mod.Y)
    source = step.source
    entry = source[source.index("def loss("):]
    title = f"Tutorial {k}: the backprop the tutorial writes by hand, and what ag.compile writes"
    return "\n".join([
        title, "=" * len(title), "",
        "The tutorial's hand-written backprop:", "",
        textwrap.indent(_handwritten_backprop(k), "    "), "",
        "ag.compile(ag.value_and_grad(loss)) generates (a module that needs only NumPy; helpers "
        "and the argument checks are left out here):", "",
        "\n".join(ln for ln in entry.splitlines()
                  if not ln.strip().startswith(("if ", "raise "))), "",
    ])
