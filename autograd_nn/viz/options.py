"""The options of `draw_graph` and `draw_graphs`, checked once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_SHOW_GRADS = (True, False, "compute", "leaves")
_COLOR_BY = (None, "grad", "grad_ratio")
PANEL_NAME_CHARS = 40  # a panel is named in the legend by its title, cut to this


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
    vanish_relative: float = 1e-3
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
        if not (isinstance(self.vanish_relative, (int, float)) and 0 <= self.vanish_relative < 1):
            raise ValueError(f"draw_graph: vanish_relative must be a number in [0, 1), "
                             f"got {self.vanish_relative!r}")
        if not isinstance(self.min_chain, int) or self.min_chain < 2:
            raise ValueError(f"draw_graph: min_chain must be an int >= 2, got {self.min_chain!r}")

    @property
    def grad_view(self) -> bool:
        """Nodes coloured by their gradient (color_by given)."""
        return self.color_by is not None

    def vanish_rule(self, scale: float | None, panel: str | None = None) -> str:
        """The vanishing rule in words, for the legend (`scale`: the graph's median ∇ rms;
        `panel`: the title of the graph it is for, when a picture has several, each with its
        own median and so its own threshold)."""
        parts = ["∇ = 0"]
        if self.vanish_relative > 0 and scale:
            parts.append(f"∇ rms < {self.vanish_relative:g} × the graph's median ∇ rms "
                         f"({scale:.2g})")
        parts.append(f"∇ rms / value rms < {self.vanish_ratio:g}")
        where = ""
        if panel is not None:
            short = panel if len(panel) <= PANEL_NAME_CHARS else panel[:PANEL_NAME_CHARS - 1] + "…"
            where = f" in “{short}”"
        return f"▼ vanishing{where}: " + ", or ".join(parts)

    @property
    def metric_name(self) -> str:
        """What the gradient view colours by, as labels write it."""
        return "∇/value rms" if self.color_by == "grad_ratio" else "∇ rms"
