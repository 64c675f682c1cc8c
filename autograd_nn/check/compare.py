"""Compare hand-written gradients with autograd's, parameter by parameter, and name the mismatch.

Hand-written backprop usually differs from the true gradient in a few recognisable ways: the
opposite sign (the "gradient ascent" convention: computing from (y - output) and adding), a
constant factor (the 2 of d/dx x², 1/N of a mean against a sum), a transposed matrix, or a wrong
shape (a gradient not summed over the batch axis). `compare_grads` fits
`hand-written = ratio * autograd` per parameter and records what it found as facts on the row
(sign, factor and its readings, transposed, shape mismatch, match); the verdict text, the meaning,
the table (terminal) and HTML (Jupyter) are all derived from those facts.
"""

from __future__ import annotations

import copy
import functools
import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.formatting import index_text, number_text, shape_text
from ..core.ops.registry import sum_to_shape
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.grad import grad as ag_grad
from .compare_across import GraphStructure, diagnose_params, graph_structure
from .diagnosis import REDUCTIONS, Diagnosis, reduction_readings, scale_expression
from .table import html_table, text_table

__all__ = ["GradComparison", "ParamComparison", "compare_backprop", "compare_grads"]

MATCH = "match"
OPPOSITE = "opposite sign"
FACTOR = "constant factor"
TRANSPOSED = "transposed"
WRONG_SHAPE = "wrong shape"
MISMATCH = "mismatch"
MISSING = "missing"
EXTRA = "extra"
NOT_FINITE = "not finite"

_ASCENT = ("hand-written = -autograd: the gradient-ascent convention (the negative gradient, "
           "e.g. computed from (y - output), then added to the weights)")


@dataclass
class ParamComparison:
    """One parameter's facts; `verdict`, `meaning` and `ok` are derived from them. `ratio` fits
    hand-written = ratio * autograd (sign included); then `sign` = ±1 and `factor` = |ratio|."""

    name: str
    shape: tuple | None  # hand-written gradient's shape
    autograd_shape: tuple | None
    missing: bool = False  # autograd has the parameter, the hand-written side has no gradient
    extra: bool = False  # a hand-written gradient with no autograd parameter of that name
    finite: bool = True  # the hand-written gradient has no NaN or Inf
    match: bool = False  # equal to autograd's within tolerance
    shape_mismatch: bool = False  # shapes differ, and not as a transpose
    transposed: bool = False  # hand-written.T = ratio * autograd
    ratio: float | None = None
    sign: int | None = None
    factor: float | None = None  # 1.0 when |ratio| is 1 within 1e-6
    factor_readings: list[tuple[str, str]] = field(default_factory=list)  # (expression, meaning)
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    worst_index: tuple | None = None
    handwritten_at_worst: float | None = None
    autograd_at_worst: float | None = None
    notes: list[str] = field(default_factory=list)
    local: str | None = None  # the sign/factor is this parameter's alone: why it is local

    @property
    def ok(self) -> bool:
        """True when the two gradients match within tolerance."""
        return self.match

    @property
    def verdict(self) -> str:
        """The facts in words: 'match', 'opposite sign and constant factor', 'transposed', ..."""
        for fact, text in ((self.missing, MISSING), (self.extra, EXTRA),
                           (not self.finite, NOT_FINITE), (self.match, MATCH),
                           (self.shape_mismatch, WRONG_SHAPE), (self.ratio is None, MISMATCH)):
            if fact:
                return text
        words = [TRANSPOSED] if self.transposed else []
        relation = [OPPOSITE] if self.sign == -1 else []
        if self.factor != 1:
            relation.append(FACTOR)
        if relation:
            words.append(" and ".join(relation))
        return ", ".join(words) or MISMATCH

    @property
    def factor_expression(self) -> str | None:
        """The likeliest reading of the factor ('2', 'N/2 with N=4', ...), if one fits."""
        return self.factor_readings[0][0] if self.factor_readings else None

    @property
    def meaning(self) -> str | None:
        """What the sign and factor likely mean, in words."""
        if self.local:
            return self.local
        parts = [_ASCENT] if self.sign == -1 else []
        if self.factor is not None and self.factor != 1:
            f = number_text(self.factor, 6)
            if self.factor_readings:
                parts.append(f"factor {f} = " + "; or ".join(
                    f"{expr}: {text}" for expr, text in self.factor_readings))
            else:
                parts.append(f"factor {f}: a constant scale (learning rate folded in? "
                             "a different loss reduction?)")
        return "; ".join(parts) or None

    def to_dict(self) -> dict[str, Any]:
        """The facts and the derived texts as plain data."""
        return ({k: getattr(self, k) for k in self.__dataclass_fields__}
                | {k: getattr(self, k) for k in ("verdict", "factor_expression", "meaning", "ok")})


