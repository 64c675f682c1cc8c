"""The reverse-mode engine: primitives, recording a graph, and one generic backward pass.

Every operation is a `Primitive`: a forward on NumPy arrays and one vector-Jacobian rule per input.
`apply` runs a primitive and, when gradients are needed, records the output Tensor's parents.
`backward_pass` walks the recorded graph iteratively (no recursion), in a deterministic topological
order, and calls each rule once per node. Rules receive a backend `B` (see backends.py): NumPy
functions for ordinary first-order gradients, or the differentiable Tensor functions when a nested
`grad` needs the backward pass itself recorded (higher-order derivatives).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .tensor import Tensor

_ndarray = np.ndarray
_new_tensor = Tensor.__new__

# ---------------------------------------------------------------------------------------------
# Global recording state. Plain module globals (read on every op): not thread-local.
# ---------------------------------------------------------------------------------------------
_grad_enabled = True
_anomaly = False
_scope: tuple | None = None  # innermost-last tuple of scope entries (e.g. (name, module)), or None


def is_grad_enabled() -> bool:
    """True when operations record a graph (False inside `no_grad`)."""
    return _grad_enabled


def set_grad_enabled(mode: bool) -> bool:
    """Turn graph recording on or off; returns the previous mode."""
    global _grad_enabled
    prev, _grad_enabled = _grad_enabled, bool(mode)
    return prev


def set_anomaly_enabled(mode: bool) -> bool:
    """Turn anomaly checks (creation sites, NaN/Inf checks) on or off; returns the previous mode."""
    global _anomaly
    prev, _anomaly = _anomaly, bool(mode)
    return prev


def is_anomaly_enabled() -> bool:
    return _anomaly


def push_scope(entry: Any) -> tuple | None:
    """Enter a naming scope (Modules group their ops this way); returns a token for pop_scope."""
    global _scope
    prev = _scope
    _scope = (entry,) if prev is None else prev + (entry,)
    return prev


def pop_scope(token: tuple | None) -> None:
    global _scope
    _scope = token


def current_scope() -> tuple | None:
    return _scope


# ---------------------------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------------------------
class Primitive:
    """One differentiable operation: `forward(*arrays, **params)` and one VJP rule per input.

    A rule has the signature `rule(B, g, ans, *inputs, **params)` and returns the gradient for
    its input. `B` is the backend (NumPy or Tensor functions), `g` the gradient of the output,
    `ans` the output, `inputs` the forward inputs (arrays, or Tensors when recording). The engine
    reduces each result to its input's shape and dtype, so rules may return broadcast shapes.
    A rule of None marks an input as not differentiable. Variadic primitives (concatenate,
    stack) set `vjps = None` and implement `vjp_variadic(B, i, g, ans, *inputs, **params)`.
    """

    __slots__ = ("name", "forward", "vjps", "vjp_variadic", "doc")

    def __init__(
        self,
        name: str,
        forward: Callable[..., np.ndarray],
        vjps: Sequence[Callable | None] | None = None,
        vjp_variadic: Callable | None = None,
        doc: str = "",
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjps = tuple(vjps) if vjps is not None else None
        self.vjp_variadic = vjp_variadic
        self.doc = doc

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


def primitive(name: str, forward: Callable, *vjps: Callable | None, doc: str = "") -> Primitive:
    """Define and register a primitive: its forward and its VJP rules, side by side."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is already defined")
    prim = Primitive(name, forward, vjps, doc=doc)
    PRIMITIVES[name] = prim
    return prim


