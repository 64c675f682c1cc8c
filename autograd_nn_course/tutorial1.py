"""Tutorial 1 rebuilt: the 3-4-1 sigmoid network trained with hand-written backprop.

The seed tutorial ("build your own neural network from scratch") trains a network with no
biases, `np.random.rand` weights, a sum-of-squares loss and a chain rule written by hand, for
1500 iterations on four rows. This module keeps that code as the reference (`NeuralNetwork`)
and rebuilds the same network on Tensors in two styles:

* a pure function `forward(params, X)` over a dict of arrays, trained with `ag.value_and_grad`;
* a Module `Network` with parameters "weights1" and "weights2", trained with `ag.optim.SGD`.

The tutorial updates with `weights += d_weights` where `d_weights` is built from `(y - output)`:
that is minus the gradient of the sum-of-squares loss, so its "ascent" is gradient descent with
learning rate 1. Starting from the same weights, the autograd runs match it to rounding error.

Run `python -m autograd_nn_course.tutorial1` to print the predictions as the tutorial did.
The README imports this module as `autograd_nn.tutorials.tutorial1`: the same module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor, nn, no_grad, value_and_grad
from autograd_nn.optim import SGD

from .params import as_array, check_params, copy_params

__all__ = [
    "X", "Y", "NeuralNetwork", "Network", "forward", "handwritten_gradients", "initial_weights",
    "loss", "loss_history", "main", "report", "sigmoid", "sigmoid_derivative", "train_autograd",
    "train_handwritten",
]

# The tutorial's data: XOR of the first two columns (the third column is a constant 1).
X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)

SHAPES = {"weights1": (3, 4), "weights2": (4, 1)}
ITERATIONS = 1500


def initial_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform [0, 1) weights like the tutorial's `np.random.rand`, but from a seeded Generator."""
    rng = np.random.default_rng(seed)
    return {"weights1": rng.random(SHAPES["weights1"]), "weights2": rng.random(SHAPES["weights2"])}


# ---------------------------------------------------------------------------------------------
# The reference: the tutorial's code as written (only `weights=` and `d_weights()` added)
# ---------------------------------------------------------------------------------------------
def sigmoid(x: np.ndarray) -> np.ndarray:
    """The tutorial's sigmoid, naive form (overflows for x below about -709; fine here)."""
    return 1.0 / (1 + np.exp(-x))


def sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    """The tutorial's derivative, written in terms of the sigmoid's OUTPUT s: s * (1 - s)."""
    return x * (1.0 - x)


class NeuralNetwork:
    """The tutorial's network. `weights=` (a dict like `initial_weights()`) replaces the
    unseeded `np.random.rand` draw so runs can be compared; the arrays are copied."""

    def __init__(self, x: np.ndarray, y: np.ndarray, weights: Mapping[str, Any] | None = None):
        self.input = x
        if weights is None:
            self.weights1 = np.random.rand(self.input.shape[1], 4)
            self.weights2 = np.random.rand(4, 1)
        else:
            check_params(weights, {"weights1": (x.shape[1], 4), "weights2": (4, 1)},
                         "NeuralNetwork")
            self.weights1 = as_array(weights["weights1"])
            self.weights2 = as_array(weights["weights2"])
        self.y = y
        self.output = np.zeros(self.y.shape)

    def feedforward(self) -> None:
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def d_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The tutorial's two chain-rule lines, verbatim (call `feedforward` first)."""
        d_weights2 = np.dot(self.layer1.T, (2*(self.y - self.output) * sigmoid_derivative(self.output)))  # noqa: E501
        d_weights1 = np.dot(self.input.T,  (np.dot(2*(self.y - self.output) * sigmoid_derivative(self.output), self.weights2.T) * sigmoid_derivative(self.layer1)))  # noqa: E501
        return d_weights1, d_weights2

    def backprop(self) -> None:
        d_weights1, d_weights2 = self.d_weights()
        # update the weights with the derivative (slope) of the loss function
        self.weights1 += d_weights1
        self.weights2 += d_weights2


def handwritten_gradients(
    params: Mapping[str, Any], X: np.ndarray = X, Y: np.ndarray = Y
) -> dict[str, np.ndarray]:
    """The tutorial's `d_weights` at `params`: the amount it ADDS, i.e. minus d(loss)/d(weights)."""
    net = NeuralNetwork(np.asarray(X), np.asarray(Y), weights=params)
    net.feedforward()
    d1, d2 = net.d_weights()
    return {"weights1": d1, "weights2": d2}


