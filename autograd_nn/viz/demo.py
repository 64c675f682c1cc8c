"""`run(out_dir)`: graph pictures of the tutorial networks, as SVG and PNG files.

Inputs are labelled X and Y, the loss L and the other values z1, h1, ... as
`autograd-nn explain` names them.

- tutorial 1's 3-4-1 network and its sum-of-squares loss, before and after training;
- the gradient-flow view of tutorial 2's 2-4-1 XOR network as written (it never learns) next
  to the fixed version (biases and Xavier init), both at their starting weights and on the same
  colour scale, so the place where the gradient shrinks is visible.

Without Graphviz's `dot` program the DOT text is written instead (`.gv` files).
"""

from __future__ import annotations

import pathlib
import shutil

from ..tensor import Tensor
from .draw import draw_graph, draw_graphs
from .render import GraphPicture

__all__ = ["pictures", "run"]


def pictures() -> dict[str, GraphPicture]:
    """The demo's pictures by file stem (building them needs no `dot`)."""
    from .. import nn
    from ..tutorials import tutorial1, tutorial2

    x1 = Tensor(tutorial1.X, name="X")
    y1 = Tensor(tutorial1.Y, name="Y")
    start = tutorial1.initial_weights(0)
    trained, _ = tutorial1.train_autograd(start, style="function")
    out: dict[str, GraphPicture] = {}
    for stem, weights, when in (("tutorial1_graph_before", start, "before training"),
                                ("tutorial1_graph_after", trained, "after 1500 steps")):
        model = tutorial1.Network(weights=weights)
        loss = nn.functional.sum_of_squares(model(x1), y1)
        out[stem] = draw_graph(loss, title=f"Tutorial 1: 3-4-1 network, {when}")

    x2 = Tensor(tutorial2.X, name="X")
    y2 = Tensor(tutorial2.Y, name="Y")
    stuck = nn.functional.mse_loss(tutorial2.Network(weights=tutorial2.initial_weights(0))(x2), y2)
    fixed_model = tutorial2.FixedNetwork(tutorial2.fixed_initial_params(0))
    fixed = nn.functional.mse_loss(fixed_model(x2), y2)
    out["tutorial2_gradient_flow"] = draw_graphs(
        [("as written: randn·0.01 weights, no biases (stuck at loss 0.25)", stuck),
         ("fixed: Xavier init + biases (learns XOR)", fixed)],
        color_by="grad",
        title="Tutorial 2, gradient flow at the start of training",
    )
    return out


def run(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write every demo picture as SVG and PNG into `out_dir`; returns the paths written.

    Without the `dot` program the DOT source is written instead (`<stem>.gv`).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    have_dot = shutil.which("dot") is not None
    paths: list[pathlib.Path] = []
    for stem, picture in pictures().items():
        if not have_dot:
            path = out_dir / f"{stem}.gv"
            path.write_text(picture.source, encoding="utf-8")
            paths.append(path)
            continue
        for fmt in ("svg", "png"):
            path = out_dir / f"{stem}.{fmt}"
            path.write_bytes(picture.pipe(format=fmt))
            paths.append(path)
    return paths
