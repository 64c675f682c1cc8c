"""compare_grads / compare_backprop: each recognised convention, from real hand-written backprop.

The truth for every case is an independent central finite difference in float64, so the
verdicts are checked against the actual relation between the two gradients, not against what
the code under test computes.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.check import (
    GradComparison,
    ParamComparison,
    compare_backprop,
    compare_grads,
)
from autograd_nn.check.table import html_table, text_table
from autograd_nn_course import tutorial1, tutorial2


def fd_grad(f, params: dict, eps: float = 1e-6) -> dict:
    """Central finite differences of a NumPy scalar function of a dict of float64 arrays."""
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v, dtype=np.float64)
        for idx in np.ndindex(v.shape):
            p = {n: a.astype(np.float64).copy() for n, a in params.items()}
            p[k][idx] += eps
            up = f(p)
            p[k][idx] -= 2 * eps
            g[idx] = (up - f(p)) / (2 * eps)
        out[k] = g
    return out


# --- a small linear layer with hand-written gradients ------------------------------------------
N, D, K = 8, 3, 2
rng = np.random.default_rng(7)
X = rng.standard_normal((N, D))
T = rng.standard_normal((N, K))
P0 = {"W": rng.standard_normal((D, K)), "b": rng.standard_normal(K)}


def residual(p):
    return X @ p["W"] + p["b"] - T


def np_sum_loss(p):
    return float(np.sum(residual(p) ** 2))


def np_mean_loss(p):
    return float(np.mean(residual(p) ** 2))


def ag_sum_loss(p, X=X, T=T):
    return ((ag.matmul(X, p["W"]) + p["b"] - T) ** 2).sum()


def ag_mean_loss(p, X=X, T=T):
    return ((ag.matmul(X, p["W"]) + p["b"] - T) ** 2).mean()


def hand_correct_sum(p, X=X, T=T):
    r = residual(p)
    return {"W": X.T @ (2 * r), "b": (2 * r).sum(axis=0)}



def _sigmoid(z):
    """The tutorials' own NumPy sigmoid: an independent reference for their losses."""
    return 1 / (1 + np.exp(-z))


def test_independent_reference_agrees_with_hand_written_sum_gradient():
    ref = fd_grad(np_sum_loss, P0)
    hand = hand_correct_sum(P0)
    for k in ref:
        np.testing.assert_allclose(hand[k], ref[k], rtol=1e-6, atol=1e-6)


def test_match():
    report = compare_backprop(hand_correct_sum, ag_sum_loss, P0, X, T)
    assert report.ok
    assert report["W"].verdict == "match" and report["b"].verdict == "match"
    assert report["W"].max_abs_error < 1e-10
    assert report.loss_kind == "sum" and report.batch_size == N


def test_tutorial1_is_opposite_sign_with_factor_1():
    params = tutorial1.initial_weights(0)
    report = compare_backprop(tutorial1.handwritten_gradients, tutorial1.loss, params,
                              tutorial1.X, tutorial1.Y)
    # independent truth: the tutorial's d_weights is minus the finite-difference gradient
    def np_loss(p):
        out = _sigmoid(_sigmoid(tutorial1.X @ p["weights1"]) @ p["weights2"])
        return float(np.sum((tutorial1.Y - out) ** 2))

    ref = fd_grad(np_loss, params)
    hand = tutorial1.handwritten_gradients(params)
    for name in ("weights1", "weights2"):
        np.testing.assert_allclose(hand[name], -ref[name], rtol=1e-5, atol=1e-8)
        row = report[name]
        assert row.verdict == "opposite sign"
        assert row.factor == 1.0 and row.sign == -1
        assert row.ratio == pytest.approx(-1.0, rel=1e-9)
        assert row.max_abs_error == pytest.approx(np.max(np.abs(hand[name] - ref[name])),
                                                  rel=1e-5)
        assert "ascent" in row.meaning
    assert not report.ok


