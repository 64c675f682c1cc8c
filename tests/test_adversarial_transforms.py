"""Adversarial tests of the function-transform core.

Written from README.md ("Function transforms", "What it refuses", "The engine in one page"),
docs/CORE_API.md and the public docstrings only: no look at the implementation or at the other
tests. Everything is float64 and checked against torch.func / torch.autograd, a Python loop, or
central finite differences. A transform may refuse a combination, but then with an error that
names what was refused; it may never return a different number.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import autograd_nn as ag

RNG = np.random.default_rng(20240611)


# ----------------------------------------------------------------------------- helpers


def close(actual, expected, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol
    )


def _torch():
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        # torch's forward-mode AD imports a module that warns (torch.jit.script deprecation) the
        # first time it is used; load it here, outside the warnings-are-errors regime.
        warnings.simplefilter("ignore")
        import torch.func  # noqa: F401

        try:
            from torch._decomp import decompositions_for_jvp  # noqa: F401
        except Exception:  # pragma: no cover - only a warm-up
            pass
    return torch


def tt(torch, a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def tnp(x):
    if isinstance(x, (tuple, list)):
        return type(x)(tnp(a) for a in x)
    if isinstance(x, dict):
        return {k: tnp(v) for k, v in x.items()}
    return x.detach().numpy()


def fd_jacobian(f, x, eps=1e-6):
    """Central differences: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    out0 = np.asarray(f(x), dtype=float)
    jac = np.zeros(out0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        jac[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return jac


def raises_clear(fn, exc, *words):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not named in the error: {msg!r}"
    return msg


def mlp_loss(w, x):
    """Per-example loss of a tiny network: w (3, 2), x (3,)."""
    return (ag.tanh(x @ w) ** 2).sum() + (ag.sin(w) * x[0]).sum()


def mlp_loss_t(torch, w, x):
    return (torch.tanh(x @ w) ** 2).sum() + (torch.sin(w) * x[0]).sum()


# ============================================================================ 1. features


class TestAnomalyAroundTransforms:
    def test_numbers_unchanged_under_detect_anomaly(self):
        torch = _torch()
        tf = torch.func
        w, X, v = RNG.normal(size=(3, 2)), RNG.normal(size=(5, 3)), RNG.normal(size=(3, 2))
        ft = lambda w_, x_: mlp_loss_t(torch, w_, x_)  # noqa: E731
        ref_pe = tnp(tf.vmap(tf.grad(ft), in_dims=(None, 0))(tt(torch, w), tt(torch, X)))
        ref_jvp = tnp(
            tf.jvp(lambda w_: ft(w_, tt(torch, X[0])), (tt(torch, w),), (tt(torch, v),))[1]
        )
        ref_h = tnp(tf.hessian(lambda w_: ft(w_, tt(torch, X[1])))(tt(torch, w)))
        ref_vj = tnp(
            tf.vmap(
                lambda x_: tf.jvp(tf.grad(lambda w_: ft(w_, x_)), (tt(torch, w),), (tt(torch, v),))[
                    1
                ]
            )(tt(torch, X))
        )
        for _ in range(2):
            with ag.detect_anomaly():
                pe = ag.vmap(ag.grad(mlp_loss), in_axes=(None, 0))(w, X)
                _, tan = ag.jvp(lambda w_: mlp_loss(w_, X[0]), (w,), (v,))
                H = ag.hessian(lambda w_: mlp_loss(w_, X[1]))(w)
                H2 = ag.jacfwd(ag.jacrev(lambda w_: mlp_loss(w_, X[1])))(w)
                vj = ag.vmap(
                    lambda x_: ag.jvp(ag.grad(lambda w_: mlp_loss(w_, x_)), (w,), (v,))[1]
                )(X)
            close(pe, ref_pe)
            close(tan, ref_jvp)
            close(H, ref_h)
            close(H2, ref_h)
            close(vj, ref_vj)

    def test_nan_in_forward_inside_vmap_names_op_and_consistent_shapes(self):
        X = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 2.0]])
        with ag.detect_anomaly():
            msg = raises_clear(
                lambda: ag.vmap(lambda x: ag.log(x) * 2.0)(X), ag.AnomalyError, "log"
            )
        # an elementwise op: what the message calls its input and its output must be the same
        # shape (both per example or both batched), or the reader cannot tell which it is
        shapes = re.findall(r"\(([\d, ]*)\) float64", msg)
        assert len(set(shapes)) == 1, msg

    def test_nan_in_forward_inside_jvp_names_op(self):
        x = np.array([1.0, -2.0])
        with ag.detect_anomaly():
            raises_clear(
                lambda: ag.jvp(lambda x_: ag.log(x_), (x,), (np.ones(2),)), ag.AnomalyError, "log"
            )

    def test_inf_in_tangent_of_jvp_names_users_op(self):
        # sqrt at 0: the primal is fine, the tangent is Inf. The op the user wrote is sqrt.
        x = np.array([1.0, 0.0])
        with ag.detect_anomaly():
            raises_clear(lambda: ag.jvp(ag.sqrt, (x,), (np.ones(2),)), ag.AnomalyError, "sqrt")

    def test_inf_in_backward_inside_vmap_grad_names_users_op(self):
        X = np.array([[1.0, 4.0], [0.0, 9.0]])
        # the same thing without vmap names "backward of sqrt": vmap must not lose that
        with ag.detect_anomaly():
            raises_clear(
                lambda: ag.grad(lambda x: ag.sqrt(x).sum())(X[1 - 0]), ag.AnomalyError, "sqrt"
            )
            raises_clear(
                lambda: ag.vmap(ag.grad(lambda x: ag.sqrt(x).sum()))(X), ag.AnomalyError, "sqrt"
            )

    def test_anomaly_mode_is_per_thread(self):
        # one thread in anomaly mode hitting NaN every round; another outside it computing an
        # Inf on purpose (np.errstate) must never get an AnomalyError.
        sys_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        errors: list = []
        stop = time.monotonic() + 1.5

        def in_mode():
            while time.monotonic() < stop:
                with ag.detect_anomaly():
                    try:
                        ag.vmap(lambda x: ag.log(x))(np.array([[1.0], [-1.0]]))
                    except ag.AnomalyError:
                        continue
                    errors.append("anomaly thread: NaN not caught")

        def outside():
            while time.monotonic() < stop:
                try:
                    with np.errstate(all="ignore"):
                        out = ag.vmap(ag.grad(lambda x: ag.log(x).sum()))(np.array([[0.0], [1.0]]))
                    if not (np.isinf(out[0, 0]) and out[1, 0] == 1.0):
                        errors.append(f"plain thread: wrong value {out}")
                except Exception as e:  # noqa: BLE001
                    errors.append(f"plain thread: {type(e).__name__}: {e}")

        try:
            threads = [threading.Thread(target=in_mode), threading.Thread(target=outside)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(sys_interval)
        assert not errors, errors[:3]


class TestCompileOfTransforms:
    """`ag.compile` may refuse by name, but never give a number that differs from eager."""

    W = RNG.normal(size=(3, 2))
    V = RNG.normal(size=(3, 2))
    X = RNG.normal(size=(4, 3))

    def _cases(self):
        V = self.V
        return {
            "grad": (lambda w, x: ag.grad(mlp_loss)(w, x), False),
            "value_and_grad": (lambda w, x: ag.value_and_grad(mlp_loss)(w, x), False),
            "jvp_closure_tangent": (
                lambda w, x: ag.jvp(lambda w_: mlp_loss(w_, x), (w,), (V,)),
                False,
            ),
            "hvp": (lambda w, x: ag.hvp(lambda w_: mlp_loss(w_, x), w, V), False),
            "grad_of_grad": (
                lambda w, x: ag.grad(lambda w_: (ag.grad(mlp_loss)(w_, x) * V).sum())(w),
                False,
            ),
            "hessian": (lambda w, x: ag.hessian(lambda w_: mlp_loss(w_, x))(w), False),
            "jacrev": (lambda w, x: ag.jacrev(lambda w_: ag.tanh(x @ w_))(w), False),
            "jacfwd": (lambda w, x: ag.jacfwd(lambda w_: ag.tanh(x @ w_))(w), False),
            "vmap_grad": (lambda w, X: ag.vmap(ag.grad(mlp_loss), in_axes=(None, 0))(w, X), True),
            "grad_of_vmap": (
                lambda w, X: ag.grad(lambda w_: ag.vmap(mlp_loss, in_axes=(None, 0))(w_, X).sum())(
                    w
                ),
                True,
            ),
        }

    @pytest.mark.parametrize(
        "case",
        [
            "grad",
            "value_and_grad",
            "jvp_closure_tangent",
            "hvp",
            "grad_of_grad",
            "hessian",
            "jacrev",
            "jacfwd",
            "vmap_grad",
            "grad_of_vmap",
        ],
    )
    def test_compiled_equals_eager(self, case):
        fn, batched = self._cases()[case]
        step = ag.compile(fn)
        for k in range(3):
            w = self.W + 0.3 * k
            x = self.X * (1 + k) if batched else self.X[k]
            eager = fn(w, x)
            try:
                got = step(w, x)
            except Exception as e:  # noqa: BLE001
                # a refusal is fine when it names the transform the user wrote
                name = {
                    "jvp_closure_tangent": "jvp",
                    "grad_of_grad": "grad",
                    "vmap_grad": "vmap",
                    "grad_of_vmap": "vmap",
                }.get(case, case)
                msg = str(e)
                assert name in msg or "vmap" in msg, (
                    f"compile of {case} refused without naming {name!r}: {type(e).__name__}: {msg}"
                )
                return
            for a, b in zip(
                ag.tree_flatten(got)[0] if hasattr(ag, "tree_flatten") else [got],
                ag.tree_flatten(eager)[0] if hasattr(ag, "tree_flatten") else [eager],
            ):
                close(a, b, rtol=1e-12, atol=1e-12)

    def test_compiled_jvp_with_tangent_as_argument_is_not_baked_in(self):
        f = lambda w, x, t: ag.jvp(lambda w_: mlp_loss(w_, x), (w,), (t,))[1]  # noqa: E731
        step = ag.compile(f)
        for k in range(3):
            t = RNG.normal(size=(3, 2))
            w = self.W + 0.1 * k
            close(step(w, self.X[0], t), f(w, self.X[0], t), rtol=1e-12, atol=1e-12)

    def test_compiled_hvp_with_direction_as_argument_is_not_baked_in(self):
        f = lambda w, x, v: ag.hvp(lambda w_: mlp_loss(w_, x), w, v)  # noqa: E731
        step = ag.compile(f)
        for _k in range(3):
            v = RNG.normal(size=(3, 2))
            close(step(self.W, self.X[1], v), f(self.W, self.X[1], v), rtol=1e-12, atol=1e-12)


class TestHooksUnderTransforms:
    W = RNG.normal(size=(3, 2))
    X = RNG.normal(size=(4, 3))

    @staticmethod
    def hooked_loss(seen=None, factor=2.0):
        def loss(w, x):
            h = ag.tanh(x @ w)
            if h.requires_grad:
                h.register_hook(
                    lambda g: (seen.append(1) if seen is not None else None, factor * g)[1]
                )
            return (h**2).sum()

        return loss

    @staticmethod
    def plain(w, x):
        return (ag.tanh(x @ w) ** 2).sum()

    def test_hook_under_vmap_grad(self):
        seen: list = []
        got = ag.vmap(ag.grad(self.hooked_loss(seen)), in_axes=(None, 0))(self.W, self.X)
        ref = np.stack([ag.grad(self.plain)(self.W, x) for x in self.X])
        close(got, 2 * ref)
        assert seen, "the hook never ran"

    def test_hook_does_not_touch_jvp(self):
        torch = _torch()
        t = RNG.normal(size=(3, 2))
        _, got = ag.jvp(lambda w: self.hooked_loss()(w, self.X[0]), (self.W,), (t,))
        ref = torch.func.jvp(
            lambda w: (torch.tanh(tt(torch, self.X[0]) @ w) ** 2).sum(),
            (tt(torch, self.W),),
            (tt(torch, t),),
        )[1]
        close(got, tnp(ref))

    def _torch_hooked_double_backward(self, v=None):
        """PyTorch's second order with the same hook: the hook runs in every backward pass
        that reaches the tensor, the recorded second one included."""
        torch = _torch()
        w = tt(torch, self.W).requires_grad_(True)
        h = torch.tanh(tt(torch, self.X[0]) @ w)
        h.register_hook(lambda g: 2.0 * g)
        (g,) = torch.autograd.grad((h ** 2).sum(), w, create_graph=True)
        if v is not None:
            (hv,) = torch.autograd.grad((g * tt(torch, v)).sum(), w)
            return tnp(hv)
        rows = [torch.autograd.grad(g.reshape(-1)[k], w, retain_graph=True)[0].reshape(-1)
                for k in range(g.numel())]
        return tnp(torch.stack(rows)).reshape(3, 2, 3, 2)

    def test_hessian_with_hook_runs_the_hook_in_both_passes_as_pytorch(self):
        # The documented behaviour (Tensor.register_hook): a hook runs in every backward pass
        # that reaches its tensor, the recorded second pass of hessian included, as in PyTorch.
        # jacfwd(grad f) differentiates the hooked gradient instead (the hook runs once).
        f = lambda w: self.hooked_loss()(w, self.X[0])  # noqa: E731
        g = ag.grad(f)
        close(g(self.W), 2 * ag.grad(self.plain)(self.W, self.X[0]))
        close(ag.jacfwd(g)(self.W), fd_jacobian(g, self.W), rtol=1e-6, atol=1e-7)
        ref = self._torch_hooked_double_backward()
        close(ag.hessian(f)(self.W), ref, rtol=1e-10, atol=1e-12)
        close(ag.jacrev(g)(self.W), ref, rtol=1e-10, atol=1e-12)

    def test_hvp_with_hook_matches_pytorch(self):
        f = lambda w: self.hooked_loss()(w, self.X[0])  # noqa: E731
        v = RNG.normal(size=(3, 2))
        close(ag.hvp(f, self.W, v), self._torch_hooked_double_backward(v), rtol=1e-10,
              atol=1e-12)

    def test_hook_inside_checkpoint_runs_once(self):
        seen: list = []
        block = ag.checkpoint(lambda w: self.hooked_loss(seen)(w, self.X[0]))
        ref = 2 * ag.grad(self.plain)(self.W, self.X[0])
        close(ag.grad(block)(self.W), ref)
        seen.clear()
        w = ag.Tensor(self.W, requires_grad=True)
        block(w).backward()
        close(w.grad, ref)
        assert len(seen) == 1, f"hook ran {len(seen)} times in one backward"
        # the example is an argument of the block (a batched closure is tested separately)
        close(
            ag.vmap(
                ag.grad(lambda w_, x: ag.checkpoint(self.hooked_loss())(w_, x)), in_axes=(None, 0)
            )(self.W, self.X),
            2 * np.stack([ag.grad(self.plain)(self.W, x) for x in self.X]),
        )

    def test_readme_checkpoint_hook_example_against_torch(self):
        torch = _torch()
        x0 = np.array([0.1, 0.2, 0.3])
        block = ag.checkpoint(lambda h: ag.tanh(ag.tanh(h)))
        hx = ag.Tensor(x0, requires_grad=True)
        hidden = ag.tanh(hx)
        hidden.retain_grad()
        hidden.register_hook(lambda g: 2 * g)
        block(hidden).sum().backward()
        tx = tt(torch, x0).requires_grad_()
        th = torch.tanh(tx)
        th.retain_grad()
        th.register_hook(lambda g: 2 * g)
        torch.tanh(torch.tanh(th)).sum().backward()
        close(hx.grad, tnp(tx.grad))
        close(hidden.grad, tnp(th.grad))

    def test_retain_grad_inside_vmap_grad(self):
        held = []

        def loss(w, x):
            h = ag.tanh(x @ w)
            h.retain_grad()
            held.append(h)
            return (h**2).sum()

        ag.vmap(ag.grad(loss), in_axes=(None, 0))(self.W, self.X)
        (h,) = held
        expected = np.stack([2 * np.tanh(x @ self.W) for x in self.X])  # dL/dh per example
        if h.grad is not None:
            close(h.grad, expected)


class TestReadOnlyTools:
    def _graph(self, calls):
        rng = np.random.default_rng(3)
        w = ag.Tensor(rng.normal(size=(3, 2)), requires_grad=True, name="w")
        x = rng.normal(size=(4, 3))
        h = ag.tanh(ag.Tensor(x) @ w)
        h.register_hook(lambda g: (calls.append("h"), 2 * g)[1])
        h.retain_grad()
        block = ag.checkpoint(lambda t: ag.sin(t) * t)

        @ag.custom_vjp
        def cube(t):
            return t**3

        cube.defvjp(lambda t: (t**3, t), lambda r, g: (3 * r**2 * g,))
        loss = (cube(block(h)) ** 2).sum()
        return w, x, h, loss

    def test_tools_run_no_hook_and_write_no_grad(self):
        torch = _torch()
        calls: list = []
        w, x, h, loss = self._graph(calls)
        ag.explain(loss)
        ag.draw_graph(loss, color_by="grad")
        ag.explore(loss)
        assert calls == [] and w.grad is None and h.grad is None
        loss.backward()
        assert calls == ["h"]
        tw = tt(torch, w.data).requires_grad_()
        th = torch.tanh(tt(torch, x) @ tw)
        th.register_hook(lambda g: 2 * g)
        ((torch.sin(th) * th) ** 6).sum().backward()
        close(w.grad, tnp(tw.grad))

    def test_tools_inside_grad_do_not_change_its_result(self):
        calls: list = []
        W = RNG.normal(size=(3, 2))
        X = RNG.normal(size=(4, 3))

        def loss(w):
            h = ag.tanh(X @ w)
            h.register_hook(lambda g: (calls.append(1), g)[1])
            out = (h**2).sum()
            ag.explain(out)
            ag.draw_graph(out)
            return out

        got = ag.grad(loss)(W)
        assert len(calls) == 1, f"hook ran {len(calls)} times"
        close(got, ag.grad(lambda w: (ag.tanh(X @ w) ** 2).sum())(W))

    def test_tools_on_graph_built_through_vmap_on_tensors(self):
        W = RNG.normal(size=(3, 2))
        X = RNG.normal(size=(4, 3))
        w = ag.Tensor(W, requires_grad=True, name="w")
        loss = ag.vmap(mlp_loss, in_axes=(None, 0))(w, X).sum()
        ag.explain(loss, {"X": X})
        ag.draw_graph(loss)
        assert w.grad is None
        loss.backward()
        close(w.grad, sum(ag.grad(mlp_loss)(W, x) for x in X))


# ============================================================================ 2. nesting


class TestDeepNesting:
    def test_jvp_of_vmap_of_jacrev(self):
        torch = _torch()
        tf = torch.func
        A = RNG.normal(size=(3, 2))
        X, V = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
        f = lambda x: ag.sin(x @ A) * ag.tanh(x[:2])  # noqa: E731
        ft = lambda x: torch.sin(x @ tt(torch, A)) * torch.tanh(x[:2])  # noqa: E731
        out, tan = ag.jvp(ag.vmap(ag.jacrev(f)), (X,), (V,))
        rout, rtan = tf.jvp(tf.vmap(tf.jacrev(ft)), (tt(torch, X),), (tt(torch, V),))
        close(out, tnp(rout))
        close(tan, tnp(rtan))

    def test_vmap_of_jvp_of_grad_per_example_hvp(self):
        torch = _torch()
        tf = torch.func
        W = RNG.normal(size=(3, 2))
        X, T = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3, 2))
        got = ag.vmap(
            lambda x, t: ag.jvp(lambda w: ag.grad(mlp_loss)(w, x), (W,), (t,))[1], in_axes=(0, 0)
        )(X, T)
        ref = tf.vmap(
            lambda x, t: tf.jvp(
                lambda w: tf.grad(lambda w_: mlp_loss_t(torch, w_, x))(w), (tt(torch, W),), (t,)
            )[1]
        )(tt(torch, X), tt(torch, T))
        close(got, tnp(ref))

    def test_hessian_of_vmapped_loss_flat_params(self):
        torch = _torch()
        tf = torch.func
        X = RNG.normal(size=(6, 3))
        p = RNG.normal(size=8)

        def loss(p):
            w, b = p[:6].reshape(3, 2), p[6:]
            return ag.vmap(lambda x: (ag.tanh(x @ w + b) ** 2).sum())(X).mean()

        def loss_t(p):
            w, b = p[:6].reshape(3, 2), p[6:]
            return tf.vmap(lambda x: (torch.tanh(x @ w + b) ** 2).sum())(tt(torch, X)).mean()

        close(ag.hessian(loss)(p), tnp(tf.hessian(loss_t)(tt(torch, p))))

    def test_hessian_of_vmapped_loss_params_dict(self):
        torch = _torch()
        tf = torch.func
        X = RNG.normal(size=(6, 3))
        params = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=2)}

        def loss(p):
            return ag.vmap(lambda x: (ag.tanh(x @ p["w"] + p["b"]) ** 2).sum())(X).mean()

        def loss_t(p):
            return tf.vmap(lambda x: (torch.tanh(x @ p["w"] + p["b"]) ** 2).sum())(
                tt(torch, X)
            ).mean()

        try:
            H = ag.hessian(loss)(params)
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            assert ("hessian" in msg or "jacrev" in msg or "jacobian" in msg) and "dict" in msg, (
                f"a dict argument refused without saying so: {type(e).__name__}: {msg}"
            )
            return
        ref = tf.hessian(loss_t)({k: tt(torch, v) for k, v in params.items()})
        for a in params:
            for b in params:
                close(H[a][b], tnp(ref[a][b]))

    def test_jacfwd_cubed(self):
        torch = _torch()
        tf = torch.func
        x = RNG.normal(size=3)
        f = lambda x: ag.stack([ag.sin(x[0] * x[1]), ag.exp(x[2]) * x[0] ** 2])  # noqa: E731
        ft = lambda x: torch.stack([torch.sin(x[0] * x[1]), torch.exp(x[2]) * x[0] ** 2])  # noqa: E731
        close(
            ag.jacfwd(ag.jacfwd(ag.jacfwd(f)))(x),
            tnp(tf.jacfwd(tf.jacfwd(tf.jacfwd(ft)))(tt(torch, x))),
        )
        close(
            ag.jacrev(ag.jacfwd(ag.jacrev(f)))(x),
            tnp(tf.jacfwd(tf.jacfwd(tf.jacfwd(ft)))(tt(torch, x))),
        )

    def test_fourth_order_mixed(self):
        torch = _torch()
        tf = torch.func
        x = RNG.normal(size=2)
        f = lambda x: (ag.tanh(x) * x[::-1]).sum()  # noqa: E731
        ft = lambda x: (torch.tanh(x) * torch.flip(x, (0,))).sum()  # noqa: E731
        got = ag.jacfwd(ag.jacrev(ag.hessian(f)))(x)
        ref = tf.jacfwd(tf.jacrev(tf.hessian(ft)))(tt(torch, x))
        close(got, tnp(ref))

    @pytest.mark.parametrize(
        "outer,inner",
        [
            ((None, 0, 1), (0, None, 0)),
            ((0, None, 1), (None, 1, 0)),
            ((1, 0, None), (0, 0, None)),
            ((0, 1, 0), (None, None, 0)),
        ],
    )
    def test_vmap_vmap_grad_mixed_in_axes(self, outer, inner):
        torch = _torch()
        tf = torch.func
        B1, B2 = 3, 4
        # build arrays consistent with the in_axes: base per-example shapes w (3,), x (3,), y (2,)
        base = [(3,), (3,), (2,)]
        arrays = []
        for k in range(3):
            s = list(base[k])
            if inner[k] is not None:
                s.insert(inner[k], B2)
            if outer[k] is not None:
                s.insert(outer[k], B1)
            arrays.append(RNG.normal(size=tuple(s)))

        def f(w, x, y):
            return (ag.tanh(w * x).sum() * y).sum() + (w**2 * y[0]).sum()

        def ft(w, x, y):
            return (torch.tanh(w * x).sum() * y).sum() + (w**2 * y[0]).sum()

        got = ag.vmap(ag.vmap(ag.grad(f, argnums=(0, 2)), in_axes=inner), in_axes=outer)(*arrays)
        ref = tf.vmap(tf.vmap(tf.grad(ft, argnums=(0, 2)), in_dims=inner), in_dims=outer)(
            *[tt(torch, a) for a in arrays]
        )
        close(got[0], tnp(ref[0]))
        close(got[1], tnp(ref[1]))

    @pytest.mark.parametrize("out_axes", [0, 1, -1, (1, 0)])
    def test_out_axes_variants_nested(self, out_axes):
        torch = _torch()
        tf = torch.func
        X = RNG.normal(size=(3, 4, 5))

        def f(x):
            return ag.tanh(x) * 2.0, ag.sin(x) * x.sum() + x[0]

        def ft(x):
            return torch.tanh(x) * 2.0, torch.sin(x) * x.sum() + x[0]

        got = ag.vmap(ag.vmap(f, out_axes=out_axes), out_axes=out_axes)(X)
        ref = tf.vmap(tf.vmap(ft, out_dims=out_axes), out_dims=out_axes)(tt(torch, X))
        close(got[0], tnp(ref[0]))
        close(got[1], tnp(ref[1]))

    def test_out_axes_none_for_shared_result_under_grad(self):
        W = RNG.normal(size=(3, 2))
        X = RNG.normal(size=(4, 3))

        def outer(w):
            per, shared = ag.vmap(
                lambda w_, x: (mlp_loss(w_, x), (w_**2).sum()),
                in_axes=(None, 0),
                out_axes=(0, None),
            )(w, X)
            return per.sum() + 3.0 * shared

        expected = sum(ag.grad(mlp_loss)(W, x) for x in X) + 6.0 * W
        close(ag.grad(outer)(W), expected)

    def test_nested_dict_tuple_arguments(self):
        torch = _torch()
        tf = torch.func
        params = {
            "layer": (RNG.normal(size=(3, 2)), RNG.normal(size=2)),
            "scale": [RNG.normal(size=())],
        }
        data = {"x": RNG.normal(size=(5, 3)), "y": RNG.normal(size=(5, 2))}

        def loss(p, d):
            w, b = p["layer"]
            return ((ag.tanh(d["x"] @ w + b) * p["scale"][0] - d["y"]) ** 2).sum()

        def loss_t(p, d):
            w, b = p["layer"]
            return ((torch.tanh(d["x"] @ w + b) * p["scale"][0] - d["y"]) ** 2).sum()

        got = ag.vmap(ag.grad(loss), in_axes=(None, 0))(params, data)
        tp = {
            "layer": tuple(tt(torch, a) for a in params["layer"]),
            "scale": [tt(torch, params["scale"][0])],
        }
        td = {k: tt(torch, v) for k, v in data.items()}
        ref = tf.vmap(tf.grad(loss_t), in_dims=(None, 0))(tp, td)
        assert isinstance(got["layer"], tuple) and isinstance(got["scale"], list)
        close(got["layer"][0], tnp(ref["layer"][0]))
        close(got["layer"][1], tnp(ref["layer"][1]))
        close(got["scale"][0], tnp(ref["scale"][0]))

    def test_jvp_of_jvp_and_vmap_over_tangents(self):
        torch = _torch()
        tf = torch.func
        x, u, v = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3)
        f = lambda x: ag.sin(x) * ag.exp(x[::-1])  # noqa: E731
        ft = lambda x: torch.sin(x) * torch.exp(torch.flip(x, (0,)))  # noqa: E731
        got = ag.jvp(lambda y: ag.jvp(f, (y,), (u,))[1], (x,), (v,))[1]
        ref = tf.jvp(
            lambda y: tf.jvp(ft, (y,), (tt(torch, u),))[1], (tt(torch, x),), (tt(torch, v),)
        )[1]
        close(got, tnp(ref))
        T = RNG.normal(size=(4, 3))
        got = ag.vmap(lambda t: ag.jvp(f, (x,), (t,))[1])(T)
        close(got, T @ tnp(tf.jacrev(ft)(tt(torch, x))).T)
        got = ag.vmap(lambda t: ag.jvp(f, (x,), (t,))[1], in_axes=1, out_axes=1)(T.T)
        close(got, (T @ tnp(tf.jacrev(ft)(tt(torch, x))).T).T)

    def test_grad_of_sum_of_vmapped_jvp(self):
        torch = _torch()
        tf = torch.func
        W, X, V = RNG.normal(size=(3, 2)), RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2))

        def outer(w):
            return ag.vmap(lambda x: ag.jvp(lambda w_: mlp_loss(w_, x), (w,), (V,))[1])(X).sum()

        def outer_t(w):
            return tf.vmap(
                lambda x: tf.jvp(lambda w_: mlp_loss_t(torch, w_, x), (w,), (tt(torch, V),))[1]
            )(tt(torch, X)).sum()

        close(ag.grad(outer)(W), tnp(tf.grad(outer_t)(tt(torch, W))))

    def test_jvp_dict_tangent_matched_by_key(self):
        # Python dicts with the same keys are equal whatever their order: the tangent for "a"
        # is the one under "a".
        a, b = np.array([1.0, 2.0]), np.array([10.0, 20.0])
        f = lambda p: p["a"] * 1.0 + p["b"] * 100.0  # noqa: E731
        _, tan = ag.jvp(
            f, ({"a": a, "b": b},), ({"b": np.array([0.0, 1.0]), "a": np.array([1.0, 0.0])},)
        )
        close(tan, [1.0, 100.0])

    def test_hvp_dict_direction_matched_by_key(self):
        a, b = np.array([1.0, 2.0]), np.array([10.0, 20.0])
        f = lambda p: (p["a"] ** 2 * p["b"]).sum()  # noqa: E731
        # H = [[diag(2b), diag(2a)], [diag(2a), 0]], v = (a: [1, 0], b: [0, 1])
        got = ag.hvp(f, {"a": a, "b": b}, {"b": np.array([0.0, 1.0]), "a": np.array([1.0, 0.0])})
        close(got["a"], [20.0, 4.0])
        close(got["b"], [2.0, 0.0])

    def test_vjp_dict_cotangent_matched_by_key(self):
        x = np.array([1.0, 2.0])
        _, pull = ag.vjp(lambda x: {"a": x * 1.0, "b": x * 100.0}, x)
        (got,) = pull({"b": np.array([0.0, 1.0]), "a": np.array([1.0, 0.0])})
        close(got, [1.0, 100.0])

    def test_jacrev_of_dict_output_right_or_clear(self):
        x = np.array([1.0, 2.0])
        try:
            J = ag.jacrev(lambda x: {"a": x * 1.0, "b": x * 100.0})(x)
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            assert "jacrev" in msg and "dict" in msg, f"unclear refusal: {type(e).__name__}: {msg}"
            return
        close(J["a"], np.eye(2))
        close(J["b"], 100 * np.eye(2))

    def test_vmap_grad_functional_call_and_conv_per_example(self):
        model = ag.nn.MLP([3, 4, 2], activation="tanh", rng=0)
        p = {k: np.asarray(v) for k, v in model.state_dict().items()}
        X, Y = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 2))
        loss = lambda p, x, y: ((ag.nn.functional_call(model, p, x) - y) ** 2).sum()  # noqa: E731
        G = ag.vmap(ag.grad(loss), in_axes=(None, 0, 0))(p, X, Y)
        for k in p:
            close(G[k], np.stack([ag.grad(loss)(p, X[b], Y[b])[k] for b in range(5)]))
        Xc, Wc = RNG.normal(size=(3, 1, 2, 5, 5)), RNG.normal(size=(3, 4, 2, 3, 3))
        G = ag.vmap(ag.grad(lambda w, x: (ag.max_pool2d(ag.conv2d(x, w), 2) ** 2).sum()))(Wc, Xc)
        close(
            G,
            np.stack(
                [
                    ag.grad(lambda w, b=b: (ag.max_pool2d(ag.conv2d(Xc[b], w), 2) ** 2).sum())(
                        Wc[b])
                    for b in range(3)
                ]
            ),
        )

    def test_vmap_dict_argument_key_order(self):
        # two dict arguments whose keys come in different orders
        P = {"a": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(3, 2))}
        Q = {"b": RNG.normal(size=(3, 2)), "a": RNG.normal(size=(3, 2))}
        got = ag.vmap(lambda p, q: p["a"] * q["a"] + 10 * p["b"] * q["b"])(P, Q)
        close(got, P["a"] * Q["a"] + 10 * P["b"] * Q["b"])


