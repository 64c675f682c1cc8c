"""What the explorer's panel shows for each step, as plain JSON-ready dicts of text."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.formatting import index_text, number_text, shape_text
from ..graph import GraphView
from ..viz import summary
from .layout import node_kind
from .plug import array_text, broadcasts_to, mixing, plug
from .replay import FiniteDifference, ReplayStep

VALUES_LIMIT = 64  # arrays up to this size are shown in full, larger ones summarised
FD_RTOL, FD_ATOL = 1e-4, 1e-8  # the finite-difference check agrees within atol + rtol * max|g|


def values_text(a: np.ndarray, digits: int = 6) -> str:
    """Every value (6 significant digits) of a small array; a summary and the first values of
    a large one."""
    a = np.asarray(a)
    if a.size <= VALUES_LIMIT:
        return array_text(a, digits)
    first = ", ".join(number_text(x, digits) for x in a.reshape(-1)[:8])
    return f"{summary.long(a)}\nfirst values (flattened): {first}, ..."


def _fd_text(check: FiniteDifference | None, size: int) -> dict[str, Any] | None:
    if check is None:
        return None
    limit = FD_ATOL + FD_RTOL * check.scale
    agrees = check.max_abs_diff <= limit
    rows = [f"{index_text(i)}: numeric {number_text(n, 6)}, autograd {number_text(a, 6)}"
            for i, n, a in zip(check.indices, check.numeric, check.autograd)]
    return {
        "summary": (f"central differences in float64 (eps {check.eps:g}) at "
                    f"{len(check.indices)} of {size} elements: max |numeric - autograd| = "
                    f"{number_text(check.max_abs_diff, 3)} "
                    f"({'agrees' if agrees else 'DIFFERS'}: the rule is <= "
                    f"{FD_ATOL:g} + {FD_RTOL:g} * max|grad| = {number_text(limit, 3)})"),
        "agrees": bool(agrees),
        "rows": rows,
    }


def forward_entry(view: GraphView, k: int, forward: dict[int, str]) -> dict[str, Any]:
    t = view.tensors[k]
    kind = node_kind(view, k)
    made = forward.get(k) or f"{view.names[k]} is " + (
        "a parameter (a leaf that requires grad)" if kind == "param" else "an input (no grad)")
    return {"phase": "forward", "k": k, "name": view.names[k], "kind": kind,
            "title": made, "shape": f"{shape_text(t.shape)} {t.dtype}",
            "value": values_text(t.data)}


def backward_entry(view: GraphView, step: ReplayStep, forward: dict[int, str],
                   values: dict[str, np.ndarray], root: str) -> dict[str, Any]:
    """The arriving gradient, explain's rule with numbers plugged in, the contributions (when
    the node is read more than once) and the finite-difference check."""
    k, s, g = step.k, step.explained, step.grad
    t = view.tensors[k]
    shape = tuple(t.shape)
    # a rule made of elementwise rows (read from the rows, see `mixing`) is written out at the
    # element of the largest |gradient|; one that mixes elements is shown for the whole array
    idx, scope = None, ""
    if g.ndim:
        reasons = mixing(view, k)
        if reasons:
            scope = f"{'; '.join(reasons)}: shown for the whole array"
        elif broadcasts_to(s.formula, values, view.names, root, shape):
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(g))), g.shape))
            if g.size > 1:
                scope = "elementwise: shown at the element of the largest |gradient|"
        else:  # not expected of elementwise rows; the whole array is always right
            scope = "shown for the whole array"
    plugged = plug(s.formula, values, view.names, root, shape, idx)
    notes = [plug(n, values, view.names, root, shape, idx) for n in s.notes]
    at = f" at {index_text(idx)}" if idx is not None and g.size > 1 else ""
    result = np.asarray(g)[idx] if idx is not None else g
    contributions = [{"consumer": c.consumer + (f" (as its {c.operand})" if c.operand else ""),
                      "term": c.term,
                      "value": values_text(c.value),
                      "norm": number_text(float(np.linalg.norm(c.value.astype(np.float64))), 3)}
                     for c in step.contributions]
    return {
        "phase": "backward", "k": k, "name": s.name, "kind": node_kind(view, k),
        "rule_label": rule_label(view, k, forward, root),
        "title": f"{s.lhs} = ?", "shape": f"{shape_text(t.shape)} {t.dtype}",
        "forward": forward.get(k, ""),
        "grad": values_text(g), "norm": f"|g| = {s.grad_norm:.3g}",
        "rule": s.line, "expanded": (f"{s.lhs} = {s.expanded}"
                                     if s.expanded and s.expanded != s.formula else ""),
        "notes": [f"where {n}" for n in s.notes],
        "plugged": f"{s.lhs}{at} = {plugged} = {values_text(result, 4)}",
        "scope": scope,
        "plugged_notes": [f"where {n}" for n in notes],
        "contributions": contributions,
        "fd": _fd_text(step.check, t.size),
    }


def rule_label(view: GraphView, k: int, forward: dict[int, str], root: str) -> str:
    """Whose rule the panel shows at node k: the gradient of a value comes from the rules of the
    ops that read it (at h1, z2 = dot(h1, weights2)'s rule for its input h1), not from the op
    that made it (h1's own sigmoid rule sends the gradient on, at the next step)."""
    name = view.names[k]
    if not view.consumers[k]:
        return f"the start of the backward pass: d{root}/d{root} = 1 (the seed)"
    readers = list(dict.fromkeys(view.consumers[k]))  # an op reading it twice counts once
    owned = "; ".join(forward.get(c) or view.names[c] for c in readers)
    if len(readers) == 1:
        label = f"local rule of {owned}, the op that reads {name}: its rule for input {name}"
    else:
        label = (f"local rules of the {len(readers)} ops that read {name} ({owned}): each "
                 f"one's rule for input {name}, summed")
    op = view.tensors[k]._op
    onward = list(dict.fromkeys(view.names[p] for p in view.parents[k]
                                if view.tensors[p].requires_grad))
    if op is not None and onward:
        label += (f". {name}'s own op ({op.name}) applies its rule at the step of "
                  f"{' and '.join(onward)}")
    return label + " (as ag.explain writes it)"
