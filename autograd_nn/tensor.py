"""`Tensor`: a NumPy array that remembers how it was computed, and the one path that records ops.

The class holds data and graph links; node records use `__slots__` and hold no closures, so a
graph has no reference cycles and is freed by reference counting as soon as it is dropped. Every
operation is a row of autograd_nn/ops; this module generates each row's public function
(`FUNCTIONS`, exported as `ag.exp`, ...) and Tensor method from it, and `apply` records it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from numbers import Number
from typing import Any

import numpy as np

from . import engine, ops  # noqa: F401 (importing ops registers every row)
from .ops.registry import COMPOSITES, PRIMITIVES, Call, Composite, Primitive
from .saved import save
from .state import Batching, thread

_accumulating = threading.Lock()  # guards `.grad += ...` across threads (as PyTorch does)
_FLOAT_KINDS = "f"  # real floats only: the rules have no complex (conjugate) conventions
_ndarray = np.ndarray


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as err:  # ragged nested lists, strings to float, ...
        raise type(err)(f"Tensor: cannot make a numeric array from this data: {err}") from None
    if arr.dtype == object:
        raise TypeError(
            f"Tensor: cannot make a numeric array from {type(data).__name__} "
            f"(NumPy gives dtype=object); pass numbers, nested lists of numbers, or an ndarray"
        )
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (numeric data only)")
    return arr


class Tensor:
    """An n-dimensional array with an optional gradient and a record of the op that made it.

    `Tensor(data, requires_grad=False, name=None)`: data is a number, nested list or ndarray.
    Floating dtypes are kept (float64 by default, float32 honoured); only floating tensors may
    require grad. Tensors hash by identity, so they can be dict keys even though `==` is
    elementwise. The operators and op methods (`x.exp()`, `x.sum(axis)`, ...) are generated
    from the op rows at the end of this module.
    """

    __slots__ = (
        "data", "grad", "name", "_needs_grad", "_op", "_parents", "_params", "_scope", "_where",
        "_saved", "_hooks", "_levels", "__weakref__",
    )
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's ufuncs on Tensors: `ndarray + Tensor` is the Tensor operator; any other use
        (`np.tanh(t)`) runs on the values, and is refused for a Tensor that requires grad."""
        if method == "__call__" and not kwargs:  # `ndarray * tensor`: the operator, inline
            op = _UFUNC_OPERATORS.get(ufunc)
            if op is not None:
                return op(*inputs)
        return _numpy_ufunc(ufunc, method, inputs, kwargs)

    def __init__(
        self, data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None
    ) -> None:
        arr = _as_array(data, dtype)
        self.data = arr
        levels = data._levels if isinstance(data, Tensor) else None  # one example's, in vmap
        self.grad = None
        self.name = name
        self._needs_grad = False
        self._op = None
        self._parents = ()
        self._params = None
        self._scope = None
        self._where = None
        self._saved = self._hooks = None
        self._levels = levels
        if requires_grad:
            self.requires_grad = True

    # --- attributes -------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor (only real floating tensors can)."""
        return self._needs_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind not in _FLOAT_KINDS:
            label = f" '{self.name}'" if self.name else ""
            raise TypeError(
                f"Tensor{label}: only real floating-point tensors can require grad, but this one "
                f"has "
                f"dtype {self.data.dtype} (shape {self.data.shape}); convert it first, e.g. "
                "Tensor(data, dtype=np.float64, requires_grad=True)"
            )
        if not value and self._op is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() instead"
            )
        self._needs_grad = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape (inside `vmap`, one example's shape)."""
        levels = self._levels
        return self.data.shape if levels is None else self.data.shape[len(levels):]

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        levels = self._levels
        return self.data.ndim if levels is None else self.data.ndim - len(levels)

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (float64 unless made otherwise)."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """The number of elements."""
        return self.data.size if self._levels is None else int(np.prod(self.shape))

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs, parameters, constants)."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the primitive that produced this tensor, or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The recorded inputs of the op that produced this tensor (empty for leaves)."""
        return self._parents or ()

    @property
    def graph_released(self) -> bool:
        """True when backward() released this op's graph links (use retain_graph=True to keep)."""
        return self._op is not None and self._parents is None

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed), recorded like ag.transpose."""
        return transpose(self)  # noqa: F821 (generated from the rows below)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (ag.compile guards it)."""
        return self._concrete(self._one_value("item"), "item")

    def __float__(self) -> float:
        return float(self.item())  # item() is what ag.compile guards

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1 and self._levels is None:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t == x).all() style reductions on .data"
            )
        return self._concrete(bool(self._one_value("bool")), "bool")

    def _concrete(self, value: Any, how: str) -> Any:
        """A Python value read from this tensor; active layers see it (`ag.compile` guards it:
        the compiled code checks it on every call and traces again when it changes)."""
        layers = thread.modes.layers
        if layers is not None:
            for entry in layers:
                entry.concrete(self, value, how)
        return value

    def _one_value(self, how: str) -> Any:
        """The single element of this tensor; inside vmap, the value every example shares (a
        Python branch on it is then the same for all), else an error naming the problem."""
        data = self.data
        if self._levels is not None:
            flat = data.reshape(-1)
            if flat.size and not (flat == flat[0]).all():
                raise ValueError(
                    f"{how}() of a value that differs between the examples of a vmap (shape "
                    f"{self.shape} per example): a Python branch on it cannot be batched; use "
                    "ag.where(...) instead, or loop over the examples")
            data = flat[:1]
        if data.size != 1:
            raise ValueError(
                f"{how}(): only a tensor with one element can be converted, this one has shape "
                f"{self.shape}"
            )
        return data.reshape(()).item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # NumPy functions (np.dot, np.asarray, ...) would silently drop the graph of a tensor
        # that requires grad, so that conversion must be asked for explicitly.
        if self._needs_grad:
            raise TypeError(
                f"cannot hand a Tensor that requires grad ({self.shape} {self.dtype}"
                f"{', ' + repr(self.name) if self.name else ''}) to NumPy: a NumPy function such "
                "as np.dot would drop its gradient silently. Use the autograd_nn op instead "
                "(ag.dot, ag.matmul or @, ag.exp, ...), or take the values on purpose with "
                ".data, .numpy() or .detach()"
            )
        if self._levels is not None:
            raise _batched_to_numpy(self, "NumPy")
        layers = thread.modes.layers
        if layers is not None:  # a running jvp refuses to lose a tangent this way
            for entry in layers:
                entry.numpy_call(self, "a NumPy function", "the autograd_nn op")
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph (inside vmap, still
        one example's value)."""
        t = Tensor(self.data, name=self.name)
        t._levels = self._levels
        return t

    def register_hook(self, hook: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `hook(gradient)` when backward has this tensor's whole gradient (an array; a
        Tensor when the backward is itself recorded); a non-None return replaces the gradient
        that flows on. Returns a function that removes the hook. As in PyTorch, the hook runs in
        every backward pass that reaches the tensor, the recorded second pass of `hessian` or
        `hvp` included (so with a hook that changes gradients, `hessian(f)` and
        `jacfwd(grad(f))` differ)."""
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if not self._needs_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no "
                               "gradient will ever reach it")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove

    def retain_grad(self) -> None:
        """Keep this intermediate's gradient in `.grad` after `backward()` (leaves always do)."""
        if not self._needs_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if self._op is None:
            return
        if self._hooks is None:
            self._hooks = []
        if engine.RETAIN not in self._hooks:
            self._hooks.append(engine.RETAIN)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets `.grad` to None)."""
        self.grad = None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf that requires grad.

        `grad` is the gradient of some scalar with respect to this tensor (needed unless this
        tensor has one element). The graph's links are released afterwards unless
        `retain_graph=True`, so a second backward needs `retain_graph=True` on the first.
        """
        if thread.modes.tracing is not None:  # .grad holds arrays: they would be baked in
            raise RuntimeError(
                "backward(): called while ag.compile traces the function; the .grad arrays "
                "would be baked into the compiled code. Use ag.grad or ag.value_and_grad inside "
                "the function instead (they compile)")
        seed = seed_gradient(self, grad, "backward")
        found = engine.backward([self], [seed], retain_graph=retain_graph)
        with _accumulating:  # threads adding into one parameter's .grad lose nothing
            for leaf, g in found.values():
                if g.__class__ is not _ndarray:
                    g = g.data
                # a fresh array: never alias one that another node or the caller may hold
                leaf.grad = np.array(g) if leaf.grad is None else np.asarray(leaf.grad + g)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self._needs_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    __hash__ = object.__hash__

    def _apply_primitive(self, prim: Primitive, inputs: Sequence[Any], params: dict) -> Tensor:
        """How a row called with Tensor inputs records itself (see ops/registry.py)."""
        return apply(prim, lift_inputs(inputs, prim.name), params or None)

    def __pos__(self) -> Tensor:
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment (in-place writes would silently corrupt "
            "recorded graphs); build a new tensor with ag.where(...) or ag.concatenate(...), or "
            "write to .data of a tensor that is not part of a graph"
        )



