"""Tutorial 2 rebuilt: from one neuron to a 2-4-1 network, and why its XOR training stalls.

The seed tutorial walks through a single neuron (4.8), a layer ([4.8, 1.21, 3.465]), a batch,
two stacked layers, the sigmoid / ReLU / softmax activations, and a 2-4-1 `NeuralNetwork`
trained on XOR whose printed loss stays at 0.2500. Each step is kept here in its NumPy form
(the `*_numpy` functions and `NeuralNetwork`, the reference) next to a Tensor version.
The README imports this module as `autograd_nn.tutorials.tutorial2`: the same module.

Two things the tutorial gets wrong, shown rather than hidden:

* `Softmax(x)` reads the global `inputs` instead of `x` and normalises over axis 0, so its
  result does not depend on `x` at all (the shift by `max(x)` cancels) and its columns, not its
  rows, sum to 1. `softmax_difference(x)` returns the tutorial's result next to a correct one.
* The 2-4-1 network never learns XOR from its start; see `plateau_diagnostics` for why and
  `train_fixed` for a version that does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import autograd_nn as ag
from autograd_nn import Tensor, grad, nn, no_grad, optim, value_and_grad

from .params import as_array, check_params, copy_params

__all__ = [
    "DEFAULT_LR", "X", "Y", "FixedNetwork", "NeuralNetwork", "Network", "ReLU", "Softmax",
    "batch", "batch_numpy", "fixed_forward", "fixed_initial_params", "fixed_loss", "forward",
    "handwritten_gradients", "hessian", "initial_weights", "layer", "layer_numpy",
    "layer_python", "loss", "main", "plateau_diagnostics", "relu", "report", "sigmoid",
    "sigmoid_numpy",
    "single_neuron", "single_neuron_numpy", "single_neuron_python", "softmax",
    "softmax_difference", "train_autograd", "train_fixed", "train_handwritten",
    "tutorial_objective", "two_layers", "two_layers_numpy",
]

# ---------------------------------------------------------------------------------------------
# The tutorial's numbers, cell by cell
# ---------------------------------------------------------------------------------------------
NEURON_INPUTS = [1.0, 2.0, 3.0, 2.5]
NEURON_WEIGHTS = [0.2, 0.8, -0.5, 1.0]
NEURON_BIAS = 2.0

LAYER_INPUTS = [1, 2, 3, 2.5]
LAYER_WEIGHTS = [[0.2, 0.8, -0.5, 1], [0.5, -0.91, 0.26, -0.5], [-0.26, 0.27, 0.17, 0.87]]
LAYER_BIASES = [2.0, 3.0, 0.5]

BATCH_INPUTS = np.array([[1.0, 2.0, 3.0, 2.5], [2.0, 5.0, -1.0, 2.0], [-1.5, 2.7, 3.3, -0.8]])
# Note: the batch cell's third neuron has -0.27 where the layer cell had 0.27 (as printed).
BATCH_WEIGHTS = np.array([[0.2, 0.8, -0.5, 1.0], [0.5, -0.91, 0.26, -0.5],
                          [-0.26, -0.27, 0.17, 0.87]])
BATCH_BIASES = np.array([2.0, 3.0, 0.5])

LAYER2_WEIGHTS = np.array([[0.1, -0.14, 0.5], [-0.5, 0.12, -0.33], [-0.44, 0.73, -0.13]])
LAYER2_BIASES = np.array([-1, 2, -0.5])

# The notebook's global `inputs` when `Softmax` was defined: the batch from "Adding Layer".
inputs = BATCH_INPUTS

# XOR, as in the tutorial's "FULL NEURAL NETWORK" cell.
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
SHAPES = {"weights1": (2, 4), "weights2": (4, 1)}
FIXED_SHAPES = {"weights1": (2, 4), "bias1": (4,), "weights2": (4, 1), "bias2": (1,)}


# --- single neuron, layer, batch, two layers: the tutorial's code -----------------------------
def single_neuron_python() -> list[float]:
    """The first cell, plain Python: prints [4.8]."""
    inputs, weights, bias = NEURON_INPUTS, NEURON_WEIGHTS, NEURON_BIAS
    return [inputs[0]*weights[0] + inputs[1]*weights[1] + inputs[2]*weights[2]
            + inputs[3]*weights[3] + bias]


def layer_python() -> list[float]:
    """Three neurons written out by hand: prints [4.8, 1.21, 3.465]."""
    x = LAYER_INPUTS
    return [sum(xi * wi for xi, wi in zip(x, w, strict=True)) + b
            for w, b in zip(LAYER_WEIGHTS, LAYER_BIASES, strict=True)]


def single_neuron_numpy() -> np.float64:
    """`np.dot(weights, inputs) + bias`."""
    return np.dot(NEURON_WEIGHTS, NEURON_INPUTS) + NEURON_BIAS


def layer_numpy() -> np.ndarray:
    """`np.dot(weights, inputs) + biases` with weights (3, 4) and inputs (4,)."""
    return np.dot(np.array(LAYER_WEIGHTS), np.array(LAYER_INPUTS, dtype=float)) + LAYER_BIASES


def batch_numpy() -> np.ndarray:
    """`np.dot(inputs, weights.T) + biases` for a (3, 4) batch."""
    return np.dot(BATCH_INPUTS, BATCH_WEIGHTS.T) + BATCH_BIASES


def two_layers_numpy() -> np.ndarray:
    """The tutorial's two layers. Its second layer uses `weights2` untransposed (as written)."""
    layer1_outputs = np.dot(BATCH_INPUTS, BATCH_WEIGHTS.T) + BATCH_BIASES
    return np.dot(layer1_outputs, LAYER2_WEIGHTS) + LAYER2_BIASES


