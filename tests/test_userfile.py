"""`autograd-nn graph|explain FILE.py:FUNCTION`: the user's own loss, loaded by
autograd_nn.userfile, with one clear error for each way it can be wrong."""

from __future__ import annotations

import sys
import textwrap

import pytest

import autograd_nn as ag
from autograd_nn.cli import main
from autograd_nn.userfile import UserFileError, load_function, load_loss, parse_spec

MODEL = """
import autograd_nn as ag

def loss():
    w = ag.Tensor([[0.5], [-0.3]], requires_grad=True, name="w")
    x = ag.Tensor([[1.0, 2.0]], name="x")
    return ((x @ w).tanh() ** 2).sum()

def with_args(params, X):
    return params

def with_defaults(scale=2.0):
    return loss() * scale

def number():
    return 0.5

def constant():
    return ag.Tensor([1.0]).sum()

def broken():
    return 1 / 0

threshold = 0.5
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_load_loss_calls_the_function(model):
    found = load_loss(f"{model}:loss")
    assert isinstance(found.loss, ag.Tensor) and found.loss.requires_grad
    assert found.function == "loss" and found.path == model
    assert load_loss(f"{model}:with_defaults").loss.requires_grad  # defaults are fine


def test_the_file_may_import_its_neighbours(tmp_path):
    (tmp_path / "helpers.py").write_text("SCALE = 3.0\n")
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        import autograd_nn as ag
        from helpers import SCALE

        def loss():
            return (ag.Tensor([1.0, 2.0], requires_grad=True) * SCALE).sum()
    """))
    before = list(sys.path)
    assert float(load_loss(f"{tmp_path / 'net.py'}:loss").loss) == 9.0
    assert sys.path == before
    sys.modules.pop("helpers", None)


def test_the_file_is_a_module_as_an_import_makes_it(tmp_path):
    (tmp_path / "config_model.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        from dataclasses import dataclass
        import autograd_nn as ag

        @dataclass
        class Config:
            scale: float = 2.0

        def loss():
            return (ag.Tensor([1.0], requires_grad=True) * Config().scale).sum()
    """))
    assert float(load_loss(f"{tmp_path / 'config_model.py'}:loss").loss) == 2.0


@pytest.mark.parametrize("spec, needle", [
    ("model.py", "expected FILE.py:FUNCTION, e.g. path/to/model.py:loss"),
    ("model.py:", "expected FILE.py:FUNCTION"),
    ("model.py:not-a-name", "'not-a-name' is not a Python function name"),
])
def test_bad_spec(spec, needle):
    with pytest.raises(UserFileError, match=needle):
        parse_spec(spec)


@pytest.mark.parametrize("name, needle", [
    ("missing", r"model\.py: no function 'missing' \(the file defines: broken, constant, loss, "
                r"number, with_args, with_defaults\)"),
    ("threshold", r"model\.py:threshold is a float, not a function"),
    ("with_args", r"model\.py:with_args needs arguments \(params, X\); the command calls it "
                  r"with none.*def main\(\): return with_args\(\.\.\.\)"),
])
def test_bad_function(model, name, needle):
    with pytest.raises(UserFileError, match=needle):
        load_function(f"{model}:{name}")


@pytest.mark.parametrize("name, needle", [
    ("number", r"model\.py:number returned float, not a Tensor"),
    ("constant", r"model\.py:constant returned a Tensor without a graph.*requires_grad=True"),
    ("broken", r"model\.py:broken failed: ZeroDivisionError: division by zero"),
])
def test_bad_return(model, name, needle):
    with pytest.raises(UserFileError, match=needle):
        load_loss(f"{model}:{name}")


def test_missing_file_folder_and_failing_import(tmp_path):
    with pytest.raises(UserFileError, match=r"nothere\.py: not found"):
        load_loss(f"{tmp_path / 'nothere.py'}:loss")
    with pytest.raises(UserFileError, match="is a folder, not a file"):
        load_loss(f"{tmp_path}:loss")
    bad = tmp_path / "bad.py"
    bad.write_text("import a_module_that_does_not_exist\n")
    with pytest.raises(UserFileError, match=r"bad\.py: failed while loading: "
                                            r"ModuleNotFoundError"):
        load_loss(f"{bad}:loss")


# --- through the command -------------------------------------------------------------------------
def test_graph_of_your_own_loss(model, tmp_path, capsys):
    out = tmp_path / "net.dot"
    assert main(["graph", f"{model}:loss", "--out", str(out), "--color-by", "grad"]) == 0
    text = out.read_text()
    assert text.lstrip().startswith("digraph") and "tanh" in text
    assert ">w</" in text and ">x</" in text and "model.py:loss" in text
    assert str(out) in capsys.readouterr().out


def test_graph_default_file_is_named_after_the_function(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot`: the failure is one line
    assert main(["graph", f"{model}:loss"]) == 1
    assert "Graphviz" in capsys.readouterr().err
    assert main(["graph", f"{model}:loss", "--out", "loss.dot"]) == 0
    assert (tmp_path / "loss.dot").exists()


def test_explain_your_own_loss(model, capsys):
    assert main(["explain", f"{model}:loss"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model.py:loss: the loss L\n")
    assert "z1 = x @ w" in out and "dL/dw = x.T @ dL/dz1" in out
    assert "Tutorial" not in out


@pytest.mark.parametrize("command", ["graph", "explain"])
def test_errors_are_one_line_naming_file_and_function(command, model, capsys):
    assert main([command, f"{model}:with_args"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"autograd-nn: error: {model}:with_args needs arguments")
    with pytest.raises(RuntimeError) as raised:  # --debug: the traceback, with its cause
        main(["--debug", command, f"{model}:with_args"])
    assert isinstance(raised.value.__cause__, UserFileError)


@pytest.mark.parametrize("command", ["graph", "explain"])
def test_file_and_tutorial_together_is_an_argument_error(command, model, capsys):
    assert main([command, f"{model}:loss", "--tutorial", "1"]) == 2
    err = capsys.readouterr().err
    assert f"usage: autograd-nn {command}" in err and "not both" in err


@pytest.mark.parametrize("command", ["graph", "explain"])
def test_help_shows_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "FILE.py:FUNCTION" in out and f"autograd-nn {command} model.py:loss" in out
    assert "def loss():" in out
