"""`gradcheck`: autograd's gradient against central finite differences, with a readable verdict.

The analytic side runs in the inputs' own dtype (that is the computation being checked); the
numeric side upcasts every input to float64. A non-scalar output is checked through a fixed random
projection `sum(f(x) * v)` (v seeded): its gradient is the vector-Jacobian product with v, which
is wrong for almost every v as soon as any output element's gradient is wrong. On failure the error
names the input, the worst element, both values and their errors, and a likely cause when the graph
or the dtypes show one (float32 precision, an input sitting on a kink of relu/abs/max/clip).
`f` is evaluated once for the analytic gradient and twice per finite difference, nothing more
(a failure adds one evaluation to look for kinks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import engine, state
from ..core.formatting import index_text, number_text
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.grad import grad as ag_grad
from ..transforms.grad import no_grad, value_and_grad

__all__ = ["GradcheckError", "GradcheckFailure", "gradcheck"]



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
# Inputs: the float leaves of the nested arguments, flattened once
# ---------------------------------------------------------------------------------------------
def _leaf_labels(tree: Any, label: str) -> list[str]:
    """Labels for the leaves of `tree` (`input 0['W']`, `x[1]`), in `tree_flatten` order."""
    if isinstance(tree, dict):
        return [lab for k in tree for lab in _leaf_labels(tree[k], f"{label}[{k!r}]")]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [lab for i, v in enumerate(tree) for lab in _leaf_labels(v, f"{label}[{i}]")]
    return [label]


def _input_label(i: int, x: Any, names: Sequence[str] | None) -> str:
    if names is not None and i < len(names) and names[i]:
        return str(names[i])
    if isinstance(x, Tensor) and x.name:
        return x.name
    return f"input {i}"


def _array(x: Any) -> np.ndarray:
    """The values of a Tensor, array or number as an ndarray."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class _Problem:
    """f over a flat list of the float leaves; constant (non-float) leaves are passed as given."""

    def __init__(self, f: Callable, inputs: tuple, names: Sequence[str] | None) -> None:
        self.f = f
        self.fname = getattr(f, "__name__", type(f).__name__)
        self.leaves, self._rebuild = tree_flatten(list(inputs))
        labels = [lab for i, x in enumerate(inputs)
                  for lab in _leaf_labels(x, _input_label(i, x, names))]
        self.float_pos: list[int] = []  # which leaves are differentiated
        self.float_arrays: list[np.ndarray] = []
        for k, leaf in enumerate(self.leaves):
            arr = _array(leaf)
            if arr.dtype == object:
                raise TypeError(f"gradcheck: {labels[k]} is not numeric ({type(leaf).__name__})")
            if arr.dtype.kind in "fc":
                self.float_pos.append(k)
                self.float_arrays.append(arr)
        if not self.float_pos:
            raise TypeError("gradcheck: no floating-point input to differentiate with respect to")
        self.float_labels = [labels[k] for k in self.float_pos]

    def call(self, float_leaves: Sequence[Any]) -> Any:
        """f evaluated with the float leaves replaced (others kept as given)."""
        vals = list(self.leaves)
        for k, v in zip(self.float_pos, float_leaves, strict=True):
            vals[k] = v
        return self.f(*self._rebuild(vals))


class _Scalar:
    """f as a scalar function of the float leaves: f itself when it returns one number, else a
    fixed projection sum(f(x) * v), v ~ N(0,1) drawn (seeded) at the first call."""

    def __init__(self, problem: _Problem, seed: int) -> None:
        self.problem = problem
        self.seed = seed
        self.v: np.ndarray | None = None
        self.__name__ = problem.fname

    def __call__(self, *leaves: Any) -> Tensor:
        out = self.problem.call(leaves)
        arr = _array(out)
        if arr.dtype.kind not in "fcbiu":
            raise TypeError(f"gradcheck: {self.problem.fname} returned dtype {arr.dtype}, "
                            "not numbers")
        if arr.size == 1:
            if isinstance(out, Tensor):
                return out.sum() if out.ndim else out
            return Tensor(np.asarray(out, dtype=np.float64).reshape(()))
        if self.v is None:
            self.v = np.random.default_rng(self.seed).standard_normal(arr.shape)
        if not isinstance(out, Tensor):
            out = Tensor(arr)
        return (out * self.v.astype(out.dtype)).sum()

    @property
    def projection(self) -> str:
        """How a non-scalar output is checked, for the report ('' for a scalar f)."""
        if self.v is None:
            return ""
        return f" (output shape {self.v.shape}: checked through sum(f(x) * v), v ~ N(0,1))"