def test_tutorial2_is_constant_factor_n_over_2():
    params = tutorial2.initial_weights(0)
    report = compare_backprop(tutorial2.handwritten_gradients, tutorial2.loss, params,
                              tutorial2.X, tutorial2.Y)

    def np_mse(p):
        out = _sigmoid(_sigmoid(tutorial2.X @ p["weights1"]) @ p["weights2"])
        return float(np.mean((out - tutorial2.Y) ** 2))

    ref = fd_grad(np_mse, params, eps=1e-4)
    hand = tutorial2.handwritten_gradients(params)
    n = len(tutorial2.X)
    for name in ("weights1", "weights2"):
        # the relation itself, independently: hand-written = N/2 x d(mean)/d(weights)
        np.testing.assert_allclose(hand[name], n / 2 * ref[name], rtol=1e-4,
                                   atol=1e-4 * np.max(np.abs(hand[name])))
        row = report[name]
        assert row.verdict == "constant factor"
        assert row.factor == pytest.approx(n / 2, rel=1e-9) and row.sign == 1
        assert row.factor_expression == "N/2 with N=4"
        assert "0.5*sum" in row.meaning and "mean" in row.meaning
    assert report.loss_kind == "mean"


def test_mean_vs_sum_factor_is_the_count_averaged():
    # the mean averages N*K = 16 squared residuals: the sum's gradient is 16x the mean's
    report = compare_backprop(hand_correct_sum, ag_mean_loss, P0, X, T)
    ref = fd_grad(np_mean_loss, P0)
    np.testing.assert_allclose(hand_correct_sum(P0)["W"], N * K * ref["W"], rtol=1e-5)
    assert report.loss_kind == "mean" and report.batch_size == N * K
    for name in ("W", "b"):
        assert report[name].verdict == "constant factor"
        assert report[name].factor == pytest.approx(N * K)
        assert report[name].factor_expression == f"N with N={N * K}"
        assert "sum" in report[name].meaning and "mean" in report[name].meaning


def test_missing_two_of_a_square():
    def hand(p, X=X, T=T):
        r = residual(p)
        return {"W": X.T @ r, "b": r.sum(axis=0)}

    report = compare_backprop(hand, ag_sum_loss, P0)
    row = report["W"]
    assert row.verdict == "constant factor"
    assert row.factor == pytest.approx(0.5)
    assert row.factor_expression == "1/2"
    assert "2 from d/dx of a square" in row.meaning


def test_sign_and_factor_combined():
    def hand(p, X=X, T=T):  # ascent direction AND the missing 2
        r = T - (X @ p["W"] + p["b"])
        return {"W": X.T @ r, "b": r.sum(axis=0)}

    report = compare_backprop(hand, ag_sum_loss, P0)
    for name in ("W", "b"):
        row = report[name]
        assert row.verdict == "opposite sign and constant factor"
        assert row.sign == -1 and row.factor == pytest.approx(0.5)
        assert row.ratio == pytest.approx(-0.5)


def test_factor_without_known_loss_kind_infers_n():
    hand = hand_correct_sum(P0)
    auto = ag.grad(ag_mean_loss)(P0)
    report = compare_grads(hand, auto)  # no batch size, no loss kind: N is inferred
    assert report["W"].factor == pytest.approx(N * K)
    assert f"N with N={N * K}" in report["W"].meaning
    report = compare_grads(hand, auto, batch_size=3)  # a wrong N: no such explanation
    assert "N with" not in report["W"].meaning


def test_transposed_non_square():
    def hand(p, X=X, T=T):  # r.T @ X instead of X.T @ r: shape (K, D)
        r = residual(p)
        return {"W": (2 * r).T @ X, "b": (2 * r).sum(axis=0)}

    report = compare_backprop(hand, ag_sum_loss, P0)
    row = report["W"]
    assert row.verdict == "transposed"
    assert row.shape == (K, D) and row.autograd_shape == (D, K)
    assert row.transposed and not row.ok
    assert report["b"].verdict == "match"


def test_transposed_square_and_with_sign():
    Xs = rng.standard_normal((5, 3))
    Ts = rng.standard_normal((5, 3))
    p = {"W": rng.standard_normal((3, 3))}

    def loss(q, X=Xs, T=Ts):
        return ((ag.matmul(X, q["W"]) - T) ** 2).sum()

    def hand(q, X=Xs, T=Ts):
        r = X @ q["W"] - T
        return {"W": -(X.T @ (2 * r)).T}

    ref = fd_grad(lambda q: float(np.sum((Xs @ q["W"] - Ts) ** 2)), p)
    np.testing.assert_allclose(hand(p)["W"], -ref["W"].T, rtol=1e-5, atol=1e-7)
    row = compare_backprop(hand, loss, p)["W"]
    assert row.verdict == "transposed, opposite sign"
    assert row.max_abs_error > 0  # same shape: errors are reported elementwise


