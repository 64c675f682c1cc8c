"""A stand-in for teenygrad: its names, mapped onto autograd_nn (see ../../tinylike.py)."""
