"""`Module`: a container of parameters and submodules, registered by attribute assignment.

A parameter is simply a leaf Tensor with `requires_grad=True` assigned to a Module attribute
(`Parameter(data)` makes one); constants go through `register_buffer`. Submodules are Modules
assigned as attributes. Names are dotted paths (`layers.0.weight`) from the outermost module,
and each parameter's `.name` is kept equal to that path so graph pictures can label it.

Calling a module runs `forward` inside a naming scope `(qualified_name, module)` so every op
recorded there carries `t._scope` (used to draw one cluster per module).

Parameters and buffers live only in `_parameters` / `_buffers`, never in the instance `__dict__`,
so reading `self.weight` falls through to `Module.__getattr__`. That first consults the values
`functional_call` installed for the current thread, which is how it substitutes parameters
without ever writing to the module (threads may share one module).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..core import state
from ..core.readonly import explained, is_read_only_write
from ..core.tensor import Tensor

__all__ = ["IncompatibleKeys", "Module", "Parameter", "functional_call"]


def Parameter(data: Any, dtype: Any = None) -> Tensor:  # noqa: N802 (reads like a class)
    """A new leaf Tensor that requires grad, holding a float copy of `data` (ints become float64).

    Assign it to a Module attribute to register it as a parameter.
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = np.array(data, dtype=dtype, copy=True)
    if arr.dtype.kind in "biu" and dtype is None:
        arr = arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise TypeError(f"Parameter: needs real floating-point data, got dtype {arr.dtype}")
    return Tensor(arr, requires_grad=True)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Overrides(threading.local):
    """Per thread: id(module) -> {name: Tensor}, the values the running functional_call gives."""

    active: dict[int, dict[str, Tensor]] | None = None


_overrides = _Overrides()


def active_substitutions() -> dict[int, dict[str, Tensor]] | None:
    """The values the running `functional_call`s give Modules on this thread (for a transform
    that runs a block again later, as `checkpoint` does in backward)."""
    return _overrides.active


@contextlib.contextmanager
def substituting(active: dict[int, dict[str, Tensor]] | None) -> Any:
    """Run with `active` (from `active_substitutions`) as this thread's substitutions."""
    previous = _overrides.active
    _overrides.active = active
    try:
        yield
    finally:
        _overrides.active = previous


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


_writes = itertools.count(1)
# A number that changes whenever any Module's attribute is set or deleted: ag.compile checks
# the settings of the Modules a function reaches (a Dropout's p, a user's self.scale) only then.
ATTRIBUTE_WRITES = [0]


