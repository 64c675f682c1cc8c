"""A catalogue of seeded bugs in hand-written NumPy backprop, for scoring the diagnosis tools.

Each architecture is one hand-written backward pass whose every statement goes through a
`Faults` object: with no fault it is the right backprop (checked against autograd and against
finite differences in tests/test_bug_catalogue.py); with a fault `Bug(kind, node, variant)` one
statement at one named node is wrong in one of the eight ways of issue 22. Nothing here knows
what the tools answer: a case is only the program, its loss graph and the seeded label.

Kinds: sign, factor, transposed, axis (no batch sum, or a sum over the wrong axis),
accumulation (one contribution of a node read twice), activation (s(1-s) or 1-z² taken at z, a
missing ReLU mask or derivative), mean_vs_sum (a missing 1/N, N the batch size), convention
(ascent from (y - output); the 0.5 of a 0.5*sum). Node names are the names the loss graph
gives (`Tensor.name`), so a label can be compared with a tool's `.node` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autograd_nn as ag

__all__ = ["ARCHITECTURES", "Bug", "Case", "Faults", "catalogue"]


@dataclass(frozen=True)
class Bug:
    kind: str | None  # None: the correct program
    node: str | None = None
    variant: Any = None


class Faults:
    """The hooks a hand-written backward pass calls at each node; one of them may be wrong."""

    def __init__(self, bug: Bug, n: int, half: float, mean: bool = True) -> None:
        self.bug, self.n, self.half, self.mean = bug, n, half, mean

    def _hit(self, node: str, kind: str) -> bool:
        return self.bug.kind == kind and self.bug.node == node

    def node(self, name: str, g: np.ndarray) -> np.ndarray:
        """A gradient as computed at `name`: a sign, factor, missing 1/N, transpose or a
        convention may enter here."""
        b = self.bug
        if b.node != name:
            return g
        if b.kind == "sign":
            return -g
        if b.kind == "factor":
            return b.variant * g
        if b.kind == "mean_vs_sum":  # a missing 1/N (an extra one where the loss sums)
            return self.n * g if self.mean else g / self.n
        if b.kind == "transposed":
            return g.T
        if b.kind == "convention":
            return {"ascent": -1.0, "half": self.half, "ascent_half": -self.half}[b.variant] * g
        return g

    def act(self, name: str, g: np.ndarray, right: np.ndarray, at_input: np.ndarray | None
            ) -> np.ndarray:
        """g * f'(...) for the activation whose input is `name`."""
        if self._hit(name, "activation"):
            return g * at_input if self.bug.variant == "at_input" else g
        return g * right

    def accum(self, name: str, parts: list[np.ndarray]) -> np.ndarray:
        """The gradient of a node read several times: the sum of its contributions."""
        if self._hit(name, "accumulation"):
            return parts[self.bug.variant]
        return sum(parts[1:], parts[0])

    def bias(self, name: str, g: np.ndarray) -> np.ndarray:
        """A broadcast bias: the incoming gradient summed over the batch axis."""
        if self._hit(name, "axis"):
            return g if self.bug.variant == "batch" else g.sum(axis=1)
        return g.sum(axis=0)


def _t(x: np.ndarray, name: str) -> Any:
    x.name = name
    return x


def _sig(z):
    return 1 / (1 + np.exp(-z))


@dataclass
class Arch:
    """One architecture: data and parameters from a seed, the autograd loss (its nodes named),
    the hand-written backward through `Faults`, and where each kind of bug can be seeded."""

    name: str
    make: Callable  # (rng, variant) -> (params, X, Y)
    loss: Callable  # (params, X, Y) -> scalar Tensor
    backward: Callable  # (params, X, Y, faults) -> {node or parameter: gradient}
    top: str  # the node whose gradient the hand-written code computes first
    nodes: list[str]  # the other intermediate nodes given, backward order
    weights: list[str]
    biases: list[str]
    activations: dict[str, str]  # pre-activation node -> op ('sigmoid', 'tanh', 'relu')
    reused: list[str] = field(default_factory=list)  # nodes (or parameters) read twice
    mean: bool = True  # the loss averages over the batch (else it sums)
    shapes: list[tuple] = field(default_factory=list)
    conventions: tuple[str, ...] = ("ascent", "half")

    @property
    def params(self) -> list[str]:
        return self.weights + self.biases


