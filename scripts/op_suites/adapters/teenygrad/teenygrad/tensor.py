"""teenygrad.tensor's Tensor: the shared tinygrad-style adapter."""

from tinylike import Tensor

__all__ = ["Tensor"]
