"""Graph pictures: the model they draw (values, ops, gradients, clusters, colours, budget) and
the DOT text users get (determinism, escaping). No `dot` needed."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import time

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.viz import GradientsUnavailable, GraphvizNotFoundError, draw_graphs, style
from autograd_nn.viz.model import Edge, Graph, Node


def draw(root, **kw) -> Graph:
    """The model of `draw_graph(root, **kw)`."""
    return ag.draw_graph(root, **kw).model


def ops(m: Graph) -> list[Node]:
    return [n for n in m.all_nodes() if n.kind == "op"]


def outs(m: Graph, node: Node) -> list[str]:
    return [e.head for e in m.all_edges() if e.tail == node.id]


def ins(m: Graph, node: Node) -> list[str]:
    return [e.tail for e in m.all_edges() if e.head == node.id]


def boxes(m: Graph, kind: str) -> list[Node]:
    return [n for n in m.all_nodes() if n.kind == kind]


def written(m: Graph) -> str:
    """Every text the picture writes: labels, tooltips, cluster labels, notes, legend lines."""
    parts = [m.title or "", *m.notes]
    parts += [n.text + "\n" + "\n".join(n.tooltip) for n in m.all_nodes()]
    parts += [c.text + "\n" + "\n".join(c.tooltip) for c in m.all_clusters()]
    if m.legend:
        parts += [*m.legend.sources, *(n.text for n in m.legend.samples)]
    return "\n".join(parts)


def tutorial_like(seed: int = 0):
    """The first tutorial's network and loss, built by hand here (independent of the demo)."""
    rng = np.random.default_rng(seed)
    X = ag.Tensor(np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1.0]]), name="X")
    Y = ag.Tensor(np.array([[0], [1], [1], [0.0]]), name="Y")
    w1 = ag.Tensor(rng.random((3, 4)), requires_grad=True, name="weights1")
    w2 = ag.Tensor(rng.random((4, 1)), requires_grad=True, name="weights2")
    h = ag.sigmoid(X @ w1)
    out = ag.sigmoid(h @ w2)
    loss = ((Y - out) ** 2).sum()
    return X, Y, w1, w2, h, out, loss


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------
def test_forward_graph_nodes_edges_and_labels():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    m = draw(loss)
    nodes = m.all_nodes()
    op_nodes = ops(m)
    assert op_nodes == [n for n in nodes if n.attrs["shape"] == "ellipse"]  # ops are ellipses
    op_names = sorted(n.title for n in op_nodes)
    assert op_names == sorted(["matmul", "sigmoid", "matmul", "sigmoid", "sub", "pow", "sum"])
    assert op_names == sorted(n.name for n in op_nodes)
    # 7 ops, 7 op outputs, 4 leaves (X, Y, weights1, weights2)
    assert len(nodes) == 7 + 7 + 4
    op_ids = {n.id for n in op_nodes}
    # every op has an edge out to exactly one value and edges in from values only
    for op in op_nodes:
        assert len(outs(m, op)) == 1 and outs(m, op)[0] not in op_ids
        assert ins(m, op) and all(a not in op_ids for a in ins(m, op))
    # names, shapes and dtypes
    (xn,) = m.find("X\n")
    assert xn is m.named("X") and xn.title == "X" and xn.kind == "input"
    assert "(4, 3) float64" in xn.text and (xn.shape, xn.dtype) == ((4, 3), "float64")
    (w1n,) = m.find("weights1")
    assert "(3, 4) float64" in w1n.text and (w1n.shape, w1n.kind) == ((3, 4), "param")
    (mm1,) = outs(m, w1n)
    assert m.node(mm1).text == "matmul\na @ b"  # which operand is which (X @ weights1)
    assert Edge(xn.id, mm1, "a") in m.all_edges() and Edge(w1n.id, mm1, "b") in m.all_edges()
    # the output is a scalar: its label shows the number itself
    (root,) = [n for n in nodes if n.attrs.get("peripheries") == "2"]
    assert root.kind == "output" and root.name == "L" and root.shape == ()
    assert f"{loss.item():.3g}" in root.text.split("\n")
    # an array shows mean [min, max]
    hv = m.find(f"mean {h.data.mean():.3g} [{h.data.min():.3g}, {h.data.max():.3g}]")
    assert len(hv) == 1