# ================================================================ 3. custom_vjp / checkpoint


def _make_custom_tanh_mul():
    @ag.custom_vjp
    def tanh_mul(w, x):
        return ag.tanh(w * x)

    def fwd(w, x):
        out = np.tanh(np.asarray(w) * np.asarray(x))
        return out, (np.asarray(w), np.asarray(x), out)

    def bwd(res, g):
        w, x, out = res
        d = (1 - out**2) * g
        return d * x, d * w

    tanh_mul.defvjp(fwd, bwd)
    return tanh_mul


def _make_clipped_identity():
    @ag.custom_vjp
    def clipped_identity(x):
        return x

    clipped_identity.defvjp(lambda x: (x, None), lambda res, g: (np.clip(g, -1, 1),))
    return clipped_identity


class TestCustomVjp:
    def test_first_order_under_every_reverse_transform(self):
        tm = _make_custom_tanh_mul()
        W, X = RNG.normal(size=(3,)), RNG.normal(size=(4, 3))
        loss_c = lambda w, x: (tm(w, x) ** 2).sum() + (w * x).sum()  # noqa: E731
        loss_p = lambda w, x: (ag.tanh(w * x) ** 2).sum() + (w * x).sum()  # noqa: E731
        close(ag.grad(loss_c, argnums=(0, 1))(W, X[0]), ag.grad(loss_p, argnums=(0, 1))(W, X[0]))
        close(
            ag.vmap(ag.grad(loss_c), in_axes=(None, 0))(W, X),
            ag.vmap(ag.grad(loss_p), in_axes=(None, 0))(W, X),
        )
        close(
            ag.vmap(ag.grad(loss_c, argnums=1), in_axes=(None, 0))(W, X),
            np.stack([ag.grad(loss_p, argnums=1)(W, x) for x in X]),
        )
        close(
            ag.grad(lambda w: ag.vmap(loss_c, in_axes=(None, 0))(w, X).sum())(W),
            sum(ag.grad(loss_p)(W, x) for x in X),
        )
        close(ag.jacrev(lambda w: tm(w, X[0]))(W), ag.jacrev(lambda w: ag.tanh(w * X[0]))(W))
        _, pull = ag.vjp(lambda w: tm(w, X[1]), W)
        c = RNG.normal(size=3)
        close(pull(c)[0], ag.vjp(lambda w: ag.tanh(w * X[1]), W)[1](c)[0])

    def test_custom_rule_used_per_example(self):
        ci = _make_clipped_identity()
        X = RNG.normal(size=(5, 3))
        S = np.array([0.5, 3.0, -4.0, 1.0, 0.1])
        got = ag.vmap(ag.grad(lambda x, s: (s * ci(x)).sum()))(X, S)
        close(got, np.clip(S, -1, 1)[:, None] * np.ones((5, 3)))
        close(ag.jacrev(lambda x: 3 * ci(x))(X[0]), np.eye(3))

    def test_vmap_of_jacrev_through_custom_vjp(self):
        tm = _make_custom_tanh_mul()
        W, X = RNG.normal(size=(3,)), RNG.normal(size=(4, 3))
        got = ag.vmap(ag.jacrev(lambda w, x: tm(w, x)), in_axes=(None, 0))(W, X)
        ref = np.stack([np.diag((1 - np.tanh(W * x) ** 2) * x) for x in X])
        close(got, ref)

    @pytest.mark.parametrize(
        "how",
        [
            "jvp",
            "jacfwd",
            "jacobian_wide",
            "vmap_jvp",
            "hessian",
            "grad_grad",
            "hvp",
            "jacfwd_grad",
        ],
    )
    def test_forward_or_second_order_through_custom_vjp_is_refused_by_name(self, how):
        # README: a second derivative (or a jvp) through a custom_vjp is refused by name. The
        # clipped identity's rule is not its derivative, so a forward-mode answer computed from
        # its fwd would disagree with its reverse-mode one.
        ci = _make_clipped_identity()
        x = np.array([0.3, -0.2, 0.5])
        v = np.array([1.0, 2.0, 3.0])
        f = lambda x: 3.0 * ci(x) ** 2  # noqa: E731
        s = lambda x: (3.0 * ci(x) ** 3).sum()  # noqa: E731
        calls = {
            "jvp": lambda: ag.jvp(f, (x,), (v,)),
            "jacfwd": lambda: ag.jacfwd(f)(x),
            "jacobian_wide": lambda: ag.jacobian(lambda x: ag.concatenate([f(x), f(x)]))(x),
            "vmap_jvp": lambda: ag.vmap(lambda t: ag.jvp(f, (x,), (t,))[1])(np.eye(3)),
            "hessian": lambda: ag.hessian(s)(x),
            "grad_grad": lambda: ag.grad(lambda x: ag.grad(s)(x).sum())(x),
            "hvp": lambda: ag.hvp(s, x, v),
            "jacfwd_grad": lambda: ag.jacfwd(ag.grad(s))(x),
        }
        try:
            result = calls[how]()
        except NotImplementedError as e:
            assert "custom_vjp" in str(e) and "clipped_identity" in str(e), str(e)
            return
        pytest.fail(f"{how} through custom_vjp was not refused; it returned {result!r}")

    def test_second_order_not_involving_custom_rule_is_right(self):
        tm = _make_custom_tanh_mul()
        W, Y = RNG.normal(size=3), RNG.normal(size=3)
        x = RNG.normal(size=3)
        # hessian wrt y only: the custom op sees constants
        got = ag.hessian(lambda y: (tm(W, x) * y**2).sum())(Y)
        close(got, np.diag(2 * np.tanh(W * x)))
        # d/dw < d/dy sum(tm(w, x) * y), v >  = first order through the custom rule
        v = RNG.normal(size=3)
        got = ag.grad(
            lambda w: (ag.grad(lambda w_, y: (tm(w_, x) * y).sum(), argnums=1)(w, Y) * v).sum()
        )(W)
        close(got, (1 - np.tanh(W * x) ** 2) * x * v)

    def test_wrong_shape_from_bwd_under_vmap_is_refused_with_names(self):
        def my_scaled_op(x):
            return x * 2.0

        bad = ag.custom_vjp(my_scaled_op)
        # a bwd written for the whole batch: returns a (B, 3) gradient for a (3,) example
        bad.defvjp(lambda x: (x * 2.0, None), lambda r, g: (np.ones((4, 3)),))
        raises_clear(
            lambda: ag.vmap(ag.grad(lambda x: bad(x).sum()))(RNG.normal(size=(4, 3))),
            ValueError,
            "my_scaled_op",
            "(4, 3)",
            "(3,)",
        )
        bad2 = ag.custom_vjp(my_scaled_op)
        bad2.defvjp(lambda x: (x * 2.0, None), lambda r, g: (g.T if g.ndim == 2 else g, g))
        raises_clear(
            lambda: ag.vmap(ag.grad(lambda x: bad2(x).sum()))(RNG.normal(size=(4, 2, 3))),
            ValueError,
            "my_scaled_op",
        )

    def test_fwd_and_bwd_run_per_example(self):
        seen = []

        def my_double(x):
            return x * 2.0

        op = ag.custom_vjp(my_double)
        op.defvjp(
            lambda x: (seen.append(("f", np.shape(x))) or x * 2.0, None),
            lambda r, g: (seen.append(("b", np.shape(g))) or 2.0 * g,),
        )
        X = RNG.normal(size=(3, 4))
        close(ag.vmap(ag.grad(lambda x: (op(x) * x).sum()))(X), 4 * X)
        assert sorted(set(seen)) == [("b", (4,)), ("f", (4,))] and len(seen) == 6, seen


