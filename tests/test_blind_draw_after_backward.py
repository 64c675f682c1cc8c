"""Blind tests (written from the README, docs/CORE_API.md, docstrings and issue 22 only) of
`draw_graph` after `backward()`: the torchviz habit.

Documented contract under test (README "See the graph", CORE_API "A Tensor is a graph node",
`help(ag.draw_graph)`, `help(ag.engine)`):
- drawn after `loss.backward()`, the picture still has every op, shape and name, with the
  leaves' `.grad`;
- `backward()` keeps a small graph's structure (up to 2,000 nodes and 16 MiB of values) until
  the next `backward()` (per thread: "this thread's most recent Tensor.backward() root");
- a training loop that keeps every loss holds one graph, not one per step; the values of the
  kept graph stay alive only while its root does;
- `retain_graph=True` shows the intermediate gradients too;
- `show_grads`: True / "compute" (error if impossible) / "leaves" / False; no `.grad` changed;
- `GraphReleasedError` for a second backward (or explanation) through a freed graph.
"""

from __future__ import annotations

import gc
import re
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd_nn as ag

torch = pytest.importorskip("torch")

GRAD_RE = re.compile(r"^∇ mean (\S+) \[(\S+), (\S+)\]$")


# --------------------------------------------------------------------------- helpers


def nodes(pic):
    return list(pic.model.all_nodes())


def node(pic, name):
    found = [n for n in nodes(pic) if n.name == name]
    assert len(found) == 1, f"expected one node named {name!r}, got {[n.name for n in nodes(pic)]}"
    return found[0]


def grad_line(n):
    lines = [ln for ln in n.text.split("\n") if ln.startswith("∇")]
    assert len(lines) <= 1, n.text
    return lines[0] if lines else None


def parse_grad(n):
    line = grad_line(n)
    assert line is not None, f"node {n.name!r} shows no gradient: {n.text!r}"
    m = GRAD_RE.match(line)
    if m is None:                                   # one element: '∇ -3.97'
        m1 = re.match(r"^∇ (\S+)$", line)
        assert m1, f"unexpected gradient line {line!r}"
        v = float(m1.group(1))
        return v, v, v
    return tuple(float(v) for v in m.groups())


def assert_summary_matches(n, arr, what=""):
    """The picture's '∇ mean m [lo, hi]' (3 significant digits) against an array."""
    mean, lo, hi = parse_grad(n)
    arr = np.asarray(arr, dtype=np.float64)
    scale = float(np.abs(arr).max()) or 1.0
    tol = dict(rtol=1e-2, atol=1e-3 * scale)
    assert np.isclose(lo, arr.min(), **tol), (what, n.name, lo, arr.min())
    assert np.isclose(hi, arr.max(), **tol), (what, n.name, hi, arr.max())
    assert np.isclose(mean, arr.mean(), rtol=1e-2, atol=1e-2 * scale), \
        (what, n.name, mean, arr.mean())


def signature(pic):
    """What the structure of a picture is: every node's kind, name, shape and dtype, and edges."""
    sig = [(n.kind, n.name, n.shape, n.dtype) for n in nodes(pic)]
    return sig, len(list(pic.model.all_edges()))


def notes_text(pic):
    return " ".join(pic.model.notes)


def mlp_setup(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(5, 3))
    y = rng.normal(size=(5, 1))
    P = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=(4,)),
         "W2": rng.normal(size=(4, 1)), "b2": rng.normal(size=(1,))}
    return X, y, P


def mlp_loss(T, X, y):
    h = ag.tanh(X @ T["W1"] + T["b1"])
    return ag.mean((h @ T["W2"] + T["b2"] - y) ** 2)


def torch_mlp_grads(P, X, y):
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}
    Xt, yt = torch.tensor(X), torch.tensor(y)
    h = torch.tanh(Xt @ tp["W1"] + tp["b1"])
    ((h @ tp["W2"] + tp["b2"] - yt) ** 2).mean().backward()
    return {k: v.grad.numpy() for k, v in tp.items()}


def tensors(P):
    return {k: ag.Tensor(v.copy(), requires_grad=True, name=k) for k, v in P.items()}


# --------------------------------------------------------------------------- structure


