"""The README's Python examples run as written (in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # the examples save files
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    ag = namespace["ag"]
    assert namespace["report"]["weights1"].verdict == "opposite sign"
    assert float(namespace["value"]) > 0 and set(namespace["grads"]) == {"w", "b", "v"}
    assert (tmp_path / "xor.npz").exists()
    np.testing.assert_allclose(ag.grad(ag.grad(lambda x: x**3))(2.0), 12.0)
