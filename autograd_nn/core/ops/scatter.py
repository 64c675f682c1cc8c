"""Scatter and masks: scatter_reduce (a row: sum, prod, mean, amax, amin into x along `dim`,
torch's semantics and gradients), and composites of rows: scatter, masked_fill, masked_select,
nonzero (over the argwhere row), one_hot, meshgrid, rot90.

The index is an input of the row (without gradient), so that under vmap each example scatters
with its own index. Value checks that decide between a result and a refusal are read through
`_refuse_if`, which ag.compile guards (a compiled call with new values checks them again).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrange import _flip, _gather
from .registry import check_flag, composite, normalize_axis, primitive, prims, value_of
from .shape import pick

_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "_apply_primitive")


def _array(x: Any) -> Any:
    """A Tensor as it is, anything else as a NumPy array."""
    return x if _is_tensor(x) else np.asarray(x)


def _refuse_if(flag: Any, message: str, error: type[Exception] = ValueError) -> None:
    """Raise `error(message)` when `flag` (a boolean array or Tensor) holds a True anywhere (in any
    example under vmap); else read it as a Python bool, so that ag.compile guards it."""
    if np.any(value_of(flag)):
        raise error(message)
    if hasattr(flag, "_concrete"):  # a Tensor (not explain's symbols)
        bool(prims.any(flag, axis=None, keepdims=False))


# --- the row ------------------------------------------------------------------------------------
def _scatter_reduce_forward(x, src, index, dim, reduce, include_self):
    """torch.Tensor.scatter_reduce on arrays: src[i][j] goes to out[index[i][j]][j] (dim 0),
    combined with `reduce`; positions no index names keep x."""
    grids = np.indices(index.shape, sparse=True)
    where = tuple(index if a == dim else grids[a] for a in range(index.ndim))
    out = np.array(x, dtype=np.result_type(x, src), copy=True)
    ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
             "amin": np.minimum}[reduce]
    if not include_self:
        if reduce in ("amax", "amin"):
            big = np.inf if out.dtype.kind == "f" else np.iinfo(out.dtype).max
            out[where] = -big if reduce == "amax" else big
        else:
            out[where] = 1 if reduce == "prod" else 0
    ufunc.at(out, where, src)
    if reduce == "mean":
        count = np.zeros(out.shape, dtype=np.int64)
        np.add.at(count, where, 1)
        written = count > 0
        count = count + (1 if include_self else 0)
        count[~written] = 1
        out = out // count if out.dtype.kind in "iu" else (out / count).astype(out.dtype)
    return out


def _count(x, index, dim):
    """How many index entries name each position of x (a row, so per example under vmap)."""
    return prims.scatter_reduce(np.zeros(x.shape), np.ones(index.shape), index, dim=dim,
                                reduce="sum", include_self=True)


def _mean_count(x, index, dim, include_self):
    """The number of values averaged at each position (1 where nothing is written)."""
    count = _count(x, index, dim)
    total = count + 1.0 if include_self else count
    return prims.where(total == 0, 1.0, total)


def _ties_refused(x, ans, index, dim, reduce):
    """torch counts an x equal to the result among the ties even with include_self=False (its
    src gradient then sums to less than the output's): that case is refused, not followed."""
    written = _count(x, index, dim) > 0
    _refuse_if(written & (x == ans), f"scatter_reduce: the gradient of reduce={reduce!r} with "
               "include_self=False where x equals the result at a position the index writes "
               "(a tie between an excluded x and src): torch counts the excluded x among the "
               "ties and gives src only part of the gradient; make x differ there (e.g. -inf "
               "for 'amax'), or use include_self=True")


def _x_vjp(g, ans, x, src, index, dim, reduce, include_self):
    if not include_self:
        if reduce in ("amax", "amin"):
            _ties_refused(x, ans, index, dim, reduce)
        return prims.where(_count(x, index, dim) > 0, 0.0, g)
    if reduce == "sum":
        return g
    if reduce == "mean":
        return g / _mean_count(x, index, dim, True)
    if reduce == "prod":  # the product of the others, exact where x is 0 (torch's form)
        safe = prims.where(x == 0, 1.0, x)
        others = prims.scatter_reduce(safe, src, index, dim=dim, reduce="prod", include_self=True)
        return g * others / safe
    hits = prims.where(x == ans, 1.0, 0.0)  # amax/amin: ties share the gradient equally
    return g * hits / _tie_count(hits, ans, src, index, dim)


def _tie_count(x_hits, ans, src, index, dim):
    """How many elements (x's and src's) reach the result at each position."""
    src_hits = prims.where(src == _gather(ans, dim, index), 1.0, 0.0)
    total = prims.scatter_reduce(x_hits, src_hits, index, dim=dim, reduce="sum",
                                 include_self=True)
    return prims.where(total == 0, 1.0, total)


def _src_vjp(g, ans, x, src, index, dim, reduce, include_self):
    if reduce == "sum":
        return _gather(g, dim, index)
    if reduce == "mean":
        return _gather(g / _mean_count(x, index, dim, include_self), dim, index)
    if reduce == "prod":
        return _prod_src_vjp(g, ans, x, src, index, dim, include_self)
    if not include_self:
        _ties_refused(x, ans, index, dim, reduce)
        x_hits = np.zeros(x.shape)
    else:
        x_hits = prims.where(x == ans, 1.0, 0.0)
    share = g / _tie_count(x_hits, ans, src, index, dim)
    return prims.where(src == _gather(ans, dim, index), _gather(share, dim, index), 0.0)


def _prod_src_vjp(g, ans, x, src, index, dim, include_self):
    """torch's: (g * result / src) gathered; where src is the only zero of its position, the
    product of the others directly."""
    zero = src == 0
    zeros_there = prims.scatter_reduce(np.zeros(x.shape), prims.where(zero, 1.0, 0.0), index,
                                       dim=dim, reduce="sum", include_self=True)
    zeros_per_src = _gather(zeros_there, dim, index)
    if any(getattr(v, "requires_grad", False) for v in (x, src)):
        _refuse_if(zeros_per_src > 1, "scatter_reduce: the second derivative of reduce='prod' "
                   "where two or more zeros of src go to one position is not supported (torch "
                   "refuses it too)")
    single = zero & (zeros_per_src == 1)
    without = prims.scatter_reduce(x, prims.where(single, 1.0, src), index, dim=dim,
                                   reduce="prod", include_self=include_self)
    divided = _gather(g * ans, dim, index) / prims.where(zero, 1.0, src)
    return prims.where(single, _gather(g * without, dim, index), divided)


def _batch_scatter_reduce(forward, arrays, batched, params, n, prefix):
    """Every example scatters its own src with its own index into its own x: the batch dims are
    more dims of the same scatter (index spans them too)."""
    full = [np.broadcast_to(a, prefix + (a.shape[n:] if b else a.shape))
            for a, b in zip(arrays, batched, strict=True)]
    return forward(*full, **{**params, "dim": params["dim"] + n})


scatter_reduce_row = primitive(
    "scatter_reduce", _scatter_reduce_forward, _x_vjp, _src_vjp, None,
    inputs=("x", "src", "index"), public=None, batch=_batch_scatter_reduce,
    helper={"scatter_reduce": _scatter_reduce_forward},
    source="scatter_reduce({x}, {src}, {index}, {dim}, {reduce}, {include_self})",
    doc="x with src scattered along `dim` at `index` and combined by `reduce` (the row behind "
        "ag.scatter_reduce and ag.scatter; src has index's shape).",
)


# --- the public scatter functions ---------------------------------------------------------------
def _scatter_args(x, dim: int, index: Any, src: Any, where: str):
    """dim as a non-negative int, the index checked, and src cut to the index's shape (torch
    reads only that corner of src); a number as src fills it."""
    index = _array(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{where}: index must be integers, got dtype {index.dtype}")
    if index.ndim != x.ndim:
        raise ValueError(f"{where}: index of shape {index.shape} needs as many dims as x "
                         f"{x.shape}")
    (dim,) = normalize_axis(dim, x.ndim)
    for a in range(x.ndim):
        if a != dim and index.shape[a] > x.shape[a]:
            raise ValueError(f"{where}: index of shape {index.shape} is larger than x "
                             f"{x.shape} in dim {a}")
    n = x.shape[dim]
    # torch refuses negative indices here (no wrapping), so they are refused too; read through
    # _refuse_if so that a compiled call checks a new index again
    _refuse_if((index < 0) | (index >= n), f"{where}: an index is out of range for dim {dim} "
               f"of size {n} (indices must lie in [0, {n}), as in torch: no negative indices)",
               IndexError)
    if isinstance(src, (int, float, bool, np.number)):
        return dim, index, np.full(index.shape, src, dtype=x.dtype)
    src = _array(src)
    if src.ndim != x.ndim or any(s < k for s, k in zip(src.shape, index.shape, strict=True)):
        raise ValueError(f"{where}: src of shape {src.shape} must have x's number of dims and "
                         f"be at least as large as index {index.shape} in every dim")
    if src.shape != index.shape:
        src = prims.getitem(src, index=tuple(slice(0, k) for k in index.shape))
    return dim, index, src


def _scatter_reduce(x, dim: int, index: Any, src: Any, reduce: str,
                    include_self: bool = True):
    """torch's scatter_reduce: src[i][j] combined into x[index[i][j]][j] (dim 0) by 'sum',
    'prod', 'mean', 'amax' or 'amin'; tied extremes share the gradient, as in torch."""
    if reduce not in _REDUCES:
        raise ValueError(f"reduce must be one of {_REDUCES}, got {reduce!r}")
    include_self = check_flag(include_self, "include_self")
    dim, index, src = _scatter_args(x, dim, index, src, "scatter_reduce")
    if reduce == "mean" and np.result_type(x.dtype, src.dtype).kind not in "fiu":
        raise TypeError(f"reduce='mean' needs numbers, got {x.dtype}")
    return prims.scatter_reduce(x, src, index, dim=dim, reduce=reduce, include_self=include_self)


def _scatter(x, dim: int, index: Any, src: Any):
    """torch's scatter: x with src[i][j] written to x[index[i][j]][j] (dim 0); src may be a
    number. An index naming one position twice is refused (torch leaves the result undefined)."""
    dim, index, src = _scatter_args(x, dim, index, src, "scatter")
    _refuse_if(_count(x, index, dim) > 1,
               f"index writes some position of x twice along dim {dim}: the result would "
               "depend on the order of writes (use scatter_reduce to combine them)")
    return prims.scatter_reduce(x, src, index, dim=dim, reduce="sum", include_self=False)


scatter_reduce = composite("scatter_reduce", _scatter_reduce, method=True)
scatter = composite("scatter", _scatter, method=True)


# --- masks --------------------------------------------------------------------------------------
def _masked_fill(x, mask: Any, value: Any):
    """x with `value` where the boolean `mask` (broadcast to x's shape) is True (torch's
    masked_fill); a 0-d Tensor value gets the filled positions' gradient."""
    mask = _array(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be boolean, got dtype {mask.dtype}")
    if np.broadcast_shapes(mask.shape, x.shape) != x.shape:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to x {x.shape}")
    shape = value.shape if _is_tensor(value) else np.shape(value)  # one example's, in vmap
    if shape != ():
        raise ValueError(f"value must be a number or a 0-d tensor, got shape {shape}")
    if not _is_tensor(value):  # a number takes x's dtype, as in torch
        value = np.asarray(value, dtype=x.dtype)
    return prims.where(mask, value, x)


def _masked_select(x, mask: Any):
    """The elements of x where `mask` is True, as a 1-D tensor (x and mask broadcast together,
    as torch's masked_select); the gradient goes back to those elements."""
    if _is_tensor(mask) and getattr(mask, "_levels", None) is not None:
        raise ValueError("masked_select of a mask that differs per example of a vmap: each "
                         "example would keep a different number of elements; use "
                         "ag.masked_fill or ag.where instead")
    mask = _array(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be boolean, got dtype {mask.dtype}")
    shape = np.broadcast_shapes(mask.shape, x.shape)
    if x.shape != shape:
        x = prims.broadcast_to(x, shape=shape)
    flat = prims.reshape(x, shape=(-1,))  # integer positions: compiled kernels index so too
    if not _is_tensor(mask):
        return prims.getitem(flat, index=np.flatnonzero(np.broadcast_to(mask, shape)))
    # a Tensor mask is an input: its positions are computed (argwhere), not read at trace time,
    # so a compiled call with another mask (another count, or other places) selects by it
    if mask.shape != shape:
        mask = prims.broadcast_to(mask, shape=shape)
    rows = prims.argwhere(prims.reshape(mask, shape=(-1,)))
    return pick(flat, prims.getitem(rows, index=(slice(None), 0)))


argwhere = primitive(
    "argwhere", np.argwhere, None,
    doc="The positions of x's nonzero elements, one row each (k, x.ndim): integers without "
        "gradient (np.argwhere; torch.nonzero). Not under vmap: each example has its own k.",
)


def _nonzero(x) -> tuple:
    """The positions of x's nonzero elements as one integer tensor per axis (np.nonzero), for
    indexing: x[ag.nonzero(x > 0)]."""
    if getattr(x, "_levels", None) is not None:
        raise ValueError("nonzero is refused inside vmap: each example has its own count of "
                         "nonzero elements, so the results cannot be stacked; use ag.where or "
                         "ag.masked_fill instead, or call it outside vmap")
    if x.ndim == 0:
        raise ValueError("nonzero of a 0-d tensor is not allowed (as in NumPy): use "
                         "atleast_1d first")
    rows = prims.argwhere(x)
    return tuple(prims.getitem(rows, index=(slice(None), a)) for a in range(x.ndim))


def _one_hot(indices, num_classes: int = -1):
    """torch's one_hot: int64 with a new last axis of `num_classes` (max + 1 by default), 1 at
    each index; no gradient."""
    values = np.asarray(value_of(indices))
    if values.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {values.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool):
        raise TypeError(f"one_hot: num_classes must be an int (-1: max + 1), got "
                        f"{num_classes!r}")
    if num_classes == -1:
        if getattr(indices, "_levels", None) is not None:
            raise ValueError("one_hot under vmap needs num_classes (with -1 each example "
                             "could get its own number of classes)")
        # read through int() of a Tensor, so that ag.compile guards it (a new max retraces)
        top = prims.max(indices, axis=None, keepdims=False) if values.size else None
        num_classes = (int(top) if _is_tensor(top) else int(values.max())) + 1 if values.size \
            else 0
    _refuse_if((indices < 0) | (indices >= num_classes),
               f"one_hot: indices must lie in [0, {num_classes}), got values from "
               f"{values.min() if values.size else None} to "
               f"{values.max() if values.size else None}")
    hit = prims.expand_dims(indices, axis=-1) == np.arange(num_classes)
    return prims.where(hit, np.int64(1), np.int64(0))


def _meshgrid(*xs: Any, indexing: str = "xy", sparse: bool = False) -> tuple:
    """Coordinate grids from 1-D coordinates, as np.meshgrid ('xy' swaps the first two axes;
    torch's default is 'ij'); each grid's gradient is summed back to its coordinates."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [_array(x) for x in xs]
    xs = [x if x.ndim == 1 else prims.reshape(x, shape=(-1,)) for x in xs]
    shape = [x.shape[0] for x in xs]
    order = list(range(len(xs)))
    if indexing == "xy" and len(xs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
        order[0], order[1] = 1, 0
    grids = []
    for x, axis in zip(xs, order, strict=True):
        lined = prims.reshape(x, shape=tuple(-1 if a == axis else 1 for a in range(len(xs))))
        grids.append(lined if sparse else prims.broadcast_to(lined, shape=tuple(shape)))
    return tuple(grids)


def _rot90(x, k: int = 1, axes: Any = (0, 1)):
    """Rotate by 90 degrees k times in the plane of `axes`, from the first axis towards the
    second (np.rot90): flips and a swap of axes."""
    if len(axes) != 2:
        raise ValueError(f"axes must name two axes, got {axes!r}")
    a, b = (normalize_axis(ax, x.ndim)[0] for ax in axes)
    if a == b:
        raise ValueError(f"axes must differ, got {axes!r}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, (bool, np.bool_)):
        raise TypeError(f"rot90: k must be an int (quarter turns), got {k!r}")
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return _flip(x, (a, b))
    if k == 1:
        return prims.swapaxes(_flip(x, b), axis1=a, axis2=b)
    return _flip(prims.swapaxes(x, axis1=a, axis2=b), b)


masked_fill = composite("masked_fill", _masked_fill, method=True)
masked_select = composite("masked_select", _masked_select, method=True)
nonzero = composite("nonzero", _nonzero, method=True)
one_hot = composite("one_hot", _one_hot)
meshgrid = composite("meshgrid", _meshgrid, inputs=0)
rot90 = composite("rot90", _rot90)

