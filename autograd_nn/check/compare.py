"""Compare hand-written gradients with autograd's, parameter by parameter, and name the mismatch.

Hand-written backprop usually differs from the true gradient in a few recognisable ways: the
opposite sign (the "gradient ascent" convention: computing from (y - output) and adding), a
constant factor (the 2 of d/dx x², 1/N of a mean against a sum), a transposed matrix, or a wrong
shape (a gradient not summed over the batch axis). `compare_grads` fits
`hand-written = ratio * autograd` per parameter and reports which of these explains the
difference, with the factor and a guess of its meaning, as a table (terminal), HTML (Jupyter)
and plain fields (tests).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..engine import _sum_to
from ..functional import grad as ag_grad
from ..functional import tree_flatten
from ..tensor import Tensor

__all__ = ["GradComparison", "ParamComparison", "compare_backprop", "compare_grads"]

# How the per-element losses are reduced: name -> (constant, power of N, description).
# The loss is constant * N**power * sum(...); gradients of two reductions differ by the ratio.
_REDUCTIONS = {
    "sum": (Fraction(1), 0, "sum"),
    "half_sum": (Fraction(1, 2), 0, "0.5*sum"),
    "mean": (Fraction(1), -1, "mean"),
    "half_mean": (Fraction(1, 2), -1, "0.5*mean"),
}

MATCH = "match"
OPPOSITE = "opposite sign"
FACTOR = "constant factor"
TRANSPOSED = "transposed"
WRONG_SHAPE = "wrong shape"
MISMATCH = "mismatch"
MISSING = "missing"
EXTRA = "extra"
NOT_FINITE = "not finite"


@dataclass
class ParamComparison:
    """One parameter's verdict. `ratio` fits hand-written = ratio * autograd (sign included);
    `factor` = |ratio| and `sign` = ±1 when the verdict involves them, else None."""

    name: str
    shape: tuple | None  # hand-written gradient's shape
    autograd_shape: tuple | None
    verdict: str
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    worst_index: tuple | None = None
    handwritten_at_worst: float | None = None
    autograd_at_worst: float | None = None
    ratio: float | None = None
    factor: float | None = None
    sign: int | None = None
    factor_expression: str | None = None
    meaning: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == MATCH

    @property
    def transposed(self) -> bool:
        return self.verdict.startswith(TRANSPOSED)


class GradComparison:
    """Per-parameter comparison report: `report[name]`, iteration, `.ok`, str and HTML tables."""

    def __init__(self, rows: list[ParamComparison], atol: float | None, rtol: float,
                 batch_size: int | None, loss_kind: str | None, renamed: dict[str, str]) -> None:
        self.rows = rows
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
        return [r.name for r in self.rows]

    @property
    def ok(self) -> bool:
        """True when every parameter matches and none is missing or extra."""
        return all(r.ok for r in self.rows)

    @property
    def missing(self) -> list[str]:
        """Parameters autograd has but the hand-written gradients lack."""
        return [r.name for r in self.rows if r.verdict == MISSING]

    @property
    def extra(self) -> list[str]:
        """Hand-written gradients with no parameter of that name on the autograd side."""
        return [r.name for r in self.rows if r.verdict == EXTRA]

    @property
    def verdicts(self) -> dict[str, str]:
        return {r.name: r.verdict for r in self.rows}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {r.name: {k: getattr(r, k) for k in r.__dataclass_fields__} | {"ok": r.ok}
                for r in self.rows}

    # --- rendering ------------------------------------------------------------------------------
    _HEAD = ("parameter", "shape", "max abs err", "max rel err", "worst index", "verdict",
             "ratio h/a")

    def _cells(self, r: ParamComparison) -> tuple[str, ...]:
        if r.shape is not None and r.autograd_shape is not None and r.shape != r.autograd_shape:
            shape = f"{_shape(r.shape)} vs {_shape(r.autograd_shape)}"
        else:
            shape = _shape(r.shape if r.shape is not None else r.autograd_shape)
        factor = ""
        if r.ratio is not None:
            factor = _num(r.ratio)
            if r.factor_expression:
                factor += f" ({r.factor_expression})"
        return (r.name, shape, _num(r.max_abs_error), _num(r.max_rel_error),
                "" if r.worst_index is None else _index(r.worst_index), r.verdict, factor)

    def _notes(self) -> list[str]:
        lines = []
        for r in self.rows:
            for text in ([r.meaning] if r.meaning else []) + r.notes:
                lines.append(f"{r.name}: {text}")
        return lines

    def summary(self) -> str:
        if self.ok:
            return f"all {len(self.rows)} gradients match autograd"
        bad = [f"{r.name} ({r.verdict})" for r in self.rows if not r.ok]
        return f"{len(bad)} of {len(self.rows)} differ from autograd: " + ", ".join(bad)

    def __str__(self) -> str:
        table = [self._HEAD] + [self._cells(r) for r in self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self._HEAD))]
        fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
        lines = ["hand-written vs autograd gradients", fmt(table[0]),
                 "  ".join("-" * w for w in widths)]
        lines += [fmt(row) for row in table[1:]]
        notes = self._notes()
        if notes:
            lines.append("")
            lines += notes
        lines += ["", self.summary()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<GradComparison {self.verdicts}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self._HEAD)
        body = []
        for r in self.rows:
            color = "#1a7f37" if r.ok else "#cf222e"
            cells = list(self._cells(r))
            tds = "".join(
                f'<td style="color:{color};font-weight:bold">{esc(c)}</td>' if i == 5
                else f"<td>{esc(c)}</td>"
                for i, c in enumerate(cells)
            )
            body.append(f"<tr>{tds}</tr>")
        notes = "".join(f"<li>{esc(n)}</li>" for n in self._notes())
        return (
            "<div><b>hand-written vs autograd gradients</b>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<p>{esc(self.summary())}</p></div>"
        )


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------
def _shape(s: tuple | None) -> str:
    if s is None:
        return "?"
    return f"({s[0]},)" if len(s) == 1 else "(" + ",".join(str(n) for n in s) + ")"


def _index(idx: tuple) -> str:
    return "(" + ",".join(str(int(i)) for i in idx) + ")"


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.3g}"


# ---------------------------------------------------------------------------------------------
# Recognising conventions
# ---------------------------------------------------------------------------------------------
def _close(h: np.ndarray, a: np.ndarray, atol: float | None, rtol: float) -> bool:
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


def _expression(const: Fraction, power: int) -> str:
    """'2', '1/2', 'N', 'N/2', '2/N', '1/(2N)', ... for const * N**power."""
    p, q = const.numerator, const.denominator
    if power == 0:
        return str(p) if q == 1 else f"{p}/{q}"
    if power > 0:
        n = "N" if power == 1 else f"N^{power}"
        lead = "" if p == 1 else str(p)
        return f"{lead}{n}" if q == 1 else f"{lead}{n}/{q}"
    n = "N" if power == -1 else f"N^{-power}"
    return f"{p}/{n}" if q == 1 else f"{p}/({q}{n})"


def _factor_meanings(factor: float, batch_size: int | None, loss_kind: str | None,
                     ) -> list[tuple[str, str]]:
    """(expression, meaning) pairs explaining |ratio| as a change of loss reduction."""
    out = []
    for ref_kind, (c_r, p_r, d_r) in _REDUCTIONS.items():
        for comp_kind, (c_c, p_c, d_c) in _REDUCTIONS.items():
            if ref_kind == comp_kind or (loss_kind is not None and comp_kind != loss_kind):
                continue
            const, power = c_r / c_c, p_r - p_c
            if power == 0:
                ok = abs(factor - float(const)) <= 1e-6 * float(const)
                n_txt = ""
            else:
                if batch_size is None:
                    n_est = (factor / float(const)) ** (1 / power)
                    n = round(n_est)
                    if n < 2 or abs(n_est - n) > 1e-6 * n:
                        continue
                else:
                    n = batch_size
                value = float(const) * n ** power
                ok = abs(factor - value) <= 1e-6 * value
                n_txt = f" with N={n}"
            if ok:
                expr = _expression(const, power) + n_txt
                meaning = (f"the hand-written gradient is that of the {d_r} of the per-example "
                           f"losses, autograd's loss is their {d_c}")
                if (ref_kind, comp_kind) == ("half_sum", "sum"):
                    meaning += " (the 2 from d/dx of a square is missing)"
                elif (ref_kind, comp_kind) == ("sum", "half_sum"):
                    meaning += " (the 2 from d/dx of a square, where the loss has 0.5)"
                out.append((expr, meaning))
    return out


def _describe_ratio(row: ParamComparison, ratio: float, batch_size: int | None,
                    loss_kind: str | None, prefix: str = "") -> None:
    """Fill verdict, ratio, factor, sign and meaning of `row` from a fitted ratio."""
    sign = -1 if ratio < 0 else 1
    factor = abs(ratio)
    unit = abs(factor - 1) <= 1e-6
    row.ratio = ratio
    row.sign = sign
    row.factor = 1.0 if unit else factor
    parts = []
    if sign < 0:
        parts.append(OPPOSITE)
    if not unit:
        parts.append(FACTOR)
    verdict = " and ".join(parts) if parts else ""
    row.verdict = (prefix + (", " + verdict if verdict else "")) if prefix else verdict
    meanings = []
    if sign < 0:
        meanings.append(
            "hand-written = -autograd: the gradient-ascent convention (the negative gradient, "
            "e.g. computed from (y - output), then added to the weights)")
    if not unit:
        cands = _factor_meanings(factor, batch_size, loss_kind)
        if cands:
            row.factor_expression = cands[0][0]
            meanings.append(f"factor {factor:.6g} = " + "; or ".join(
                f"{expr}: {text}" for expr, text in cands))
            missing = [arg for arg, value in (("batch_size=N", batch_size),
                                              ("loss_kind=", loss_kind)) if value is None]
            if len(cands) > 1 and missing:
                row.notes.append(
                    f"{len(cands)} readings of the factor fit; pass "
                    + " and ".join(m if m != "loss_kind=" else
                                   "loss_kind= (the reduction of autograd's loss: "
                                   + ", ".join(repr(k) for k in _REDUCTIONS) + ")"
                                   for m in missing)
                    + " to narrow them down")
        else:
            meanings.append(f"factor {factor:.6g}: a constant scale (learning rate folded in? "
                            "a different loss reduction?)")
    row.meaning = "; ".join(meanings) if meanings else None


def _errors(row: ParamComparison, h: np.ndarray, a: np.ndarray, atol: float | None) -> None:
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
    row = ParamComparison(name, tuple(h.shape), tuple(a.shape), MISMATCH)
    h64 = h.astype(np.float64) if h.dtype.kind in "biuf" else h
    a64 = a.astype(np.float64) if a.dtype.kind in "biuf" else a
    if not np.all(np.isfinite(h64)):
        row.verdict = NOT_FINITE
        row.notes.append(f"the hand-written gradient has {int(np.isnan(h64).sum())} NaN and "
                         f"{int(np.isinf(h64).sum())} Inf entries")
        if h.shape == a.shape:
            _errors(row, h64, a64, atol)
        return row
    if h.shape == a.shape:
        _errors(row, h64, a64, atol)
        if _close(h64, a64, atol, rtol):
            row.verdict = MATCH
            return row
        ratio = _fit_ratio(h64, a64, atol, rtol)
        if ratio is not None:
            _describe_ratio(row, ratio, batch_size, loss_kind)
            return row
        if h.ndim == 2 and h.shape[0] == h.shape[1]:
            ratio = _fit_ratio(h64.T, a64, atol, rtol)
            if ratio is not None:
                _describe_ratio(row, ratio, batch_size, loss_kind, prefix=TRANSPOSED)
                row.notes.append("the hand-written gradient equals autograd's transposed "
                                 "(swap the operands of the matmul or add .T)")
                return row
        if not np.any(a64):
            row.notes.append("autograd's gradient is all zeros: the loss does not depend on "
                             "this parameter at this point")
        elif not np.any(h64):
            row.notes.append("the hand-written gradient is all zeros (not computed?)")
        return row
    # shapes differ
    if h.ndim == 2 and h.shape == a.shape[::-1]:
        ratio = _fit_ratio(h64.T, a64, atol, rtol)
        if ratio is not None:
            _describe_ratio(row, ratio, batch_size, loss_kind, prefix=TRANSPOSED)
            row.notes.append(f"the hand-written gradient has shape {_shape(h.shape)}, autograd's "
                             f"{_shape(a.shape)}: it is the transpose (e.g. X @ G instead of "
                             "X.T @ G, or the weight stored as (out, in))")
            row.max_abs_error = row.max_rel_error = None
            return row
    row.verdict = WRONG_SHAPE
    row.notes.append(f"hand-written shape {_shape(h.shape)} but the parameter's gradient has "
                     f"shape {_shape(a.shape)}")
    if h.size == a.size:
        ratio = _fit_ratio(h64.reshape(a.shape), a64, atol, rtol)
        if ratio is not None:
            row.notes.append(f"reshaped to {_shape(a.shape)} it equals {_num(ratio)} x autograd's "
                             "(only the shape is off)")
    try:
        summed = _sum_to(h64, a.shape)
    except Exception:  # noqa: BLE001  (shapes not reducible)
        summed = None
    if summed is not None and summed.shape == a.shape:
        ratio = _fit_ratio(summed, a64, atol, rtol)
        if ratio is not None:
            row.notes.append(f"summed over the broadcast (batch) axes it equals {_num(ratio)} x "
                             "autograd's: the hand-written gradient was not summed over the batch")
    return row


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
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"compare_grads: {where} is not numeric (dtype {arr.dtype})")
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
    """
    if loss_kind is not None and loss_kind not in _REDUCTIONS:
        raise ValueError(f"compare_grads: loss_kind must be one of {list(_REDUCTIONS)}, "
                         f"got {loss_kind!r}")
    if not rtol >= 0 or (atol is not None and not atol >= 0):
        raise ValueError(f"compare_grads: tolerances must be >= 0 (atol={atol}, rtol={rtol})")
    if _is_single(reference) and _is_single(computed):  # one pair of arrays
        name = _single_name(names)
        reference, computed, names = {name: reference}, {name: computed}, None
    list_names = None if isinstance(names, Mapping) else names
    hand = _as_named(reference, list_names, "reference")
    auto = _as_named(computed, list_names, "computed")
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
            rows.append(ParamComparison(name, None, tuple(a.shape), MISSING,
                                        notes=["no hand-written gradient for this parameter"]))
            continue
        row = _compare_one(name, hand[name], a, atol, rtol, batch_size, loss_kind)
        old = [o for o, n in renamed.items() if n == name]
        if old:
            row.notes.insert(0, f"hand-written name {old[0]!r} matched to {name!r}")
        rows.append(row)
    for name, h in hand.items():
        if name not in auto:
            rows.append(ParamComparison(name, tuple(h.shape), None, EXTRA,
                                        notes=["autograd has no parameter of this name"]))
    return GradComparison(rows, atol, rtol, batch_size, loss_kind, renamed)


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
    auto = ag_grad(loss_fn)(base, *args)
    count = None
    if loss_kind == "auto":
        tensors = {k: Tensor(v, requires_grad=True) for k, v in base.items()}
        loss_kind, count = detect_loss_kind(loss_fn(tensors, *args))
    if batch_size is None:
        batch_size = count  # a mean's element count is the N of its 1/N
    if batch_size is None:
        for leaf in tree_flatten(list(args))[0]:
            arr = leaf.data if isinstance(leaf, Tensor) else np.asarray(leaf)
            if arr.ndim >= 1:
                batch_size = int(arr.shape[0])
                break
    return compare_grads(hand, auto, names=names, atol=atol, rtol=rtol, batch_size=batch_size,
                         loss_kind=loss_kind)
