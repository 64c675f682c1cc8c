"""RMSprop and Adagrad: the classes (on parameter Tensors, with parameter groups and
state_dict) and their pure-function forms (`rmsprop_init`/`rmsprop_update`,
`adagrad_init`/`adagrad_update`, in `adam_update`'s argument order).

Each update rule is written once, over a namespace `xp` (NumPy, or autograd_nn's functions for
Tensors), so the class, the NumPy form and the Tensor form (which `ag.compile` records) compute
the same arithmetic in the same order as torch.optim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import functions as F
from ..core.tensor import Tensor
from ..transforms.grad import no_grad
from .base import Optimizer
from .optimizers import (
    _any_tensor,
    _array,
    _as_tensors,
    _cast,
    _check_lr,
    _check_nonneg,
    _hand_back,
    _leaves,
    _matched,
    _state,
    _step_array,
)

__all__ = ["Adagrad", "RMSprop", "adagrad_init", "adagrad_update", "rmsprop_init",
           "rmsprop_update"]


# ---------------------------------------------------------------------------------------------
# The rules: (xp, p, g, buffers, step, options, fit) -> (new p, new buffers)
# ---------------------------------------------------------------------------------------------
def _rmsprop_rule(xp, p, g, bufs, step, o, fit):
    """torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; centered subtracts the squared
    running mean of g; p -= lr g / (sqrt(v) + eps), through a momentum buffer if momentum > 0."""
    square_avg, grad_avg, buf = bufs
    if o["weight_decay"]:
        g = g + o["weight_decay"] * p
    alpha = o["alpha"]
    square_avg = alpha * square_avg + (1 - alpha) * (g * g)
    if o["centered"]:
        grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)
        avg = xp.sqrt(square_avg - grad_avg * grad_avg) + o["eps"]
    else:
        avg = xp.sqrt(square_avg) + o["eps"]
    if o["momentum"]:
        buf = o["momentum"] * buf + g / avg
        return p - o["lr"] * buf, (square_avg, grad_avg, buf)
    return p - o["lr"] * (g / avg), (square_avg, grad_avg, buf)


def _adagrad_rule(xp, p, g, bufs, step, o, fit):
    """torch.optim.Adagrad: s += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)."""
    (total,) = bufs
    if o["weight_decay"]:
        g = g + o["weight_decay"] * p
    clr = o["lr"] if not o["lr_decay"] else fit(o["lr"] / (1 + (step - 1) * o["lr_decay"]), p)
    total = total + g * g
    std = xp.sqrt(total) + o["eps"]
    return p - clr * (g / std), (total,)


# ---------------------------------------------------------------------------------------------
# Classes
# ---------------------------------------------------------------------------------------------
def _fit_numpy(x: Any, p: Any) -> Any:
    return x


class _RuleOptimizer(Optimizer):
    """An optimizer whose step is one `_rule` over the state buffers `_buffers`."""

    _rule: Callable
    _buffers: tuple[str, ...]

    def _initial(self, p: Tensor, name: str, group: dict[str, Any]) -> np.ndarray:
        return np.zeros_like(p.data)

    def _update(self, p: Tensor, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not st:
            st["step"] = 0
        for name in self._buffers:
            if name not in st:
                st[name] = self._initial(p, name, group)
        st["step"] += 1
        new_p, new_bufs = type(self)._rule(np, p.data, g, [st[k] for k in self._buffers],
                                           st["step"], group, _fit_numpy)
        for name, value in zip(self._buffers, new_bufs, strict=True):
            st[name] = value.astype(p.data.dtype, copy=False)
        p.data = np.asarray(new_p, dtype=p.data.dtype)  # a new array, as _subtract's


def _check_flag(value: Any, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def _check_rmsprop(o: dict[str, Any], where: str, stepping: bool = False) -> dict[str, Any]:
    o["lr"] = _check_lr(o["lr"], where, stepping)
    o["alpha"] = _check_nonneg(o["alpha"], "alpha", where)
    if o["alpha"] > 1:
        raise ValueError(f"{where}: alpha must be in [0, 1], got {o['alpha']}")
    for key in ("eps", "weight_decay", "momentum"):
        o[key] = _check_nonneg(o[key], key, where)
    o["centered"] = _check_flag(o["centered"], "centered", where)
    return o


def _check_adagrad(o: dict[str, Any], where: str, stepping: bool = False) -> dict[str, Any]:
    o["lr"] = _check_lr(o["lr"], where, stepping)
    for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        o[key] = _check_nonneg(o[key], key, where)
    return o


class RMSprop(_RuleOptimizer):
    """RMSprop (torch.optim.RMSprop, the same defaults): divides the gradient by the root of a
    running average (decay `alpha`) of its square plus `eps`; `centered` subtracts the squared
    running mean of the gradient first; `momentum` > 0 keeps a buffer of the scaled steps.
    State per parameter: step, square_avg, grad_avg, momentum_buffer."""

    _rule = _rmsprop_rule
    _buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group: dict[str, Any], stepping: bool = False) -> dict[str, Any]:
        return _check_rmsprop(group, "RMSprop", stepping)


class Adagrad(_RuleOptimizer):
    """Adagrad (torch.optim.Adagrad, the same defaults): divides the gradient by the root of
    the running sum of its squares (started at `initial_accumulator_value`) plus `eps`, with
    the learning rate lr / (1 + (t - 1) lr_decay) at step t. State: step, sum."""

    _rule = _adagrad_rule
    _buffers = ("sum",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))

    def _check_group(self, group: dict[str, Any], stepping: bool = False) -> dict[str, Any]:
        return _check_adagrad(group, "Adagrad", stepping)

    def _initial(self, p: Tensor, name: str, group: dict[str, Any]) -> np.ndarray:
        return np.full_like(p.data, group["initial_accumulator_value"])


# ---------------------------------------------------------------------------------------------
# Functional forms
# ---------------------------------------------------------------------------------------------
def _fit_tensor(x: Any, p: Tensor) -> Any:
    """A scalar computed from the (traced) step, in the parameter's dtype (as NumPy keeps
    float32 parameters float32 under Python-float arithmetic)."""
    return _cast(x, p.dtype) if isinstance(x, Tensor) else x


def _run_functional(where: str, init: str, keys: tuple[str, ...], rule: Callable,
                    params: Any, grads: Any, state: Any, options: dict[str, Any]) -> tuple:
    """One step of `rule` on every leaf: `(new_params, new_state)`, arrays or Tensors out as
    `sgd_update`/`adam_update` give them."""
    ps, gs, rebuild = _matched(params, grads, where)
    step, bufs = _state(state, keys, len(ps), where, init)
    if _any_tensor(ps, gs, *bufs, (step,)):
        given = [*ps, *gs, *(x for b in bufs for x in b), step]
        with no_grad():
            step = step + 1 if isinstance(step, Tensor) else Tensor(_step_array(step + 1))
            ps, gs = _as_tensors(ps), _as_tensors(gs)
            bufs = [_as_tensors(b) for b in bufs]
            new_p, new_bufs = _apply(F, rule, ps, gs, bufs, step, options, _fit_tensor,
                                     lambda x, p: _cast(x, p.dtype))
        out = rebuild(new_p), {"step": step, **{k: rebuild(b)
                                                for k, b in zip(keys, new_bufs, strict=True)}}
        _hand_back(given, out)
        return out
    step += 1
    new_p, new_bufs = _apply(np, rule, ps, gs, bufs, step, options, _fit_numpy,
                             lambda x, p: np.asarray(x).astype(p.dtype, copy=False))
    return rebuild(new_p), {"step": _step_array(step),
                            **{k: rebuild(b) for k, b in zip(keys, new_bufs, strict=True)}}


def _apply(xp, rule, ps, gs, bufs, step, options, fit, cast):
    new_p, new_bufs = [], [[] for _ in bufs]
    for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
        q, out = rule(xp, p, g, [b[i] for b in bufs], step, options, fit)
        new_p.append(cast(q, p))
        for k, value in enumerate(out):
            new_bufs[k].append(cast(value, p))
    return new_p, new_bufs


def rmsprop_init(params: Any) -> dict[str, Any]:
    """RMSprop state for `rmsprop_update`: step 0 (a 0-d int64 array) and zero square_avg,
    grad_avg and momentum_buffer shaped like params."""
    leaves, rebuild = _leaves(params, "params", "rmsprop_init")
    state: dict[str, Any] = {"step": _step_array(0)}
    for key in _RMSPROP_KEYS:
        state[key] = rebuild([np.zeros_like(_array(p)) for p in leaves])
    return state


_RMSPROP_KEYS = ("square_avg", "grad_avg", "momentum_buffer")


def rmsprop_update(params: Any, grads: Any, state: dict[str, Any], lr: float = 1e-2,
                   alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                   momentum: float = 0.0, centered: bool = False) -> tuple[Any, dict[str, Any]]:
    """One RMSprop step (as `RMSprop`) on a params dict, in `adam_update`'s order: returns
    `(new_params, new_state)`; the state comes from `rmsprop_init(params)`. Arrays in, arrays
    out; Tensors in, Tensors out (recorded by `ag.compile`), as `adam_update`."""
    options = _check_rmsprop(dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                  momentum=momentum, centered=centered), "rmsprop_update")
    return _run_functional("rmsprop_update", "rmsprop_init", _RMSPROP_KEYS, _rmsprop_rule,
                           params, grads, state, options)


def adagrad_init(params: Any, initial_accumulator_value: float = 0.0) -> dict[str, Any]:
    """Adagrad state for `adagrad_update`: step 0 (a 0-d int64 array) and the running sums of
    squared gradients, started at initial_accumulator_value."""
    start = _check_nonneg(initial_accumulator_value, "initial_accumulator_value", "adagrad_init")
    leaves, rebuild = _leaves(params, "params", "adagrad_init")
    return {"step": _step_array(0),
            "sum": rebuild([np.full_like(_array(p), start) for p in leaves])}


def adagrad_update(params: Any, grads: Any, state: dict[str, Any], lr: float = 1e-2,
                   lr_decay: float = 0.0, weight_decay: float = 0.0,
                   eps: float = 1e-10) -> tuple[Any, dict[str, Any]]:
    """One Adagrad step (as `Adagrad`) on a params dict, in `adam_update`'s order: returns
    `(new_params, new_state)`; the state comes from `adagrad_init(params)`. Arrays in, arrays
    out; Tensors in, Tensors out (recorded by `ag.compile`), as `adam_update`."""
    options = _check_adagrad(dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                  initial_accumulator_value=0.0, eps=eps), "adagrad_update")
    return _run_functional("adagrad_update", "adagrad_init", ("sum",), _adagrad_rule,
                           params, grads, state, options)
