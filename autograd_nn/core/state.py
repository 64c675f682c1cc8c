"""Per-thread modes of the core, and the one interface through which transforms reach it.

Each thread has its own modes (as in PyTorch): a `no_grad` block or a backward pass in one
thread never changes what another thread records.

Transforms that must see every op while they run (`jvp`, `ag.compile`'s trace, anomaly checks)
are `Layer`s on a per-thread stack, innermost last: an op goes to the innermost layer, which
passes it on to the layers below it and finally to the core (`recording.apply_below`). A layer
works on the results with only the layers below it active, so a value computed by one layer is
seen by every outer one, and nested transforms compose by construction (as JAX's trace levels
do). The core imports no transform: it only calls the methods of `Layer` below.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


class Layer:
    """A transform that sees every op run while it is active. Subclasses override what they
    need; the defaults pass everything through unchanged."""

    needs_tensors = False  # backward must run rules on Tensors (so this layer sees them)
    freezes_values = False  # values read while it runs become code (ag.compile's trace)

    def process(self, prim: Any, inputs: tuple, params: dict | None, depth: int) -> Any:
        """Run one op: pass it on with `recording.apply_below(depth, ...)`, then add to the
        result."""
        raise NotImplementedError

    def backward_gradient(self, node: Any, g: Any) -> None:
        """The backward pass completed `node`'s gradient `g`."""

    def input_gradient(self, node: Any, prim: Any, parents: Any, i: int, g: Any) -> None:
        """A rule of `prim` (at `node`, when one is known) computed the gradient `g` for its
        input #i, `parents[i]`."""

    def grad_returned(self, values: Any, depth: int) -> None:
        """A `grad` called at function-transform nesting `depth` returned `values`."""

    def arrays_returned(self, given: list, values: Any, depth: int) -> None:
        """A library function that returns arrays when given arrays (an optimizer update) ran
        on `given` and returned `values` (Tensors here, since `given` held Tensors)."""

    def concrete(self, tensor: Any, value: Any, how: str) -> None:
        """Python read a value (`bool(t)`, `t.item()`) from `tensor`."""

    def numpy_call(self, tensor: Any, what: str, instead: str) -> None:
        """A NumPy function (`what`, e.g. 'np.sin') is about to run on `tensor`'s values
        (`instead`: the autograd_nn op to suggest)."""


class Batching:
    """How the core runs ops on batched values (values whose `_levels` is set) and their
    backward; `vmap` installs both with `install_batching`."""

    apply: Any = None  # (prim, inputs, params) -> result Tensor
    pullback: Any = None  # (node, g, values_as_tensors) -> gradient per input
    add: Any = None  # (a, b) -> a + b for gradients batched over finished vmaps too


def install_batching(apply: Any, pullback: Any, add: Any) -> None:
    """Give the core vmap's way of running a batched op, of differentiating one, and of adding
    up gradients batched over vmaps that have finished."""
    Batching.apply, Batching.pullback, Batching.add = apply, pullback, add


_switches: dict[str, type] = {}  # name -> Layer class of a switchable layer ("anomaly")


def register_switch(name: str, kind: type) -> None:
    """Let `set_switch(name, ...)` turn a layer of class `kind` on and off."""
    _switches[name] = kind


def set_switch(name: str, mode: bool) -> bool:
    """Turn the registered layer `name` on (innermost) or off in this thread; returns whether
    it was on."""
    kind = _switches[name]
    prev = is_switched_on(name)
    if bool(mode) != prev:
        layers = active_layers()
        _set_layers((*layers, kind()) if mode else
                    tuple(x for x in layers if not isinstance(x, kind)))
    return prev


def is_switched_on(name: str) -> bool:
    """Whether the registered layer `name` is active in this thread."""
    return find_layer(_switches[name]) is not None


