"""`draw_graph` and `draw_graphs`: the forward graph of a Tensor as a picture model and its DOT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.tensor import Tensor
from ..graph import user_names
from . import labels as L
from . import style
from .build import build_part
from .dot import to_picture
from .model import Cluster, Graph, Legend, Node, Scale
from .options import Options
from .render import GraphPicture


def draw_graph(
    root: Tensor,
    *,
    show_grads: bool | str = True,
    color_by: str | None = None,
    max_depth: int | None = None,
    max_nodes: int = 500,
    rankdir: str = "TB",
    grad_range: tuple[float, float] = (1e-7, 10.0),
    vanish_ratio: float = 1e-6,
    vanish_relative: float = 1e-3,
    grad_seed: Any = None,
    inline_constants: bool = True,
    legend: bool = True,
    title: str | None = None,
    names: Mapping[str, Any] | None = None,
) -> GraphPicture:
    """Draw the forward graph that produced `root` (data -> op -> data) as a graphviz Digraph.

    - `show_grads`: True (default) computes d(root)/d(node) for every node when the graph is
      still there (before `backward()`, or after `backward(retain_graph=True)`) and otherwise
      shows the leaves' `.grad`; "compute" insists on computing (error if impossible);
      "leaves" shows only stored `.grad`; False shows none. No `.grad` is ever changed.
    - `color_by`: None (kind colours), "grad" (gradient-flow view: log10 of the gradient's
      rms, on the fixed scale `grad_range`) or "grad_ratio" (rms of gradient / rms of value).
      Vanishing gradients are marked (exactly 0, rms below `vanish_relative` times the median
      gradient rms of the graph, or ratio < `vanish_ratio`; the legend states the rule), and
      so are NaN/Inf.
    - `max_depth`: modules nested deeper than this are drawn as one box each (0: every
      top-level module is one box); `max_nodes`: a node budget met by collapsing linear
      chains, then modules, then leaving out the nodes farthest from `root` (the picture says so).
    - `grad_seed`: the gradient of `root` to start from (default ones).
    - `names`: a dict name -> Tensor or array naming leaves (an array names the leaf made from
      it, e.g. the data X), as in `explain(root, params)`. Values are labelled exactly as
      `explain` names them: Tensor.name, then `names`, then h1/z1 (activation outputs and
      their inputs), L (the root), t1, t2, ... (other intermediates).

    The returned picture's `.model` (a `viz.model.Graph`) holds what it shows as plain data.
    Building the picture needs only the `graphviz` Python package; rendering (`.pipe`,
    `.render`, Jupyter display) needs Graphviz's `dot` program.
    """
    opts = _options(locals())
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    part = build_part(root, opts, prefix="", given=user_names(names, "draw_graph: names"))
    sources = [part.grad_source] if part.grad_source else []
    if part.grad_source and opts.grad_view:
        sources.append(opts.vanish_rule(part.grad_scale))
    return to_picture(Graph(part.nodes, part.edges, part.clusters, _legend(opts, sources),
                            opts.title, part.notes, opts.rankdir))


def draw_graphs(
    roots: Mapping[str, Tensor] | Sequence[tuple[str, Tensor]],
    *,
    show_grads: bool | str = True,
    color_by: str | None = None,
    max_depth: int | None = None,
    max_nodes: int = 500,
    rankdir: str = "TB",
    grad_range: tuple[float, float] = (1e-7, 10.0),
    vanish_ratio: float = 1e-6,
    vanish_relative: float = 1e-3,
    grad_seed: Any = None,
    inline_constants: bool = True,
    legend: bool = True,
    title: str | None = None,
    names: Mapping[str, Any] | None = None,
) -> GraphPicture:
    """Several graphs side by side in one picture (one titled cluster each, one shared legend).

    Options are those of `draw_graph` and apply to each graph (`max_nodes` per graph); with
    `color_by` every graph uses the same fixed colour scale, so they can be compared. `names`
    (as in `draw_graph`) applies to every graph.
    """
    items = list(roots.items()) if isinstance(roots, Mapping) else list(roots)
    opts = _options({k: v for k, v in locals().items() if k not in ("roots", "items")})
    given = user_names(names, "draw_graphs: names")
    if not items:
        raise ValueError("draw_graphs: no graphs given")
    boxes, sources = [], []
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor)):
            raise TypeError(f"draw_graphs: item #{i} must be (title, Tensor), got {item!r:.60}")
        title, root = str(item[0]), item[1]
        part = build_part(root, opts, prefix=f"p{i}_", given=given)
        boxes.append(Cluster(f"cluster_p{i}", "graph", title, L.header(title, part.notes),
                             nodes=part.nodes, edges=part.edges, clusters=part.clusters,
                             notes=part.notes))
        if part.grad_source:
            sources.append(part.grad_source)
            if opts.grad_view:  # each panel's median gives its own threshold: named
                sources.append(opts.vanish_rule(part.grad_scale, panel=title))
    return to_picture(Graph(clusters=tuple(boxes), legend=_legend(opts, sources),
                            title=opts.title, rankdir=opts.rankdir))


def _legend(opts: Options, grad_sources: Sequence[str]) -> Legend | None:
    """One sample node per kind, in the fill each kind gets in this view; the colour bar in
    the gradient view; what ∇ means."""
    if not opts.legend:
        return None
    samples = []
    for kind, title in style.KIND_TITLES.items():
        attrs = dict(style.KINDS[kind])
        if opts.grad_view:
            attrs["fillcolor"] = style.OP_FILL_GRAD_VIEW if kind == "op" else style.NO_GRAD_FILL
        samples.append(Node(f"legend_{kind}", kind, (L.plain(title),),
                            attrs={**attrs, **style.LEGEND_SAMPLE}))
    scale = None
    if opts.grad_view:
        ticks = style.scale_ticks(*opts.grad_range)
        what = "∇ rms / value rms" if opts.color_by == "grad_ratio" else "∇ rms"
        scale = Scale(f"{what}, log10 scale (below {ticks[0]} and above {ticks[-1]} clamped)",
                      tuple(style.SCALE), tuple(ticks))
    return Legend(tuple(samples), tuple(dict.fromkeys(grad_sources)), scale)


def _options(kwargs: dict[str, Any]) -> Options:
    kwargs = dict(kwargs)
    kwargs.pop("root", None)
    kwargs.pop("names", None)
    return Options(**kwargs)