class TestCheckpointUnderTransforms:
    W = RNG.normal(size=(3, 3))

    def f_plain(self, x):
        return ag.tanh(ag.sin(x @ self.W) * x)

    def f_ckpt(self, x):
        return ag.checkpoint(self.f_plain)(x)

    @pytest.mark.parametrize(
        "how",
        [
            "grad",
            "vmap_grad",
            "hessian",
            "grad_grad",
            "jvp",
            "jacfwd",
            "jacrev_jacrev",
            "hvp",
            "vmap_hessian",
            "jacfwd_jacrev",
            "jvp_of_grad",
            "jacfwd_of_grad",
        ],
    )
    def test_checkpoint_equals_plain(self, how):
        x, v = RNG.normal(size=3), RNG.normal(size=3)
        X = RNG.normal(size=(4, 3))
        s = lambda f: lambda x: (f(x) ** 2).sum()  # noqa: E731
        run = {
            "grad": lambda f: ag.grad(s(f))(x),
            "vmap_grad": lambda f: ag.vmap(ag.grad(s(f)))(X),
            "hessian": lambda f: ag.hessian(s(f))(x),
            "grad_grad": lambda f: ag.grad(lambda y: (ag.grad(s(f))(y) * v).sum())(x),
            "jvp": lambda f: ag.jvp(f, (x,), (v,)),
            "jacfwd": lambda f: ag.jacfwd(f)(x),
            "jacrev_jacrev": lambda f: ag.jacrev(ag.jacrev(f))(x),
            "hvp": lambda f: ag.hvp(s(f), x, v),
            "vmap_hessian": lambda f: ag.vmap(ag.hessian(s(f)))(X),
            "jacfwd_jacrev": lambda f: ag.jacfwd(ag.jacrev(f))(x),
            "jvp_of_grad": lambda f: ag.jvp(ag.grad(s(f)), (x,), (v,)),
            "jacfwd_of_grad": lambda f: ag.jacfwd(ag.grad(s(f)))(x),
        }[how]
        a, b = run(self.f_ckpt), run(self.f_plain)
        for p, q in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            close(p, q)

    def test_second_order_through_closure_weights(self):
        torch = _torch()
        tf = torch.func
        x = RNG.normal(size=3)

        def loss(W):
            block = ag.checkpoint(lambda h: ag.tanh(h @ W) * h)
            return (block(block(x)) ** 2).sum()

        def loss_t(W):
            blk = lambda h: torch.tanh(h @ W) * h  # noqa: E731
            return (blk(blk(tt(torch, x))) ** 2).sum()

        close(ag.grad(loss)(self.W), tnp(tf.grad(loss_t)(tt(torch, self.W))))
        close(ag.hessian(loss)(self.W), tnp(tf.hessian(loss_t)(tt(torch, self.W))))

    def test_closure_tensor_weights_with_backward(self):
        torch = _torch()
        x = RNG.normal(size=(2, 3))
        w = ag.Tensor(self.W, requires_grad=True)
        block = ag.checkpoint(lambda h: ag.tanh(h @ w))
        xt = ag.Tensor(x, requires_grad=True)
        (block(block(xt)) ** 2).sum().backward()
        tw = tt(torch, self.W).requires_grad_()
        tx = tt(torch, x).requires_grad_()
        (torch.tanh(torch.tanh(tx @ tw) @ tw) ** 2).sum().backward()
        close(w.grad, tnp(tw.grad))
        close(xt.grad, tnp(tx.grad))

    def test_vmap_grad_wrt_closure_weights_in_checkpoint(self):
        X = RNG.normal(size=(4, 3))

        def per_example(W, x):
            return (ag.checkpoint(lambda h: ag.tanh(h @ W))(x) ** 2).sum()

        def plain(W, x):
            return (ag.tanh(x @ W) ** 2).sum()

        close(
            ag.vmap(ag.grad(per_example), in_axes=(None, 0))(self.W, X),
            ag.vmap(ag.grad(plain), in_axes=(None, 0))(self.W, X),
        )
        close(
            ag.hessian(lambda W: ag.vmap(per_example, in_axes=(None, 0))(W, X).sum())(self.W),
            ag.hessian(lambda W: ag.vmap(plain, in_axes=(None, 0))(W, X).sum())(self.W),
        )

    def test_vmap_grad_of_block_reading_a_batched_value_from_its_closure(self):
        # checkpoint's docstring: Tensors f reads from outside its arguments get their
        # gradients too; inside vmap such a Tensor may be a per-example value.
        W = RNG.normal(size=(3, 2))
        X = RNG.normal(size=(4, 3))
        ck = lambda w, x: (ag.checkpoint(lambda w_: ag.tanh(x @ w_))(w) ** 2).sum()  # noqa: E731
        plain = lambda w, x: (ag.tanh(x @ w) ** 2).sum()  # noqa: E731
        close(
            ag.vmap(ag.grad(ck), in_axes=(None, 0))(W, X),
            np.stack([ag.grad(plain)(W, x) for x in X]),
        )

    def test_custom_vjp_inside_checkpoint_first_order(self):
        tm = _make_custom_tanh_mul()
        w = RNG.normal(size=3)
        X = RNG.normal(size=(4, 3))
        got = ag.vmap(
            ag.grad(lambda w_, x: (ag.checkpoint(lambda a: tm(a, x) * a)(w_) ** 2).sum()),
            in_axes=(None, 0),
        )(w, X)
        ref = ag.vmap(
            ag.grad(lambda w_, x: ((ag.tanh(w_ * x) * w_) ** 2).sum()), in_axes=(None, 0)
        )(w, X)
        close(got, ref)


