"""Anomaly checks as a layer: every op notes where it was created and stops at the first NaN/Inf.

While the layer is active, each op's result is checked (forward, and the ops a recorded
backward runs), its node remembers the user's file:line (`Tensor._where`), and every gradient
the backward pass sends to an input is checked too. `detect_anomaly` (check/anomaly.py) is the
user's switch; `ag.state.set_anomaly_enabled` is the function form (this module registers the
layer it turns on and off).

A NaN/Inf that an op's input already held (a leaf Tensor, a NumPy array handed in, a value
computed before the checks were on) is blamed on that input, named, not on the first op that
reads it. `options.allow_inf` (set by `detect_anomaly(allow_inf=True)`) lets ±Inf through, for
values where it is meant (an attention mask's -inf): then only NaN stops.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..core import state
from ..core.engine import AnomalyError, user_frame, user_frame_site
from ..core.recording import apply_below, describe
from ..core.state import Layer, thread
from ..core.tensor import Tensor


class _Options(threading.local):
    """Per-thread settings of the checks (`detect_anomaly` sets and restores them)."""

    allow_inf: bool = False  # ±Inf is meant (an attention mask): only NaN is an anomaly


options = _Options()


def _bad(arr: np.ndarray) -> np.ndarray:
    """Where `arr` holds an anomaly: NaN, and ±Inf unless it is allowed."""
    return np.isnan(arr) if options.allow_inf else ~np.isfinite(arr)


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
        if data.dtype.kind in "fc" and _bad(data).any():
            if thread.modes.deriving is None and not thread.modes.in_backward:
                _blame_an_input(prim, inputs, site)
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
        if arr.dtype.kind not in "fc" or not _bad(arr).any():
            return
        parent = parents[i]
        where = tuple(int(k) for k in np.argwhere(_bad(arr))[0])
        value = ""
        if parent.data.shape == arr.shape:
            value = f" where the forward input is {parent.data[where].item()!r}"
        raise AnomalyError(
            f"anomaly in backward of {prim.name}: the gradient for its input #{i} "
            f"({parent.data.shape} {parent.data.dtype}) has {_nonfinite_summary(arr)}, the first "
            f"at index {where}{value}; the op was created at "
            f"{getattr(node, '_where', None) or '<unknown: created outside detect_anomaly>'}")


def _blame_an_input(prim: Any, inputs: tuple, site: str) -> None:
    """Raise for the first input of `prim` that already holds the anomaly its output shows:
    the NaN came in with the data, and `prim` only passed it on."""
    for i, t in enumerate(inputs):
        arr = t.data if isinstance(t, Tensor) else np.asarray(t)
        if arr.dtype.kind not in "fc" or not _bad(arr).any():
            continue
        first = tuple(int(k) for k in np.argwhere(_bad(arr))[0])
        raise AnomalyError(
            f"anomaly in an input, not made by {prim.name}: {_origin(t)} ({arr.shape} "
            f"{arr.dtype}) already holds {_nonfinite_summary(arr)}, the first at index {first}, "
            f"before any op ran on it; the first op that reads it (as its input #{i}) is "
            f"{prim.name}, created at {site}. Check the data where it is loaded or made (np.isnan, "
            f"np.isinf)" + ("" if options.allow_inf or not np.isinf(arr).any() else
                            "; if the Inf is meant (a mask), use "
                            "detect_anomaly(allow_inf=True)"))


def _origin(t: Any) -> str:
    """What an op's input is, for a user: a leaf Tensor by name, an array by the name it has
    in the user's code, or the op that computed it before the checks were on."""
    if isinstance(t, Tensor) and t._op is not None:
        made = f" at {t._where}" if t._where else ""
        return (f"the value computed by {t._op.name}{made} before detect_anomaly was on "
                f"(or with ±Inf allowed)")
    kind = "leaf Tensor" if isinstance(t, Tensor) and t.requires_grad else "input"
    if isinstance(t, Tensor) and t.name:
        return f"the {kind} {t.name!r}"
    name = _local_name(t)
    if name:
        return f"the {kind} {name}"
    return ("a leaf Tensor" if kind == "leaf Tensor" else
            "an input (a NumPy array or a Tensor given to the op)")


def _local_name(t: Any) -> str | None:
    """The name of a variable in the user's code holding `t` (or its array), if one does."""
    arr = t.data if isinstance(t, Tensor) else t
    frame = user_frame()
    for key, value in (frame.f_locals.items() if frame is not None else ()):
        if _holds(value, t, arr):
            return key
        if isinstance(value, dict):  # a params dict: p['w']
            for k, v in value.items():
                if _holds(v, t, arr):
                    return f"{key}[{k!r}]"
    return None


def _holds(value: Any, t: Any, arr: Any) -> bool:
    return value is t or value is arr or (isinstance(value, Tensor) and value.data is arr)


def _nonfinite_summary(arr: np.ndarray) -> str:
    n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    return f"{n_nan} NaN and {n_inf} Inf of {arr.size} elements"


state.register_switch("anomaly", AnomalyLayer)