def _batched_to_numpy(t: Tensor, what: str) -> TypeError:
    return TypeError(
        f"cannot hand a value batched by vmap ({t.shape} {t.dtype} per example) to {what}: "
        "NumPy would see the whole batch as one array. Use the autograd_nn op instead "
        "(ag.exp, ag.tanh, ...; to index an array with it, make the array a Tensor: "
        "ag.Tensor(a)[i])")


def seed_gradient(root: Tensor, grad: Any, where: str) -> np.ndarray:
    """Check a backward root and its seed gradient; returns the seed as an array."""
    if not isinstance(root, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(root).__name__}")
    if not root._needs_grad:
        raise RuntimeError(
            f"{where}: this tensor ({root.shape} {root.dtype}) does not require grad: it was "
            "computed without any input that has requires_grad=True, or under no_grad()"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"{where}: grad can be implicitly created only for a scalar output, but this "
                f"tensor has shape {root.shape}; pass grad= an array of that shape "
                "(e.g. np.ones(shape)) or reduce the output first (.sum() or .mean())"
            )
        return np.ones(root.data.shape, root.data.dtype)
    if isinstance(grad, Tensor):
        grad = grad.data
    grad = np.asarray(grad)
    if grad.shape != root.shape:
        raise ValueError(
            f"{where}: grad has shape {grad.shape} but the tensor has shape {root.shape}")
    if grad.dtype != root.dtype:
        grad = grad.astype(root.dtype)
    return grad


