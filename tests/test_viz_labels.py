"""Any name or title gives DOT that Graphviz accepts and SVG that parses: control characters
(ANSI escapes, bell, NUL), quotes, backslashes, surrogates and labels longer than Graphviz's
16384-character limit are cleaned, escaped and cut by viz/dot.py."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd_nn as ag
from autograd_nn.viz.dot import clean_text

DOT = shutil.which("dot")

_tricky = st.sampled_from(["\x1b[31m", "\x07", "\x00", '"', "\\", "\\\"", "<", ">", "&", "]]>",
                           "\n", "\t", "\r", "{", "}", ";", "\ud800", "\ufffe", "é", "∇", "\x7f"])
_short = st.lists(st.one_of(_tricky, st.text(max_size=6)), max_size=8).map("".join)
_long = st.tuples(st.sampled_from(["x", "&", "<", "\x1b", "\\"]),
                  st.integers(16_000, 20_000)).map(lambda t: t[0] * t[1])
names = st.one_of(_short, _long)


def _accepted(source: str) -> None:
    result = subprocess.run([DOT, "-Tsvg"], input=source.encode("utf-8"), capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[:400]
    ET.fromstring(result.stdout)  # the SVG is well-formed XML too


@pytest.mark.skipif(DOT is None, reason="Graphviz's `dot` is not installed "
                                        "(scripts/ensure_graphviz.sh installs it)")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=names, param=names, title=names)
def test_graphviz_accepts_every_name_and_title(value, param, title):
    x = ag.Tensor(np.ones(2), name=value)
    w = ag.Tensor(np.ones(2), requires_grad=True, name=param)
    loss = ag.sum(x * w - 1.0)
    # one picture holds them all: node labels, tooltips, graph titles, the header, the legend
    _accepted(ag.viz.draw_graphs([(title, loss), (value, loss)], color_by="grad",
                                 title=title).source)


def test_clean_text_makes_control_characters_visible_and_bounds_length():
    assert clean_text("a\x1b[1mb\x07") == "a\\x1b[1mb\\x07"
    assert clean_text("\ud800\ufffe") == "\\ud800\\ufffe"
    assert clean_text("tab\there") == "tab here"
    cut = clean_text("y" * 5000, limit=100)
    assert len(cut) == 100 and cut.endswith("…")
    assert clean_text('q"uote\\') == 'q"uote\\'  # left to the HTML escaping and quoting


def test_long_labels_are_cut_and_say_so():
    w = ag.Tensor(np.ones(2), requires_grad=True, name="w" * 20_000)
    pic = ag.draw_graph(ag.sum(w * 2.0))
    label = next(ln for ln in pic.source.splitlines() if ln.strip().startswith("v0 ["))
    assert len(label) < 16_384 and "…" in label
    assert pic.model.named("w" * 20_000).title == "w" * 20_000  # the model keeps the full name


def test_each_panels_vanishing_threshold_is_named_in_the_legend():
    """issue 22: draw_graphs with color_by="grad" has one vanishing rule per panel (each panel's
    own median); the legend says which panel each belongs to."""
    import numpy as np

    import autograd_nn as ag
    from autograd_nn.viz import draw_graphs

    def loss(scale):
        w = ag.Tensor(np.full((2, 2), scale), requires_grad=True, name="w")
        return ag.tanh(ag.Tensor(np.ones((3, 2)), name="X") @ w).sum()

    long_title = "as written: tiny weights, no biases, stuck at the loss of 0.25"
    picture = draw_graphs([(long_title, loss(0.01)), ("fixed", loss(0.5))], color_by="grad")
    rules = [s for s in picture.model.legend.sources if s.startswith("▼ vanishing")]
    assert len(rules) == 2
    assert rules[0].startswith("▼ vanishing in “as written: tiny weights, no biases, st…”: ")
    assert rules[1].startswith("▼ vanishing in “fixed”: ∇ = 0, or ∇ rms < 0.001 × the graph's "
                               "median ∇ rms (")
    assert "vanishing in “fixed”" in picture.source
    # one graph: one threshold, no panel to name
    (single,) = [s for s in ag.draw_graph(loss(0.5), color_by="grad").model.legend.sources
                 if s.startswith("▼ vanishing")]
    assert single.startswith("▼ vanishing: ∇ = 0")
