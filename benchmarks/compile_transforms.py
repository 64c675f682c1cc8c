"""Timings for transforms inside `ag.compile` (issue 23, items 2 and 3), in one run:

- per-example gradients of the digits MLP (64-128-64-10, batch 32, float64), compiled
  (`ag.compile(ag.vmap(ag.grad(loss)))`), against one batched gradient compiled, eager
  `vmap(grad)` and `torch.func.vmap(grad)`;
- the first tutorial's network, 1500 SGD steps: `ag.compile(ag.iterate(step, 1500))` on the
  NumPy, numba and JAX backends against the tutorial's hand-written NumPy loop, JAX's own
  `lax.fori_loop` of `jax.grad` under one `jax.jit`, and a Python loop around a compiled step.

Every pair is checked to agree before it is timed. Run: python benchmarks/compile_transforms.py

Per-example gradients return 32 copies of every weight gradient (4.4 MB here), fresh arrays on
each call: with glibc's defaults each is mmap-ed and page-faulted anew, which can cost more
than the arithmetic (on a loaded machine 12 ms against 2.8 ms with
MALLOC_MMAP_THRESHOLD_=67108864, which lets freed memory be reused).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

import autograd_nn as ag
from autograd_nn import optim

SIZES = (64, 128, 64, 10)
X1 = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y1 = np.array([[0], [1], [1], [0]], dtype=np.float64)


def best_ms(fn: Callable[[], object], repeats: int = 7, number: int = 20) -> float:
    """The best of `repeats` runs of `number` calls, in ms per call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e3


def _params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    p = {}
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        p[f"W{i}"] = rng.normal(size=(a, b)) * np.sqrt(2.0 / a)
        p[f"b{i}"] = np.zeros(b)
    return p


def _logits(p, x):
    h = ag.relu(x @ p["W0"] + p["b0"])
    h = ag.relu(h @ p["W1"] + p["b1"])
    return h @ p["W2"] + p["b2"]


def example_loss(p, x, y):
    """One example's loss, with its integer target."""
    return -ag.log_softmax(_logits(p, x))[y]


def batch_loss(p, X, y):
    """The mean loss of a batch (what one batched gradient differentiates)."""
    return ag.nn.functional.cross_entropy(_logits(p, X), y)


def per_example_rows() -> dict[str, float]:
    rng = np.random.default_rng(0)
    p = _params(rng)
    X, y = rng.normal(size=(32, SIZES[0])), rng.integers(0, SIZES[-1], size=32)
    eager = ag.vmap(ag.grad(example_loss), in_axes=(None, 0, 0))
    compiled = ag.compile(eager)
    batched = ag.compile(ag.grad(batch_loss))
    got, want = compiled(p, X, y), eager(p, X, y)
    for k in p:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[k].mean(axis=0), batched(p, X, y)[k], rtol=1e-10,
                                   atol=1e-14)
    rows = {
        "compiled vmap(grad)": best_ms(lambda: compiled(p, X, y)),
        "compiled grad (one batched gradient)": best_ms(lambda: batched(p, X, y)),
        "eager vmap(grad)": best_ms(lambda: eager(p, X, y), number=5),
    }
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError:
        return rows

    def torch_loss(q, x, t):
        h = torch.relu(x @ q["W0"] + q["b0"])
        h = torch.relu(h @ q["W1"] + q["b1"])
        z = torch.log_softmax(h @ q["W2"] + q["b2"], -1)
        return -(z * (torch.arange(z.shape[-1]) == t)).sum()

    tp = {k: torch.tensor(v) for k, v in p.items()}
    tX, ty = torch.tensor(X), torch.tensor(y)
    per = vmap(grad(torch_loss), in_dims=(None, 0, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = per(tp, tX, ty)
        for k in p:
            np.testing.assert_allclose(out[k].numpy(), want[k], rtol=1e-10, atol=1e-14)
        rows["torch.func.vmap(grad)"] = best_ms(lambda: per(tp, tX, ty), number=5)
    return rows


def _loss1(params, X, Y):
    out = ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(X, params["w1"])), params["w2"]))
    return ((Y - out) ** 2).sum()


def _sgd_step(params, X, Y):
    return optim.sgd_update(params, ag.grad(_loss1)(params, X, Y), lr=1.0)


