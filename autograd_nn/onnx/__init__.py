"""`ag.onnx`: write a traced function or Module as an ONNX model (`export`).

    ag.onnx.export(model, (x,), "model.onnx")   # then onnxruntime.InferenceSession(...)

The `onnx` package is an optional extra: pip install 'autograd_nn[onnx]'.
"""

from __future__ import annotations

from .export import OnnxExportError, export
from .ops import FORMS

__all__ = ["FORMS", "OnnxExportError", "export"]
