"""Reading and writing tensors and state dicts: `save` / `load` (`.npz` or `.safetensors`,
never pickle), and `from_torch` / `to_torch` for PyTorch state dicts.

`ag.save` and `ag.load` are these (`formats.py` picks the format by the file name; `npz.py` and
`safetensors_file.py` hold the formats' code); `torch_interchange.py` maps names and layouts
to and from PyTorch's layers.
"""

from __future__ import annotations

from .formats import load, save
from .npz import SerializationError
from .torch_interchange import InterchangeError, from_torch, to_torch

__all__ = ["InterchangeError", "SerializationError", "from_torch", "load", "save", "to_torch"]
