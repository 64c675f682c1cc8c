"""Elementwise tests of values (isnan, isinf, isfinite, isclose): boolean Tensors without
gradient, like the comparisons."""

from __future__ import annotations

import numpy as np

from .registry import check_flag, primitive


def _test(name: str, ufunc, what: str):
    return primitive(name, ufunc, None, doc=f"True where x is {what}: a boolean Tensor without "
                     "gradient.", method=True, elementwise=True)


isnan = _test("isnan", np.isnan, "NaN")
isinf = _test("isinf", np.isinf, "+inf or -inf")
isfinite = _test("isfinite", np.isfinite, "neither NaN nor infinite")


def _isclose_params(a, b, rtol: float = 1e-05, atol: float = 1e-08,
                    equal_nan: bool = False) -> dict:
    for what, value in (("rtol", rtol), ("atol", atol)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or value < 0:
            raise ValueError(f"{what} must be a non-negative number, got {value!r}")
    return {"rtol": float(rtol), "atol": float(atol),
            "equal_nan": check_flag(equal_nan, "equal_nan")}


isclose = primitive(
    "isclose",
    lambda a, b, rtol, atol, equal_nan: np.isclose(a, b, rtol=rtol, atol=atol,
                                                   equal_nan=equal_nan),
    None, None, prepare=_isclose_params,
    source="np.isclose({a}, {b}, rtol={rtol}, atol={atol}, equal_nan={equal_nan})",
    doc="|a - b| <= atol + rtol * |b| elementwise (np.isclose, torch.isclose): a boolean Tensor "
        "without gradient.", elementwise=True)
