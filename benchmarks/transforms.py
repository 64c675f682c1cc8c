"""Benchmarks of the function transforms (vmap of grad, jacrev, checkpoint), side by side.

Called by run_all.py; `python benchmarks/transforms.py` prints just these tables.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import autograd_nn as ag


def _best(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time in ms of each function, run interleaved so load hits all alike."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], (time.perf_counter() - t) * 1e3)
    return best


def _digits_mlp(rng, sizes=(64, 128, 64, 10)):
    return {f"w{k}": rng.normal(size=(a, b)) / np.sqrt(a) for k, (a, b) in
            enumerate(zip(sizes[:-1], sizes[1:], strict=True))} | {
        f"b{k}": np.zeros(b) for k, b in enumerate(sizes[1:])}


def _logits(p, x):
    n = len(p) // 2
    h = x
    for k in range(n):
        h = h @ p[f"w{k}"] + p[f"b{k}"]
        if k < n - 1:
            h = ag.relu(h)
    return h


def _example_loss(p, x, onehot):
    z = _logits(p, x)
    return ag.logsumexp(z, axis=-1) - (z * onehot).sum(axis=-1)


def per_example_gradients(repeats: int, torch=None) -> dict:
    """vmap(grad) of the digits MLP at batch 32 against one batched gradient (and torch.func)."""
    rng = np.random.default_rng(0)
    p = _digits_mlp(rng)
    X = rng.normal(size=(32, 64))
    onehot = np.eye(10)[rng.integers(0, 10, size=32)]
    batched = ag.grad(lambda q: _example_loss(q, X, onehot).sum())
    per_example = ag.vmap(ag.grad(_example_loss), in_axes=(None, 0, 0))
    check = per_example(p, X, onehot)
    total = batched(p)
    for k in p:  # the per-example gradients add up to the batch's
        np.testing.assert_allclose(check[k].sum(0), total[k], rtol=1e-9, atol=1e-12)
    fns = {"batched_ms": lambda: batched(p), "vmap_ms": lambda: per_example(p, X, onehot),
           "loop_ms": lambda: [ag.grad(_example_loss)(p, X[i], onehot[i]) for i in range(32)]}
    if torch is not None:
        from torch import func as tf

        tp = {k: torch.tensor(v) for k, v in p.items()}

        def t_loss(q, x, oh):
            h = x
            for k in range(3):
                h = h @ q[f"w{k}"] + q[f"b{k}"]
                if k < 2:
                    h = torch.relu(h)
            return torch.logsumexp(h, dim=-1) - (h * oh).sum(-1)

        t_per = tf.vmap(tf.grad(t_loss), in_dims=(None, 0, 0))
        tX, toh = torch.tensor(X), torch.tensor(onehot)
        got = t_per(tp, tX, toh)
        for k in p:
            np.testing.assert_allclose(got[k].numpy(), check[k], rtol=1e-9, atol=1e-12)
        fns["torch_vmap_ms"] = lambda: t_per(tp, tX, toh)
    return _best(fns, repeats)


def jacobian_64(repeats: int) -> dict:
    """jacrev of a 64 -> 64 tanh MLP against a Python loop of one vjp per output row."""
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(64, 64)) / 8, rng.normal(size=(64, 64)) / 8

    def f(x):
        return ag.tanh(ag.tanh(x @ w1) @ w2)

    x = rng.normal(size=64)

    def loop():
        _, pull = ag.vjp(f, x)
        return np.stack([pull(e)[0] for e in np.eye(64)])

    jac = ag.jacrev(f)
    np.testing.assert_allclose(jac(x), loop(), rtol=1e-12, atol=1e-14)
    return _best({"jacrev_ms": lambda: jac(x), "loop_ms": loop}, repeats)


def checkpoint_memory(n_layers: int = 20, width: int = 256, batch: int = 64) -> dict:
    """Bytes a live graph of a 20-layer tanh MLP holds, plain and checkpointed."""
    rng = np.random.default_rng(2)
    ws = [ag.Tensor(rng.normal(size=(width, width)) / np.sqrt(width), requires_grad=True)
          for _ in range(n_layers)]
    x = ag.Tensor(rng.normal(size=(batch, width)))

    def forward(per_block):
        h = x
        for k in range(0, n_layers, per_block or n_layers):
            def block(v, part=ws[k:k + (per_block or n_layers)]):
                for w in part:
                    v = ag.tanh(v @ w)
                return v
            h = ag.checkpoint(block)(h) if per_block else block(h)
        return (h * h).mean()

    out = {}
    for label, per_block in (("plain", None), ("every layer", 1), ("blocks of 4", 4)):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        loss = forward(per_block)
        held = tracemalloc.get_traced_memory()[0] - base
        t = time.perf_counter()
        loss.backward()
        backward_ms = (time.perf_counter() - t) * 1e3
        tracemalloc.stop()
        out[label] = (held, backward_ms)
        for w in ws:
            w.grad = None
    return out


def markdown(repeats: int, torch=None) -> list[str]:
    """The tables, as Markdown lines."""
    pe = per_example_gradients(repeats, torch)
    lines = ["", "| per-example gradients, digits MLP 64-128-64-10, batch 32 | ms | ratio to "
                 "one batched gradient |", "|---|---|---|",
             f"| one batched gradient (ag.grad) | {pe['batched_ms']:.2f} | 1.0× |",
             f"| ag.vmap(ag.grad(loss)) | {pe['vmap_ms']:.2f} | "
             f"{pe['vmap_ms'] / pe['batched_ms']:.2f}× |",
             f"| Python loop of ag.grad, 32 calls | {pe['loop_ms']:.2f} | "
             f"{pe['loop_ms'] / pe['batched_ms']:.2f}× |"]
    if "torch_vmap_ms" in pe:
        lines.append(f"| torch.func.vmap(grad) | {pe['torch_vmap_ms']:.2f} | "
                     f"{pe['torch_vmap_ms'] / pe['batched_ms']:.2f}× |")
    jac = jacobian_64(repeats)
    lines += ["", "| Jacobian of a 64→64 tanh MLP | ms | speed-up |", "|---|---|---|",
              f"| Python loop of 64 vjp calls | {jac['loop_ms']:.2f} | 1.0× |",
              f"| ag.jacrev (one batched backward) | {jac['jacrev_ms']:.2f} | "
              f"{jac['loop_ms'] / jac['jacrev_ms']:.1f}× |"]
    mem = checkpoint_memory()
    plain = mem["plain"][0]
    lines += ["", "| 20-layer tanh MLP 256 wide, batch 64: held by the live graph | MiB | "
                  "ratio | backward ms |", "|---|---|---|---|"]
    for label, (held, ms) in mem.items():
        lines.append(f"| {label} | {held / 2**20:.1f} | {held / plain:.2f} | {ms:.1f} |")
    return lines


if __name__ == "__main__":
    try:
        import torch as _torch
    except ImportError:
        _torch = None
    print("\n".join(markdown(5, _torch)))
