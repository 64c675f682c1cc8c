"""Train a small CNN on scikit-learn's bundled 8x8 digits; print accuracy and time, and write the
model's graph (modules collapsed) and its chain-rule explanation.

    python examples/digits_cnn.py --out output --epochs 15 --seed 0

Needs the `examples` extra (scikit-learn). The training code lives in
`autograd_nn.tutorials.digits_cnn`, shared with the tests.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

import autograd_nn as ag
from autograd_nn.tutorials import digits_cnn


def main(out_dir: str = "output", epochs: int = 15, seed: int = 0) -> dict:
    """Train; save the graph of one batch's loss (DOT) and its explanation; return the numbers."""
    result = digits_cnn.train(epochs=epochs, seed=seed)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, _, y, _ = digits_cnn.load_images()
    model = result.model.eval()
    loss = ag.nn.functional.cross_entropy(model(x[:8]), y[:8])
    (out / "digits_cnn_graph.dot").write_text(ag.draw_graph(loss, max_depth=0).source)
    (out / "digits_cnn_explain.txt").write_text(str(ag.explain(loss)))
    return {"test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy,
            "seconds": result.seconds, "parameters": model.num_parameters(),
            "first_layer_filters": np.round(model[0].weight.data[:, 0], 2).shape}


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="output")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    numbers = main(args.out, args.epochs, args.seed)
    print(f"held-out accuracy {numbers['test_accuracy']:.4f} (train "
          f"{numbers['train_accuracy']:.4f}) in {numbers['seconds']:.1f} s, "
          f"{numbers['parameters']} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
