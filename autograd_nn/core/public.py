"""Each row's public function (`ag.exp`, ...), Tensor method and operator, generated from the
rows of autograd_nn/core/ops: `FUNCTIONS` maps public names to them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ops.registry import COMPOSITES, PRIMITIVES, Call, Composite, Primitive
from .recording import _pair, apply, constant, lift, lift_inputs
from .tensor import Tensor

_ndarray = np.ndarray

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
                if a.__class__ is Tensor:  # the common case, one call less
                    return apply(prim, (a, b if b.__class__ is Tensor else lift(b, a, name)),
                                 None)
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
    elif n_inputs == 2 and getattr(prepare, "plain_without_params", False):
        def function(a, b, *rest, **kwargs):
            if rest or kwargs:
                return _prepared(prim, _pair(a, b, name), rest, kwargs)
            return apply(prim, _pair(a, b, name), None)  # `a / b`: nothing to prepare
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
    plain = prim.api.prepare is None or getattr(prim.api.prepare, "plain_without_params", False)
    if plain and prim.api.number_param is None:  # the common case, one call less
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
        if out.__class__ in (list, tuple):  # the split family, meshgrid, topk, ...
            return out.__class__(constant(o) if o.__class__ is _ndarray else o for o in out)
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
    written = inspect.signature(comp.function, eval_str=True).return_annotation
    if written is not inspect.Signature.empty:  # a composite returning more (cummax's pair)
        return inspect.Signature(out, return_annotation=written)
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
transpose = FUNCTIONS["transpose"]


def _transposed(self: Tensor) -> Tensor:
    """The transpose (axes reversed), recorded like ag.transpose."""
    return transpose(self)


Tensor.T = property(_transposed)
