"""More reductions and scans: prod, var, std, norm, cumsum, cumprod (rows with rules), and
argmax, argmin, all, any (rows without gradient: their results are indices and booleans).

The rules stay exact where x has zeros: prod and cumprod then form every product that leaves
one element out explicitly, instead of dividing by x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .batch_rules import shift_axis
from .reductions import _axes, _count, _restore, cast_then, numpy_reduction, torch_dim
from .registry import Call, check_flag, normalize_axis, primitive, prims, value_of


# --- prod ---------------------------------------------------------------------------------------
def _leave_one_out(x):
    """For each element along the last axis, the product of all the others (exact with zeros:
    the (K, K) products with the diagonal set to 1)."""
    k = x.shape[-1]
    spread = prims.where(np.eye(k, dtype=bool), 1.0, prims.expand_dims(x, axis=x.ndim - 1))
    return prims.prod(spread, axis=(spread.ndim - 1,), keepdims=False)


def _prod_vjp(g, ans, x, axis, keepdims):
    g = _restore(g, x.shape, axis, keepdims)
    if not np.any(value_of(x) == 0):
        full = ans if keepdims or axis is None else prims.expand_dims(ans, axis=axis)
        return g * full / x
    # zeros: move the reduced axes to the end as one axis and leave each element out in turn
    axes = tuple(range(x.ndim)) if axis is None else axis
    rest = tuple(a for a in range(x.ndim) if a not in axes)
    moved = prims.transpose(x, axes=rest + axes)
    flat = prims.reshape(moved, shape=tuple(x.shape[a] for a in rest) + (-1,))
    others = prims.reshape(_leave_one_out(flat), shape=moved.shape)
    return g * prims.transpose(others, axes=tuple(np.argsort(rest + axes).tolist()))


def _reduction_source(method: str):
    def source(params, shapes) -> str:
        axis, keep = params["axis"], params["keepdims"]
        return "{x}." + method + f"(axis={axis!r}, keepdims={keep!r})"

    return source


prod = primitive(
    "prod", lambda x, axis, keepdims: x.prod(axis=axis, keepdims=keepdims), _prod_vjp,
    prepare=torch_dim(cast_then("prod")), method=numpy_reduction,
    source=_reduction_source("prod"),
    doc="Product over `axis` (all axes by default; PyTorch's dim=/keepdim= too); dtype= casts "
        "the input first, as NumPy and torch do; the gradient is exact where x has zeros.",
    batch=shift_axis(),
)


# --- var, std -----------------------------------------------------------------------------------
def _var_params(x, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> dict:
    params = _axes(x, axis, keepdims)
    if not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise ValueError(f"ddof must be a non-negative int, got {ddof!r}")
    return {**params, "ddof": int(ddof)}


def _spread_without_freedom(x, axis, ddof, keepdims):
    """var where ddof leaves no degrees of freedom (or the axis is empty): the sum of squared
    deviations over max(N - ddof, 0) = 0, so nan (or inf), as torch.var gives, without NumPy's
    warnings."""
    shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    if x.size == 0:
        return np.full(shape, np.nan, dtype=np.result_type(x, np.float32))
    deviation = x - x.mean(axis=axis, keepdims=True)
    squares = (deviation * deviation).sum(axis=axis, keepdims=keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return squares / 0.0


def _var_forward(x, axis, ddof, keepdims):
    if _count(x.shape, axis) > ddof:
        return x.var(axis=axis, ddof=ddof, keepdims=keepdims)
    return _spread_without_freedom(x, axis, ddof, keepdims)


def _std_forward(x, axis, ddof, keepdims):
    if _count(x.shape, axis) > ddof:
        return x.std(axis=axis, ddof=ddof, keepdims=keepdims)
    return np.sqrt(_spread_without_freedom(x, axis, ddof, keepdims))


def _spread_source(method: str):
    def source(params, shapes):
        if _count(shapes[0], params["axis"]) > params["ddof"]:
            return "{x}." + method + "(axis={axis}, ddof={ddof}, keepdims={keepdims})"
        return f"{method}_forward({{x}}, {{axis}}, {{ddof}}, {{keepdims}})"

    return source


def _one_over_freedom(shape, axis, ddof):
    """1 / (N - ddof), or nan where there is no degree of freedom (the gradient is undefined)."""
    n = _count(shape, axis) - ddof
    return 1.0 / n if n > 0 else float("nan")


_TORCH_SPREAD = ("dim= is PyTorch's name, and torch's var and std divide by N - 1 by default "
                 "(correction=1) where NumPy's divide by N (ddof=0): give axis= and ddof= "
                 "(ddof=1 for torch's default)")


def _spread_method(function):
    """`t.var(axis, ddof=..., keepdims=...)`, also reached by np.var(t), whose dtype and out
    are accepted only at their no-op default None."""

    def method(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
               keepdims: bool = False, **numpy_kwargs: Any):
        if "dim" in numpy_kwargs:
            raise TypeError(f"{function.__name__}: {_TORCH_SPREAD}")
        if dtype is not None or out is not None or numpy_kwargs:
            raise TypeError(f"{function.__name__}: only axis, ddof and keepdims are supported "
                            "on Tensors; cast with .astype(dtype)")
        return function(self, axis, ddof, keepdims)

    return method


def _deviation(x, axis):
    return x - prims.mean(x, axis=axis, keepdims=True)


def _var_vjp(g, ans, x, axis, ddof, keepdims):
    if x.size == 0:  # nothing to differentiate (and no mean to take)
        return _restore(g, x.shape, axis, keepdims)
    scale = 2.0 * _one_over_freedom(x.shape, axis, ddof)
    return _restore(g, x.shape, axis, keepdims) * _deviation(x, axis) * scale


def _std_vjp(g, ans, x, axis, ddof, keepdims):
    # d std = (x - mean) / ((N - ddof) * std); 0 where std is 0 (a constant slice), as PyTorch
    if x.size == 0:  # nothing to differentiate (and no mean to take)
        return _restore(g, x.shape, axis, keepdims)
    ans = ans if keepdims or axis is None else prims.expand_dims(ans, axis=axis)
    flat = ans == 0
    safe = prims.where(flat, 1.0, ans)
    share = prims.where(flat, 0.0, _deviation(x, axis) / safe) * _one_over_freedom(
        x.shape, axis, ddof)
    return _restore(g, x.shape, axis, keepdims) * share


var = primitive(
    "var", _var_forward, _var_vjp, prepare=torch_dim(_var_params, refuse=_TORCH_SPREAD),
    method=_spread_method,
    source=_spread_source("var"),
    helper={"var_forward": _var_forward, "_spread_without_freedom": _spread_without_freedom,
            "_count": _count},
    doc="Variance over `axis` with NumPy's ddof (0 by default; torch.var's default is 1), two "
        "passes: the mean of squared deviations. With no degree of freedom left (N <= ddof, or "
        "an empty axis) it is nan (inf if the values differ) and so is its gradient, as torch "
        "(NumPy warns).",
    batch=shift_axis(),
)
std = primitive(
    "std", _std_forward, _std_vjp, prepare=torch_dim(_var_params, refuse=_TORCH_SPREAD),
    method=_spread_method,
    source=_spread_source("std"),
    helper={"std_forward": _std_forward, "_spread_without_freedom": _spread_without_freedom,
            "_count": _count},
    doc="Standard deviation over `axis` (ddof as in var, nan without degrees of freedom); its "
        "gradient is 0 where it is 0.",
    batch=shift_axis(),
)


# --- norm ---------------------------------------------------------------------------------------
def _norm_forward(x, axis, keepdims):
    # scaled by the largest magnitude: no overflow for 1e200, no underflow for 1e-200
    big = np.max(np.abs(x), axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
    safe = np.where(big > 0, big, 1.0)
    out = safe * np.sqrt(np.sum((x / safe) ** 2, axis=axis, keepdims=True))
    out = np.where(np.isinf(big), np.inf, out)
    return out if keepdims else np.squeeze(out, axis=axis)


def _norm_vjp(g, ans, x, axis, keepdims):
    ans = ans if keepdims or axis is None else prims.expand_dims(ans, axis=axis)
    flat = ans == 0
    return _restore(g, x.shape, axis, keepdims) * prims.where(flat, 0.0, x / prims.where(flat, 1.0,
                                                                                  ans))


def _norm_params(x, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    axes = normalize_axis(axis, x.ndim)
    keep = check_flag(keepdims, "keepdims")
    two_d = (axes is None and x.ndim == 2) or (axes is not None and len(axes) == 2)
    if ord in (None, 2, "fro") and not (ord == 2 and two_d) and not (ord == "fro" and
                                                                      not two_d):
        return {"axis": axes, "keepdims": keep}
    if two_d or (axes is None and x.ndim > 1) or (axes is not None and len(axes) > 1):
        raise ValueError(f"ord={ord!r} over {x.ndim if axes is None else len(axes)} axes is a "
                         "matrix norm; only the Frobenius norm (ord=None or 'fro') is supported")
    if isinstance(ord, str) or ord == 0:
        raise ValueError(f"unsupported ord {ord!r} for a vector norm")
    mag = prims.abs(x)
    if ord == np.inf:
        return Call(prims.max, (mag,), {"axis": axes, "keepdims": keep})
    if ord == -np.inf:
        return Call(prims.min, (mag,), {"axis": axes, "keepdims": keep})
    if ord == 1:
        return Call(prims.sum, (mag,), {"axis": axes, "keepdims": keep})
    return prims.sum(mag ** float(ord), axis=axes, keepdims=keep) ** (1.0 / ord)


norm = primitive(
    "norm", _norm_forward, _norm_vjp, prepare=_norm_params,
    helper={"norm_forward": _norm_forward},
    source="norm_forward({x}, {axis}, {keepdims})",
    doc="Vector p-norm over `axis` (np.linalg.norm's ord: None/2, 1, inf, -inf, p), or the "
        "Frobenius norm; the 2-norm is scaled (no overflow) and its gradient at 0 is 0.",
    batch=shift_axis(),
)


# --- scans --------------------------------------------------------------------------------------
def _scan_params(op: str):
    """A scan's `prepare`: one axis; axis=None scans the flattened tensor (as NumPy does), and
    so does axis 0 or -1 of a 0-d tensor (NumPy 2 gives shape (1,) then; torch keeps 0-d)."""

    def prepare(x, axis: Any = None) -> Any:
        if axis is None or (x.ndim == 0 and not isinstance(axis, bool) and axis in (0, -1)):
            return getattr(prims, op)(prims.reshape(x, shape=(-1,)), axis=0)
        return {"axis": normalize_axis(axis, x.ndim)[0]}

    return prepare


def _reverse(x, axis):
    return prims.getitem(x, index=(slice(None),) * axis + (slice(None, None, -1),))


def _cumsum_vjp(g, ans, x, axis):
    return _reverse(prims.cumsum(_reverse(g, axis), axis=axis), axis)


def _cumprod_vjp(g, ans, x, axis):
    if not np.any(value_of(x) == 0):
        return _reverse(prims.cumsum(_reverse(g * ans, axis), axis=axis), axis) / x
    # zeros: grad_k = sum_{j >= k} g_j * prod_{i <= j, i != k} x_i, from the (K, K) products
    moved = prims.swapaxes(x, axis1=axis, axis2=x.ndim - 1)
    k = moved.shape[-1]
    spread = prims.where(np.eye(k, dtype=bool), 1.0, prims.expand_dims(moved, axis=moved.ndim - 1))
    partial = prims.cumprod(spread, axis=moved.ndim)  # [..., k, j]: left out k, up to j
    upper = np.triu(np.ones((k, k), dtype=bool))  # only j >= k
    gm = prims.expand_dims(prims.swapaxes(g, axis1=axis, axis2=x.ndim - 1), axis=moved.ndim - 1)
    total = prims.sum(prims.where(upper, partial * gm, 0.0), axis=(moved.ndim,), keepdims=False)
    return prims.swapaxes(total, axis1=axis, axis2=x.ndim - 1)


cumsum = primitive(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis), _cumsum_vjp,
    prepare=torch_dim(_scan_params("cumsum")),
    method=True, source="np.cumsum({x}, axis={axis})",
    linear=True, doc="Running sum along `axis` (of the flattened tensor by default).",
    batch=shift_axis(False),
)
cumprod = primitive(
    "cumprod", lambda x, axis: np.cumprod(x, axis=axis), _cumprod_vjp,
    prepare=torch_dim(_scan_params("cumprod")), method=True, source="np.cumprod({x}, axis={axis})",
    doc="Running product along `axis` (of the flattened tensor by default); the gradient is "
        "exact where x has zeros.",
    batch=shift_axis(False),
)


# --- without gradient ---------------------------------------------------------------------------
def _arg_params(x, axis: Any = None, keepdims: bool = False) -> dict:
    if x.size == 0:
        raise ValueError(f"attempt to get the position of an extreme of an empty tensor "
                         f"{x.shape}")
    return {"axis": None if axis is None else normalize_axis(axis, x.ndim)[0],
            "keepdims": check_flag(keepdims, "keepdims")}


def _batch_flat_position(forward, arrays, batched, params, n, prefix):
    """argmax/argmin under vmap: axis=None is a position in each example's flattened values."""
    if params["axis"] is not None:
        return shift_axis(False)(forward, arrays, batched, params, n, prefix)
    x = arrays[0]
    flat = x.reshape(x.shape[:n] + (-1,))
    out = forward(flat, axis=n, keepdims=False)
    return out.reshape(out.shape + (1,) * (x.ndim - n)) if params["keepdims"] else out


