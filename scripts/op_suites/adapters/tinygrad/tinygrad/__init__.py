"""A stand-in for tinygrad: its names, mapped onto autograd_nn (see ../../tinylike.py)."""

from tinylike import Tensor, dtypes

from tinygrad.helpers import Device

__all__ = ["Device", "Tensor", "dtypes"]
