"""`Compiled.save` with several specialisations: one NumPy-only module holding each generated
function, the module-level names they share written once, and a dispatcher that picks one.

Each specialisation's module was generated with its own names, so two may define the same
name differently (a constant `C1`, `VALUES`): such a name, and every name whose definition
reads it, is renamed in the later specialisation, only where it refers to the module-level one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

from . import literals
from .errors import CompileError

# names whose module-level value changes at run time: a function that sets one (bind sets
# OUTSIDE) is shared only together with it
_STATE_OF = {"bind": "OUTSIDE", "bind_function": "FUNCTION"}

DISPATCH_TEMPLATE = '''


# --- the dispatcher -----------------------------------------------------------------------
ARGUMENT_NAMES = {argument_names}
# the signature of the arguments (structure, shapes, dtypes, static values) -> the
# specialisations written for it, tried in order (several when guards on values differ)
SPECIALISATIONS = {{
{table}
}}


def signature_of(tree):
    """The signature the dispatcher looks arguments up by, as autograd_nn.compile keys them."""
    if type(tree) is dict or isinstance(tree, dict):
        return ("dict", tuple((k, signature_of(v)) for k, v in tree.items()))
    if isinstance(tree, (list, tuple)):
        return (type(tree).__name__, tuple(signature_of(v) for v in tree))
    if isinstance(tree, np.ndarray) or type(tree).__name__ == "Tensor":
        return (type(tree).__name__, tuple(tree.shape), np.dtype(tree.dtype).str)
    if isinstance(tree, (float, complex, np.inexact)) and tree != tree:
        return ("static", type(tree).__name__, "nan")
    if isinstance(tree, (float, np.floating)) and tree == 0:
        return ("static", type(tree).__name__, tree, bool(np.signbit(tree)))
    return ("static", type(tree).__name__, tree)


def describe_signature(key, name):
    """One `name: (shape) dtype` or `name = value (static)` per leaf of a signature."""
    if key[0] == "static":
        return [f"{{name}} = {{key[2]!r}} (static)"]
    if key[0] == "dict":
        return [line for k, v in key[1] for line in describe_signature(v, f"{{name}}[{{k!r}}]")]
    if len(key) == 2:
        return [line for i, v in enumerate(key[1])
                for line in describe_signature(v, f"{{name}}[{{i}}]")]
    return [f"{{name}}: {{key[1]}} {{np.dtype(key[2]).name}}"]


def describe_call(key):
    """The arguments of a call, by name, from its signature."""
    positional, keywords = key
    names = list(ARGUMENT_NAMES) + [f"arg{{i}}" for i in range(len(ARGUMENT_NAMES),
                                                              len(positional[1]))]
    lines = [line for name, k in zip(names, positional[1]) for line in describe_signature(k, name)]
    return lines + [line for name, k in keywords[1] for line in describe_signature(k, name)]


# the specialisation the last call used when it is the only one for its signature: tried
# first, its own checks of the arguments stand in for the lookup
LATEST = [None]
# what a specialisation raises when the arguments do not fit it (another structure)
MISMATCH = (SpecialisationError, KeyError, IndexError, TypeError, AttributeError)


def {dispatcher}(*args, **keywords):
    """{fn_name} for the arguments any specialisation above was written for; other arguments
    raise SpecialisationError listing the signatures this module has."""
    latest = LATEST[0]
    if latest is not None:
        try:
            return latest(*args, **keywords)
        except MISMATCH:
            pass  # the lookup below finds the one that fits, or says none does
    try:
        key = (signature_of(args), signature_of(keywords))
        found = SPECIALISATIONS.get(key, ())
    except TypeError:  # an unhashable static argument: no specialisation has it
        key, found = None, ()
    if not found:
        called = "; ".join(describe_call(key)) if key is not None else "an unhashable argument"
        have = "\\n".join(f"  {{k + 1}}. " + "; ".join(describe_call(s))
                         for k, s in enumerate(SPECIALISATIONS))
        raise SpecialisationError(
            f"{fn_name}: no saved specialisation fits the arguments ({{called}}); this module "
            f"has these signatures:\\n{{have}}\\nCall the compiled function with these "
            "arguments and save it again to add theirs")
    LATEST[0] = found[0] if len(found) == 1 else None
    for function in found[:-1]:
        try:
            return function(*args, **keywords)
        except SpecialisationError:  # a guarded value differs: the next specialisation
            continue
    return found[-1](*args, **keywords)
'''


class _Chunk:
    """One top-level statement of a generated module, with the comments above it."""

    def __init__(self, name: str | None, text: str, reads: set[str]) -> None:
        self.name, self.text, self.reads = name, text, reads


def _chunks(source: str) -> list[_Chunk]:
    module = ast.parse(source)
    lines = source.split("\n")
    chunks, start = [], 0
    for node in module.body:
        text = "\n".join(lines[start:node.end_lineno]).strip("\n")
        start = node.end_lineno
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            name = None  # the docstring, the imports
        reads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        reads |= {g for n in ast.walk(node) if isinstance(n, ast.Global) for g in n.names}
        chunks.append(_Chunk(name, text, reads))
    return chunks


def _locals(function: ast.FunctionDef) -> set[str]:
    """The names a function binds itself (not declared global)."""
    bound = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    bound |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name)
              and not isinstance(n.ctx, ast.Load)}
    bound |= {n.name for n in ast.walk(function) if isinstance(n, ast.ExceptHandler) and n.name}
    declared = {g for n in ast.walk(function) if isinstance(n, ast.Global) for g in n.names}
    return bound - declared


def rename_globals(source: str, renames: dict[str, str]) -> str:
    """`source` with every reference to the module-level names in `renames` renamed: their
    definitions, reads in module code, and reads in functions that do not bind the name."""
    if not renames:
        return source
    module = ast.parse(source)
    lines = source.split("\n")
    edits: list[tuple[int, int, int, str]] = []  # (line, column, length, new)

    def visit(node: ast.AST, local: set[str]) -> None:
        if isinstance(node, ast.Name) and node.id in renames and node.id not in local:
            edits.append((node.lineno - 1, node.col_offset, len(node.id), renames[node.id]))
        if isinstance(node, ast.Global):
            line = node.lineno - 1
            for name in node.names:
                if name in renames:
                    m = re.search(rf"\b{re.escape(name)}\b", lines[line][node.col_offset:])
                    edits.append((line, node.col_offset + m.start(), len(name), renames[name]))
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name in renames and node.name not in local:
                line = node.lineno - 1
                m = re.search(rf"\b(def|class)\s+{re.escape(node.name)}\b", lines[line])
                edits.append((line, m.end() - len(node.name), len(node.name), renames[node.name]))
            if isinstance(node, ast.FunctionDef):
                for child in node.args.defaults + node.args.kw_defaults:
                    if child is not None:
                        visit(child, local)
                inner = local | _locals(node)
                for child in node.body:
                    visit(child, inner)
                return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):  # a scope of its own: what it binds
            local = local | {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                             and isinstance(n.ctx, ast.Store)}
            if isinstance(node, ast.Lambda):
                local |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(module, set())
    for line, column, length, new in sorted(edits, reverse=True):
        text = lines[line]
        lines[line] = text[:column] + new + text[column + length:]
    return "\n".join(lines)


def _all_names(source: str) -> set[str]:
    """Every name the module binds or reads (strings and attributes aside)."""
    names = set()
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Global):
            names.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.alias):
            names.add(n.asname or n.name)
    return names


_DISPATCH_NAMES = ("ARGUMENT_NAMES", "SPECIALISATIONS", "LATEST", "MISMATCH", "signature_of",
                   "describe_signature", "describe_call")


def combine(fn_name: str, dispatcher: str, argument_names: Sequence[str],
            programs: Sequence[tuple[Any, str, str]]) -> str:
    """One module for several specialisations of `fn_name`: `programs` holds (signature key,
    source, entry name) for each, oldest first; `dispatcher` is the wanted name of the function
    that picks one."""
    taken = set().union(*(_all_names(source) for _, source, _ in programs))
    taken -= {entry for _, _, entry in programs}  # each is renamed
    taken |= set(_DISPATCH_NAMES)

    def fresh(wanted: str) -> str:
        name, k = wanted, 2
        while name in taken:
            name, k = f"{wanted}_{k}", k + 1
        taken.add(name)
        return name

    dispatcher = fresh(dispatcher)
    written: dict[str, str] = {}  # module-level name -> its definition, as first written
    imports: list[str] = []
    sections: list[str] = []
    entries: list[tuple[Any, str]] = []
    binders: list[str] = []  # a specialisation that reads other objects has its own bind
    for number, (key, source, entry) in enumerate(programs, start=1):
        chunks = _chunks(source)
        by_name = {c.name: c for c in chunks if c.name not in (None, "__all__")}
        renamed = {c.name for c in by_name.values() if c.name in written
                   and written[c.name] != c.text} | (by_name.keys() & set(_DISPATCH_NAMES))
        renamed.add(entry)
        while True:  # a definition reading a renamed name, or setting its state, is renamed
            more = {c.name for c in by_name.values() if c.reads & renamed}
            more |= {state for fn, state in _STATE_OF.items() if fn in renamed}
            if more <= renamed:
                break
            renamed |= more
        renames = {name: fresh(f"{name}_{number}") for name in sorted(renamed)
                   if name in by_name}
        chunks = _chunks(rename_globals(source, renames))
        lines = [f"# --- specialisation {number} " + "-" * (76 - len(str(number)))]
        for c in chunks:
            if c.name is None:
                text = c.text.strip()
                if text.startswith("import ") and text not in imports:
                    imports.append(text)
                continue
            if c.name == "__all__" or written.get(c.name) == c.text:
                continue
            written[c.name] = c.text
            lines.append(c.text)
        sections.append("\n\n\n".join(lines))
        entries.append((key, renames[entry]))
        for shared in ("bind", "bind_function"):
            if shared in renames:
                binders.append(f"`{renames[shared]}` for {renames[entry]}")
    table: dict[Any, list[str]] = {}
    for key, name in entries:
        table.setdefault(key, []).append(name)
    try:
        rows = "\n".join(f"    {literals.literal(key)}: ({', '.join(names)},),"
                         for key, names in table.items())
    except literals.LiteralError as e:
        raise CompileError(f"compile: save: a static argument of {fn_name}: {e}") from None
    header = [f'"""Straight-line NumPy written by autograd_nn.compile from {fn_name}: '
              f"{len(programs)} specialisations",
              f"and `{dispatcher}`, which picks the one written for its arguments' structure, "
              "shapes, dtypes", "and static values. Needs only NumPy." +
              (" `bind` and `bind_function` serve every specialisation but those that\n"
               "read other objects, which have their own: " + ", ".join(binders) + "."
               if binders else "") + '"""', "", *imports, "",
              f"__all__ = [{dispatcher!r}]"]
    dispatch = DISPATCH_TEMPLATE.format(argument_names=list(argument_names), table=rows,
                                        dispatcher=dispatcher, fn_name=fn_name)
    text = "\n".join(header) + "\n\n\n" + "\n\n\n".join(sections) + dispatch
    return re.sub(r"\n{4,}", "\n\n\n", text).rstrip("\n") + "\n"
