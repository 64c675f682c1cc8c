"""Reasoning over the parameters together: which gradients share a mistake, and where it enters.

`compare_grads` fits `hand-written = ratio * autograd` per parameter; this module groups the
parameters by what they found. A sign or factor is a convention only when every parameter
shares it. Parameters that share one ratio (W1 and b1, or everything below a layer) inherit one
error that enters upstream of all of them: with the loss graph (`compare_backprop` records it)
the candidates are the nodes whose gradient every one of those parameters' gradients passes
through and no matching parameter's does; without it, the layer their names share. A parameter
alone with its ratio has the mistake in its own formula ("only W1 ..." is said only then).
Gradients that differ by no constant cannot tell their kind; the verdict says so and shows the
`compare_intermediates` call that would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.formatting import number_text
from ..core.tensor import Tensor
from ..graph import user_names, view_graph
from .diagnosis import (
    ACCUMULATION,
    ACTIVATION,
    AXIS,
    CONVENTION,
    FACTOR,
    MEAN_VS_SUM,
    SHAPE,
    SIGN,
    TRANSPOSED,
    UNKNOWN,
    Diagnosis,
    names_text,
    node_ratio_kind,
    read_scale,
)

__all__ = ["GraphStructure", "diagnose_params", "graph_structure", "layer_of"]


@dataclass
class GraphStructure:
    """The loss graph as far as parameters go: for each node that needs a gradient (backward
    order, root first) the parameters it depends on."""

    order: list[str]
    ancestors: dict[str, frozenset[str]]
    params: frozenset[str]
    root: str
    readers: dict[str, int]  # parameter -> how many op inputs read it

    def candidates(self, group: set[str], bad: set[str]) -> list[str]:
        """Nodes whose gradient reaches every parameter of `group` and only parameters of
        `bad`: where an error inherited by `group` (and by nothing that matches) may enter."""
        return [n for n in self.order if n != self.root and group <= self.ancestors[n] <= bad]


def graph_structure(loss: Any, params: Mapping[str, Any]) -> GraphStructure | None:
    """The structure of `loss`'s graph over `params` (a dict name -> Tensor), or None."""
    if not isinstance(loss, Tensor) or loss.op is None:
        return None
    try:
        view = view_graph([loss], user_names(dict(params)))
    except Exception:  # noqa: BLE001  (a graph we cannot walk: reason without it)
        return None
    by_id = {id(v): str(k) for k, v in params.items() if isinstance(v, Tensor)}
    anc: list[frozenset[str]] = []
    readers: dict[str, int] = {}
    for k, t in enumerate(view.tensors):
        own = {by_id[id(t)]} if id(t) in by_id else set()
        anc.append(frozenset(own.union(*(anc[p] for p in view.parents[k]))))
        if own:
            readers[next(iter(own))] = len(view.consumers[k])
    keep = [k for k, t in enumerate(view.tensors) if t.requires_grad]
    order = [view.names[k] for k in reversed(keep)]
    return GraphStructure(order, {view.names[k]: anc[k] for k in keep},
                          frozenset(by_id.values()), view.names[view.roots[0]], readers)


def layer_of(name: str) -> str | None:
    """The layer a parameter belongs to: its module path ("layers.0" of "layers.0.weight"),
    or the number ending its name ("1" of "W1", "b1", "weights1")."""
    if "." in name:
        return name.rsplit(".", 1)[0]
    m = re.search(r"(\d+)$", name)
    return m.group(1) if m else None


def _common_layer(names: list[str]) -> str | None:
    layers = {layer_of(n) for n in names}
    return layers.pop() if len(layers) == 1 and None not in layers else None


def _d(names: list[str]) -> list[str]:
    return [f"dL/d{n}" for n in names]


def _named(nodes: list[str]) -> list[str]:
    """The nodes a hand-written backprop can have: those not auto-named t1, t2, ... (all of
    them when every one is)."""
    named = [n for n in nodes if not re.fullmatch(r"t\d+", n)]
    return named or nodes


def _settle(nodes: list[str]) -> str:
    keys = ", ".join(f'"d{n}": your_d{n}' for n in _named(nodes))
    return f"ag.compare_intermediates(loss, {{{keys}}}, params)"


def _where(cands: list[str], group: list[str], structure: GraphStructure | None) -> str:
    """'at dL/dz1 or dL/dh1 (layer 1)' / 'in layer 1' / 'upstream of W1 and W2'."""
    layer = _common_layer(group)
    lay = f" (layer {layer})" if layer else ""
    if cands:
        shown = _named(cands)
        shown = shown if len(shown) <= 6 else shown[:3] + ["..."] + shown[-2:]
        return f"at {names_text(_d(shown), 'or')}{lay}"
    if structure is None and layer:
        return f"in layer {layer}, where {names_text(group)}'s gradients meet"
    return f"upstream of {names_text(group)}, at a node all their gradients pass through"