# --- the same on Tensors (pass Tensors with requires_grad=True to differentiate) --------------
def single_neuron(inputs: Any = NEURON_INPUTS, weights: Any = NEURON_WEIGHTS,
                  bias: Any = NEURON_BIAS) -> Tensor:
    """inputs . weights + bias as a 0-d Tensor (4.8 with the tutorial's numbers)."""
    return ag.dot(weights, _float(inputs)) + bias


def layer(inputs: Any = LAYER_INPUTS, weights: Any = LAYER_WEIGHTS,
          biases: Any = LAYER_BIASES) -> Tensor:
    """weights @ inputs + biases: one output per neuron ([4.8, 1.21, 3.465])."""
    return ag.dot(_float(weights), _float(inputs)) + biases


def batch(inputs: Any = BATCH_INPUTS, weights: Any = BATCH_WEIGHTS,
          biases: Any = BATCH_BIASES) -> Tensor:
    """inputs @ weights.T + biases: one row of neuron outputs per sample."""
    return ag.dot(inputs, ag.transpose(_float(weights))) + biases


def two_layers(inputs: Any = BATCH_INPUTS, weights1: Any = BATCH_WEIGHTS,
               biases1: Any = BATCH_BIASES, weights2: Any = LAYER2_WEIGHTS,
               biases2: Any = LAYER2_BIASES) -> Tensor:
    """Two stacked layers exactly as the tutorial wires them (second weights not transposed)."""
    return ag.dot(batch(inputs, weights1, biases1), weights2) + biases2


def _float(x: Any) -> Any:
    return x if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
def sigmoid_numpy(z: Any) -> np.ndarray:
    """The tutorial's sigmoid, 1 / (1 + exp(-z)) (overflows with a warning for z < ~-709)."""
    return 1 / (1 + np.exp(-z))


def ReLU(inputs: Any) -> np.ndarray:  # noqa: N802 (the tutorial's name)
    """The tutorial's ReLU, `np.maximum(0, inputs)`."""
    return np.maximum(0, inputs)


def Softmax(x: Any) -> np.ndarray:  # noqa: N802 (the tutorial's name)
    """The tutorial's softmax, bug included: it exponentiates the module-global `inputs` (not
    `x`) and normalises over axis 0. `x` only shifts the exponent, which cancels."""
    e_x = np.exp(inputs - np.max(x))
    return e_x / e_x.sum(axis=0)


def sigmoid(z: Any) -> Tensor:
    """Sigmoid on Tensors: stable for any z (`ag.sigmoid`)."""
    return ag.sigmoid(z)


def relu(z: Any) -> Tensor:
    """ReLU on Tensors (`ag.relu`; gradient 0 at 0)."""
    return ag.relu(z)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """A correct softmax: of `x` itself, along `axis` (the last: one distribution per row),
    with the maximum subtracted so large inputs do not overflow (`ag.softmax`)."""
    return ag.softmax(_float(x), axis)


