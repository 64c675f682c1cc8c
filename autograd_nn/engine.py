"""The reverse-mode engine: one graph walk, and one backward pass that returns gradients.

`walk` lists the nodes behind some roots, each after its inputs (iterative, so any depth works).
`backward` runs every node's vector-Jacobian rules once, in reverse walk order, and returns the
gradients; its callers decide what to do with them (`Tensor.backward` adds them into leaves'
`.grad`, `grad` returns them, pictures and `explain` show every node's). Rules run on arrays for
ordinary gradients; with `create_graph=True` they run on Tensors and are recorded, which is how
`grad(grad(f))` works with one set of rules. Nodes are anything with the Tensor's graph slots.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import levels, state
from .ops.registry import prims, sum_to_shape
from .saved import check as check_saved
from .state import thread

_ndarray = np.ndarray


class GraphReleasedError(RuntimeError):
    """Backward reached a graph whose links were released by an earlier backward."""


class AnomalyError(FloatingPointError):
    """Raised in anomaly mode at the first NaN or Inf produced by an op (forward or backward)."""


def _released_error(node: Any) -> GraphReleasedError:
    return GraphReleasedError(
        f"backward through the graph a second time: the {node._op.name} node "
        f"(output {node.data.shape} {node.data.dtype}) was released by an earlier backward(). "
        "Pass retain_graph=True to the first backward() to keep the graph, or recompute it."
    )


# ---------------------------------------------------------------------------------------------
# The one graph walk: count the edges into every node, then list nodes consumers-first (Kahn)
# ---------------------------------------------------------------------------------------------
def _count_consumers(roots: Sequence[Any], needs_grad: bool,
                     stop: set[int] | None) -> tuple[dict[int, int], bool]:
    """How many recorded edges lead into each node reachable from `roots` (iterative; nodes
    keyed by identity), and whether a leaf that requires grad lies outside `stop`. With
    `needs_grad`, only nodes that require grad count and a released node raises."""
    counts: dict[int, int] = {}
    stack = []
    stray = False
    for r in roots:
        if id(r) not in counts:
            counts[id(r)] = 0
            stack.append(r)
    while stack:
        node = stack.pop()
        parents = node._parents
        if parents is None:
            if needs_grad and node._op is not None:
                raise _released_error(node)
            continue
        if stop is not None and id(node) in stop:
            continue
        for p in parents:
            if needs_grad and not p._needs_grad:
                continue
            pid = id(p)
            c = counts.get(pid)
            if c is None:
                counts[pid] = 1
                if p._op is not None:
                    stack.append(p)
                elif stop is not None and pid not in stop:
                    stray = True
            else:
                counts[pid] = c + 1
    return counts, stray


def _ready_roots(roots: Sequence[Any], counts: dict[int, int]) -> list[Any]:
    """The roots no other root consumes, as a stack that pops them in argument order."""
    ready = [r for r in {id(r): r for r in roots}.values() if counts.get(id(r)) == 0]
    ready.reverse()
    return ready


def walk(roots: Sequence[Any], *, needs_grad: bool = False,
         stop: set[int] | None = None) -> list[Any]:
    """Every node reachable from `roots`, each after its inputs; deterministic (inputs in
    argument order). With `needs_grad`, only nodes that require grad, not expanding nodes in
    `stop`; otherwise a released node appears without its inputs. (`backward` runs the same
    consumers-first order inline, propagating gradients as it goes.)"""
    counts, _ = _count_consumers(roots, needs_grad, stop)
    order: list[Any] = []
    ready = _ready_roots(roots, counts)
    while ready:
        node = ready.pop()
        order.append(node)
        if stop is not None and id(node) in stop:
            continue
        for p in node._parents or ():
            c = counts.get(id(p))
            if c is not None:
                counts[id(p)] = c - 1
                if c == 1:
                    ready.append(p)
    order.reverse()
    return order


def topological_order(roots: Sequence[Any]) -> list[Any]:
    """Every tensor behind `roots`, each after its inputs; released nodes appear without inputs."""
    return walk(roots)


def _towards(order: list[Any], stop: set[int]) -> set[int]:
    """The nodes of `order` (inputs first) from which a `stop` node can be reached."""
    useful: set[int] = set()
    for node in order:
        nid = id(node)
        if nid in stop:
            useful.add(nid)
            continue
        for p in node._parents or ():
            if id(p) in useful:
                useful.add(nid)
                break
    return useful


# ---------------------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------------------
def backward(
    roots: Sequence[Any],
    seeds: Sequence[Any],
    wanted: Sequence[Any] | None = None,
    *,
    every_node: bool = False,
    create_graph: bool = False,
    retain_graph: bool = False,
) -> dict[int, tuple[Any, Any]]:
    """Propagate `seeds` (the gradients of `roots`) back through the graph.

    Returns `{id(t): (t, gradient)}` for the `wanted` tensors that were reached (default: every
    leaf that requires grad; with `every_node`, every node reached). The walk stops at wanted
    tensors and skips branches that lead to none. Each node's incoming gradient is dropped as
    soon as it has been propagated, and its links are released unless `retain_graph`.
    """
    stop = None if wanted is None else {id(t) for t in wanted}
    counts, stray = _count_consumers(roots, True, stop)
    useful = None
    if stray:  # prune the branches that lead to no wanted tensor (a closed-over graph, say)
        useful = _towards(walk(roots, needs_grad=True, stop=stop), stop)
    grads: dict[int, Any] = {}
    for r, s in zip(roots, seeds, strict=True):
        prev = grads.get(id(r))
        grads[id(r)] = s if prev is None else prev + s
    found: dict[int, tuple[Any, Any]] = {}
    # inside vmap (or jvp) the rules run on Tensors, so that they run on the batch (recorded
    # only with create_graph)
    m = thread.modes  # (inside jvp too: the rules' tangents are pushed like any op's)
    on_tensors = create_graph or m.batching is not None or m.forward is not None
    # inside vmap, an op recorded outside it needs only its (batched) gradient as a Tensor:
    # its own values stay arrays, so the rule's arithmetic on them is plain NumPy
    values_as_tensors = create_graph or m.forward is not None
    saved_grad = state.set_grad_enabled(create_graph)
    saved_recording = state.set_recording_backward(create_graph)
    anomaly = m.anomaly
    trace = m.tracing if create_graph else None  # ag.compile names the gradients
    pop, get = grads.pop, grads.get
    # the consumers-first order of `walk`, run inline: a node's gradient is complete once every
    # consumer has been processed
    ready = _ready_roots(roots, counts)
    try:
        while ready:
            node = ready.pop()
            nid = id(node)
            g = pop(nid, None)
            if node._hooks and g is not None:
                g = _run_hooks(node, g, on_tensors)
            if trace is not None and g is not None:
                trace.gradient(node, g)
            prim = node._op
            if prim is None or (stop is not None and nid in stop):
                if g is not None and (every_node or stop is None or nid in stop):
                    found[nid] = (node, g)
                continue
            if every_node and g is not None:
                found[nid] = (node, g)
            parents = node._parents
            saved = node._saved
            if saved is not None:
                check_saved(saved, node)  # nothing it reads was overwritten since
            if on_tensors and (values_as_tensors or node._levels is not None):
                ins, ans = parents, node
            elif saved is not None:  # the arrays the forward saw
                ins, ans = saved[0], node.data
            elif len(parents) == 1:
                ins, ans = (parents[0].data,), node.data
            else:
                ins, ans = [p.data for p in parents], node.data
            params = node._params
            rules = prim.vjps
            variadic = prim.variadic
            batched = None
            if node._levels is not None and g is not None:  # recorded inside vmap
                batched = levels.node_gradients(node, g, on_tensors)
            for i, p in enumerate(parents):
                if not p._needs_grad:
                    continue
                pid = id(p)
                c = counts.get(pid)
                if c is None or (useful is not None and pid not in useful):
                    continue  # leads to no wanted tensor (or lies behind one)
                counts[pid] = c - 1
                if g is not None:
                    if batched is not None:
                        gi = batched[i]
                    elif variadic:
                        gi = rules[0](i, g, ans, *ins, **params)
                    elif rules[i] is None:
                        gi = None
                    elif params:
                        gi = rules[i](g, ans, *ins, **params)
                    else:
                        gi = rules[i](g, ans, *ins)
                    if gi is not None:
                        data = p.data
                        if (on_tensors or gi.__class__ is not _ndarray
                                or gi.shape != data.shape or gi.dtype is not data.dtype):
                            gi = _fit(gi, p, node, i, on_tensors)
                        if anomaly:
                            _check_backward(node, i, gi)
                        prev = get(pid)
                        if prev is None:
                            grads[pid] = gi
                        else:
                            total = prev + gi
                            # 0-d arrays add up to NumPy scalars; keep results on ndarrays
                            grads[pid] = (np.asarray(total) if isinstance(total, np.generic)
                                          else total)
                if c == 1:
                    ready.append(p)
            if not retain_graph:
                node._parents = node._saved = None
    finally:
        state.set_grad_enabled(saved_grad)
        state.set_recording_backward(saved_recording)
    return found


RETAIN = object()  # in a tensor's hooks: keep its gradient in .grad (Tensor.retain_grad)


def _run_hooks(node: Any, g: Any, create_graph: bool) -> Any:
    """A tensor's hooks, in order, on its complete gradient; each may return a replacement.
    A retained gradient is the one after every hook (as in PyTorch)."""
    hooks = list(node._hooks)
    for hook in hooks:
        if hook is RETAIN:
            continue
        out = hook(g)
        if out is None:
            continue
        if hasattr(out, "_apply_primitive") and not create_graph:
            out = out.data
        elif not hasattr(out, "_apply_primitive"):
            out = np.asarray(out)
            if create_graph:
                out = g.__class__(out)
        if out.shape != g.shape:
            raise ValueError(
                f"a hook on a tensor of shape {node.data.shape} returned a gradient of shape "
                f"{out.shape}; a hook must return None or a gradient of the tensor's shape")
        if out.dtype != node.data.dtype:
            out = out.astype(node.data.dtype)
        g = out
    if RETAIN in hooks:
        value = g.data if hasattr(g, "_apply_primitive") else g
        node.grad = np.array(value) if node.grad is None else node.grad + value
    return g


def _fit(g: Any, p: Any, node: Any, i: int, create_graph: bool) -> Any:
    """The one place where a gradient meets its input's shape and dtype."""
    data = p.data
    if not create_graph or not hasattr(g, "_apply_primitive"):
        if g.__class__ is not _ndarray:
            g = np.asarray(g)
        if g.shape != data.shape:
            g = sum_to_shape(g, data.shape)
        if g.dtype is not data.dtype and g.dtype != data.dtype:
            g = g.astype(data.dtype)
    else:  # recorded, and inside vmap: shapes are one example's
        if g.shape != p.shape:
            g = prims.sum_to(g, shape=p.shape)
        if g.dtype != data.dtype:
            g = prims.astype(g, dtype=data.dtype)
        if g.shape != p.shape:
            raise RuntimeError(
                f"internal error in {node._op.name} backward: gradient for input #{i} has "
                f"shape {g.shape}, expected {p.shape}")
        return g
    if g.shape != data.shape:
        raise RuntimeError(
            f"internal error in {node._op.name} backward: gradient for input #{i} has shape "
            f"{g.shape}, expected {data.shape}"
        )
    return g


