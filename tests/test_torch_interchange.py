"""ag.io.from_torch / to_torch: every shared layer through PyTorch both ways, strict loads, equal
outputs (1e-6 in float32, 1e-12 in float64), and refusals that name what cannot be mapped."""

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.io import InterchangeError

torch = pytest.importorskip("torch", reason="PyTorch (a test extra) checks the interchange")
tnn = torch.nn

TOL = {np.float32: 1e-6, np.float64: 1e-12}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _pairs(dtype):
    """(our layer, PyTorch's, an input) for every layer type both have."""
    rng = np.random.default_rng(0)

    def x(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return {
        "linear_square": (nn.Linear(4, 4, dtype=dtype), tnn.Linear(4, 4), x(3, 4)),
        "linear": (nn.Linear(5, 3, dtype=dtype), tnn.Linear(5, 3), x(2, 5)),
        "conv2d": (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=dtype),
                   tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), x(2, 4, 7, 7)),
        "conv_transpose2d": (
            nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1, dtype=dtype),
            tnn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), x(2, 3, 5, 5)),
        "batchnorm2d": (nn.BatchNorm2d(3, dtype=dtype), tnn.BatchNorm2d(3), x(4, 3, 2, 2)),
        "batchnorm1d": (nn.BatchNorm1d(5, dtype=dtype), tnn.BatchNorm1d(5), x(6, 5)),
        "layernorm": (nn.LayerNorm((2, 5), dtype=dtype), tnn.LayerNorm((2, 5)), x(3, 2, 5)),
        "groupnorm": (nn.GroupNorm(2, 4, dtype=dtype), tnn.GroupNorm(2, 4), x(2, 4, 3)),
        "embedding": (nn.Embedding(7, 3, dtype=dtype), tnn.Embedding(7, 3),
                      np.array([[0, 6, 2], [1, 1, 5]])),
        "mlp": (nn.MLP([4, 8, 8, 2], dtype=dtype),
                tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Linear(8, 8), tnn.ReLU(),
                               tnn.Linear(8, 2)), x(3, 4)),
        "sequential_cnn": (
            nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=dtype),
                          nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16, 3, dtype=dtype)),
            tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
                           tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(16, 3)), x(2, 1, 4, 4)),
    }


def _torch_ready(module, dtype, x):
    """PyTorch's module in `dtype`, its weights random and its running statistics moved (so a
    mix-up of any tensor shows in the outputs), in eval mode."""
    module.to(TORCH_DTYPE[dtype])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 + 0.1)
    if any(isinstance(m, tnn.modules.batchnorm._BatchNorm) for m in module.modules()):
        module.train()
        with torch.no_grad():
            for _ in range(3):
                module(torch.from_numpy(x) * 2 + 1)
    module.eval()
    return module


def _outputs(ours, theirs, x):
    ours.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    with ag.no_grad():
        got = ours(x).data
    return got, expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(_pairs(np.float32)))
def test_from_torch_then_to_torch(name, dtype):
    ours, theirs, x = _pairs(dtype)[name]
    theirs = _torch_ready(theirs, dtype, x)
    result = ours.load_state_dict(ag.io.from_torch(theirs.state_dict(), ours), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    got, expected = _outputs(ours, theirs, x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL[dtype] * max(1, abs(expected).max()))
    # and back: a fresh PyTorch module loads ours strictly and agrees
    fresh = _pairs(dtype)[name][1].to(TORCH_DTYPE[dtype]).eval()
    fresh.load_state_dict(ag.io.to_torch(ours), strict=True)
    with torch.no_grad():
        again = fresh(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(again, expected)
    for key, value in fresh.state_dict().items():
        assert value.dtype == theirs.state_dict()[key].dtype, key


def test_to_torch_from_our_trained_batchnorm_keeps_counts():
    ours = nn.BatchNorm2d(3)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2))
    for _ in range(2):
        ours(x)
    state = ag.io.to_torch(ours)
    assert int(state["num_batches_tracked"]) == 2 and state["num_batches_tracked"].shape == ()
    theirs = tnn.BatchNorm2d(3).double()
    theirs.load_state_dict(state, strict=True)
    np.testing.assert_array_equal(theirs.running_var.numpy(), ours.running_var.data)


