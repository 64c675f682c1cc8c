"""Anomaly checks as a layer: every op notes where it was created and stops at the first NaN/Inf.

While the layer is active, each op's result is checked (forward, and the ops a recorded
backward runs), its node remembers the user's file:line (`Tensor._where`), and every gradient
the backward pass sends to an input is checked too. `detect_anomaly` (check/anomaly.py) is the
user's switch; `ag.state.set_anomaly_enabled` is the function form (this module registers the
layer it turns on and off).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import state
from ..core.engine import AnomalyError, user_frame_site
from ..core.recording import apply_below, describe
from ..core.state import Layer, thread


class AnomalyLayer(Layer):
    """Checks every op's result and every gradient for NaN/Inf, naming the op and its site."""

    def __init__(self) -> None:
        self.current: Any = None  # the node whose rules the backward pass is running

    def backward_gradient(self, node: Any, g: Any) -> None:
        self.current = node

    def process(self, prim: Any, inputs: tuple, params: dict | None, depth: int) -> Any:
        out = apply_below(depth, prim, inputs, params)
        site = user_frame_site()
        data = out.data
        if data.dtype.kind in "fc" and not np.isfinite(data).all():
            raise AnomalyError(
                f"anomaly in {self._phase(prim)} (inputs {describe(inputs)} -> output "
                f"{out.shape} {data.dtype}): {_nonfinite_summary(data)}; the op was created "
                f"at {site}")
        if out._op is not None and out._where is None:
            out._where = site
        return out

    def _phase(self, prim: Any) -> str:
        """Where an op ran: the forward, the tangent of a row, or a step of a row's backward."""
        modes = thread.modes
        if modes.deriving is not None:
            return f"the tangent of {modes.deriving.name} (forward mode; the step {prim.name})"
        if modes.in_backward and self.current is not None and self.current._op is not None:
            recorded = " (recorded for higher order)" if modes.recording_backward else ""
            return f"backward of {self.current._op.name}{recorded} (the step {prim.name})"
        return f"forward of {prim.name}"

    def input_gradient(self, node: Any, prim: Any, parents: Any, i: int, g: Any) -> None:
        arr = g.data if hasattr(g, "_apply_primitive") else g
        if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
            return
        parent = parents[i]
        where = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
        value = ""
        if parent.data.shape == arr.shape:
            value = f" where the forward input is {parent.data[where].item()!r}"
        raise AnomalyError(
            f"anomaly in backward of {prim.name}: the gradient for its input #{i} "
            f"({parent.data.shape} {parent.data.dtype}) has {_nonfinite_summary(arr)}, the first "
            f"at index {where}{value}; the op was created at "
            f"{getattr(node, '_where', None) or '<unknown: created outside detect_anomaly>'}")


def _nonfinite_summary(arr: np.ndarray) -> str:
    n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    return f"{n_nan} NaN and {n_inf} Inf of {arr.size} elements"


state.register_switch("anomaly", AnomalyLayer)