def test_kinds_are_styled_apart_and_match_the_legend():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    pic = ag.draw_graph(loss)
    m = pic.model
    (w1n,) = m.find("weights1")
    (xn,) = m.find("X\n")
    (root,) = [n for n in m.all_nodes() if n.attrs.get("peripheries") == "2"]
    (hv,) = m.find(f"mean {h.data.mean():.3g}")
    kinds = {"param": w1n, "input": xn, "output": root, "value": hv}
    assert {k: n.kind for k, n in kinds.items()} == {k: k for k in kinds}
    looks = {k: (n.fill, n.attrs["style"], n.attrs.get("peripheries")) for k, n in kinds.items()}
    assert len(set(looks.values())) == 4, looks
    samples = {n.id: n for n in m.legend.samples}
    for kind, node in kinds.items():
        assert samples[f"legend_{kind}"].fill == node.fill
    assert "subgraph cluster_legend {" in pic.source


def test_op_params_and_inlined_constants():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    y = (x * 0.5).sum(axis=1, keepdims=True) - 1.0
    m = draw(y)
    labels = [n.text for n in m.all_nodes()]
    assert "mul(·, 0.5)" in labels
    assert "sub(·, 1)\na - b" in labels
    assert any(lab.startswith("sum\naxis=(1,), keepdims") for lab in labels)
    n_inlined = len(m.all_nodes())
    m2 = draw(y, inline_constants=False)
    assert len(m2.all_nodes()) == n_inlined + 2  # the two scalar constants as nodes
    assert "mul" in [n.text for n in m2.all_nodes()]


def test_shared_input_draws_two_edges_and_fan_out():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    b = x + x
    c = b * b
    m = draw(c.sum())
    (xn,) = m.find("x\n")
    (add,) = [n for n in m.all_nodes() if n.text == "add"]
    assert m.all_edges().count(Edge(xn.id, add.id)) == 2


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------
def test_computed_gradients_of_every_node_match_finite_differences_and_touch_nothing():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    m = draw(loss)
    assert w1.grad is None and w2.grad is None  # drawing changed no .grad
    # gradient of the loss w.r.t. the hidden activation h, by central differences
    base = h.data

    def loss_from_h(hd):
        o = 1 / (1 + np.exp(-(hd @ w2.data)))
        return float(((Y.data - o) ** 2).sum())

    eps = 1e-6
    fd = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        up, dn = base.copy(), base.copy()
        up[idx] += eps
        dn[idx] -= eps
        fd[idx] = (loss_from_h(up) - loss_from_h(dn)) / (2 * eps)
    (hv,) = m.find(f"mean {h.data.mean():.3g}")
    assert hv.has_grad
    assert f"∇ mean {fd.mean():.3g} [{fd.min():.3g}, {fd.max():.3g}]" in hv.text
    # and the graph is still usable: backward works and agrees with the drawn weights1 grad
    loss.backward()
    (w1n,) = m.find("weights1")
    g = w1.grad
    assert f"∇ mean {g.mean():.3g} [{g.min():.3g}, {g.max():.3g}]" in w1n.text


