"""autograd_nn: a small, fast, honest automatic-differentiation framework on NumPy.

    import numpy as np
    import autograd_nn as ag
    x = ag.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [2., 4.]
    ag.grad(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))

Where to look in this reference:

- here: `Tensor`, the op functions (`ag.exp`, `ag.sum`, ..., generated from the rows in
  autograd_nn/core/ops), `grad` / `value_and_grad` / `no_grad`, and the tools re-exported from
  below;
- `autograd_nn.nn` (Modules, layers, `functional` losses, `init`), `autograd_nn.optim`,
  `autograd_nn.io` (`save`, `load`);
- `autograd_nn.check` (`gradcheck`, `compare_grads`, `compare_backprop`, `explain`,
  `detect_anomaly`), `autograd_nn.viz` (`draw_graph`), `autograd_nn.compiler` (`compile`);
- `autograd_nn.core.engine` and `autograd_nn.core.state` (also `ag.engine`, `ag.state`): the
  contract the tools build on;
- `autograd_nn.tutorials`: the course (the two rebuilt tutorials, the digits MLP and the demo),
  which lives in the package `autograd_nn_course`; this name only loads it on first use;
  `autograd_nn.cli` and `autograd_nn.userfile`: the `autograd-nn` command.
"""

from . import functions  # noqa: F401 (every op row's public function)
from .core import engine, numpy_functions, numpy_ufuncs, ops, state, tensor  # noqa: F401
from .core.engine import AnomalyError, GraphReleasedError
from .core.ops.registry import PRIMITIVES
from .core.pytree import tree_flatten
from .core.saved import ModifiedInPlaceError
from .core.tensor import Tensor
from .functions import *  # noqa: F403 (one function per op row)
from .transforms import anomaly  # noqa: F401 (state's anomaly switch)
from .transforms.batching import vmap
from .transforms.custom import checkpoint, custom_vjp
from .transforms.derivatives import hessian, hvp, jacfwd, jacobian, jacrev, jvp, vjp
from .transforms.grad import enable_grad, grad, no_grad, value_and_grad
from .transforms.iterate import iterate

__version__ = "0.1.0"

# Larger parts load on first use, so `import autograd_nn` stays light (graphviz is imported only
# when drawing): name -> (module, attribute or None for the module itself).
_LAZY = {
    "nn": (".nn", None),
    "optim": (".optim", None),
    "io": (".io", None),
    "tutorials": (".tutorials", None),
    "check": (".check", None),
    "viz": (".viz", None),
    "save": (".io", "save"),
    "load": (".io", "load"),
    "draw_graph": (".viz", "draw_graph"),
    "gradcheck": (".check", "gradcheck"),
    "compare_grads": (".check", "compare_grads"),
    "compare_intermediates": (".check", "compare_intermediates"),
    "explain": (".check", "explain"),
    "explore": (".explore", "explore"),
    "detect_anomaly": (".check", "detect_anomaly"),
    "compile": (".compiler", "compile"),
    "compiler": (".compiler", None),
    "onnx": (".onnx", None),
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
    "AnomalyError", "GraphReleasedError", "ModifiedInPlaceError", "PRIMITIVES", "Tensor",
    "checkpoint", "custom_vjp", "enable_grad", "engine", "grad", "hessian", "hvp", "jacfwd",
    "jacobian", "jacrev", "jvp",
    "iterate", "no_grad", "state", "tree_flatten", "value_and_grad", "vjp", "vmap",
    # `import *` keeps the stdlib's io and the onnx package
    *functions.__all__, *(name for name in _LAZY if name not in ("io", "onnx")),
]
