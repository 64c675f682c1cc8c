"""`ag.nn`: modules, layers, initialisers, losses, and the bridge to pure functions.

Two ways to define a model: subclass `Module` (parameters registered by attribute assignment)
or write a pure function `model(params, x)` over a dict of arrays and differentiate it with
`ag.value_and_grad`; `functional_call(module, params, x)` runs a Module as such a function.
"""

from . import functional, init
from .layers import (
    MLP,
    Identity,
    Linear,
    LogSoftmax,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
)
from .module import IncompatibleKeys, Module, Parameter, functional_call

__all__ = [
    "MLP", "Identity", "IncompatibleKeys", "Linear", "LogSoftmax", "Module", "ModuleList",
    "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional",
    "functional_call", "get_activation", "init",
]
