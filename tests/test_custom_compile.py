"""`custom_vjp` under `ag.compile` (issue 20, point 3): fwd and bwd run on Tensors while the
function is traced, so their ops are compiled, and the compiled gradient is the one bwd defines
(not the true derivative), on the first call and on new inputs of the same shape. NumPy inside
fwd or bwd, and a second derivative or a jvp through a hand-written backward, are refused by
name, as eagerly."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_compile import _assert_tree_close

import autograd_nn as ag


def _agree(fn, *calls, traces=1):
    """ag.compile(fn) equals fn on each call's arguments (the first traces, the rest run the
    generated code), each call's values differ from the previous one's; returns the compiled."""
    step = ag.compile(fn)
    previous = None
    for args in calls:
        want = fn(*args)
        got = step(*args)
        _assert_tree_close(got, want)
        if previous is not None:  # new inputs: new values, not the traced ones replayed
            leaves = [np.asarray(x.data if isinstance(x, ag.Tensor) else x)
                      for x in ag.tree_flatten(got)[0]]
            assert any(not np.allclose(a, b) for a, b in zip(leaves, previous, strict=True))
        previous = [np.asarray(x.data if isinstance(x, ag.Tensor) else x)
                    for x in ag.tree_flatten(got)[0]]
    if traces is not None:
        assert step.traces == traces, "the same shapes traced again"
    return step


# --- the functions ---------------------------------------------------------------------------
@ag.custom_vjp
def tanh_cosh(x):
    """tanh, with its derivative written through cosh (so the compiled source shows bwd's ops)."""
    return ag.tanh(x)


tanh_cosh.defvjp(lambda x: (ag.tanh(x), x), lambda x, g: (g / ag.cosh(x) ** 2,))


@ag.custom_vjp
def tanh_own(x):
    """The issue's example: residual y = tanh(x), bwd g * (1 - y*y)."""
    return ag.tanh(x)


def _tanh_fwd(x):
    y = ag.tanh(x)
    return y, y


tanh_own.defvjp(_tanh_fwd, lambda y, g: (g * (1 - y * y),))


@ag.custom_vjp
def linear(x, w, b):
    """x @ w + b with a hand-written backward; residuals a tuple (x, w)."""
    return x @ w + b


linear.defvjp(lambda x, w, b: (x @ w + b, (x, w)),
              lambda res, g: (g @ res[1].T, res[0].T @ g, g.sum(0)))


@ag.custom_vjp
def round_ste(x):
    """A straight-through estimator: round forward, identity backward (the true derivative is
    0 almost everywhere)."""
    return ag.round(x)


round_ste.defvjp(lambda x: (ag.round(x), None), lambda _, g: (g,))


@ag.custom_vjp
def clip_gradient(x):
    """The identity, whose gradient is clipped to [-1, 1] on the way back."""
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (ag.clip(g, -1.0, 1.0),))


@ag.custom_vjp
def scaled_product(a, b, scale):
    """scale * a * b, residuals a dict and a Python number; no gradient for `scale`."""
    return scale * a * b


scaled_product.defvjp(
    lambda a, b, scale: (scale * a * b, {"a": a, "b": b, "k": 2.0}),
    lambda r, g: (g * r["b"] * (r["k"] / 2) * 3.0, g * r["a"] * 3.0, None))


@ag.custom_vjp
def square_array_residual(x):
    """x**2, whose residual is an array (the values of x), not a Tensor."""
    return x * x


def _square_fwd(x):
    y = x * x
    return y, (np.asarray(x.data if isinstance(x, ag.Tensor) else x), 2)


square_array_residual.defvjp(_square_fwd, lambda r, g: (g * r[1] * r[0],))


X1 = np.array([0.1, -0.7, 1.3])
X2 = np.array([0.9, 0.4, -0.2])


# --- grad and value_and_grad equal eager, and follow new inputs ------------------------------
def test_the_issues_example_compiles():
    loss = lambda x: ag.sum(tanh_own(x) * x)  # noqa: E731
    step = _agree(ag.grad(loss), (np.array([0.1, 0.5]),), (np.array([-0.3, 1.5]),))
    x = np.array([0.2, -0.4])
    np.testing.assert_allclose(step(x), np.tanh(x) + x * (1 - np.tanh(x) ** 2), rtol=1e-13)


