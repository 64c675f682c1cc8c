"""Lifting arguments to Tensors, and the one path that records an op.

`apply` runs a row on Tensor inputs through the active layers (jvp, compile, anomaly checks);
under them (`core=True`) it runs the row's NumPy forward and `record` makes the result a Tensor that
remembers its op, inputs and what backward will read (saved.py), when it needs a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number
from typing import Any

import numpy as np

from .ops.registry import Primitive
from .saved import KEEPS_NOTHING, SMALL, save
from .state import Batching, thread
from .tensor import Tensor

_ndarray = np.ndarray
_new_tensor = Tensor.__new__


def constant(arr: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf Tensor around a numeric (float, if requires_grad) ndarray, without re-validating
    it: the hot path of lifting arguments and of `grad`'s inputs."""
    t = _new_tensor(Tensor)
    t.data = arr
    t.grad = t.name = t._op = t._params = t._scope = t._where = t._saved = None
    t._hooks = t._levels = None
    t._needs_grad = requires_grad
    t._parents = ()
    return t


_last_array: tuple = (None, None)  # the small array lifted last, and its leaf
_numbers: dict[tuple, Tensor] = {}  # (value, dtype[, sign of a zero]) -> a shared constant


def _number(x: float, dtype: np.dtype) -> Tensor:
    """A Python number as a constant of `dtype`, one per value and dtype for every op that uses
    it (a loop's `* 0.5` makes one Tensor, not one per step: fewer objects for the cyclic
    collector). Its array is read-only, so sharing it is safe; pictures draw it once per use."""
    # True, 1 and 1.0 make the same float; 0.0 and -0.0 do not
    key = (x, dtype) if x else (x, dtype, math.copysign(1.0, x))
    t = _numbers.get(key)
    if t is None:
        if len(_numbers) >= 512:  # bounded (a NaN key never matches itself)
            _numbers.clear()
        arr = np.asarray(x, dtype=dtype)
        arr.flags.writeable = False
        t = _numbers[key] = constant(arr)
    return t


def lift(x: Any, like: Any = None, op: str = "op") -> Tensor:
    """`x` as a Tensor (a constant unless it already is one). Python numbers are "weak" as in
    NumPy 2: they take `like`'s dtype where it holds them (`float32 * 2.0` is float32, `int32 + 1`
    is int32, `int32 * 0.5` is float64)."""
    if x.__class__ is Tensor or isinstance(x, Tensor):
        return x
    if x.__class__ is _ndarray and x.dtype.kind in "biufc":
        global _last_array
        last = _last_array
        if last[0] is x:  # the same array as the op before (a loop's `z * c`): the same leaf
            return last[1]
        t = constant(x)
        if x.nbytes <= 4096:
            _last_array = (x, t)
        return t
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        if like is not None:
            dtype = like.data.dtype if like.__class__ is Tensor else like.dtype
            if dtype.kind in "fc":
                return _number(x, dtype)
            try:  # NumPy 2's rule for Python numbers: int32 + 1 is int32, uint8 - 1 wraps
                return constant(np.asarray(x, dtype=np.result_type(dtype, x)))
            except OverflowError:
                raise OverflowError(
                    f"{op}: the Python integer {x} does not fit the other operand's dtype "
                    f"{dtype} (as in NumPy 2); use a Tensor or array of a wider dtype"
                ) from None
        return constant(np.asarray(x))
    if isinstance(x, (_ndarray, np.generic, list, tuple, Number)):
        try:
            return Tensor(np.asarray(x))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{op}: cannot use {type(x).__name__} as an operand: {err}") from None
    raise TypeError(
        f"{op}: unsupported operand type {type(x).__name__} (expected a Tensor, a Python "
        "number, or a NumPy array)"
    )


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (Tensor, _ndarray))


def lift_inputs(values: Sequence[Any], op: str) -> tuple[Tensor, ...]:
    """All inputs of an op as Tensors; Python numbers take the first float input's dtype."""
    like = None
    for v in values:
        if v.__class__ is not Tensor:
            break
    else:
        return tuple(values)  # the common case: all Tensors already
    for v in values:
        if _is_array_like(v) and (like is None or like.dtype.kind != "f"):
            like = v
            if like.dtype.kind == "f":
                break
    if like is None and values:  # all plain values: the first sets the dtype of the rest
        first = lift(values[0], None, op)
        return (first,) + tuple(lift(v, first, op) for v in values[1:])
    return tuple(lift(v, like, op) for v in values)


