"""A pytest plugin sorting each test's outcome into the categories run.py counts.

Loaded with `-p classify`; writes one JSON line per test to $OP_SUITES_OUT. A test that runs past
$OP_SUITES_TIMEOUT seconds is stopped and counted as error-other. With $OP_SUITES_COMPLEX set, a
failing test whose source uses complex numbers is counted as complex (out of scope), not a failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import traceback
from typing import Any

import pytest

CATEGORIES = ("pass", "missing-op", "refused", "wrong-value", "wrong-dtype", "not-raised",
              "complex", "error-other", "skip")

_COMPLEX = re.compile(r"complex|\b1j\b|\.real\b|\.imag\b|np\.real|np\.imag|np\.conj|np\.angle")


class TestTimeout(Exception):
    """The test ran past the per-test time limit."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _raised_in_autograd_nn(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "autograd_nn" in frames[-1].filename.replace("\\", "/").split("/")


def classify(exc: BaseException) -> str:
    """One category for the exception a failing test raised."""
    chain = _chain(exc)
    for e in chain:
        if type(e).__name__ == "MissingName":
            return "missing-op"
    for e in chain:
        text = str(e)
        if isinstance(e, AssertionError):
            if "dtype mismatch" in text:
                return "wrong-dtype"
            if " not raised" in text:
                return "not-raised"
            return "wrong-value"
        if "dtype mismatch" in text:
            return "wrong-dtype"
        if re.search(r"(forward|backward) pass.* failed", text):
            return "wrong-value"
    root = chain[-1]
    if isinstance(root, TestTimeout):
        return "error-other"
    if isinstance(root, AttributeError) and "has no attribute" in str(root):
        return "missing-op"
    if isinstance(root, TypeError) and re.search(
            r"unexpected keyword argument|positional argument|required positional", str(root)):
        return "missing-op"
    if isinstance(root, NotImplementedError):
        return "missing-op"
    if any(_raised_in_autograd_nn(e) for e in chain):  # its own error, or NumPy's it re-raised
        return "refused"
    return "error-other"


def _short(exc: BaseException) -> str:
    parts = []
    for e in reversed(_chain(exc)):
        text = " ".join(str(e).split())
        parts.append(f"{type(e).__name__}: {text[:400]}")
    return " <- ".join(reversed(parts))[:900]


def _is_complex(item: pytest.Item) -> bool:
    try:
        import inspect

        return bool(_COMPLEX.search(inspect.getsource(item.obj)))
    except (OSError, TypeError, AttributeError):
        return False


def _alarm(signum: int, frame: Any) -> None:
    raise TestTimeout(f"test ran past {os.environ.get('OP_SUITES_TIMEOUT')} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    limit = int(os.environ.get("OP_SUITES_TIMEOUT", "60"))
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and report.skipped:
        _write(item, "skip", str(report.longrepr)[:300])
    if report.when != "call":
        if report.when == "setup" and report.failed and call.excinfo is not None:
            _write(item, classify(call.excinfo.value), _short(call.excinfo.value))
        return
    if report.passed:
        _write(item, "pass", "", report.duration)
    elif report.skipped:
        _write(item, "skip", str(report.longrepr)[:300])
    else:
        exc = call.excinfo.value
        category = classify(exc)
        complex_input = "complex" in str(exc) or _is_complex(item)
        if os.environ.get("OP_SUITES_COMPLEX") and category != "wrong-value" and complex_input:
            category = "complex"  # out of scope by design; a wrong value still counts as one
        _write(item, category, _short(exc), report.duration)


def _write(item: pytest.Item, category: str, detail: str, seconds: float = 0.0) -> None:
    record = {"test": item.nodeid, "category": category, "detail": detail,
              "seconds": round(seconds, 2)}
    with open(os.environ["OP_SUITES_OUT"], "a") as out:
        out.write(json.dumps(record) + "\n")
