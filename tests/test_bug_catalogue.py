"""Score compare_intermediates and compare_backprop on the catalogue of seeded bugs (issue 22).

The catalogue (tests/bug_catalogue) seeds each of the eight kinds at different nodes of six
hand-written backprops, over several shapes; the correct programs are checked here against
autograd and finite differences. Both tools run on every case and are scored on the structured
fields of their verdicts (`.kind`, `.node`, `.candidates`, `.kind_known`, `.alternatives`),
never on their prose. Run this file with `-s` to see the per-kind table.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from bug_catalogue import ARCHITECTURES, Bug, catalogue

import autograd_nn as ag
from autograd_nn.check import compare_backprop

KINDS = ("sign", "factor", "transposed", "axis", "accumulation", "activation", "mean_vs_sum",
         "convention")


def _param_relations(case) -> dict[str, object]:
    """Per parameter, from the seeded program's own numbers: 'match', 'shape', a ratio, or
    'other' (no constant relates it to the right gradient)."""
    right, wrong = case.node_grads(Bug(None)), case.node_grads()
    out: dict[str, object] = {}
    for p in case.arch.params:
        a, h = right[p], wrong[p]
        if a.shape != h.shape:
            out[p] = "shape"
        elif np.allclose(h, a, rtol=1e-7, atol=1e-12):
            out[p] = "match"
        else:
            c = float(np.vdot(h, a) / np.vdot(a, a))
            out[p] = c if np.allclose(h, c * a, rtol=1e-7, atol=1e-12) else "other"
    return out


def _kind_from_params(case, rel: dict) -> bool:
    """Do the parameter gradients alone determine the kind? Not for a wrong activation
    derivative or a missing contribution, nor for a same-shape sum over the wrong axis, nor for
    a sign or factor that no parameter carries cleanly (every one that inherits it mixes it
    with a right contribution through another path), nor one that every parameter shares by a
    ratio a convention also gives (-1, 1/2, 2, N/2, 2/N): those numbers are the convention's."""
    kind, n = case.bug.kind, case.n
    if kind == "transposed":
        return True
    if kind == "axis":
        return rel[case.bug.node] == "shape"
    if kind in ("sign", "factor", "mean_vs_sum"):
        seeded = {"sign": [-1.0], "factor": [case.bug.variant], "mean_vs_sum": [n, 1 / n]}[kind]
        values = list(rel.values())
        carried = any(isinstance(v, float) and np.isclose(v, seeded).any() for v in values)
        shared = all(isinstance(v, float) for v in values) and np.allclose(values, values[0])
        conventional = [s * c for s in (1, -1) for c in (0.5, 2, n / 2, 2 / n)] + [-1.0]
        return carried and not (shared and np.isclose(values[0], conventional).any())
    return False


def _run(case):
    loss, p = case.loss_tensor()
    ci = ag.compare_intermediates(loss, case.user_grads(), p)
    cg = compare_backprop(case.handwritten, case.arch.loss, case.params, case.X, case.Y)
    return ci, cg


def score(cases) -> tuple[dict, list[str]]:
    """Per kind: counts of each criterion, and the cases that missed one."""
    table: dict[str, collections.Counter] = {k: collections.Counter()
                                             for k in ("correct", *KINDS)}
    misses: list[str] = []
    for case in cases:
        ci, cg = _run(case)
        kind, node = case.bug.kind or "correct", case.bug.node
        t = table[kind]
        t["cases"] += 1
        if kind == "correct":
            t["ci ok"] += ci.ok and not ci.entries
            t["cg ok"] += cg.ok and not cg.diagnoses
            if not (ci.ok and cg.ok):
                misses.append(f"false alarm: {case.label}")
            continue
        if kind == "convention":
            t["ci convention"] += ci.kind == "convention" and not ci.bugs
            t["cg convention"] += cg.kind == "convention" and not cg.bugs
            if ci.bugs or cg.bugs:
                misses.append(f"convention called a bug: {case.label}: "
                              f"{[(d.node, d.kind) for d in ci.bugs + cg.bugs]}")
            continue
        t["ci detected"] += not ci.ok
        t["ci kind"] += ci.kind == kind
        t["ci node"] += ci.node == node
        if ci.kind != kind or ci.node != node:
            misses.append(f"compare_intermediates: {case.label}: "
                          f"{[(d.node, d.kind) for d in ci.entries]}")
        t["cg detected"] += not cg.ok
        d = cg.diagnosis
        rel = _param_relations(case)
        if _kind_from_params(case, rel):
            t["cg determined"] += 1
            t["cg kind"] += d is not None and d.kind == kind
            if d is None or d.kind != kind:
                misses.append(f"compare_grads kind: {case.label}: {d and (d.kind, d.node)}")
        else:
            t["cg undetermined"] += 1
            honest = d is not None and (d.kind == kind or kind in d.alternatives
                                        or not d.kind_known)
            t["cg kind or can't tell"] += honest
            if not honest:
                misses.append(f"compare_grads undetermined: {case.label}: {d and d.kind}")
        named = any(node in x.candidates for x in cg.diagnoses)
        if node not in case.arch.params:
            t["upstream"] += 1
            t["cg node named"] += named
            cant_tell = not named and d is not None and d.node is None
            t["cg can't tell"] += cant_tell
            if not (named or cant_tell):
                misses.append(f"compare_grads node: {case.label}: "
                              f"{[(x.kind, x.candidates) for x in cg.diagnoses]}")
        else:
            t["at a parameter"] += 1
            t["cg param named"] += named
    return table, misses


