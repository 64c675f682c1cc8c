"""Activations and normalisers, each fused into one numerically stable node (or, where the
formula is already stable, a composite of rows: silu, gelu, relu6, softsign).

sigmoid, tanh, relu, softmax, log_softmax and logsumexp are finite and warning-free for inputs
of any magnitude: sigmoid uses exp(-|x|), the others subtract the maximum first.
"""

from __future__ import annotations

import numpy as np

from .batch_rules import shift_axis
from .reductions import torch_dim
from .registry import check_flag, composite, normalize_axis, primitive, prims, reduction_axes
from .unary import _kink_at_zero


def _sigmoid_forward(x):
    # exp(-|x|) never overflows; the numerator exp(min(x, 0)) is 1 for x >= 0 and exp(x) below,
    # which keeps full relative precision in both tails (no 1 - s cancellation). Two exps cost
    # less than choosing the numerator with np.where.
    return np.exp(np.minimum(x, 0.0)) / (1.0 + np.exp(-np.abs(x)))


_SIGMOID_CONSTANTS: dict = {}  # float dtype -> 0, -1 and 1 as 0-d arrays of that dtype


def _sigmoid_eager(x):
    """`_sigmoid_forward`'s numbers (bit for bit on float arrays) in one NumPy call fewer and
    without Python-number operands, which cost NumPy more than the arithmetic on small arrays:
    -|x| is copysign(x, -1). `_sigmoid_forward` stays the self-contained form ag.compile
    writes."""
    if x.__class__ is not np.ndarray or x.dtype.kind != "f":
        return _sigmoid_forward(x)
    constants = _SIGMOID_CONSTANTS.get(x.dtype)
    if constants is None:
        constants = _SIGMOID_CONSTANTS[x.dtype] = tuple(
            np.array(v, dtype=x.dtype) for v in (0.0, -1.0, 1.0))
    zero, minus_one, one = constants
    return np.exp(np.minimum(x, zero)) / (np.exp(np.copysign(x, minus_one)) + one)


sigmoid = primitive(
    "sigmoid", _sigmoid_eager, lambda g, ans, x: g * ans * (1 - ans),
    elementwise=True, doc="1 / (1 + exp(-x)), computed without overflow for any x.", method=True,
    helper={"sigmoid": _sigmoid_forward}, source="sigmoid({x})",
    activation=True,
)
tanh = primitive(
    "tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans),
    elementwise=True, doc="Hyperbolic tangent.", method=True,
    activation=True,
)
relu = primitive(
    "relu", lambda x: np.maximum(x, 0), lambda g, ans, x: g * (x > 0),
    elementwise=True, doc="max(x, 0); the gradient at exactly 0 is 0 (relu'(0) = 0).", method=True,
    source="np.maximum({x}, 0)",
    kink=_kink_at_zero,
    activation=True,
)


def _one_axis(x, axis: int | None = -1) -> dict:
    """One axis (default the last), or None for every element at once (as scipy's softmax). A
    0-d tensor is one element along axis 0 (or -1), as in PyTorch and NumPy 2."""
    if axis is None:
        return {"axis": None}
    if x.ndim == 0:
        if axis not in (0, -1) or isinstance(axis, bool):
            raise np.exceptions.AxisError(f"axis {axis!r} is out of range for a 0-d tensor (one "
                                          "element along axis 0 or -1)")
        return {"axis": None}
    return {"axis": normalize_axis(axis, x.ndim)[0]}


def _softmax_forward(x, axis):
    # initial=-inf: an empty axis gives an empty result, not an error
    e = np.exp(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)


softmax = primitive(
    "softmax", _softmax_forward,
    lambda g, ans, x, axis: ans * (g - prims.sum(g * ans, axis=axis, keepdims=True)),
    prepare=torch_dim(_one_axis), method=True, helper={"softmax": _softmax_forward},
    source="softmax({x}, {axis})",
    batch=shift_axis(),
    doc="exp(x) / sum(exp(x)) along `axis`, with the maximum subtracted first.",
    activation=True,
)


