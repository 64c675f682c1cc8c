"""What a compiled function reaches besides its arguments, and how each call checks it.

`reach` walks the function's closure, the globals its code names, its defaults, containers and
objects' attributes (not the library's own internals), and finds the arrays (guarded by a
checksum elsewhere), the Python values (numbers, strings, None: `ValueChecks` compares them on
every call) and the random generators (`RandomStates` refuses a trace that drew from one).
"""

from __future__ import annotations

import collections
import collections.abc
import functools
import os
import random
import site
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.tensor import Tensor
from ..nn.module import Module
from .errors import CompileError

_LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def in_library(path: str) -> bool:
    """True for the library's own source files (the course, outside the package, is user code)."""
    return path.startswith(_LIBRARY)


_GONE = object()


def _from_dict(d: dict, key: Any) -> Any:
    return d.get(key, _GONE)


def _from_cell(cell: Any, _: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _GONE


def _from_sequence(seq: Any, i: int) -> Any:
    return seq[i] if i < len(seq) else _GONE


def _from_attribute(obj: Any, name: str) -> Any:
    return getattr(obj, name, _GONE)


def _size(container: Any, _: Any) -> int:
    return len(container)


def _keys(container: dict, _: Any) -> tuple:
    return tuple(container)


class ValueChecks:
    """The Python values a trace reached from its function, checked on every call as one flat
    list of lookups: each step of each access path once, from the container seen while tracing
    (whose own identity an earlier lookup checks), then the value itself."""

    def __init__(self, fn: Callable, values: list[tuple[tuple, Any]]) -> None:
        self.fn = fn
        # (lookup, container, key, value then, by value?, path for the message)
        self.lookups: list[tuple] = []
        done: set[tuple] = set()
        for path, value in values:
            obj = fn
            steps = [step for step in path if step[0] != "whole"]
            for k, (kind, key) in enumerate(steps):
                if kind in ("length", "keys"):
                    container, lookup, child = obj, _size if kind == "length" else _keys, None
                elif kind == "cell":
                    container = obj.__closure__[obj.__code__.co_freevars.index(key)]
                    lookup, child = _from_cell, container.cell_contents
                elif kind == "global":
                    container, lookup = obj.__globals__, _from_dict
                    child = container[key]
                elif kind == "attr":
                    container, lookup, child = obj, _from_attribute, getattr(obj, key)
                elif isinstance(obj, dict):
                    container, lookup, child = obj, _from_dict, obj[key]
                else:
                    container, lookup, child = obj, _from_sequence, obj[key]
                last = k == len(steps) - 1
                if (id(container), kind, key) not in done:
                    done.add((id(container), kind, key))
                    self.lookups.append((lookup, container, key, value if last else child,
                                         last, path[:k + 1] if not last else path))
                obj = child

        self.first_change = self._compiled()

    @classmethod
    def built(cls, fn: Callable, values: list[tuple[tuple, Any]]) -> Any:
        """The checks of `values`, or ones that always report a change when the function
        itself changed what it reaches while it was traced."""
        try:
            return cls(fn, values)
        except (LookupError, AttributeError, ValueError, TypeError):
            return _ChangedWhileTracing()

    def _compiled(self) -> Callable[[], int]:
        """The lookups as one straight-line function: the index of the first that differs, or
        -1 (about 0.05 µs a lookup where a loop over them takes 0.5)."""
        lines, names = ["def first_change():"], {"GONE": _GONE, "same": _same_now,
                                                 "cell_value": _from_cell}
        for k, (lookup, container, key, then, by_value, path) in enumerate(self.lookups):
            names[f"C{k}"], names[f"K{k}"], names[f"T{k}"] = container, key, then
            test = f"v is not T{k}" + (f" and not same(v, T{k}, {path[-1][0] == 'whole'})"
                                       if by_value else "")
            if lookup is _from_cell:  # read inline: a call per cell costs more than the read
                lines += ["    try:", f"        v = C{k}.cell_contents", "    except ValueError:",
                          "        v = GONE"]
            else:
                read = {_from_dict: f"C{k}.get(K{k}, GONE)",
                        _from_attribute: f"getattr(C{k}, K{k}, GONE)",
                        _from_sequence: f"C{k}[K{k}] if K{k} < len(C{k}) else GONE",
                        _size: f"len(C{k})", _keys: f"tuple(C{k})"}[lookup]
                lines.append(f"    v = {read}")
            lines += [f"    if {test}:", f"        return {k}"]
        lines.append("    return -1")
        exec("\n".join(lines), names)  # noqa: S102 (our own source, no user text in it)
        return names["first_change"]

    def changed(self) -> str | None:
        """What changed since tracing (None if nothing did)."""
        k = self.first_change()
        if k < 0:
            return None
        for lookup, container, key, then, by_value, path in self.lookups[k:]:
            now = lookup(container, key)
            if now is then:
                continue
            if by_value:
                if path[-1][0] == "whole" and type(now) in (list, tuple):
                    now = list(now)
                if same_value(now, then):
                    continue
            if now is _GONE:
                return f"{describe_path(path)} is gone"
            if by_value:
                return f"{describe_path(path)} was {_short(then)}, is {_short(now)}"
            return f"{describe_path(path)} is another object"
        return None


class _ChangedWhileTracing:
    """Checks for a function that rebound what it reaches while it was traced."""

    def changed(self) -> str:
        return "the function changed what it reaches while it was traced"


def _same_now(now: Any, then: Any, whole: bool) -> bool:
    if whole and type(now) in (list, tuple):
        now = list(now)
    return same_value(now, then)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class RandomStates:
    """The states of NumPy's and Python's global random generators and of the generators a
    function reaches, to refuse a trace that drew from them (the draws would be baked in)."""

    def __init__(self, generators: list[tuple[tuple, Any]]) -> None:
        self.generators = [(path, g, _state(g)) for path, g in generators]
        self.numpy_state = np.random.get_state()
        self.python_state = random.getstate()
        self.made: list[tuple[Any, Any]] = []  # unseeded generators made while tracing

    def __enter__(self) -> RandomStates:
        """While tracing, note the generators `np.random.default_rng()` makes without a seed
        on this thread (a new one each call eagerly: its draws differ every call)."""
        made, thread, original = self.made, threading.get_ident(), np.random.default_rng

        entropy: set[int] = set()  # ids of SeedSequences made without entropy here

        def default_rng(seed: Any = None) -> np.random.Generator:
            rng = original(seed)
            if (seed is None or id(seed) in entropy) and threading.get_ident() == thread:
                made.append((rng, _state(rng)))
            return rng

        # bit generators and seed sequences made without a seed, as np.random.<Name>(...)
        self.classes = {name: getattr(np.random, name) for name in _BIT_GENERATORS}
        for name, cls in self.classes.items():
            setattr(np.random, name, _noting(cls, thread, made, entropy))

        self.original, np.random.default_rng = original, default_rng
        # and the unseeded random.Random()s made on this thread, and any SystemRandom draw
        seed, system = random.Random.seed, random.SystemRandom.random

        def seeded(rng: random.Random, a: Any = None, version: int = 2) -> None:
            seed(rng, a, version)
            if a is None and threading.get_ident() == thread:
                made.append((rng, _state(rng)))

        def system_draw(rng: random.SystemRandom) -> float:
            if threading.get_ident() == thread:
                raise CompileError(
                    "compile: the function draws from a random.SystemRandom while it is "
                    "traced; the compiled code would repeat the draw on every call. Draw "
                    "outside the function and pass the value as an argument")
            return system(rng)

        self.patched = seed, system
        random.Random.seed, random.SystemRandom.random = seeded, system_draw
        return self

    def __exit__(self, *exc: Any) -> None:
        np.random.default_rng = self.original
        for name, cls in self.classes.items():
            setattr(np.random, name, cls)
        random.Random.seed, random.SystemRandom.random = self.patched

    def refuse_draws(self, fn_name: str) -> None:
        drawn = [f"the generator {describe_path(path)}" for path, g, then in self.generators
                 if not _same_state(_state(g), then)]
        if any(then is not None and not _same_state(_state(g), then) for g, then in self.made):
            drawn.append("a generator made without a seed inside the function "
                         "(np.random.default_rng(), Generator(PCG64()), random.Random())")
        if not _same_state(np.random.get_state(), self.numpy_state):
            drawn.append("NumPy's global generator (np.random.*)")
        if random.getstate() != self.python_state:
            drawn.append("Python's random module")
        if drawn:
            raise CompileError(
                f"compile: {fn_name} draws random numbers from {' and '.join(drawn)} while "
                "tracing; the compiled code would repeat the traced draws on every call. Draw "
                "them outside the function and pass the array as an argument")


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64", "SeedSequence")


def _noting(cls: type, thread: int, made: list, entropy: set) -> type:
    """`cls` as it is, except that one made without a seed on the tracing thread is noted:
    a bit generator in `made` (with its state, to see whether it drew), a SeedSequence in
    `entropy` (a generator made from it draws what the trace drew)."""
    sequence = cls.__name__ == "SeedSequence"

    class Noting(cls):  # type: ignore[misc, valid-type]
        def __init__(self, seed: Any = None, *args: Any, **kwargs: Any) -> None:
            super().__init__(seed, *args, **kwargs)
            if threading.get_ident() != thread:
                return
            if sequence:
                if seed is None:
                    entropy.add(id(self))
                    made.append((self, None))  # (keeps the id from being reused)
            elif seed is None or id(seed) in entropy:
                made.append((self, _state(self)))

    Noting.__name__ = Noting.__qualname__ = cls.__name__
    return Noting


def _state(g: Any) -> Any:
    if isinstance(g, random.Random):
        return g.getstate()
    if isinstance(g, np.random.RandomState):
        return g.get_state()
    bit = g if isinstance(g, np.random.BitGenerator) else g.bit_generator
    return bit.state


def _same_state(a: Any, b: Any) -> bool:
    """Equal generator states (nested dicts, tuples and arrays)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and \
            all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and \
            all(map(_same_state, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


_MAX_VISITS = 20_000  # objects `reach` looks at, at most (it runs once per trace)
# Python values a function may read and bake in: guarded by value when reached
_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)
_WHOLE = 8  # a list or tuple of more scalars than this is guarded as one value
GENERATORS = (np.random.Generator, np.random.RandomState, np.random.BitGenerator,
               random.Random)


@dataclass
class Reached:
    """What a function can reach through its closure, the globals it names, its defaults,
    containers and attributes: arrays and Tensors (id -> access path), Python values (guarded
    by value) and random number generators (checked not to be drawn from while tracing)."""

    arrays: dict[int, tuple] = field(default_factory=dict)
    objects: dict[int, Any] = field(default_factory=dict)  # id -> the array or Tensor
    values: list[tuple[tuple, Any]] = field(default_factory=list)  # (path, value then)
    # the same for values held by Modules (checked only after some Module attribute changed)
    module_values: list[tuple[tuple, Any]] = field(default_factory=list)
    generators: list[tuple[tuple, Any]] = field(default_factory=list)


def reach(root: Any) -> Reached:
    """Walk what `root` (a function, or any object) reaches; see `Reached`."""
    found = Reached()
    seen: set[int] = set()
    # (object, access path, held by a Module's own attribute?, names the code that reached
    # it reads: the attributes of a module or class it names)
    stack: list[tuple[Any, tuple, bool, frozenset]] = [(root, (), False, frozenset())]
    while stack and len(seen) < _MAX_VISITS:
        obj, path, in_module, names = stack.pop()
        values = found.module_values if in_module else found.values
        if isinstance(obj, _SCALARS):
            if path:
                values.append((path, obj))
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (np.ndarray, Tensor)):
            found.arrays[id(obj)] = path
            found.objects[id(obj)] = obj
            if isinstance(obj, Tensor):  # its array too, as `.data` or `.detach()` reach it
                found.arrays.setdefault(id(obj.data), path + (("attr", "data"),))
            continue
        if isinstance(obj, random.SystemRandom):
            raise CompileError(
                f"compile: the function reaches the random.SystemRandom {describe_path(path)}, "
                "whose draws cannot be checked; the compiled code would repeat the ones made "
                "while tracing. Draw outside the function and pass the array as an argument")
        if isinstance(obj, GENERATORS):
            found.generators.append((path, obj))
            continue
        if isinstance(obj, (types.ModuleType, type)):
            if not _users(obj):
                continue  # NumPy, the standard library, autograd_nn
            if path:
                values.append((path, obj))  # rebound to another module or class: noticed
            stack.extend((child, path + (("attr", name),), False, names)
                         for name, child in _named_attributes(obj, names))
            continue
        if isinstance(obj, (types.FunctionType, types.MethodType, functools.partial)) and path \
                and not (isinstance(obj, types.FunctionType) and
                         in_library(obj.__code__.co_filename)):
            values.append((path, obj))  # a function redefined or swapped: noticed
            if isinstance(obj, types.FunctionType):  # its code replaced (%autoreload)
                values.append((path + (("attr", "__code__"),), obj.__code__))
        if isinstance(obj, collections.abc.Iterator) and not isinstance(obj, GENERATORS):
            raise CompileError(
                f"compile: the function reaches the iterator {describe_path(path)} "
                f"({type(obj).__name__}); each call would get what the traced call took from "
                "it. Take the item outside the function and pass it as an argument")
        if type(obj) in (set, frozenset) and all(isinstance(v, _SCALARS) for v in obj):
            values.append((path + (("whole", None),), type(obj)(obj)))  # membership: noticed
            continue
        if type(obj) in (list, tuple) and len(obj) > _WHOLE and \
                all(isinstance(v, _SCALARS) for v in obj):
            values.append((path + (("whole", None),), list(obj)))
            continue
        if type(obj) is dict and path and len(obj) > _WHOLE and \
                all(isinstance(v, _SCALARS) for v in obj.values()):
            values.append((path + (("whole", None),), dict(obj)))  # compared in one go
            continue
        if type(obj) in (list, collections.deque) and path:  # appended to or shortened
            values.append((path + (("length", None),), len(obj)))
        elif type(obj) is dict and path and path[-1] != ("attr", "__dict__"):
            values.append((path + (("keys", None),), tuple(obj)))  # a key added or removed
        if isinstance(obj, types.FunctionType):
            names = frozenset(_code_names(obj.__code__))
        module = isinstance(obj, Module)
        if module:  # a hook added later would not run in the compiled code: it retraces
            found.module_values.append((path + (("attr", "_hook_count"),), obj._hook_count))
        for found_at in _referents(obj):
            # a Module's own settings and registries are checked after a Module attribute
            # write; what its other attributes hold (a dict, a list, an object) on every call
            held = (module and len(found_at) == 3 and (isinstance(found_at[-1], _SCALARS) or
                                                      found_at[1][1] in _MODULE_PARTS)) or \
                (in_module and type(obj) is dict and not isinstance(found_at[-1], _SCALARS))
            stack.append((found_at[-1], path + found_at[:-1], held, names))
    return found


def _users(obj: types.ModuleType | type) -> bool:
    """True for a module or class of the user's own code (not an installed package's)."""
    module = obj if isinstance(obj, types.ModuleType) else \
        sys.modules.get(getattr(obj, "__module__", ""), None)
    path = getattr(module, "__file__", None)
    if not path:
        return module is not None and getattr(module, "__name__", "") == "__main__"
    path = os.path.abspath(path)
    return not (path.startswith(_INSTALLED) or in_library(path))


_INSTALLED = tuple(os.path.abspath(p) + os.sep for p in
                   {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()})


def _named_attributes(obj: types.ModuleType | type, names: frozenset) -> list[tuple[str, Any]]:
    """The attributes of a user's module or class that the code reaching it names."""
    attributes = vars(obj)
    return [(name, attributes[name]) for name in names
            if name in attributes and not name.startswith("__")]


