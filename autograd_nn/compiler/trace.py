"""Tracing for `ag.compile`: run the function once on Tensors and record every op on its inputs.

Array arguments, positional or keyword, become traced input Tensors (float ones require grad,
so a `grad` inside the function records its backward pass as ops too); None, numbers and strings
stay static. While
tracing, every op on a traced value is recorded, with or without gradient, with the user's
file:line; each Python value read from a traced Tensor (`bool(t)`, `t.item()`, `float(t)`) is a
guard that the compiled code checks on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import engine, state
from ..state import Layer
from ..tensor import Tensor, apply_below, constant
from ..transforms import tree_flatten


@dataclass
class Guard:
    """A Python value the traced function read from a traced Tensor."""

    tensor: Tensor
    value: Any
    how: str  # "bool" or "item" (float(t) and int(t) read t.item())
    site: str


@dataclass(eq=False)
class Trace(Layer):
    """What one run of the function recorded; while it runs, the layer that records it (every
    op on a traced value, with or without gradient, and every value Python reads)."""

    freezes_values = True

    inputs: dict[int, tuple[Tensor, str]] = field(default_factory=dict)  # id -> (tensor, name)
    guards: list[Guard] = field(default_factory=list)
    # id(gradient) -> (gradient, the node it is the gradient of); holding the gradient keeps
    # its id from being reused by another tensor
    grad_of: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    top_level: set[int] = field(default_factory=set)  # tensors a top-level grad returned
    values: dict[int, Tensor] = field(default_factory=dict)  # id(data) -> recorded node
    current: Tensor | None = None  # the node whose rules the backward pass is running

    def process(self, prim: Any, inputs: tuple, params: dict | None, depth: int) -> Any:
        out = apply_below(depth, prim, inputs, params)
        if out._op is None and self.traces_any(inputs, params):  # recorded without gradient
            out._op, out._parents, out._params = prim, inputs, params
            out._scope = state.thread.modes.scope
        if out._op is not None:
            self.recorded(out)
        return out

    def backward_gradient(self, node: Any, g: Any) -> None:
        if state.thread.modes.recording_backward:
            self.gradient(node, g)

    def concrete(self, tensor: Any, value: Any, how: str) -> None:
        if self.traces_any((tensor,)):
            self.guard(tensor, value, how)

    def numpy_call(self, tensor: Any, what: str, instead: str) -> None:
        if self.traces_any((tensor,)):
            raise TypeError(
                f"{what} on a Tensor that ag.compile is tracing ({tensor.shape} "
                f"{tensor.dtype}): its result would be baked into the generated code; use "
                f"{instead}")

    def grad_returned(self, values: Any, depth: int) -> None:
        if depth == 1:  # the trace runs the function at depth 1: a grad top level in it
            self.returned_at_top_level(values)

    def traces_any(self, tensors: Sequence[Tensor], params: Any = None) -> bool:
        """True when some of `tensors` is a traced input or was computed from one, or the op's
        parameters hold an input's array (an index array, say)."""
        for x in tensors:
            if x._op is not None or id(x) in self.inputs:
                return True
            node = self.values.get(id(x.data))  # a traced value put back in as a constant
            if node is not None and node.data is x.data:
                return True
        return params is not None and self.holds_input(params)

    def holds_input(self, value: Any) -> bool:
        """True when `value` (an op's parameters) holds an input's array or a traced value."""
        if isinstance(value, dict):
            return any(self.holds_input(v) for v in value.values())
        if isinstance(value, (tuple, list)):
            return any(self.holds_input(v) for v in value)
        if isinstance(value, np.ndarray):
            return any(np.shares_memory(value, t.data) for t, _ in self.inputs.values()) or \
                self.traced_value(value) is not None
        return False

    def recorded(self, t: Tensor) -> None:
        """An op was recorded: note where, and its array (to recognise it if it leaks out)."""
        t._where = self.site()
        self.values[id(t.data)] = t

    def traced_value(self, arr: np.ndarray) -> Tensor | None:
        """The recorded node whose array `arr` is (or views), if any."""
        while isinstance(arr, np.ndarray):
            node = self.values.get(id(arr))
            if node is not None and node.data is arr:
                return node
            arr = arr.base
        return None

    def site(self) -> str:
        if state.thread.modes.recording_backward and self.current is not None:
            return f"backward of {self.current.op} at {self.current._where or '?'}"
        return engine.user_frame_site()

    def gradient(self, node: Tensor, g: Any) -> None:
        """The backward pass completed `node`'s gradient `g` (the first, outermost, names it)."""
        if isinstance(g, Tensor):
            self.grad_of.setdefault(id(g), (g, node))
        self.current = node

    def returned_at_top_level(self, values: Any) -> None:
        """A grad that is top level in the user's code returned these (eagerly: arrays)."""
        for leaf in tree_flatten(values)[0]:
            if isinstance(leaf, Tensor):
                self.top_level.add(id(leaf))

    def guard(self, tensor: Tensor, value: Any, how: str) -> None:
        self.guards.append(Guard(tensor, value, how, engine.user_frame_site()))