def softmax_difference(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(the tutorial's `Softmax(x)`, a correct `softmax(x)`) for the same `x`.

    For `x = inputs` the tutorial's columns sum to 1 while the correct rows do; for any other
    `x` the tutorial's result is still the column-softmax of the global `inputs`.
    """
    return Softmax(x), softmax(x).data


# ---------------------------------------------------------------------------------------------
# The 2-4-1 network: the tutorial's class (reference)
# ---------------------------------------------------------------------------------------------
def initial_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The tutorial's `randn * 0.01` weights, from a seeded Generator."""
    rng = np.random.default_rng(seed)
    return {"weights1": nn.init.normal(SHAPES["weights1"], std=0.01, rng=rng),
            "weights2": nn.init.normal(SHAPES["weights2"], std=0.01, rng=rng)}


class NeuralNetwork:
    """The tutorial's class. Added: `weights=` (start from given weights, copied),
    `gradients()` (the two chain-rule products, split out of `backward`), and `train`
    returning its losses (`verbose=False` silences the prints)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 weights: Mapping[str, Any] | None = None) -> None:
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size

        # Initialize weights
        if weights is None:
            self.weights1 = np.random.randn(self.input_size, self.hidden_size) * 0.01
            self.weights2 = np.random.randn(self.hidden_size, self.output_size) * 0.01
        else:
            check_params(weights, {"weights1": (input_size, hidden_size),
                                   "weights2": (hidden_size, output_size)}, "NeuralNetwork")
            self.weights1 = as_array(weights["weights1"])
            self.weights2 = as_array(weights["weights2"])

    def forward(self, X: np.ndarray) -> np.ndarray:
        # Forward pass
        self.z1 = np.dot(X, self.weights1)
        self.a1 = self.sigmoid(self.z1)
        self.z2 = np.dot(self.a1, self.weights2)
        y_pred = self.sigmoid(self.z2)
        return y_pred

    def gradients(self, X: np.ndarray, y: np.ndarray,
                  y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tutorial's d_weights1, d_weights2: the gradient of 0.5 * sum((y_pred - y)^2)."""
        delta2 = (y_pred - y) * self.sigmoid_derivative(self.z2)
        d_weights2 = np.dot(self.a1.T, delta2)
        delta1 = np.dot(delta2, self.weights2.T) * self.sigmoid_derivative(self.z1)
        d_weights1 = np.dot(X.T, delta1)
        return d_weights1, d_weights2

    def backward(self, X: np.ndarray, y: np.ndarray, y_pred: np.ndarray,
                 learning_rate: float) -> None:
        # Backward pass
        d_weights1, d_weights2 = self.gradients(X, y, y_pred)

        # Update weights
        self.weights1 -= learning_rate * d_weights1
        self.weights2 -= learning_rate * d_weights2

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float, epochs: int,
              verbose: bool = True) -> list[float]:
        losses = []
        for epoch in range(epochs):
            # Forward pass
            y_pred = self.forward(X)

            # Backward pass
            self.backward(X, y, y_pred, learning_rate)

            # Compute loss
            loss = np.mean(np.square(y_pred - y))
            losses.append(float(loss))

            # Print loss every 100 epochs
            if verbose and epoch % 100 == 0:
                print(f"Epoch {epoch}: Loss = {loss:.4f}")
        return losses

    def sigmoid(self, z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-z))

    def sigmoid_derivative(self, z: np.ndarray) -> np.ndarray:
        return self.sigmoid(z) * (1 - self.sigmoid(z))


def handwritten_gradients(params: Mapping[str, Any], X: np.ndarray = X,
                          Y: np.ndarray = Y) -> dict[str, np.ndarray]:
    """The tutorial's d_weights1/d_weights2 at `params`.

    They are the gradient of `tutorial_objective` = 0.5 * sum of squares, not of the mean
    squared error it prints: with N rows they equal N/2 times the gradient of `loss`.
    """
    net = NeuralNetwork(2, 4, 1, weights=params)
    y_pred = net.forward(np.asarray(X))
    d1, d2 = net.gradients(np.asarray(X), np.asarray(Y), y_pred)
    return {"weights1": d1, "weights2": d2}


def train_handwritten(params: Mapping[str, Any], lr: float = 0.1, epochs: int = 1000,
                      X: np.ndarray = X, Y: np.ndarray = Y,
                      verbose: bool = False) -> tuple[dict[str, np.ndarray], list[float]]:
    """The tutorial's `train` from `params`: (final weights, the loss of every epoch).

    Each loss is the mean squared error of the prediction made before that epoch's update,
    the number the tutorial prints every 100 epochs (stuck at 0.2500, see
    `plateau_diagnostics`).
    """
    net = NeuralNetwork(2, 4, 1, weights=params)
    losses = net.train(np.asarray(X), np.asarray(Y), learning_rate=lr, epochs=epochs,
                       verbose=verbose)
    return {"weights1": net.weights1.copy(), "weights2": net.weights2.copy()}, losses