# ---------------------------------------------------------------------------------------------
# Lifting arguments, and the one recording path
# ---------------------------------------------------------------------------------------------
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


def lift(x: Any, like: Any = None, op: str = "op") -> Tensor:
    """`x` as a Tensor (a constant unless it already is one). Python numbers are "weak" as in
    NumPy 2: they take `like`'s dtype where it holds them (`float32 * 2.0` is float32, `int32 + 1`
    is int32, `int32 * 0.5` is float64)."""
    if x.__class__ is Tensor or isinstance(x, Tensor):
        return x
    if x.__class__ is _ndarray and x.dtype.kind in "biufc":
        return constant(x)
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        if like is not None:
            dtype = like.data.dtype if like.__class__ is Tensor else like.dtype
            if dtype.kind in "fc":
                return constant(np.asarray(x, dtype=dtype))
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


def apply(prim: Primitive, inputs: tuple[Tensor, ...], params: dict | None = None) -> Tensor:
    """Run `prim` on Tensor `inputs` through the active layers (jvp, compile, anomaly checks),
    and record the result in the graph when it needs grad."""
    m = thread.modes
    layers = m.layers
    if layers is None:
        return _evaluate(prim, inputs, params, m)
    return layers[-1].process(prim, inputs, params, len(layers) - 1)


def apply_below(depth: int, prim: Primitive, inputs: tuple, params: dict | None) -> Tensor:
    """Pass an op on from the layer at `depth` to the ones under it, then to the core."""
    m = thread.modes
    if depth == 0:
        return _evaluate(prim, inputs, params, m)
    return m.layers[depth - 1].process(prim, inputs, params, depth - 1)


def _evaluate(prim: Primitive, inputs: tuple, params: dict | None, m: Any) -> Tensor:
    """The core of every op: its NumPy forward on the inputs' arrays (on the batch, inside
    vmap), recorded."""
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
    n = len(inputs)
    if m is None:
        m = thread.modes
    if not m.grad_enabled:
        needs_grad = False
    elif prim.grad_inputs is None:  # every input can carry a gradient (nearly every op)
        needs_grad = inputs[0]._needs_grad or (n > 1 and (
            inputs[1]._needs_grad or any(x._needs_grad for x in inputs[2:])))
    else:  # some inputs carry no gradient (where's condition, comparisons)
        needs_grad = any(inputs[i]._needs_grad for i in prim.grad_inputs)
    if needs_grad:
        t._needs_grad = True
        t._op = prim
        t._parents = inputs
        t._params = params
        t._scope = m.scope
        saves = prim.saves
        if saves is None:
            saves = prim.find_reads()
        if not saves:
            t._saved = None
        elif prim.reads_by_rule is None:
            t._saved = save(arrays, prim.read_inputs, out, prim.reads_ans)
        else:  # only the rules of the inputs that need a gradient will run
            reads_ans, read = prim.reads_by_rule[
                (inputs[0]._needs_grad, inputs[1]._needs_grad) if n == 2 else
                tuple(x._needs_grad for x in inputs)]
            t._saved = save(arrays, read, out, reads_ans)
        if out.dtype.kind == "c":
            raise TypeError(
                f"{prim.name}: complex result from inputs ({describe(inputs)}) in a graph "
                "that needs gradients; autograd_nn differentiates real floating-point values only"
            )
    else:
        t._needs_grad = False
        t._op = t._params = t._scope = t._saved = None
        t._parents = ()
    return t


