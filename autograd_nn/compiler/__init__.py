"""`ag.compile`: trace a function once, then run it as readable straight-line NumPy.

    step = ag.compile(ag.value_and_grad(loss))
    value, grads = step(params, X, Y)   # traced on this call, generated NumPy afterwards
    print(step.source)                  # the backprop code the model amounts to

Every array argument (and Tensor), positional or keyword, is an input; None, Python and NumPy
scalars and strings are static. Each new signature (shapes, dtypes, static values) traces again;
a value the traced code read from a Tensor (`if loss > 0:`, `t.item()`, `t.data`) is checked on
every call and a change traces again; so are the modes of the Modules it ran and the arrays and
Python values it reached through its closure, globals and defaults (trace.Outside). Random
draws while tracing are refused. The `cache_size` most recently used specialisations are kept;
a RetraceWarning says what keeps changing when one shape of arguments traces too often.
"""

from __future__ import annotations

import functools
import inspect
import pathlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import state
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.iterate import Iterate
from . import backends
from .codegen import CompileError, Program, entry_name, generate
from .errors import RetraceWarning
from .loop import history_kinds, plan
from .number_args import input_positions, numbers_as_arrays
from .saving import combine
from .trace import Outside, is_array_leaf, run

__all__ = ["CompileError", "Compiled", "DEFAULT_CACHE_SIZE", "RetraceWarning", "compile"]

DEFAULT_CACHE_SIZE = 64  # specialisations kept per compiled function (about 12 KB each)
WARN_RETRACES = 8  # traces for arguments of one shape before a RetraceWarning says why
# One trace and code generation at a time in the process: CPython 3.11's ast is not safe to
# use from two threads at once, and a function traced twice at once would be traced twice.
# Reentrant: a compiled function may call another while it is traced.
_TRACING = threading.RLock()


@dataclass(eq=False)  # one specialisation is only ever equal to itself
class _Entry:
    program: Program
    function: Callable
    mismatch: tuple[type, ...]  # what the code raises when the arguments no longer fit it
    tensor_leaves: list[int]
    needs_finish: bool
    tensor_args: bool  # traced with Tensor arguments: check they are not being differentiated
    outside: Outside  # the constants it reached from the function: checked not rebound
    rebuild: Callable  # the function's own output structure (namedtuples kept) from leaves
    namespace: dict = field(default_factory=dict)  # the generated module's names

    def fits(self, fn: Callable) -> bool:
        """False when a constant array the trace reached from `fn` has been rebound since,
        or a Python value it reached has changed."""
        outside = self.outside
        return not outside.watches_values() or outside.changed(fn) is None

    def __post_init__(self) -> None:
        # the per-call form of `fits` (one generated function when only Python values are
        # watched): None when nothing is watched, a function True when nothing changed
        outside = self.outside
        first_change = getattr(outside.checks, "first_change", None)
        if not outside.watches_values():
            self.unchanged = None
        elif first_change is not None and not outside.paths and not outside.module_values:
            self.unchanged = lambda fn: first_change() < 0
        else:
            self.unchanged = self.fits


def _key(tree: Any) -> Any:
    """What a compiled specialisation depends on: structure, shapes, dtypes, static values."""
    if isinstance(tree, dict):
        return ("dict", tuple((k, _key(v)) for k, v in tree.items()))
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return (type(tree).__name__, tuple(_key(v) for v in tree))
    if is_array_leaf(tree):
        return (type(tree).__name__, tree.shape, tree.dtype.str)
    try:
        hash(tree)
    except TypeError:
        raise TypeError(f"compile: cannot use {type(tree).__name__} as an argument (arrays, "
                        "Tensors, numbers, strings and dicts/lists/tuples of them)") from None
    if isinstance(tree, (float, complex, np.inexact)) and tree != tree:
        return ("static", type(tree).__name__, "nan")  # every nan is the same static value
    if isinstance(tree, (float, np.floating)) and tree == 0:
        return ("static", type(tree).__name__, tree, bool(np.signbit(tree)))  # -0.0 vs 0.0
    return ("static", type(tree).__name__, tree)


def _has_named(tree: Any) -> bool:
    """True when the output holds a container the generated code writes as another type (a
    namedtuple or a dict subclass)."""
    if isinstance(tree, dict):
        return type(tree) is not dict or any(_has_named(v) for v in tree.values())
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return type(tree) not in (list, tuple) or any(_has_named(v) for v in tree)
    return False