def test_after_backward_the_structure_is_drawn_with_the_leaves_grad():
    """The torchviz habit: draw after backward(). The ops, shapes and names are all there, the
    leaves show their .grad, and a note says why the intermediate gradients are not."""
    X, Y, w1, w2, h, out, loss = tutorial_like()
    before = draw(loss)
    loss.backward()
    m = draw(loss)
    assert [(n.kind, n.title) for n in m.all_nodes()] == \
        [(n.kind, n.title) for n in before.all_nodes()]
    assert len(m.all_edges()) == len(before.all_edges())
    assert not any("released" in n.text for n in ops(m))
    for w, name in ((w1, "weights1"), (w2, "weights2")):
        (n,) = m.find(name)
        g = w.grad
        assert f"∇ mean {g.mean():.3g} [{g.min():.3g}, {g.max():.3g}]" in n.text
    assert any("kept only the graph's structure" in note and "retain_graph=True" in note
               for note in m.notes)
    with pytest.raises(GradientsUnavailable, match="retain_graph=True"):
        ag.draw_graph(loss, show_grads="compute")
    with pytest.raises(ag.engine.GraphReleasedError):  # the structure is not a graph to reuse
        loss.backward()


def test_the_next_backward_releases_the_kept_structure():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    loss.backward()
    other = (ag.sigmoid(X @ w1) ** 2).sum()
    other.backward()  # the next backward in this thread: the first loss keeps nothing now
    m = draw(loss)
    assert len(m.all_nodes()) == 2  # the output and its (released) op
    (op,) = ops(m)
    assert "inputs released by backward()" in op.text.split("\n")
    assert any("retain_graph=True" in note for note in m.notes)
    assert len(draw(other).all_nodes()) > 2  # the newest one is drawn whole


@pytest.mark.parametrize("big", ["nodes", "bytes"])
def test_a_large_graph_keeps_no_structure_after_backward(big):
    x = ag.Tensor(np.ones(4 if big == "nodes" else 3 * 2**20), requires_grad=True)
    y = x
    for _ in range(ag.engine.KEEP_NODES if big == "nodes" else 1):
        y = y * 0.5
    loss = y.sum()
    loss.backward()
    assert loss.graph_released and ag.engine.kept_links(loss) is None
    assert len(draw(loss).all_nodes()) == 2


def test_the_kept_structure_holds_no_graph_the_user_dropped():
    import gc
    import weakref

    X, Y, w1, w2, h, out, loss = tutorial_like()
    loss.backward()
    kept = weakref.ref(out)
    del h, out, loss
    gc.collect()
    assert kept() is None  # only a weak reference to the root is kept per thread


def test_after_backward_with_retain_graph_grads_agree_with_dot_grad():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    loss.backward(retain_graph=True)
    m = draw(loss)
    for w, name in ((w1, "weights1"), (w2, "weights2")):
        (n,) = m.find(name)
        g = w.grad
        assert f"∇ mean {g.mean():.3g} [{g.min():.3g}, {g.max():.3g}]" in n.text


def test_show_grads_false_and_leaves_modes():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    for mode in (False, "leaves"):  # with "leaves": nothing has a .grad yet
        m = draw(loss, show_grads=mode)
        assert "∇" not in written(m)
        assert not any(n.has_grad for n in m.all_nodes()) and m.legend.sources == ()
    loss.backward(retain_graph=True)
    m = draw(loss, show_grads="leaves")
    assert "∇" in m.find("weights1")[0].text
    assert "∇" not in m.find(f"mean {h.data.mean():.3g}")[0].text


def test_grad_seed_for_non_scalar_root():
    x = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    y = x * 2.0
    m = draw(y, grad_seed=np.array([1.0, 0.0, -1.0]))
    (xn,) = m.find("x\n")
    assert "∇ mean 0 [-2, 2]" in xn.text
    with pytest.raises(ValueError, match="grad_seed has shape"):
        ag.draw_graph(y, grad_seed=np.ones(2))


