"""The explorer's picture: one box per node (name, how it was made, shape), laid out by Graphviz
as SVG when the page is made; every box has the id `node-<k>` (k: position in the walk)."""

from __future__ import annotations

import re

from ..core.formatting import shape_text
from ..graph import GraphView

GRAPHVIZ_MISSING = (
    "Graphviz's `dot` program was not found, so the graph is not drawn (the steps below still "
    "work; the current node is listed by name). Install Graphviz (Debian/Ubuntu: "
    "`sudo apt-get install graphviz`; macOS: `brew install graphviz`; conda: "
    "`conda install -c conda-forge graphviz`) and make the page again."
)

_KIND_FILL = {"param": "#cfe8ff", "input": "#eeeeee", "value": "#ffffff", "output": "#ffe1b3"}


def node_kind(view: GraphView, k: int) -> str:
    t = view.tensors[k]
    if k in view.roots:
        return "output"
    if t._op is None:
        return "param" if t.requires_grad else "input"
    return "value"


def graph_dot(view: GraphView, forward: dict[int, str]) -> str:
    """DOT text of the graph: a box per node, an edge per op input (labelled with its position
    when an op has several, so that X and W of X @ W are told apart)."""
    from ..viz import labels as L
    from ..viz.dot import html_label

    lines = ["digraph explore {", '  graph [rankdir=TB, nodesep=0.25, ranksep=0.35, '
             'bgcolor="transparent"];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [color="#888888", arrowsize=0.6, fontsize=10, fontcolor="#1f4e9a"];']
    uses = {p: 0 for p in _widely_shared_leaves(view)}
    for k, t in enumerate(view.tensors):
        label = [L.bold(view.names[k]), L.small(shape_text(t.shape))]
        if k in uses:
            label.append(L.small(f"drawn at each of its {len(view.consumers[k])} uses"))
        if forward.get(k):
            label.insert(1, L.small(forward[k].split(" = ", 1)[-1][:60]))
        fill = _KIND_FILL[node_kind(view, k)]
        lines.append(f'  n{k} [id="node-{k}", label={html_label(label)}, fillcolor="{fill}"];')
        for j in range(1, len(view.consumers[k]) if k in uses else 1):  # once per use
            lines.append(f'  n{k}_{j} [id="use-{j}-of-node-{k}", label={html_label(label)}, '
                         f'fillcolor="{fill}"];')
    for k, ps in enumerate(view.parents):
        for i, p in enumerate(ps):
            head = f' [label=" {_operand(view, k, i)}"]' if len(ps) > 1 else ""
            tail = f"n{p}"
            if p in uses:
                tail += f"_{uses[p]}" if uses[p] else ""
                uses[p] += 1
            lines.append(f"  {tail} -> n{k}{head};")
    lines.append("}")
    return "\n".join(lines)


def _widely_shared_leaves(view: GraphView) -> list[int]:
    """Leaves read by more ops than `viz.build.SHARED_LEAF_USES`: drawn at each use, since
    Graphviz's layout of one node with edges to many ranks grows steeply."""
    from ..viz.build import SHARED_LEAF_USES

    return [k for k, t in enumerate(view.tensors)
            if t._op is None and k not in view.roots
            and len(view.consumers[k]) > SHARED_LEAF_USES]


def _operand(view: GraphView, k: int, i: int) -> str:
    """The row's name of input #i (a, b, x, ...), or its position for variadic ops."""
    prim = view.tensors[k]._op
    names = () if prim is None or prim.variadic else prim.inputs
    return names[i] if i < len(names) else str(i)


def graph_svg(view: GraphView, forward: dict[int, str]) -> str | None:
    """The graph as inline SVG, or None when Graphviz's `dot` is not installed."""
    import graphviz

    try:
        svg = graphviz.Source(graph_dot(view, forward)).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return None
    return re.sub(r"^.*?(?=<svg)", "", svg, flags=re.S)  # drop the XML prolog and doctype
