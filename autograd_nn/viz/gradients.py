"""Which gradients a picture shows, and how they mark and colour its nodes and boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.formatting import number_text
from ..core.tensor import Tensor
from ..graph import GradientsUnavailable, GraphView, node_gradients
from . import labels as L
from . import style, summary
from .model import Line
from .options import Options


def picture_gradients(view: GraphView, root: Tensor, opts: Options,
                      notes: list[str]) -> tuple[dict[int, np.ndarray], str | None]:
    """The gradient of each node shown (by position) and what they are (None: none shown).

    Computed d(root)/d(node) when asked and possible (else a note says why not), otherwise the
    leaves' `.grad`; no `.grad` is changed.
    """
    mode = opts.show_grads
    if mode is False:
        return {}, None
    tensors = view.tensors
    if mode in (True, "compute") and (mode == "compute" or root.requires_grad):
        try:
            by_id = node_gradients(root, opts.grad_seed)
        except GradientsUnavailable as err:
            if mode == "compute":
                raise GradientsUnavailable(f"draw_graph(show_grads='compute'): {err}") from None
            if opts.grad_seed is not None:  # the leaves' .grad would ignore the seed asked for
                raise GradientsUnavailable(f"draw_graph(grad_seed=...): {err}") from None
            notes.append(f"intermediate gradients not shown: {err}")
        else:
            grads = {k: g for k, t in enumerate(tensors) if (g := by_id.get(id(t))) is not None}
            what = "root" if root.size == 1 else "sum(root)"
            if opts.grad_seed is not None:
                what = "root · grad_seed"
            return grads, f"∇ = d({what})/d(node), computed for this picture (no .grad changed)"
    grads = {k: np.asarray(t.grad) for k, t in enumerate(tensors)
             if t._op is None and t.grad is not None}
    return grads, ("∇ = the leaves' .grad (accumulated by backward())" if grads else None)


def gradient_scale(grads: dict[int, np.ndarray]) -> float | None:
    """The median rms of a graph's non-zero finite gradients: what "far below the rest of the
    graph" is measured against (None when there is none)."""
    rms = [s.rms for s in (summary.stats(g) for g in grads.values())
           if not s.nonfinite and s.rms > 0]
    return float(np.median(rms)) if rms else None


def _far_below(rms: float, opts: Options, scale: float | None) -> bool:
    return bool(scale) and opts.vanish_relative > 0 and rms < opts.vanish_relative * scale


def node_flow(g: np.ndarray | None, value: np.ndarray, opts: Options,
              scale: float | None = None) -> tuple[float | None, bool, bool]:
    """(colour metric, vanishing, non-finite) of one node's gradient `g`; `scale` is the
    graph's `gradient_scale`."""
    if g is None:
        return None, False, False
    gs = summary.stats(g)
    if gs.nonfinite:
        return None, False, True
    v_rms = summary.stats(value).rms
    ratio = gs.rms / v_rms if v_rms > 0 else (0.0 if gs.rms == 0 else math.inf)
    vanishing = (gs.rms == 0 or (v_rms > 0 and ratio < opts.vanish_ratio)
                 or _far_below(gs.rms, opts, scale))
    metric = ratio if opts.color_by == "grad_ratio" else gs.rms
    return metric, vanishing, False


def fill_attrs(opts: Options, metric: float | None, vanishing: bool, nonfinite: bool,
               has_grad: bool) -> dict[str, str]:
    """Colour attributes of a node in the gradient-flow view."""
    if nonfinite:
        fill, attrs = style.NONFINITE_FILL, {"color": style.NONFINITE_BORDER, "penwidth": "3"}
    elif vanishing:
        fill, attrs = style.VANISH_FILL, {"color": style.VANISH_BORDER, "penwidth": "3"}
    elif not has_grad or metric is None:
        fill, attrs = style.NO_GRAD_FILL, {}
    else:
        lo, hi = opts.grad_range
        fill, attrs = style.scale_color(metric, lo, hi), {}
    attrs["fillcolor"] = fill
    attrs["fontcolor"] = style.text_color(fill)
    return attrs


@dataclass
class GroupFlow:
    """The gradients inside a box: label lines, tooltip lines, colours and marks."""

    lines: list[Line]
    tip: list[str]
    attrs: dict[str, str]
    metric: float | None  # gradient view: the smallest metric (it chose the colour)
    vanishing: bool  # marked vanishing
    nonfinite: bool


def group_flow(grads: dict[int, np.ndarray], view: GraphView, ks: Sequence[int],
               opts: Options, scale: float | None = None) -> GroupFlow | None:
    """Gradient range, marks and colour of a box from the gradients of tensors `ks`."""
    ks = [k for k in ks if k in grads]
    if not ks:
        return None
    g_rms, g_ok = summary.rms_many([grads[k] for k in ks])
    v_rms, _ = summary.rms_many([view.tensors[k].data for k in ks])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(v_rms > 0, g_rms / v_rms, np.where(g_rms == 0, 0.0, np.inf))
    nonfinite = not bool(g_ok.all())
    vanish = (g_rms == 0) | ((v_rms > 0) & (ratio < opts.vanish_ratio))
    if scale and opts.vanish_relative > 0:
        vanish |= g_rms < opts.vanish_relative * scale
    vanishing = bool(vanish[g_ok].any())
    metric = ratio if opts.color_by == "grad_ratio" else g_rms
    name = opts.metric_name
    finite_metrics = metric[g_ok & np.isfinite(metric)]
    flow = GroupFlow([], [], {}, None, False, nonfinite)
    lo = None
    if finite_metrics.size:
        lo, hi = float(finite_metrics.min()), float(finite_metrics.max())
        flow.lines.append(L.small(f"{name} {number_text(lo, 2)} … {number_text(hi, 2)}"))
        flow.tip.append(f"{name} from {number_text(lo, 4)} to {number_text(hi, 4)} over "
                        f"{len(ks)} tensors")
    if nonfinite:
        flow.lines.append(L.bold(style.NONFINITE_MARK))
        flow.tip.append(f"{int((~g_ok).sum())} of these gradients hold NaN/Inf")
    elif vanishing and opts.grad_view:
        flow.lines.append(L.bold(style.VANISH_MARK))
        flow.tip.append(f"{int(vanish.sum())} of these gradients vanish")
        flow.vanishing = True
    if opts.grad_view:
        flow.attrs = fill_attrs(opts, lo, vanishing, nonfinite, True)
        flow.metric = lo
    elif nonfinite:
        flow.attrs = {"color": style.NONFINITE_FILL, "penwidth": "3"}
    return flow