def diagnose_params(rows: list, structure: GraphStructure | None, batch_size: int | None,
                    loss_kind: str | None) -> list[Diagnosis]:
    """Group the parameters by what they found; one Diagnosis per group that differs. Sets
    each row's `local` text where its mistake is its own or its group's."""
    compared = [r for r in rows if not (r.missing or r.extra)]
    bad = [r for r in compared if not r.match]
    if not bad:
        return []
    bad_set = {r.name for r in bad}
    matching = [r.name for r in compared if r.match]

    def cands(group: list[str]) -> list[str]:
        if structure is None or not set(group) <= structure.params:
            return []
        return structure.candidates(set(group), bad_set & structure.params)

    plain = [r for r in bad if r.ratio is not None and not r.transposed and r.finite]
    if len(compared) > 0 and len(plain) == len(compared) and all(
            abs(r.ratio - plain[0].ratio) <= 1e-6 * abs(plain[0].ratio) for r in plain):
        return [_shared(plain, cands([r.name for r in plain]), structure, batch_size,
                        loss_kind)]
    out: list[Diagnosis] = []
    groups: list[list] = []
    for r in plain:
        for g in groups:
            if abs(r.ratio - g[0].ratio) <= 1e-6 * abs(g[0].ratio):
                g.append(r)
                break
        else:
            groups.append([r])
    attributed: set[str] = set()
    unknown = [r for r in bad if r not in plain and not r.transposed and not r.shape_mismatch]
    for g in groups:
        names = [r.name for r in g]
        c = cands(names)
        mixed = []
        if structure is not None and c:
            reach = set().union(*(structure.ancestors[n] for n in c))
            mixed = [r.name for r in unknown if r.name in reach and r.name not in attributed]
            attributed.update(mixed)
        out.append(_group(g, c, mixed, matching, structure, batch_size))
    for r in bad:
        if r.transposed:
            out.append(Diagnosis(TRANSPOSED, r.name, (r.name,), ratio=r.ratio, text=(
                f"{r.name}: the hand-written gradient is autograd's transposed"
                + ("" if r.ratio is None or abs(r.ratio - 1) <= 1e-6
                   else f" times {number_text(r.ratio, 6)}")
                + ": the error is in its own formula (swap the matmul's operands or add .T)")))
        elif r.shape_mismatch:
            reshaped = r.shape is not None and r.autograd_shape is not None and \
                _size(r.shape) == _size(r.autograd_shape)
            kind = SHAPE if reshaped else AXIS
            text = (f"{r.name}: only the shape is off ({r.shape} for {r.autograd_shape})"
                    if reshaped else
                    f"{r.name}: shape {r.shape} where the parameter is {r.autograd_shape}: "
                    "a sum over the wrong axis, or none over the batch axis, in its own "
                    "formula (sum the incoming gradient over the axes the forward broadcast)")
            out.append(Diagnosis(kind, r.name, (r.name,), text=text))
    rest = [r for r in unknown if r.name not in attributed]
    if rest:
        out.append(_unknown(rest, cands([r.name for r in rest]), structure))
    return out


