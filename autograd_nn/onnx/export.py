"""`export(fn_or_model, example_args, path)`: the graph `ag.compile` traces, as an ONNX model.

The function runs once under the compiler's trace (compiler/trace.py); every recorded op that
depends on an argument becomes ONNX nodes (ops.FORMS), everything else (a Module's parameters,
constants, values computed from them alone) becomes an initializer holding its traced value.
Arguments become the graph's inputs with their traced shapes and dtypes, output leaves its
outputs. A gradient taken inside the function was recorded as ops too, so a training step
(forward, backward, update) exports as one graph mapping parameters to new parameters.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..compiler import Compiled
from ..compiler.trace import _DATA, _leaf_names, run
from ..core import engine
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.iterate import Iterate
from .ops import FORMS

DEFAULT_OPSET = 18
# forms that read an index array in their parameters as a value of the graph
_PARAM_ARRAYS_OK = {"scatter_add", "getitem"}


class OnnxExportError(ValueError):
    """The function cannot be written as ONNX (the message names the op, its line and why)."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("ag.onnx.export needs the onnx package: pip install "
                          "'autograd_nn[onnx]' (or pip install onnx)") from None
    return onnx


def _identifier(text: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "_." else "_" for c in text) or "value"
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _site(site: str | None, prefix: str) -> str:
    """`prefix + site` for a place in a real file; '' for none or a pseudo-file such as
    `<frozen runpy>` (a Module's forward called by the library under `python -m`): no place
    beats a wrong one."""
    if not site or re.search(r"<[^>]*>:\d+", site):
        return ""
    return prefix + site


def _place(t: Tensor, prefix: str = " at ") -> str:
    """Where the op `t` was recorded, as `prefix` + file:line, or ''."""
    return _site(t._where, prefix)