# --- 1. the tutorial's sigmoid net: no biases, L = sum((Y - h2)**2) ---------------------------
def _tutorial_make(rng, shape):
    n, d, h = shape
    X = rng.integers(0, 2, size=(n, d)).astype(float)
    X[:, -1] = 1.0
    Y = rng.integers(0, 2, size=(n, 1)).astype(float)
    return {"weights1": rng.random((d, h)), "weights2": rng.random((h, 1))}, X, Y


def _tutorial_loss(p, X, Y):
    z1 = _t(X @ p["weights1"], "z1")
    h1 = _t(ag.sigmoid(z1), "h1")
    z2 = _t(h1 @ p["weights2"], "z2")
    h2 = _t(ag.sigmoid(z2), "h2")
    return ((Y - h2) ** 2).sum()


def _tutorial_backward(p, X, Y, F):
    z1 = X @ p["weights1"]
    h1 = _sig(z1)
    z2 = h1 @ p["weights2"]
    h2 = _sig(z2)
    g = {"h2": F.node("h2", -2 * (Y - h2))}
    g["z2"] = F.node("z2", F.act("z2", g["h2"], h2 * (1 - h2), z2 * (1 - z2)))
    g["weights2"] = F.node("weights2", h1.T @ g["z2"])
    g["h1"] = F.node("h1", g["z2"] @ p["weights2"].T)
    g["z1"] = F.node("z1", F.act("z1", g["h1"], h1 * (1 - h1), z1 * (1 - z1)))
    g["weights1"] = F.node("weights1", X.T @ g["z1"])
    return g


# --- 2. a tanh MLP with biases, two hidden layers, mean squared error --------------------------
def _mlp_make(rng, shape):
    n, d, h1, h2 = shape
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 1))
    return {"W1": rng.normal(size=(d, h1)) * 0.7, "W2": rng.normal(size=(h1, h2)) * 0.7,
            "W3": rng.normal(size=(h2, 1)), "b1": rng.normal(size=h1) * 0.3,
            "b2": rng.normal(size=h2) * 0.3, "b3": rng.normal(size=1)}, X, Y


def _mlp_loss(p, X, Y):
    z1 = _t(X @ p["W1"] + p["b1"], "z1")
    h1 = _t(ag.tanh(z1), "h1")
    z2 = _t(h1 @ p["W2"] + p["b2"], "z2")
    h2 = _t(ag.tanh(z2), "h2")
    out = _t(h2 @ p["W3"] + p["b3"], "out")
    return ag.mean((out - Y) ** 2)


def _mlp_backward(p, X, Y, F):
    n = len(X)
    z1 = X @ p["W1"] + p["b1"]
    h1 = np.tanh(z1)
    z2 = h1 @ p["W2"] + p["b2"]
    h2 = np.tanh(z2)
    out = h2 @ p["W3"] + p["b3"]
    g = {"out": F.node("out", 2 * (out - Y) / n)}
    g["W3"] = F.node("W3", h2.T @ g["out"])
    g["b3"] = F.node("b3", F.bias("b3", g["out"]))
    g["h2"] = F.node("h2", g["out"] @ p["W3"].T)
    g["z2"] = F.node("z2", F.act("z2", g["h2"], 1 - h2 ** 2, 1 - z2 ** 2))
    g["W2"] = F.node("W2", h1.T @ g["z2"])
    g["b2"] = F.node("b2", F.bias("b2", g["z2"]))
    g["h1"] = F.node("h1", g["z2"] @ p["W2"].T)
    g["z1"] = F.node("z1", F.act("z1", g["h1"], 1 - h1 ** 2, 1 - z1 ** 2))
    g["W1"] = F.node("W1", X.T @ g["z1"])
    g["b1"] = F.node("b1", F.bias("b1", g["z1"]))
    return g


# --- 3. ReLU + softmax cross-entropy -----------------------------------------------------------
def _ce_make(rng, shape):
    n, d, h, k = shape
    X = rng.normal(size=(n, d))
    Y = np.eye(k)[rng.integers(0, k, size=n)]
    return {"W1": rng.normal(size=(d, h)), "W2": rng.normal(size=(h, k)),
            "b1": rng.normal(size=h) * 0.5, "b2": rng.normal(size=k) * 0.5}, X, Y


def _ce_loss(p, X, Y):
    z1 = _t(X @ p["W1"] + p["b1"], "z1")
    h1 = _t(ag.relu(z1), "h1")
    logits = _t(h1 @ p["W2"] + p["b2"], "logits")
    return -ag.mean(ag.sum(Y * ag.log_softmax(logits, axis=1), axis=1))


