"""One ONNX form per op row: `FORMS[row name](graph, node) -> the output's value name`.

Each form gets the traced node (its parents, `_params`, and its static shape and dtype) and
emits ONNX nodes through `graph` (export.GraphBuilder). Shapes are all known when traced, so
reshapes, broadcasts and sums-to-shape are written with the traced shapes as constants.
A row missing here has no ONNX form yet and is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Form = Callable[[Any, Any], str]
FORMS: dict[str, Form] = {}

INT64_MIN = -(2 ** 63)


def _form(*names: str) -> Callable[[Form], Form]:
    def register(fn: Form) -> Form:
        for name in names:
            FORMS[name] = fn
        return fn
    return register


def _same(onnx_op: str) -> Form:
    """An elementwise op computed in the node's dtype (inputs cast to it)."""
    def form(g: Any, t: Any) -> str:
        return g.node(onnx_op, g.inputs(t, t.dtype))
    return form


for _ours, _theirs in {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div",
                       "maximum": "Max", "minimum": "Min", "pow_tensor": "Pow", "neg": "Neg",
                       "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh",
                       "sigmoid": "Sigmoid", "relu": "Relu", "abs": "Abs", "sin": "Sin",
                       "cos": "Cos", "tan": "Tan", "floor": "Floor", "ceil": "Ceil",
                       "reciprocal": "Reciprocal", "erf": "Erf", "sign": "Sign",
                       "arctan": "Atan", "arcsin": "Asin", "arccos": "Acos", "sinh": "Sinh",
                       "cosh": "Cosh", "logical_not": "Not", "astype": "Identity",
                       "cast": "Identity",
                       "matmul": "MatMul"}.items():
    FORMS[_ours] = _same(_theirs)


def _compare(onnx_op: str, negate: bool = False) -> Form:
    """A comparison: inputs in their common dtype, a boolean result."""
    def form(g: Any, t: Any) -> str:
        out = g.node(onnx_op, g.inputs(t, g.common_dtype(t)))
        return g.node("Not", [out]) if negate else out
    return form


for _ours, _theirs in {"greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less",
                       "less_equal": "LessOrEqual", "equal": "Equal"}.items():
    FORMS[_ours] = _compare(_theirs)
FORMS["not_equal"] = _compare("Equal", negate=True)


