"""Source for ops traced inside `ag.vmap` (so `compile(vmap(grad(f)))` is one batched function).

Inside vmap an op is recorded as the per-example op, but its array holds the whole batch (the
batch dim in front). Each op here is written as what its batch rule computes on those arrays:
elementwise ops with the examples lined up (`x.reshape(batch, 1, ...)`), axis ops with the
axis moved past the batch dim, matmul as one product, integer picks with a row index. What has
no form here yet is refused naming vmap, the op and the user's line.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np

from ..core.tensor import Tensor
from ..transforms.levels import align, ordered
from .errors import CompileError
from .precedence import ATOM

_ATOM = ATOM  # codegen's precedence of a name or a call
NO_TEMPLATE = ("to_batch", "from_batch", "take_index", "put_add")  # written here alone


def is_batched(t: Tensor) -> bool:
    """True when the op ran inside vmap (its array, or one of its inputs', holds the batch)."""
    return t._levels is not None or any(p._levels is not None for p in t.parents)


def _short_site(site: str | None) -> str:
    """file.py:line of a recorded site (the directories left out)."""
    return re.sub(r"(/[^\s:]*/)?([^/\s:]+\.py):(\d+)", r"\2:\3", site or "")


def _refuse(t: Tensor, why: str) -> CompileError:
    site = _short_site(t._where) or "?"
    return CompileError(
        f"compile: vmap (also inside jacrev, jacfwd, jacobian, hessian) of {t.op} at {site} "
        f"cannot be compiled yet ({why}); run the vmapped function eagerly, or compile a "
        "function written for the whole batch")


def batch_levels(t: Tensor) -> tuple:
    """The vmap levels the op ran under, outermost first (its array's leading dims)."""
    return ordered(lv for x in (t, *t.parents) for lv in (x._levels or ()))


def _moved_axes(t: Tensor) -> tuple[int, int] | None:
    """(source, destination) of the axis vmap's entry or exit moves (as np.moveaxis)."""
    params = t._params
    if t.op == "to_batch":
        k = ordered((*params["levels"], params["level"])).index(params["level"])
        return len(params["levels"]) + params["axis"], k
    if t.op == "from_batch":
        return params["levels"].index(params["level"]), len(params["levels"]) - 1 + params["axis"]
    return None


def identity_of(t: Tensor) -> Tensor | None:
    """Entering or leaving vmap where no axis moves: the value is its input's array."""
    moved = _moved_axes(t)
    if moved is not None and moved[0] == moved[1]:
        return t.parents[0]
    return None


def _shift_rule(prim: Any) -> dict | None:
    """The settings of a `shift_axis` batch rule (none_is_every_axis, new_axes), else None."""
    rule = prim.modes.batch
    if rule is None or not getattr(rule, "__qualname__", "").startswith("shift_axis"):
        return None
    return inspect.getclosurevars(rule).nonlocals


class BatchedWriter:
    """Writes one batched op's expression for codegen's `_Writer` `w`."""

    def __init__(self, w: Any, tools: Any) -> None:
        self.w = w  # codegen's _Writer: names, references, constants, helpers
        self.tools = tools  # codegen's placeholder pattern, precedence and template functions

    def parent(self, p: Tensor, consumer: Tensor) -> str:
        if p._levels is not None and self.w.is_constant(p):  # a batched constant: its array
            return self.w.array_constant(p.data, consumer)
        return self.w.wrap(p, _ATOM, consumer)

    def fill(self, t: Tensor, template: str, texts: dict, params: dict) -> tuple[str, int]:
        """`template` with the inputs put in and the (batched) `params`: an input given as a
        Tensor is an unchanged parent, parenthesised only where its slot needs it."""
        level = self.tools.precedence(template)
        needs = self.tools.slot_levels(template, level)
        values = {}
        for slot, m in enumerate(self.tools.placeholder.finditer(template)):
            key = m.group(1)
            if key in values:
                continue
            if key in texts:
                given = texts[key]
                values[key] = self.w.wrap(given, needs[slot], t) if isinstance(given, Tensor) \
                    else given
            else:
                subscript = template[max(0, m.start() - 1):m.start()] == "["
                values[key] = self.w.param_text(key, params.get(key), subscript, t)
        return self.tools.placeholder.sub(lambda m: values[m.group(1)], template), level

    def row(self, t: Tensor, texts: list, params: dict, shapes: list) -> tuple[str, int]:
        """The row's own template on batched arrays (`texts`: source text, or a parent Tensor
        written as it is) with batched `params`."""
        prim = t._op
        spec = prim.code.source
        if callable(spec):
            spec = spec(params, shapes)
        if spec is None:
            spec = self.tools.template(t)
        labels = prim.inputs
        if prim.variadic:
            named = {labels[0]: ", ".join(self.parent(x, t) if isinstance(x, Tensor) else x
                                          for x in texts)}
        else:
            named = dict(zip(labels, texts, strict=False))
        return self.fill(t, spec, named, params)

    def expression(self, t: Tensor) -> tuple[str, int]:
        prim, params = t._op, dict(t._params or {})
        levels = batch_levels(t)
        n, prefix = len(levels), tuple(lv.size for lv in levels)
        batched = [p._levels is not None for p in t.parents]
        moved = _moved_axes(t)
        if moved is not None:  # entering or leaving a vmap: its input's array as it is
            source = self.parent(self.w.resolve(t.parents[0]), t)
            return f"np.moveaxis({source}, {moved[0]}, {moved[1]})", _ATOM
        texts, arrays, plain = [], [], []  # inputs lined up: a dim for every level
        for given in t.parents:  # its levels say how its array is laid out
            p = self.w.resolve(given)  # the value computed (vmap's entry may have vanished)
            text = self.parent(p, t)
            arr = given.data
            unchanged = not (p._levels is not None and self.w.is_constant(p))
            if given._levels is not None and given._levels != levels:
                arr = align(arr, given._levels, levels)
                text = f"{text}.reshape({arr.shape!r})"
                unchanged = False
            texts.append(text)
            arrays.append(arr)
            plain.append(p if unchanged else None)  # written as codegen writes a parent
        shapes = [a.shape for a in arrays]
        if prim.modes.batch is None and prim.elementwise:
            rank = max(a.ndim - (n if b else 0) for a, b in zip(arrays, batched, strict=True))
            lined = [self.padded(text, a, n, rank) if b and rank > a.ndim - n else
                     (q if q is not None else text)
                     for text, a, b, q in zip(texts, arrays, batched, plain, strict=True)]
            return self.row(t, lined, params, shapes)
        shift = _shift_rule(prim)
        if shift is not None:
            return self.shifted(t, texts, arrays, batched, params, shift, prefix)
        method = getattr(self, f"op_{t.op}", None)
        if method is None:
            raise _refuse(t, f"{t.op} has no batched source form")
        return method(t, texts, arrays, batched, params, prefix)

    @staticmethod
    def padded(text: str, arr: Any, n: int, rank: int) -> str:
        """A batched input with size-1 dims after the batch dims up to `rank` per-example
        dims, so that NumPy's broadcasting lines the examples up."""
        missing = rank - (arr.ndim - n)
        if missing <= 0:
            return text
        return f"{text}.reshape({arr.shape[:n] + (1,) * missing + arr.shape[n:]!r})"

    @staticmethod
    def broadcast(texts: list[str], arrays: list, batched: list[bool], prefix: tuple) -> list:
        return [text if b else f"np.broadcast_to({text}, {(*prefix, *a.shape)!r})"
                for text, a, b in zip(texts, arrays, batched, strict=True)]

    def shifted(self, t: Tensor, texts: list[str], arrays: list, batched: list[bool],
                params: dict, shift: dict, prefix: tuple) -> tuple[str, int]:
        n = len(prefix)
        ins = self.broadcast(texts, arrays, batched, prefix)
        shapes = [a.shape if b else (*prefix, *a.shape) for a, b in zip(arrays, batched,
                                                                       strict=True)]
        rank = len(shapes[0]) - n
        axis = params.get("axis")
        if axis is None:
            if not shift.get("none_is_every_axis", True):
                raise _refuse(t, "axis=None")
            axis = tuple(range(n, n + rank))
        else:
            if shift.get("new_axes"):
                rank += len(axis) if isinstance(axis, tuple) else 1
            axis = tuple(a % rank + n for a in axis) if isinstance(axis, tuple) else \
                axis % rank + n
        return self.row(t, ins, {**params, "axis": axis}, shapes)

    def op_reshape(self, t, texts, arrays, batched, params, prefix):
        return f"{texts[0]}.reshape({(*prefix, *params['shape'])!r})", _ATOM

    def op_transpose(self, t, texts, arrays, batched, params, prefix):
        n, ndim = len(prefix), arrays[0].ndim
        axes = params["axes"]
        order = tuple(reversed(range(n, ndim))) if axes is None else tuple(a + n for a in axes)
        return f"{texts[0]}.transpose({(*range(n), *order)!r})", _ATOM

    def op_swapaxes(self, t, texts, arrays, batched, params, prefix):
        n, rank = len(prefix), arrays[0].ndim - len(prefix)
        a1, a2 = (params[k] % rank + n for k in ("axis1", "axis2"))
        return f"np.swapaxes({texts[0]}, {a1}, {a2})", _ATOM

    def op_broadcast_to(self, t, texts, arrays, batched, params, prefix):
        shape = tuple(params["shape"])
        return f"np.broadcast_to({self.padded(texts[0], arrays[0], len(prefix), len(shape))}, " \
               f"{(*prefix, *shape)!r})", _ATOM

    def op_sum_to(self, t, texts, arrays, batched, params, prefix):
        x, shape, n = arrays[0], tuple(params["shape"]), len(prefix)
        lead = x.ndim - n - len(shape)
        axes = tuple(range(n, n + lead)) + tuple(
            n + lead + i for i, size in enumerate(shape)
            if size == 1 and x.shape[n + lead + i] != 1)
        text = texts[0]
        if axes:
            text = f"{text}.sum(axis={axes!r}, keepdims=True)"
        if lead:
            text = f"{text}.reshape({(*x.shape[:n], *shape)!r})"
        return text, _ATOM

    def op_matmul(self, t, texts, arrays, batched, params, prefix):
        """As the batch rule computes it: one GEMM for a batch against one matrix."""
        (a, b), (ta, tb), n = arrays, texts, len(prefix)
        ra, rb = a.ndim - (n if batched[0] else 0), b.ndim - (n if batched[1] else 0)
        if ra == 1 and rb == 1:
            return f"({ta} * {tb}).sum(axis=-1)", _ATOM
        row, col = ra == 1 and batched[0], rb == 1 and batched[1]
        out = np.matmul(a.reshape(a.shape[:n] + (1,) + a.shape[n:]) if row else a,
                        b.reshape(b.shape + (1,)) if col else b)
        final = t.data.shape
        if batched[0] and not batched[1] and b.ndim == 2:
            if a.ndim == 2 or (row and a.ndim == n + 1 and n == 1):
                return f"{ta} @ {tb}", 2
            k = a.shape[-1]
            return f"({ta}.reshape(-1, {k}) @ {tb}).reshape({final!r})", _ATOM
        if batched[1] and not batched[0] and a.ndim == 2 and rb == 2:
            bt_shape = np.swapaxes(b, -1, -2).shape
            return (f"np.swapaxes((np.swapaxes({tb}, -1, -2).reshape(-1, {bt_shape[-1]}) @ "
                    f"{ta}.T).reshape({(*bt_shape[:-1], a.shape[0])!r}), -1, -2)"), _ATOM
        if ra >= 2 and rb >= 2:
            rank = max(ra, rb)
            ta = self.padded(ta, a, n, rank) if batched[0] else ta
            tb = self.padded(tb, b, n, rank) if batched[1] else tb
        if row:
            ta = f"{ta}.reshape({a.shape[:n] + (1,) + a.shape[n:]!r})"
        if col:
            tb = f"{tb}.reshape({b.shape + (1,)!r})"
        text = f"np.matmul({ta}, {tb})"
        return (f"{text}.reshape({final!r})" if out.shape != final else text), _ATOM

    op_dot = op_matmul

    def op_getitem(self, t, texts, arrays, batched, params, prefix):
        from ..core.ops.shape import _batched_index

        index = _batched_index(params["index"], len(prefix))
        return self.row(t, texts, {**params, "index": index}, [a.shape for a in arrays])

    def op_scatter_add(self, t, texts, arrays, batched, params, prefix):
        from ..core.ops.shape import _batched_index

        batched_params = {**params, "index": _batched_index(params["index"], len(prefix)),
                          "shape": (*prefix, *params["shape"])}
        return self.row(t, texts, batched_params, [a.shape for a in arrays])

    def op_scatter_reduce(self, t, texts, arrays, batched, params, prefix):
        # every example's x, src and index in full: the batch dims are more dims of one scatter
        n = len(prefix)
        full = [(*prefix, *(a.shape[n:] if b else a.shape)) for a, b in zip(arrays, batched,
                                                                           strict=True)]
        ins = [text if a.shape == shape else f"np.broadcast_to({text}, {shape!r})"
               for text, a, shape in zip(texts, arrays, full, strict=True)]
        return self.row(t, ins, {**params, "dim": params["dim"] + n}, full)

    def picked(self, t: Tensor, texts: list[str], arrays: list, batched: list[bool],
               prefix: tuple) -> str:
        """The index choosing each example's own elements: a grid per batch dim, then the
        integer index Tensors lined up with it (only index Tensors in the template)."""
        from ..core.ops.shape import SLOT

        if any(item is not SLOT for item in t._params["template"]):
            raise _refuse(t, "an index mixing integer Tensors with slices or numbers")
        n = len(prefix)
        rank = max(a.ndim - (n if b else 0) for a, b in zip(arrays, batched, strict=True))
        items = [self.padded(text, a, n, rank) if b else
                 f"{text}.reshape({(1,) * (n + rank - a.ndim) + a.shape!r})"
                 for text, a, b in zip(texts, arrays, batched, strict=True)]
        grids = [f"np.arange({size})" if n == 1 and rank == 0 else
                 f"np.arange({size}).reshape({(1,) * j + (size,) + (1,) * (n - j - 1 + rank)!r})"
                 for j, size in enumerate(prefix)]
        return ", ".join(grids + items)

    def op_take_index(self, t, texts, arrays, batched, params, prefix):
        x = texts[0] if batched[0] else \
            f"np.broadcast_to({texts[0]}, {(*prefix, *arrays[0].shape)!r})"
        index = self.picked(t, texts[1:], arrays[1:], batched[1:], prefix)
        return f"{x}[{index}]", _ATOM

    def op_put_add(self, t, texts, arrays, batched, params, prefix):
        g = texts[0] if batched[0] else \
            f"np.broadcast_to({texts[0]}, {(*prefix, *arrays[0].shape)!r})"
        index = self.picked(t, texts[1:], arrays[1:], batched[1:], prefix)
        shape = (*prefix, *params["shape"])
        n = len(prefix)
        if all(a.ndim == (n if b else 0) for a, b in zip(arrays[1:], batched[1:], strict=True)):
            helper = "set_at"  # one element per example: no index repeats, so set, not add
        else:
            helper = "add_at"
        self.w.helpers[helper] = HELPERS[helper]
        return f"{helper}(np.zeros({shape!r}, {t.dtype.name!r}), ({index}), {g})", _ATOM


def add_at(out, index, values):
    # np.add.at: every example adds its values at its own index (repeats accumulate)
    np.add.at(out, index, values)
    return out


def set_at(out, index, values):
    # every example writes its one value at its own place (no two examples share one)
    out[index] = values
    return out


HELPERS = {"add_at": add_at, "set_at": set_at}  # written into the generated module when used

