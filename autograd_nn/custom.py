"""Your own backward: `custom_vjp` (a hand-written rule for a function) and `checkpoint` (keep
only a block's inputs, recompute the block in backward).

Both record one node whose rule runs the user's code once per backward and hands each input its
part; the engine then treats it like any op (gradients summed, shapes checked, gradcheck and
pictures work).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import engine, state
from .ops.registry import Primitive
from .state import thread
from .tensor import FUNCTIONS, Tensor, apply, constant, lift

reshape = FUNCTIONS["reshape"]


def _refuse_batched(args: Any, where: str) -> None:
    if any(isinstance(a, Tensor) and a._levels is not None for a in args):
        raise NotImplementedError(f"vmap: {where} has no batching rule yet; call it outside "
                                  "vmap")


def _once_per_gradient(compute: Callable) -> Callable:
    """A variadic rule `rule(i, g, ans, *xs, **params)` that calls `compute` once per incoming
    gradient and hands input i its part."""
    def rule(i, g, ans, *xs, **params):
        cache = params["cache"]
        if cache[0] is not g:
            cache[0], cache[1] = g, compute(g, ans, xs, params)
        return cache[1][i]

    return rule


def _check_gradients(grads: Any, xs: tuple, where: str) -> list:
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(xs):
        raise ValueError(f"{where}: bwd returned {len(grads)} gradients for {len(xs)} inputs")
    out = []
    for k, (gk, x) in enumerate(zip(grads, xs, strict=True)):
        if gk is None:
            out.append(None)
            continue
        shape = gk.shape if isinstance(gk, Tensor) else np.shape(gk)
        if tuple(shape) != tuple(x.shape):
            raise ValueError(f"{where}: bwd returned a gradient of shape {tuple(shape)} for "
                             f"input #{k} of shape {x.shape}")
        out.append(gk if isinstance(gk, Tensor) else np.asarray(gk, dtype=x.dtype))
    return out


class custom_vjp:  # noqa: N801 (used as a decorator, like JAX's)
    """A function with a hand-written backward: `@ag.custom_vjp def f(x, ...)`, then
    `f.defvjp(fwd, bwd)` with `fwd(*args) -> (out, residuals)` and
    `bwd(residuals, g) -> (grad for each argument)` (arrays, Tensors or None). The engine checks
    the shapes bwd returns and names f when they are wrong."""

    def __init__(self, f: Callable) -> None:
        functools.update_wrapper(self, f)
        self.f = f
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        name = getattr(f, "__name__", "function")
        self.where = f"custom_vjp {name}"

        def compute(g, ans, xs, params):
            if thread.modes.recording_backward or getattr(g, "_needs_grad", False):
                raise NotImplementedError(
                    f"{self.where}: a higher-order gradient (or a jvp) through a hand-written "
                    "backward: bwd runs on arrays, so its own derivative is unknown (it would "
                    "silently be 0). Write f with autograd_nn ops, without custom_vjp, for that")
            return _check_gradients(self.bwd(params["residuals"], g), xs, self.where)

        self.primitive = Primitive(name, lambda *xs, **params: params["out"],
                                   (_once_per_gradient(compute),), variadic=True, public=None,
                                   doc=f"{name} with a hand-written backward (custom_vjp)")

    def defvjp(self, fwd: Callable, bwd: Callable) -> custom_vjp:
        """Set the forward (returning the output and what backward needs) and the backward."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError(f"{self.where}: defvjp needs two functions (fwd, bwd)")
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args: Any) -> Any:
        """f(*args); recorded with the hand-written backward when an argument needs grad."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not any(t._needs_grad for t in tensors) or not thread.modes.grad_enabled:
            return self.f(*args)
        if self.fwd is None:
            raise RuntimeError(f"{self.where}: call f.defvjp(fwd, bwd) before differentiating")
        _refuse_batched(args, self.where)
        inputs = tuple(lift(a, None, self.where) for a in args)
        with_grad = state.set_grad_enabled(False)
        try:
            result = self.fwd(*[t.data for t in inputs])
        finally:
            state.set_grad_enabled(with_grad)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{self.where}: fwd must return (output, residuals)")
        out, residuals = result
        out = out.data if isinstance(out, Tensor) else np.asarray(out)
        params = {"out": out, "residuals": residuals, "cache": [None, None]}
        return apply(self.primitive, inputs, params)


# ---------------------------------------------------------------------------------------------
def _recompute(g, ans, xs, params):
    """Run the block again with gradients, and backpropagate g through it."""
    f, n_args = params["fn"], params["n_args"]
    # recorded for second order, or when g itself needs a gradient (jvp's double-VJP)
    create_graph = thread.modes.recording_backward or getattr(g, "_needs_grad", False)
    if create_graph:  # second order: the recomputed block hangs off the inputs themselves
        fresh = [reshape(x, x.shape) if x._needs_grad else x for x in xs[:n_args]]
    else:
        fresh = [constant(np.asarray(x.data if isinstance(x, Tensor) else x),
                          requires_grad=True) for x in xs[:n_args]]
    closed = list(params["closed"])  # tensors the block reads from outside its arguments
    with_grad = state.set_grad_enabled(True)
    try:
        out = f(*fresh)
        wanted = fresh + closed
        found = engine.backward([out], [g], wanted, create_graph=create_graph,
                                retain_graph=True)  # tensors from outside keep their graph
    finally:
        state.set_grad_enabled(with_grad)
    grads = []
    for t in wanted:
        got = found.get(id(t))
        grads.append(None if got is None else got[1])
    return grads


_checkpointed = Primitive("checkpoint", lambda *xs, **params: params["out"],
                          (_once_per_gradient(_recompute),), variadic=True, public=None,
                          doc="a block kept as its inputs only, recomputed in backward")


def checkpoint(f: Callable) -> Callable:
    """`f` (Tensors in, one Tensor out) that keeps only its inputs for backward and runs again
    there: less memory for activations, one more forward per backward. Tensors f reads from
    outside its arguments (a layer's weights) get their gradients too."""
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args: Any) -> Any:
        if not thread.modes.grad_enabled:
            return f(*args)
        inputs = tuple(lift(a, None, f"checkpoint {name}") for a in args)
        _refuse_batched(inputs, f"checkpoint {name}")
        out = f(*inputs)
        if not isinstance(out, Tensor) or not out._needs_grad:
            return out
        # which leaves outside the arguments the block reads; then let its graph go
        mine = {id(t) for t in inputs}
        closed = [t for t in engine.walk([out], needs_grad=True)
                  if t._op is None and id(t) not in mine]
        data = out.data
        del out
        parents = inputs + tuple(closed)
        params = {"fn": f, "n_args": len(inputs), "closed": tuple(closed), "out": data,
                  "cache": [None, None]}
        return apply(_checkpointed, parents, params)

    return wrapped
