"""A recorded graph as plain data, shared by the tools (check, viz, explore) and the compiler.

`view.py`: the nodes in order and every node's gradient; `naming.py`: the one naming scheme.
"""

from __future__ import annotations

from .naming import format_number, is_scalar_constant, node_names, user_names
from .view import GradientsUnavailable, GraphView, edge_gradient, node_gradients, view_graph

__all__ = ["GradientsUnavailable", "GraphView", "edge_gradient", "format_number",
           "is_scalar_constant", "node_gradients", "node_names", "user_names", "view_graph"]
