"""Function transformations: `grad`, `value_and_grad`, and the `no_grad` context.

`grad(f)` returns a function computing df/dx for a scalar-valued `f`. Arguments may be arrays,
numbers, Tensors, or nested dicts/lists/tuples of them; gradients come back in the same nesting
as ndarrays. Inside another `grad` the gradients come back as Tensors with their own graph, so
`grad(grad(f))` gives the second derivative. A list argument is a container of leaves (one
gradient per element); pass np.array(...) for a vector.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.public import FUNCTIONS
from ..core.pytree import tree_flatten
from ..core.readonly import explained, is_read_only_write
from ..core.recording import constant
from ..core.state import thread
from ..core.tensor import Tensor
from .differentiated import mark_differentiated
from .forward import carry_tangents

reshape = FUNCTIONS["reshape"]


class _GradMode(contextlib.ContextDecorator):
    """Set grad mode inside a block or decorated function; re-entrant (a stack of old modes)."""

    mode = True

    def __init__(self) -> None:
        self._saved: list[bool] = []

    def __enter__(self) -> _GradMode:
        self._saved.append(state.set_grad_enabled(self.mode))
        return self

    def __exit__(self, *exc: Any) -> None:
        state.set_grad_enabled(self._saved.pop())


class no_grad(_GradMode):
    """Record no graph inside this block (or decorated function): for evaluation and updates."""

    mode = False


class enable_grad(_GradMode):
    """Record graphs again inside a `no_grad` block."""

    mode = True


def _as_input(x: Any, where: str) -> Tensor:
    """A Tensor that requires grad standing for argument leaf `x`."""
    if isinstance(x, Tensor):
        if x.dtype.kind not in "f":
            raise TypeError(f"{where}: cannot differentiate with respect to a {x.dtype} tensor")
        if x._needs_grad and thread.modes.grad_enabled:
            return reshape(x, x.shape)  # a new node on top of x: outer gradients flow through
        t = Tensor(x.data, requires_grad=True, name=x.name)
        t._levels = x._levels  # an example's value inside vmap
        carry_tangents(x, t)  # inside jvp: the same tangents
        return t
    if x.__class__ is np.ndarray and x.dtype.kind == "f":  # the common case, without checks
        return constant(x, requires_grad=True)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:  # e.g. ragged nested lists
        raise TypeError(f"{where}: cannot make an array from {type(x).__name__}: {err}") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "f":
        raise TypeError(
            f"{where}: cannot differentiate with respect to {type(x).__name__} "
            f"(expected numbers, arrays or Tensors; got dtype {arr.dtype})"
        )
    return Tensor(arr, requires_grad=True)


def _argnums(argnums: int | tuple[int, ...], n: int, where: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"{where}: argnums {argnums} out of range for {n} positional args")
    nums = tuple(i % n for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{where}: argnums {argnums} names the same argument twice")
    return nums


def value_and_grad(
    f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable:
    """A function returning `(f(*args), df/dargs[argnums])` for a scalar-valued `f`.

    The gradient has the nesting of the argument (a tuple of them when `argnums` is a tuple).
    At top level the value is a 0-d ndarray and gradients are ndarrays; inside another `grad`
    they are Tensors, so the result can be differentiated again. With `has_aux=True`, `f`
    returns `(scalar, aux)` and the result is `((value, aux), grads)`; aux is not differentiated.
    """
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        where = f"grad of {name}"
        nums = _argnums(argnums, len(args), where)
        args = list(args)
        per_arg = []
        modes = thread.modes
        # inside another grad's function the backward is recorded (and gives Tensors); inside
        # vmap it gives Tensors (batched values)
        # under no_grad while ag.compile traces: recorded so the trace follows it, then cut
        # off from any outer grad as no_grad cuts it off eagerly
        frozen = modes.grad_depth > 0 and not modes.grad_enabled and modes.tracing is not None
        recorded = modes.grad_depth > 0 and (modes.grad_enabled or frozen)
        nested = recorded or modes.tensors_in_backward
        depth = modes.grad_depth
        before = state.set_grad_enabled(True) if frozen else None  # inputs on the traced ones
        try:
            for i in nums:
                leaves, rebuild = tree_flatten(args[i])
                inputs = [_as_input(x, where) for x in leaves]
                args[i] = rebuild(inputs)
                per_arg.append((inputs, rebuild))
        finally:
            if frozen:
                state.set_grad_enabled(before)
        state.enter_grad()
        prev = state.set_grad_enabled(True)
        try:
            out = f(*args, **kwargs)
        except ValueError as err:
            if is_read_only_write(err):
                raise explained(err, f"{name}, run by grad") from err
            raise
        finally:
            state.set_grad_enabled(prev)
            state.exit_grad()
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(
                    f"{where}: with has_aux=True the function must return a pair "
                    f"(scalar, aux), got {type(out).__name__}"
                )
            out, aux = out
            if not nested:
                leaves, rebuild_aux = tree_flatten(aux)
                aux = rebuild_aux([x.data if isinstance(x, Tensor) else x for x in leaves])
        elif isinstance(out, (tuple, list)):
            raise TypeError(
                f"{where}: the function returned a {type(out).__name__} of {len(out)} items; it "
                "must return one scalar. To return extra values, return (loss, aux) and pass "
                "has_aux=True"
            )
        all_inputs = [t for inputs, _ in per_arg for t in inputs]
        grads = _gradients(out, all_inputs, nested, where, recorded)
        if frozen:
            grads = [g.detach() if isinstance(g, Tensor) else g for g in grads]
            out = out.detach() if isinstance(out, Tensor) else out
        results, k = [], 0
        for inputs, rebuild in per_arg:
            results.append(rebuild(grads[k:k + len(inputs)]))
            k += len(inputs)
        value = out if nested else (out.data if isinstance(out, Tensor) else np.asarray(out))
        grads_out = results[0] if isinstance(argnums, int) else tuple(results)
        for entry in state.active_layers():  # ag.compile notes what a top-level grad returns
            entry.grad_returned((value, aux, grads_out), depth)
        return ((value, aux) if has_aux else value), grads_out

    return mark_differentiated(wrapped, argnums)


def _gradients(out: Any, inputs: list[Tensor], nested: bool, where: str,
               recorded: bool | None = None) -> list[Any]:
    if not isinstance(out, Tensor):
        out = Tensor(np.asarray(out))
    if out.size != 1:
        raise ValueError(
            f"{where}: the function must return a scalar, got shape {out.shape}; "
            "reduce it first (e.g. .sum() or .mean())"
        )
    if out.dtype.kind not in "f":
        raise TypeError(f"{where}: the function returned dtype {out.dtype}, expected a float")
    found: dict[int, Any] = {}
    if out._needs_grad:
        seed = np.ones(out.data.shape, out.data.dtype)
        if nested:
            seed = Tensor(seed)
            seed._levels = out._levels  # inside vmap: one seed per example
        recorded = nested if recorded is None else recorded
        found = engine.backward(
            [out], [seed], inputs, create_graph=recorded, retain_graph=recorded
        )
    grads = []
    returned: set[int] = set()
    for t in inputs:
        g = found.get(id(t))
        if g is not None:
            g = g[1]
            if nested and not isinstance(g, Tensor):
                g = Tensor(g)
        if g is None:  # f does not depend on this input
            g = Tensor(np.zeros_like(t.data)) if nested else np.zeros_like(t.data)
            if nested:
                g._levels = t._levels
        elif not nested:
            if isinstance(g, Tensor):
                g = g.data
            if id(g) in returned:  # e.g. both inputs of an add: never hand out one array twice
                g = g.copy()
            returned.add(id(g))
        grads.append(g)
    return grads


def grad(f: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """A function returning df/dargs[argnums] for a scalar-valued `f`; nest it for higher order.

    With `has_aux=True`, `f` returns `(scalar, aux)` and the result is `(grads, aux)`.
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value, grads = vg(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return mark_differentiated(wrapped, argnums)
