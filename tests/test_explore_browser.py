"""The explorer page in a real browser (headless Debian Chromium through Playwright): every step
in the engine's order, the panel's numbers against autograd, PyTorch and ag.explain, Back, the
slider, Play, the highlighted node, no console errors and no network request.

Set AUTOGRAD_NN_SCREENSHOTS=<folder> to keep the screenshots (they go to pytest's tmp_path
otherwise, never into the repository)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from browser import chromium_context, open_page
from pictures import png_size

import autograd_nn as ag
from autograd_nn_course import reports

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def browser():
    """One Chromium (fresh temporary profile) for this module's tests, a new tab each."""
    with chromium_context() as context:
        yield context

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|-?inf|nan")
PRINTED_RTOL = 5e-6  # the panel prints 6 significant digits: at most half a unit of the 6th


def numbers(text: str) -> np.ndarray:
    return np.array([float(x) for x in _NUMBER.findall(text)])


def _fan_out_case():
    """A bias broadcast over the batch and a value read three times (h * h and sum(h))."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2))
    w = rng.normal(size=(2, 2))
    b = rng.normal(size=(1, 2))
    X = ag.Tensor(x, name="X")
    W = ag.Tensor(w, requires_grad=True, name="W")
    B = ag.Tensor(b, requires_grad=True, name="b")
    h = ag.tanh(X @ W + B)
    loss = ag.sum(h * h) + ag.sum(h)

    def torch_grads():
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)
        pre = torch.tensor(x) @ tw
        pre.retain_grad()
        z = pre + tb
        z.retain_grad()
        th = torch.tanh(z)
        th.retain_grad()
        (torch.sum(th * th) + torch.sum(th)).backward()
        return {"W": tw.grad, "b": tb.grad, "h1": th.grad, "z1": z.grad}

    return loss, None, torch_grads


def _tutorial1_case():
    loss, names = reports.named_loss("1")
    w = reports.tutorial("1").initial_weights(0)
    mod = reports.tutorial("1")

    def torch_grads():
        t1w = torch.tensor(w["weights1"], requires_grad=True)
        t2w = torch.tensor(w["weights2"], requires_grad=True)
        z1 = torch.tensor(mod.X) @ t1w
        h1 = torch.sigmoid(z1)
        z2 = h1 @ t2w
        h2 = torch.sigmoid(z2)
        for t in (z1, h1, z2, h2):
            t.retain_grad()
        torch.sum((torch.tensor(mod.Y) - h2) ** 2).backward()
        return {"weights1": t1w.grad, "weights2": t2w.grad, "z1": z1.grad, "h1": h1.grad,
                "z2": z2.grad, "h2": h2.grad}

    return loss, names, torch_grads


def _tutorial2_case():
    loss, names = reports.named_loss("2")
    return loss, names, None


# everything a test reads from the panel after a step, in one round trip
PANEL = """() => {
  const text = id => (document.getElementById(id) || {textContent: ""}).textContent;
  return {
    name: text("current-node"), phase: document.getElementById("phase").dataset.phase,
    rule: text("rule"), grad: text("grad-values"), details: text("details"), fd: text("fd"),
    contributions: [...document.querySelectorAll("#contributions li pre")].map(e => e.textContent),
    current: [...document.querySelectorAll(".current")].map(e => ({id: e.id, text: e.textContent})),
  };
}"""

CASES = {"fan_out": _fan_out_case, "tutorial1": _tutorial1_case, "tutorial2": _tutorial2_case}


def _shots(tmp_path):
    folder = os.environ.get("AUTOGRAD_NN_SCREENSHOTS")
    return tmp_path if not folder else __import__("pathlib").Path(folder)


@pytest.mark.parametrize("case", list(CASES))
def test_stepping_through_the_whole_graph(browser, case, tmp_path):
    loss, names, torch_grads = CASES[case]()
    explanation = ag.explain(loss, names)
    page_file = tmp_path / f"{case}.html"
    ag.explore(loss, names).save(page_file)
    forward_ops = [line.split(" = ")[0] for line, _ in explanation.forward]
    reference = {k: v.numpy() for k, v in torch_grads().items()} if torch_grads else {}
    leaves = {s.name: s for s in explanation.parameters}

    with open_page(browser, page_file.as_uri()) as (page, log):
        total = int(page.get_attribute("#slider", "max")) + 1
        visited, phases = [], []
        for i in range(total):
            if i:
                page.click("#step")
            shown = page.evaluate(PANEL)
            name, phase = shown["name"], shown["phase"]
            visited.append(name)
            phases.append(phase)
            # one node highlighted, the one named in #current-node (its SVG <title> is n<k>)
            assert len(shown["current"]) == 1
            assert name in shown["current"][0]["text"].split()
            if phase != "backward":
                continue
            step = explanation[name]
            assert shown["rule"].splitlines()[0] == step.line
            norm = re.search(r"\|g\| = (\S+)\)", shown["details"]).group(1)
            assert norm == f"{step.grad_norm:.3g}"
            values = numbers(shown["grad"])
            assert values.size == int(np.prod(step.shape))
            np.testing.assert_allclose(np.linalg.norm(values), step.grad_norm,
                                       rtol=10 * PRINTED_RTOL)
            if name in reference:
                np.testing.assert_allclose(values, reference[name].reshape(-1),
                                           rtol=PRINTED_RTOL, atol=0)
            assert "agrees" in shown["fd"]
            if len(step.terms) > 1:
                assert len(shown["contributions"]) == len(step.terms)
                parts = [numbers(text) for text in shown["contributions"]]
                np.testing.assert_allclose(np.sum(parts, axis=0), values,
                                           rtol=1e-5, atol=1e-5 * np.abs(values).max())
        n_forward = phases.count("forward")
        assert phases == ["forward"] * n_forward + ["backward"] * (total - n_forward)
        assert visited[n_forward:] == [s.name for s in explanation.steps]
        assert [v for v in visited[:n_forward] if v in forward_ops] == forward_ops
        assert set(leaves) <= set(visited[:n_forward])
        shot = _shots(tmp_path) / f"explore_{case}_end.png"
        page.screenshot(path=str(shot), full_page=True)
        assert png_size(shot.read_bytes())[0] >= 1280

        page.click("#back")
        assert page.text_content("#current-node") == visited[-2]
        assert page.text_content("#rule").splitlines()[0] == explanation[visited[-2]].line
        page.fill("#slider", "0")
        page.dispatch_event("#slider", "input")
        assert page.text_content("#current-node") == visited[0]
        assert page.get_attribute("#phase", "data-phase") == "forward"
        page.screenshot(path=str(_shots(tmp_path) / f"explore_{case}_start.png"))
        assert log.console == [] and log.errors == [] and log.requests == []


def test_params_panel_matches_ag_grad(browser, tmp_path):
    mod = reports.tutorial("2")
    w = mod.initial_weights(0)
    grads = ag.grad(mod.loss)(w, mod.X, mod.Y)
    loss, names = reports.named_loss("2")
    page_file = tmp_path / "t2.html"
    ag.explore(loss, names).save(page_file)
    with open_page(browser, page_file.as_uri()) as (page, log):
        seen = {}
        total = int(page.get_attribute("#slider", "max")) + 1
        for _ in range(total - 1):
            page.click("#step")
            name = page.text_content("#current-node")
            if name in grads and page.get_attribute("#phase", "data-phase") == "backward":
                seen[name] = numbers(page.text_content("#grad-values"))
        assert set(seen) == set(grads)
        for name, values in seen.items():
            np.testing.assert_allclose(values, grads[name].reshape(-1), rtol=PRINTED_RTOL,
                                       atol=0)
        assert log.console == [] and log.errors == []


def test_play_runs_to_the_end(browser, tmp_path):
    loss, names = reports.named_loss("1")
    page_file = tmp_path / "play.html"
    ag.explore(loss, names, interval_ms=50).save(page_file)
    with open_page(browser, page_file.as_uri()) as (page, log):
        total = int(page.get_attribute("#slider", "max")) + 1
        page.click("#play")
        assert page.text_content("#play") == "Pause"
        page.wait_for_function(
            "n => document.getElementById('position').textContent === `step ${n} of ${n}`",
            arg=total, timeout=10_000)
        assert page.text_content("#current-node") == "weights1"
        assert page.text_content("#play") == "Play"
        assert log.console == [] and log.errors == []


def test_page_without_graphviz_still_steps(browser, tmp_path, monkeypatch):
    import graphviz

    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Source, "pipe", missing)
    loss, names = reports.named_loss("1")
    page = ag.explore(loss, names)
    assert not page.graph_drawn
    page_file = tmp_path / "nodot.html"
    page.save(page_file)
    with open_page(browser, page_file.as_uri()) as (p, log):
        assert "Graphviz" in p.text_content("#graphviz-missing")
        p.click("#step")
        current = p.eval_on_selector_all(".current", "els => els.map(e => e.textContent)")
        assert current == [p.text_content("#current-node")]
        assert log.console == [] and log.errors == []


def test_jupyter_iframe_steps_inside_its_frame(browser, tmp_path):
    loss, names = reports.named_loss("2")
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><html><body><p id='cell'>output:</p>"
                    f"{ag.explore(loss, names)._repr_html_()}</body></html>", encoding="utf-8")
    with open_page(browser, host.as_uri()) as (page, log):
        frame = page.frame_locator("iframe")
        frame.locator("#step").click()
        frame.locator("#step").click()
        names_in_order = [s.name for s in ag.explore(loss, names).steps]
        assert frame.locator("#current-node").text_content() == names_in_order[2]
        assert page.query_selector("#current-node") is None  # the notebook's ids stay apart
        assert log.console == [] and log.errors == [] and log.requests == []


# where the current node and the loss are, against the graph's box and the window
IN_VIEW = """name => {
  const data = JSON.parse(document.getElementById("explore-data").textContent);
  const box = document.getElementById("graph").getBoundingClientRect();
  const top = document.querySelector("header").getBoundingClientRect().bottom;
  const seen = el => { const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= Math.max(box.top, top) - 1 && r.bottom <= Math.min(
      box.bottom, innerHeight) + 1 && r.left >= box.left - 1 && r.right <= box.right + 1; };
  const loss = data.nodes.find(n => n.name === name);
  return {current: seen(document.querySelector("#graph .current")),
          loss: seen(document.getElementById("node-" + loss.k)),
          scrollY: scrollY};
}"""


def _readme_xor_loss():
    """The README's XOR MLP (15 nodes): drawn taller than a 1400x900 window at Graphviz's size."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    rng = np.random.default_rng(0)
    params = {"w": ag.nn.init.xavier_uniform((2, 8), rng=rng), "b": np.zeros(8),
              "v": ag.nn.init.xavier_uniform((8, 1), rng=rng), "c": np.zeros(1)}
    p = {k: ag.Tensor(v, requires_grad=True, name=k) for k, v in params.items()}
    hidden = ag.tanh(X @ p["w"] + p["b"])
    return ag.nn.functional.mse_loss(ag.sigmoid(hidden @ p["v"] + p["c"]), y), {"X": X, "y": y}


