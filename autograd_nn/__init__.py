"""autograd_nn: a small, fast, honest automatic-differentiation framework on NumPy.

    import autograd_nn as ag
    x = ag.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [2., 4.]
    ag.grad(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
"""

from . import backends as _backends  # noqa: F401  (binds the backward backends)
from . import engine  # noqa: I001
from .engine import PRIMITIVES, AnomalyError, GraphReleasedError
from .functional import enable_grad, grad, no_grad, tree_flatten, value_and_grad
from .functions import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    div,
    dot,
    exp,
    expand_dims,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    power,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    sum_to,
    swapaxes,
    tanh,
    transpose,
    where,
)
from .tensor import Tensor  # first: the op modules import it

__version__ = "0.1.0"

# Larger parts load on first use, so `import autograd_nn` stays light (graphviz is imported only
# when drawing): name -> (module, attribute or None for the module itself).
_LAZY = {
    "nn": (".nn", None),
    "optim": (".optim", None),
    "tutorials": (".tutorials", None),
    "check": (".check", None),
    "viz": (".viz", None),
    "save": (".serialization", "save"),
    "load": (".serialization", "load"),
    "draw_graph": (".viz", "draw_graph"),
    "gradcheck": (".check", "gradcheck"),
    "compare_grads": (".check", "compare_grads"),
    "explain": (".check", "explain"),
    "detect_anomaly": (".check", "detect_anomaly"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name, __name__)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autograd_nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))

__all__ = [
    "AnomalyError", "GraphReleasedError", "PRIMITIVES", "Tensor", "abs", "add", "astype",
    "broadcast_to", "clip", "concatenate", "div", "dot", "enable_grad", "engine", "exp",
    "expand_dims", "grad", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "mul", "neg", "no_grad", "power", "relu", "reshape", "sigmoid",
    "softmax", "sqrt", "stack", "sub", "sum", "sum_to", "swapaxes", "tanh", "transpose",
    "tree_flatten", "value_and_grad", "where", *_LAZY,
]