def user_arrays(root: Any) -> dict[int, tuple]:
    """id -> access path from `root` of each ndarray and Tensor reachable from it."""
    return reach(root).arrays


def same_value(now: Any, then: Any) -> bool:
    """`now` is the value `then` was: same type and equal (nan equals nan)."""
    if now is then:
        return True
    if type(now) is not type(then):
        return False
    if type(now) is list:
        return len(now) == len(then) and all(map(same_value, now, then))
    try:
        equal = now == then
        if bool(equal) and isinstance(now, (float, complex, np.inexact)) and now == 0:
            return bool(np.signbit(np.real(now)) == np.signbit(np.real(then)))  # -0.0, 0.0
        return bool(equal) or (now != now and then != then)
    except (TypeError, ValueError):
        return False


def describe_path(path: tuple) -> str:
    """A reader's name for the value at `path` (`alpha`, `self.scale`, `config['lr']`)."""
    text, previous = "", None
    for kind, key in path:
        if kind in ("cell", "global"):
            text = key if isinstance(key, str) else text
        elif kind == "attr":
            if key == "__dict__":
                continue
            text = f"{text}.{key}" if text else key
        elif kind == "key":
            text = f"{text}.{key}" if previous == ("attr", "__dict__") else f"{text}[{key!r}]"
        elif kind == "length":
            text = f"len({text})"
        elif kind == "keys":
            text = f"the keys of {text}"
        previous = (kind, key)
    return text or "a value"


