"""ag.explore without a browser: the replayed steps, their numbers (against float64 finite
differences and PyTorch), the self-contained page, the finite-difference check catching a wrong
rule, Jupyter display, errors, and the `autograd-nn explore` command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from numeric import numeric_grad

import autograd_nn as ag
from autograd_nn import cli
from autograd_nn.core.ops.registry import PRIMITIVES


def _graph(seed: int = 0):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(1, 2))
    W = ag.Tensor(w, requires_grad=True, name="W")
    B = ag.Tensor(b, requires_grad=True, name="b")
    h = ag.sigmoid(ag.Tensor(x, name="X") @ W + B)
    loss = ag.sum(h * h) - ag.mean(h)

    def f(w_, b_):
        s = 1 / (1 + np.exp(-(x @ w_ + b_)))
        return np.sum(s * s) - np.mean(s)

    return loss, (w, b), f


def _data(page) -> dict:
    text = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>',
                     page.html, re.S).group(1)
    return json.loads(text)


def test_steps_follow_the_engine_order_and_explain():
    loss, _, _ = _graph()
    page = ag.explore(loss)
    order = ag.engine.topological_order([loss])
    forward = [s for s in page.steps if s.phase == "forward"]
    backward = [s for s in page.steps if s.phase == "backward"]
    assert [s.k for s in forward] == list(range(len(order)))
    assert [s.name for s in backward] == [s.name for s in ag.explain(loss)]
    assert page.steps == forward + backward
    data = _data(page)
    assert [s["name"] for s in data["steps"]] == [s.name for s in page.steps]


def test_contributions_add_up_to_the_gradient_where_a_value_fans_out():
    loss, _, _ = _graph()
    page = ag.explore(loss)
    h = next(s for s in page.steps if s.phase == "backward" and s.name == "h1")
    assert [c.consumer for c in h.contributions] == ["t2", "t2", "t4"]  # h * h, then mean(h)
    assert [c.operand for c in h.contributions] == ["a", "b", None]
    np.testing.assert_allclose(sum(c.value for c in h.contributions), h.grad, rtol=1e-12)
    assert [c.term for c in h.contributions] == [t for _, t in ag.explain(loss)["h1"].terms]


def test_gradients_and_finite_differences_against_numeric_and_torch():
    torch = pytest.importorskip("torch")
    loss, (w, b), f = _graph()
    page = ag.explore(loss)
    by_name = {s.name: s for s in page.steps if s.phase == "backward"}
    np.testing.assert_allclose(by_name["W"].grad, numeric_grad(f, [w, b], 0), rtol=1e-6)
    np.testing.assert_allclose(by_name["b"].grad, numeric_grad(f, [w, b], 1), rtol=1e-6)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    z = torch.tensor(_graph_x()) @ tw + tb
    z.retain_grad()
    s = torch.sigmoid(z)
    (torch.sum(s * s) - torch.mean(s)).backward()
    np.testing.assert_allclose(by_name["z1"].grad, z.grad.numpy(), rtol=1e-12)
    for step in by_name.values():  # the page's own check: every element of these small nodes
        check = step.check
        assert len(check.indices) == step.grad.size
        np.testing.assert_allclose(check.numeric, check.autograd, rtol=1e-6, atol=1e-9)


def _graph_x():
    return np.random.default_rng(0).normal(size=(4, 3))


def test_finite_difference_check_catches_a_wrong_rule(monkeypatch):
    sigmoid = PRIMITIVES["sigmoid"]
    right = sigmoid.vjps[0]
    monkeypatch.setattr(sigmoid, "vjps", (lambda g, ans, x: right(g, ans, x) * 2,))
    loss, _, _ = _graph()
    page = ag.explore(loss)
    z = next(s for s in _data(page)["steps"] if s["phase"] == "backward" and s["name"] == "z1")
    assert not z["fd"]["agrees"] and "DIFFERS" in z["fd"]["summary"]
    h = next(s for s in _data(page)["steps"] if s["phase"] == "backward" and s["name"] == "h1")
    assert h["fd"]["agrees"]  # upstream of the broken rule nothing is wrong


def test_the_panel_plugs_numbers_into_explains_rule():
    loss, _, _ = _graph()
    page = ag.explore(loss)
    steps = {s["name"]: s for s in _data(page)["steps"] if s["phase"] == "backward"}
    exp = ag.explain(loss)
    z = steps["z1"]
    assert z["rule"] == exp["z1"].line == "dL/dz1 = dL/dh1 * sigmoid'(z1)"
    z_step = next(s for s in page.steps if s.phase == "backward" and s.name == "z1")
    h_step = next(s for s in page.steps if s.phase == "backward" and s.name == "h1")
    at = np.unravel_index(int(np.argmax(np.abs(z_step.grad))), z_step.grad.shape)
    expected = f"dL/dz1 at ({at[0]},{at[1]}) = {h_step.grad[at]:.4g} * sigmoid'("
    assert z["plugged"].startswith(expected)
    assert z["plugged"].endswith(f" = {z_step.grad[at]:.4g}")
    assert z["plugged_notes"][0].startswith("where sigmoid'(")


def test_page_is_self_contained():
    loss, _, _ = _graph()
    text = ag.explore(loss).html
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "default-src 'none'" in text  # the browser is told to fetch nothing


def test_names_cannot_break_out_of_the_page():
    x = ag.Tensor(np.ones(2), requires_grad=True, name="</script><b id=x>")
    page = ag.explore(ag.sum(x * 2.0))
    assert page.html.count("</script>") == 2  # the data block's and the script's own
    assert "<b id=x>" not in page.html


def test_jupyter_display_is_an_isolated_iframe(tmp_path):
    loss, _, _ = _graph()
    page = ag.explore(loss)
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=\"") and "<script>" not in shown
    path = page.save(tmp_path / "p.html")
    assert (tmp_path / "p.html").read_text(encoding="utf-8") == page.html
    assert path == str(tmp_path / "p.html")


def test_errors_name_the_function_and_argument():
    with pytest.raises(TypeError, match="explore: loss must be a Tensor, got ndarray"):
        ag.explore(np.ones(2))
    with pytest.raises(ValueError, match=r"explore: loss \(\(\) float64\) has no graph"):
        ag.explore(ag.sum(ag.Tensor(np.ones(2))))
    loss, _, _ = _graph()
    with pytest.raises(ValueError, match="explore: fd_elements must be an int >= 1, got 0"):
        ag.explore(loss, fd_elements=0)
    loss.backward()
    with pytest.raises(ag.GraphReleasedError, match="explore: the .* node"):
        ag.explore(loss)


def test_cli_writes_the_page(tmp_path, capsys):
    out = tmp_path / "t1.html"
    assert cli.main(["explore", "--tutorial", "1", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert 'id="current-node"' in out.read_text(encoding="utf-8")
    assert cli.main(["explore", "--tutorial", "2", "--out", str(tmp_path / "x.png")]) == 1
    assert "the explorer is an HTML page" in capsys.readouterr().err


def test_big_graphs_check_fewer_elements_and_stay_correct():
    w = ag.Tensor(np.linspace(0.1, 0.9, 20), requires_grad=True, name="w")
    h = w
    for _ in range(150):
        h = ag.tanh(h * 1.01)
    page = ag.explore(ag.sum(h))
    checks = [s.check for s in page.steps if s.phase == "backward" and s.name != "L"]
    assert all(1 <= len(c.indices) < 16 for c in checks)
    for c in checks:
        np.testing.assert_allclose(c.numeric, c.autograd, rtol=1e-5, atol=1e-9)


def test_non_scalar_root_is_seeded_with_ones():
    x = ag.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="x")
    page = ag.explore(ag.exp(x) * 3.0)
    step = next(s for s in page.steps if s.phase == "backward" and s.name == "x")
    np.testing.assert_allclose(step.grad, 3.0 * np.exp(x.data), rtol=1e-12)
    np.testing.assert_allclose(step.check.numeric, step.check.autograd, rtol=1e-7)
    first_back = next(s for s in _data(page)["steps"] if s["phase"] == "backward")
    assert first_back["rule"] == "dL/dL = ones(3,)"


def test_the_picture_draws_a_widely_shared_constant_once_per_use():
    """150 steps reading the same Python number: one leaf in the graph, 150 boxes in the
    picture, each with one edge (one box with 150 edges took Graphviz minutes to lay out)."""
    from autograd_nn.explore.layout import graph_dot
    from autograd_nn.graph import view_graph

    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(150):
        y = ag.tanh(y * 0.5)
    view = view_graph([y.sum()])
    (k,) = [k for k, t in enumerate(view.tensors) if t.op is None and not t.requires_grad]
    dot = graph_dot(view, {})
    boxes = re.findall(rf'^  (n{k}(?:_\d+)?) \[id="(?:node-{k}|use-\d+-of-node-{k})"', dot, re.M)
    edges = re.findall(rf"^  (n{k}(?:_\d+)?) -> ", dot, re.M)
    assert len(boxes) == 150 and sorted(boxes) == sorted(edges)
    assert f'id="node-{k}"' in dot  # the stepper's id stays on the first box