def variadic_primitive(name: str, forward: Callable, vjp: Callable, doc: str = "") -> Primitive:
    """Define a primitive taking any number of Tensor inputs; `vjp(B, i, g, ans, *inputs)`."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is already defined")
    prim = Primitive(name, forward, None, vjp, doc=doc)
    PRIMITIVES[name] = prim
    return prim


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------
def _describe(args: Iterable) -> str:
    return ", ".join(f"{a.shape} {a.dtype}" for a in args)


def _forward_error(prim: Primitive, args: Sequence[Tensor], params: dict | None, err: Exception):
    detail = str(err).split("\n")[0]
    shown = f" with {params}" if params else ""
    return type(err)(
        f"{prim.name}: cannot apply to inputs of shapes/dtypes ({_describe(args)}){shown}: {detail}"
    )


def _complex_error(prim: Primitive, args: Sequence[Tensor]) -> TypeError:
    return TypeError(
        f"{prim.name}: complex result from inputs ({_describe(args)}) in a graph that needs "
        "gradients; autograd_nn differentiates real floating-point values only"
    )


# apply, apply1 and apply2 set every Tensor slot inline rather than through a shared helper:
# they run once per op, and a helper call plus re-setting slots would cost ~15% of an op's
# Python overhead on small arrays (see benchmarks/).
def apply(prim: Primitive, args: tuple, params: dict | None = None) -> Tensor:
    """Run `prim` on Tensors `args` and record the result in the graph when needed."""
    try:
        if params:
            out = prim.forward(*[a.data for a in args], **params)
        else:
            out = prim.forward(*[a.data for a in args])
    except (ValueError, TypeError, IndexError) as err:
        raise _forward_error(prim, args, params, err) from None
    if out.__class__ is not _ndarray:
        out = np.asarray(out)
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = None
    t.name = None
    if _grad_enabled:
        for a in args:
            if a._rg:
                t._rg = True
                t._op = prim
                t._parents = args
                t._params = params
                t._scope = _scope
                t._where = _record_site(prim, args, out) if _anomaly else None
                if out.dtype.kind == "c":
                    raise _complex_error(prim, args)
                return t
    t._rg = False
    t._op = None
    t._parents = ()
    t._params = None
    t._scope = None
    t._where = None
    if _anomaly:
        _record_site(prim, args, out)
    return t


def apply1(prim: Primitive, a: Tensor) -> Tensor:
    """`apply` for a unary primitive without parameters (the hot path)."""
    out = prim.forward(a.data)
    if out.__class__ is not _ndarray:
        out = np.asarray(out)
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = None
    t.name = None
    t._params = None
    if _grad_enabled and a._rg:
        t._rg = True
        t._op = prim
        t._parents = (a,)
        t._scope = _scope
        t._where = _record_site(prim, (a,), out) if _anomaly else None
        if out.dtype.kind == "c":
            raise _complex_error(prim, (a,))
    else:
        t._rg = False
        t._op = None
        t._parents = ()
        t._scope = None
        t._where = None
        if _anomaly:
            _record_site(prim, (a,), out)
    return t


def apply2(prim: Primitive, a: Tensor, b: Tensor) -> Tensor:
    """`apply` for a binary primitive without parameters (the hot path)."""
    try:
        out = prim.forward(a.data, b.data)
    except (ValueError, TypeError) as err:
        raise _forward_error(prim, (a, b), None, err) from None
    if out.__class__ is not _ndarray:
        out = np.asarray(out)
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = None
    t.name = None
    t._params = None
    if _grad_enabled and (a._rg or b._rg):
        t._rg = True
        t._op = prim
        t._parents = (a, b)
        t._scope = _scope
        t._where = _record_site(prim, (a, b), out) if _anomaly else None
        if out.dtype.kind == "c":
            raise _complex_error(prim, (a, b))
    else:
        t._rg = False
        t._op = None
        t._parents = ()
        t._scope = None
        t._where = None
        if _anomaly:
            _record_site(prim, (a, b), out)
    return t


# ---------------------------------------------------------------------------------------------
# Anomaly mode: where was an op created, and did it produce NaN/Inf?
# ---------------------------------------------------------------------------------------------
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_frame_site() -> str:
    """'file:line in function' of the innermost caller outside this package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


class AnomalyError(FloatingPointError):
    """Raised in anomaly mode at the first NaN or Inf produced by an op (forward or backward)."""


def _nonfinite_summary(arr: np.ndarray) -> str:
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    return f"{n_nan} NaN and {n_inf} Inf of {arr.size} elements"


_recording_backward = False  # True while a backward pass records its rules (higher order)


def _record_site(prim: Primitive, args: Sequence, out: np.ndarray) -> str:
    site = user_frame_site()
    if out.dtype.kind in "fc" and not np.isfinite(out).all():
        phase = (
            "the backward pass (a rule recorded for higher-order gradients)"
            if _recording_backward else "forward"
        )
        raise AnomalyError(
            f"anomaly in {phase} of {prim.name} (inputs {_describe(args)} -> output {out.shape} "
            f"{out.dtype}): {_nonfinite_summary(out)}; the op was created at {site}"
        )
    return site


def _check_backward(node: Tensor, i: int, g: Any) -> None:
    arr = g.data if isinstance(g, Tensor) else g
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        parent = node._parents[i]
        where = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
        value = ""
        if parent.data.shape == arr.shape:
            value = f" where the forward input is {parent.data[where].item()!r}"
        raise AnomalyError(
            f"anomaly in backward of {node._op.name}: the gradient for its input #{i} "
            f"({parent.shape} {parent.dtype}) has {_nonfinite_summary(arr)}, the first at index "
            f"{where}{value}; the op was created at "
            f"{node._where or '<unknown: created outside detect_anomaly>'}"
        )


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------
BACKENDS: tuple = ()  # (array_backend, tensor_backend), bound by autograd_nn.backends on import


class GraphReleasedError(RuntimeError):
    """Backward reached a graph whose buffers were released by an earlier backward."""


