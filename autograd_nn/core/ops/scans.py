"""More scans and differences: cummax/cummin (values and indices, as torch gives them),
logcumsumexp (a row, stable), diff and gradient (composites of slices, as NumPy's)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .batch_rules import shift_axis
from .registry import composite, normalize_axis, primitive, prims
from .shape import pick


class ValuesIndices(NamedTuple):
    """What cummax and cummin return, as torch.return_types.cummax: `values` and `indices`."""

    values: Any
    indices: Any


def _flat_or_axis(x, axis: Any) -> tuple[Any, int]:
    """One scan axis; axis=None (and axis 0 or -1 of a 0-d tensor) scans the flattened tensor,
    as cumsum does."""
    if axis is None or (x.ndim == 0 and not isinstance(axis, bool) and axis in (0, -1)):
        return prims.reshape(x, shape=(-1,)), 0
    return x, normalize_axis(axis, x.ndim)[0]


# --- cummax, cummin -------------------------------------------------------------------------
def _running_index(x, axis, better):
    """The index of the running extreme as torch.cummax/cummin give it: a tie or a NaN moves
    it to the later element (torch compares with >= / <= and keeps the NaN once met)."""
    best = (np.maximum if better == "max" else np.minimum).accumulate(x, axis=axis)
    steps = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    moves = (x == best) | np.isnan(x)
    return np.maximum.accumulate(np.where(moves, steps, 0), axis=axis)


def _index_row(name: str, better: str):
    return primitive(
        name, lambda x, axis: _running_index(x, axis, better), None, public=None,
        helper={"_running_index": _running_index},
        source="_running_index({x}, {axis}, " + repr(better) + ")",
        batch=shift_axis(False),
        doc=f"The index of the running {better}imum along `axis` (torch's tie rule); an integer "
            "tensor without gradient.",
    )


cummax_indices = _index_row("cummax_indices", "max")
cummin_indices = _index_row("cummin_indices", "min")


def _running_extreme(x, axis, index_row):
    x, axis = _flat_or_axis(x, axis)
    indices = index_row(x, axis=axis)
    grids = np.ix_(*[np.arange(n) for n in x.shape]) if x.ndim else ()
    values = pick(x, tuple(indices if a == axis else grids[a] for a in range(x.ndim)))
    return ValuesIndices(values, indices)


def _cummax(x, axis: Any = None) -> ValuesIndices:
    """Running maximum along `axis` as torch.cummax: (values, indices); a tie takes the later
    index, a NaN propagates. The gradient goes to the element each value came from."""
    return _running_extreme(x, axis, prims.cummax_indices)


def _cummin(x, axis: Any = None) -> ValuesIndices:
    """Running minimum along `axis` as torch.cummin: (values, indices); a tie takes the later
    index, a NaN propagates. The gradient goes to the element each value came from."""
    return _running_extreme(x, axis, prims.cummin_indices)


cummax = composite("cummax", _cummax)
cummin = composite("cummin", _cummin)


# --- logcumsumexp ---------------------------------------------------------------------------
def _logcumsumexp_forward(x, axis):
    return np.logaddexp.accumulate(x, axis=axis)


def _reverse(x, axis):
    return prims.getitem(x, index=(slice(None),) * axis + (slice(None, None, -1),))


def _log_of_part(g, positive: bool):
    """log(max(+-g, 0)): -inf where that part of g is 0 (no log of 0 is taken)."""
    part = g if positive else -g
    keep = part > 0
    return prims.where(keep, prims.log(prims.where(keep, part, 1.0)), -np.inf)


def _minus(a, b):
    """a - b where b is -inf counts as nothing (-inf): a running sum of no finite exp(x) has no
    share to give, and -inf - -inf would be nan."""
    empty = b == -np.inf
    return prims.where(empty, -np.inf, a - prims.where(empty, 0.0, b))


def _logcumsumexp_vjp(g, ans, x, axis):
    # dx_k = sum_{j >= k} g_j exp(x_k - out_j), summed in log space, one sign of g at a time
    grad = 0.0
    for positive in (True, False):
        terms = _minus(_log_of_part(g, positive), ans)
        tail = _reverse(prims.logcumsumexp(_reverse(terms, axis), axis=axis), axis)
        grad = grad + (1.0 if positive else -1.0) * prims.exp(x + tail)
    return grad


def _logcumsumexp_jvp(tangents, ans, x, axis):
    # dout_j = sum_{k <= j} t_k exp(x_k - out_j): a running sum in log space, per sign of t
    t = tangents[0]
    if t is None:
        return None
    out = 0.0
    for positive in (True, False):
        running = prims.logcumsumexp(_log_of_part(t, positive) + x, axis=axis)
        out = out + (1.0 if positive else -1.0) * prims.exp(_minus(running, ans))
    return out


def _logcumsumexp_params(x, axis: Any = None) -> Any:
    flat, axis = _flat_or_axis(x, axis)
    return {"axis": axis} if flat is x else prims.logcumsumexp(flat, axis=axis)


logcumsumexp = primitive(
    "logcumsumexp", _logcumsumexp_forward, _logcumsumexp_vjp, prepare=_logcumsumexp_params,
    helper={"logcumsumexp_forward": _logcumsumexp_forward},
    source="logcumsumexp_forward({x}, {axis})",
    batch=shift_axis(False), jvp=_logcumsumexp_jvp,
    doc="log(cumsum(exp(x))) along `axis` (of the flattened tensor by default), as "
        "torch.logcumsumexp, without overflow (np.logaddexp.accumulate).",
)


# --- diff, gradient -------------------------------------------------------------------------
def _along(x, axis: int, part: slice):
    return prims.getitem(x, index=(slice(None),) * axis + (part,))


def _edge(x, value: Any, axis: int, what: str):
    """diff's prepend/append: a scalar is spread along `axis` (length 1), an array kept."""
    value = value if hasattr(value, "_apply_primitive") else np.asarray(value, dtype=x.dtype)
    if value.ndim == 0:
        shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        return prims.broadcast_to(value, shape=shape)
    if value.ndim != x.ndim:
        raise ValueError(f"{what} of shape {value.shape} needs {x.ndim} dims, as x {x.shape}")
    return value