def _ce_backward(p, X, Y, F):
    n = len(X)
    z1 = X @ p["W1"] + p["b1"]
    h1 = np.maximum(z1, 0)
    logits = h1 @ p["W2"] + p["b2"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    g = {"logits": F.node("logits", (probs - Y) / n)}
    g["W2"] = F.node("W2", h1.T @ g["logits"])
    g["b2"] = F.node("b2", F.bias("b2", g["logits"]))
    g["h1"] = F.node("h1", g["logits"] @ p["W2"].T)
    g["z1"] = F.node("z1", F.act("z1", g["h1"], (z1 > 0).astype(float), None))
    g["W1"] = F.node("W1", X.T @ g["z1"])
    g["b1"] = F.node("b1", F.bias("b1", g["z1"]))
    return g


# --- 4. a residual block: h = h0 + W2-branch(h0), h0 read twice --------------------------------
def _res_make(rng, shape):
    n, d, h = shape
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 1))
    return {"Win": rng.normal(size=(d, h)) * 0.6, "W1": rng.normal(size=(h, h)) * 0.6,
            "W2": rng.normal(size=(h, h)) * 0.6, "Wout": rng.normal(size=(h, 1)),
            "b1": rng.normal(size=h) * 0.3}, X, Y


def _res_loss(p, X, Y):
    z0 = _t(X @ p["Win"], "z0")
    h0 = _t(ag.tanh(z0), "h0")
    z1 = _t(h0 @ p["W1"] + p["b1"], "z1")
    h1 = _t(ag.tanh(z1), "h1")
    r = _t(h1 @ p["W2"], "r")
    h = _t(h0 + r, "h")
    out = _t(h @ p["Wout"], "out")
    return ag.mean((out - Y) ** 2)


def _res_backward(p, X, Y, F):
    n = len(X)
    z0 = X @ p["Win"]
    h0 = np.tanh(z0)
    z1 = h0 @ p["W1"] + p["b1"]
    h1 = np.tanh(z1)
    h = h0 + h1 @ p["W2"]
    out = h @ p["Wout"]
    g = {"out": F.node("out", 2 * (out - Y) / n)}
    g["Wout"] = F.node("Wout", h.T @ g["out"])
    g["h"] = F.node("h", g["out"] @ p["Wout"].T)
    g["r"] = F.node("r", g["h"])
    g["W2"] = F.node("W2", h1.T @ g["r"])
    g["h1"] = F.node("h1", g["r"] @ p["W2"].T)
    g["z1"] = F.node("z1", F.act("z1", g["h1"], 1 - h1 ** 2, 1 - z1 ** 2))
    g["W1"] = F.node("W1", h0.T @ g["z1"])
    g["b1"] = F.node("b1", F.bias("b1", g["z1"]))
    g["h0"] = F.node("h0", F.accum("h0", [g["h"], g["z1"] @ p["W1"].T]))
    g["z0"] = F.node("z0", F.act("z0", g["h0"], 1 - h0 ** 2, 1 - z0 ** 2))
    g["Win"] = F.node("Win", X.T @ g["z0"])
    return g


# --- 5. tied weights: a tanh autoencoder decoding with W.T --------------------------------------
def _tied_make(rng, shape):
    n, d, h = shape
    X = rng.normal(size=(n, d))
    return {"W": rng.normal(size=(d, h)) * 0.6, "b": rng.normal(size=h) * 0.3,
            "c": rng.normal(size=d) * 0.3}, X, X


def _tied_loss(p, X, Y):
    z1 = _t(X @ p["W"] + p["b"], "z1")
    h1 = _t(ag.tanh(z1), "h1")
    out = _t(h1 @ _t(p["W"].T, "Wt") + p["c"], "out")
    return ag.mean(ag.sum((out - Y) ** 2, axis=1))


def _tied_backward(p, X, Y, F):
    n = len(X)
    z1 = X @ p["W"] + p["b"]
    h1 = np.tanh(z1)
    out = h1 @ p["W"].T + p["c"]
    g = {"out": F.node("out", 2 * (out - Y) / n)}
    g["c"] = F.node("c", F.bias("c", g["out"]))
    g["h1"] = F.node("h1", g["out"] @ p["W"])
    g["z1"] = F.node("z1", F.act("z1", g["h1"], 1 - h1 ** 2, 1 - z1 ** 2))
    g["b"] = F.node("b", F.bias("b", g["z1"]))
    g["W"] = F.node("W", F.accum("W", [X.T @ g["z1"], g["out"].T @ h1]))
    return g