def _released_error(node: Tensor) -> GraphReleasedError:
    return GraphReleasedError(
        f"backward through the graph a second time: the {node._op.name} node "
        f"(output {node.shape} {node.dtype}) was released by an earlier backward(). "
        "Pass retain_graph=True to the first backward() to keep the graph, or recompute it."
    )


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor reachable from `roots` through recorded op inputs, each after its inputs.

    Iterative depth-first post-order, so any depth works; deterministic (inputs are visited in
    argument order); tensors keyed by identity. A node whose graph was released by backward()
    appears without its inputs (check `t.graph_released`).
    """
    order: list[Tensor] = []
    done: set[int] = set()
    for root in roots:
        if id(root) in done:
            continue
        done.add(id(root))
        stack = [(root, iter(root._parents or ()))]
        while stack:
            node, inputs = stack[-1]
            for p in inputs:
                if id(p) not in done:
                    done.add(id(p))
                    stack.append((p, iter(p._parents or ())))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _count_consumers(roots: Sequence[Tensor], stop: set[int] | None) -> dict[int, int]:
    """For every node reachable from `roots` that requires grad: how many edges lead into it.

    Iterative depth-first walk; nodes are keyed by identity. Nodes in `stop` are reached but
    not expanded (their gradient is wanted; what lies behind them is not). When some leaf that
    requires grad is not wanted, branches that lead to no wanted tensor are pruned as well.
    """
    counts: dict[int, int] = {}
    stack = []
    stray_leaf = False  # a leaf that requires grad but is not wanted
    for r in roots:
        if id(r) not in counts:
            counts[id(r)] = 0
            stack.append(r)
    while stack:
        node = stack.pop()
        if stop is not None and id(node) in stop:
            continue
        parents = node._parents
        if parents is None:
            raise _released_error(node)
        for p in parents:
            if p._rg:
                pid = id(p)
                c = counts.get(pid)
                if c is None:
                    counts[pid] = 1
                    if p._op is not None:
                        stack.append(p)
                    elif stop is not None and pid not in stop:
                        stray_leaf = True
                else:
                    counts[pid] = c + 1
    if stray_leaf:
        return _count_towards(roots, stop)
    return counts


def _count_towards(roots: Sequence[Tensor], stop: set[int]) -> dict[int, int]:
    """Like `_count_consumers`, restricted to nodes from which a `stop` tensor can be reached.

    Other branches (say, a graph the function closed over) are neither run nor released.
    """
    order: list[Tensor] = []  # post-order: every node after its inputs
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(() if id(root) in stop else root._parents or ()))]
        while stack:
            node, inputs = stack[-1]
            for p in inputs:
                if p._rg and id(p) not in seen:
                    seen.add(id(p))
                    if p._op is not None and p._parents is None and id(p) not in stop:
                        raise _released_error(p)
                    stack.append((p, iter(() if id(p) in stop else p._parents or ())))
                    break
            else:
                stack.pop()
                order.append(node)
    useful: set[int] = set()
    counts: dict[int, int] = {}
    for node in order:
        nid = id(node)
        if nid in stop:
            useful.add(nid)
        elif node._parents and any(id(p) in useful for p in node._parents):
            useful.add(nid)
    for node in order:
        nid = id(node)
        if nid not in useful:
            continue
        counts.setdefault(nid, 0)
        if nid in stop:
            continue
        for p in node._parents:
            if id(p) in useful:
                counts[id(p)] = counts.get(id(p), 0) + 1
    return counts


def _sum_to(x: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back down to `shape` (leading axes, then size-1 axes)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    if lead:
        x = x.reshape(shape)
    return x


def _fit_array(g: Any, p: Tensor, node: Tensor, i: int) -> np.ndarray:
    """The one place where gradients meet their input's shape and dtype (array backend)."""
    if g.__class__ is not _ndarray:
        g = np.asarray(g)
    if g.shape != p.data.shape:
        g = _sum_to(g, p.data.shape)
        if g.shape != p.data.shape:
            raise RuntimeError(
                f"internal error in {node._op.name} backward: gradient for input #{i} has shape "
                f"{g.shape}, expected {p.data.shape}"
            )
    if g.dtype != p.data.dtype:
        g = g.astype(p.data.dtype)
    return g


def _fit_tensor(g: Any, p: Tensor, node: Tensor, i: int) -> Tensor:
    """Like `_fit_array`, with differentiable ops (for higher-order gradients)."""
    from . import functions as F

    if not isinstance(g, Tensor):
        g = Tensor(np.asarray(g))
    if g.shape != p.shape:
        g = F.sum_to(g, p.shape)
        if g.shape != p.shape:
            raise RuntimeError(
                f"internal error in {node._op.name} backward: gradient for input #{i} has shape "
                f"{g.shape}, expected {p.shape}"
            )
    if g.dtype != p.dtype:
        g = F.astype(g, p.dtype)
    return g


