"""The reverse-mode engine: one graph walk, and one backward pass that returns gradients.

`walk` lists the nodes behind some roots, each after its inputs (iterative, so any depth works).
`backward` completes each node's gradient in reverse walk order and hands it to `pullback`, the
one function that applies a row's vector-Jacobian rules (the graph tools use it too); its
callers decide what to do with the gradients (`Tensor.backward` adds them into leaves' `.grad`,
`grad` returns them, pictures and `explain` show every node's). Rules run on the arrays the
forward saw for ordinary gradients; with `create_graph=True` they run on Tensors and are
recorded, which is how `grad(grad(f))` works with one set of rules. Transforms reach the
backward pass only through the layers of state.py. Nodes are anything with the Tensor's slots.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from .ops.registry import prims, sum_to_shape
from .saved import check as check_saved
from .state import Batching, thread

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
def _count_consumers(roots: Sequence[Any], needs_grad: bool, stop: set[int] | None,
                     kept: bool = False) -> tuple[dict[int, int], bool]:
    """How many recorded edges lead into each node reachable from `roots` (iterative; nodes
    keyed by identity), and whether a leaf that requires grad lies outside `stop`. With
    `needs_grad`, only nodes that require grad count and a released node raises; with `kept`,
    a released node's kept structure (`keep_structure`) is followed."""
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
            if not kept or (parents := kept_links(node)) is None:
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
         stop: set[int] | None = None, kept: bool = False) -> list[Any]:
    """Every node reachable from `roots`, each after its inputs; deterministic (inputs in
    argument order). With `needs_grad`, only nodes that require grad, not expanding nodes in
    `stop`; otherwise a released node appears without its inputs, or with `kept` with the
    inputs `keep_structure` kept for pictures. (`backward` runs the same consumers-first
    order inline, propagating gradients as it goes.)"""
    counts, _ = _count_consumers(roots, needs_grad, stop, kept)
    order: list[Any] = []
    ready = _ready_roots(roots, counts)
    while ready:
        node = ready.pop()
        order.append(node)
        if stop is not None and id(node) in stop:
            continue
        parents = node._parents
        if parents is None and kept:
            parents = kept_links(node)
        for p in parents or ():
            c = counts.get(id(p))
            if c is not None:
                counts[id(p)] = c - 1
                if c == 1:
                    ready.append(p)
    order.reverse()
    return order


def _plan(roots: Sequence[Any], stop: set[int] | None) -> tuple[dict[int, int], set | None]:
    """The consumer count of every node the backward pass visits, and (when some branch leads
    to no wanted tensor, a closed-over graph say) the nodes that do lead to one."""
    counts, stray = _count_consumers(roots, True, stop)
    if not stray:
        return counts, None
    return counts, _towards(walk(roots, needs_grad=True, stop=stop), stop)


def topological_order(roots: Sequence[Any], kept: bool = False) -> list[Any]:
    """Every tensor behind `roots`, each after its inputs; released nodes appear without inputs
    (with `kept`, with the inputs `keep_structure` kept)."""
    return walk(roots, kept=kept)


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
# What a released graph keeps for pictures
# ---------------------------------------------------------------------------------------------
KEEP_NODES = 2_000  # a graph this small (nodes that need grad) keeps its structure after
KEEP_BYTES = 16 * 2**20  # backward() when its nodes' values total at most this many bytes


def kept_links(node: Any) -> tuple | None:
    """The inputs of a released node, kept so that a picture drawn after `backward()` shows the
    graph's structure (None when not kept: retain_graph, a large graph, or a later backward)."""
    return getattr(node, "_kept", None)


def links(node: Any) -> tuple:
    """A node's inputs as a picture shows them: recorded, or kept after `backward()`."""
    return node._parents or kept_links(node) or ()


def keep_structure(root: Any) -> None:
    """Let this thread's most recent `Tensor.backward()` root keep its released graph's links.

    `backward(keep=True)` releases the saved arrays as usual but leaves each node's inputs in
    `_kept`, which costs nothing extra until then: the values of that one graph stay alive
    while its root does. The previous root's kept links are dropped when it is replaced here
    or when its thread ends, so a training loop that keeps every loss (for a curve) holds one
    graph, not one per step.
    """
    modes = thread.modes
    held = modes.kept_graph
    if held is not None and held.root() is root:
        return
    modes.kept_graph = _KeptGraph(root) if kept_links(root) is not None else None  # frees held


class _KeptGraph:
    """A thread's kept graph: its links are dropped when this is replaced or the thread ends."""

    __slots__ = ("root",)

    def __init__(self, root: Any) -> None:
        self.root = weakref.ref(root)  # a dropped loss frees its graph as usual

    def __del__(self) -> None:
        root = self.root()
        if root is not None:
            drop_structure([root])


