"""`ag.compile(ag.iterate(step, n))`: the traced step written once, inside `for _ in range(n):`.

The step is traced once with the carried arguments as inputs; the generated body then ends by
rebinding each carried input's name to its new value (one tuple assignment, so a swap is
right), and per-step outputs are written into arrays allocated before the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..transforms.iterate import Iterate, leaf_paths
from .errors import CompileError


class _Text(str):
    """A leaf that is already source text (a name), in a tree written by `tree_text`."""


def tree_text(tree: Any) -> str:
    """A nested dict/list/tuple of `_Text` leaves as a Python expression."""
    if isinstance(tree, _Text):
        return str(tree)
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {tree_text(v)}" for k, v in tree.items()) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(tree_text(v) for v in tree) + "]"
    inner = ", ".join(tree_text(v) for v in tree)
    return f"({inner}{',' if len(tree) == 1 else ''})"


@dataclass
class LoopPlan:
    """What the loop needs: n, the carried inputs and their new values, the per-step outputs."""

    n: int
    carried: list[Tensor]  # the traced inputs that are carried (flattened argument order)
    new: list[Tensor]  # the step's new value of each
    carry_tree: Any  # the carried arguments' nesting: a value (carry=1) or a tuple
    outputs: list[Tensor]  # per-step outputs (history=True), flattened
    outputs_tree: Any  # their nesting (leaves replaced when written)

    def lines(self, writer: Any, body: list[str]) -> list[str]:
        """The function's body as the loop: allocations, the loop, the return."""
        ns = writer.namespace
        index = ns.fresh("step_number") if self.outputs else ns.fresh("_")
        before, inside, texts = [], [f"    {line}" for line in body], []
        for leaf in self.outputs:
            name = ns.fresh("history")
            shape = (self.n, *leaf.shape)
            before.append(f"{name} = np.empty({shape!r}, np.dtype({leaf.dtype.str!r}))"
                          "  # one row per step")
            inside.append(f"    {name}[{index}] = {writer.reference(leaf)}")
            texts.append(_Text(name))
        targets = ", ".join(writer.reference(t) for t in self.carried)
        values = ", ".join(  # a constant is copied: the caller gets an array of its own
            f"np.array({writer.reference(t)})" if writer.is_constant(writer.resolve(t)) else
            writer.reference(t) for t in self.new)
        inside.append(f"    {targets} = {values}  # the carry for the next step")
        result = tree_text(tree_flatten(self.carry_tree)[1](
            [_Text(writer.output_text(t)) for t in self.carried]))
        if self.outputs:
            history = tree_text(tree_flatten(self.outputs_tree)[1](texts))
            result = f"({result}, {history})"
        return [*before, f"for {index} in range({self.n}):", *inside, f"return {result}"]


def plan(iterated: Iterate, traced: Any, args: tuple, kwargs: dict) -> LoopPlan:
    """Check the traced step fits a loop (its new carry like the carried arguments, no value it
    read), and say what the loop rebinds."""
    where = f"ag.compile(ag.iterate({getattr(iterated.step, '__name__', 'step')}, {iterated.n}))"
    if kwargs:
        raise CompileError(f"{where}: pass every argument positionally (the first "
                           f"{iterated.carry} are carried); got keywords {sorted(kwargs)}")
    if len(args) < iterated.carry:
        raise CompileError(f"{where}: the step carries {iterated.carry} argument(s); got "
                           f"{len(args)}")
    guards = traced.trace.guards
    if guards:
        raise CompileError(
            f"{where}: the step reads the value of a Tensor at {guards[0].site} "
            f"({guards[0].how}); in a compiled loop that value changes every step, so the "
            "code cannot be specialised to it. Compute with ag ops instead, or run the loop "
            "eagerly")
    try:
        new, extra = iterated.split(traced.outputs)
    except TypeError as e:
        raise CompileError(f"compile: {e}") from None
    carry_args = tuple(args[:iterated.carry])
    try:
        iterated.check(carry_args, new)
    except TypeError as e:
        raise CompileError(f"compile: {e}") from None
    count = len(tree_flatten(list(carry_args))[0])
    carried = traced.inputs[:count]
    new_leaves = tree_flatten(list(new))[0]
    names = iterated.carry_names()
    for (path, leaf) in [p for name, c in zip(names, new, strict=True)
                         for p in leaf_paths(c, name)]:
        if not isinstance(leaf, Tensor):
            raise CompileError(f"{where}: the step returns {path} as a {type(leaf).__name__}, "
                               "not computed from its arguments; return an array computed "
                               "with ag ops")
    outputs: list[Tensor] = []
    if iterated.history:
        for path, leaf in leaf_paths(extra, "output"):
            if not isinstance(leaf, Tensor):
                raise CompileError(f"{where}: the step's per-step {path} is a "
                                   f"{type(leaf).__name__}; return arrays computed with ag ops")
            outputs.append(leaf)
    tree = carry_args[0] if iterated.carry == 1 else carry_args
    return LoopPlan(iterated.n, carried, new_leaves, tree, outputs, extra)


def history_kinds(traced: Any, iterated: Iterate) -> set[int]:
    """The indices, among the step's output leaves, of its per-step outputs (stacked arrays)."""
    if not iterated.history:
        return set()
    total = len(traced.output_leaves)
    return set(range(total - len(tree_flatten(traced.outputs[1])[0]), total))


__all__ = ["LoopPlan", "history_kinds", "plan", "tree_text"]
