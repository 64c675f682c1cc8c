"""Speed and memory of autograd_nn next to hand-written NumPy (and PyTorch when installed).

Every figure is measured side by side in one run and reported as a ratio to the hand-written
NumPy code doing the same forward and backward arithmetic, so a noisy shared machine moves both
sides together. Run: `python benchmarks/run_all.py [--quick] [--markdown FILE]`.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import autograd_nn as ag

try:  # run as a script (python benchmarks/run_all.py) or as a module
    import transforms
except ImportError:
    from benchmarks import transforms

torch = None  # imported in main(), after the deep-chain run: its many objects slow the collector
hips = jax = None  # optional comparison rows (the `bench` extra), when installed


def _load_optional() -> None:
    """HIPS autograd and JAX, for comparison rows only: never needed by autograd_nn."""
    global hips, jax
    try:
        import autograd as _hips
        import autograd.numpy  # noqa: F401

        hips = _hips
    except ImportError:
        pass
    try:
        import jax as _jax

        _jax.config.update("jax_enable_x64", True)
        jax = _jax
    except ImportError:
        pass


def _load_torch() -> None:
    global torch
    try:
        import torch as _torch
    except ImportError:  # PyTorch is optional
        return
    torch = _torch


def best_of(fn: Callable[[], float], repeats: int) -> float:
    """The fastest of `repeats` runs of `fn` (which returns its own elapsed seconds)."""
    return min(fn() for _ in range(repeats))


def best_of_interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """The fastest run of each of `fns`, run in turn (a b c a b c ...) so that a burst of noise
    from the shared machine hits every side alike."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            best[k] = min(best[k], fn())
    return best


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


# --- 1. per-op overhead on an (8,) array ------------------------------------------------------
CHAIN = 2000


def _numpy_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


OPS = {
    # name: (autograd step, numpy forward, numpy backward(g, x, out) -> grad wrt x)
    "add": (lambda z, c: z + c, lambda x, c: x + c, lambda g, x, y, c: g),
    "mul": (lambda z, c: z * c, lambda x, c: x * c, lambda g, x, y, c: g * c),
    "tanh": (lambda z, c: ag.tanh(z), lambda x, c: np.tanh(x), lambda g, x, y, c: g * (1 - y * y)),
    "sigmoid": (lambda z, c: ag.sigmoid(z), lambda x, c: _numpy_sigmoid(x),
                lambda g, x, y, c: g * y * (1 - y)),
}
TORCH_OPS = {
    "add": lambda z, c: z + c, "mul": lambda z, c: z * c,
    "tanh": lambda z, c: torch.tanh(z), "sigmoid": lambda z, c: torch.sigmoid(z),
}  # resolved at call time, once torch is loaded


def per_op(repeats: int) -> list[dict]:
    rows = []
    x0 = np.random.default_rng(0).normal(size=8)
    c = np.full(8, 0.999)
    for name, (step, fwd, bwd) in OPS.items():
        def run_ag(step=step):
            x = ag.Tensor(x0, requires_grad=True)
            z = x
            for _ in range(CHAIN):
                z = step(z, c)
            z.backward(np.ones(8))

        def run_np(fwd=fwd, bwd=bwd):
            xs, z = [], x0
            for _ in range(CHAIN):
                y = fwd(z, c)
                xs.append((z, y))
                z = y
            g = np.ones(8)
            for x, y in reversed(xs):
                g = bwd(g, x, y, c)

        fns = {"numpy_us": timed(run_np), "ag_us": timed(run_ag)}
        if torch is not None:
            ct = torch.tensor(c)

            def run_t(op=TORCH_OPS[name], ct=ct):
                x = torch.tensor(x0, requires_grad=True)
                z = x
                for _ in range(CHAIN):
                    z = op(z, ct)
                z.backward(torch.ones(8, dtype=torch.float64))

            fns["torch_us"] = timed(run_t)
        best = best_of_interleaved(fns, 2 * repeats)  # short runs: more of them
        rows.append({"op": name, **{k: t / CHAIN * 1e6 for k, t in best.items()}})
    return rows


