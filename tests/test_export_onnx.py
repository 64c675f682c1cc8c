"""ag.onnx.export: every listed model runs in onnxruntime within 1e-5 of NumPy in float32; the
tutorial's training step as one graph stays within 1e-5 of NumPy's over 100 steps; ops and
reads with no ONNX form are refused by name."""

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.core.pytree import tree_flatten

onnx = pytest.importorskip("onnx", reason="the onnx package (an optional extra) writes models")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (a test extra) checks exports")

from autograd_nn.onnx import OnnxExportError  # noqa: E402
from autograd_nn_course import digits_cnn, tutorial1, tutorial2  # noqa: E402

RNG = np.random.default_rng(0)


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(fn, args, path=None):
    """(onnxruntime's outputs, NumPy's (eager) outputs) of `fn` on `args`."""
    model = ag.onnx.export(fn, args, path)
    session = _session(model)
    leaves = tree_flatten(list(args))[0]
    feed = {i.name: np.asarray(v) for i, v in zip(session.get_inputs(), leaves, strict=True)}
    got = session.run(None, feed)
    expected = [np.asarray(e.data if isinstance(e, ag.Tensor) else e)
                for e in tree_flatten(fn(*args))[0]]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
    return got, expected


def _f32(tree):
    return {k: np.asarray(v, np.float32) for k, v in tree.items()}


def test_mlp_float32_writes_a_file_onnx_checks(tmp_path):
    model = nn.MLP([5, 16, 16, 3], activation="tanh", output_activation="sigmoid",
                   dtype=np.float32, rng=0)
    x = RNG.standard_normal((7, 5)).astype(np.float32)
    path = tmp_path / "mlp.onnx"
    got, expected = _run(model, (x,), path)
    onnx.checker.check_model(str(path), full_check=True)
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["x"]
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)


def test_relu_mlp_in_a_compiled_function():
    model = nn.MLP([4, 8, 2], dtype=np.float32, rng=1)
    compiled = ag.compile(lambda p, x: ag.log_softmax(nn.functional_call(model, p, x), axis=-1))
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    got, expected = _run(compiled, (model.state_dict(), x))
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)


def test_digits_cnn_eval_with_softmax():
    cnn = digits_cnn.make_model(seed=0)
    cnn.train()
    cnn(RNG.standard_normal((16, 1, 8, 8)).astype(np.float32))  # running statistics move
    cnn.eval()
    x = digits_cnn.load_images()[0][:10]
    got, expected = _run(lambda images: ag.softmax(cnn(images), axis=-1), (x,))
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)
    assert np.argmax(got[0], 1).tolist() == np.argmax(expected[0], 1).tolist()
    ops = {n.op_type for n in ag.onnx.export(cnn, (x,)).graph.node}
    assert {"Conv", "MaxPool", "Relu", "MatMul", "Softmax"} - ops == {"Softmax"}


@pytest.mark.parametrize(("forward", "params"), [
    (tutorial1.forward, tutorial1.initial_weights(0)),
    (tutorial2.forward, tutorial2.initial_weights(0)),
    (tutorial2.fixed_forward, tutorial2.fixed_initial_params(0)),
])
def test_tutorial_networks_as_functions(forward, params):
    x = (tutorial1.X if forward is tutorial1.forward else tutorial2.X).astype(np.float32)
    got, expected = _run(forward, (_f32(params), x))
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("network", [tutorial1.Network, tutorial2.Network,
                                     tutorial2.FixedNetwork])
def test_tutorial_networks_as_modules(network):
    module = network().astype(np.float32)
    x = (tutorial1.X if network is tutorial1.Network else tutorial2.X).astype(np.float32)
    got, expected = _run(module, (x,))
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)
    names = {i.name for i in ag.onnx.export(module, (x,)).graph.initializer}
    assert {"weights1", "weights2"} <= names  # the parameters, under their own names


