"""Sorting (sort, argsort, topk, partition, argpartition): values and gradients against
PyTorch and NumPy, ties included, under vmap (each example sorts its own values) against a
loop, jvp against torch.func. The finite-difference rows join test_core_ops' tables, which the
registry, compile and backend tests read."""

from __future__ import annotations

import numpy as np
import pytest
from array_op_checks import against_torch, jvp_against_torch, vmap_equals_loop

import autograd_nn as ag

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

SHAPE_ROWS = {  # on a (2, 3, 4) input: (autograd function, NumPy reference)
    "sort": (lambda t: ag.sort(t, 1), lambda a: np.sort(a, 1)),
    "sort flat descending": (lambda t: t.sort(axis=None, descending=True),
                             lambda a: -np.sort(-a.reshape(-1))),
    "topk": (lambda t: ag.topk(t, 2, axis=1)[0],
             lambda a: np.take_along_axis(a, np.argsort(-a, 1)[:, :2], 1)),
    "topk smallest": (lambda t: t.topk(3, largest=False)[0], lambda a: np.sort(a, -1)[..., :3]),
    "partition": (lambda t: ag.partition(t, 1, axis=2), lambda a: np.partition(a, 1, axis=2)),
    "partition kths": (lambda t: t.partition((0, 3), axis=0 - 1) * 2,
                       lambda a: np.partition(a, (0, 3), axis=-1) * 2),
}
NO_GRADIENT_ROWS = {  # on a (2, 3, 5, 4) input
    "argsort": (lambda x: ag.argsort(x, axis=2), lambda x: np.argsort(x, axis=2, kind="stable")),
    "argsort flat": (lambda x: x.argsort(axis=None, descending=True),
                     lambda x: np.argsort(-x.reshape(-1), kind="stable")),
    "argpartition": (lambda x: ag.argpartition(x, 2, axis=1),
                     lambda x: np.argpartition(x, 2, axis=1)),
}

_A = np.random.default_rng(5).normal(size=(2, 3, 4))
# ties: equal values in one row, so the stable order decides who gets which gradient
_TIES = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, -1.0], [0.5, 0.5, 0.5, 0.0, 2.0, 2.0]])


def _torch_rows():
    torch = pytest.importorskip("torch")
    return {
        "sort": (lambda x: ag.sort(x, 1), lambda x: torch.sort(x, dim=1, stable=True)[0], [_A]),
        "sort descending": (lambda x: ag.sort(x, descending=True),
                            lambda x: torch.sort(x, descending=True, stable=True)[0], [_A]),
        "sort ties": (lambda x: ag.sort(x) * np.arange(6.0),
                      lambda x: torch.sort(x, stable=True)[0] * torch.arange(6.0), [_TIES]),
        "sort ties descending": (
            lambda x: ag.sort(x, descending=True) * np.arange(6.0),
            lambda x: torch.sort(x, descending=True, stable=True)[0] * torch.arange(6.0),
            [_TIES]),
        "argsort ties": (lambda x: ag.argsort(x, descending=True),
                         lambda x: torch.argsort(x, descending=True, stable=True), [_TIES]),
        "topk": (lambda x: ag.topk(x, 2, axis=1),
                 lambda x: tuple(torch.topk(x, 2, dim=1)), [_A]),
        "topk smallest": (lambda x: ag.topk(x, 3, largest=False),
                          lambda x: tuple(torch.topk(x, 3, largest=False)), [_A]),
    }


NAMES = ["sort", "sort descending", "sort ties", "sort ties descending", "argsort ties", "topk",
         "topk smallest"]


@pytest.mark.parametrize("name", NAMES)
def test_against_torch(name, rng):
    f_ag, f_t, arrays = _torch_rows()[name]
    against_torch(f_ag, f_t, arrays, rng)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_equals_a_loop(name, rng):
    f_ag, _, arrays = _torch_rows()[name]
    vmap_equals_loop(f_ag, arrays, rng)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_against_torch(name, rng):
    f_ag, f_t, arrays = _torch_rows()[name]
    jvp_against_torch(f_ag, f_t, arrays, rng)


