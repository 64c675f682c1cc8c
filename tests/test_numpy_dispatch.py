"""The user's own NumPy code on Tensors (`__array_ufunc__`, `__array_function__`): `np.exp(t)`,
`np.dot(X, W)`, `np.sum(t, axis=0)` run the autograd_nn op of the same name and differentiate
like it, under every transform; what has no op is refused by name where it would lose a
gradient. Both tutorials' forward code runs here unchanged, copied as a user would."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn.core.numpy_functions import ADAPTERS
from autograd_nn.core.numpy_ufuncs import UFUNC_ROWS

try:
    import torch
    from torch import func as tfunc
except ImportError:  # no PyTorch: only the checks against it skip
    torch = tfunc = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

# --- the tutorials' code, copied from the notebooks as a user would ----------------------------
TUTORIAL1 = """
import numpy as np

def sigmoid(x):
    return 1.0/(1+ np.exp(-x))

def sigmoid_derivative(x):
    return x * (1.0 - x)

class NeuralNetwork:
    def __init__(self, x, y):
        self.input      = x
        self.weights1   = np.random.rand(self.input.shape[1],4)
        self.weights2   = np.random.rand(4,1)
        self.y          = y
        self.output     = np.zeros(self.y.shape)

    def feedforward(self):
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def backprop(self):
        # application of the chain rule to find derivative of the loss function with respect to weights2 and weights1
        d_weights2 = np.dot(self.layer1.T, (2*(self.y - self.output) * sigmoid_derivative(self.output)))
        d_weights1 = np.dot(self.input.T,  (np.dot(2*(self.y - self.output) * sigmoid_derivative(self.output), self.weights2.T) * sigmoid_derivative(self.layer1)))

        # update the weights with the derivative (slope) of the loss function
        self.weights1 += d_weights1
        self.weights2 += d_weights2
"""  # noqa: E501 (the notebook's lines, kept as they are)

TUTORIAL2 = """
import numpy as np

def ReLU(inputs):
    return np.maximum(0, inputs)

class NeuralNetwork:
    def __init__(self, input_size, hidden_size, output_size):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        
        # Initialize weights
        self.weights1 = np.random.randn(self.input_size, self.hidden_size) * 0.01
        self.weights2 = np.random.randn(self.hidden_size, self.output_size) * 0.01
    
    def forward(self, X):
        # Forward pass
        self.z1 = np.dot(X, self.weights1)
        self.a1 = self.sigmoid(self.z1)
        self.z2 = np.dot(self.a1, self.weights2)
        y_pred = self.sigmoid(self.z2)
        return y_pred
    
    def backward(self, X, y, y_pred, learning_rate):
        # Backward pass
        delta2 = (y_pred - y) * self.sigmoid_derivative(self.z2)
        d_weights2 = np.dot(self.a1.T, delta2)
        delta1 = np.dot(delta2, self.weights2.T) * self.sigmoid_derivative(self.z1)
        d_weights1 = np.dot(X.T, delta1)
        
        # Update weights
        self.weights1 -= learning_rate * d_weights1
        self.weights2 -= learning_rate * d_weights2
    
    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))
    
    def sigmoid_derivative(self, z):
        return self.sigmoid(z) * (1 - self.sigmoid(z))
