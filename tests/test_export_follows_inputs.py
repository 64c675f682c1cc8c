"""ONNX export never bakes a value computed from an argument in as a constant: detach, no_grad
and integer casts follow the input; NumPy scalar examples are 0-d inputs, Python numbers are
refused by name; constant array outputs; refusals name no pseudo-file; CLI and safetensors
suffix and shape checks."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.cli import main
from autograd_nn.io import SerializationError

pytest.importorskip("onnx", reason="the onnx package (an optional extra) writes models")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a test extra) checks exports")

from autograd_nn.onnx import OnnxExportError  # noqa: E402

ONES = np.ones(2, np.float32)
NEW = np.array([3.0, 1.0], np.float32)


def _outputs(fn, example, new):
    """onnxruntime's outputs of fn exported on `example` and run on `new`, and eager ones."""
    session = ort.InferenceSession(ag.onnx.export(fn, example).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip([i.name for i in session.get_inputs()], new, strict=True)))
    eager = fn(*[ag.Tensor(a) for a in new])
    eager = eager if isinstance(eager, tuple) else (eager,)
    return got, [np.asarray(e.data if isinstance(e, ag.Tensor) else e) for e in eager]


def _no_grad_sum(x):
    with ag.no_grad():
        s = x.sum()
    return x * s


def _int_cast(x):
    return x * (x * 3).astype(np.int64).sum()


def _detach_twice(x):
    return x.detach().detach() * x


def _no_grad_target_step(w, x):
    with ag.no_grad():
        target = (w * x).sum() + 1.0
    g = ag.grad(lambda w: ((w * x).sum() - target) ** 2)(w)
    return w - 0.1 * g


@pytest.mark.parametrize("fn", [_no_grad_sum, _int_cast, _detach_twice, _no_grad_target_step])
def test_values_computed_from_inputs_follow_them(fn):
    n = fn.__code__.co_argcount
    got, eager = _outputs(fn, (ONES,) * n, (NEW, NEW[::-1].copy())[:n])
    for g, e in zip(got, eager, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6)
    assert not np.allclose(got[0], _outputs(fn, (ONES,) * n, (ONES,) * n)[0][0])  # it moved


def test_numpy_scalar_example_is_a_0d_input_of_its_dtype():
    model = ag.onnx.export(lambda s, v: s * v, (np.float64(2.0), ONES))
    s = model.graph.input[0]
    assert s.name == "s" and len(s.type.tensor_type.shape.dim) == 0
    assert s.type.tensor_type.elem_type == onnx_double()
    five = np.asarray(np.float64(5.0))
    got, eager = _outputs(lambda s, v: s * v, (np.float64(2.0), ONES), (five, NEW))
    assert got[0].dtype == eager[0].dtype == np.float64  # as NumPy: a float64 scalar widens
    np.testing.assert_allclose(got[0], [15.0, 5.0])


def onnx_double():
    import onnx
    return onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("number", [1.5, 2, True])
def test_python_number_example_refused_by_name(number):
    with pytest.raises(OnnxExportError, match=r"argument scale holds a Python "
                                              rf"{type(number).__name__}.*np\.asarray"):
        ag.onnx.export(lambda scale, v: v * scale, (number, ONES))


def test_constant_array_output_is_a_graph_output():
    got, eager = _outputs(lambda x: (x * 2.0, np.arange(3, dtype=np.int32)), (ONES,), (NEW,))
    np.testing.assert_array_equal(got[0], [6.0, 2.0])
    np.testing.assert_array_equal(got[1], [0, 1, 2])
    assert got[1].dtype == np.int32
    with pytest.raises(OnnxExportError, match="must return Tensors or arrays.*NoneType"):
        ag.onnx.export(lambda x: (x * 2.0, None), (ONES,))


MODEL = textwrap.dedent("""
    import numpy as np
    from autograd_nn import nn

    def build():
        return nn.MLP([4, 3], dtype=np.float32, rng=0)
""")


def test_cli_suffix_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    assert main(["export", "model.py:build", "--to", "torch", "--out", "m.npz"]) == 1
    assert "--to torch writes .pt or .pth or .safetensors files, not .npz" in \
        capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()
    assert main(["export", "model.py:build", "--to", "safetensors", "--out", "M.SAFETENSORS"]) == 0
    want = ag.nn.MLP([4, 3], dtype=np.float32, rng=0).state_dict()
    got = ag.load(tmp_path / "M.SAFETENSORS")  # read as safetensors, not as .npz
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], np.asarray(want[k].data if isinstance(
            want[k], ag.Tensor) else want[k]))


def _raw(path, header):
    hb = json.dumps(header).encode()
    path.write_bytes(len(hb).to_bytes(8, "little") + hb)


@pytest.mark.parametrize("shape", [[2 ** 62, 4, 0], [2 ** 63, 0], [1] * 65])
def test_safetensors_shapes_numpy_cannot_hold_refused(tmp_path, shape):
    p = tmp_path / "big.safetensors"
    _raw(p, {"a": {"dtype": "U8", "shape": shape, "data_offsets": [0, 0 if 0 in shape else 1]}})
    if 0 not in shape:
        p.write_bytes(p.read_bytes() + b"\0")
    with pytest.raises(SerializationError, match=r"big\.safetensors.*'a'"):
        ag.load(p)