@dataclass
class Traced:
    """A finished trace: the outputs (nested as the function returned them) and what it saw."""

    trace: Trace
    inputs: list[Tensor]  # in argument order (flattened)
    input_names: list[str]
    outputs: Any
    output_leaves: list[Any]


def _leaf_names(tree: Any, prefix: str) -> list[str]:
    """Readable names of the leaves of one argument: its name, or its dict keys."""
    if isinstance(tree, dict):
        return [n for k, v in tree.items() for n in _leaf_names(v, _identifier(str(k), prefix))]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [n for i, v in enumerate(tree) for n in _leaf_names(v, f"{prefix}_{i}")]
    return [prefix]


def _identifier(text: str, fallback: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    if not cleaned or cleaned[0].isdigit():
        cleaned = f"{fallback}_{cleaned}"
    return cleaned


def is_array_leaf(x: Any) -> bool:
    """Arrays and Tensors are inputs of a compiled function; numbers and strings are static."""
    return isinstance(x, (np.ndarray, Tensor))


def run(fn: Callable, args: tuple, kwargs: dict, arg_names: list[str]) -> Traced:
    """Run `fn(*args, **kwargs)` once with every array leaf of `args` and `kwargs` as a traced
    input (named after its argument, dict key or keyword)."""
    leaves, rebuild = tree_flatten([list(args), dict(kwargs)])
    names: list[str] = []
    for i, a in enumerate(args):
        names += _leaf_names(a, arg_names[i] if i < len(arg_names) else f"arg{i}")
    names += _leaf_names(dict(kwargs), "keywords")
    trace = Trace()
    traced_leaves, inputs, input_names = [], [], []
    for leaf, name in zip(leaves, names, strict=True):
        if not is_array_leaf(leaf):
            traced_leaves.append(leaf)
            continue
        arr = leaf.data if isinstance(leaf, Tensor) else leaf
        t = constant(arr, requires_grad=arr.dtype.kind == "f")
        t.name = leaf.name if isinstance(leaf, Tensor) and leaf.name else name
        trace.inputs[id(t)] = (t, t.name)
        inputs.append(t)
        input_names.append(t.name)
        traced_leaves.append(t)
    traced_args, traced_kwargs = rebuild(traced_leaves)
    prev_grad = state.set_grad_enabled(True)
    state.enter_grad()  # a grad inside the function records its backward pass (nested mode)
    try:
        with state.layer(trace):
            outputs = fn(*traced_args, **traced_kwargs)
    finally:
        state.exit_grad()
        state.set_grad_enabled(prev_grad)
    return Traced(trace, inputs, input_names, outputs, tree_flatten(outputs)[0])
