"""`ag.iterate` on a kernel backend: the step's loop written inside the kernel, so the n steps
run as one numba function (a `for` loop) or one jitted JAX function (`jax.lax.fori_loop`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.pytree import tree_flatten
from .loop import LoopPlan, _Text, tree_text


@dataclass
class KernelLoop:
    """What the kernel runs and returns, and how the wrapper builds the result from it."""

    lines: list[str]  # the kernel's body after its docstring, ending with its return
    targets: list[str]  # the names the wrapper gives the kernel's results
    output: str  # the wrapper's return expression, from those names


def _dtype(backend: str, dtype: np.dtype) -> str:
    return f"{'jnp' if backend == 'jax' else 'np'}.{np.dtype(dtype).name}"


def write(backend: str, plan: LoopPlan, writer: Any, statements: list[str],
          copy_carry: bool) -> KernelLoop:
    """The kernel's loop around `statements` (the step, already in the backend's form). A
    carried scalar is passed to numba as a NumPy scalar and kept at its dtype every step (numba
    computes 0-d values as scalars); JAX carries everything through `fori_loop`."""
    ns = writer.namespace
    index = ns.fresh("step_number") if plan.outputs else ns.fresh("_")
    carried = [writer.reference(t) for t in plan.carried]
    new = []
    for old, t in zip(plan.carried, plan.new, strict=True):
        text = writer.reference(t)
        if writer.is_constant(writer.resolve(t)):  # the caller gets an array of its own
            text = f"jnp.asarray({text})" if backend == "jax" else f"{text}.copy()"
        if backend == "numba" and old.ndim == 0:  # pinned: numba would widen a scalar
            text = f"{_dtype(backend, old.dtype)}({text})"
        new.append(text)
    histories = [ns.fresh("history") for _ in plan.outputs]
    allocate = "jnp.zeros" if backend == "jax" else "np.empty"
    before = [f"{name} = {allocate}({(plan.n, *leaf.shape)!r}, {_dtype(backend, leaf.dtype)})"
              "  # one row per step" for name, leaf in zip(histories, plan.outputs, strict=True)]
    state = [*carried, *histories]
    if backend == "jax":
        writes = [f"{name} = {name}.at[{index}].set({writer.reference(leaf)})"
                  for name, leaf in zip(histories, plan.outputs, strict=True)]
        step = ns.fresh("one_step")
        body = [f"def {step}({index}, carry):",
                f"    {', '.join(state)}, = carry",
                *[f"    {line}" for line in statements + writes],
                f"    return ({', '.join(new + histories)},)  # the carry for the next step",
                *before,
                f"{', '.join(state)}, = jax.lax.fori_loop(0, {plan.n}, {step}, "
                f"({', '.join(state)},))"]
    else:
        writes = [f"{name}[{index}] = {writer.reference(leaf)}"
                  for name, leaf in zip(histories, plan.outputs, strict=True)]
        body = [*before, f"for {index} in range({plan.n}):",
                *[f"    {line}" for line in statements + writes],
                f"    {', '.join(carried)} = {', '.join(new)}  # the carry for the next step"]
    targets = [*carried, *histories]
    texts = []
    for name, t in zip(carried, plan.carried, strict=True):
        if backend == "jax" or copy_carry:
            texts.append(_Text(f"np.array({name})"))
        elif t.ndim == 0:
            texts.append(_Text(f"np.array({name}, dtype=np.{t.dtype.name})"))
        else:
            texts.append(_Text(name))
    result = tree_text(tree_flatten(plan.carry_tree)[1](texts))
    if plan.outputs:
        wrap = "np.array({})" if backend == "jax" else "{}"
        history = tree_text(tree_flatten(plan.outputs_tree)[1](
            [_Text(wrap.format(name)) for name in histories]))
        result = f"({result}, {history})"
    return KernelLoop([*body, f"return {', '.join(targets)}"], targets, result)


__all__ = ["KernelLoop", "write"]