# ---------------------------------------------------------------------------------------------
# Gradient-flow view
# ---------------------------------------------------------------------------------------------
def _expected_bin(value: float, lo: float, hi: float) -> int:
    n = len(style.SCALE)
    pos = (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return min(max(int(math.floor(pos * n)), 0), n - 1)


def test_gradient_flow_colours_follow_log_rms():
    # three parameters whose gradients have rms 1e-5, 1e-2 and 3 exactly
    a = ag.Tensor(np.ones(4), requires_grad=True, name="a")
    b = ag.Tensor(np.ones(4), requires_grad=True, name="b")
    c = ag.Tensor(np.ones(4), requires_grad=True, name="c")
    loss = (a * 1e-5).sum() + (b * 1e-2).sum() + (c * 3.0).sum()
    lo, hi = 1e-7, 10.0
    # (the relative vanishing rule is off: a's 1e-5 is far below this graph's median of 1)
    m = draw(loss, color_by="grad", grad_range=(lo, hi), vanish_relative=0)
    fills = {}
    for name, g in (("a", 1e-5), ("b", 1e-2), ("c", 3.0)):
        (n,) = m.find(f"{name}\n")
        fills[name] = n.fill
        assert fills[name] == style.SCALE[_expected_bin(g, lo, hi)], name
        assert f"∇ rms {g:.2g}" in n.text and n.metric == pytest.approx(g)
    assert len(set(fills.values())) == 3
    # the colour bar is in the legend
    assert m.legend.scale.colors == tuple(style.SCALE)


def test_vanishing_and_nonfinite_gradients_are_marked():
    x = ag.Tensor(np.array([-1.0, -2.0]), requires_grad=True, name="dead")
    z = ag.Tensor(np.array([0.0, 4.0]), requires_grad=True, name="atzero")
    loss = ag.relu(x).sum() + ag.sqrt(z).sum()
    m = draw(loss, color_by="grad")
    (dn,) = m.find("dead\n")
    assert dn.fill == style.VANISH_FILL and dn.vanishing and not dn.nonfinite
    assert style.VANISH_MARK in dn.text
    assert "dashed" in dn.attrs["style"]
    (zn,) = m.find("atzero\n")
    assert zn.fill == style.NONFINITE_FILL and zn.nonfinite and not zn.vanishing
    assert style.NONFINITE_MARK in zn.text
    assert [n.name for n in m.all_nodes() if n.vanishing] == ["dead"]
    # vanishing/NaN colours are outside the scale, so they cannot be confused with it
    assert style.VANISH_FILL not in style.SCALE and style.NONFINITE_FILL not in style.SCALE


def test_relative_vanishing_threshold_and_ratio_view():
    # gradient rms 1e-9 on a value of rms 1: below the 1e-6 ratio threshold
    w = ag.Tensor(np.ones(3), requires_grad=True, name="w")
    loss = (w * 1e-9).sum()
    (wn,) = draw(loss, color_by="grad_ratio").find("w\n")
    assert style.VANISH_MARK in wn.text and wn.vanishing
    # (the relative rule is off: 1e-9 is also far below the rest of this graph)
    (wn,) = draw(loss, color_by="grad_ratio", vanish_ratio=1e-12, vanish_relative=0).find("w\n")
    assert style.VANISH_MARK not in wn.text and not wn.vanishing
    assert "∇/value rms 1e-09" in wn.text


def test_nan_values_marked_in_default_view():
    x = ag.Tensor(np.array([1.0, np.nan]), requires_grad=True, name="x")
    (xn,) = draw((x * 2.0).sum()).find("x\n")
    assert "NaN" in xn.text and xn.attrs["penwidth"] == "3" and xn.nonfinite


# ---------------------------------------------------------------------------------------------
# Tooltips
# ---------------------------------------------------------------------------------------------
def test_tooltips_have_full_stats_and_creation_site():
    x = ag.Tensor(np.array([0.0, 1.0, 2.0, 3.0]), requires_grad=True, name="x")
    prev = ag.state.set_anomaly_enabled(True)
    try:
        y = x * 2.0  # the creation site recorded below
        line = sys._getframe().f_lineno - 1
        loss = y.sum()
    finally:
        ag.state.set_anomaly_enabled(prev)
    m = draw(loss)
    (xn,) = m.find("x\n")
    tip = "\n".join(xn.tooltip)
    for word in ("min 0", "max 3", "mean 1.5", f"std {np.std([0, 1, 2, 3]):.4g}", "zeros 1/4",
                 "NaN 0", "Inf 0"):
        assert word in tip, (word, tip)
    (mul,) = [n for n in m.all_nodes() if n.text.startswith("mul")]
    assert f"test_viz.py:{line}" in "\n".join(mul.tooltip)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
def _mlp_loss():
    model = ag.nn.MLP([2, 3, 3, 1], activation="tanh", rng=0)
    X = ag.Tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), name="X")
    return model, ((model(X) - np.array([[0], [1], [1], [0.0]])) ** 2).mean()


