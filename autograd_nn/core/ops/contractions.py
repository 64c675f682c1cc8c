"""einsum (a row: its rule for each operand is again an einsum), and composites of rows:
tensordot, outer, diagonal, trace, diag, tril, triu."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import composite, normalize_axis, primitive, prims


def _parse(subscripts: str, xs) -> tuple[str, dict[str, int]]:
    """`subscripts` in explicit form ("ij,jk->ik"): an ellipsis becomes letters of its own
    (aligned from the right), the implicit output is spelled out; checked against the
    operands' shapes. Also each letter's size (size-1 axes broadcast to it)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"subscripts must be a string, got {type(subscripts).__name__}")
    spec = subscripts.replace(" ", "")
    ins, arrow, out = spec.partition("->")
    terms = ins.split(",")
    if len(terms) != len(xs):
        raise ValueError(f"subscripts {subscripts!r} name {len(terms)} operands, got {len(xs)}")
    spare = [ch for ch in _LETTERS if ch not in spec]
    widest = max((x.ndim - len(t) + 3 for t, x in zip(terms, xs, strict=True) if "..." in t),
                 default=0)
    dots = "".join(spare[:widest])
    terms = [t.replace("...", dots[widest - (x.ndim - len(t) + 3):]) if "..." in t else t
             for t, x in zip(terms, xs, strict=True)]
    sizes: dict[str, int] = {}
    for term, x in zip(terms, xs, strict=True):
        if not (term.isalpha() or not term):
            raise ValueError(f"subscripts must be letters (and '...'), got {subscripts!r}")
        if len(term) != x.ndim:
            raise ValueError(f"{subscripts!r} names {len(term)} axes of an operand of shape "
                             f"{x.shape}")
        for ch, n in zip(term, x.shape, strict=True):
            seen = sizes.setdefault(ch, n)
            if seen != n and 1 not in (seen, n):
                raise ValueError(f"axis {ch!r} of {subscripts!r} has sizes {seen} and {n}, "
                                 "which do not broadcast")
            sizes[ch] = max(seen, n) if 1 in (seen, n) else n
    if arrow:
        out = out.replace("...", dots)
    else:
        letters = "".join(terms)
        out = dots + "".join(sorted(ch for ch in set(letters) if letters.count(ch) == 1
                                    and ch not in dots))
    if len(set(out)) != len(out) or any(ch not in sizes for ch in out):
        raise ValueError(f"output of {subscripts!r} must use each input letter at most once")
    return ",".join(terms) + "->" + out, sizes


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_vjp(i, g, ans, *xs, subscripts):
    ins, out = subscripts.split("->")
    terms = ins.split(",")
    target = terms[i]
    unique = "".join(dict.fromkeys(target))  # a letter repeated in operand i: its diagonal
    others = [(t, x) for j, (t, x) in enumerate(zip(terms, xs, strict=True)) if j != i]
    present = set(out).union(*[set(t) for t, _ in others])
    missing = "".join(ch for ch in unique if ch not in present)  # summed in operand i alone
    operands = [g] + [x for _, x in others]
    spec = [out] + [t for t, _ in others]
    size = {ch: n for ch, n in zip(target, xs[i].shape, strict=True)}
    if missing:
        operands.append(np.ones(tuple(size[ch] for ch in missing)))
        spec.append(missing)
    grad = prims.einsum(*operands, subscripts=",".join(spec) + "->" + unique)
    if unique == target:
        return grad
    grids = np.indices(tuple(size[ch] for ch in unique), sparse=True)
    index = tuple(grids[unique.index(ch)] for ch in target)
    return prims.scatter_add(grad, index=index, shape=tuple(xs[i].shape))


def _batch_einsum(forward, arrays, batched, params, n, prefix):
    """einsum of examples: the batch dims get letters of their own in every batched operand
    and in the result."""
    inputs, out = params["subscripts"].split("->")
    free = [ch for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            if ch not in params["subscripts"]]
    lead = "".join(free[:n])
    terms = [lead + t if b else t for t, b in zip(inputs.split(","), batched, strict=True)]
    return np.einsum(",".join(terms) + "->" + lead + out, *arrays, optimize=len(arrays) > 2)


einsum_row = primitive(
    "einsum", lambda *xs, subscripts: np.einsum(subscripts, *xs, optimize=len(xs) > 2),
    _einsum_vjp, variadic=True, public=None, batch=_batch_einsum,
    source=lambda params, shapes: f"np.einsum({params['subscripts']!r}, {{xs}})",
    doc="Einstein summation over explicit subscripts.",
)