# --- 6. batch normalisation (training mode) between two layers ----------------------------------
EPS = 1e-5


def _bn_make(rng, shape):
    n, d, h = shape
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 1))
    return {"W1": rng.normal(size=(d, h)), "gamma": 1 + 0.3 * rng.normal(size=h),
            "beta": 0.3 * rng.normal(size=h), "W2": rng.normal(size=(h, 1))}, X, Y


def _bn_loss(p, X, Y):
    z = _t(X @ p["W1"], "z")
    zc = _t(z - ag.mean(z, axis=0), "zc")
    var = _t(ag.mean(zc * zc, axis=0), "var")
    zh = _t(zc / ag.sqrt(var + EPS), "zh")
    y = _t(zh * p["gamma"] + p["beta"], "y")
    h = _t(ag.tanh(y), "h")
    out = _t(h @ p["W2"], "out")
    return ag.mean((out - Y) ** 2)


def _bn_backward(p, X, Y, F):
    n = len(X)
    z = X @ p["W1"]
    zc = z - z.mean(axis=0)
    var = (zc * zc).mean(axis=0)
    s = np.sqrt(var + EPS)
    zh = zc / s
    y = zh * p["gamma"] + p["beta"]
    h = np.tanh(y)
    out = h @ p["W2"]
    g = {"out": F.node("out", 2 * (out - Y) / n)}
    g["W2"] = F.node("W2", h.T @ g["out"])
    g["h"] = F.node("h", g["out"] @ p["W2"].T)
    g["y"] = F.node("y", F.act("y", g["h"], 1 - h ** 2, 1 - y ** 2))
    g["gamma"] = F.node("gamma", F.bias("gamma", g["y"] * zh))
    g["beta"] = F.node("beta", F.bias("beta", g["y"]))
    g["zh"] = F.node("zh", g["y"] * p["gamma"])
    g["var"] = F.node("var", (-(g["zh"] * zc) / (2 * s ** 3)).sum(axis=0))
    g["zc"] = F.node("zc", F.accum("zc", [g["zh"] / s, g["var"] * 2 * zc / n]))
    g["z"] = F.node("z", F.accum("z", [g["zc"], -np.broadcast_to(g["zc"].sum(axis=0) / n,
                                                                  zc.shape)]))
    g["W1"] = F.node("W1", X.T @ g["z"])
    return g


ARCHITECTURES = [
    Arch("tutorial sigmoid", _tutorial_make, _tutorial_loss, _tutorial_backward, "h2",
         ["z2", "h1", "z1"], ["weights1", "weights2"], [], {"z2": "sigmoid", "z1": "sigmoid"},
         mean=False, shapes=[(4, 3, 4), (7, 3, 5), (5, 4, 3), (8, 3, 3)]),
    Arch("tanh MLP", _mlp_make, _mlp_loss, _mlp_backward, "out", ["h2", "z2", "h1", "z1"],
         ["W1", "W2", "W3"], ["b1", "b2", "b3"], {"z2": "tanh", "z1": "tanh"},
         shapes=[(7, 3, 4, 3), (5, 4, 5, 5), (9, 2, 3, 4), (6, 3, 3, 3)],
         conventions=("ascent", "half", "ascent_half")),
    Arch("relu softmax-CE", _ce_make, _ce_loss, _ce_backward, "logits", ["h1", "z1"],
         ["W1", "W2"], ["b1", "b2"], {"z1": "relu"}, shapes=[(7, 3, 6, 3), (8, 4, 5, 4),
                                                               (9, 3, 4, 3), (5, 2, 5, 2)],
         conventions=("ascent",)),
    Arch("residual block", _res_make, _res_loss, _res_backward, "out",
         ["h", "r", "h1", "z1", "h0", "z0"], ["Win", "W1", "W2", "Wout"], ["b1"],
         {"z1": "tanh", "z0": "tanh"}, reused=["h0"], shapes=[(7, 3, 4), (5, 2, 3), (8, 3, 5)]),
    Arch("tied weights", _tied_make, _tied_loss, _tied_backward, "out", ["h1", "z1"], ["W"],
         ["b", "c"], {"z1": "tanh"}, reused=["W"],
         shapes=[(7, 4, 3), (9, 3, 3), (5, 4, 4), (8, 2, 3)]),
    Arch("batch norm", _bn_make, _bn_loss, _bn_backward, "out",
         ["h", "y", "zh", "var", "zc", "z"], ["W1", "W2"], ["gamma", "beta"], {"y": "tanh"},
         reused=["zc", "z"], shapes=[(7, 3, 4), (9, 2, 3), (6, 3, 6)]),
]


