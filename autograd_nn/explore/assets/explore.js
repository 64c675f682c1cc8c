(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("explore-data").textContent);
  var steps = data.steps;
  var pos = 0;
  var timer = null;
  var slider = document.getElementById("slider");
  var playButton = document.getElementById("play");
  slider.max = String(steps.length - 1);

  var graphBox = document.getElementById("graph");
  var header = document.querySelector("header");
  var MIN_SCALE = 0.6;  // the graph is shrunk to fit the window's height, down to this scale

  function nodeElement(k) { return document.getElementById("node-" + k); }

  // The graph's box stays in view (sticky under the header) and is as tall as the window
  // allows; a drawing taller than that is shrunk to fit (the whole graph, the loss too, is then
  // in view from the start), down to MIN_SCALE of Graphviz's size, and scrolls within the box
  // beyond that.
  function fit() {
    var room = window.innerHeight - header.offsetHeight - 24;
    graphBox.style.top = (header.offsetHeight + 12) + "px";
    graphBox.style.maxHeight = Math.max(room, 160) + "px";
    var svg = graphBox.querySelector("svg");
    if (!svg) { return; }
    svg.style.height = "";
    svg.style.width = "";
    var inner = graphBox.clientHeight - 12;  // less the box's padding
    var shown = svg.getBoundingClientRect().height;
    var natural = svg.height && svg.height.baseVal ? svg.height.baseVal.value : shown;
    if (shown > inner && inner > 0) {
      svg.style.height = Math.max(inner, natural * MIN_SCALE) + "px";
      svg.style.width = "auto";
    }
  }

  // Scroll the graph's box (and, if need be, the page) so that the current node is in view.
  function reveal(el) {
    if (!el) { return; }
    var box = graphBox.getBoundingClientRect(), r = el.getBoundingClientRect(), pad = 8;
    if (r.top < box.top + pad || r.bottom > box.bottom - pad) {
      graphBox.scrollTop += (r.top + r.bottom) / 2 - (box.top + box.bottom) / 2;
    }
    if (r.left < box.left + pad || r.right > box.right - pad) {
      graphBox.scrollLeft += (r.left + r.right) / 2 - (box.left + box.right) / 2;
    }
    r = el.getBoundingClientRect();
    var top = header.getBoundingClientRect().bottom;
    if (r.top < top || r.bottom > window.innerHeight) {
      window.scrollBy(0, (r.top + r.bottom) / 2 - (top + window.innerHeight) / 2);
    }
  }

  function setClass(el, name, on) {
    if (!el) { return; }
    if (on) { el.classList.add(name); } else { el.classList.remove(name); }
  }

  function add(parent, tag, text, attrs) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) { el.textContent = text; }
    if (attrs) { Object.keys(attrs).forEach(function (key) { el.setAttribute(key, attrs[key]); }); }
    parent.appendChild(el);
    return el;
  }

  function highlight() {
    var forwardDone = {}, gradDone = {};
    for (var i = 0; i <= pos; i++) {
      var s = steps[i];
      if (s.phase === "forward") { forwardDone[s.k] = true; } else { gradDone[s.k] = true; }
    }
    data.nodes.forEach(function (n) {
      var el = nodeElement(n.k);
      setClass(el, "computed", !!forwardDone[n.k]);
      setClass(el, "pending", !forwardDone[n.k]);
      setClass(el, "has-grad", !!gradDone[n.k]);
      setClass(el, "current", n.k === steps[pos].k);
    });
  }

  function showForward(box, s) {
    add(box, "div", s.kind === "param" || s.kind === "input" ? "leaf" : "computed",
        {"class": "label"});
    add(box, "pre", s.title, {"id": "forward-text"});
    add(box, "div", "value", {"class": "label"});
    add(box, "pre", s.value, {"id": "node-value"});
  }

  function showBackward(box, s) {
    if (s.forward) {
      add(box, "div", "forward step", {"class": "label"});
      add(box, "pre", s.forward, {"id": "forward-text"});
    }
    add(box, "div", "gradient arriving at " + s.name + " (" + s.norm + ")", {"class": "label"});
    add(box, "pre", s.grad, {"id": "grad-values"});
    add(box, "div", s.rule_label || "local rule (as ag.explain writes it)",
        {"class": "label", "id": "rule-label"});
    add(box, "pre", [s.rule].concat(s.expanded ? [s.expanded] : [], s.notes).join("\n"),
        {"id": "rule"});
    add(box, "div", "with the numbers" + (s.scope ? " (" + s.scope + ")" : ""),
        {"class": "label", "id": "plugged-scope"});
    add(box, "pre", [s.plugged].concat(s.plugged_notes).join("\n"), {"id": "plugged"});
    if (s.contributions.length > 1) {
      add(box, "div", s.name + " is used " + s.contributions.length +
          " times: the contributions are summed", {"class": "label"});
      var list = add(box, "ol", null, {"id": "contributions"});
      s.contributions.forEach(function (c) {
        var item = add(list, "li", null, {"class": "contribution"});
        add(item, "div", "from " + c.consumer + ": " + c.term + "  (|.| = " + c.norm + ")");
        add(item, "pre", c.value);
      });
    }
    if (s.fd) {
      add(box, "div", "finite-difference check (made with the page)", {"class": "label"});
      add(box, "div", s.fd.summary, {"id": "fd", "class": s.fd.agrees ? "fd-ok" : "fd-bad"});
      add(box, "pre", s.fd.rows.join("\n"), {"id": "fd-rows"});
    }
  }

  function render() {
    var s = steps[pos];
    var phase = document.getElementById("phase");
    phase.textContent = s.phase === "forward" ? "forward pass" : "backward pass";
    phase.className = "phase " + s.phase;
    phase.setAttribute("data-phase", s.phase);
    document.getElementById("current-node").textContent = s.name;
    document.getElementById("node-shape").textContent = s.shape;
    var box = document.getElementById("details");
    while (box.firstChild) { box.removeChild(box.firstChild); }
    if (s.phase === "forward") { showForward(box, s); } else { showBackward(box, s); }
    slider.value = String(pos);
    document.getElementById("position").textContent =
      "step " + (pos + 1) + " of " + steps.length;
    highlight();
    reveal(nodeElement(s.k));
  }

  function go(p) {
    pos = Math.max(0, Math.min(steps.length - 1, p));
    render();
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playButton.textContent = "Play";
  }

  document.getElementById("step").addEventListener("click", function () { stop(); go(pos + 1); });
  document.getElementById("back").addEventListener("click", function () { stop(); go(pos - 1); });
  slider.addEventListener("input", function () { stop(); go(parseInt(slider.value, 10)); });
  playButton.addEventListener("click", function () {
    if (timer !== null) { stop(); return; }
    if (pos >= steps.length - 1) { go(0); }
    playButton.textContent = "Pause";
    timer = setInterval(function () {
      go(pos + 1);
      if (pos >= steps.length - 1) { stop(); }
    }, data.interval_ms);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "ArrowRight") { stop(); go(pos + 1); }
    if (e.key === "ArrowLeft") { stop(); go(pos - 1); }
  });
  window.addEventListener("resize", function () { fit(); reveal(nodeElement(steps[pos].k)); });
  fit();
  go(0);
}());
