"""The Digraph that draw_graph returns: rendering without Graphviz's `dot` explains the fix."""

from __future__ import annotations

import functools
from typing import Any

from .model import Graph

try:
    import graphviz
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autograd_nn graph pictures need the Python package 'graphviz' (pip install graphviz); "
        "rendering images also needs the Graphviz program `dot`"
    ) from _err

INSTALL_COMMANDS = (  # (system, how to install Graphviz there), one line each
    ("Debian/Ubuntu", "sudo apt-get install graphviz"),
    ("Fedora/RHEL", "sudo dnf install graphviz"),
    ("macOS", "brew install graphviz"),
    ("conda", "conda install -c conda-forge graphviz"),
    ("Windows", "winget install graphviz (or the installer from "
                "https://graphviz.org/download/), then add its bin folder to PATH"),
)


def install_lines(indent: str = "  ") -> str:
    """One install command per line: `  Debian/Ubuntu:  sudo apt-get install graphviz`."""
    width = max(len(system) for system, _ in INSTALL_COMMANDS) + 2
    return "\n".join(f"{indent}{system + ':':<{width}}{command}"
                     for system, command in INSTALL_COMMANDS)


INSTALL_HELP = (
    "Rendering a graph picture needs the Graphviz program `dot`, which was not found on PATH "
    "(the Python package `graphviz` alone is not enough). The DOT text is available without it "
    "as `.source`. Install Graphviz:\n" + install_lines() + "\n"
    "and restart Python/Jupyter so that the new PATH is seen."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is missing, so a picture cannot be rendered (the DOT text can)."""


def _needs_dot(method):
    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any):
        try:
            return method(self, *args, **kwargs)
        except graphviz.ExecutableNotFound as err:
            raise GraphvizNotFoundError(f"{INSTALL_HELP}\n(graphviz said: {err})") from None

    return wrapper


class GraphPicture(graphviz.Digraph):
    """A `graphviz.Digraph` whose rendering methods explain how to install Graphviz when needed.

    `model` is what the picture shows as plain data (`autograd_nn.viz.model.Graph`).
    """

    model: Graph | None = None

    pipe = _needs_dot(graphviz.Digraph.pipe)
    render = _needs_dot(graphviz.Digraph.render)
    view = _needs_dot(graphviz.Digraph.view)
    unflatten = _needs_dot(graphviz.Digraph.unflatten)
    _repr_mimebundle_ = _needs_dot(graphviz.Digraph._repr_mimebundle_)

    def copy(self) -> GraphPicture:
        """A copy that keeps the picture's model and options."""
        new = super().copy()
        new.model = self.model
        return new

    def _repr_svg_(self) -> str:
        """SVG for front-ends that ask for `_repr_svg_` (rendered with `dot`)."""
        return self.pipe(format="svg", encoding="utf-8")
