"""Bad input gives a clear error naming the operation, the shapes and the dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_nn as ag


def test_matmul_shape_mismatch_names_shapes_and_op():
    a = ag.Tensor(np.ones((3, 4)), requires_grad=True)
    b = ag.Tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\).*\(5, 2\).*4.*5"):
        a @ b
    with pytest.raises(ValueError, match=r"dot.*\(3, 4\).*\(5, 2\)"):
        ag.dot(a, b)


def test_matmul_batch_mismatch():
    a = ag.Tensor(np.ones((2, 3, 4)))
    b = ag.Tensor(np.ones((5, 4, 2)))
    with pytest.raises(ValueError, match=r"matmul: batch dimensions \(2,\) and \(5,\)"):
        a @ b


def test_dot_above_2d_points_to_matmul():
    with pytest.raises(ValueError, match="use matmul"):
        ag.dot(np.ones((2, 3, 4)), np.ones((4, 2)))


def test_broadcast_mismatch_names_op_shapes_dtypes():
    a = ag.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"add.*\(3,\) float64, \(4,\) float64"):
        a + np.ones(4)
    with pytest.raises(ValueError, match=r"mul.*\(3,\).*\(2, 4\)"):
        a * ag.Tensor(np.ones((2, 4)))


def test_backward_on_non_scalar_without_grad():
    y = ag.Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        y.backward()


def test_backward_grad_of_wrong_shape():
    y = ag.Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (ag.Tensor([1.0]) * 2).sum().backward()


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(3), True, np.array([True])])
def test_requires_grad_on_integer_or_bool_data(data):
    with pytest.raises(TypeError, match="floating"):
        ag.Tensor(data, requires_grad=True)
    t = ag.Tensor(data)
    with pytest.raises(TypeError, match=r"int|bool"):
        t.requires_grad = True


def test_integer_data_is_kept_and_float_is_default():
    assert ag.Tensor([1, 2]).dtype.kind == "i"
    assert ag.Tensor(1.5).dtype == np.float64
    assert ag.Tensor([1.0], dtype=np.float32).dtype == np.float32
    assert ag.Tensor(np.ones(2, np.float32), requires_grad=True).dtype == np.float32


@pytest.mark.parametrize("other", ["a string", None, {"a": 1}, object()])
def test_unsupported_operand_types(other):
    t = ag.Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="add"):
        t + other
    with pytest.raises(TypeError, match="mul"):
        other * t


def test_non_numeric_data():
    with pytest.raises(TypeError, match="numeric"):
        ag.Tensor(["a", "b"])
    with pytest.raises(TypeError, match="object"):
        ag.Tensor(np.array([None, 1]))


def test_item_assignment_is_refused():
    t = ag.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="item assignment"):
        t[0] = 3.0


def test_axis_out_of_range():
    t = ag.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range.*2 dims"):
        t.sum(axis=2)
    with pytest.raises(ValueError, match=r"softmax: axis 1 is out of range for a 0-d tensor"):
        ag.softmax(ag.Tensor(1.0), axis=1)  # a 0-d tensor is one element along axis 0 or -1


def test_reshape_error_names_shapes():
    t = ag.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        t.reshape(4, 2)


def test_ambiguous_truth_value():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(ag.Tensor([1.0, 2.0]))
    assert bool(ag.Tensor([1.0]))


def test_item_on_many_elements():
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        ag.Tensor([1.0, 2.0]).item()


def test_ufunc_without_a_row_on_tensor_that_requires_grad_is_refused():
    # (ufuncs with a row, np.tanh(w), are that row: tests/test_numpy_dispatch.py)
    w = ag.Tensor([1.0, 2.0], requires_grad=True, name="w")
    with pytest.raises(TypeError, match=r"requires grad \(\(2,\) float64, 'w'\) to np\.cbrt.*"
                                        r"drop its gradient.*ag\.sign\(x\) \* ag\.abs\(x\)"):
        np.cbrt(w)
    with pytest.raises(TypeError, match=r"np\.exp with dtype=.*ag\.exp"):
        np.exp(w * 2, dtype=np.float32)  # a computed tensor, not only a leaf
    with pytest.raises(TypeError, match=r"np\.multiply\.accumulate.*autograd_nn ops"):
        np.multiply.accumulate(w)
    with pytest.raises(TypeError, match=r"np\.add\.reduce.*ag\.sum"):
        np.add.reduce(w)
    with pytest.raises(TypeError, match=r"np\.heaviside.*ag\.where"):
        np.heaviside(np.zeros(2), w)  # a Tensor in second place too
    with pytest.raises(TypeError, match=r"np\.add with out=.*array = array \+ tensor"):
        a = np.zeros(2)
        a += w


def test_ufunc_on_tensor_without_grad_gives_numpys_result_like_np_dot():
    c = ag.Tensor([1.0, 2.0])
    out = np.tanh(c)  # the row, as for any Tensor: a constant Tensor
    assert type(out) is ag.Tensor and not out.requires_grad
    np.testing.assert_array_equal(out.data, np.tanh([1.0, 2.0]))
    out = np.cbrt(c)  # no row: NumPy on the values (nothing to lose)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, np.cbrt([1.0, 2.0]))
    np.testing.assert_array_equal(np.dot(c, c), 5.0)  # the same rule as np.dot
    a = np.zeros(2)
    a += c  # in place into the ndarray, as NumPy does
    assert type(a) is np.ndarray and a.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"np\.exp: out= cannot be a Tensor"):
        np.exp(np.ones(2), out=c)


def test_np_operator_ufuncs_are_the_tensor_operators():
    t = ag.Tensor([1.0, 2.0], requires_grad=True)
    for out in (np.add(np.ones(2), t), np.multiply(t, np.ones(2)), np.subtract(np.ones(2), t),
                np.power(np.ones(2), t), np.float64(2.0) * t, np.ones(2) / t):
        assert isinstance(out, ag.Tensor) and out.requires_grad
    assert (np.ones(2) < t).data.tolist() == [False, True]
    m = ag.Tensor(np.eye(2), requires_grad=True)
    (np.ones((2, 2)) @ m).sum().backward()
    np.testing.assert_array_equal(m.grad, np.full((2, 2), 2.0))


def test_ndarray_on_left_uses_tensor_ops():
    t = ag.Tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0]) * t
    assert isinstance(out, ag.Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 4.0])


def test_complex_data_may_not_require_grad():
    with pytest.raises(TypeError, match="real floating-point.*complex128"):
        ag.Tensor(np.ones(2, dtype=complex), requires_grad=True)
    with pytest.raises(TypeError, match="complex128"):
        ag.grad(lambda x: x.sum())(np.ones(2, dtype=complex))


def test_grad_of_non_numeric_argument():
    with pytest.raises(TypeError, match="grad of <lambda>.*str"):
        ag.grad(lambda x: x)("text")


def test_ufunc_on_a_value_ag_compile_traces_is_refused():
    def f(x, k):  # k holds integers: it never requires grad, but the compiled code reads it
        return ag.sum(x * np.cbrt(k))

    with pytest.raises(TypeError, match=r"np\.cbrt on a Tensor that ag\.compile is tracing "
                                        r"\(\(2,\) int64\).*baked into.*ag\.sign\(x\)"):
        ag.compile(f)(np.ones(2), np.array([1, -2]))

    def g(x, k):  # a ufunc with a row is that row: traced like ag.abs
        return ag.sum(x * np.abs(k))

    step = ag.compile(g)
    assert float(step(np.ones(2), np.array([1, -2]))) == 3.0
    assert float(step(np.ones(2), np.array([3, -2]))) == 5.0 and step.traces == 1