def drop_structure(roots: Sequence[Any]) -> None:
    """Forget the links a released graph kept (iterative; each node once)."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        links = kept_links(node)
        if links is not None:
            del node._kept
            stack.extend(links)


# ---------------------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------------------
def backward(roots: Sequence[Any], seeds: Sequence[Any], wanted: Sequence[Any] | None = None, *,
             every_node: bool = False, create_graph: bool = False, retain_graph: bool = False,
             hooks: bool = True, keep: bool = False) -> dict[int, tuple[Any, Any]]:
    """Propagate `seeds` (the gradients of `roots`) back through the graph.

    Returns `{id(t): (t, gradient)}` for the `wanted` tensors that were reached (default: every
    leaf that requires grad; with `every_node`, every node reached). The walk stops at wanted
    tensors and skips branches that lead to none. Each node's incoming gradient is dropped as
    soon as it has been propagated, and its links are released unless `retain_graph` (with
    `keep`, a small graph's links are kept for pictures: `keep_structure`). With `hooks=False`
    (the read-only tools) no tensor hook runs and no `.grad` is written.
    """
    stop = None if wanted is None else {id(t) for t in wanted}
    counts, useful = _plan(roots, stop)
    keep, kept_bytes = keep and not retain_graph and len(counts) <= KEEP_NODES, 0
    grads: dict[int, Any] = {}
    for r, s in zip(roots, seeds, strict=True):
        grads[id(r)] = _total(grads.get(id(r)), s)
    found: dict[int, tuple[Any, Any]] = {}
    m = thread.modes
    layers, values_as_tensors = m.layers, create_graph or m.tensors_in_backward
    before = m.grad_enabled, m.recording_backward, m.in_backward
    m.grad_enabled = m.recording_backward = create_graph
    m.in_backward = True
    ready = _ready_roots(roots, counts)
    try:
        while ready:  # consumers first: a node's gradient is complete when it is popped
            node = ready.pop()
            nid = id(node)
            g = grads.pop(nid, None)
            op = node._op
            if g is not None:
                if hooks and node._hooks:
                    g = _run_hooks(node, g)
                if layers is not None:
                    for entry in layers:
                        entry.backward_gradient(node, g)
                if every_node or (op is None if stop is None else nid in stop):
                    found[nid] = (node, g)
            if op is None or (stop is not None and nid in stop):
                continue
            saved, parents = node._saved, node._parents  # in this order: see release below
            if parents is None:  # another backward (maybe in another thread) released it
                raise _released_error(node)
            sent = None if g is None else pullback(node, g, values_as_tensors, saved, parents,
                                                   layers)
            for i, p in enumerate(parents):
                if not p._needs_grad:
                    continue
                pid = id(p)
                c = counts.get(pid)
                if c is None or (useful is not None and pid not in useful):
                    continue  # leads to no wanted tensor
                counts[pid] = c - 1
                if sent is not None and (gi := sent[i]) is not None:
                    prev = grads.get(pid)
                    grads[pid] = gi if prev is None else _total(prev, gi)
                if c == 1:
                    ready.append(p)
            if not retain_graph:
                if keep:
                    node._kept, kept_bytes = parents, kept_bytes + node.data.nbytes
                node._parents = node._saved = None
    finally:
        m.grad_enabled, m.recording_backward, m.in_backward = before
    if keep and kept_bytes > KEEP_BYTES:
        drop_structure(roots)
    return found


def _total(prev: Any, g: Any) -> Any:
    """Accumulate a gradient (0-d arrays add up to NumPy scalars: keep results ndarrays)."""
    if prev is None:
        return g
    if getattr(g, "_levels", None) is not None or getattr(prev, "_levels", None) is not None:
        return Batching.add(prev, g)
    total = prev + g
    return np.asarray(total) if isinstance(total, np.generic) else total


def pullback(node: Any, g: Any, values_as_tensors: bool = False, saved: Any = None,
             parents: Any = None, layers: Any = None) -> list:
    """What `node`'s op sends back to each input, given the node's gradient `g` (None for an
    input that needs none): its row's rules applied to the arrays the forward saw (to the
    Tensors themselves when the backward is recorded or a transform needs them), each fitted
    to its input's shape and dtype."""
    if parents is None:
        saved, parents = node._saved, node._parents
        if parents is None:
            raise _released_error(node)
    if node._levels is not None:  # recorded inside vmap: the rules run on the batch
        return Batching.pullback(node, g, values_as_tensors)
    if values_as_tensors:
        ins = parents
        ans = node
    elif saved is not None:
        ins = saved[0]  # the arrays the forward saw
        # nothing it reads was overwritten since (one small copy: compared here; else `check`)
        if len(saved) != 5 or (saved[1] if saved[3] < 0 else ins[saved[3]]).tobytes() != \
                saved[4]:
            check_saved(saved, node)
        ans = node.data
    else:  # a row whose rules read no value (add, sum): they read only shapes
        ins = (parents[0].data, parents[1].data) if len(parents) == 2 else tuple(
            p.data for p in parents)
        ans = node.data
    return apply_rules(node._op, node._params, parents, g, ans, ins, None, node, layers)


