"""The `autograd-nn` command: every subcommand end to end, through `main([...])` and through
`python -m autograd_nn` in a subprocess; exit codes 0 / 1 / 2 and their messages."""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from pictures import png_size, svg_nodes

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
    target = str(tmp_path / "missing" / "g.svg")
    assert main(["graph", "--tutorial", "1", "--out", target]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "missing" in err
    assert "Traceback" not in err
    with pytest.raises(RuntimeError):  # --debug lets the exception through
        main(["--debug", "graph", "--tutorial", "1", "--out", target])
    with pytest.raises(RuntimeError):  # ... also when given after the command
        main(["graph", "--tutorial", "1", "--out", target, "--debug"])


@pytest.mark.parametrize("argv, needles", [
    (["graph", "--tutorial", "1", "--seed", "-5"], ["argument --seed", ">= 0", "-5"]),
    (["compare", "--seed", "-1"], ["argument --seed", ">= 0"]),
    (["explain", "--seed", "-2"], ["argument --seed", ">= 0"]),
    (["graph", "--tutorial", "1", "--out", "picture"],
     ["argument --out", "no file suffix", ".svg, .png, .pdf, .dot"]),
    (["graph", "--tutorial", "1", "--out", "g.jpg"],
     ["argument --out", "unknown format '.jpg'", ".svg, .png, .pdf, .dot"]),
])
def test_bad_seed_and_graph_file_are_argument_errors(argv, needles, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and all(n in err for n in needles), err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_demo_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    assert main(["demo", "--out", str(target), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and str(target) in err and err.count("\n") == 1
    assert target.read_text() == "keep me"


def test_debug_flag_after_the_command_parses():
    from autograd_nn.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["compare", "--debug"]).debug is True
    assert parser.parse_args(["--debug", "compare"]).debug is True
    assert parser.parse_args(["compare"]).debug is False


class _Stream(io.StringIO):
    """stderr that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _progress_text(monkeypatch, tty: bool):
    from autograd_nn import cli

    stream = _Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    progress = cli._Progress(2, enabled=True)
    progress.start("one")
    progress.step()
    progress.close()
    return progress, stream.getvalue()


def test_progress_lines_off_a_terminal_and_without_tqdm(monkeypatch):
    # a log gets one plain line per stage, no bar redraws
    progress, text = _progress_text(monkeypatch, tty=False)
    assert progress.bar is None and text == "[1/2] one ...\n"
    # so does a terminal when tqdm is not installed
    monkeypatch.setitem(sys.modules, "tqdm", None)
    progress, text = _progress_text(monkeypatch, tty=True)
    assert progress.bar is None and text == "[1/2] one ...\n"


def test_progress_bar_on_a_terminal_with_tqdm(monkeypatch):
    pytest.importorskip("tqdm")
    progress, text = _progress_text(monkeypatch, tty=True)
    assert progress.bar is not None and "demo" in text


def test_digits_progress_bar_disabled_off_a_terminal(monkeypatch):
    tqdm_mod = pytest.importorskip("tqdm")
    pytest.importorskip("sklearn")
    from autograd_nn_course import digits

    seen = {}
    real = tqdm_mod.tqdm

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tqdm_mod, "tqdm", spy)
    digits.train(epochs=1, progress=True)
    assert seen["disable"] is None  # tqdm: bar only when the stream is a terminal
    digits.train(epochs=1, progress=False)
    assert seen["disable"] is True


def test_graph_labels_inputs_and_loss_like_explain(tmp_path, capsys):
    out = tmp_path / "t1.dot"
    assert main(["graph", "--tutorial", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for name in ("X", "Y", "L", "z1", "h1", "z2", "h2", "weights1", "weights2"):
        assert f">{name}</" in text, name
    capsys.readouterr()
    assert main(["explain", "--tutorial", "1"]) == 0
    explained = capsys.readouterr().out
    for name in ("X", "Y", "z1", "h1", "z2", "h2"):
        assert name in explained
    assert "dL/dweights1" in explained


def _stub_stages(monkeypatch, tutorials, pictures):
    from autograd_nn_course import demo

    monkeypatch.setattr(demo, "write_tutorials", tutorials)
    monkeypatch.setattr(demo, "write_pictures", pictures)


def test_demo_orchestration_with_stub_stages(tmp_path, monkeypatch, capsys):
    calls = {}

    def tut_run(out_dir, progress=True):
        calls["tutorials"] = (pathlib.Path(out_dir), progress)
        (pathlib.Path(out_dir) / "tutorial1.txt").write_text("t1")

    def viz_run(out_dir):
        calls["viz"] = pathlib.Path(out_dir)
        (pathlib.Path(out_dir) / "graph.svg").write_text("<svg/>")

    _stub_stages(monkeypatch, tut_run, viz_run)
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

    _stub_stages(monkeypatch, broken, lambda out_dir: None)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "demo stage tutorials: ValueError: no data" in err and "Traceback" not in err
    assert (out / "compare.txt").exists() and (out / "explain.txt").exists()


def test_demo_run_is_every_stage_in_order(tmp_path, monkeypatch):
    from autograd_nn_course import demo

    for name in ("write_tutorials", "write_pictures", "write_compare", "write_explain"):
        monkeypatch.setattr(demo, name, lambda out, *a, name=name: [out / name])
    out = tmp_path / "new"
    assert demo.run(out, progress=False) == [
        out / "write_tutorials", out / "write_pictures", out / "write_compare",
        out / "write_explain",
    ]
    assert out.is_dir()
    assert [label for label, _ in demo.stages(out)] == [
        "tutorials", "graph pictures", "comparison reports", "chain-rule explanations",
    ]


def test_cli_tutorials_are_the_courses():
    from autograd_nn import cli
    from autograd_nn_course import reports

    assert cli.TUTORIALS == reports.TUTORIALS


# --- the demo's graph pictures (moved from test_viz_render.py with the demo) -------------------


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_demo_writes_svg_and_png(tmp_path):
    from autograd_nn_course import demo

    paths = demo.write_pictures(tmp_path)
    assert len(paths) == 6
    for p in paths:
        assert p.exists() and p.parent == tmp_path
        if p.suffix == ".svg":
            nodes = svg_nodes(p.read_text(encoding="utf-8"))
            assert any(k.endswith("v0") for k in nodes)
        else:
            w, h = png_size(p.read_bytes())
            assert 300 < w < 5000 and 300 < h < 5000
    flow = (tmp_path / "tutorial2_gradient_flow.svg").read_text(encoding="utf-8")
    assert "Network" in flow and "FixedNetwork" in flow


def test_demo_pictures_use_explains_names():
    from autograd_nn.viz.model import Span
    from autograd_nn_course import demo

    pics = demo.pictures()
    for stem in ("tutorial1_graph_before", "tutorial2_gradient_flow"):
        titles = {n.lines[0].spans for n in pics[stem].model.all_nodes() if n.kind != "op"}
        for name in ("X", "Y", "L", "z1", "h1", "weights1"):
            assert any(spans == (Span(name, bold=True),) or spans == (Span(name, italic=True),)
                       for spans in titles), (stem, name)


# --- through the interpreter, as a user runs it --------------------------------------------------
def test_subprocess_version_compare_and_bad_args(tmp_path):
    r = run_module("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"autograd-nn {autograd_nn.__version__}"
    r = run_module("compare", "--tutorial", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "constant factor" in r.stdout
    r = run_module("graph", "--tutorial", "9", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr and r.stdout == ""
    r = run_module("graph", "--tutorial", "1", "--out", str(tmp_path / "no" / "x.svg"),
                   cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("autograd-nn: error:")


def test_subprocess_graph_writes_file(tmp_path):
    r = run_module("graph", "--tutorial", "1", "--out", "g.dot", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.dot").read_text().lstrip().startswith("digraph")


def _demo_files() -> list[str]:
    """What `make demo` writes; the pictures are DOT text (.gv) when `dot` is missing."""
    formats = ("svg", "png") if shutil.which("dot") else ("gv",)
    return sorted([
        "compare.txt", "explain.txt", "digits.txt", "digits_curves.png",
        "tutorial1.txt", "tutorial1_loss.png", "tutorial2.txt", "tutorial2_xor_loss.png",
        *(f"{stem}.{fmt}" for stem in ("tutorial1_graph_before", "tutorial1_graph_after",
                                       "tutorial2_gradient_flow") for fmt in formats),
    ])


@pytest.mark.slow
def test_subprocess_demo_end_to_end(tmp_path):
    r = run_module("demo", "--out", str(tmp_path / "output"), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "compare.txt" in r.stdout and "explain.txt" in r.stdout
    assert (tmp_path / "output" / "compare.txt").stat().st_size > 0
    files = _demo_files()
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == files
    assert f"{len(files)} files written" in r.stdout


def test_installed_console_script_runs(tmp_path):
    # `make test` installs the package into .venv, which puts `autograd-nn` beside the interpreter.
    script = pathlib.Path(sys.executable).with_name("autograd-nn")
    if not script.exists():
        pytest.skip("the package is not installed with its console script in this environment")
    r = subprocess.run([str(script), "compare", "--tutorial", "1"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "opposite sign" in r.stdout
    r = subprocess.run([str(script), "nonsense"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_compile_prints_handwritten_and_generated_backprop(capsys):
    assert main(["compile", "--tutorial", "1"]) == 0
    out = capsys.readouterr().out
    assert "d_weights2 = np.dot(self.layer1.T" in out  # the tutorial's own line
    assert "d_weights1 = X.T @ d_z1" in out and "d_z2 = d_h2 * h2 * (1.0 - h2)" in out
    assert "SpecialisationError" not in out  # argument checks left out of the listing
    assert main(["compile", "--tutorial", "2"]) == 0
    out = capsys.readouterr().out
    assert "delta2 = (y_pred - y)" in out and "0.25 * t1" in out


# --- the demo without Graphviz: DOT text, said so, no stale pictures -----------------------------
PICTURE_STEMS = ("tutorial1_graph_before", "tutorial1_graph_after", "tutorial2_gradient_flow")


def test_demo_without_graphviz_says_what_it_wrote_and_removes_stale_pictures(
        tmp_path, monkeypatch, capsys):
    from autograd_nn_course import demo

    out = tmp_path / "out"
    out.mkdir()
    for stem in PICTURE_STEMS:  # pictures from an earlier run that had Graphviz
        (out / f"{stem}.svg").write_text("<svg/>")
        (out / f"{stem}.png").write_bytes(b"old")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the demo looks `dot` up on PATH
    assert not demo.have_dot()
    monkeypatch.setattr(demo, "write_tutorials", lambda out_dir, progress=True: [])
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["compare.txt", "explain.txt", *(f"{stem}.gv" for stem in PICTURE_STEMS)])
    assert (out / "tutorial2_gradient_flow.gv").read_text().lstrip().startswith("digraph")
    printed = capsys.readouterr().out
    assert "6 stale files from an earlier run removed:" in printed
    assert "  tutorial1_graph_after.png" in printed
    assert "`dot` was not found" in printed and "DOT text (*.gv)" in printed
    assert f"dot -Tsvg {out.resolve() / 'tutorial2_gradient_flow'}.gv -o " in printed
    assert "sudo apt-get install graphviz" in printed
    assert f"open first: {out.resolve() / 'compare.txt'}" in printed


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_demo_with_graphviz_removes_dot_text_of_an_earlier_run(tmp_path):
    from autograd_nn_course import demo

    for stem in PICTURE_STEMS:
        (tmp_path / f"{stem}.gv").write_text("digraph {}")
    demo.write_pictures(tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".png"] * 3 + [".svg"] * 3
    assert "tutorial2_gradient_flow.svg" in demo.notes(tmp_path)[0]


USER_MODEL = '''import numpy as np
import autograd_nn as ag


def loss():
    w = ag.Tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    x = ag.Tensor([[1.0, 2.0]], name="x")
    return ((x @ w).tanh() ** 2).sum()


def backprop(slip=False):
    w = ag.Tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    x = np.array([[1.0, 2.0]])
    h = np.tanh(x @ w.data)
    d_z1 = 2 * h if slip else 2 * h * (1 - h ** 2)
    return ((ag.Tensor(x, name="x") @ w).tanh() ** 2).sum(), {"z1": d_z1, "w": x.T @ d_z1}


def slipped():
    return backprop(slip=True)


def ascent():
    loss, yours = backprop()
    return loss, {k: -v for k, v in yours.items()}
'''


def test_compare_and_compile_take_your_file(tmp_path, capsys):
    """issue 22: `compare` and `compile` take FILE.py:FUNCTION as graph and explain do."""
    model = tmp_path / "model.py"
    model.write_text(USER_MODEL, encoding="utf-8")
    assert main(["compile", f"{model}:loss"]) == 0
    out = capsys.readouterr().out
    assert "the backprop ag.compile writes for it" in out
    assert "z1 = x @ w  # (1, 1) float64\n" in out and "h1 = np.tanh(z1)" in out
    assert "d_z1 = 2.0 * h1 * (1.0 - h1 * h1)  # (1, 1) float64  backward of tanh\n" in out
    assert "d_w = x.T @ d_z1" in out and "SpecialisationError" not in out
    assert main(["compare", f"{model}:backprop"]) == 0
    out = capsys.readouterr().out
    assert "your gradients against autograd's" in out and "all 2 given gradients agree" in out
    assert main(["compare", f"{model}:slipped"]) == 1  # a wrong gradient: a failing status
    assert "first divergence: z1" in capsys.readouterr().out
    assert main(["compare", f"{model}:ascent"]) == 0  # every sign flipped: a convention
    assert "convention" in capsys.readouterr().out
    # what compare needs is said; FILE and --tutorial together are refused as for graph
    assert main(["compare", f"{model}:loss"]) == 1
    assert "returns (loss, yours)" in capsys.readouterr().err
    assert main(["compile", f"{model}:loss", "--tutorial", "1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["compile", f"{model}:nothere"]) == 1
    assert "no function 'nothere'" in capsys.readouterr().err
    # without a target, both still default to every tutorial
    assert main(["compile"]) == 0
    out = capsys.readouterr().out
    assert "Tutorial 1" in out and "Tutorial 2" in out


def test_graph_without_dot_suggests_dot_text_and_one_install_command_per_line(
        tmp_path, monkeypatch, capsys):
    """issue 22: at the shell, a missing `dot` gives the same command with --out x.dot and one
    install command per line, and says nothing of `.source` (a Python attribute)."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` anywhere
    model = tmp_path / "model.py"
    model.write_text(USER_MODEL, encoding="utf-8")
    out = tmp_path / "net.svg"
    assert main(["graph", f"{model}:loss", "--out", str(out), "--color-by", "grad"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == f"autograd-nn: error: rendering {out} needs Graphviz's `dot` program, " \
                       "which is not on PATH."
    assert f"  autograd-nn graph {model}:loss --out {tmp_path / 'net.dot'} --color-by grad" \
        in lines
    for command in ("sudo apt-get install graphviz", "sudo dnf install graphviz",
                    "brew install graphviz", "conda install -c conda-forge graphviz",
                    "winget install graphviz"):
        (line,) = [ln for ln in lines if command in ln]
        assert line.startswith("  ")
    assert ".source" not in err and not out.exists()
    assert main(["graph", "--tutorial", "1", "--out", str(tmp_path / "t1.png")]) == 1
    assert f"graph --tutorial 1 --out {tmp_path / 't1.dot'}\n" in capsys.readouterr().err
    # the suggested command works without Graphviz
    assert main(["graph", f"{model}:loss", "--out", str(tmp_path / "net.dot")]) == 0
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