def _log_softmax_forward(x, axis):
    if x.size == 0:  # an empty axis: an empty result
        return np.empty_like(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


log_softmax = primitive(
    "log_softmax", _log_softmax_forward,
    lambda g, ans, x, axis: g - prims.exp(ans) * prims.sum(g, axis=axis, keepdims=True),
    prepare=torch_dim(_one_axis), method=True, helper={"log_softmax": _log_softmax_forward},
    source="log_softmax({x}, {axis})",
    batch=shift_axis(),
    doc="log(softmax(x)) along `axis`, computed as x - logsumexp(x) (no log of 0).",
    activation=True,
)


def _logsumexp_forward(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True, initial=-np.inf)  # nothing to sum: -inf, as PyTorch
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) along the axis: no inf - inf
    with np.errstate(divide="ignore"):  # a row of only -inf has logsumexp -inf, exactly
        out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)


def _logsumexp_vjp(g, ans, x, axis, keepdims):
    if not keepdims and axis is not None:
        g = prims.expand_dims(g, axis=axis)
        ans = prims.expand_dims(ans, axis=axis)
    return g * prims.exp(x - ans)


def _axes_keepdims(x, axis=None, keepdims: bool = False) -> dict:
    return {"axis": reduction_axes(axis, x.ndim), "keepdims": check_flag(keepdims, "keepdims")}


logsumexp = primitive(
    "logsumexp", _logsumexp_forward, _logsumexp_vjp, prepare=torch_dim(_axes_keepdims),
    method=True,
    helper={"logsumexp": _logsumexp_forward}, source="logsumexp({x}, {axis}, {keepdims})",
    batch=shift_axis(),
    doc="log(sum(exp(x))) over `axis` (all axes by default), stable for large |x|.",
)


# --- more activations ---------------------------------------------------------------------------
def _slope_params(x, negative_slope: float = 0.01) -> dict:
    return {"negative_slope": float(negative_slope)}


leaky_relu = primitive(
    "leaky_relu", lambda x, negative_slope: np.where(x > 0, x, x * negative_slope),
    lambda g, ans, x, negative_slope: g * prims.where(x > 0, 1.0, negative_slope),
    prepare=_slope_params, source="np.where({x} > 0, {x}, {x} * {negative_slope})",
    doc="x where x > 0, else negative_slope * x (the gradient at 0 is negative_slope).",
    kink=_kink_at_zero,
    elementwise=True,
)


def _elu_forward(x, alpha):
    # expm1 only of the non-positive part: the untaken branch never overflows
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


elu = primitive(
    # alpha * exp(x) below 0, not ans + alpha: that cancels to 0 (or a few digits) for x << 0
    "elu", _elu_forward,
    lambda g, ans, x, alpha: g * prims.where(
        x > 0, 1.0, alpha * prims.exp(prims.where(x > 0, 0.0, x))),
    prepare=lambda x, alpha=1.0: {"alpha": float(alpha)}, helper={"elu_forward": _elu_forward},
    source="elu_forward({x}, {alpha})",
    doc="x where x > 0, else alpha * (exp(x) - 1).",
    kink=_kink_at_zero,
    elementwise=True,
)


def _softplus_forward(x, beta, threshold):
    z = x * beta
    # max(z, 0) + log1p(exp(-|z|)) never overflows; above the threshold it is x, as in PyTorch
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, smooth)


softplus = primitive(
    "softplus", _softplus_forward,
    lambda g, ans, x, beta, threshold: g * prims.where(
        x * beta > threshold, 1.0, prims.sigmoid(x * beta)),
    prepare=lambda x, beta=1.0, threshold=20.0: {"beta": float(beta),
                                                   "threshold": float(threshold)},
    helper={"softplus_forward": _softplus_forward},
    source="softplus_forward({x}, {beta}, {threshold})",
    doc="log(1 + exp(beta * x)) / beta, stable for any x; linear above beta * x > threshold "
        "(PyTorch's softplus).",
    elementwise=True,
)


def _hardtanh_params(x, min_val: float = -1.0, max_val: float = 1.0) -> dict:
    if not min_val < max_val:
        raise ValueError(f"min_val {min_val} must be below max_val {max_val}")
    return {"min_val": float(min_val), "max_val": float(max_val)}