class GraphBuilder:
    """ONNX nodes, initializers and value names for one traced graph (what ops.FORMS call)."""

    def __init__(self, onnx: Any, traced: Any, fn_name: str) -> None:
        self.onnx = onnx
        self.traced = traced
        self.trace = traced.trace
        self.fn_name = fn_name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.taken: set[str] = set()
        self.names: dict[int, str] = {}  # id(tensor) -> its value's name (inputs, computed)
        self.converted: dict[tuple, str] = {}  # (id(tensor), dtype) -> a constant or a Cast
        self.current: Tensor | None = None

    # --- what forms use ------------------------------------------------------------------
    def onnx_type(self, dtype: np.dtype) -> int:
        try:
            return self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        except (KeyError, ValueError, TypeError):
            raise OnnxExportError(f"onnx.export of {self.fn_name}: dtype {dtype} has no ONNX "
                                  "type") from None

    def node(self, op: str, inputs: Iterable[str], **attrs: Any) -> str:
        """Append one ONNX node; returns its output's name."""
        hint = self.current._op.name if self.current is not None else op.lower()
        out = _identifier(hint, self.taken)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], **attrs))
        return out

    def fresh(self, hint: str) -> str:
        """A new value name."""
        return _identifier(hint, self.taken)

    def constant(self, arr: np.ndarray, hint: str = "const") -> str:
        """An initializer holding `arr` (native byte order)."""
        arr = np.asarray(arr)
        name = _identifier(hint, self.taken)
        if arr.dtype.kind not in "biuf":
            raise OnnxExportError(f"onnx.export of {self.fn_name}: a constant of dtype "
                                  f"{arr.dtype} has no ONNX form")
        arr = np.ascontiguousarray(arr).reshape(arr.shape)
        self.initializers.append(self.onnx.numpy_helper.from_array(
            arr.astype(arr.dtype.newbyteorder("=")), name))
        return name

    def reshape(self, x: str, shape: tuple) -> str:
        return self.node("Reshape", [x, self.constant(np.asarray(shape, np.int64), "shape")])

    def depends(self, t: Tensor) -> bool:
        return id(t) in self.names

    def value(self, t: Tensor, dtype: Any) -> str:
        """The name of `t`'s value in `dtype` (None: its own): a computed value (cast when its
        dtype differs) or a constant from the traced value."""
        dtype = t.dtype if dtype is None else np.dtype(dtype)
        key = (id(t), dtype.str)
        if key in self.converted:
            return self.converted[key]
        if self.depends(t):
            name = self.names[id(t)]
            if dtype != t.dtype:
                name = self.node("Cast", [name], to=self.onnx_type(dtype))
        else:
            name = self.constant(np.asarray(t.data).astype(dtype), t.name or "const")
        self.converted[key] = name
        return name

    def inputs(self, t: Tensor, dtype: Any, only: Iterable[int] | None = None) -> list[str]:
        """The names of `t`'s parents' values (those at `only`), each in `dtype`."""
        picks = range(len(t._parents)) if only is None else only
        return [self.value(t._parents[i], dtype) for i in picks]

    def common_dtype(self, t: Tensor) -> np.dtype:
        """The dtype a comparison computes in: its computed inputs' (constants follow them)."""
        computed = [p.dtype for p in t._parents if self.depends(p)]
        return np.result_type(*(computed or [p.dtype for p in t._parents]))

    def array_value(self, arr: np.ndarray) -> str | None:
        """The value name for an array in an op's parameters that is an argument's or a
        computed value's (or a reshaping view of one); None for a constant array."""
        probe, node = arr, None
        while isinstance(probe, np.ndarray) and node is None:
            node = self.trace.value_of(probe)
            probe = probe.base if node is None else probe
        if node is None:
            if self.trace.holds_input(arr):
                raise OnnxExportError(
                    f"onnx.export of {self.fn_name}: the op {self.current._op.name} "
                    f"{_place(self.current)} holds an index computed from the arguments "
                    "in a form the export cannot follow; pass the index as an argument")
            return None
        self.emit(node)
        name = self.names[id(node)]
        if arr.shape == node.shape:
            return name
        same_memory = arr.size == node.size and arr.flags.c_contiguous and \
            node.data.flags.c_contiguous and \
            arr.__array_interface__["data"][0] == node.data.__array_interface__["data"][0]
        if not same_memory:
            raise OnnxExportError(
                f"onnx.export of {self.fn_name}: the op {self.current._op.name}"
                f"{_place(self.current)} holds a strided view of a traced value as an "
                "index; pass the index as an argument")
        return self.reshape(name, arr.shape)

    def refuse(self, t: Tensor, why: str) -> None:
        raise OnnxExportError(
            f"onnx.export of {self.fn_name}: the op {t._op.name} ({why})"
            f"{_place(t, ', at ')}{',' if _place(t) else ''} has no ONNX form here; write it "
            "with other ops, or export the part of the function before it")

    # --- the walk ---------------------------------------------------------------------------
    def emit(self, *roots: Tensor) -> None:
        """ONNX nodes for every op `roots` need that depends on an argument (inputs first)."""
        for t in engine.walk(list(roots)):
            if id(t) in self.names:
                continue
            if t._op is None:
                self.follow_alias(t)
                continue
            holds = t._params is not None and self.trace.holds_input(t._params)
            if not holds and not any(self.depends(p) for p in t._parents):
                continue  # computed from constants alone: its traced value is a constant
            if holds and t._op.name not in _PARAM_ARRAYS_OK:
                self.refuse(t, "an index or parameter computed from the arguments")
            form = FORMS.get(t._op.name)
            if form is None:
                self.refuse(t, f"row {t._op.name!r} has no ONNX form yet")
            outer, self.current = self.current, t
            self.names[id(t)] = form(self, t)
            self.current = outer

    def output_tensor(self, leaf: Any) -> Tensor:
        """One returned leaf as a Tensor: an array not computed from the arguments is a
        constant output (an initializer); a number or None is refused by name."""
        if isinstance(leaf, Tensor):
            return leaf
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf":
            node = self.trace.value_of(leaf)
            if node is not None:
                return node
            if self.trace.holds_input(leaf):
                raise OnnxExportError(
                    f"onnx.export of {self.fn_name}: it returns an array that views an "
                    "argument's values outside ag ops; return a Tensor computed with ag ops")
            return Tensor(leaf)  # a constant output, not computed from the inputs
        raise OnnxExportError(
            f"onnx.export of {self.fn_name}: it must return Tensors or arrays (a tree of them); "
            f"it returns a {type(leaf).__name__} ({leaf!r:.40}), which has no ONNX output")

    def follow_alias(self, t: Tensor) -> None:
        """A leaf holding a traced value's very array (`x.detach()`, a gradient a grad handed
        back, a value computed under no_grad) is that value: an Identity of it, not a constant
        (only its gradient stopped)."""
        alias = self.trace.value_of(_DATA.__get__(t, Tensor))
        if alias is None or alias is t:
            return
        self.emit(alias)
        if id(alias) in self.names:
            self.names[id(t)] = self.node("Identity", [self.names[id(alias)]])

    def build(self, opset: int) -> Any:
        onnx, helper = self.onnx, self.onnx.helper
        traced = self.traced
        graph_inputs = []
        for t, name in zip(traced.inputs, traced.input_names, strict=True):
            self.names[id(t)] = _identifier(name, self.taken)
            graph_inputs.append(helper.make_tensor_value_info(
                self.names[id(t)], self.onnx_type(t.dtype), list(t.shape)))
        roots = [self.output_tensor(x) for x in traced.output_leaves]
        if not roots:
            raise OnnxExportError(f"onnx.export of {self.fn_name}: it returns no Tensor or "
                                  "array, so the ONNX graph would have no output")
        self.emit(*roots)
        outputs = []
        names = _leaf_names(traced.outputs, "output")
        for t, name in zip(roots, names, strict=True):
            if name in self.taken:  # a params dict mapped to new params: new_weights1
                name = f"new_{name}"
            name = _identifier(name, self.taken)
            self.nodes.append(helper.make_node("Identity", [self.value(t, None)], [name]))
            outputs.append(helper.make_tensor_value_info(name, self.onnx_type(t.dtype),
                                                         list(t.shape)))
        graph = helper.make_graph(self.nodes, self.fn_name, graph_inputs, outputs,
                                  self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="autograd_nn")
        model.ir_version = min(model.ir_version, 10)
        onnx.checker.check_model(model, full_check=True)
        return model