def test_mlp_structure_after_backward_equals_structure_before():
    X, y, P = mlp_setup()
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    before = ag.draw_graph(loss, names={"X": X, "y": y})
    loss.backward()
    assert loss.graph_released
    after = ag.draw_graph(loss, names={"X": X, "y": y})
    assert signature(after) == signature(before)
    ops_after = [n.name for n in nodes(after) if n.kind == "op"]
    assert ops_after.count("matmul") == 2 and "tanh" in ops_after and "mean" in ops_after
    assert node(after, "W1").shape == (3, 4) and node(after, "X").shape == (5, 3)
    # leaves show their .grad, identical to the gradient drawn before backward
    for k in P:
        assert grad_line(node(after, k)) == grad_line(node(before, k))
    # intermediates show no gradient (their arrays were released), and the picture says why
    for n in nodes(after):
        if n.kind in ("value",):
            assert grad_line(n) is None, n.text
    assert "retain_graph" in notes_text(after)


def test_mlp_leaf_grads_after_backward_match_torch():
    X, y, P = mlp_setup(1)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    pic = ag.draw_graph(loss)
    ref = torch_mlp_grads(P, X, y)
    for k in P:
        np.testing.assert_allclose(T[k].grad, ref[k], rtol=1e-10, atol=1e-12)
        assert_summary_matches(node(pic, k), ref[k], "mlp")


def test_draw_after_backward_changes_no_grad_and_no_values():
    X, y, P = mlp_setup(2)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    grads = {k: T[k].grad.copy() for k in T}
    for mode in (True, "leaves"):
        ag.draw_graph(loss, show_grads=mode, color_by="grad")
    ag.draw_graph(loss, show_grads=False)
    for k in T:
        np.testing.assert_array_equal(T[k].grad, grads[k])
        np.testing.assert_array_equal(T[k].data, P[k])


def test_cnn_with_nn_layers_after_backward_matches_torch():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
    labels = np.arange(4) % 10
    cnn = ag.nn.Sequential(
        ag.nn.Conv2d(1, 3, 3, padding=1, rng=0, dtype=np.float32), ag.nn.ReLU(),
        ag.nn.MaxPool2d(2), ag.nn.Flatten(), ag.nn.Linear(3 * 4 * 4, 10, rng=0, dtype=np.float32))
    loss = ag.nn.functional.cross_entropy(cnn(images), labels)
    before = ag.draw_graph(loss)
    loss.backward()
    pic = ag.draw_graph(loss)
    assert signature(pic) == signature(before)
    ops = [n.name for n in nodes(pic) if n.kind == "op"]
    for op in ("conv2d", "relu", "max_pool2d", "matmul"):
        assert op in ops, ops
    titles = " ".join(c.title for c in pic.model.all_clusters())
    assert "Conv2d" in titles and "Linear" in titles, titles
    params = dict(cnn.named_parameters())
    assert node(pic, "0.weight").shape == (3, 1, 3, 3)
    assert node(pic, "0.weight").dtype == "float32" or str(node(pic, "0.weight").dtype) == "float32"
    # torch reference with the same weights (Linear weight is (in, out) here)
    tw = {k: torch.tensor(np.asarray(v.data, dtype=np.float64), requires_grad=True)
          for k, v in params.items()}
    xt = torch.tensor(images.astype(np.float64))
    z = torch.nn.functional.conv2d(xt, tw["0.weight"], tw["0.bias"], padding=1)
    z = torch.nn.functional.max_pool2d(torch.relu(z), 2).reshape(4, -1)
    logits = z @ tw["4.weight"] + tw["4.bias"]
    torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).backward()
    for k, p in params.items():
        np.testing.assert_allclose(p.grad, tw[k].grad.numpy(), rtol=1e-3, atol=1e-5)
        assert_summary_matches(node(pic, k), tw[k].grad.numpy(), "cnn")
        assert grad_line(node(pic, k)) == grad_line(node(before, k))


