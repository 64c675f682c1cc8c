"""NumPy's ufuncs given a Tensor (`Tensor.__array_ufunc__`): `ndarray + Tensor` is the Tensor
operator; any other ufunc runs on the values, refused where it would drop a gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops.registry import PRIMITIVES
from .public import FUNCTIONS
from .state import thread
from .tensor import Tensor, _batched_to_numpy

# ufuncs behind Python's binary operators: `ndarray + Tensor` reaches np.add, which gives it
# to the op
_UFUNC_OPERATORS = {
    _prim.forward: FUNCTIONS[_prim.api.public] for _prim in PRIMITIVES.values()
    if _prim.api.operator is not None and isinstance(_prim.forward, np.ufunc)
    and _prim.forward.nin == 2
}
_UFUNC_NAMES = {"absolute": "abs", "negative": "neg", "subtract": "sub", "multiply": "mul",
                "divide": "div", "true_divide": "div"}


def _numpy_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A NumPy ufunc other than an operator called with a Tensor among its inputs or outputs."""
    what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    layers = thread.modes.layers
    for x in inputs:
        if not isinstance(x, Tensor):
            continue
        if x._levels is not None:
            raise _batched_to_numpy(x, what)
        if x._needs_grad:
            into = "out" in kwargs and ufunc in _UFUNC_OPERATORS
            raise TypeError(
                f"cannot hand a Tensor that requires grad ({x.shape} {x.dtype}"
                f"{', ' + repr(x.name) if x.name else ''}) to {what}"
                f"{' with out= (as `array += tensor` does)' if into else ''}: NumPy would drop "
                f"its gradient silently. Use "
                f"{'`array = array + tensor`' if into else _our_op(ufunc, method)} instead, or "
                "take the values on purpose with .data, .numpy() or .detach()"
            )
        if layers is not None:
            for entry in layers:
                entry.numpy_call(x, what, _our_op(ufunc, method))
    if any(isinstance(o, Tensor) for o in kwargs.get("out", ())):
        raise TypeError(f"{what}: out= cannot be a Tensor (Tensors are never written in place); "
                        "use the result, or write into .data of a Tensor outside any graph")
    arrays = tuple(x.data if isinstance(x, Tensor) else x for x in inputs)
    return getattr(ufunc, method)(*arrays, **kwargs)


def _our_op(ufunc: np.ufunc, method: str) -> str:
    """The autograd_nn spelling of a NumPy ufunc, for error messages."""
    name = _UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__)
    if method != "__call__" or name not in FUNCTIONS:
        return "the autograd_nn ops (ag.exp, ag.sum, ...)"
    return f"ag.{name}" + (f" or x.{name}()" if hasattr(Tensor, name) else "")


def _array_ufunc(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """NumPy's ufuncs on Tensors: `ndarray + Tensor` is the Tensor operator; any other use
    (`np.tanh(t)`) runs on the values, and is refused for a Tensor that requires grad."""
    if method == "__call__" and not kwargs:  # `ndarray * tensor`: the operator, inline
        op = _UFUNC_OPERATORS.get(ufunc)
        if op is not None:
            return op(*inputs)
    return _numpy_ufunc(ufunc, method, inputs, kwargs)


Tensor.__array_ufunc__ = _array_ufunc
