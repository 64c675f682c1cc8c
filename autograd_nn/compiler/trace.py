"""Tracing for `ag.compile`: run the function once on Tensors and record every op on its inputs.

Array arguments, positional or keyword, become traced input Tensors (float ones require grad,
so a `grad` inside the function records its backward pass as ops too); None, numbers and strings
stay static. While
tracing, every op on a traced value is recorded, with or without gradient, with the user's
file:line; each Python value read from a traced Tensor (`bool(t)`, `t.item()`, `float(t)`, and
the user's `t.data` / `t.numpy()`, through `Watched`) is a guard that the compiled code checks
on every call. So are the modes of the Modules it ran, the arrays it read from outside its
arguments (closed-over arrays, constant Tensors) and the Python values it reached (`reach`,
`ValueChecks`): `Outside`. Draws from random generators while tracing are refused.
"""

from __future__ import annotations

import pathlib
import sys
import traceback
import types
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.pytree import tree_flatten
from ..core.recording import apply_below, constant
from ..core.saved import Hold
from ..core.state import Layer
from ..core.tensor import Tensor
from ..nn.module import ATTRIBUTE_WRITES
from .errors import CompileError
from .reach import (
    GENERATORS,
    RandomStates,
    ValueChecks,
    describe_path,
    follow,
    in_library,
    reach,
    user_arrays,
)


@dataclass
class Guard:
    """A Python value the traced function read from a traced Tensor."""

    tensor: Tensor
    value: Any  # for "data": the CRC-32 of the values read
    how: str  # "bool", "item" (float(t) and int(t) read t.item()) or "data" (t.data, t.numpy())
    site: str


@dataclass(eq=False)
class Outside:
    """What the traced code read from outside its arguments, checked on every call: the root
    Modules it ran (their and their submodules' `training`) and the constant arrays it used."""

    modules: dict[int, Any] = field(default_factory=dict)  # id -> a root Module it ran
    # id(array) -> (the constant Tensor holding it, the site that used it)
    arrays: dict[int, tuple[Any, str]] = field(default_factory=dict)
    made: dict[int, Tensor] = field(default_factory=dict)  # results of ops: not the user's
    # id -> access path from the function, of the user's arrays and Tensors
    reachable: dict[int, tuple] = field(default_factory=dict)
    # (path, object): a constant's holder as found from the function; `changed` checks
    paths: list[tuple[tuple, Any]] = field(default_factory=list)
    # (path, value): the Python values (numbers, strings, None) the function reached
    values: list[tuple[tuple, Any]] = field(default_factory=list)
    checks: Any = None  # `values` as one flat list of lookups (a ValueChecks)
    module_values: list[tuple[tuple, Any]] = field(default_factory=list)
    module_checks: Any = None
    module_writes: int = 0  # ATTRIBUTE_WRITES when `module_values` were last found unchanged
    last_scope: Any = None

    def saw_scope(self, scope: tuple | None) -> None:
        """Note the outermost Module of the active naming scope."""
        if scope is None or scope is self.last_scope:
            return
        self.last_scope = scope
        root = next((m for _, m in scope if hasattr(m, "named_modules")), None)
        if root is not None and id(root) not in self.modules:
            self.modules[id(root)] = root
            for key in user_arrays(root):  # its buffers (running statistics, ...)
                self.reachable.setdefault(key, ())

    def saw_leaves(self, inputs: tuple, params: dict | None, trace: Trace) -> None:
        """Note the constant arrays an op read that the user may change: leaves (not Python
        numbers, inputs or results of ops) and arrays in its parameters (an index), when the
        function reaches them or what they view (`W.T`, `W[0]`)."""
        for x in inputs:
            if isinstance(x, Tensor) and x._op is None and id(x) not in trace.inputs and \
                    id(x) not in self.made and not _is_number(x):
                self.saw_array(x.data, x, trace)
        if params:
            for arr in param_arrays(params):
                self.saw_array(arr, None, trace)

    def saw_array(self, arr: np.ndarray, leaf: Tensor | None, trace: Trace) -> None:
        if trace.value_of(arr) is not None or trace.traced_value(arr) is not None:
            return  # a traced value put back in: the trace follows it
        if leaf is not None and id(leaf) in self.reachable:
            holder = leaf  # a constant Tensor: its .data rebound is noticed too
        else:
            holder = arr
            while isinstance(holder, np.ndarray) and id(holder) not in self.reachable:
                holder = holder.base  # a view of an array the function reaches
            if not isinstance(holder, np.ndarray):
                return
        self.guard(holder, engine.user_frame_site())

    def guard(self, holder: Any, site: str) -> None:
        """Check `holder` (an array, or a Tensor's .data) on every call."""
        key = id(holder.data if isinstance(holder, Tensor) else holder)
        if key in self.arrays:
            return
        self.arrays[key] = (holder, site)
        if self.reachable.get(id(holder)):  # found from the function: may be rebound
            self.paths.append((self.reachable[id(holder)], holder))

    def changed(self, fn: Callable) -> str | None:
        """What changed since tracing, if anything: a constant array the function reached
        (closure, global, default, dict entry, attribute) is now another object, or a Python
        value it reached has another value."""
        for path, holder in self.paths:
            try:
                if follow(fn, path) is not holder:
                    return f"{describe_path(path)} is another array"
            except (LookupError, AttributeError, ValueError, TypeError):
                return f"{describe_path(path)} is gone"
        if self.values:
            found = self.checks.changed()
            if found:
                return found
        if self.module_values and ATTRIBUTE_WRITES[0] != self.module_writes:
            writes = ATTRIBUTE_WRITES[0]  # read first: a write during the check counts next time
            found = self.module_checks.changed()
            if found:
                return found
            self.module_writes = writes
        return None

    def watches_values(self) -> bool:
        """True when calls must check what `changed` checks."""
        return bool(self.paths or self.values or self.module_values)

    def watched(self) -> list[Any]:
        """The objects a compiled specialisation checks, in `bind` order."""
        return list(self.modules.values()) + [h for h, _ in self.arrays.values()]


