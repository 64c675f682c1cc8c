"""Writes a picture model (`model.Graph`) as DOT: the one place that knows DOT's syntax."""

from __future__ import annotations

import html
from collections.abc import Sequence

from . import labels as L
from . import style
from .model import Cluster, Graph, Legend, Line, Scale, Span
from .render import GraphPicture, graphviz  # render imports graphviz with an install hint


def to_picture(graph: Graph) -> GraphPicture:
    """The graphviz picture of `graph` (kept as its `.model`)."""
    pic = GraphPicture(name="autograd_nn", graph_attr={"rankdir": graph.rankdir, **style.GRAPH},
                       node_attr=style.NODE, edge_attr=style.EDGE)
    _add(pic, graph)
    if graph.legend:
        pic.subgraph(_legend(graph.legend))
    if graph.title or graph.notes:
        pic.attr(label=html_label(L.header(graph.title, graph.notes)), labelloc="t",
                 labeljust="l")
    pic.model = graph
    return pic


def _add(target: graphviz.Digraph, box: Graph | Cluster) -> None:
    """Nodes, edges, then clusters; a cluster's own attributes come last, so that the clusters
    inside it never inherit them."""
    for n in box.nodes:
        target.node(n.id, html_label(n.lines), **n.attrs, **tooltip(n.tooltip))
    for e in box.edges:
        target.edge(e.tail, e.head, **({"label": e.label, **style.OPERAND_LABEL} if e.label
                                       else {}))
    for c in box.clusters:
        sub = graphviz.Digraph(name=c.id)
        _add(sub, c)
        sub.attr(label=html_label(c.lines), **style.CLUSTERS[c.kind], **tooltip(c.tooltip))
        target.subgraph(sub)


# Graphviz refuses an HTML label or quoted string longer than 16384 characters: every label is
# kept well below that after escaping, and every span below a tenth of it
LABEL_LIMIT = 12000
SPAN_LIMIT = 1200


def clean_text(text: str, limit: int = SPAN_LIMIT) -> str:
    """`text` as Graphviz and XML accept it: control characters, surrogates and non-characters
    written as visible escapes (\\x1b, \\ud800), cut to `limit` characters with an ellipsis."""
    out = []
    for ch in text:
        code = ord(ch)
        if (code < 0x20 and ch not in "\t") or 0x7f <= code < 0xa0 or 0xd800 <= code < 0xe000 \
                or code in (0xfffe, 0xffff):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(" " if ch == "\t" else ch)
    cleaned = "".join(out)
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


def _span(s: Span) -> str:
    text = html.escape(clean_text(s.text), quote=False)
    text = f"<I>{text}</I>" if s.italic else text
    text = f"<B>{text}</B>" if s.bold else text
    return f'<FONT POINT-SIZE="{s.size}">{text}</FONT>' if s.size else text


def html_label(lines: Sequence[Line]) -> str:
    """An HTML-like label (graphviz.org/doc/info/shapes.html#html), its text cleaned and
    escaped, and cut (with a last line saying so) to stay within Graphviz's length limit."""
    parts: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        text = "".join(map(_span, line.spans))
        if used + len(text) + 5 > LABEL_LIMIT:
            parts.append(f"<I>… {len(lines) - i} more line(s) not shown</I>")
            break
        parts.append(text)
        used += len(text) + 5
    return "<" + "<BR/>".join(parts) + ">"


def tooltip(lines: Sequence[str], limit: int = 2000) -> dict[str, str]:
    """The tooltip attribute (plain text, never read as HTML) cut to `limit` characters, as
    Graphviz refuses quoted strings longer than 16384; none for no lines."""
    text = clean_text("\u2028".join(lines), limit).replace("\u2028", "\n")
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return {"tooltip": graphviz.nohtml(text)} if lines else {}


def _legend(legend: Legend) -> graphviz.Digraph:
    """The sample nodes in a row, the colour bar under them."""
    box = graphviz.Digraph(name="cluster_legend")
    head = [L.bold("legend")] + [L.small(text) for text in legend.sources]
    box.attr(label=html_label(head), **style.CLUSTERS["legend"])
    row = graphviz.Digraph(name="legend_row")
    row.attr(rank="same")
    for n in legend.samples:
        row.node(n.id, n.title, **n.attrs)
    for a, b in zip(legend.samples, legend.samples[1:], strict=False):
        row.edge(a.id, b.id, style="invis")
    box.subgraph(row)
    if legend.scale:
        box.node("legend_scale", _scale_table(legend.scale), shape="plain")
        box.edge(legend.samples[len(legend.samples) // 2].id, "legend_scale", style="invis")
    return box


def _scale_table(scale: Scale) -> str:
    """The colour bar: each tick sits at the left edge of its bin, the last one at the right
    edge of the last bin (a blank cell), so the ticks span the whole drawn range."""
    cells = "".join(f'<TD BGCOLOR="{c}" WIDTH="28" HEIGHT="14"></TD>' for c in scale.colors)
    ticks = "".join(f'<TD ALIGN="LEFT"><FONT POINT-SIZE="7">{html.escape(t)}</FONT></TD>'
                    for t in scale.ticks)
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">'
        f'<TR><TD COLSPAN="{len(scale.colors) + 3}" ALIGN="LEFT"><FONT POINT-SIZE="9">'
        f'{html.escape(scale.caption, quote=False)}</FONT></TD></TR>'
        f'<TR>{cells}<TD WIDTH="28"></TD><TD BGCOLOR="{style.VANISH_FILL}" BORDER="2" '
        f'COLOR="{style.VANISH_BORDER}"><FONT POINT-SIZE="8">vanishing</FONT></TD>'
        f'<TD BGCOLOR="{style.NONFINITE_FILL}"><FONT POINT-SIZE="8">NaN/Inf</FONT></TD></TR>'
        f'<TR>{ticks}<TD></TD><TD></TD></TR></TABLE>>'
    )
