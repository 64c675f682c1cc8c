"""Derivatives beyond `grad`: `vjp`, `jvp`, `jacrev` / `jacfwd` / `jacobian`, `hessian`, `hvp`.

All are built on the one backward pass, so every op has them and they nest with `grad` and
`vmap` like `grad` does: at top level they take and give arrays, inside another transform they
give Tensors that can be differentiated again.

`jvp` is forward mode (forward.py): tangents move with the values in one pass, each op using
its row's forward rule, or the double-VJP construction on that op where the row has none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.pytree import tree_flatten, tree_leaves_like
from ..core.recording import constant
from ..core.state import thread
from ..core.tensor import Tensor
from .batching import vmap
from .differentiated import mark_differentiated
from .forward import ForwardLevel
from .grad import _argnums, _as_input, grad


def _nested() -> bool:
    """Whether results must stay Tensors: inside another grad's function, vmap or jvp."""
    m = thread.modes
    return _recorded() or m.tensors_in_backward


def _recorded() -> bool:
    """Whether backward passes must be recorded: inside another grad's function."""
    m = thread.modes
    return m.grad_depth > 0 and m.grad_enabled


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else constant(np.asarray(x, dtype=float))


def _run(f: Callable, args: list, where: str) -> Any:
    state.enter_grad()
    prev = state.set_grad_enabled(True)
    try:
        return f(*args)
    finally:
        state.set_grad_enabled(prev)
        state.exit_grad()


def _lift_args(primals: tuple, where: str) -> tuple[list, list]:
    """Arguments as Tensors that require grad (nested containers kept), and per argument its
    input leaves with the function rebuilding its nesting."""
    args, per_arg = [], []
    for p in primals:
        leaves, rebuild = tree_flatten(p)
        inputs = [_as_input(x, where) for x in leaves]
        args.append(rebuild(inputs))
        per_arg.append((inputs, rebuild))
    return args, per_arg


def _gradients_of(roots: list, seeds: list, per_arg: list, nested: bool,
                  recorded: bool) -> tuple:
    inputs = [t for ins, _ in per_arg for t in ins]
    found = {}
    live = [(r, s) for r, s in zip(roots, seeds, strict=True) if r._needs_grad]
    if live:
        found = engine.backward([r for r, _ in live], [s for _, s in live], inputs,
                                create_graph=recorded, retain_graph=True)
    out = []
    for ins, rebuild in per_arg:
        grads = []
        for t in ins:
            g = found.get(id(t))
            g = None if g is None else g[1]
            if g is None:
                g = constant(np.zeros_like(t.data)) if nested else np.zeros_like(t.data)
                if nested:
                    g._levels = t._levels
            elif not nested and isinstance(g, Tensor):
                g = g.data
            elif nested and not isinstance(g, Tensor):
                g = constant(np.asarray(g))
            grads.append(g)
        out.append(rebuild(grads))
    return tuple(out)


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable[[Any], tuple]]:
    """`(f(*primals), vjp_fn)`: `vjp_fn(cotangent)` gives, for each primal, the cotangent
    pulled back through f (cotangent^T · df/dprimal), in the primal's nesting. `vjp_fn` may be
    called many times (also under `vmap`: that is how `jacrev` builds a Jacobian)."""
    name = getattr(f, "__name__", "function")
    where = f"vjp of {name}"
    nested, recorded = _nested(), _recorded()
    args, per_arg = _lift_args(primals, where)
    out = _run(f, args, where)
    out_leaves, out_rebuild = tree_flatten(out)
    outs = [_as_tensor(x) for x in out_leaves]
    value = out_rebuild([t if nested else t.data for t in outs])

    def vjp_fn(cotangent: Any) -> tuple:
        cts = tree_leaves_like(cotangent, out, where, "cotangent")
        if len(cts) != len(outs):
            raise ValueError(f"{where}: the cotangent has {len(cts)} leaves, the output "
                             f"{len(outs)}")
        inner = nested or _nested()
        seeds = []
        for ct, o in zip(cts, outs, strict=True):
            c = ct if isinstance(ct, Tensor) else np.asarray(ct, dtype=o.dtype)
            if c.shape != o.shape:
                raise ValueError(f"{where}: a cotangent of shape {c.shape} for an output of "
                                 f"shape {o.shape}")
            if inner and not isinstance(c, Tensor):
                c = constant(c)
            elif not inner and isinstance(c, Tensor):
                c = c.data
            seeds.append(c)
        return _gradients_of(outs, seeds, per_arg, inner, recorded or _recorded())

    return value, vjp_fn