def set_anomaly_enabled(mode: bool) -> bool:
    """Turn anomaly checks (creation sites, NaN/Inf checks) on or off; returns the previous
    mode (the layer is autograd_nn/anomaly.py)."""
    return set_switch("anomaly", mode)


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly` (in this thread)."""
    return is_switched_on("anomaly")


class Modes:
    """The modes of one thread (read on every op: plain slots, one thread-local lookup)."""

    __slots__ = ("grad_enabled", "scope", "grad_depth", "recording_backward", "layers",
                 "tensors_in_backward", "batching", "tracing", "in_backward", "deriving",
                 "kept_graph")

    def __init__(self) -> None:
        self.grad_enabled = True  # ops record a graph (False inside no_grad)
        self.scope: tuple | None = None  # active naming scopes, outermost first (Modules)
        self.grad_depth = 0  # how many function transforms are running their function
        self.recording_backward = False  # a backward pass is recording its rules
        self.layers: tuple[Layer, ...] | None = None  # active layers, innermost last
        self.tensors_in_backward = False  # backward runs its rules on Tensors (vmap, jvp)
        self.batching: tuple | None = None  # active `vmap` levels, outermost first
        self.tracing: Layer | None = None  # the innermost layer that freezes values, or None
        self.in_backward = False  # a backward pass is running (its rules' ops are its steps)
        self.deriving: Any = None  # the row whose tangent forward mode is computing, if any
        self.kept_graph: Any = None  # the root whose released graph keeps its links (engine)


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.modes = Modes()  # runs once in every thread that uses the engine


thread = _PerThread()  # thread.modes: this thread's Modes


# --- layers -------------------------------------------------------------------------------
def _set_layers(layers: tuple[Layer, ...] | None) -> None:
    modes = thread.modes
    modes.layers = layers or None
    modes.tensors_in_backward = modes.batching is not None or any(
        entry.needs_tensors for entry in layers or ())
    modes.tracing = next((entry for entry in reversed(layers or ()) if entry.freezes_values),
                         None)


@contextlib.contextmanager
def layer(entry: Layer) -> Iterator[Layer]:
    """Run a block with `entry` as the innermost layer (the one way a transform enters)."""
    prev = thread.modes.layers
    _set_layers((*(prev or ()), entry))
    try:
        yield entry
    finally:
        _set_layers(prev)


@contextlib.contextmanager
def layers_below(depth: int) -> Iterator[None]:
    """Run a block with only the layers under `depth` active (how a layer does its own work)."""
    prev = thread.modes.layers
    _set_layers(prev[:depth] if prev else None)
    try:
        yield
    finally:
        _set_layers(prev)


def active_layers() -> tuple[Layer, ...]:
    """The active layers, outermost first."""
    return thread.modes.layers or ()


def find_layer(kind: type) -> Any:
    """The innermost active layer of class `kind`, or None."""
    for entry in reversed(thread.modes.layers or ()):
        if isinstance(entry, kind):
            return entry
    return None


# --- grad mode, nesting and scopes ------------------------------------------------------------
def is_grad_enabled() -> bool:
    """True when operations record a graph (False inside `no_grad`)."""
    return thread.modes.grad_enabled


def set_grad_enabled(mode: bool) -> bool:
    """Turn graph recording on or off in this thread; returns the previous mode."""
    modes = thread.modes
    prev = modes.grad_enabled
    modes.grad_enabled = bool(mode)
    return prev


def set_recording_backward(mode: bool) -> bool:
    """Mark that a backward pass is recording its rules (anomaly messages say so)."""
    modes = thread.modes
    prev = modes.recording_backward
    modes.recording_backward = bool(mode)
    return prev


def enter_grad() -> None:
    """A grad transformation starts running its function (so a grad inside it is nested)."""
    thread.modes.grad_depth += 1


def exit_grad() -> None:
    """Leave one level of `grad` nesting (pairs with enter_grad)."""
    thread.modes.grad_depth -= 1


def push_scope(entry: Any) -> tuple | None:
    """Enter a naming scope (Modules group their ops this way); returns a token for pop_scope.

    Convention: `entry` is `(qualified_name, module)`, e.g. `("layers.0", <Linear>)`.
    """
    modes = thread.modes
    prev = modes.scope
    modes.scope = (entry,) if prev is None else prev + (entry,)
    return prev


def pop_scope(token: tuple | None) -> None:
    """Leave the scope entered by the `push_scope` call that returned `token`."""
    thread.modes.scope = token


def current_scope() -> tuple | None:
    """The active scope entries, outermost first, or None."""
    return thread.modes.scope


def set_tracing(trace: Layer | None) -> Layer | None:
    """Make `trace` (a layer that freezes values, `ag.compile`'s) the active one, or with None
    remove it; returns the previous one. `with layer(trace):` is the usual spelling."""
    prev = thread.modes.tracing
    rest = tuple(x for x in active_layers() if x is not prev)
    _set_layers((*rest, trace) if trace is not None else rest)
    return prev


def set_batching(levels: tuple | None) -> tuple | None:
    """Set the active `vmap` levels (outermost first, or None); returns the previous ones."""
    modes = thread.modes
    prev = modes.batching
    modes.batching = levels or None
    _set_layers(modes.layers)
    return prev
