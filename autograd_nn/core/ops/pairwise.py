"""Two-input elementwise math beyond arithmetic: logaddexp, logaddexp2, copysign, fmax, fmin
(NumPy's NaN-ignoring maximum and minimum) and lerp."""

from __future__ import annotations

import numpy as np

from .registry import composite, primitive, prims

_LN2 = float(np.log(2.0))

# d/da = exp(a) / (exp(a) + exp(b)) = sigmoid(a - b): finite for any a and b, and right where
# a and b are so large that the result rounds to max(a, b) (exp(a - ans) would give 1, not 1/2)
logaddexp = primitive(
    "logaddexp", np.logaddexp,
    lambda g, ans, a, b: g * prims.sigmoid(a - b), lambda g, ans, a, b: g * prims.sigmoid(b - a),
    doc="log(exp(a) + exp(b)) without overflow or underflow (np.logaddexp).",
    elementwise=True, commutative=True)
logaddexp2 = primitive(
    "logaddexp2", np.logaddexp2,
    lambda g, ans, a, b: g * prims.sigmoid((a - b) * _LN2),
    lambda g, ans, a, b: g * prims.sigmoid((b - a) * _LN2),
    doc="log2(2**a + 2**b) without overflow or underflow (np.logaddexp2).",
    elementwise=True, commutative=True)


def _sign_jumps(inputs, params):
    a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
    return np.minimum(np.abs(a), np.abs(b)), "a = 0 or b = 0 (where copysign turns)"


copysign = primitive(
    "copysign", np.copysign,
    lambda g, ans, a, b: g * prims.sign(a) * prims.sign(ans),
    lambda g, ans, a, b: 0.0 * g,
    doc="|a| with the sign of b (np.copysign); the gradient for a is +-1 (0 at a = 0) and for "
        "b is 0, as PyTorch's.", kink=_sign_jumps, elementwise=True)


def _near_tie(inputs, params):
    a, b = (np.asarray(v, dtype=np.float64) for v in inputs)
    return np.abs(a - b), "a tie with the other operand"


# The whole gradient goes to the input chosen, a where a >= b (ties) or b is NaN, as torch.fmax
fmax = primitive(
    "fmax", np.fmax,
    lambda g, ans, a, b: prims.where(a >= b, g, prims.where(b != b, g, 0.0)),
    lambda g, ans, a, b: prims.where(a >= b, 0.0, prims.where(b != b, 0.0, g)),
    doc="Elementwise maximum that ignores NaN (np.fmax): NaN only where both are NaN. The "
        "gradient goes to the chosen input, to a at ties (as torch.fmax; ag.maximum splits it).",
    kink=_near_tie, elementwise=True)
fmin = primitive(
    "fmin", np.fmin,
    lambda g, ans, a, b: prims.where(a <= b, g, prims.where(b != b, g, 0.0)),
    lambda g, ans, a, b: prims.where(a <= b, 0.0, prims.where(b != b, 0.0, g)),
    doc="Elementwise minimum that ignores NaN (np.fmin): NaN only where both are NaN. The "
        "gradient goes to the chosen input, to a at ties (as torch.fmin; ag.minimum splits it).",
    kink=_near_tie, elementwise=True)


def _lerp(a, b, weight):
    """a + weight * (b - a), with broadcasting (torch.lerp); weight a number or a Tensor."""
    return a + weight * (b - a)


lerp = composite("lerp", _lerp, inputs=3)