def _primal(x: Any, where: str) -> Tensor:
    """A primal leaf as a Tensor: Tensors as they are (an outer grad sees through), arrays as
    float constants."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise TypeError(f"{where}: cannot differentiate with respect to dtype {arr.dtype}")
    return constant(arr)


def jvp(f: Callable, primals: tuple | list, tangents: tuple | list) -> tuple[Any, Any]:
    """`(f(*primals), J·tangents)`: the derivative of f at `primals` in the direction
    `tangents` (one per primal, same nesting and shapes), in forward mode: each op's tangent is
    computed as the op runs (see forward.py), in one pass."""
    name = getattr(f, "__name__", "function")
    where = f"jvp of {name}"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{where}: primals and tangents must be tuples (one entry per argument "
                        f"of f), got {type(primals).__name__} and {type(tangents).__name__}; "
                        "for one array x write (x,)")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"{where}: {len(primals)} primals but {len(tangents)} tangents")
    nested = _nested()
    level = ForwardLevel()
    args = []
    for p, tan in zip(primals, tangents, strict=True):
        leaves, rebuild = tree_flatten(p)
        t_leaves = tree_leaves_like(tan, p, where)
        if len(leaves) != len(t_leaves):
            raise ValueError(f"{where}: a tangent's nesting differs from its primal's")
        xs = []
        for leaf, t in zip(leaves, t_leaves, strict=True):
            x = _primal(leaf, where)
            t = t if isinstance(t, Tensor) else constant(np.asarray(t, dtype=x.dtype))
            if t.shape != x.shape:
                raise ValueError(f"{where}: a tangent of shape {t.shape} for a primal of "
                                 f"shape {x.shape}")
            level.set(x, t)
            xs.append(x)
        args.append(rebuild(xs))
    with state.layer(level):
        out = f(*args)
    out_leaves, out_rebuild = tree_flatten(out)
    outs = [_as_tensor(x) for x in out_leaves]
    tangent_out = []
    for o in outs:
        t = level.get(o)
        if t is None:  # does not depend on the primals
            t = constant(np.zeros(o.data.shape, o.dtype))
            t._levels = o._levels
        tangent_out.append(t if nested else t.data)
    value = out_rebuild([o if nested else o.data for o in outs])
    return value, out_rebuild(tangent_out)


# --- Jacobians and Hessians -------------------------------------------------------------------
def _shape_of(x: Any) -> tuple:
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def jacrev(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Jacobian of `f` (array in, array out) by reverse mode: one backward pass per
    output element, all run at once as one batched backward (`vmap` of `vjp`). The result has
    shape `out.shape + x.shape` (a tuple of them when `argnums` is a tuple)."""
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def jacobian_fn(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), f"jacrev of {name}")

        def g(*diff):
            full = list(args)
            for i, d in zip(nums, diff, strict=True):
                full[i] = d
            return f(*full)

        out, pull = vjp(g, *[args[i] for i in nums])
        if not isinstance(out, (Tensor, np.ndarray, float, int)):
            raise TypeError(
                f"jacrev of {name}: the function returned a {type(out).__name__}; jacrev (and "
                "hessian, the jacrev of a gradient) takes arrays in and gives one array out, so "
                "pass one array argument and return one array")
        out_shape = _shape_of(out)
        m = int(np.prod(out_shape))
        dtype = out.dtype if isinstance(out, (Tensor, np.ndarray)) else np.float64
        basis = np.eye(m, dtype=dtype).reshape((m, *out_shape))
        rows = vmap(pull)(basis)  # a tuple: one (m, *x.shape) block per argument
        blocks = tuple(r.reshape(out_shape + _shape_of(args[i]))
                       for r, i in zip(rows, nums, strict=True))
        return blocks[0] if isinstance(argnums, int) else blocks

    return mark_differentiated(jacobian_fn, argnums)


def jacfwd(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Jacobian of `f` by forward mode: one `jvp` per input element, all at once (`vmap`
    of `jvp`); better than `jacrev` when the input is smaller than the output."""
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def jacobian_fn(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), f"jacfwd of {name}")
        blocks = []
        for i in nums:
            x = args[i]
            shape = _shape_of(x)
            n = int(np.prod(shape))
            dtype = x.dtype if isinstance(x, (Tensor, np.ndarray)) and x.dtype.kind == "f" \
                else np.float64
            basis = np.eye(n, dtype=dtype).reshape((n, *shape))

            def push(t, i=i):
                full = list(args)

                def g(xi):
                    full[i] = xi
                    return f(*full)

                return jvp(g, (args[i],), (t,))[1]

            cols = vmap(push)(basis)  # (n, *out.shape): column k is J @ e_k
            out_shape = tuple(_shape_of(cols)[1:])
            blocks.append(cols.reshape((n, -1)).T.reshape(out_shape + tuple(shape)))
        return blocks[0] if isinstance(argnums, int) else tuple(blocks)

    return jacobian_fn


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Jacobian of `f`, by reverse mode when the output has no more elements than the
    input (one batched backward per output element) and by forward mode otherwise."""
    rev, fwd = jacrev(f, argnums), jacfwd(f, argnums)
    name = getattr(f, "__name__", "function")

    @functools.wraps(f)
    def jacobian_fn(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), f"jacobian of {name}")
        n_in = sum(int(np.prod(_shape_of(args[i]))) for i in nums)
        with_grad = state.set_grad_enabled(False)
        try:  # the output's size, without recording
            n_out = int(np.prod(_shape_of(f(*args))))
        finally:
            state.set_grad_enabled(with_grad)
        return rev(*args) if n_out <= n_in else fwd(*args)

    return jacobian_fn


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """The Hessian of a scalar `f`: the Jacobian of its gradient, shape x.shape + x.shape."""
    return jacrev(grad(f, argnums), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """H·v for the Hessian H of a scalar `f` at `x`, without forming H: the gradient of
    <grad f(x), v> (two backward passes). `x` and `v` may be nested dicts/lists of arrays with
    the same nesting; the result has it too."""
    v_leaves = tree_leaves_like(v, x, "hvp", "direction v")
    n = len(tree_flatten(x)[0])
    if len(v_leaves) != n:
        raise ValueError(f"hvp: v has {len(v_leaves)} leaves but x has {n}; give v the nesting "
                         "and shapes of x")

    def inner(y: Any) -> Any:
        total = None
        for g, w in zip(tree_flatten(grad(f)(y))[0], v_leaves, strict=True):
            if _shape_of(g) != _shape_of(w):
                raise ValueError(f"hvp: a direction of shape {_shape_of(w)} for an argument of "
                                 f"shape {_shape_of(g)}")
            term = (g * w).sum()
            total = term if total is None else total + term
        return total

    return grad(inner)(x)
