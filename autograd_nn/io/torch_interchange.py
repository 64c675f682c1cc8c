"""PyTorch state dicts to and from our models, mapped by layer type (never guessed from shapes).

`from_torch(torch_state_dict, model)` gives the dict `model.load_state_dict` takes;
`to_torch(model)` gives the dict the same architecture built in PyTorch loads. Linear weights
are transposed (ours (in, out), PyTorch's (out, in)); Conv2d, ConvTranspose2d, BatchNorm,
LayerNorm, GroupNorm and Embedding share PyTorch's layouts; an MLP's `layers.i` is entry
`2 i` of the `nn.Sequential(Linear, act, Linear, ...)` PyTorch writes it as. Anything else
holding tensors, a missing or extra key, or a dtype that differs is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..core.tensor import Tensor
from ..nn.conv import Conv2d, ConvTranspose2d
from ..nn.layers import MLP, Linear
from ..nn.module import Module
from ..nn.normalization import GroupNorm, LayerNorm, _BatchNorm
from ..nn.sparse import Embedding

__all__ = ["InterchangeError", "from_torch", "to_torch"]

# layer types whose tensors have PyTorch's layout and names
SAME_LAYOUT: tuple[type, ...] = (Conv2d, ConvTranspose2d, _BatchNorm, LayerNorm, GroupNorm,
                                 Embedding)


class InterchangeError(ValueError):
    """A state dict could not be mapped between PyTorch and autograd_nn (the message lists why)."""


def _layer_of(model: Module) -> dict[str, tuple[Module, str]]:
    """Our key -> (the module that holds it, its name in that module)."""
    out = {}
    for prefix, module in model.named_modules():
        for name in [*module._parameters, *module._buffers]:
            if getattr(module, name, None) is not None:
                out[f"{prefix}.{name}" if prefix else name] = (module, name)
    return out


def _torch_prefix(model: Module, prefix: str, mlp: str) -> str:
    """The PyTorch module path for our module path `prefix` (MLP layers renumbered)."""
    if mlp == "same" or not prefix:
        return prefix
    parts = prefix.split(".")
    out: list[str] = []
    module: Any = model
    i = 0
    while i < len(parts):
        if isinstance(module, MLP) and parts[i] == "layers" and i + 1 < len(parts):
            out.append(str(2 * int(parts[i + 1])))  # Sequential(Linear, act, Linear, ...)
            module = module.layers[int(parts[i + 1])]
            i += 2
            continue
        out.append(parts[i])
        module = module._modules.get(parts[i]) if isinstance(module, Module) else None
        i += 1
    return ".".join(out)


def _plan(model: Module, mlp: str, same_layout: Iterable[type]
          ) -> tuple[dict[str, tuple[str, bool]], list[str]]:
    """Our key -> (PyTorch's key, transpose?) for every tensor of `model`, and the problems."""
    if not isinstance(model, Module):
        raise TypeError(f"expected an autograd_nn Module, got {type(model).__name__}")
    if mlp not in ("sequential", "same"):
        raise ValueError(f"mlp must be 'sequential' or 'same', got {mlp!r}")
    same = (*SAME_LAYOUT, *same_layout)
    plan, problems = {}, []
    for key, (module, name) in _layer_of(model).items():
        prefix = key[: -len(name) - 1] if key != name else ""
        torch_prefix = _torch_prefix(model, prefix, mlp)
        torch_key = f"{torch_prefix}.{name}" if torch_prefix else name
        if isinstance(module, Linear):
            plan[key] = (torch_key, name == "weight")
        elif isinstance(module, same):
            plan[key] = (torch_key, False)
        else:
            problems.append(
                f"{key}: held by a {type(module).__name__}, which has no PyTorch counterpart "
                "here (Linear, Conv2d, ConvTranspose2d, BatchNorm, LayerNorm, GroupNorm and "
                "Embedding do); if PyTorch stores it as is, pass same_layout=("
                f"{type(module).__name__},)")
    return plan, problems


def _as_array(value: Any, key: str) -> np.ndarray:
    """A PyTorch tensor (or array) as a NumPy array, without changing its dtype."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing
        try:
            return value.detach().cpu().numpy()
        except TypeError as err:  # bfloat16 and other dtypes NumPy has no type for
            raise InterchangeError(
                f"{key}: PyTorch dtype {value.dtype} has no NumPy type ({err}); convert it "
                "first (state_dict[key].float())") from None
    return np.asarray(value)


def from_torch(state_dict: Mapping[str, Any], model: Module, strict: bool = True,
               mlp: str = "sequential", same_layout: Iterable[type] = ()) -> dict[str, np.ndarray]:
    """The state dict `model.load_state_dict` takes, from PyTorch's `state_dict()` of the same
    architecture (tensors or arrays): names and layouts mapped by our layer types; dtypes
    must match ours. `strict=False` leaves our missing tensors out and ignores extra keys."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"from_torch: expected PyTorch's state_dict (a dict), got "
                        f"{type(state_dict).__name__}")
    plan, problems = _plan(model, mlp, same_layout)
    own = dict(model.named_parameters())
    own.update(model.named_buffers())
    out, used = {}, set()
    for key, (torch_key, transpose) in plan.items():
        if torch_key not in state_dict:
            if strict:
                problems.append(f"{key}: PyTorch's key {torch_key!r} is missing")
            continue
        used.add(torch_key)
        arr = _as_array(state_dict[torch_key], torch_key)
        arr = arr.T if transpose else arr
        target = own[key]
        if arr.shape != target.shape:
            problems.append(f"{key}: shape {arr.shape} (from {torch_key!r}"
                            f"{', transposed' if transpose else ''}) but the model has "
                            f"{target.shape}")
        elif arr.dtype != target.dtype:
            problems.append(f"{key}: dtype {arr.dtype} (from {torch_key!r}) but the model has "
                            f"{target.dtype}; convert one of them (torch_model.double(), "
                            "model.astype(...))")
        else:
            out[key] = np.array(arr, copy=True)
    extra = [k for k in state_dict if k not in used]
    if strict and extra:
        problems.append(f"PyTorch's keys with no tensor of the model: {extra}")
    if problems:
        raise InterchangeError(f"from_torch into {type(model).__name__} failed:\n  " +
                               "\n  ".join(problems))
    return out


def to_torch(model: Module, tensors: bool = True, mlp: str = "sequential",
             same_layout: Iterable[type] = ()) -> dict[str, Any]:
    """The state dict PyTorch's module of the same architecture loads (`load_state_dict`),
    as torch tensors (`tensors=False`: NumPy arrays, for safetensors without torch)."""
    plan, problems = _plan(model, mlp, same_layout)
    if problems:
        raise InterchangeError(f"to_torch of {type(model).__name__} failed:\n  " +
                               "\n  ".join(problems))
    state = model.state_dict()
    arrays = {torch_key: np.array(state[key].T if transpose else state[key], order="C")
              for key, (torch_key, transpose) in plan.items()}
    if not tensors:
        return arrays
    convert: Callable[[np.ndarray], Any] = _torch_tensor()
    return {k: convert(v) for k, v in arrays.items()}


def _torch_tensor() -> Callable[[np.ndarray], Any]:
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch: PyTorch is not installed; pass tensors=False for NumPy "
                          "arrays, or pip install torch") from None
    return lambda arr: torch.from_numpy(np.array(arr, copy=True))