class GradComparison:
    """Per-parameter comparison report: `report[name]`, iteration, `.ok`, str and HTML tables."""

    def __init__(self, rows: list[ParamComparison], atol: float | None, rtol: float,
                 batch_size: int | None, loss_kind: str | None, renamed: dict[str, str],
                 diagnoses: list[Diagnosis] | None = None) -> None:
        self.rows = rows
        self.diagnoses = list(diagnoses or [])
        self._by_name = {r.name: r for r in rows}
        self.atol = atol
        self.rtol = rtol
        self.batch_size = batch_size
        self.loss_kind = loss_kind
        self.renamed = renamed

    def __getitem__(self, name: str) -> ParamComparison:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r} in this comparison; it has "
                           f"{list(self._by_name)}") from None

    def __iter__(self) -> Iterator[ParamComparison]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        """Parameter names, in order."""
        return [r.name for r in self.rows]

    @property
    def ok(self) -> bool:
        """True when every parameter matches and none is missing or extra."""
        return all(r.ok for r in self.rows)

    @property
    def missing(self) -> list[str]:
        """Parameters autograd has but the hand-written gradients lack."""
        return [r.name for r in self.rows if r.missing]

    @property
    def extra(self) -> list[str]:
        """Hand-written gradients with no parameter of that name on the autograd side."""
        return [r.name for r in self.rows if r.extra]

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The first mistake found (a bug before a convention), or None when all match."""
        bugs = self.bugs
        return bugs[0] if bugs else (self.diagnoses[0] if self.diagnoses else None)

    @property
    def bugs(self) -> list[Diagnosis]:
        """The diagnoses that are mistakes (not conventions)."""
        return [d for d in self.diagnoses if d.is_bug]

    @property
    def kind(self) -> str | None:
        """The kind of `diagnosis` ('sign', 'factor', 'convention', ...; see `check.KINDS`)."""
        return None if self.diagnosis is None else self.diagnosis.kind

    @property
    def enters_at(self) -> str | None:
        """Where `diagnosis` enters (a node or parameter name), None when it can't be told."""
        return None if self.diagnosis is None else self.diagnosis.node

    @property
    def inherited_by(self) -> tuple[str, ...]:
        """The parameters that inherit `diagnosis`."""
        return () if self.diagnosis is None else self.diagnosis.inherited_by

    @property
    def verdicts(self) -> dict[str, str]:
        """name -> verdict ('match', 'opposite sign', 'constant factor', ...)."""
        return {r.name: r.verdict for r in self.rows}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """name -> that parameter's facts and texts as plain data."""
        return {r.name: r.to_dict() for r in self.rows}

    # --- rendering ------------------------------------------------------------------------------
    _TITLE = "hand-written vs autograd gradients"
    _HEAD = ("parameter", "shape", "max abs err", "max rel err", "worst index", "verdict",
             "ratio h/a")

    @staticmethod
    def _cells(r: ParamComparison) -> tuple[str, ...]:
        if r.shape is not None and r.autograd_shape is not None and r.shape != r.autograd_shape:
            shape = f"{shape_text(r.shape)} vs {shape_text(r.autograd_shape)}"
        else:
            shape = shape_text(r.shape if r.shape is not None else r.autograd_shape)
        ratio = ""
        if r.ratio is not None:
            ratio = number_text(r.ratio)
            if r.factor_expression:
                ratio += f" ({r.factor_expression})"
        index = "" if r.worst_index is None else index_text(r.worst_index)
        return (r.name, shape, number_text(r.max_abs_error), number_text(r.max_rel_error), index,
                r.verdict, ratio)

    def _notes(self) -> list[str]:
        notes = [f"{r.name}: {text}" for r in self.rows
                 for text in ([r.meaning] if r.meaning else []) + r.notes]
        return notes + [f"diagnosis ({d.kind}): {d.text}" for d in self.diagnoses]

    def summary(self) -> str:
        """One line: all match, or which parameters differ and how."""
        if self.ok:
            return f"all {len(self.rows)} gradients match autograd"
        bad = [f"{r.name} ({r.verdict})" for r in self.rows if not r.ok]
        return f"{len(bad)} of {len(self.rows)} differ from autograd: " + ", ".join(bad)

    def __str__(self) -> str:
        lines = [self._TITLE, *text_table(self._HEAD, [self._cells(r) for r in self.rows])]
        notes = self._notes()
        if notes:
            lines += ["", *notes]
        return "\n".join([*lines, "", self.summary()])

    def __repr__(self) -> str:
        return f"<GradComparison {self.verdicts}>"

    def _repr_html_(self) -> str:
        verdict_col = self._HEAD.index("verdict")

        def style(i: int, j: int) -> str | None:
            if j != verdict_col:
                return None
            return f"color:{'#1a7f37' if self.rows[i].ok else '#cf222e'};font-weight:bold"

        table = html_table(self._HEAD, [self._cells(r) for r in self.rows], style)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self._notes())
        return (f"<div><b>{self._TITLE}</b>{table}" + (f"<ul>{notes}</ul>" if notes else "")
                + f"<p>{html.escape(self.summary())}</p></div>")


