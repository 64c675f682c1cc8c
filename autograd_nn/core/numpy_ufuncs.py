"""NumPy's ufuncs given a Tensor (`Tensor.__array_ufunc__`): `np.exp(t)`, `np.maximum(0, t)`
and `ndarray + t` run the row of the same name, so they record and differentiate; any other
ufunc use runs on the values, refused by name where it would drop a gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops.registry import PRIMITIVES
from .public import FUNCTIONS
from .state import thread
from .tensor import Tensor, _batched_to_numpy

# NumPy's names of rows public under another name
_UFUNC_NAMES = {"absolute": "abs", "negative": "neg", "subtract": "sub", "multiply": "mul",
                "divide": "div", "true_divide": "div"}


def _ufunc_rows() -> dict[np.ufunc, Any]:
    """Each NumPy ufunc with a row: by the row's public name (np.exp -> ag.exp), by the names
    above, and the operator rows whose forward is the ufunc itself (np.add -> ag.add)."""
    rows = {}
    for name, function in FUNCTIONS.items():
        ufunc = getattr(np, name, None)
        if isinstance(ufunc, np.ufunc):
            rows[ufunc] = function
    for numpy_name, name in _UFUNC_NAMES.items():
        if name in FUNCTIONS:
            rows[getattr(np, numpy_name)] = FUNCTIONS[name]
    for prim in PRIMITIVES.values():
        if prim.api.operator is not None and isinstance(prim.forward, np.ufunc):
            rows.setdefault(prim.forward, FUNCTIONS[prim.api.public])
    return rows


UFUNC_ROWS = _ufunc_rows()
# keyword arguments a ufunc call may carry and still be the row: NumPy's own defaults
_PLAIN_KEYWORDS = {"where": True, "casting": "same_kind", "order": "K", "dtype": None,
                   "subok": True, "signature": None}
# ufuncs without a row, and what to write instead
NEAR_UFUNCS = {"rint": "ag.round", "fabs": "ag.abs", "positive": "+x (or x itself)",
               "remainder": "ag.mod", "cbrt": "ag.sign(x) * ag.abs(x) ** (1 / 3)",
               "float_power": "ag.power (on float64 values)",
               "heaviside": "ag.where(x > 0, 1.0, 0.0)"}


def _plain_keywords(kwargs: dict) -> bool:
    """Whether every keyword of a ufunc call is NumPy's default (so the row computes it)."""
    for key, value in kwargs.items():
        if key not in _PLAIN_KEYWORDS or value is not _PLAIN_KEYWORDS[key] and not (
                type(value) is type(_PLAIN_KEYWORDS[key]) and value == _PLAIN_KEYWORDS[key]):
            return False
    return True


def _numpy_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A ufunc call with a Tensor that no row computes: NumPy runs it on the values unless a
    gradient, a batch, a tangent or a trace would be lost (then refused by name)."""
    what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    layers = thread.modes.layers
    for x in inputs:
        if not isinstance(x, Tensor):
            continue
        if x._levels is not None:
            raise _batched_to_numpy(x, what)
        if x._needs_grad:
            raise TypeError(_refusal(ufunc, method, x, what, kwargs))
        if layers is not None:
            for entry in layers:
                entry.numpy_call(x, what, our_op(ufunc, method))
    if any(isinstance(o, Tensor) for o in kwargs.get("out", ())):
        raise TypeError(f"{what}: out= cannot be a Tensor (Tensors are never written in place); "
                        "use the result, or write into .data of a Tensor outside any graph")
    arrays = tuple(x.data if isinstance(x, Tensor) else x for x in inputs)
    return getattr(ufunc, method)(*arrays, **kwargs)


def _refusal(ufunc: np.ufunc, method: str, x: Tensor, what: str, kwargs: dict) -> str:
    """Why a ufunc call on a Tensor that requires grad is refused, and what to write."""
    into = "out" in kwargs
    extra = [k for k in kwargs if k != "out" and not _plain_keywords({k: kwargs[k]})]
    if into:
        why = " with out= (as `array += tensor` does)"
    elif extra:
        why = (f" with {', '.join(f'{k}={kwargs[k]!r}' for k in extra)} (a keyword the "
               "autograd_nn op does not take)")
    elif method == "__call__" and ufunc not in UFUNC_ROWS:
        why = " (a ufunc autograd_nn has no row for)"
    else:
        why = ""
    instead = "`array = array + tensor`" if into and ufunc in UFUNC_ROWS else our_op(ufunc, method)
    return (f"cannot hand a Tensor that requires grad ({x.shape} {x.dtype}"
            f"{', ' + repr(x.name) if x.name else ''}) to {what}{why}: NumPy would drop its "
            f"gradient silently. Use {instead} instead, or take the values on purpose with "
            ".data, .numpy() or .detach()")


def our_op(ufunc: np.ufunc, method: str) -> str:
    """The autograd_nn spelling of a NumPy ufunc, for error messages."""
    name = _UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__)
    if method == "__call__" and ufunc.__name__ in NEAR_UFUNCS:
        return NEAR_UFUNCS[ufunc.__name__]
    if method != "__call__" or name not in FUNCTIONS:
        reduction = {"add": "ag.sum", "multiply": "ag.prod", "maximum": "ag.max",
                     "minimum": "ag.min"}.get(ufunc.__name__) if method == "reduce" else None
        return reduction or "the autograd_nn ops (ag.exp, ag.sum, ...)"
    return f"ag.{name}" + (f" or x.{name}()" if hasattr(Tensor, name) else "")


def _array_ufunc(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """NumPy's ufuncs on Tensors: a ufunc with a row (`np.exp(t)`, `ndarray * t`) is that row;
    anything else runs on the values, refused where it would drop a gradient."""
    if method == "__call__":
        op = UFUNC_ROWS.get(ufunc)
        if op is not None and (not kwargs or _plain_keywords(kwargs)):
            return op(*inputs)
    return _numpy_ufunc(ufunc, method, inputs, kwargs)


Tensor.__array_ufunc__ = _array_ufunc
