"""Forward mode: tangents pushed through each op as it runs (the engine of `ag.jvp`).

While a `jvp` runs, every recorded op whose inputs carry tangents gets its own tangent, from its
row: an elementwise row's VJP rules applied to the input tangents (its Jacobian is diagonal); a
linear row (`linear=True`: reshape, sums, indexing, joins) applied to the tangents; a bilinear
row (`bilinear=True`: matmul, convolution) as f(ta, b) + f(a, tb); a row's own `jvp`; and for
any other row the double-VJP construction on that one op, J·t = d<vjp(u), t>/du, which needs
only its VJP rules (they are differentiable). Tangent computations run at the enclosing level,
so forward mode nests with itself, with `grad` and with `vmap`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import engine, state
from .levels import as_batched
from .state import thread


class ForwardLevel:
    """One running `jvp`: the tangent of every value it has seen (kept alive with it)."""

    __slots__ = ("tangents", "parent")

    def __init__(self, parent: ForwardLevel | None) -> None:
        self.tangents: dict[int, tuple[Any, Any]] = {}
        self.parent = parent

    def set(self, t: Any, tangent: Any) -> None:
        self.tangents[id(t)] = (t, tangent)

    def get(self, t: Any) -> Any:
        found = self.tangents.get(id(t))
        return None if found is None or found[0] is not t else found[1]


def _constant_like(like: Any, arr: Any) -> Any:
    """`arr` as a constant batched like `like` (see levels.py)."""
    return as_batched(like, arr, like._levels)


def _zeros_like(like: Any) -> Any:
    return _constant_like(like, np.zeros(like.data.shape, like.dtype))


def _broadcast(tangent: Any, out: Any) -> Any:
    """A tangent of an input, as a tangent of the output's shape (broadcast like the op)."""
    from .ops.registry import prims

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
        for i, t in enumerate(tangents):
            if t is None:
                continue
            rule = prim.vjps[0] if prim.variadic else prim.vjps[i]
            if rule is None:
                continue
            gi = rule(i, u, out, *inputs, **params) if prim.variadic else rule(
                u, out, *inputs, **params)
            if gi is None or not getattr(gi, "_needs_grad", False):
                continue
            if gi.shape != t.shape:
                from .ops.registry import prims

                gi = prims.sum_to(gi, shape=t.shape)
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
    if prim.jvp is not None:
        return prim.jvp(tangents, out, *inputs, **params)
    if prim.elementwise and not prim.variadic:
        total = None
        for i, t in enumerate(tangents):
            rule = prim.vjps[i]
            if t is None or rule is None:
                continue
            term = _broadcast(rule(_broadcast(t, out), out, *inputs, **params), out)
            total = term if total is None else total + term
        return total
    if getattr(prim, "linear", False):
        ts = [t if t is not None else _zeros_like(x) for t, x in zip(tangents, inputs,
                                                                    strict=True)]
        return prim(*ts, **params)
    if getattr(prim, "bilinear", False):
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


def push(prim: Any, inputs: tuple, params: dict | None, out: Any) -> None:
    """Give `out` its tangent at the running jvp level, if an input has one."""
    level = thread.modes.forward
    tangents = [level.get(x) for x in inputs]
    if all(t is None for t in tangents):
        return
    prev = state.set_forward(level.parent)  # tangent arithmetic belongs to the outer level
    try:
        tangent = tangent_of(prim, inputs, params, out, tangents)
    finally:
        state.set_forward(prev)
    if tangent is not None:
        level.set(out, tangent)
