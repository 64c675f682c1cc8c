"""`gradcheck`: autograd's gradient against central finite differences, with a readable verdict.

The analytic side runs in the inputs' own dtype (that is the computation being checked); the
numeric side upcasts every input to float64. A non-scalar output is checked through a fixed random
projection `sum(f(x) * v)` (v seeded): its gradient is the vector-Jacobian product with v, which
is wrong for almost every v as soon as any output element's gradient is wrong. On failure the error
names the input, the worst element, both values and their errors, and a likely cause when the graph
or the dtypes show one (float32 precision, an input sitting on a kink of relu/abs/max/clip).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import engine
from ..functional import grad as ag_grad
from ..functional import no_grad, tree_flatten
from ..tensor import Tensor

__all__ = ["GradcheckError", "GradcheckFailure", "gradcheck"]

_KINK_OPS = ("relu", "abs", "max", "min", "maximum", "minimum", "clip")


@dataclass
class GradcheckFailure:
    """The data behind a failed check (also attached to the error as `.failure`)."""

    function: str
    input_label: str
    input_shape: tuple
    input_dtype: str
    index: tuple | None  # worst element (None in random mode when not localised)
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    n_bad: int
    n_checked: int
    mode: str
    order: int
    causes: list[str] = field(default_factory=list)


class GradcheckError(AssertionError):
    """Autograd disagrees with finite differences; the message is the full report."""

    def __init__(self, message: str, failure: GradcheckFailure) -> None:
        super().__init__(message)
        self.failure = failure


# ---------------------------------------------------------------------------------------------
# Inputs: flatten nested arguments into labelled leaves
# ---------------------------------------------------------------------------------------------
def _labelled_leaves(tree: Any, label: str) -> list[str]:
    """Labels for the leaves of `tree`, in `tree_flatten` order."""
    if isinstance(tree, dict):
        return [lab for k in tree for lab in _labelled_leaves(tree[k], f"{label}[{k!r}]")]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [lab for i, v in enumerate(tree) for lab in _labelled_leaves(v, f"{label}[{i}]")]
    return [label]


def _input_label(i: int, x: Any, names: Sequence[str] | None) -> str:
    if names is not None and i < len(names) and names[i]:
        return str(names[i])
    if isinstance(x, Tensor) and x.name:
        return x.name
    return f"input {i}"


def _leaf_array(x: Any) -> np.ndarray:
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    return arr


# ---------------------------------------------------------------------------------------------
# Evaluation helpers
# ---------------------------------------------------------------------------------------------
class _Problem:
    """f over a flat list of the float leaves; constant (non-float) leaves are closed over."""

    def __init__(self, f: Callable, inputs: tuple, names: Sequence[str] | None) -> None:
        self.f = f
        self.fname = getattr(f, "__name__", type(f).__name__)
        leaves, rebuilds, labels = [], [], []
        for i, x in enumerate(inputs):
            lv, rb = tree_flatten(x)
            leaves.append(lv)
            rebuilds.append(rb)
            base = _input_label(i, x, names)
            labels.append(_labelled_leaves(x, base) if len(lv) > 1 or lv[0] is not x else [base])
        self.rebuilds = rebuilds
        self.arrays: list[Any] = []  # all leaves: float ones as arrays, constants as given
        self.slots: list[tuple[int, int]] = []  # (input #, leaf #) of each leaf
        self.float_pos: list[int] = []  # which of `arrays` are differentiated
        self.labels: list[str] = []
        for i, lv in enumerate(leaves):
            for j, leaf in enumerate(lv):
                arr = _leaf_array(leaf)
                if arr.dtype.kind not in "fc":
                    if arr.dtype == object:
                        raise TypeError(
                            f"gradcheck: {labels[i][j]} is not numeric ({type(leaf).__name__})"
                        )
                    self.arrays.append(leaf)
                else:
                    self.float_pos.append(len(self.arrays))
                    self.arrays.append(arr)
                self.slots.append((i, j))
                self.labels.append(labels[i][j])
        if not self.float_pos:
            raise TypeError("gradcheck: no floating-point input to differentiate with respect to")
        self.n_inputs = len(inputs)
        self.leaf_counts = [len(lv) for lv in leaves]

    def call(self, float_leaves: Sequence[Any]) -> Any:
        """f evaluated with the float leaves replaced (others kept as given)."""
        vals = list(self.arrays)
        for k, v in zip(self.float_pos, float_leaves, strict=True):
            vals[k] = v
        per_input: list[list[Any]] = [[] for _ in range(self.n_inputs)]
        for (i, _j), v in zip(self.slots, vals, strict=True):
            per_input[i].append(v)
        args = [rb(lv) for rb, lv in zip(self.rebuilds, per_input, strict=True)]
        return self.f(*args)

    @property
    def float_arrays(self) -> list[np.ndarray]:
        return [self.arrays[k] for k in self.float_pos]

    @property
    def float_labels(self) -> list[str]:
        return [self.labels[k] for k in self.float_pos]


def _out_array(out: Any) -> np.ndarray:
    return out.data if isinstance(out, Tensor) else np.asarray(out)


def _scalarizer(problem: _Problem, seed: int) -> tuple[Callable, str]:
    """A scalar function of the float leaves: f itself, or a fixed projection of its output."""
    with no_grad():
        out = _out_array(problem.call([Tensor(a) for a in problem.float_arrays]))
    if out.dtype.kind not in "fc" and out.dtype.kind not in "biu":
        raise TypeError(f"gradcheck: {problem.fname} returned dtype {out.dtype}, not numbers")
    if out.size == 1:
        def scalar(*leaves):
            out = problem.call(leaves)
            if isinstance(out, Tensor):
                return out.sum() if out.ndim else out
            return Tensor(np.asarray(out, dtype=np.float64).reshape(()))
        return scalar, ""
    v = np.random.default_rng(seed).standard_normal(out.shape)

    def projected(*leaves):
        out = problem.call(leaves)
        if not isinstance(out, Tensor):
            out = Tensor(np.asarray(out))
        return (out * v.astype(out.dtype)).sum()

    return projected, f" (output shape {out.shape}: checked through sum(f(x) * v), v ~ N(0,1))"


def _as_float64_value(fn: Callable, leaves: Sequence[np.ndarray]) -> float:
    with no_grad():
        out = fn(*[Tensor(a) for a in leaves])
    return float(np.asarray(_out_array(out), dtype=np.float64).sum())


# ---------------------------------------------------------------------------------------------
# Diagnoses
# ---------------------------------------------------------------------------------------------
def _graph_nodes(root: Tensor) -> list[Tensor]:
    return engine.topological_order([root])


def _fmt_index(idx: tuple) -> str:
    return str(tuple(int(i) for i in idx))


def _near_kink(node: Tensor, tol: float) -> str | None:
    """Describe the element of `node`'s input nearest a kink, if within `tol`."""
    op = node.op
    ps = node.parents
    if not ps:
        return None
    x = np.asarray(ps[0].data, dtype=np.float64)
    if op in ("relu", "abs"):
        dist, where = np.abs(x), "0"
    elif op == "clip":
        params = node._params or {}
        dists = [np.abs(x - b) for b in (params.get("lo"), params.get("hi")) if b is not None]
        if not dists:
            return None
        dist, where = np.minimum.reduce(dists), "a clip bound"
    elif op in ("maximum", "minimum") and len(ps) == 2:
        y = np.asarray(ps[1].data, dtype=np.float64)
        dist, where = np.abs(x - y), "a tie with the other operand"
        x = np.broadcast_to(x, dist.shape)
    elif op in ("max", "min"):
        params = node._params or {}
        axis = params.get("axis")
        if x.size < 2:
            return None
        if axis is None:
            flat = np.sort(x.reshape(-1))
            gap = flat[-1] - flat[-2] if op == "max" else flat[1] - flat[0]
            if gap <= tol:
                return (f"{op} over all {x.size} elements of a {x.shape} input has two entries "
                        f"within {gap:.2g} of each other (a tie: the gradient jumps between them)")
            return None
        s = np.sort(x, axis=axis[0] if len(axis) == 1 else None)
        if len(axis) != 1 or x.shape[axis[0]] < 2:
            return None
        top = np.take(s, -1, axis=axis[0]) - np.take(s, -2, axis=axis[0])
        bot = np.take(s, 1, axis=axis[0]) - np.take(s, 0, axis=axis[0])
        gap = np.min(top if op == "max" else bot)
        if gap <= tol:
            return (f"{op} along axis {axis[0]} of a {x.shape} input has a near tie "
                    f"(gap {gap:.2g}): the gradient jumps between the tied entries")
        return None
    else:
        return None
    if dist.size == 0:
        return None
    k = int(np.argmin(dist))
    if dist.reshape(-1)[k] > tol:
        return None
    idx = np.unravel_index(k, dist.shape)
    return (f"{op} input element {_fmt_index(idx)} = {x.reshape(-1)[k]:.3g} lies "
            f"{dist.reshape(-1)[k]:.2g} from its kink at {where} (closer than {tol:.2g}): f is "
            "not differentiable there, so the finite difference straddles the kink")


