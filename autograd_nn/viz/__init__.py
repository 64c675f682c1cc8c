"""Compute-graph pictures: `draw_graph(root)` returns a graphviz Digraph of the forward graph.

Values, ops, gradients (and where they vanish), module clusters and a node budget for big
graphs. The picture's `.model` (viz/model.py) is what it shows as plain data; viz/dot.py writes
it as DOT. Building the DOT text needs only the `graphviz` Python package; rendering needs `dot`.
"""

from ..graph import GradientsUnavailable
from .draw import draw_graph, draw_graphs
from .render import GraphPicture, GraphvizNotFoundError

__all__ = [
    "GradientsUnavailable", "GraphPicture", "GraphvizNotFoundError", "draw_graph", "draw_graphs",
]
