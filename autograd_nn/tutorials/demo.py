"""`run(out_dir)`: both tutorials and the digits example, written to a folder as text and plots.

This is what `autograd-nn demo` (and `make demo`) calls. It takes a few seconds; plots use
matplotlib's Agg backend, so no display is needed. Needs the `examples` extra.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

__all__ = ["run"]


def _plot_lines(path: pathlib.Path, series: Sequence[tuple[str, Sequence[float], dict]],
                title: str, ylabel: str, logy: bool = True) -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values, style in series:
        ax.plot(range(len(values)), values, label=label, **style)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _tutorial1(out: pathlib.Path) -> list[pathlib.Path]:
    from . import tutorial1

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
    from . import tutorial2

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
    from . import digits

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


def run(out_dir: Any, progress: bool = True) -> list[pathlib.Path]:
    """Run tutorial 1, tutorial 2 and the digits MLP; write their outputs into `out_dir`.

    Returns the written paths (text reports and PNG loss curves).
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [*_tutorial1(out), *_tutorial2(out), *_digits(out, progress)]