# ---------------------------------------------------------------------------------------------
# Recognising conventions
# ---------------------------------------------------------------------------------------------
def _close(h: np.ndarray, a: np.ndarray, atol: float | None, rtol: float) -> bool:
    """Equal within tolerance; an Inf or NaN matches only the same Inf or NaN (and never sets
    the tolerance)."""
    finite = np.isfinite(a)
    if not finite.all():
        same = (h == a) | (np.isnan(h) & np.isnan(a))
        if not np.all(same[~finite]):
            return False
        h, a = h[finite], a[finite]
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    tol_abs = atol if atol is not None else 1e-6 * scale + 1e-300
    return bool(np.all(np.abs(h - a) <= tol_abs + rtol * np.abs(a)))


def _fit_ratio(h: np.ndarray, a: np.ndarray, atol: float | None, rtol: float) -> float | None:
    """The c with h == c * a (within tolerance), or None."""
    denom = float(np.vdot(a, a))
    if denom == 0.0:
        return None
    c = float(np.vdot(h, a)) / denom
    if c == 0.0 or not np.isfinite(c):
        return None
    return c if _close(h, c * a, atol, rtol) else None


def _factor_readings(factor: float, batch_size: int | None, loss_kind: str | None,
                     ) -> list[tuple[str, str]]:
    """(expression, meaning) pairs explaining |ratio| as a change of loss reduction."""
    out = []
    for ref, comp, const, power, n in reduction_readings(factor, batch_size, loss_kind):
        meaning = (f"the hand-written gradient is that of the {REDUCTIONS[ref][2]} of the "
                   f"per-example losses, autograd's loss is their {REDUCTIONS[comp][2]}")
        if (ref, comp) == ("half_sum", "sum"):
            meaning += " (the 2 from d/dx of a square is missing)"
        elif (ref, comp) == ("sum", "half_sum"):
            meaning += " (the 2 from d/dx of a square, where the loss has 0.5)"
        out.append((scale_expression(const, power, n), meaning))
    return out


def _set_ratio(row: ParamComparison, ratio: float, batch_size: int | None,
               loss_kind: str | None) -> None:
    """Record a fitted ratio on `row`: sign, factor and the readings of the factor."""
    row.ratio = ratio
    row.sign = -1 if ratio < 0 else 1
    row.factor = 1.0 if abs(abs(ratio) - 1) <= 1e-6 else abs(ratio)
    if row.factor == 1:
        return
    row.factor_readings = _factor_readings(row.factor, batch_size, loss_kind)
    missing = [arg for arg, value in (("batch_size=N", batch_size),
                                      ("loss_kind=", loss_kind)) if value is None]
    if len(row.factor_readings) > 1 and missing:
        kinds = ", ".join(repr(k) for k in REDUCTIONS)
        asks = [m if m != "loss_kind=" else
                f"loss_kind= (the reduction of autograd's loss: {kinds})" for m in missing]
        row.notes.append(f"{len(row.factor_readings)} readings of the factor fit; pass "
                         + " and ".join(asks) + " to narrow them down")


def _errors(row: ParamComparison, h: np.ndarray, a: np.ndarray, atol: float | None) -> None:
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, reported as such
        diff = np.abs(h - a)
    floor = atol if atol is not None else 1e-6 * (float(np.max(np.abs(a))) if a.size else 0.0)
    rel = diff / np.maximum(np.abs(a), max(floor, np.finfo(np.float64).tiny))
    if diff.size == 0:
        row.max_abs_error = row.max_rel_error = 0.0
        return
    k = int(np.argmax(np.where(np.isnan(diff), np.inf, diff)))
    row.worst_index = tuple(int(i) for i in np.unravel_index(k, diff.shape))
    row.max_abs_error = float(diff.reshape(-1)[k])
    row.max_rel_error = float(np.max(rel))
    row.handwritten_at_worst = float(h.reshape(-1)[k])
    row.autograd_at_worst = float(a.reshape(-1)[k])