# ============================================================================ 4. integer indexing


def _idx_cases():
    B = 4
    r = np.random.default_rng(7)
    cases = {
        # name: (f(v, i), v per-example shape, index array (batched), in_axes)
        "1d_repeats_negative": (
            lambda v, i: v[i],
            (6,),
            np.array([[0, 0, -1, 5, -6], [2, 2, 2, 2, 2], [-3, 3, 0, 1, -1], [5, 4, 3, 2, 1]]),
            (0, 0),
        ),
        "1d_scalar_per_example": (lambda v, i: v[i] * 3.0, (6,), np.array([0, -1, 3, 3]), (0, 0)),
        "1d_shared_index": (lambda v, i: v[i], (6,), np.array([1, 1, -2, 0]), (0, None)),
        "2d_index_array": (lambda v, i: v[i], (6,), r.integers(-6, 6, size=(B, 2, 3)), (0, 0)),
        "rows": (lambda v, i: v[i, :], (4, 5), r.integers(-4, 4, size=(B, 3)), (0, 0)),
        "cols": (lambda v, i: v[:, i], (4, 5), r.integers(-5, 5, size=(B, 6)), (0, 0)),
        "slice_then_cols": (lambda v, i: v[1:, i], (4, 5), r.integers(-5, 5, size=(B, 3)), (0, 0)),
        "rows_then_slice": (lambda v, i: v[i, 1:], (4, 5), r.integers(-4, 4, size=(B, 3)), (0, 0)),
        "rows_shared_cols_batched": (
            lambda v, i: v[np.array([0, 0, 3]), i],
            (4, 5),
            r.integers(-5, 5, size=(B, 3)),
            (0, 0),
        ),
        "v_shared_index_batched": (
            lambda v, i: v[i] * v[i],
            (6,),
            r.integers(-6, 6, size=(B, 5)),
            (None, 0),
        ),
        "v_batched_on_axis1": (lambda v, i: v[i], (6,), r.integers(-6, 6, size=(B, 3)), (1, 0)),
        "ellipsis_then_index": (
            lambda v, i: v[..., i],
            (4, 5),
            r.integers(-5, 5, size=(B, 2)),
            (0, 0),
        ),
    }
    return cases


