"""The error `ag.compile` raises when it cannot compile a function faithfully."""

from __future__ import annotations


class CompileError(RuntimeError):
    """The function cannot be compiled faithfully (the message says why and where)."""


class RetraceWarning(UserWarning):
    """A compiled function keeps tracing again for arguments of the same shapes: something it
    reads changes on every call (the message names it), so each call pays for a trace."""