def test_wrong_shape_bias_not_summed_over_batch():
    def hand(p, X=X, T=T):
        r = residual(p)
        return {"W": X.T @ (2 * r), "b": 2 * r}  # forgot .sum(axis=0)

    report = compare_backprop(hand, ag_sum_loss, P0)
    row = report["b"]
    assert row.verdict == "wrong shape"
    assert row.shape == (N, K) and row.autograd_shape == (K,)
    assert any("not summed over the batch" in n for n in row.notes)
    assert row.max_abs_error is None
    assert report["W"].verdict == "match"


def test_wrong_shape_reshape_only():
    auto = {"v": np.arange(1.0, 5.0)}
    row = compare_grads({"v": np.arange(1.0, 5.0).reshape(4, 1)}, auto)["v"]
    assert row.verdict == "wrong shape"
    assert any("reshaped to (4,)" in n for n in row.notes)


def test_mismatch_missing_extra_and_renamed():
    auto = {"W": np.ones((2, 2)), "b": np.ones(2)}
    hand = {"d_W": np.array([[1.0, 2.0], [3.0, 4.0]]), "c": np.zeros(3)}
    report = compare_grads(hand, auto)
    assert report["W"].verdict == "mismatch"
    assert any("'d_W' matched to 'W'" in n for n in report["W"].notes)
    assert report.missing == ["b"] and report.extra == ["c"]
    assert report["W"].worst_index == (1, 1)
    assert report["W"].max_abs_error == pytest.approx(3.0)
    assert report["W"].max_rel_error == pytest.approx(3.0)
    assert not report.ok


def test_not_finite_and_zero_notes():
    auto = {"a": np.array([1.0, 2.0]), "z": np.zeros(2)}
    hand = {"a": np.array([1.0, np.nan]), "z": np.array([1.0, 0.0])}
    report = compare_grads(hand, auto)
    assert report["a"].verdict == "not finite"
    assert report["z"].verdict == "mismatch"
    assert any("all zeros" in n for n in report["z"].notes)


def test_tiny_gradients_are_not_waved_through():
    auto = {"w": np.array([1e-7, -2e-7, 3e-7])}
    report = compare_grads({"w": 2 * auto["w"]}, auto)
    assert report["w"].verdict == "constant factor"
    assert report["w"].factor == pytest.approx(2.0)


def test_sequences_with_names_and_explicit_mapping():
    hand = (np.ones(2), -np.ones(3))
    auto = (np.ones(2), np.ones(3))
    report = compare_grads(hand, auto, names=["a", "b"])
    assert report.verdicts == {"a": "match", "b": "opposite sign"}
    report = compare_grads({"grad_a": np.ones(2)}, {"a": np.ones(2)}, names={"grad_a": "a"})
    assert report["a"].ok


def test_tuple_from_handwritten_fn_uses_param_order():
    def hand(p, X=X, T=T):
        g = hand_correct_sum(p)
        return g["W"], g["b"]

    assert compare_backprop(hand, ag_sum_loss, P0).ok


def test_handwritten_fn_cannot_corrupt_autograd_side():
    def hand(p, X=X, T=T):
        g = hand_correct_sum(p)
        p["W"] += 100.0  # an in-place update, as the tutorials do
        return g

    before = {k: v.copy() for k, v in P0.items()}
    assert compare_backprop(hand, ag_sum_loss, P0).ok
    np.testing.assert_array_equal(P0["W"], before["W"])