"""  # noqa: W293 (the notebook's blank lines with spaces, kept)

X1 = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
Y1 = np.array([[0], [1], [1], [0]])
X2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def _module(text: str) -> dict:
    namespace: dict = {"__name__": "user_tutorial"}
    exec(compile(text, "user_tutorial.py", "exec"), namespace)
    return namespace


def test_tutorial1_feedforward_runs_unchanged_on_tensors_and_differentiates(rng):
    t1 = _module(TUTORIAL1)
    w1, w2 = rng.uniform(size=(3, 4)), rng.uniform(size=(4, 1))
    net = t1["NeuralNetwork"](X1, Y1)
    net.weights1 = ag.Tensor(w1, requires_grad=True)
    net.weights2 = ag.Tensor(w2, requires_grad=True)
    net.feedforward()
    assert isinstance(net.output, ag.Tensor) and net.output.op == "div"
    loss = np.sum((net.y - net.output) ** 2)  # the tutorial's sum-of-squares loss
    loss.backward()

    def loss_np(a, b):  # the same code on arrays
        arrays = t1["NeuralNetwork"](X1, Y1)
        arrays.weights1, arrays.weights2 = a, b
        arrays.feedforward()
        return np.sum((arrays.y - arrays.output) ** 2)

    np.testing.assert_allclose(float(loss), loss_np(w1, w2), rtol=1e-15)
    for i, got in enumerate((net.weights1.grad, net.weights2.grad)):
        np.testing.assert_allclose(got, numeric_grad(loss_np, [w1, w2], i), rtol=1e-6, atol=1e-9)

    # the same network written with ag ops: the same gradients, bit for bit
    v1, v2 = ag.Tensor(w1, requires_grad=True), ag.Tensor(w2, requires_grad=True)
    ag.sum((Y1 - _ag_forward1(X1, v1, v2)) ** 2).backward()
    np.testing.assert_array_equal(net.weights1.grad, v1.grad)
    np.testing.assert_array_equal(net.weights2.grad, v2.grad)

    # and the tutorial's hand-written backprop (ascent on -loss) is minus this gradient
    hand = t1["NeuralNetwork"](X1, Y1)
    hand.weights1, hand.weights2 = w1.copy(), w2.copy()
    hand.feedforward()
    hand.backprop()
    np.testing.assert_allclose(w1 - hand.weights1, net.weights1.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w2 - hand.weights2, net.weights2.grad, rtol=1e-12, atol=1e-15)


def _ag_forward1(x, v1, v2):
    layer1 = 1.0 / (1 + ag.exp(-ag.dot(x, v1)))
    return 1.0 / (1 + ag.exp(-ag.dot(layer1, v2)))


def test_tutorial2_forward_and_its_loss_run_unchanged_on_tensors(rng):
    t2 = _module(TUTORIAL2)
    net = t2["NeuralNetwork"](input_size=2, hidden_size=4, output_size=1)
    w1, w2 = rng.normal(size=(2, 4)), rng.normal(size=(4, 1))
    net.weights1 = ag.Tensor(w1, requires_grad=True)
    net.weights2 = ag.Tensor(w2, requires_grad=True)
    y_pred = net.forward(X2)
    loss = np.mean(np.square(y_pred - Y1))  # the tutorial's loss line
    half_sse = 0.5 * np.sum(np.square(y_pred - Y1))  # what its backward differentiates
    g1, g2 = ag.grad(lambda a, b: _tutorial2_loss(t2, a, b), argnums=(0, 1))(w1, w2)

    def loss_np(a, b):
        return float(_tutorial2_loss(t2, a, b))

    np.testing.assert_allclose(float(loss), loss_np(w1, w2), rtol=1e-15)
    np.testing.assert_allclose(g1, numeric_grad(loss_np, [w1, w2], 0), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(g2, numeric_grad(loss_np, [w1, w2], 1), rtol=1e-6, atol=1e-10)

    half_sse.backward()
    hand = t2["NeuralNetwork"](2, 4, 1)
    hand.weights1, hand.weights2 = w1.copy(), w2.copy()
    hand.backward(X2, Y1, hand.forward(X2), learning_rate=1.0)
    np.testing.assert_allclose(w1 - hand.weights1, net.weights1.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w2 - hand.weights2, net.weights2.grad, rtol=1e-12, atol=1e-15)

    relu = t2["ReLU"](ag.Tensor([[-1.0, 2.0]], requires_grad=True))
    assert relu.op == "maximum" and relu.data.tolist() == [[0.0, 2.0]]


def _tutorial2_loss(t2: dict, w1, w2):
    net = object.__new__(t2["NeuralNetwork"])  # the weights given, not drawn
    net.weights1, net.weights2 = w1, w2
    return np.mean(np.square(net.forward(X2) - Y1))


def test_tutorial1_forward_compiles(rng):
    sigmoid = _module(TUTORIAL1)["sigmoid"]

    def loss(w1, w2, x, y):
        layer1 = sigmoid(np.dot(x, w1))
        return np.sum((y - sigmoid(np.dot(layer1, w2))) ** 2)

    w1, w2 = rng.uniform(size=(3, 4)), rng.uniform(size=(4, 1))
    step = ag.compile(ag.value_and_grad(loss, argnums=(0, 1)))
    value, (g1, g2) = step(w1, w2, X1, Y1)
    eager_value, (e1, e2) = ag.value_and_grad(loss, argnums=(0, 1))(w1, w2, X1, Y1)
    np.testing.assert_allclose(value, eager_value, rtol=1e-14)
    np.testing.assert_allclose(g1, e1, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(g2, e2, rtol=1e-13, atol=1e-16)
    assert "np.dot(" in step.source and "sigmoid" in step.source
    value2, _ = step(w1 * 2, w2, X1, Y1)  # new values: no new trace, the new loss
    assert step.traces == 1
    np.testing.assert_allclose(value2, ag.value_and_grad(loss)(w1 * 2, w2, X1, Y1)[0],
                               rtol=1e-14)


# --- every ufunc row, against NumPy on the values and finite differences ----------------------
def _ufunc_inputs(ufunc: np.ufunc, rng) -> list[np.ndarray] | None:
    """Inputs in the ufunc's domain (finite output, no warning), or None if none found."""
    floats = any(t.startswith("d" * ufunc.nin) for t in ufunc.types)
    candidates = ([lambda s: rng.uniform(0.2, 0.8, s), lambda s: rng.uniform(1.2, 2.0, s),
                   lambda s: rng.normal(size=s)] if floats else
                  [lambda s: rng.integers(1, 5, size=s)])
    for make in candidates:
        shapes = [(3, 4), (4, 2)] if ufunc.signature else [(3, 4)] * ufunc.nin  # matmul
        inputs = [make(shape) for shape in shapes]
        with np.errstate(all="raise"):
            try:
                out = ufunc(*inputs)
            except FloatingPointError:
                continue
        if np.all(np.isfinite(out)):
            return inputs
    return None


