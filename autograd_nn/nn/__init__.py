"""`ag.nn`: modules, layers, initialisers, losses, and the bridge to pure functions.

Two ways to define a model: subclass `Module` (parameters registered by attribute assignment)
or write a pure function `model(params, x)` over a dict of arrays and differentiate it with
`ag.value_and_grad`; `functional_call(module, params, x)` runs a Module as such a function.
"""

from . import functional, init, utils
from .conv import AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d
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
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .sparse import Dropout, Embedding, Flatten

__all__ = [
    "MLP", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout",
    "Embedding", "Flatten", "Identity", "IncompatibleKeys", "LayerNorm", "Linear", "LogSoftmax",
    "MaxPool2d", "Module", "ModuleList", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax",
    "Tanh", "functional", "functional_call", "get_activation", "init", "utils",
]
