"""Graph pictures: DOT structure, labels, gradients, clusters, colours, budget (no `dot` needed)."""

from __future__ import annotations

import html
import math
import re
import sys
import time

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.viz import GradientsUnavailable, GraphvizNotFoundError, draw_graphs, style

NODE_RE = re.compile(r"^\s*(\w+) \[(.*)\]$")
EDGE_RE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[.*\])?$")


# ---------------------------------------------------------------------------------------------
# A tiny reader for the DOT text graphviz writes (one statement per line)
# ---------------------------------------------------------------------------------------------
class Dot:
    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: dict[str, str] = {}  # id -> attribute text
        self.cluster_of: dict[str, tuple[str, ...]] = {}  # node id -> enclosing subgraph names
        self.edges: list[tuple[str, str]] = []
        self.subgraphs: list[str] = []
        self.cluster_attrs: dict[str, str] = {}
        stack: list[str] = []
        for line in source.splitlines():
            s = line.strip()
            m = re.match(r"^subgraph (\w+) \{$", s)
            if m:
                stack.append(m.group(1))
                self.subgraphs.append(m.group(1))
                continue
            if s == "}":
                if stack:
                    stack.pop()
                continue
            m = EDGE_RE.match(line)
            if m:
                if "style=invis" not in line:
                    self.edges.append((m.group(1), m.group(2)))
                continue
            m = NODE_RE.match(line)
            if m and m.group(1) not in ("graph", "node", "edge"):
                self.nodes[m.group(1)] = m.group(2)
                self.cluster_of[m.group(1)] = tuple(stack)
                continue
            if stack and (s.startswith("label=") or " label=" in s) and "[" not in s[:6]:
                self.cluster_attrs.setdefault(stack[-1], "")
                self.cluster_attrs[stack[-1]] += s

    def graph_nodes(self) -> dict[str, str]:
        """Nodes outside the legend."""
        return {k: v for k, v in self.nodes.items() if not k.startswith("legend_")}

    def attr(self, node: str, name: str) -> str | None:
        m = re.search(rf'(?:^|\s){name}=("(?:[^"\\]|\\.)*"|<.*?>(?=\s\w+=|$)|\S+)',
                      self.nodes[node])
        if not m:
            return None
        return m.group(1).strip('"')

    def label(self, node: str) -> str:
        m = re.match(r"label=(<.*?>)(?=\s\w+=|$)|label=(\"[^\"]*\"|\S+)", self.nodes[node])
        assert m, self.nodes[node]
        if m.group(1):
            text = m.group(1)[1:-1]  # an HTML-like label: drop the outer <>, tags and entities
            text = re.sub(r"<[^<>]*>", "", re.sub(r"<BR/>", "\n", text))
            return html.unescape(text)
        return m.group(2).strip('"')

    def find(self, text: str) -> list[str]:
        return [k for k in self.graph_nodes() if text in self.label(k)]


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
    dot = Dot(ag.draw_graph(loss).source)
    nodes = dot.graph_nodes()
    ops = [k for k in nodes if dot.attr(k, "shape") == "ellipse"]
    op_names = sorted(dot.label(k).split("\n")[0] for k in ops)
    assert op_names == sorted(["matmul", "sigmoid", "matmul", "sigmoid", "sub", "pow", "sum"])
    # 7 ops, 7 op outputs, 4 leaves (X, Y, weights1, weights2)
    assert len(nodes) == 7 + 7 + 4
    # every op has an edge out to exactly one value and edges in from values only
    for op in ops:
        outs = [b for a, b in dot.edges if a == op]
        ins = [a for a, b in dot.edges if b == op]
        assert len(outs) == 1 and outs[0] not in ops
        assert ins and all(a not in ops for a in ins)
    # names, shapes and dtypes
    (xn,) = dot.find("X\n")
    assert "(4, 3) float64" in dot.label(xn)
    (w1n,) = dot.find("weights1")
    assert "(3, 4) float64" in dot.label(w1n)
    (mm1,) = [b for a, b in dot.edges if a == w1n]
    assert dot.label(mm1) == "matmul" and (xn, mm1) in dot.edges
    # the output is a scalar: its label shows the number itself
    (root,) = [k for k in nodes if dot.attr(k, "peripheries") == "2"]
    assert f"{loss.item():.3g}" in dot.label(root).split("\n")
    # an array shows mean [min, max]
    hv = dot.find(f"mean {h.data.mean():.3g} [{h.data.min():.3g}, {h.data.max():.3g}]")
    assert len(hv) == 1