# --- 2. the first tutorial's network, 1500 steps ---------------------------------------------
X1 = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y1 = np.array([[0], [1], [1], [0]], dtype=np.float64)


def tutorial1_numpy(w1, w2, steps, sigmoid=_numpy_sigmoid):
    """The tutorial's own loop: feedforward, hand-written backprop, += d_weights."""
    w1, w2 = w1.copy(), w2.copy()
    for _ in range(steps):
        layer1 = sigmoid(np.dot(X1, w1))
        output = sigmoid(np.dot(layer1, w2))
        d2 = 2 * (Y1 - output) * (output * (1.0 - output))
        d_w2 = np.dot(layer1.T, d2)
        d_w1 = np.dot(X1.T, np.dot(d2, w2.T) * (layer1 * (1.0 - layer1)))
        w1 += d_w1
        w2 += d_w2
    return w1, w2


def tutorial1_backward(w1, w2, steps):
    """The same network on Tensors: loss.backward(), then w -= grad."""
    p1 = ag.Tensor(w1.copy(), requires_grad=True)
    p2 = ag.Tensor(w2.copy(), requires_grad=True)
    for _ in range(steps):
        out = ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(X1, p1)), p2))
        loss = ((Y1 - out) ** 2).sum()
        loss.backward()
        p1.data -= p1.grad
        p2.data -= p2.grad
        p1.grad = p2.grad = None
    return p1.data, p2.data


def _loss1(params):
    out = ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(X1, params["w1"])), params["w2"]))
    return ((Y1 - out) ** 2).sum()


def tutorial1_functional(w1, w2, steps):
    """The same network as a pure function of a params dict, with ag.grad."""
    params = {"w1": w1.copy(), "w2": w2.copy()}
    grad_fn = ag.grad(_loss1)
    for _ in range(steps):
        grads = grad_fn(params)
        params = {k: params[k] - grads[k] for k in params}
    return params["w1"], params["w2"]


