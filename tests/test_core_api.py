"""The public names other code and users rely on exist and behave as documented."""

from __future__ import annotations

import numpy as np

import autograd_nn as ag

MODULE_FUNCTIONS = [
    "dot", "matmul", "add", "sigmoid", "relu", "tanh", "exp", "log", "softmax", "log_softmax",
    "sum", "mean", "concatenate", "stack", "where", "maximum", "logsumexp", "grad",
    "value_and_grad", "no_grad",
]
TENSOR_METHODS = [
    "dot", "matmul", "sum", "mean", "max", "reshape", "transpose", "exp", "log", "sqrt", "sigmoid",
    "relu", "tanh", "softmax", "log_softmax", "backward", "numpy", "item", "detach", "zero_grad",
]


def test_public_names_exist():
    for name in MODULE_FUNCTIONS:
        assert callable(getattr(ag, name)), name
    for name in TENSOR_METHODS:
        assert callable(getattr(ag.Tensor, name)), name


def test_tensor_attributes():
    t = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="w")
    assert (t.shape, t.ndim, t.size, t.dtype, t.name) == ((2, 3), 2, 6, np.float64, "w")
    assert t.requires_grad and t.is_leaf and t.grad is None and t.op is None
    assert t.T.shape == (3, 2) and t.T.op == "transpose"
    assert t.numpy() is t.data
    assert ag.Tensor(2.5).item() == 2.5
    y = (t * 2).sum()
    assert y.op == "sum" and y.parents[0].op == "mul"
    assert "requires_grad=True" in repr(t) and "name='w'" in repr(t)


def test_method_and_function_forms_agree():
    rng = np.random.default_rng(0)
    a = ag.Tensor(rng.normal(size=(3, 4)))
    np.testing.assert_array_equal(a.softmax(axis=0).data, ag.softmax(a, axis=0).data)
    np.testing.assert_array_equal(a.sum(axis=1, keepdims=True).data, a.data.sum(1, keepdims=True))
    np.testing.assert_array_equal(a.max(axis=0).data, a.data.max(0))
    np.testing.assert_array_equal(a.reshape(2, 6).data, a.data.reshape(2, 6))
    np.testing.assert_array_equal(a.transpose(1, 0).data, a.data.T)
    np.testing.assert_array_equal(a.dot(np.ones(4)).data, a.data @ np.ones(4))
