"""Modes are per thread: no_grad, detect_anomaly, a running backward or an ag.grad in one thread
never change what another thread records or returns (as in PyTorch)."""

from __future__ import annotations

import sys
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


# --- shared state under threads (a tiny switch interval makes races likely) --------------------
def _race(n_threads: int, work, rounds: int) -> list:
    """Run `work(k)` in `n_threads` threads at once, `rounds` times; returns every result or
    exception, per round."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    outcomes = []
    try:
        for _ in range(rounds):
            results: list = [None] * n_threads
            start = threading.Barrier(n_threads)

            def run(k: int, start=start, results=results) -> None:
                start.wait()
                try:
                    results[k] = work(k)
                except BaseException as err:  # noqa: BLE001 (collected and checked)
                    results[k] = err

            threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            outcomes.append(results)
    finally:
        sys.setswitchinterval(old)
    return outcomes


def test_backward_from_four_threads_into_one_parameter_loses_nothing():
    w = ag.Tensor(np.arange(1.0, 4.0), requires_grad=True)
    x = np.linspace(-1, 1, 3)

    def work(k):
        ((w * (k + 1)) * x).sum().backward()

    for results in _race(4, lambda k: None, 1):
        assert results == [None] * 4
    for _ in range(60):
        w.grad = None
        for results in _race(4, work, 1):
            assert all(r is None for r in results), results
        np.testing.assert_array_equal(w.grad, 10 * x)  # (1 + 2 + 3 + 4) * x, every round


def test_two_threads_backward_through_one_graph_release_it_cleanly():
    """One backward releases the graph; the other finishes first or is refused by name, never
    with a TypeError from half-released links."""
    for _ in range(150):
        w = ag.Tensor(np.ones(64), requires_grad=True)
        h = w
        for _ in range(30):
            h = ag.tanh(h * 1.01)
        loss = h.sum()
        (results,) = _race(2, lambda k, loss=loss: loss.backward(), 1)
        for r in results:
            assert r is None or isinstance(r, ag.GraphReleasedError), repr(r)
        assert any(r is None for r in results)


def test_explain_while_another_thread_releases_the_graph():
    """explain either shows the whole graph with its gradients or says it was released."""
    from autograd_nn.graph import GradientsUnavailable

    w = ag.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="w")
    full = None
    for _ in range(100):
        h = w
        for _ in range(8):
            h = ag.tanh(h @ np.eye(2))
        loss = h.sum()
        if full is None:
            full = ag.explain(loss)

        def work(k, loss=loss):
            return loss.backward() if k == 0 else ag.explain(loss)

        (results,) = _race(2, work, 1)
        assert results[0] is None
        shown = results[1]
        if isinstance(shown, BaseException):
            assert isinstance(shown, (GradientsUnavailable, ag.GraphReleasedError)), repr(shown)
        else:
            assert str(shown) == str(full)
