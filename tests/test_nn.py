"""ag.nn: Module registration and naming, state dicts, scopes, layers, init, functional_call."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from numeric import numeric_grad_dict

import autograd_nn as ag
from autograd_nn import nn
from autograd_nn.nn import init


# --- helpers --------------------------------------------------------------------------------
class Block(nn.Module):
    """A custom module with a parameter, a buffer and a submodule."""

    def __init__(self, rng):
        super().__init__()
        self.proj = nn.Linear(3, 2, rng=rng)
        self.scale = nn.Parameter(np.array([1.5, -0.5]))
        self.register_buffer("offset", np.array([0.25, 0.75]))

    def forward(self, x):
        return ag.tanh(self.proj(x)) * self.scale + self.offset


class Net(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.block = Block(rng)
        self.head = nn.Linear(2, 1, rng=rng)

    def forward(self, x):
        return self.head(self.block(x))


X = np.random.default_rng(42).normal(size=(5, 3))


# --- registration and naming ----------------------------------------------------------------
def test_mlp_parameter_names_and_tensor_names():
    m = nn.MLP([2, 4, 3, 1], rng=0)
    names = [n for n, _ in m.named_parameters()]
    assert names == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "layers.2.weight", "layers.2.bias",
    ]
    assert [p.name for p in m.parameters()] == names
    assert m.layers[0].weight.shape == (2, 4) and m.layers[2].bias.shape == (1,)
    assert m.num_parameters() == 2 * 4 + 4 + 4 * 3 + 3 + 3 * 1 + 1


class Tied(nn.Module):
    """Two layers sharing one weight (a tied parameter)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2, rng=0)
        self.b = nn.Linear(2, 2, rng=1)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def test_custom_module_names_are_relative_to_outermost_module():
    block = Block(np.random.default_rng(0))
    assert block.proj.weight.name == "proj.weight"  # standalone: relative to block
    net = Net()
    # each module's own parameters first, then its submodules' (depth first)
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.proj.weight", "block.proj.bias", "head.weight", "head.bias",
    ]
    assert [p.name for p in net.parameters()] == [n for n, _ in net.named_parameters()]
    assert [n for n, _ in net.named_buffers()] == ["block.offset"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.proj", "head"]
    # wrapping it again renames the whole subtree
    outer = nn.Sequential(net)
    assert net.block.proj.weight.name == "0.block.proj.weight"
    assert outer[0] is net


def test_buffers_are_not_parameters_but_are_in_state_dict():
    net = Net()
    assert all(p is not net.block.offset for p in net.parameters())
    assert not net.block.offset.requires_grad
    sd = net.state_dict()
    assert list(sd) == [
        "block.scale", "block.proj.weight", "block.proj.bias", "head.weight", "head.bias",
        "block.offset",
    ]
    with pytest.raises(ValueError, match="requires grad"):
        net.register_buffer("bad", ag.Tensor([1.0], requires_grad=True))


def test_reassignment_and_deletion_update_registries():
    m = nn.Linear(2, 2, rng=0)
    with pytest.raises(TypeError, match="weight is a parameter"):
        m.weight = ag.Tensor(np.zeros((2, 2)))  # would silently freeze it
    with pytest.raises(TypeError, match="weight is a parameter"):
        m.weight = np.zeros((2, 2))
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m(np.ones((1, 2))).shape == (1, 2)
    del m.weight
    assert m.named_parameters() == []
    # a computed tensor stored on a module (e.g. cached activations) is not a parameter
    m2 = nn.Linear(2, 2, rng=0)
    m2.last = m2(np.ones((1, 2)))
    assert len(m2.parameters()) == 2


def test_forgetting_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_shared_parameter_is_listed_once():

    t = Tied()
    assert [n for n, _ in t.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert len(t.parameters()) == 3


def test_parameter_helper_copies_and_converts():
    src = np.array([1, 2, 3])
    p = nn.Parameter(src)
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    p.data[0] = 10
    assert src[0] == 1
    assert nn.Parameter(np.ones(2, np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.array([True]), dtype=bool)


def test_zero_grad_train_eval_and_repr():
    net = Net()
    net(X).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    text = repr(net)
    assert "block: Block(" in text and "scale: Parameter(2,) float64" in text
    assert "offset: buffer(2,) float64" in text
    assert "proj: Linear(in_features=3, out_features=2, bias=True" in text
    mlp_text = repr(nn.MLP([2, 3, 1], activation="tanh", output_activation="sigmoid"))
    assert "activation=Tanh" in mlp_text and "output_activation=Sigmoid" in mlp_text


def test_deepcopy_gives_independent_module():
    net = Net()
    twin = copy.deepcopy(net)
    twin.head.weight.data += 1
    assert not np.allclose(twin(X).data, net(X).data)
    assert twin.head.weight is not net.head.weight
    assert twin.head.weight.name == "head.weight"


# --- state dicts -----------------------------------------------------------------------------
def test_state_dict_is_a_copy_and_round_trips():
    a, b = Net(rng=0), Net(rng=1)
    assert not np.allclose(a(X).data, b(X).data)
    sd = a.state_dict()
    sd["head.bias"][...] = 123.0  # editing the copy leaves the model alone
    assert a.head.bias.data[0] != 123.0
    weight_view = b.head.weight.data
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(X).data, b(X).data)
    assert b.head.weight.data is weight_view  # loaded in place: views and optimizers stay valid


def test_load_state_dict_errors_name_every_problem_and_write_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["head.bias"]
    sd["head.extra"] = np.zeros(3)
    sd["block.scale"] = np.zeros(5)
    sd["block.proj.weight"] = sd["block.proj.weight"].astype(np.float32)
    sd["head.weight"] = sd["head.weight"] + 1.0  # a valid entry that must not be written
    with pytest.raises(ValueError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys" in msg and "'head.bias'" in msg
    assert "unexpected keys" in msg and "'head.extra'" in msg
    assert "block.scale: shape mismatch" in msg and "(2,)" in msg and "(5,)" in msg
    assert "block.proj.weight: dtype mismatch" in msg and "float64" in msg and "float32" in msg
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_non_strict_reports_keys():
    net = Net()
    sd = {"head.weight": np.full((2, 1), 0.5), "junk": np.zeros(1)}
    result = net.load_state_dict(sd, strict=False)
    assert result.unexpected_keys == ["junk"]
    assert "head.bias" in result.missing_keys and "head.weight" not in result.missing_keys
    np.testing.assert_array_equal(net.head.weight.data, np.full((2, 1), 0.5))
    with pytest.raises(ValueError, match="shape mismatch"):
        net.load_state_dict({"head.weight": np.zeros((1, 2))}, strict=False)
    with pytest.raises(TypeError, match="dict of name"):
        net.load_state_dict([("head.weight", np.zeros((2, 1)))])


def test_module_save_and_load(tmp_path):
    a, b = Net(rng=0), Net(rng=5)
    path = tmp_path / "net.npz"
    a.save(path)
    assert b.load(path) is b
    np.testing.assert_array_equal(a(X).data, b(X).data)


# --- scopes ----------------------------------------------------------------------------------
def test_ops_inside_modules_record_their_scope():
    m = nn.MLP([2, 3, 1], activation="relu", output_activation="sigmoid", rng=0)
    out = m(np.ones((4, 2)))
    entries = [(name, obj) for name, obj in out._scope]
    assert entries == [("", m), ("output_activation", m.output_activation)]
    add1 = out.parents[0]  # x @ W + b of layers.1
    assert add1.op == "add"
    assert add1._scope == (("", m), ("layers.1", m.layers[1]))
    matmul1 = add1.parents[0]
    assert matmul1.op == "matmul" and matmul1._scope == add1._scope
    relu0 = matmul1.parents[0]
    assert relu0.op == "relu"
    assert relu0._scope == (("", m), ("activations.0", m.activations[0]))
    assert ag.state.current_scope() is None


def test_child_called_alone_is_its_own_root_and_scope_is_restored_on_error():
    m = nn.MLP([2, 3, 1], rng=0)
    child = m.layers[0]
    out = child(np.ones((1, 2)))
    assert out._scope == (("", child),)

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        nn.Sequential(nn.Identity(), Boom())(np.ones(2))
    assert ag.state.current_scope() is None


def test_no_scope_recorded_for_constant_outputs():
    m = nn.Linear(2, 2, rng=0)
    with ag.no_grad():
        out = m(np.ones((1, 2)))
    assert out._scope is None and out.is_leaf


# --- layers ----------------------------------------------------------------------------------
def test_linear_computes_x_at_w_plus_b_with_in_out_layout():
    W = np.arange(6.0).reshape(3, 2)
    b = np.array([0.5, -1.0])
    lin = nn.Linear(3, 2, init=W, bias_init=b)
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(lin(x).data, np.dot(x, W) + b)
    assert lin.weight.data is not W
    nb = nn.Linear(3, 2, bias=False, init=W)
    np.testing.assert_allclose(nb(x).data, x @ W)
    with pytest.raises(ValueError, match=r"input of shape \(1, 4\) does not end in 3 features"):
        lin(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\), expected \(3, 2\)"):
        nn.Linear(3, 2, init=W.T)
    with pytest.raises(ValueError, match="unknown init"):
        nn.Linear(3, 2, init="glorot")
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Linear(0, 2)


def test_sequential_and_activation_modules():
    rng = np.random.default_rng(0)
    seq = nn.Sequential(nn.Linear(2, 3, rng=rng), nn.Tanh(), nn.Linear(3, 3, rng=rng),
                        nn.Softmax())
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 4 and seq[-1] is seq[3]
    x = rng.normal(size=(4, 2))
    h = np.tanh(x @ seq[0].weight.data + seq[0].bias.data) @ seq[2].weight.data + seq[2].bias.data
    e = np.exp(h - h.max(axis=1, keepdims=True))
    np.testing.assert_allclose(seq(x).data, e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(nn.LogSoftmax()(h).data, np.log(e / e.sum(1, keepdims=True)),
                               rtol=1e-12)
    np.testing.assert_allclose(nn.Sigmoid()(h).data, 1 / (1 + np.exp(-h)), rtol=1e-12)
    np.testing.assert_allclose(nn.ReLU()(h).data, np.maximum(h, 0))
    assert nn.Identity()(x) is x
    with pytest.raises(IndexError, match="out of range"):
        seq[4]
    with pytest.raises(TypeError, match="item 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)


def test_mlp_activation_choices():
    x = np.random.default_rng(1).normal(size=(3, 2))
    m = nn.MLP([2, 4, 4, 1], activation="tanh", rng=0)
    h = x
    for i, layer in enumerate(m.layers):
        h = h @ layer.weight.data + layer.bias.data
        if i < 2:
            h = np.tanh(h)
    np.testing.assert_allclose(m(x).data, h, rtol=1e-12)
    assert m.activations[0] is not m.activations[1]  # one module per hidden layer

    m2 = nn.MLP([2, 4, 1], activation=np.negative, rng=0)  # plain callable
    assert not hasattr(m2, "activations")
    shared = nn.Sigmoid()
    m3 = nn.MLP([2, 4, 4, 1], activation=shared, rng=0)
    assert m3.activations[0] is shared and m3.activations[1] is shared
    with pytest.raises(ValueError, match="unknown activation 'swish'; choose from "):
        nn.MLP([2, 1], activation="swish")  # (its name here is "silu"; "gelu" is known too)
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([2])
    # same seed, same model
    same = nn.MLP([2, 4, 1], rng=7)(x).data
    np.testing.assert_array_equal(nn.MLP([2, 4, 1], rng=7)(x).data, same)


# --- init ------------------------------------------------------------------------------------
def test_init_fans_and_reproducibility():
    assert init.fans((3, 5)) == (3, 5)
    assert init.fans((7,)) == (7, 7)
    assert init.fans((2, 3, 5)) == (6, 5)
    for fn in (init.uniform, init.normal, init.xavier_uniform, init.xavier_normal,
               init.kaiming_uniform, init.kaiming_normal):
        a = fn((4, 3), rng=np.random.default_rng(3))
        b = fn((4, 3), rng=np.random.default_rng(3))
        np.testing.assert_array_equal(a, b)
        assert a.shape == (4, 3) and a.dtype == np.float64
        assert fn((4, 3), rng=0, dtype=np.float32).dtype == np.float32
    # uniform with defaults draws exactly what Generator.random (np.random.rand's law) draws
    np.testing.assert_array_equal(init.uniform((3, 4), rng=np.random.default_rng(9)),
                                  np.random.default_rng(9).random((3, 4)))
    assert np.all(init.zeros((2, 2)) == 0) and np.all(init.ones(3) == 1)
    with pytest.raises(TypeError, match="RandomState"):
        init.normal((2,), rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="floating"):
        init.zeros((2,), dtype=int)


@pytest.mark.parametrize(
    "fn, shape, expected_std",
    [
        (init.normal, (400, 300), 0.01),
        (init.xavier_uniform, (400, 300), np.sqrt(2.0 / 700)),
        (init.xavier_normal, (400, 300), np.sqrt(2.0 / 700)),
        (init.kaiming_uniform, (400, 300), np.sqrt(2.0 / 400)),
        (init.kaiming_normal, (400, 300), np.sqrt(2.0 / 400)),
    ],
)
def test_init_scales(fn, shape, expected_std):
    w = fn(shape, rng=np.random.default_rng(0))
    # 120,000 draws: the sample std is within ~0.5% of the true one; 2% is a loose bound.
    assert abs(w.std() / expected_std - 1) < 0.02
    assert abs(w.mean()) < 5 * expected_std / np.sqrt(w.size)


def test_uniform_bounds():
    w = init.xavier_uniform((50, 30), rng=0)
    bound = np.sqrt(6 / 80)
    assert w.min() >= -bound and w.max() < bound and w.max() > 0.9 * bound
    u = init.uniform((1000,), low=-2, high=3, rng=0)
    assert u.min() >= -2 and u.max() < 3


# --- functional models -----------------------------------------------------------------------
def _mse(pred, y):
    d = pred - y
    return (d * d).mean()


def test_functional_call_grads_match_backward_and_finite_differences():
    net = Net()
    y = np.random.default_rng(3).normal(size=(5, 1))
    params = net.state_dict()

    def loss_fn(p):
        return _mse(nn.functional_call(net, p, X), y)

    value, grads = ag.value_and_grad(loss_fn)(params)
    assert list(grads) == list(params)  # same keys, parameters and buffers
    # the module was not changed
    for key, arr in net.state_dict().items():
        np.testing.assert_array_equal(arr, params[key])
    assert net.head.weight.requires_grad and net.head.weight.grad is None

    loss = _mse(net(X), y)
    np.testing.assert_allclose(value, loss.data, rtol=1e-14)
    loss.backward()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad, rtol=1e-12, atol=1e-15)

    def numeric(p):
        return float(loss_fn(p).data)

    fd = numeric_grad_dict(numeric, params)
    for key in params:
        np.testing.assert_allclose(grads[key], fd[key], rtol=1e-6, atol=1e-9)


def test_functional_call_partial_restore_on_error_and_bad_names():
    net = Net()
    w0 = net.head.weight
    out = nn.functional_call(net, {"head.bias": np.array([10.0])}, X)
    np.testing.assert_allclose(out.data, net(X).data + 10.0 - net.head.bias.data)
    assert net.head.weight is w0

    def boom(_):
        raise RuntimeError("boom")

    net.block.forward = boom  # an instance attribute shadows forward
    with pytest.raises(RuntimeError, match="boom"):
        nn.functional_call(net, {"head.weight": np.zeros((2, 1))}, X)
    del net.block.forward
    assert net.head.weight is w0 and net.head._parameters["weight"] is w0
    with pytest.raises(KeyError, match="head.nope"):
        nn.functional_call(net, {"head.nope": np.zeros(1)}, X)
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(1, 2\)"):
        nn.functional_call(net, {"head.weight": np.zeros((1, 2))}, X)


def test_functional_call_on_tied_weights_replaces_every_use():

    t = Tied()
    x = np.ones((1, 2))
    params = t.state_dict()
    assert "b.weight" not in params
    grads = ag.grad(lambda p: nn.functional_call(t, p, x).sum())(params)
    t(x).sum().backward()
    np.testing.assert_allclose(grads["a.weight"], t.a.weight.grad, rtol=1e-12)


def test_pure_function_model_trains_with_value_and_grad():
    rng = np.random.default_rng(0)
    params = {"w": init.xavier_uniform((2, 8), rng=rng), "b": np.zeros(8),
              "v": init.xavier_uniform((8, 1), rng=rng), "c": np.zeros(1)}
    Xb = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    yb = np.array([[0], [1], [1], [0]], float)

    def model(p, x):
        return ag.sigmoid(ag.tanh(x @ p["w"] + p["b"]) @ p["v"] + p["c"])

    def loss(p):
        return _mse(model(p, Xb), yb)

    state = ag.optim.adam_init(params)
    for _ in range(400):
        value, grads = ag.value_and_grad(loss)(params)
        assert grads.keys() == params.keys()
        params, state = ag.optim.adam_update(params, grads, state, lr=0.05)
    assert float(value) < 0.01


def test_mlp_learns_xor_with_adam():
    Xb = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    yb = np.array([[0], [1], [1], [0]], float)
    model = nn.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", rng=0)
    opt = ag.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(Xb), yb)
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    assert np.array_equal(model(Xb).data > 0.5, yb > 0.5)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_float32_model_keeps_float32(opt_name):
    model = nn.MLP([3, 5, 2], rng=0, dtype=np.float32)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0])
    opt = getattr(ag.optim, opt_name)(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        assert loss.dtype == np.float32
        loss.backward()
        opt.step()
    for name, p in model.named_parameters():
        assert p.dtype == np.float32, name
        assert p.grad.dtype == np.float32, name
    assert all(v.dtype == np.float32 for v in model.state_dict().values())
    model.astype(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_functional_call_composes_with_nested_grad():
    """Hessian-vector product through functional_call vs differences of gradients."""
    m = nn.MLP([3, 4, 1], activation="tanh", rng=0)
    p0 = m.state_dict()
    v = {k: np.random.default_rng(2).normal(size=a.shape) for k, a in p0.items()}

    def f(p):
        return (nn.functional_call(m, p, X) ** 2).sum()

    def grad_dot_v(p):
        g = ag.grad(f)(p)
        return sum((g[k] * v[k]).sum() for k in g)

    hv = ag.grad(grad_dot_v)(p0)
    eps = 1e-5
    g_plus = ag.grad(f)({k: p0[k] + eps * v[k] for k in p0})
    g_minus = ag.grad(f)({k: p0[k] - eps * v[k] for k in p0})
    for k in p0:
        np.testing.assert_allclose(hv[k], (g_plus[k] - g_minus[k]) / (2 * eps), rtol=1e-6,
                                   atol=1e-7)


def test_functional_call_records_scopes_and_names():
    m = nn.MLP([2, 3, 1], rng=0)
    seen = {}

    def f(p):
        out = nn.functional_call(m, p, np.ones((1, 2)))
        seen["out"], seen["leaf"] = out, p["layers.1.weight"]
        return out.sum()

    ag.grad(f)(m.state_dict())
    assert seen["out"]._scope == (("", m), ("layers.1", m.layers[1]))
    # the substituted leaf (made by ag.grad, unnamed) takes the parameter's name for pictures
    assert seen["leaf"].name == "layers.1.weight"
    assert seen["leaf"] is not m.layers[1].weight


def test_mlp_without_hidden_layers_and_reassigned_activation():
    x = np.ones((3, 2))
    assert ag.nn.MLP([2, 1], rng=0)(x).shape == (3, 1)
    model = ag.nn.MLP([2, 4, 1], activation="tanh", rng=0)
    model.output_activation = ag.nn.Sigmoid()
    assert model(x).op == "sigmoid"
