"""The digits CNN: >= 98.5% held-out accuracy with fast settings, its state dict runs the same
in PyTorch, and its graph can be drawn (modules collapsed) and explained."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("sklearn")

import autograd_nn as ag  # noqa: E402
from autograd_nn_course import digits_cnn  # noqa: E402

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.py"


@pytest.fixture(scope="module")
def trained():
    return digits_cnn.train(epochs=8, seed=0)


def test_held_out_accuracy_with_fast_settings(trained):
    assert trained.test_accuracy >= 0.985, trained.history
    assert len(trained.history["test_accuracy"]) == 8


def test_the_state_dict_runs_the_same_in_pytorch(trained):
    torch = pytest.importorskip("torch")
    tn = torch.nn
    c1, c2 = 16, 32
    theirs = tn.Sequential(tn.Conv2d(1, c1, 3, padding=1), tn.BatchNorm2d(c1), tn.ReLU(),
                           tn.Conv2d(c1, c2, 3, padding=1), tn.BatchNorm2d(c2), tn.ReLU(),
                           tn.MaxPool2d(2), tn.Flatten(), tn.Dropout(0.25), tn.Linear(c2 * 16, 10))
    state = {k: torch.tensor(v) for k, v in trained.model.state_dict().items()}
    state["9.weight"] = state["9.weight"].T  # ag's Linear stores (in, out), PyTorch's (out, in)
    theirs.load_state_dict(state)
    _, x_test, _, _ = digits_cnn.load_images()
    model = trained.model.eval()
    ours = model(x_test).data
    with torch.no_grad():
        reference = theirs.eval()(torch.tensor(x_test)).numpy()
    model.train()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)  # float32 sums
    assert (ours.argmax(1) == reference.argmax(1)).mean() == 1.0


def test_graph_draws_with_modules_collapsed_and_explains(trained):
    x, _, y, _ = digits_cnn.load_images()
    loss = ag.nn.functional.cross_entropy(trained.model(x[:4]), y[:4])
    dot = ag.draw_graph(loss, max_depth=1).source
    for layer in ("Conv2d", "BatchNorm2d", "MaxPool2d", "Linear"):
        assert layer in dot, layer
    assert "component" in dot  # collapsed modules are drawn as boxes
    text = str(ag.explain(loss))
    assert "conv2d(" in text and "max_pool2d(" in text and "conv_transpose2d(" in text


def test_shifted_images_stay_images():
    x, _, _, _ = digits_cnn.load_images()
    shifted = digits_cnn.shift_batch(x[:50], np.random.default_rng(0))
    assert shifted.shape == (50, 1, 8, 8) and shifted.dtype == x.dtype
    np.testing.assert_allclose(shifted.sum(axis=(1, 2, 3)) <= x[:50].sum(axis=(1, 2, 3)) + 1e-6,
                               True)


def test_the_example_script_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("digits_cnn_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    numbers = module.main(tmp_path, epochs=1, seed=0)
    assert 0.5 < numbers["test_accuracy"] <= 1.0
    assert "digraph" in (tmp_path / "digits_cnn_graph.dot").read_text()
    assert "conv2d" in (tmp_path / "digits_cnn_explain.txt").read_text()
