"""The model node of each drawn element: its label, tooltip, colours and gradient marks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.formatting import number_text, shape_text
from ..graph import GraphView
from . import labels as L
from . import style, summary
from .collapse import Plan, PlanNode, ScopeInfo
from .gradients import fill_attrs, group_flow, node_flow
from .model import Node
from .options import Options

_NO_SITE = "not recorded (recorded in anomaly mode)"


@dataclass
class NodeMaker:
    """Makes the `model.Node` of every drawn element of one graph."""

    view: GraphView
    scopes: ScopeInfo
    plan: Plan
    grads: dict[int, np.ndarray]
    opts: Options
    prefix: str  # of every node id ("p0_" in draw_graphs)
    user_named: frozenset[int]
    grad_scale: float | None = None  # the graph's median gradient rms (gradients.py)

    def node_id(self, node: PlanNode) -> str:
        kind, i = node
        return f"{self.prefix}{kind}{i}"

    def make(self, node: PlanNode) -> Node:
        kind, i = node
        if kind == "v":
            return self.value(i)
        return self.op(i) if kind == "o" else self.group(i)

    def kind_of(self, k: int) -> str:
        t = self.view.tensors[k]
        if k in self.view.roots:
            return "output"
        if t._op is None:
            return "param" if t._needs_grad else "input"
        return "value"

    def value(self, k: int) -> Node:
        t = self.view.tensors[k]
        name, kind, opts = self.view.names[k], self.kind_of(k), self.opts
        attrs = dict(style.KINDS[kind])
        g = self.grads.get(k)
        vstats = summary.stats(t.data)
        metric, vanishing, g_nonfinite = node_flow(g, t.data, opts, self.grad_scale)
        grad_view = opts.grad_view
        lines = [L.bold(name) if k in self.user_named else L.italic(name),
                 L.small(L.shape_dtype(t.shape, t.dtype)), L.plain(summary.short(t.data))]
        if vstats.nonfinite:
            lines.append(L.bold(f"{style.NONFINITE_MARK} in value"))
        lines += L.grad_lines(g, metric if grad_view else None, opts.metric_name,
                              vanishing and grad_view, g_nonfinite)
        if grad_view:
            attrs.update(fill_attrs(opts, metric, vanishing, g_nonfinite, g is not None))
        if vstats.nonfinite or g_nonfinite:
            attrs.update({"color": style.NONFINITE_BORDER if grad_view else style.NONFINITE_FILL,
                          "penwidth": "3"})
        if vanishing and grad_view:
            attrs["style"] = attrs["style"].replace(",bold", "") + ",dashed"
        tip = [f"{name} ({style.KIND_TITLES[kind]})",
               f"shape {L.shape_dtype(t.shape, t.dtype)}, {t.size} elements",
               f"value: {summary.long(t.data)}"]
        if g is not None:
            gs = summary.stats(g)
            ratio = gs.rms / vstats.rms if vstats.rms > 0 else math.nan
            tip.append(f"grad: {summary.long(g)}")
            tip.append(f"grad rms {number_text(gs.rms, 4)}, |grad|/|value| (rms) "
                       f"{number_text(ratio, 4)}")
        if t._op is not None:
            tip.append(f"made by {t.op}, created at {t._where or _NO_SITE}")
        return Node(self.node_id(("v", k)), kind, tuple(lines), tuple(tip), attrs, name=name,
                    shape=tuple(t.shape), dtype=str(t.dtype), has_grad=g is not None,
                    metric=metric if grad_view else None, vanishing=vanishing and grad_view,
                    nonfinite=vstats.nonfinite or g_nonfinite)

    def op(self, k: int) -> Node:
        tensors = self.view.tensors
        t, parents = tensors[k], self.view.parents[k]
        attrs = dict(style.KINDS["op"])
        consts = {i: tensors[c].data for c in self.plan.inlined.get(k, ())
                  for i, p in enumerate(parents) if p == c}
        lines = [L.bold(L.call_title(t.op, len(parents), consts))]
        form = L.operand_form(t._op)
        if form:
            lines.append(L.small(form))
        params = L.params_line(t._params)
        if params:
            lines.append(L.small(params))
        if t.graph_released and not parents:  # (a graph kept after backward() has its inputs)
            lines.append(L.small("inputs released by backward()"))
        if self.opts.grad_view:
            attrs["fillcolor"] = style.OP_FILL_GRAD_VIEW
        prim_doc = (t._op.api.doc or "").strip().splitlines()
        tip = [f"{t.op}" + (f": {prim_doc[0]}" if prim_doc else "")]
        if params:
            tip.append(f"params: {params}")
        shown = ", ".join(L.shape_dtype(tensors[p].shape, tensors[p].dtype) for p in parents[:6])
        more = f", ... ({len(parents)} inputs)" if len(parents) > 6 else ""
        tip.append(f"inputs: {shown}{more}")
        tip.append(f"output: {L.shape_dtype(t.shape, t.dtype)}")
        tip.append(f"created at {t._where or _NO_SITE}")
        return Node(self.node_id(("o", k)), "op", tuple(lines), tuple(tip), attrs, name=t.op)

    def module_name(self, key: tuple) -> tuple[str, str]:
        """(class name, qualified name) of a module scope."""
        qual, obj = self.scopes.entries[key]
        return (type(obj).__name__ if obj is not None else "scope"), qual

    def params_text(self, ks: Sequence[int], qual: str, limit: int = 6) -> str:
        """'weight (3, 4) · bias (4,)': parameters named relative to their module `qual`."""
        def short(k: int) -> str:
            name = self.view.names[k]
            return name[len(qual) + 1:] if qual and name.startswith(qual + ".") else name

        parts = [f"{short(k)} {shape_text(self.view.tensors[k].shape, 'spaced')}"
                 for k in ks[:limit]]
        if len(ks) > limit:
            parts.append(f"+{len(ks) - limit} more")
        return " · ".join(parts)

    def group(self, gid: int) -> Node:
        grp = self.plan.groups[gid]
        tensors, view = self.view.tensors, self.view
        ops = [tensors[k].op or "?" for k in grp.ops]
        name = None
        metric_ks: list[int] = []
        if grp.kind == "module":
            cls, name = self.module_name(grp.key[-1])
            params = [k for k in grp.values if tensors[k]._op is None and tensors[k]._needs_grad]
            lines = [L.module_title(cls, name, " "),
                     L.small(f"collapsed: ×{len(ops)} op{'s' if len(ops) != 1 else ''}")]
            if params:
                lines.append(L.small(self.params_text(params, name)))
            group_ops = set(grp.ops)
            outs = [k for k in grp.ops if k not in view.roots
                    and any(c not in group_ops for c in view.consumers[k])]
            if outs:
                lines.append(L.small("→ " + ", ".join(
                    shape_text(tensors[k].shape, "spaced") for k in outs[:3])))
            tip = [f"module {cls} {name!r} collapsed ({len(ops)} ops: {L.op_histogram(ops)})"]
            tip += [f"{view.names[k]}: {shape_text(tensors[k].shape, 'spaced')}"
                    for k in params[:20]]
            metric_ks = params or outs
        elif grp.kind == "chain":
            last = tensors[grp.ops[-1]]
            first_in = [p for p in view.parents[grp.ops[0]] if self.plan.vrep[p] != gid]
            shape_in = shape_text(tensors[first_in[0]].shape, "spaced") if first_in else "?"
            lines = [L.bold(f"×{len(ops)} ops"), L.small(L.op_histogram(ops)),
                     L.small(f"{shape_in} → {L.shape_dtype(last.shape, last.dtype)}")]
            tip = [f"a linear chain of {len(ops)} ops collapsed: {L.op_histogram(ops)}"]
            metric_ks = [k for k in grp.values if tensors[k]._op is not None]
        else:
            hidden = self.plan.hidden_nodes
            lines = [L.bold(f"… {hidden} nodes not shown"),
                     L.small(f"({len(grp.ops)} ops) farthest from the output")]
            tip = [f"{hidden} nodes (with {len(grp.ops)} ops inside) left out to stay within "
                   f"max_nodes={self.opts.max_nodes}; raise max_nodes or lower max_depth to see "
                   "more"]
        attrs = dict(style.KINDS[grp.kind])
        flow = None if grp.kind == "hidden" else group_flow(self.grads, view, metric_ks, self.opts,
                                                              self.grad_scale)
        if flow is None:
            return Node(self.node_id(("g", gid)), grp.kind, tuple(lines), tuple(tip), attrs,
                        name=name)
        attrs.update(flow.attrs)
        return Node(self.node_id(("g", gid)), grp.kind, tuple(lines + flow.lines),
                    tuple(tip + flow.tip), attrs, name=name, has_grad=True, metric=flow.metric,
                    vanishing=flow.vanishing, nonfinite=flow.nonfinite)
