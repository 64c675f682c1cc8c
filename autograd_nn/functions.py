"""The public op functions (`ag.add`, `ag.sigmoid`, ...): one per row of autograd_nn/core/ops,
generated in autograd_nn/core/public.py. `from autograd_nn.functions import sigmoid` works too."""

from .core.public import FUNCTIONS

globals().update(FUNCTIONS)
__all__ = sorted(FUNCTIONS)
