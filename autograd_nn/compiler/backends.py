"""The backends of `ag.compile`: who runs the generated arithmetic (NumPy, numba or JAX).

The numpy backend writes one function. The others split it in two: a Python wrapper keeps the
argument checks, the unpacking of dicts and lists and the repacking of outputs, and calls a
kernel over arrays only, holding the straight-line arithmetic, compiled by `numba.njit` or
`jax.jit`. Both return NumPy arrays, as the numpy backend does.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import os
import pathlib
import re
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from . import backend_forms, kernel_loop, literals
from .codegen import Program, _helper_source, _Writer
from .errors import CompileError
from .loop import LoopPlan

BACKENDS = ("numpy", "numba", "jax")
RESERVED = {"numba": ("numba",), "jax": ("jax", "jnp")}  # names each backend's module imports


def check(backend: str) -> None:
    """Refuse an unknown backend with the list of names, or a missing package with its extra."""
    if backend not in BACKENDS:
        raise ValueError(f"compile: unknown backend {backend!r}; choose one of "
                         f"{', '.join(map(repr, BACKENDS))}")
    if backend == "numpy":
        return
    try:
        importlib.import_module(backend)
    except ImportError as e:
        raise ImportError(f"compile: backend={backend!r} needs the {backend} package, an "
                          f"optional extra: pip install 'autograd_nn[{backend}]'") from e


def title(backend: str) -> str:
    """The generated module's docstring for a kernel backend."""
    runner = {"numba": "numba.njit (machine code, cached on disk)",
              "jax": "jax.jit (XLA, on JAX's default device)"}[backend]
    return (f'"""Straight-line code written by autograd_nn.compile: a NumPy wrapper checks the '
            f"arguments,\nand a kernel holding the arithmetic runs under {runner}; needs NumPy "
            f'and {backend}."""')


@dataclass
class Kernel:
    """A kernel backend, as `codegen.generate` uses it: the names its module imports, how it
    writes templates and scalars, and the split of the body into wrapper and kernel."""

    name: str

    @property
    def reserved(self) -> tuple[str, ...]:
        return RESERVED[self.name]

    @property
    def typed_scalars(self) -> bool:  # numba types a bare float as float64 (no NEP 50)
        return self.name == "numba"

    @property
    def forms(self) -> Callable | None:
        return backend_forms.numba_form if self.name == "numba" else None

    @property
    def title(self) -> str:
        return title(self.name)

    def split(self, writer: _Writer, entry: str, body: list[str], input_names: dict[int, str],
              loop: LoopPlan | None = None) -> tuple[list[str], list[str], list[str]]:
        """(the wrapper's lines after its checks, the module's blocks, the imports)."""
        return split(self.name, writer, entry, body, input_names, loop)


def kernel(backend: str) -> Kernel | None:
    """The kernel backend named `backend`, None for "numpy" (one NumPy function)."""
    return None if backend == "numpy" else Kernel(backend)


def _refuse_masks(backend: str, writer: _Writer, body: list[str]) -> None:
    """A boolean mask's count of selected elements is a shape no kernel can check."""
    for line in body:
        if "selected by a boolean mask" in line:
            raise CompileError(
                f"compile(backend={backend!r}): {writer.fn_name} indexes with a boolean mask, "
                f"so a shape depends on values, which a {backend} kernel cannot have; index "
                "with integer arrays (np.flatnonzero(mask)) or use backend='numpy'")


def _guards(body: list[str]) -> tuple[list[str], list[str]]:
    """The body without its guards (`if ...: raise SpecialisationError(...)`), and the guards:
    the kernel returns the values they read and the wrapper checks them after the call."""
    statements, guards = [], []
    lines = iter(body)
    for line in lines:
        if line.startswith("if "):
            guards += [line, next(lines)]
        elif not line.startswith(("del ", "return ")):
            statements.append(line)
    return statements, guards