def test_module_clusters_hold_their_ops_and_parameters():
    model, loss = _mlp_loss()
    m = draw(loss)
    clusters = [c for c in m.all_clusters() if c.id.startswith("cluster_m")]
    # the MLP, its 3 Linear layers and 2 Tanh activations
    assert len(clusters) == 6 and {c.kind for c in clusters} == {"module"}
    linear = [c for c in clusters if "Linear" in c.text]
    assert len(linear) == 3
    for name, p in model.named_parameters():
        (n,) = [n for n in m.all_nodes() if n.title == name]
        layer = name.rsplit(".", 1)[0]  # "layers.0"
        (c,) = [c for c in linear if c.title == f"Linear {layer}"]
        assert c in m.clusters_of(n.id)
        assert f"{name.rsplit('.', 1)[1]} {tuple(p.shape)}" in c.text
    # the root module's cluster encloses the layers
    (mlp,) = [c for c in clusters if "MLP" in c.text]
    assert m.clusters == (mlp,)
    for path, _ in m.walk():
        if any(c in path for c in linear):
            assert path[0] == mlp


def test_max_depth_collapses_modules_into_boxes():
    model, loss = _mlp_loss()
    m1 = draw(loss, max_depth=1)
    boxes1 = boxes(m1, "module")
    assert boxes1 == [n for n in m1.all_nodes() if n.attrs["shape"] == "component"]
    assert len(boxes1) == 5  # 3 Linear + 2 Tanh
    lin = [n for n in boxes1 if "Linear" in n.text]
    assert len(lin) == 3 and all("weight" in n.text for n in lin)
    assert not any(n.title == "layers.0.weight" for n in m1.all_nodes())
    m0 = draw(loss, max_depth=0)
    (box,) = boxes(m0, "module")
    assert box.attrs["shape"] == "component" and "MLP" in box.text
    assert "collapsed" in box.text and any("collapsed" in note for note in m0.notes)
    # the input stays visible and feeds the box
    (xn,) = m0.find("X\n")
    assert Edge(xn.id, box.id) in m0.all_edges()


# ---------------------------------------------------------------------------------------------
# Big graphs: chains, budget, no recursion
# ---------------------------------------------------------------------------------------------
def test_long_chain_collapses_into_one_box():
    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    n = 1000
    for _ in range(n):
        y = y * 1.001
    m = draw(y.sum(), max_nodes=50)
    assert len(m.all_nodes()) <= 50
    (box,) = [n for n in m.all_nodes() if n.attrs["shape"] == "box3d"]
    assert [box] == boxes(m, "chain")
    # the n multiplications and the final sum form one linear chain
    assert box.title == f"×{n + 1} ops"
    assert f"{n} mul, 1 sum" in box.text
    assert any("linear chain" in note for note in m.notes)


def test_ten_thousand_node_graph_fits_the_budget_in_bounded_time():
    w = ag.Tensor(np.linspace(-1, 1, 2500), requires_grad=True, name="w")
    total = ag.stack([(w[i] * 2.0).tanh() for i in range(2500)]).sum()
    t0 = time.perf_counter()
    pic = ag.draw_graph(total, max_nodes=200)
    elapsed = time.perf_counter() - t0
    m = pic.model
    assert len(m.all_nodes()) <= 200
    assert elapsed < 10.0
    (hidden,) = boxes(m, "hidden")
    assert "not shown" in hidden.text
    assert any("not shown" in note and "max_nodes=200" in note for note in m.notes)
    assert len(pic.source) < 200 * 2500  # bounded text, not proportional to the graph