def numpy_loop(w1, w2, steps):
    """The tutorial's hand-written loop (its sigmoid), the same update as SGD with lr=1."""
    w1, w2 = w1.copy(), w2.copy()
    for _ in range(steps):
        layer1 = 1 / (1 + np.exp(-np.dot(X1, w1)))
        output = 1 / (1 + np.exp(-np.dot(layer1, w2)))
        d2 = 2 * (Y1 - output) * (output * (1.0 - output))
        d_w2 = np.dot(layer1.T, d2)
        d_w1 = np.dot(X1.T, np.dot(d2, w2.T) * (layer1 * (1.0 - layer1)))
        w1 += d_w1
        w2 += d_w2
    return w1, w2


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _jax_fori_loop(p: dict[str, np.ndarray], steps: int) -> Callable[[], object] | None:
    """JAX's own compiled loop of the same steps (jax.grad inside one jitted lax.fori_loop)."""
    if not _installed("jax"):
        return None
    import jax
    import jax.numpy as jnp

    def loss(q, X, Y):
        out = jax.nn.sigmoid(jnp.dot(jax.nn.sigmoid(jnp.dot(X, q["w1"])), q["w2"]))
        return ((Y - out) ** 2).sum()

    def one_step(_, q):
        g = jax.grad(loss)(q, jX, jY)
        return {k: q[k] - g[k] for k in q}

    with jax.enable_x64(True):
        jX, jY = jnp.asarray(X1), jnp.asarray(Y1)
        run = jax.jit(lambda q: jax.lax.fori_loop(0, steps, one_step, q))
        jp = {k: jnp.asarray(v) for k, v in p.items()}

    def call():
        with jax.enable_x64(True):
            return jax.block_until_ready(run(jp))

    return call


def loop_rows(steps: int = 1500) -> dict[str, float]:
    """The tutorial's 1500 SGD steps: by hand, compiled as one loop on each backend, JAX's own
    fori_loop, and a Python loop around the compiled step; checked equal before timing."""
    rng = np.random.default_rng(0)
    p = {"w1": rng.random((3, 4)), "w2": rng.random((4, 1))}
    want = numpy_loop(p["w1"], p["w2"], steps)
    step = ag.compile(_sgd_step)

    def python_loop():
        q = p
        for _ in range(steps):
            q = step(q, X1, Y1)
        return q

    calls = {"hand-written NumPy loop": lambda: numpy_loop(p["w1"], p["w2"], steps)}
    for backend in ["numpy"] + [b for b in ("numba", "jax") if _installed(b)]:
        looped = ag.compile(ag.iterate(_sgd_step, steps), backend=backend)
        got = looped(p, X1, Y1)
        np.testing.assert_allclose(got["w1"], want[0], rtol=1e-9)
        np.testing.assert_allclose(got["w2"], want[1], rtol=1e-9)
        name = "ag.compile(ag.iterate(step, 1500))" + (
            "" if backend == "numpy" else f", backend={backend!r}")
        calls[name] = lambda looped=looped: looped(p, X1, Y1)
    jax_loop = _jax_fori_loop(p, steps)
    if jax_loop is not None:
        got = jax_loop()
        np.testing.assert_allclose(np.asarray(got["w1"]), want[0], rtol=1e-9)
        calls["JAX's own jax.jit(lax.fori_loop(jax.grad step))"] = jax_loop
    np.testing.assert_allclose(python_loop()["w2"], want[1], rtol=1e-9)
    calls["Python loop around ag.compile(step)"] = python_loop
    return interleaved_ms(calls, repeats=7, number=2)


def interleaved_ms(calls: dict[str, Callable[[], object]], repeats: int,
                   number: int) -> dict[str, float]:
    """The best of `repeats` rounds, each timing `number` calls of every entry in turn (a
    loaded machine slows all rows alike), in ms per call."""
    best = dict.fromkeys(calls, float("inf"))
    for fn in calls.values():
        fn()
    for _ in range(repeats):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / number)
    return {name: t * 1e3 for name, t in best.items()}


def main() -> None:
    rows = per_example_rows()
    base = rows["compiled grad (one batched gradient)"]
    print("| digits MLP 64-128-64-10, batch 32, float64 | ms | / one batched gradient |")
    print("|---|---|---|")
    for name, ms in rows.items():
        print(f"| {name} | {ms:.3f} | {ms / base:.2f}× |")
    rows = loop_rows()
    base = rows["hand-written NumPy loop"]
    jax_own = rows.get("JAX's own jax.jit(lax.fori_loop(jax.grad step))")
    print("\n| first tutorial's network, 1500 SGD steps | ms | µs/step | / hand-written NumPy |"
          " / JAX's own fori_loop |")
    print("|---|---|---|---|---|")
    for name, ms in rows.items():
        vs_jax = f"{ms / jax_own:.2f}×" if jax_own else ""
        print(f"| {name} | {ms:.2f} | {ms / 1.5:.2f} | {ms / base:.3f}× | {vs_jax} |")


if __name__ == "__main__":
    main()