def test_kinds_are_styled_apart_and_match_the_legend():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    dot = Dot(ag.draw_graph(loss).source)
    (w1n,) = dot.find("weights1")
    (xn,) = dot.find("X\n")
    (root,) = [k for k in dot.graph_nodes() if dot.attr(k, "peripheries") == "2"]
    (hv,) = dot.find(f"mean {h.data.mean():.3g}")
    kinds = {"param": w1n, "input": xn, "output": root, "value": hv}
    looks = {k: (dot.attr(n, "fillcolor"), dot.attr(n, "style"), dot.attr(n, "peripheries"))
             for k, n in kinds.items()}
    assert len(set(looks.values())) == 4, looks
    for kind, node in kinds.items():
        assert dot.attr(f"legend_{kind}", "fillcolor") == dot.attr(node, "fillcolor")
    assert "cluster_legend" in dot.subgraphs


def test_op_params_and_inlined_constants():
    x = ag.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="x")
    y = (x * 0.5).sum(axis=1, keepdims=True) - 1.0
    dot = Dot(ag.draw_graph(y).source)
    labels = [dot.label(k) for k in dot.graph_nodes()]
    assert "mul(·, 0.5)" in labels
    assert "sub(·, 1)" in labels
    assert any(lab.startswith("sum\naxis=(1,), keepdims") for lab in labels)
    n_inlined = len(dot.graph_nodes())
    dot2 = Dot(ag.draw_graph(y, inline_constants=False).source)
    assert len(dot2.graph_nodes()) == n_inlined + 2  # the two scalar constants as nodes
    assert "mul" in [dot2.label(k) for k in dot2.graph_nodes()]


def test_shared_input_draws_two_edges_and_fan_out():
    x = ag.Tensor([1.0, 2.0], requires_grad=True, name="x")
    b = x + x
    c = b * b
    dot = Dot(ag.draw_graph(c.sum()).source)
    (xn,) = dot.find("x\n")
    (add,) = [k for k in dot.graph_nodes() if dot.label(k) == "add"]
    assert dot.edges.count((xn, add)) == 2


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------
def test_computed_gradients_of_every_node_match_finite_differences_and_touch_nothing():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    dot = Dot(ag.draw_graph(loss).source)
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
    (hv,) = dot.find(f"mean {h.data.mean():.3g}")
    assert f"∇ mean {fd.mean():.3g} [{fd.min():.3g}, {fd.max():.3g}]" in dot.label(hv)
    # and the graph is still usable: backward works and agrees with the drawn weights1 grad
    loss.backward()
    (w1n,) = dot.find("weights1")
    g = w1.grad
    assert f"∇ mean {g.mean():.3g} [{g.min():.3g}, {g.max():.3g}]" in dot.label(w1n)


def test_after_backward_the_released_graph_is_explained():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    loss.backward()  # releases the graph's links: only the output is left to draw
    pic = ag.draw_graph(loss)
    dot = Dot(pic.source)
    assert len(dot.graph_nodes()) == 2  # the output and its (released) op
    assert "inputs released by backward()" in pic.source
    assert "retain_graph=True" in pic.source
    with pytest.raises(GradientsUnavailable, match="retain_graph=True"):
        ag.draw_graph(loss, show_grads="compute")


def test_after_backward_with_retain_graph_grads_agree_with_dot_grad():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    loss.backward(retain_graph=True)
    dot = Dot(ag.draw_graph(loss).source)
    for w, name in ((w1, "weights1"), (w2, "weights2")):
        (n,) = dot.find(name)
        g = w.grad
        assert f"∇ mean {g.mean():.3g} [{g.min():.3g}, {g.max():.3g}]" in dot.label(n)


def test_show_grads_false_and_leaves_modes():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    src = ag.draw_graph(loss, show_grads=False).source
    assert "∇" not in src
    src = ag.draw_graph(loss, show_grads="leaves").source
    assert "∇" not in src  # nothing has a .grad yet
    loss.backward(retain_graph=True)
    dot = Dot(ag.draw_graph(loss, show_grads="leaves").source)
    assert "∇" in dot.label(dot.find("weights1")[0])
    assert "∇" not in dot.label(dot.find(f"mean {h.data.mean():.3g}")[0])