def test_many_modules_collapse_automatically_to_fit():
    model = ag.nn.MLP([3] * 301, activation="tanh", rng=0)  # 300 Linear + 299 Tanh
    X = ag.Tensor(np.ones((2, 3)), name="X")
    m = draw(model(X).sum(), max_nodes=100)
    assert len(m.all_nodes()) <= 100
    assert any("automatically" in note for note in m.notes)


def test_hundred_thousand_deep_chain_draws_without_recursion():
    x = ag.Tensor(np.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(100_000):
        y = ag.tanh(y)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursive walk would fail at once
    try:
        pic = ag.draw_graph(y, color_by="grad")
    finally:
        sys.setrecursionlimit(old)
    m = pic.model
    assert len(m.all_nodes()) <= 500
    assert any("×100000 ops" in n.text for n in m.all_nodes())


# ---------------------------------------------------------------------------------------------
# Several graphs, errors
# ---------------------------------------------------------------------------------------------
def test_draw_graphs_side_by_side():
    *_, loss1 = tutorial_like(0)
    *_, loss2 = tutorial_like(1)
    pic = draw_graphs([("first", loss1), ("second", loss2)], color_by="grad")
    m = pic.model
    assert [(c.id, c.kind, c.title) for c in m.clusters] == [
        ("cluster_p0", "graph", "first"), ("cluster_p1", "graph", "second")]
    n0 = [n for n in m.all_nodes() if n.id.startswith("p0_")]
    n1 = [n for n in m.all_nodes() if n.id.startswith("p1_")]
    assert len(n0) == len(n1) == 18 and len(m.all_nodes()) == 36
    assert n0 == list(m.clusters[0].nodes) and n1 == list(m.clusters[1].nodes)
    assert pic.source.count("subgraph cluster_legend") == 1


def test_bad_options_are_named():
    *_, loss = tutorial_like()
    with pytest.raises(ValueError, match="color_by"):
        ag.draw_graph(loss, color_by="gradient")
    with pytest.raises(ValueError, match="max_nodes"):
        ag.draw_graph(loss, max_nodes=3)
    with pytest.raises(ValueError, match="rankdir"):
        ag.draw_graph(loss, rankdir="XY")
    with pytest.raises(ValueError, match="show_grads"):
        ag.draw_graph(loss, show_grads="all")
    with pytest.raises(ValueError, match="max_depth"):
        ag.draw_graph(loss, max_depth=-1)
    with pytest.raises(TypeError, match="root must be a Tensor"):
        ag.draw_graph(np.ones(3))


def test_rendering_without_dot_explains_how_to_install(monkeypatch, tmp_path):
    *_, loss = tutorial_like()
    pic = ag.draw_graph(loss)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` anywhere
    assert "digraph" in pic.source  # building needs no binary
    calls = [lambda: pic.pipe(format="svg"), lambda: pic.render(tmp_path / "g", format="png"),
             lambda: pic._repr_mimebundle_(), lambda: pic._repr_svg_()]
    for call in calls:
        with pytest.raises(GraphvizNotFoundError) as info:
            call()
        msg = str(info.value)
        assert isinstance(info.value, RuntimeError)
        for hint in ("apt-get install graphviz", "brew install graphviz",
                     "conda install -c conda-forge graphviz", "graphviz.org/download"):
            assert hint in msg


# ---------------------------------------------------------------------------------------------
# One naming scheme with `explain`; where the network input goes; honest header notes
# ---------------------------------------------------------------------------------------------
def _titles(m: Graph) -> dict[str, str]:
    """Value node id -> its first label line (ops excluded)."""
    return {n.id: n.title for n in m.all_nodes() if n.kind != "op"}


def test_value_nodes_are_named_as_explain_names_them():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    m = draw(loss)
    titles = set(_titles(m).values())
    assert titles == {n.name for n in m.all_nodes() if n.kind != "op"}
    ex = ag.explain(loss)
    expected = {s.name for s in ex.steps} | {"X", "Y"}
    # explain's names for every node that needs a gradient, plus the two inputs
    assert expected <= titles, (expected, titles)
    assert {"z1", "h1", "z2", "h2", "L"} <= titles
    assert not any(re.fullmatch(r"t\d+", t) and t not in expected for t in titles)
    # h1 is the hidden layer: its label shows h's values
    assert f"mean {h.data.mean():.3g}" in m.named("h1").text


def test_names_argument_labels_array_inputs_like_explain():
    rng = np.random.default_rng(0)
    Xa, Ya = rng.random((4, 3)), rng.random((4, 1))
    w = ag.Tensor(rng.random((3, 1)), requires_grad=True, name="w")
    loss = ((ag.sigmoid(ag.dot(Xa, w)) - Ya) ** 2).sum()
    titles = set(_titles(draw(loss)).values())
    assert "X" not in titles  # unnamed arrays get explain's C1, C2
    named = draw(loss, names={"X": Xa, "Y": Ya})
    (xn,) = [n for n in named.all_nodes() if n.kind != "op" and n.title == "X"]
    assert "(4, 3) float64" in xn.text and xn.shape == (4, 3)
    assert "Y" in _titles(named).values()
    ex = ag.explain(loss, {"X": Xa, "Y": Ya})
    assert {s.name for s in ex.steps} <= set(_titles(named).values())
    with pytest.raises(TypeError, match="names must be a dict"):
        ag.draw_graph(loss, names=["X"])


def _mlp_on_array():
    model = ag.nn.MLP([3, 4, 4, 1], activation="tanh", rng=0)
    X = np.random.default_rng(1).random((5, 3))
    loss = ag.nn.functional.mse_loss(model(X), np.zeros((5, 1)))
    return model, X, loss


def _input_node(m: Graph) -> Node:
    (xn,) = [n for n in m.all_nodes() if "(5, 3) float64" in n.text]
    assert xn.shape == (5, 3) and xn.kind == "input"
    return xn


def test_network_input_is_outside_every_module_cluster():
    model, X, loss = _mlp_on_array()
    m = draw(loss, names={"X": X})
    xn = _input_node(m)
    assert xn.title == "X"
    assert m.clusters_of(xn.id) == ()
    # the parameters still sit inside their layer's cluster
    (w0,) = [n for n in m.all_nodes() if n.title == "layers.0.weight"]
    assert [c.title for c in m.clusters_of(w0.id)] == ["MLP", "Linear layers.0"]
    # also without names: an unnamed array input is not drawn inside layers.0
    m = draw(loss)
    assert m.clusters_of(_input_node(m).id) == ()


@pytest.mark.parametrize("kw", [{"max_depth": 1}, {"max_depth": 0}, {"max_nodes": 12}])
def test_collapsed_modules_keep_the_input_and_its_edge(kw):
    model, X, loss = _mlp_on_array()
    m = draw(loss, **kw)
    xn = _input_node(m)
    module_boxes = boxes(m, "module")
    assert module_boxes
    (first,) = outs(m, xn)
    assert m.node(first) in module_boxes
    assert ("Linear" in m.node(first).text) or ("MLP" in m.node(first).text)
    assert m.clusters_of(xn.id) == ()


def test_collapse_note_says_which_modules_were_collapsed():
    model, X, loss = _mlp_on_array()
    m = draw(loss, max_depth=1)
    notes = "\n".join(m.notes)
    assert "deeper than depth" not in written(m)
    assert "5 module(s) collapsed into one box each (max_depth=1)" in notes
    assert "Linear layers.0" in notes and "Tanh activations.0" in notes
    auto = "\n".join(draw(loss, max_nodes=12).notes)
    # the loss (mse_loss) is framed like a module, so it folds too
    assert ("2 module(s) collapsed into one box each (automatically, to fit max_nodes=12): MLP, "
            "Loss mse_loss") in auto


def test_scalar_constants_are_not_counted_as_leaves():
    z = ag.Tensor(np.ones(3), requires_grad=True, name="z")
    y = z
    for _ in range(30):
        y = y * 0.999
    assert "graph of 31 ops and 1 leaves" in draw(y.sum(), max_nodes=10).notes


def test_grad_view_legend_shows_ops_in_their_drawn_colour():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    m = draw(loss, color_by="grad")
    fills = {n.fill for n in ops(m)}
    (legend_op,) = [n for n in m.legend.samples if n.id == "legend_op"]
    assert fills == {legend_op.fill}


# ---------------------------------------------------------------------------------------------
# The model itself, and the DOT text written from it
# ---------------------------------------------------------------------------------------------
def test_the_model_is_plain_frozen_data_kept_by_the_picture():
    *_, loss = tutorial_like()
    pic = ag.draw_graph(loss, title="T")
    assert isinstance(pic.model, Graph) and pic.model.title == "T"
    assert pic.copy().model is pic.model
    with pytest.raises(dataclasses.FrozenInstanceError):
        pic.model.nodes[0].kind = "op"
    with pytest.raises(LookupError, match="2 matches"):
        pic.model.named("sigmoid")


def test_same_graph_gives_identical_model_and_dot_and_no_ids():
    pictures = []
    for _ in range(2):
        model, loss = _mlp_loss()
        pictures.append(ag.draw_graph(loss, color_by="grad"))
    assert pictures[0].model == pictures[1].model
    assert pictures[0].source == pictures[1].source
    source = pictures[0].source
    assert not re.search(r"\d{9,}", source)  # no id()-like numbers
    assert "0x" not in source


def test_dot_text_holds_every_node_edge_and_cluster_of_the_model():
    model, loss = _mlp_loss()
    pic = ag.draw_graph(loss, max_depth=1, color_by="grad", title="mlp")
    m, lines = pic.model, pic.source.splitlines()
    for n in m.all_nodes() + list(m.legend.samples):
        assert sum(ln.strip().startswith(f"{n.id} [") for ln in lines) == 1, n.id
    visible = [ln.strip() for ln in lines if " -> " in ln and "style=invis" not in ln]
    assert [ln.split(" [")[0] for ln in visible] == [f"{e.tail} -> {e.head}"
                                                     for e in m.all_edges()]
    assert [f"label={e.label} " in ln for ln, e in zip(visible, m.all_edges())] == [
        e.label is not None for e in m.all_edges()]
    for c in m.all_clusters():
        assert f"subgraph {c.id} {{" in pic.source
    # the legend's colour bar and the header notes
    (scale,) = [ln for ln in lines if ln.strip().startswith("legend_scale [")]
    assert all(col in scale for col in style.SCALE)
    assert all(note in pic.source for note in m.notes)


def test_dot_text_escapes_names_titles_and_tooltips():
    odd = 'a<b> & "c" \\ d'
    x = ag.Tensor(np.ones(2), requires_grad=True, name=odd)
    pic = ag.draw_graph((x * 2.0).sum(), title="<T> & co")
    m = pic.model
    assert m.named(odd).title == odd  # the model keeps the text as written
    src = pic.source
    assert "<B>a&lt;b&gt; &amp; \"c\" \\ d</B>" in src  # HTML-like label: entities
    assert 'tooltip="a<b> & \\"c\\" \\\\ d (parameter)\\n' in src  # an escString
    assert "<B>&lt;T&gt; &amp; co</B>" in src
    assert odd not in src.replace("&amp;", "&")  # never written raw
