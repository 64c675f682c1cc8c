# autograd_nn: build / test entry points (GNU make).
# `make test` is the command CI runs (.ci/run).

PY      ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
PIP     := $(VPY) -m pip
OUT     ?= output
DOCS_OUT ?= build/docs
NOTEBOOK_ARGS ?=
# Jupyter refuses to run as root unless told to (containers, CI machines)
ROOT_ARGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# the suite runs on every core (pytest-xdist); PYTEST_ARGS="-n 0" runs it in one process
PYTEST_ARGS ?= -n auto

# The CPU build of torch lies in /opt/wheels on these machines; pip is usually
# configured to look there already, this only makes it explicit when present.
WHEELS  ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEELS)/*.whl),--find-links $(WHEELS))

.PHONY: all venv graphviz chromium install-demo install-test demo test test-backends lint bench docs notebooks clean help

all: test

help:
	@echo "make demo       - install runtime + examples deps, run the demo into $(OUT)/"
	@echo "make test       - install test deps, run the full test suite (what CI runs)"
	@echo "make test-backends - every op row under the numba and JAX compile backends (minutes)"
	@echo "make lint       - ruff check"
	@echo "make bench      - run benchmarks/run_all.py"
	@echo "make docs       - build the API reference (HTML, offline, pdoc) into $(DOCS_OUT)/"
	@echo "make notebooks  - install JupyterLab and open the notebooks in examples/"
	@echo "                  (NOTEBOOK_ARGS=--no-browser on a machine without a browser)"
	@echo "make clean      - remove $(VENV), $(OUT) and build artefacts"

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

$(VENV)/.installed-docs: pyproject.toml | $(VPY)
	$(PIP) install -q $(FIND_LINKS) -e '.[docs]'
	touch $@

$(VENV)/.installed-notebooks: pyproject.toml | $(VPY)
	$(PIP) install -q $(FIND_LINKS) -e '.[examples,notebooks]'
	touch $@

install-demo: $(VENV)/.installed-demo graphviz

install-test: $(VENV)/.installed-test graphviz chromium

# --- tasks -----------------------------------------------------------------

demo: install-demo
	$(VPY) -m autograd_nn demo --out $(OUT)

test: install-test
	$(VPY) -m pytest $(PYTEST_ARGS)

# every op row under every compile backend (numba compiles ~500 kernels: minutes)
test-backends: install-test
	AUTOGRAD_NN_FULL_MATRIX=1 $(VPY) -m pytest $(PYTEST_ARGS) tests/test_compile_backends.py

lint: install-test
	$(VENV)/bin/ruff check .

bench: install-test
	$(VPY) benchmarks/run_all.py

docs: $(VENV)/.installed-docs
	$(VPY) scripts/build_docs.py $(DOCS_OUT)

notebooks: $(VENV)/.installed-notebooks graphviz
	$(VENV)/bin/jupyter lab $(ROOT_ARGS) $(NOTEBOOK_ARGS) examples/

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