class Module:
    """Base class for models: subclass it, assign parameters/submodules in `__init__`, and
    write `forward`. `module(x)` runs `forward(x)` inside the module's naming scope."""

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_modules"] = {}
        d["training"] = True
        d["_qualname"] = ""
        d["_entry"] = ("", self)
        d["_root_entry"] = ("", self)

    # --- registration -------------------------------------------------------------------------
    def _registries(self) -> tuple[dict, dict, dict]:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__ "
                "before assigning parameters or submodules"
            )
        return d["_parameters"], d["_buffers"], d["_modules"]

    def __getattr__(self, name: str) -> Any:
        """A parameter or buffer (only these are missing from `__dict__`): this thread's
        `functional_call` value if it gives one, else the registered tensor."""
        d = self.__dict__
        active = _overrides.active
        if active is not None:
            mine = active.get(id(self))
            if mine is not None and name in mine:
                return mine[name]
        params = d.get("_parameters")
        if params is not None:
            if name in params:
                return params[name]
            buffers = d["_buffers"]
            if name in buffers:
                return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        ATTRIBUTE_WRITES[0] = next(_writes)  # ag.compile rereads Modules' settings after one
        params, buffers, modules = self._registries()
        d = self.__dict__
        if isinstance(value, Tensor) and value._needs_grad and value._op is None:
            buffers.pop(name, None)
            modules.pop(name, None)
            d.pop(name, None)
            params[name] = value
            value.name = _join(self._qualname, name)
            return
        if isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
            value._set_qualname(_join(self._qualname, name))
        elif name in params and value is not None:
            raise TypeError(
                f"{type(self).__name__}.{name} is a parameter, but the new value is a "
                f"{type(value).__name__} that is not a leaf Tensor requiring grad; assign "
                "Parameter(data), or delete the attribute first (register_buffer for constants)"
            )
        elif name in buffers and value is not None:
            buffers[name] = value if isinstance(value, Tensor) else Tensor(value)
            return
        else:
            params.pop(name, None)
            buffers.pop(name, None)
            modules.pop(name, None)
        d[name] = value

    def __delattr__(self, name: str) -> None:
        ATTRIBUTE_WRITES[0] = next(_writes)
        registered = [r.pop(name) for r in self._registries() if name in r]
        if name in self.__dict__ or not registered:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        d = self.__dict__
        return sorted({*super().__dir__(), *d.get("_parameters", ()), *d.get("_buffers", ())})

    def register_buffer(self, name: str, value: Any) -> None:
        """Register a constant (no gradient) that is saved in `state_dict` with the parameters."""
        _, buffers, _ = self._registries()
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: invalid name {name!r} (non-empty, no dots)")
        if not isinstance(value, Tensor):
            value = Tensor(value)
        if value.requires_grad:
            raise ValueError(
                f"register_buffer({name!r}): buffers are constants but this tensor requires "
                "grad; assign it as an attribute to make it a parameter instead"
            )
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        buffers[name] = value

    def _set_qualname(self, qualname: str) -> None:
        """Record this module's dotted path (and its subtree's) and rename parameters."""
        d = self.__dict__
        d["_qualname"] = qualname
        d["_entry"] = (qualname, self)
        for pname, p in d["_parameters"].items():
            p.name = _join(qualname, pname)
        for mname, m in d["_modules"].items():
            if m is not self:
                m._set_qualname(_join(qualname, mname))

    # --- calling --------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of this module; subclasses define it, and call the module to run it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` inside this module's naming scope (for pictures and `explain`)."""
        # Called from outside any module, this module is the root of the naming scope.
        entry = self._entry if state.current_scope() is not None else self._root_entry
        token = state.push_scope(entry)
        try:
            return self.forward(*args, **kwargs)
        except ValueError as err:
            if is_read_only_write(err):
                raise explained(err, f"{type(self).__name__}.forward") from err
            raise
        finally:
            state.pop_scope(token)

    # --- traversal ------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """(dotted name, module) for this module ("") and every submodule, each module once."""
        out: list[tuple[str, Module]] = []
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append((name, m))
            children = list(m._modules.items())
            stack.extend((_join(name, c), sub) for c, sub in reversed(children))
        return out

    def modules(self) -> list[Module]:
        """This module and all submodules (each once)."""
        return [m for _, m in self.named_modules()]

    def children(self) -> list[Module]:
        """The direct submodules."""
        return list(dict.fromkeys(self._modules.values()))

    def _named_tensors(self, kind: str) -> list[tuple[str, Tensor]]:
        out, seen = [], set()
        active = _overrides.active or {}
        for mname, m in self.named_modules():
            given = active.get(id(m), {})
            for name, t in m.__dict__[kind].items():
                t = given.get(name, t)
                if id(t) not in seen:
                    seen.add(id(t))
                    out.append((_join(mname, name), t))
        return out

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules appears once."""
        return self._named_tensors("_parameters")

    def parameters(self) -> list[Tensor]:
        """All parameters (each once), in registration order: what an optimizer needs."""
        return [p for _, p in self._named_tensors("_parameters")]

    def named_buffers(self) -> list[tuple[str, Tensor]]:
        """(qualified name, buffer) pairs: tensors saved in the state dict that are not trained."""
        return self._named_tensors("_buffers")

    def buffers(self) -> list[Tensor]:
        """All buffers, in registration order."""
        return [b for _, b in self._named_tensors("_buffers")]

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.size for p in self.parameters())

    # --- state ----------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient (sets `.grad` to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all submodules; returns self."""
        ATTRIBUTE_WRITES[0] = next(_writes)
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (`training = False`) everywhere; returns self."""
        return self.train(False)

    def astype(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to `dtype` in place; returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype: parameters need a floating dtype, got {dtype}")
        for t in self.parameters() + self.buffers():
            if t.data.dtype.kind == "f" and t.data.dtype != dtype:
                t.data = t.data.astype(dtype)
                t.grad = None
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Dotted name -> a copy of the array, for parameters then buffers."""
        sd = {name: p.data.copy() for name, p in self.named_parameters()}
        sd.update((name, b.data.copy()) for name, b in self.named_buffers())
        return sd

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers with the same names (in place).

        With `strict=True` the keys must match exactly. Shapes and dtypes must always match.
        Nothing is written unless every entry is valid; the error lists every problem.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                "load_state_dict: expected a dict of name -> array, got "
                f"{type(state_dict).__name__}"
            )
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys (in the model, not in the dict): {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys (in the dict, not in the model): {unexpected}")
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if not value.dtype.isnative:  # '>f8' holds the same numbers as '<f8'
                value = value.astype(value.dtype.newbyteorder("="))
            if value.shape != target.shape:
                problems.append(
                    f"{key}: shape mismatch, the model has {target.shape} but the dict has "
                    f"{value.shape}"
                )
            elif value.dtype != target.dtype:
                problems.append(
                    f"{key}: dtype mismatch, the model has {target.dtype} but the dict has "
                    f"{value.dtype} ({_dtype_hint(value.dtype)})"
                )
            else:
                updates.append((target, value))
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems)
            )
        for target, value in updates:
            if target.data.flags.writeable:
                np.copyto(target.data, value)
            else:
                target.data = np.array(value, copy=True)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: Any) -> None:
        """Write `state_dict()` to an .npz file (see `autograd_nn.save`)."""
        from ..io import save

        save(path, self.state_dict())

    def load(self, path: Any, strict: bool = True) -> Module:
        """Read an .npz file written by `save` into this module; returns self."""
        from ..io import load

        self.load_state_dict(load(path), strict=strict)
        return self

    # --- display --------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Text shown inside the parentheses of this module's repr (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = []
        if not extra:  # modules without their own summary list their tensors
            lines += [f"{n}: Parameter{p.shape} {p.dtype}" for n, p in self._parameters.items()]
            lines += [f"{n}: buffer{b.shape} {b.dtype}" for n, b in self._buffers.items()]
        for name, m in self._modules.items():
            lines.append(f"{name}: " + repr(m).replace("\n", "\n  "))
        if not lines:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}({extra}\n  " + "\n  ".join(lines) + "\n)"


