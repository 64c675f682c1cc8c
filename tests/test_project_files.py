"""The files around the code: make targets and their help, the licence, the changelog, the
package's type-hint marker, and contributor docs that name only paths that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(*args: str) -> str:
    r = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def phony_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^\.PHONY:(.*)$", text, re.M).group(1).split()


@needs_make
def test_make_help_lists_every_target():
    helped = {ln.split()[1] for ln in make("help").splitlines() if ln.startswith("make ")}
    plumbing = {"all", "venv", "graphviz", "chromium", "install-demo", "install-test", "help"}
    assert set(phony_targets()) - plumbing == helped
    assert {"demo", "test", "docs", "notebooks"} <= helped


@needs_make
def test_make_notebooks_installs_a_front_end_from_an_extra_and_opens_the_examples():
    plan = make("-n", "-B", "notebooks", "VENV=/nonexistent/venv")
    assert "-e '.[examples,notebooks]'" in plan
    assert re.search(r"/nonexistent/venv/bin/jupyter lab .*examples/", plan)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^notebooks = \[\n    "jupyterlab', pyproject, re.M)


@needs_make
def test_make_docs_installs_pdoc_from_the_docs_extra():
    plan = make("-n", "-B", "docs", "VENV=/nonexistent/venv", "DOCS_OUT=somewhere")
    assert "-e '.[docs]'" in plan and "scripts/build_docs.py somewhere" in plan
    assert "build/" in (ROOT / ".gitignore").read_text().split()


def test_py_typed_is_shipped():
    assert (ROOT / "autograd_nn" / "py.typed").exists()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'autograd_nn = ["py.typed"]' in pyproject.split("[tool.setuptools.package-data]")[1]


def test_licence_is_mit_for_the_contributors():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 autograd_nn contributors\n")


def test_changelog_starts_with_unreleased():
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased" and "0.1.0" in headings


@pytest.mark.parametrize("doc", ["CONTRIBUTING.md", "README.md"])
def test_contributor_docs_name_only_paths_that_exist(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    roots = "autograd_nn_course|autograd_nn|tests|benchmarks|examples|docs|scripts"
    paths = set(re.findall(rf"`((?:{roots})/[\w./]*)`", text))
    assert paths, doc
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert missing == []


def test_core_api_documents_no_private_attribute():
    text = (ROOT / "docs" / "CORE_API.md").read_text(encoding="utf-8")
    assert re.findall(r"`[^`]*\b_[a-z]\w*[^`]*`", text) == []
