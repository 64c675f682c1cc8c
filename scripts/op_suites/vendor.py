"""Copy each suite's files, at its pinned commit, from a local git copy into vendor/<suite>/.

`python scripts/op_suites/vendor.py [--git-dir owner/name=PATH ...]`: PATH is any clone (or bare
git directory) of the repository that has the commit; by default the machine's mirror under
/work/.mirror/<owner>+<name>/repo. Each file's sha256 is checked against suites.py, and a
VENDORED.txt records the repository, commit and paths next to the suite's licence file.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suites import SUITES, Suite  # noqa: E402

VENDOR = HERE / "vendor"
MIRRORS = Path("/work/.mirror")


def _show(git_dir: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def vendor_suite(suite: Suite, git_dir: Path) -> None:
    """Write the suite's files and licence under vendor/<name>/, checking their sha256."""
    out = VENDOR / suite.name
    for path, expected in suite.files.items():
        text = _show(git_dir, suite.commit, path)
        digest = hashlib.sha256(text).hexdigest()
        if expected and digest != expected:
            raise SystemExit(f"{suite.repo}:{path}@{suite.commit[:10]} has sha256 {digest}, "
                             f"suites.py expects {expected}")
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(text)
    (out / suite.licence).write_bytes(_show(git_dir, suite.commit, suite.licence))
    (out / "VENDORED.txt").write_text(
        f"https://github.com/{suite.repo} at commit {suite.commit}\n"
        f"licence: {suite.licence} (MIT), copied unchanged\n"
        + "".join(f"{p}\n" for p in suite.files))
    print(f"vendored {suite.repo}@{suite.commit[:10]} -> {out.relative_to(HERE.parent.parent)}")


def is_vendored(suite: Suite) -> bool:
    return all((VENDOR / suite.name / p).exists() for p in suite.files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--git-dir", action="append", default=[], metavar="OWNER/NAME=PATH")
    parser.add_argument("--suite", choices=sorted(SUITES), action="append")
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.git_dir)
    for name in args.suite or sorted(SUITES):
        suite = SUITES[name]
        where = Path(given.get(suite.repo, MIRRORS / suite.repo.replace("/", "+") / "repo"))
        vendor_suite(suite, _git_dir(where))


if __name__ == "__main__":
    main()
