"""Per-thread modes of the engine: grad recording, anomaly checks, naming scopes, grad nesting.

Each thread has its own modes (as in PyTorch): a `no_grad` block or a backward pass in one
thread never changes what another thread records. Everything that reads or sets a mode goes
through this module.
"""

from __future__ import annotations

import threading
from typing import Any


class _Modes(threading.local):
    """The modes of the current thread; the class attributes are every new thread's defaults."""

    grad_enabled = True  # ops record a graph (False inside no_grad)
    anomaly = False  # record creation sites and stop at the first NaN/Inf
    scope: tuple | None = None  # active naming scopes, outermost first (Modules push them)
    grad_depth = 0  # how many grad transformations are running their function
    recording_backward = False  # a backward pass is recording its rules (higher order)


modes = _Modes()


def is_grad_enabled() -> bool:
    """True when operations record a graph (False inside `no_grad`)."""
    return modes.grad_enabled


def set_grad_enabled(mode: bool) -> bool:
    """Turn graph recording on or off in this thread; returns the previous mode."""
    prev = modes.grad_enabled
    modes.grad_enabled = bool(mode)
    return prev


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly` (in this thread)."""
    return modes.anomaly


def set_anomaly_enabled(mode: bool) -> bool:
    """Turn anomaly checks (creation sites, NaN/Inf checks) on or off; returns the previous mode."""
    prev = modes.anomaly
    modes.anomaly = bool(mode)
    return prev


def set_recording_backward(mode: bool) -> bool:
    """Mark that a backward pass is recording its rules (anomaly messages say so)."""
    prev = modes.recording_backward
    modes.recording_backward = bool(mode)
    return prev


def enter_grad() -> None:
    """A grad transformation starts running its function (so a grad inside it is nested)."""
    modes.grad_depth += 1


def exit_grad() -> None:
    modes.grad_depth -= 1


def push_scope(entry: Any) -> tuple | None:
    """Enter a naming scope (Modules group their ops this way); returns a token for pop_scope.

    Convention: `entry` is `(qualified_name, module)`, e.g. `("layers.0", <Linear>)`.
    """
    prev = modes.scope
    modes.scope = (entry,) if prev is None else prev + (entry,)
    return prev


def pop_scope(token: tuple | None) -> None:
    """Leave the scope entered by the `push_scope` call that returned `token`."""
    modes.scope = token


def current_scope() -> tuple | None:
    """The active scope entries, outermost first, or None."""
    return modes.scope
