"""Train a 64-128-10 MLP on scikit-learn's bundled digits and save its learning curves.

    python examples/digits_mlp.py --out output --epochs 30 --seed 0

Needs the `examples` extra (`pip install -e '.[examples]'`: scikit-learn, matplotlib, tqdm).
The digits ship with scikit-learn, so nothing is downloaded. The training code lives in
`autograd_nn.tutorials.digits`, shared with the tests and `autograd-nn demo`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from autograd_nn.tutorials import digits


def main(out_dir: Any = "output", epochs: int = 30, seed: int = 0,
         progress: bool = True) -> dict[str, Any]:
    """Train, save `digits_curves.png` into `out_dir`, and return the headline numbers."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = digits.train(epochs=epochs, seed=seed, progress=progress)
    plot = digits.plot_curves(result.history, out / "digits_curves.png")
    return {
        "test_accuracy": result.test_accuracy,
        "train_accuracy": result.train_accuracy,
        "final_train_loss": result.history["train_loss"][-1],
        "final_test_loss": result.history["test_loss"][-1],
        "epochs": epochs,
        "seed": seed,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "plot": plot,
    }


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output", help="folder for the PNG (default: output)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    res = main(args.out, epochs=args.epochs, seed=args.seed)
    print(f"test accuracy {res['test_accuracy']:.4f} on {res['n_test']} held-out digits "
          f"(train {res['train_accuracy']:.4f}); curves saved to {res['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
