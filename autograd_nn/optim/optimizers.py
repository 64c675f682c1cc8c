"""Optimizers: `SGD`, `Adam` (amsgrad) and `AdamW` on parameter Tensors, and pure-function
updates on dicts (RMSprop and Adagrad are in `adaptive.py`; groups and state_dict in `base.py`).

The classes step each parameter's `.data` from its `.grad` into a new array, so a graph that
read the old values stays right (parameters whose grad is None are skipped); they follow
PyTorch's update rules exactly, so trajectories can be compared.
The functional forms (`sgd_update`, `adam_init`, `adam_update`, `adamw_update`) take nested
dicts/lists of arrays — what `ag.value_and_grad` returns — and return new ones without
mutating their inputs: arrays in, arrays out (NumPy); Tensors in, Tensors out, computed with
autograd_nn ops so that `ag.compile` records the update and a compiled training step stays
one specialisation (the state's step counter is a 0-d int64 array: an input, not a static
value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import functions as F
from ..core import state as ag_state
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.grad import no_grad
from .base import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "adam_init", "adam_update", "adamw_update",
           "sgd_init", "sgd_update"]


# ---------------------------------------------------------------------------------------------
# Hyperparameter checks (shared by both forms)
# ---------------------------------------------------------------------------------------------
def _check_lr(lr: Any, where: str, zero_ok: bool = False) -> float:
    """A positive finite lr; at step time (zero_ok) 0 too, where a schedule may bring it."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{where}: lr must be a number, got {type(lr).__name__}")
    if zero_ok and lr == 0:
        return 0.0
    if not (np.isfinite(lr) and lr > 0):
        bound = "finite and >= 0 (a schedule may take it to 0)" if zero_ok else (
            "a positive finite number")
        raise ValueError(f"{where}: lr must be {bound}, got {lr}")
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
# Stateful optimizers on Tensors (parameter groups and state_dict come from `Optimizer`)
# ---------------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Per parameter: g = grad + weight_decay * p; buf = g on the first step, then
    buf = momentum * buf + (1 - dampening) * g; p -= lr * buf (or lr * (g + momentum * buf)
    with nesterov). Same rule as torch.optim.SGD. `params` may be parameter groups.
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
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov))

    def _check_group(self, group: dict[str, Any], stepping: bool = False) -> dict[str, Any]:
        group["lr"] = _check_lr(group["lr"], "SGD", stepping)
        for key in ("momentum", "weight_decay", "dampening"):
            group[key] = _check_nonneg(group[key], key, "SGD")
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        group["nesterov"] = bool(group["nesterov"])
        return group

    def _update(self, p: Tensor, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * p.data
        if mom:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
            else:
                buf *= mom
                buf += (1 - group["dampening"]) * g
            g = g + mom * buf if group["nesterov"] else buf
        _subtract(p, lr * g)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and optional L2 weight decay added to the grad.

    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr * m_hat / (sqrt(v_hat) + eps), with
    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t) and t counted per parameter (torch.optim.Adam).
    With `amsgrad=True`, v_hat uses the running maximum of v (state "v_max"), as torch's.
    `params` may be parameter groups.
    """

    _decoupled = False  # AdamW decays the weights directly instead

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _check_group(self, group: dict[str, Any], stepping: bool = False) -> dict[str, Any]:
        where = type(self).__name__
        group["lr"] = _check_lr(group["lr"], where, stepping)
        group["betas"] = _check_betas(group["betas"], where)
        group["eps"] = _check_nonneg(group["eps"], "eps", where)
        group["weight_decay"] = _check_nonneg(group["weight_decay"], "weight_decay", where)
        if not isinstance(group["amsgrad"], (bool, np.bool_)):
            raise TypeError(f"{where}: amsgrad must be True or False, got {group['amsgrad']!r}")
        group["amsgrad"] = bool(group["amsgrad"])
        return group

    def _update(self, p: Tensor, g: np.ndarray, st: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not st:
            st.update(step=0, m=np.zeros_like(p.data), v=np.zeros_like(p.data))
        if group["amsgrad"] and "v_max" not in st:
            st["v_max"] = np.zeros_like(p.data)
        if self._decoupled and wd:
            p.data = np.multiply(p.data, 1 - lr * wd, dtype=p.data.dtype, casting="same_kind")
            wd = 0.0
        update, st["m"], st["v"], st["step"], v_max = _adam_delta(
            p.data, g, st["m"], st["v"], st["step"], lr, b1, b2, group["eps"], wd,
            st.get("v_max") if group["amsgrad"] else None)
        if v_max is not None:
            st["v_max"] = v_max
        _subtract(p, update)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW): each step
    first scales p by (1 - lr * weight_decay), then takes Adam's step on the plain gradient.
    The default weight_decay is 0.01, as torch's."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def _subtract(p: Any, delta: np.ndarray) -> None:
    """p.data - delta into a new array of p's dtype: a graph that read the old values (and
    is backpropagated after this step) keeps them (see autograd_nn/saved.py)."""
    p.data = np.subtract(p.data, delta, dtype=p.data.dtype, casting="same_kind")


def _adam_delta(p, g, m, v, step, lr, b1, b2, eps, wd, v_max=None):
    """One Adam step on arrays: (amount to subtract from p, new m, new v, new step, new v_max);
    with v_max (amsgrad) the denominator uses max(v_max, v), else v_max stays None."""
    if wd:
        g = g + wd * p
    step += 1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g)
    bias1 = 1 - b1**step
    bias2 = 1 - b2**step
    if v_max is not None:
        v_max = np.maximum(v_max, v)
    denom = np.sqrt(v if v_max is None else v_max) / math.sqrt(bias2) + eps
    delta = (lr / bias1) * m / denom
    return delta.astype(p.dtype, copy=False), m, v, step, v_max


# ---------------------------------------------------------------------------------------------
# Functional forms on (nested) dicts of arrays or Tensors
# ---------------------------------------------------------------------------------------------
def _leaves(tree: Any, what: str, where: str) -> tuple[list[Any], Any]:
    """The leaves of `tree`, each a float array or Tensor (Tensors stay Tensors)."""
    leaves, rebuild = tree_flatten(tree)
    checked = []
    for x in leaves:
        if not isinstance(x, Tensor):
            x = np.asarray(x)
        if x.dtype.kind not in "fc":
            raise TypeError(f"{where}: {what} must hold float arrays, found dtype {x.dtype}")
        checked.append(x)
    return checked, rebuild


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


def _state(state: Any, keys: tuple[str, ...], n: int, where: str, init: str) -> tuple:
    """The state's step (a 0-d integer Tensor as is, else a Python int) and its per-parameter
    leaves for each of `keys`."""
    if not isinstance(state, dict) or not {"step", *keys} <= state.keys():
        raise TypeError(f"{where}: state must come from ag.optim.{init}(params)")
    step = state["step"]
    if isinstance(step, Tensor):
        ok = step.ndim == 0 and step.dtype.kind in "iu"
        if ok and step.dtype != np.int64:  # as int(): an int8 step must not wrap at 127
            step = step.astype(np.int64)
    else:
        arr = np.asarray(step)
        ok = arr.ndim == 0 and arr.dtype.kind in "iu"
        if ok:
            step = int(arr)
    if not ok:
        raise TypeError(f"{where}: state['step'] must be an integer (a 0-d int64 array from "
                        f"ag.optim.{init}), got {step!r}")
    parts = []
    for key in keys:
        leaves, _ = _leaves(state[key], f"state[{key!r}]", where)
        if len(leaves) != n:
            raise ValueError(f"{where}: state does not match params ({len(leaves)} arrays in "
                             f"state[{key!r}], {n} params); re-create it with {init}")
        parts.append(leaves)
    return step, parts


def _any_tensor(*groups: Any) -> bool:
    return any(isinstance(x, Tensor) for group in groups for x in group)


def _step_array(step: int) -> np.ndarray:
    """A step counter as a 0-d int64 array: an array, so `ag.compile` takes it as an input and
    one compiled specialisation serves every step (an int or `np.int64` would be static)."""
    return np.array(step, dtype=np.int64)


def _cast(x: Tensor, dtype: np.dtype) -> Tensor:
    return x if x.dtype == dtype else F.astype(x, dtype)


def _scalars(values: tuple, dtype: np.dtype, cache: dict) -> tuple:
    """`values` (0-d Tensors or Python floats) for arrays of `dtype`: Tensors are cast to it, as
    the NumPy path's Python floats take an array's dtype (float32 params stay float32)."""
    if dtype not in cache:
        cache[dtype] = tuple(_cast(x, dtype) if isinstance(x, Tensor) else x for x in values)
    return cache[dtype]


def _hand_back(given: list, result: Any) -> None:
    """Arrays in, arrays out, under `ag.compile` too: while it traces, array arguments are
    Tensors, and the active layers decide whether `result` stands for arrays (see
    `state.Layer.arrays_returned`), so a compiled training loop keeps one signature."""
    depth = ag_state.thread.modes.grad_depth
    for layer in ag_state.active_layers():
        layer.arrays_returned(given, result, depth)


def _as_tensors(leaves: list) -> list[Tensor]:
    return [x if isinstance(x, Tensor) else Tensor(x) for x in leaves]


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else x


def sgd_init(params: Any) -> dict[str, Any]:
    """Momentum state for `sgd_update`: step 0 (a 0-d int64 array) and one (not yet started)
    zero buffer per parameter array."""
    leaves, rebuild = _leaves(params, "params", "sgd_init")
    return {
        "step": _step_array(0),
        "momentum_buffer": rebuild([np.zeros_like(_array(p)) for p in leaves]),
    }


def sgd_update(
    params: Any,
    grads: Any,
    state: dict[str, Any] | None = None,
    /,
    lr: float | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
    **old_keywords: Any,
) -> Any:
    """One SGD step on a params dict, in `adam_update`'s order: `params, grads, state, lr`.

    With a state (from `sgd_init(params)`) the call returns `(new_params, new_state)`, as
    `adam_update` does, so the two are interchangeable in a training loop::

        state = ag.optim.sgd_init(params)
        params, state = ag.optim.sgd_update(params, grads, state, lr=0.1, momentum=0.9)

    The new state's `"step"` is a 0-d int64 array (a Python int step from an older state is
    accepted). Without a state it returns the new params alone and is plain
    `p - lr * (g + weight_decay * p)`; momentum needs a state.

    The earlier call forms keep working: `sgd_update(params, grads, lr)` or
    `sgd_update(params, grads, lr=0.1)` (new params back) and
    `sgd_update(params, grads, lr=0.1, momentum=0.9, state=state)` (`(params, state)` back). A
    number in third place is read as `lr`, a dict as the state.

    Arrays in, arrays out (computed with NumPy). Tensors in (any leaf of params, grads or state),
    Tensors out, not requiring grad: the update is computed with autograd_nn ops, so
    `ag.compile` records it and a compiled training step updates from each call's values. The
    step counter is an input there, not a static value, and the first momentum step is chosen
    with `ag.where`, so one compiled specialisation serves every step. Results have the dtype of
    their parameter.
    """
    state, lr = _sgd_arguments(state, lr, old_keywords)
    lr = _check_lr(lr, "sgd_update")
    momentum = _check_nonneg(momentum, "momentum", "sgd_update")
    wd = _check_nonneg(weight_decay, "weight_decay", "sgd_update")
    dampening = _check_nonneg(dampening, "dampening", "sgd_update")
    if momentum and state is None:
        raise ValueError(
            "sgd_update: momentum needs state=ag.optim.sgd_init(params), as in "
            "sgd_update(params, grads, state, lr=0.1, momentum=0.9); the call then returns "
            "(params, state)"
        )
    ps, gs, rebuild = _matched(params, grads, "sgd_update")
    step, bufs = None, []
    if state is not None:
        step, (bufs,) = _state(state, ("momentum_buffer",), len(ps), "sgd_update", "sgd_init")
    if _any_tensor(ps, gs, bufs, (step,)):
        return _sgd_on_tensors(ps, gs, bufs, step, state is not None, rebuild,
                               lr, momentum, wd, dampening)
    if wd:
        gs = [g + wd * p for p, g in zip(ps, gs, strict=True)]
    if state is None:
        new = [(p - lr * g).astype(p.dtype, copy=False) for p, g in zip(ps, gs, strict=True)]
        return rebuild(new)
    step += 1
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
    return new, {"step": _step_array(step), "momentum_buffer": rebuild(bufs)}


def _sgd_arguments(state: Any, lr: Any, old_keywords: dict[str, Any]) -> tuple[Any, Any]:
    """`sgd_update`'s state and lr from either call form: the new `(params, grads, state,
    lr=...)` and the earlier `(params, grads, lr, ..., state=...)` (a number in third place)."""
    unknown = sorted(set(old_keywords) - {"state"})
    if unknown:
        raise TypeError(f"sgd_update() got an unexpected keyword argument {unknown[0]!r}")
    if _is_number(state):  # the earlier form: lr in third place
        if lr is not None:
            raise TypeError(
                f"sgd_update: {state!r} in third place is read as lr (the earlier call form), "
                f"so {lr!r} after it has no place: pass momentum, weight_decay and state by "
                "keyword, or use adam_update's order: "
                "sgd_update(params, grads, state, lr=0.1, momentum=0.9)")
        state, lr = old_keywords.get("state"), state
    elif "state" in old_keywords:
        if state is not None:
            raise TypeError("sgd_update: state given twice (in third place and state=...)")
        state = old_keywords["state"]
    if lr is None:
        raise TypeError("sgd_update: lr is required: sgd_update(params, grads, state, lr=0.1) "
                        "or, without momentum, sgd_update(params, grads, lr=0.1)")
    return state, lr


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float, np.floating, np.integer))


def _sgd_on_tensors(ps, gs, bufs, step, stateful, rebuild, lr, momentum, wd, dampening):
    """`sgd_update` with autograd_nn ops (some leaf is a Tensor): Tensors out."""
    given = [*ps, *gs, *bufs, step]
    ps, gs, bufs = _as_tensors(ps), _as_tensors(gs), _as_tensors(bufs)
    with no_grad():
        if wd:
            gs = [g + wd * p for p, g in zip(ps, gs, strict=True)]
        if stateful:
            step = step + 1 if isinstance(step, Tensor) else Tensor(_step_array(step + 1))
            if momentum:
                # the first step starts the buffer at g: chosen by value, with no Python branch
                # on the (traced) step, so compiling does not specialise to it
                first = step == 1
                bufs = [_cast(F.where(first, g, momentum * b + (1 - dampening) * g), p.dtype)
                        for p, g, b in zip(ps, gs, bufs, strict=True)]
                gs = bufs
        new = [_cast(p - lr * g, p.dtype) for p, g in zip(ps, gs, strict=True)]
    out = rebuild(new)
    if stateful:
        out = out, {"step": step, "momentum_buffer": rebuild(bufs)}
    _hand_back(given, out)
    return out


def adam_init(params: Any, amsgrad: bool = False) -> dict[str, Any]:
    """Adam (and AdamW) state for `adam_update`/`adamw_update`: step 0 (a 0-d int64 array) and
    zero first/second moments shaped like params; with amsgrad=True also the running maximum of
    the second moments ("v_max")."""
    leaves, rebuild = _leaves(params, "params", "adam_init")
    state = {
        "step": _step_array(0),
        "m": rebuild([np.zeros_like(_array(p)) for p in leaves]),
        "v": rebuild([np.zeros_like(_array(p)) for p in leaves]),
    }
    if amsgrad:
        state["v_max"] = rebuild([np.zeros_like(_array(p)) for p in leaves])
    return state


def adam_update(
    params: Any,
    grads: Any,
    state: dict[str, Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """One Adam step on a params dict: returns `(new_params, new_state)`; inputs are unchanged.

    `state` comes from `adam_init(params)` (`adam_init(params, amsgrad=True)` for
    amsgrad=True); the new state's `"step"` is a 0-d int64 array (a Python int step from an
    older state is accepted).

    Arrays in, arrays out (computed with NumPy). Tensors in (any leaf of params, grads or state),
    Tensors out, not requiring grad: the update is computed with autograd_nn ops, so
    `ag.compile` records it and a compiled training step updates from each call's values. The
    bias correction reads the step as a value (`1 - beta1 ** step` on the step Tensor), so one
    compiled specialisation serves every step. Results have the dtype of their parameter.
    """
    return _adam_family("adam_update", params, grads, state, lr, betas, eps, weight_decay,
                        amsgrad, decoupled=False)


def adamw_update(
    params: Any,
    grads: Any,
    state: dict[str, Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """One AdamW step (decoupled weight decay, as `AdamW`) in `adam_update`'s form and order:
    p is scaled by (1 - lr * weight_decay), then takes Adam's step. The state comes from
    `adam_init(params)` (with amsgrad=True for amsgrad)."""
    return _adam_family("adamw_update", params, grads, state, lr, betas, eps, weight_decay,
                        amsgrad, decoupled=True)


def _adam_family(where, params, grads, state, lr, betas, eps, weight_decay, amsgrad, decoupled):
    lr = _check_lr(lr, where)
    b1, b2 = _check_betas(betas, where)
    eps = _check_nonneg(eps, "eps", where)
    wd = _check_nonneg(weight_decay, "weight_decay", where)
    ps, gs, rebuild = _matched(params, grads, where)
    if amsgrad and isinstance(state, dict) and "v_max" not in state:
        raise ValueError(f"{where}: amsgrad=True needs the state from "
                         "ag.optim.adam_init(params, amsgrad=True)")
    keys = ("m", "v", "v_max") if amsgrad else ("m", "v")
    step, moments = _state(state, keys, len(ps), where, "adam_init")
    ms, vs = moments[0], moments[1]
    v_maxes = moments[2] if amsgrad else [None] * len(ps)
    decay = None  # AdamW: p is first scaled by 1 - lr * weight_decay
    if decoupled and wd:
        decay, wd = 1 - lr * wd, 0.0
    if _any_tensor(ps, gs, ms, vs, (step,), v_maxes if amsgrad else ()):
        return _adam_on_tensors(ps, gs, ms, vs, v_maxes, step, rebuild, lr, b1, b2, eps, wd,
                                amsgrad, decay)
    new_p, new_m, new_v, new_max = [], [], [], []
    for p, g, m, v, v_max in zip(ps, gs, ms, vs, v_maxes, strict=True):
        q = p if decay is None else (p * decay).astype(p.dtype, copy=False)
        delta, m, v, _, v_max = _adam_delta(q, g, m, v, step, lr, b1, b2, eps, wd, v_max)
        new_p.append((q - delta).astype(p.dtype, copy=False))
        new_m.append(m)
        new_v.append(v)
        new_max.append(v_max)
    new_state = {"step": _step_array(step + 1), "m": rebuild(new_m), "v": rebuild(new_v)}
    if amsgrad:
        new_state["v_max"] = rebuild(new_max)
    return rebuild(new_p), new_state


def _adam_on_tensors(ps, gs, ms, vs, v_maxes, step, rebuild, lr, b1, b2, eps, wd, amsgrad,
                     decay):
    """`adam_update` with autograd_nn ops (some leaf is a Tensor): the same arithmetic as
    `_adam_delta`, in the same order; Tensors out."""
    given = [*ps, *gs, *ms, *vs, *(v_maxes if amsgrad else ()), step]
    with no_grad():
        ps, gs, ms, vs = _as_tensors(ps), _as_tensors(gs), _as_tensors(ms), _as_tensors(vs)
        v_maxes = _as_tensors(v_maxes) if amsgrad else v_maxes
        new_p, new_m, new_v, new_max = [], [], [], []
        if isinstance(step, Tensor):  # traced: the step is a value, not part of the code
            step = step + 1
            bias1 = 1 - b1**step
            root2 = F.sqrt(1 - b2**step)
        else:
            bias1 = 1 - b1 ** (step + 1)
            root2 = math.sqrt(1 - b2 ** (step + 1))
            step = Tensor(_step_array(step + 1))
        size = lr / bias1
        cache: dict = {}
        for p, g, m, v, v_max in zip(ps, gs, ms, vs, v_maxes, strict=True):
            size_p, root2_p = _scalars((size, root2), p.dtype, cache)
            q = p if decay is None else _cast(p * decay, p.dtype)
            if wd:
                g = g + wd * q
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * (g * g)
            if amsgrad:
                v_max = F.maximum(v_max, v)
            denom = F.sqrt(v_max if amsgrad else v) / root2_p + eps
            delta = size_p * m / denom
            new_p.append(_cast(q - _cast(delta, p.dtype), p.dtype))
            new_m.append(m)
            new_v.append(v)
            new_max.append(v_max)
    new_state = {"step": step, "m": rebuild(new_m), "v": rebuild(new_v)}
    if amsgrad:
        new_state["v_max"] = rebuild(new_max)
    out = rebuild(new_p), new_state
    _hand_back(given, out)
    return out