def split(backend: str, writer: _Writer, entry: str, body: list[str],
          input_names: dict[int, str], loop: LoopPlan | None = None,
          ) -> tuple[list[str], list[str], list[str]]:
    """The wrapper's call and the module's kernel for `body` (the numpy backend's statements;
    with a `loop`, the step of ag.iterate, looped inside the kernel):
    (the wrapper's lines after its checks, the module-level blocks, the imports)."""
    _refuse_masks(backend, writer, body)
    namespace = writer.namespace
    inputs = list(dict.fromkeys(input_names[id(t)] for t in writer.traced.inputs))
    statements, guards = _guards(body)
    returned: list[str] = []  # what the kernel returns
    targets: list[str] = []  # what the wrapper names it
    by_node: dict[int, str] = {}
    leaf_text: dict[int, str] = {}
    for leaf in tree_flatten(writer.traced.outputs)[0]:
        if not isinstance(leaf, Tensor):
            continue
        node = writer.resolve(leaf)
        if writer.is_constant(node):
            continue  # the wrapper writes a constant output itself
        if id(node) not in by_node:
            ref = writer.reference(leaf)
            name = ref if ref.isidentifier() and ref not in inputs else namespace.fresh("out")
            returned.append(ref)
            targets.append(name)
            by_node[id(node)] = name
        copy = id(node) in writer.input_ids  # an input returned: a new array, as eagerly
        leaf_text[id(leaf)] = _to_numpy(backend, by_node[id(node)], node, copy)
    checked = []  # values the guards read: returned by the kernel, checked by the wrapper
    for g in writer.trace.guards:
        node = writer.resolve(g.tensor)
        if writer.is_constant(node) or id(node) in writer.input_ids:
            continue
        name = writer.reference(node)
        if name not in targets:
            returned.append(name)
            targets.append(name)
        checked.append(name)
    writer.leaf_text = leaf_text
    output = writer.output_text(writer.traced.outputs)
    writer.leaf_text = None
    rewrite = backend_forms.rewrite_line(backend)
    ops = {writer.names[id(t)]: t.op for t in writer.live if id(t) in writer.names
           and t._op is not None}
    statements = [_with_op(line, ops) for line in statements]
    writer.kernel_dtypes = {
        writer.names[id(t)]: (t.dtype.name, writer.comment(t)) for t in writer.live
        if id(t) in writer.names and t._op is not None and id(t) not in writer.inline
        and not writer.is_constant(t) and id(t) not in writer.input_ids}
    module = []
    users: dict[str, list[str]] = {}  # helper -> the ops whose code calls it
    for t in writer.live:
        if t._op is not None and not writer.is_constant(t):
            for name in t._op.code.helper or {}:
                users.setdefault(name, []).append(t.op)
    for name, fn in writer.helpers.items():
        ops = ", ".join(dict.fromkeys(users.get(name, [])))
        module.append(f"# {name}: a helper of the op {ops}\n"
                      + backend_forms.helper(backend, name, _helper_source(name, fn)))
    module += backend_forms.extra_helpers(backend, statements)
    for name, arr in writer.constants.items():
        module.append(f"{name} = {literals.array(arr)}")
    imports = ["import numpy as np", *backend_forms.IMPORTS[backend]]
    if loop is not None:
        return _loop_split(backend, writer, entry, inputs, statements, loop, module, imports)
    if not returned:  # every output is a constant: there is nothing to run
        return [*guards, "return " + output], module, imports
    kernel = writer.kernel_name = namespace.fresh(f"{entry}_kernel")
    doc = {"numba": "compiled by numba on its first call (cached on disk)",
           "jax": "traced and compiled by jax.jit on its first call"}[backend]
    result = ", ".join(returned)
    module.append("\n".join([
        backend_forms.DECORATOR[backend],
        f"def {kernel}({', '.join(inputs)}):",
        f'    """The arithmetic of {entry}, over arrays only: {doc}."""',
        *[f"    {rewrite(line)}" for line in statements],
        f"    return {result}"]))
    target = ", ".join(targets)
    call = f"{target} = {kernel}({', '.join(inputs)})"
    if backend == "jax" and _needs_x64(writer):
        call = ["with jax.enable_x64(True):  # float64 stays float64 (JAX's default is float32)",
                f"    {call}"]
    else:
        call = [call]
    check = [f"{name} = np.asarray({name})" for name in dict.fromkeys(checked)]
    return [*call, *check, *guards, "return " + output], module, imports


