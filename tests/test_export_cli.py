"""`autograd-nn export FILE.py:FUNCTION --to onnx|safetensors|torch`: each format written and
read back by what reads it (onnxruntime, ag.load, PyTorch), and the refusals' messages."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.cli import main

MODEL = textwrap.dedent("""
    import numpy as np
    from autograd_nn import nn

    def build():
        model = nn.MLP([4, 16, 3], dtype=np.float32, rng=0)
        return model, (np.zeros((2, 4), np.float32),)

    def only_model():
        return nn.MLP([4, 16, 3], dtype=np.float32, rng=0)

    def weights():
        return {"w": np.arange(6.0).reshape(2, 3)}
""")
X = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    return tmp_path


def _ours():
    return nn.MLP([4, 16, 3], dtype=np.float32, rng=0)


def test_export_onnx_runs_in_onnxruntime(model_file, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a test extra)")
    pytest.importorskip("onnx", reason="the onnx package (an optional extra)")
    assert main(["export", "model.py:build", "--to", "onnx"]) == 0
    assert "build.onnx: inputs x(2, 4);" in capsys.readouterr().out
    session = ort.InferenceSession(str(model_file / "build.onnx"),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": X})[0], _ours()(X).data, rtol=0,
                               atol=1e-5)


def test_export_safetensors_loads_back(model_file, capsys):
    assert main(["export", "model.py:only_model", "--to", "safetensors", "--out",
                 "m.safetensors"]) == 0
    assert "m.safetensors: 4 tensors" in capsys.readouterr().out
    loaded, meta = ag.load(model_file / "m.safetensors", with_metadata=True)
    assert meta == {"producer": "autograd_nn"}
    fresh = nn.MLP([4, 16, 3], dtype=np.float32, rng=1)
    fresh.load_state_dict(loaded)
    np.testing.assert_array_equal(fresh(X).data, _ours()(X).data)
    assert main(["export", "model.py:weights", "--to", "safetensors"]) == 0
    np.testing.assert_array_equal(ag.load(model_file / "weights.safetensors")["w"],
                                  np.arange(6.0).reshape(2, 3))


def test_export_torch_loads_in_pytorch(model_file, capsys):
    torch = pytest.importorskip("torch", reason="PyTorch (a test extra)")
    assert main(["export", "model.py:build", "--to", "torch"]) == 0
    state = torch.load(model_file / "build.pt", weights_only=True)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    theirs.load_state_dict(state, strict=True)
    with torch.no_grad():
        got = theirs(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, _ours()(X).data, rtol=0, atol=1e-6)
    assert main(["export", "model.py:build", "--to", "torch", "--out", "t.safetensors"]) == 0
    assert ag.load(model_file / "t.safetensors")["2.weight"].shape == (3, 16)  # PyTorch's layout


def test_export_refusals(model_file, capsys):
    assert main(["export", "model.py:only_model", "--to", "onnx"]) == 1
    assert "returned MLP; for --to onnx it returns (model, example_args)" in \
        capsys.readouterr().err
    assert main(["export", "model.py:weights", "--to", "torch"]) == 1
    assert "returned dict; for --to torch it returns a Module" in capsys.readouterr().err
    assert main(["export", "model.py:nothing", "--to", "torch"]) == 1
    assert "no function 'nothing'" in capsys.readouterr().err
    assert main(["export", "model.py:build", "--to", "zip"]) == 2
    assert main(["export", "model.py:build", "--to", "onnx", "--out", "no/such/m.onnx"]) == 1
    assert "folder no/such does not exist" in capsys.readouterr().err


def test_export_help(capsys):
    assert main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: autograd-nn export") and "--to {onnx,safetensors,torch}" in out


def test_readme_section_runs(tmp_path, monkeypatch, capsys):
    """The README's examples of each direction run as written and say what they claim."""
    pytest.importorskip("torch", reason="PyTorch (a test extra)")
    pytest.importorskip("onnxruntime", reason="onnxruntime (a test extra)")
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Take a model elsewhere"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 3 and all(len(b.splitlines()) <= 10 for b in blocks)
    monkeypatch.chdir(tmp_path)
    namespace = {"np": np, "ag": ag}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    torch_diff, onnx_diff = (float(v) for v in capsys.readouterr().out.split())
    assert torch_diff < 1e-6 and onnx_diff < 1e-5
    assert namespace["meta"] == {"note": "4-16-3"}
    assert (tmp_path / "mlp.onnx").exists()
