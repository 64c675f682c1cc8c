"""The names of a generated module, all from one allocator.

NumPy, the op helpers, the builtins the code reads, the dtypes, the constants, the function,
its arguments and every value each get a name handed out once, so no user name (an argument, a
dict key, a `Tensor.name`) can shadow another name or be shadowed by one. `names_outside`
reads the finished module back to find any name the allocator did not hand out.
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
import re
import unicodedata

# the builtins the generated code itself writes: argument checks, literals, index slices
BUILTINS_WRITTEN = ("type", "len", "bool", "int", "float", "complex", "str", "bytes", "dict",
                    "list", "tuple", "slice", "Ellipsis")
_SLOT = "__slot__"


class Namespace:
    """Hands out each name of one generated module once: `reserve` takes a name that must be
    spelled as it is (np, a helper), `fresh` the first free spelling of a wanted name."""

    def __init__(self) -> None:
        self.reserved: set[str] = {"__debug__", "__all__", *BUILTINS_WRITTEN}
        self.handed_out: set[str] = set()

    def taken(self, name: str) -> bool:
        return name in self.reserved or name in self.handed_out or keyword.iskeyword(name)

    def reserve(self, name: str) -> str:
        """Take `name` exactly (taking it twice is fine: it is the same thing)."""
        if name in self.handed_out:
            raise RuntimeError(f"compile: the name {name!r} was already handed out")
        self.reserved.add(name)
        return name

    def fresh(self, wanted: str) -> str:
        """`wanted` as an identifier, or `wanted_2`, `wanted_3`, ... when it is taken."""
        base = identifier(wanted)
        name, k = base, 2
        while self.taken(name):
            name, k = f"{base}_{k}", k + 1
        self.handed_out.add(name)
        return name


def identifier(text: str) -> str:
    """`text` as a Python identifier, in the normal form Python compares identifiers in."""
    name = re.sub(r"\W", "_", unicodedata.normalize("NFKC", text)) or "v"
    if not name.isidentifier():
        name = "v_" + name  # it started with a digit
    if not name.isidentifier():
        name = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return name


@functools.lru_cache(maxsize=1024)
def names_read(template: str) -> frozenset[str]:
    """The bare names an op's source template reads (`np`, a helper, a builtin)."""
    code = re.sub(r"\{\w+\}", _SLOT, template)
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:  # not an expression on its own: every word not after a dot
        return frozenset(re.findall(r"(?<![\w.])[A-Za-z_]\w*", code)) - {_SLOT}
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - {_SLOT}


def names_outside(source: str, entry: str, names: Namespace) -> list[str]:
    """The names of a generated module that break its hygiene: defined or read but not given
    out, assigned in the function though reserved or module-level, or module-level builtins."""
    module = ast.parse(source)
    defined = _module_level_names(module)
    function = next(node for node in module.body
                    if isinstance(node, ast.FunctionDef) and node.name == entry)
    stored = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    stored |= {n.id for n in ast.walk(function)
               if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    read = {n.id for n in ast.walk(function)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    given = names.reserved | names.handed_out
    problems = (defined - given) | {n for n in defined if hasattr(builtins, n)}
    problems |= (stored - names.handed_out) | (stored & defined)  # a local shadowing a global
    problems |= read - given
    problems |= {n for n in read - stored - defined if not hasattr(builtins, n)}  # undefined
    return sorted(problems)


def _module_level_names(module: ast.Module) -> set[str]:
    names = {alias.asname or alias.name for node in module.body
             if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.name for node in module.body
              if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return names | {t.id for node in module.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