def _value(fn: Callable, leaves: Sequence[np.ndarray]) -> float:
    """fn at `leaves` as a float64 number, without recording a graph."""
    with no_grad():
        out = fn(*[Tensor(a) for a in leaves])
    return float(np.asarray(_array(out), dtype=np.float64).sum())


# ---------------------------------------------------------------------------------------------
# Diagnoses
# ---------------------------------------------------------------------------------------------
def _near_kink(node: Tensor, tol: float) -> str | None:
    """Describe the element of `node`'s input nearest a kink of its op (the row's `kink`), if
    within `tol`."""
    where = node._op.text.kink([p.data for p in node.parents], node._params or {})
    if where is None:
        return None
    dist, description = where
    if np.ndim(dist) == 0:  # a whole-input condition (a near tie in max/min): the row says it
        return description if dist <= tol else None
    if dist.size == 0:
        return None
    k = int(np.argmin(dist))
    if dist.reshape(-1)[k] > tol:
        return None
    idx = np.unravel_index(k, dist.shape)
    x = np.broadcast_to(np.asarray(node.parents[0].data, dtype=np.float64), dist.shape)
    return (f"{node.op} input element {index_text(idx, 'spaced')} = {x.reshape(-1)[k]:.3g} lies "
            f"{dist.reshape(-1)[k]:.2g} from its kink at {description} (closer than "
            f"{tol:.2g}): f is not differentiable there, so the finite difference straddles "
            "the kink")


def _kink_causes(fn: Callable, leaves: Sequence[np.ndarray], eps: float) -> list[str]:
    """Rebuild the graph (with creation sites) and look for kinks near the evaluation point."""
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in leaves if a.size])
    tol = 10 * eps * scale
    tensors = [Tensor(a, requires_grad=True) for a in leaves]
    prev = state.set_anomaly_enabled(True)
    try:
        with np.errstate(all="ignore"):
            root = fn(*tensors)
    except FloatingPointError:
        state.set_anomaly_enabled(False)
        with np.errstate(all="ignore"):
            root = fn(*tensors)
    finally:
        state.set_anomaly_enabled(prev)
    if not isinstance(root, Tensor):
        return []
    causes = []
    for node in engine.topological_order([root]):
        if node._op is not None and node._op.text.kink is not None:
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
    return (f"the analytic gradient is {number_text(c, 6)} x the numeric one everywhere "
            "(a constant factor)")


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


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------
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
    scalar = _Scalar(_Problem(f, inputs, names), seed)
    steps = [(scalar, 1, "")]
    if order == 2:  # first derivatives first: a wrong first-order rule must not pass
        steps = [(scalar, 1, " (order 2, step 1: first derivatives)"),
                 (_second_order(scalar, scalar.problem.float_arrays, seed), 2,
                  " (order 2, step 2: gradient of <grad f, w>, w ~ N(0,1))")]
    for fn, step_order, step in steps:
        _Check(fn, step_order, step, scalar, eps, atol, rtol).run(mode, n_directions, seed)
    return True


