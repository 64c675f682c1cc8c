"""NumPy's array functions given a Tensor (`Tensor.__array_function__`): `np.dot(X, W)`,
`np.sum(t, axis=0)`, `np.concatenate([a, t])` run the autograd_nn function of the same name,
so code written with NumPy records and differentiates. A function or argument without a
counterpart runs on the values when nothing would be lost, and is refused by name otherwise."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .numpy_ufuncs import NEAR_UFUNCS
from .public import FUNCTIONS
from .recording import constant
from .state import thread
from .tensor import Tensor, _batched_to_numpy

_NO_VALUE = inspect.Parameter.empty
# NumPy's names of functions public here under another name
_ALIASES = {"amax": "max", "amin": "min", "around": "round", "concat": "concatenate",
            "permute_dims": "transpose"}
_NAMESPACED = {"linalg.norm": "norm"}  # NumPy functions outside the top-level namespace
# a NumPy keyword whose counterpart here has another name (found by position otherwise)
_KEYWORDS = {("clip", "min"): "lo", ("clip", "max"): "hi", ("clip", "a_min"): "lo",
             ("clip", "a_max"): "hi", ("where", "x"): "a", ("where", "y"): "b"}
# functions without a row, and what to write instead
NEAR_FUNCTIONS = {"average": "ag.mean (with weights: ag.sum(w * x) / ag.sum(w))",
                  "nansum": "ag.sum(ag.where(ag.isnan(x), 0.0, x))", "matrix_transpose": "x.T",
                  "linalg.matmul": "ag.matmul", "inner": "ag.dot (1-D) or ag.tensordot",
                  "append": "ag.concatenate", "copy": "x itself (Tensors are never written in "
                  "place)", "sort": "ag.sort", "argsort": "ag.argsort", "diff": "ag.diff",
                  "kron": "ag.kron", "cross": "ag.cross", "nonzero": "ag.nonzero"}
# ... kept only where the ops they name exist (`ag.sort` may not yet)
NEAR_FUNCTIONS = {name: text for name, text in NEAR_FUNCTIONS.items()
                  if all(op in FUNCTIONS for op in re.findall(r"ag\.(\w+)", text))}


def _is_default(value: Any, default: Any) -> bool:
    """Whether an argument is NumPy's default for it (`out=None`, `order='C'`)."""
    return value is default or (default is not _NO_VALUE and type(value) is type(default)
                                and isinstance(value, (bool, int, float, str)) and value == default)


