"""Forward mode: tangents pushed through each op as it runs (the engine of `ag.jvp`).

While a `jvp` runs, every recorded op whose inputs carry tangents gets its own tangent, from its
row: an elementwise row's VJP rules applied to the input tangents (its Jacobian is diagonal); a
linear row (`linear=True`: reshape, sums, indexing, joins) applied to the tangents; a bilinear
row (`bilinear=True`: matmul, convolution) as f(ta, b) + f(a, tb); a row's own `jvp`; and for
any other row the double-VJP construction on that one op, J·t = d<vjp(u), t>/du, which needs
only its VJP rules (they are differentiable). Tangent computations run at the enclosing level,
so forward mode nests with itself, with `grad` and with `vmap`.

Each running `jvp` is a layer (state.py): an op passes through the layers below first (an outer
jvp gives the result its own tangent), then this layer computes its tangent with only the
layers below it active, so the tangent arithmetic itself carries the outer tangents.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import engine, state
from ..core.recording import apply_below
from ..core.state import Layer
from .levels import as_batched


class ForwardLevel(Layer):
    """One running `jvp`: the tangent of every value it has seen (kept alive with it)."""

    needs_tensors = True  # a backward inside jvp runs its rules on Tensors, to push tangents

    def __init__(self) -> None:
        self.tangents: dict[int, tuple[Any, Any]] = {}

    def set(self, t: Any, tangent: Any) -> None:
        self.tangents[id(t)] = (t, tangent)

    def get(self, t: Any) -> Any:
        found = self.tangents.get(id(t))
        return None if found is None or found[0] is not t else found[1]

    def process(self, prim: Any, inputs: tuple, params: dict | None, depth: int) -> Any:
        """Run the op below, then give its result a tangent if an input has one."""
        out = apply_below(depth, prim, inputs, params)
        tangents = [self.get(x) for x in inputs]
        if any(t is not None for t in tangents):
            modes = state.thread.modes
            deriving, modes.deriving = modes.deriving, prim  # (anomaly messages name it)
            try:
                with state.layers_below(depth):  # tangent arithmetic belongs to outer levels
                    tangent = tangent_of(prim, inputs, params, out, tangents)
            finally:
                modes.deriving = deriving
            if tangent is not None:
                self.set(out, tangent)
        return out

    def numpy_call(self, tensor: Any, what: str, instead: str) -> None:
        if self.get(tensor) is not None:
            raise TypeError(
                f"{what} on a Tensor that ag.jvp is pushing a tangent through "
                f"({tensor.shape} {tensor.dtype}): NumPy would drop the tangent silently; use "
                f"{instead}")


def carries_tangent(t: Any) -> bool:
    """Whether `t` has a tangent at some running jvp."""
    return any(isinstance(entry, ForwardLevel) and entry.get(t) is not None
               for entry in state.active_layers())


def carry_tangents(source: Any, target: Any) -> None:
    """Give `target` (a new leaf standing for `source`) the tangents `source` has at every
    running jvp."""
    for entry in state.active_layers():
        if isinstance(entry, ForwardLevel):
            tangent = entry.get(source)
            if tangent is not None:
                entry.set(target, tangent)


def _constant_like(like: Any, arr: Any) -> Any:
    """`arr` as a constant batched like `like` (see levels.py)."""
    return as_batched(like, arr, like._levels)


def _zeros_like(like: Any) -> Any:
    return _constant_like(like, np.zeros(like.data.shape, like.dtype))


def _broadcast(tangent: Any, out: Any) -> Any:
    """A tangent of an input, as a tangent of the output's shape (broadcast like the op)."""
    from ..core.ops.registry import prims

    if tangent.shape != out.shape:
        tangent = prims.broadcast_to(tangent, shape=out.shape)
    if tangent.dtype != out.dtype:
        tangent = prims.astype(tangent, dtype=out.dtype)
    return tangent


def _double_vjp(prim: Any, inputs: tuple, params: dict, out: Any, tangents: list) -> Any:
    """J·t of one op from its VJP rules: the gradient in u of sum_i <rule_i(u), t_i>."""
    u = _constant_like(out, np.zeros(out.data.shape, out.dtype))
    u._needs_grad = True
    prev = state.set_grad_enabled(True)
    try:
        total = None
        which = [i for i, t in enumerate(tangents) if t is not None]
        sent = engine.apply_rules(prim, params, inputs, u, out, inputs, which=which)
        for gi, t in zip(sent, tangents, strict=True):
            if gi is None or t is None or not getattr(gi, "_needs_grad", False):
                continue
            term = (gi * t).sum()
            total = term if total is None else total + term
        if total is None:
            return None
        seed = _constant_like(total, np.ones(total.data.shape, total.dtype))
        # recorded only when the caller records (an outer grad wants this tangent's graph)
        found = engine.backward([total], [seed], [u], create_graph=prev)
    finally:
        state.set_grad_enabled(prev)
    got = found.get(id(u))
    return None if got is None else got[1]


def tangent_of(prim: Any, inputs: tuple, params: dict | None, out: Any, tangents: list) -> Any:
    """The tangent of `out` = prim(*inputs) given the inputs' tangents (None: zero)."""
    params = params or {}
    if prim.modes.jvp is not None:
        return prim.modes.jvp(tangents, out, *inputs, **params)
    if prim.elementwise and not prim.variadic:
        total = None  # a diagonal Jacobian: each rule applied to its tangent is J_i·t_i
        like_out = (out,) * len(inputs)
        for i, t in enumerate(tangents):
            if t is None:
                continue
            term = engine.apply_rules(prim, params, like_out, _broadcast(t, out), out, inputs,
                                      which=(i,))[i]
            if term is not None:
                total = term if total is None else total + term
        return total
    if prim.modes.linear:
        ts = [t if t is not None else _zeros_like(x) for t, x in zip(tangents, inputs,
                                                                    strict=True)]
        return prim(*ts, **params)
    if prim.modes.bilinear:
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            args = list(inputs)
            args[i] = t
            term = prim(*args, **params)
            total = term if total is None else total + term
        return total
    return _double_vjp(prim, inputs, params, out, tangents)