@pytest.mark.parametrize("ufunc", sorted(UFUNC_ROWS, key=lambda u: u.__name__),
                         ids=lambda u: u.__name__)
def test_every_ufunc_with_a_row_is_that_row(ufunc, rng):
    inputs = _ufunc_inputs(ufunc, rng)
    assert inputs is not None, f"no domain found for np.{ufunc.__name__}"
    floating = inputs[0].dtype.kind == "f"
    for place in range(ufunc.nin):  # the Tensor first, and after an ndarray
        tensors = [ag.Tensor(a, requires_grad=floating) if i == place else a
                   for i, a in enumerate(inputs)]
        got = ufunc(*tensors)
        want = ufunc(*inputs)
        assert isinstance(got, ag.Tensor), f"np.{ufunc.__name__} gave {type(got).__name__}"
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.data, want, rtol=1e-15, atol=0)
        if floating and got.requires_grad and want.dtype.kind == "f":
            weights = rng.normal(size=want.shape)
            (got * weights).sum().backward()

            def f(*arrays, weights=weights):
                return np.sum(ufunc(*arrays) * weights)

            np.testing.assert_allclose(tensors[place].grad, numeric_grad(f, inputs, place),
                                       rtol=1e-5, atol=1e-7)


# --- every array function with a row, against NumPy on the values -----------------------------
_R = np.random.default_rng(5)
A, B, V = _R.normal(size=(3, 4)), _R.normal(size=(4, 2)), _R.normal(size=4)
A3, S, P = _R.normal(size=(2, 3, 4)), _R.normal(size=(4, 4)), _R.uniform(0.5, 1.5, (3, 4))
_TAKE = np.array([[3, 0], [1, 1], [2, 0]])

