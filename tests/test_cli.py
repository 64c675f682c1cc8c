"""The `autograd-nn` command: every subcommand end to end, through `main([...])` and through
`python -m autograd_nn` in a subprocess; exit codes 0 / 1 / 2 and their messages."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import pytest

import autograd_nn
from autograd_nn.cli import main

ROOT = pathlib.Path(autograd_nn.__file__).resolve().parent.parent


def run_module(*args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "autograd_nn", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)


# --- in-process --------------------------------------------------------------------------------
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"autograd-nn {autograd_nn.__version__}"


@pytest.mark.parametrize("sub", [[], ["demo"], ["compare"], ["explain"], ["graph"]])
def test_help(sub, capsys):
    assert main([*sub, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: autograd-nn")
    if sub:
        assert f"autograd-nn {sub[0]}" in out


def test_compare_tutorial1_opposite_sign(capsys):
    assert main(["compare", "--tutorial", "1"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.split()[:1] in (["weights1"], ["weights2"])]
    assert len(rows) == 2 and all("opposite sign" in r for r in rows)
    assert "Tutorial 2" not in out


def test_compare_all(capsys):
    assert main(["compare"]) == 0
    out = capsys.readouterr().out
    assert "Tutorial 1" in out and "Tutorial 2" in out
    t2 = out[out.index("Tutorial 2"):]
    rows = [ln for ln in t2.splitlines() if ln.split()[:1] in (["weights1"], ["weights2"])]
    assert len(rows) == 2 and all("constant factor" in r and "N/2 with N=4" in r for r in rows)


def test_explain(capsys):
    assert main(["explain", "--tutorial", "1"]) == 0
    out = capsys.readouterr().out
    assert "dL/dweights1 = X.T @ dL/dz1" in out
    assert "= X.T @ (dL/dh1 * sigmoid'(z1))" in out


def test_graph_dot(tmp_path, capsys):
    out = tmp_path / "t1.dot"
    assert main(["graph", "--tutorial", "1", "--out", str(out), "--color-by", "grad"]) == 0
    text = out.read_text()
    assert text.lstrip().startswith("digraph") and "sigmoid" in text
    assert str(out) in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_svg(tmp_path):
    out = tmp_path / "t2.svg"
    assert main(["graph", "--tutorial", "2", "--out", str(out)]) == 0
    svg = ET.parse(out).getroot()
    assert svg.tag.endswith("svg")
    groups = [g for g in svg.iter() if g.get("class") == "node"]
    assert len(groups) >= 8  # X, W1, matmul, sigmoid, ... of the 2-4-1 network


@pytest.mark.parametrize("argv, needle", [
    (["graph"], "--tutorial"),
    (["graph", "--tutorial", "3"], "invalid choice"),
    (["compare", "--tutorial", "x"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["compare", "--seed", "one"], "invalid int value"),
])
def test_bad_arguments_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and needle in err


def test_runtime_failure_exit_1_one_line(tmp_path, capsys):
    assert main(["graph", "--tutorial", "1", "--out", str(tmp_path / "g.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown format '.jpg'" in err
    assert "Traceback" not in err
    with pytest.raises(RuntimeError):  # --debug lets the exception through
        main(["--debug", "graph", "--tutorial", "1", "--out", str(tmp_path / "g.jpg")])


def _stub(monkeypatch, name, run):
    mod = types.ModuleType(name)
    mod.run = run
    monkeypatch.setitem(sys.modules, name, mod)


def test_demo_orchestration_with_stub_stages(tmp_path, monkeypatch, capsys):
    calls = {}

    def tut_run(out_dir, progress=True):
        calls["tutorials"] = (pathlib.Path(out_dir), progress)
        (pathlib.Path(out_dir) / "tutorial1.txt").write_text("t1")

    def viz_run(out_dir):
        calls["viz"] = pathlib.Path(out_dir)
        (pathlib.Path(out_dir) / "graph.svg").write_text("<svg/>")

    _stub(monkeypatch, "autograd_nn.tutorials.demo", tut_run)
    _stub(monkeypatch, "autograd_nn.viz.demo", viz_run)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert calls["tutorials"] == (out.resolve(), False) and calls["viz"] == out.resolve()
    printed = capsys.readouterr()
    assert f"output folder: {out.resolve()}" in printed.out
    for name in ("compare.txt", "explain.txt", "graph.svg", "tutorial1.txt"):
        assert f"  {name}" in printed.out
    assert printed.err == ""  # --no-progress: nothing on stderr
    assert "opposite sign" in (out / "compare.txt").read_text()
    assert "dL/dweights1 = X.T @ dL/dz1" in (out / "explain.txt").read_text()


def test_demo_stage_failure_exit_1_keeps_other_outputs(tmp_path, monkeypatch, capsys):
    def broken(out_dir, progress=True):
        raise ValueError("no data")

    _stub(monkeypatch, "autograd_nn.tutorials.demo", broken)
    _stub(monkeypatch, "autograd_nn.viz.demo", lambda out_dir: None)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "demo stage tutorials: ValueError: no data" in err and "Traceback" not in err
    assert (out / "compare.txt").exists() and (out / "explain.txt").exists()


# --- through the interpreter, as a user runs it --------------------------------------------------
def test_subprocess_version_compare_and_bad_args(tmp_path):
    r = run_module("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"autograd-nn {autograd_nn.__version__}"
    r = run_module("compare", "--tutorial", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "constant factor" in r.stdout
    r = run_module("graph", "--tutorial", "9", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr and r.stdout == ""
    r = run_module("graph", "--tutorial", "1", "--out", str(tmp_path / "x.bmp"), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("autograd-nn: error:")


def test_subprocess_graph_writes_file(tmp_path):
    r = run_module("graph", "--tutorial", "1", "--out", "g.dot", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.dot").read_text().lstrip().startswith("digraph")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("autograd_nn.viz.demo") is None
    or importlib.util.find_spec("autograd_nn.tutorials.demo") is None,
    reason="the tutorials/graph demo modules are not there yet",
)
def test_subprocess_demo_end_to_end(tmp_path):
    r = run_module("demo", "--out", str(tmp_path / "output"), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "compare.txt" in r.stdout and "explain.txt" in r.stdout
    assert (tmp_path / "output" / "compare.txt").stat().st_size > 0