def _loop_split(backend: str, writer: _Writer, entry: str, inputs: list[str],
                statements: list[str], loop: LoopPlan, module: list[str],
                imports: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The kernel running all of ag.iterate's steps, and the wrapper's call of it."""
    rewrite = backend_forms.rewrite_line(backend)
    carried_ids = {id(t) for t in loop.carried}
    returns_input = loop.n == 0 or any(id(writer.resolve(t)) in writer.input_ids
                                       for t in loop.new)
    looped = kernel_loop.write(backend, loop, writer, [rewrite(line) for line in statements],
                               copy_carry=returns_input)
    kernel = writer.kernel_name = writer.namespace.fresh(f"{entry}_kernel")
    doc = {"numba": "compiled by numba on its first call (cached on disk)",
           "jax": "traced and compiled by jax.jit on its first call"}[backend]
    module.append("\n".join([
        backend_forms.DECORATOR[backend],
        f"def {kernel}({', '.join(inputs)}):",
        f'    """The {loop.n} steps of {entry}, over arrays only: {doc}."""',
        *[f"    {line}" for line in looped.lines]]))
    scalar = {writer.names[id(t)] for t in writer.traced.inputs
              if id(t) in carried_ids and t.ndim == 0} if backend == "numba" else set()
    passed = [f"{name}[()]" if name in scalar else name for name in inputs]  # a NumPy scalar
    call = [f"{', '.join(looped.targets)} = {kernel}({', '.join(passed)})"]
    if backend == "jax" and _needs_x64(writer):
        call = ["with jax.enable_x64(True):  # float64 stays float64 (JAX's default is float32)",
                f"    {call[0]}"]
    return [*call, "return " + looped.output], module, imports


def _with_op(line: str, ops: dict[str, str]) -> str:
    """A kernel statement with its op named first in its comment (`# dot: (4, 4) float64 ...`):
    what a backend's refusal names."""
    name, eq, rest = line.partition(" = ")
    code, sep, comment = rest.partition("  # ")
    if not eq or not sep or name not in ops:
        return line
    return f"{name} = {code}  # {ops[name]}: {comment}"


def _needs_x64(writer: _Writer) -> bool:
    """True when a value of the specialisation is 64-bit: JAX would compute it in 32 bits."""
    tensors = list(writer.traced.inputs) + [t for t in writer.live if t._op is not None]
    return any(t.dtype.itemsize == 8 for t in tensors) or \
        any(arr.dtype.itemsize == 8 for arr in writer.constants.values())


def _to_numpy(backend: str, name: str, node: Tensor, copy: bool) -> str:
    """The wrapper's text for a kernel result: a writable NumPy array of the eager dtype."""
    if backend == "jax" or copy:
        return f"np.array({name})"
    if node.ndim == 0:
        return f"np.array({name}, dtype=np.{node.dtype.name})"  # numba returns scalars
    return name


def first_call(backend: str, program: Program, namespace: dict[str, Any], args: tuple,
               kwargs: dict) -> Any:
    """Call a new specialisation once: the backend compiles its kernel now, and a call it cannot
    compile is refused by a CompileError naming the op and the user's source line, as is a
    kernel in which numba computes a value in another dtype than eager (a float32 value widened
    by a float64 constant)."""
    function = namespace[program.entry]
    if backend == "numpy":
        return function(*args, **kwargs)
    with warnings.catch_warnings():
        if backend == "numba":  # np.dot on a transposed array: slower, not wrong
            from numba.core.errors import NumbaPerformanceWarning  # noqa: PLC0415
            warnings.simplefilter("ignore", NumbaPerformanceWarning)
        try:
            out = function(*args, **kwargs)
        except Exception as e:
            if type(e).__name__ == "SpecialisationError":
                raise
            raise CompileError(_refusal(backend, program.source, e)) from e
    if backend == "numba" and program.kernel is not None:
        _check_dtypes(namespace[program.kernel], program)
    return out


_TYPED = re.compile(r"^\s*#\s+([A-Za-z_]\w*) = (.*)$", re.M)  # a typed assignment's line
_TYPE = re.compile(r"^\s*(?:array\()?([a-z]+\d*)\b")  # its value's dtype: float32, array(int64


def _typed_values(annotation: str) -> list[tuple[str, str]]:
    """(variable, dtype name) for every assignment in numba's annotated source text."""
    found = []
    for name, rest in _TYPED.findall(annotation):
        if "  :: " not in rest:
            continue
        kind = rest.rsplit("  :: ", 1)[1].rsplit("->", 1)[-1]  # a call's type: its result
        m = _TYPE.match(kind)
        if m:
            found.append((name, m.group(1)))
    return found


def _check_dtypes(dispatcher: Any, program: Program) -> None:
    """Refuse a numba kernel that typed a statement's value with another dtype than eager's:
    its result would differ silently (numba types a bare float constant as float64). Read from
    numba's type annotation, which its disk cache keeps as text."""
    for overload in dispatcher.overloads.values():
        for name, kind in _typed_values(str(overload.type_annotation)):
            want = program.dtypes.get(name)
            try:
                got = np.dtype(kind).name
            except TypeError:
                continue  # not a NumPy scalar type (a tuple, a function)
            if want is not None and got != want[0]:
                raise CompileError(
                    f"compile(backend='numba'): numba computes {name} ({want[1]}) in {got}, "
                    f"where eager gives {want[0]}, so its results would differ; use "
                    "backend='numpy' (or backend='jax') for this function")


def _refusal(backend: str, source: str, error: Exception) -> str:
    """The message for a kernel the backend could not compile: the failing line of the
    generated code, its op and the user's line it came from."""
    lines = source.splitlines()
    numbers = [int(a or b) for a, b in re.findall(r"line (\d+)|\.py \((\d+)\)", str(error))]
    numbers += [f.lineno for f in traceback.extract_tb(error.__traceback__)
                if f.filename.startswith(str(cache_dir()))]
    what = ""
    for n in reversed(numbers):
        if 0 < n <= len(lines) and "  # " in lines[n - 1] and " = " in lines[n - 1]:
            code, _, comment = lines[n - 1].strip().partition("  # ")
            what = f" in `{code}` ({comment})"
            break
    if not what:  # the failing line is in a helper: the op it belongs to
        for n in reversed(numbers):
            above = [line for line in lines[:n] if line.startswith("# ") and
                     ": a helper of the op " in line]
            if 0 < n <= len(lines) and above:
                helper, _, ops = above[-1][2:].partition(": a helper of the op ")
                what = f" ({ops}) in its helper {helper}"
                break
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    m = re.search(r"\(([\w., ]+)\)(?= in its helper)|\(([\w.]+): ", what)
    op = f" the op {m.group(1) or m.group(2)}" if m else " the generated code"
    what = re.sub(r"^ \([\w., ]+\)(?= in its helper)", "", what)
    return (f"compile(backend={backend!r}): {backend} cannot run{op}{what}: {first[:300]}. "
            "Use backend='numpy' for this function")


def cache_dir() -> pathlib.Path:
    """Where kernel modules are written: $AUTOGRAD_NN_CACHE, else $XDG_CACHE_HOME/autograd_nn,
    else ~/.cache/autograd_nn (numba keeps its machine code next to them)."""
    root = os.environ.get("AUTOGRAD_NN_CACHE")
    if root:
        return pathlib.Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "autograd_nn"


def load(backend: str, source: str, entry: str, label: str) -> dict[str, Any]:
    """Run a generated module and return its namespace. A kernel backend's module is a real
    file in `cache_dir()`, named by a hash of its source: numba's on-disk cache then finds it
    again in the next process."""
    if backend == "numpy":
        namespace: dict[str, Any] = {"__name__": f"autograd_nn_compiled_{entry}"}
        exec(builtins.compile(source, label, "exec"), namespace)  # noqa: S102 (our source)
        return namespace
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    folder = cache_dir() / backend
    path = folder / f"compiled_{entry}_{digest}.py"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(source, encoding="utf-8")
            os.replace(temporary, path)  # atomic: another process never reads half a file
    except OSError as e:
        raise CompileError(f"compile(backend={backend!r}): cannot write the generated module to "
                           f"{path} ({e}); set AUTOGRAD_NN_CACHE to a writable folder") from e
    name = f"autograd_nn_compiled_{entry}_{digest}"
    module = sys.modules.get(name)
    if module is None:  # numba's disk cache finds the kernel's globals by the module's name
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return vars(module)