# ---------------------------------------------------------------------------------------------
# Public functions and Tensor methods, generated from the rows
# ---------------------------------------------------------------------------------------------
TensorLike = Tensor | np.ndarray | float  # what an op takes: also ints, bools, nested lists


def _prepared(prim: Primitive, inputs: tuple[Tensor, ...], rest: tuple, kwargs: dict) -> Tensor:
    """Read the op's parameters with its row's `prepare`, then apply (or run what it returned)."""
    try:
        if prim.variadic:
            result = prim.api.prepare(inputs, *rest, **kwargs)
        else:
            result = prim.api.prepare(*inputs, *rest, **kwargs)
    except (ValueError, TypeError) as err:
        message = str(err)
        name = prim.name
        raise type(err)(message if message.startswith(f"{name}:") else
                        f"{name}: {message}") from None
    if result.__class__ is dict:
        return apply(prim, inputs, result)
    if result is None:
        return apply(prim, inputs, None)
    if isinstance(result, Call):
        return apply(result.prim, lift_inputs(result.inputs, result.prim.name), result.params)
    return lift(result, None, prim.name)  # a final value (the input itself, or a constant)


def _public_function(prim: Primitive) -> Callable[..., Tensor]:
    """The user-facing function of a row: lifts its arguments, reads its parameters, applies."""
    name, prepare, n_inputs = prim.name, prim.api.prepare, len(prim.inputs)
    if prim.variadic:
        def function(tensors, *rest, **kwargs):
            return _prepared(prim, _lift_sequence(tensors, name), rest, kwargs)
    elif prim.api.number_param is not None:  # only `power`: a Python-number exponent runs "pow"
        param, row = prim.api.number_param

        def function(a, b):
            if b.__class__ in (int, float) and isinstance(a, Tensor):
                return apply(row, (a,), {param: b})
            return apply(prim, _pair(a, b, name), None)
    elif prepare is None:
        if n_inputs == 1:
            def function(x):
                return apply(prim, (x if x.__class__ is Tensor else lift(x, None, name),), None)
        elif n_inputs == 2:
            def function(a, b):
                return apply(prim, _pair(a, b, name), None)
        else:
            def function(*inputs):
                if len(inputs) != n_inputs:
                    raise TypeError(f"{name}: expected {n_inputs} inputs "
                                    f"({', '.join(prim.inputs)}), got {len(inputs)}")
                return apply(prim, lift_inputs(inputs, name), None)
    elif n_inputs == 1:
        def function(x, *rest, **kwargs):
            return _prepared(prim, (x if x.__class__ is Tensor else lift(x, None, name),),
                             rest, kwargs)
    elif n_inputs == 2:
        def function(a, b, *rest, **kwargs):
            return _prepared(prim, _pair(a, b, name), rest, kwargs)
    else:
        def function(*args, **kwargs):
            if len(args) < n_inputs:
                raise TypeError(f"{name}: expected {n_inputs} inputs "
                                f"({', '.join(prim.inputs)}), got {len(args)}")
            return _prepared(prim, lift_inputs(args[:n_inputs], name), args[n_inputs:], kwargs)
    function.__signature__ = _public_signature(prim)
    return function


