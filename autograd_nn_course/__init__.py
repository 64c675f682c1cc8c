"""The course: the two seed tutorials rebuilt on autograd_nn, a real-data example, the demo.

A package of its own next to the library (installed with it): the course is user code of
autograd_nn, which never imports it. `autograd_nn.tutorials` is the same modules under the
name the README uses.

* `tutorial1`: the 3-4-1 sigmoid network with hand-written backprop, and the same network on
  Tensors (pure function and Module) matching it to rounding error after 1500 iterations.
* `tutorial2`: from one neuron to a layer, a batch and two layers; sigmoid/ReLU/softmax (with
  the tutorial's softmax bug shown); the 2-4-1 XOR network that never learns, why, and a fix.
* `digits`: an MLP on scikit-learn's bundled digits (needs the `examples` extra).
* `digits_cnn`: a small CNN (conv, batch norm, pooling, dropout) on the same digits, >= 98.5%
  held out in seconds.
* `reports`: each tutorial's hand-written backprop checked against autograd, as text.
* `demo.run(out_dir)`: all of the above written to a folder (what `make demo` calls).

The `autograd-nn` command loads the course inside the commands that need it. Submodules load
on first use: `from autograd_nn_course import tutorial1`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["demo", "digits", "digits_cnn", "reports", "tutorial1", "tutorial2"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'autograd_nn_course' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
