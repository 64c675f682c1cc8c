"""Deciding what a picture draws: module clusters, collapsed modules and chains, a node budget.

A plan maps every element of the walked graph (the value node and the op node of each tensor) to
what is drawn for it: the element itself, a group box (a collapsed module, a collapsed chain, or
the "not shown" box of a truncated graph), or nothing (a scalar constant written into its op's
label). Everything here is a loop over lists: no recursion, linear in the graph size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..core import engine
from ..graph import GraphView

DRAWN = -1
NOT_DRAWN = -2

PlanNode = tuple  # ("v", k) value node, ("o", k) op node, ("g", gid) group box


@dataclass
class ScopeInfo:
    """Module scopes seen in the graph: key -> (qualified name, module object)."""

    paths: list[tuple]  # per tensor: tuple of scope keys (outermost first), () outside modules
    entries: dict[tuple, tuple[str, object]]
    owned: set[int] = field(default_factory=set)  # positions of leaves that are module
    # parameters or buffers: only these (and scalar constants) belong inside a module cluster


def _module_tensors(obj: object) -> list:
    """The parameters and buffers of a module object (none for other scope entries)."""
    out: list = []
    for attr in ("parameters", "buffers"):
        method = getattr(obj, attr, None)
        if callable(method):
            try:
                out += list(method())
            except Exception:  # noqa: BLE001  (a foreign scope object: draw it without)
                pass
    return out


def scope_paths(w: GraphView) -> ScopeInfo:
    """The module path of every op, with keys that never appear in the output."""
    cache: dict[int, tuple] = {}
    entries: dict[tuple, tuple[str, object]] = {}
    paths: list[tuple] = []
    for t in w.tensors:
        scope = t._scope if t._op is not None else None
        if not scope:
            paths.append(())
            continue
        sid = id(scope)
        path = cache.get(sid)
        if path is None:
            keys = []
            for entry in scope:
                if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
                    qual, obj = entry
                else:
                    qual, obj = str(entry), None
                key = (qual, id(obj))
                entries.setdefault(key, (qual, obj))
                keys.append(key)
            path = tuple(keys)
            cache[sid] = path
        paths.append(path)
    owned_ids = {id(t) for _, obj in entries.values() for t in _module_tensors(obj)}
    owned = {k for k, t in enumerate(w.tensors) if t._op is None and id(t) in owned_ids}
    return ScopeInfo(paths, entries, owned)


@dataclass
class Group:
    """A box standing for several elements."""

    kind: str  # "module", "chain" or "hidden"
    key: tuple  # module path for "module" groups, else ()
    place: tuple  # module path of the cluster that holds the box
    ops: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)  # hidden values, including absorbed leaves


@dataclass
class Plan:
    vrep: list[int]
    orep: list[int]
    groups: list[Group]
    inlined: dict[int, list[int]]  # op position -> constant positions written into its label
    depth: int | None  # module depth drawn as clusters (None: all)
    chains: bool
    # truncation: node -> the "not shown" box
    remap: dict[PlanNode, PlanNode] = field(default_factory=dict)
    hidden_nodes: int = 0

    def value_node(self, k: int) -> PlanNode | None:
        r = self.vrep[k]
        if r == DRAWN:
            return ("v", k)
        if r == NOT_DRAWN:
            return None
        return ("g", r)

    def op_node(self, k: int) -> PlanNode | None:
        r = self.orep[k]
        if r == DRAWN:
            return ("o", k)
        if r == NOT_DRAWN:
            return None
        return ("g", r)


def is_scalar_constant(t) -> bool:
    """An unnamed one-element leaf without grad (a Python number such as the 0.5 of x * 0.5)."""
    return t._op is None and not t._needs_grad and t.name is None and t.data.size == 1


def make_plan(
    w: GraphView,
    scopes: ScopeInfo,
    *,
    depth: int | None,
    chains: bool,
    inline_constants: bool,
    min_chain: int,
    named: frozenset[int] = frozenset(),
) -> Plan:
    """Plan with modules deeper than `depth` collapsed and, if `chains`, linear chains boxed.

    `named`: positions of leaves the user named (never hidden inside a chain box).
    """
    n = len(w.tensors)
    vrep = [DRAWN] * n
    orep = [NOT_DRAWN] * n
    groups: list[Group] = []
    inlined: dict[int, list[int]] = {}
    roots = set(w.roots)
    tensors, consumers, paths = w.tensors, w.consumers, scopes.paths

    for k, t in enumerate(tensors):
        if t._op is not None:
            orep[k] = DRAWN
        elif (inline_constants and not t._needs_grad and t.name is None and t.data.size == 1
              and consumers[k] and k not in roots):  # written into each op that reads it
            vrep[k] = NOT_DRAWN
            for c in dict.fromkeys(consumers[k]):
                inlined.setdefault(c, []).append(k)

    # 1. modules deeper than `depth` become one box each
    if depth is not None:
        by_key: dict[tuple, int] = {}
        for k, t in enumerate(tensors):
            path = paths[k]
            if t._op is None or len(path) <= depth:
                continue
            key = path[:depth + 1]
            g = by_key.get(key)
            if g is None:
                g = by_key[key] = len(groups)
                groups.append(Group("module", key, key[:-1]))
            groups[g].ops.append(k)
            orep[k] = g
            if k not in roots:
                vrep[k] = g
                groups[g].values.append(k)
        _absorb_leaves(w, vrep, orep, groups, first=0,
                       absorbable=lambda k: k in scopes.owned or is_scalar_constant(tensors[k]))

    # 2. linear chains (each op's output read once, by the next op, in the same scope)
    if chains:
        link = [-1] * n
        has_pred = [False] * n
        for k, t in enumerate(tensors):
            if orep[k] != DRAWN or k in roots or t.name is not None:
                continue
            cs = consumers[k]
            if len(cs) == 1 and orep[cs[0]] == DRAWN and paths[cs[0]] == paths[k]:
                link[k] = cs[0]
        n_pred = [0] * n
        for k in range(n):
            if link[k] >= 0:
                n_pred[link[k]] += 1
        for k in range(n):  # an op where several chains meet joins none of them
            c = link[k]
            if c >= 0:
                if n_pred[c] > 1:
                    link[k] = -1
                else:
                    has_pred[c] = True
        first_chain = len(groups)
        for k in range(n):
            if link[k] < 0 or has_pred[k]:
                continue
            run = [k]
            while link[run[-1]] >= 0:
                run.append(link[run[-1]])
            if len(run) < min_chain:
                continue
            g = len(groups)
            grp = Group("chain", (), paths[k])
            groups.append(grp)
            for j in run:
                orep[j] = g
                grp.ops.append(j)
            for j in run[:-1]:
                vrep[j] = g
                grp.values.append(j)
        _absorb_leaves(w, vrep, orep, groups, first=first_chain,
                       absorbable=lambda k: not tensors[k]._needs_grad and k not in named)

    return Plan(vrep, orep, groups, inlined, depth, chains)


def _absorb_leaves(w: GraphView, vrep, orep, groups, *, first: int, absorbable) -> None:
    """Leaves read only inside one group (from `first` on) disappear into it, when
    `absorbable(position)`: a module box takes its own parameters and buffers, never the
    network's input (that keeps its edge into the box)."""
    for k, t in enumerate(w.tensors):
        if t._op is not None or vrep[k] != DRAWN or not absorbable(k):
            continue
        cs = w.consumers[k]
        if not cs:
            continue
        g = orep[cs[0]]
        if g < first or any(orep[c] != g for c in cs):
            continue
        vrep[k] = g
        groups[g].values.append(k)


