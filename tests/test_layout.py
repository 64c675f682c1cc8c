"""The layers of the layout, checked on every import statement (function bodies too):

- the library never depends on the course: no module of `autograd_nn` imports the course,
  `autograd_nn_course` (a package of its own, outside `autograd_nn/`), or its alias
  `autograd_nn.tutorials`; only the `autograd-nn` command (`cli.py` / `__main__.py`) loads it,
  inside the commands that need it. The alias package loads nothing of the course until a
  module is asked for, and then gives the course's own module objects;
- the tools (check, viz, explore and the graph helpers they share) import no course;
- the core imports no transform and no tool; no import cycles; no module assigns into another.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import autograd_nn

PACKAGE = pathlib.Path(autograd_nn.__file__).resolve().parent
COURSE = "autograd_nn_course"
COURSE_DIR = pathlib.Path(importlib.util.find_spec(COURSE).origin).resolve().parent
ALIAS = "autograd_nn.tutorials"  # the README's name for the course (a lazy alias package)
APPLICATION = {"autograd_nn.cli", "autograd_nn.__main__"}
TOOLS = ("autograd_nn.check", "autograd_nn.viz", "autograd_nn.explore", "autograd_nn.graph")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


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
    """The course under either of its names."""
    return _within(name, (COURSE, ALIAS))


def course_imports(sources: dict[str, tuple[str, bool]]) -> dict[str, list[str]]:
    """Each module's imports of the course, for modules given as name -> (source, is_package);
    modules that import none are left out."""
    found = {name: sorted({n for n in imported_names(source, name, is_package) if _is_course(n)})
             for name, (source, is_package) in sources.items()}
    return {name: names for name, names in found.items() if names}


def _sources(paths: list[pathlib.Path]) -> dict[str, tuple[str, bool]]:
    return {_module_name(p): (p.read_text(encoding="utf-8"), _is_package(p)) for p in paths}


def _library_modules() -> list[pathlib.Path]:
    """Every module of autograd_nn but the alias package and the command."""
    paths = sorted(PACKAGE.rglob("*.py"))
    return [p for p in paths
            if not _is_course(_module_name(p)) and _module_name(p) not in APPLICATION]


def _tool_modules() -> list[pathlib.Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if _within(_module_name(p), TOOLS)]


@pytest.mark.parametrize("source, module, is_package", [
    ("import autograd_nn_course", "autograd_nn.viz.draw", False),
    ("import autograd_nn_course.tutorial1 as t", "autograd_nn.viz.draw", False),
    ("from autograd_nn_course import demo", "autograd_nn.viz.draw", False),
    ("from autograd_nn_course.reports import tutorial", "autograd_nn.viz.draw", False),
    ("def f():\n    import autograd_nn_course.demo\n", "autograd_nn.explore.page", False),
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
    assert list(course_imports({module: (source, is_package)})) == [module]


@pytest.mark.parametrize("source, module, is_package", [
    ("from .. import nn", "autograd_nn.viz.draw", False),
    ("from ..tensor import Tensor", "autograd_nn.viz.draw", False),
    ("from . import tutorials_notes", "autograd_nn", True),
    ("import tutorials", "autograd_nn.viz.draw", False),
    ("import autograd_nn_courseware", "autograd_nn.viz.draw", False),
    ("from autograd_nn import io", "autograd_nn.viz.draw", False),
])
def test_the_check_ignores_other_imports(source, module, is_package):
    assert not any(_is_course(n) for n in imported_names(source, module, is_package))
    assert course_imports({module: (source, is_package)}) == {}


def test_the_course_lies_outside_the_library():
    assert not COURSE_DIR.is_relative_to(PACKAGE)
    assert {p.stem for p in COURSE_DIR.glob("*.py")} >= {"tutorial1", "tutorial2", "demo"}
    # the alias package is one file: nothing of the course can come back into autograd_nn/
    assert [p.name for p in (PACKAGE / "tutorials").rglob("*.py")] == ["__init__.py"]


def test_no_library_module_imports_the_course():
    modules = _library_modules()
    assert len(modules) > 20 and PACKAGE / "viz" / "draw.py" in modules
    assert PACKAGE / "tutorials" / "__init__.py" not in modules and \
        PACKAGE / "cli.py" not in modules
    assert course_imports(_sources(modules)) == {}


def course_strings(source: str) -> list[str]:
    """String constants in code (docstrings aside) that name the course, as a dynamic import
    (`importlib.import_module("autograd_nn_course.demo")`, an f-string prefix) would."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings
            and (node.value.startswith(COURSE) or node.value.startswith(ALIAS))]