def test_tied_weights_after_backward():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3))
    Wd = rng.normal(size=(3, 3))
    W = ag.Tensor(Wd.copy(), requires_grad=True, name="W")
    loss = ((ag.tanh(x @ W) @ W.T) ** 2).mean()
    before = ag.draw_graph(loss)
    loss.backward()
    pic = ag.draw_graph(loss)
    assert signature(pic) == signature(before)
    w_nodes = [n for n in nodes(pic) if n.name == "W"]
    assert len(w_nodes) == 1
    out_edges = [e for e in pic.model.all_edges() if e.tail == w_nodes[0].id]
    assert len(out_edges) == 2, out_edges      # used twice: x @ W and (transposed) @ W.T
    Wt = torch.tensor(Wd, requires_grad=True)
    ((torch.tanh(torch.tensor(x) @ Wt) @ Wt.T) ** 2).mean().backward()
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-10)
    assert_summary_matches(w_nodes[0], Wt.grad.numpy(), "tied")


# --------------------------------------------------------------------------- retain / twice


def test_retain_graph_shows_intermediates_then_second_backward_accumulates():
    X, y, P = mlp_setup(4)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    before = ag.draw_graph(loss)
    loss.backward(retain_graph=True)
    assert not loss.graph_released
    pic = ag.draw_graph(loss)
    # every node's gradient, the same as before backward
    for a, b in zip(nodes(pic), nodes(before)):
        assert a.text == b.text
    assert any(n.kind == "value" and grad_line(n) for n in nodes(pic))
    ag.draw_graph(loss, show_grads="compute")          # possible: the graph is still there
    ref = torch_mlp_grads(P, X, y)
    loss.backward()                                     # second backward: allowed, accumulates
    for k in P:
        np.testing.assert_allclose(T[k].grad, 2 * ref[k], rtol=1e-10, atol=1e-12)
    pic2 = ag.draw_graph(loss)
    assert signature(pic2) == signature(before)
    assert any(".grad" in s for s in pic2.model.legend.sources)
    for k in P:
        assert_summary_matches(node(pic2, k), 2 * ref[k], "accumulated .grad")
    # a third backward through the released graph: clear error, no .grad touched
    with pytest.raises(ag.GraphReleasedError, match="retain_graph"):
        loss.backward()
    for k in P:
        np.testing.assert_allclose(T[k].grad, 2 * ref[k], rtol=1e-10, atol=1e-12)


def test_second_backward_on_released_graph_is_a_clear_error_despite_kept_structure():
    X, y, P = mlp_setup(5)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    ag.draw_graph(loss)                                 # the structure is kept for pictures...
    assert ag.engine.links(loss)                        # ...so links() sees the inputs
    grads = {k: T[k].grad.copy() for k in T}
    with pytest.raises(ag.GraphReleasedError) as info:
        loss.backward()                                 # ...but a backward must not use it
    assert "retain_graph" in str(info.value)
    for k in T:
        np.testing.assert_array_equal(T[k].grad, grads[k])


def test_retain_graph_with_stale_grad_shows_the_computed_gradient():
    """After retain_graph the picture computes d(root)/d(leaf); a stale .grad must not leak in."""
    w = ag.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="w")
    (w * 100.0).sum().backward()                        # a stale .grad of 100s
    loss = (w ** 3).sum()
    loss.backward(retain_graph=True)                    # .grad = 100 + 3 w^2
    pic = ag.draw_graph(loss)
    assert_summary_matches(node(pic, "w"), 3 * w.data ** 2, "computed")
    legend = " ".join(pic.model.legend.sources)
    assert "computed" in legend and "accumulated" not in legend, legend


def test_two_losses_sharing_a_trunk_retain_then_backward():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3))
    Wd = rng.normal(size=(3, 3))
    W = ag.Tensor(Wd.copy(), requires_grad=True, name="W")
    h = ag.tanh(x @ W)
    l1 = (h ** 2).sum()
    l2 = (h * 3.0).mean()
    l1.backward(retain_graph=True)
    p1 = ag.draw_graph(l1)
    Wt = torch.tensor(Wd, requires_grad=True)
    ht = torch.tanh(torch.tensor(x) @ Wt)
    g1 = torch.autograd.grad((ht ** 2).sum(), Wt, retain_graph=True)[0].numpy()
    g2 = torch.autograd.grad((ht * 3.0).mean(), Wt)[0].numpy()
    assert_summary_matches(node(p1, "W"), g1, "l1 retained")
    l2.backward()
    np.testing.assert_allclose(W.grad, g1 + g2, rtol=1e-10)
    p2 = ag.draw_graph(l2)
    assert [n.name for n in nodes(p2) if n.kind == "op"] == ["matmul", "tanh", "mul", "mean"]
    assert_summary_matches(node(p2, "W"), g1 + g2, "accumulated")
    # l1's head was retained; its trunk was released by l2's backward: still a picture, no crash,
    # and whatever W shows is either d(l1)/dW or the stored .grad, never something else
    p1b = ag.draw_graph(l1)
    wn = [n for n in nodes(p1b) if n.name == "W"]
    if wn and grad_line(wn[0]):
        try:
            assert_summary_matches(wn[0], g1, "l1 computed")
        except AssertionError:
            assert_summary_matches(wn[0], g1 + g2, "l1 shows .grad")


