"""Blind tests of the layout and import names after the reorganisation (issue 21).

Written from README.md, CONTRIBUTING.md, CHANGELOG.md's newest section and docstrings only
(no package source, no existing tests read). Every test states the claim it checks.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import autograd_nn as ag

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
COURSE_MODULES = ["tutorial1", "tutorial2", "reports", "demo", "digits", "digits_cnn"]
LIBRARY_FILE_NAMES = {p.name for p in (ROOT / "autograd_nn").rglob("*.py")}


def run_py(code: str, *, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run `code` in a fresh interpreter (warnings as errors); return the CompletedProcess."""
    return subprocess.run([PY, "-W", "error", "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=timeout)


def ok(proc) -> str:
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
    return proc.stdout


def last_json(proc):
    return json.loads(ok(proc).strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# 1. Every documented import form and name
# --------------------------------------------------------------------------------------------

def test_top_level_names_the_readme_uses():
    import types
    for name in ["nn", "optim", "io", "viz", "check", "tutorials"]:
        assert isinstance(getattr(ag, name), types.ModuleType), name
    assert ag.nn.__name__ == "autograd_nn.nn" and ag.optim.__name__ == "autograd_nn.optim"
    assert ag.io.__name__ == "autograd_nn.io"
    assert ag.save is ag.io.save and ag.load is ag.io.load
    for name in ["compile", "explore", "explain", "draw_graph", "gradcheck", "compare_grads",
                 "compare_intermediates", "detect_anomaly", "grad", "value_and_grad", "vmap",
                 "jvp", "vjp", "jacobian", "hessian", "hvp", "custom_vjp", "checkpoint"]:
        assert callable(getattr(ag, name)), name
    # README section 3: ag.check.compare_backprop; every __all__ name resolves
    assert callable(ag.check.compare_backprop)
    for name in ag.__all__:
        assert getattr(ag, name) is not None, name
    # the ops the README lists under "What it computes" exist as functions
    for name in "exp log tanh sigmoid softmax matmul einsum conv2d max_pool2d cumsum".split():
        assert callable(getattr(ag, name)), name


def test_io_package_names_changelog_documents():
    from autograd_nn.io import SerializationError, load, save
    assert save is ag.save and load is ag.load
    assert issubclass(SerializationError, ValueError)
    assert set(ag.io.__all__) >= {"save", "load", "SerializationError"}
    with pytest.raises(ModuleNotFoundError):            # CHANGELOG: renamed, old name gone
        importlib.import_module("autograd_nn.serialization")


def test_graph_package_reexports_naming():
    import autograd_nn.graph as graph
    from autograd_nn.graph import naming
    assert naming.__name__ == "autograd_nn.graph.naming"
    for name in naming.__all__:
        assert getattr(graph, name) is getattr(naming, name), name
    for name in graph.__all__:
        assert hasattr(graph, name), name
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    loss = (ag.tanh(x) ** 2).sum()
    view = graph.view_graph([loss])
    assert isinstance(view, graph.GraphView)
    names = graph.node_names(view.tensors, loss, graph.user_names({}))
    assert names[id(x)] == "x" and names[id(loss)] == "L" and view.names == [
        names[id(t)] for t in view.tensors]


def test_explore_function_survives_importing_its_package_first():
    """`ag.explore(loss)` (README) must still be the function after `from autograd_nn.explore
    import Exploration` (a documented name of the package autograd_nn.explore)."""
    out = ok(run_py("""
        import autograd_nn as ag
        from autograd_nn.explore import Exploration
        x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
        page = ag.explore((x * x).sum())
        print(type(page).__name__, isinstance(page, Exploration))
    """))
    assert out.split() == ["Exploration", "True"]


@pytest.mark.parametrize("first", ["import autograd_nn.check", "import autograd_nn.viz",
                                   "import autograd_nn.compiler", "import autograd_nn.io",
                                   "import autograd_nn.graph"])
def test_top_level_functions_survive_importing_tool_packages_first(first):
    out = ok(run_py(f"""
        {first}
        import autograd_nn as ag
        import types
        names = ["compile", "explain", "draw_graph", "gradcheck", "detect_anomaly", "save",
                 "load", "explore", "compare_grads", "compare_intermediates"]
        bad = [n for n in names if isinstance(getattr(ag, n), types.ModuleType)
               or not callable(getattr(ag, n))]
        print(bad)
    """))
    assert out.strip() == "[]"


def test_save_load_round_trip_keeps_dtype_shape_and_values(tmp_path):
    sd = {
        "w32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "idx": ag.Tensor(np.array([3, -1], dtype=np.int64)),
        "param": ag.Tensor(np.array([[0.5], [-2.0]]), requires_grad=True, name="param"),
        "scalar": np.array(3.25),
        "empty": np.zeros((0, 4), dtype=np.float16),
        "mask": np.array([True, False, True]),
        "odd.npy": np.full((2, 2), 7, dtype=np.int8),
    }
    path = tmp_path / "state.npz"
    ag.save(path, sd)
    back = ag.load(path)
    assert list(back) == list(sd)
    for key, value in sd.items():
        arr = value.data if isinstance(value, ag.Tensor) else value
        assert isinstance(back[key], np.ndarray), key
        assert back[key].dtype == arr.dtype and back[key].shape == arr.shape, key
        np.testing.assert_array_equal(back[key], arr)
    # plain NumPy reads it too (docstring)
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["w32"], sd["w32"])


def test_module_state_dict_round_trip_readme(tmp_path):
    model = ag.nn.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", rng=0)
    ag.save(tmp_path / "xor.npz", model.state_dict())
    other = ag.nn.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", rng=1)
    other.load_state_dict(ag.load(tmp_path / "xor.npz"))
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    np.testing.assert_array_equal(other(X).data, model(X).data)


def _damaged_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.npz"
    ag.save(good, {"a": np.arange(1000.0)})
    data = good.read_bytes()
    files = {}
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["tail_cut"] = tmp_path / "tail_cut.npz"
    files["tail_cut"].write_bytes(data[:-10])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    files["flipped_byte"] = tmp_path / "flipped.npz"
    files["flipped_byte"].write_bytes(bytes(flipped))
    files["not_zip"] = tmp_path / "text.npz"
    files["not_zip"].write_bytes(b"this is not an archive")
    files["empty"] = tmp_path / "empty.npz"
    files["empty"].write_bytes(b"")
    import io as stdio
    short = stdio.BytesIO()
    np.lib.format.write_array(short, np.arange(100.0))
    files["short_member"] = tmp_path / "short_member.npz"
    with zipfile.ZipFile(files["short_member"], "w") as z:
        z.writestr("a.npy", short.getvalue()[:-80])
    files["pickle"] = tmp_path / "pickle.npz"
    np.savez(files["pickle"], o=np.array([{"a": 1}], dtype=object))
    return files


@pytest.mark.parametrize("kind", ["truncated", "tail_cut", "flipped_byte", "not_zip", "empty",
                                  "short_member", "pickle"])
def test_bad_files_refused_by_name(tmp_path, kind):
    from autograd_nn.io import SerializationError
    path = _damaged_files(tmp_path)[kind]
    with pytest.raises(SerializationError) as info:
        ag.load(path)
    assert path.name in str(info.value)


def test_missing_file_refused_by_name(tmp_path):
    from autograd_nn.io import SerializationError
    with pytest.raises((SerializationError, FileNotFoundError)) as info:
        ag.load(tmp_path / "nowhere.npz")
    assert "nowhere.npz" in str(info.value)


def test_readme_tutorial_import_and_compare_backprop():
    import autograd_nn_course.tutorial1 as course_t1
    from autograd_nn.tutorials import tutorial1 as t1
    assert t1 is course_t1
    report = ag.check.compare_backprop(t1.handwritten_gradients, t1.loss,
                                       t1.initial_weights(), t1.X, t1.Y)
    assert report["weights1"].verdict == "opposite sign"


def test_dotted_import_binds_the_course_module():
    import autograd_nn.tutorials.tutorial1
    import autograd_nn_course.tutorial1
    alias = sys.modules["autograd_nn.tutorials.tutorial1"]
    assert alias is sys.modules["autograd_nn_course.tutorial1"]
    assert autograd_nn.tutorials.tutorial1 is autograd_nn_course.tutorial1  # noqa: F821
    assert ag.tutorials.tutorial1 is autograd_nn_course.tutorial1


@pytest.mark.parametrize("name", COURSE_MODULES)
def test_each_course_module_same_object_under_both_names(name):
    pytest.importorskip("sklearn") if name.startswith("digits") else None
    alias = importlib.import_module(f"autograd_nn.tutorials.{name}")
    course = importlib.import_module(f"autograd_nn_course.{name}")
    assert alias is course
    assert getattr(ag.tutorials, name) is course
    import autograd_nn_course
    assert getattr(autograd_nn_course, name) is course


def test_module_level_mutable_object_shared():
    import autograd_nn_course.tutorial1 as b
    from autograd_nn.tutorials import tutorial1 as a
    assert a.X is b.X
    assert a.loss is b.loss and a.Network is b.Network
    marker = object()
    a._blind_marker = marker
    try:
        assert b._blind_marker is marker
    finally:
        del a._blind_marker


ORDER_SCRIPT = """
    import sys, json, importlib
    first, second = {first!r}, {second!r}
    out = {{}}
    for name in {modules!r}:
        m1 = importlib.import_module(first + "." + name)
        m2 = importlib.import_module(second + "." + name)
        copies = [k for k, m in list(sys.modules.items())
                  if getattr(m, "__file__", None) and m.__file__ == m1.__file__]
        distinct = {{id(sys.modules[k]) for k in copies}}
        out[name] = [m1 is m2, len(distinct), sorted(copies)]
    import autograd_nn_course.tutorial1 as c, autograd_nn.tutorials.tutorial1 as a
    out["mutable"] = a.X is c.X and a.Y is c.Y
    print(json.dumps(out))
"""


@pytest.mark.parametrize("first,second", [("autograd_nn.tutorials", "autograd_nn_course"),
                                          ("autograd_nn_course", "autograd_nn.tutorials")])
def test_fresh_interpreter_either_order_one_copy(first, second):
    out = last_json(run_py(ORDER_SCRIPT.format(first=first, second=second,
                                               modules=["tutorial1", "tutorial2", "reports"])))
    assert out.pop("mutable") is True
    for name, (same, distinct, names) in out.items():
        assert same, name
        assert distinct == 1, (name, names)


def test_fresh_interpreter_from_import_alias_then_course_package_attr():
    out = last_json(run_py("""
        import json
        from autograd_nn.tutorials import tutorial2 as t2
        import autograd_nn_course
        import autograd_nn as ag
        print(json.dumps([t2 is autograd_nn_course.tutorial2, t2 is ag.tutorials.tutorial2,
                          t2.__name__]))
    """))
    assert out == [True, True, "autograd_nn_course.tutorial2"]


@pytest.mark.parametrize("reload_name", ["autograd_nn.tutorials.tutorial1",
                                         "autograd_nn_course.tutorial1",
                                         "autograd_nn.tutorials", "autograd_nn_course"])
def test_reload_creates_no_diverging_copy(reload_name):
    out = last_json(run_py(f"""
        import importlib, json, sys
        import autograd_nn.tutorials.tutorial1 as a
        import autograd_nn_course.tutorial1 as c
        old_X = a.X
        importlib.reload(sys.modules[{reload_name!r}])
        import autograd_nn as ag, autograd_nn_course
        a2 = importlib.import_module("autograd_nn.tutorials.tutorial1")
        c2 = importlib.import_module("autograd_nn_course.tutorial1")
        a2.shared_marker = [1]
        print(json.dumps([a2 is c2, a2 is a, c2 is c,
                          ag.tutorials.tutorial1 is c2, autograd_nn_course.tutorial1 is c2,
                          sys.modules["autograd_nn.tutorials.tutorial1"] is c2,
                          a2.X is c2.X, c2.shared_marker is a2.shared_marker]))
    """))
    assert out == [True] * 8


def test_run_course_module_through_alias_name():
    """Not promised by the README (which documents `python -m autograd_nn_course.tutorial1` in
    the module docstring), but the alias says it gives "that very module": `python -m` on it
    should run the tutorial, or refuse with a clear message, not crash inside the loader."""
    proc = subprocess.run([PY, "-W", "error", "-m", "autograd_nn.tutorials.tutorial1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "has no attribute 'get_code'" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# 2. The library never loads the course
# --------------------------------------------------------------------------------------------

COURSE_LOADED = """
    import sys, json
    {imports}
    print(json.dumps(sorted(m for m in sys.modules
                            if m.startswith("autograd_nn_course")
                            or m.startswith("autograd_nn.tutorials."))))
"""


@pytest.mark.parametrize("imports", [
    "import autograd_nn",
    "import autograd_nn as ag; ag.nn, ag.optim, ag.io, ag.viz, ag.check, ag.compile, ag.explore",
    "import autograd_nn.viz", "import autograd_nn.check", "import autograd_nn.explore",
    "import autograd_nn.nn", "import autograd_nn.optim", "import autograd_nn.io",
    "import autograd_nn.graph", "import autograd_nn.compiler",
    "import autograd_nn.tutorials",
    "import autograd_nn as ag; ag.tutorials; dir(ag.tutorials)",
    "from autograd_nn import *",
])
def test_library_imports_load_no_course_module(imports):
    assert last_json(run_py(COURSE_LOADED.format(imports=imports))) == []


def test_library_use_loads_no_course_module():
    out = last_json(run_py(COURSE_LOADED.format(imports="""
    import numpy as np, autograd_nn as ag
    x = ag.Tensor([0.5, -1.0], requires_grad=True, name="x")
    loss = (ag.tanh(x) ** 2).sum()
    ag.explain(loss); ag.draw_graph(loss); ag.explore(loss)
    ag.compile(lambda v: (v * v).sum())(np.ones(2))
    with ag.detect_anomaly():
        ag.grad(lambda v: ag.sigmoid(v).sum())(np.ones(2))
    """)))
    assert out == []


def test_star_import_keeps_sys_modules_io():
    out = last_json(run_py("""
        import io, sys, json
        before = sys.modules["io"]
        from autograd_nn import *
        import io as again
        print(json.dumps([sys.modules["io"] is before, again is before,
                          hasattr(again, "StringIO")]))
    """))
    assert out == [True, True, True]


def test_star_import_does_not_rebind_stdlib_io_in_the_importing_module():
    """Code that did `import io` and then `from autograd_nn import *` keeps using io.StringIO.
    `autograd_nn.__all__` lists "io" (and "compile"), so the star import rebinds both."""
    out = last_json(run_py("""
        import io, json
        from autograd_nn import *
        print(json.dumps([io.__name__,
                          compile.__module__ if hasattr(compile, "__module__") else None,
                          hasattr(io, "StringIO")]))
    """))
    assert out[0] == "io" and out[2] is True, out


# --------------------------------------------------------------------------------------------
# 3. The course runs as documented; creation sites point at the right file
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mod", ["autograd_nn_course.tutorial1", "autograd_nn_course.tutorial2"])
def test_course_modules_run_as_scripts(mod):
    proc = subprocess.run([PY, "-W", "error", "-m", mod], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert ok(proc).strip()


def _site(message: str) -> str:
    assert "created at " in message, message
    return message.split("created at ")[-1]


def test_anomaly_site_of_a_course_op_is_the_course_file():
    from autograd_nn.tutorials import tutorial1 as t1
    params = {k: ag.Tensor(v, requires_grad=True) for k, v in t1.initial_weights(0).items()}
    with pytest.raises(ag.AnomalyError) as info:
        with ag.detect_anomaly():
            t1.loss(params, t1.X * 1e308, t1.Y)
    site = _site(str(info.value))
    path, rest = site.rsplit(":", 1)[0], site.rsplit(":", 1)[1]
    assert Path(path).resolve() == Path(t1.__file__).resolve(), site
    assert Path(path).parent.name == "autograd_nn_course"
    line = int(rest.split()[0])
    assert "X" in Path(path).read_text().splitlines()[line - 1]


def test_anomaly_site_of_a_library_internal_op_is_the_users_line():
    p = ag.Tensor([1e200, 1.0], requires_grad=True)
    target = np.zeros(2)
    with pytest.raises(ag.AnomalyError) as info:
        with ag.detect_anomaly():
            ag.nn.functional.mse_loss(p, target)   # the user's line
    site = _site(str(info.value))
    assert Path(__file__).name in site and "autograd_nn/" not in site.replace(os.sep, "/"), site
    # the reported line is the mse_loss call above
    line = int(site.rsplit(":", 1)[1].split()[0])
    assert "mse_loss(p, target)" in Path(__file__).read_text().splitlines()[line - 1]


def test_anomaly_site_inside_a_module_forward_is_the_users_line():
    lin = ag.nn.Linear(2, 1, rng=0)
    lin.weight.data = np.full_like(lin.weight.data, 1e300)
    x = np.array([[1e300, 1e300]])
    with pytest.raises(ag.AnomalyError) as info:
        with ag.detect_anomaly():
            lin(x)   # overflow inside Linear's own ops
    site = _site(str(info.value))
    assert Path(__file__).name in site, site
    line = int(site.rsplit(":", 1)[1].split()[0])
    assert "lin(x)" in Path(__file__).read_text().splitlines()[line - 1]


def _site_comments(source: str) -> list[str]:
    return [line.split("#", 1)[1] for line in source.splitlines()
            if "#" in line and " float" in line.split("#", 1)[1] and ".py:" in line]


def test_compile_sites_for_tutorial_point_at_course_file():
    from autograd_nn.tutorials import tutorial1 as t1
    step = ag.compile(ag.value_and_grad(t1.loss))
    value, grads = step(t1.initial_weights(0), t1.X, t1.Y)
    eager_value, eager_grads = ag.value_and_grad(t1.loss)(t1.initial_weights(0), t1.X, t1.Y)
    np.testing.assert_allclose(value, eager_value)
    for key in eager_grads:
        np.testing.assert_allclose(grads[key], eager_grads[key])
    sites = _site_comments(step.source)
    assert len(sites) >= 10
    for comment in sites:
        assert "tutorial1.py:" in comment, comment
        files = {w.split(":")[0] for w in comment.split() if ".py:" in w}
        assert not (files & (LIBRARY_FILE_NAMES - {"tutorial1.py"})), comment


def test_compile_sites_for_library_internals_point_at_user_call():
    model = ag.nn.MLP([3, 4, 1], activation="tanh", rng=0)
    X, y = np.ones((5, 3)), np.zeros((5, 1))

    def loss(params):
        out = ag.nn.functional_call(model, params, X)
        losses = ag.nn.functional
        return losses.mse_loss(out, y) + losses.binary_cross_entropy_with_logits(out, y)

    params = {k: v.data for k, v in model.named_parameters()}
    step = ag.compile(ag.grad(loss))
    got = step(params)
    want = ag.grad(loss)(params)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-14)
    sites = _site_comments(step.source)
    assert sites
    for comment in sites:
        files = {w.split(":")[0] for w in comment.split() if ".py:" in w}
        assert files == {Path(__file__).name}, comment


def test_user_files_named_like_the_library_are_still_user_sites(tmp_path):
    (tmp_path / "autograd_nn_extras").mkdir()
    (tmp_path / "autograd_nn_extras" / "__init__.py").write_text(
        "def blow(x):\n    return x * 1e300   # extras\n")
    (tmp_path / "autograd_nn_helpers.py").write_text("def blow(x):\n    return x * 1e300\n")
    out = last_json(run_py(f"""
        import sys, json, numpy as np, autograd_nn as ag
        sys.path.insert(0, {str(tmp_path)!r})
        import autograd_nn_extras, autograd_nn_helpers
        sites = []
        for m in (autograd_nn_extras, autograd_nn_helpers):
            try:
                with ag.detect_anomaly():
                    m.blow(ag.Tensor([1e10], requires_grad=True))
            except ag.AnomalyError as e:
                sites.append(str(e).split("created at ")[-1])
        print(json.dumps(sites))
    """))
    assert len(out) == 2
    assert "autograd_nn_extras" in out[0] and ":2 in blow" in out[0]
    assert "autograd_nn_helpers.py:2 in blow" in out[1]


# --------------------------------------------------------------------------------------------
# 4. CONTRIBUTING's "adding an op", followed literally in a copy of the project
# --------------------------------------------------------------------------------------------
# (The second planted row was "arcsinh" until the library gained that row; it is now "asinh",
# NumPy's other name for it, which the library does not define.)

NEW_ROWS = '''

cube = primitive("cube", lambda x: x * x * x, lambda g, ans, x: g * (3.0 * x * x),
                 elementwise=True, doc="Cube elementwise.", method=True, source="{x} ** 3")
asinh = primitive("asinh", np.arcsinh, lambda g, ans, x: g / prims.sqrt(x * x + 1.0),
                  elementwise=True, doc="Inverse hyperbolic sine elementwise (radians).",
                  method=True)
'''

OP_SCRIPT = r"""
import json, sys, numpy as np, autograd_nn as ag, autograd_nn_course
res = {"file": ag.__file__, "course": autograd_nn_course.__file__}
rng = np.random.default_rng(0)
x = rng.normal(size=(3, 4))

def fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x); e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g

for name, ref, dref in [("cube", lambda v: v ** 3, lambda v: 3 * v ** 2),
                        ("asinh", np.arcsinh, lambda v: 1 / np.sqrt(v * v + 1))]:
    op = getattr(ag, name)
    r = {}
    r["public"] = [name in ag.__all__, name in ag.functions.__all__,
                   callable(getattr(ag.Tensor, name, None)), op.__doc__]
    r["forward"] = bool(np.allclose(op(x).data, ref(x), rtol=1e-14, atol=0))
    wts = rng.normal(size=x.shape)
    g = ag.grad(lambda v: (op(v) * wts).sum())(x)
    r["grad_vs_fd"] = float(np.max(np.abs(g - fd(lambda v: float((ref(v) * wts).sum()), x))))
    r["grad_exact"] = float(np.max(np.abs(g - wts * dref(x))))
    r["method_grad"] = float(np.max(np.abs(
        ag.grad(lambda v: getattr(v, name)().sum())(x) - dref(x))))
    r["gradcheck"] = bool(ag.gradcheck(lambda v: (op(v) * wts).sum(), x))
    h = ag.grad(lambda v: ag.grad(lambda u: op(u).sum())(v).sum())(x)
    r["second_vs_fd"] = float(np.max(np.abs(h - fd(lambda v: float(dref(v).sum()), x))))
    per = ag.vmap(lambda row: (op(row) * row).sum())(x)
    r["vmap"] = float(np.max(np.abs(per - np.array([(ref(row) * row).sum() for row in x]))))
    pex = ag.vmap(ag.grad(lambda row: op(row).sum()))(x)
    r["vmap_grad"] = float(np.max(np.abs(pex - dref(x))))
    t = rng.normal(size=x.shape)
    val, tan = ag.jvp(op, (x,), (t,))
    r["jvp_value"] = float(np.max(np.abs(val - ref(x))))
    r["jvp_tangent"] = float(np.max(np.abs(tan - dref(x) * t)))
    r["jvp_vs_fd"] = float(np.max(np.abs(tan - (ref(x + 1e-6 * t) - ref(x - 1e-6 * t)) / 2e-6)))
    f = lambda v: (op(ag.tanh(v)) ** 2).sum()
    comp = ag.compile(ag.value_and_grad(f))
    cv, cg = comp(x)
    ev, eg = ag.value_and_grad(f)(x)
    r["compile_value"] = float(abs(cv - ev))
    r["compile_grad"] = float(np.max(np.abs(cg - eg)))
    r["compile_again"] = float(np.max(np.abs(comp(2 * x)[1] - ag.value_and_grad(f)(2 * x)[1])))
    r["compile_traces"] = comp.traces
    r["compile_source"] = comp.source
    v = ag.Tensor(x, requires_grad=True, name="x")
    r["explain"] = str(ag.explain(op(v).sum()))
    ag.explore(op(v).sum())            # the explorer builds its page with the new op
    res[name] = r
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("copy") / "proj"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".venv", ".git", "output", "build", "__pycache__", "*.egg-info", ".pytest_cache",
        ".hypothesis", ".ruff_cache"))
    family = dest / "autograd_nn" / "core" / "ops" / "unary.py"
    assert family.exists(), "CONTRIBUTING names autograd_nn/core/ops/unary.py as the family module"
    before = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    family.write_text(family.read_text() + NEW_ROWS)
    after = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    changed = [k for k in after if before.get(k) != after[k]]
    assert changed == [Path("autograd_nn/core/ops/unary.py")]
    return dest


def _env_for(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    return env


@pytest.fixture(scope="module")
def new_op_results(project_copy):
    proc = subprocess.run([PY, "-W", "error", "-c", OP_SCRIPT], capture_output=True, text=True,
                          cwd=project_copy, env=_env_for(project_copy), timeout=600)
    return last_json(proc)


def test_copy_is_the_one_imported(new_op_results, project_copy):
    assert Path(new_op_results["file"]).resolve().is_relative_to(project_copy.resolve())
    assert Path(new_op_results["course"]).resolve().is_relative_to(project_copy.resolve())


@pytest.mark.parametrize("name", ["cube", "asinh"])
def test_new_row_public_api_generated(new_op_results, name):
    r = new_op_results[name]
    assert r["public"][:3] == [True, True, True]
    assert r["public"][3] and r["public"][3].startswith(
        {"cube": "Cube", "asinh": "Inverse"}[name])
    assert r["forward"]


@pytest.mark.parametrize("name", ["cube", "asinh"])
def test_new_row_gradients(new_op_results, name):
    r = new_op_results[name]
    assert r["grad_vs_fd"] < 1e-7 and r["grad_exact"] < 1e-12 and r["method_grad"] < 1e-12
    assert r["gradcheck"] is True
    assert r["second_vs_fd"] < 1e-5


@pytest.mark.parametrize("name", ["cube", "asinh"])
def test_new_row_under_vmap_and_jvp(new_op_results, name):
    r = new_op_results[name]
    assert r["vmap"] < 1e-12 and r["vmap_grad"] < 1e-12
    assert r["jvp_value"] < 1e-12 and r["jvp_tangent"] < 1e-12 and r["jvp_vs_fd"] < 1e-6


@pytest.mark.parametrize("name", ["cube", "asinh"])
def test_new_row_compiles(new_op_results, name):
    r = new_op_results[name]
    assert r["compile_value"] < 1e-12 and r["compile_grad"] < 1e-12 and r["compile_again"] < 1e-12
    assert r["compile_traces"] == 1
    src = r["compile_source"]
    assert ("** 3" in src) if name == "cube" else ("np.arcsinh(" in src)
    assert "backward of " + name in src


def test_new_row_explained_from_its_rule(new_op_results):
    cube_text = new_op_results["cube"]["explain"]
    assert "cube(x)" in cube_text and "3 * x * x" in cube_text, cube_text
    asinh_text = new_op_results["asinh"]["explain"]
    assert "asinh(x)" in asinh_text and "sqrt(x * x + 1)" in asinh_text, asinh_text