_ACTIVE = ()  # apply_rules' default layers: the active ones (None: none)


def apply_rules(prim: Any, params: dict | None, parents: Sequence[Any], g: Any, ans: Any,
                ins: Sequence[Any], which: Sequence[int] | None = None,
                node: Any = None, layers: Any = _ACTIVE) -> list:
    """Rule i of `prim`'s row on (g, ans, *ins) for each input i that needs a gradient (or
    each i in `which`), fitted to `parents[i]`; None elsewhere. Every caller of a rule (the
    backward pass, vmap, forward mode, the graph tools) comes through here."""
    rules = prim.vjps
    variadic = prim.variadic
    if layers is _ACTIVE:  # not given: the active ones
        layers = thread.modes.layers
    sent = []
    for i, p in enumerate(parents):
        rule = rules[0] if variadic else rules[i]
        if rule is None or ((not p._needs_grad) if which is None else (i not in which)):
            sent.append(None)
            continue
        if variadic:
            gi = rule(i, g, ans, *ins, **params) if params else rule(i, g, ans, *ins)
        else:
            gi = rule(g, ans, *ins, **params) if params else rule(g, ans, *ins)
        if gi is not None:
            data = p.data  # the common case needs no fitting: an array of the input's kind
            if gi.__class__ is not _ndarray or gi.shape != data.shape or \
                    gi.dtype is not data.dtype:
                gi = fit(gi, p, prim, i)
            if layers is not None:
                for entry in layers:
                    entry.input_gradient(node, prim, parents, i, gi)
        sent.append(gi)
    return sent


RETAIN = object()  # in a tensor's hooks: keep its gradient in .grad (Tensor.retain_grad)


def _run_hooks(node: Any, g: Any) -> Any:
    """A tensor's hooks, in order, on its complete gradient; each may return a replacement.
    A retained gradient is the one after every hook (as in PyTorch)."""
    hooks = list(node._hooks)
    as_tensor = hasattr(g, "_apply_primitive")
    for hook in hooks:
        if hook is RETAIN:
            continue
        out = hook(g)
        if out is None:
            continue
        if hasattr(out, "_apply_primitive") and not as_tensor:
            out = out.data
        elif not hasattr(out, "_apply_primitive"):
            out = np.asarray(out)
            if as_tensor:
                out = g.__class__(out)
        if out.shape != g.shape:
            raise ValueError(
                f"a hook on a tensor of shape {node.data.shape} returned a gradient of shape "
                f"{out.shape}; a hook must return None or a gradient of the tensor's shape")
        if out.dtype != node.data.dtype:
            out = out.astype(node.data.dtype)
        g = out
    if RETAIN in hooks:
        value = g.data if as_tensor else g
        node.grad = np.array(value) if node.grad is None else node.grad + value
    return g


def fit(g: Any, p: Any, prim: Any, i: int) -> Any:
    """The one place where a gradient meets its input's shape and dtype (arrays, or Tensors
    whose shapes are one example's inside vmap)."""
    if hasattr(g, "_apply_primitive"):
        if g.shape != p.shape:
            g = prims.sum_to(g, shape=p.shape)
        if g.dtype != p.dtype:
            g = prims.astype(g, dtype=p.dtype)
        shape = p.shape
    else:
        data = p.data
        if g.__class__ is not _ndarray:
            g = np.asarray(g)
        if g.shape != data.shape:
            g = sum_to_shape(g, data.shape)
        if g.dtype is not data.dtype and g.dtype != data.dtype:
            g = g.astype(data.dtype)
        shape = data.shape
    if g.shape != shape:
        raise RuntimeError(
            f"internal error in {prim.name} backward: gradient for input #{i} has shape "
            f"{g.shape}, expected {shape}")
    return g


# ---------------------------------------------------------------------------------------------
# Where an op was created (anomaly mode and ag.compile name it)
# ---------------------------------------------------------------------------------------------
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # autograd_nn/


def user_frame() -> Any:
    """The innermost frame of the caller's stack outside the library, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        if not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
            return frame
        frame = frame.f_back
    return None


def user_frame_site() -> str:
    """'file:line in function' of the innermost caller outside the library."""
    frame = user_frame()
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