def _loop_reference(torch, f_t, V, I, in_axes, R):
    """Per-example values and d(sum(out * R[b]))/dv by a torch loop."""
    B = len(R)
    outs, grads = [], []
    for b in range(B):
        vb = V if in_axes[0] is None else np.take(V, b, axis=in_axes[0])
        ib = I if in_axes[1] is None else I[b]
        tv = tt(torch, vb).requires_grad_()
        out = f_t(tv, torch.as_tensor(ib))
        (out * tt(torch, R[b])).sum().backward()
        outs.append(tnp(out))
        grads.append(tnp(tv.grad))
    return np.stack(outs), np.stack(grads)


@pytest.mark.parametrize("name", list(_idx_cases()))
def test_vmap_integer_indexing_values_and_per_example_grads(name):
    torch = _torch()
    f, vshape, I, in_axes = _idx_cases()[name]
    B = 4
    if in_axes[0] is None:
        V = RNG.normal(size=vshape)
    elif in_axes[0] == 0:
        V = RNG.normal(size=(B,) + vshape)
    else:
        V = np.moveaxis(RNG.normal(size=(B,) + vshape), 0, in_axes[0])
    I_use = I
    f_t = f  # torch's indexing has NumPy's semantics for these indices
    out = ag.vmap(f, in_axes=in_axes)(V, I_use)
    R = RNG.normal(size=(B,) + out.shape[1:])
    ref_out, ref_grad = _loop_reference(torch, f_t, V, I_use, in_axes, R)
    close(out, ref_out)
    g = ag.vmap(ag.grad(lambda v, i, r: (f(v, i) * r).sum()), in_axes=in_axes + (0,))(V, I_use, R)
    close(g, ref_grad)
    if in_axes[0] is None:
        # grad of the batch sum wrt the shared v: every example and every repeat accumulates
        gs = ag.grad(lambda v: (ag.vmap(f, in_axes=in_axes)(v, I_use) * R).sum())(V)
        close(gs, ref_grad.sum(0))


