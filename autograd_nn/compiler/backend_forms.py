"""How the generated NumPy is written for each kernel backend: imports, the kernel's
decorator, `np.` -> `jnp.` for JAX, and helpers whose NumPy form a backend lacks (in-place
scatters for JAX, keepdims reductions for numba) written in a form it has."""

from __future__ import annotations

import re
from collections.abc import Callable

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
    return f"{DECORATOR[backend]}\n{source}"


def refuse_unsupported(backend: str, writer: object) -> None:
    """Refuse, before any compiling, what `backend` is known not to run (nothing yet: the
    backend's own compile errors are turned into CompileErrors by `backends.first_call`)."""
