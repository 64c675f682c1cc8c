"""Graph pictures rendered with the real Graphviz `dot`: SVG structure, PNG files (the demo's
pictures are tested in test_cli.py)."""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from pictures import SVG, XLINK, png_size, svg_nodes

import autograd_nn as ag

pytestmark = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's `dot` program is not installed (scripts/ensure_graphviz.sh installs it)",
)



def _loss():
    rng = np.random.default_rng(0)
    X = ag.Tensor(rng.random((4, 3)), name="X")
    w1 = ag.Tensor(rng.random((3, 4)), requires_grad=True, name="weights1")
    w2 = ag.Tensor(rng.random((4, 1)), requires_grad=True, name="weights2")
    return ((ag.sigmoid(ag.sigmoid(X @ w1) @ w2) - 1.0) ** 2).sum()




def test_svg_has_one_group_per_node_with_tooltips():
    pic = ag.draw_graph(_loss(), color_by="grad")
    svg = pic.pipe(format="svg", encoding="utf-8")
    nodes = svg_nodes(svg)
    m = pic.model
    drawn = {n.id for n in m.all_nodes()} | {n.id for n in m.legend.samples} | {"legend_scale"}
    assert set(nodes) == drawn
    edges = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "edge"]
    assert [g.find(f"{SVG}title").text for g in edges] == [  # the legend's are invisible
        f"{e.tail}->{e.head}" for e in m.all_edges()]
    # the tooltip of weights1 (an <a xlink:title> in SVG) carries the full statistics
    titles = [a.get(f"{XLINK}title") or "" for a in ET.fromstring(svg).iter(f"{SVG}a")]
    w1 = [t for t in titles if t.startswith("weights1 (parameter)")]
    assert len(w1) == 1 and "std" in w1[0] and "grad rms" in w1[0]


def test_png_render_and_jupyter_display(tmp_path):
    pic = ag.draw_graph(_loss())
    data = pic.pipe(format="png")
    w, h = png_size(data)
    assert 200 < w < 4000 and 200 < h < 4000
    out = pic.render(tmp_path / "graph", format="png", cleanup=True)
    with open(out, "rb") as f:
        assert png_size(f.read()) == (w, h)
    bundle = pic._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_ten_thousand_node_graph_renders_small():
    w = ag.Tensor(np.linspace(-1, 1, 2500), requires_grad=True, name="w")
    total = ag.stack([(w[i] * 2.0).tanh() for i in range(2500)]).sum()
    t0 = time.perf_counter()
    pic = ag.draw_graph(total)
    svg = pic.pipe(format="svg", encoding="utf-8")
    elapsed = time.perf_counter() - t0
    assert len(svg_nodes(svg)) <= 500 + 5  # budget + legend samples
    assert elapsed < 60


def test_odd_names_and_titles_survive_rendering():
    odd = 'a<b> & "c" \\ d'
    x = ag.Tensor(np.ones(2), requires_grad=True, name=odd)
    pic = ag.draw_graph((x * 2.0).sum(), title="<T> & co")
    root = ET.fromstring(pic.pipe(format="svg", encoding="utf-8"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert odd in texts and "<T> & co" in texts
    tips = [a.get(f"{XLINK}title") or "" for a in root.iter(f"{SVG}a")]
    assert any(t.startswith(f"{odd} (parameter)\nshape (2,) float64") for t in tips)