class _Check:
    """Autograd's gradient of the scalar `fn` of the float leaves against central differences."""

    def __init__(self, fn: Callable, order: int, step: str, scalar: _Scalar, eps: float,
                 atol: float, rtol: float) -> None:
        self.fn, self.order, self.step, self.scalar = fn, order, step, scalar
        self.problem = scalar.problem
        self.eps, self.atol, self.rtol = eps, atol, rtol
        self.leaves = self.problem.float_arrays
        self.x64 = [a.astype(np.float64) for a in self.leaves]
        self.out_dtype: np.dtype | None = None  # dtype of fn's value, from the analytic run

    def run(self, mode: str, n_directions: int, seed: int) -> None:
        """One analytic evaluation, then finite differences input by input; raise on failure."""
        with np.errstate(all="ignore"):
            value, analytic = value_and_grad(self.fn, argnums=tuple(range(len(self.leaves))))(
                *self.leaves)
        self.out_dtype = np.asarray(value).dtype
        rng = np.random.default_rng(seed + 2)
        for k, (g, x) in enumerate(zip(analytic, self.leaves, strict=True)):
            if x.size == 0:
                continue
            a64 = np.asarray(_array(g), dtype=np.float64)
            with np.errstate(all="ignore"):
                if mode == "full":
                    n64 = self.numeric(k)
                    if self.outside(a64, n64).any():
                        self.fail(k, a64, n64)
                    continue
                for d in range(n_directions):
                    u = rng.standard_normal(x.shape)
                    u /= np.linalg.norm(u)
                    num = self.numeric_direction(k, u)
                    ana = float(np.vdot(a64, u))
                    if not abs(ana - num) <= self.atol + self.rtol * abs(num):
                        self.fail_direction(k, a64, ana, num, d)

    # --- finite differences ---------------------------------------------------------------------
    def numeric(self, k: int) -> np.ndarray:
        """d fn / d leaf k, element by element (2 evaluations each)."""
        base = self.x64[k]
        out = np.empty(base.shape, dtype=np.float64)
        for e in range(base.size):
            steps = []
            for sign in (1, -1):
                x = base.copy()
                x.reshape(-1)[e] += sign * self.eps
                steps.append(_value(self.fn, self.x64[:k] + [x] + self.x64[k + 1:]))
            out.reshape(-1)[e] = (steps[0] - steps[1]) / (2 * self.eps)
        return out

    def numeric_direction(self, k: int, u: np.ndarray) -> float:
        """The directional derivative of fn along u in leaf k (2 evaluations)."""
        up, down = (_value(self.fn, self.x64[:k] + [self.x64[k] + s * self.eps * u]
                           + self.x64[k + 1:]) for s in (1, -1))
        return (up - down) / (2 * self.eps)

    def outside(self, a64: np.ndarray, n64: np.ndarray) -> np.ndarray:
        return ~(np.abs(a64 - n64) <= self.atol + self.rtol * np.abs(n64))

    def worst(self, a64: np.ndarray, n64: np.ndarray) -> int:
        """Flat index of the element furthest outside tolerance (NaN counts as furthest)."""
        excess = np.abs(a64 - n64) - (self.atol + self.rtol * np.abs(n64))
        return int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))

    # --- failure reports ------------------------------------------------------------------------
    def causes(self, k: int, a64: np.ndarray) -> list[str]:
        causes = []
        x = self.leaves[k]
        if not np.all(np.isfinite(a64)):
            causes.append("the analytic gradient has NaN/Inf: run the function under "
                          "`with ag.detect_anomaly():` to find the op that produces it")
        low = [lab for lab, a in zip(self.problem.float_labels, self.leaves, strict=True)
               if a.dtype.itemsize < 8 and a.dtype.kind == "f"]
        out = self.out_dtype
        if low:
            causes.append(f"{', '.join(low)} {'is' if len(low) == 1 else 'are'} "
                          f"{x.dtype if x.dtype.itemsize < 8 else 'low precision'}: the analytic "
                          "gradient is computed in that precision (~1e-7 relative for float32); "
                          "check in float64 (x.astype(np.float64)) or loosen atol/rtol")
        elif out is not None and out.itemsize < 8 and out.kind == "f":
            causes.append(
                f"the inputs are float64 but f returns {out}: f casts to lower precision inside "
                f"(constants or astype), so a step of eps={number_text(self.eps, 6)} is below "
                "its resolution; keep the computation in float64 to check it"
            )
        if self.order == 1:
            try:
                causes.extend(_kink_causes(self.fn, self.leaves, self.eps))
            except Exception as err:  # noqa: BLE001  (diagnosis is best effort)
                causes.append(f"(could not inspect the graph for kinks: {err})")
        return causes

    def fail(self, k: int, a64: np.ndarray, n64: np.ndarray) -> None:
        flat = self.worst(a64, n64)
        idx = tuple(int(i) for i in np.unravel_index(flat, a64.shape))
        a, n = float(a64.reshape(-1)[flat]), float(n64.reshape(-1)[flat])
        rel = _relation(a64, n64, self.atol, self.rtol)
        causes = ([rel] if rel else []) + self.causes(k, a64)
        self.raise_failure(k, a64, idx, a, n, int(self.outside(a64, n64).sum()), a64.size,
                           "full", causes)

    def fail_direction(self, k: int, a64: np.ndarray, ana: float, num: float, d: int) -> None:
        idx = None
        causes = self.causes(k, a64)
        if a64.size <= 2000:  # cheap enough to find the element
            n64 = self.numeric(k)
            bad = self.outside(a64, n64)
            if bad.any():
                flat = self.worst(a64, n64)
                idx = tuple(int(i) for i in np.unravel_index(flat, a64.shape))
                causes.insert(0, f"localised by a full check of this input: worst element "
                                 f"{index_text(idx, 'spaced')}: analytic "
                                 f"{number_text(a64.reshape(-1)[flat], 6)}, numeric "
                                 f"{number_text(n64.reshape(-1)[flat], 6)} ({int(bad.sum())} of "
                                 f"{bad.size} elements outside tolerance)")
                rel = _relation(a64, n64, self.atol, self.rtol)
                if rel:
                    causes.insert(0, rel)
        self.raise_failure(k, a64, idx, ana, num, 1, d + 1, "random", causes, direction=d)

    def raise_failure(self, k: int, a64: np.ndarray, idx: tuple | None, analytic: float,
                      numeric: float, n_bad: int, n_checked: int, mode: str, causes: list[str],
                      direction: int | None = None) -> None:
        abs_err = abs(analytic - numeric)
        rel_err = abs_err / max(abs(numeric), np.finfo(np.float64).tiny)
        failure = GradcheckFailure(
            self.problem.fname, self.problem.float_labels[k], tuple(a64.shape),
            str(self.leaves[k].dtype), idx, analytic, numeric, abs_err, rel_err, n_bad,
            n_checked, mode, self.order, causes,
        )
        report = _report(failure, self.eps, self.atol, self.rtol,
                         self.scalar.projection + self.step, direction)
        raise GradcheckError(report, failure)