def test_note_after_shared_trunk_release_does_not_quote_a_backward_error():
    """The user passed retain_graph=True to the first backward(); drawing is not a backward.
    The picture's note should not tell them 'backward through the graph a second time ...
    Pass retain_graph=True to the first backward()'."""
    rng = np.random.default_rng(6)
    W = ag.Tensor(rng.normal(size=(3, 3)), requires_grad=True, name="W")
    h = ag.tanh(rng.normal(size=(2, 3)) @ W)
    l1, l2 = (h ** 2).sum(), (h * 3.0).mean()
    l1.backward(retain_graph=True)
    l2.backward()
    text = notes_text(ag.draw_graph(l1))
    assert "a second time" not in text, text
    assert "Pass retain_graph=True to the first backward()" not in text, text


def test_two_backward_calls_on_different_losses():
    rng = np.random.default_rng(7)
    wa = ag.Tensor(rng.normal(size=(3,)), requires_grad=True, name="wa")
    wb = ag.Tensor(rng.normal(size=(3,)), requires_grad=True, name="wb")
    la = ag.tanh(wa * 2.0).sum()
    lb = ag.sigmoid(wb * 3.0).sum()
    la.backward()
    pa = ag.draw_graph(la)
    assert "wa" in [n.name for n in nodes(pa)]
    lb.backward()
    pb = ag.draw_graph(lb)
    assert [n.name for n in nodes(pb) if n.kind == "op"] == ["mul", "sigmoid", "sum"]
    s = 1 / (1 + np.exp(-3 * wb.data))
    assert_summary_matches(node(pb, "wb"), 3 * s * (1 - s), "lb")
    # la's kept structure was dropped by the next backward(): a short picture that says so
    assert ag.engine.kept_links(la) is None
    pa2 = ag.draw_graph(la)
    names = [n.name for n in nodes(pa2)]
    assert "wa" not in names and "tanh" not in names
    assert "next backward()" in notes_text(pa2)
    with pytest.raises(ag.GraphReleasedError):
        la.backward()


# --------------------------------------------------------------------------- show_grads


def test_show_grads_modes_after_backward():
    X, y, P = mlp_setup(8)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        ag.draw_graph(loss, show_grads="compute")
    leaves = ag.draw_graph(loss, show_grads="leaves")
    default = ag.draw_graph(loss)
    none = ag.draw_graph(loss, show_grads=False)
    for k in P:
        assert grad_line(node(leaves, k)) == grad_line(node(default, k)) is not None
        assert grad_line(node(none, k)) is None
    assert not any("∇" in n.text for n in nodes(none))
    assert not any(grad_line(n) for n in nodes(leaves) if n.kind != "param")
    assert signature(leaves) == signature(none) == signature(default)
    with pytest.raises(ValueError, match="show_grads"):
        ag.draw_graph(loss, show_grads="all")


def test_show_grads_leaves_with_no_grad_yet_and_after_zero_grad():
    w = ag.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="w")
    loss = ag.tanh(w).sum()
    pic = ag.draw_graph(loss, show_grads="leaves")      # before backward: no .grad stored
    assert grad_line(node(pic, "w")) is None
    loss.backward()
    opt = ag.optim.SGD([w], lr=0.1)
    opt.zero_grad()
    pic = ag.draw_graph(loss)
    if w.grad is None:
        assert grad_line(node(pic, "w")) is None
    else:
        assert_summary_matches(node(pic, "w"), w.grad, "zeroed")