def backward_pass(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    *,
    wanted: Sequence[Tensor] | None = None,
    create_graph: bool = False,
    retain_graph: bool = False,
    accumulate: bool = True,
    keep_all: bool = False,
) -> dict[int, Any]:
    """Propagate `seeds` (gradients of `roots`) back through the graph.

    - `wanted`: tensors whose gradients are returned (by id); traversal stops at them.
    - `accumulate`: add gradients into the `.grad` of leaves that require grad.
    - `keep_all`: return the gradient of every node reached (used by graph drawing).
    - `create_graph`: run the rules on Tensors so the result can be differentiated again.
    - `retain_graph`: keep parents so that the graph can be walked again.
    """
    stop = {id(t) for t in wanted} if wanted is not None else None
    counts = _count_consumers(roots, stop)
    grads: dict[int, Any] = {}
    for r, s in zip(roots, seeds, strict=True):
        prev = grads.get(id(r))
        grads[id(r)] = s if prev is None else prev + s
    result: dict[int, Any] = {}

    global _recording_backward
    prev_recording = _recording_backward
    if create_graph:
        B = BACKENDS[1]
        prev_mode = set_grad_enabled(True)
        _recording_backward = True
    else:
        B = BACKENDS[0]
        prev_mode = set_grad_enabled(False)

    ready = [r for r in {id(r): r for r in roots}.values() if counts.get(id(r)) == 0]
    restrict = stop is not None  # only nodes on a path to a wanted tensor are in `counts`
    ready.reverse()
    pop_ready, push_ready = ready.pop, ready.append
    pop_grad, get_grad = grads.pop, grads.get
    anomaly = _anomaly
    collect = keep_all or stop is not None
    try:
        while ready:
            node = pop_ready()
            nid = id(node)
            g = pop_grad(nid)
            if collect and (keep_all or nid in stop):
                result[nid] = g
            prim = node._op
            if prim is None or (stop is not None and nid in stop):
                if accumulate and prim is None:
                    _accumulate_leaf(node, g)
                continue
            parents = node._parents
            if parents is None:
                raise _released_error(node)
            rules = prim.vjps
            params = node._params
            if create_graph:
                ins, ans = parents, node
            elif len(parents) == 1:
                ins, ans = (parents[0].data,), node.data
            else:
                ins, ans = [p.data for p in parents], node.data
            for i in range(len(parents)):
                p = parents[i]
                if not p._rg or (restrict and id(p) not in counts):
                    continue
                if rules is None:
                    gi = prim.vjp_variadic(B, i, g, ans, *ins, **params)
                elif rules[i] is None:
                    continue
                elif params:
                    gi = rules[i](B, g, ans, *ins, **params)
                else:
                    gi = rules[i](B, g, ans, *ins)
                if create_graph:
                    gi = _fit_tensor(gi, p, node, i)
                else:
                    pdata = p.data
                    if (gi.__class__ is not _ndarray or gi.shape != pdata.shape
                            or gi.dtype is not pdata.dtype):
                        gi = _fit_array(gi, p, node, i)
                if anomaly:
                    _check_backward(node, i, gi)
                pid = id(p)
                prev = get_grad(pid)
                if prev is None:
                    grads[pid] = gi
                else:
                    gi = prev + gi
                    # 0-d arrays add up to NumPy scalars; keep rules and results on ndarrays
                    grads[pid] = gi if create_graph or gi.__class__ is _ndarray else np.asarray(gi)
                c = counts[pid] - 1
                counts[pid] = c
                if not c:
                    push_ready(p)
            if not retain_graph:
                node._parents = None
    finally:
        set_grad_enabled(prev_mode)
        _recording_backward = prev_recording
    return result


def _accumulate_leaf(leaf: Tensor, g: Any) -> None:
    if isinstance(g, Tensor):
        g = g.data
    # A fresh array: never alias one that another node or the caller may hold. (Sums of 0-d
    # arrays come back as NumPy scalars, hence np.array / np.asarray.)
    leaf.grad = np.array(g) if leaf.grad is None else np.asarray(leaf.grad + g)


def check_root(root: Tensor, grad: Any, where: str) -> np.ndarray:
    """Validate a backward root and its seed gradient; returns the seed as an array."""
    if not isinstance(root, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(root).__name__}")
    if not root._rg:
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
            f"{where}: grad has shape {grad.shape} but the tensor has shape {root.shape}"
        )
    if grad.dtype != root.dtype:
        grad = grad.astype(root.dtype)
    return grad


from . import tensor as _tensor_module  # noqa: E402

_tensor_module._engine = sys.modules[__name__]  # Tensor.backward calls into this module