def test_rendering_terminal_and_html():
    report = compare_backprop(tutorial1.handwritten_gradients, tutorial1.loss,
                              tutorial1.initial_weights(0), tutorial1.X, tutorial1.Y)
    text = str(report)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("parameter"))
    for col in ("shape", "max abs err", "max rel err", "worst index", "verdict"):
        assert col in header
    row = next(line for line in lines if line.startswith("weights1"))
    assert "(3,4)" in row and "opposite sign" in row
    assert "2 of 2 differ" in text
    page = report._repr_html_()
    assert page.count("<tr>") == 3 and "opposite sign" in page and "<table>" in page
    assert isinstance(report, GradComparison) and len(report) == 2
    d = report.to_dict()
    assert d["weights2"]["verdict"] == "opposite sign" and d["weights2"]["ok"] is False


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="reference must be a dict"):
        compare_grads(3, {"a": np.ones(1)})
    with pytest.raises(ValueError, match="names="):
        compare_grads([np.ones(1)], [np.ones(1)])
    with pytest.raises(ValueError, match="loss_kind"):
        compare_grads({}, {}, loss_kind="median")
    with pytest.raises(KeyError, match="'x'"):
        compare_grads({"a": np.ones(1)}, {"a": np.ones(1)}, names={"x": "a"})
    with pytest.raises(KeyError, match="no parameter 'zz'"):
        compare_grads({"a": np.ones(1)}, {"a": np.ones(1)})["zz"]


def test_single_pair_of_arrays_as_in_the_readme():
    hand = hand_correct_sum(P0)
    ref = fd_grad(np_sum_loss, P0)  # independent truth: the hand-written W gradient is right
    report = compare_grads(hand["W"], ref["W"])
    assert report.names == ["grad"] and report.ok
    report = compare_grads(-hand["W"], ag.Tensor(ref["W"]), names="W")
    assert report.names == ["W"] and report["W"].verdict == "opposite sign"
    assert compare_grads(hand["b"], ref["b"], names=["b"]).names == ["b"]
    with pytest.raises(ValueError, match="one name"):
        compare_grads(hand["W"], ref["W"], names=["W", "b"])
    with pytest.raises(TypeError, match="reference must be a dict"):
        compare_grads(hand["W"], {"W": ref["W"]})  # an array against a dict is not a pair


def test_ambiguous_factor_suggests_batch_size_and_loss_kind():
    hand = hand_correct_sum(P0)
    auto = ag.grad(ag_mean_loss)(P0)
    # a factor of N*K = 16 fits several reductions: the report asks for the missing facts
    report = compare_grads(hand, auto)
    notes = " ".join(report["W"].notes)
    assert "readings of the factor fit" in notes
    assert "batch_size=N" in notes and "loss_kind=" in notes and "'half_mean'" in notes
    assert "batch_size=N" in str(report)
    report = compare_grads(hand, auto, batch_size=N * K)
    notes = " ".join(report["W"].notes)
    assert "batch_size=N" not in notes  # given: only the missing one is asked for
    # with both given the single reading left needs no hint
    report = compare_grads(hand, auto, batch_size=N * K, loss_kind="mean")
    assert not any("readings" in n for n in report["W"].notes)
    assert report["W"].factor_expression == f"N with N={N * K}"


# --- the verdict is a set of facts; its text is derived from them ------------------------------
def test_facts_behind_each_verdict():
    def hand_sign_factor(p, X=X, T=T):
        r = T - (X @ p["W"] + p["b"])
        return {"W": X.T @ r, "b": r.sum(axis=0)}

    row = compare_backprop(hand_sign_factor, ag_sum_loss, P0)["W"]
    assert (row.sign, row.factor, row.transposed, row.shape_mismatch, row.match) == (
        -1, pytest.approx(0.5), False, False, False)
    assert row.factor_readings[0][0] == row.factor_expression == "1/2"
    assert "2 from d/dx of a square" in row.factor_readings[0][1]
    row = compare_backprop(hand_correct_sum, ag_sum_loss, P0)["W"]
    assert row.match and row.ok and row.finite and row.ratio is None and row.sign is None

    def hand_transposed(p, X=X, T=T):
        r = residual(p)
        return {"W": (2 * r).T @ X, "b": 2 * r}  # W transposed, b not summed over the batch

    report = compare_backprop(hand_transposed, ag_sum_loss, P0)
    w, b = report["W"], report["b"]
    assert w.transposed and not w.shape_mismatch and w.sign == 1 and w.factor == 1.0
    assert w.factor_readings == [] and w.factor_expression is None
    assert b.shape_mismatch and not b.transposed and b.ratio is None and b.sign is None
    report = compare_grads({"a": np.array([np.nan, 1.0]), "x": np.ones(1)}, {"a": np.ones(2),
                                                                            "m": np.ones(1)})
    assert not report["a"].finite and report["x"].extra and report["m"].missing
    assert not any(r.match for r in report)