def _kink_causes(fn: Callable, leaves: Sequence[np.ndarray], eps: float) -> list[str]:
    """Rebuild the graph (with creation sites) and look for kinks near the evaluation point."""
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in leaves if a.size])
    tol = 10 * eps * scale
    tensors = [Tensor(a, requires_grad=True) for a in leaves]
    prev = engine.set_anomaly_enabled(True)
    try:
        with np.errstate(all="ignore"):
            root = fn(*tensors)
    except FloatingPointError:
        engine.set_anomaly_enabled(False)
        with np.errstate(all="ignore"):
            root = fn(*tensors)
    finally:
        engine.set_anomaly_enabled(prev)
    if not isinstance(root, Tensor):
        return []
    causes = []
    for node in _graph_nodes(root):
        if node.op in _KINK_OPS:
            msg = _near_kink(node, tol)
            if msg:
                site = f" [created at {node._where}]" if node._where else ""
                causes.append(msg + site)
    return causes


def _relation(a: np.ndarray, n: np.ndarray, atol: float, rtol: float) -> str | None:
    """'analytic = c * numeric' when that explains the whole mismatch."""
    denom = float(np.vdot(n, n))
    if denom == 0 or not np.all(np.isfinite(a)):
        return None
    c = float(np.vdot(a, n)) / denom
    if abs(c) < 1e-12 or not np.allclose(a, c * n, atol=atol, rtol=rtol):
        return None
    if abs(c + 1) < 1e-6:
        return "the analytic gradient is exactly minus the numeric one (a sign error)"
    return f"the analytic gradient is {c:.6g} x the numeric one everywhere (a constant factor)"


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------
def _numeric_full(fn: Callable, x64: list[np.ndarray], k: int, eps: float) -> np.ndarray:
    base = x64[k]
    out = np.empty(base.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for e in range(base.size):
        plus = [a.copy() if i == k else a for i, a in enumerate(x64)]
        minus = [a.copy() if i == k else a for i, a in enumerate(x64)]
        plus[k].reshape(-1)[e] += eps
        minus[k].reshape(-1)[e] -= eps
        flat[e] = (_as_float64_value(fn, plus) - _as_float64_value(fn, minus)) / (2 * eps)
    return out


def _numeric_direction(fn: Callable, x64: list[np.ndarray], k: int, u: np.ndarray,
                       eps: float) -> float:
    plus = [a + eps * u if i == k else a for i, a in enumerate(x64)]
    minus = [a - eps * u if i == k else a for i, a in enumerate(x64)]
    return (_as_float64_value(fn, plus) - _as_float64_value(fn, minus)) / (2 * eps)


def _second_order(fn: Callable, leaves: list[np.ndarray], seed: int) -> Callable:
    """h(x) = sum_k <grad_k f(x), w_k>: its gradient is the Hessian-vector product H w."""
    rng = np.random.default_rng(seed + 1)
    ws = [rng.standard_normal(a.shape) for a in leaves]
    argnums = tuple(range(len(leaves)))
    g = ag_grad(fn, argnums=argnums)

    def h(*xs):
        grads = g(*xs)
        total = None
        for gk, w in zip(grads, ws, strict=True):
            if not isinstance(gk, Tensor):
                gk = Tensor(np.asarray(gk))
            term = (gk * w.astype(gk.dtype)).sum()
            total = term if total is None else total + term
        return total

    h.__name__ = f"<grad of {getattr(fn, '__name__', 'f')}, projected>"
    return h


def gradcheck(
    f: Callable,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "full",
    n_directions: int = 4,
    seed: int = 0,
    order: int = 1,
    names: Sequence[str] | None = None,
) -> bool:
    """Check autograd's gradient of `f` at `inputs` against central finite differences.

    `f(*inputs)` returns a Tensor (scalar, or any shape: then a seeded random projection is
    checked). Inputs may be arrays, Tensors, numbers or nested dicts/lists of them; every
    floating leaf is checked, other leaves are constants. `mode="full"` checks every element
    (2 evaluations per element); `mode="random"` checks `n_directions` random unit directions per
    input (cheap for large inputs). `order=2` checks first AND second derivatives: first the
    gradient itself (as `order=1` does), then the gradient of a random projection of the
    gradient (Hessian-vector products); the report says which step failed (`.failure.order`
    is 1 or 2). Returns True or raises GradcheckError with a report.
    """
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'random', got {mode!r}")
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, got {order!r}")
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    if mode == "random" and n_directions < 1:
        raise ValueError(f"gradcheck: n_directions must be >= 1, got {n_directions!r}")
    if not inputs:
        raise TypeError("gradcheck: pass at least one input after f")
    problem = _Problem(f, inputs, names)
    fn, projection = _scalarizer(problem, seed)
    leaves = problem.float_arrays
    check = (problem, leaves, eps, atol, rtol, mode, n_directions, seed)
    if order == 2:  # first derivatives first: a wrong first-order rule must not pass
        _check_order(fn, projection + " (order 2, step 1: first derivatives)", 1, *check)
        fn = _second_order(fn, leaves, seed)
        projection += " (order 2, step 2: gradient of <grad f, w>, w ~ N(0,1))"
    _check_order(fn, projection, order, *check)
    return True


def _check_order(fn: Callable, projection: str, order: int, problem: _Problem,
                 leaves: list[np.ndarray], eps: float, atol: float, rtol: float, mode: str,
                 n_directions: int, seed: int) -> None:
    """Compare autograd's gradient of the scalar `fn` with finite differences; raise on failure."""
    x64 = [a.astype(np.float64) for a in leaves]
    argnums = tuple(range(len(leaves)))
    with np.errstate(all="ignore"):
        analytic = ag_grad(fn, argnums=argnums)(*leaves)
    analytic = [np.asarray(g.data if isinstance(g, Tensor) else g) for g in analytic]
    rng = np.random.default_rng(seed + 2)
    labels = problem.float_labels
    for k, (a_k, x_k) in enumerate(zip(analytic, leaves, strict=True)):
        if x_k.size == 0:
            continue
        a64 = a_k.astype(np.float64)
        with np.errstate(all="ignore"):
            if mode == "full":
                n64 = _numeric_full(fn, x64, k, eps)
                bad = ~(np.abs(a64 - n64) <= atol + rtol * np.abs(n64))
                if bad.any():
                    _fail(problem, fn, leaves, k, a64, n64, bad, eps, atol, rtol, mode, order,
                          projection, labels[k], x64)
            else:
                for d in range(n_directions):
                    u = rng.standard_normal(x_k.shape)
                    u /= np.linalg.norm(u)
                    num = _numeric_direction(fn, x64, k, u, eps)
                    ana = float(np.vdot(a64, u))
                    if not abs(ana - num) <= atol + rtol * abs(num):
                        _fail_direction(problem, fn, leaves, k, a64, ana, num, d, eps, atol,
                                        rtol, order, projection, labels[k], x64)


def _common_causes(problem: _Problem, fn: Callable, leaves: list[np.ndarray], k: int,
                   a64: np.ndarray, eps: float, order: int) -> list[str]:
    causes = []
    x = leaves[k]
    if not np.all(np.isfinite(a64)):
        causes.append("the analytic gradient has NaN/Inf: run the function under "
                      "`with ag.detect_anomaly():` to find the op that produces it")
    low = [lab for lab, a in zip(problem.float_labels, leaves, strict=True)
           if a.dtype.itemsize < 8 and a.dtype.kind == "f"]
    if low:
        causes.append(f"{', '.join(low)} {'is' if len(low) == 1 else 'are'} "
                      f"{x.dtype if x.dtype.itemsize < 8 else 'low precision'}: the analytic "
                      "gradient is computed in that precision (~1e-7 relative for float32); "
                      "check in float64 (x.astype(np.float64)) or loosen atol/rtol")
    else:
        with no_grad():
            out = fn(*[Tensor(a) for a in [b.astype(np.float64) for b in leaves]])
        if _out_array(out).dtype.itemsize < 8 and _out_array(out).dtype.kind == "f":
            causes.append(
                f"the inputs are float64 but f returns {_out_array(out).dtype}: f casts to "
                "lower precision inside (constants or astype), so a step of eps="
                f"{eps:g} is below its resolution; keep the computation in float64 to check it"
            )
    if order == 1:
        try:
            causes.extend(_kink_causes(fn, leaves, eps))
        except Exception as err:  # noqa: BLE001  (diagnosis is best effort)
            causes.append(f"(could not inspect the graph for kinks: {err})")
    return causes


def _fail(problem, fn, leaves, k, a64, n64, bad, eps, atol, rtol, mode, order, projection,
          label, x64) -> None:
    excess = np.abs(a64 - n64) - (atol + rtol * np.abs(n64))
    excess = np.where(np.isnan(excess), np.inf, excess)
    flat = int(np.argmax(excess))
    idx = tuple(int(i) for i in np.unravel_index(flat, a64.shape))
    a, n = float(a64.reshape(-1)[flat]), float(n64.reshape(-1)[flat])
    abs_err = abs(a - n)
    rel_err = abs_err / max(abs(n), np.finfo(np.float64).tiny)
    causes = _common_causes(problem, fn, leaves, k, a64, eps, order)
    rel = _relation(a64, n64, atol, rtol)
    if rel:
        causes.insert(0, rel)
    failure = GradcheckFailure(
        problem.fname, label, tuple(a64.shape), str(leaves[k].dtype), idx, a, n, abs_err,
        rel_err, int(bad.sum()), int(bad.size), mode, order, causes,
    )
    raise GradcheckError(_report(failure, eps, atol, rtol, projection), failure)


def _fail_direction(problem, fn, leaves, k, a64, ana, num, d, eps, atol, rtol, order,
                    projection, label, x64) -> None:
    idx = None
    n_bad, n_checked = 1, d + 1
    causes = _common_causes(problem, fn, leaves, k, a64, eps, order)
    if leaves[k].size <= 2000:  # cheap enough to find the element
        n64 = _numeric_full(fn, x64, k, eps)
        bad = ~(np.abs(a64 - n64) <= atol + rtol * np.abs(n64))
        if bad.any():
            excess = np.abs(a64 - n64) - (atol + rtol * np.abs(n64))
            flat = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
            idx = tuple(int(i) for i in np.unravel_index(flat, a64.shape))
            causes.insert(0, f"localised by a full check of this input: worst element "
                             f"{_fmt_index(idx)}: analytic {a64.reshape(-1)[flat]:.6g}, numeric "
                             f"{n64.reshape(-1)[flat]:.6g} ({int(bad.sum())} of {bad.size} "
                             "elements outside tolerance)")
            rel = _relation(a64, n64, atol, rtol)
            if rel:
                causes.insert(0, rel)
    abs_err = abs(ana - num)
    rel_err = abs_err / max(abs(num), np.finfo(np.float64).tiny)
    failure = GradcheckFailure(
        problem.fname, label, tuple(a64.shape), str(leaves[k].dtype), idx, ana, num, abs_err,
        rel_err, n_bad, n_checked, "random", order, causes,
    )
    raise GradcheckError(_report(failure, eps, atol, rtol, projection, direction=d), failure)


def _report(fl: GradcheckFailure, eps: float, atol: float, rtol: float, projection: str,
            direction: int | None = None) -> str:
    what = "second-order gradient" if fl.order == 2 else "gradient"
    lines = [
        f"gradcheck failed for {fl.function}{projection}:",
        f"  {what} with respect to {fl.input_label} (shape {fl.input_shape}, {fl.input_dtype})",
    ]
    if direction is None:
        lines.append(f"  worst element {_fmt_index(fl.index or ())}: "
                     f"{fl.n_bad} of {fl.n_checked} elements outside tolerance")
    else:
        lines.append(f"  random unit direction #{direction}: directional derivative <grad, u>")
    lines += [
        f"    analytic (autograd)       = {fl.analytic:.10g}",
        f"    numeric (central, eps={eps:g}) = {fl.numeric:.10g}",
        f"    abs error = {fl.abs_error:.3g}, rel error = {fl.rel_error:.3g} "
        f"(allowed: atol {atol:g} + rtol {rtol:g} * |numeric|)",
    ]
    if fl.causes:
        lines.append("  likely cause:")
        lines += [f"    - {c}" for c in fl.causes]
    return "\n".join(lines)
