"""What a wrong hand-written gradient is, as data: the kind of mistake and the node where it enters.

Both `compare_grads` / `compare_backprop` (parameter gradients only) and `compare_intermediates`
(the hand-derived gradients of intermediate nodes too) describe what they found as `Diagnosis`
objects: `kind` (one of `KINDS`), `node` (where the error enters, or None when the numbers can't
tell), `candidates` (every node it may enter at), `inherited_by` (what differs only because of
it), and `text`. The text is written from these fields, so a test (or a user's script) reads the
fields, never the prose.

The kinds:

- ``sign``: the opposite sign enters at the node;
- ``factor``: a constant factor enters at the node;
- ``transposed``: the node's gradient is the transpose of the right one (square matrices too);
- ``axis``: a bias-like gradient summed over the wrong axis, or not summed over the batch;
- ``accumulation``: a node read by several ops gets only some of the contributions;
- ``activation``: an activation's derivative taken at the wrong value (s(1-s) at z instead of at
  s = sigmoid(z); 1-z² instead of 1-h²), or left out (a missing ReLU mask);
- ``mean_vs_sum``: a factor N (or 1/N), N the number of rows the loss averages (the batch size);
- ``convention``: not a bug: every gradient is the same multiple of autograd's, and the multiple
  is a convention: -1 (gradient ascent, computed from (y - output) and added), or the 0.5 of a
  0.5·sum loss (0.5·sum against sum, 0.5·sum against mean: N/2);
- ``shape``: only the shape is off (a keepdims bias); ``unknown``: the numbers name no kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..core.formatting import number_text

__all__ = ["ACCUMULATION", "ACTIVATION", "AXIS", "CONVENTION", "Diagnosis", "FACTOR", "KINDS",
           "MEAN_VS_SUM", "SHAPE", "SIGN", "TRANSPOSED", "UNKNOWN", "read_scale"]

SIGN = "sign"
FACTOR = "factor"
TRANSPOSED = "transposed"
AXIS = "axis"
ACCUMULATION = "accumulation"
ACTIVATION = "activation"
MEAN_VS_SUM = "mean_vs_sum"
CONVENTION = "convention"
SHAPE = "shape"
UNKNOWN = "unknown"
KINDS = (SIGN, FACTOR, TRANSPOSED, AXIS, ACCUMULATION, ACTIVATION, MEAN_VS_SUM, CONVENTION,
         SHAPE, UNKNOWN)

KIND_TEXT = {
    SIGN: "the opposite sign", FACTOR: "a constant factor", TRANSPOSED: "a transposed gradient",
    AXIS: "a wrong reduction axis (or a missing sum over the batch)",
    ACCUMULATION: "a missing contribution at a node read more than once",
    ACTIVATION: "an activation derivative taken at the wrong value (or left out)",
    MEAN_VS_SUM: "mean vs sum (a missing 1/N)", CONVENTION: "a convention, not a bug",
    SHAPE: "a wrong shape only", UNKNOWN: "a mistake of no recognised kind",
}


@dataclass
class Diagnosis:
    """One mistake (or convention): its kind, where it enters, and what inherits it."""

    kind: str
    node: str | None  # where the error enters; None when the numbers can't tell which candidate
    candidates: tuple[str, ...] = ()  # every node it may enter at, backward order (root first)
    inherited_by: tuple[str, ...] = ()  # gradients that differ only because of this one
    ratio: float | None = None  # yours = ratio * expected, when it is a constant multiple
    expression: str | None = None  # the ratio read as '-1', 'N with N=7', 'N/2 with N=4', ...
    n: int | None = None  # the N of a mean-vs-sum factor (the batch size)
    layer: str | None = None  # the layer the parameters involved share ("1" of W1 and b1)
    kind_known: bool = True  # False: the kind can't be read from the numbers given
    alternatives: tuple[str, ...] = ()  # other kinds the same numbers allow
    text: str = ""
    settle: str | None = None  # the call that would tell the candidates / kinds apart
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def enters_at(self) -> str | None:
        """The node where the error enters (`node`)."""
        return self.node

    @property
    def is_bug(self) -> bool:
        """False for a convention (nothing to fix)."""
        return self.kind != CONVENTION

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "enters_at": self.enters_at, "is_bug": self.is_bug}


# ---------------------------------------------------------------------------------------------
# Reading a scale: which reductions differ by it
# ---------------------------------------------------------------------------------------------
# How the per-element losses are reduced: name -> (constant, power of N, description). The
# loss is constant * N**power * sum(...); the gradients of two reductions differ by the ratio.
REDUCTIONS = {
    "sum": (Fraction(1), 0, "sum"),
    "half_sum": (Fraction(1, 2), 0, "0.5*sum"),
    "mean": (Fraction(1), -1, "mean"),
    "half_mean": (Fraction(1, 2), -1, "0.5*mean"),
}


def reduction_readings(factor: float, n: int | None, loss_kind: str | None,
                       ) -> list[tuple[str, str, Fraction, int, int | None]]:
    """Every (your reduction, autograd's, constant, power, N) with factor = constant * N**power
    (autograd's is `loss_kind` when given; N is estimated from the factor when `n` is None)."""
    out = []
    for ref, (c_r, p_r, _) in REDUCTIONS.items():
        for comp, (c_c, p_c, _) in REDUCTIONS.items():
            if ref == comp or (loss_kind is not None and comp != loss_kind):
                continue
            const, power = c_r / c_c, p_r - p_c
            if power == 0:
                if abs(factor - float(const)) <= 1e-6 * float(const):
                    out.append((ref, comp, const, 0, None))
                continue
            if n is None:
                est = (factor / float(const)) ** (1 / power)
                cand = round(est)
                if cand < 2 or abs(est - cand) > 1e-6 * cand:
                    continue
            else:
                cand = n
            value = float(const) * cand ** power
            if abs(factor - value) <= 1e-6 * value:
                out.append((ref, comp, const, power, cand))
    return out


def scale_expression(const: Fraction, power: int, n: int | None) -> str:
    """'2', '1/2', 'N with N=4', 'N/2 with N=4', '1/(2N) with N=4' for const * N**power."""
    p, q = const.numerator, const.denominator
    if power == 0:
        return str(p) if q == 1 else f"{p}/{q}"
    if power > 0:
        base = "N" if p == 1 else f"{p}N"
        text = base if q == 1 else f"{base}/{q}"
    else:
        text = f"{p}/N" if q == 1 else f"{p}/({q}N)"
    return f"{text} with N={n}"


def read_scale(ratio: float, n: int | None, loss_kind: str | None = None,
               ) -> tuple[str, str | None, int | None]:
    """The kind a scale `yours = ratio * right` names when it applies to a whole chain:
    (kind, expression, N). -1 and the 0.5 of a 0.5·sum (with or without N) are conventions;
    N or 1/N alone is mean vs sum; any other scale is a constant factor (the sign, if also
    flipped, goes with it)."""
    factor = abs(ratio)
    if abs(factor - 1) <= 1e-6:
        return (CONVENTION if ratio < 0 else FACTOR), ("-1" if ratio < 0 else "1"), None
    sign = "-" if ratio < 0 else ""
    found = reduction_readings(factor, n, loss_kind)
    readings = list(dict.fromkeys(  # a whole number is not a batch size until told so
        (const, power, cand) for _, _, const, power, cand in found if n is not None or power == 0))
    for const, power, cand in readings:  # mean vs sum first: the bug, when N alone fits
        if power != 0 and const == 1:
            return MEAN_VS_SUM, sign + scale_expression(const, power, cand), cand
    for const, power, cand in readings:
        return CONVENTION, sign + scale_expression(const, power, cand), cand
    return FACTOR, sign + number_text(factor, 6), None


def node_ratio_kind(ratio: float, n: int | None) -> tuple[str, str, int | None]:
    """The kind of a scale entering at one node (not shared by everything): -1 is a sign slip,
    N or 1/N (N the batch size) a missing or extra 1/N, anything else a constant factor."""
    if abs(ratio + 1) <= 1e-6:
        return SIGN, "-1", None
    factor = abs(ratio)
    sign = "-" if ratio < 0 else ""
    if n is not None and n > 1:
        for value, text in ((n, "N"), (1 / n, "1/N")):
            if abs(factor - value) <= 1e-6 * value:
                return MEAN_VS_SUM, f"{sign}{text} with N={n}", n
    return FACTOR, sign + number_text(factor, 6), None


def names_text(names: list[str] | tuple[str, ...], conj: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {conj} " + names[-1]