# ---------------------------------------------------------------------------------------------
# The 2-4-1 network on Tensors: pure function and Module
# ---------------------------------------------------------------------------------------------
def forward(params: Mapping[str, Any], X: Any = X) -> Tensor:
    """sigmoid(sigmoid(X @ W1) @ W2): the tutorial's network (no biases) as a pure function."""
    check_params(params, SHAPES, "tutorial2.forward")
    return ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(X, params["weights1"])), params["weights2"]))


def loss(params: Mapping[str, Any], X: Any = X, Y: Any = Y) -> Tensor:
    """The loss the tutorial prints: the mean of squared errors."""
    return nn.functional.mse_loss(forward(params, X), Y)


def tutorial_objective(params: Mapping[str, Any], X: Any = X, Y: Any = Y) -> Tensor:
    """What the tutorial's backward actually differentiates: 0.5 * sum of squared errors."""
    return 0.5 * nn.functional.sum_of_squares(forward(params, X), Y)


class Network(nn.Module):
    """The tutorial's 2-4-1 network as a Module: parameters "weights1" (2, 4), "weights2" (4, 1)."""

    def __init__(self, weights: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__()
        weights = initial_weights(seed) if weights is None else weights
        check_params(weights, SHAPES, "tutorial2.Network")
        self.weights1 = nn.Parameter(as_array(weights["weights1"]))
        self.weights2 = nn.Parameter(as_array(weights["weights2"]))

    def forward(self, x: Any) -> Tensor:
        """The tutorial's two sigmoid layers, without biases."""
        return ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(x, self.weights1)), self.weights2))


def train_autograd(params: Mapping[str, Any], lr: float = 0.1, epochs: int = 1000,
                   style: str = "function", X: np.ndarray = X,
                   Y: np.ndarray = Y) -> tuple[dict[str, np.ndarray], list[float]]:
    """The tutorial's training with autograd gradients of `tutorial_objective` (same steps).

    `style="function"` uses `ag.value_and_grad` on a params dict; `style="module"` trains
    `Network` with `ag.optim.SGD`. Returns (final weights, mean squared error per epoch).
    """
    check_params(params, SHAPES, "tutorial2.train_autograd")
    n = len(X)
    losses: list[float] = []
    if style == "function":
        step = value_and_grad(tutorial_objective)
        p = copy_params(params)
        for _ in range(epochs):
            half_sse, grads = step(p, X, Y)
            losses.append(float(2.0 * half_sse / n))
            p = optim.sgd_update(p, grads, lr)
        return p, losses
    if style == "module":
        model = Network(weights=params)
        opt = optim.SGD(model.parameters(), lr=lr)
        for _ in range(epochs):
            opt.zero_grad()
            objective = 0.5 * nn.functional.sum_of_squares(model(X), Y)
            objective.backward()
            opt.step()
            losses.append(float(2.0 * objective.item() / n))
        return model.state_dict(), losses
    raise ValueError(f"train_autograd: style must be 'function' or 'module', got {style!r}")


# ---------------------------------------------------------------------------------------------
# Why the loss stays at 0.2500
# ---------------------------------------------------------------------------------------------
def hessian(params: Mapping[str, Any], X: Any = X, Y: Any = Y) -> np.ndarray:
    """The 12x12 Hessian of `loss` in the flattened order (weights1, weights2), by nested grad."""
    check_params(params, SHAPES, "tutorial2.hessian")
    n1 = int(np.prod(SHAPES["weights1"]))

    def flat_loss(v: Any) -> Tensor:
        w1 = ag.reshape(v[:n1], SHAPES["weights1"])
        w2 = ag.reshape(v[n1:], SHAPES["weights2"])
        return loss({"weights1": w1, "weights2": w2}, X, Y)

    v0 = np.concatenate([as_array(params["weights1"]).ravel(),
                         as_array(params["weights2"]).ravel()])
    dloss = grad(flat_loss)
    rows = [grad(lambda v, i=i: dloss(v)[i])(v0) for i in range(v0.size)]
    return np.stack(rows)


