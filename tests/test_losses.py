"""Losses in ag.nn.functional: against PyTorch, against finite differences, extremes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.nn import functional as L

RNG = np.random.default_rng(0)
N, C = 6, 4
LOGITS = RNG.normal(scale=3.0, size=(N, C))
LABELS = np.array([0, 3, 1, 1, 2, 3])
PROBS = RNG.uniform(0.02, 0.98, size=(N, 1))
BINARY = (RNG.random((N, 1)) > 0.5).astype(float)
SOFT = RNG.dirichlet(np.ones(C), size=N)
PRED = RNG.normal(size=(N, 2))
TARGET = RNG.normal(size=(N, 2))
WEIGHTS = RNG.normal(size=(N,))  # upstream weights for reduction="none"


def _value_and_grad(fn, x, *rest, **kw):
    """Our loss and d(loss)/dx; 'none' reductions are contracted with fixed weights."""

    def scalar(x):
        out = fn(x, *rest, **kw)
        if out.ndim:
            w = WEIGHTS.reshape((N,) + (1,) * (out.ndim - 1))
            out = (out * np.broadcast_to(w, out.shape)).sum()
        return out

    value, grad = ag.value_and_grad(scalar)(x)
    return float(value), grad, scalar


def _torch_value_and_grad(torch_fn, x, *rest):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = torch_fn(tx, *rest)
    if out.ndim:
        w = torch.tensor(WEIGHTS).reshape((N,) + (1,) * (out.ndim - 1))
        out = (out * w.expand(out.shape)).sum()
    out.backward()
    return out.detach().item(), tx.grad.numpy()


def _central_diff(scalar, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        g[idx] = (float(scalar(hi).data) - float(scalar(lo).data)) / (2 * eps)
    return g


CASES = [
    # (name, ours, torch builder, input, extra args)
    ("sum_of_squares", lambda x, t: L.sum_of_squares(x, t),
     lambda F, torch: lambda x, t: ((torch.tensor(t) - x) ** 2).sum(), PRED, (TARGET,)),
    *[
        (f"mse_{r}", lambda x, t, r=r: L.mse_loss(x, t, reduction=r),
         lambda F, torch, r=r: lambda x, t: F.mse_loss(x, torch.tensor(t), reduction=r),
         PRED, (TARGET,))
        for r in ("mean", "sum", "none")
    ],
    *[
        (f"bce_{r}", lambda x, t, r=r: L.binary_cross_entropy(x, t, reduction=r),
         lambda F, torch, r=r: lambda x, t: F.binary_cross_entropy(
             x, torch.tensor(t), reduction=r),
         PROBS, (BINARY,))
        for r in ("mean", "sum", "none")
    ],
    ("bce_soft_targets", lambda x, t: L.binary_cross_entropy(x, t),
     lambda F, torch: lambda x, t: F.binary_cross_entropy(x, torch.tensor(t)),
     PROBS, (np.full((N, 1), 0.3),)),
    *[
        (f"bce_logits_{r}", lambda x, t, r=r: L.binary_cross_entropy_with_logits(x, t, reduction=r),
         lambda F, torch, r=r: lambda x, t: F.binary_cross_entropy_with_logits(
             x, torch.tensor(t), reduction=r),
         LOGITS[:, :1], (BINARY,))
        for r in ("mean", "sum", "none")
    ],
    *[
        (f"ce_{r}", lambda x, t, r=r: L.cross_entropy(x, t, reduction=r),
         lambda F, torch, r=r: lambda x, t: F.cross_entropy(x, torch.tensor(t), reduction=r),
         LOGITS, (LABELS,))
        for r in ("mean", "sum", "none")
    ],
    ("ce_prob_targets", lambda x, t: L.cross_entropy(x, t),
     lambda F, torch: lambda x, t: F.cross_entropy(x, torch.tensor(t)), LOGITS, (SOFT,)),
    ("ce_one_hot", lambda x, t: L.cross_entropy(x, t),
     lambda F, torch: lambda x, t: F.cross_entropy(x, torch.tensor(t)),
     LOGITS, (np.eye(C)[LABELS],)),
    *[
        (f"nll_{r}", lambda x, t, r=r: L.nll_loss(ag.log_softmax(x, axis=1), t, reduction=r),
         lambda F, torch, r=r: lambda x, t: F.nll_loss(
             torch.log_softmax(x, 1), torch.tensor(t), reduction=r),
         LOGITS, (LABELS,))
        for r in ("mean", "sum", "none")
    ],
]


@pytest.mark.parametrize("name, ours, theirs, x, rest", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(name, ours, theirs, x, rest):
    torch = pytest.importorskip("torch")
    value, grad, _ = _value_and_grad(ours, x, *rest)
    t_value, t_grad = _torch_value_and_grad(theirs(torch.nn.functional, torch), x, *rest)
    np.testing.assert_allclose(value, t_value, rtol=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name, ours, theirs, x, rest", CASES, ids=[c[0] for c in CASES])
def test_loss_gradient_matches_finite_differences(name, ours, theirs, x, rest):
    _, grad, scalar = _value_and_grad(ours, x, *rest)
    np.testing.assert_allclose(grad, _central_diff(scalar, x), rtol=1e-6, atol=1e-8)


def test_mse_gradient_flows_to_a_target_that_requires_grad():
    t = ag.Tensor(TARGET, requires_grad=True)
    L.mse_loss(PRED, t, reduction="sum").backward()
    np.testing.assert_allclose(t.grad, 2 * (TARGET - PRED), rtol=1e-12)


def test_bce_with_logits_at_zero_has_the_sigmoid_gradient():
    x = np.zeros((3, 1))
    y = np.array([[0.0], [1.0], [0.25]])
    grad = ag.grad(lambda x: L.binary_cross_entropy_with_logits(x, y, reduction="sum"))(x)
    np.testing.assert_allclose(grad, 0.5 - y, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_are_finite_and_warning_free(dtype):
    big = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    labels = np.array([1, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        v, g = ag.value_and_grad(lambda x: L.cross_entropy(x, labels))(big)
        assert np.isfinite(v) and np.isfinite(g).all()
        # row 0: logsumexp = 1000, picked -1000; row 1: logsumexp = 1000 + log1p(e^-1)
        np.testing.assert_allclose(v, (2000.0 + 2000.0 + np.log1p(np.exp(-1.0))) / 2, rtol=1e-6)
        col = big[:, :1]
        target = np.array([[0.0], [1.0]], dtype=dtype)
        v, g = ag.value_and_grad(
            lambda x: L.binary_cross_entropy_with_logits(x, target, reduction="sum"))(col)
        assert np.isfinite(v) and np.isfinite(g).all()
        np.testing.assert_allclose(v, 2000.0, rtol=1e-6)
        np.testing.assert_allclose(g, [[1.0], [-1.0]])
        probs = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
        labels01 = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=dtype)
        v, g = ag.value_and_grad(lambda p: L.binary_cross_entropy(p, labels01))(probs)
        assert np.isfinite(v) and np.isfinite(g).all()
        # a confident wrong answer costs -log(eps), not inf; eps is raised to the largest
        # float below 1's gap in float32 (documented), so that 1 - eps < 1 there
        eps = max(1e-12, float(np.finfo(dtype).epsneg))
        np.testing.assert_allclose(float(v), 2 * -np.log(eps) / 4, rtol=1e-5)
    assert v.dtype == dtype and g.dtype == dtype


def test_float32_predictions_give_float32_loss_and_grads():
    x = LOGITS.astype(np.float32)
    for fn, args in [
        (L.cross_entropy, (LABELS,)),
        (L.cross_entropy, (SOFT,)),  # float64 targets are cast to the logits' dtype
        (L.mse_loss, (RNG.normal(size=(N, C)),)),
        (L.binary_cross_entropy_with_logits, (np.ones((N, C)),)),
    ]:
        v, g = ag.value_and_grad(lambda x, fn=fn, args=args: fn(x, *args))(x)
        assert v.dtype == np.float32 and g.dtype == np.float32, fn.__name__


def test_clear_errors_for_bad_targets():
    with pytest.raises(TypeError, match=r"must be integers, got dtype float64 \(cast"):
        L.cross_entropy(LOGITS, LABELS.astype(float))
    with pytest.raises(ValueError, match=r"targets must be class indices of shape \(6,\)"):
        L.cross_entropy(LOGITS, LABELS[:4])
    with pytest.raises(IndexError, match="target 4 at position 2 is out of range for 4 classes"):
        L.cross_entropy(LOGITS, np.array([0, 1, 4, 0, 0, 0]))
    with pytest.raises(IndexError, match="target -1 at position 0"):
        L.nll_loss(LOGITS, np.array([-1, 1, 1, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        L.cross_entropy(LOGITS[0], 1)
    with pytest.raises(ValueError, match=r"prediction has shape \(6, 1\) but target has shape"):
        L.mse_loss(PROBS, BINARY.ravel())
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.mse_loss(PRED, TARGET, reduction="avg")
    with pytest.raises(TypeError, match="logits must be floating point"):
        L.binary_cross_entropy_with_logits(np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="eps must be in"):
        L.binary_cross_entropy(PROBS, BINARY, eps=0.0)


def test_losses_reachable_from_ag_nn():
    assert ag.nn.functional.cross_entropy is L.cross_entropy
    np.testing.assert_allclose(
        L.sum_of_squares(PRED, TARGET).data, np.sum((TARGET - PRED) ** 2), rtol=1e-14
    )


def test_float_targets_of_another_shape_are_a_shape_error():
    logits = np.zeros((4, 3))
    for bad in (np.full((4, 2), 0.5), np.full((4, 1), 1.0), np.full((3, 3), 1 / 3)):
        with pytest.raises(ValueError) as err:
            L.cross_entropy(logits, bad)
        msg = str(err.value)
        assert "(4, 3)" in msg and str(bad.shape) in msg and "integers" not in msg.split(";")[0]
    # float class indices of shape (N,) still get the cast hint; soft targets still work
    with pytest.raises(TypeError, match=r"\(cast with \.astype\(int\)\)"):
        L.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 0.0]))
    soft = np.full((4, 3), 1 / 3)
    np.testing.assert_allclose(L.cross_entropy(logits, soft).item(), np.log(3), rtol=1e-12)


@pytest.mark.parametrize("fn", [L.binary_cross_entropy, L.binary_cross_entropy_with_logits])
def test_binary_targets_outside_unit_interval_are_rejected(fn):
    x = np.full((4, 1), 0.3)
    for bad, value in ((np.array([[0.0], [1.0], [3.0], [0.0]]), "3.0"),
                       (np.array([[0.0], [-0.5], [1.0], [0.0]]), "-0.5"),
                       (np.array([[0.0], [np.nan], [1.0], [0.0]]), "nan")):
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]") as err:
            fn(x, bad)
        assert value in str(err.value) and fn.__name__ in str(err.value)
    # soft labels inside [0, 1] are fine, and equal the textbook formula
    soft = np.array([[0.0], [0.25], [0.9], [1.0]])
    p = x if fn is L.binary_cross_entropy else 1 / (1 + np.exp(-x))
    expected = -np.mean(soft * np.log(p) + (1 - soft) * np.log(1 - p))
    np.testing.assert_allclose(fn(x, soft).item(), expected, rtol=1e-12)


# --- PyTorch's options: class weights, ignore_index, label smoothing, K-dim inputs ----------------
CLASS_WEIGHTS = np.array([0.5, 2.0, 1.0, 0.25])
IGNORED = np.array([0, -100, 1, 1, -100, 3])
OPTIONS = [
    dict(weight=CLASS_WEIGHTS), dict(ignore_index=-100), dict(label_smoothing=0.2),
    dict(weight=CLASS_WEIGHTS, ignore_index=-100, label_smoothing=0.1), dict(ignore_index=3),
]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options_match_torch(options, reduction):
    torch = pytest.importorskip("torch")
    labels = IGNORED if options.get("ignore_index") == -100 else LABELS
    kw = {k: torch.tensor(v) if k == "weight" else v for k, v in options.items()}
    ours = _value_and_grad(L.cross_entropy, LOGITS, labels, reduction=reduction, **options)
    theirs = _torch_value_and_grad(
        lambda x, t: torch.nn.functional.cross_entropy(x, t, reduction=reduction, **kw), LOGITS,
        torch.tensor(labels))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-14)
    if "ignore_index" not in options or options["ignore_index"] != -100:
        np.testing.assert_allclose(ours[1], _central_diff(ours[2], LOGITS), rtol=1e-5, atol=1e-8)
    if "ignore_index" not in options:  # probability targets take weights and smoothing too
        kw.pop("ignore_index", None)
        opts = {k: v for k, v in options.items() if k != "ignore_index"}
        ours = _value_and_grad(L.cross_entropy, LOGITS, SOFT, reduction=reduction, **opts)
        theirs = _torch_value_and_grad(
            lambda x, t: torch.nn.functional.cross_entropy(x, t, reduction=reduction, **kw),
            LOGITS, torch.tensor(SOFT))
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("options", [dict(weight=CLASS_WEIGHTS), dict(ignore_index=2), {}],
                         ids=str)
def test_nll_loss_options_and_spatial_inputs_match_torch(options):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kw = {k: torch.tensor(v) if k == "weight" else v for k, v in options.items()}
    log_p = np.log(RNG.dirichlet(np.ones(C), size=N))
    ours = _value_and_grad(L.nll_loss, log_p, LABELS, **options)
    theirs = _torch_value_and_grad(lambda x, t: F.nll_loss(x, t, **kw), log_p,
                                   torch.tensor(LABELS))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-14)
    scores = RNG.normal(size=(N, C, 3, 2))  # a class per pixel, as segmentation has
    targets = RNG.integers(0, C, size=(N, 3, 2))
    for reduction in ("mean", "none"):
        out = L.cross_entropy(scores, targets, reduction=reduction, **options)
        ref = F.cross_entropy(torch.tensor(scores), torch.tensor(targets), reduction=reduction,
                              **kw)
        np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12)


def test_ignored_targets_are_guarded_when_compiled():
    step = ag.compile(ag.value_and_grad(lambda x, t: L.cross_entropy(x, t)))
    for labels in (LABELS, IGNORED, LABELS, np.array([1, 1, -100, 2, 0, 0])):
        value, grad = step(LOGITS, labels)
        eager_value, eager_grad = ag.value_and_grad(lambda x, t: L.cross_entropy(x, t))(
            LOGITS, labels)
        np.testing.assert_allclose(value.data, eager_value.data, rtol=1e-12)
        np.testing.assert_allclose(grad, eager_grad, rtol=1e-12)


# --- inputs that would be silently wrong are refused (issue 11) ----------------------------------
def test_binary_cross_entropy_refuses_logits_and_names_them():
    logits = np.array([[0.2], [1.7], [-0.3], [0.9]])
    with pytest.raises(ValueError) as err:
        L.binary_cross_entropy(logits, np.ones((4, 1)))
    msg = str(err.value)
    assert msg.startswith("binary_cross_entropy: prob must hold probabilities in [0, 1]")
    assert "1.7" in msg and "(1, 0)" in msg and "binary_cross_entropy_with_logits" in msg
    with pytest.raises(ValueError, match="prob must hold probabilities.*nan"):
        L.binary_cross_entropy(np.array([[np.nan]]), np.ones((1, 1)))


def test_integer_targets_of_the_logits_shape_are_refused_as_ambiguous():
    one_hot = np.eye(C, dtype=np.int64)[LABELS]
    with pytest.raises(ValueError) as err:
        L.cross_entropy(LOGITS, one_hot)
    msg = str(err.value)
    assert msg.startswith("cross_entropy: integer targets of the scores' shape (6, 4)")
    assert "astype(float)" in msg and "argmax(1)" in msg
    # the float one-hot is the probability reading, equal to the index reading
    np.testing.assert_allclose(L.cross_entropy(LOGITS, one_hot.astype(float)).item(),
                               L.cross_entropy(LOGITS, LABELS).item(), rtol=1e-12)
    with pytest.raises(TypeError, match="must be integers, got dtype bool"):
        L.cross_entropy(LOGITS, LABELS > 1)


def test_bad_probabilities_log_probabilities_weights_and_options_are_named():
    with pytest.raises(ValueError, match=r"cross_entropy: probability targets must sum to 1 .*"
                                         r"the first sums to"):
        L.cross_entropy(LOGITS, SOFT * 2 / 3)
    with pytest.raises(ValueError, match=r"probability targets must lie in \[0, 1\], .*the "
                                         r"first is 1.5 at index \(0, 0\)"):
        L.cross_entropy(LOGITS, np.where(np.eye(C)[LABELS] > 0, 1.5, -0.5 / 3))
    with pytest.raises(ValueError, match=r"nll_loss: log_probs must be log-probabilities "
                                         r"\(<= 0\), but 24 of 24 do not; the first is 0.37.* "
                                         r"at index \(0, 0\).*log_softmax"):
        L.nll_loss(np.abs(LOGITS), LABELS)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must be 4 numbers"):
        L.cross_entropy(LOGITS, LABELS, weight=np.ones(3))
    with pytest.raises(ValueError, match=r"class weights must be finite and >= 0"):
        L.cross_entropy(LOGITS, LABELS, weight=-CLASS_WEIGHTS)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        L.cross_entropy(LOGITS, LABELS, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"every target is ignore_index=-100"):
        L.cross_entropy(LOGITS, np.full(N, -100))
    with pytest.raises(IndexError, match=r"target -3 at position 1 is out of range.*"
                                         r"ignore_index=-100"):
        L.cross_entropy(LOGITS, np.array([0, -3, 1, 1, 0, 0]))
    with pytest.raises(IndexError, match=r"target 7 at position \(1, 0\)"):
        L.cross_entropy(np.zeros((2, 4, 3)), np.array([[0, 1, 2], [7, 0, 0]]))
    with pytest.raises(ValueError, match=r"ignore_index applies to class-index targets"):
        L.cross_entropy(LOGITS, SOFT, ignore_index=0)