# Arrays the function reaches but no op used are checked too, up to this size (a bigger one
# read with NumPy alone, W * 2 say, is a constant); a Module's parameters and buffers are
# checked only when an op used them (functional_call usually passes others instead).
_SMALL_ARRAY = 1 << 16
_REGISTRIES = (("key", "_parameters"), ("key", "_buffers"))


_EXACT = 256  # arrays of at most this many bytes are checked byte for byte, bigger by CRC-32


def fingerprint(arr: np.ndarray) -> bytes | int:
    """What a check compares an array's values with: its bytes when small (exact), else a
    CRC-32 of them (a change is caught unless it was made to collide on purpose)."""
    arr = np.ascontiguousarray(arr)
    return arr.tobytes() if arr.nbytes <= _EXACT else zlib.crc32(arr)


def param_arrays(value: Any) -> list[np.ndarray]:
    """The arrays in an op's parameters (an index array)."""
    if isinstance(value, dict):
        return [a for v in value.values() for a in param_arrays(v)]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in param_arrays(v)]
    return [value] if isinstance(value, np.ndarray) else []


def _is_number(x: Tensor) -> bool:
    """A constant made from a Python number: one of the shared read-only 0-d arrays."""
    return x.data.ndim == 0 and not x.data.flags.writeable and x.data.base is None