def test_the_loss_is_in_view_at_start_and_the_current_node_always(browser, tmp_path):
    """issue 22: at 1400x900 the README's XOR graph starts with L in view (the drawing fits the
    window), and a graph too tall to fit (a chain of 40 tanh) scrolls to every current node."""
    loss, names = _readme_xor_loss()
    page_file = tmp_path / "xor.html"
    ag.explore(loss, names).save(page_file)
    with open_page(browser, page_file.as_uri()) as (page, log):
        page.set_viewport_size({"width": 1400, "height": 900})
        page.reload()
        shown = page.evaluate(IN_VIEW, "L")
        assert shown["loss"] and shown["current"]
        page.screenshot(path=str(_shots(tmp_path) / "explore_xor_start_1400x900.png"))
        assert log.console == [] and log.errors == []

    x = ag.Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(40):
        y = ag.tanh(y)
    page_file = tmp_path / "chain.html"
    ag.explore(y.sum()).save(page_file)
    with open_page(browser, page_file.as_uri()) as (page, log):
        page.set_viewport_size({"width": 1400, "height": 900})
        page.reload()
        assert not page.evaluate(IN_VIEW, "L")["loss"]  # too tall to fit: x is at the top
        total = int(page.get_attribute("#slider", "max")) + 1
        for i in range(total):
            if i:
                page.click("#step")
            assert page.evaluate(IN_VIEW, "L")["current"], f"step {i}"
        page.fill("#slider", "0")
        page.dispatch_event("#slider", "input")
        assert page.evaluate(IN_VIEW, "L")["current"]
        page.set_viewport_size({"width": 1000, "height": 500})  # and after a resize
        page.wait_for_timeout(100)
        assert page.evaluate(IN_VIEW, "L")["current"]
        assert log.console == [] and log.errors == []


def test_the_rule_is_labelled_with_the_op_it_belongs_to(browser, tmp_path):
    """issue 22: at h1 the rule shown is z2 = dot(h1, weights2)'s (the op reading h1), and the
    label says so, and that h1's own sigmoid applies at z1's step."""
    loss, names = reports.named_loss("1")
    page_file = tmp_path / "t1.html"
    ag.explore(loss, names).save(page_file)
    with open_page(browser, page_file.as_uri()) as (page, log):
        labels = {}
        total = int(page.get_attribute("#slider", "max")) + 1
        for _ in range(total - 1):
            page.click("#step")
            if page.get_attribute("#phase", "data-phase") == "backward":
                labels[page.text_content("#current-node")] = page.text_content("#rule-label")
        assert labels["h1"].startswith("local rule of z2 = dot(h1, weights2), the op that "
                                       "reads h1")
        assert "h1's own op (sigmoid) applies its rule at the step of z1" in labels["h1"]
        assert labels["z1"].startswith("local rule of h1 = sigmoid(z1)")
        assert labels["L"].startswith("the start of the backward pass")
        assert log.console == [] and log.errors == []