def test_grad_seed_for_non_scalar_root():
    x = ag.Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    y = x * 2.0
    dot = Dot(ag.draw_graph(y, grad_seed=np.array([1.0, 0.0, -1.0])).source)
    (xn,) = dot.find("x\n")
    assert "∇ mean 0 [-2, 2]" in dot.label(xn)
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
    dot = Dot(ag.draw_graph(loss, color_by="grad", grad_range=(lo, hi)).source)
    fills = {}
    for name, g in (("a", 1e-5), ("b", 1e-2), ("c", 3.0)):
        (n,) = dot.find(f"{name}\n")
        fills[name] = dot.attr(n, "fillcolor")
        assert fills[name] == style.SCALE[_expected_bin(g, lo, hi)], name
        assert f"∇ rms {g:.2g}" in dot.label(n)
    assert len(set(fills.values())) == 3
    # the colour bar is in the legend
    assert all(col in dot.nodes["legend_scale"] for col in style.SCALE)


def test_vanishing_and_nonfinite_gradients_are_marked():
    x = ag.Tensor(np.array([-1.0, -2.0]), requires_grad=True, name="dead")
    z = ag.Tensor(np.array([0.0, 4.0]), requires_grad=True, name="atzero")
    loss = ag.relu(x).sum() + ag.sqrt(z).sum()
    dot = Dot(ag.draw_graph(loss, color_by="grad").source)
    (dn,) = dot.find("dead\n")
    assert dot.attr(dn, "fillcolor") == style.VANISH_FILL
    assert style.VANISH_MARK in dot.label(dn)
    assert "dashed" in dot.attr(dn, "style")
    (zn,) = dot.find("atzero\n")
    assert dot.attr(zn, "fillcolor") == style.NONFINITE_FILL
    assert style.NONFINITE_MARK in dot.label(zn)
    # vanishing/NaN colours are outside the scale, so they cannot be confused with it
    assert style.VANISH_FILL not in style.SCALE and style.NONFINITE_FILL not in style.SCALE


def test_relative_vanishing_threshold_and_ratio_view():
    # gradient rms 1e-9 on a value of rms 1: below the 1e-6 ratio threshold
    w = ag.Tensor(np.ones(3), requires_grad=True, name="w")
    loss = (w * 1e-9).sum()
    dot = Dot(ag.draw_graph(loss, color_by="grad_ratio").source)
    (wn,) = dot.find("w\n")
    assert style.VANISH_MARK in dot.label(wn)
    dot = Dot(ag.draw_graph(loss, color_by="grad_ratio", vanish_ratio=1e-12).source)
    (wn,) = dot.find("w\n")
    assert style.VANISH_MARK not in dot.label(wn)
    assert "∇/value rms 1e-09" in dot.label(wn)


def test_nan_values_marked_in_default_view():
    x = ag.Tensor(np.array([1.0, np.nan]), requires_grad=True, name="x")
    dot = Dot(ag.draw_graph((x * 2.0).sum()).source)
    (xn,) = dot.find("x\n")
    assert "NaN" in dot.label(xn) and dot.attr(xn, "penwidth") == "3"


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
    dot = Dot(ag.draw_graph(loss).source)
    (xn,) = dot.find("x\n")
    tip = dot.attr(xn, "tooltip")
    for word in ("min 0", "max 3", "mean 1.5", f"std {np.std([0, 1, 2, 3]):.4g}", "zeros 1/4",
                 "NaN 0", "Inf 0"):
        assert word in tip, (word, tip)
    (mul,) = [k for k in dot.graph_nodes() if dot.label(k).startswith("mul")]
    assert f"test_viz.py:{line}" in dot.attr(mul, "tooltip")


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
def _mlp_loss():
    model = ag.nn.MLP([2, 3, 3, 1], activation="tanh", rng=0)
    X = ag.Tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]]), name="X")
    return model, ((model(X) - np.array([[0], [1], [1], [0.0]])) ** 2).mean()


def test_module_clusters_hold_their_ops_and_parameters():
    model, loss = _mlp_loss()
    dot = Dot(ag.draw_graph(loss).source)
    clusters = [s for s in dot.subgraphs if s.startswith("cluster_m")]
    # the MLP, its 3 Linear layers and 2 Tanh activations
    assert len(clusters) == 6
    labels = {c: re.sub(r"<[^<>]*>", " ", dot.cluster_attrs[c]) for c in clusters}
    linear = [c for c, lab in labels.items() if "Linear" in lab]
    assert len(linear) == 3
    for name, p in model.named_parameters():
        (n,) = [k for k in dot.graph_nodes() if dot.label(k).split("\n")[0] == name]
        layer = name.rsplit(".", 1)[0]  # "layers.0"
        (c,) = [c for c in linear if f" {layer} " in labels[c] + " "]
        assert c in dot.cluster_of[n]
        assert f"{name.rsplit('.', 1)[1]} {tuple(p.shape)}" in labels[c]
    # the root module's cluster encloses the layers
    (mlp,) = [c for c, lab in labels.items() if "MLP" in lab]
    for path in dot.cluster_of.values():
        if any(c in path for c in linear):
            assert path[0] == mlp