@dataclass(eq=False)
class Trace(Layer):
    """What one run of the function recorded; while it runs, the layer that records it (every
    op on a traced value, with or without gradient, and every value Python reads)."""

    freezes_values = True

    inputs: dict[int, tuple[Tensor, str]] = field(default_factory=dict)  # id -> (tensor, name)
    guards: list[Guard] = field(default_factory=list)
    # id(gradient) -> (gradient, the node it is the gradient of); holding the gradient keeps
    # its id from being reused by another tensor
    grad_of: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    top_level: set[int] = field(default_factory=set)  # tensors a top-level grad returned
    values: dict[int, Tensor] = field(default_factory=dict)  # id(data) -> recorded node
    current: Tensor | None = None  # the node whose rules the backward pass is running
    outside: Outside = field(default_factory=Outside)
    watched: list[Tensor] = field(default_factory=list)  # Tensors made Watched, to undo
    read_guarded: set[int] = field(default_factory=set)  # ids of nodes whose values are guarded
    handed: dict[int, tuple] = field(default_factory=dict)  # id(view) -> (view, its Tensor)
    input_arrays: dict[int, Tensor] = field(default_factory=dict)  # id(array) -> input
    # every op in the order made, with the depth of the user's frame that made it
    recorded_nodes: list[tuple[Tensor, int]] = field(default_factory=list)

    def process(self, prim: Any, inputs: tuple, params: dict | None, depth: int) -> Any:
        out = apply_below(depth, prim, inputs, params)
        self.outside.saw_scope(state.thread.modes.scope)
        self.outside.saw_leaves(inputs, params, self)
        if isinstance(out, Tensor):
            self.outside.made[id(out)] = out
        if out._op is None and self.traces_any(inputs, params):  # recorded without gradient
            out._op, out._parents, out._params = prim, inputs, params
            out._scope = state.thread.modes.scope
        if out._op is not None:
            self.recorded(out)
        return out

    def backward_gradient(self, node: Any, g: Any) -> None:
        if state.thread.modes.recording_backward:
            self.gradient(node, g)

    def concrete(self, tensor: Any, value: Any, how: str) -> None:
        if self.traces_any((tensor,)):
            self.guard(tensor, value, how)

    def numpy_call(self, tensor: Any, what: str, instead: str) -> None:
        if self.traces_any((tensor,)):
            raise TypeError(
                f"{what} on a Tensor that ag.compile is tracing ({tensor.shape} "
                f"{tensor.dtype}): its result would be baked into the generated code; use "
                f"{instead}")

    def grad_returned(self, values: Any, depth: int) -> None:
        if depth == 1:  # the trace runs the function at depth 1: a grad top level in it
            self.returned_at_top_level(values)

    def arrays_returned(self, given: list, values: Any, depth: int) -> None:
        # given only arguments (arrays eagerly) and what a top-level grad returned (arrays
        # eagerly too), the eager call returns arrays: so does the compiled one
        if depth == 1 and all(not isinstance(x, Tensor) or id(x) in self.inputs or
                              id(x) in self.top_level for x in given):
            self.returned_at_top_level(values)

    def traces_any(self, tensors: Sequence[Tensor], params: Any = None) -> bool:
        """True when some of `tensors` is a traced input or was computed from one, or the op's
        parameters hold an input's array (an index array, say)."""
        for x in tensors:
            if x._op is not None or id(x) in self.inputs:
                return True
            if self.value_of(x.data) is not None:  # a traced value put back in as a constant
                return True
        return params is not None and self.holds_input(params)

    def holds_input(self, value: Any) -> bool:
        """True when `value` (an op's parameters) holds an input's array or a traced value."""
        if isinstance(value, dict):
            return any(self.holds_input(v) for v in value.values())
        if isinstance(value, (tuple, list)):
            return any(self.holds_input(v) for v in value)
        if isinstance(value, np.ndarray):
            return any(np.shares_memory(value, t.data) for t, _ in self.inputs.values()) or \
                self.traced_value(value) is not None
        return False

    def recorded(self, t: Tensor) -> None:
        """An op was recorded: note where, and its array (to recognise it if it leaks out)."""
        t._where = self.site()
        self.values[id(t.data)] = t
        self.recorded_nodes.append((t, _user_depth()))
        self.watch(t)

    def watch(self, t: Tensor) -> None:
        """From now on until the trace ends, the user's reads of `t`'s values are guarded."""
        if t.__class__ is Tensor:
            t.__class__ = Watched
            self.watched.append(t)

    def unwatch(self) -> None:
        """The trace is over: every Tensor it watched is a plain Tensor again."""
        for t in self.watched:
            t.__class__ = Tensor
        self.watched.clear()

    def read(self, t: Tensor, arr: np.ndarray, how: str) -> np.ndarray:
        """The user's code read the values of a traced Tensor: the compiled code checks them on
        every call (a CRC-32) and traces again when they change. A read-only view comes back,
        so a write into it is refused rather than silently not repeated."""
        owner = t if (t._op is not None or id(t) in self.inputs) else self.traced_value(arr)
        if owner is None:
            owner = next((x for x, _ in self.inputs.values() if x.data is arr), None)
        if owner is not None and id(owner) not in self.read_guarded:
            self.read_guarded.add(id(owner))
            self.guards.append(Guard(owner, fingerprint(arr), "data",
                                     engine.user_frame_site() + f" ({how})"))
        view = arr.view()
        view.flags.writeable = False
        if owner is not None:
            self.handed[id(view)] = (view, owner)
        return view

    def value_of(self, arr: Any) -> Tensor | None:
        """The traced Tensor (a recorded node or an input) whose value `arr` is exactly: its
        array, or the read-only view of it a `.data` read handed out."""
        node = self.values.get(id(arr))
        if node is not None and node.data is arr:
            return node
        node = self.input_arrays.get(id(arr))  # an input's array (`x.detach()` holds it)
        if node is not None and node.data is arr:
            return node
        handed = self.handed.get(id(arr))
        return handed[1] if handed is not None and handed[0] is arr else None

    def traced_value(self, arr: np.ndarray) -> Tensor | None:
        """The recorded node whose array `arr` is (or views), if any."""
        while isinstance(arr, np.ndarray):
            node = self.values.get(id(arr))
            if node is not None and node.data is arr:
                return node
            arr = arr.base
        return None

    def site(self) -> str:
        if state.thread.modes.recording_backward and self.current is not None:
            return f"backward of {self.current.op} at {self.current._where or '?'}"
        return engine.user_frame_site()

    def gradient(self, node: Tensor, g: Any) -> None:
        """The backward pass completed `node`'s gradient `g` (the first, outermost, names it)."""
        if isinstance(g, Tensor):
            self.grad_of.setdefault(id(g), (g, node))
        self.current = node

    def returned_at_top_level(self, values: Any) -> None:
        """A grad that is top level in the user's code returned these (eagerly: arrays)."""
        for leaf in tree_flatten(values)[0]:
            if isinstance(leaf, Tensor):
                self.top_level.add(id(leaf))

    def guard(self, tensor: Tensor, value: Any, how: str) -> None:
        self.guards.append(Guard(tensor, value, how, engine.user_frame_site()))