def nodes_and_edges(
    w: GraphView, plan: Plan
) -> tuple[list[PlanNode], list[tuple[PlanNode, PlanNode]]]:
    """Drawn nodes in walk order and the edges between them (group edges deduplicated)."""
    remap = plan.remap
    seen: set[PlanNode] = set()
    nodes: list[PlanNode] = []
    edges: list[tuple[PlanNode, PlanNode]] = []
    seen_edges: set[tuple[PlanNode, PlanNode]] = set()

    def add_node(node: PlanNode | None) -> PlanNode | None:
        if node is None:
            return None
        node = remap.get(node, node)
        if node not in seen:
            seen.add(node)
            nodes.append(node)
        return node

    def add_edge(a: PlanNode | None, b: PlanNode | None) -> None:
        if a is None or b is None or a == b:
            return
        if a[0] == "g" or b[0] == "g":
            if (a, b) in seen_edges:
                return
            seen_edges.add((a, b))
        edges.append((a, b))

    for k, t in enumerate(w.tensors):
        if t._op is None:
            add_node(plan.value_node(k))
            continue
        op = add_node(plan.op_node(k))
        for p in w.parents[k]:
            add_edge(remap.get(plan.value_node(p), plan.value_node(p)), op)
        add_edge(op, add_node(plan.value_node(k)))
    return nodes, edges


def count_nodes(plan: Plan) -> int:
    """How many nodes `plan` draws (before truncation): every element drawn itself, plus boxes."""
    used = {r for r in plan.vrep if r >= 0} | {r for r in plan.orep if r >= 0}
    return plan.vrep.count(DRAWN) + plan.orep.count(DRAWN) + len(used)