# ---------------------------------------------------------------------------------------------
# Anomaly mode: where was an op created, and did it produce NaN/Inf?
# ---------------------------------------------------------------------------------------------
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_COURSE_DIR = os.path.join(_PACKAGE_DIR, "tutorials")  # course material is user code here


def user_frame_site() -> str:
    """'file:line in function' of the innermost caller outside the library."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep) or \
                filename.startswith(_COURSE_DIR + os.sep):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "<unknown>"


def describe(arrays: Iterable[Any]) -> str:
    """'(3, 4) float64, (4,) float32' for the inputs of an op (arrays or Tensors)."""
    return ", ".join(f"{a.shape} {a.dtype}" for a in arrays)


def _nonfinite_summary(arr: np.ndarray) -> str:
    n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    return f"{n_nan} NaN and {n_inf} Inf of {arr.size} elements"


def record_site(prim: Any, args: Sequence[Any], out: np.ndarray) -> str:
    """The creation site of an op in anomaly mode; raises AnomalyError on a NaN/Inf output."""
    site = user_frame_site()
    if out.dtype.kind in "fc" and not np.isfinite(out).all():
        phase = ("the backward pass (a rule recorded for higher-order gradients)"
                 if thread.modes.recording_backward else "forward")
        raise AnomalyError(
            f"anomaly in {phase} of {prim.name} (inputs {describe(args)} -> output {out.shape} "
            f"{out.dtype}): {_nonfinite_summary(out)}; the op was created at {site}"
        )
    return site


def _check_backward(node: Any, i: int, g: Any) -> None:
    arr = g.data if hasattr(g, "_apply_primitive") else g
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        parent = node._parents[i]
        where = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
        value = ""
        if parent.data.shape == arr.shape:
            value = f" where the forward input is {parent.data[where].item()!r}"
        raise AnomalyError(
            f"anomaly in backward of {node._op.name}: the gradient for its input #{i} "
            f"({parent.data.shape} {parent.data.dtype}) has {_nonfinite_summary(arr)}, the first "
            f"at index {where}{value}; the op was created at "
            f"{node._where or '<unknown: created outside detect_anomaly>'}"
        )