def follow(root: Any, path: tuple) -> Any:
    """The object at `path` (from `user_arrays`) from `root` now."""
    obj = root
    for kind, key in path:
        if kind == "whole":
            continue
        if kind == "cell":
            obj = obj.__closure__[obj.__code__.co_freevars.index(key)].cell_contents
        elif kind == "global":
            obj = obj.__globals__[key]
        elif kind == "attr":
            obj = getattr(obj, key)
        else:
            obj = obj[key]
    return obj


def _referents(obj: Any) -> list[tuple]:
    """(step, ..., object) for what `reach` looks into next from `obj`: the steps of the
    access path from `obj` to it, then the object."""
    if isinstance(obj, dict):
        return [(("key", k), v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple, collections.deque)):
        return [(("key", i), v) for i, v in enumerate(obj)]
    if isinstance(obj, types.FunctionType):
        cells = [(("cell", name), c.cell_contents)
                 for name, c in zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=True)
                 if _filled(c)]
        if in_library(obj.__code__.co_filename):  # ag.grad's wrapper: only what it wraps
            names, defaults = [], []
        else:
            names = [(("global", n), obj.__globals__[n]) for n in _code_names(obj.__code__)
                     if n in obj.__globals__]
            defaults = [(("attr", name), value) for name in ("__defaults__", "__kwdefaults__")
                        if (value := getattr(obj, name)) is not None]
        wrapped = getattr(obj, "__wrapped__", None)
        attributes = [] if in_library(obj.__code__.co_filename) else \
            [(("attr", "__dict__"), ("key", k), v) for k, v in vars(obj).items()
             if k != "__wrapped__"]  # a function's own attributes (f.scale = 2)
        return cells + names + defaults + attributes + \
            ([(("attr", "__wrapped__"), wrapped)] if wrapped else [])
    if isinstance(obj, types.MethodType):
        return [(("attr", "__self__"), obj.__self__), (("attr", "__func__"), obj.__func__)]
    if isinstance(obj, functools.partial):
        return [(("attr", "func"), obj.func), (("attr", "args"), obj.args),
                (("attr", "keywords"), obj.keywords)]
    found = [(("attr", name), getattr(obj, name)) for name in _slots(type(obj))
             if hasattr(obj, name)]  # attributes in __slots__
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict):
        return found
    library = type(obj).__module__.startswith("autograd_nn.")  # skip its private bookkeeping
    return found + [(("attr", "__dict__"), ("key", k), v) for k, v in attributes.items()
                    if not (library and k.startswith("_") and k not in _MODULE_PARTS)]


def _slots(cls: type) -> list[str]:
    """The __slots__ names of `cls` and its bases (user classes only)."""
    if cls.__module__.startswith(("autograd_nn", "numpy", "builtins")):
        return []
    names = []
    for base in cls.__mro__:
        slots = vars(base).get("__slots__", ())
        names += [slots] if isinstance(slots, str) else \
            [n for n in slots if n not in ("__dict__", "__weakref__")]
    return names


_MODULE_PARTS = ("_parameters", "_buffers", "_modules")  # where a Module keeps its arrays


def _code_names(code: types.CodeType) -> set[str]:
    """The global names `code` and the functions defined in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True