class _Adapter:
    """How a NumPy function's arguments become the autograd_nn function's: bound by NumPy's
    signature, renamed to ours, and NumPy's defaults passed where ours differ."""

    __slots__ = ("function", "numpy_name", "positional", "plain", "rename", "defaults", "fill",
                 "required", "our_order", "varargs", "extra_positional", "same_keywords")

    def __init__(self, numpy_function: Callable, function: Callable, numpy_name: str) -> None:
        self.function, self.numpy_name = function, numpy_name
        theirs = list(inspect.signature(numpy_function).parameters.values())
        ours = list(inspect.signature(function).parameters.values())
        var = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        self.varargs = bool(theirs) and theirs[0].kind is inspect.Parameter.VAR_POSITIONAL
        # np.gradient(f, *varargs): positional values past the named ones, passed on in place
        self.extra_positional = not self.varargs and any(
            p.kind is inspect.Parameter.VAR_POSITIONAL for p in theirs)
        their_names = {p.name for p in theirs if p.kind not in var}
        our_names = [p.name for p in ours if p.kind not in var]
        open_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in theirs)
        self.positional = [p.name for p in theirs if p.kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        self.defaults = {p.name: p.default for p in theirs if p.kind not in var}
        self.rename = {}
        for i, p in enumerate(theirs):
            key = (numpy_name, p.name)
            if p.kind in var:
                continue
            if key in _KEYWORDS:
                self.rename[p.name] = _KEYWORDS[key]
            elif p.name in our_names:
                self.rename[p.name] = p.name
            elif i == 0 and ours and ours[0].kind not in var and ours[0].name not in their_names:
                # the first argument, another name (a -> x); any other rename is in _KEYWORDS,
                # so a NumPy keyword never lands on an unrelated one of ours by its place
                self.rename[p.name] = ours[0].name
        if open_keywords:  # np.pad(..., **kwargs): its keywords are ours by name
            taken = set(self.rename.values())
            self.rename.update({n: n for n in our_names if n not in taken})
        back = {mine: their for their, mine in self.rename.items()}
        self.fill, self.required = {}, set()
        for p in ours:
            if p.kind in var or p.name not in back:
                continue
            default = self.defaults.get(back[p.name], _NO_VALUE)
            if default is _NO_VALUE or default is np._NoValue:
                continue  # NumPy needs it, or leaves it out by default (keepdims)
            if p.default is _NO_VALUE:
                if default is None:
                    self.required.add(back[p.name])  # np.where(condition) alone: no x and y
                else:
                    self.fill[p.name] = default  # take_along_axis: NumPy's axis=-1
            elif not _is_default(default, p.default):
                self.fill[p.name] = default
        # ours that take a value by place: up to a *args (meshgrid's indexing= stays a keyword)
        self.our_order = []
        for p in ours:
            if p.kind not in (inspect.Parameter.POSITIONAL_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD):
                break
            self.our_order.append(p.name)
        aligned = 0
        for their, mine in zip(self.positional, our_names):
            if self.rename.get(their) != mine:
                break
            aligned += 1
        needed = max([i + 1 for i, n in enumerate(self.positional)
                      if self.defaults[n] is _NO_VALUE or n in self.required], default=0)
        # the numbers of positional arguments that are ours as they come (the fast path)
        self.plain = frozenset() if self.fill else frozenset(range(needed, aligned + 1))
        # keywords ours takes under NumPy's name (axis=, keepdims=): passed on as they are
        self.same_keywords = frozenset(
            n for n in our_names[1:] if self.rename.get(n) == n and n not in self.positional[:1])

    def __call__(self, args: tuple, kwargs: dict, numpy_function: Callable) -> Any:
        if self.varargs:  # np.einsum(subscripts, *operands): the operands as given
            given, args_out = dict(kwargs), list(args)
        else:
            given, args_out = dict(zip(self.positional, args)), []
            given.update(kwargs)
            extra = args[len(self.positional):]
            if extra and not self.extra_positional:  # more than NumPy takes: its own error
                return _unmapped(numpy_function, args, kwargs, f"{len(extra)} extra arguments",
                                 f"ag.{self.function.__name__}")
        mapped = dict(self.fill)
        for name, value in given.items():
            mine = self.rename.get(name)
            if mine is not None:
                mapped[mine] = value
            elif not _is_default(value, self.defaults.get(name, _NO_VALUE)):
                return _unmapped(numpy_function, args, kwargs,
                                 f"{name}={_short(value)}: ag.{self.function.__name__} has no "
                                 "such argument", f"ag.{self.function.__name__} without it")
        for name in self.required:
            if name not in given:
                return _unmapped(numpy_function, args, kwargs,
                                 f"without {name}: ag.{self.function.__name__} needs it",
                                 f"ag.{self.function.__name__} with {name}")
        for name in self.our_order:  # ours in order while they come, then by keyword
            if name not in mapped:
                break
            args_out.append(mapped.pop(name))
        if not self.varargs and extra:
            if len(args_out) != len(self.our_order):
                return _unmapped(numpy_function, args, kwargs,
                                 f"{len(extra)} values past its named arguments",
                                 f"ag.{self.function.__name__} with keywords")
            args_out.extend(extra)
        return self.function(*args_out, **mapped)


def _short(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _numpy_name(function: Callable) -> str:
    """'np.dot', 'np.linalg.norm': a NumPy function as users spell it."""
    module = getattr(function, "__module__", "numpy") or "numpy"
    inner = module.split(".")[1] + "." if module.startswith("numpy.") else ""
    return f"np.{inner}{function.__name__}"


def _tensors(values: Any, found: list) -> Any:
    """`values` with every Tensor (in nested lists and tuples too) replaced by its array; the
    Tensors are appended to `found`."""
    if isinstance(values, Tensor):
        found.append(values)
        return values.data
    if isinstance(values, (list, tuple)) and not hasattr(values, "_fields"):
        return type(values)(_tensors(v, found) for v in values)
    return values


def _values(args: tuple, kwargs: dict, name: str, reason: str, instead: str) -> tuple:
    """The arguments with each Tensor's array in its place, for NumPy to run on; refused by
    name where a Tensor has a gradient, a batch, a tangent or a trace that would be lost."""
    found: list[Tensor] = []
    arrays = _tensors(args, found)
    keywords = {k: _tensors(v, found) for k, v in kwargs.items()}
    layers = thread.modes.layers
    for x in found:
        if x._levels is not None:
            raise _batched_to_numpy(x, name)
        if x._needs_grad:
            raise TypeError(
                f"cannot hand a Tensor that requires grad ({x.shape} {x.dtype}"
                f"{', ' + repr(x.name) if x.name else ''}) to {name} ({reason}): NumPy would "
                f"drop its gradient silently. Use {instead} instead, or take the values on "
                "purpose with .data, .numpy() or .detach()")
        if layers is not None:
            for entry in layers:
                entry.numpy_call(x, name, instead)
    return arrays, keywords


def _unmapped(function: Callable, args: tuple, kwargs: dict, reason: str,
              instead: str | None = None) -> Any:
    """A NumPy call no autograd_nn function computes: NumPy runs it on the values (see
    `_values`)."""
    name = _numpy_name(function)
    if instead is None:
        short = name[3:]
        instead = (NEAR_FUNCTIONS.get(short) or NEAR_UFUNCS.get(short)
                   or "the autograd_nn ops (ag.functions.__all__ lists them)")
    arrays, keywords = _values(args, kwargs, name, reason, instead)
    return function(*arrays, **keywords)


def _like(function: Callable) -> Callable:
    """np.zeros_like and friends: a constant Tensor of the input's shape and dtype (per
    example inside vmap); only a `fill_value` Tensor's values are read."""
    name = _numpy_name(function)

    def made(args: tuple, kwargs: dict) -> Any:
        first = args[0] if args else kwargs.pop("a")
        if isinstance(first, Tensor):
            first = np.broadcast_to(np.zeros((), first.dtype), first.shape)
        rest, keywords = _values(args[1:], kwargs, name, "its fill value is a Tensor",
                                 "np.zeros_like(x) + t")
        return constant(np.array(function(first, *rest, **keywords)))
    return made


def _shape_of(args: tuple, kwargs: dict) -> Any:
    return args[0].shape if args else kwargs["a"].shape


def _ndim_of(args: tuple, kwargs: dict) -> Any:
    return args[0].ndim if args else kwargs["a"].ndim


def _size_of(args: tuple, kwargs: dict) -> Any:
    a = args[0] if args else kwargs["a"]
    axis = args[1] if len(args) > 1 else kwargs.get("axis")
    return a.size if axis is None else a.shape[axis]


def _adapters() -> dict[Callable, _Adapter]:
    """Every NumPy array function with an autograd_nn function of its name (or alias)."""
    names = {name: name for name in FUNCTIONS}
    names.update({alias: name for alias, name in _ALIASES.items() if name in FUNCTIONS})
    names.update({alias: name for alias, name in _NAMESPACED.items() if name in FUNCTIONS})
    table = {}
    for numpy_name, name in names.items():
        found: Any = np
        for part in numpy_name.split("."):
            found = getattr(found, part, None)
        if callable(found) and not isinstance(found, (np.ufunc, type)) and hasattr(
                found, "_implementation"):
            try:
                table[found] = _Adapter(found, FUNCTIONS[name], numpy_name)
            except (ValueError, TypeError):  # a signature NumPy does not expose: not mapped,
                continue  # so refused by name where a gradient would be lost
    return table


ADAPTERS = _adapters()
# array functions that need no row: a constant of a shape, or the shape itself
SPECIAL = {np.zeros_like: _like(np.zeros_like), np.ones_like: _like(np.ones_like),
           np.empty_like: _like(np.zeros_like), np.full_like: _like(np.full_like),
           np.shape: _shape_of, np.ndim: _ndim_of, np.size: _size_of}


def _cross_axes(kwargs: dict) -> dict | str:
    """np.cross's axisa/axisb/axisc as ag.cross's one `axis` when all three agree; else why
    not (ag.cross takes one axis for a, b and the result)."""
    names = ("axisa", "axisb", "axisc")
    given = {n: kwargs.pop(n) for n in names if n in kwargs}
    if not given:
        return kwargs
    axes = {given.get(n, -1) for n in names}
    if len(axes) != 1 or kwargs.get("axis") is not None:
        return (f"{', '.join(f'{n}={v!r}' for n, v in given.items())}: different axes for a, b "
                "and the result (or with axis=); ag.cross takes one axis for all three")
    return {**kwargs, "axis": axes.pop()}


def _array_function(self: Tensor, func: Callable, types: tuple, args: tuple,
                    kwargs: dict) -> Any:
    """NumPy's array functions on Tensors: the autograd_nn function of the same name, a
    constant for the `*_like` functions, else the values (refused where it would lose a
    gradient)."""
    for kind in types:
        if not issubclass(kind, (Tensor, np.ndarray)):
            return NotImplemented
    if func is np.cross and kwargs:
        mapped = _cross_axes(dict(kwargs))
        if isinstance(mapped, str):
            return _unmapped(func, args, kwargs, mapped, "ag.moveaxis, then ag.cross(a, b, axis)")
        kwargs = mapped
    adapter = ADAPTERS.get(func)
    if adapter is not None:
        if len(args) in adapter.plain and (not kwargs or adapter.same_keywords.issuperset(kwargs)):
            return adapter.function(*args, **kwargs)
        return adapter(args, kwargs, func)
    special = SPECIAL.get(func)
    if special is not None:
        return special(args, dict(kwargs))
    return _unmapped(func, args, kwargs, "autograd_nn has no function for it")


Tensor.__array_function__ = _array_function
