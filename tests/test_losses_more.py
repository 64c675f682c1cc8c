"""l1_loss, smooth_l1_loss, huber_loss, kl_div and binary_cross_entropy_with_logits(pos_weight=)
against torch.nn.functional (values and gradients, float64), extremes and errors."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.nn import functional as L

RNG = np.random.default_rng(7)
PRED = RNG.normal(scale=2.0, size=(5, 3))
TARGET = RNG.normal(size=(5, 3))
PRED[0, 0] = TARGET[0, 0]  # a zero difference: torch's sign(0) = 0 gradient
LOG_Q = np.log(RNG.dirichlet(np.ones(3), size=5))
P = RNG.dirichlet(np.ones(3), size=5)
P[1, 2] = 0.0  # a zero target probability: contributes 0
P[1] /= P[1].sum()
LOGITS = RNG.normal(scale=4.0, size=(5, 3))
LABELS = (RNG.random((5, 3)) > 0.5).astype(float)
POS_WEIGHT = np.array([0.5, 2.0, 3.0])


def _both(ours, theirs, x, *rest):
    """Our value and gradient, and torch's, for one loss (reduction 'none' summed with weights)."""
    torch = pytest.importorskip("torch")
    weights = RNG.normal(size=x.shape)

    def scalar(x):
        out = ours(x, *rest)
        return (out * weights).sum() if out.ndim else out

    value, grad = ag.value_and_grad(scalar)(x)
    tx = torch.tensor(x, requires_grad=True)
    out = theirs(torch, tx, *[torch.tensor(r) for r in rest])
    out = (out * torch.tensor(weights)).sum() if out.ndim else out
    out.backward()
    return float(value), grad, out.item(), tx.grad.numpy()


def _cases():
    for r in ("mean", "sum", "none"):
        yield (f"l1-{r}", lambda x, t, r=r: L.l1_loss(x, t, reduction=r),
               lambda T, x, t, r=r: T.nn.functional.l1_loss(x, t, reduction=r), PRED, TARGET)
        for beta in (1.0, 0.5, 0.0):
            yield (f"smooth_l1-{r}-{beta}",
                   lambda x, t, r=r, b=beta: L.smooth_l1_loss(x, t, reduction=r, beta=b),
                   lambda T, x, t, r=r, b=beta: T.nn.functional.smooth_l1_loss(
                       x, t, reduction=r, beta=b), PRED, TARGET)
        for delta in (1.0, 0.3, 2.5):
            yield (f"huber-{r}-{delta}",
                   lambda x, t, r=r, d=delta: L.huber_loss(x, t, reduction=r, delta=d),
                   lambda T, x, t, r=r, d=delta: T.nn.functional.huber_loss(
                       x, t, reduction=r, delta=d), PRED, TARGET)
        yield (f"bce_logits_pos_weight-{r}",
               lambda x, t, r=r: L.binary_cross_entropy_with_logits(
                   x, t, reduction=r, pos_weight=POS_WEIGHT),
               lambda T, x, t, r=r: T.nn.functional.binary_cross_entropy_with_logits(
                   x, t, reduction=r, pos_weight=T.tensor(POS_WEIGHT)), LOGITS, LABELS)
    for r in ("mean", "batchmean", "sum", "none"):
        yield (f"kl_div-{r}", lambda x, t, r=r: L.kl_div(x, t, reduction=r),
               lambda T, x, t, r=r: T.nn.functional.kl_div(x, t, reduction=r), LOG_Q, P)
        log_p = np.log(RNG.dirichlet(np.ones(3), size=5))
        yield (f"kl_div-log_target-{r}",
               lambda x, t, r=r: L.kl_div(x, t, reduction=r, log_target=True),
               lambda T, x, t, r=r: T.nn.functional.kl_div(x, t, reduction=r, log_target=True),
               LOG_Q, log_p)