def test_color_by_grad_after_backward_does_not_mark_missing_gradients_as_vanishing():
    X, y, P = mlp_setup(9)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    for mode in ("grad", "grad_ratio"):
        pic = ag.draw_graph(loss, color_by=mode)
        for n in nodes(pic):
            if n.kind == "value":      # no gradient known: neither vanishing nor NaN
                assert not n.vanishing and not n.nonfinite, (mode, n.name, n.vanishing)
        for k in P:
            assert node(pic, k).has_grad


def test_grad_seed_after_backward_is_not_silently_ignored():
    """draw_graph(root, grad_seed=2) asks for d(2*root)/d(node); after backward() the picture
    shows the stored .grad (seeded with 1). It should refuse, say so, or scale; not show the
    unseeded numbers as if the seed had been used."""
    w = ag.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="w")
    loss = (w ** 2).sum()
    loss.backward()
    try:
        pic = ag.draw_graph(loss, grad_seed=np.array(2.0))
    except (ValueError, RuntimeError):
        return
    said = "seed" in notes_text(pic) or any("seed" in s for s in pic.model.legend.sources)
    line = grad_line(node(pic, "w"))
    scaled = line is not None and np.isclose(parse_grad(node(pic, "w"))[2], 12.0, rtol=1e-2)
    assert said or scaled or line is None, (line, pic.model.notes)


# --------------------------------------------------------------------------- other tools


@pytest.mark.parametrize("tool", ["explain", "explore", "compare_intermediates"])
def test_tools_after_backward_refuse_with_graph_released_error(tool):
    X, y, P = mlp_setup(10)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    loss.backward()
    call = {"explain": lambda: ag.explain(loss),
            "explore": lambda: ag.explore(loss),
            "compare_intermediates":
                lambda: ag.compare_intermediates(loss, {"h1": np.zeros((5, 4))})}[tool]
    with pytest.raises(ag.GraphReleasedError) as info:
        call()
    assert "retain_graph" in str(info.value)


@pytest.mark.parametrize("tool", ["explain", "explore", "compare_intermediates"])
def test_tools_after_backward_error_message_is_accurate(tool):
    """Single thread, backward() ran before the call: the message should name the tool the user
    called and not guess at 'another thread' or a release 'while ... read the graph'."""
    w = ag.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="w")
    loss = ag.tanh(w * 2.0).sum()
    loss.backward()
    call = {"explain": lambda: ag.explain(loss),
            "explore": lambda: ag.explore(loss),
            "compare_intermediates":
                lambda: ag.compare_intermediates(loss, {"h1": np.zeros(2)})}[tool]
    with pytest.raises(ag.GraphReleasedError) as info:
        call()
    msg = str(info.value)
    assert tool in msg, msg
    assert "another thread" not in msg and "while" not in msg, msg


def test_explain_after_retain_graph_matches_explain_before():
    X, y, P = mlp_setup(11)
    T = tensors(P)
    loss = mlp_loss(T, X, y)
    before = str(ag.explain(loss))
    loss.backward(retain_graph=True)
    assert str(ag.explain(loss)) == before


def test_create_graph_backward_then_draw():
    w = ag.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="w")
    loss = (w ** 3).sum()
    out = ag.engine.backward([loss], [np.ones(())], create_graph=True, keep=True)
    g = out[id(w)][1]
    np.testing.assert_allclose(np.asarray(g.data), 3 * w.data ** 2)
    assert w.grad is None                               # engine.backward writes no .grad
    pic = ag.draw_graph(loss)                           # keep=True: structure kept
    assert [n.name for n in nodes(pic) if n.kind == "op"] == ["pow", "sum"]
    gs = g.sum()                                        # the gradient's own graph
    gs.backward()
    np.testing.assert_allclose(w.grad, 6 * w.data)
    pg = ag.draw_graph(gs)
    assert "pow" in [n.name for n in nodes(pg)]
    assert_summary_matches(node(pg, "w"), 6 * w.data, "second order")


# --------------------------------------------------------------------------- limits


def chain(k, seed=0):
    x = ag.Tensor(np.random.default_rng(seed).normal(size=(4,)), requires_grad=True, name="x")
    t = x
    for _ in range(k):
        t = ag.tanh(t)
    return x, t.sum()


def test_graph_under_node_limit_keeps_whole_structure():
    x, loss = chain(1900)
    loss.backward()
    pic = ag.draw_graph(loss, max_nodes=100_000)
    assert sum(1 for n in nodes(pic) if n.kind == "op" and n.name == "tanh") == 1900
    assert grad_line(node(pic, "x")) is not None