def _compare_one(name: str, h: np.ndarray, a: np.ndarray, atol: float | None, rtol: float,
                 batch_size: int | None, loss_kind: str | None) -> ParamComparison:
    row = ParamComparison(name, tuple(h.shape), tuple(a.shape))
    h64 = h.astype(np.float64) if h.dtype.kind in "biuf" else h
    a64 = a.astype(np.float64) if a.dtype.kind in "biuf" else a
    same_shape = h.shape == a.shape
    if same_shape:
        _errors(row, h64, a64, atol)
    if not np.all(np.isfinite(h64)):
        row.finite = False
        row.notes.append(f"the hand-written gradient has {int(np.isnan(h64).sum())} NaN and "
                         f"{int(np.isinf(h64).sum())} Inf entries")
        return row
    if not np.all(np.isfinite(a64)):
        row.notes.append(f"autograd's gradient has {int(np.isnan(a64).sum())} NaN and "
                         f"{int(np.isinf(a64).sum())} Inf entries")
    if same_shape and _close(h64, a64, atol, rtol):
        row.match = True
        return row
    ratio = _fit_ratio(h64, a64, atol, rtol) if same_shape else None
    if ratio is None and h.ndim == 2 and h.shape[::-1] == a.shape:  # square or not
        ratio = _fit_ratio(h64.T, a64, atol, rtol)
        row.transposed = ratio is not None
    if ratio is not None:
        _set_ratio(row, ratio, batch_size, loss_kind)
        if row.transposed:
            row.notes.append(_transposed_note(h.shape, a.shape))
    elif same_shape:
        if not np.any(a64):
            row.notes.append("autograd's gradient is all zeros: the loss does not depend on "
                             "this parameter at this point")
        elif not np.any(h64):
            row.notes.append("the hand-written gradient is all zeros (not computed?)")
    else:
        row.shape_mismatch = True
        row.notes += _shape_notes(h64, a64, atol, rtol)
    return row


def _transposed_note(shape: tuple, autograd_shape: tuple) -> str:
    if shape == autograd_shape:
        return ("the hand-written gradient equals autograd's transposed (swap the operands of "
                "the matmul or add .T)")
    return (f"the hand-written gradient has shape {shape_text(shape)}, autograd's "
            f"{shape_text(autograd_shape)}: it is the transpose (e.g. X @ G instead of X.T @ G, "
            "or the weight stored as (out, in))")


def _shape_notes(h: np.ndarray, a: np.ndarray, atol: float | None, rtol: float) -> list[str]:
    """Why the shapes differ: only reshaped, or not summed over the batch axes."""
    notes = [f"hand-written shape {shape_text(h.shape)} but the parameter's gradient has "
             f"shape {shape_text(a.shape)}"]
    if h.size == a.size:
        ratio = _fit_ratio(h.reshape(a.shape), a, atol, rtol)
        if ratio is not None:
            notes.append(f"reshaped to {shape_text(a.shape)} it equals {number_text(ratio)} x "
                         "autograd's (only the shape is off)")
    if h.size == a.size:  # a keepdims (1, K) bias for a (K,) one: nothing was left unsummed
        return notes
    try:
        summed = sum_to_shape(h, a.shape)
    except Exception:  # noqa: BLE001  (shapes not reducible)
        summed = None
    if summed is not None and summed.shape == a.shape:
        ratio = _fit_ratio(summed, a, atol, rtol)
        if ratio is not None:
            notes.append(f"summed over the broadcast (batch) axes it equals {number_text(ratio)} "
                         "x autograd's: the hand-written gradient was not summed over the batch")
    return notes


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def _as_named(grads: Any, names: Sequence[str] | None, what: str) -> dict[str, np.ndarray]:
    if isinstance(grads, Mapping):
        out = {}
        for k, v in grads.items():
            out[str(k)] = _as_array(v, f"{what}[{k!r}]")
        return out
    if isinstance(grads, (list, tuple)):
        if names is None or len(names) != len(grads):
            raise ValueError(
                f"compare_grads: {what} is a {type(grads).__name__} of {len(grads)} arrays; pass "
                f"names= with one name per entry (got {None if names is None else len(names)})")
        pairs = enumerate(zip(names, grads, strict=True))
        return {str(n): _as_array(v, f"{what}[{i}]") for i, (n, v) in pairs}
    raise TypeError(f"compare_grads: {what} must be a dict name -> array (or a list/tuple with "
                    f"names=), got {type(grads).__name__}")


