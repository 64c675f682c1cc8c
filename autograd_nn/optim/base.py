"""The `Optimizer` base class: parameter groups (per-group hyperparameters, as torch's
`param_groups`), the per-parameter state, and `state_dict()`/`load_state_dict()` to resume.

A subclass gives its defaults, `_check_group(group)` (validates one group's hyperparameters)
and `_update(p, grad, state, group)` (one parameter's step). Reading `optimizer.lr` (or any
hyperparameter) gives the groups' common value; setting it sets it in every group.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..core.tensor import Tensor

__all__ = ["Optimizer"]

# keys a group may carry besides its hyperparameters: "params", and "initial_lr" (schedulers)
_GROUP_EXTRAS = ("params", "initial_lr")


class Optimizer:
    """Holds parameter Tensors in groups: a list of Tensors (or (name, Tensor) pairs, e.g.
    `named_parameters()`) makes one group; a list of dicts `{"params": [...], "lr": ...}` makes
    one group each, options missing from a dict taking the optimizer's arguments."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any] | None = None) -> None:
        where = type(self).__name__
        object.__setattr__(self, "defaults", dict(defaults or {}))
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: params must be an iterable of Tensors, not one Tensor")
        if isinstance(params, dict):
            raise TypeError(
                f"{where}: got a dict; pass model.parameters() (or list(d.values())), or a list "
                "of parameter-group dicts [{'params': [...], 'lr': ...}]. For dicts of arrays "
                "use the functional forms ag.optim.sgd_update / adam_update"
            )
        given = list(params)
        if given and all(isinstance(g, dict) for g in given):
            specs = given
        elif any(isinstance(g, dict) for g in given):
            raise TypeError(f"{where}: params mixes parameter-group dicts with Tensors; pass "
                            "either Tensors or a list of {'params': [...], ...} dicts")
        else:
            specs = [{"params": given}]
        self.params: list[Tensor] = []
        self.names: list[str] = []
        self.param_groups: list[dict[str, Any]] = []
        for k, spec in enumerate(specs):
            self.add_param_group(spec, _index=k if len(specs) > 1 else None)
        if not self.params:
            raise ValueError(f"{where}: got an empty parameter list")
        # per-parameter state, keyed by the parameter's position in self.params (not its id, so
        # a deepcopy or pickle of the optimizer keeps it)
        self.state: dict[int, dict[str, Any]] = {}

    # -- groups --------------------------------------------------------------------------------
    def add_param_group(self, spec: dict[str, Any], _index: int | None = None) -> None:
        """Add a group `{"params": [...], option: value, ...}`; missing options take the
        defaults. A parameter may belong to one group only."""
        where = type(self).__name__
        label = "" if _index is None else f" group {_index}:"
        if not isinstance(spec, dict) or "params" not in spec:
            raise TypeError(f"{where}:{label} a parameter group is a dict with a 'params' list, "
                            f"got {spec!r}")
        unknown = sorted(set(spec) - set(self.defaults) - set(_GROUP_EXTRAS))
        if unknown:
            raise TypeError(f"{where}:{label} unknown option(s) {unknown}; {where} takes "
                            f"{sorted(self.defaults)}")
        items = spec["params"]
        if isinstance(items, Tensor):
            items = [items]
        start = len(self.params)
        group_params = []
        for i, item in enumerate(items, start=start):
            p = self._checked_param(i, item)
            group_params.append(p)
        group = {**self.defaults, **{k: v for k, v in spec.items() if k != "params"}}
        group = self._check_group(group)
        group["params"] = group_params
        self.param_groups.append(group)

    def _checked_param(self, i: int, item: Any) -> Tensor:
        where = type(self).__name__
        name = None
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, item = item
        label = repr(name) if name else f"#{i}"
        if not isinstance(item, Tensor):
            raise TypeError(f"{where}: parameter {label} is a {type(item).__name__}, expected "
                            "a Tensor")
        name = name or item.name or f"#{i}"
        if not item.requires_grad:
            raise ValueError(
                f"{where}: parameter {name!r} (shape {item.shape}) does not require grad, so it "
                "would never be updated; create it with requires_grad=True or leave it out"
            )
        if item._op is not None:
            raise ValueError(f"{where}: parameter {name!r} is the output of an op ({item.op}), "
                             "not a leaf")
        if any(q is item for q in self.params):
            raise ValueError(f"{where}: parameter {name!r} appears more than once")
        self.params.append(item)
        self.names.append(name)
        return item

    def _check_group(self, group: dict[str, Any], stepping: bool = False) -> dict[str, Any]:
        """Validate (and normalise) one group's hyperparameters; subclasses override. At step
        time (stepping) an lr of 0 is allowed: a schedule may bring it there."""
        return group

    # -- hyperparameters as attributes ---------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        defaults = self.__dict__.get("defaults", {})
        groups = self.__dict__.get("param_groups")
        if name in defaults and groups:
            values = [g[name] for g in groups]
            if all(_same(v, values[0]) for v in values):
                return values[0]
            raise AttributeError(
                f"{type(self).__name__}.{name}: the {len(groups)} parameter groups have "
                f"different values {values}; read optimizer.param_groups[i][{name!r}]")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("defaults", {}) and "param_groups" in self.__dict__:
            for g in self.param_groups:  # checked when the next step() runs
                g[name] = value
            return
        object.__setattr__(self, name, value)

    # -- stepping ------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None)."""
        for p in self.params:
            p.grad = None

    def _grad(self, i: int, p: Tensor) -> np.ndarray:
        g = p.grad
        if g.shape != p.data.shape:
            raise ValueError(
                f"{type(self).__name__}: the grad of {self.names[i]!r} has shape "
                f"{g.shape}, the parameter {p.data.shape}"
            )
        return g

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient, with its group's options."""
        i = 0  # the position in self.params, over the groups in order
        for group in self.param_groups:
            options = self._check_group({k: v for k, v in group.items() if k != "params"},
                                        stepping=True)
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, self._grad(i, p), self.state.setdefault(i, {}), options)
                i += 1

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- saving and resuming -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A copy of the optimizer's state: `{"state": {index: {...}}, "param_groups": [...]}`,
        parameters named by their position (over all groups, in order), as torch's. Saving it
        with the model's and loading both resumes training exactly."""
        groups, start = [], 0
        for g in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            entry["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(entry)
        state = {i: {name: _copy(v) for name, v in st.items()}
                 for i, st in sorted(self.state.items()) if st}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the state and group options saved by `state_dict()` of an optimizer of the same
        kind over parameters of the same shapes (arrays are copied, floats cast to the
        parameter's dtype)."""
        where = f"{type(self).__name__}.load_state_dict"
        if not (isinstance(state_dict, dict) and {"state", "param_groups"} <= state_dict.keys()):
            raise TypeError(f"{where}: expected a dict from optimizer.state_dict(), with 'state' "
                            "and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        if sizes != saved_sizes:
            raise ValueError(f"{where}: the saved state has groups of {saved_sizes} parameters, "
                             f"this optimizer {sizes}")
        new_groups = []
        for g, saved in zip(self.param_groups, saved_groups, strict=True):
            unknown = sorted(set(saved) - set(self.defaults) - set(_GROUP_EXTRAS))
            if unknown:
                raise ValueError(f"{where}: the saved groups have option(s) {unknown} that "
                                 f"{type(self).__name__} does not take (saved by another "
                                 "optimizer?)")
            options = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            checked = self._check_group({**g, **options}, stepping=True)
            new_groups.append({**checked, "params": g["params"]})
        new_state: dict[int, dict[str, Any]] = {}
        for key, st in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"{where}: the saved state names parameter {i}, but there are "
                                 f"{len(self.params)}")
            p = self.params[i]
            entry = {}
            for name, value in st.items():
                value = _copy(value)
                if isinstance(value, np.ndarray) and value.ndim:
                    if value.shape != p.data.shape:
                        raise ValueError(
                            f"{where}: state {name!r} of parameter {self.names[i]!r} has shape "
                            f"{value.shape}, the parameter {p.data.shape}")
                    if value.dtype.kind == "f":
                        value = value.astype(p.data.dtype, copy=False)
                entry[name] = value
            new_state[i] = entry
        self.param_groups[:] = new_groups
        self.state = new_state


def _copy(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else copy.deepcopy(value)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b
