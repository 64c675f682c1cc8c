"""Headless Debian Chromium driven by Playwright for Python (no browser download), for the
explorer's page tests; skipped with a reason when either is missing (failed under CI=true,
where `make test`'s set-up installs both)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI: scripts/ensure_chromium.sh and the test extra install it)")
    pytest.skip(reason)


def chromium_executable() -> str:
    """Debian's chromium binary (skips or fails when it is missing)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("no `chromium` on PATH (scripts/ensure_chromium.sh installs it)")
    return path


@dataclass
class PageLog:
    """What the page said: console errors and warnings, uncaught errors, non-file requests."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def chromium_context() -> Iterator[object]:
    """One headless Chromium with a fresh, temporary profile (a Playwright browser context)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    exe = chromium_executable()
    with tempfile.TemporaryDirectory(prefix="ag-chromium-") as profile, \
            sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, args=LAUNCH_ARGS, headless=True,
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@contextmanager
def open_page(context: object, url: str) -> Iterator[tuple[object, PageLog]]:
    """A new tab of `context` showing `url`; yields (Playwright page, its log)."""
    log = PageLog()
    page = context.new_page()
    try:
        page.on("console", lambda m: m.type in ("error", "warning")
                and log.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: log.errors.append(str(e)))
        page.on("request", lambda r: not r.url.startswith(("file:", "data:", "about:"))
                and log.requests.append(r.url))
        page.goto(url)
        yield page, log
    finally:
        page.close()
