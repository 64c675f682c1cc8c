"""The demo: both tutorials and the digits MLP written to one folder as text, plots and pictures.

`run(out_dir)` writes everything; `stages(out)` gives the same work as labelled steps, which
`autograd-nn demo` (and `make demo`) runs one by one. Needs the `examples` extra; plots use
matplotlib's Agg backend, pictures Graphviz's `dot` (without it the DOT text, `.gv`, is written).
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from autograd_nn import Tensor, nn
from autograd_nn.viz import GraphPicture, draw_graph, draw_graphs

from . import digits, reports, tutorial1, tutorial2

__all__ = [
    "have_dot", "notes", "pictures", "run", "stages", "write_compare", "write_explain",
    "write_pictures", "write_tutorials",
]

Stage = tuple[str, Callable[[], list[pathlib.Path]]]


def stages(out: pathlib.Path, progress: bool = True) -> list[Stage]:
    """The demo's steps in order as (label, write) pairs; each write returns the paths it wrote."""
    return [
        ("tutorials", lambda: write_tutorials(out, progress)),
        ("graph pictures", lambda: write_pictures(out)),
        ("comparison reports", lambda: write_compare(out)),
        ("chain-rule explanations", lambda: write_explain(out)),
    ]


def run(out_dir: Any, progress: bool = True) -> list[pathlib.Path]:
    """Run every stage into `out_dir` (created if missing); returns the paths written."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [path for _, write in stages(out, progress) for path in write()]


# ---------------------------------------------------------------------------------------------
# Text reports and loss curves
# ---------------------------------------------------------------------------------------------
def write_tutorials(out: pathlib.Path, progress: bool = True) -> list[pathlib.Path]:
    """Both tutorials' reports and loss curves, and the digits MLP's log and learning curves."""
    return [*_tutorial1(out), *_tutorial2(out), *_digits(out, progress)]


def _plot_lines(path: pathlib.Path, series: Sequence[tuple[str, Sequence[float], dict]],
                title: str, ylabel: str) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values, style in series:
        ax.plot(range(len(values)), values, label=label, **style)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title, yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _tutorial1(out: pathlib.Path) -> list[pathlib.Path]:
    text = out / "tutorial1.txt"
    text.write_text(tutorial1.report())
    hand, auto = tutorial1.loss_history(tutorial1.initial_weights(0))
    png = _plot_lines(
        out / "tutorial1_loss.png",
        [("hand-written backprop (tutorial)", hand, {"lw": 3, "alpha": 0.5}),
         ("autograd (value_and_grad)", auto, {"ls": "--", "color": "black"})],
        "Tutorial 1: 3-4-1 network, sum-of-squares loss", "sum of squares",
    )
    return [text, png]


def _tutorial2(out: pathlib.Path) -> list[pathlib.Path]:
    text = out / "tutorial2.txt"
    text.write_text(tutorial2.report())
    _, stuck = tutorial2.train_handwritten(tutorial2.initial_weights(0))
    _, fixed_sgd = tutorial2.train_fixed(seed=0, optimizer="sgd")
    _, fixed_adam = tutorial2.train_fixed(seed=0, optimizer="adam")
    png = _plot_lines(
        out / "tutorial2_xor_loss.png",
        [("tutorial: randn*0.01, no biases, lr 0.1", stuck, {}),
         (f"fixed: biases, Xavier, SGD lr {tutorial2.DEFAULT_LR['sgd']}", fixed_sgd, {}),
         (f"fixed: biases, Xavier, Adam lr {tutorial2.DEFAULT_LR['adam']}", fixed_adam, {})],
        "Tutorial 2: 2-4-1 network on XOR", "mean squared error",
    )
    return [text, png]


def _digits(out: pathlib.Path, progress: bool) -> list[pathlib.Path]:
    result = digits.train(progress=progress)
    png = digits.plot_curves(result.history, out / "digits_curves.png")
    h = result.history
    lines = [
        "64-128-10 ReLU MLP on scikit-learn digits (stratified 80/20 split, random_state=0)",
        f"train {result.n_train} / test {result.n_test} images, {len(h['train_loss'])} epochs, "
        "Adam lr 1e-3 (weight decay 1e-3), batch 32, seed 0",
        "",
        "epoch  train loss  test loss  train acc  test acc",
    ]
    for i in range(len(h["train_loss"])):
        lines.append(f"{i + 1:5d}  {h['train_loss'][i]:10.4f}  {h['test_loss'][i]:9.4f}  "
                     f"{h['train_accuracy'][i]:9.4f}  {h['test_accuracy'][i]:8.4f}")
    lines += ["", f"final test accuracy: {result.test_accuracy:.4f}"]
    text = out / "digits.txt"
    text.write_text("\n".join(lines) + "\n")
    return [text, png]


# ---------------------------------------------------------------------------------------------
# Graph pictures (inputs X and Y, loss L, other values z1, h1, ... as `explain` names them)
# ---------------------------------------------------------------------------------------------
def pictures() -> dict[str, GraphPicture]:
    """Tutorial 1's graph before and after training; tutorial 2's gradient flow as written next
    to the fixed network, on one colour scale. By file stem; building them needs no `dot`."""
    x1, y1 = Tensor(tutorial1.X, name="X"), Tensor(tutorial1.Y, name="Y")
    start = tutorial1.initial_weights(0)
    trained, _ = tutorial1.train_autograd(start, style="function")
    out: dict[str, GraphPicture] = {}
    for stem, weights, when in (("tutorial1_graph_before", start, "before training"),
                                ("tutorial1_graph_after", trained, "after 1500 steps")):
        loss = nn.functional.sum_of_squares(tutorial1.Network(weights=weights)(x1), y1)
        out[stem] = draw_graph(loss, title=f"Tutorial 1: 3-4-1 network, {when}")

    x2, y2 = Tensor(tutorial2.X, name="X"), Tensor(tutorial2.Y, name="Y")
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


PICTURE_FORMATS = ("svg", "png")  # with Graphviz's `dot`; DOT text (.gv) without it


def have_dot() -> bool:
    """True when Graphviz's `dot` program is on PATH (pictures are rendered, not only DOT text)."""
    return shutil.which("dot") is not None