SAMPLES = {  # NumPy function: calls as (args, kwargs); every ndarray becomes a Tensor
    np.squeeze: [((A[None],), {}), ((A[:, :1],), {"axis": 1})],
    np.ravel: [((A,), {})],
    np.moveaxis: [((A3, 0, -1), {})],
    np.flip: [((A,), {}), ((A, 1), {})],
    np.roll: [((A, 2), {}), ((A, 1, 0), {})],
    np.tile: [((V, 2), {}), ((A, (2, 1)), {})],
    np.repeat: [((V, 2), {}), ((A, 2, 1), {})],
    np.take_along_axis: [((A, _TAKE), {}), ((A, _TAKE[:, :1]), {"axis": 1})],
    np.array_split: [((V, 3), {})],
    np.split: [((A, 2, 1), {}), ((A, [1]), {})],
    np.hsplit: [((A, 2), {})],
    np.vsplit: [((S, 2), {})],
    np.hstack: [(([A, P],), {})],
    np.vstack: [(([A, P],), {})],
    np.einsum: [(("ij,jk->ik", A, B), {}), (("ii", S), {})],
    np.tensordot: [((A, B, 1), {}), ((A3, A3), {"axes": ([1, 2], [1, 2])})],
    np.outer: [((V, V), {})],
    np.diagonal: [((S,), {}), ((A3, 0, 1, 2), {})],
    np.trace: [((S,), {}), ((S, 1), {})],
    np.diag: [((V,), {}), ((S,), {}), ((S, 1), {})],
    np.tril: [((S,), {}), ((S, -1), {})],
    np.triu: [((S,), {}), ((S, 1), {})],
    np.clip: [((A, -0.5, 0.5), {}), ((A,), {"min": -0.5}), ((A, None, 0.3), {})],
    np.astype: [((A, np.float32), {})],
    np.sinc: [((A,), {})],
    np.nan_to_num: [((A,), {})],
    np.where: [((A > 0, A, 0.0), {}), ((A > 0, A, P), {})],
    np.reshape: [((A, (4, 3)), {}), ((A, -1), {}), ((A,), {"shape": (2, 6)})],
    np.transpose: [((A,), {}), ((A3, (2, 0, 1)), {})],
    np.swapaxes: [((A3, 0, 2), {})],
    np.expand_dims: [((A, 1), {})],
    np.broadcast_to: [((V, (3, 4)), {})],
    np.concatenate: [(([A, P],), {}), (([A, P], 1), {}), (([A, P],), {"axis": -1})],
    np.stack: [(([A, P], 1), {})],
    np.pad: [((A, 1), {}), ((A, ((1, 0), (0, 2))), {"constant_values": 2.0})],
    np.dot: [((A, B), {}), ((V, V), {}), ((A, V), {})],
    np.isclose: [((A, A + 1e-9), {})],
    np.sum: [((A,), {}), ((A, 0), {}), ((A,), {"axis": 1, "keepdims": True}), ((A, (0, 1)), {})],
    np.mean: [((A,), {}), ((A, 1), {}), ((A,), {"axis": 0, "keepdims": True})],
    np.max: [((A,), {}), ((A, 1), {}), ((A,), {"axis": 0, "keepdims": True})],
    np.min: [((A,), {}), ((A, 0), {})],
    np.amax: [((A, 1), {})],
    np.amin: [((A, 1), {})],
    np.prod: [((P,), {}), ((P, 1), {})],
    np.var: [((A,), {}), ((A, 0), {}), ((A,), {"axis": 1, "ddof": 1})],
    np.std: [((A,), {}), ((A,), {"ddof": 1, "keepdims": True})],
    np.cumsum: [((A,), {}), ((A, 1), {})],
    np.cumprod: [((P,), {}), ((P, 0), {})],
    np.argmax: [((A,), {}), ((A, 1), {})],
    np.argmin: [((A,), {}), ((A,), {"axis": 0, "keepdims": True})],
    np.all: [((A > 0,), {}), ((A > -5, 1), {})],
    np.any: [((A > 0,), {}), ((A > 5,), {"axis": 0})],
    np.round: [((A,), {})],
    np.around: [((A,), {})],
    np.linalg.norm: [((A,), {}), ((V,), {}), ((A,), {"axis": 1}), ((V, 1), {})],
    # the ops issue 24's other rounds added: each checked against NumPy here
    np.append: [((A, P), {}), ((A, P, 0), {}), ((V, V), {})],
    np.argpartition: [((V, 1), {}), ((A, 2, 1), {})],
    np.argsort: [((V,), {}), ((A, 0), {})],
    np.argwhere: [((A > 0,), {})],
    np.atleast_1d: [((V,), {})],
    np.atleast_2d: [((V,), {})],
    np.atleast_3d: [((A,), {}), ((V,), {})],
    np.column_stack: [(([V, V],), {}), (([A, P],), {})],
    np.cross: [((A[:, :3], P[:, :3]), {"axis": -1}), ((A3[:, :, :3], A3[:, :, 1:]), {"axis": 2})],
    np.diff: [((A,), {}), ((A, 2, 0), {}), ((V,), {"prepend": 0.0})],
    np.dsplit: [((A3, 2), {})],
    np.gradient: [((V,), {}), ((A, 0.5), {"axis": 1}), ((V,), {"edge_order": 2})],
    np.inner: [((A, P), {}), ((V, V), {})],
    np.kron: [((A, S[:2, :2]), {})],
    np.linspace: [((np.array(0.0), np.array(1.0), 5), {}),
                  ((np.array(-1.0), 2.0), {"num": 4, "endpoint": False})],
    np.meshgrid: [((V, V[:3]), {}), ((V, V[:3]), {"indexing": "ij"})],
    np.nonzero: [((A > 0,), {})],
    np.partition: [((V, 1), {}), ((A, 2, 1), {})],
    np.rot90: [((A,), {}), ((A3, 2, (1, 2)), {})],
    np.sort: [((V,), {}), ((A, 0), {}), ((A,), {"axis": None})],
}