_DATA = Tensor.__dict__["data"]  # the slot that holds every Tensor's array
def _user_depth() -> int:
    """How many frames deep the user's innermost frame is (tells a helper the user's statement
    called from the statement itself)."""
    frame, depth = engine.user_frame(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _by_user(frame: types.FrameType) -> bool:
    """True when `frame` is the user's code (not the library's own reading its values)."""
    return not in_library(frame.f_code.co_filename)


def _active_trace() -> Trace | None:
    for entry in state.thread.modes.layers or ():
        if isinstance(entry, Trace):
            return entry
    return None


def _values(t: Tensor, how: str) -> np.ndarray:
    """`t`'s array, for a `Watched` method (`how` it was read): when the caller of that method
    is the user's code, the read is guarded and a read-only view comes back."""
    arr = _DATA.__get__(t, Tensor)
    trace = _active_trace()
    if trace is not None and _by_user(sys._getframe(2)):  # 2: past the Watched method
        return trace.read(t, arr, how)
    return arr


class Watched(Tensor):
    """A Tensor the trace follows, while it runs: the user's reads of its values (`.data`,
    `.numpy()`) are guarded, and rebinding its `.data` is refused. The library's own reads
    go straight to the array. After the trace each goes back to being a plain Tensor."""

    __slots__ = ()

    @property  # type: ignore[override]
    def data(self) -> np.ndarray:
        return _values(self, ".data")

    @data.setter
    def data(self, value: np.ndarray) -> None:
        trace = _active_trace()
        if trace is not None and _by_user(sys._getframe(1)):
            raise CompileError(
                f"compile: the function rebinds .data of a traced Tensor ({self.shape} "
                f"{self.dtype}) at {engine.user_frame_site()}; the compiled code would not "
                "repeat it. Compute a new Tensor with ops instead")
        _DATA.__set__(self, value)

    def numpy(self) -> np.ndarray:
        return _values(self, ".numpy()")

    def __repr__(self) -> str:
        _values(self, "repr()")
        return Tensor.__repr__(self)

    def __format__(self, spec: str) -> str:
        _values(self, "format()")
        return Tensor.__format__(self, spec)

    __str__ = __repr__

    def detach(self) -> Tensor:
        out = Tensor.detach(self)
        trace = _active_trace()
        if trace is not None:
            trace.watch(out)
        return out


# what error messages and type(t).__name__ show: a traced Tensor is a Tensor to its user
Watched.__name__ = Watched.__qualname__ = "Tensor"


@dataclass
class Traced:
    """A finished trace: the outputs (nested as the function returned them) and what it saw."""

    trace: Trace
    inputs: list[Tensor]  # in argument order (flattened)
    input_names: list[str]
    outputs: Any
    output_leaves: list[Any]


def _leaf_names(tree: Any, prefix: str) -> list[str]:
    """Readable names of the leaves of one argument: its name, or its dict keys."""
    if isinstance(tree, dict):
        return [n for k, v in tree.items() for n in _leaf_names(v, _identifier(str(k), prefix))]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [n for i, v in enumerate(tree) for n in _leaf_names(v, f"{prefix}_{i}")]
    return [prefix]


def _identifier(text: str, fallback: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    if not cleaned or cleaned[0].isdigit():
        cleaned = f"{fallback}_{cleaned}"
    return cleaned


def _changes_an_argument(kind: str) -> Callable:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise CompileError(
            f"compile: the function changes a {kind} it was given, at "
            f"{engine.user_frame_site()}; the compiled code would not repeat that. Build a new "
            f"{kind} instead ({{**params, 'w': w}}, [*items, x])")
    return refuse


class _ArgumentDict(dict):
    """A dict argument while tracing: reading it is free, changing it is refused."""

    __setitem__ = __delitem__ = pop = popitem = clear = update = setdefault = __ior__ = \
        _changes_an_argument("dict")

    def __copy__(self) -> dict:
        return dict(self)


class _ArgumentList(list):
    """A list argument while tracing: reading it is free, changing it is refused."""

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = \
        reverse = __iadd__ = __imul__ = _changes_an_argument("list")

    def __copy__(self) -> list:
        return list(self)


def _guarded_containers(tree: Any) -> Any:
    """The traced arguments with their plain dicts and lists made `_ArgumentDict`/`List`."""
    if type(tree) is dict:
        return _ArgumentDict({k: _guarded_containers(v) for k, v in tree.items()})
    if type(tree) is list:
        return _ArgumentList(_guarded_containers(v) for v in tree)
    if type(tree) is tuple:
        return tuple(_guarded_containers(v) for v in tree)
    return tree


def is_array_leaf(x: Any) -> bool:
    """Arrays and Tensors are inputs of a compiled function; numbers and strings are static."""
    return isinstance(x, (np.ndarray, Tensor))


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of an input's array: a write into it while tracing raises."""
    view = arr.view()
    view.flags.writeable = False
    return view


def _write_refused(error: Exception, input_names: list[str]) -> Exception:
    """The CompileError for a write into an input's array (it would not be replayed)."""
    site = _failing_site(error)
    which = f"the input {input_names[0]!r}" if len(input_names) == 1 else \
        "the inputs " + ", ".join(repr(n) for n in input_names)
    return CompileError(
        f"compile: the function writes into an array or Tensor at {site} ({error}); "
        f"while tracing, {which}, every value read through .data and the arrays the function "
        "reaches are read-only, as the compiled code would not repeat the write. Compute a new "
        "value with Tensor ops instead")


def _failing_site(error: BaseException) -> str:
    """file:line of the innermost frame outside autograd_nn and NumPy that raised `error`."""
    site = "?"
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = frame.f_code.co_filename
        if "autograd_nn" not in pathlib.PurePath(path).parts and "numpy" not in path:
            site = f"{pathlib.PurePath(path).name}:{line}"
    return site


def run(fn: Callable, args: tuple, kwargs: dict, arg_names: list[str]) -> Traced:
    """Run `fn(*args, **kwargs)` once with every array leaf of `args` and `kwargs` as a traced
    input (named after its argument, dict key or keyword)."""
    leaves, rebuild = tree_flatten([list(args), dict(kwargs)])
    names: list[str] = []
    for i, a in enumerate(args):
        names += _leaf_names(a, arg_names[i] if i < len(arg_names) else f"arg{i}")
    names += _leaf_names(dict(kwargs), "keywords")
    trace = Trace()
    writes = ATTRIBUTE_WRITES[0]
    reached = reach(fn)
    trace.outside.reachable = reached.arrays
    trace.outside.values = reached.values  # as they are before the trace reads them
    trace.outside.module_values, trace.outside.module_writes = reached.module_values, writes
    traced_leaves, inputs, input_names = [], [], []
    for leaf, name in zip(leaves, names, strict=True):
        if isinstance(leaf, np.ndarray) and (type(leaf) is not np.ndarray or
                                             leaf.dtype.kind not in "biufc"):
            what = f"an {type(leaf).__name__}" if type(leaf) is not np.ndarray else \
                f"an array of dtype {leaf.dtype}"
            raise CompileError(
                f"compile: {getattr(fn, '__name__', 'the function')}'s argument {name} is "
                f"{what}; compiled code takes plain numeric ndarrays (np.asarray(x) of a "
                "subclass such as np.matrix changes what * and ** mean)")
        if isinstance(leaf, GENERATORS):
            raise CompileError(
                f"compile: {getattr(fn, '__name__', 'the function')}'s argument {name} is a "
                f"random generator ({type(leaf).__name__}); the compiled code would repeat the "
                "draws made while tracing on every call. Draw the numbers outside the function "
                "and pass the array as an argument")
        if not is_array_leaf(leaf):
            traced_leaves.append(leaf)
            continue
        arr = _read_only(leaf.data if isinstance(leaf, Tensor) else leaf)
        t = constant(arr, requires_grad=arr.dtype.kind == "f")
        t.name = leaf.name if isinstance(leaf, Tensor) and leaf.name else name
        trace.inputs[id(t)] = (t, t.name)
        trace.input_arrays[id(arr)] = t
        trace.watch(t)
        inputs.append(t)
        input_names.append(t.name)
        traced_leaves.append(t)
    traced_args, traced_kwargs = rebuild(traced_leaves)
    traced_args = _guarded_containers(traced_args)
    traced_kwargs = {k: _guarded_containers(v) for k, v in traced_kwargs.items()}
    prev_grad = state.set_grad_enabled(True)
    state.enter_grad()  # a grad inside the function records its backward pass (nested mode)
    randomness = RandomStates(reached.generators)
    # the arrays it reaches are read-only while it runs: a write into one (a counter) would
    # not be repeated by the compiled code, so it is refused
    held = Hold([x.data if isinstance(x, Tensor) else x for x in reached.objects.values()])
    try:
        with state.layer(trace), randomness:
            outputs = fn(*traced_args, **traced_kwargs)
    except (ValueError, TypeError) as e:
        if "read-only" not in str(e) and "item assignment" not in str(e):
            raise
        raise _write_refused(e, input_names) from None
    finally:
        del held
        trace.unwatch()
        state.exit_grad()
        state.set_grad_enabled(prev_grad)
    randomness.refuse_draws(getattr(fn, "__name__", "function"))
    outside = trace.outside
    outside.checks = ValueChecks.built(fn, outside.values)
    outside.module_checks = ValueChecks.built(fn, outside.module_values)
    for key, holder in reached.objects.items():  # arrays it may read with NumPy or Python
        arr = holder.data if isinstance(holder, Tensor) else holder
        path = reached.arrays[key]
        if arr.nbytes <= _SMALL_ARRAY and not any(step in _REGISTRIES for step in path) and \
                trace.value_of(arr) is None:
            trace.outside.guard(holder, "reached by the function")
    trace.outside.made.clear()  # only needed while tracing, to tell the user's arrays apart
    trace.outside.reachable.clear()
    return Traced(trace, inputs, input_names, outputs, tree_flatten(outputs)[0])