def table_text(table: dict) -> str:
    cols = ("cases", "ci detected", "ci kind", "ci node", "cg detected", "cg determined",
            "cg kind", "cg undetermined", "cg kind or can't tell", "upstream", "cg node named",
            "cg can't tell")
    lines = ["| kind | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for kind, t in table.items():
        if kind in ("correct", "convention"):
            continue
        lines.append(f"| {kind} | " + " | ".join(str(t[c]) for c in cols) + " |")
    for kind, keys in (("correct", ("ci ok", "cg ok")),
                       ("convention", ("ci convention", "cg convention"))):
        t = table[kind]
        lines.append(f"| {kind} ({t['cases']} programs) | "
                     + ", ".join(f"{k}: {t[k]}" for k in keys) + " |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def cases():
    return catalogue()


@pytest.fixture(scope="module")
def scored(cases):
    return score(cases)


def test_the_catalogue_is_big_enough_and_covers_every_kind(cases):
    kinds = collections.Counter(c.bug.kind for c in cases)
    assert sum(v for k, v in kinds.items() if k not in (None, "convention")) >= 200
    assert kinds[None] >= 20 and kinds["convention"] >= 10
    assert set(KINDS) <= set(kinds)
    assert len({c.arch.name for c in cases}) >= 5
    for kind in KINDS:  # each kind seeded at more than one node
        assert len({(c.arch.name, c.bug.node) for c in cases if c.bug.kind == kind}) >= 2


def test_the_correct_programs_are_right(cases):
    """Against autograd for every correct program, and against central finite differences
    for one shape of each architecture (an independent reference)."""
    for case in cases:
        if case.bug.kind is not None:
            continue
        loss, p = case.loss_tensor()
        loss.backward()
        g = case.node_grads()
        for name, t in p.items():
            np.testing.assert_allclose(g[name], t.grad, rtol=1e-9, atol=1e-12)
    for arch in ARCHITECTURES:
        case = next(c for c in cases if c.arch is arch and c.bug.kind is None)
        g = case.node_grads()
        for name, value in case.params.items():
            idx = tuple(0 for _ in value.shape)

            def f(v, name=name, idx=idx, case=case, arch=arch):
                q = {k: a.copy() for k, a in case.params.items()}
                q[name][idx] = v
                return float(arch.loss({k: ag.Tensor(a) for k, a in q.items()}, case.X,
                                       case.Y).data)

            x0, eps = value[idx], 1e-6
            fd = (f(x0 + eps) - f(x0 - eps)) / (2 * eps)
            assert g[name][idx] == pytest.approx(fd, rel=1e-5, abs=1e-8), (arch.name, name)


def test_scores_meet_the_issue_targets(scored):
    table, misses = scored
    print("\n" + table_text(table))
    for m in misses:
        print(m)
    bugs = [t for k, t in table.items() if k not in ("correct", "convention")]
    total = sum(t["cases"] for t in bugs)
    # every bug detected by both tools
    assert sum(t["ci detected"] for t in bugs) == total
    assert sum(t["cg detected"] for t in bugs) == total
    # compare_intermediates: right kind and entry node for >= 95% of bugs
    assert sum(t["ci kind"] for t in bugs) >= 0.95 * total
    assert sum(t["ci node"] for t in bugs) >= 0.95 * total
    # compare_grads: right kind for >= 95% of the bugs whose kind the parameters determine
    determined = sum(t["cg determined"] for t in bugs)
    assert sum(t["cg kind"] for t in bugs) >= 0.95 * determined
    # ... and otherwise the right kind among its alternatives or "can't tell"
    assert sum(t["cg kind or can't tell"] for t in bugs) == sum(t["cg undetermined"]
                                                                for t in bugs)
    # ... and the entry node (among the candidates) or "can't tell", for every upstream bug
    upstream = sum(t["upstream"] for t in bugs)
    assert sum(t["cg node named"] + t["cg can't tell"] for t in bugs) == upstream
    # no false alarm on correct code; the convention never called a bug
    assert table["correct"]["ci ok"] == table["correct"]["cg ok"] == table["correct"]["cases"]
    conv = table["convention"]
    assert conv["ci convention"] == conv["cg convention"] == conv["cases"]
