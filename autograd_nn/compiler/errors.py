"""The error `ag.compile` raises when it cannot compile a function faithfully."""

from __future__ import annotations


class CompileError(RuntimeError):
    """The function cannot be compiled faithfully (the message says why and where)."""