def test_ties_send_the_gradient_in_the_stable_order():
    """Among equal values, the element first in x takes the first sorted place, and so its
    gradient; torch.sort(stable=True) agrees (test_against_torch). torch.topk picks among ties
    in an order it does not specify (here the later 3s): ours takes the first ones."""
    x = ag.Tensor(_TIES[0], requires_grad=True)  # [1, 3, 3, 2, 3, -1]
    values, indices = ag.topk(x, 2)
    np.testing.assert_array_equal(indices.data, [1, 2])
    (values * np.array([10.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 10, 1, 0, 0, 0])
    torch = pytest.importorskip("torch")
    theirs = torch.topk(torch.tensor(_TIES[0]), 2).indices.numpy()
    assert sorted(_TIES[0][theirs]) == [3.0, 3.0]  # the same values, maybe other positions


def test_partition_follows_numpy_and_refusals(rng):
    a = rng.normal(size=(4, 7))
    for kth in (0, 3, -1, (1, 5)):
        np.testing.assert_array_equal(ag.partition(a, kth).data, np.partition(a, kth))
        np.testing.assert_array_equal(ag.argpartition(a.T, kth, axis=0).data,
                                      np.argpartition(a.T, kth, axis=0))
    np.testing.assert_array_equal(ag.sort(a, axis=None).data, np.sort(a, axis=None))
    assert ag.argsort(a).dtype == np.argsort(a).dtype
    with pytest.raises(ValueError, match=r"^topk: k must be an int in \[0, 7\]"):
        ag.topk(a, 8)
    with pytest.raises(ValueError, match=r"^partition: kth 7 is out of bounds"):
        ag.partition(a, 7)
    with pytest.raises(ValueError, match=r"^sort: sort of a 0-d tensor along axis -1"):
        ag.sort(3.0)
    with pytest.raises(TypeError, match=r"^argsort: descending must be True or False"):
        ag.argsort(a, descending="yes")
    np.testing.assert_array_equal(ag.sort(3.0, axis=None).data, [3.0])
    ints = np.array([3, 1, 2, 1], dtype=np.int32)
    assert ag.sort(ints).dtype == np.int32
    np.testing.assert_array_equal(ag.argsort(ints, descending=True).data, [0, 2, 1, 3])


def test_vmap_sorts_each_example_and_compile_follows_new_values(rng):
    xs = rng.normal(size=(5, 3, 4))
    np.testing.assert_array_equal(ag.vmap(lambda x: ag.partition(x, 2))(xs),
                                  np.stack([np.partition(x, 2) for x in xs]))
    f = ag.compile(ag.value_and_grad(lambda x: (ag.topk(x, 2)[0] * np.arange(2.0)).sum()))
    for _ in range(3):  # new values, new order: nothing of the first call is baked in
        x = rng.normal(size=(3, 4))
        got, want = f(x), ag.value_and_grad(lambda x: (ag.topk(x, 2)[0] * np.arange(2.0))
                                            .sum())(x)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_array_equal(got[1], want[1])
    assert f.traces == 1


@pytest.mark.parametrize("descending", [False, True])
def test_nan_goes_where_torch_puts_it(descending):
    """NaN sorts as the largest value, as in NumPy and torch: last ascending, first descending."""
    torch = pytest.importorskip("torch")
    v = np.array([1.0, np.nan, -2.0, np.nan, 3.0])
    theirs = torch.sort(torch.tensor(v), descending=descending, stable=True)
    np.testing.assert_array_equal(ag.argsort(v, descending=descending).data,
                                  theirs.indices.numpy())
    np.testing.assert_array_equal(ag.sort(v, descending=descending).data, theirs.values.numpy())