def test_vmap_take_along_axis_and_gather_per_example():
    torch = _torch()
    B = 4
    V = RNG.normal(size=(B, 3, 5))
    idx = RNG.integers(0, 5, size=(B, 3, 4))
    R = RNG.normal(size=(B, 3, 4))
    for _name, f, ft in [
        (
            "take_along_axis",
            lambda v, i: ag.take_along_axis(v, i, axis=1),
            lambda v, i: torch.take_along_dim(v, i, dim=1),
        ),
        ("gather", lambda v, i: ag.gather(v, 1, i), lambda v, i: torch.gather(v, 1, i)),
    ]:
        out = ag.vmap(f)(V, idx)
        g = ag.vmap(ag.grad(lambda v, i, r, f=f: (f(v, i) * r).sum()))(V, idx, R)
        for b in range(B):
            tv = tt(torch, V[b]).requires_grad_()
            o = ft(tv, torch.as_tensor(idx[b]))
            (o * tt(torch, R[b])).sum().backward()
            close(out[b], tnp(o), atol=0)
            close(g[b], tnp(tv.grad))
    # gather along dim 0, index smaller than v
    idx0 = RNG.integers(0, 3, size=(B, 2, 5))
    out = ag.vmap(lambda v, i: ag.gather(v, 0, i))(V, idx0)
    g = ag.vmap(ag.grad(lambda v, i: (ag.gather(v, 0, i) ** 2).sum()))(V, idx0)
    for b in range(B):
        tv = tt(torch, V[b]).requires_grad_()
        o = torch.gather(tv, 0, torch.as_tensor(idx0[b]))
        (o**2).sum().backward()
        close(out[b], tnp(o))
        close(g[b], tnp(tv.grad))