def test_graph_over_node_limit_says_why_it_was_not_kept():
    x, loss = chain(2100)
    loss.backward()
    assert ag.engine.kept_links(loss) is None           # documented: a large graph
    pic = ag.draw_graph(loss, max_nodes=100_000)        # must not crash
    text = notes_text(pic)
    assert re.search(r"2,?000|large|too big|limit", text), text


def test_graph_over_byte_limit_says_why_it_was_not_kept():
    x = ag.Tensor(np.random.default_rng(0).normal(size=(1200, 1200)), requires_grad=True, name="x")
    loss = (ag.tanh(x) * 2.0).sum()                     # two 11.5 MB intermediates > 16 MiB
    loss.backward()
    assert ag.engine.kept_links(loss) is None
    text = notes_text(ag.draw_graph(loss))
    assert re.search(r"16 ?MiB|large|too big|limit", text), text


def test_graph_under_byte_limit_is_kept():
    x = ag.Tensor(np.random.default_rng(0).normal(size=(500, 500)), requires_grad=True, name="x")
    loss = (ag.tanh(x) * 2.0).sum()                     # 2 x 2 MB
    loss.backward()
    pic = ag.draw_graph(loss)
    assert [n.name for n in nodes(pic) if n.kind == "op"] == ["tanh", "mul", "sum"]
    assert_summary_matches(node(pic, "x"), 2 * (1 - np.tanh(x.data) ** 2), "bytes")


# --------------------------------------------------------------------------- memory


def _big_step_factory():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 64))
    W = ag.Tensor(rng.normal(size=(64, 256)) * 0.1, requires_grad=True, name="W")
    losses = []

    def step():
        loss = (ag.tanh(ag.tanh(X @ W) * 2.0) ** 2).mean()   # ~1 MB of intermediates
        loss.backward()
        losses.append(loss)
        W.grad = None

    return step, losses


def _graph_bytes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 64))
    W = ag.Tensor(rng.normal(size=(64, 256)) * 0.1, requires_grad=True)
    gc.collect()
    tracemalloc.start()
    try:
        a = tracemalloc.get_traced_memory()[0]
        loss = (ag.tanh(ag.tanh(X @ W) * 2.0) ** 2).mean()
        b = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del loss
    return b - a


def test_training_loop_keeping_every_loss_stays_flat():
    graph = _graph_bytes()
    assert graph > 500_000
    step, losses = _big_step_factory()
    for _ in range(5):
        step()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(5):
            step()
        gc.collect()
        a = tracemalloc.get_traced_memory()[0]
        for _ in range(60):
            step()
        gc.collect()
        b = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert (b - a) / 60 < graph / 50, ((b - a) / 60, graph)
    # the last loss still draws with its structure; an older one does not hold its graph
    assert "matmul" in [n.name for n in nodes(ag.draw_graph(losses[-1]))]
    assert ag.engine.kept_links(losses[-2]) is None


def test_training_loop_with_each_step_on_a_fresh_thread_stays_flat():
    """'a training loop that keeps every loss (for a curve) holds one graph, not one per step':
    a loop whose steps each run on a new thread (a web handler, a per-request worker) keeps
    every loss too. A thread that has ended will never call backward() again."""
    graph = _graph_bytes()
    step, losses = _big_step_factory()
    for _ in range(3):
        step()
    gc.collect()
    tracemalloc.start()
    try:
        def run(n):
            for _ in range(n):
                t = threading.Thread(target=step)
                t.start()
                t.join()
        run(3)
        gc.collect()
        a = tracemalloc.get_traced_memory()[0]
        run(30)
        gc.collect()
        b = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(losses) == 36
    assert (b - a) / 30 < graph / 10, f"{(b - a) / 30:.0f} bytes per step; one graph is {graph}"


def test_dropped_loss_frees_the_kept_graph():
    def build():
        x = ag.Tensor(np.random.default_rng(0).normal(size=(300, 300)), requires_grad=True)
        h = ag.tanh(x)
        loss = (h * 2.0).sum()
        loss.backward()
        return loss, weakref.ref(h)

    loss, ref = build()
    assert ref() is not None            # documented: kept while its root is alive
    assert "tanh" in [n.name for n in nodes(ag.draw_graph(loss))]
    del loss
    gc.collect()
    assert ref() is None


