"""`ag.nn`: modules, layers, initialisers, losses, and the bridge to pure functions.

Two ways to define a model: subclass `Module` (parameters registered by attribute assignment)
or write a pure function `model(params, x)` over a dict of arrays and differentiate it with
`ag.value_and_grad`; `functional_call(module, params, x)` runs a Module as such a function.
"""

from . import functional, init, utils
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .layers import (
    GELU,
    MLP,
    Identity,
    Linear,
    LogSoftmax,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    get_activation,
)
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle, functional_call
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool2d,
    Unfold,
    Upsample,
)
from .sparse import Dropout, Embedding, Flatten

__all__ = [
    "GELU", "MLP", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d",
    "Dropout", "Embedding", "Flatten", "GroupNorm", "Identity", "IncompatibleKeys", "LayerNorm",
    "Linear", "LogSoftmax", "MaxPool2d", "Module", "ModuleList", "Parameter", "ReLU",
    "RemovableHandle", "Sequential", "SiLU", "Sigmoid", "Softmax", "Tanh", "functional",
    "functional_call", "get_activation", "init", "utils",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AvgPool1d", "AvgPool3d", "Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool3d", "MaxUnpool2d", "Unfold", "Upsample",
]