def _as_tensors(value, found: list):
    """Every float or bool ndarray in `value` (and its lists) as a Tensor (the floating ones
    require grad); integer arrays (indices) stay arrays."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fb":
        t = ag.Tensor(value, requires_grad=value.dtype.kind == "f")
        found.append((t, value))
        return t
    if isinstance(value, list):
        return [_as_tensors(v, found) for v in value]
    return value


def _replace(value, arrays: list):
    """`value` with its ndarrays replaced, in order, by `arrays`."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fb":
        return arrays.pop(0)
    if isinstance(value, list):
        return [_replace(v, arrays) for v in value]
    return value


def _name(function) -> str:
    module = function.__module__
    return ("np.linalg." if module == "numpy.linalg" else "np.") + function.__name__


def test_every_array_function_with_a_row_has_a_sample_here():
    missing = sorted(_name(f) for f in ADAPTERS if f not in SAMPLES)
    assert not missing, (f"{missing} dispatch to an autograd_nn function: add a sample call to "
                         "SAMPLES (it checks that both give NumPy's values and gradients)")


@pytest.mark.parametrize("function", sorted(SAMPLES, key=_name), ids=_name)
def test_every_array_function_with_a_row_gives_numpys_values_and_gradients(function, rng):
    assert function in ADAPTERS, f"{_name(function)} has no row to dispatch to"
    for args, kwargs in SAMPLES[function]:
        found: list = []
        tensor_args = _as_tensors(list(args), found)
        tensor_kwargs = {k: _as_tensors(v, found) for k, v in kwargs.items()}
        got, want = function(*tensor_args, **tensor_kwargs), function(*args, **kwargs)
        outs = list(got) if isinstance(got, (list, tuple)) else [got]
        wants = list(want) if isinstance(want, (list, tuple)) else [want]
        assert len(outs) == len(wants)
        for g, w in zip(outs, wants, strict=True):
            w = np.asarray(w)
            assert isinstance(g, ag.Tensor), f"{_name(function)} gave {type(g).__name__}"
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape)
            np.testing.assert_allclose(g.data, w, rtol=1e-13, atol=1e-15)
        differentiable = [(t, a) for t, a in found if t.requires_grad]
        if not differentiable or wants[0].dtype != np.float64 or not outs[0].requires_grad:
            continue
        weights = [rng.normal(size=np.shape(w)) for w in wants]
        ag.sum(ag.stack([ag.sum(g * r) for g, r in zip(outs, weights, strict=True)])).backward()

        def f(*arrays, args=args, kwargs=kwargs, weights=weights):
            pool = list(arrays)
            out = function(*_replace(list(args), pool),
                           **{k: _replace(v, pool) for k, v in kwargs.items()})
            outs = out if isinstance(out, (list, tuple)) else [out]
            return sum(np.sum(o * r) for o, r in zip(outs, weights, strict=True))

        plain = [a for _, a in found]
        for i, (t, _) in enumerate(found):
            if t.requires_grad:
                np.testing.assert_allclose(t.grad, numeric_grad(f, plain, i), rtol=1e-5,
                                           atol=1e-7, err_msg=_name(function))


