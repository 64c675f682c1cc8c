"""`autograd_nn.tutorials`: the README's name for the course, which is the package
`autograd_nn_course` (installed with the library, outside it).

Loading this package loads nothing of the course. Asking for a module (`ag.tutorials.tutorial1`,
`from autograd_nn.tutorials import tutorial1`, `import autograd_nn.tutorials.tutorial1`) loads
`autograd_nn_course.tutorial1` and gives that very module object, under both names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

COURSE = "autograd_nn_course"
__all__ = ["demo", "digits", "digits_cnn", "reports", "tutorial1", "tutorial2"]
_MODULES = frozenset({*__all__, "params"})  # every module of the course


def _course_module(name: str) -> ModuleType:
    """The course's module `name`, also registered under this package's name."""
    module = importlib.import_module(f"{COURSE}.{name}")
    sys.modules[f"{__name__}.{name}"] = module
    globals()[name] = module
    return module


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return _course_module(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _CourseFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import autograd_nn.tutorials.<name>`: the import system's entry to `_course_module`. The
    placeholder module it is handed is replaced in sys.modules by the course's own module."""

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        """A spec for this package's course modules, None for every other name."""
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """The default placeholder module (replaced by `exec_module`)."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Put the course's module in the placeholder's place."""
        _course_module(module.__name__.rpartition(".")[2])

    def get_code(self, fullname: str) -> Any:
        """The course module's code (`python -m autograd_nn.tutorials.tutorial1` runs it)."""
        spec = importlib.util.find_spec(f"{COURSE}.{fullname.rpartition('.')[2]}")
        return spec.loader.get_code(spec.name)


sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__module__", None) != __name__]
sys.meta_path.append(_CourseFinder())  # an instance: importlib calls its methods unbound
