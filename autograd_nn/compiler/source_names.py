"""The user's own variable names for traced values: where the user wrote
`layer1 = ag.sigmoid(X @ W1)`, the value the statement assigns is called `layer1`.

Each recorded op knows its user frame's `file:line in function`. A name is taken only when
that line holds exactly one statement, a plain `name = ...` (one target, a bare name) run by
that very function (not a lambda or comprehension inside it), and exactly one of the ops
recorded at the site is not consumed by another op of the site: the value assigned. Anything
else (no source, tuple targets, several statements on a line, a loop whose iterations each
leave a value) gives no name, and the caller's z1/h1 names stay.
"""

from __future__ import annotations

import ast
import functools
import linecache
import re
from collections.abc import Sequence

from ..core.tensor import Tensor

_SITE = re.compile(r"(?P<file>.+):(?P<line>\d+) in (?P<function>\S+)")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def assigned_names(recorded: Sequence[tuple[Tensor, int]]) -> dict[int, str]:
    """id(node) -> the variable its statement assigns, for the ops that are such a value;
    `recorded` holds every op in the order made, with its user frame's depth."""
    groups: dict[tuple, list[int]] = {}  # one statement (at one depth) -> its ops' positions
    targets: dict[tuple, str] = {}
    at_site: dict[str, tuple[tuple, str] | None] = {}  # each site looked up once
    for k, (t, depth) in enumerate(recorded):
        if not t._where or t._where.startswith("backward of "):
            continue
        if t._where not in at_site:
            at_site[t._where] = _statement_at(t._where)
        found = at_site[t._where]
        if found is not None:
            statement, name = found
            groups.setdefault((statement, depth), []).append(k)
            targets[(statement, depth)] = name
    names: dict[int, str] = {}
    for key, positions in groups.items():
        members = {id(recorded[k][0]) for k in positions}
        consumed = {id(p) for k in positions for p in recorded[k][0].parents if id(p) in members}
        sinks = [k for k in positions if id(recorded[k][0]) not in consumed]
        if len(sinks) == 1 and not _passed_to_a_call(recorded, sinks[0]):
            names[id(recorded[sinks[0]][0])] = targets[key]
    return names


def _passed_to_a_call(recorded: Sequence[tuple[Tensor, int]], k: int) -> bool:
    """True when a function of the user's that the statement calls (a deeper frame, before the
    statement's frame records again) uses the value: the statement assigns what it returns."""
    value, depth = recorded[k]
    for j in range(k + 1, len(recorded)):
        t, deeper = recorded[j]
        if deeper <= depth:
            return False
        if any(p is value for p in t.parents):
            return True
    return False


def _statement_at(site: str) -> tuple[tuple, str] | None:
    """(the statement at `site`, the name it assigns) when it is a plain `name = ...` run by
    the site's own function."""
    m = _SITE.fullmatch(site)
    if m is None:
        return None
    lines = linecache.getlines(m["file"])
    if not lines:
        return None
    found = _statement_targets("".join(lines)).get((int(m["line"]), m["function"]))
    if found is None:
        return None
    first_line, name = found
    return (m["file"], first_line, m["function"]), name


@functools.lru_cache(maxsize=64)
def _statement_targets(source: str) -> dict[tuple[int, str], tuple[int, str]]:
    """(line, enclosing function's name) -> (the statement's first line, the name it assigns),
    for every line of `source` covered by exactly one statement, a simple one assigning one
    bare name."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    covering: dict[int, list[tuple[ast.stmt, str]]] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else scope
            if isinstance(child, ast.stmt):
                for line in _lines_of(child):
                    covering.setdefault(line, []).append((child, scope))
            visit(child, inner)

    visit(module, "<module>")
    targets = {}
    for line, found in covering.items():
        if len(found) != 1:
            continue  # several statements share the line
        statement, scope = found[0]
        name = _plain_target(statement)
        if name is not None:
            targets[(line, scope)] = (statement.lineno, name)
    return targets


def _lines_of(statement: ast.stmt) -> range:
    """The lines a statement covers on its own: all of a simple one, the header of a compound
    one (`if cond:`, `for x in xs:`)."""
    end = statement.end_lineno or statement.lineno
    if _is_compound(statement):
        first = min(getattr(n, "lineno", end) for n in _bodies(statement))
        end = max(statement.lineno, first - 1) if first > statement.lineno else statement.lineno
    return range(statement.lineno, end + 1)


def _bodies(statement: ast.stmt) -> list[ast.AST]:
    return [n for field in ("body", "orelse", "finalbody", "handlers", "cases")
            for n in getattr(statement, field, None) or ()] or [statement]


def _is_compound(node: ast.stmt) -> bool:
    return bool(getattr(node, "body", None) or getattr(node, "cases", None)) or \
        isinstance(node, ast.ClassDef)


def _plain_target(statement: ast.stmt) -> str | None:
    """`name` for `name = value` or `name: type = value` whose value opens no scope of its own
    (a lambda, a comprehension: their ops run in another frame)."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    if any(isinstance(n, (*_SCOPES, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
           for n in ast.walk(value)):
        return None
    return target.id
