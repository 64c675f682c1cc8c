"""Colours, shapes and the legend of graph pictures (one place to restyle them)."""

from __future__ import annotations

import math

FONT = "Helvetica,Arial,sans-serif"
EDGE_COLOR = "#606060"
CLUSTER_COLOR = "#7a7a7a"
CLUSTER_FILL = "#f7f7f7"

# defaults of the whole picture
GRAPH = {"fontname": FONT, "fontsize": "11", "nodesep": "0.25", "ranksep": "0.3",
         "bgcolor": "white"}
NODE = {"fontname": FONT, "fontsize": "11", "margin": "0.1,0.04"}
EDGE = {"color": EDGE_COLOR, "arrowsize": "0.6"}

# cluster kind -> DOT attributes: a module's frame, one graph of draw_graphs, the legend
CLUSTERS: dict[str, dict[str, str]] = {
    "module": {"style": "rounded,filled", "color": CLUSTER_COLOR, "fillcolor": CLUSTER_FILL,
               "labeljust": "l", "fontname": FONT},
    "graph": {"labelloc": "t", "labeljust": "l", "style": "rounded", "color": "#999999",
              "fontname": FONT},
    "legend": {"style": "rounded", "color": "#bbbbbb", "fontname": FONT, "fontsize": "10",
               "labeljust": "l", "margin": "6"},
}
OPERAND_LABEL = {"fontsize": "9", "fontcolor": "#1f4e9a"}  # "a" / "b" on a - b's edges
LEGEND_SAMPLE = {"fontsize": "9", "height": "0.3", "margin": "0.06,0.02"}

# node kind -> DOT attributes (default view)
KINDS: dict[str, dict[str, str]] = {
    "param": {"shape": "box", "style": "filled", "fillcolor": "#fdd49e", "color": "#b35806"},
    "input": {"shape": "box", "style": "filled,dashed", "fillcolor": "#eeeeee", "color": "#555555"},
    "value": {"shape": "box", "style": "filled,rounded", "fillcolor": "#deebf7",
              "color": "#4a6f96"},
    "output": {"shape": "box", "style": "filled,rounded,bold", "fillcolor": "#c7e9c0",
               "color": "#238b45", "peripheries": "2"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#fff7bc", "color": "#8c6d1f",
           "fontsize": "10", "margin": "0.05,0.02", "height": "0.3"},
    "chain": {"shape": "box3d", "style": "filled", "fillcolor": "#e0e0e0", "color": "#444444"},
    "module": {"shape": "component", "style": "filled", "fillcolor": "#e5d8f0",
               "color": "#54278f"},
    "hidden": {"shape": "note", "style": "filled", "fillcolor": "#ffffcc", "color": "#777777"},
}

KIND_TITLES = {
    "param": "parameter",
    "input": "input / constant",
    "value": "intermediate",
    "output": "output",
    "op": "op",
}

# gradient-flow view: log10 scale from small (dark blue) to large (light yellow)
SCALE = ["#081d58", "#253494", "#225ea8", "#1d91c0", "#41b6c4", "#7fcdbb", "#c7e9b4",
         "#edf8b1"]
NO_GRAD_FILL = "#ffffff"
OP_FILL_GRAD_VIEW = "#f5f5f5"  # ops carry no gradient of their own: pale grey in that view
VANISH_FILL = "#d9d9d9"
VANISH_BORDER = "#e7298a"
NONFINITE_FILL = "#ff2d2d"
NONFINITE_BORDER = "#000000"
NONFINITE_MARK = "⚠ NaN/Inf"
VANISH_MARK = "▼ vanishing"


def text_color(fill: str) -> str:
    """Black or white text, whichever reads better on `fill` (#rrggbb)."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return "#000000" if luminance > 140 else "#ffffff"


def scale_color(value: float, lo: float, hi: float) -> str:
    """Colour for a positive `value` on a log10 scale from `lo` to `hi` (clamped)."""
    llo, lhi = math.log10(lo), math.log10(hi)
    x = (math.log10(value) - llo) / (lhi - llo) if value > 0 else 0.0
    i = int(math.floor(min(max(x, 0.0), 0.999999) * len(SCALE)))
    return SCALE[i]


def scale_ticks(lo: float, hi: float) -> list[str]:
    """Labels of the colour-bar bin edges (powers of ten, rounded)."""
    llo, lhi = math.log10(lo), math.log10(hi)
    n = len(SCALE)
    return [f"1e{round(llo + (lhi - llo) * i / n):+d}".replace("+", "") for i in range(n + 1)]
