"""The op registry: every row is tested, and everything generated from the rows is there."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import test_core_ops

import autograd_nn as ag
from autograd_nn.core.ops.registry import COMPOSITES, PRIMITIVES


def _torch_covered(rng) -> set[str]:
    import test_core_torch  # skips the calling test (only) without torch

    runs = []
    for table in (test_core_torch.BINARY, test_core_torch.UNARY):
        for f_ag, _ in table.values():
            if hasattr(f_ag, "primitive"):
                n = len(f_ag.primitive.inputs)
            elif hasattr(f_ag, "composite"):
                n = f_ag.composite.inputs
            else:
                n = len(inspect.signature(f_ag).parameters)
            runs.append(f_ag(*[ag.Tensor(rng.normal(size=(3, 4)), requires_grad=True)
                               for _ in range(n)]))
    return {t.op for out in runs for t in ag.engine.topological_order([out]) if t.op}


def _rows_without_a_test_row(rng) -> list[str]:
    """The registered primitives that no row of test_core_ops or test_core_torch runs."""
    covered = test_core_ops.covered_primitives(rng) | _torch_covered(rng)
    return sorted(set(PRIMITIVES) - covered)


def test_every_row_has_a_finite_difference_or_torch_test_row(rng):
    missing = _rows_without_a_test_row(rng)
    assert not missing, f"primitives without a test row in test_core_ops/test_core_torch: {missing}"


def test_the_coverage_check_sees_a_missing_row(rng, monkeypatch):
    import test_core_torch

    before = set(_rows_without_a_test_row(rng))
    # a row registered without any test row is reported
    monkeypatch.setitem(PRIMITIVES, "planted_op", PRIMITIVES["sin"])
    assert set(_rows_without_a_test_row(rng)) - before == {"planted_op"}
    # and so is a registered row whose test rows are taken out of both tables
    monkeypatch.delitem(test_core_ops.UNARY, "sin")
    monkeypatch.delitem(test_core_torch.UNARY, "sin")
    assert set(_rows_without_a_test_row(rng)) - before == {"planted_op", "sin"}


def test_public_functions_methods_and_all_come_from_the_rows():
    for name, prim in PRIMITIVES.items():
        if prim.api.public is not None:
            function = getattr(ag, prim.api.public)
            assert function.primitive is prim and prim.api.public in ag.__all__
            assert function.__doc__ == prim.api.doc and function.__name__ == name
        if prim.api.method:
            label = prim.api.method if isinstance(prim.api.method, str) else name
            assert callable(getattr(ag.Tensor, label)), label
    for name, comp in COMPOSITES.items():
        function = getattr(ag, name)
        assert function.composite is comp and name in ag.__all__
        assert function.__doc__ == comp.doc and comp.doc
        if comp.method:
            assert getattr(ag.Tensor, name) is function
    publics = {p.api.public for p in PRIMITIVES.values() if p.api.public}
    assert set(ag.functions.__all__) == publics | set(COMPOSITES)


def test_every_composite_has_a_test_row():
    missing = sorted(set(COMPOSITES) - test_core_ops.covered_names())
    assert not missing, f"composites without a test row in test_core_ops: {missing}"


def test_every_row_is_explained_and_displayed():
    x = ag.Tensor(np.linspace(0.2, 0.9, 6).reshape(2, 3), requires_grad=True, name="x")
    y = ((ag.sin(x) + ag.cos(x)) * ag.tan(x) + ag.square(x) + ag.exp2(x) + ag.log2(x)
         + ag.sign(x)).sum()
    ex = ag.explain(y)
    text = str(ex)
    for op in ("sin", "cos", "tan", "square", "exp2", "log2", "sign"):
        assert f"{op}(x)" in text, op
    assert "cos(x)" in ex["x"].formula and "vjp_" not in text


def test_rows_run_on_arrays_and_record_on_tensors():
    a = np.array([0.5, 1.0])
    assert isinstance(ag.ops.prims.sin(a), np.ndarray)
    t = ag.ops.prims.sin(ag.Tensor(a, requires_grad=True))
    assert isinstance(t, ag.Tensor) and t.op == "sin" and t.requires_grad
    np.testing.assert_array_equal(t.data, np.sin(a))


def test_new_ops_second_order_against_finite_differences():
    x = np.array([0.3, 0.7, 1.1])
    for f, d2 in [(ag.sin, lambda v: -np.sin(v)), (ag.cos, lambda v: -np.cos(v)),
                  (ag.tan, lambda v: 2 * np.tan(v) / np.cos(v) ** 2),
                  (ag.square, lambda v: 2 + 0 * v), (ag.exp2, lambda v: np.log(2) ** 2 * 2 ** v),
                  (ag.log2, lambda v: -1 / (v * v * np.log(2)))]:
        second = ag.grad(lambda v, f=f: ag.grad(lambda u: f(u).sum())(v).sum())(x)
        np.testing.assert_allclose(second, d2(x), rtol=1e-10, err_msg=f.__name__)
    np.testing.assert_array_equal(ag.grad(lambda v: ag.sign(v).sum())(x), 0 * x)


SECOND_ORDER = {  # smooth where sampled: the Hessian-vector product against finite differences
    "arcsin": ag.arcsin, "arccos": ag.arccos, "arctan": ag.arctan, "sinh": ag.sinh,
    "cosh": ag.cosh, "log10": lambda x: ag.log10(x + 2), "expm1": ag.expm1,
    "reciprocal": lambda x: ag.reciprocal(x + 2), "rsqrt": lambda x: ag.rsqrt(x + 2),
    "erf": ag.erf, "erfc": ag.erfc, "softplus": lambda x: ag.softplus(3 * x), "elu": ag.elu,
    "gelu": ag.gelu, "gelu tanh": lambda x: ag.gelu(x, "tanh"), "silu": ag.silu,
    "softsign": ag.softsign, "hypot": lambda x: ag.hypot(x, x[::-1] + 2),
    "arctan2": lambda x: ag.arctan2(x, x[::-1] + 2), "mod": lambda x: ag.mod(x * x, 5.0) * x,
    "var": lambda x: ag.var(x * x, ddof=1), "std": lambda x: ag.std(x * x),
    "norm": lambda x: ag.norm(x * x), "prod": lambda x: ag.prod(x * x - 0.25),
    "prod zeros": lambda x: ag.prod(ag.where(np.arange(6) == 2, 0.0, x) * x),
    "cumprod zeros": lambda x: ag.cumprod(ag.where(np.arange(6) == 1, 0.0, x) * x, 0),
    "cumsum": lambda x: ag.cumsum(x * x, 0),
    "einsum": lambda x: ag.einsum("i,j->ij", x, x * x),
    "standardize": lambda x: ag.standardize(x * x, eps=0.01),
    "einsum diagonal": lambda x: ag.einsum("ii->i", ag.outer(x, x * x)),
    "arcsinh": lambda x: ag.arcsinh(3 * x), "arccosh": lambda x: ag.arccosh(x * x + 1.5),
    "arctanh": ag.arctanh, "logaddexp": lambda x: ag.logaddexp(x, x[::-1] * 2),
    "logaddexp2": lambda x: ag.logaddexp2(x, x[::-1] * 2),
    "copysign": lambda x: ag.copysign(x * x + 0.1, x), "fmod": lambda x: ag.fmod(x * 7, 1.3) * x,
    "sinc": lambda x: ag.sinc(2 * x), "lerp": lambda x: ag.lerp(x, x * x, x[::-1]),
    "nan_to_num": lambda x: ag.nan_to_num(x * x), "mish": lambda x: ag.mish(3 * x),
    "selu": lambda x: ag.selu(3 * x), "celu": lambda x: ag.celu(3 * x, 0.5),
    "logsigmoid": lambda x: ag.logsigmoid(3 * x), "softmin": ag.softmin,
    "quick_gelu": ag.quick_gelu, "hardswish": lambda x: ag.hardswish(5 * x),
    "logcumsumexp": lambda x: ag.logcumsumexp(x * x - x, 0),
    "normalize": lambda x: ag.normalize(ag.reshape(x, (2, 3)), 3.0),
    "gradient": lambda x: ag.gradient(x * x, [0.0, 0.4, 1.0, 1.1, 2.0, 2.5], edge_order=2),
}


def test_second_order_of_the_new_rows_against_finite_differences():
    rng = np.random.default_rng(3)
    x0 = np.array([0.31, -0.52, 0.63, -0.24, 0.45, 0.12])
    for name, f in SECOND_ORDER.items():
        probe = rng.normal(size=np.shape(f(ag.Tensor(x0)).data))
        direction = rng.normal(size=x0.shape)

        def slope(x, f=f, probe=probe, direction=direction):
            return (ag.grad(lambda u: (ag.sin(f(u)) * probe).sum())(x) * direction).sum()

        hvp = ag.grad(slope)(x0)
        eps = 1e-6
        fd = np.array([(slope(x0 + eps * e).item() - slope(x0 - eps * e).item()) / (2 * eps)
                       for e in np.eye(6)])
        np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-7, err_msg=name)


def test_every_table_row_explains_and_draws(rng):
    """explain and draw_graph write every row's templates with the graph's names and
    parameters (no placeholder is left over)."""
    cases = [(f, [s(rng, (3, 4)) for s in samplers]) for f, _, *samplers in
             list(test_core_ops.BINARY.values()) + list(test_core_ops.UNARY.values())]
    x = rng.normal(size=(2, 3, 4))
    cases += [(f, [x]) for f, _ in list(test_core_ops.SHAPE_OPS.values())
              + list(test_core_ops.REDUCTIONS.values()) + list(test_core_ops.SCANS.values())]
    cases += [(f, [rng.normal(size=s) for s in shapes])
              for f, _, shapes in test_core_ops.CONV.values()]
    for f, arrays in cases:
        inputs = [ag.Tensor(a, requires_grad=True, name=f"in{i}") for i, a in enumerate(arrays)]
        loss = (f(*inputs) ** 2).sum()
        text = str(ag.explain(loss))
        ops = {t.op for t in ag.engine.topological_order([loss]) if t.op}
        assert "{" not in text and "vjp_" not in text, (ops, text)
        for op in ops:  # rows without a display form are written by name
            assert PRIMITIVES[op].text.display is not None or f"{op}(" in text, (op, text)
        assert "in0" in ag.draw_graph(loss).source


def test_composites_return_tensors_for_array_inputs():
    pieces = ag.split(np.arange(6.0), 3)
    assert all(isinstance(p, ag.Tensor) for p in pieces) and len(pieces) == 3
    assert isinstance(ag.flatten(np.ones((2, 3))), ag.Tensor)
    assert isinstance(ag.einsum("ij->j", np.ones((2, 3))), ag.Tensor)
    # a size-1 axis broadcasts, as in np.einsum and torch.einsum; other sizes are refused
    np.testing.assert_array_equal(ag.einsum("ij,jk", np.ones((2, 3)), np.ones((1, 2))).data,
                                  np.einsum("ij,jk", np.ones((2, 3)), np.ones((1, 2))))
    with pytest.raises(ValueError, match=r"^einsum: axis 'j' of 'ij,jk' has sizes 3 and 2, "
                                         r"which do not broadcast"):
        ag.einsum("ij,jk", np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^einsum: 'ijk' names 3 axes of an operand"):
        ag.einsum("ijk", np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^flatten: axis 5 is out of range"):
        ag.flatten(np.ones((2, 3)), 5)