def tutorial1_torch(w1, w2, steps):
    x, y = torch.tensor(X1), torch.tensor(Y1)
    p1 = torch.tensor(w1.copy(), requires_grad=True)
    p2 = torch.tensor(w2.copy(), requires_grad=True)
    for _ in range(steps):
        out = torch.sigmoid(torch.sigmoid(x @ p1) @ p2)
        loss = ((y - out) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            p1 -= p1.grad
            p2 -= p2.grad
        p1.grad = p2.grad = None
    return p1.detach().numpy(), p2.detach().numpy()


def tutorial1(repeats: int, steps: int = 1500) -> dict:
    rng = np.random.default_rng(0)
    w1, w2 = rng.random((3, 4)), rng.random((4, 1))
    ref = tutorial1_numpy(w1, w2, steps)
    for fn in (tutorial1_backward, tutorial1_functional):
        got = fn(w1, w2, steps)
        for a, b in zip(got, ref, strict=True):  # the benchmark only counts if the answers agree
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    fns = {
        "numpy_ms": timed(lambda: tutorial1_numpy(w1, w2, steps)),
        "backward_ms": timed(lambda: tutorial1_backward(w1, w2, steps)),
        "grad_ms": timed(lambda: tutorial1_functional(w1, w2, steps)),
    }
    if torch is not None:
        fns["torch_ms"] = timed(lambda: tutorial1_torch(w1, w2, steps))
    return {k: t * 1e3 for k, t in best_of_interleaved(fns, repeats).items()}


# --- 3. a 100,000-op chain: time and memory per op -------------------------------------------
def deep_chain(n: int = 100_000) -> dict:
    """Time (without tracing) and traced memory of an n-op chain, alive and after backward."""

    def build():
        y = ag.Tensor(np.ones(8), requires_grad=True)
        for _ in range(n):
            y = y * 1.0000001
        return y

    gc.collect()  # start from a clean collector state, as a fresh training script would
    t0 = time.perf_counter()
    y = build()
    t1 = time.perf_counter()
    y.sum().backward()
    t2 = time.perf_counter()
    del y
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    y = build()
    alive = tracemalloc.get_traced_memory()[0] - base
    y.sum().backward()
    after = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {
        "forward_us": (t1 - t0) / n * 1e6, "backward_us": (t2 - t1) / n * 1e6,
        "bytes_alive": alive / n, "bytes_after": after / n,
    }


def deep_chain_torch(n: int = 100_000) -> dict:
    """The same chain in PyTorch eager (time only)."""
    gc.collect()
    y = torch.ones(8, dtype=torch.float64, requires_grad=True)
    t0 = time.perf_counter()
    for _ in range(n):
        y = y * 1.0000001
    t1 = time.perf_counter()
    y.sum().backward()
    t2 = time.perf_counter()
    return {"forward_us": (t1 - t0) / n * 1e6, "backward_us": (t2 - t1) / n * 1e6}


# --- 4. a GEMM-bound MLP step (784-1024-1024-10, batch 128) ----------------------------------
def mlp_step(repeats: int) -> dict:
    rng = np.random.default_rng(0)
    sizes = [784, 1024, 1024, 10]
    ws = [rng.normal(scale=0.03, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    x = rng.normal(size=(128, 784))
    labels = rng.integers(0, 10, size=128)
    onehot = np.eye(10)[labels]

    def numpy_step():
        h1 = np.maximum(x @ ws[0], 0)
        h2 = np.maximum(h1 @ ws[1], 0)
        logits = h2 @ ws[2]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        g = (probs - onehot) / 128
        g3 = h2.T @ g
        gh2 = (g @ ws[2].T) * (h2 > 0)
        g2 = h1.T @ gh2
        gh1 = (gh2 @ ws[1].T) * (h1 > 0)
        g1 = x.T @ gh1
        return g1, g2, g3

    def ag_step():
        def loss(w):
            h = ag.relu(x @ w[0])
            h = ag.relu(h @ w[1])
            return -ag.log_softmax(h @ w[2], axis=1)[np.arange(128), labels].mean()

        return ag.grad(loss)(ws)

    for a, b in zip(ag_step(), numpy_step(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    return {
        "numpy_ms": best_of(timed(numpy_step), repeats) * 1e3,
        "ag_ms": best_of(timed(ag_step), repeats) * 1e3,
    }


# --- 5. compiled (ag.compile) next to eager and hand-written NumPy -----------------------------
def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1 + e)


def _loss1_xy(params, X, Y):
    out = ag.sigmoid(ag.dot(ag.sigmoid(ag.dot(X, params["w1"])), params["w2"]))
    return ((Y - out) ** 2).sum()


def tutorial1_compiled(w1, w2, steps, step):
    params = {"w1": w1.copy(), "w2": w2.copy()}
    for _ in range(steps):
        grads = step(params, X1, Y1)
        params = {k: params[k] - grads[k] for k in params}
    return params["w1"], params["w2"]


def compile_backends() -> list[str]:
    """The ag.compile backends besides NumPy whose package is installed (the `bench` extra)."""
    found = []
    for name in ("numba", "jax"):
        try:
            __import__(name)
        except ImportError:
            continue
        found.append(name)
    return found


_FIRST_CALL = """
import sys, time
sys.path.insert(0, {here!r})
import numpy as np
import autograd_nn as ag
import run_all
rng = np.random.default_rng(0)
w1, w2 = rng.random((3, 4)), rng.random((4, 1))
step = ag.compile(ag.grad(run_all._loss1_xy), backend={backend!r})
t0 = time.perf_counter()
step({{"w1": w1, "w2": w2}}, run_all.X1, run_all.Y1)
print((time.perf_counter() - t0) * 1e3)
"""


def first_call_ms(backend: str) -> tuple[float, float]:
    """The first call of the compiled tutorial-1 gradient in a fresh process (trace, generate,
    the backend's compile): with an empty cache folder, then again with the cache it left."""
    import os
    import subprocess
    import sys
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "AUTOGRAD_NN_CACHE": cache}
        script = _FIRST_CALL.format(here=here, backend=backend)
        times = [float(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout.split()[-1])
                 for _ in range(2)]
    return times[0], times[1]


def compiled_tutorial1(repeats: int, steps: int = 1500) -> dict:
    rng = np.random.default_rng(0)
    w1, w2 = rng.random((3, 4)), rng.random((4, 1))
    t0 = time.perf_counter()
    step = ag.compile(ag.grad(_loss1_xy))
    step({"w1": w1, "w2": w2}, X1, Y1)
    compile_ms = (time.perf_counter() - t0) * 1e3
    ref = tutorial1_numpy(w1, w2, steps)
    for a, b in zip(tutorial1_compiled(w1, w2, steps, step), ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    fns = {
        "numpy_ms": timed(lambda: tutorial1_numpy(w1, w2, steps)),
        # the same loop with the overflow-free sigmoid autograd_nn uses: the fair floor for
        # code that must not warn or overflow
        "stable_ms": timed(lambda: tutorial1_numpy(w1, w2, steps, _stable_sigmoid)),
        "compiled_ms": timed(lambda: tutorial1_compiled(w1, w2, steps, step)),
    }
    first = {}
    for backend in compile_backends():  # the same source under numba / jax, checked first
        on = ag.compile(ag.grad(_loss1_xy), backend=backend)
        for a, b in zip(tutorial1_compiled(w1, w2, steps, on), ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        fns[f"{backend}_ms"] = timed(lambda on=on: tutorial1_compiled(w1, w2, steps, on))
        first[backend] = first_call_ms(backend)
    if jax is not None:  # JAX's own jit of the same gradient, called per step from Python
        jnp = jax.numpy

        def jax_loss(q, X, Y):
            out = jax.nn.sigmoid(jnp.dot(jax.nn.sigmoid(jnp.dot(X, q["w1"])), q["w2"]))
            return ((Y - out) ** 2).sum()

        jax_grad = jax.jit(jax.grad(jax_loss))
        jX, jY = jnp.asarray(X1), jnp.asarray(Y1)

        def tutorial1_jax():
            q = {"w1": jnp.asarray(w1), "w2": jnp.asarray(w2)}
            for _ in range(steps):
                g = jax_grad(q, jX, jY)
                q = {k: q[k] - g[k] for k in q}
            return jax.block_until_ready(q)

        got = tutorial1_jax()
        for a, b in zip((got["w1"], got["w2"]), ref, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-9)
        fns["jaxjit_ms"] = timed(tutorial1_jax)
    best = best_of_interleaved(fns, repeats)
    return {"compile_ms": compile_ms, "first": first, **{k: v * 1e3 for k, v in best.items()}}


def _mlp_params(sizes, dtype, rng):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        p[f"W{i}"] = (rng.normal(size=(a, b)) * np.sqrt(2.0 / a)).astype(dtype)
        p[f"b{i}"] = np.zeros(b, dtype=dtype)
    return p


def _mlp_numpy_grads(p, X, y, n_layers):
    """Forward and backward of a relu MLP with mean softmax cross-entropy, by hand."""
    hs = [X]
    for i in range(n_layers - 1):
        hs.append(np.maximum(hs[-1] @ p[f"W{i}"] + p[f"b{i}"], 0))
    logits = hs[-1] @ p[f"W{n_layers - 1}"] + p[f"b{n_layers - 1}"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    probs = e / e.sum(axis=1, keepdims=True)
    g = probs
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads = {}
    for i in range(n_layers - 1, -1, -1):
        grads[f"W{i}"] = hs[i].T @ g
        grads[f"b{i}"] = g.sum(axis=0)
        if i:
            g = (g @ p[f"W{i}"].T) * (hs[i] > 0)
    return grads


def _mlp_loss(p, X, y):
    n_layers = len(p) // 2
    h = X
    for i in range(n_layers - 1):
        h = ag.relu(h @ p[f"W{i}"] + p[f"b{i}"])
    return ag.nn.functional.cross_entropy(h @ p[f"W{n_layers - 1}"] + p[f"b{n_layers - 1}"], y)


def _check_grads(got: dict, ref: dict, tol: float, sizes: list, dtype: type, who: str) -> None:
    """Another framework's gradients against hand-written NumPy's, before any timing.

    Another BLAS sums in another order: in float32 a few of the 500k pre-ReLU values of the
    1024-wide MLP near 0 change sign, which moves whole columns of a gradient a little, so
    that row is checked in norm; every other row elementwise."""
    for k in ref:
        if dtype == np.float32 and max(sizes) >= 1024:
            err = np.linalg.norm(got[k] - ref[k]) / np.linalg.norm(ref[k])
            assert err < 1e-3, (who, k, err)
        else:
            np.testing.assert_allclose(got[k], ref[k], rtol=tol, atol=tol * 1e-2, err_msg=who)


def compiled_mlp(sizes, batch, dtype, repeats: int, steps: int) -> dict:
    rng = np.random.default_rng(0)
    p = _mlp_params(sizes, dtype, rng)
    X = rng.normal(size=(batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=batch)
    n_layers = len(sizes) - 1
    eager = ag.grad(_mlp_loss)
    t0 = time.perf_counter()
    step = ag.compile(eager)
    step(p, X, y)
    compile_ms = (time.perf_counter() - t0) * 1e3
    tol = 1e-9 if dtype == np.float64 else 2e-4
    ref = _mlp_numpy_grads(p, X, y, n_layers)
    for got in (eager(p, X, y), step(p, X, y)):
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=tol, atol=tol * 1e-2)

    def loop(fn):
        return timed(lambda: [fn() for _ in range(steps)])

    fns = {
        "numpy_ms": loop(lambda: _mlp_numpy_grads(p, X, y, n_layers)),
        "eager_ms": loop(lambda: eager(p, X, y)),
        "compiled_ms": loop(lambda: step(p, X, y)),
    }
    first = {}
    for backend in compile_backends():  # the same source under numba / jax, checked first
        t0 = time.perf_counter()
        on = ag.compile(eager, backend=backend)
        got = on(p, X, y)
        first[f"{backend}_first_ms"] = (time.perf_counter() - t0) * 1e3
        _check_grads(got, ref, tol, sizes, dtype, backend)
        fns[f"compiled_{backend}_ms"] = loop(lambda on=on: on(p, X, y))
    if hips is not None:
        hnp = hips.numpy

        def hips_loss(q, X, y):
            h = X
            for i in range(n_layers - 1):
                h = hnp.maximum(hnp.dot(h, q[f"W{i}"]) + q[f"b{i}"], 0)
            z = hnp.dot(h, q[f"W{n_layers - 1}"]) + q[f"b{n_layers - 1}"]
            z = z - hnp.max(z, axis=1, keepdims=True)
            logp = z - hnp.log(hnp.sum(hnp.exp(z), axis=1, keepdims=True))
            return -hnp.mean(logp[np.arange(len(y)), y])

        hips_grad = hips.grad(hips_loss)
        _check_grads(hips_grad(p, X, y), ref, tol, sizes, dtype, "HIPS autograd")
        fns["hips_ms"] = loop(lambda: hips_grad(p, X, y))
    if jax is not None:
        jnp = jax.numpy

        def jax_loss(q, X, y):
            h = X
            for i in range(n_layers - 1):
                h = jnp.maximum(h @ q[f"W{i}"] + q[f"b{i}"], 0)
            z = h @ q[f"W{n_layers - 1}"] + q[f"b{n_layers - 1}"]
            logp = jax.nn.log_softmax(z, axis=1)
            return -jnp.mean(logp[jnp.arange(len(y)), y])

        jax_grad = jax.jit(jax.grad(jax_loss))
        jp = {k: jnp.asarray(v) for k, v in p.items()}
        jx, jy = jnp.asarray(X), jnp.asarray(y)
        _check_grads({k: np.asarray(v) for k, v in jax_grad(jp, jx, jy).items()}, ref, tol,
                     sizes, dtype, "JAX")
        fns["jax_ms"] = loop(lambda: jax.block_until_ready(jax_grad(jp, jx, jy)))
    if torch is not None:
        tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
        tx, ty = torch.tensor(X), torch.tensor(y)

        def torch_step():
            h = tx
            for i in range(n_layers - 1):
                h = torch.relu(h @ tp[f"W{i}"] + tp[f"b{i}"])
            loss = torch.nn.functional.cross_entropy(
                h @ tp[f"W{n_layers - 1}"] + tp[f"b{n_layers - 1}"], ty)
            return torch.autograd.grad(loss, list(tp.values()))

        fns["torch_ms"] = loop(torch_step)
    best = best_of_interleaved(fns, repeats)
    return {"compile_ms": compile_ms, **first, **{k: v * 1e3 for k, v in best.items()}}


# --- 6. convolution: conv2d forward+backward and one digits-CNN training step, vs PyTorch -------
def _one_thread():
    """NumPy's BLAS and PyTorch both on one thread for the convolution rows (small GEMMs: the
    thread pools only add noise on a shared machine); a no-op context without threadpoolctl."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def convolution(repeats: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with _one_thread():
            for label, xs, ws in (("conv2d (32,1,8,8) -> 16 ch 3x3, pad 1", (32, 1, 8, 8),
                                   (16, 1, 3, 3)),
                                  ("conv2d (32,16,8,8) -> 32 ch 3x3, pad 1", (32, 16, 8, 8),
                                   (32, 16, 3, 3))):
                rows.append(_conv_row(label, rng.normal(size=xs).astype(np.float32),
                                      rng.normal(size=ws).astype(np.float32), repeats))
            rows.append(_cnn_step_row(repeats))
            rows.append(_cnn_step_row(repeats, np.float64))
    finally:
        if torch is not None:
            torch.set_num_threads(threads)
    return rows


def _conv_row(label: str, x: np.ndarray, w: np.ndarray, repeats: int) -> dict:
    b = np.zeros(w.shape[0], np.float32)
    xt, wt, bt = (ag.Tensor(a, requires_grad=True) for a in (x, w, b))

    def ag_run():
        xt.grad = wt.grad = bt.grad = None
        ag.conv2d(xt, wt, bt, padding=1).sum().backward()

    fns = {"ag": timed(lambda: [ag_run() for _ in range(20)])}
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

        def torch_run():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, padding=1).sum().backward()

        torch_run()
        ag_run()
        np.testing.assert_allclose(wt.grad, tw.grad.numpy(), rtol=1e-3, atol=1e-3)
        fns["torch"] = timed(lambda: [torch_run() for _ in range(20)])
    best = best_of_interleaved(fns, repeats)
    return {"label": label, **{k: v / 20 * 1e6 for k, v in best.items()}}


def _cnn_step_row(repeats: int, dtype: type = np.float32) -> dict:
    from autograd_nn_course import digits_cnn

    rng = np.random.default_rng(0)
    x = rng.random((32, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 10, size=32)
    model = digits_cnn.make_model(0, dtype=dtype)
    opt = ag.optim.Adam(model.parameters(), lr=1e-3)

    def ag_step():
        opt.zero_grad()
        ag.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    fns = {"ag": timed(lambda: [ag_step() for _ in range(10)])}
    if torch is not None:
        tn = torch.nn
        net = tn.Sequential(tn.Conv2d(1, 16, 3, padding=1), tn.BatchNorm2d(16), tn.ReLU(),
                            tn.Conv2d(16, 32, 3, padding=1), tn.BatchNorm2d(32), tn.ReLU(),
                            tn.MaxPool2d(2), tn.Flatten(), tn.Dropout(0.25), tn.Linear(512, 10))
        net = net.to(torch.float64 if dtype == np.float64 else torch.float32)
        t_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def torch_step():
            t_opt.zero_grad()
            tn.functional.cross_entropy(net(tx), ty).backward()
            t_opt.step()

        fns["torch"] = timed(lambda: [torch_step() for _ in range(10)])
    best = best_of_interleaved(fns, repeats)
    suffix = "" if dtype == np.float32 else f", {np.dtype(dtype).name}"
    return {"label": f"digits CNN, one training step (batch 32, Adam){suffix}",
            **{k: v / 10 * 1e6 for k, v in best.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    chain = deep_chain()  # first, in a process that has not imported PyTorch
    _load_torch()
    _load_optional()
    lines = [
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}"
        + (f", PyTorch {torch.__version__}" if torch is not None else ", PyTorch not installed"),
        "",
        "| elementwise op on (8,), fwd+bwd | NumPy by hand µs | autograd_nn µs | ratio |"
        + (" PyTorch µs | ratio | autograd_nn / PyTorch |" if torch is not None else ""),
        "|---|---|---|---|" + ("---|---|---|" if torch is not None else ""),
    ]
    for r in per_op(repeats):
        line = (f"| {r['op']} | {r['numpy_us']:.2f} | {r['ag_us']:.2f} | "
                f"{r['ag_us'] / r['numpy_us']:.1f}× |")
        if torch is not None:
            line += (f" {r['torch_us']:.2f} | {r['torch_us'] / r['numpy_us']:.1f}× | "
                     f"{r['ag_us'] / r['torch_us']:.2f}× |")
        lines.append(line)
    t1 = tutorial1(max(repeats // 2, 2))
    lines += [
        "",
        "| tutorial 1 network, 1500 steps | ms | ratio to NumPy by hand |",
        "|---|---|---|",
        f"| NumPy by hand (the tutorial's loop) | {t1['numpy_ms']:.1f} | 1.0× |",
        f"| autograd_nn, loss.backward() | {t1['backward_ms']:.1f} | "
        f"{t1['backward_ms'] / t1['numpy_ms']:.2f}× |",
        f"| autograd_nn, ag.grad over a dict | {t1['grad_ms']:.1f} | "
        f"{t1['grad_ms'] / t1['numpy_ms']:.2f}× |",
    ]
    if torch is not None:
        lines.append(f"| PyTorch eager | {t1['torch_ms']:.1f} | "
                     f"{t1['torch_ms'] / t1['numpy_ms']:.2f}× |")
        lines.append(f"| autograd_nn loss.backward() / PyTorch eager | | "
                     f"{t1['backward_ms'] / t1['torch_ms']:.2f}× |")
    lines += [
        "",
        "| 100,000-op chain (mul on (8,)) | value |",
        "|---|---|",
        f"| forward µs/op | {chain['forward_us']:.2f} |",
        f"| backward µs/op | {chain['backward_us']:.2f} |",
        f"| bytes/op while the graph is alive | {chain['bytes_alive']:.0f} |",
        f"| bytes/op after backward (graph released) | {chain['bytes_after']:.1f} |",
    ]
    if torch is not None:
        tc = deep_chain_torch()
        total, total_t = chain["forward_us"] + chain["backward_us"], tc["forward_us"] + tc[
            "backward_us"]
        lines += [
            f"| PyTorch eager forward µs/op | {tc['forward_us']:.2f} |",
            f"| PyTorch eager backward µs/op | {tc['backward_us']:.2f} |",
            f"| autograd_nn / PyTorch, forward + backward | {total / total_t:.2f}× |",
        ]
    mlp = mlp_step(max(repeats // 2, 2))
    lines += [
        "",
        "| MLP 784-1024-1024-10, batch 128, one gradient | ms | ratio |",
        "|---|---|---|",
        f"| NumPy by hand | {mlp['numpy_ms']:.1f} | 1.0× |",
        f"| autograd_nn ag.grad | {mlp['ag_ms']:.1f} | {mlp['ag_ms'] / mlp['numpy_ms']:.2f}× |",
    ]
    c1 = compiled_tutorial1(repeats)
    lines += [
        "",
        "| ag.compile: tutorial 1 network, 1500 steps | ms | ratio to the tutorial's NumPy |"
        " ratio to NumPy with the stable sigmoid |",
        "|---|---|---|---|",
        f"| NumPy by hand (the tutorial's naive sigmoid) | {c1['numpy_ms']:.1f} | 1.0× | "
        f"{c1['numpy_ms'] / c1['stable_ms']:.2f}× |",
        f"| NumPy by hand, stable sigmoid | {c1['stable_ms']:.1f} | "
        f"{c1['stable_ms'] / c1['numpy_ms']:.2f}× | 1.0× |",
        f"| autograd_nn compiled (ag.compile(ag.grad(loss))) | {c1['compiled_ms']:.1f} | "
        f"{c1['compiled_ms'] / c1['numpy_ms']:.2f}× | {c1['compiled_ms'] / c1['stable_ms']:.2f}× |",
        f"| first call (trace + generate) | {c1['compile_ms']:.1f} | | |",
    ]
    for backend, (cold, warm) in c1["first"].items():
        ms = c1[f"{backend}_ms"]
        lines += [f"| ag.compile(..., backend={backend!r}) | {ms:.1f} | "
                  f"{ms / c1['numpy_ms']:.2f}× | {ms / c1['stable_ms']:.2f}× |",
                  f"| first call, {backend}: new process, cold / warm cache | "
                  f"{cold:.0f} / {warm:.0f} | | |"]
    if "jaxjit_ms" in c1:
        lines.append(f"| JAX jax.jit(jax.grad(loss)), per step from Python | "
                     f"{c1['jaxjit_ms']:.1f} | {c1['jaxjit_ms'] / c1['numpy_ms']:.2f}× | "
                     f"{c1['jaxjit_ms'] / c1['stable_ms']:.2f}× |")
    rows = [("digits MLP 64-128-64-10, batch 32, float64", [64, 128, 64, 10], 32, np.float64, 200),
            ("digits MLP 64-128-64-10, batch 32, float32", [64, 128, 64, 10], 32, np.float32, 200),
            ("MLP 784-1024-1024-10, batch 512, float32", [784, 1024, 1024, 10], 512, np.float32,
             3)]
    extra = [(f"compiled_{b}_ms", f"compiled {b}") for b in compile_backends()]
    extra += [(k, label) for k, label, mod in (("torch_ms", "PyTorch", torch),
                                              ("hips_ms", "HIPS autograd", hips),
                                              ("jax_ms", "JAX jit", jax)) if mod is not None]
    lines += ["", "| ag.compile: one gradient (ms per step) | NumPy by hand | eager | ratio | "
                  "compiled | ratio | first call ms |" + "".join(f" {lb} | ratio |"
                                                                for _, lb in extra),
              "|---|---|---|---|---|---|---|" + "---|---|" * len(extra)]
    for label, sizes, batch, dtype, steps in rows:
        r = compiled_mlp(sizes, batch, dtype, repeats, steps)
        per = {k: v / steps for k, v in r.items() if not k.endswith(("compile_ms", "first_ms"))}
        line = (f"| {label} | {per['numpy_ms']:.3f} | {per['eager_ms']:.3f} | "
                f"{per['eager_ms'] / per['numpy_ms']:.2f}× | {per['compiled_ms']:.3f} | "
                f"{per['compiled_ms'] / per['numpy_ms']:.2f}× | {r['compile_ms']:.0f} |")
        for k, _ in extra:
            line += f" {per[k]:.3f} | {per[k] / per['numpy_ms']:.2f}× |"
        lines.append(line)
        firsts = [f"{k.removesuffix('_first_ms')} {v:.0f} ms" for k, v in r.items()
                  if k.endswith("_first_ms")]
        if firsts:
            lines.append(f"| {label}: first call in this process | {', '.join(firsts)} |"
                         + " |" * (5 + 2 * len(extra)))
    conv_rows = convolution(repeats)
    lines += ["", "| convolution, float32 unless named, one thread each | autograd_nn µs |"
                  + (" PyTorch eager µs | ratio |" if torch is not None else ""),
              "|---|---|" + ("---|---|" if torch is not None else "")]
    for r in conv_rows:
        line = f"| {r['label']} | {r['ag']:.0f} |"
        if torch is not None:
            line += f" {r['torch']:.0f} | {r['ag'] / r['torch']:.2f}× |"
        lines.append(line)
    lines += transforms.markdown(repeats, torch)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
