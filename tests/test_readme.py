"""The README's Python examples run as written (in order, in one namespace), its commands run on
the user's own file, and it points at nothing outside the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def run_blocks(path: Path) -> dict:
    namespace: dict = {}
    for block in python_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)  # noqa: S102
    return namespace


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(README)
    printed = capsys.readouterr().out
    assert "27.0" in printed and "18.0" in printed  # the ten-line example's comments hold
    assert float(namespace["value"]) < 0.05  # the functional XOR model learned
    assert set(namespace["grads"]) == {"w", "b", "v", "c"}
    assert (tmp_path / "xor.npz").exists()
    assert (tmp_path / "xor_graph.gv").read_text().lstrip().startswith("digraph")
    assert namespace["report"]["grad"].verdict == "constant factor"
    assert "0.5*mean" in printed  # the factor read as the missing 2 of the square
    assert namespace["tutorial_report"]["weights1"].verdict == "opposite sign"
    assert "opposite sign" in printed
    assert "dL/dw = X.T @ dL/dt1" in printed  # explain with the data named
    assert (tmp_path / "xor_explore.html").read_text().startswith("<!DOCTYPE html>")
    assert namespace["steps"].first_divergence == "z1" and "sigmoid'" in printed
    ag = namespace["ag"]
    np.testing.assert_allclose(namespace["g_clipped"], np.ones(3))  # 3, clipped to 1
    assert namespace["per_example"].shape == (32, 3, 2)
    np.testing.assert_allclose(namespace["Hv"], namespace["H"] @ namespace["v0"], rtol=1e-10)
    np.testing.assert_allclose(namespace["tangent"], namespace["J"] @ namespace["v0"],
                               rtol=1e-12)
    assert namespace["hidden"].grad is not None and namespace["hx"].grad is not None
    np.testing.assert_allclose(ag.grad(ag.grad(lambda x: x**3))(2.0), 12.0)


def test_readme_commands_on_your_own_file_run(tmp_path, monkeypatch, capsys):
    from autograd_nn.cli import main

    text = README.read_text(encoding="utf-8")
    model = next(b for b in python_blocks(README) if b.startswith("# model.py\n"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(model)
    commands = [ln.split("#")[0].strip() for ln in re.findall(r"^autograd-nn .*$", text, re.M)]
    assert len(commands) == 3
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "graph":  # the same command, written as DOT text (no Graphviz needed)
            argv[argv.index("--out") + 1] = "loss.dot"
        assert main(argv) == 0, command
    assert (tmp_path / "loss.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "loss.dot").read_text().lstrip().startswith("digraph")
    assert "dL/dw = x.T @ dL/dz1" in capsys.readouterr().out


def test_readme_points_at_nothing_outside_the_repository():
    text = README.read_text(encoding="utf-8")
    assert "../" not in text and "shared/seeds" not in text
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert len(links) >= 5
    for link in links:
        assert not link.startswith(("http:", "https:")), link
        assert (ROOT / link).exists(), link  # relative to the root, where README.md lives
    for target in ("make demo", "make test", "make notebooks", "make docs",
                   "source .venv/bin/activate", ".venv/bin/python", "pip install -e ."):
        assert target in text, target


def test_readme_your_own_cnn_and_first_run(tmp_path, monkeypatch, capsys):
    """issue 22: the README's "your own CNN" snippet runs (NCHW, float32 throughout), and it
    states honest first-run times and what the set-up installs."""
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(README)
    cnn, images = namespace["cnn"], namespace["images"]
    assert images.shape == (16, 1, 8, 8) and images.dtype == np.float32
    assert cnn[0].weight.shape == (8, 1, 3, 3)  # (out, in, kh, kw), as PyTorch
    assert all(p.dtype == np.float32 for p in cnn.parameters())
    assert namespace["cnn_loss"].dtype == np.float32 and float(namespace["cnn_loss"]) < 1.0
    assert "float32" in capsys.readouterr().out
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "about 20 seconds" not in text
    for fact in ("about 55 seconds", "about 6 minutes", "PyTorch's CPU wheel", "`chromium`",
                 "Graphviz with apt-get when run as root", "are harmless", "NCHW"):
        assert fact in text, fact
