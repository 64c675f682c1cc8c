"""Optimizers: `SGD` and `Adam` on parameter Tensors, and pure-function updates on dicts.

The classes step each parameter's `.data` from its `.grad` into a new array, so a graph that
read the old values stays right (parameters whose grad is None are skipped); they follow
PyTorch's update rules exactly, so trajectories can be compared.
The functional forms (`sgd_update`, `adam_init`, `adam_update`) take nested dicts/lists of
arrays — what `ag.value_and_grad` returns — and return new ones without mutating their inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from ..transforms import tree_flatten

__all__ = ["SGD", "Adam", "Optimizer", "adam_init", "adam_update", "sgd_init", "sgd_update"]


# ---------------------------------------------------------------------------------------------
# Hyperparameter checks (shared by both forms)
# ---------------------------------------------------------------------------------------------
def _check_lr(lr: Any, where: str) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{where}: lr must be a number, got {type(lr).__name__}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"{where}: lr must be a positive finite number, got {lr}")
    return float(lr)


def _check_nonneg(value: Any, name: str, where: str, below_one: bool = False) -> float:
    value = float(value)
    if not (np.isfinite(value) and value >= 0) or (below_one and value >= 1):
        bound = "in [0, 1)" if below_one else ">= 0"
        raise ValueError(f"{where}: {name} must be {bound}, got {value}")
    return value


def _check_betas(betas: Any, where: str) -> tuple[float, float]:
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (
        _check_nonneg(b1, "betas[0]", where, below_one=True),
        _check_nonneg(b2, "betas[1]", where, below_one=True),
    )


# ---------------------------------------------------------------------------------------------
# Stateful optimizers on Tensors
# ---------------------------------------------------------------------------------------------
class Optimizer:
    """Holds a list of parameter Tensors (or (name, Tensor) pairs, e.g. `named_parameters()`)."""

    def __init__(self, params: Iterable[Any]) -> None:
        where = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: params must be an iterable of Tensors, not one Tensor")
        if isinstance(params, dict):
            raise TypeError(
                f"{where}: got a dict; pass model.parameters() (or list(d.values())). For dicts "
                "of arrays use the functional forms ag.optim.sgd_update / adam_update"
            )
        self.params: list[Tensor] = []
        self.names: list[str] = []
        seen: set[int] = set()
        for i, item in enumerate(params):
            name = None
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                name, item = item
            label = repr(name) if name else f"#{i}"
            if not isinstance(item, Tensor):
                raise TypeError(
                    f"{where}: parameter {label} is a {type(item).__name__}, expected a Tensor"
                )
            name = name or item.name or f"#{i}"
            if not item.requires_grad:
                raise ValueError(
                    f"{where}: parameter {name!r} (shape {item.shape}) does not require grad, "
                    "so it would never be updated; create it with requires_grad=True or leave "
                    "it out"
                )
            if item._op is not None:
                raise ValueError(
                    f"{where}: parameter {name!r} is the output of an op ({item.op}), not a leaf"
                )
            if id(item) in seen:
                raise ValueError(f"{where}: parameter {name!r} appears more than once")
            seen.add(id(item))
            self.params.append(item)
            self.names.append(name)
        if not self.params:
            raise ValueError(f"{where}: got an empty parameter list")
        self.state: dict[int, dict[str, Any]] = {}

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None)."""
        for p in self.params:
            p.grad = None

    def _grad(self, i: int, p: Tensor) -> np.ndarray:
        g = p.grad
        if g.shape != p.data.shape:
            raise ValueError(
                f"{type(self).__name__}: the grad of {self.names[i]!r} has shape {g.shape}, "
                f"the parameter {p.data.shape}"
            )
        return g

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (subclasses define it)."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Per parameter: g = grad + weight_decay * p; buf = g on the first step, then
    buf = momentum * buf + (1 - dampening) * g; p -= lr * buf (or lr * (g + momentum * buf)
    with nesterov). Same rule as torch.optim.SGD.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr, "SGD")
        self.momentum = _check_nonneg(momentum, "momentum", "SGD")
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "SGD")
        self.dampening = _check_nonneg(dampening, "dampening", "SGD")
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        lr, mom, wd = _check_lr(self.lr, "SGD"), self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = self._grad(i, p)
            if wd:
                g = g + wd * p.data
            if mom:
                st = self.state.setdefault(id(p), {})
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
                else:
                    buf *= mom
                    buf += (1 - self.dampening) * g
                g = g + mom * buf if self.nesterov else buf
            _subtract(p, lr * g)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and optional L2 weight decay added to the grad.

    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr * m_hat / (sqrt(v_hat) + eps), with
    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t) and t counted per parameter (torch.optim.Adam).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params)
        self.lr = _check_lr(lr, "Adam")
        self.betas = _check_betas(betas, "Adam")
        self.eps = _check_nonneg(eps, "eps", "Adam")
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", "Adam")

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        lr = _check_lr(self.lr, "Adam")
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = self._grad(i, p)
            st = self.state.get(id(p))
            if st is None:
                st = self.state[id(p)] = {
                    "step": 0, "m": np.zeros_like(p.data), "v": np.zeros_like(p.data),
                }
            update, st["m"], st["v"], st["step"] = _adam_delta(
                p.data, g, st["m"], st["v"], st["step"], lr, b1, b2, self.eps, self.weight_decay
            )
            _subtract(p, update)


def _subtract(p: Any, delta: np.ndarray) -> None:
    """p.data - delta into a new array of p's dtype: a graph that read the old values (and
    is backpropagated after this step) keeps them (see autograd_nn/saved.py)."""
    p.data = np.subtract(p.data, delta, dtype=p.data.dtype, casting="same_kind")


