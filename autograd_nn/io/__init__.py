"""Reading and writing tensors and state dicts: `save` / `load` (`.npz`, never pickle).

`ag.save` and `ag.load` are these; `npz.py` holds the format's code.
"""

from __future__ import annotations

from .npz import SerializationError, load, save

__all__ = ["SerializationError", "load", "save"]
