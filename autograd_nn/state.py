"""Per-thread modes of the engine: grad recording, anomaly checks, naming scopes, grad nesting,
tracing for `ag.compile` and the active `vmap` levels.

Each thread has its own modes (as in PyTorch): a `no_grad` block or a backward pass in one
thread never changes what another thread records. Everything that reads or sets a mode goes
through this module.
"""

from __future__ import annotations

import threading
from typing import Any


class Modes:
    """The modes of one thread (read on every op: plain slots, one thread-local lookup)."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "grad_depth", "recording_backward",
                 "tracing", "batching", "forward")

    def __init__(self) -> None:
        self.grad_enabled = True  # ops record a graph (False inside no_grad)
        self.anomaly = False  # record creation sites and stop at the first NaN/Inf
        self.scope: tuple | None = None  # active naming scopes, outermost first (Modules)
        self.grad_depth = 0  # how many grad transformations are running their function
        self.recording_backward = False  # a backward pass is recording its rules
        self.tracing: Any = None  # an `ag.compile` trace: record every op on traced values
        self.batching: tuple | None = None  # active `vmap` levels, outermost first
        self.forward: Any = None  # the innermost running `jvp` (forward.ForwardLevel)


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.modes = Modes()  # runs once in every thread that uses the engine


thread = _PerThread()  # thread.modes: this thread's Modes


def is_grad_enabled() -> bool:
    """True when operations record a graph (False inside `no_grad`)."""
    return thread.modes.grad_enabled


def set_grad_enabled(mode: bool) -> bool:
    """Turn graph recording on or off in this thread; returns the previous mode."""
    modes = thread.modes
    prev = modes.grad_enabled
    modes.grad_enabled = bool(mode)
    return prev


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly` (in this thread)."""
    return thread.modes.anomaly


def set_anomaly_enabled(mode: bool) -> bool:
    """Turn anomaly checks (creation sites, NaN/Inf checks) on or off; returns the previous mode."""
    modes = thread.modes
    prev = modes.anomaly
    modes.anomaly = bool(mode)
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


def set_tracing(trace: Any) -> Any:
    """Start (or with None, stop) recording every op on traced values; returns the previous."""
    modes = thread.modes
    prev = modes.tracing
    modes.tracing = trace
    return prev


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


def set_batching(levels: tuple | None) -> tuple | None:
    """Set the active `vmap` levels (outermost first, or None); returns the previous ones."""
    modes = thread.modes
    prev = modes.batching
    modes.batching = levels or None
    return prev


def set_forward(level: Any) -> Any:
    """Set the innermost running `jvp` level (or None); returns the previous one."""
    modes = thread.modes
    prev = modes.forward
    modes.forward = level
    return prev