def _size(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _shared(rows: list, c: list[str], structure: GraphStructure | None, batch_size: int | None,
            loss_kind: str | None) -> Diagnosis:
    ratio = rows[0].ratio
    kind, expr, n = read_scale(ratio, batch_size, loss_kind)
    every = "every parameter" if len(rows) > 1 else rows[0].name
    head = f"{every} is {expr} x autograd's"
    top = c[0] if c else None
    where = _where(c, [r.name for r in rows], structure)
    settle = _settle(c) if c else None
    alternatives: tuple[str, ...] = ()
    if kind == CONVENTION:
        alternatives = (SIGN,) if ratio < 0 and abs(abs(ratio) - 1) <= 1e-6 else (
            (FACTOR, SIGN) if ratio < 0 else (FACTOR,))
        what = []
        if ratio < 0:
            what.append("the gradient-ascent convention (the negative gradient, e.g. computed "
                        "from (y - output), then added to the weights)")
        if abs(abs(ratio) - 1) > 1e-6:
            what.append(f"the 0.5 of a 0.5*sum loss ({expr.lstrip('-')})")
        text = (f"{head}: {' and '.join(what)}: a convention, not a bug. If it is not what you "
                f"meant, a slip sits upstream of {'every parameter' if len(rows) > 1 else 'it'}"
                + (f", {where}" if c else "")
                + (f"; {settle} tells which node" if settle else "") + ".")
        node = None
    elif kind == MEAN_VS_SUM:
        text = (f"{head}: mean vs sum: a 1/N with N = {n}, the batch size (the rows the loss "
                f"averages), is {'missing' if abs(ratio) > 1 else 'extra'} upstream of "
                f"{every}, where the loss's gradient is computed ({where})")
        node = top
    else:
        text = (f"{head}: a constant factor entering upstream of {every} ({where}); not a "
                "convention of the loss's reduction" + (
                    ", and the opposite sign (gradient ascent?)" if ratio < 0 else ""))
        node = top
    return Diagnosis(kind, node, tuple(c), tuple(r.name for r in rows), ratio, expr, n,
                     _common_layer([r.name for r in rows]), True, alternatives, text, settle)


def _group(g: list, c: list[str], mixed: list[str], matching: list[str],
           structure: GraphStructure | None, batch_size: int | None) -> Diagnosis:
    ratio = g[0].ratio
    kind, expr, n = node_ratio_kind(ratio, batch_size)
    names = [r.name for r in g]
    what = ("the opposite sign" if kind == SIGN
            else ("the opposite sign and " if ratio < 0 else "") + f"a factor {expr.lstrip('-')}"
            + (" (mean vs sum: a 1/N of the batch size)" if kind == MEAN_VS_SUM else ""))
    layer = _common_layer(names)
    same = [m for m in matching if layer is not None and layer_of(m) == layer]
    if same:
        others = f"; {', '.join(same)} in the same layer {'match' if len(same) > 1 else 'matches'}"
    elif matching:
        others = f"; {', '.join(matching)} {'match' if len(matching) > 1 else 'matches'}"
    else:
        others = ""
    settle = None
    if mixed and structure is not None:  # others show it too: it enters above them all
        c = [n for n in c if set(mixed) <= structure.ancestors[n]] or c
    if len(g) == 1 and not mixed:
        r = g[0]
        why = ("the gradient-ascent convention would flip every parameter" if kind == SIGN else
               "a loss-reduction convention, sum vs mean or a 0.5, would scale every parameter "
               "alike")
        text = (f"only {r.name} has {what}{others}: a local derivative error in {r.name}'s own "
                f"formula, not a convention ({why})")
        r.local = text
        if kind != SIGN:
            r.factor_readings = []
            r.notes = [x for x in r.notes if "readings of the factor fit" not in x]
        node, inherited = r.name, ()
    else:
        where = _where(c, names, structure)
        node = c[0] if len(c) == 1 else None
        settle = _settle(c) if len(c) > 1 else None
        text = (f"{names_text(names)} share {what} ({expr} x autograd's){others}: the error "
                f"enters {where}; {names_text(names)} inherit it"
                + (f" ({names_text(mixed)} mix{'' if len(mixed) > 1 else 'es'} it with right "
                   "contributions through another path)" if mixed else "")
                + " — not a convention (a convention would scale every parameter alike)"
                + (f"; {settle} tells which node" if settle else ""))
        for r in g:
            r.local = (f"shares {what} with {names_text([n for n in names if n != r.name])}: "
                       f"inherited from an error that enters {where} (see the diagnosis)")
            r.factor_readings = []
            r.notes = [x for x in r.notes if "readings of the factor fit" not in x]
        inherited = tuple(names + mixed)
    return Diagnosis(kind, node, tuple(c) if c else ((node,) if node else ()), inherited, ratio,
                     expr, n, layer, True, (), text, settle)


def _unknown(rows: list, c: list[str], structure: GraphStructure | None) -> Diagnosis:
    names = [r.name for r in rows]
    alternatives = (ACTIVATION, ACCUMULATION, AXIS)
    if structure is not None and len(names) == 1 and structure.readers.get(names[0], 0) > 1:
        alternatives = (ACCUMULATION, ACTIVATION, AXIS)
    where = _where(c, names, structure)
    nodes = [n for n in c if n not in names] or c
    settle = _settle(nodes) if nodes else None
    verb = "differs" if len(names) == 1 else "differ"
    text = (f"{names_text(names)} {verb} from autograd by no constant factor: the error enters "
            f"{where}; its kind can't be read from the parameter gradients alone (a derivative "
            "taken at the wrong value, a missing contribution, a sum over the wrong axis, ...)"
            + (f"; {settle} settles it" if settle else
               "; ag.compare_intermediates(loss, your_node_gradients) settles it"))
    node = c[0] if len(c) == 1 else None
    upstream = any(n not in names for n in c)  # else the error may be the parameter's own
    return Diagnosis(UNKNOWN, node, tuple(c), tuple(names) if upstream else (),
                     layer=_common_layer(names),
                     kind_known=False, alternatives=alternatives, text=text, settle=settle)