def test_max_depth_collapses_modules_into_boxes():
    model, loss = _mlp_loss()
    dot1 = Dot(ag.draw_graph(loss, max_depth=1).source)
    boxes = [k for k in dot1.graph_nodes() if dot1.attr(k, "shape") == "component"]
    assert len(boxes) == 5  # 3 Linear + 2 Tanh
    lin = [k for k in boxes if "Linear" in dot1.label(k)]
    assert len(lin) == 3 and all("weight" in dot1.label(k) for k in lin)
    assert not any("layers.0.weight" == dot1.label(k).split("\n")[0] for k in dot1.graph_nodes())
    dot0 = Dot(ag.draw_graph(loss, max_depth=0).source)
    boxes = [k for k in dot0.graph_nodes() if dot0.attr(k, "shape") == "component"]
    assert len(boxes) == 1 and "MLP" in dot0.label(boxes[0])
    assert "collapsed" in dot0.source
    # the input stays visible and feeds the box
    (xn,) = dot0.find("X\n")
    assert (xn, boxes[0]) in dot0.edges


# ---------------------------------------------------------------------------------------------
# Big graphs: chains, budget, no recursion, determinism
# ---------------------------------------------------------------------------------------------
def test_long_chain_collapses_into_one_box():
    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    n = 1000
    for _ in range(n):
        y = y * 1.001
    dot = Dot(ag.draw_graph(y.sum(), max_nodes=50).source)
    nodes = dot.graph_nodes()
    assert len(nodes) <= 50
    (box,) = [k for k in nodes if dot.attr(k, "shape") == "box3d"]
    # the n multiplications and the final sum form one linear chain
    assert dot.label(box).split("\n")[0] == f"×{n + 1} ops"
    assert f"{n} mul, 1 sum" in dot.label(box)
    assert "linear chain" in dot.source


def test_ten_thousand_node_graph_fits_the_budget_in_bounded_time():
    w = ag.Tensor(np.linspace(-1, 1, 2500), requires_grad=True, name="w")
    total = ag.stack([(w[i] * 2.0).tanh() for i in range(2500)]).sum()
    t0 = time.perf_counter()
    pic = ag.draw_graph(total, max_nodes=200)
    elapsed = time.perf_counter() - t0
    dot = Dot(pic.source)
    assert len(dot.graph_nodes()) <= 200
    assert elapsed < 10.0
    assert "not shown" in pic.source and "max_nodes=200" in pic.source
    assert len(pic.source) < 200 * 2500  # bounded text, not proportional to the graph


def test_many_modules_collapse_automatically_to_fit():
    model = ag.nn.MLP([3] * 301, activation="tanh", rng=0)  # 300 Linear + 299 Tanh
    X = ag.Tensor(np.ones((2, 3)), name="X")
    pic = ag.draw_graph(model(X).sum(), max_nodes=100)
    dot = Dot(pic.source)
    assert len(dot.graph_nodes()) <= 100
    assert "automatically" in pic.source


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
    dot = Dot(pic.source)
    assert len(dot.graph_nodes()) <= 500
    assert any("×100000 ops" in dot.label(k) for k in dot.graph_nodes())


def test_same_graph_gives_identical_dot_and_no_ids():
    sources = []
    for _ in range(2):
        model, loss = _mlp_loss()
        sources.append(ag.draw_graph(loss, color_by="grad").source)
    assert sources[0] == sources[1]
    assert not re.search(r"\d{9,}", sources[0])  # no id()-like numbers
    assert "0x" not in sources[0]


# ---------------------------------------------------------------------------------------------
# Several graphs, errors
# ---------------------------------------------------------------------------------------------
def test_draw_graphs_side_by_side():
    *_, loss1 = tutorial_like(0)
    *_, loss2 = tutorial_like(1)
    pic = draw_graphs([("first", loss1), ("second", loss2)], color_by="grad")
    dot = Dot(pic.source)
    assert {"cluster_p0", "cluster_p1"} <= set(dot.subgraphs)
    n0 = [k for k in dot.graph_nodes() if k.startswith("p0_")]
    n1 = [k for k in dot.graph_nodes() if k.startswith("p1_")]
    assert len(n0) == len(n1) == 18 and len(dot.graph_nodes()) == 36
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
def _titles(dot: Dot) -> dict[str, str]:
    """Value node -> its first label line (ops excluded)."""
    return {k: dot.label(k).split("\n")[0] for k in dot.graph_nodes()
            if dot.attr(k, "shape") != "ellipse"}