# ---------------------------------------------------------------------------------------------
# Functional bridge
# ---------------------------------------------------------------------------------------------
def _slots(module: Module) -> tuple[dict[str, Tensor], dict[int, list[tuple[Module, str, str]]]]:
    """Every name (aliases too) of every parameter/buffer, and where each tensor is stored."""
    by_name: dict[str, Tensor] = {}
    where: dict[int, list[tuple[Module, str, str]]] = {}
    stack = [("", module)]
    visited: set[int] = set()
    while stack:
        prefix, m = stack.pop()
        first_visit = id(m) not in visited
        visited.add(id(m))
        for kind in ("_parameters", "_buffers"):
            for name, t in m.__dict__[kind].items():
                by_name[_join(prefix, name)] = t
                if first_visit:
                    where.setdefault(id(t), []).append((m, kind, name))
        stack.extend((_join(prefix, c), sub) for c, sub in m._modules.items())
    return by_name, where


def functional_call(module: Module, params: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
    """Run `module(*args, **kwargs)` with some parameters/buffers replaced by `params` values.

    `params` maps dotted names (as in `state_dict()`) to arrays or Tensors; names not given keep
    their current value. The module itself is never written to: the values are visible only to
    this thread, during this call, so threads may share one module. Thus
    `ag.grad(lambda p: loss(functional_call(model, p, x)))(model.state_dict())` gives gradients
    keyed like the state dict without touching the model.
    """
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected a Module, got {type(module).__name__}")
    if not isinstance(params, Mapping):
        raise TypeError(
            f"functional_call: params must be a dict of name -> array, got {type(params).__name__}"
        )
    previous = _overrides.active
    _overrides.active = _merged(previous, _substitutions(module, params))
    try:
        return module(*args, **kwargs)
    finally:
        _overrides.active = previous


def _substitutions(module: Module, params: Mapping[str, Any]) -> dict[int, dict[str, Tensor]]:
    """id(module) -> {name: new Tensor} for every place a tensor named in `params` is held."""
    by_name, where = _slots(module)
    unknown = [k for k in params if k not in by_name]
    if unknown:
        raise KeyError(
            f"functional_call: {unknown} are not parameters or buffers of "
            f"{type(module).__name__}; known names: {list(by_name)}"
        )
    chosen: dict[int, str] = {}
    out: dict[int, dict[str, Tensor]] = {}
    for key, value in params.items():
        old = by_name[key]
        if id(old) in chosen:
            raise ValueError(
                f"functional_call: {chosen[id(old)]!r} and {key!r} name the same shared tensor; "
                "give only one of them"
            )
        chosen[id(old)] = key
        new = value if isinstance(value, Tensor) else Tensor(value)
        if new.shape != old.shape:
            raise ValueError(
                f"functional_call: {key!r} has shape {new.shape}, the module expects {old.shape}"
            )
        if new.name is None:
            new.name = old.name
        for m, _kind, name in where[id(old)]:
            out.setdefault(id(m), {})[name] = new
    return out


def _merged(outer: dict | None, inner: dict[int, dict[str, Tensor]]) -> dict:
    """The substitutions of a nested call over those of the call around it (a new dict)."""
    merged = dict(outer or {})
    for key, names in inner.items():
        merged[key] = {**merged.get(key, {}), **names}
    return merged


def _dtype_hint(dtype: np.dtype) -> str:
    """What to do about a state-dict entry of another dtype (models hold floats only)."""
    if dtype.kind == "f":
        return f"cast the array, or call model.astype(np.{dtype.name}) first"
    return f"cast the array to the model's floating dtype; a model cannot hold {dtype}"