# --- keywords: mapped, or refused by name -----------------------------------------------------
def test_keywords_map_to_ours_or_are_refused_by_name():
    w = ag.Tensor(A, requires_grad=True, name="w")
    assert np.sum(w, axis=1, keepdims=True).shape == (3, 1)
    assert np.max(w, axis=None, out=None).shape == ()  # NumPy's defaults pass
    assert np.exp(w, where=True, casting="same_kind", dtype=None).op == "exp"
    for call, text in [
            (lambda: np.mean(w, dtype=np.float32), r"np\.mean \(dtype=.*ag\.mean has no such"),
            (lambda: np.sum(w, initial=1.0), r"np\.sum \(initial=1\.0"),
            (lambda: np.max(w, where=A > 0, initial=0.0), r"np\.max \(.*where="),
            (lambda: np.mean(w, out=np.zeros(())), r"np\.mean \(out="),
            (lambda: np.ravel(w, order="F"), r"np\.ravel \(order='F'"),
            (lambda: np.round(w, 2), r"np\.round \(decimals=2"),
            (lambda: np.where(w > 0), None),  # one argument: NumPy's indices, nothing lost
            (lambda: np.exp(w, dtype=np.float32), r"np\.exp with dtype=.*ag\.exp"),
            (lambda: np.exp(w, out=np.zeros((3, 4))), r"np\.exp with out="),
            (lambda: np.add.reduce(w), r"np\.add\.reduce.*Use ag\.sum"),
            (lambda: np.einsum("ij->", w, optimize=True), r"np\.einsum \(optimize=True")]:
        if text is None:
            rows, cols = call()
            np.testing.assert_array_equal(rows, np.nonzero(A > 0)[0])
            continue
        with pytest.raises(TypeError, match=text) as refused:
            call()
        assert "would drop its gradient silently" in str(refused.value)
    with pytest.raises(TypeError, match=r"np\.where \(without y: ag\.where needs it"):
        np.where(A > 0, w)


def test_a_call_without_a_counterpart_runs_on_the_values_when_nothing_needs_grad():
    c = ag.Tensor(A)
    got = np.mean(c, dtype=np.float32)
    assert type(got) is np.float32 and got == np.mean(A, dtype=np.float32)
    assert np.median(c) == np.median(A) and np.allclose(c, A)
    a = np.zeros((3, 4))
    a += c  # in place into the ndarray, as NumPy does
    np.testing.assert_array_equal(a, A)
    with pytest.raises(TypeError, match=r"np\.exp: out= cannot be a Tensor"):
        np.exp(np.ones(2), out=ag.Tensor([0.0, 0.0]))


def test_functions_without_a_row_are_refused_by_name_with_the_op_to_use():
    w = ag.Tensor(A, requires_grad=True, name="w")
    for call, text in [(lambda: np.median(w), r"\(\(3, 4\) float64, 'w'\) to np\.median"),
                       (lambda: np.average(w), r"np\.average.*ag\.mean"),
                       (lambda: np.cbrt(w), r"np\.cbrt \(a ufunc.*ag\.sign\(x\)"),
                       (lambda: np.rint(w), r"np\.rint.*ag\.round"),
                       (lambda: np.linalg.det(w[:, :3]), r"np\.linalg\.det"),
                       (lambda: np.stack([A, w]).cumsum(0), None)]:
        if text is None:  # a row reached through a list with an ndarray first: fine
            assert call().requires_grad
            continue
        with pytest.raises(TypeError, match=text):
            call()


def test_asarray_and_array_of_a_tensor_that_needs_grad_stay_refused():
    w = ag.Tensor(A, requires_grad=True, name="w")
    for convert in (np.asarray, np.array, np.ascontiguousarray):
        with pytest.raises(TypeError, match=r"requires grad.*'w'.*to NumPy.*\.detach\(\)"):
            convert(w)
    np.testing.assert_array_equal(np.asarray(w.detach()), A)


