"""`draw_graph`: the forward graph of a Tensor as a graphviz Digraph (values, ops, gradients)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import GradientsUnavailable, view_graph
from ..graph import GraphView as Walk
from ..graph import node_gradients as compute_gradients
from ..naming import user_names
from ..tensor import Tensor
from . import labels as L
from . import style, summary
from .collapse import Node, Plan, ScopeInfo, is_scalar_constant, plan_within_budget, scope_paths
from .render import GraphPicture

_SHOW_GRADS = (True, False, "compute", "leaves")
_COLOR_BY = (None, "grad", "grad_ratio")


@dataclass(frozen=True)
class Options:
    """Validated drawing options (see `draw_graph`)."""

    show_grads: bool | str = True
    color_by: str | None = None
    max_depth: int | None = None
    max_nodes: int = 500
    rankdir: str = "TB"
    grad_range: tuple[float, float] = (1e-7, 10.0)
    vanish_ratio: float = 1e-6
    grad_seed: Any = None
    inline_constants: bool = True
    legend: bool = True
    title: str | None = None
    min_chain: int = 3

    def __post_init__(self) -> None:
        if self.show_grads not in _SHOW_GRADS or not isinstance(self.show_grads, (bool, str)):
            raise ValueError(f"draw_graph: show_grads must be one of {_SHOW_GRADS}, "
                             f"got {self.show_grads!r}")
        if self.color_by not in _COLOR_BY:
            raise ValueError(f"draw_graph: color_by must be one of {_COLOR_BY}, "
                             f"got {self.color_by!r}")
        if self.color_by is not None and self.show_grads is False:
            raise ValueError("draw_graph: color_by='grad' needs gradients; do not pass "
                             "show_grads=False with it")
        if self.max_depth is not None and (not isinstance(self.max_depth, int)
                                           or self.max_depth < 0):
            raise ValueError(f"draw_graph: max_depth must be None or an int >= 0, "
                             f"got {self.max_depth!r}")
        if not isinstance(self.max_nodes, int) or self.max_nodes < 10:
            raise ValueError(f"draw_graph: max_nodes must be an int >= 10, got {self.max_nodes!r}")
        if self.rankdir not in ("TB", "LR", "BT", "RL"):
            raise ValueError(f"draw_graph: rankdir must be 'TB', 'LR', 'BT' or 'RL', "
                             f"got {self.rankdir!r}")
        lo, hi = self.grad_range
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"draw_graph: grad_range must be (lo, hi) with 0 < lo < hi, "
                             f"got {self.grad_range!r}")
        if not isinstance(self.min_chain, int) or self.min_chain < 2:
            raise ValueError(f"draw_graph: min_chain must be an int >= 2, got {self.min_chain!r}")


class _Drawing:
    """One root's graph: walked, planned within the budget, with its gradients, ready to emit."""

    def __init__(self, root: Tensor, opts: Options, prefix: str,
                 given: dict[int, str] | None = None) -> None:
        self.root = root
        self.opts = opts
        self.prefix = prefix
        given = given or {}
        # the names `explain` uses: user names first, then z1/h1/.../L, t1, C1, p1
        self.w: Walk = view_graph([root], given)
        self.names = self.w.names
        self.user_named = {k for k, t in enumerate(self.w.tensors)
                           if t.name or id(t) in given or id(t.data) in given}
        self.scopes: ScopeInfo = scope_paths(self.w)
        self.plan: Plan
        self.plan, self.notes = plan_within_budget(
            self.w, self.scopes, max_depth=opts.max_depth, max_nodes=opts.max_nodes,
            inline_constants=opts.inline_constants, min_chain=opts.min_chain,
            named=frozenset(k for k in self.user_named if self.w.tensors[k]._op is None))
        self.grads: dict[int, np.ndarray] = {}
        self.grad_source = self._gradients()
        self.roots = set(self.w.roots)
        self.cluster_params: dict[tuple, list[int]] = {}

    # --- gradients -------------------------------------------------------------------------
    def _gradients(self) -> str | None:
        mode = self.opts.show_grads
        if mode is False:
            return None
        tensors = self.w.tensors
        if mode in (True, "compute") and (mode == "compute" or self.root.requires_grad):
            try:
                by_id = compute_gradients(self.root, self.opts.grad_seed)
            except GradientsUnavailable as err:
                if mode == "compute":
                    raise GradientsUnavailable(f"draw_graph(show_grads='compute'): {err}") from None
                self.notes.append(f"intermediate gradients not shown: {err}")
            else:
                for k, t in enumerate(tensors):
                    g = by_id.get(id(t))
                    if g is not None:
                        self.grads[k] = g
                what = "root" if self.root.size == 1 else "sum(root)"
                if self.opts.grad_seed is not None:
                    what = "root · grad_seed"
                return f"∇ = d({what})/d(node), computed for this picture (no .grad changed)"
        for k, t in enumerate(tensors):
            if t._op is None and t.grad is not None:
                self.grads[k] = np.asarray(t.grad)
        return "∇ = the leaves' .grad (accumulated by backward())" if self.grads else None

    def grad_metric(self, k: int) -> tuple[float | None, bool, bool]:
        """(colour metric, vanishing, non-finite) of node k's gradient."""
        g = self.grads.get(k)
        if g is None:
            return None, False, False
        gs = summary.stats(g)
        if gs.nonfinite:
            return None, False, True
        v_rms = summary.stats(self.w.tensors[k].data).rms
        ratio = gs.rms / v_rms if v_rms > 0 else (0.0 if gs.rms == 0 else math.inf)
        vanishing = gs.rms == 0 or (v_rms > 0 and ratio < self.opts.vanish_ratio)
        metric = ratio if self.opts.color_by == "grad_ratio" else gs.rms
        return metric, vanishing, False

    def metric_name(self) -> str:
        return "∇/value rms" if self.opts.color_by == "grad_ratio" else "∇ rms"

    def fill_for(self, metric: float | None, vanishing: bool, nonfinite: bool,
                 has_grad: bool) -> dict[str, str]:
        """Colour attributes of a node in the gradient-flow view."""
        if nonfinite:
            fill, attrs = style.NONFINITE_FILL, {"color": style.NONFINITE_BORDER, "penwidth": "3"}
        elif vanishing:
            fill, attrs = style.VANISH_FILL, {"color": style.VANISH_BORDER, "penwidth": "3"}
        elif not has_grad or metric is None:
            fill, attrs = style.NO_GRAD_FILL, {}
        else:
            lo, hi = self.opts.grad_range
            fill, attrs = style.scale_color(metric, lo, hi), {}
        attrs["fillcolor"] = fill
        attrs["fontcolor"] = style.text_color(fill)
        return attrs

    # --- placement -------------------------------------------------------------------------
    def _depth_cut(self, path: tuple) -> tuple:
        d = self.plan.depth
        return path if d is None else path[:d]

    def _place_box_or_op(self, node: Node) -> tuple:
        kind, i = node
        if kind == "g":
            grp = self.plan.groups[i]
            return self._depth_cut(grp.place) if grp.kind == "chain" else grp.place
        return self._depth_cut(self.scopes.paths[i])

    def place(self, node: Node) -> tuple:
        """The module path of the cluster that holds `node` (() for the top level).

        Ops sit in the scope they ran in; a module's parameters and buffers (and scalar
        constants) sit in the deepest cluster that holds all the ops reading them; every other
        leaf (the network's input, targets, free parameters) is outside every cluster.
        """
        kind, i = node
        if kind == "g" or self.w.tensors[i]._op is not None:
            return self._place_box_or_op(node)
        t = self.w.tensors[i]
        if i not in self.scopes.owned and not is_scalar_constant(t):
            return ()
        common: tuple | None = None
        for c in self.w.consumers[i]:
            cn = self.plan.op_node(c)
            cn = self.plan.remap.get(cn, cn)
            p = self._place_box_or_op(cn)
            if common is None:
                common = p
            else:
                n = 0
                while n < min(len(common), len(p)) and common[n] == p[n]:
                    n += 1
                common = common[:n]
        return common or ()

    # --- node text -------------------------------------------------------------------------
    def node_id(self, node: Node) -> str:
        kind, i = node
        return f"{self.prefix}{kind}{i}"

    def kind_of(self, k: int) -> str:
        t = self.w.tensors[k]
        if k in self.roots:
            return "output"
        if t._op is None:
            return "param" if t._needs_grad else "input"
        return "value"

    def name_of(self, k: int) -> str:
        """The node's name, the same as in `explain`'s text."""
        return self.names[k]

    def title_of(self, k: int) -> str:
        if k in self.user_named:
            return f"<B>{L.esc(self.names[k])}</B>"
        return f"<I>{L.esc(self.names[k])}</I>"

    def value_node(self, k: int) -> dict[str, str]:
        t = self.w.tensors[k]
        kind = self.kind_of(k)
        attrs = dict(style.KINDS[kind])
        g = self.grads.get(k)
        vstats = summary.stats(t.data)
        metric, vanishing, g_nonfinite = self.grad_metric(k)
        grad_view = self.opts.color_by is not None
        lines = [
            self.title_of(k),
            L.small(L.esc(f"{L.shape_text(t.shape)} {t.dtype}")),
            L.esc(summary.short(t.data)),
        ]
        if vstats.nonfinite:
            lines.append(f"<B>{L.esc(style.NONFINITE_MARK)} in value</B>")
        lines += L.grad_lines(g, metric if grad_view else None, self.metric_name(),
                              vanishing and grad_view, g_nonfinite)
        if grad_view:
            attrs.update(self.fill_for(metric, vanishing, g_nonfinite, g is not None))
        if vstats.nonfinite or g_nonfinite:
            attrs.update({"color": style.NONFINITE_BORDER if grad_view else style.NONFINITE_FILL,
                          "penwidth": "3"})
        if vanishing and grad_view:
            attrs["style"] = attrs["style"].replace(",bold", "") + ",dashed"
        tip = [f"{self.name_of(k)} ({style.KIND_TITLES[kind]})",
               f"shape {L.shape_text(t.shape)} {t.dtype}, {t.size} elements",
               f"value: {summary.long(t.data)}"]
        if g is not None:
            gs = summary.stats(g)
            ratio = gs.rms / vstats.rms if vstats.rms > 0 else math.nan
            tip.append(f"grad: {summary.long(g)}")
            tip.append(f"grad rms {summary.fmt(gs.rms, 4)}, |grad|/|value| (rms) "
                       f"{summary.fmt(ratio, 4)}")
        if t._op is not None:
            site = t._where or "not recorded (recorded in anomaly mode)"
            tip.append(f"made by {t.op}, created at {site}")
        attrs["label"] = L.html_label(lines)
        attrs["tooltip"] = L.tooltip(tip)
        return attrs

    def op_node(self, k: int) -> dict[str, str]:
        t = self.w.tensors[k]
        attrs = dict(style.KINDS["op"])
        consts = {}
        parents = self.w.parents[k]
        for c in self.plan.inlined.get(k, ()):
            for i, p in enumerate(parents):
                if p == c:
                    consts[i] = self.w.tensors[c].data
        title = L.call_title(t.op, len(parents), consts)
        lines = [f"<B>{L.esc(title)}</B>"]
        params = L.params_line(t._params)
        if params:
            lines.append(L.small(L.esc(params)))
        if t.graph_released:
            lines.append(L.small(L.esc("inputs released by backward()")))
        if self.opts.color_by is not None:
            attrs["fillcolor"] = style.OP_FILL_GRAD_VIEW
        prim_doc = (t._op.doc or "").strip().splitlines()
        tip = [f"{t.op}" + (f": {prim_doc[0]}" if prim_doc else "")]
        if params:
            tip.append(f"params: {params}")
        shown = ", ".join(f"{L.shape_text(self.w.tensors[p].shape)} {self.w.tensors[p].dtype}"
                          for p in parents[:6])
        more = f", ... ({len(parents)} inputs)" if len(parents) > 6 else ""
        tip.append(f"inputs: {shown}{more}")
        tip.append(f"output: {L.shape_text(t.shape)} {t.dtype}")
        tip.append(f"created at {t._where or 'not recorded (recorded in anomaly mode)'}")
        attrs["label"] = L.html_label(lines)
        attrs["tooltip"] = L.tooltip(tip)
        return attrs

    def module_name(self, key: tuple) -> tuple[str, str]:
        qual, obj = self.scopes.entries[key]
        cls = type(obj).__name__ if obj is not None else "scope"
        return cls, qual

    def short_param_name(self, k: int, qual: str) -> str:
        name = self.name_of(k)
        if qual and name.startswith(qual + "."):
            return name[len(qual) + 1:]
        return name

    def params_text(self, ks: Sequence[int], qual: str, limit: int = 6) -> str:
        parts = [f"{self.short_param_name(k, qual)} {L.shape_text(self.w.tensors[k].shape)}"
                 for k in ks[:limit]]
        if len(ks) > limit:
            parts.append(f"+{len(ks) - limit} more")
        return " · ".join(parts)

    def group_node(self, gid: int) -> dict[str, str]:
        grp = self.plan.groups[gid]
        attrs = dict(style.KINDS[grp.kind])
        tensors = self.w.tensors
        ops = [tensors[k].op or "?" for k in grp.ops]
        tip: list[str] = []
        metric_ks: list[int] = []
        if grp.kind == "module":
            cls, qual = self.module_name(grp.key[-1])
            params = [k for k in grp.values if tensors[k]._op is None and tensors[k]._needs_grad]
            lines = [f"<B>{L.esc(cls)}</B>" + (f" {L.esc(qual)}" if qual else ""),
                     L.small(L.esc(f"collapsed: ×{len(ops)} op{'s' if len(ops) != 1 else ''}"))]
            if params:
                lines.append(L.small(L.esc(self.params_text(params, qual))))
            group_ops = set(grp.ops)
            outs = [k for k in grp.ops if k not in self.roots
                    and any(c not in group_ops for c in self.w.consumers[k])]
            if outs:
                lines.append(L.small(L.esc("→ " + ", ".join(
                    L.shape_text(tensors[k].shape) for k in outs[:3]))))
            tip.append(f"module {cls} {qual!r} collapsed ({len(ops)} ops: "
                       f"{L.op_histogram(ops)})")
            tip += [f"{self.name_of(k)}: {L.shape_text(tensors[k].shape)}"
                    for k in params[:20]]
            metric_ks = params or outs
        elif grp.kind == "chain":
            last = tensors[grp.ops[-1]]
            first_in = [p for p in self.w.parents[grp.ops[0]]
                        if self.plan.vrep[p] != gid]
            shape_in = L.shape_text(tensors[first_in[0]].shape) if first_in else "?"
            lines = [f"<B>×{len(ops)} ops</B>",
                     L.small(L.esc(L.op_histogram(ops))),
                     L.small(L.esc(f"{shape_in} → {L.shape_text(last.shape)} {last.dtype}"))]
            tip.append(f"a linear chain of {len(ops)} ops collapsed: {L.op_histogram(ops)}")
            metric_ks = [k for k in grp.values if tensors[k]._op is not None]
        else:
            n_ops = len(grp.ops)
            lines = [f"<B>… {self.plan.hidden_nodes} nodes not shown</B>",
                     L.small(L.esc(f"({n_ops} ops) farthest from the output"))]
            tip.append(f"{self.plan.hidden_nodes} nodes (with {n_ops} ops inside) left out to "
                       f"stay within max_nodes={self.opts.max_nodes}; raise max_nodes or "
                       "lower max_depth to see more")
        if self.grads and grp.kind != "hidden":
            self._group_grads(metric_ks, lines, tip, attrs)
        attrs["label"] = L.html_label(lines)
        attrs["tooltip"] = L.tooltip(tip)
        return attrs

    def _group_grads(self, ks: Sequence[int], lines: list[str], tip: list[str],
                     attrs: dict[str, str]) -> None:
        """Gradient range, marks and colour of a box from the gradients of tensors `ks`."""
        ks = [k for k in ks if k in self.grads]
        if not ks:
            return
        g_rms, g_ok = summary.rms_many([self.grads[k] for k in ks])
        v_rms, _ = summary.rms_many([self.w.tensors[k].data for k in ks])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(v_rms > 0, g_rms / v_rms, np.where(g_rms == 0, 0.0, np.inf))
        nonfinite = not bool(g_ok.all())
        vanish = (g_rms == 0) | ((v_rms > 0) & (ratio < self.opts.vanish_ratio))
        vanishing = bool(vanish[g_ok].any())
        grad_view = self.opts.color_by is not None
        metric = ratio if self.opts.color_by == "grad_ratio" else g_rms
        name = self.metric_name() if grad_view else "∇ rms"
        finite_metrics = metric[g_ok & np.isfinite(metric)]
        lo = hi = None
        if finite_metrics.size:
            lo, hi = float(finite_metrics.min()), float(finite_metrics.max())
            lines.append(L.small(L.esc(f"{name} {summary.fmt(lo, 2)} … {summary.fmt(hi, 2)}")))
            tip.append(f"{name} from {summary.fmt(lo, 4)} to {summary.fmt(hi, 4)} over {len(ks)} "
                       "tensors")
        if nonfinite:
            lines.append(f"<B>{L.esc(style.NONFINITE_MARK)}</B>")
            tip.append(f"{int((~g_ok).sum())} of these gradients hold NaN/Inf")
        elif vanishing and grad_view:
            lines.append(f"<B>{L.esc(style.VANISH_MARK)}</B>")
            tip.append(f"{int(vanish.sum())} of these gradients vanish")
        if grad_view:
            attrs.update(self.fill_for(lo, vanishing, nonfinite, True))
        elif nonfinite:
            attrs.update({"color": style.NONFINITE_FILL, "penwidth": "3"})

    # --- emission --------------------------------------------------------------------------
    def emit(self, top: Any, graphviz_mod: Any) -> int:
        """Add clusters, nodes and edges to `top`; returns the number of nodes drawn."""
        from .collapse import nodes_and_edges

        nodes, edges = nodes_and_edges(self.w, self.plan)
        clusters: dict[tuple, Any] = {}
        order: list[tuple] = []
        placed: list[tuple[tuple, Node]] = [(self.place(n), n) for n in nodes]
        for path, node in placed:
            if node[0] == "v" and self.w.tensors[node[1]]._op is None and \
                    self.w.tensors[node[1]]._needs_grad:
                self.cluster_params.setdefault(path, []).append(node[1])
            for depth in range(1, len(path) + 1):
                sub = path[:depth]
                if sub not in clusters:
                    clusters[sub] = graphviz_mod.Digraph(
                        name=f"cluster_{self.prefix}m{len(order)}")
                    order.append(sub)
        for path, node in placed:
            target = clusters[path] if path else top
            kind, i = node
            if kind == "v":
                attrs = self.value_node(i)
            elif kind == "o":
                attrs = self.op_node(i)
            else:
                attrs = self.group_node(i)
            label = attrs.pop("label")
            target.node(self.node_id(node), label, **_quote_safe(attrs))
        for a, b in edges:
            top.edge(self.node_id(a), self.node_id(b))
        for path in order:
            cls, qual = self.module_name(path[-1])
            head = f"<B>{L.esc(cls)}</B>" + (f"  {L.esc(qual)}" if qual else "")
            params = self.cluster_params.get(path, [])
            lines = [head]
            if params:
                lines.append(L.small(L.esc(self.params_text(params, qual))))
            clusters[path].attr(label=L.html_label(lines), style="rounded,filled",
                                color=style.CLUSTER_COLOR, fillcolor=style.CLUSTER_FILL,
                                labeljust="l", fontname=style.FONT,
                                tooltip=L.tooltip([f"module {cls} {qual!r}"]))
        for path in sorted(order, key=lambda p: -len(p)):
            parent = clusters[path[:-1]] if len(path) > 1 else top
            parent.subgraph(clusters[path])
        return len(nodes)


