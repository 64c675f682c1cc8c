"""`explore(loss)`: the forward and backward pass of a graph, replayed step by step in a browser.

The page is one self-contained HTML file (no network: script, style, graph and numbers are
inline); the graph is laid out by Graphviz when the page is made. Steps follow the engine's own
topological order; each backward step shows the arriving gradient, `ag.explain`'s rule with the
numbers put in, the contributions summed where a value is used more than once, and a
finite-difference check made with the page.
"""

from __future__ import annotations

import html
import os
import sys
import types
from typing import Any

import numpy as np

from ..check.explain import explain, refuse_released
from ..core.tensor import Tensor
from ..graph import node_gradients, user_names, view_graph
from .layout import GRAPHVIZ_MISSING, graph_svg, node_kind
from .page import build_page
from .panel import backward_entry, forward_entry
from .replay import ReplayStep, replay

__all__ = ["Exploration", "explore"]


class Exploration:
    """The explorer page of one graph: `.html`, `.save(path)`, shown inline by Jupyter."""

    def __init__(self, html_text: str, steps: list[ReplayStep], data: dict[str, Any],
                 graph_drawn: bool) -> None:
        self.html = html_text
        self.steps = steps
        self.data = data
        self.graph_drawn = graph_drawn

    def save(self, path: str | os.PathLike) -> str:
        """Write the page to `path` (UTF-8); returns the path written."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return os.fspath(path)

    def _repr_html_(self) -> str:
        # an iframe keeps the page's ids and script apart from the notebook's and other pages'
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width:100%;height:640px;border:1px solid #ddd" '
                'sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        n_f = sum(s.phase == "forward" for s in self.steps)
        return (f"<Exploration: {n_f} forward and {len(self.steps) - n_f} backward steps, "
                f"{len(self.html)} characters of HTML>")


def explore(loss: Tensor, params: Any = None, *, title: str | None = None,
            fd_elements: int = 16, interval_ms: int = 900) -> Exploration:
    """A step-by-step page of `loss`'s forward and backward pass (see the module docstring).

    `params`: names for leaves (a dict name -> Tensor or array), as in `ag.explain`.
    `fd_elements`: how many elements of each node the finite-difference check perturbs (all of
    a node with fewer). `interval_ms`: the pace of Play. The graph is kept; no `.grad` changes.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explore: loss must be a Tensor, got {type(loss).__name__}")
    if not loss.requires_grad:
        raise ValueError(f"explore: loss ({loss.shape} {loss.dtype}) has no graph: none of its "
                         "inputs requires grad (create parameters with requires_grad=True)")
    if not isinstance(fd_elements, int) or fd_elements < 1:
        raise ValueError(f"explore: fd_elements must be an int >= 1, got {fd_elements!r}")
    if not isinstance(interval_ms, int) or interval_ms < 50:
        raise ValueError(f"explore: interval_ms must be an int >= 50, got {interval_ms!r}")
    refuse_released(loss, "explore")
    explanation = explain(loss, params)
    view = view_graph([loss], user_names(params, where="explore: params"))
    grads = node_gradients(loss)
    seed = np.ones(loss.shape, dtype=np.float64)
    steps = replay(view, grads, explanation, seed, fd_elements)
    forward = {k: explanation.forward[j][0] for j, k in enumerate(
        k for k, t in enumerate(view.tensors) if t._op is not None)}
    root = explanation.root_name
    values: dict[str, np.ndarray] = {}
    for k, t in enumerate(view.tensors):
        values[view.names[k]] = t.data
        g = grads.get(id(t))
        if g is not None:
            values[f"d{root}/d{view.names[k]}"] = np.asarray(g)
    entries = [forward_entry(view, s.k, forward) if s.phase == "forward"
               else backward_entry(view, s, forward, values, root) for s in steps]
    title = title or f"Backward-pass explorer: {root} ({len(view.tensors)} nodes)"
    data = {"title": title, "root": root, "interval_ms": interval_ms, "steps": entries,
            "nodes": [{"k": k, "name": view.names[k], "kind": node_kind(view, k)}
                      for k in range(len(view.tensors))]}
    svg = graph_svg(view, forward)
    return Exploration(build_page(title, svg, GRAPHVIZ_MISSING, data), steps, data,
                       svg is not None)


class _CallablePackage(types.ModuleType):
    """This package, callable as `explore`: importing `autograd_nn.explore` makes Python bind the
    package over the function `ag.explore` of the same name, and `ag.explore(loss)` must still
    work whichever of the two it finds."""

    def __call__(self, *args: Any, **kwargs: Any) -> Exploration:
        return explore(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
