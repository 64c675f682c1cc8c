"""compare_grads / compare_backprop reason across parameters: a sign or factor is a convention
only when every parameter shares it; a keepdims-shaped bias is only reshaped."""

from __future__ import annotations

import numpy as np
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn.check import compare_backprop

rng = np.random.default_rng(7)
X = rng.normal(size=(5, 3))
T = rng.normal(size=(5, 2))
P0 = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=(4,)),
      "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=(2,))}


def loss(p, X=X, T=T):
    h = ag.tanh(X @ p["W1"] + p["b1"])
    return ag.mean((h @ p["W2"] + p["b2"] - T) ** 2)


def backprop(p, X=X, T=T, sign_w1=1.0, factor_w2=1.0, keepdims_b1=False):
    """Hand-written backprop of `loss`; the keyword arguments plant the mistakes."""
    h = np.tanh(X @ p["W1"] + p["b1"])
    out = h @ p["W2"] + p["b2"]
    d_out = 2 * (out - T) / out.size
    d_h = d_out @ p["W2"].T
    d_z = d_h * (1 - h ** 2)
    return {"W1": sign_w1 * X.T @ d_z, "b1": d_z.sum(axis=0, keepdims=keepdims_b1),
            "W2": factor_w2 * h.T @ d_out, "b2": d_out.sum(axis=0)}


def _np_loss(w1, b1, w2, b2):
    return np.mean((np.tanh(X @ w1 + b1) @ w2 + b2 - T) ** 2)


def test_the_hand_written_backprop_is_right_without_the_planted_mistakes():
    report = compare_backprop(backprop, loss, P0, X, T)
    assert report.ok
    args = [P0[k] for k in ("W1", "b1", "W2", "b2")]
    for i, name in enumerate(("W1", "b1", "W2", "b2")):
        np.testing.assert_allclose(backprop(P0)[name], numeric_grad(_np_loss, args, i),
                                   rtol=1e-6, atol=1e-9)


def test_a_sign_in_w1_only_and_a_factor_in_w2_only_are_local():
    def hand(p, X=X, T=T):
        return backprop(p, X, T, sign_w1=-1.0, factor_w2=2.0)

    report = compare_backprop(hand, loss, P0, X, T)
    assert [report[n].ok for n in ("W1", "b1", "W2", "b2")] == [False, True, False, True]
    w1, w2 = report["W1"], report["W2"]
    assert w1.verdict == "opposite sign" and w2.verdict == "constant factor"
    assert w1.meaning.startswith("only W1 has the opposite sign; b1 in the same layer matches: "
                                 "a local derivative error")
    assert "ascent" not in w1.meaning.split("not a convention")[0]
    assert w2.meaning.startswith("only W2 has a factor 2; b2 in the same layer matches")
    assert "0.5*sum" not in w2.meaning and w2.factor_readings == []
    assert "only W1" in str(report) and "only W2" in str(report)


def test_a_sign_every_parameter_shares_is_still_the_ascent_convention():
    def hand(p, X=X, T=T):
        return {k: -v for k, v in backprop(p, X, T).items()}

    report = compare_backprop(hand, loss, P0, X, T)
    assert all(r.verdict == "opposite sign" for r in report)
    assert all(r.local is None and "gradient-ascent convention" in r.meaning for r in report)


def test_a_factor_every_parameter_shares_is_still_a_reduction():
    def hand(p, X=X, T=T):  # the gradient of the sum: N*K = 10 times the mean's
        return {k: v * T.size for k, v in backprop(p, X, T).items()}

    report = compare_backprop(hand, loss, P0, X, T)
    assert all(r.local is None and "mean" in r.meaning for r in report)


def test_a_keepdims_bias_is_only_reshaped():
    def hand(p, X=X, T=T):
        return backprop(p, X, T, keepdims_b1=True)

    row = compare_backprop(hand, loss, P0, X, T)["b1"]
    assert row.verdict == "wrong shape" and row.shape == (1, 4)
    assert any("only the shape is off" in n for n in row.notes)
    assert not any("not summed over the batch" in n for n in row.notes)


# --- issue 22: the parameters judged together, the node where the error enters ----------------
def named_loss(p, X=X, T=T):
    z1 = X @ p["W1"] + p["b1"]
    z1.name = "z1"
    h1 = ag.tanh(z1)
    h1.name = "h1"
    return ag.mean((h1 @ p["W2"] + p["b2"] - T) ** 2)


def chain_backprop(p, X=X, T=T, sign_dz1=1.0, tanh_at_z=False):
    z = X @ p["W1"] + p["b1"]
    h = np.tanh(z)
    d_out = 2 * (h @ p["W2"] + p["b2"] - T) / T.size
    d_h = d_out @ p["W2"].T
    d_z = sign_dz1 * d_h * ((1 - z ** 2) if tanh_at_z else (1 - h ** 2))
    return {"W1": X.T @ d_z, "b1": d_z.sum(axis=0), "W2": h.T @ d_out, "b2": d_out.sum(axis=0)}


def test_a_sign_shared_by_w1_and_b1_enters_upstream_of_both():
    report = compare_backprop(lambda p, X=X, T=T: chain_backprop(p, X, T, sign_dz1=-1.0),
                              named_loss, P0, X, T)
    d = report.diagnosis
    assert (d.kind, d.node, set(d.candidates), set(d.inherited_by)) == (
        "sign", None, {"z1", "h1"}, {"W1", "b1"})
    assert report.kind == "sign" and report.inherited_by == d.inherited_by
    assert "only" not in str(report) and "convention" not in d.text.split("not a convention")[0]
    assert "enters at dL/dh1 or dL/dz1 (layer 1)" in d.text
    assert 'ag.compare_intermediates(loss, {"dh1": your_dh1, "dz1": your_dz1}, params)' in d.text


def test_a_wrong_activation_derivative_says_the_kind_cannot_be_read_from_parameters():
    report = compare_backprop(lambda p, X=X, T=T: chain_backprop(p, X, T, tanh_at_z=True),
                              named_loss, P0, X, T)
    d = report.diagnosis
    assert d.kind == "unknown" and not d.kind_known and "activation" in d.alternatives
    assert set(d.candidates) == {"z1", "h1"} and d.settle is not None
    assert "can't be read from the parameter gradients alone" in d.text


def test_a_shared_ratio_is_a_convention_only_when_every_parameter_has_it():
    def ascent(p, X=X, T=T):
        return {k: -v for k, v in chain_backprop(p, X, T).items()}

    report = compare_backprop(ascent, named_loss, P0, X, T)
    assert report.kind == "convention" and not report.bugs
    assert report.diagnosis.alternatives == ("sign",)
    half = compare_backprop(lambda p, X=X, T=T: {k: v * T.size / 2 for k, v in
                                                 chain_backprop(p, X, T).items()},
                            named_loss, P0, X, T)
    assert half.kind == "convention" and half.diagnosis.expression == "N/2 with N=10"
    missing_mean = compare_backprop(lambda p, X=X, T=T: {k: v * T.size for k, v in
                                                         chain_backprop(p, X, T).items()},
                                    named_loss, P0, X, T)
    assert missing_mean.kind == "mean_vs_sum" and missing_mean.diagnosis.n == T.size