def test_the_string_check_finds_a_planted_dynamic_import():
    source = ('"""Docstrings may name autograd_nn_course."""\nimport importlib\n'
              'def f(name):\n    """Or autograd_nn.tutorials."""\n'
              '    importlib.import_module(f"autograd_nn_course.{name}")\n'
              '    return importlib.import_module("autograd_nn.tutorials.demo")\n')
    assert sorted(course_strings(source)) == ["autograd_nn.tutorials.demo", "autograd_nn_course."]


def test_no_library_module_names_the_course_in_code():
    found = {_module_name(p): hits for p in _library_modules()
             if (hits := course_strings(p.read_text(encoding="utf-8")))}
    assert found == {}


def test_tools_import_no_course():
    modules = _tool_modules()
    names = {_module_name(p) for p in modules}
    assert {"autograd_nn.check.explain", "autograd_nn.viz.draw", "autograd_nn.explore.replay",
            "autograd_nn.graph.view", "autograd_nn.graph.naming"} <= names
    # the check fails when a tool does import the course
    planted = {**_sources(modules),
               "autograd_nn.graph.view": ("from autograd_nn_course import tutorial1\n", False),
               "autograd_nn.explore": ("def f():\n    from ..tutorials import demo\n", True)}
    assert course_imports(planted) == {
        "autograd_nn.explore": ["autograd_nn.tutorials", "autograd_nn.tutorials.demo"],
        "autograd_nn.graph.view": ["autograd_nn_course", "autograd_nn_course.tutorial1"]}
    assert course_imports(_sources(modules)) == {}


def test_the_alias_package_imports_nothing_of_the_course():
    path = PACKAGE / "tutorials" / "__init__.py"
    assert course_imports({ALIAS: (path.read_text(encoding="utf-8"), True)}) == {}


def _loaded_course_modules(code: str) -> list[str]:
    """The course modules (under either name; the alias package itself aside) that are loaded
    after running `code` in a fresh interpreter."""
    script = code + (f"\nimport sys\nprint(sorted(m for m in sys.modules "
                     f"if m != {ALIAS!r} and (m == {COURSE!r} or m.startswith({COURSE + '.'!r}) "
                     f"or m.startswith({ALIAS + '.'!r}))))")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=PACKAGE.parent, timeout=120)
    assert r.returncode == 0, r.stderr
    return ast.literal_eval(r.stdout.strip().splitlines()[-1])


def test_importing_the_library_loads_no_course():
    code = ("import autograd_nn, autograd_nn.nn, autograd_nn.optim, autograd_nn.check, "
            "autograd_nn.viz, autograd_nn.explore, autograd_nn.graph, autograd_nn.io, "
            "autograd_nn.compiler")
    assert _loaded_course_modules(code) == []


def test_the_alias_package_loads_the_course_only_when_a_module_is_asked_for():
    assert _loaded_course_modules("import autograd_nn as ag\nag.tutorials\ndir(ag.tutorials)") \
        == []
    assert _loaded_course_modules("from autograd_nn.tutorials import params") == sorted([
        COURSE, f"{COURSE}.params", f"{ALIAS}.params"])


def test_the_command_loads_the_course_only_when_a_command_runs():
    assert _loaded_course_modules("from autograd_nn import cli\ncli.build_parser()") == []


# --- the README's name for the course: the very same modules ----------------------------------
def test_the_readme_alias_gives_the_course_modules_themselves():
    import autograd_nn_course
    import autograd_nn_course.tutorial1
    from autograd_nn.tutorials import tutorial1 as t1  # as the README writes it

    assert t1 is autograd_nn_course.tutorial1 and t1.__name__ == "autograd_nn_course.tutorial1"
    assert autograd_nn.tutorials.tutorial2 is autograd_nn_course.tutorial2
    assert sys.modules["autograd_nn.tutorials.tutorial1"] is t1
    assert sorted(autograd_nn.tutorials.__all__) == sorted(autograd_nn_course.__all__)
    with pytest.raises(AttributeError, match="no attribute 'tutorial3'"):
        autograd_nn.tutorials.tutorial3  # noqa: B018