def train_handwritten(
    params: Mapping[str, Any], iterations: int = ITERATIONS, X: np.ndarray = X, Y: np.ndarray = Y
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The tutorial's loop (feedforward, backprop) from `params`: (final weights, `nn.output`).

    As in the tutorial, `nn.output` is the prediction of the last feedforward, made just before
    the last update.
    """
    net = NeuralNetwork(np.asarray(X), np.asarray(Y), weights=params)
    for _ in range(iterations):
        net.feedforward()
        net.backprop()
    return {"weights1": net.weights1.copy(), "weights2": net.weights2.copy()}, net.output.copy()


# ---------------------------------------------------------------------------------------------
# Style 1: a pure function over a dict of parameters
# ---------------------------------------------------------------------------------------------
def forward(params: Mapping[str, Any], X: Any = X) -> Tensor:
    """sigmoid(sigmoid(X @ W1) @ W2) for a dict of arrays or Tensors; returns a Tensor."""
    check_params(params, SHAPES, "tutorial1.forward")
    layer1 = ag.sigmoid(ag.dot(X, params["weights1"]))
    return ag.sigmoid(ag.dot(layer1, params["weights2"]))


def loss(params: Mapping[str, Any], X: Any = X, Y: Any = Y) -> Tensor:
    """The tutorial's sum-of-squares loss, sum((y - y_hat)^2)."""
    return ag.sum((Y - forward(params, X)) ** 2)


# ---------------------------------------------------------------------------------------------
# Style 2: a Module
# ---------------------------------------------------------------------------------------------
class Network(nn.Module):
    """The same network as a Module with parameters "weights1" (3, 4) and "weights2" (4, 1)."""

    def __init__(self, weights: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__()
        weights = initial_weights(seed) if weights is None else weights
        check_params(weights, SHAPES, "tutorial1.Network")
        self.weights1 = nn.Parameter(as_array(weights["weights1"]))
        self.weights2 = nn.Parameter(as_array(weights["weights2"]))

    def forward(self, x: Any) -> Tensor:
        """The two sigmoid layers on `x` (weights named as in the tutorial)."""
        layer1 = ag.sigmoid(ag.dot(x, self.weights1))
        return ag.sigmoid(ag.dot(layer1, self.weights2))


def train_autograd(
    params: Mapping[str, Any],
    iterations: int = ITERATIONS,
    style: str = "function",
    lr: float = 1.0,
    X: np.ndarray = X,
    Y: np.ndarray = Y,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Gradient descent on the sum-of-squares loss with autograd: (final weights, last output).

    `style="function"` differentiates `loss(params, X, Y)` with `ag.value_and_grad` and builds
    new parameter dicts; `style="module"` trains `Network` with `ag.optim.SGD`. With lr=1 both
    reproduce the tutorial's `weights += d_weights`. The returned output is, as in the tutorial,
    the prediction made just before the last update.
    """
    check_params(params, SHAPES, "tutorial1.train_autograd")
    if style == "function":
        step = value_and_grad(loss)
        p = copy_params(params)
        before_last = p
        for _ in range(iterations):
            before_last = p
            _, grads = step(p, X, Y)
            p = {k: p[k] - lr * grads[k] for k in p}
        with no_grad():
            output = forward(before_last, X).data
        return p, output
    if style == "module":
        model = Network(weights=params)
        opt = SGD(model.parameters(), lr=lr)
        output = np.zeros(np.shape(Y))
        for _ in range(iterations):
            opt.zero_grad()
            out = model(X)
            nn.functional.sum_of_squares(out, Y).backward()
            opt.step()
            output = out.data
        return model.state_dict(), output.copy()
    raise ValueError(f"train_autograd: style must be 'function' or 'module', got {style!r}")


def loss_history(
    params: Mapping[str, Any], iterations: int = ITERATIONS
) -> tuple[list[float], list[float]]:
    """Sum-of-squares loss before each update: (hand-written run, autograd function run)."""
    net = NeuralNetwork(X, Y, weights=params)
    handwritten = []
    for _ in range(iterations):
        net.feedforward()
        handwritten.append(float(np.sum((net.y - net.output) ** 2)))
        net.backprop()
    step = value_and_grad(loss)
    p = copy_params(params)
    autograd = []
    for _ in range(iterations):
        value, grads = step(p, X, Y)
        autograd.append(float(value))
        p = {k: p[k] - grads[k] for k in p}
    return handwritten, autograd


# ---------------------------------------------------------------------------------------------
# Printing, as the tutorial did
# ---------------------------------------------------------------------------------------------
def _columns(blocks: list[str], titles: list[str], gap: int = 4) -> str:
    """Blocks of text set side by side as columns, each under its (underlined) title."""
    cols = [[t, "-" * len(t), *b.splitlines()] for b, t in zip(blocks, titles, strict=True)]
    n = max(len(c) for c in cols)
    cols = [c + [""] * (n - len(c)) for c in cols]
    widths = [max(len(s) for s in c) + gap for c in cols]
    rows = (
        "".join(c[i].ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()
        for i in range(n)
    )
    return "\n".join(rows)


def report(seed: int = 0, iterations: int = ITERATIONS) -> str:
    """The three runs' `print(nn.output)` side by side, and how far apart they end up."""
    w0 = initial_weights(seed)
    ref_w, ref_out = train_handwritten(w0, iterations)
    runs = {s: train_autograd(w0, iterations, style=s) for s in ("function", "module")}
    cols = [str(ref_out)] + [str(out) for _, out in runs.values()]
    text = _columns(cols, ["hand-written (tutorial)", "autograd, pure function",
                           "autograd, Module + SGD"])
    lines = [
        f"Tutorial 1: 3-4-1 sigmoid network, {iterations} iterations, weights from seed {seed}",
        "", text, "",
    ]
    for s, (w, out) in runs.items():
        dw = max(float(np.max(np.abs(w[k] - ref_w[k]))) for k in ref_w)
        do = float(np.max(np.abs(out - ref_out)))
        lines.append(f"max |autograd ({s}) - hand-written|: weights {dw:.2e}, output {do:.2e}")
    lines.append("targets: " + str(Y.ravel()))
    return "\n".join(lines) + "\n"


def main(seed: int = 0) -> None:
    """Train the tutorial's network three ways and print predictions as `print(nn.output)`."""
    print(report(seed))


if __name__ == "__main__":
    main()