def test_mixed_ndarray_and_tensor_arguments():
    w = ag.Tensor(B, requires_grad=True)
    for out in (np.dot(A, w), np.matmul(A, w), A @ w, np.einsum("ij,jk->ik", A, w)):
        assert isinstance(out, ag.Tensor) and out.requires_grad
        np.testing.assert_allclose(out.data, A @ B, rtol=1e-14)
    joined = np.concatenate([B, w, B])
    assert joined.shape == (12, 2) and joined.requires_grad
    chosen = np.where(B > 0, w, np.zeros((4, 2)))
    chosen.sum().backward()
    np.testing.assert_array_equal(w.grad, (B > 0).astype(float))
    assert np.maximum(0, w).op == "maximum" and np.maximum(np.zeros(2), w).op == "maximum"


def test_shapes_and_like_constants():
    w = ag.Tensor(A, requires_grad=True)
    assert np.shape(w) == (3, 4) and np.ndim(w) == 2 and np.size(w) == 12 and np.size(w, 1) == 4
    for like, value in ((np.zeros_like, 0.0), (np.ones_like, 1.0)):
        out = like(w)
        assert isinstance(out, ag.Tensor) and not out.requires_grad
        np.testing.assert_array_equal(out.data, np.full((3, 4), value))
    assert np.full_like(w, 7, dtype=np.int32).data.dtype == np.int32
    with pytest.raises(TypeError, match=r"np\.full_like \(its fill.*np\.zeros_like\(x\) \+ t"):
        np.full_like(ag.Tensor(A), ag.Tensor(2.0, requires_grad=True))
    with pytest.raises(TypeError, match=r"requires grad \(\(\) float64\) to np\.copyto"):
        np.full_like(A, ag.Tensor(2.0, requires_grad=True))  # NumPy's own copy of the fill
    # per example inside vmap
    got = ag.vmap(lambda x: np.sum(x * np.ones_like(x) + np.zeros_like(x)))(A)
    np.testing.assert_allclose(got, A.sum(axis=1), rtol=1e-14)


# --- under every layer, exactly the ag. call -------------------------------------------------
def _f_np(x, w):
    z = np.dot(x, w)
    h = np.concatenate([np.maximum(0, z), np.tanh(z)], axis=-1)
    s = 1 / (1 + np.exp(-np.clip(h, -3, 3)))
    return np.sum(np.where(s > 0.5, s, np.log(s + 1.0)) ** 2) + np.mean(np.max(h, axis=-1))


def _f_ag(x, w):
    z = ag.dot(x, w)
    h = ag.concatenate([ag.maximum(0, z), ag.tanh(z)], axis=-1)
    s = 1 / (1 + ag.exp(-ag.clip(h, -3, 3)))
    return ag.sum(ag.where(s > 0.5, s, ag.log(s + 1.0)) ** 2) + ag.mean(ag.max(h, axis=-1))


def _f_values(x, w):  # NumPy alone, the reference for finite differences
    return float(_f_np(np.asarray(x), np.asarray(w)))