def plateau_diagnostics(params: Mapping[str, Any] | None = None, X: Any = X,
                        Y: Any = Y) -> dict[str, Any]:
    """Why the tutorial's XOR loss stays at 0.2500: measurements at `params` (default: seed 0).

    With weights ~0.01 and no biases every pre-activation is ~0, so every hidden unit outputs
    ~0.5 and so does the output on all four rows: loss = mean((0.5 - y)^2) = 0.25. The
    residual pattern (+1/2, -1/2, -1/2, +1/2) is orthogonal to both input columns and to the
    constant, so every first-order signal cancels; only x0*x1 correlates with XOR, and a net
    without biases sees it only at third order in the weights. Hence the gradients are tiny
    (seed 0: up to 8e-4 for weights2, about 1e-6 for weights1) and lr 0.1 barely moves the
    weights: a near-saddle. Exactly at w = 0 the
    gradient is 0 and the Hessian has a single non-zero eigenvalue, 1/8 (along sum(weights2),
    which only shifts all outputs together); the other 11 directions are flat to second order.
    The start is the culprit, not the architecture: the same bias-free network from Xavier
    weights learns XOR with plain gradient descent (tests: lr 2.5, 1000 epochs, loss ~0.0014),
    while from the tutorial's start the same lr leaves the loss at 0.2500.

    Returns the loss, the gradient of `loss` and its max |entry|, and the Hessian eigenvalues.
    """
    params = initial_weights(0) if params is None else params
    value, g = value_and_grad(loss)(copy_params(params), X, Y)
    eig = np.linalg.eigvalsh(hessian(params, X, Y))
    return {
        "loss": float(value),
        "grad": g,
        "max_abs_grad": max(float(np.max(np.abs(v))) for v in g.values()),
        "hessian_eigenvalues": eig,
    }


# ---------------------------------------------------------------------------------------------
# The fix: biases, Xavier init, and a learning rate that suits the mean loss (or Adam)
# ---------------------------------------------------------------------------------------------
def fixed_initial_params(seed: int = 0) -> dict[str, np.ndarray]:
    """Xavier-uniform weights and zero biases for the fixed 2-4-1 network."""
    rng = np.random.default_rng(seed)
    return {
        "weights1": nn.init.xavier_uniform(FIXED_SHAPES["weights1"], rng=rng),
        "bias1": nn.init.zeros(FIXED_SHAPES["bias1"]),
        "weights2": nn.init.xavier_uniform(FIXED_SHAPES["weights2"], rng=rng),
        "bias2": nn.init.zeros(FIXED_SHAPES["bias2"]),
    }


def fixed_forward(params: Mapping[str, Any], X: Any = X) -> Tensor:
    """sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2): the tutorial's network plus biases."""
    check_params(params, FIXED_SHAPES, "tutorial2.fixed_forward")
    hidden = ag.sigmoid(ag.dot(X, params["weights1"]) + params["bias1"])
    return ag.sigmoid(ag.dot(hidden, params["weights2"]) + params["bias2"])


def fixed_loss(params: Mapping[str, Any], X: Any = X, Y: Any = Y) -> Tensor:
    """Mean squared error of the fixed network (the same quantity the tutorial prints)."""
    return nn.functional.mse_loss(fixed_forward(params, X), Y)