def test_layer_norm_conv_transpose_slices_and_stack():
    norm = nn.LayerNorm(6, dtype=np.float32)
    up = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, dtype=np.float32)

    def f(x, image):
        y = norm(x)[:, 1:5:2] * 2.0
        z = up(image)[:, ::-1, ..., 1]
        return ag.stack([y.sum(axis=0), ag.mean(y, axis=0)], axis=1), ag.concatenate(
            [z, ag.maximum(z, 0.5)], axis=1), ag.var(x, axis=1)

    got, expected = _run(f, (RNG.standard_normal((4, 6)).astype(np.float32),
                             RNG.standard_normal((1, 2, 3, 3)).astype(np.float32)))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-5)


def _sgd_step(forward, loss_of, lr):
    def step(params, x, y):
        grads = ag.grad(lambda p: loss_of(forward(p, x), y))(params)
        return {k: params[k] - lr * grads[k] for k in params}
    return step


def test_tutorial_training_step_100_times_in_onnxruntime():
    step = _sgd_step(tutorial2.fixed_forward, nn.functional.mse_loss, 5.0)
    params = _f32(tutorial2.fixed_initial_params(0))
    x, y = tutorial2.X.astype(np.float32), tutorial2.Y.astype(np.float32)
    session = _session(ag.onnx.export(step, (params, x, y)))
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == [f"new_{k}" for k in params]
    ours, theirs = dict(params), dict(params)
    for _ in range(100):
        ours = {k: np.asarray(v) for k, v in step(ours, x, y).items()}
        new = session.run(None, dict(zip(inputs, [*theirs.values(), x, y], strict=True)))
        theirs = dict(zip(params, new, strict=True))
    moved = max(float(np.abs(ours[k] - params[k]).max()) for k in params)
    assert moved > 0.1  # the parameters trained
    for k in params:
        np.testing.assert_allclose(theirs[k], ours[k], rtol=0, atol=1e-5, err_msg=k)


def test_mlp_classifier_training_step_with_integer_labels():
    model = nn.MLP([4, 8, 3], dtype=np.float32, rng=2)

    def loss_of(logits, labels):  # cross entropy written with ops: no checks on label values
        picked = ag.take_along_axis(ag.log_softmax(logits, axis=-1), labels[:, None], axis=1)
        return -ag.mean(picked)

    step = _sgd_step(lambda p, x: nn.functional_call(model, p, x), loss_of, 0.5)
    params = {k: v for k, v in model.state_dict().items()}
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 2, 1, 2, 0])
    session = _session(ag.onnx.export(step, (params, x, labels)))
    feed = dict(zip([i.name for i in session.get_inputs()], [*params.values(), x, labels],
                    strict=True))
    expected = step(params, x, labels)
    for got, k in zip(session.run(None, feed), params, strict=True):
        np.testing.assert_allclose(got, np.asarray(expected[k]), rtol=0, atol=1e-5)
    got, expected = _run(lambda p, x, y: loss_of(nn.functional_call(model, p, x), y),
                         (params, x, labels))  # the loss itself: a gather at the labels
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)
    other = np.array([1, 1, 0, 0, 2])  # the labels are an input, not baked in
    feed[[i.name for i in session.get_inputs()][-1]] = other
    expected = step(params, x, other)
    for got, k in zip(session.run(None, feed), params, strict=True):
        np.testing.assert_allclose(got, np.asarray(expected[k]), rtol=0, atol=1e-5)


def test_refusals_name_the_op_or_the_read():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(OnnxExportError, match=r"the op cumsum \(row 'cumsum' has no ONNX form "
                                              r"yet\), at .*test_export_onnx.py"):
        ag.onnx.export(lambda v: ag.cumsum(v, axis=0), (x,))

    def branches(v):
        return v * 2 if ag.sum(v) > 0 else v

    with pytest.raises(OnnxExportError, match=r"reads a traced value \(bool\) at "
                                              r".*test_export_onnx.py"):
        ag.onnx.export(branches, (x,))
    with pytest.raises(OnnxExportError, match="must return Tensors or arrays"):
        ag.onnx.export(lambda v: 3.0, (x,))
    with pytest.raises(OnnxExportError, match="ag.iterate loop has no ONNX form"):
        ag.onnx.export(ag.iterate(lambda s: s * 2, 3), (x,))


