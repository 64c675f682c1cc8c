"""Tools to check gradients and understand them.

- `gradcheck(f, *inputs)`: autograd against central finite differences, with a readable report.
- `compare_grads(reference, computed)` / `compare_backprop(handwritten_fn, loss_fn, params, ...)`:
  hand-written backprop against autograd over all parameters together: the kind of mistake
  and, where several parameters share it, the node where it enters (`Diagnosis`).
- `compare_intermediates(loss, user_grads)`: a hand-derived backward pass node by node, every
  node where a new discrepancy enters (judged on your own upstream values) and its kind.
- `explain(root)`: the chain rule per node, with shapes and gradient norms.
- `detect_anomaly()`: creation sites and an error at the first NaN/Inf, forward or backward.
"""

from .anomaly import AnomalyError, detect_anomaly
from .compare import (
    GradComparison,
    ParamComparison,
    compare_backprop,
    compare_grads,
    detect_loss_kind,
)
from .diagnosis import KINDS, Diagnosis
from .explain import Explanation, Step, explain
from .gradcheck import GradcheckError, GradcheckFailure, gradcheck
from .intermediates import IntermediateComparison, IntermediateRow, compare_intermediates

__all__ = [
    "KINDS", "AnomalyError", "Diagnosis", "Explanation", "GradComparison", "GradcheckError",
    "GradcheckFailure", "IntermediateComparison", "IntermediateRow", "ParamComparison", "Step",
    "compare_backprop", "compare_grads", "compare_intermediates", "detect_anomaly",
    "detect_loss_kind", "explain", "gradcheck",
]
