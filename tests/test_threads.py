"""Modes are per thread: no_grad, detect_anomaly, a running backward or an ag.grad in one thread
never change what another thread records or returns (as in PyTorch)."""

from __future__ import annotations

import threading

import numpy as np

import autograd_nn as ag


def _run_while(hold, work):
    """Run `hold(entered, release)` in a second thread; once it has entered its mode, run `work`
    here, then let the other thread leave. Exceptions of either thread are raised."""
    entered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            hold(entered, release)
        except BaseException as err:  # noqa: BLE001 (reported to the main thread)
            errors.append(err)
            entered.set()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert entered.wait(10)
        result = work()
    finally:
        release.set()
        thread.join(10)
    if errors:
        raise errors[0]
    return result


def _train_steps(n: int = 200) -> list[float]:
    """A small regression trained with backward(); checks every step recorded its graph."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    w = ag.Tensor(rng.normal(size=(3, 1)), requires_grad=True)
    losses = []
    for _ in range(n):
        loss = ((ag.tanh(X @ w) - y) ** 2).mean()
        assert loss.requires_grad and loss.op == "mean"
        loss.backward()
        assert w.grad is not None and np.isfinite(w.grad).all()
        w.data -= 0.1 * w.grad
        w.grad = None
        losses.append(float(loss.data))
    return losses


def test_no_grad_in_one_thread_leaves_recording_on_in_another():
    def hold(entered, release):
        with ag.no_grad():
            assert not ag.state.is_grad_enabled()
            entered.set()
            release.wait(10)
            assert not ag.state.is_grad_enabled()  # the other thread's work did not turn it on

    losses = _run_while(hold, _train_steps)
    assert losses[-1] < losses[0]
    assert ag.state.is_grad_enabled()


def test_anomaly_mode_in_one_thread_does_not_check_another():
    def hold(entered, release):
        with ag.detect_anomaly():
            entered.set()
            release.wait(10)

    def work():
        assert not ag.state.is_anomaly_enabled()
        x = ag.Tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        assert y._where is None  # no creation site recorded here
        with np.errstate(divide="ignore"):
            z = ag.log(x - 1.0)  # -inf: anomaly mode would raise, plain mode does not
        return z

    z = _run_while(hold, work)
    assert np.isneginf(z.data[0])


def test_a_running_grad_in_one_thread_leaves_top_level_grad_in_another():
    def hold(entered, release):
        def f(x):
            entered.set()  # inside grad's function: grad depth 1 in this thread
            release.wait(10)
            return (x * x).sum()

        g = ag.grad(f)(np.array([1.0, 2.0]))
        np.testing.assert_array_equal(g, [2.0, 4.0])

    def work():
        return ag.grad(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))

    g = _run_while(hold, work)
    assert type(g) is np.ndarray  # top level here: arrays, not Tensors
    np.testing.assert_array_equal(g, [3.0, 12.0])


def test_backward_in_one_thread_while_another_records():
    def hold(entered, release):
        x = ag.Tensor(np.ones(8), requires_grad=True)
        y = x
        for _ in range(20_000):
            y = y * 1.0001
        entered.set()
        while not release.is_set():
            y.sum().backward(retain_graph=True)

    def work():
        x = ag.Tensor(np.ones(8), requires_grad=True)
        outs = [x * float(i) for i in range(20_000)]
        return sum(o.requires_grad for o in outs)

    assert _run_while(hold, work) == 20_000  # every op recorded while backward ran there