def _shapes_only(key: Any) -> Any:
    """A signature key with its static values left out: what a new batch size changes."""
    if isinstance(key, tuple) and key and key[0] == "static":
        return ("static", key[1])
    if isinstance(key, tuple):
        return tuple(_shapes_only(k) for k in key)
    return key


def _difference(old: Any, new: Any) -> str | None:
    """The first static value that differs between two signature keys of the same shapes."""
    if isinstance(old, tuple) and old and old[0] == "static":
        return None if old == new else f"a static argument was {old[2]!r}, is {new[2]!r}"
    if isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            found = _difference(a, b)
            if found:
                return found
    return None


class Compiled:
    """A traced-and-generated version of `fn`; call it like `fn`. `.source` is the generated
    module of the latest specialisation, `.save(path)` writes every cached one."""

    def __init__(self, fn: Callable, cache_size: int = DEFAULT_CACHE_SIZE,
                 warn_retraces: int | None = WARN_RETRACES, backend: str = "numpy") -> None:
        backends.check(backend)
        self.backend = backend
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"compile: cache_size must be a positive int, got {cache_size!r}")
        if warn_retraces is not None and (isinstance(warn_retraces, bool) or
                                          not isinstance(warn_retraces, int) or
                                          warn_retraces < 1):
            raise ValueError("compile: warn_retraces must be a positive int or None, got "
                             f"{warn_retraces!r}")
        self.warn_retraces = warn_retraces
        self._lock = threading.Lock()  # the cache, between threads
        self._evicted: set[Any] = set()  # signatures the cache dropped (for RetraceWarning)
        self._retraces: dict[Any, int] = {}  # shapes-only key -> traces for it
        self._warned = False
        self.fn = fn
        # what is traced: an iterate's step (the loop is written around it), else fn itself
        self._traced_fn = fn.step if isinstance(fn, Iterate) else fn
        # grad(f) and the like: a Python number there is an input, traced as a 0-d array
        self._number_inputs = input_positions(fn)
        self.name = getattr(fn, "__name__", "function")
        self.cache_size = cache_size
        # signature key -> its specialisations (several when guards differ), least recently
        # used first
        self._entries: OrderedDict[Any, list[_Entry]] = OrderedDict()
        self._latest: _Entry | None = None
        self.traces = 0  # how many times fn was traced
        try:
            self._arg_names = [p.name for p in inspect.signature(fn).parameters.values()
                               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            self._arg_names = []
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the generated code for these arguments (tracing first for a new signature)."""
        modes = state.thread.modes
        if self._number_inputs is not None:
            args = numbers_as_arrays(args, self._number_inputs)
        if modes.tracing is not None:  # inside another compiled function's trace:
            return self.fn(*args, **kwargs)  # its ops become part of that trace
        entry = self._latest  # the fast path: the generated code checks its own arguments
        if entry is not None:
            if entry.tensor_args or modes.layers is not None:
                self._refuse_differentiation(args, kwargs)
            unchanged = entry.unchanged
            if unchanged is None or unchanged(self._traced_fn):
                try:
                    out = entry.function(*args, **kwargs)
                except entry.mismatch:
                    pass
                else:
                    return self._finish(entry, out) if entry.needs_finish else out
        key = (_key(args), _key(kwargs))
        hit, out, why = self._cached(key, args, kwargs)
        if hit:
            return out
        with _TRACING:  # one trace at a time; a thread that waited may find it traced
            hit, out, again = self._cached(key, args, kwargs)
            if hit:
                return out
            self._count_retrace(key, why or again)
            entry = self._compile(args, kwargs)
            if self.backend != "numpy":  # its kernel compiles now; one it refuses is not kept
                out = backends.first_call(self.backend, entry.program, entry.namespace,
                                          args, kwargs)
            with self._lock:
                self._entries.setdefault(key, []).append(entry)
                self._use(key, entry)
                self._evict()
        if self.backend == "numpy":
            out = entry.function(*args, **kwargs)
        return self._finish(entry, out)

    def _cached(self, key: Any, args: tuple, kwargs: dict) -> tuple[bool, Any, str | None]:
        """Run the first specialisation for `key` whose guards hold: (True, result, None), or
        (False, None, what changed)."""
        why = None
        with self._lock:
            entries = list(self._entries.get(key, ()))
        for entry in entries:
            outside = entry.outside
            changed = outside.changed(self._traced_fn) if outside.watches_values() else None
            if changed:
                why = changed  # a closed-over value changed, or an array was rebound
                continue
            try:
                out = entry.function(*args, **kwargs)
            except entry.mismatch as e:
                why = str(e)  # a guarded value changed: try the next specialisation, or trace
                continue
            with self._lock:
                if key in self._entries and entry in self._entries[key]:
                    self._use(key, entry)
            return True, self._finish(entry, out), None
        return False, None, why

    def _count_retrace(self, key: Any, why: str | None) -> None:
        """Count traces for arguments of one shape; past `warn_retraces`, say once why."""
        shapes = _shapes_only(key)
        count = self._retraces[shapes] = self._retraces.get(shapes, 0) + 1
        if self._warned or self.warn_retraces is None or count <= self.warn_retraces:
            return
        if why is None and key in self._evicted:
            why = (f"its specialisation had been evicted from the cache (cache_size="
                   f"{self.cache_size}: more signatures in use than it keeps)")
        if why is None:
            previous = next((k for k in reversed(self._entries) if _shapes_only(k) == shapes
                             and k != key), None)
            why = _difference(previous, key) if previous is not None else None
        self._warned = True
        warnings.warn(
            f"compile: {self.name} has traced {count} times for arguments of the same shapes "
            f"and dtypes, the latest because {why or 'a value it reads changed'}. Every trace "
            "costs far more than a call: pass what changes as an array argument (a step "
            "counter as np.array(step)), compute it with ag ops rather than through .data, or "
            "silence this with ag.compile(f, warn_retraces=None)", RetraceWarning, stacklevel=3)

    def _use(self, key: Any, entry: _Entry) -> None:
        """`entry` (under `key`) was just used: it becomes the most recently used."""
        self._entries.move_to_end(key)
        entries = self._entries[key]
        entries.append(entries.pop(entries.index(entry)))
        self._latest = entry

    def _evict(self) -> None:
        """Drop the least recently used specialisations beyond `cache_size`."""
        while self.specialisations > self.cache_size:
            key, entries = next(iter(self._entries.items()))
            entries.pop(0)
            if not entries:
                del self._entries[key]
                self._evicted.add(key)

    @property
    def specialisations(self) -> int:
        """How many specialisations the cache holds (at most `cache_size`)."""
        return sum(len(entries) for entries in self._entries.values())

    def _refuse_differentiation(self, args: tuple, kwargs: dict) -> None:
        """A transform through the generated code would see none of its ops: refused."""
        leaves = tree_flatten([list(args), kwargs])[0]
        if state.is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad
                                           for x in leaves):
            raise TypeError(
                f"compile: the compiled {self.name} got a Tensor that requires grad; its "
                "generated code records no graph, so a gradient through it would be zero. "
                "Compile the gradient instead: ag.compile(ag.grad(f))")
        if any(entry.needs_tensors for entry in state.active_layers()):
            raise TypeError(
                f"compile: the compiled {self.name} was called inside ag.jvp (or jacfwd, "
                "hessian); its generated code pushes no tangents, so they would be zero. "
                "Compile the transform instead: ag.compile(lambda x, t: ag.jvp(f, (x,), (t,)))")
        if any(isinstance(x, Tensor) and x._levels is not None for x in leaves):
            raise TypeError(
                f"compile: the compiled {self.name} was called inside ag.vmap; its generated "
                "code is specialised to one example's shapes. Call vmap's function without "
                "compiling it, or compile a function written for the whole batch")

    def _compile(self, args: tuple, kwargs: dict) -> _Entry:
        self._refuse_differentiation(args, kwargs)
        names = self._arg_names + [f"arg{i}" for i in range(len(self._arg_names), len(args))]
        traced = run(self._traced_fn, args, kwargs, names)
        self.traces += 1
        iterated = self.fn if isinstance(self.fn, Iterate) else None
        loop = plan(iterated, traced, args, kwargs) if iterated is not None else None
        program = generate(traced, self.name, names, args, kwargs, loop,
                           backends.kernel(self.backend))
        namespace = backends.load(self.backend, program.source, program.entry,
                                  f"<compiled {self.name}>")
        if program.watched:
            namespace["bind"](*program.watched)  # the Modules and arrays it checks each call
        # a changed guard, or arguments of another structure (a missing key, a list for an array)
        mismatch = (namespace["SpecialisationError"], KeyError, IndexError, TypeError,
                    AttributeError)
        # how each output leaf comes back: 2 an array (a top-level grad returned it), 1 a Tensor
        tensor_leaves = [0 if not isinstance(x, Tensor) else
                         2 if id(x) in traced.trace.top_level else 1
                         for x in traced.output_leaves]
        for k in history_kinds(traced, iterated) if iterated is not None else ():
            tensor_leaves[k] = 0  # an iterate's per-step outputs come back stacked, as arrays
        tensor_args = any(isinstance(x, Tensor) for x in tree_flatten([list(args), kwargs])[0])
        rebuild = tree_flatten(traced.outputs)[1]
        return _Entry(program, namespace[program.entry], mismatch, tensor_leaves,
                      needs_finish=1 in tensor_leaves or _has_named(traced.outputs),
                      tensor_args=tensor_args, outside=traced.trace.outside, rebuild=rebuild,
                      namespace=namespace)

    def _finish(self, entry: _Entry, out: Any) -> Any:
        """Give the result the types the function itself returns (Tensors, namedtuples)."""
        leaves = tree_flatten(out)[0]
        rebuild = entry.rebuild
        done = []
        for leaf, kind in zip(leaves, entry.tensor_leaves, strict=True):
            if kind:
                leaf = np.asarray(leaf) if kind == 2 else Tensor(np.asarray(leaf))
            done.append(leaf)
        return rebuild(done)

    @property
    def source(self) -> str:
        """The generated module of the latest specialisation (call the function first)."""
        if self._latest is None:
            raise RuntimeError(f"compile: {self.name} has not been called yet, so it has not "
                               "been traced; call it once with example arguments")
        return self._latest.program.source

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write a module that needs only NumPy (and the backend's package for backend="numba"
        or "jax"): the one specialisation as `.source` shows it, or every cached one plus a
        dispatcher named after the function that picks by the arguments' structure, shapes,
        dtypes and static values."""
        source = self.source  # refuses before the first call
        with self._lock:
            programs = [(key, entry.program.source, entry.program.entry)
                        for key, entries in self._entries.items() for entry in entries]
        if len(programs) > 1:
            source = combine(self.name, entry_name(self.name), self._arg_names, programs)
        path = pathlib.Path(path)
        path.write_text(source, encoding="utf-8")
        return path

    def __repr__(self) -> str:
        on = "" if self.backend == "numpy" else f", backend={self.backend!r}"
        return f"<compiled {self.name}: {self.traces} trace(s){on}>"


def compile(fn: Callable | None = None, *,  # noqa: A001 (the name users expect)
            cache_size: int = DEFAULT_CACHE_SIZE,
            warn_retraces: int | None = WARN_RETRACES, backend: str = "numpy") -> Any:
    """Trace `fn` on its first call and run generated straight-line NumPy from then on.

    Works as `ag.compile(f)` and as a decorator (`@ag.compile`, `@ag.compile(cache_size=8)`),
    on plain functions, on `ag.grad(f)` and `ag.value_and_grad(f)` (any nesting), and on
    Modules through `ag.nn.functional_call`. The `cache_size` most recently used
    specialisations (one per signature of shapes, dtypes and static values) are kept. After
    `warn_retraces` traces for arguments of the same shapes (a value it reads keeps changing)
    a RetraceWarning names what changed; None turns it off.

    `backend` says who runs the generated code: "numpy" (the default: one readable NumPy
    function), "numba" (the arithmetic in a kernel under `numba.njit(cache=True)`, its module
    written to ~/.cache/autograd_nn so a second process starts from numba's disk cache) or
    "jax" (the kernel written against jax.numpy under `jax.jit`, float64 kept by enabling
    jax_enable_x64 around each call). Every backend returns what the NumPy backend returns
    (NumPy arrays, or Tensors where the traced function returned a Tensor it computed; JAX's
    arrays are copied back from its device), and `.source` shows the code it runs. numba and
    jax are optional extras: `pip install 'autograd_nn[numba]'`. What a backend cannot run (a
    value the Python code branches on, an op its compiler lacks) is refused by a CompileError
    naming the op and the line; backend="numpy" runs everything.
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size, warn_retraces=warn_retraces,
                                 backend=backend)
    backends.check(backend)
    if isinstance(fn, Compiled):
        if fn.backend != backend:
            return Compiled(fn.fn, cache_size, warn_retraces, backend)
        return fn
    if not callable(fn):
        raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
    return Compiled(fn, cache_size, warn_retraces, backend)
