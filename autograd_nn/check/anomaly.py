"""`detect_anomaly`: record where each op was created and stop at the first NaN/Inf.

A thin switch over the engine's anomaly mode (`ag.state.set_anomaly_enabled`): while it is on,
every op records its creation site (file:line in the user's code, `Tensor._where`) and the engine
raises `ag.AnomalyError` at the first non-finite forward output or backward gradient, naming the
op, the shapes and that site. Do the backward inside the block too: the check runs when the
gradient is computed. A NaN/Inf already in an input is blamed on that input;
`detect_anomaly(allow_inf=True)` accepts ±Inf (an attention mask) and stops only at NaN.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..core import engine, state
from ..transforms.anomaly import options as anomaly_options

__all__ = ["AnomalyError", "detect_anomaly"]

AnomalyError = engine.AnomalyError


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager and decorator turning anomaly mode on (or off with `enabled=False`).

    NumPy's divide/overflow/invalid warnings are silenced inside the block by default
    (`quiet_numpy=True`): each of them yields an Inf or NaN that anomaly mode reports as an
    AnomalyError naming the op, which is more useful than a warning (or, with warnings turned
    into errors, a RuntimeWarning raised from inside NumPy without the op's name).

    A NaN or Inf an input already holds (a leaf Tensor, a NumPy array handed to an op) is
    reported as the input's, named, not as the anomaly of the first op that reads it.

    `allow_inf=True` lets ±Inf through where it is meant, so that only NaN stops: an attention
    mask of -inf above the diagonal added to the scores before `softmax` (which turns it into
    exact zeros) passes, while a NaN anywhere, forward or backward, still raises::

        with ag.detect_anomaly(allow_inf=True):
            weights = ag.softmax(scores + causal_mask, axis=-1)   # causal_mask holds -inf
    """

    def __init__(self, enabled: bool = True, quiet_numpy: bool = True,
                 allow_inf: bool = False) -> None:
        self.enabled = bool(enabled)
        self.quiet_numpy = bool(quiet_numpy)
        self.allow_inf = bool(allow_inf)
        self._saved: list[tuple[bool, Any, bool]] = []  # a stack: the decorator may re-enter

    def __enter__(self) -> detect_anomaly:
        errstate = None
        if self.quiet_numpy and self.enabled:
            errstate = np.errstate(divide="ignore", over="ignore", invalid="ignore")
            errstate.__enter__()
        prev = state.set_anomaly_enabled(self.enabled)
        self._saved.append((prev, errstate, anomaly_options.allow_inf))
        if self.enabled:
            anomaly_options.allow_inf = self.allow_inf
        return self

    def __exit__(self, *exc: Any) -> None:
        prev, errstate, allow_inf = self._saved.pop()
        state.set_anomaly_enabled(prev)
        anomaly_options.allow_inf = allow_inf
        if errstate is not None:
            errstate.__exit__(*exc)
