"""The public op functions (`ag.add`, `ag.sigmoid`, ...), gathered from `autograd_nn.ops`."""

import sys as _sys

from .ops.activations import log_softmax, logsumexp, relu, sigmoid, softmax, tanh
from .ops.arithmetic import add, compare, div, maximum, minimum, mul, neg, power, sub, where
from .ops.linalg import dot, matmul
from .ops.reductions import max, mean, min, sum
from .ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    reshape,
    scatter_add,
    stack,
    sum_to,
    swapaxes,
    transpose,
)
from .ops.unary import abs, astype, clip, exp, log, log1p, sqrt

__all__ = [
    "abs", "add", "astype", "broadcast_to", "clip", "compare", "concatenate", "div", "dot",
    "exp", "expand_dims", "getitem", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "power", "relu", "reshape", "scatter_add",
    "sigmoid", "softmax", "sqrt", "stack", "sub", "sum", "sum_to", "swapaxes", "tanh",
    "transpose", "where",
]

from . import tensor as _tensor_module  # noqa: E402

_tensor_module._F = _sys.modules[__name__]  # Tensor's operators and methods call these functions
