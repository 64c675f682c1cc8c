"""One table, two renderings: rows of text cells as aligned plain text or as escaped HTML."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

__all__ = ["html_table", "text_table"]


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a table: columns padded to their widest cell, two spaces apart, a rule under
    the header; trailing spaces dropped."""
    _check_widths(head, rows)
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def html_table(head: Sequence[str], rows: Sequence[Sequence[str]],
               style: Callable[[int, int], str | None] | None = None) -> str:
    """A `<table>` with every cell escaped; `style(row, column)` may give a cell inline CSS."""
    _check_widths(head, rows)

    def td(i: int, j: int, text: str) -> str:
        css = style(i, j) if style else None
        attr = f' style="{html.escape(css)}"' if css else ""
        return f"<td{attr}>{html.escape(text)}</td>"

    heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(td(i, j, c) for j, c in enumerate(r)) + "</tr>"
                   for i, r in enumerate(rows))
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _check_widths(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    for r in rows:
        if len(r) != len(head):
            raise ValueError(f"table row has {len(r)} cells, the header {len(head)}: {list(r)}")
