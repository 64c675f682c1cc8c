"""The explorer page: one self-contained HTML file (script, style, SVG and data inline)."""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

# nothing may be fetched: the page runs only what it carries inline
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no `</`, `<!--` or line separators can end or bend it."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(title: str, svg: str | None, missing_note: str, data: dict[str, Any]) -> str:
    """The whole page. `svg` is the drawn graph (None: Graphviz missing, `missing_note` says
    so and the page lists the nodes instead)."""
    if svg is None:
        items = "".join(f'<li id="node-{n["k"]}" class="node">{html.escape(n["name"])}</li>'
                        for n in data["nodes"])
        picture = (f'<p class="missing" id="graphviz-missing">{html.escape(missing_note)}</p>'
                   f'<ul class="node-list">{items}</ul>')
    else:
        picture = svg
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_POLICY}">
<title>{html.escape(title)}</title>
<style>{_asset("explore.css")}</style>
</head>
<body>
<header>
  <h1>{html.escape(title)}</h1>
  <div class="controls">
    <button id="back" type="button" title="one step back (left arrow)">&#9664; Back</button>
    <button id="step" type="button" title="one step forward (right arrow)">Step &#9654;</button>
    <button id="play" type="button">Play</button>
    <input id="slider" type="range" min="0" value="0" aria-label="step">
    <span id="position"></span>
  </div>
</header>
<main>
  <section id="graph">{picture}</section>
  <section id="panel">
    <div class="phase" id="phase"></div>
    <h2>node <span id="current-node"></span> <span id="node-shape" class="shape"></span></h2>
    <div id="details"></div>
  </section>
</main>
<script type="application/json" id="explore-data">{_script_json(data)}</script>
<script>{_asset("explore.js")}</script>
</body>
</html>
"""