@_form("square")
def _square(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    return g.node("Mul", [x, x])


@_form("rsqrt")
def _rsqrt(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    return g.node("Reciprocal", [g.node("Sqrt", [x])])


@_form("pow")
def _pow(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    exponent = t._params["exponent"]
    if exponent == 2:
        return g.node("Mul", [x, x])
    return g.node("Pow", [x, g.constant(np.asarray(exponent, t.dtype))])


@_form("log1p", "expm1")
def _log1p_expm1(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    one = g.constant(np.asarray(1, t.dtype))
    if t._op.name == "log1p":
        return g.node("Log", [g.node("Add", [x, one])])
    return g.node("Sub", [g.node("Exp", [x]), one])


@_form("leaky_relu")
def _leaky_relu(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    return g.node("LeakyRelu", [x], alpha=float(t._params["negative_slope"]))


@_form("clip", "hardtanh")
def _clip(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    p = t._params
    lo, hi = (p["lo"], p["hi"]) if t._op.name == "clip" else (p["min_val"], p["max_val"])
    bound = [g.constant(np.asarray(v, t.dtype)) if v is not None else "" for v in (lo, hi)]
    return g.node("Clip", [x, *bound])


@_form("where")
def _where(g: Any, t: Any) -> str:
    cond = g.inputs(t, np.dtype(bool))[0]
    a, b = g.inputs(t, t.dtype)[1:]
    return g.node("Where", [cond, a, b])


@_form("dot")
def _dot(g: Any, t: Any) -> str:
    a, b = t._parents
    if a.ndim > 2 or b.ndim > 2 or a.ndim == 0 or b.ndim == 0:
        g.refuse(t, f"np.dot of {a.ndim}-d and {b.ndim}-d arrays (ONNX MatMul is np.matmul); "
                    "use ag.matmul")
    return g.node("MatMul", g.inputs(t, t.dtype))


@_form("reshape", "expand_dims")
def _reshape(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    return g.reshape(x, t.shape)


@_form("broadcast_to")
def _broadcast_to(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    return g.node("Expand", [x, g.constant(np.asarray(t.shape, np.int64))])


@_form("transpose", "swapaxes")
def _transpose(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    n = t._parents[0].ndim
    p = t._params
    if t._op.name == "swapaxes":
        perm = list(range(n))
        a, b = p["axis1"] % n, p["axis2"] % n
        perm[a], perm[b] = perm[b], perm[a]
    else:
        perm = list(range(n))[::-1] if p["axes"] is None else [int(a) % n for a in p["axes"]]
    return g.node("Transpose", [x], perm=perm)


def _axes(axis: Any, ndim: int) -> list[int]:
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, (int, np.integer)):
        return [int(axis) % ndim]
    return [int(a) % ndim for a in axis]


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}


@_form(*_REDUCE)
def _reduce(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    x_ndim = t._parents[0].ndim
    axes = _axes(t._params.get("axis"), x_ndim)
    if x_ndim == 0:
        return g.reshape(x, t.shape)
    out = g.node(_REDUCE[t._op.name], [x, g.constant(np.asarray(axes, np.int64))], keepdims=1)
    return g.reshape(out, t.shape)


@_form("sum_to")
def _sum_to(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    shape = t._parents[0].shape
    target = (1,) * (len(shape) - len(t.shape)) + tuple(t.shape)
    axes = [i for i, (a, b) in enumerate(zip(shape, target, strict=True)) if a != b]
    if axes:
        x = g.node("ReduceSum", [x, g.constant(np.asarray(axes, np.int64))], keepdims=1)
    return g.reshape(x, t.shape)


@_form("var", "std")
def _var(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    p = t._params
    n = t._parents[0].ndim
    axes = _axes(p["axis"], n)
    count = int(np.prod([t._parents[0].shape[a] for a in axes]))
    if count <= p["ddof"]:
        g.refuse(t, f"a variance over {count} elements with ddof={p['ddof']}")
    axes_c = g.constant(np.asarray(axes, np.int64))
    dev = g.node("Sub", [x, g.node("ReduceMean", [x, axes_c], keepdims=1)])
    total = g.node("ReduceSum", [g.node("Mul", [dev, dev]), axes_c], keepdims=1)
    out = g.node("Div", [total, g.constant(np.asarray(count - p["ddof"], t.dtype))])
    if t._op.name == "std":
        out = g.node("Sqrt", [out])
    return g.reshape(out, t.shape)


@_form("standardize")
def _standardize(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    axes = g.constant(np.asarray(_axes(t._params["axis"], t.ndim), np.int64))
    dev = g.node("Sub", [x, g.node("ReduceMean", [x, axes], keepdims=1)])
    var = g.node("ReduceMean", [g.node("Mul", [dev, dev]), axes], keepdims=1)
    eps = g.constant(np.asarray(t._params["eps"], t.dtype))
    return g.node("Div", [dev, g.node("Sqrt", [g.node("Add", [var, eps])])])


@_form("softmax", "log_softmax")
def _softmax(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    axis = t._params["axis"]
    if not isinstance(axis, (int, np.integer)):
        g.refuse(t, f"softmax over several axes {axis}")
    return g.node("Softmax" if t._op.name == "softmax" else "LogSoftmax", [x], axis=int(axis))


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@_form("conv2d", "conv_transpose2d")
def _conv(g: Any, t: Any) -> str:
    x, w = g.inputs(t, t.dtype)
    p = t._params
    padding = p["padding"]
    if isinstance(padding, str) or any(not isinstance(v, (int, np.integer))
                                       for v in _pair(padding)):
        g.refuse(t, f"padding {padding!r} (give the padding as numbers)")
    ph, pw = _pair(padding)
    common = {"strides": list(_pair(p["stride"])), "dilations": list(_pair(p["dilation"])),
              "group": int(p["groups"]), "pads": [ph, pw, ph, pw],
              "kernel_shape": list(t._parents[1].shape[2:])}
    if t._op.name == "conv2d":
        return g.node("Conv", [x, w], **common)
    return g.node("ConvTranspose", [x, w], output_padding=list(_pair(p["output_padding"])),
                  **common)


@_form("max_pool2d")
def _max_pool(g: Any, t: Any) -> str:
    (x,) = g.inputs(t, t.dtype)
    p = t._params
    ph, pw = _pair(p["padding"])
    return g.node("MaxPool", [x], kernel_shape=list(_pair(p["kernel"])),
                  strides=list(_pair(p["stride"])), pads=[ph, pw, ph, pw],
                  dilations=list(_pair(p["dilation"])))


@_form("concatenate", "stack")
def _concatenate(g: Any, t: Any) -> str:
    xs = g.inputs(t, t.dtype)
    axis = int(t._params["axis"])
    if t._op.name == "stack":
        axis %= t.ndim
        part = list(t.shape)
        part[axis] = 1
        xs = [g.reshape(x, tuple(part)) for x in xs]
    return g.node("Concat", xs, axis=axis % t.ndim)


@_form("getitem")
def _getitem(g: Any, t: Any) -> str:
    """Basic indexing (ints, slices, None, ...): one Slice, then a reshape to the result."""
    (x,) = g.inputs(t, t.dtype)
    index = t._params["index"]
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if isinstance(i, np.ndarray)]
    if arrays:
        return _gather_leading(g, t, x, items)
    shape = t._parents[0].shape
    real = [i for i in items if i is not None]
    if Ellipsis in real:
        k = real.index(Ellipsis)
        real = real[:k] + [slice(None)] * (len(shape) - len(real) + 1) + real[k + 1:]
    starts, ends, axes, steps = [], [], [], []
    for axis, item in enumerate(real):
        if isinstance(item, slice):
            start, stop, step = item.indices(shape[axis])
            if (start, stop, step) == (0, shape[axis], 1):
                continue
            if step < 0 and stop < 0:
                stop = INT64_MIN  # "before the first element", not "from the end"
        else:
            start = int(item) % shape[axis]
            stop, step = start + 1, 1
        starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
    if axes:
        x = g.node("Slice", [x, *(g.constant(np.asarray(v, np.int64))
                                  for v in (starts, ends, axes, steps))])
    return g.reshape(x, t.shape)


def _gather_leading(g: Any, t: Any, x: str, items: tuple) -> str:
    """x[i, j] (integer arrays on the leading axes, then whole axes): one GatherND."""
    k = 0
    while k < len(items) and isinstance(items[k], np.ndarray) and items[k].dtype.kind in "iu":
        k += 1
    if k == 0 or any(i != slice(None) for i in items[k:]):
        g.refuse(t, "an advanced index other than integer arrays on the leading axes")
    arrays = list(items[:k])
    values = [g.array_value(a) for a in arrays]
    names = [v if v is not None else g.constant(a, "index")
             for v, a in zip(values, arrays, strict=True)]
    return g.node("GatherND", [x, _stacked_index(g, t, names, arrays, t._parents[0].shape)])


def _stacked_index(g: Any, t: Any, index_names: list[str], arrays: list, dims: tuple) -> str:
    """The int64 (..., k) index tensor GatherND / ScatterND take, from k broadcast index arrays
    (negative indices counted from the end of `dims`, as NumPy does)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    columns = []
    for name, size in zip(index_names, dims, strict=False):
        name = g.node("Cast", [name], to=g.onnx_type(np.dtype(np.int64)))
        limit = g.constant(np.asarray(size, np.int64))
        name = g.node("Mod", [g.node("Add", [name, limit]), limit])
        name = g.node("Expand", [name, g.constant(np.asarray(shape, np.int64))])
        columns.append(g.reshape(name, (*shape, 1)))
    return columns[0] if len(columns) == 1 else g.node("Concat", columns, axis=len(shape))


def _scatter_add_onto_zeros(g: Any, t: Any, src: str, stacked: str, src_shape: tuple,
                            arrays: list) -> str:
    """Zeros of t's shape with `src` added at `stacked` (repeated places accumulate)."""
    zeros = g.constant(np.zeros(t.shape, t.dtype))
    picked = (*np.broadcast_shapes(*(a.shape for a in arrays)), *t.shape[len(arrays):])
    if tuple(src_shape) != picked:
        src = g.node("Expand", [src, g.constant(np.asarray(picked, np.int64))])
    return g.node("ScatterND", [zeros, stacked, src], reduction="add")


@_form("scatter_add")
def _scatter_add(g: Any, t: Any) -> str:
    """Zeros of the traced shape with the input added at an index (the gradient of indexing):
    a constant index becomes the flat positions NumPy's indexing picks; an index computed from
    the arguments (labels) must be integer arrays on the leading axes."""
    index = t._params["index"]
    (src,) = g.inputs(t, t.dtype)
    items = index if isinstance(index, tuple) else (index,)
    values = [g.array_value(a) if isinstance(a, np.ndarray) else None for a in items]
    if all(v is None for v in values):
        positions = np.arange(int(np.prod(t.shape)), dtype=np.int64).reshape(t.shape)[index]
        if tuple(t._parents[0].shape) != positions.shape:
            src = g.node("Expand", [src, g.constant(np.asarray(positions.shape, np.int64))])
        flat = g.node("ScatterND", [g.constant(np.zeros(t.size, t.dtype)),
                                    g.constant(positions.reshape(-1, 1)),
                                    g.reshape(src, (-1,))], reduction="add")
        return g.reshape(flat, t.shape)
    if not all(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in items):
        g.refuse(t, "a scatter at an index computed from the arguments other than one integer "
                    "array per leading axis")
    arrays = list(items)
    names = [v if v is not None else g.constant(a, "index")
             for v, a in zip(values, arrays, strict=True)]
    stacked = _stacked_index(g, t, names, arrays, t.shape)
    return _scatter_add_onto_zeros(g, t, src, stacked, t._parents[0].shape, arrays)


@_form("max_pool2d_route")
def _max_pool_route(g: Any, t: Any) -> str:
    """max_pool2d's backward: MaxPool's flat indices of each window's first maximum, then
    the gradient added into zeros at them."""
    grad, x = g.inputs(t, t.dtype)
    p = t._params
    ph, pw = _pair(p["padding"])
    pool = g.onnx.helper.make_node(
        "MaxPool", [x], [g.fresh("pooled"), g.fresh("argmax")],
        kernel_shape=list(_pair(p["kernel"])), strides=list(_pair(p["stride"])),
        pads=[ph, pw, ph, pw], dilations=list(_pair(p["dilation"])))
    g.nodes.append(pool)
    flat = g.node("ScatterND", [g.constant(np.zeros(t.size, t.dtype)),
                                g.reshape(pool.output[1], (-1, 1)), g.reshape(grad, (-1,))],
                  reduction="add")
    return g.reshape(flat, t.shape)


@_form("conv2d_weight")
def _conv_weight(g: Any, t: Any) -> str:
    """conv2d's gradient in its weight, as a convolution of x (channels as the batch) with the
    output gradient (batch as channels): strides and dilations swap roles."""
    x, gy = g.inputs(t, t.dtype)
    p = t._params
    if p["groups"] != 1:
        g.refuse(t, f"the weight gradient of a grouped convolution (groups={p['groups']})")
    ph, pw = _pair(p["padding"])
    kh, kw = _pair(p["kernel"])
    out = g.node("Conv", [g.node("Transpose", [x], perm=[1, 0, 2, 3]),
                          g.node("Transpose", [gy], perm=[1, 0, 2, 3])],
                 strides=list(_pair(p["dilation"])), dilations=list(_pair(p["stride"])),
                 pads=[ph, pw, ph, pw], kernel_shape=list(t._parents[1].shape[2:]))
    out = g.node("Slice", [out, *(g.constant(np.asarray(v, np.int64))
                                  for v in ([0, 0], [kh, kw], [2, 3]))])
    return g.node("Transpose", [out], perm=[1, 0, 2, 3])