def truncate(w: GraphView, plan: Plan, budget: int) -> None:
    """Keep the `budget - 1` nodes nearest the roots; the rest become one "not shown" box."""
    nodes, edges = nodes_and_edges(w, plan)
    if len(nodes) <= budget:
        return
    preds: dict[PlanNode, list[PlanNode]] = {}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
    keep: set[PlanNode] = set()
    queue: deque[PlanNode] = deque()
    for r in w.roots:
        node = plan.value_node(r)
        if node is not None and node not in keep:
            keep.add(node)
            queue.append(node)
    # Breadth first from the output, taking at most `fan` inputs of each node: a wide fan-in
    # (a sum of thousands of terms) shows a few of its terms and leaves room for depth.
    fan = max(3, budget // 25)
    while queue and len(keep) < budget - 1:
        node = queue.popleft()
        for p in preds.get(node, ())[:fan]:
            if p not in keep and len(keep) < budget - 1:
                keep.add(p)
                queue.append(p)
    hidden_gid = len(plan.groups)
    hidden = Group("hidden", (), ())
    plan.groups.append(hidden)
    box: PlanNode = ("g", hidden_gid)
    for node in nodes:
        if node not in keep:
            plan.remap[node] = box
            plan.hidden_nodes += 1
            kind, i = node
            if kind == "o":
                hidden.ops.append(i)
            elif kind == "v":
                hidden.values.append(i)
            else:
                hidden.ops.extend(plan.groups[i].ops)
                hidden.values.extend(plan.groups[i].values)


def plan_within_budget(
    w: GraphView,
    scopes: ScopeInfo,
    *,
    max_depth: int | None,
    max_nodes: int,
    inline_constants: bool,
    min_chain: int,
    named: frozenset[int] = frozenset(),
) -> tuple[Plan, list[str]]:
    """The least-collapsed plan that fits `max_nodes`, and notes saying what was collapsed."""
    kw = {"inline_constants": inline_constants, "min_chain": min_chain, "named": named}
    plan = make_plan(w, scopes, depth=max_depth, chains=False, **kw)
    if count_nodes(plan) > max_nodes:
        plan = make_plan(w, scopes, depth=max_depth, chains=True, **kw)
        deepest = max((len(p) for p in scopes.paths), default=0)
        depth = deepest if max_depth is None else min(max_depth, deepest)
        while count_nodes(plan) > max_nodes and depth > 0:
            depth -= 1
            plan = make_plan(w, scopes, depth=depth, chains=True, **kw)
        if count_nodes(plan) > max_nodes:
            truncate(w, plan, max_nodes)
    return plan, describe(w, plan, max_depth, max_nodes, scopes)


def _module_title(scopes: ScopeInfo | None, key: tuple) -> str:
    qual, obj = scopes.entries.get(key, (str(key[0]), None)) if scopes else (str(key[0]), None)
    cls = type(obj).__name__ if obj is not None else "scope"
    return f"{cls} {qual}" if qual else cls


def describe(w: GraphView, plan: Plan, max_depth: int | None, max_nodes: int,
             scopes: ScopeInfo | None = None) -> list[str]:
    """Human-readable notes on what the picture collapsed or left out."""
    notes = []
    n_ops = sum(1 for t in w.tensors if t._op is not None)
    n_leaves = sum(1 for t in w.tensors if t._op is None and not is_scalar_constant(t))
    chains = [g for g in plan.groups if g.kind == "chain"]
    modules = [g for g in plan.groups if g.kind == "module"]
    if chains:
        ops = sum(len(g.ops) for g in chains)
        notes.append(f"{len(chains)} linear chain(s) of {ops} ops in total drawn as ×N boxes")
    if modules:
        ops = sum(len(g.ops) for g in modules)
        auto = (f" (max_depth={max_depth})" if plan.depth == max_depth
                else f" (automatically, to fit max_nodes={max_nodes})")
        titles = [_module_title(scopes, g.key[-1]) for g in modules]
        shown = ", ".join(titles[:4]) + (f", … {len(titles) - 4} more" if len(titles) > 4 else "")
        notes.append(
            f"{len(modules)} module(s) collapsed into one box each{auto}: {shown} ({ops} ops)"
        )
    if plan.hidden_nodes:
        notes.append(
            f"{plan.hidden_nodes} more nodes farthest from the output not shown "
            f"(node budget max_nodes={max_nodes})"
        )
    if notes:
        notes.insert(0, f"graph of {n_ops} ops and {n_leaves} leaves")
    if w.released:
        notes.append(
            f"{len(w.released)} op node(s) had their inputs released by backward(); the graph "
            "above them is not shown (backward() keeps the structure of a graph of at most "
            f"{engine.KEEP_NODES:,} nodes and {engine.KEEP_BYTES // 2**20} MiB of values, until "
            "the thread's next backward(); backward(retain_graph=True) keeps all of it)"
        )
    return notes