def _einsum(subscripts: str, *operands: Any):
    """Einstein summation as np.einsum (explicit or implicit output, '...', repeated letters
    for diagonals, size-1 axes and '...' broadcast); each operand's gradient is an einsum."""
    if not operands:
        raise ValueError("einsum needs at least one operand")
    operands = tuple(x if hasattr(x, "_apply_primitive") else np.asarray(x) for x in operands)
    explicit, sizes = _parse(subscripts, operands)
    terms = explicit.split("->")[0].split(",")
    # a size-1 axis against a longer one of the same letter broadcasts (as np.einsum and
    # torch.einsum do): spread first, so the row's gradient sums it back
    operands = tuple(
        x if tuple(x.shape) == (full := tuple(sizes[ch] for ch in term))
        else prims.broadcast_to(x, shape=full)
        for term, x in zip(terms, operands, strict=True))
    return prims.einsum(*operands, subscripts=explicit)


def _permuted(x, order: list[int]):
    return x if order == sorted(order) else prims.transpose(x, axes=tuple(order))


def _tensordot(a, b, axes: Any = 2):
    """np.tensordot as a transpose, a reshape and one matmul."""
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([v] if isinstance(v, (int, np.integer)) else list(v) for v in axes)
    axes_a = [normalize_axis(v, a.ndim)[0] for v in axes_a]
    axes_b = [normalize_axis(v, b.ndim)[0] for v in axes_b]
    if len(axes_a) != len(axes_b) or any(a.shape[i] != b.shape[j]
                                         for i, j in zip(axes_a, axes_b, strict=True)):
        raise ValueError(f"axes {axes!r} do not pair equal sizes of shapes {a.shape} and "
                         f"{b.shape}")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    k = int(np.prod([a.shape[i] for i in axes_a]))
    left = prims.reshape(_permuted(a, free_a + axes_a), shape=(-1, k))
    right = prims.reshape(_permuted(b, axes_b + free_b), shape=(k, -1))
    shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    return prims.reshape(prims.matmul(left, right), shape=shape)


def _outer(a, b):
    """The outer product of the flattened a and b: out[i, j] = a[i] * b[j]."""
    return prims.reshape(a, shape=(-1, 1)) * prims.reshape(b, shape=(1, -1))


def _diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The diagonal over axis1, axis2 (np.diagonal), as the last axis of the result."""
    if x.ndim < 2:
        raise ValueError(f"diagonal needs at least 2 dims, got shape {x.shape}")
    (a1,), (a2,) = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    if a1 == a2:
        raise ValueError(f"axis1 and axis2 must differ, got {axis1} and {axis2}")
    rest = tuple(i for i in range(x.ndim) if i not in (a1, a2))
    moved = _permuted(x, [*rest, a1, a2])
    n, m = x.shape[a1], x.shape[a2]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    return prims.getitem(moved, index=(Ellipsis, rows, rows + offset))


def _trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The sum of the diagonal (np.trace)."""
    return prims.sum(_diagonal(x, offset, axis1, axis2), axis=(x.ndim - 2,), keepdims=False)


def _diag(v, k: int = 0):
    """np.diag: a 1-D input becomes a square matrix with it on diagonal k; a 2-D input gives
    its diagonal k."""
    if v.ndim == 2:
        return _diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag needs a 1-D or 2-D input, got shape {v.shape}")
    n = v.shape[0] + abs(k)
    rows = np.arange(v.shape[0]) + max(0, -k)
    return prims.scatter_add(v, index=(rows, rows + k), shape=(n, n))


def _triangle(x, k: int, lower: bool):
    if x.ndim < 2:
        raise ValueError(f"needs at least 2 dims, got shape {x.shape}")
    n, m = x.shape[-2:]
    keep = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return prims.where(keep, x, np.zeros((), dtype=x.dtype))  # x's dtype, as np.tril keeps it


def _tril(x, k: int = 0):
    """The lower triangle (on and below diagonal k) of the last two axes; zeros elsewhere."""
    return _triangle(x, k, True)


def _triu(x, k: int = 0):
    """The upper triangle (on and above diagonal k) of the last two axes; zeros elsewhere."""
    return _triangle(x, k, False)


einsum = composite("einsum", _einsum, inputs=0)
tensordot = composite("tensordot", _tensordot, inputs=2)
outer = composite("outer", _outer, inputs=2)
diagonal = composite("diagonal", _diagonal, method=True)
trace = composite("trace", _trace, method=True)
diag = composite("diag", _diag)
tril = composite("tril", _tril)
triu = composite("triu", _triu)
