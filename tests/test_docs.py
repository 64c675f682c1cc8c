"""The API reference: every public name has a docstring and type hints, and `make docs` (pdoc)
builds the HTML reference offline."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import autograd_nn as ag

ROOT = Path(ag.__file__).resolve().parent.parent
# the public modules: each has a page in the reference (scripts/build_docs.py)
REFERENCE = ("autograd_nn", "autograd_nn.nn", "autograd_nn.nn.functional", "autograd_nn.nn.init",
             "autograd_nn.optim", "autograd_nn.check", "autograd_nn.viz", "autograd_nn.compiler",
             "autograd_nn.core.engine", "autograd_nn.core.state", "autograd_nn.userfile",
             "autograd_nn.io", "autograd_nn.transforms.grad", "autograd_nn.functions",
             "autograd_nn.tutorials", "autograd_nn.cli",
             "autograd_nn_course", "autograd_nn_course.demo", "autograd_nn_course.digits",
             "autograd_nn_course.reports", "autograd_nn_course.tutorial1",
             "autograd_nn_course.tutorial2")
# the tutorials' own classes, kept as their authors wrote them (autograd-nn compile prints them)
AS_WRITTEN = {"autograd_nn_course.tutorial1.NeuralNetwork",
              "autograd_nn_course.tutorial2.NeuralNetwork"}


def public_names(module: types.ModuleType) -> list[str]:
    """A module's public names: its `__all__`, else what it defines without a leading `_`."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [k for k, v in vars(module).items() if not k.startswith("_")
            and getattr(v, "__module__", None) == module.__name__
            and (inspect.isfunction(v) or inspect.isclass(v))]


def _members(cls: type) -> Iterator[tuple[str, object]]:
    for name, value in vars(cls).items():
        if not name.startswith("_") or name == "__init__" or name == "__call__":
            yield name, value


def problems_of(qualname: str, obj: object) -> Iterator[str]:
    """What is missing on one public object: a docstring, parameter or return annotations."""
    if isinstance(obj, property):
        if not (obj.__doc__ or "").strip():
            yield f"{qualname}: no docstring"
        if obj.fget is not None and "return" not in getattr(obj.fget, "__annotations__", {}):
            yield f"{qualname}: no return type"
        return
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if inspect.isclass(obj):
        if not (inspect.getdoc(obj) or "").strip():
            yield f"{qualname}: no docstring"
        for name, member in _members(obj):
            if callable(member) or isinstance(member, (property, staticmethod, classmethod)):
                yield from problems_of(f"{qualname}.{name}", member)
        return
    if not callable(obj):
        return  # constants (PRIMITIVES) are described by their module's docstring
    if not (obj.__doc__ or "").strip() and not qualname.endswith("__init__"):
        yield f"{qualname}: no docstring"
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return
    for p in signature.parameters.values():
        if p.name in ("self", "cls"):
            continue
        if p.annotation is p.empty:
            yield f"{qualname}: parameter {p.name!r} has no type"
    if signature.return_annotation is signature.empty:
        yield f"{qualname}: no return type"


def reference_objects() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module_name in REFERENCE:
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or id(obj) in seen:
                continue
            if f"{module_name}.{name}" in AS_WRITTEN:
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj


def test_the_reference_covers_every_public_module():
    top = {getattr(ag, n).__name__ for n in ag.__all__
           if isinstance(getattr(ag, n), types.ModuleType)}
    assert top <= set(REFERENCE)


def test_every_public_name_has_a_docstring_and_type_hints():
    problems = []
    for qualname, obj in reference_objects():
        if isinstance(obj, types.ModuleType):
            if not (obj.__doc__ or "").strip():
                problems.append(f"{qualname}: module without a docstring")
            continue
        problems += problems_of(qualname, obj)
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)


def test_the_checker_finds_what_is_missing():
    def bare(x, y: int):
        return x

    class Thing:
        """A documented class."""

        def method(self) -> None:
            pass

        @property
        def size(self):
            return 1

    assert list(problems_of("bare", bare)) == [
        "bare: no docstring", "bare: parameter 'x' has no type", "bare: no return type"]
    assert list(problems_of("Thing", Thing)) == [
        "Thing.method: no docstring", "Thing.size: no docstring", "Thing.size: no return type"]


@pytest.mark.skipif(importlib.util.find_spec("pdoc") is None,
                    reason="pdoc is not installed (the docs extra: pip install -e '.[docs]')")
def test_make_docs_builds_a_page_per_public_module_without_warnings(tmp_path):
    out = tmp_path / "docs"
    r = subprocess.run([sys.executable, "-W", "error", str(ROOT / "scripts" / "build_docs.py"),
                        str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and f"API reference: {out / 'index.html'}" in r.stdout
    pages = {str(p.relative_to(out).with_suffix("")).replace("/", ".")
             for p in out.rglob("*.html")}
    assert set(REFERENCE) <= pages
    top = (out / "autograd_nn.html").read_text(encoding="utf-8")
    for name in ("value_and_grad", "draw_graph", "gradcheck", "Tensor", "sigmoid"):
        assert f'id="{name}"' in top, name
    assert "src=\"http" not in top  # offline: nothing loaded from the network