class FixedNetwork(nn.Module):
    """The fixed network as a Module; parameter names match `fixed_initial_params` keys."""

    def __init__(self, params: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__()
        params = fixed_initial_params(seed) if params is None else params
        check_params(params, FIXED_SHAPES, "tutorial2.FixedNetwork")
        for name in FIXED_SHAPES:
            setattr(self, name, nn.Parameter(as_array(params[name])))

    def forward(self, x: Any) -> Tensor:
        """Two sigmoid layers with biases."""
        hidden = ag.sigmoid(ag.dot(x, self.weights1) + self.bias1)
        return ag.sigmoid(ag.dot(hidden, self.weights2) + self.bias2)


DEFAULT_LR = {"sgd": 5.0, "adam": 0.1}


def train_fixed(params: Mapping[str, Any] | None = None, epochs: int = 1000, seed: int = 0,
                lr: float | None = None, optimizer: str = "sgd", style: str = "function",
                X: np.ndarray = X, Y: np.ndarray = Y) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train the fixed network on XOR: (final params, mean squared error before each update).

    `optimizer` is "sgd" (default lr 5.0: the mean loss's gradients are small, so plain gradient
    descent needs a large step; the tutorial's 0.1 is far too slow) or "adam" (lr 0.1).
    `style` is "function" (`ag.value_and_grad` + `ag.optim.sgd_update`/`adam_update`) or
    "module" (`FixedNetwork` + `ag.optim.SGD`/`Adam`). Starts from `params` or
    `fixed_initial_params(seed)`. Measured over seeds 0-5: SGD ends below 0.001 for all; Adam
    below 1e-4 for all but seed 4, which sits at 0.125 after 1000 epochs (one row wrong: XOR's
    well-known local minimum) and escapes by about 2000.
    """
    if optimizer not in DEFAULT_LR:
        raise ValueError(f"train_fixed: optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    params = fixed_initial_params(seed) if params is None else params
    check_params(params, FIXED_SHAPES, "tutorial2.train_fixed")
    losses: list[float] = []
    if style == "function":
        step = value_and_grad(fixed_loss)
        p = copy_params(params)
        state = optim.adam_init(p) if optimizer == "adam" else None
        for _ in range(epochs):
            value, grads = step(p, X, Y)
            losses.append(float(value))
            if optimizer == "adam":
                p, state = optim.adam_update(p, grads, state, lr=lr)
            else:
                p = optim.sgd_update(p, grads, lr)
        return p, losses
    if style == "module":
        model = FixedNetwork(params)
        opt_cls = optim.Adam if optimizer == "adam" else optim.SGD
        opt = opt_cls(model.parameters(), lr=lr)
        for _ in range(epochs):
            opt.zero_grad()
            value = nn.functional.mse_loss(model(X), Y)
            value.backward()
            opt.step()
            losses.append(value.item())
        return model.state_dict(), losses
    raise ValueError(f"train_fixed: style must be 'function' or 'module', got {style!r}")


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------
def report(seed: int = 0) -> str:
    """The tutorial's printed outputs next to the Tensor versions, and the XOR story."""
    out = ["Tutorial 2: from one neuron to a 2-4-1 network", ""]
    steps = [
        ("single neuron", single_neuron_numpy(), single_neuron()),
        ("layer", layer_numpy(), layer()),
        ("batch", batch_numpy(), batch()),
        ("two layers", two_layers_numpy(), two_layers()),
    ]
    for name, ref, t in steps:
        out += [f"{name}:", f"  NumPy (tutorial): {_one_line(ref)}",
                f"  Tensor:           {_one_line(t.data)}",
                f"  max |difference|: {float(np.max(np.abs(ref - t.data))):.1e}"]
    buggy, correct = softmax_difference(inputs)
    out += ["", "softmax of the batch `inputs`:",
            f"  tutorial Softmax (axis 0): rows sum to {_one_line(buggy.sum(axis=1))}",
            f"  correct softmax (axis -1): rows sum to {_one_line(correct.sum(axis=1))}",
            f"  tutorial Softmax(10) equals Softmax(-3): "
            f"{bool(np.allclose(Softmax(10), Softmax(-3)))} (it ignores x)"]
    w0 = initial_weights(seed)
    _, ref_losses = train_handwritten(w0)
    _, ag_losses = train_autograd(w0)
    diag = plateau_diagnostics(w0)
    fixed_params, fixed_losses = train_fixed(seed=seed)
    out += ["", "2-4-1 network on XOR (tutorial: randn*0.01, no biases, lr 0.1):"]
    for epoch in range(0, len(ref_losses), 100):
        out.append(f"  Epoch {epoch}: Loss = {ref_losses[epoch]:.4f}   "
                   f"(autograd: {ag_losses[epoch]:.4f})")
    out += [f"  max |grad| at the start: {diag['max_abs_grad']:.1e}",
            f"  fixed (biases, Xavier, SGD lr {DEFAULT_LR['sgd']}): loss "
            f"{fixed_losses[0]:.4f} -> {fixed_losses[-1]:.4f} after {len(fixed_losses)} epochs"]
    with no_grad():
        pred = fixed_forward(fixed_params).data
    out.append(f"  fixed predictions: {_one_line(pred.ravel())}  targets: {_one_line(Y.ravel())}")
    return "\n".join(out) + "\n"


def _one_line(a: Any) -> str:
    return np.array2string(np.asarray(a), precision=5, separator=", ").replace("\n", "")


def main(seed: int = 0) -> None:
    """Print the report."""
    print(report(seed))


if __name__ == "__main__":
    main()
