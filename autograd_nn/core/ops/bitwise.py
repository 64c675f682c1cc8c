"""Bitwise operations and shifts on integer (and boolean) Tensors: & | ^ ~ << >> and
logical_not. Their results have no gradient; float input is refused by name, as NumPy does."""

from __future__ import annotations

import numpy as np

from .registry import primitive


def _integers_only(name: str, shifts: bool):
    kinds = "iu" if shifts else "iub"
    allowed = "integer" if shifts else "integer or boolean"

    def prepare(*inputs) -> None:
        if any(x.dtype.kind not in kinds for x in inputs):
            dtypes = ", ".join(str(x.dtype) for x in inputs)
            raise TypeError(f"needs {allowed} tensors, got {dtypes}; cast with "
                            f".astype(np.int64) first (NumPy refuses {name} of floats too)")
        return None

    return prepare


def _binary(name: str, ufunc, symbol: str, operator: tuple[str, str], shifts: bool = False):
    return primitive(
        name, ufunc, None, None, prepare=_integers_only(name, shifts),
        doc=f"a {symbol} b elementwise on {'integer' if shifts else 'integer or boolean'} "
            "tensors: a Tensor without gradient.",
        display=f"{{a}} {symbol} {{b}}", source=f"{{a}} {symbol} {{b}}", elementwise=True,
        operator=operator, commutative=not shifts)


bitwise_and = _binary("bitwise_and", np.bitwise_and, "&", ("__and__", "__rand__"))
bitwise_or = _binary("bitwise_or", np.bitwise_or, "|", ("__or__", "__ror__"))
bitwise_xor = _binary("bitwise_xor", np.bitwise_xor, "^", ("__xor__", "__rxor__"))
left_shift = _binary("left_shift", np.left_shift, "<<", ("__lshift__", "__rlshift__"),
                     shifts=True)
right_shift = _binary("right_shift", np.right_shift, ">>", ("__rshift__", "__rrshift__"),
                      shifts=True)
invert = primitive(
    "invert", np.invert, None, prepare=_integers_only("invert", shifts=False),
    doc="~x elementwise: bitwise not of integers, logical not of booleans (np.invert); no "
        "gradient.", display="~{x}", source="~{x}", elementwise=True,
    operator=("__invert__", None), method=True)
logical_not = primitive(
    "logical_not", np.logical_not, None,
    doc="True where x is 0 or False (np.logical_not): a boolean Tensor without gradient.",
    elementwise=True, method=True)
