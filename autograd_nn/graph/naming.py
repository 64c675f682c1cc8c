"""One naming scheme for the nodes of a recorded graph, shared by `explain` and `draw_graph`.

User names come first (`Tensor.name`, then a `{name: Tensor or array}` dict); the remaining
nodes get short names in topological order: h1, h2 for activation outputs, z1, z2 for the
values fed into them, L for the root, t1, t2 for other intermediates, p1 / C1 for unnamed
leaves that do / do not require grad, and scalar constants show as their value. The same
graph therefore reads the same in the chain-rule text and in the picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core import engine
from ..core.formatting import constant_text as format_number
from ..core.tensor import Tensor

__all__ = ["format_number", "is_scalar_constant", "node_names", "user_names"]


def is_scalar_constant(t: Tensor) -> bool:
    """An unnamed one-element leaf that needs no gradient (e.g. the 0.5 of `x * 0.5`)."""
    return t._op is None and t.name is None and t.size == 1 and not t.requires_grad


def user_names(params: Any, where: str = "names") -> dict[int, str]:
    """Names from `params` (a dict name -> Tensor or array), keyed by id of the Tensor and of
    its array, so that an ndarray also names the constant leaf made from it (e.g. the data X)."""
    names: dict[int, str] = {}
    if params is None:
        return names
    if not isinstance(params, Mapping):
        raise TypeError(f"{where} must be a dict name -> Tensor or array, got "
                        f"{type(params).__name__}")
    for name, value in params.items():
        names[id(value)] = str(name)
        if isinstance(value, Tensor):
            names.setdefault(id(value.data), str(name))
    return names


def node_names(order: Sequence[Tensor], root: Tensor,
               given: Mapping[int, str] | None = None) -> dict[int, str]:
    """id(tensor) -> name for every tensor of `order` (from `engine.topological_order([root])`).

    `given` is the output of `user_names`. Names are unique except for scalar constants,
    which are written as their value.
    """
    given = given or {}
    names: dict[int, str] = {}
    used: set[str] = set()

    def claim(t: Tensor, name: str) -> None:
        base, k = name, 2
        while name in used:
            name = f"{base}#{k}"
            k += 1
        used.add(name)
        names[id(t)] = name

    for t in order:  # user names first, in order
        name = t.name or given.get(id(t)) or given.get(id(t.data))
        if name:
            claim(t, name)
    pre: dict[int, str] = {}  # activations make layers: h_k = act(z_k)
    layer = 0
    for t in order:
        inputs = engine.links(t)
        if t._op is not None and t._op.text.activation and id(t) not in names and inputs:
            layer += 1
            while f"h{layer}" in used:
                layer += 1
            claim(t, f"h{layer}")
            p = inputs[0]
            if p._op is not None and id(p) not in names and id(p) not in pre:
                pre[id(p)] = f"z{layer}"
    counters = {"t": 0, "C": 0, "p": 0}
    for t in order:
        if id(t) in names:
            continue
        if id(t) in pre:
            claim(t, pre[id(t)])
        elif t is root:
            claim(t, "L")
        elif t._op is None:
            if t.size == 1 and not t.requires_grad:
                names[id(t)] = format_number(np.asarray(t.data).reshape(-1)[0].item())
                continue
            prefix = "p" if t.requires_grad else "C"
            counters[prefix] += 1
            claim(t, f"{prefix}{counters[prefix]}")
        else:
            counters["t"] += 1
            while f"t{counters['t']}" in used:
                counters["t"] += 1
            claim(t, f"t{counters['t']}")
    return names