@pytest.mark.parametrize(
    "kw", [{}, {"reduction": "sum"}, {"ignore_index": 2}, {"weight": "w"}, {"label_smoothing": 0.2}]
)
def test_vmap_cross_entropy_integer_targets_per_example(kw):
    torch = _torch()
    B, N, C = 3, 5, 4
    rng = np.random.default_rng(11)
    L = rng.normal(size=(B, N, C))
    T = np.array(
        [[2, 2, 0, 1, 3], [0, 1, 3, 3, 0], [1, 1, 0, 2, 3]]
    )  # class 2 appears 2, 0, 1 times
    cw = np.array([0.5, 2.0, 1.0, 3.0])
    kw_ag = {k: (cw if v == "w" else v) for k, v in kw.items()}
    kw_t = {k: (tt(torch, cw) if v == "w" else v) for k, v in kw.items()}
    f = lambda l, t: ag.nn.functional.cross_entropy(l, t, **kw_ag)  # noqa: E731
    out = ag.vmap(f)(L, T)
    g = ag.vmap(ag.grad(f))(L, T)
    for b in range(B):
        tl = tt(torch, L[b]).requires_grad_()
        o = torch.nn.functional.cross_entropy(tl, torch.as_tensor(T[b]), **kw_t)
        o.backward()
        close(out[b], o.item())
        close(g[b], tnp(tl.grad))
    # and the gradient of the batch mean wrt shared weights producing the logits
    Wl = rng.normal(size=(3, C))
    Xb = rng.normal(size=(B, N, 3))
    gw = ag.grad(lambda w: ag.vmap(lambda x, t: f(x @ w, t))(Xb, T).mean())(Wl)
    tw = tt(torch, Wl).requires_grad_()
    torch.stack(
        [
            torch.nn.functional.cross_entropy(tt(torch, Xb[b]) @ tw, torch.as_tensor(T[b]), **kw_t)
            for b in range(B)
        ]
    ).mean().backward()
    close(gw, tnp(tw.grad))


def test_vmap_scatter_add_per_example():
    B = 3
    src = RNG.normal(size=(B, 5))
    idx = np.array([[0, 0, 1, 3, 3], [2, 2, 2, 2, 2], [4, 3, 2, 1, 0]])
    out = ag.vmap(lambda s, i: ag.scatter_add(s, i, (5,)))(src, idx)
    for b in range(B):
        ref = np.zeros(5)
        np.add.at(ref, idx[b], src[b])
        close(out[b], ref)
    R = RNG.normal(size=(B, 5))
    g = ag.vmap(ag.grad(lambda s, i, r: (ag.scatter_add(s, i, (5,)) * r).sum()))(src, idx, R)
    close(g, np.stack([R[b][idx[b]] for b in range(B)]))


def test_vmap_index_out_of_range_per_example_is_refused():
    V = RNG.normal(size=(3, 4))
    for bad in (np.array([[0, 1], [4, 0], [0, 0]]), np.array([[0, 1], [-5, 0], [0, 0]])):
        with pytest.raises(IndexError):
            ag.vmap(lambda v, i: v[i])(V, bad)


def test_vmap_boolean_mask_right_or_clear():
    V = RNG.normal(size=(3, 4))
    M = np.array(
        [[True, False, True, False], [False, True, True, False], [True, True, False, False]]
    )
    try:
        out = ag.vmap(lambda v, m: v[m])(V, M)
    except (ValueError, TypeError, NotImplementedError) as e:
        assert "vmap" in str(e) and "bool" in str(e), str(e)
        return
    close(out, np.stack([V[b][M[b]] for b in range(3)]))


# ============================================================================ 5. threads


