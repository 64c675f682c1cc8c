"""`autograd.numpy.random`: NumPy's random numbers (test data, not ops)."""

from numpy.random import *  # noqa: F403
