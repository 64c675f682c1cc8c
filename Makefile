# autograd_nn: build / test entry points (GNU make).
# `make test` is the command CI runs (.ci/run).

PY      ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
PIP     := $(VPY) -m pip
OUT     ?= output
PYTEST_ARGS ?=

# The CPU build of torch lies in /opt/wheels on these machines; pip is usually
# configured to look there already, this only makes it explicit when present.
WHEELS  ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEELS)/*.whl),--find-links $(WHEELS))

.PHONY: all venv graphviz chromium install-demo install-test demo test lint bench clean help

all: test

help:
	@echo "make demo    - install runtime + examples deps, run the demo into $(OUT)/"
	@echo "make test    - install test deps, run the full test suite (what CI runs)"
	@echo "make lint    - ruff check"
	@echo "make bench   - run benchmarks/run_all.py"
	@echo "make clean   - remove $(VENV), $(OUT) and build artefacts"

# --- environment -----------------------------------------------------------

venv: $(VPY)

$(VPY):
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

graphviz:
	bash scripts/ensure_graphviz.sh

# the explorer's browser tests only (the demo needs no browser)
chromium:
	bash scripts/ensure_chromium.sh

# Stamp files: reinstall only when pyproject.toml changes (or after `make clean`).
$(VENV)/.installed-demo: pyproject.toml | $(VPY)
	$(PIP) install -q $(FIND_LINKS) -e '.[examples]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VPY)
	$(PIP) install -q $(FIND_LINKS) -e '.[test,examples,dev]'
	touch $@

install-demo: $(VENV)/.installed-demo graphviz

install-test: $(VENV)/.installed-test graphviz chromium

# --- tasks -----------------------------------------------------------------

demo: install-demo
	$(VPY) -m autograd_nn demo --out $(OUT)

test: install-test
	$(VPY) -m pytest $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check .

bench: install-test
	$(VPY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