@pytest.mark.parametrize("transform", [ag.grad, ag.value_and_grad])
def test_elementwise(transform):
    loss = lambda x: (tanh_cosh(x) * x).sum() + tanh_cosh(2 * x).sum()  # noqa: E731
    _agree(transform(loss), (X1,), (X2,))


def test_the_source_runs_fwd_and_bwd():
    step = _agree(ag.grad(lambda x: (tanh_cosh(x) ** 2).sum()), (X1,), (X2,))
    src = step.source
    assert "np.tanh(" in src  # fwd
    assert "np.cosh(" in src  # bwd: the true derivative of tanh needs no cosh
    assert re.search(r"backward of tanh_cosh", src), src
    for name in ("tanh_cosh", "custom_vjp"):
        assert f"{name}(" not in src  # no call back into Python: all of it is NumPy


def test_a_matrix_op_with_three_inputs_and_tuple_residuals():
    rng = np.random.default_rng(0)

    def loss(p, x):
        h = ag.tanh(linear(x, p["w1"], p["b1"]))
        return ag.mean((linear(h, p["w2"], p["b2"]) - 1.0) ** 2)

    def params():
        return {"w1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5),
                "w2": rng.normal(size=(5, 2)), "b2": rng.normal(size=2)}

    x1, x2 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    for transform in (ag.grad, ag.value_and_grad):
        step = _agree(transform(loss), (params(), x1), (params(), x2))
    assert ".T" in step.source or "np.transpose(" in step.source or "swapaxes" in step.source
    # against the same network written with plain ops
    p = params()
    plain = lambda p, x: ag.mean((ag.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"] - 1.0) ** 2)  # noqa: E731
    _assert_tree_close(step(p, x1), ag.value_and_grad(plain)(p, x1), rtol=1e-11, atol=1e-12)


def test_gradients_with_respect_to_several_arguments():
    loss = lambda a, b: (scaled_product(a, b, 0.5) + a).sum()  # noqa: E731
    step = _agree(ag.grad(loss, argnums=(0, 1)), (X1, X2), (X2, X1 * 3))
    da, db = step(X1, X2)
    np.testing.assert_allclose(da, 3.0 * X2 + 1, rtol=1e-14)  # bwd's rule (3x), not 0.5x
    np.testing.assert_allclose(db, 3.0 * X1, rtol=1e-14)


def test_a_straight_through_estimator_follows_bwd():
    loss = lambda x: (round_ste(3 * x) * x).sum()  # noqa: E731
    step = _agree(ag.grad(loss), (X1,), (X2,))
    for x in (X1, X2, np.array([2.2, -1.6, 0.05])):
        # d/dx [round(3x) x] with the straight-through rule: round(3x) + 3x; truly: round(3x)
        np.testing.assert_allclose(step(x), np.round(3 * x) + 3 * x, rtol=1e-14)
    assert step.traces == 1


def test_gradient_clipping_follows_bwd_on_new_inputs():
    loss = lambda x: (clip_gradient(x) ** 2).sum()  # noqa: E731  true gradient 2x, clipped
    step = _agree(ag.value_and_grad(loss), (np.array([0.1, 0.3, 2.0]),),
                  (np.array([-3.0, 0.2, 0.45]),))
    value, g = step(np.array([0.25, -4.0, 0.6]))
    np.testing.assert_allclose(g, [0.5, -1.0, 1.0], rtol=1e-14)
    np.testing.assert_allclose(value, 0.0625 + 16 + 0.36, rtol=1e-14)
    assert "np.clip(" in step.source


def test_array_residuals_and_numbers_work():
    # fwd's residual is x's array (read with .data): bwd gets the Tensor back, so its ops are
    # recorded; where the compiler guards .data reads, a new x may trace again (never stale)
    loss = lambda x: square_array_residual(x).sum() * 2  # noqa: E731
    step = _agree(ag.value_and_grad(loss), (X1,), (X2,), traces=None)
    np.testing.assert_allclose(step(X1 + 1)[1], 4 * (X1 + 1), rtol=1e-14)


def test_namedtuple_residuals():
    from collections import namedtuple

    Saved = namedtuple("Saved", "y x")

    @ag.custom_vjp
    def act(x):
        return ag.tanh(x) * x

    def fwd(x):
        y = ag.tanh(x)
        return y * x, Saved(y, x)

    act.defvjp(fwd, lambda r, g: (g * (r.y + r.x * (1 - r.y * r.y)),))
    _agree(ag.value_and_grad(lambda x: act(x).sum()), (X1,), (X2,))


def test_the_same_custom_function_twice_and_nested():
    loss = lambda x: (tanh_own(tanh_own(x)) + tanh_own(x) * x).sum()  # noqa: E731
    _agree(ag.value_and_grad(loss), (X1,), (X2,))


def test_a_forward_without_gradient_compiles():
    step = _agree(lambda x, w, b: ag.tanh(linear(x, w, b)), (np.ones((2, 3)), np.eye(3), X1),
                  (np.full((2, 3), 2.0), np.eye(3) * 2, X2))
    assert isinstance(step(np.ones((2, 3)), np.eye(3), X1), ag.Tensor)


def test_inside_a_module_with_functional_call():
    class Net(ag.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = ag.nn.Linear(3, 2)

        def forward(self, x):
            return clip_gradient(self.fc(tanh_own(x)))

    net = Net()
    params = net.state_dict()
    loss = lambda p, x: (ag.nn.functional_call(net, p, x) ** 2).sum() * 5  # noqa: E731
    _agree(ag.value_and_grad(loss), (params, np.ones((4, 3))), (params, np.full((4, 3), -0.4)))


def test_inside_checkpoint_and_with_has_aux():
    block = ag.checkpoint(lambda h: tanh_own(h) * h)
    _agree(ag.value_and_grad(lambda x: block(x).sum()), (X1,), (X2,))
    loss = lambda x, y: ((clip_gradient(x) * y).sum() * 4, tanh_own(y))  # noqa: E731
    _agree(ag.grad(loss, argnums=(0, 1), has_aux=True), (X1, X2), (X2, X1))
    # a checkpointed block of plain ops compiles too, also differentiated twice
    twice = ag.grad(lambda x: ag.grad(lambda y: ag.checkpoint(lambda h: h ** 3)(y).sum())(x).sum())
    _agree(twice, (X1,), (X2,))


def test_eager_results_are_unchanged():
    x = ag.Tensor(X1, requires_grad=True)
    (tanh_cosh(x) * x).sum().backward()
    np.testing.assert_allclose(x.grad, np.tanh(X1) + X1 / np.cosh(X1) ** 2, rtol=1e-14)
    np.testing.assert_allclose(ag.grad(lambda x: clip_gradient(x).sum() * 5)(X1), [1, 1, 1])


# --- refused by name -----------------------------------------------------------------------
@ag.custom_vjp
def numpy_bwd(x):
    return ag.sin(x)


numpy_bwd.defvjp(lambda x: (ag.sin(x), x), lambda x, g: (g * np.cos(x),))


@ag.custom_vjp
def numpy_fwd(x):
    return ag.sin(x)


numpy_fwd.defvjp(lambda x: (np.sin(x), x), lambda x, g: (g * ag.cos(x),))


@ag.custom_vjp
def array_bwd(x):
    return ag.sin(x)


array_bwd.defvjp(lambda x: (ag.sin(x), None), lambda _, g: (np.ones(3),))


@ag.custom_vjp
def unrowed_bwd(x):
    return ag.sin(x)


unrowed_bwd.defvjp(lambda x: (ag.sin(x), x), lambda x, g: (g * np.cos(x) * np.cbrt(x) ** 0,))


@ag.custom_vjp
def unrowed_fwd(x):
    return ag.sin(x)


unrowed_fwd.defvjp(lambda x: (np.sin(x) * np.cbrt(x) ** 0, x), lambda x, g: (g * ag.cos(x),))


def test_numpy_in_bwd_compiles_as_the_ops_or_is_refused_by_name():
    eager = ag.grad(lambda x: numpy_bwd(x).sum())
    np.testing.assert_allclose(eager(X1), np.cos(X1), rtol=1e-14)  # eagerly, arrays: fine
    np.testing.assert_allclose(ag.compile(eager)(X1), np.cos(X1), rtol=1e-14)  # np.cos: ag.cos
    unrowed = ag.grad(lambda x: unrowed_bwd(x).sum())
    np.testing.assert_allclose(unrowed(X1), np.cos(X1), rtol=1e-14)
    with pytest.raises(TypeError) as e:  # np.cbrt has no row: refused
        ag.compile(unrowed)(X1)
    msg = str(e.value)
    assert "custom_vjp unrowed_bwd" in msg and "bwd" in msg and "autograd_nn ops" in msg, msg
    assert "np.cbrt" in msg, msg


def test_numpy_in_fwd_compiles_as_the_ops_or_is_refused_by_name():
    eager = ag.grad(lambda x: numpy_fwd(x).sum())
    np.testing.assert_allclose(eager(X1), np.cos(X1), rtol=1e-14)
    np.testing.assert_allclose(ag.compile(eager)(X1), np.cos(X1), rtol=1e-14)
    unrowed = ag.grad(lambda x: unrowed_fwd(x).sum())
    with pytest.raises(TypeError, match="custom_vjp unrowed_fwd: under ag.compile, fwd runs on "
                                        "Tensors.*autograd_nn ops.*np.cbrt"):
        ag.compile(unrowed)(X1)


def test_an_array_gradient_from_bwd_is_refused_not_baked():
    eager = ag.grad(lambda x: array_bwd(x).sum())
    np.testing.assert_allclose(eager(X1), np.ones(3))
    with pytest.raises(TypeError, match=r"custom_vjp array_bwd: under ag.compile, bwd returned "
                                        r"an array .* input #0.*baked"):
        ag.compile(eager)(X1)


def test_the_readme_clipped_identity_with_np_clip_compiles_as_ag_clip():
    @ag.custom_vjp
    def clipped_identity(x):
        return x

    clipped_identity.defvjp(lambda x: (x, None), lambda res, g: (np.clip(g, -1, 1),))
    loss = ag.grad(lambda x: (3 * clipped_identity(x)).sum())
    np.testing.assert_allclose(loss(X1), [1, 1, 1])
    np.testing.assert_array_equal(ag.compile(loss)(X1), [1, 1, 1])  # np.clip is ag.clip


SECOND_ORDER = "custom_vjp tanh_own: a higher-order gradient"


def test_second_order_is_refused_eagerly_and_under_compile():
    inner = lambda x: tanh_own(x).sum()  # noqa: E731
    twice = ag.grad(lambda x: ag.grad(inner)(x).sum())
    with pytest.raises(NotImplementedError, match=SECOND_ORDER):
        twice(X1)
    with pytest.raises(NotImplementedError, match=SECOND_ORDER + ".*under ag.compile"):
        ag.compile(twice)(X1)
    with pytest.raises(NotImplementedError, match=SECOND_ORDER):
        ag.compile(ag.grad(ag.grad(inner)))(np.array(0.3))  # a scalar: grad of grad directly
    with pytest.raises(NotImplementedError, match="custom_vjp tanh_own"):
        ag.compile(ag.hessian(inner))(X1)


def test_forward_mode_is_refused_eagerly_and_under_compile():
    f = lambda x: tanh_own(x)  # noqa: E731
    jvp = lambda x, t: ag.jvp(f, (x,), (t,))[1]  # noqa: E731
    with pytest.raises(NotImplementedError, match="custom_vjp tanh_own: forward mode"):
        jvp(X1, X2)
    with pytest.raises(NotImplementedError, match="custom_vjp tanh_own: forward mode"):
        ag.compile(jvp)(X1, X2)


def test_tensor_backward_inside_the_compiled_function_is_refused_not_baked():
    def step(w, x):
        w = ag.Tensor(w, requires_grad=True)
        tanh_own(w * x).sum().backward()
        return w.grad

    np.testing.assert_allclose(step(X1, X2), X2 * (1 - np.tanh(X1 * X2) ** 2), rtol=1e-14)
    with pytest.raises(RuntimeError, match=r"backward\(\): called while ag.compile traces"):
        ag.compile(step)(X1, X2)


def test_vmap_under_compile_is_refused_by_name():
    per_example = ag.vmap(ag.grad(lambda x: tanh_own(x).sum()))
    np.testing.assert_allclose(per_example(np.ones((2, 3))), np.full((2, 3), 1 - np.tanh(1) ** 2))
    with pytest.raises(NotImplementedError, match="vmap"):
        ag.compile(per_example)(np.ones((2, 3)))
