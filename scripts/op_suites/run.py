"""Run other projects' op test suites on autograd_nn through name-only adapters; count outcomes.

`python scripts/op_suites/run.py [--suite NAME] [--list-failures]` (see README.md). Each test is
counted once as pass, missing-op, refused, wrong-value, wrong-dtype, not-raised, complex (HIPS's
out-of-scope complex-number tests), error-other or skip; every wrong value is always listed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from classify import CATEGORIES  # noqa: E402
from suites import SUITES, Suite  # noqa: E402
from vendor import MIRRORS, VENDOR, _git_dir, is_vendored, vendor_suite  # noqa: E402

ROOT = HERE.parent.parent  # the checkout whose autograd_nn is measured
RESULTS = HERE / "results"
ALWAYS_LISTED = ("wrong-value", "wrong-dtype")


def run_suite(suite: Suite, timeout: int, python: str) -> tuple[list[dict], str]:
    """Run one suite's tests in a fresh interpreter; return its records and pytest's tail."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{suite.name}.jsonl"
    out.unlink(missing_ok=True)
    adapters = HERE / "adapters"
    env = dict(os.environ)
    env.update(suite.env)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(adapters / suite.adapter), str(adapters), str(HERE),
                                       str(ROOT)]),
        "OP_SUITES_OUT": str(out),
        "OP_SUITES_VENDOR": str(VENDOR),
        "OP_SUITES_TIMEOUT": str(timeout),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    where = VENDOR / suite.name
    with tempfile.TemporaryDirectory() as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")  # none of the project's settings (warnings as errors)
        cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-p", "classify", "-q",
               "--no-header", "-p", "no:xdist", "-c", str(ini), "--rootdir", str(where),
               *[str(where / t) for t in suite.tests]]
        proc = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True)
    raw = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    records = _one_per_test(raw)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    return records, tail


# a test with subtests is counted once, as its most telling outcome
_PRIORITY = ("wrong-value", "wrong-dtype", "not-raised", "missing-op", "refused", "error-other",
             "complex", "skip", "pass")


def _one_per_test(raw: list[dict]) -> list[dict]:
    by_test: dict[str, dict] = {}
    for r in raw:
        kept = by_test.get(r["test"])
        if kept is None or _PRIORITY.index(r["category"]) < _PRIORITY.index(kept["category"]):
            by_test[r["test"]] = r
    return list(by_test.values())


def _op_of(detail: str) -> str:
    return detail.split("\n")[0][:300]


def report(results: dict[str, tuple[list[dict], str]], list_failures: bool) -> None:
    """Print the counts table, then the wrong values (and, if asked, every other failure)."""
    cols = ["tests", *CATEGORIES, "target"]
    print(f"{'suite':<10}" + "".join(f"{c:>12}" for c in cols))
    for name, (records, _tail) in results.items():
        counts = collections.Counter(r["category"] for r in records)
        row = [len(records), *(counts.get(c, 0) for c in CATEGORIES),
               f">={SUITES[name].target}"]
        print(f"{name:<10}" + "".join(f"{v:>12}" for v in row))
    for name, (records, tail) in results.items():
        print(f"\n[{name}] pytest: {tail.splitlines()[-1] if tail else '(no output)'}")
        shown = CATEGORIES[1:] if list_failures else ALWAYS_LISTED
        for category in shown:
            hits = [r for r in records if r["category"] == category]
            if not hits or category == "pass":
                continue
            print(f"  {category} ({len(hits)}):")
            for r in hits:
                print(f"    {r['test'].split('::', 1)[-1]}: {_op_of(r['detail'])}")
        if not any(r["category"] in ALWAYS_LISTED for r in records):
            print("  no wrong value or dtype")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), action="append",
                        help="run only this suite (repeatable); default all three")
    parser.add_argument("--list-failures", action="store_true",
                        help="list every failing test with its reason, not only wrong values")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test (default 60)")
    parser.add_argument("--jobs", type=int, default=1, help="suites run at once (default 1)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch")
    args = parser.parse_args(argv)
    names = args.suite or list(SUITES)
    for name in names:
        if not is_vendored(SUITES[name]):
            suite = SUITES[name]
            vendor_suite(suite, _git_dir(MIRRORS / suite.repo.replace("/", "+") / "repo"))
    start = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        done = pool.map(lambda n: run_suite(SUITES[n], args.timeout, args.python), names)
        results = dict(zip(names, done))
    report(results, args.list_failures)
    print(f"\n{time.monotonic() - start:.0f} s; autograd_nn from {ROOT}; "
          f"per-test records in {RESULTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