def _as_array(v: Any, where: str) -> np.ndarray:
    if isinstance(v, Tensor):
        v = v.data
    arr = np.asarray(v)
    if arr.dtype.kind not in "iuf":  # a bool array is a mask passed by mistake, not a gradient
        raise TypeError(f"compare_grads: {where} is not a real numeric array (shape "
                        f"{arr.shape}, dtype {arr.dtype}); gradients here are real numbers"
                        + (" (a boolean mask?)" if arr.dtype.kind == "b" else ""))
    return arr


def _is_single(x: Any) -> bool:
    """One gradient (an array, a Tensor or a number) rather than a collection of them."""
    return isinstance(x, (np.ndarray, Tensor, int, float, np.number))


def _single_name(names: Any) -> str:
    if names is None:
        return "grad"
    if isinstance(names, str):
        return names
    if isinstance(names, Sequence) and len(names) == 1 and isinstance(names[0], str):
        return names[0]
    raise ValueError(f"compare_grads: for a single pair of arrays, names= must be one name "
                     f"(a str), got {names!r}")


def _strip(name: str) -> str:
    for prefix in ("d_", "grad_", "dL_d", "dL/d", "d"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def compare_grads(
    reference: Any,
    computed: Any,
    *,
    names: str | Sequence[str] | Mapping[str, str] | None = None,
    atol: float | None = None,
    rtol: float = 1e-4,
    batch_size: int | None = None,
    loss_kind: str | None = None,
) -> GradComparison:
    """Compare hand-written gradients (`reference`) with autograd's (`computed`), by name.

    Both are dicts name -> array, lists/tuples with `names=` a list, or a single pair of arrays
    (`compare_grads(d_w1, W1.grad)`, reported as "grad" or as `names="w1"`). `names` may also
    be a dict mapping hand-written names to autograd's; otherwise names like "d_weights1" are
    matched to "weights1" automatically. `atol` defaults to 1e-6 x the largest autograd entry
    of each parameter. `batch_size` (N) and `loss_kind` ("sum", "half_sum", "mean", "half_mean": the
    reduction of autograd's loss) sharpen the explanation of constant factors; when a factor
    has several readings and they are not given, the report says to pass them.

    The parameters are judged together (`report.diagnoses`, `report.kind`, `.enters_at`,
    `.inherited_by`): a ratio every parameter shares is a convention (or mean vs sum, a factor);
    a ratio several share enters upstream of them; one alone is that parameter's own mistake.
    """
    return _compare_grads(reference, computed, names, atol, rtol, batch_size, loss_kind, None)


def _compare_grads(reference: Any, computed: Any, names: Any, atol: float | None, rtol: float,
                   batch_size: int | None, loss_kind: str | None,
                   structure: GraphStructure | None) -> GradComparison:
    if loss_kind is not None and loss_kind not in REDUCTIONS:
        raise ValueError(f"compare_grads: loss_kind must be one of {list(REDUCTIONS)}, "
                         f"got {loss_kind!r}")
    if not rtol >= 0 or (atol is not None and not atol >= 0):
        raise ValueError(f"compare_grads: tolerances must be >= 0 (atol={atol}, rtol={rtol})")
    if _is_single(reference) and _is_single(computed):  # one pair of arrays
        name = _single_name(names)
        reference, computed, names = {name: reference}, {name: computed}, None
    list_names = None if isinstance(names, Mapping) else names
    hand = _as_named(reference, list_names, "reference")
    auto = _as_named(computed, list_names, "computed")
    if not hand or not auto:
        raise ValueError("compare_grads: nothing to compare: "
                         + ("the hand-written gradients are empty" if not hand else
                            "autograd's gradients are empty")
                         + " (an empty dict or list); pass one gradient per parameter")
    renamed: dict[str, str] = {}
    if isinstance(names, Mapping):
        for old, new in names.items():
            if old not in hand:
                raise KeyError(f"compare_grads: names maps {old!r}, which is not among the "
                               f"hand-written gradients {list(hand)}")
            renamed[old] = new
    for k in list(hand):
        if k not in renamed and k not in auto and _strip(k) in auto and _strip(k) not in hand:
            renamed[k] = _strip(k)
    hand = {renamed.get(k, k): v for k, v in hand.items()}
    rows = []
    for name, a in auto.items():
        if name not in hand:
            rows.append(ParamComparison(name, None, tuple(a.shape), missing=True,
                                        notes=["no hand-written gradient for this parameter"]))
            continue
        row = _compare_one(name, hand[name], a, atol, rtol, batch_size, loss_kind)
        old = [o for o, n in renamed.items() if n == name]
        if old:
            row.notes.insert(0, f"hand-written name {old[0]!r} matched to {name!r}")
        rows.append(row)
    for name, h in hand.items():
        if name not in auto:
            rows.append(ParamComparison(name, tuple(h.shape), None, extra=True,
                                        notes=["autograd has no parameter of this name"]))
    diagnoses = diagnose_params(rows, structure, batch_size, loss_kind)
    return GradComparison(rows, atol, rtol, batch_size, loss_kind, renamed, diagnoses)


def detect_loss_kind(loss: Tensor) -> tuple[str | None, int | None]:
    """The reduction at the end of a loss graph: ('sum' | 'mean' | 'half_sum' | 'half_mean' |
    None, number of elements a mean averages or None)."""
    if not isinstance(loss, Tensor) or loss.op is None:
        return None, None
    if loss.op in ("sum", "mean") and (loss._params or {}).get("axis") is None:
        return loss.op, (loss.parents[0].size if loss.op == "mean" else None)
    if loss.op in ("mul", "div") and len(loss.parents) == 2:
        a, b = loss.parents
        inner, const = (a, b) if b.op is None and not b.requires_grad else (b, a)
        if const.op is not None or const.requires_grad or const.size != 1:
            return None, None
        if loss.op == "div" and inner is not a:
            return None, None
        value = float(const.data.reshape(-1)[0])
        scale = value if loss.op == "mul" else 1.0 / value
        base, count = detect_loss_kind(inner)
        if abs(scale - 0.5) < 1e-12 and base in ("sum", "mean"):
            return "half_" + base, count
    return None, None


def compare_backprop(
    handwritten_fn: Callable,
    loss_fn: Callable,
    params: Mapping[str, Any],
    *args: Any,
    names: Sequence[str] | Mapping[str, str] | None = None,
    atol: float | None = None,
    rtol: float = 1e-4,
    batch_size: int | None = None,
    loss_kind: str | None = "auto",
) -> GradComparison:
    """Run the user's backprop `handwritten_fn(params, *args)` and autograd on
    `loss_fn(params, *args)` from the same parameters, and compare them.

    `handwritten_fn` returns a dict name -> gradient (or a tuple in the order of `params`).
    Each side gets its own copy of `params`, so in-place updates cannot leak between them.
    `loss_kind="auto"` reads the loss reduction (sum / mean / 0.5*...) from the loss graph;
    `batch_size` (the N of factors like N/2) defaults to the number of elements that mean
    averages, else to the length of the first array argument.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"compare_backprop: params must be a dict name -> array, got "
                        f"{type(params).__name__}")
    hand = handwritten_fn(copy.deepcopy(dict(params)), *args)
    if not isinstance(hand, Mapping) and names is None:
        names = list(params)
    base = {k: (v.data if isinstance(v, Tensor) else np.asarray(v)).copy()
            for k, v in params.items()}
    detected: list[tuple[str | None, int | None]] = []
    structures: list[GraphStructure | None] = []

    @functools.wraps(loss_fn)
    def loss_and_kind(p: dict, *a: Any) -> Any:  # one evaluation: the graph gives the reduction
        loss = loss_fn(p, *a)
        detected.append(detect_loss_kind(loss))
        structures.append(graph_structure(loss, p) if isinstance(p, Mapping) else None)
        return loss

    auto = ag_grad(loss_and_kind)(base, *args)
    count = None
    if loss_kind == "auto":
        loss_kind, count = detected[-1]
    if batch_size is None:
        batch_size = count  # a mean's element count is the N of its 1/N
    if batch_size is None:
        for leaf in tree_flatten(list(args))[0]:
            arr = leaf.data if isinstance(leaf, Tensor) else np.asarray(leaf)
            if arr.ndim >= 1:
                batch_size = int(arr.shape[0])
                break
    return _compare_grads(hand, auto, names, atol, rtol, batch_size, loss_kind,
                          structures[-1] if structures else None)