@dataclass
class Case:
    """One program: an architecture, a seed, a shape and the seeded bug (or none)."""

    arch: Arch
    seed: int
    shape: tuple
    bug: Bug
    params: dict = field(repr=False, default_factory=dict)
    X: np.ndarray = field(repr=False, default=None)
    Y: np.ndarray = field(repr=False, default=None)

    @property
    def n(self) -> int:
        return len(self.X)

    def faults(self, bug: Bug | None = None) -> Faults:
        half = self.n / 2 if self.arch.mean else 0.5
        return Faults(self.bug if bug is None else bug, self.n, half, self.arch.mean)

    def node_grads(self, bug: Bug | None = None) -> dict[str, np.ndarray]:
        """Every hand-written gradient (nodes and parameters) of this program."""
        with np.errstate(over="ignore"):
            return self.arch.backward(self.params, self.X, self.Y, self.faults(bug))

    def handwritten(self, p: dict, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
        """The hand-written parameter gradients, as compare_backprop calls them."""
        with np.errstate(over="ignore"):
            g = self.arch.backward(p, X, Y, self.faults())
        return {k: g[k] for k in self.arch.params}

    def loss_tensor(self) -> tuple[Any, dict]:
        """The autograd loss built from Tensors named as the parameters."""
        p = {k: ag.Tensor(v, requires_grad=True, name=k) for k, v in self.params.items()}
        return self.arch.loss(p, self.X, self.Y), p

    def user_grads(self) -> dict[str, np.ndarray]:
        """What a user hands compare_intermediates: d<node> for every node, and parameters."""
        g = self.node_grads()
        return {(k if k in self.arch.params else f"d{k}"): v for k, v in g.items()}

    @property
    def label(self) -> str:
        b = self.bug
        what = "correct" if b.kind is None else f"{b.kind}@{b.node}" + (
            f"[{b.variant}]" if b.variant is not None else "")
        return f"{self.arch.name} #{self.seed} {what}"


def _bugs(arch: Arch, seed: int) -> list[Bug]:
    rng = np.random.default_rng(1000 + seed)
    factors = (2.0, 0.5, 3.0)
    out = [Bug(None)]
    for node in [*arch.nodes, *arch.params]:
        out.append(Bug("sign", node))
        out.append(Bug("factor", node, factors[int(rng.integers(3))]))
    # at the top a factor applies to every gradient: one no reduction explains (not 2, 1/2,
    # N/2 or 2/N, which a 0.5*sum convention gives, nor N, which is mean vs sum)
    n = arch.shapes[seed][0]
    out.append(Bug("factor", arch.top, 3.0 if n != 6 else 1.5))
    out += [Bug("transposed", w) for w in arch.weights]
    out += [Bug("axis", b, v) for b in arch.biases for v in ("batch", "axis")]
    out += [Bug("accumulation", r, v) for r in arch.reused for v in (0, 1)]
    out += [Bug("activation", z, v) for z, op in arch.activations.items()
            for v in (("missing",) if op == "relu" else ("at_input", "missing"))]
    out.append(Bug("mean_vs_sum", arch.top))
    out.append(Bug("mean_vs_sum", arch.params[int(rng.integers(len(arch.params)))]))
    out += [Bug("convention", arch.top, v) for v in arch.conventions]
    return out


def _same(a: dict, b: dict) -> bool:
    return all(np.shape(a[k]) == np.shape(b[k]) and np.allclose(a[k], b[k], rtol=1e-9,
                                                                atol=1e-12) for k in a)


def catalogue() -> list[Case]:
    """Every case: for each architecture and shape, the correct program and its seeded bugs.
    A seeded bug that changes no gradient at all (a ReLU mask over all-positive inputs) is left
    out: there is nothing to find."""
    cases = []
    for arch in ARCHITECTURES:
        for seed, shape in enumerate(arch.shapes):
            params, X, Y = arch.make(np.random.default_rng(seed), shape)
            base = Case(arch, seed, shape, Bug(None), params, X, Y)
            right = base.node_grads()
            for bug in _bugs(arch, seed):
                case = Case(arch, seed, shape, bug, params, X, Y)
                if bug.kind is not None and _same(case.node_grads(), right):
                    continue
                cases.append(case)
    return cases
