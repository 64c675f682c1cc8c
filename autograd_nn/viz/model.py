"""What a graph picture shows, as plain data: nodes, edges, clusters, legend and header notes.

`draw_graph` builds a `Graph` (kept as `picture.model`) and `dot.py` writes it as DOT. Label
text is stored unescaped; DOT attributes (`Node.attrs`) are the only presentation detail kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A run of label text in one style."""

    text: str
    bold: bool = False
    italic: bool = False
    size: int | None = None  # font point size; None keeps the node's own


@dataclass(frozen=True)
class Line:
    """One line of a label."""

    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)


@dataclass(frozen=True)
class Node:
    """A drawn node: a value, an op, a box standing for several (chain, module, hidden)."""

    id: str
    kind: str  # param, input, value, output, op, chain, module or hidden
    lines: tuple[Line, ...]
    tooltip: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)  # DOT attributes: shape, fillcolor...
    name: str | None = None  # a value's name (as in explain), an op's name, a module's path
    shape: tuple[int, ...] | None = None  # value nodes: the tensor's shape and dtype
    dtype: str | None = None
    has_grad: bool = False
    metric: float | None = None  # gradient view: the number that chose the fill colour
    vanishing: bool = False  # marked "vanishing" (gradient view only)
    nonfinite: bool = False  # marked NaN/Inf (the value or its gradient)

    @property
    def text(self) -> str:
        """The label as plain text, one line per label line."""
        return "\n".join(line.text for line in self.lines)

    @property
    def title(self) -> str:
        return self.lines[0].text

    @property
    def fill(self) -> str | None:
        return self.attrs.get("fillcolor")


@dataclass(frozen=True)
class Edge:
    """Data flowing from node `tail` into node `head` (ids); repeated for a repeated input.
    `label` names the operand of a non-commutative op ("a" of a - b)."""

    tail: str
    head: str
    label: str | None = None


@dataclass(frozen=True)
class Cluster:
    """A framed group of nodes: a module's ops and parameters, or one of `draw_graphs`' graphs."""

    id: str
    kind: str  # "module" or "graph"
    title: str  # "Linear layers.0", or the graph's title
    lines: tuple[Line, ...]
    tooltip: tuple[str, ...] = ()
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    notes: tuple[str, ...] = ()  # "graph" clusters: what was collapsed or left out

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Scale:
    """The colour bar of the gradient view."""

    caption: str
    colors: tuple[str, ...]
    ticks: tuple[str, ...]  # bin edges, one more than colours


@dataclass(frozen=True)
class Legend:
    """One sample node per kind (styled as drawn), what ∇ means, and the colour bar if any."""

    samples: tuple[Node, ...]
    sources: tuple[str, ...] = ()
    scale: Scale | None = None


@dataclass(frozen=True)
class Graph:
    """A whole picture; `title` and `notes` form its header."""

    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    legend: Legend | None = None
    title: str | None = None
    notes: tuple[str, ...] = ()
    rankdir: str = "TB"

    def walk(self) -> Iterator[tuple[tuple[Cluster, ...], Node]]:
        """(enclosing clusters, outermost first; node) for every node outside the legend."""
        stack: list[tuple[tuple[Cluster, ...], Graph | Cluster]] = [((), self)]
        while stack:
            path, box = stack.pop()
            for n in box.nodes:
                yield path, n
            stack += [((*path, c), c) for c in reversed(box.clusters)]

    def all_nodes(self) -> list[Node]:
        return [n for _, n in self.walk()]

    def all_edges(self) -> list[Edge]:
        return list(self.edges) + [e for c in self.all_clusters() for e in c.edges]

    def all_clusters(self) -> list[Cluster]:
        out, stack = [], list(reversed(self.clusters))
        while stack:
            c = stack.pop()
            out.append(c)
            stack += reversed(c.clusters)
        return out

    def find(self, text: str) -> list[Node]:
        """The nodes whose label contains `text`."""
        return [n for n in self.all_nodes() if text in n.text]

    def node(self, node_id: str) -> Node:
        return _one([n for n in self.all_nodes() if n.id == node_id], f"node id {node_id!r}")

    def named(self, name: str) -> Node:
        """The one node called `name` (a value's, op's or module's name)."""
        return _one([n for n in self.all_nodes() if n.name == name], f"node named {name!r}")

    def clusters_of(self, node_id: str) -> tuple[Cluster, ...]:
        """The clusters holding a node, outermost first (() at the top level)."""
        return _one([p for p, n in self.walk() if n.id == node_id], f"node id {node_id!r}")


def _one(found: list, what: str):
    if len(found) != 1:
        raise LookupError(f"{len(found)} matches for {what}, expected exactly one")
    return found[0]
