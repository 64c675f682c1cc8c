"""`iterate`: run a step function n times, feeding its result back in (a training loop).

    train = ag.iterate(step, 1500, carry=2)       # step(params, state, X, y) -> (params, state)
    params, state = train(params, state, X, y)   # eagerly: a plain Python loop
    params, state = ag.compile(train)(params, state, X, y)   # one generated `for` loop

The carry is the first `carry` arguments: the step returns their new values, with the same
structure (dict keys, list lengths), shapes and dtypes, as one value when `carry=1` and as a
tuple of `carry` values otherwise. The other arguments are passed unchanged to every step.
With `history=True` the step returns `(new_carry, out)` and the result is `(carry, outs)`,
each leaf of `outs` the n per-step values stacked on a new first axis (a loss curve).
`n` is fixed when the transform is made: another n is another function (compiled on its own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.tensor import Tensor

__all__ = ["Iterate", "carry_mismatch", "leaf_paths", "iterate"]


def leaf_paths(tree: Any, prefix: str) -> list[tuple[str, Any]]:
    """(access path, leaf) for every leaf of a nested dict/list/tuple: `params['w1']`, ..."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in leaf_paths(v, f"{prefix}[{k!r}]")]
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return [p for i, v in enumerate(tree) for p in leaf_paths(v, f"{prefix}[{i}]")]
    return [(prefix, tree)]


def _structure(tree: Any) -> Any:
    """The nesting of a tree without its leaves: what a new carry must keep."""
    if isinstance(tree, dict):
        return ("dict", tuple((k, _structure(v)) for k, v in tree.items()))
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return ("sequence", tuple(_structure(v) for v in tree))
    return "leaf"


def carry_mismatch(old: tuple, new: tuple, names: list[str]) -> str | None:
    """Why the step's new carry cannot replace the old one (structure, shape or dtype, named by
    its access path), or None when it can."""
    for name, before, after in zip(names, old, new, strict=True):
        if _structure(before) != _structure(after):
            return (f"the new {name} has another structure than the argument {name} "
                    f"(keys, lengths): {_describe(after)} instead of {_describe(before)}")
        for (path, a), (_, b) in zip(leaf_paths(before, name), leaf_paths(after, name),
                                     strict=True):
            if not isinstance(a, (np.ndarray, Tensor)):
                return (f"the carried {path} is {type(a).__name__} {a!r}, not an array; a "
                        "carried value must be an array (np.array(value))")
            b_arr = b if isinstance(b, (np.ndarray, Tensor)) else np.asarray(b)
            if a.shape != b_arr.shape or a.dtype != b_arr.dtype:
                return (f"the step returns {path} with shape {tuple(b_arr.shape)} and dtype "
                        f"{b_arr.dtype}, but it came in with shape {tuple(a.shape)} and dtype "
                        f"{a.dtype}")
    return None


def _describe(tree: Any) -> str:
    if isinstance(tree, dict):
        return f"a dict with keys {list(tree)}"
    if isinstance(tree, (list, tuple)) and not isinstance(tree, Tensor):
        return f"a {type(tree).__name__} of {len(tree)} items"
    return f"a {type(tree).__name__}"


class Iterate:
    """`step` applied `n` times with its first `carry` arguments fed back (see the module)."""

    __slots__ = ("_carry", "_history", "_n", "_step", "__dict__")

    def __init__(self, step: Callable, n: int, carry: int, history: bool) -> None:
        self._step, self._n, self._carry, self._history = step, n, carry, history
        functools.update_wrapper(self, step)
        self.__name__ = f"iterate_{getattr(step, '__name__', 'step')}"

    step = property(lambda self: self._step, doc="the function run on every step")
    n = property(lambda self: self._n, doc="how many steps (static: fixed at creation)")
    carry = property(lambda self: self._carry, doc="how many leading arguments are carried")
    history = property(lambda self: self._history, doc="True: the step also returns an output")

    def split(self, out: Any) -> tuple[tuple, Any]:
        """The step's result as (the new carry as a tuple, the per-step output or None)."""
        where = f"ag.iterate({getattr(self._step, '__name__', 'step')}, {self._n})"
        if self._history:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"{where}: with history=True the step must return "
                                f"(new_carry, output), got {_describe(out)}")
            out, extra = out
        else:
            extra = None
        if self._carry == 1:
            return (out,), extra
        if not (isinstance(out, tuple) and len(out) == self._carry):
            raise TypeError(f"{where}: the step must return a tuple of the {self._carry} "
                            f"carried values, got {_describe(out)}")
        return out, extra

    def check(self, old: tuple, new: tuple) -> None:
        """Refuse a new carry that differs from the old in structure, shapes or dtypes."""
        why = carry_mismatch(old, new, self.carry_names())
        if why:
            raise TypeError(f"ag.iterate({getattr(self._step, '__name__', 'step')}, "
                            f"{self._n}): {why}")

    def carry_names(self) -> list[str]:
        """The carried arguments' names in the step's signature (arg0, ... otherwise)."""
        import inspect

        try:
            params = [p.name for p in inspect.signature(self._step).parameters.values()]
        except (TypeError, ValueError):
            params = []
        return [params[i] if i < len(params) else f"arg{i}" for i in range(self._carry)]

    def __call__(self, *args: Any) -> Any:
        """Run the loop eagerly: the step n times, then the carry (and the stacked outputs)."""
        if len(args) < self._carry:
            raise TypeError(f"ag.iterate: the step carries {self._carry} argument(s); got "
                            f"{len(args)}")
        carried, rest = tuple(args[:self._carry]), args[self._carry:]
        outputs = []
        for k in range(self._n):
            new, extra = self.split(self._step(*carried, *rest))
            if k == 0:
                self.check(carried, new)
            carried = new
            if self._history:
                outputs.append(extra)
        result = carried[0] if self._carry == 1 else tuple(carried)
        if not self._history:
            return result
        return result, _stacked(outputs)


def _stacked(outputs: list) -> Any:
    """The per-step outputs, each leaf stacked on a new first axis (arrays)."""
    from ..core.pytree import tree_flatten

    if not outputs:
        return None
    rebuild = tree_flatten(outputs[0])[1]
    columns = zip(*(tree_flatten(o)[0] for o in outputs), strict=True)
    return rebuild([np.stack([np.asarray(x.data if isinstance(x, Tensor) else x) for x in col])
                    for col in columns])


def iterate(step: Callable, n: int, carry: int = 1, history: bool = False) -> Iterate:
    """`step` run `n` times, its first `carry` arguments replaced by what it returns; compile
    it (`ag.compile(ag.iterate(step, n))`) to run the loop as one generated function."""
    if not callable(step):
        raise TypeError(f"iterate: expected a function, got {type(step).__name__}")
    for name, value, least in (("n", n, 0), ("carry", carry, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"iterate: {name} must be an int >= {least}, got {value!r}")
    if history and n < 1:
        raise ValueError("iterate: history=True needs n >= 1 (the outputs of no steps have no "
                         "shape to stack)")
    return Iterate(step, int(n), int(carry), bool(history))
