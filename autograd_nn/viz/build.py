"""One root's graph as model nodes, edges and module clusters: walked, planned, placed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from ..core.tensor import Tensor
from ..graph import GraphView, view_graph
from . import labels as L
from .collapse import (
    Plan,
    PlanNode,
    ScopeInfo,
    is_scalar_constant,
    nodes_and_edges,
    plan_within_budget,
    scope_paths,
)
from .gradients import gradient_scale, picture_gradients
from .model import Cluster, Edge, Node
from .nodes import NodeMaker
from .options import Options


@dataclass(frozen=True)
class Part:
    """What one root's graph adds to a picture."""

    nodes: tuple[Node, ...]  # outside every module cluster
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...]
    notes: tuple[str, ...]  # what was collapsed, left out or not shown
    grad_source: str | None  # what ∇ means here (None: no gradients shown)
    grad_scale: float | None = None  # the median gradient rms the vanishing rule compares to


def build_part(root: Tensor, opts: Options, prefix: str, given: dict[int, str]) -> Part:
    """Walk `root`'s graph, plan it within the node budget, and make its model nodes."""
    view = view_graph([root], given)
    user_named = frozenset(k for k, t in enumerate(view.tensors)
                           if t.name or id(t) in given or id(t.data) in given)
    scopes = scope_paths(view)
    plan, notes = plan_within_budget(
        view, scopes, max_depth=opts.max_depth, max_nodes=opts.max_nodes,
        inline_constants=opts.inline_constants, min_chain=opts.min_chain,
        named=frozenset(k for k in user_named if view.tensors[k]._op is None))
    grads, source = picture_gradients(view, root, opts, notes)
    scale = gradient_scale(grads)
    maker = NodeMaker(view, scopes, plan, grads, opts, prefix, user_named, scale)
    drawn, links = nodes_and_edges(view, plan)
    uses = {tail: n for tail, n in Counter(tail for tail, _ in links).items()
            if n > SHARED_LEAF_USES and _is_leaf(view, tail)}
    members: dict[tuple, list[Node]] = {(): []}
    params: dict[tuple, list[int]] = {}
    order: list[tuple] = []  # module paths with a cluster, in first-seen order
    for node in drawn:
        path = place(view, scopes, plan, node)
        kind, i = node
        if kind == "v" and view.tensors[i]._op is None and view.tensors[i]._needs_grad:
            params.setdefault(path, []).append(i)
        for depth in range(1, len(path) + 1):
            if path[:depth] not in members:
                members[path[:depth]] = []
                order.append(path[:depth])
        made = maker.make(node)
        if node in uses:  # a widely read leaf: drawn at each of its uses
            made = replace(made, lines=(*made.lines, L.small(f"drawn at each of its {uses[node]} "
                                                            "uses")))
        members[path].append(made)
        for j in range(1, uses.get(node, 1)):
            members[path].append(replace(made, id=f"{made.id}_{j}"))
    children: dict[tuple, list[tuple]] = {}
    for path in order:
        children.setdefault(path[:-1], []).append(path)
    built: dict[tuple, Cluster] = {}
    for n, path in sorted(enumerate(order), key=lambda item: -len(item[1])):  # innermost first
        cls, qual = maker.module_name(path[-1])
        lines = [L.module_title(cls, qual, "  ")]
        if params.get(path):
            lines.append(L.small(maker.params_text(params[path], qual)))
        built[path] = Cluster(
            f"cluster_{prefix}m{n}", "module", f"{cls} {qual}" if qual else cls, tuple(lines),
            (f"module {cls} {qual!r}",), tuple(members[path]),
            clusters=tuple(built[c] for c in children.get(path, ())))
    seen: Counter = Counter()
    edges = []
    for (a, b), label in zip(links, operand_labels(view, plan, links)):
        tail = maker.node_id(a)
        if a in uses:
            seen[a] += 1
            tail = tail if seen[a] == 1 else f"{tail}_{seen[a] - 1}"
        edges.append(Edge(tail, maker.node_id(b), label))
    return Part(tuple(members[()]), tuple(edges), tuple(built[c] for c in children.get((), ())),
                tuple(notes), source, scale)


# A leaf read by more ops than this (a constant in a loop, the weight every step of an RNN reads)
# is drawn at each use, as unrolled networks are drawn: Graphviz's layout of one node with
# edges to many ranks grows steeply (40 uses of one leaf: 90 s; 80 crashed `dot`).
SHARED_LEAF_USES = 8


def _is_leaf(view: GraphView, node: PlanNode) -> bool:
    kind, k = node
    return kind == "v" and view.tensors[k]._op is None and k not in view.roots


def operand_labels(view: GraphView, plan: Plan, links: list) -> list[str | None]:
    """For each drawn edge into the op node of a non-commutative op, the operand it feeds
    ("a" / "b" of a - b; a repeated input once per argument; inlined constants have no edge)."""
    used: dict[int, set[int]] = {}
    out: list[str | None] = []
    for tail, head in links:
        kind, k = head
        names = L.operand_names(view.tensors[k]._op) if kind == "o" else ()
        taken = used.setdefault(k, set())
        feeds = [i for i, p in enumerate(view.parents[k]) if i not in taken
                 and plan.remap.get(plan.value_node(p), plan.value_node(p)) == tail]
        if not names or not feeds:
            out.append(None)
            continue
        taken.add(feeds[0])
        out.append(names[feeds[0]])
    return out


def place(view: GraphView, scopes: ScopeInfo, plan: Plan, node: PlanNode) -> tuple:
    """The module path of the cluster that holds `node` (() for the top level).

    Ops sit in the scope they ran in; a module's parameters and buffers (and scalar
    constants) sit in the deepest cluster that holds all the ops reading them; every other
    leaf (the network's input, targets, free parameters) is outside every cluster.
    """
    kind, i = node
    if kind == "g" or view.tensors[i]._op is not None:
        return _place_box_or_op(scopes, plan, node)
    if i not in scopes.owned and not is_scalar_constant(view.tensors[i]):
        return ()
    common: tuple | None = None
    for c in view.consumers[i]:
        cn = plan.op_node(c)
        p = _place_box_or_op(scopes, plan, plan.remap.get(cn, cn))
        if common is None:
            common = p
        else:
            n = 0
            while n < min(len(common), len(p)) and common[n] == p[n]:
                n += 1
            common = common[:n]
    return common or ()


def _place_box_or_op(scopes: ScopeInfo, plan: Plan, node: PlanNode) -> tuple:
    kind, i = node
    if kind == "g":
        grp = plan.groups[i]
        return _depth_cut(plan, grp.place) if grp.kind == "chain" else grp.place
    return _depth_cut(plan, scopes.paths[i])


def _depth_cut(plan: Plan, path: tuple) -> tuple:
    return path if plan.depth is None else path[:plan.depth]
