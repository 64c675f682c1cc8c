"""The digits example: a real dataset, >= 97% held-out accuracy on a fixed seed, and its plot."""

from __future__ import annotations

import importlib.util
import pathlib
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from autograd_nn_course import digits  # noqa: E402

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "digits_mlp.py"


def _numpy_eval(state: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    """Cross-entropy and accuracy of the 64-128-10 ReLU MLP, recomputed in plain NumPy."""
    h = np.maximum(x @ state["layers.0.weight"] + state["layers.0.bias"], 0)
    logits = h @ state["layers.1.weight"] + state["layers.1.bias"]
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(y)), y]), np.mean(np.argmax(logits, axis=1) == y)


def test_split_is_stratified_and_standardised_on_train_only():
    from sklearn.datasets import load_digits

    x_train, x_test, y_train, y_test = digits.load_data()
    n = len(load_digits().target)
    assert len(x_test) == int(np.ceil(0.2 * n)) and len(x_train) + len(x_test) == n
    all_counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    np.testing.assert_allclose(np.bincount(y_test, minlength=10), 0.2 * all_counts, atol=1)
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-12)
    varying = x_train.std(axis=0) > 0
    np.testing.assert_allclose(x_train.std(axis=0)[varying], 1.0, rtol=1e-12)
    assert np.max(np.abs(x_test.mean(axis=0))) > 0.01  # test statistics were not used
    assert y_train.dtype == np.int64 and x_train.dtype == np.float64


def test_reaches_97_percent_on_held_out_digits_quickly():
    start = time.perf_counter()
    result = digits.train(seed=0, progress=False)
    elapsed = time.perf_counter() - start
    assert result.test_accuracy >= 0.97
    assert elapsed < 60
    # the recorded numbers agree with an independent NumPy evaluation of the final weights
    x_train, x_test, y_train, y_test = digits.load_data()
    state = result.model.state_dict()
    test_loss, test_acc = _numpy_eval(state, x_test, y_test)
    train_loss, train_acc = _numpy_eval(state, x_train, y_train)
    assert test_acc == pytest.approx(result.test_accuracy, abs=1e-12)
    assert train_acc == pytest.approx(result.train_accuracy, abs=1e-12)
    assert result.history["test_loss"][-1] == pytest.approx(test_loss, rel=1e-10)
    assert result.history["train_loss"][-1] == pytest.approx(train_loss, rel=1e-10)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_same_seed_same_result():
    a = digits.train(epochs=2, seed=3, progress=False)
    b = digits.train(epochs=2, seed=3, progress=False)
    assert a.history == b.history


def test_example_main_writes_the_curves(tmp_path):
    spec = importlib.util.spec_from_file_location("digits_mlp_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(tmp_path / "out", epochs=3, seed=0, progress=False)
    png = res["plot"]
    assert png == tmp_path / "out" / "digits_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["epochs"] == 3 and res["n_test"] == 360
    assert 0.5 < res["test_accuracy"] <= 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs and batch_size"):
        digits.train(epochs=0, progress=False)


def test_demo_writes_text_and_plots(tmp_path):
    from autograd_nn_course import demo, tutorial1

    (tmp_path / "demo").mkdir()
    start = time.perf_counter()
    paths = demo.write_tutorials(tmp_path / "demo", progress=False)
    assert time.perf_counter() - start < 60
    names = sorted(p.name for p in paths)
    assert names == sorted([
        "tutorial1.txt", "tutorial1_loss.png", "tutorial2.txt", "tutorial2_xor_loss.png",
        "digits.txt", "digits_curves.png",
    ])
    for p in paths:
        assert p.parent == tmp_path / "demo" and p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text1 = (tmp_path / "demo" / "tutorial1.txt").read_text()
    _, out = tutorial1.train_handwritten(tutorial1.initial_weights(0))
    assert all(line in text1 for line in str(out).splitlines())
    assert "Epoch 900: Loss = 0.2500" in (tmp_path / "demo" / "tutorial2.txt").read_text()
    assert "final test accuracy" in (tmp_path / "demo" / "digits.txt").read_text()
