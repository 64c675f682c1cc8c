"""Load a loss from the user's own code: `path/to/file.py:function`, as the command takes it.

`load_loss(spec)` imports the file, finds the function, calls it with no arguments and checks that
it returned a Tensor with a graph; every failure is a `UserFileError` naming the file and the
function. `autograd-nn graph`, `explain` (and `explore`) share it.
"""

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .core.readonly import explained, is_read_only_write
from .core.tensor import Tensor

__all__ = ["UserFileError", "UserLoss", "load_function", "load_loss", "parse_spec"]

EXAMPLE = "path/to/model.py:loss"


class UserFileError(ValueError):
    """The file, the function or what it returned is not usable; the message says how to fix it."""


class UserLoss(NamedTuple):
    """A loss Tensor and where it came from (for titles and default file names)."""

    loss: Tensor
    path: Path
    function: str


def parse_spec(spec: str) -> tuple[Path, str]:
    """`"file.py:function"` -> (path, function name); the last `:` separates them."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UserFileError(f"{spec!r}: expected FILE.py:FUNCTION, e.g. {EXAMPLE}")
    if not name.isidentifier():
        raise UserFileError(f"{spec!r}: {name!r} is not a Python function name")
    return Path(path), name


def _import_file(path: Path) -> Any:
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserFileError(f"{path}: {what} (expected a Python file, e.g. {EXAMPLE})")
    module_name = f"_autograd_nn_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserFileError(f"{path}: cannot be loaded as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would (dataclasses, pickle look it up)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours, as `python file.py` can
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[module_name]
        raise UserFileError(f"{path}: failed while loading: {type(err).__name__}: {err}") from err
    finally:
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    return module


def load_function(spec: str) -> Callable[[], Any]:
    """The function named by `file.py:function`, checked to be callable without arguments."""
    path, name = parse_spec(spec)
    module = _import_file(path)
    if not hasattr(module, name):
        defined = sorted(k for k, v in vars(module).items()
                         if inspect.isfunction(v) and v.__module__ == module.__name__)
        listing = ", ".join(defined) if defined else "no functions"
        raise UserFileError(f"{path}: no function {name!r} (the file defines: {listing})")
    function = getattr(module, name)
    if not callable(function):
        raise UserFileError(f"{path}:{name} is a {type(function).__name__}, not a function; "
                            "name a function that returns the loss Tensor")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return function
    needed = [p.name for p in signature.parameters.values()
              if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if needed:
        raise UserFileError(
            f"{path}:{name} needs arguments ({', '.join(needed)}); the command calls it with "
            f"none. Add a function that builds them and returns the loss, e.g. "
            f"`def main(): return {name}(...)`, and pass {path}:main")
    return function


def load_loss(spec: str) -> UserLoss:
    """Call the function named by `file.py:function` and check it returned a loss with a graph."""
    function = load_function(spec)
    path, name = parse_spec(spec)
    try:
        loss = function()
    except Exception as err:
        if is_read_only_write(err):
            err = explained(err)
        raise UserFileError(f"{path}:{name} failed: {type(err).__name__}: {err}") from err
    if not isinstance(loss, Tensor):
        raise UserFileError(
            f"{path}:{name} returned {type(loss).__name__}, not a Tensor; return the loss "
            "Tensor itself (not loss.item() or a value computed with NumPy)")
    if not loss.requires_grad:
        raise UserFileError(
            f"{path}:{name} returned a Tensor without a graph ({loss.shape} {loss.dtype}): none "
            "of its inputs requires grad; create the parameters with requires_grad=True "
            "(outside no_grad())")
    return UserLoss(loss, path, name)