def _hardtanh_kink(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    return np.minimum(np.abs(x - params["min_val"]), np.abs(x - params["max_val"])), "a bound"


hardtanh = primitive(
    "hardtanh", lambda x, min_val, max_val: np.clip(x, min_val, max_val),
    lambda g, ans, x, min_val, max_val: g * (x > min_val) * (x < max_val),
    prepare=_hardtanh_params, source="np.clip({x}, {min_val}, {max_val})",
    doc="x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 at and beyond "
        "the bounds (PyTorch's hardtanh; ag.clip keeps 1 at the bounds).",
    kink=_hardtanh_kink,
    elementwise=True,
)

_SQRT_HALF = float(np.sqrt(0.5))
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


def _silu(x):
    """x * sigmoid(x) (also called swish)."""
    return x * prims.sigmoid(x)


def _gelu(x, approximate: str = "none"):
    """x * Phi(x), Phi the standard normal CDF, as 0.5 * x * erfc(-x / sqrt(2)) (no
    cancellation for negative x); approximate="tanh" is PyTorch's tanh form."""
    if approximate == "tanh":
        return 0.5 * x * (1 + prims.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * prims.erfc(x * -_SQRT_HALF)


def _relu6(x):
    """min(max(x, 0), 6), PyTorch's relu6 (hardtanh between 0 and 6)."""
    return prims.hardtanh(x, min_val=0.0, max_val=6.0)


def _softsign(x):
    """x / (1 + |x|)."""
    return x / (1 + prims.abs(x))


silu = composite("silu", _silu)
gelu = composite("gelu", _gelu)
relu6 = composite("relu6", _relu6)
softsign = composite("softsign", _softsign)


# --- PyTorch's other activations ----------------------------------------------------------------
def _hardsigmoid(x):
    """relu6(x + 3) / 6 (torch's hardsigmoid): the gradient is 1/6 strictly inside (-3, 3)."""
    return prims.hardtanh(x + 3.0, min_val=0.0, max_val=6.0) / 6.0


def _hardswish_forward(x):
    # the 0..1 factor first: x * 1 is x for any finite x, where x * 6 / 6 overflows near max
    return x * (np.clip(x + 3.0, 0.0, 6.0) / 6.0)


def _hardswish_kink(inputs, params):
    x = np.asarray(inputs[0], dtype=np.float64)
    return np.minimum(np.abs(x + 3.0), np.abs(x - 3.0)), "x = -3 or x = 3"


hardswish = primitive(
    "hardswish", _hardswish_forward,
    lambda g, ans, x: g * prims.where(x <= -3.0, 0.0, prims.where(x < 3.0, x / 3.0 + 0.5, 1.0)),
    helper={"hardswish": _hardswish_forward}, source="hardswish({x})",
    doc="x * relu6(x + 3) / 6 (torch's hardswish); at the kinks the gradient is torch's, that of "
        "the outer piece: 0 at x = -3, 1 at x = 3.",
    kink=_hardswish_kink, elementwise=True, activation=True)


def _mish(x):
    """x * tanh(softplus(x)), stable for any x (softplus is)."""
    return x * prims.tanh(prims.softplus(x, beta=1.0, threshold=20.0))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu(x):
    """scale * elu(x, alpha) with the self-normalising constants (torch's selu)."""
    return _SELU_SCALE * prims.elu(x, alpha=_SELU_ALPHA)


def _celu(x, alpha: float = 1.0):
    """max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0), as alpha * elu(x / alpha)."""
    if not isinstance(alpha, (int, float, np.integer, np.floating)) or alpha == 0:
        raise ValueError(f"alpha must be a non-zero number, got {alpha!r}")
    alpha = float(alpha)
    return alpha * prims.elu(x / alpha, alpha=1.0)


def _log_sigmoid_forward(x):
    # min(x, 0) - log1p(exp(-|x|)): no overflow, and no cancellation in either tail
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


logsigmoid = primitive(
    "logsigmoid", _log_sigmoid_forward, lambda g, ans, x: g * prims.sigmoid(-x),
    helper={"log_sigmoid": _log_sigmoid_forward}, source="log_sigmoid({x})",
    doc="log(sigmoid(x)), exact for any x (torch's logsigmoid): no overflow, and x itself "
        "far below 0.", elementwise=True, activation=True)


def _softmin(x, axis: int | None = -1):
    """softmax(-x) along `axis`."""
    return prims.softmax(-x, **_one_axis(x, axis))


def _quick_gelu(x):
    """x * sigmoid(1.702 x), the sigmoid approximation of gelu (CLIP's QuickGELU)."""
    return x * prims.sigmoid(1.702 * x)


hardsigmoid = composite("hardsigmoid", _hardsigmoid)
mish = composite("mish", _mish)
selu = composite("selu", _selu)
celu = composite("celu", _celu)
softmin = composite("softmin", _softmin)
quick_gelu = composite("quick_gelu", _quick_gelu)
