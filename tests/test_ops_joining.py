"""Joining and splitting (append, column_stack, atleast_1d/2d/3d, dsplit): values and gradients
against PyTorch, under vmap against a loop, jvp against torch.func. Their finite-difference
rows (SHAPE_ROWS) join test_core_ops.SHAPE_OPS, which the registry, compile and backend tests
read."""

from __future__ import annotations

import numpy as np
import pytest
from array_op_checks import against_torch, jvp_against_torch, vmap_equals_loop

import autograd_nn as ag

# torch.func itself calls torch.jit.script, which torch 2.13 deprecates: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

SHAPE_ROWS = {  # on a (2, 3, 4) input: (autograd function, NumPy reference)
    "append": (lambda t: ag.append(t, t[:, :1] * 2, axis=1),
               lambda a: np.append(a, a[:, :1] * 2, axis=1)),
    "append flat": (lambda t: ag.append(t[0], t[1, 0]), lambda a: np.append(a[0], a[1, 0])),
    "column_stack": (lambda t: ag.column_stack([t[0, 0], t[1].T, t[0, 1] * 3]),
                     lambda a: np.column_stack([a[0, 0], a[1].T, a[0, 1] * 3])),
    "atleast_1d": (lambda t: ag.atleast_1d(t[0, 1, 2]) * t[1, 0],
                   lambda a: np.atleast_1d(a[0, 1, 2]) * a[1, 0]),
    "atleast_2d": (lambda t: ag.atleast_2d(t[0, 0]) + ag.atleast_2d(t[1]),
                   lambda a: np.atleast_2d(a[0, 0]) + np.atleast_2d(a[1])),
    "atleast_3d": (lambda t: ag.concatenate(ag.atleast_3d(t[0], t[1, :, 1:2]), axis=1)
                   * ag.atleast_3d(t[1, 2, :1]),
                   lambda a: np.concatenate(np.atleast_3d(a[0], a[1, :, 1:2]), axis=1)
                   * np.atleast_3d(a[1, 2, :1])),
    "dsplit": (lambda t: ag.dsplit(t, [1, 3])[1] * ag.dsplit(t, 2)[0],
               lambda a: np.dsplit(a, [1, 3])[1] * np.dsplit(a, 2)[0]),
}

_A = np.random.default_rng(5).normal(size=(2, 3, 4))


def _torch_rows():
    torch = pytest.importorskip("torch")
    return {
        "append": (lambda t: ag.append(t, t[:, :1] * 2, axis=1),
                   lambda t: torch.cat([t, t[:, :1] * 2], dim=1)),
        "append flat": (lambda t: ag.append(t[0], t[1]),
                        lambda t: torch.cat([t[0].reshape(-1), t[1].reshape(-1)])),
        "column_stack": (lambda t: ag.column_stack([t[0, 0], t[1].T]),
                         lambda t: torch.column_stack([t[0, 0], t[1].T])),
        "atleast_1d": (lambda t: ag.atleast_1d(t[0, 0, 0]) * 2,
                       lambda t: torch.atleast_1d(t[0, 0, 0]) * 2),
        "atleast_2d": (lambda t: ag.atleast_2d(t[0, 0]), lambda t: torch.atleast_2d(t[0, 0])),
        "atleast_3d": (lambda t: ag.atleast_3d(t[0]), lambda t: torch.atleast_3d(t[0])),
        "atleast_3d vector": (lambda t: ag.atleast_3d(t[0, 0]),
                              lambda t: torch.atleast_3d(t[0, 0])),
        "dsplit": (lambda t: ag.dsplit(t, [1, 3]), lambda t: torch.dsplit(t, [1, 3])),
        "dsplit sections": (lambda t: ag.dsplit(t, 2), lambda t: torch.dsplit(t, 2)),
    }


NAMES = ["append", "append flat", "column_stack", "atleast_1d", "atleast_2d", "atleast_3d",
         "atleast_3d vector", "dsplit", "dsplit sections"]


@pytest.mark.parametrize("name", NAMES)
def test_against_torch(name, rng):
    f_ag, f_t = _torch_rows()[name]
    against_torch(f_ag, f_t, [_A], rng)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_equals_a_loop(name, rng):
    f_ag, _ = _torch_rows()[name]
    vmap_equals_loop(f_ag, [_A], rng)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_against_torch(name, rng):
    f_ag, f_t = _torch_rows()[name]
    jvp_against_torch(f_ag, f_t, [_A], rng)


def test_numpy_edges_and_refusals():
    assert ag.atleast_1d(3.0).shape == (1,) and ag.atleast_2d(3.0).shape == (1, 1)
    assert ag.atleast_3d(np.ones((2, 3))).shape == (2, 3, 1)
    assert ag.atleast_3d(3.0).shape == (1, 1, 1)
    a, b = ag.atleast_2d(np.ones(2), 1.0)
    assert a.shape == (1, 2) and b.shape == (1, 1)
    np.testing.assert_array_equal(ag.append([1, 2], [[3], [4]]).data, np.append([1, 2],
                                                                                  [[3], [4]]))
    small = np.ones((2, 2), np.int32)
    assert ag.append(small, small[:1], axis=0).dtype == np.append(small, small[:1], 0).dtype
    with pytest.raises(ValueError, match=r"^append: values of shape \(2,\) need as many dims"):
        ag.append(np.ones((2, 2)), [1.0, 2.0], axis=0)
    with pytest.raises(ValueError, match=r"^dsplit: dsplit needs at least 3 dims"):
        ag.dsplit(np.ones((2, 4)), 2)
    with pytest.raises(ValueError, match="do not divide"):
        ag.dsplit(np.ones((1, 2, 5)), 2)
    pieces = ag.dsplit(np.arange(8.0).reshape(1, 2, 4), [3])
    assert [p.shape for p in pieces] == [(1, 2, 3), (1, 2, 1)]