def _report(fl: GradcheckFailure, eps: float, atol: float, rtol: float, projection: str,
            direction: int | None = None) -> str:
    what = "second-order gradient" if fl.order == 2 else "gradient"
    lines = [
        f"gradcheck failed for {fl.function}{projection}:",
        f"  {what} with respect to {fl.input_label} (shape {fl.input_shape}, {fl.input_dtype})",
    ]
    if direction is None:
        lines.append(f"  worst element {index_text(fl.index or (), 'spaced')}: "
                     f"{fl.n_bad} of {fl.n_checked} elements outside tolerance")
    else:
        lines.append(f"  random unit direction #{direction}: directional derivative <grad, u>")
    eps_t, atol_t, rtol_t = (number_text(float(v), 6) for v in (eps, atol, rtol))
    lines += [
        f"    analytic (autograd)       = {number_text(fl.analytic, 10)}",
        f"    numeric (central, eps={eps_t}) = {number_text(fl.numeric, 10)}",
        f"    abs error = {number_text(fl.abs_error)}, rel error = {number_text(fl.rel_error)} "
        f"(allowed: atol {atol_t} + rtol {rtol_t} * |numeric|)",
    ]
    if fl.causes:
        lines.append("  likely cause:")
        lines += [f"    - {c}" for c in fl.causes]
    return "\n".join(lines)