def test_value_nodes_are_named_as_explain_names_them():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    dot = Dot(ag.draw_graph(loss).source)
    titles = set(_titles(dot).values())
    ex = ag.explain(loss)
    expected = {s.name for s in ex.steps} | {"X", "Y"}
    # explain's names for every node that needs a gradient, plus the two inputs
    assert expected <= titles, (expected, titles)
    assert {"z1", "h1", "z2", "h2", "L"} <= titles
    assert not any(re.fullmatch(r"t\d+", t) and t not in expected for t in titles)
    # h1 is the hidden layer: its label shows h's values
    (hv,) = [k for k, t in _titles(dot).items() if t == "h1"]
    assert f"mean {h.data.mean():.3g}" in dot.label(hv)


def test_names_argument_labels_array_inputs_like_explain():
    rng = np.random.default_rng(0)
    Xa, Ya = rng.random((4, 3)), rng.random((4, 1))
    w = ag.Tensor(rng.random((3, 1)), requires_grad=True, name="w")
    loss = ((ag.sigmoid(ag.dot(Xa, w)) - Ya) ** 2).sum()
    titles = set(_titles(Dot(ag.draw_graph(loss).source)).values())
    assert "X" not in titles  # unnamed arrays get explain's C1, C2
    named = Dot(ag.draw_graph(loss, names={"X": Xa, "Y": Ya}).source)
    (xn,) = [k for k, t in _titles(named).items() if t == "X"]
    assert "(4, 3) float64" in named.label(xn)
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


def _input_node(dot: Dot) -> str:
    (xn,) = [k for k in dot.graph_nodes() if "(5, 3) float64" in dot.label(k)]
    return xn


def test_network_input_is_outside_every_module_cluster():
    model, X, loss = _mlp_on_array()
    dot = Dot(ag.draw_graph(loss, names={"X": X}).source)
    xn = _input_node(dot)
    assert dot.label(xn).split("\n")[0] == "X"
    assert dot.cluster_of[xn] == ()
    # the parameters still sit inside their layer's cluster
    (w0,) = [k for k, t in _titles(dot).items() if t == "layers.0.weight"]
    assert len(dot.cluster_of[w0]) == 2
    # also without names: an unnamed array input is not drawn inside layers.0
    dot = Dot(ag.draw_graph(loss).source)
    assert dot.cluster_of[_input_node(dot)] == ()


@pytest.mark.parametrize("kw", [{"max_depth": 1}, {"max_depth": 0}, {"max_nodes": 12}])
def test_collapsed_modules_keep_the_input_and_its_edge(kw):
    model, X, loss = _mlp_on_array()
    dot = Dot(ag.draw_graph(loss, **kw).source)
    xn = _input_node(dot)
    boxes = [k for k in dot.graph_nodes() if dot.attr(k, "shape") == "component"]
    assert boxes
    (first,) = [b for a, b in dot.edges if a == xn]
    assert first in boxes
    assert ("Linear" in dot.label(first)) or ("MLP" in dot.label(first))
    assert dot.cluster_of[xn] == ()


def test_collapse_note_says_which_modules_were_collapsed():
    model, X, loss = _mlp_on_array()
    src = ag.draw_graph(loss, max_depth=1).source
    assert "deeper than depth" not in src
    assert "5 module(s) collapsed into one box each (max_depth=1)" in src
    assert "Linear layers.0" in src and "Tanh activations.0" in src
    auto = ag.draw_graph(loss, max_nodes=12).source
    assert "1 module(s) collapsed into one box each (automatically, to fit max_nodes=12): MLP" \
        in auto


def test_scalar_constants_are_not_counted_as_leaves():
    z = ag.Tensor(np.ones(3), requires_grad=True, name="z")
    y = z
    for _ in range(30):
        y = y * 0.999
    src = ag.draw_graph(y.sum(), max_nodes=10).source
    assert "graph of 31 ops and 1 leaves" in src


def test_grad_view_legend_shows_ops_in_their_drawn_colour():
    X, Y, w1, w2, h, out, loss = tutorial_like()
    dot = Dot(ag.draw_graph(loss, color_by="grad").source)
    ops = [k for k in dot.graph_nodes() if dot.attr(k, "shape") == "ellipse"]
    fills = {dot.attr(k, "fillcolor") for k in ops}
    assert fills == {dot.attr("legend_op", "fillcolor")}