def _public_signature(prim: Primitive) -> inspect.Signature:
    """A row's public signature: its inputs (Tensors or array-likes), then the parameters its
    `prepare` reads; the result is a Tensor."""
    if prim.api.prepare is not None:
        params = list(inspect.signature(prim.api.prepare, eval_str=True).parameters.values())
    else:
        params = [inspect.Parameter(x, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for x in prim.inputs]
    n_inputs = 1 if prim.variadic else len(prim.inputs)
    kind = Sequence[TensorLike] if prim.variadic else TensorLike
    params = [q.replace(annotation=kind if i < n_inputs else
                        Any if q.annotation is q.empty else q.annotation)
              for i, q in enumerate(params)]
    return inspect.Signature(params, return_annotation=Tensor)


def _lift_sequence(tensors: Any, op: str) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")
    return lift_inputs(tensors, op)


def _reflected(function: Callable) -> Callable:
    """`other - self` for `Tensor.__rsub__` and friends."""
    prim = function.primitive
    if prim.api.prepare is None and prim.api.number_param is None:  # the common case, one call less
        name = prim.name

        def method(self: Tensor, other: Any) -> Tensor:
            return apply(prim, _pair(other, self, name), None)
    else:
        def method(self: Tensor, other: Any) -> Tensor:
            return function(other, self)

    return method


def _composite_function(comp: Composite) -> Callable[..., Tensor]:
    """The public function of a composite: lifts its tensor arguments, names it in errors."""
    name, body, n = comp.name, comp.function, comp.inputs

    def function(*args: Any, **kwargs: Any) -> Any:
        if comp.variadic:
            args = (_lift_sequence(args[0] if args else (), name), *args[1:])
        else:
            args = (*lift_inputs(args[:n], name), *args[n:])
        try:
            out = body(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as err:
            message = str(err)
            raise type(err)(message if message.startswith(f"{name}:") else
                            f"{name}: {message}") from None
        if out.__class__ is _ndarray:  # all inputs were arrays: the rows ran NumPy only
            return constant(out)
        if out.__class__ is list:  # the split family
            return [constant(o) if o.__class__ is _ndarray else o for o in out]
        return out

    function.__signature__ = _composite_signature(comp)
    return function


def _composite_signature(comp: Composite) -> inspect.Signature:
    """A composite's signature: its tensor arguments typed as such, the rest as written."""
    params = list(inspect.signature(comp.function, eval_str=True).parameters.values())
    n = 1 if comp.variadic else comp.inputs
    kind = Sequence[TensorLike] if comp.variadic else TensorLike
    params = [q.replace(annotation=kind if i < n and q.kind is not q.VAR_POSITIONAL else
                        Any if q.annotation is q.empty else q.annotation)
              for i, q in enumerate(params)]
    out = [q if q.annotation is not q.empty else q.replace(annotation=Any) for q in params]
    return inspect.Signature(out, return_annotation=Any if comp.name.endswith("split")
                             or comp.name == "split" else Tensor)


def _generate() -> dict[str, Callable[..., Tensor]]:
    functions: dict[str, Callable[..., Tensor]] = {}
    for comp in COMPOSITES.values():
        function = _composite_function(comp)
        function.__name__ = function.__qualname__ = comp.name
        function.__doc__ = comp.doc
        function.__module__ = "autograd_nn"
        function.composite = comp
        functions[comp.name] = function
        if comp.method:
            setattr(Tensor, comp.method if isinstance(comp.method, str) else comp.name, function)
    for prim in PRIMITIVES.values():
        function = _public_function(prim)
        function.__name__ = function.__qualname__ = prim.name
        function.__doc__ = prim.api.doc
        function.__module__ = "autograd_nn"
        function.primitive = prim
        api = prim.api
        if api.public is not None:
            functions[api.public] = function
        if api.method:
            method = api.method(function) if callable(api.method) else function
            if method is not function:  # a wrapper reading NumPy-style arguments (t.sum(axis))
                method.__doc__ = method.__doc__ or api.doc
                method.__annotations__.setdefault("return", Tensor)
            setattr(Tensor, api.method if isinstance(api.method, str) else prim.name, method)
    return functions


FUNCTIONS = _generate()

# Python's operators on Tensors, from the rows (`operator=("__add__", "__radd__")`)
for _prim in PRIMITIVES.values():
    if _prim.api.operator is not None:
        _operator, _reflected_operator = _prim.api.operator
        setattr(Tensor, _operator, FUNCTIONS[_prim.api.public])
        if _reflected_operator:
            setattr(Tensor, _reflected_operator, _reflected(FUNCTIONS[_prim.api.public]))
transpose = FUNCTIONS["transpose"]  # for Tensor.T


# ---------------------------------------------------------------------------------------------
# NumPy ufuncs given a Tensor (Tensor.__array_ufunc__)
# ---------------------------------------------------------------------------------------------
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