def _no_gradient(name: str, forward, prepare, doc: str):
    # argmax/argmin over axis=None index the flattened tensor; all/any reduce every axis
    return primitive(name, forward, None, prepare=torch_dim(prepare), method=numpy_reduction,
                     source="{x}." + name + "(axis={axis}, keepdims={keepdims})", doc=doc,
                     batch=shift_axis(True) if name in ("all", "any") else _batch_flat_position)


argmax = _no_gradient("argmax", lambda x, axis, keepdims: x.argmax(axis=axis, keepdims=keepdims),
                      _arg_params, "Index of the (first) maximum over `axis` (of the flattened "
                      "tensor by default); an integer tensor without gradient.")
argmin = _no_gradient("argmin", lambda x, axis, keepdims: x.argmin(axis=axis, keepdims=keepdims),
                      _arg_params, "Index of the (first) minimum over `axis`; an integer tensor "
                      "without gradient.")
all = _no_gradient(  # noqa: A001
    "all", lambda x, axis, keepdims: x.all(axis=axis, keepdims=keepdims), _axes,
    "True where every element over `axis` is nonzero; a boolean tensor without gradient.")
any = _no_gradient(  # noqa: A001
    "any", lambda x, axis, keepdims: x.any(axis=axis, keepdims=keepdims), _axes,
    "True where some element over `axis` is nonzero; a boolean tensor without gradient.")


