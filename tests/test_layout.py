"""The library never depends on the course: no module outside `autograd_nn/tutorials/` (and the
`autograd-nn` command, `cli.py` / `__main__.py`) imports `autograd_nn.tutorials`."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import autograd_nn

PACKAGE = pathlib.Path(autograd_nn.__file__).resolve().parent
COURSE = "autograd_nn.tutorials"
APPLICATION = {"autograd_nn.cli", "autograd_nn.__main__"}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def imported_names(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every module an `import` / `from ... import` in `source` names, anywhere in the file,
    relative imports resolved against `module`; `from a import b` yields both a and a.b."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            root = ".".join([*base, *([node.module] if node.module else [])])
            names += [root, *(f"{root}.{alias.name}" for alias in node.names)]
    return names


def _is_course(name: str) -> bool:
    return name == COURSE or name.startswith(COURSE + ".")


def _library_modules() -> list[pathlib.Path]:
    paths = sorted(PACKAGE.rglob("*.py"))
    return [p for p in paths
            if not _is_course(_module_name(p)) and _module_name(p) not in APPLICATION]


@pytest.mark.parametrize("source, module, is_package", [
    ("import autograd_nn.tutorials", "autograd_nn.viz.draw", False),
    ("import autograd_nn.tutorials.tutorial1 as t", "autograd_nn.viz.draw", False),
    ("from autograd_nn import tutorials", "autograd_nn.viz.draw", False),
    ("from autograd_nn.tutorials.demo import run", "autograd_nn.viz.draw", False),
    ("from ..tutorials import tutorial1", "autograd_nn.viz.draw", False),
    ("from .. import tutorials", "autograd_nn.viz.draw", False),
    ("from . import tutorials", "autograd_nn", True),
    ("from .tutorials import demo", "autograd_nn.optim", False),
    ("def f():\n    from ..tutorials import demo\n", "autograd_nn.viz.draw", False),
    ("class C:\n    def m(self):\n        import autograd_nn.tutorials\n", "autograd_nn.nn", True),
])
def test_the_check_sees_every_form_of_import(source, module, is_package):
    assert any(_is_course(n) for n in imported_names(source, module, is_package))


@pytest.mark.parametrize("source, module, is_package", [
    ("from .. import nn", "autograd_nn.viz.draw", False),
    ("from ..tensor import Tensor", "autograd_nn.viz.draw", False),
    ("from . import tutorials_notes", "autograd_nn", True),
    ("import tutorials", "autograd_nn.viz.draw", False),
])
def test_the_check_ignores_other_imports(source, module, is_package):
    assert not any(_is_course(n) for n in imported_names(source, module, is_package))


def test_no_library_module_imports_the_course():
    modules = _library_modules()
    assert len(modules) > 20 and PACKAGE / "viz" / "draw.py" in modules
    offenders = {
        _module_name(p): sorted({n for n in imported_names(p.read_text(encoding="utf-8"),
                                                         _module_name(p), _is_package(p))
                                 if _is_course(n)})
        for p in modules
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def _loaded_course_modules(code: str) -> list[str]:
    script = code + (f"\nimport sys\nprint(sorted(m for m in sys.modules "
                     f"if m == {COURSE!r} or m.startswith({COURSE + '.'!r})))")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=PACKAGE.parent, timeout=120)
    assert r.returncode == 0, r.stderr
    return ast.literal_eval(r.stdout.strip().splitlines()[-1])


def test_importing_the_library_loads_no_course():
    code = ("import autograd_nn, autograd_nn.nn, autograd_nn.optim, autograd_nn.check, "
            "autograd_nn.viz")
    assert _loaded_course_modules(code) == []


def test_the_command_loads_the_course_only_when_a_command_runs():
    assert _loaded_course_modules("from autograd_nn import cli\ncli.build_parser()") == []


# --- no import cycles, no module assigning into another ---------------------------------------
def _all_modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules `source` imports: `from a import b` is an import of a.b when b is a
    module (a parent package then only loads first), else of a itself."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            root = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{root}.{alias.name}"
                found.add(sub if sub in modules else root)
    return {m for m in found if m in modules and m != module}


def _import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file, function bodies too)."""
    modules = _all_modules()
    return {name: _imports(path.read_text(), name, _is_package(path), set(modules))
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if any (iterative depth-first search; a package's __init__ importing
    its own submodules is not a cycle unless a submodule imports that package back)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            for nxt in pending:
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    path.append(nxt)
                    break
            else:
                stack.pop()
                path.pop()
                state[node] = 2
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles():
    cycle = _cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def assignments_into_modules(
    source: str, module: str = "autograd_nn.x",
    modules: frozenset[str] = frozenset({"autograd_nn.core.tensor"}),
) -> list[str]:
    """`module.attr = ...` / `setattr(module, ...)` anywhere in `source`, where `module` is a
    name bound by an import of a module (`import x`, or `from pkg import mod` of a package
    module in `modules`)."""
    tree = ast.parse(source)
    package = module.split(".")[:-1]
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            root = ".".join([*base, *([node.module] if node.module else [])])
            bound |= {a.asname or a.name for a in node.names if f"{root}.{a.name}" in modules}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            targets = [ast.Attribute(value=node.args[0], attr="?")]
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and \
                    t.value.id in bound:
                found.append(f"{t.value.id}.{t.attr}")
    return found


def test_assignment_finder_finds_a_planted_injection():
    assert assignments_into_modules("from .core import tensor as _t\n_t._F = 1\n") == ["_t._F"]
    assert assignments_into_modules("import autograd_nn.core.engine as e\nsetattr(e, 'x', 1)\n") \
        == ["e.?"]
    assert assignments_into_modules("from .tensor import Tensor\nTensor.x = 1\n") == []


def test_no_module_assigns_into_another():
    modules = _all_modules()
    found = {name: hits for name, path in modules.items()
             if (hits := assignments_into_modules(path.read_text(), name, frozenset(modules)))}
    assert not found, found


# --- the core knows no transform --------------------------------------------------------------
# The core (the package autograd_nn.core): the Tensor, the op rows, recording, the reverse walk,
# and the per-thread modes with the layer interface. Transforms (forward mode, vmap, compile,
# anomaly checks, checkpoint) are layers on it and may import it; it may import none of them.
CORE = {f"autograd_nn.core.{m}" for m in ("state", "tensor", "recording", "public",
                                          "numpy_ufuncs", "engine", "saved", "formatting",
                                          "pytree")}


def _is_core(name: str) -> bool:
    return name == "autograd_nn.core" or name.startswith("autograd_nn.core.")


def test_every_module_of_the_core_package_is_listed():
    graph = _import_graph()
    listed = CORE | {m for m in graph if m.startswith("autograd_nn.core.ops")}
    assert {m for m in graph if m.startswith("autograd_nn.core.")} == listed


def core_violations(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each core module's imports of modules outside the core."""
    return {m: sorted(n for n in imported if not _is_core(n) and n != "autograd_nn")
            for m, imported in graph.items() if _is_core(m)
            if any(not _is_core(n) and n != "autograd_nn" for n in imported)}


def test_core_check_finds_a_planted_transform_import():
    graph = {"autograd_nn.core.engine": {"autograd_nn.transforms.levels", "autograd_nn.core.state"},
             "autograd_nn.core.ops.shape": {"autograd_nn.core.ops.registry"},
             "autograd_nn.transforms.batching": {"autograd_nn.core.tensor"}}
    assert core_violations(graph) == {"autograd_nn.core.engine": ["autograd_nn.transforms.levels"]}


def test_the_core_imports_no_transform():
    graph = _import_graph()
    assert CORE <= set(graph) and any(m.startswith("autograd_nn.core.ops.") for m in graph)
    assert core_violations(graph) == {}
