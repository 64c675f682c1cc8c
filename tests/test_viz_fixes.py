"""Picture fixes: gradients far below the rest of their graph are marked (rule in the legend),
non-commutative ops show which operand is which, and the colour-bar ticks span the range."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import autograd_nn as ag
from autograd_nn.viz import style
from autograd_nn_course import tutorial2 as t2


def _named(params):
    return {k: ag.Tensor(v, requires_grad=True, name=k) for k, v in params.items()}


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def test_tutorial2_stuck_network_marks_weights1_and_the_fixed_one_does_not():
    stuck = _named(t2.initial_weights(0))
    m = ag.draw_graph(t2.loss(stuck), color_by="grad").model
    w1 = m.named("weights1")
    g = ag.grad(t2.loss)(t2.initial_weights(0))["weights1"]
    assert w1.metric == pytest.approx(_rms(g), rel=1e-12) and w1.metric < 2e-6
    # only the relative rule catches it: its gradient/value ratio is far above vanish_ratio
    assert w1.metric / _rms(stuck["weights1"].data) > 1e-6
    assert [n.name for n in m.all_nodes() if n.vanishing] == ["weights1"]
    assert style.VANISH_MARK in w1.text
    rule = [s for s in m.legend.sources if s.startswith(style.VANISH_MARK)]
    assert len(rule) == 1 and "0.001 × the graph's median ∇ rms" in rule[0]
    off = ag.draw_graph(t2.loss(_named(t2.initial_weights(0))), color_by="grad",
                        vanish_relative=0).model
    assert not off.named("weights1").vanishing

    fixed = ag.draw_graph(t2.fixed_loss(_named(t2.fixed_initial_params(0))),
                          color_by="grad").model
    assert fixed.named("weights1").metric > 1e-3
    assert [n.name for n in fixed.all_nodes() if n.vanishing] == []


def test_vanish_relative_is_checked():
    x = ag.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"draw_graph: vanish_relative must be a number in "
                                         r"\[0, 1\), got 2"):
        ag.draw_graph((x * 2.0).sum(), vanish_relative=2)


def test_non_commutative_ops_name_their_operands():
    a = ag.Tensor(np.ones(2), requires_grad=True, name="p")
    b = ag.Tensor(np.ones(2), requires_grad=True, name="q")
    W = ag.Tensor(np.ones((2, 2)), name="W")
    loss = (((b - a) + (2.0 - a)) / b @ W).sum()
    m = ag.draw_graph(loss).model
    edges = [(m.node(e.tail).name, m.node(e.head).name, e.label) for e in m.all_edges()]
    into = [(tail, label) for tail, head, label in edges if head == "sub"]
    assert into == [("q", "a"), ("p", "b"), ("p", "b")]  # q - p, then 2 - p (2 is inlined)
    assert [(t, lb) for t, h, lb in edges if h == "div"] == [("t3", "a"), ("q", "b")]
    assert [(t, lb) for t, h, lb in edges if h == "matmul"] == [("t4", "a"), ("W", "b")]
    assert all(lb is None for _, h, lb in edges if h in ("add", "sum"))
    assert "a - b" in m.find("sub(2, ·)")[0].text and "a @ b" in m.named("matmul").text
    assert 'label=a' in ag.draw_graph(loss).source


def test_colour_bar_ticks_cover_the_drawn_range():
    x = ag.Tensor(np.ones(2), requires_grad=True)
    pic = ag.draw_graph((x * 2.0).sum(), color_by="grad", grad_range=(1e-7, 10.0))
    scale = pic.model.legend.scale
    assert scale.ticks[0] == "1e-7" and scale.ticks[-1] == "1e1"
    assert len(scale.ticks) == len(scale.colors) + 1
    for tick in scale.ticks:
        assert f">{tick}</FONT>" in pic.source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_rendered_colour_bar_shows_every_tick():
    x = ag.Tensor(np.ones(2), requires_grad=True)
    pic = ag.draw_graph((x * 2.0).sum(), color_by="grad")
    svg = pic.pipe(format="svg", encoding="utf-8")
    for tick in pic.model.legend.scale.ticks:
        assert f">{tick}</text>".replace("-", "&#45;") in svg  # dot writes - as &#45;


def _classifier_loss():
    rng = np.random.default_rng(0)
    model = ag.nn.Sequential(ag.nn.Linear(3, 5, rng=rng), ag.nn.ReLU(), ag.nn.Linear(5, 4, rng=rng))
    x = ag.Tensor(rng.normal(size=(6, 3)), name="X")
    return ag.nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 3, 0, 1]))


def test_a_loss_function_is_framed_and_folded_like_a_module():
    loss = _classifier_loss()
    m = ag.draw_graph(loss).model
    (box,) = [c for c in m.all_clusters() if c.title == "Loss cross_entropy"]
    ce_ops = [n.name for n in box.nodes if n.kind == "op"]
    assert ce_ops == ["log_softmax", "getitem", "neg", "mean"]
    folded = ag.draw_graph(loss, max_depth=0).model
    boxes = [n for n in folded.all_nodes() if n.kind == "module"]
    assert sorted(n.name for n in boxes) == ["", "cross_entropy"]  # the Sequential, the loss
    assert len(folded.all_nodes()) < len(m.all_nodes()) / 3
    assert any("Sequential, Loss cross_entropy (" in note for note in folded.notes)


def test_a_number_shared_by_many_ops_is_written_into_each():
    """One Python number used by every step of a loop is one shared leaf in the graph; each op
    that reads it shows it in its own label, with no edge from a shared node."""
    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(12):
        y = ag.tanh(y * 0.5) + y
    m = ag.draw_graph(y.sum(), max_nodes=2000).model
    leaves = {id(p) for t in ag.engine.topological_order([y]) for p in t.parents
              if p.op is None and not p.requires_grad}
    assert len(leaves) == 1  # the 0.5 of every step is one constant
    muls = [n for n in m.all_nodes() if n.name == "mul"]
    assert len(muls) == 12 and all("0.5" in n.title for n in muls)
    assert not [n for n in m.all_nodes() if n.kind == "input"]


def test_an_array_shared_by_many_ops_is_drawn_once_per_use():
    """A leaf without gradient read by more than SHARED_LEAF_USES ops is drawn next to each
    use: one node with 40 edges to every rank took Graphviz 90 s to lay out."""
    from autograd_nn.viz.build import SHARED_LEAF_USES

    c = ag.Tensor(np.full(3, 0.5), name="c")
    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(40):
        y = ag.tanh(y * c) + y
    m = ag.draw_graph(y.sum(), max_nodes=2000).model
    copies = [n for n in m.all_nodes() if n.name == "c"]
    assert len(copies) == 40 and len({n.id for n in copies}) == 40
    out = {n.id: [e.head for e in m.all_edges() if e.tail == n.id] for n in copies}
    assert all(len(heads) == 1 for heads in out.values())
    assert len({h for heads in out.values() for h in heads}) == 40  # one copy per reading op
    y = x
    for _ in range(SHARED_LEAF_USES):  # at the threshold: one node, as before
        y = y * c
    m = ag.draw_graph(y.sum(), max_nodes=2000).model
    assert len([n for n in m.all_nodes() if n.name == "c"]) == 1


def test_a_weight_every_step_reads_is_drawn_at_each_step():
    """An unrolled RNN's W, read by 40 steps, is drawn at each step (as unrolled networks are
    drawn), each copy saying so and showing W's gradient: one W with 40 edges took Graphviz
    90 s, and 80 crashed `dot`."""
    W = ag.Tensor(np.random.default_rng(0).normal(size=(3, 3)) * 0.3, requires_grad=True,
                  name="W")
    h = ag.Tensor(np.ones((1, 3)))
    for _ in range(40):
        h = ag.tanh(h @ W + 0.1)
    loss = h.sum()
    m = ag.draw_graph(loss, max_nodes=2000).model
    copies = [n for n in m.all_nodes() if n.name == "W"]
    assert len(copies) == 40
    assert all("drawn at each of its 40 uses" in n.text and n.has_grad for n in copies)
    assert len({n.text for n in copies}) == 1  # the same tensor: the same label everywhere
    heads = [e.head for n in copies for e in m.all_edges() if e.tail == n.id]
    assert len(heads) == len(set(heads)) == 40