def _target(fn: Any) -> tuple[Callable, str, list[str]]:
    """The function to trace, its name and its positional argument names."""
    if isinstance(fn, Compiled):
        fn = fn.fn
    if isinstance(fn, Iterate):
        raise OnnxExportError("onnx.export: an ag.iterate loop has no ONNX form here; export "
                              "its step function (one step maps state to new state)")
    if not callable(fn):
        raise TypeError(f"onnx.export: expected a function or Module, got {type(fn).__name__}")
    name = getattr(fn, "__name__", None) or type(fn).__name__
    try:
        target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "named_modules") else fn
        params = inspect.signature(target).parameters.values()
        arg_names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        arg_names = []
    return fn, name, arg_names


def _example_inputs(args: tuple, names: list[str], fn_name: str) -> tuple:
    """The example arguments as the trace takes them: a NumPy scalar (np.float32(1.0)) becomes
    a 0-d input of its dtype; a Python number is refused by name, as one graph cannot follow
    its value and baking it in silently would ignore a different one."""
    out = []
    for arg, name in zip(args, names, strict=True):
        leaves, rebuild = tree_flatten(arg)
        fixed = []
        for leaf in leaves:
            if isinstance(leaf, np.generic) and leaf.dtype.kind in "biufc":
                leaf = np.asarray(leaf)
            elif isinstance(leaf, (bool, int, float, complex)):
                raise OnnxExportError(
                    f"onnx.export of {fn_name}: the example argument {name} holds a Python "
                    f"{type(leaf).__name__} ({leaf!r}); an ONNX graph would bake it in as a "
                    f"constant. Pass np.asarray({leaf!r}, dtype) to make it a 0-d input, or "
                    "close over it (a lambda or functools.partial) to make it a constant")
            fixed.append(leaf)
        out.append(rebuild(fixed))
    return tuple(out)


def export(fn: Any, example_args: Any, path: str | os.PathLike | None = None, *,
           opset: int = DEFAULT_OPSET) -> Any:
    """Trace `fn` (a function, a Module or an `ag.compile`d function) on `example_args` (a tuple
    of arguments, or one array) and write its graph as an ONNX model to `path`; returns the
    onnx.ModelProto. Shapes and dtypes are those of the examples; an op without an ONNX form
    and a value the function reads from a traced Tensor are refused by name."""
    onnx = _onnx()
    args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (example_args,)
    fn, name, arg_names = _target(fn)
    names = arg_names + [f"arg{i}" for i in range(len(arg_names), len(args))]
    args = _example_inputs(args, names[:len(args)], name)
    from ..compiler import _TRACING
    with _TRACING:
        traced = run(fn, args, {}, names)
    if traced.trace.guards:
        guard = traced.trace.guards[0]
        raise OnnxExportError(
            f"onnx.export of {name}: the function reads a traced value ({guard.how})"
            f"{_site(guard.site, ' at ')}; an ONNX graph cannot branch on it. Compute it with "
            "ag ops")
    model = GraphBuilder(onnx, traced, name).build(opset)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
