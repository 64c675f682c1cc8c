"""Checks shared by the array-op test files (test_ops_joining, test_ops_scatter,
test_ops_sorting): against PyTorch (values and gradients), vmap against a loop over the
examples, and jvp against torch.func.jvp. Each row is (autograd function, torch function,
input arrays); the functions take the float inputs, everything else is closed over."""

from __future__ import annotations

import numpy as np

import autograd_nn as ag


def _outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _weighted(out, weights) -> object:
    """sum(out_k * w_k) over the float outputs (integer outputs carry no gradient)."""
    total = 0.0
    for o, w in zip(_outputs(out), weights, strict=True):
        if w is not None:
            total = total + (o * w).sum()
    return total


def _weights(out, rng) -> list:
    return [rng.normal(size=o.shape) if np.dtype(o.dtype).kind == "f" else None
            for o in _outputs(out)]


def against_torch(f_ag, f_torch, arrays, rng) -> None:
    """Values equal torch's, and the gradient of a weighted sum of the outputs too."""
    import torch

    tensors = [ag.Tensor(a, requires_grad=True) for a in arrays]
    out = f_ag(*tensors)
    weights = _weights(out, rng)
    t_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    t_out = f_torch(*t_in)
    for o, t in zip(_outputs(out), _outputs(t_out), strict=True):
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert o.shape == tuple(t.shape)
    if all(w is None for w in weights):
        return
    _weighted(out, weights).backward()
    t_total = sum((t * torch.tensor(w)).sum() for t, w in zip(_outputs(t_out), weights,
                                                             strict=True) if w is not None)
    t_total.backward()
    for a, t in zip(tensors, t_in, strict=True):
        want = np.zeros(a.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def vmap_equals_loop(f_ag, arrays, rng, batch: int = 3) -> None:
    """vmap over a new axis 0 of every input equals a loop over the examples, forward and
    per-example gradients of a weighted sum."""
    xs = [np.stack([a + 0.25 * k * rng.normal(size=a.shape) for k in range(batch)])
          for a in arrays]
    loop = [f_ag(*[ag.Tensor(x[k]) for x in xs]) for k in range(batch)]
    mapped = ag.vmap(f_ag)(*xs)
    for j, got in enumerate(_outputs(mapped)):
        want = np.stack([np.asarray(_outputs(out)[j].data) for out in loop])
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-13)
    weights = [_weights(out, rng) for out in loop]
    floats = [j for j, w in enumerate(weights[0]) if w is not None]
    if not floats:
        return
    n = len(xs)

    def loss(*args):
        outs = _outputs(f_ag(*args[:n]))
        return sum((outs[j] * w).sum() for j, w in zip(floats, args[n:], strict=True))

    ws = [np.stack([wk[j] for wk in weights]) for j in floats]
    argnums = tuple(range(n))
    per = ag.vmap(ag.grad(loss, argnums))(*xs, *ws)
    for k in range(batch):
        one = ag.grad(loss, argnums)(*[x[k] for x in xs], *[w[k] for w in ws])
        for got, want in zip(per, one, strict=True):
            np.testing.assert_allclose(got[k], want, rtol=1e-10, atol=1e-12)


def jvp_against_torch(f_ag, f_torch, arrays, rng) -> None:
    """Forward-mode tangents of the float outputs equal torch.func.jvp's."""
    import torch
    from torch import func as tfunc

    tangents = [rng.normal(size=a.shape) for a in arrays]
    _, ours = ag.jvp(f_ag, tuple(arrays), tuple(tangents))
    _, theirs = tfunc.jvp(f_torch, tuple(torch.tensor(a) for a in arrays),
                          tuple(torch.tensor(t) for t in tangents))
    for o, t in zip(_outputs(ours), _outputs(theirs), strict=True):
        if t.dtype.is_floating_point:
            np.testing.assert_allclose(np.asarray(o), t.numpy(), rtol=1e-10, atol=1e-12)