def write_pictures(out: pathlib.Path) -> list[pathlib.Path]:
    """Every picture as SVG and PNG (`<stem>.gv` DOT text without `dot`); returns the paths.

    The other form's files from an earlier run are removed, so the folder never holds a stale
    picture next to a fresh one."""
    rendered = have_dot()
    formats = PICTURE_FORMATS if rendered else ("gv",)
    stale = ("gv",) if rendered else PICTURE_FORMATS
    paths: list[pathlib.Path] = []
    for stem, picture in pictures().items():
        for fmt in stale:
            (out / f"{stem}.{fmt}").unlink(missing_ok=True)
        for fmt in formats:
            paths.append(out / f"{stem}.{fmt}")
            if fmt == "gv":
                paths[-1].write_text(picture.source, encoding="utf-8")
            else:
                paths[-1].write_bytes(picture.pipe(format=fmt))
    return paths


def notes(out: pathlib.Path) -> list[str]:
    """What to tell the reader after a run into `out`: what to open first, and how to render
    the pictures when Graphviz was missing."""
    first = f"open first: {out / 'compare.txt'} (hand-written backprop against autograd)"
    if have_dot():
        return [first + f", then {out / 'tutorial2_gradient_flow.svg'} (why tutorial 2's "
                "network is stuck)"]
    example = out / "tutorial2_gradient_flow"
    return [
        first,
        "Graphviz's `dot` was not found, so the graph pictures were written as DOT text (*.gv) "
        "instead of SVG and PNG. Install Graphviz (Debian/Ubuntu: sudo apt-get install "
        "graphviz; macOS: brew install graphviz) and run the demo again, or render one "
        f"yourself: dot -Tsvg {example}.gv -o {example}.svg",
    ]


# ---------------------------------------------------------------------------------------------
# Hand-written backprop against autograd
# ---------------------------------------------------------------------------------------------
def write_compare(out: pathlib.Path) -> list[pathlib.Path]:
    """compare.txt: `autograd-nn compare` for both tutorials."""
    path = out / "compare.txt"
    path.write_text("\n".join(reports.compare_text(k) for k in reports.TUTORIALS),
                    encoding="utf-8")
    return [path]


def write_explain(out: pathlib.Path) -> list[pathlib.Path]:
    """explain.txt: `autograd-nn explain` for both tutorials."""
    path = out / "explain.txt"
    path.write_text("\n".join(reports.explain_text(k) for k in reports.TUTORIALS),
                    encoding="utf-8")
    return [path]