def test_square_linear_in_torch_layout_is_transposed_not_loaded_as_is():
    theirs = tnn.Linear(3, 3).double()
    ours = nn.Linear(3, 3)
    with pytest.raises(TypeError, match="'weight' is a PyTorch tensor.*ag.io.from_torch"):
        ours.load_state_dict(theirs.state_dict())
    mapped = ag.io.from_torch(theirs.state_dict(), ours)
    np.testing.assert_array_equal(mapped["weight"], theirs.weight.detach().numpy().T)


def test_dtype_changes_refused_by_name():
    ours = nn.Linear(2, 3, dtype=np.float32)
    with pytest.raises(InterchangeError, match=r"weight: dtype float64 \(from 'weight'\) but the "
                                               "model has float32"):
        ag.io.from_torch(tnn.Linear(2, 3).double().state_dict(), ours)
    with pytest.raises(ValueError, match="weight: dtype mismatch, the model has float32 but "
                                         "the dict has float64"):
        ours.load_state_dict({k: v.astype(np.float64) for k, v in ours.state_dict().items()})
    assert ours.weight.dtype == np.float32


def test_missing_extra_and_unmappable_keys_named():
    ours = nn.MLP([2, 3, 1])
    theirs = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1)).double()
    state = dict(theirs.state_dict())
    del state["2.bias"]
    state["9.weight"] = torch.zeros(1)
    with pytest.raises(InterchangeError) as err:
        ag.io.from_torch(state, ours)
    assert "layers.1.bias: PyTorch's key '2.bias' is missing" in str(err.value)
    assert "['9.weight']" in str(err.value)
    partial = ag.io.from_torch(state, ours, strict=False)
    assert sorted(partial) == ["layers.0.bias", "layers.0.weight", "layers.1.weight"]
    assert sorted(ag.io.to_torch(ours, mlp="same")) == ["layers.0.bias", "layers.0.weight",
                                                        "layers.1.bias", "layers.1.weight"]

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones((2, 2)))
            self.inner = nn.Linear(2, 2)

    with pytest.raises(InterchangeError, match="w: held by a Custom, which has no PyTorch "
                                               "counterpart.*same_layout=\\(Custom,\\)"):
        ag.io.to_torch(Custom())
    assert sorted(ag.io.to_torch(Custom(), same_layout=(Custom,))) == \
        ["inner.bias", "inner.weight", "w"]


def test_bfloat16_refused_by_name():
    theirs = tnn.Linear(2, 2).to(torch.bfloat16)
    with pytest.raises(InterchangeError, match="PyTorch dtype torch.bfloat16 has no NumPy type"):
        ag.io.from_torch(theirs.state_dict(), nn.Linear(2, 2, dtype=np.float32))


@pytest.mark.parametrize("name", list(_pairs(np.float32)))
def test_through_safetensors_files_both_ways(name, tmp_path):
    """PyTorch's safetensors file -> ours, and ours (PyTorch's layout) -> PyTorch, per layer."""
    st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package")
    ours, theirs, x = _pairs(np.float32)[name]
    theirs = _torch_ready(theirs, np.float32, x)
    st_torch.save_file(theirs.state_dict(), str(tmp_path / "theirs.safetensors"))
    ours.load_state_dict(ag.io.from_torch(ag.load(tmp_path / "theirs.safetensors"), ours))
    got, expected = _outputs(ours, theirs, x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * max(1, abs(expected).max()))
    ag.save(tmp_path / "ours.safetensors", ag.io.to_torch(ours, tensors=False))
    fresh = _pairs(np.float32)[name][1].eval()
    fresh.load_state_dict(st_torch.load_file(str(tmp_path / "ours.safetensors")), strict=True)
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(torch.from_numpy(x)).numpy(), expected)


def test_nested_mlp_names_follow_pytorch_sequential():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.MLP([3, 5, 2])
            self.norm = nn.LayerNorm(2)

        def forward(self, x):
            return self.norm(self.encoder(x))

    class TorchNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = tnn.Sequential(tnn.Linear(3, 5), tnn.ReLU(), tnn.Linear(5, 2))
            self.norm = tnn.LayerNorm(2)

        def forward(self, x):
            return self.norm(self.encoder(x))

    ours, theirs = Net(), TorchNet().double()
    assert sorted(ag.io.to_torch(ours)) == sorted(theirs.state_dict())
    ours.load_state_dict(ag.io.from_torch(theirs.state_dict(), ours))
    x = np.random.default_rng(3).standard_normal((4, 3))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x).data, expected, rtol=0, atol=1e-12)