def test_the_alias_finder_leaves_the_import_system_working():
    """importlib calls every meta-path finder's `invalidate_caches()` (pytest's syspath_prepend
    does): the alias's finder must be an instance that answers it, and there is one of it."""
    import importlib

    import autograd_nn.tutorials as alias

    importlib.invalidate_caches()
    finders = [f for f in sys.meta_path if getattr(f, "__module__", None) == alias.__name__]
    assert len(finders) == 1 and not isinstance(finders[0], type)
    importlib.reload(alias)
    importlib.invalidate_caches()
    assert len([f for f in sys.meta_path
                if getattr(f, "__module__", None) == alias.__name__]) == 1


def test_every_form_of_the_alias_imports_one_copy_of_each_module():
    """In a fresh interpreter, an import statement of the alias comes first (no attribute access
    before it), then every other form: each course module is one object under both names."""
    script = """
import sys
import autograd_nn.tutorials.tutorial1 as a1
from autograd_nn.tutorials import demo, params
import autograd_nn as ag
import autograd_nn_course
import autograd_nn_course.tutorial1 as c1
names = [*autograd_nn_course.__all__, "params"]
same = all(getattr(ag.tutorials, n) is getattr(autograd_nn_course, n)
           is sys.modules["autograd_nn.tutorials." + n] is sys.modules["autograd_nn_course." + n]
           for n in names)
modules = {id(m): m for m in sys.modules.values()}.values()
files = sorted(m.__file__ for m in modules if (getattr(m, "__file__", None) or "").endswith(
    ("tutorial1.py", "demo.py", "params.py")))
print(repr((a1 is c1, demo is autograd_nn_course.demo, params is ag.tutorials.params, same,
            files)))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=PACKAGE.parent, timeout=120)
    assert r.returncode == 0, r.stderr
    *same, files = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    assert same == [True, True, True, True]
    # one module object per file of the course
    assert files == [str(COURSE_DIR / f) for f in ("demo.py", "params.py", "tutorial1.py")]


def test_a_course_op_is_sited_in_the_course_file():
    """The course is user code by where it lies: anomaly mode names the course's file:line."""
    from autograd_nn_course import tutorial1 as t1

    X = np.array(t1.X, dtype=float)
    X[0, 0] = np.nan
    with pytest.raises(autograd_nn.AnomalyError) as err, autograd_nn.detect_anomaly():
        t1.loss(t1.initial_weights(0), X, t1.Y)
    site = str(err.value).split("created at ")[1].split(":")[0]
    assert pathlib.Path(site).resolve() == COURSE_DIR / "tutorial1.py"


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
                                          "pytree", "readonly", "numpy_functions")}


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


# --- the core knows no tool -------------------------------------------------------------------
# The tools (check, viz, explore and the graph helpers they share) read recorded graphs; the core
# records them and never calls a tool.
def _is_tool(name: str) -> bool:
    return _within(name, TOOLS)


def core_tool_imports(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each core module's imports of a tool."""
    found = {m: sorted(n for n in imported if _is_tool(n))
             for m, imported in graph.items() if _is_core(m)}
    return {m: names for m, names in found.items() if names}


def test_the_core_tool_check_finds_a_planted_tool_import():
    modules = set(_all_modules())
    planted = {
        "autograd_nn.core.engine": _imports("from ..graph import GraphView\n",
                                            "autograd_nn.core.engine", False, modules),
        "autograd_nn.core.ops": _imports("def f():\n    from ...viz import draw_graph\n",
                                         "autograd_nn.core.ops", True, modules),
        "autograd_nn.core.tensor": _imports("import autograd_nn.check.explain\n",
                                            "autograd_nn.core.tensor", False, modules),
        "autograd_nn.core.state": _imports("from ..explore import replay\n",
                                           "autograd_nn.core.state", False, modules),
        "autograd_nn.viz.draw": _imports("from ..graph import user_names\n",
                                         "autograd_nn.viz.draw", False, modules),
    }
    assert core_tool_imports(planted) == {
        "autograd_nn.core.engine": ["autograd_nn.graph"],
        "autograd_nn.core.ops": ["autograd_nn.viz"],
        "autograd_nn.core.state": ["autograd_nn.explore.replay"],
        "autograd_nn.core.tensor": ["autograd_nn.check.explain"],
    }


def test_the_core_imports_no_tool():
    graph = _import_graph()
    assert {"autograd_nn.graph.view", "autograd_nn.check", "autograd_nn.explore"} <= set(graph)
    assert CORE <= set(graph)
    assert core_tool_imports(graph) == {}