def test_cnn_training_step_backward_through_conv_and_pool():
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, rng=0, dtype=np.float32),
                        nn.BatchNorm2d(4, dtype=np.float32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 3, 2, rng=1, dtype=np.float32), nn.Flatten())
    cnn.eval()  # batch norm with its running statistics (training ones are refused by compile)

    def loss_of(logits, labels):
        return -ag.mean(ag.take_along_axis(ag.log_softmax(logits, axis=-1), labels[:, None], 1))

    step = _sgd_step(lambda p, x: nn.functional_call(cnn, p, x), loss_of, 0.1)
    params = {k: v.data for k, v in cnn.named_parameters()}
    x = RNG.standard_normal((5, 1, 9, 9)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    session = _session(ag.onnx.export(step, (params, x, labels)))
    feed = dict(zip([i.name for i in session.get_inputs()], [*params.values(), x, labels],
                    strict=True))
    expected = step(params, x, labels)
    for got, k in zip(session.run(None, feed), params, strict=True):
        assert np.abs(np.asarray(expected[k]) - params[k]).max() > 1e-4, k  # it has a gradient
        np.testing.assert_allclose(got, np.asarray(expected[k]), rtol=0, atol=1e-5, err_msg=k)


def test_gradient_of_slices_and_repeated_picks():
    def f(v):
        return ag.grad(lambda v: ag.sum(v[:, 1:4:2] ** 2) + ag.sum(v[[0, 0, -1]] * 3.0))(v)

    got, expected = _run(f, (RNG.standard_normal((3, 5)).astype(np.float32),))
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)


_X = RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32)
_Y = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
# one function per ONNX form, on x in (0.1, 0.9) and y in (-2, 2); the row each must record
FORM_CASES = {
    "abs": lambda x, y: ag.abs(y), "neg": lambda x, y: -y, "sign": lambda x, y: ag.sign(y),
    "exp": lambda x, y: ag.exp(y), "log": lambda x, y: ag.log(x), "sqrt": lambda x, y: ag.sqrt(x),
    "tanh": lambda x, y: ag.tanh(y), "sigmoid": lambda x, y: ag.sigmoid(y),
    "relu": lambda x, y: ag.relu(y), "sin": lambda x, y: ag.sin(y), "cos": lambda x, y: ag.cos(y),
    "tan": lambda x, y: ag.tan(x), "sinh": lambda x, y: ag.sinh(y), "cosh": lambda x, y: ag.cosh(y),
    "arctan": lambda x, y: ag.arctan(y), "arcsin": lambda x, y: ag.arcsin(x),
    "arccos": lambda x, y: ag.arccos(x), "erf": lambda x, y: ag.erf(y),
    "floor": lambda x, y: ag.floor(y), "ceil": lambda x, y: ag.ceil(y),
    "reciprocal": lambda x, y: ag.reciprocal(x), "square": lambda x, y: ag.square(y),
    "rsqrt": lambda x, y: ag.rsqrt(x), "log1p": lambda x, y: ag.log1p(x),
    "expm1": lambda x, y: ag.expm1(y), "pow": lambda x, y: x ** 3.5,
    "pow_tensor": lambda x, y: x ** y, "add": lambda x, y: x + y, "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y, "div": lambda x, y: y / x, "maximum": lambda x, y: ag.maximum(x, y),
    "minimum": lambda x, y: ag.minimum(x, y), "clip": lambda x, y: ag.clip(y, -0.5, 0.7),
    "hardtanh": lambda x, y: ag.hardtanh(y),
    "leaky_relu": lambda x, y: ag.leaky_relu(y, 0.1),
    "greater": lambda x, y: ag.where(y > x, x, y), "less": lambda x, y: ag.where(y < x, x, y),
    "greater_equal": lambda x, y: ag.where(y >= 0.5, x, y),
    "less_equal": lambda x, y: ag.where(y <= 0.5, x, y),
    "equal": lambda x, y: ag.where(ag.floor(y) == 0, x, y),
    "not_equal": lambda x, y: ag.where(ag.floor(y) != 0, x, y),
    "logical_not": lambda x, y: ag.where(ag.logical_not(y > 0), x, y),
    "where": lambda x, y: ag.where(y > 0, y, 0.0), "astype": lambda x, y: ag.astype(y, np.float64),
    "cast": lambda x, y: ag.astype(y * 3, np.int32) * x,
    "matmul": lambda x, y: x @ y.T, "dot": lambda x, y: ag.dot(x, y.T),
    "transpose": lambda x, y: ag.transpose(y), "swapaxes": lambda x, y: ag.swapaxes(y, 0, 1),
    "reshape": lambda x, y: ag.reshape(y, (2, 6)), "expand_dims": lambda x, y: ag.expand_dims(y, 1),
    "broadcast_to": lambda x, y: ag.broadcast_to(y, (2, 3, 4)),
    "sum": lambda x, y: ag.sum(y, axis=0), "mean": lambda x, y: ag.mean(y, axis=1, keepdims=True),
    "max": lambda x, y: ag.max(y, axis=1), "min": lambda x, y: ag.min(y),
    "prod": lambda x, y: ag.prod(y, axis=0), "logsumexp": lambda x, y: ag.logsumexp(y, axis=1),
    "var": lambda x, y: ag.var(y, axis=0), "std": lambda x, y: ag.std(y, axis=1, ddof=1),
    "softmax": lambda x, y: ag.softmax(y, axis=0), "log_softmax": lambda x, y: ag.log_softmax(y),
    "concatenate": lambda x, y: ag.concatenate([x, y], axis=1),
    "stack": lambda x, y: ag.stack([x, y], axis=-1), "getitem": lambda x, y: y[::-1, 1:3],
    "standardize": lambda x, y: ag.standardize(y, axis=1),
    "sum_to": lambda x, y: ag.grad(lambda b: ag.sum((y + b) ** 2))(x[0]),
    "scatter_add": lambda x, y: ag.grad(lambda v: ag.sum(v[1:, ::2] ** 2))(y),
}