CASES = list(_cases())


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's kl_div 'mean' warning
@pytest.mark.parametrize("name, ours, theirs, x, t", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_in_value_and_gradient(name, ours, theirs, x, t):
    value, grad, t_value, t_grad = _both(ours, theirs, x, t)
    np.testing.assert_allclose(value, t_value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-11, atol=1e-14)


def test_gradients_flow_to_targets_that_require_grad():
    torch = pytest.importorskip("torch")
    t = ag.Tensor(P.copy(), requires_grad=True)
    L.kl_div(LOG_Q, t, reduction="batchmean").backward()
    tt = torch.tensor(P.copy(), requires_grad=True)
    torch.nn.functional.kl_div(torch.tensor(LOG_Q), tt, reduction="batchmean").backward()
    # at the zero target torch's gradient is nan; ours is 0 there (documented in kl_div)
    keep = P > 0
    np.testing.assert_allclose(t.grad[keep], tt.grad.numpy()[keep], rtol=1e-12)
    expected = (np.log(np.where(keep, P, 1.0)) + 1 - LOG_Q) / len(P)  # batchmean: / N
    np.testing.assert_allclose(t.grad[keep], expected[keep], rtol=1e-12)
    assert (t.grad[~keep] == 0).all() and np.isnan(tt.grad.numpy()[~keep]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pos_weight_is_stable_for_huge_logits(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([[-1e4, 0.0, 1e4], [500.0, -500.0, 30.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=dtype)
    pw = POS_WEIGHT.astype(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = ag.value_and_grad(
            lambda x: L.binary_cross_entropy_with_logits(x, y, reduction="sum", pos_weight=pw))(x)
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.binary_cross_entropy_with_logits(
        tx, torch.tensor(y), reduction="sum", pos_weight=torch.tensor(pw))
    out.backward()
    assert np.isfinite(float(value)) and np.isfinite(grad).all()
    assert value.dtype == dtype and grad.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(value), out.item(), rtol=rtol)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=rtol, atol=1e-7)


def test_pos_weight_of_ones_equals_no_pos_weight():
    a = L.binary_cross_entropy_with_logits(LOGITS, LABELS, pos_weight=np.ones(3))
    b = L.binary_cross_entropy_with_logits(LOGITS, LABELS)
    np.testing.assert_allclose(float(a), float(b), rtol=1e-14)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be a finite number >= 0"):
        L.smooth_l1_loss(PRED, TARGET, beta=-1.0)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be > 0"):
        L.huber_loss(PRED, TARGET, delta=0.0)
    with pytest.raises(ValueError, match=r"l1_loss: prediction has shape \(5, 3\) but target "
                                         r"has shape \(5, 1\)"):
        L.l1_loss(PRED, TARGET[:, :1])
    with pytest.raises(TypeError, match="l1_loss: pred must be floating point, got dtype int64"):
        L.l1_loss(np.ones((2, 2), dtype=np.int64), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"kl_div: reduction must be one of .*'batchmean'"):
        L.kl_div(LOG_Q, P, reduction="avg")
    with pytest.raises(ValueError, match=r"kl_div: targets must be probabilities >= 0 .* "
                                         r"log_target=True"):
        L.kl_div(LOG_Q, np.log(P + 0.1))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of "
                                         r"shape \(4,\) does not broadcast to the logits' shape "
                                         r"\(5, 3\)"):
        L.binary_cross_entropy_with_logits(LOGITS, LABELS, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="pos_weight must be finite and >= 0"):
        L.binary_cross_entropy_with_logits(LOGITS, LABELS, pos_weight=-POS_WEIGHT)


def test_float32_in_float32_out():
    x = PRED.astype(np.float32)
    for fn in (L.l1_loss, L.smooth_l1_loss, L.huber_loss):
        assert fn(x, TARGET).dtype == np.float32
    assert L.kl_div(LOG_Q.astype(np.float32), P, reduction="batchmean").dtype == np.float32
