"""How the generated NumPy is written for each kernel backend: imports, the kernel's
decorator, `np.` -> `jnp.` for JAX, and helpers whose NumPy form a backend lacks (in-place
scatters for JAX, keepdims reductions for numba) written in a form it has."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

IMPORTS = {"numba": ["import numba"], "jax": ["import jax", "import jax.numpy as jnp"]}
DECORATOR = {"numba": "@numba.njit(cache=True)", "jax": "@jax.jit"}
_NP = re.compile(r"\bnp\.")

# JAX arrays are immutable: the scatters are written with .at[...]; no np.errstate under jit
_JAX_HELPERS = {
    "scatter_add": '''def scatter_add(g, index, shape):
    """Zeros of `shape` with g added at `index` (repeated indices accumulate)."""
    return jnp.zeros(shape, dtype=g.dtype).at[index].add(g)''',
    "scatter_set": '''def scatter_set(g, index, shape):
    """Zeros of `shape` with g written at a basic index."""
    return jnp.zeros(shape, dtype=g.dtype).at[index].set(g)''',
    "add_at": '''def add_at(out, index, values):
    """out with every example's values added at its own index (vmap's scatter)."""
    return out.at[index].add(values)''',
    "set_at": '''def set_at(out, index, values):
    """out with every example's one value written at its own place (vmap's pick)."""
    return out.at[index].set(values)''',
    "erf_forward": '''def erf_forward(x):
    return jax.lax.erf(x)''',
    "erfc_forward": '''def erfc_forward(x):
    return jax.lax.erfc(x)''',
    "argsort_stable": '''def argsort_stable(x, axis, descending):
    """Stable argsort; descending keeps equal elements in their order in x."""
    if not descending:
        return jnp.argsort(x, axis=axis, stable=True)
    backwards = jnp.argsort(jnp.flip(x, axis), axis=axis, stable=True)
    return x.shape[axis] - 1 - jnp.flip(backwards, axis)''',
    "logsumexp": '''def logsumexp(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True, initial=-jnp.inf)  # nothing to sum: -inf
    m = jnp.where(jnp.isfinite(m), m, 0)  # all -inf (or inf) along the axis: no inf - inf
    out = jnp.log(jnp.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)''',
}


def _jax(text: str) -> str:
    """NumPy calls as jax.numpy calls, in the code and not in the comment."""
    code, sep, comment = text.partition("  # ")
    return _NP.sub("jnp.", code) + sep + comment


def rewrite_line(backend: str) -> Callable[[str], str]:
    """How a kernel statement is written for `backend`."""
    return _jax if backend == "jax" else (lambda line: line)


def helper(backend: str, name: str, source: str) -> str:
    """A helper's source for `backend`: its own form when it has one, else the NumPy source
    (through jax.numpy for JAX, compiled with njit for numba)."""
    if backend == "jax":
        if name in _JAX_HELPERS:
            return _JAX_HELPERS[name]
        return "\n".join(_jax(line) for line in source.splitlines())
    return f"{DECORATOR[backend]}\n{_NUMBA_HELPERS.get(name, source)}"


# --- numba: NumPy forms numba's nopython mode lacks, written for the traced shapes -----------
def _axes_form(template: str, axes: tuple[int, ...], in_shape: tuple, out_shape: tuple,
               dtype: np.dtype, mean: bool) -> str:
    """A sum (or mean) over `axes` of an array of `in_shape`, giving `out_shape`: numba sums over
    one int axis at a time and has no keepdims, so axes are summed one by one and reshaped."""
    if len(axes) == len(in_shape):  # every axis: a scalar, spread to the kept shape
        whole = template + (".mean()" if mean else ".sum()")
        return whole if out_shape == () else f"np.full({out_shape!r}, {whole})"
    text = template
    for axis in sorted(axes, reverse=True):
        text = f"np.sum({text}, axis={axis})"
    if mean:
        count = int(np.prod([in_shape[a] for a in axes]))
        text = f"({text} / np.{np.dtype(dtype).name}({count}))"
    kept = tuple(n for a, n in enumerate(in_shape) if a not in axes)
    return text if kept == out_shape else f"np.reshape({text}, {out_shape!r})"


def numba_form(node: Any, template: str) -> str:
    """`template` (an op's NumPy form) in a form numba compiles, for this node's shapes: sums
    over axes with keepdims, N-d @ 2-d, lists of arrays, and pairs of integer index arrays."""
    op, params = node.op, node._params or {}
    shapes = [p.shape for p in node.parents]
    if op in ("sum", "mean") and shapes:
        axis, ndim = params.get("axis"), len(shapes[0])
        if axis is None and not params.get("keepdims"):
            return template
        axes = tuple(range(ndim)) if axis is None else (axis,) if isinstance(axis, int) \
            else tuple(axis)
        axes = tuple(sorted({a % ndim for a in axes}))
        return _axes_form("{x}", axes, shapes[0], node.shape, node.dtype, op == "mean")
    whole = params.get("axis", 0) is None and not params.get("keepdims", True)
    if op in ("any", "all", "prod", "max", "min") and whole:
        return "{x}." + op + "()"  # numba's methods take no axis or keepdims
    if op in ("var", "std") and whole and params.get("ddof") == 0:
        return "{x}." + op + "()"
    if op == "sum_to":
        in_shape, lead = shapes[0], len(shapes[0]) - len(node.shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(node.shape)
                                          if n == 1 and in_shape[lead + i] != 1)
        return _axes_form("{x}", axes, in_shape, node.shape, node.dtype, False)
    if op in ("matmul", "dot") and len(shapes) == 2 and len(shapes[0]) > 2 and \
            len(shapes[1]) == 2:
        inner = shapes[0][-1]
        return (f"np.reshape(np.ascontiguousarray({{a}}).reshape((-1, {inner})) @ {{b}}, "
                f"{node.shape!r})")
    if op in ("matmul", "dot") and _small_float_product(node):
        return "small_matmul({a}, {b})"
    if op == "matmul" and len(shapes) == 2 and len(shapes[0]) > 2 and \
            shapes[0][:-2] == shapes[1][:-2]:  # a stack of products, one at a time
        return f"np.reshape(matmul_stack({{a}}, {{b}}), {node.shape!r})"
    if op in ("concatenate", "stack"):
        return template.replace("[{xs}]", "({xs},)")
    index = params.get("index")
    pair = isinstance(index, tuple) and len(index) == 2 and all(
        isinstance(i, np.ndarray) and i.ndim == 1 and i.dtype.kind in "iu" for i in index)
    if op == "getitem" and pair and len(shapes[0]) == 2:
        return "take_pairs({" + node._op.inputs[0] + "}, {index})"
    if op == "scatter_add" and pair and len(node.shape) == 2:
        return "scatter_pairs({" + node._op.inputs[0] + "}, {index}, {shape})"
    return template


SMALL_PRODUCT = 4096  # multiply-adds up to which three loops beat a call into BLAS (measured)


def _small_float_product(node: Any) -> bool:
    """True for a 2-d @ 2-d product of one float dtype, small enough that loops are faster."""
    if len(node.parents) != 2:
        return False
    a, b = node.parents
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.kind != "f" or \
            node.dtype != a.dtype:
        return False
    m, k = a.shape
    return k >= 1 and m * k * b.shape[1] <= SMALL_PRODUCT


_NUMBA_HELPERS = {
    "sigmoid": '''def sigmoid(x):
    """The exact sigmoid (see the NumPy helper), its constants in x's own dtype: numba would
    compute a float32 x in float64 next to a bare 0.0."""
    kind = np.asarray(x).dtype.type
    return np.exp(np.minimum(x, kind(0.0))) / (kind(1.0) + np.exp(-np.abs(x)))''',
    "softmax": '''def softmax(x, axis):
    """softmax over the last axis, row by row."""
    if axis != -1 and axis != x.ndim - 1:
        raise NotImplementedError("softmax: the numba form runs over the last axis only")
    rows = np.ascontiguousarray(x).reshape((-1, x.shape[-1]))
    out = np.empty_like(rows)
    for i in range(rows.shape[0]):
        e = np.exp(rows[i] - rows[i].max())
        out[i] = e / e.sum()
    return out.reshape(x.shape)''',
    "log_softmax": '''def log_softmax(x, axis):
    """log_softmax over the last axis, row by row."""
    if axis != -1 and axis != x.ndim - 1:
        raise NotImplementedError("log_softmax: the numba form runs over the last axis only")
    rows = np.ascontiguousarray(x).reshape((-1, x.shape[-1]))
    out = np.empty_like(rows)
    for i in range(rows.shape[0]):
        shifted = rows[i] - rows[i].max()
        out[i] = shifted - np.log(np.exp(shifted).sum())
    return out.reshape(x.shape)''',
}
_NUMBA_EXTRA = {
    "small_matmul": '''def small_matmul(a, b):
    """a @ b for small matrices as three loops (calling BLAS costs more than the arithmetic):
    each entry summed in order along the inner axis, which has at least one element."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = a[i, 0] * b[0, j]
            for k in range(1, a.shape[1]):
                total += a[i, k] * b[k, j]
            out[i, j] = total
    return out''',
    "matmul_stack": '''def matmul_stack(a, b):
    """a @ b for stacks of matrices with the same leading shape: one product per matrix."""
    a3 = np.ascontiguousarray(a).reshape((-1, a.shape[-2], a.shape[-1]))
    b3 = np.ascontiguousarray(b).reshape((-1, b.shape[-2], b.shape[-1]))
    out = np.empty((a3.shape[0], a3.shape[1], b3.shape[2]), dtype=a3.dtype)
    for i in range(a3.shape[0]):
        out[i] = a3[i] @ b3[i]
    return out''',
    "take_pairs": '''def take_pairs(x, index):
    """x[rows, cols] for two integer arrays: one element per pair (bounds checked)."""
    rows, cols = index
    out = np.empty(rows.shape[0], dtype=x.dtype)
    for i in range(rows.shape[0]):
        r, c = rows[i], cols[i]
        if r < -x.shape[0] or r >= x.shape[0] or c < -x.shape[1] or c >= x.shape[1]:
            raise IndexError("index out of bounds")
        out[i] = x[r, c]
    return out''',
    "scatter_pairs": '''def scatter_pairs(g, index, shape):
    """Zeros of `shape` with g[i] added at (rows[i], cols[i]) (repeated pairs accumulate)."""
    rows, cols = index
    out = np.zeros(shape, dtype=g.dtype)
    for i in range(rows.shape[0]):
        r, c = rows[i], cols[i]
        if r < -shape[0] or r >= shape[0] or c < -shape[1] or c >= shape[1]:
            raise IndexError("index out of bounds")
        out[r, c] += g[i]
    return out''',
}


def extra_helpers(backend: str, statements: list[str]) -> list[str]:
    """The helpers `numba_form` introduced that the kernel's statements call."""
    if backend != "numba":
        return []
    used = " ".join(statements)
    return [f"{DECORATOR[backend]}\n{source}" for name, source in _NUMBA_EXTRA.items()
            if re.search(rf"\b{name}\(", used)]
