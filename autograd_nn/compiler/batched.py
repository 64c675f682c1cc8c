"""Source for ops traced inside `ag.vmap` (so `compile(vmap(grad(f)))` is one batched function).

Inside vmap an op is recorded as the per-example op, but its array holds the whole batch (the
batch dim in front). Each op here is written as what its batch rule computes on those arrays:
elementwise ops with the examples lined up (`x.reshape(batch, 1, ...)`), axis ops with the
axis moved past the batch dim, matmul as one product, integer picks with a row index. What has
no form here yet is refused naming vmap, the op and the user's line.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..core.tensor import Tensor
from .errors import CompileError

_ATOM = 5  # codegen's precedence of a name or a call
NO_TEMPLATE = ("to_batch", "from_batch", "take_index", "put_add")  # written here alone


def is_batched(t: Tensor) -> bool:
    """True when the op ran inside vmap (its array, or one of its inputs', holds the batch)."""
    return t._levels is not None or any(p._levels is not None for p in t.parents)


def _refuse(t: Tensor, why: str) -> CompileError:
    site = t._where or "?"
    return CompileError(
        f"compile: vmap (also inside jacrev, jacfwd, jacobian, hessian) of {t.op} at {site} "
        f"cannot be compiled yet ({why}); run the vmapped function eagerly, or compile a "
        "function written for the whole batch")


def batch_size(t: Tensor) -> int:
    levels = {id(lv): lv for x in (t, *t.parents) for lv in (x._levels or ())}
    if len(levels) != 1:
        raise _refuse(t, "a vmap inside another vmap")
    return next(iter(levels.values())).size


def identity_of(t: Tensor) -> Tensor | None:
    """Entering or leaving vmap along axis 0 moves nothing: the value is its input's array."""
    if t.op in ("to_batch", "from_batch") and t._params["axis"] == 0 and \
            t.parents[0].data.shape == t.data.shape:
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

    def __init__(self, w: Any) -> None:
        self.w = w

    def parent(self, p: Tensor, consumer: Tensor) -> str:
        return self.w.wrap(p, _ATOM, consumer)

    def fill(self, t: Tensor, template: str, texts: dict, params: dict) -> tuple[str, int]:
        """`template` with the inputs' `texts` and the (batched) `params` put in."""
        from .codegen import _PLACEHOLDER, _precedence

        values = {}
        for m in _PLACEHOLDER.finditer(template):
            key = m.group(1)
            if key in values:
                continue
            if key in texts:
                values[key] = texts[key]
            else:
                subscript = template[max(0, m.start() - 1):m.start()] == "["
                values[key] = self.w.param_text(key, params.get(key), subscript, t)
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template), _precedence(template)

    def row(self, t: Tensor, texts: list[str], params: dict, shapes: list) -> tuple[str, int]:
        """The row's own template on batched arrays (`texts`) with batched `params`."""
        prim = t._op
        spec = prim.code.source
        if callable(spec):
            spec = spec(params, shapes)
        if spec is None:
            from .codegen import _template

            spec = _template(t)
        labels = prim.inputs
        if prim.variadic:
            named = {labels[0]: ", ".join(texts)}
        else:
            named = dict(zip(labels, texts, strict=False))
        return self.fill(t, spec, named, params)

    def expression(self, t: Tensor) -> tuple[str, int]:
        prim, params = t._op, dict(t._params or {})
        n_batch = batch_size(t)
        parents = [self.w.resolve(p) for p in t.parents]
        texts = [self.parent(p, t) for p in parents]
        batched = [p._levels is not None for p in t.parents]
        if t.op == "to_batch":
            if params["levels"]:
                raise _refuse(t, "a vmap inside another vmap")
            return f"np.moveaxis({texts[0]}, {params['axis']}, 0)", _ATOM
        if t.op == "from_batch":
            if len(params["levels"]) != 1:
                raise _refuse(t, "a vmap inside another vmap")
            return f"np.moveaxis({texts[0]}, 0, {params['axis']})", _ATOM
        if prim.modes.batch is None and prim.elementwise:
            rank = max(p.data.ndim - b for p, b in zip(t.parents, batched, strict=True))
            lined = [self.padded(text, p, rank) if b else text
                     for text, p, b in zip(texts, t.parents, batched, strict=True)]
            return self.row(t, lined, params, [p.data.shape for p in t.parents])
        shift = _shift_rule(prim)
        if shift is not None:
            return self.shifted(t, texts, batched, params, shift, n_batch)
        method = getattr(self, f"op_{t.op}", None)
        if method is None:
            raise _refuse(t, f"{t.op} has no batched source form")
        return method(t, texts, batched, params, n_batch)

    def padded(self, text: str, p: Tensor, rank: int) -> str:
        """A batched input with size-1 dims after the batch dim up to `rank` per-example dims."""
        missing = rank - (p.data.ndim - 1)
        if missing <= 0:
            return text
        return f"{text}.reshape({p.data.shape[:1] + (1,) * missing + p.data.shape[1:]!r})"

    def broadcast(self, texts: list[str], parents: list[Tensor], batched: list[bool],
                  n_batch: int) -> list[str]:
        return [text if b else f"np.broadcast_to({text}, {(n_batch, *p.data.shape)!r})"
                for text, p, b in zip(texts, parents, batched, strict=True)]

    def shifted(self, t: Tensor, texts: list[str], batched: list[bool], params: dict,
                shift: dict, n_batch: int) -> tuple[str, int]:
        ins = self.broadcast(texts, t.parents, batched, n_batch)
        rank = max(p.data.ndim - b for p, b in zip(t.parents, batched, strict=True))
        axis = params.get("axis")
        if axis is None:
            if not shift.get("none_is_every_axis", True):
                raise _refuse(t, "axis=None")
            axis = tuple(range(1, rank + 1))
        else:
            if shift.get("new_axes"):
                rank += len(axis) if isinstance(axis, tuple) else 1
            axis = tuple(a % rank + 1 for a in axis) if isinstance(axis, tuple) else \
                axis % rank + 1
        shapes = [(n_batch, *p.shape) for p in t.parents]
        return self.row(t, ins, {**params, "axis": axis}, shapes)

    def op_reshape(self, t, texts, batched, params, n_batch):
        return f"{texts[0]}.reshape({(n_batch, *params['shape'])!r})", _ATOM

    def op_transpose(self, t, texts, batched, params, n_batch):
        ndim = t.parents[0].data.ndim
        axes = params["axes"]
        order = tuple(reversed(range(1, ndim))) if axes is None else tuple(a + 1 for a in axes)
        return f"{texts[0]}.transpose({(0, *order)!r})", _ATOM

    def op_broadcast_to(self, t, texts, batched, params, n_batch):
        shape = tuple(params["shape"])
        return f"np.broadcast_to({self.padded(texts[0], t.parents[0], len(shape))}, " \
               f"{(n_batch, *shape)!r})", _ATOM

    def op_sum_to(self, t, texts, batched, params, n_batch):
        x, shape = t.parents[0].data, tuple(params["shape"])
        lead = x.ndim - 1 - len(shape)
        axes = tuple(range(1, 1 + lead)) + tuple(
            1 + lead + i for i, size in enumerate(shape) if size == 1 and x.shape[1 + lead + i] != 1)
        text = texts[0]
        if axes:
            text = f"{text}.sum(axis={axes!r}, keepdims=True)"
        if lead:
            text = f"{text}.reshape({(n_batch, *shape)!r})"
        return text, _ATOM

    def op_matmul(self, t, texts, batched, params, n_batch):
        a, b = t.parents
        ra, rb = a.data.ndim - batched[0], b.data.ndim - batched[1]
        if batched[0] and not batched[1] and rb == 2 and ra in (1, 2):
            if ra == 1:  # every example's row times one matrix: one product
                return f"{texts[0]} @ {texts[1]}", 2
            k, m = a.data.shape[-1], b.data.shape[-1]
            return f"({texts[0]}.reshape(-1, {k}) @ {texts[1]}).reshape(" \
                   f"{(*a.data.shape[:-1], m)!r})", _ATOM
        if batched[1] and not batched[0] and ra == 2 and rb == 1:  # one matrix times each column
            return f"{texts[1]} @ {texts[0]}.T", 2
        if batched[0] and batched[1] and ra == 1 and rb == 1:
            return f"({texts[0]} * {texts[1]}).sum(axis=-1)", _ATOM
        raise _refuse(t, f"a product of per-example shapes {a.shape} and {b.shape} "
                      f"({'batched' if batched[0] else 'shared'} @ "
                      f"{'batched' if batched[1] else 'shared'})")

    op_dot = op_matmul

    def picked(self, t: Tensor, index_parents: list, n_batch: int) -> str:
        """The index choosing each example's own elements: a row index, then the integer
        index Tensors lined up with it (only index Tensors in the template)."""
        from ..core.ops.shape import SLOT

        template = t._params["template"]
        if any(item is not SLOT for item in template):
            raise _refuse(t, "an index mixing integer Tensors with slices or numbers")
        ranks = [p.data.ndim - (p._levels is not None) for p in index_parents]
        rank = max(ranks)
        items = []
        for p in index_parents:
            text = self.parent(self.w.resolve(p), t)
            if p._levels is not None:
                items.append(self.padded(text, p, rank))
            else:
                items.append(f"{text}.reshape({(1,) * (1 + rank - p.data.ndim) + p.data.shape!r})")
        rows = f"np.arange({n_batch}).reshape({(n_batch,) + (1,) * rank!r})"
        return ", ".join([rows, *items])

    def op_take_index(self, t, texts, batched, params, n_batch):
        x = texts[0]
        if not batched[0]:
            x = f"np.broadcast_to({x}, {(n_batch, *t.parents[0].data.shape)!r})"
        return f"{x}[{self.picked(t, t.parents[1:], n_batch)}]", _ATOM

    def op_put_add(self, t, texts, batched, params, n_batch):
        self.w.helpers["add_at"] = add_at
        g = texts[0]
        shape = (n_batch, *params["shape"])
        if not batched[0]:
            g = f"np.broadcast_to({g}, {(n_batch, *t.parents[0].data.shape)!r})"
        return f"add_at(np.zeros({shape!r}, {g}.dtype), ({self.picked(t, t.parents[1:], n_batch)}), " \
               f"{g})", _ATOM


def add_at(out, index, values):
    # np.add.at: every example adds its values at its own index (repeats accumulate)
    np.add.at(out, index, values)
    return out