def test_dropped_loss_from_a_finished_thread_is_freed():
    refs, holder = [], []

    def work():
        x = ag.Tensor(np.ones((200, 200)), requires_grad=True)
        h = ag.tanh(x)
        loss = (h * 2.0).sum()
        loss.backward()
        refs.append(weakref.ref(h))
        holder.append(loss)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    # (lead's edit: the README keeps the structure "until that thread ends", so a finished
    # thread's graph is freed even while its loss is held; the blind version expected it kept)
    gc.collect()
    assert refs[0]() is None
    holder.clear()
    gc.collect()
    assert refs[0]() is None


# --------------------------------------------------------------------------- threads


def test_kept_structure_is_per_thread():
    res, errors = {}, []
    first_done, second_done = threading.Event(), threading.Event()

    def a():
        try:
            w = ag.Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True, name="wa")
            loss = ag.tanh(w * 2.0).sum()
            loss.backward()
            first_done.set()
            assert second_done.wait(10)
            res["a"] = ag.draw_graph(loss)
            res["wa"] = w.data.copy()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            first_done.set()

    def b():
        try:
            assert first_done.wait(10)
            w = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="wb")
            ag.sigmoid(w).sum().backward()   # another thread's backward
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            second_done.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    pic = res["a"]
    assert [n.name for n in nodes(pic) if n.kind == "op"] == ["mul", "tanh", "sum"]
    assert_summary_matches(node(pic, "wa"), 2 * (1 - np.tanh(2 * res["wa"]) ** 2), "thread")


def test_concurrent_backward_and_draw_in_threads():
    errors = []
    barrier = threading.Barrier(6)

    def worker(seed):
        try:
            rng = np.random.default_rng(seed)
            x = rng.normal(size=(3, 4))
            barrier.wait()
            for i in range(25):
                Wd = rng.normal(size=(4, 2))
                W = ag.Tensor(Wd, requires_grad=True, name="W")
                loss = (ag.tanh(x @ W) ** 2).sum()
                loss.backward()
                pic = ag.draw_graph(loss)
                h = np.tanh(x @ Wd)
                expected = x.T @ (2 * h * (1 - h ** 2))
                np.testing.assert_allclose(W.grad, expected, rtol=1e-10, atol=1e-12)
                ops = [n.name for n in nodes(pic) if n.kind == "op"]
                assert ops == ["matmul", "tanh", "pow", "sum"], (seed, i, ops)
                assert_summary_matches(node(pic, "W"), expected, f"thread {seed} step {i}")
                with pytest.raises(ag.GraphReleasedError):
                    loss.backward()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]


def test_node_limit_boundary_2000_is_kept():
    """'up to 2,000 nodes': x, 1998 tanh and the sum are 2,000 Tensors (1,999 ops)."""
    x, loss = chain(1998)
    loss.backward()
    assert ag.engine.kept_links(loss) is not None
    pic = ag.draw_graph(loss, max_nodes=100_000)
    assert sum(1 for n in nodes(pic) if n.kind == "op" and n.name == "tanh") == 1998


def test_draw_in_main_thread_after_backward_in_a_worker():
    box = {}

    def work():
        w = ag.Tensor(np.array([0.3, -0.7]), requires_grad=True, name="w")
        loss = ag.sigmoid(w * 2.0).sum()
        loss.backward()
        box["loss"], box["w"] = loss, w

    # (lead's edit: drawn while the worker thread is alive, as the README documents; once it
    # ends, its graph's structure is released. The blind version drew after join().)
    done, finish = threading.Event(), threading.Event()

    def work_and_wait():
        work()
        done.set()
        finish.wait(10)

    t = threading.Thread(target=work_and_wait)
    t.start()
    assert done.wait(10)
    pic = ag.draw_graph(box["loss"])
    finish.set()
    t.join()
    assert [n.name for n in nodes(pic) if n.kind == "op"] == ["mul", "sigmoid", "sum"]
    s = 1 / (1 + np.exp(-2 * box["w"].data))
    assert_summary_matches(node(pic, "w"), 2 * s * (1 - s), "cross-thread")
    after = ag.draw_graph(box["loss"])
    assert [n.name for n in nodes(after) if n.kind == "op"] == ["sum"]