def test_verdict_and_meaning_are_written_from_the_facts():
    def row(**facts):
        return ParamComparison("w", (2, 2), (2, 2), **facts)

    assert row(match=True).verdict == "match"
    assert row().verdict == "mismatch"
    assert row(ratio=-1.0, sign=-1, factor=1.0).verdict == "opposite sign"
    assert row(ratio=3.0, sign=1, factor=3.0).verdict == "constant factor"
    assert row(ratio=-3.0, sign=-1, factor=3.0).verdict == "opposite sign and constant factor"
    assert row(ratio=1.0, sign=1, factor=1.0, transposed=True).verdict == "transposed"
    assert (row(ratio=-0.5, sign=-1, factor=0.5, transposed=True).verdict
            == "transposed, opposite sign and constant factor")
    assert row(shape_mismatch=True).verdict == "wrong shape"
    assert row(finite=False, ratio=2.0, sign=1, factor=2.0).verdict == "not finite"
    assert row(missing=True).verdict == "missing" and row(extra=True).verdict == "extra"
    r = row(ratio=-3.0, sign=-1, factor=3.0, factor_readings=[("3", "a reading")])
    assert r.meaning.startswith("hand-written = -autograd")
    assert "factor 3 = 3: a reading" in r.meaning
    assert "a constant scale" in row(ratio=3.0, sign=1, factor=3.0).meaning
    assert row(match=True).meaning is None
    d = r.to_dict()
    assert d["verdict"] == "opposite sign and constant factor" and d["sign"] == -1
    assert d["factor_expression"] == "3" and d["ok"] is False and d["transposed"] is False


def test_compare_backprop_evaluates_the_loss_once():
    calls = []

    def loss(p, X=X, T=T):
        calls.append(1)
        return ag_mean_loss(p, X, T)

    report = compare_backprop(hand_correct_sum, loss, P0)
    assert len(calls) == 1 and report.loss_kind == "mean"  # the reduction read from that graph


# --- one table helper for text and HTML --------------------------------------------------------
def test_table_helper_aligns_text_and_escapes_html():
    head, rows = ("a", "long name"), [("<x>", "1"), ("yy & z", "")]
    assert text_table(head, rows) == ["a       long name", "------  ---------", "<x>     1",
                                      "yy & z"]
    page = html_table(head, rows, lambda i, j: "color:red" if (i, j) == (0, 1) else None)
    assert "<td>&lt;x&gt;</td>" in page and '<td style="color:red">1</td>' in page
    assert "<td>yy &amp; z</td>" in page and page.count("<tr>") == 3
    with pytest.raises(ValueError, match="2 cells"):
        text_table(("a",), [("1", "2")])


def test_report_cells_are_escaped_in_html():
    page = compare_grads({"<w&>": -np.ones(2)}, {"<w&>": np.ones(2)})._repr_html_()
    assert "<w&>" not in page and "&lt;w&amp;&gt;" in page
    assert '<td style="color:#cf222e;font-weight:bold">opposite sign</td>' in page


def test_a_boolean_array_is_refused_as_a_gradient_by_both_tools():
    """A mask passed where a gradient belongs is a mistake, named, not a silent comparison."""
    mask = np.array([[True, False], [True, True]])
    with pytest.raises(TypeError, match=r"compare_grads: .*dtype bool.*boolean mask"):
        compare_grads({"W": mask}, {"W": np.full((2, 2), 2.0)})
    W = ag.Tensor(np.ones((2, 2)), requires_grad=True, name="W")
    with pytest.raises(TypeError, match=r"compare_intermediates: user_grads\['W'\].*\(2, 2\).*"
                                        r"bool.*boolean mask"):
        ag.compare_intermediates((W * W).sum(), {"W": mask})
    assert compare_grads({"W": np.full((2, 2), 2)}, {"W": np.full((2, 2), 2.0)}).ok  # ints count