def _adam_delta(p, g, m, v, step, lr, b1, b2, eps, wd):
    """One Adam step on arrays: (amount to subtract from p, new m, new v, new step)."""
    if wd:
        g = g + wd * p
    step += 1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g)
    bias1 = 1 - b1**step
    bias2 = 1 - b2**step
    denom = np.sqrt(v) / math.sqrt(bias2) + eps
    delta = (lr / bias1) * m / denom
    return delta.astype(p.dtype, copy=False), m, v, step


# ---------------------------------------------------------------------------------------------
# Functional forms on (nested) dicts of arrays
# ---------------------------------------------------------------------------------------------
def _leaves(tree: Any, what: str, where: str) -> tuple[list[np.ndarray], Any]:
    leaves, rebuild = tree_flatten(tree)
    arrays = []
    for x in leaves:
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        if arr.dtype.kind not in "fc":
            raise TypeError(f"{where}: {what} must hold float arrays, found dtype {arr.dtype}")
        arrays.append(arr)
    return arrays, rebuild


def _matched(params: Any, grads: Any, where: str) -> tuple[list, list, Any]:
    if isinstance(params, dict) and isinstance(grads, dict) and params.keys() != grads.keys():
        missing = [k for k in params if k not in grads]
        extra = [k for k in grads if k not in params]
        raise ValueError(
            f"{where}: grads keys differ from params: missing {missing}, extra {extra}"
        )
    ps, rebuild = _leaves(params, "params", where)
    gs, _ = _leaves(grads, "grads", where)
    if len(ps) != len(gs):
        raise ValueError(f"{where}: params has {len(ps)} arrays but grads has {len(gs)}")
    for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
        if p.shape != g.shape:
            raise ValueError(f"{where}: leaf #{i}: param shape {p.shape} but grad shape {g.shape}")
    return ps, gs, rebuild


def sgd_init(params: Any) -> dict[str, Any]:
    """Momentum state for `sgd_update`: one (not yet started) buffer per parameter array."""
    leaves, rebuild = _leaves(params, "params", "sgd_init")
    return {"step": 0, "momentum_buffer": rebuild([np.zeros_like(p) for p in leaves])}


def sgd_update(
    params: Any,
    grads: Any,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    state: dict[str, Any] | None = None,
    dampening: float = 0.0,
) -> Any:
    """One SGD step on a params dict: returns the new params (same nesting, new arrays).

    Without `state` this is plain `p - lr * (g + weight_decay * p)`. For momentum pass
    `state=sgd_init(params)`; the call then returns `(new_params, new_state)`.
    """
    lr = _check_lr(lr, "sgd_update")
    momentum = _check_nonneg(momentum, "momentum", "sgd_update")
    wd = _check_nonneg(weight_decay, "weight_decay", "sgd_update")
    if momentum and state is None:
        raise ValueError(
            "sgd_update: momentum needs state=ag.optim.sgd_init(params); the call then returns "
            "(params, state)"
        )
    ps, gs, rebuild = _matched(params, grads, "sgd_update")
    if wd:
        gs = [g + wd * p for p, g in zip(ps, gs, strict=True)]
    if state is None:
        new = [(p - lr * g).astype(p.dtype, copy=False) for p, g in zip(ps, gs, strict=True)]
        return rebuild(new)
    bufs, _ = _leaves(state["momentum_buffer"], "state", "sgd_update")
    step = state["step"] + 1
    if momentum:
        if step == 1:
            bufs = [g.astype(p.dtype) for p, g in zip(ps, gs, strict=True)]
        else:
            bufs = [
                momentum * b + (1 - dampening) * g for b, g in zip(bufs, gs, strict=True)
            ]
        gs = bufs
    new = rebuild(
        [(p - lr * g).astype(p.dtype, copy=False) for p, g in zip(ps, gs, strict=True)]
    )
    return new, {"step": step, "momentum_buffer": rebuild(bufs)}


def adam_init(params: Any) -> dict[str, Any]:
    """Adam state for `adam_update`: step 0 and zero first/second moments shaped like params."""
    leaves, rebuild = _leaves(params, "params", "adam_init")
    return {
        "step": 0,
        "m": rebuild([np.zeros_like(p) for p in leaves]),
        "v": rebuild([np.zeros_like(p) for p in leaves]),
    }


def adam_update(
    params: Any,
    grads: Any,
    state: dict[str, Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[Any, dict[str, Any]]:
    """One Adam step on a params dict: returns `(new_params, new_state)`; inputs are unchanged."""
    lr = _check_lr(lr, "adam_update")
    b1, b2 = _check_betas(betas, "adam_update")
    eps = _check_nonneg(eps, "eps", "adam_update")
    wd = _check_nonneg(weight_decay, "weight_decay", "adam_update")
    if not isinstance(state, dict) or not {"step", "m", "v"} <= state.keys():
        raise TypeError("adam_update: state must come from ag.optim.adam_init(params)")
    ps, gs, rebuild = _matched(params, grads, "adam_update")
    ms, _ = _leaves(state["m"], "state['m']", "adam_update")
    vs, _ = _leaves(state["v"], "state['v']", "adam_update")
    if len(ms) != len(ps):
        raise ValueError("adam_update: state does not match params; re-create it with adam_init")
    new_p, new_m, new_v = [], [], []
    step = state["step"]
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        delta, m, v, _ = _adam_delta(p, g, m, v, step, lr, b1, b2, eps, wd)
        new_p.append(p - delta)
        new_m.append(m)
        new_v.append(v)
    return rebuild(new_p), {"step": step + 1, "m": rebuild(new_m), "v": rebuild(new_v)}
