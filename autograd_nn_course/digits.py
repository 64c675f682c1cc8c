"""An MLP on scikit-learn's bundled 8x8 digits (no download): real data on the engine.

`train()` standardises the 64 pixels (statistics from the training split only), trains a
64-128-10 ReLU MLP with Adam (L2 weight decay 1e-3) on cross-entropy in shuffled mini-batches
of 32, and records loss and accuracy per epoch on both splits. The split is stratified, 20%
held out, `random_state=0`.
Needs the `examples` extra (scikit-learn, matplotlib, tqdm).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograd_nn import nn, no_grad, optim

__all__ = ["DigitsResult", "load_data", "plot_curves", "train"]


@dataclass
class DigitsResult:
    """What `train` returns: the model, per-epoch history, and the final test accuracy."""

    model: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)
    test_accuracy: float = 0.0
    train_accuracy: float = 0.0
    n_train: int = 0
    n_test: int = 0


def load_data(test_size: float = 0.2, random_state: int = 0) -> tuple[np.ndarray, ...]:
    """(X_train, X_test, y_train, y_test): standardised float64 pixels and int64 labels.

    Standardising with the training split's mean and std (1 where a pixel is constant) keeps
    the test split unseen; it matters: raw pixels in 0..16 make the first steps erratic.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data.astype(np.float64)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=random_state
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def _evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on a whole split, without recording a graph."""
    with no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
    return float(loss), float(np.mean(np.argmax(logits.data, axis=1) == y))


def train(
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    hidden: int = 128,
    seed: int = 0,
    progress: bool = True,
    weight_decay: float = 1e-3,
    activation: str = "relu",
) -> DigitsResult:
    """Train the MLP; `seed` fixes the initial weights and the batch order.

    The defaults reach >= 97% test accuracy (seed 0: 98.1%) in about a second; the small weight
    decay makes that hold across seeds (without it a few seeds end at 96.9%).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"train: epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    from tqdm import tqdm

    x_train, x_test, y_train, y_test = load_data()
    rng = np.random.default_rng(seed)
    model = nn.MLP([x_train.shape[1], hidden, 10], activation=activation, rng=rng)
    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, list[float]] = {
        "train_loss": [], "test_loss": [], "train_accuracy": [], "test_accuracy": []
    }
    n = len(x_train)
    # disable=None: a bar only when stderr is a terminal (no flood of lines in CI logs)
    bar = tqdm(range(epochs), desc="digits MLP", unit="epoch",
               disable=None if progress else True, leave=False)
    for _ in bar:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
        tr_loss, tr_acc = _evaluate(model, x_train, y_train)
        te_loss, te_acc = _evaluate(model, x_test, y_test)
        for key, value in zip(history, (tr_loss, te_loss, tr_acc, te_acc), strict=True):
            history[key].append(value)
        bar.set_postfix(loss=f"{tr_loss:.3f}", test_acc=f"{te_acc:.3f}")
    bar.close()
    return DigitsResult(
        model=model, history=history, test_accuracy=history["test_accuracy"][-1],
        train_accuracy=history["train_accuracy"][-1], n_train=n, n_test=len(x_test),
    )


def plot_curves(history: dict[str, list[float]], path: Any) -> pathlib.Path:
    """Save loss and accuracy per epoch (train and test) as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = pathlib.Path(path)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    ax_acc.plot(epochs, history["train_accuracy"], label="train")
    ax_acc.plot(epochs, history["test_accuracy"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("64-128-10 MLP on scikit-learn digits (Adam, mini-batches)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