def _run_threads(target, n, seconds):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors: list = []
    stop = time.monotonic() + seconds

    def wrapped(k):
        try:
            target(k, stop, errors)
        except Exception as e:  # noqa: BLE001
            errors.append(f"thread {k}: {type(e).__name__}: {e}")

    try:
        threads = [threading.Thread(target=wrapped, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    return errors


def test_functional_call_shared_module_threads():
    model = ag.nn.MLP([3, 5, 2], activation="tanh", rng=0)
    base = {k: np.asarray(v) for k, v in model.state_dict().items()}
    X = RNG.normal(size=(6, 3))
    y = RNG.normal(size=(6, 2))
    plist = [{k: v * (1 + 0.1 * j) for k, v in base.items()} for j in range(4)]

    def loss(p):
        return ag.nn.functional.mse_loss(ag.nn.functional_call(model, p, X), y)

    expected = [ag.value_and_grad(loss)(p) for p in plist]
    expected_base = ag.value_and_grad(loss)(base)

    def work(k, stop, errors):
        rounds = 0
        while time.monotonic() < stop or rounds < 5:
            val, g = ag.value_and_grad(loss)(plist[k])
            close(val, expected[k][0])
            for name in base:
                close(g[name], expected[k][1][name])
            rounds += 1

    errors = _run_threads(work, 4, 1.5)
    assert not errors, errors[:3]
    # the module itself was never written to
    for k, v in model.state_dict().items():
        close(v, base[k], rtol=0, atol=0)
    val, _ = ag.value_and_grad(loss)(base)
    close(val, expected_base[0])


def test_backward_from_threads_into_one_shared_parameter():
    p = ag.Tensor(RNG.normal(size=(4, 3)), requires_grad=True)
    X = RNG.normal(size=(5, 4))
    g_one = ag.grad(lambda w: (ag.tanh(X @ w) ** 2).sum())(p.data)
    counts = [0] * 4

    def work(k, stop, errors):
        while time.monotonic() < stop or counts[k] < 5:
            (ag.tanh(X @ p) ** 2).sum().backward()
            counts[k] += 1

    errors = _run_threads(work, 4, 1.5)
    assert not errors, errors[:3]
    close(p.grad, sum(counts) * g_one, rtol=1e-9)


def test_transforms_in_concurrent_threads_do_not_share_state():
    W = RNG.normal(size=(3, 2))
    X = RNG.normal(size=(4, 3))
    v = RNG.normal(size=(3, 2))
    jobs = [
        lambda: ag.vmap(ag.grad(mlp_loss), in_axes=(None, 0))(W, X),
        lambda: ag.jvp(lambda w: mlp_loss(w, X[0]), (W,), (v,))[1],
        lambda: ag.grad(lambda w: (ag.grad(mlp_loss)(w, X[1]) * v).sum())(W),
        lambda: ag.hessian(lambda w: mlp_loss(w, X[2]))(W),
        lambda: ag.vmap(lambda x: ag.jvp(lambda w: mlp_loss(w, x), (W,), (v,))[1])(X),
        lambda: ag.grad(lambda w: mlp_loss(w, X[3]))(W),
    ]
    expected = [j() for j in jobs]

    def work(k, stop, errors):
        n = 0
        while time.monotonic() < stop or n < 3:
            got = jobs[k]()
            if not np.allclose(got, expected[k], rtol=1e-10, atol=1e-12):
                errors.append(f"job {k}: wrong result in round {n}")
                return
            n += 1

    errors = _run_threads(work, len(jobs), 2.0)
    assert not errors, errors[:3]


def test_no_grad_in_one_thread_does_not_leak():
    W = RNG.normal(size=(3, 2))
    X = RNG.normal(size=(4, 3))
    expected = ag.grad(lambda w: mlp_loss(w, X[0]))(W)

    def work(k, stop, errors):
        while time.monotonic() < stop:
            if k == 0:
                with ag.no_grad():
                    mlp_loss(ag.Tensor(W, requires_grad=True), X[0])
            else:
                got = ag.vmap(ag.grad(mlp_loss), in_axes=(None, 0))(W, X[:1])[0]
                if not np.allclose(got, expected, rtol=1e-10):
                    errors.append("grad changed by another thread's no_grad")
                    return

    errors = _run_threads(work, 3, 1.0)
    assert not errors, errors[:3]


# ============================================================================ 6. bad input


class TestBadInput:
    W = RNG.normal(size=(3, 2))
    X = RNG.normal(size=(4, 3))

    def test_tangent_shape(self):
        raises_clear(
            lambda: ag.jvp(lambda w: w * 2, (self.W,), (np.ones(3),)),
            ValueError,
            "jvp",
            "(3,)",
            "(3, 2)",
        )
        raises_clear(
            lambda: ag.jvp(lambda w: w * 2, (self.W,), (np.ones((1, 2)),)),
            ValueError,
            "jvp",
            "(1, 2)",
            "(3, 2)",
        )
        raises_clear(
            lambda: ag.jvp(lambda w, x: w * x, (self.W, self.W), (self.W,)),
            ValueError,
            "jvp",
            "2",
            "1",
        )

    def test_tangent_nesting(self):
        f = lambda p: p["a"] * 2.0  # noqa: E731
        raises_clear(
            lambda: ag.jvp(f, ({"a": self.W},), ((self.W,),)), ValueError, "jvp", "nesting"
        )
        raises_clear(lambda: ag.jvp(f, ({"a": self.W},), ({"b": self.W},)), ValueError, "jvp")
        raises_clear(
            lambda: ag.jvp(lambda t: t[0] + t[1], ((self.W, self.W),), ([self.W, self.W, self.W],)),
            ValueError,
            "jvp",
        )

    def test_primals_not_a_tuple(self):
        # a bare array as primals would be iterated row by row
        raises_clear(
            lambda: ag.jvp(lambda *rows: rows[0] * 2, self.W, np.ones((3, 2))),
            (TypeError, ValueError),
            "jvp",
            "tuple",
        )

    def test_vmap_batch_size_mismatch(self):
        raises_clear(
            lambda: ag.vmap(lambda a, b: a * b)(self.X, RNG.normal(size=(5, 3))),
            ValueError,
            "vmap",
            "4",
            "5",
        )
        msg = raises_clear(
            lambda: ag.vmap(lambda p: p["a"] * p["b"])({"a": self.X, "b": RNG.normal(size=(5, 3))}),
            ValueError,
            "vmap",
            "4",
            "5",
        )
        # the two leaves of argument 0 must be told apart
        assert "'a'" in msg or '"a"' in msg or "[a]" in msg or "a:" in msg, msg

    def test_in_axes_out_axes_range(self):
        raises_clear(
            lambda: ag.vmap(lambda a: a, in_axes=2)(self.X),
            (ValueError, IndexError),
            "in_axes",
            "(4, 3)",
        )
        raises_clear(
            lambda: ag.vmap(lambda a: a, in_axes=-3)(self.X),
            (ValueError, IndexError),
            "in_axes",
            "(4, 3)",
        )
        raises_clear(
            lambda: ag.vmap(lambda a, b: a * b, in_axes=(0, 0, 0))(self.X, self.X),
            ValueError,
            "in_axes",
        )
        raises_clear(
            lambda: ag.vmap(lambda a: a, out_axes=3)(self.X), (ValueError, IndexError), "out_axes"
        )
        raises_clear(
            lambda: ag.vmap(lambda a: a * 2, out_axes=None)(self.X), ValueError, "out_axes"
        )

    def test_in_axes_nested_entry_right_or_clear(self):
        args = {"a": np.ones((4, 2)), "b": np.array([10.0, 20.0])}
        try:
            out = ag.vmap(lambda p: p["a"] * p["b"], in_axes=({"a": 0, "b": None},))(args)
        except (ValueError, TypeError) as e:
            assert "in_axes" in str(e), f"{type(e).__name__}: {e}"
            return
        close(out, args["a"] * args["b"])

    def test_python_branch_on_batched_value(self):
        raises_clear(
            lambda: ag.vmap(lambda x: x if x.sum() > 0 else -x)(self.X),
            (ValueError, TypeError),
            "vmap",
        )
        raises_clear(
            lambda: ag.vmap(lambda x: x * float(x.sum()))(self.X), (ValueError, TypeError), "vmap"
        )
        # a branch on a value every example shares runs
        out = ag.vmap(lambda x, w: x * 2 if w.sum() > -100 else x, in_axes=(0, None))(
            self.X, self.W
        )
        close(out, 2 * self.X)

    @pytest.mark.parametrize("np_fn", ["tanh", "exp", "abs", "square", "maximum0", "sin"])
    def test_numpy_ufunc_on_batched_value(self, np_fn):
        fn = {
            "tanh": np.tanh,
            "exp": np.exp,
            "abs": np.abs,
            "square": np.square,
            "sin": np.sin,
            "maximum0": lambda x: np.maximum(x, 0.0),
        }[np_fn]
        try:
            out = ag.vmap(lambda x: fn(x).sum())(self.X)
        except TypeError as e:
            assert "vmap" in str(e) or "batch" in str(e), str(e)
            return
        close(out, fn(self.X).sum(axis=1))

    @pytest.mark.parametrize(
        "np_fn",
        [
            "dot",
            "einsum",
            "norm",
            "where",
            "clip",
            "concatenate",
            "stack",
            "reshape",
            "cumsum",
            "outer",
            "tensordot",
            "asarray",
        ],
    )
    def test_numpy_function_on_tangent_carrying_value(self, np_fn):
        # np.asarray is refused under ag.grad (CORE_API: a Tensor that requires grad handed to
        # NumPy raises TypeError); the others are the ops of their name, so their gradient is
        # right; under jvp each must be refused too, or be right.
        fn = {
            "dot": lambda x: np.dot(x, x),
            "einsum": lambda x: np.einsum("i,i->", x, x),
            "norm": lambda x: np.linalg.norm(x),
            "where": lambda x: np.where(x > 0, x, 0.0).sum(),
            "clip": lambda x: np.clip(x, -10, 10).sum(),
            "concatenate": lambda x: np.concatenate([x, x]).sum(),
            "stack": lambda x: np.stack([x, x]).sum(),
            "reshape": lambda x: np.reshape(x, (3, 1)).sum(),
            "cumsum": lambda x: np.cumsum(x).sum(),
            "outer": lambda x: np.outer(x, x).sum(),
            "tensordot": lambda x: np.tensordot(x, x, 1),
            "asarray": lambda x: (np.asarray(x) * 1.0).sum(),
        }[np_fn]
        x = np.array([0.5, -1.5, 2.0])
        v = np.array([1.0, 2.0, -0.5])
        eps = 1e-6
        if np_fn == "asarray":
            with pytest.raises(TypeError):
                ag.grad(fn)(x)
        else:
            numeric = [(fn(x + eps * e) - fn(x - eps * e)) / (2 * eps) for e in np.eye(3)]
            close(ag.grad(fn)(x), numeric, rtol=1e-6, atol=1e-8)
        try:
            _, tan = ag.jvp(fn, (x,), (v,))
        except TypeError as e:
            assert "jvp" in str(e) or "tangent" in str(e), str(e)
            return
        eps = 1e-6
        close(tan, (fn(x + eps * v) - fn(x - eps * v)) / (2 * eps), rtol=1e-6, atol=1e-8)

    def test_detach_and_tensor_of_batched_value_stay_per_example(self):
        # x.detach() / ag.Tensor(x) of a per-example value must be that example, not the batch
        X = self.X
        for name, fn in [
            ("detach", lambda x: x.detach() * x),
            ("Tensor", lambda x: ag.Tensor(x) * x),
        ]:
            try:
                out = ag.vmap(fn)(X)
            except (TypeError, ValueError) as e:
                assert "vmap" in str(e), f"{name}: {e}"
                continue
            assert out.shape == X.shape, f"{name}: shape {out.shape}, expected {X.shape}"
            close(out, X * X)

    def test_numpy_indexing_with_batched_index(self):
        raises_clear(
            lambda: ag.vmap(lambda i: np.arange(5.0)[i])(np.array([1, 2, 3])),
            (TypeError, ValueError),
            "vmap",
        )
        close(
            ag.vmap(lambda i: ag.Tensor(np.arange(5.0))[i])(np.array([1, -2, 3])), [1.0, 3.0, 3.0]
        )

    def test_vmap_argmax_per_example(self):
        # README: every op has a batching rule except argwhere/nonzero
        X = RNG.normal(size=(4, 5))
        close(ag.vmap(lambda x: ag.argmax(x))(X), X.argmax(axis=1), atol=0)
