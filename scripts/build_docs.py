"""Build the API reference (HTML, offline) with pdoc: `make docs`, or
`python scripts/build_docs.py [OUT]` (default build/docs)."""

from __future__ import annotations

import sys
from pathlib import Path

# The public API. pdoc adds the submodules a package names in `__all__` (autograd_nn: nn, optim,
# check, viz, compiler, engine, state, tutorials; nn: functional, init); the rest are listed
# (io too: it stays out of `__all__` so that `from autograd_nn import *` keeps the stdlib's io),
# with the course (autograd_nn_course, the modules `autograd_nn.tutorials` names).
# tests/test_docs.py checks that every public name has a docstring and type hints and that
# each public module gets a page. Internals (the op rows, tensor.py, the picture and compiler
# machinery) are described in CONTRIBUTING.md and docs/CORE_API.md instead.
MODULES = ("autograd_nn", "autograd_nn.functions", "autograd_nn.io", "autograd_nn.transforms.grad",
           "autograd_nn.core.engine", "autograd_nn.core.state",
           "autograd_nn.userfile", "autograd_nn.cli", "autograd_nn_course")
ROOT = Path(__file__).resolve().parents[1]


def build(out: Path) -> Path:
    """Write the reference into `out` (replaced); returns its index.html."""
    try:
        import pdoc
        import pdoc.render
    except ImportError:
        raise SystemExit("make docs needs pdoc: pip install -e '.[docs]'") from None
    sys.path.insert(0, str(ROOT))  # document this checkout, also without an editable install
    pdoc.render.configure(docformat="markdown", footer_text="autograd_nn", search=True,
                          show_source=False)
    pdoc.pdoc(*MODULES, output_directory=out)
    return out / "index.html"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "docs"
    index = build(target)
    print(f"API reference: {index.resolve()}")