def _quote_safe(attrs: dict[str, str]) -> dict[str, str]:
    """Tooltips are plain text: never let graphviz read one as an HTML-like string."""
    import graphviz

    if "tooltip" in attrs:
        attrs["tooltip"] = graphviz.nohtml(attrs["tooltip"])
    return attrs


def _new_picture(opts: Options) -> GraphPicture:
    return GraphPicture(
        name="autograd_nn",
        graph_attr={"rankdir": opts.rankdir, "fontname": style.FONT, "fontsize": "11",
                    "nodesep": "0.25", "ranksep": "0.3", "bgcolor": "white"},
        node_attr={"fontname": style.FONT, "fontsize": "11", "margin": "0.1,0.04"},
        edge_attr={"color": style.EDGE_COLOR, "arrowsize": "0.6"},
    )


def _legend(picture: GraphPicture, opts: Options, grad_sources: Sequence[str]) -> None:
    """A small cluster: one sample node per kind (in a row) and, in the gradient view, a
    colour bar; the gradient source is written under its title."""
    import graphviz

    leg = graphviz.Digraph(name="cluster_legend")
    head = ["<B>legend</B>"] + [L.small(L.esc(text)) for text in dict.fromkeys(grad_sources)]
    leg.attr(label=L.html_label(head), style="rounded", color="#bbbbbb", fontname=style.FONT,
             fontsize="10", labeljust="l", margin="6")
    row = graphviz.Digraph(name="legend_row")
    row.attr(rank="same")
    names = []
    for kind, title in style.KIND_TITLES.items():
        attrs = dict(style.KINDS[kind])
        if opts.color_by is not None:  # the fill each kind really gets in this view
            attrs["fillcolor"] = style.OP_FILL_GRAD_VIEW if kind == "op" else style.NO_GRAD_FILL
        attrs.update(fontsize="9", height="0.3", margin="0.06,0.02")
        name = f"legend_{kind}"
        names.append(name)
        row.node(name, title, **attrs)
    for a, b in zip(names, names[1:], strict=False):
        row.edge(a, b, style="invis")
    leg.subgraph(row)
    if opts.color_by is not None:
        lo, hi = opts.grad_range
        ticks = style.scale_ticks(lo, hi)
        n = len(style.SCALE)
        cells = "".join(f'<TD BGCOLOR="{c}" WIDTH="28" HEIGHT="14"></TD>' for c in style.SCALE)
        tick_cells = "".join(f'<TD><FONT POINT-SIZE="7">{t}</FONT></TD>' for t in ticks[:-1])
        what = "∇ rms / value rms" if opts.color_by == "grad_ratio" else "∇ rms"
        label = (
            '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">'
            f'<TR><TD COLSPAN="{n + 2}" ALIGN="LEFT"><FONT POINT-SIZE="9">'
            f'{L.esc(what)}, log10 scale (below {ticks[0]} and above {ticks[-1]} clamped)'
            '</FONT></TD></TR>'
            f'<TR>{cells}<TD BGCOLOR="{style.VANISH_FILL}" BORDER="2" COLOR="{style.VANISH_BORDER}"'
            f'><FONT POINT-SIZE="8">vanishing</FONT></TD>'
            f'<TD BGCOLOR="{style.NONFINITE_FILL}"><FONT POINT-SIZE="8">NaN/Inf</FONT></TD></TR>'
            f'<TR>{tick_cells}<TD></TD><TD></TD></TR></TABLE>>'
        )
        leg.node("legend_scale", label, shape="plain")
        leg.edge(names[len(names) // 2], "legend_scale", style="invis")
    picture.subgraph(leg)


def _label_lines(title: str | None, notes: Sequence[str]) -> str:
    lines = []
    if title:
        lines.append(f'<FONT POINT-SIZE="14"><B>{L.esc(title)}</B></FONT>')
    lines += [L.small(L.esc(n), 10) for n in notes]
    return L.html_label(lines)


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
      Vanishing gradients (exactly 0, or ratio < `vanish_ratio`) and NaN/Inf are marked.
    - `max_depth`: modules nested deeper than this are drawn as one box each (0: every
      top-level module is one box); `max_nodes`: a node budget met by collapsing linear
      chains, then modules, then leaving out the nodes farthest from `root` (the picture says so).
    - `grad_seed`: the gradient of `root` to start from (default ones).
    - `names`: a dict name -> Tensor or array naming leaves (an array names the leaf made from
      it, e.g. the data X), as in `explain(root, params)`. Values are labelled exactly as
      `explain` names them: Tensor.name, then `names`, then h1/z1 (activation outputs and
      their inputs), L (the root), t1, t2, ... (other intermediates).

    Building the picture needs only the `graphviz` Python package; rendering (`.pipe`,
    `.render`, Jupyter display) needs Graphviz's `dot` program.
    """
    opts = _options(locals())
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    drawing = _Drawing(root, opts, prefix="", given=user_names(names, "draw_graph: names"))
    picture = _new_picture(opts)
    drawing.emit(picture, _graphviz())
    if opts.legend:
        _legend(picture, opts, [drawing.grad_source] if drawing.grad_source else [])
    if opts.title or drawing.notes:
        picture.attr(label=_label_lines(opts.title, drawing.notes), labelloc="t",
                     labeljust="l")
    return picture


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
    gv = _graphviz()
    picture = _new_picture(opts)
    sources = []
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor)):
            raise TypeError(f"draw_graphs: item #{i} must be (title, Tensor), got {item!r:.60}")
        name, root = item
        drawing = _Drawing(root, opts, prefix=f"p{i}_", given=given)
        box = gv.Digraph(name=f"cluster_p{i}")
        drawing.emit(box, gv)
        box.attr(label=_label_lines(str(name), drawing.notes), labelloc="t", labeljust="l",
                 style="rounded", color="#999999", fontname=style.FONT)
        picture.subgraph(box)
        if drawing.grad_source:
            sources.append(drawing.grad_source)
    if opts.legend:
        _legend(picture, opts, sources)
    if opts.title:
        picture.attr(label=_label_lines(opts.title, []), labelloc="t", labeljust="l")
    return picture


def _options(kwargs: dict[str, Any]) -> Options:
    kwargs = dict(kwargs)
    kwargs.pop("root", None)
    kwargs.pop("names", None)
    return Options(**kwargs)


def _graphviz():
    try:
        import graphviz
    except ImportError as err:
        raise ImportError(
            "draw_graph needs the Python package 'graphviz' (pip install graphviz); rendering "
            "images also needs the Graphviz program `dot`"
        ) from err
    return graphviz