def _subtract(later, earlier):
    return later - earlier


def _diff(x, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None):
    """The n-th difference along `axis`, as np.diff: out[i] = x[i + 1] - x[i], n times, after
    joining `prepend` and `append`; of booleans, x[i + 1] != x[i] (as np.diff)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"order n must be a non-negative int, got {n!r}")
    if x.ndim == 0:
        raise ValueError("diff needs at least 1 dim, got a 0-d tensor")
    (axis,) = normalize_axis(axis, x.ndim)
    if n == 0:
        return x
    parts = [_edge(x, prepend, axis, "prepend")] if prepend is not None else []
    parts += [x] + ([_edge(x, append, axis, "append")] if append is not None else [])
    if len(parts) > 1:
        x = prims.concatenate(*parts, axis=axis)
    step = prims.not_equal if x.dtype == np.bool_ else _subtract
    for _ in range(n):
        x = step(_along(x, axis, slice(1, None)), _along(x, axis, slice(None, -1)))
    return x


def _spacings(varargs: tuple, shape: tuple, axes: tuple) -> list:
    """np.gradient's spacing per axis: a number, or the coordinates along that axis (1-D)."""
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return [float(varargs[0])] * len(axes)
    if len(varargs) != len(axes):
        raise TypeError(f"gradient: {len(varargs)} spacings for {len(axes)} axes")
    out = []
    for spacing, axis in zip(varargs, axes, strict=True):
        if hasattr(spacing, "_apply_primitive"):
            raise TypeError("gradient: spacings are constants (arrays or numbers), not Tensors")
        arr = np.asarray(spacing, dtype=np.float64)
        if arr.ndim == 0:
            out.append(float(arr))
        elif arr.ndim == 1 and arr.shape[0] == shape[axis]:
            out.append(np.diff(arr))
        else:
            raise ValueError(f"gradient: coordinates of shape {arr.shape} do not match axis "
                             f"{axis} of size {shape[axis]}")
    return out


def _line(values, axis: int, ndim: int):
    """Per-position weights along `axis`, shaped to broadcast against the data."""
    return np.asarray(values, dtype=np.float64).reshape((-1,) + (1,) * (ndim - axis - 1))


def _one_axis_gradient(f, axis: int, dx: Any, edge_order: int):
    """np.gradient along one axis: second-order central differences inside, one-sided
    differences of `edge_order` at the two ends."""
    ndim = f.ndim
    part = lambda a, b: _along(f, axis, slice(a, b))  # noqa: E731
    if np.ndim(dx) == 0:
        inner = (part(2, None) - part(None, -2)) / (2.0 * dx)
        if edge_order == 1:
            first = (part(1, 2) - part(0, 1)) / dx
            last = (part(-1, None) - part(-2, -1)) / dx
        else:
            first = (-1.5 * part(0, 1) + 2.0 * part(1, 2) - 0.5 * part(2, 3)) / dx
            last = (0.5 * part(-3, -2) - 2.0 * part(-2, -1) + 1.5 * part(-1, None)) / dx
        return prims.concatenate(first, inner, last, axis=axis)
    dx1, dx2 = dx[:-1], dx[1:]
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    inner = (part(None, -2) * _line(a, axis, ndim) + part(1, -1) * _line(b, axis, ndim)
             + part(2, None) * _line(c, axis, ndim))
    if edge_order == 1:
        first = (part(1, 2) - part(0, 1)) / dx[0]
        last = (part(-1, None) - part(-2, -1)) / dx[-1]
    else:
        d1, d2 = dx[0], dx[1]
        first = (part(0, 1) * (-(2.0 * d1 + d2) / (d1 * (d1 + d2)))
                 + part(1, 2) * ((d1 + d2) / (d1 * d2)) + part(2, 3) * (-d1 / (d2 * (d1 + d2))))
        d1, d2 = dx[-2], dx[-1]
        last = (part(-3, -2) * (d2 / (d1 * (d1 + d2))) + part(-2, -1) * (-(d2 + d1) / (d1 * d2))
                + part(-1, None) * ((2.0 * d2 + d1) / (d2 * (d1 + d2))))
    return prims.concatenate(first, inner, last, axis=axis)


def _gradient(f, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """np.gradient: the derivative estimated along each axis (or the given ones) with central
    differences, spacing a number or coordinates per axis; one tensor for one axis, else a
    tuple of them."""
    if edge_order not in (1, 2):
        raise ValueError(f"edge_order must be 1 or 2, got {edge_order!r}")
    if f.dtype.kind != "f":
        f = prims.astype(f, dtype=np.float64)
    axes = tuple(range(f.ndim)) if axis is None else tuple(
        normalize_axis(a, f.ndim)[0] for a in ((axis,) if np.ndim(axis) == 0 else axis))
    spacings = _spacings(varargs, f.shape, axes)
    out = []
    for ax, dx in zip(axes, spacings, strict=True):
        if f.shape[ax] < edge_order + 1:
            raise ValueError(f"the shape {f.shape} has {f.shape[ax]} points along axis {ax}: "
                             f"edge_order={edge_order} needs at least {edge_order + 1}")
        out.append(_one_axis_gradient(f, ax, dx, edge_order))
    return out[0] if len(out) == 1 else tuple(out)


diff = composite("diff", _diff)
gradient = composite("gradient", _gradient)