def _pair(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    if a.__class__ is Tensor:
        if b.__class__ is Tensor:
            return a, b
        return a, lift(b, a, op)
    if b.__class__ is Tensor or isinstance(b, Tensor):  # (a Tensor subclass, while tracing)
        return lift(a, b, op), b
    a = lift(a, None, op)
    return a, lift(b, a, op)


def _forward_error(prim: Primitive, args: Sequence[Tensor], params: dict | None, err: Exception):
    detail = str(err).split("\n")[0]
    shown = f" with {params}" if params else ""
    return type(err)(
        f"{prim.name}: cannot apply to inputs of shapes/dtypes ({describe(args)}){shown}: "
        f"{detail}"
    )


def describe(arrays: Sequence[Any]) -> str:
    """'(3, 4) float64, (4,) float32' for the inputs of an op (arrays or Tensors)."""
    return ", ".join(f"{a.shape} {a.dtype}" for a in arrays)


def apply(prim: Primitive, inputs: tuple[Tensor, ...], params: dict | None = None,
          core: bool = False) -> Tensor:
    """Run `prim` on Tensor `inputs` through the active layers (jvp, compile, anomaly checks),
    and record the result in the graph when it needs grad. With `core`, skip the layers (the
    last one passes the op on this way: `apply_below`)."""
    m = thread.modes
    layers = m.layers
    if layers is not None and not core:
        return layers[-1].process(prim, inputs, params, len(layers) - 1)
    # the core of every op: its NumPy forward on the inputs' arrays (on the batch, inside
    # vmap), recorded
    n = len(inputs)
    if inputs[0]._levels is not None or (n > 1 and (inputs[1]._levels is not None or (
            n > 2 and any(x._levels is not None for x in inputs)))):
        return Batching.apply(prim, inputs, params)  # inside vmap: run on the batch
    try:  # spelled out by arity: no list is built on the hot path
        if n == 2:
            arrays = (inputs[0].data, inputs[1].data)
        elif n == 1:
            arrays = (inputs[0].data,)
        else:
            arrays = tuple([x.data for x in inputs])
        out = prim.forward(*arrays, **params) if params else prim.forward(*arrays)
    except (ValueError, TypeError, IndexError) as err:
        raise _forward_error(prim, inputs, params, err) from None
    return record(prim, inputs, params, arrays, out, None, m)


def apply_below(depth: int, prim: Primitive, inputs: tuple, params: dict | None) -> Tensor:
    """Pass an op on from the layer at `depth` to the ones under it, then to the core."""
    if depth == 0:
        return apply(prim, inputs, params, True)
    return thread.modes.layers[depth - 1].process(prim, inputs, params, depth - 1)


def record(prim: Primitive, inputs: tuple[Tensor, ...], params: dict | None, arrays: tuple,
           out: Any, levels: tuple | None = None, m: Any = None) -> Tensor:
    """The result of `prim` as a Tensor, recorded in the graph when it needs grad (`levels`:
    the vmap levels of a result computed on a batch)."""
    if out.__class__ is not _ndarray:
        out = np.asarray(out)
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = t.name = t._hooks = t._where = None
    t._levels = levels
    if m is None:
        m = thread.modes
    plan = None
    if m.grad_enabled:  # what to keep, by which inputs need a gradient (saved.save_plans)
        plans = prim.save_plans
        n = len(inputs)
        if n == 2 and plans:
            plan = plans[inputs[0]._needs_grad + 2 * inputs[1]._needs_grad]
        elif n == 1 and plans:
            plan = plans[inputs[0]._needs_grad]
        else:
            plan = _plan_of(prim, inputs)
    if plan is None:
        t._needs_grad = False
        t._op = t._params = t._scope = t._saved = None
        t._parents = ()
        return t
    t._needs_grad = True
    t._op = prim
    t._parents = inputs
    t._params = params
    t._scope = m.scope
    reads_ans, read, one = plan
    if one is None:  # several arrays
        t._saved = save(arrays, read, out, reads_ans)
    elif one == KEEPS_NOTHING:  # rules that read only shapes (add, sum)
        t._saved = None
    else:  # the common case: one array, copied when small (saved.save's layout)
        a = out if one < 0 else arrays[one]
        t._saved = ((arrays, out if reads_ans else None, None, one, a.tobytes())
                    if a.nbytes <= SMALL else save(arrays, read, out, reads_ans))
    if out.dtype.kind == "c":
        raise TypeError(
            f"{prim.name}: complex result from inputs ({describe(inputs)}) in a graph "
            "that needs gradients; autograd_nn differentiates real floating-point values only"
        )
    return t


def _plan_of(prim: Primitive, inputs: tuple[Tensor, ...]) -> tuple | None:
    """`record`'s save plan where the row has no table (variadic, over 4 inputs) or has not
    recorded yet."""
    if prim.save_plans is None:
        prim.find_reads()
    plans = prim.save_plans
    if plans:
        return plans[sum(x._needs_grad << i for i, x in enumerate(inputs))]
    which = range(len(inputs)) if prim.grad_inputs is None else prim.grad_inputs
    if not any(inputs[i]._needs_grad for i in which):
        return None
    return prim.reads_ans, prim.read_inputs, None


def _apply_primitive(self: Tensor, prim: Primitive, inputs: Sequence[Any], params: dict) -> Tensor:
    """How a row called with Tensor inputs records itself (see ops/registry.py)."""
    return apply(prim, lift_inputs(inputs, prim.name), params or None)


Tensor._apply_primitive = _apply_primitive