def test_every_form_has_a_case():
    from autograd_nn.onnx import FORMS
    heavy = {"conv2d", "conv2d_weight", "conv_transpose2d", "max_pool2d", "max_pool2d_route"}
    assert set(FORMS) - heavy == set(FORM_CASES)  # those five run in the CNN tests above


@pytest.mark.parametrize("row", sorted(FORM_CASES))
def test_each_form_against_numpy(row):
    from autograd_nn.compiler.trace import run
    from autograd_nn.core import engine

    fn = FORM_CASES[row]
    traced = run(fn, (_X, _Y), {}, ["x", "y"])
    rows = {t._op.name for t in engine.walk(traced.output_leaves) if t._op is not None}
    assert row in rows, rows
    got, expected = _run(fn, (_X, _Y))
    np.testing.assert_allclose(got[0], expected[0], rtol=2e-6, atol=1e-5)


def test_cast_to_int_follows_the_input():
    got, expected = _run(lambda x, y: ag.astype(y, np.int32) * 1, (_X, _Y))
    session = _session(ag.onnx.export(lambda x, y: ag.astype(y, np.int32) * 1, (_X, _Y)))
    other = _Y + 1.5
    np.testing.assert_array_equal(session.run(None, {"x": _X, "y": other})[0],
                                  other.astype(np.int32))
    bools = _session(ag.onnx.export(lambda x, y: ag.where(y, x, 0.0), (_X, _Y)))
    np.testing.assert_array_equal(bools.run(None, {"x": _X, "y": other})[0],
                                  np.where(other, _X, np.float32(0.0)))


def test_float64_tutorial_network_within_1e12():
    got, expected = _run(tutorial2.fixed_forward, (tutorial2.fixed_initial_params(0),
                                                   tutorial2.X))
    assert got[0].dtype == np.float64
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-12)