def test_grad_vjp_and_hessian_are_the_ag_calls(rng):
    x, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    got, want = ag.grad(_f_np, argnums=(0, 1))(x, w), ag.grad(_f_ag, argnums=(0, 1))(x, w)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_allclose(got[1], numeric_grad(_f_values, [x, w], 1), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_array_equal(ag.hessian(lambda v: _f_np(x, v))(w),
                                  ag.hessian(lambda v: _f_ag(x, v))(w))
    np.testing.assert_array_equal(ag.grad(ag.checkpoint(_f_np), argnums=1)(x, w), want[1])


@needs_torch
def test_jvp_matches_the_ag_call_and_torch_func(rng):
    x, w, dw = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    value, tangent = ag.jvp(lambda v: _f_np(x, v), (w,), (dw,))
    value_ag, tangent_ag = ag.jvp(lambda v: _f_ag(x, v), (w,), (dw,))
    assert float(value) == float(value_ag) and float(tangent) == float(tangent_ag)

    def f_torch(v):
        z = torch.tensor(x) @ v
        h = torch.cat([torch.clamp(z, min=0), torch.tanh(z)], dim=-1)
        s = torch.sigmoid(torch.clamp(h, -3, 3))
        return (torch.where(s > 0.5, s, torch.log(s + 1.0)) ** 2).sum() + \
            h.max(dim=-1).values.mean()

    _, tangent_torch = tfunc.jvp(f_torch, (torch.tensor(w),), (torch.tensor(dw),))
    np.testing.assert_allclose(float(tangent), float(tangent_torch), rtol=1e-12)


def test_vmap_and_per_example_gradients_are_the_ag_calls(rng):
    x, w = rng.normal(size=(4, 5, 3)), rng.normal(size=(3, 2))
    got = ag.vmap(_f_np, in_axes=(0, None))(x, w)
    np.testing.assert_array_equal(got, ag.vmap(_f_ag, in_axes=(0, None))(x, w))
    np.testing.assert_allclose(got, [_f_values(xi, w) for xi in x], rtol=1e-14)
    per_example = ag.vmap(ag.grad(_f_np, argnums=1), in_axes=(0, None))(x, w)
    np.testing.assert_array_equal(per_example,
                                  ag.vmap(ag.grad(_f_ag, argnums=1), in_axes=(0, None))(x, w))


def test_compile_of_numpy_code_is_the_compile_of_the_ag_code(rng):
    x, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    step = ag.compile(ag.value_and_grad(_f_np, argnums=1))
    value, grad = step(x, w)
    eager_value, eager_grad = ag.value_and_grad(_f_ag, argnums=1)(x, w)
    np.testing.assert_allclose(value, eager_value, rtol=1e-14)
    np.testing.assert_allclose(grad, eager_grad, rtol=1e-13, atol=1e-15)
    assert "np.concatenate(" in step.source and step.traces == 1
    value2, grad2 = step(x, 2 * w)  # other values: the same code, the new result
    np.testing.assert_allclose(grad2, ag.grad(_f_ag, argnums=1)(x, 2 * w), rtol=1e-13,
                               atol=1e-15)
    assert step.traces == 1


def test_numpy_without_a_row_is_refused_under_every_layer():
    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(TypeError, match=r"vmap.*np\.median"):
        ag.vmap(lambda v: np.median(v))(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"np\.median on a Tensor that ag\.jvp"):
        ag.jvp(lambda v: np.median(v), (x,), (x,))
    with pytest.raises(TypeError, match=r"np\.median on a Tensor that ag\.compile is tracing"):
        ag.compile(lambda v: np.median(v.detach()) * v)(x)
    with pytest.raises(TypeError, match=r"requires grad.*to np\.median"):
        ag.compile(ag.grad(lambda v: np.median(v) * v.sum()))(x)
    with pytest.raises(TypeError, match=r"requires grad.*np\.mean \(dtype="):
        ag.grad(lambda v: np.mean(v, dtype=np.float64) * 0 + np.mean(v, dtype=np.float32))(x)


def test_dispatched_calls_keep_the_ops_dtypes_and_weak_python_numbers():
    f32 = ag.Tensor(np.ones(3, np.float32), requires_grad=True)
    assert np.exp(f32).dtype == np.float32 and np.maximum(0, f32).dtype == np.float32
    assert (1 / (1 + np.exp(-f32))).dtype == np.float32
    assert np.dot(f32, f32).dtype == np.float32 and np.sum(f32, axis=0).dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.argmax(f32).dtype == np.intp and not np.argmax(f32).requires_grad


def test_np_cross_axis_keywords_map_when_they_agree():
    """np.cross with axisa = axisb = axisc is ag.cross along that axis (value and gradient);
    different axes are refused by name for a Tensor that requires grad."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    got = np.cross(ag.Tensor(a, requires_grad=True), b, axisa=0, axisb=0, axisc=0)
    np.testing.assert_allclose(got.data, np.cross(a, b, axisa=0, axisb=0, axisc=0), rtol=1e-12)
    g = ag.grad(lambda x: ag.sum(np.cross(x, b, axisa=0, axisb=0, axisc=0)))(a)
    np.testing.assert_allclose(g, ag.grad(lambda x: ag.sum(ag.cross(x, b, axis=0)))(a), rtol=1e-12)
    with pytest.raises(TypeError, match="axisa=0"):
        np.cross(ag.Tensor(a, requires_grad=True), b.T, axisa=0)