# --- standardize: the normalisation step of batch and layer norm, one node ----------------------
def _standardize_forward(x, axis, eps):
    if x.size == 0:  # nothing to standardize: an empty result, as PyTorch
        return np.empty_like(x)
    dev = x - x.mean(axis=axis, keepdims=True)
    return dev / np.sqrt((dev * dev).mean(axis=axis, keepdims=True) + eps)


def _standardize_vjp(g, ans, x, axis, eps):
    # d xhat = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps), means over `axis`
    if x.size == 0:
        return g
    inv = prims.rsqrt(prims.var(x, axis=axis, ddof=0, keepdims=True) + eps)
    centred = g - prims.mean(g, axis=axis, keepdims=True)
    return (centred - ans * prims.mean(g * ans, axis=axis, keepdims=True)) * inv


def _standardize_params(x, axis: Any = None, eps: float = 1e-5) -> dict:
    axis = normalize_axis(axis, x.ndim)
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    return {"axis": axis, "eps": float(eps)}


standardize = primitive(
    "standardize", _standardize_forward, _standardize_vjp, prepare=_standardize_params,
    helper={"standardize_forward": _standardize_forward},
    source="standardize_forward({x}, {axis}, {eps})",
    doc="(x - mean) / sqrt(var + eps) over `axis` (all axes by default): the normalisation of "
        "batch and layer norm, as one node with a two-pass variance.",
    batch=shift_axis(),
)
