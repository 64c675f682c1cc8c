"""Code generation for `ag.compile`: a traced graph as readable straight-line NumPy.

Steps: constants fold (a node that depends on no input is its traced value), identity ops
vanish (reshape to the same shape, `* 1`, `** 1`, ...), equal ops are computed once, dead code
goes, single-use temporaries are written inline, and every remaining value is one statement
named as `ag.explain` names it (user names, z1/h1, L) with gradients as d_<name>. Every name
of the module comes from one `names.Namespace`; `literals` writes the values it holds.
"""

from __future__ import annotations

import builtins
import inspect
import re
import textwrap
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import engine
from ..core.formatting import shape_text
from ..core.pytree import tree_flatten
from ..core.tensor import Tensor
from ..graph import node_names
from . import batched, literals, precedence
from .errors import CompileError
from .literals import LiteralError
from .loop import LoopPlan
from .names import Namespace, identifier, names_outside, names_read
from .source_names import assigned_names
from .trace import Outside, Traced, fingerprint, param_arrays

# precedence levels of Python expressions (higher binds tighter)
_COMPARE, _MUL, _UNARY, _POWER, _ATOM = (precedence.COMPARE, precedence.MUL, precedence.UNARY,
                                         precedence.POWER, precedence.ATOM)
_BINARY = precedence.BINARY
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_FREE_BYTES = 1 << 18  # values this big are deleted after their last use (memory is reused)


@dataclass
class Program:
    """The generated module: its source and the facts the compiled callable needs."""

    source: str
    entry: str  # the name of the generated function
    watched: list = field(default_factory=list)  # what its `bind` is given (Modules, arrays)
    # a kernel backend's kernel: its name and each statement's name -> (eager dtype, comment),
    # checked against what numba inferred on the first call
    kernel: str | None = None
    dtypes: dict[str, tuple[str, str]] = field(default_factory=dict)


def _template(node: Tensor, forms: Any = None) -> str:
    """The row's NumPy source form for this node (NumPy ufunc rows default to np.<name>);
    `forms(node, template)` rewrites it for a backend that lacks the NumPy form."""
    prim = node._op
    spec = prim.code.source
    if callable(spec):
        spec = spec(node._params or {}, [p.shape for p in node.parents])
    if spec is None:
        fn = prim.forward
        if isinstance(fn, np.ufunc) or getattr(np, getattr(fn, "__name__", ""), None) is fn:
            spec = f"np.{fn.__name__}(" + ", ".join("{" + n + "}" for n in prim.inputs) + ")"
        else:
            raise CompileError(f"compile: the op {prim.name} has no source form in its row")
    return spec if forms is None else forms(node, spec)


def _precedence(template: str) -> int:
    stripped = _PLACEHOLDER.sub("x", template)
    m = re.fullmatch(r"x (\S+) (x|\S+)", stripped)
    if m and m.group(1) in _BINARY:
        return _BINARY[m.group(1)]
    if re.fullmatch(r"[-~]x", stripped):
        return _UNARY
    return _ATOM


def _slot_levels(template: str, level: int) -> list[int]:
    """For each placeholder, the least precedence an expression needs to go there bare."""
    needs = []
    for k, m in enumerate(_PLACEHOLDER.finditer(template)):
        after = template[m.end():m.end() + 1]
        before = template[max(0, m.start() - 1):m.start()]
        if after in (".", "["):
            needs.append(_ATOM)
        elif before in ("(", "[", " ") and after in (")", ",", "]") and level == _ATOM:
            needs.append(_COMPARE)
        elif level == _POWER:
            needs.append(_ATOM)
        elif level == _UNARY:
            needs.append(_UNARY)
        elif level == _COMPARE:  # `a < b < c` is a chain in Python, not (a < b) < c
            needs.append(level + 1)
        else:
            needs.append(level if k == 0 else level + 1)
    return needs


def _literal(value: Any, subscript: bool = False) -> str:
    """A parameter value as source (tuples, numbers, None, dtypes); a slice as `a:b:c` in a
    subscript, `slice(None)` elsewhere."""
    if isinstance(value, slice) and subscript:
        parts = ["" if v is None else _literal(v) for v in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    if value is Ellipsis and subscript:
        return "..."
    if isinstance(value, slice) and value == slice(None):
        return "slice(None)"
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return literals.number(value.item())
    try:
        return literals.literal(value)
    except LiteralError as e:
        raise CompileError(f"compile: an op's parameter {value!r}: {e}") from None


# what batched.py writes templates with (passed in: it does not import this module)
_TOOLS = types.SimpleNamespace(placeholder=_PLACEHOLDER, precedence=_precedence,
                               slot_levels=_slot_levels, template=_template)


class _Writer:
    """Turns one traced graph into the statements of one function."""

    def __init__(self, traced: Traced, fn_name: str, namespace: Namespace) -> None:
        self.traced = traced
        self.fn_name = fn_name
        self.namespace = namespace
        self.trace = traced.trace
        roots = [x for x in traced.output_leaves if isinstance(x, Tensor)]
        roots += [g.tensor for g in self.trace.guards]
        self.roots = roots
        self.input_ids = {id(t) for t in traced.inputs}
        self.order = self._collect(roots)
        self.depends: dict[int, bool] = {}
        self.replace: dict[int, Tensor] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.constant_names: dict[int, str] = {}
        self.helpers: dict[str, Any] = {}
        self.batched_levels: dict[int, int] = {}  # precedence of ops written by batched.py
        # the text of output leaves a backend's kernel computed (id of the output -> text)
        self.leaf_text: dict[int, str] | None = None
        self.typed_scalars = False  # float32 constants as np.float32(...) (numba: no NEP 50)
        self.forms: Any = None  # a backend's rewriting of templates (backend_forms)

    # --- analysis ------------------------------------------------------------------------
    def resolve(self, t: Any) -> Any:
        while isinstance(t, Tensor) and id(t) in self.replace:
            t = self.replace[id(t)]
        return t

    def is_constant(self, t: Tensor) -> bool:
        return not self.depends.get(id(t), False)

    def _aliased(self, t: Tensor) -> Tensor | None:
        """The recorded node whose very array this constant leaf holds (a value taken out with
        `.data` and put back): the leaf then stands for that node."""
        if t._op is not None or id(t) in self.input_ids:
            return None
        return self.trace.value_of(t.data)

    def mask_shaped(self, t: Tensor) -> bool:
        """True when the op's result shape depends on the values of a boolean index (x[mask]):
        code specialised to one count of selected elements must check it."""
        return any(a.dtype == np.bool_ and a.ndim > 0 for a in param_arrays(t._params))

    def param_nodes(self, t: Tensor) -> list[Tensor]:
        """Recorded nodes whose arrays an op's parameters hold (an index computed as a Tensor)."""
        found = []
        for arr in param_arrays(t._params):
            node = self.trace.value_of(arr)
            if node is not None and node._op is not None:
                found.append(node)
        return found

    def _collect(self, roots: list[Tensor]) -> list[Tensor]:
        """Every node the outputs need: through inputs, and through values that came back in as
        constants or index parameters."""
        extra: list[Tensor] = []
        while True:
            order = engine.walk(roots + extra) if roots else []
            have = {id(t) for t in order}
            new = [n for t in order for n in [self._aliased(t), *self.param_nodes(t)]
                   if n is not None and id(n) not in have]
            if not new:
                return order
            extra += new

    def analyse(self) -> None:
        for t in self.order:
            alias = self._aliased(t)
            if alias is not None:
                self.replace[id(t)] = alias
                self.depends[id(t)] = True
            elif id(t) in self.input_ids:
                self.depends[id(t)] = True
            elif t._op is None:
                if t.requires_grad:
                    user = next((c for c in self.order if any(p is t for p in c.parents)), None)
                    where = f" at {_short_site(user._where)}" if user is not None and \
                        user._where else ""
                    raise CompileError(
                        f"compile: {self.fn_name} uses a Tensor that requires grad but is not an "
                        f"argument ({t.shape} {t.dtype}{', ' + repr(t.name) if t.name else ''})"
                        f"{where}; pass it as an argument (e.g. in a params dict) so that each "
                        "call uses its current value")
                self.depends[id(t)] = False
            else:
                self.depends[id(t)] = any(self.depends.get(id(p), False) for p in t.parents) \
                    or (t._params is not None and self.trace.holds_input(t._params)) \
                    or any(self.depends.get(id(n), False) for n in self.param_nodes(t))
        seen: dict[tuple, Tensor] = {}
        for t in self.order:
            if t._op is None or self.is_constant(t):
                continue
            same = self._identity_of(t)
            if same is not None:
                self.replace[id(t)] = same
                continue
            key = self._key(t)
            if key in seen:
                self.replace[id(t)] = seen[key]
            else:
                seen[key] = t

    def _identity_of(self, t: Tensor) -> Tensor | None:
        """The value this op leaves unchanged, if its row says so for these inputs (and it has
        the node's shape and dtype: specialised to the traced shapes)."""
        if batched.is_batched(t):  # inside vmap only an entry or exit that moves no axis vanishes
            same = batched.identity_of(t)
            return None if same is None else self.resolve(same)
        identity = t._op.code.identity
        if identity is None:
            return None
        ins = tuple(self.resolve(p) for p in t.parents)

        def constant(x: Tensor) -> np.ndarray | None:
            return x.data if self.is_constant(x) else None

        same = identity(t, ins, t._params or {}, constant)
        if same is None:
            return None
        same = self.resolve(same)
        return same if same.shape == t.shape and same.dtype == t.dtype else None

    def _key(self, t: Tensor) -> tuple:
        parts = []
        for p in t.parents:
            p = self.resolve(p)
            if self.is_constant(p) and p.size == 1:
                parts.append(("c", p.dtype.str, p.data.reshape(-1)[0].item()))
            else:
                parts.append(id(p))
        params = t._params or {}
        return (t.op, tuple(parts), tuple(sorted((k, _param_key(v)) for k, v in params.items())))

    # --- naming ---------------------------------------------------------------------------
    def live_nodes(self) -> list[Tensor]:
        """The values the outputs need, each after its inputs, in the order of the outputs (so
        the forward pass comes before the gradients), iterative depth-first."""
        order: list[Tensor] = []
        done: set[int] = set()
        for root in self.roots:
            stack = [(self.resolve(root), False)]
            while stack:
                t, expanded = stack.pop()
                if expanded:
                    order.append(t)
                    continue
                if id(t) in done:
                    continue
                done.add(id(t))
                stack.append((t, True))
                if t._op is not None and not self.is_constant(t):
                    stack.extend((self.resolve(p), False) for p in reversed(t.parents))
                    stack.extend((n, False) for n in self.param_nodes(t))
        return order

    def prepare(self) -> None:
        """Analyse the graph, and reserve the names its code reads (np, helpers, builtins)
        before any user name is placed."""
        self.analyse()
        self.live = self.live_nodes()
        self.namespace.reserve("np")
        for t in self.live:
            if t._op is None or self.is_constant(t):
                continue
            self.helpers.update(t._op.code.helper or {})
            if batched.is_batched(t):  # inside vmap: batched.py writes it
                if t.op == "put_add":
                    self.namespace.reserve("add_at")
                    self.namespace.reserve("set_at")
                if t.op in batched.NO_TEMPLATE:
                    continue
            for name in names_read(_template(t, self.forms)):
                self.namespace.reserve(name)
        for name in self.helpers:
            self.namespace.reserve(name)

    def name_nodes(self, live: list[Tensor], input_names: dict[int, str],
                   loop: bool = False) -> dict[int, str]:
        """Every value's name: the inputs' as given, then user names, z1/h1/L, d_<name> (in a
        loop's step the first output is a carried value, not a loss: no L)."""
        names = dict(input_names)

        def claim(t: Tensor, name: str) -> None:
            names[id(t)] = self.namespace.fresh(name)

        first = next((self.resolve(x) for x in self.traced.output_leaves
                      if isinstance(x, Tensor)), None)
        auto = node_names(live, first, {}) if first is not None else {}
        if loop:
            auto = {k: name for k, name in auto.items() if name != "L"}
        grads = {}
        for t in live:  # the gradients, named after the value they are the gradient of
            entry = self.trace.grad_of.get(id(t))
            if entry is not None and entry[0] is t:
                grads[id(t)] = entry[1]
        for t in live:  # user names, then d_<value>, then explain's z1/h1/L
            if id(t) in names or t._op is None or self.is_constant(t):
                continue
            if t.name:
                claim(t, t.name)
        for t, name in self.source_names(live):  # `layer1 = ...` in the user's code
            if id(t) not in names and not self.namespace.taken(identifier(name)):
                claim(t, name)
        pending = [t for t in live if id(t) not in names and t._op is not None
                   and not self.is_constant(t)]
        for t in pending:
            auto_name = auto.get(id(t), "")
            if id(t) in grads:
                continue
            if re.fullmatch(r"[zh]\d+|L", auto_name):
                claim(t, auto_name)
        for t in pending:
            if id(t) in grads and id(t) not in names:
                of = self.resolve(grads[id(t)])
                base = names.get(id(of)) or auto.get(id(of)) or "t"
                claim(t, f"d_{base}")
        self.temporary: set[int] = set()
        for t in pending:
            if id(t) not in names:
                claim(t, auto.get(id(t)) or "t")
                self.temporary.add(id(t))
        return names

    def source_names(self, live: list[Tensor]) -> list[tuple[Tensor, str]]:
        """The user's variable names for the values statements assign, each value named once:
        a value another op was folded into keeps its name when no statement names it itself."""
        assigned = assigned_names(self.trace.recorded_nodes)
        live_ids = {id(t) for t in live if t._op is not None and not self.is_constant(t)}
        own: dict[int, tuple[Tensor, str]] = {}
        folded: dict[int, list[tuple[Tensor, str]]] = {}
        for t, _ in self.trace.recorded_nodes:
            name = assigned.get(id(t))
            target = self.resolve(t)
            if name is None or id(target) not in live_ids:
                continue
            if target is t:
                own[id(t)] = (t, name)
            else:
                folded.setdefault(id(target), []).append((target, name))
        for key, candidates in folded.items():
            if key not in own and len({name for _, name in candidates}) == 1:
                own[key] = candidates[0]
        return [own[id(t)] for t in live if id(t) in own]

    # --- writing --------------------------------------------------------------------------
    def write(self, input_names: dict[int, str], loop: LoopPlan | None = None,
              wrap_loop: bool = True) -> tuple[list[str], list[str]]:
        """The function's body lines and the module-level lines (helpers, constants), the
        inputs named `input_names` (id of the traced input -> name); with a `loop`, the body
        runs as the step of a `for` loop (ag.iterate), written around it unless `wrap_loop`
        is False (a kernel backend writes its own loop)."""
        live = self.live
        self.names = self.name_nodes(live, input_names, loop is not None)
        uses: dict[int, int] = {}
        for t in live:
            if t._op is not None and not self.is_constant(t):
                for p in t.parents:
                    p = self.resolve(p)
                    uses[id(p)] = uses.get(id(p), 0) + 1
        forced = {id(self.resolve(r)) for r in self.roots}
        forced |= {id(n) for t in live if t._op is not None for n in self.param_nodes(t)}
        masked = {id(t) for t in live if t._op is not None and self.mask_shaped(t)}
        forced |= masked
        self.inline = {id(t) for t in live if id(t) in self.temporary
                       and uses.get(id(t), 0) == 1 and id(t) not in forced}
        guards_at: dict[int, list] = {}
        for g in self.trace.guards:
            guards_at.setdefault(id(self.resolve(g.tensor)), []).append(g)
        body = []
        statements = [t for t in live if t._op is not None and not self.is_constant(t)
                      and id(t) not in self.inline]
        last_use = self._last_uses(statements, forced)
        for k, t in enumerate(statements):
            expr, _ = self.expression(t)
            body.append(_with_comment(f"{self.names[id(t)]} = {expr}", self.comment(t)))
            for g in guards_at.get(id(t), []):
                body += self.guard_lines(t, g)
            if id(t) in masked:  # its shape comes from a mask's values: checked like a guard
                name = self.names[id(t)]
                body += [f"if {name}.shape != {tuple(t.shape)!r}:  # selected by a boolean mask",
                         f"    raise SpecialisationError({name!r} + ' selected another number "
                         f"of elements than when traced')"]
            if last_use.get(k):  # big values are freed after their last use, as by hand
                body.append("del " + ", ".join(last_use[k]))
        for t in self.traced.inputs:  # guards on inputs themselves
            for g in guards_at.get(id(t), []):
                body += self.guard_lines(t, g)
        if loop is not None:
            if wrap_loop:
                body = loop.lines(self, body)
        else:
            body.append("return " + self.output_text(self.traced.outputs))
        module = []
        for name, fn in self.helpers.items():
            module.append(_helper_source(name, fn))
        for name, arr in self.constants.items():
            module.append(f"{name} = {literals.array(arr)}")
        return body, module

    def _last_uses(self, statements: list[Tensor], forced: set[int]) -> dict[int, list[str]]:
        """statement index -> the large intermediate values no later statement reads."""
        position = {id(t): k for k, t in enumerate(statements)}
        last: dict[int, int] = {}
        for k, t in enumerate(statements):
            for p in self._reads(t):
                if id(p) in position:
                    last[id(p)] = k
        out: dict[int, list[str]] = {}
        for t in statements:
            k = last.get(id(t))
            if k is not None and id(t) not in forced and t.data.nbytes >= _FREE_BYTES:
                out.setdefault(k, []).append(self.names[id(t)])
        return out

    def _reads(self, t: Tensor) -> list[Tensor]:
        """The named values a statement reads (through the expressions written inline)."""
        found, stack = list(self.param_nodes(t)), [self.resolve(p) for p in t.parents]
        while stack:
            p = stack.pop()
            if id(p) in self.inline:
                stack.extend(self.resolve(q) for q in p.parents)
            else:
                found.append(p)
        return found

    def guard_lines(self, t: Tensor, g: Any) -> list[str]:
        ref = self.reference(t)
        if g.how == "data":  # the user's code read the values: them, or a checksum of them
            site = _short_site(g.site)
            message = f"the values of {ref} changed since the trace read them at {site}"
            read = f"{ref}.tobytes()" if isinstance(g.value, bytes) else \
                f"zlib.crc32(np.ascontiguousarray({ref}))"
            return [f"if {read} != {g.value!r}:  # the traced code read these values at {site}",
                    f"    raise SpecialisationError({message!r})"]
        read = f"bool({ref})" if g.how == "bool" else f"{ref}.item()"
        site = _short_site(g.site)
        message = f"{read} != {g.value!r} (traced at {site})"
        condition = literals.differs(read, g.value)
        if t._levels is not None:  # inside vmap: the value every example shared, checked in each
            condition = literals.differs_anywhere(ref, g.value)
        return [f"if {condition}:  # the traced code read {g.how}() == {g.value!r} at {site}",
                f"    raise SpecialisationError({message!r})"]

    def comment(self, t: Tensor) -> str:
        site = _short_site(t._where) if t._where else ""
        shape = t.data.shape if t._levels is not None else t.shape  # a batch: its array's
        return f"{shape_text(shape, 'spaced')} {t.dtype}" + (f"  {site}" if site else "")

    def reference(self, t: Any, consumer: Tensor | None = None) -> str:
        """How an input of an expression is written: a name, a constant, or inline code."""
        t = self.resolve(t)
        if id(t) in self.names and id(t) not in self.inline:
            return self.names[id(t)]
        if self.is_constant(t):
            return self.constant(t, consumer)
        return self.expression(t)[0]

    def constant(self, t: Tensor, consumer: Tensor | None) -> str:
        arr = t.data
        if self.trace.traced_value(arr) is not None:
            return self.array_constant(arr, consumer)  # refuses: a traced value leaked out
        if arr.ndim == 0:
            v = arr.item()
            if arr.dtype == np.bool_:
                return repr(bool(v))
            others = [p for p in (consumer.parents if consumer is not None else ())
                      if self.resolve(p) is not t]
            if arr.dtype.kind == "f" and all(p.dtype == arr.dtype for p in others) and others:
                if self.typed_scalars and arr.dtype != np.float64:
                    return f"np.{arr.dtype.name}({literals.number(float(v))})"
                return literals.number(float(v))
            try:
                return literals.literal(arr[()])
            except LiteralError as e:
                raise CompileError(f"compile: {self.fn_name} uses a constant {arr!r}: {e}") \
                    from None
        if consumer is not None and consumer._op.elementwise and arr.size and \
                np.all(arr == arr.reshape(-1)[0]):
            others = [self.resolve(p) for p in consumer.parents if self.resolve(p) is not t]
            if others and np.broadcast_shapes(*[p.shape for p in others]) == consumer.shape \
                    and np.result_type(*[p.dtype for p in others]) == consumer.dtype:
                return self.constant(constant_scalar(arr), consumer)  # one value: a scalar
        return self.array_constant(arr)

    def array_constant(self, arr: np.ndarray, user: Tensor | None = None) -> str:
        exact = self.trace.value_of(arr)
        if exact is not None and id(exact) in getattr(self, "names", {}):
            return self.names[id(exact)]  # a computed index: the value's own variable
        leaked = self.trace.traced_value(arr)
        if leaked is not None:
            used = "" if user is None else f" in {user.op} at {_short_site(user._where)}"
            raise CompileError(
                f"compile: {self.fn_name} read the value of a traced Tensor through .data or "
                f"NumPy (the {leaked.op} created at {_short_site(leaked._where)}), changed it "
                f"and used it again{used}; it would be baked into the compiled code. Keep it "
                "a Tensor")
        for t in self.traced.inputs:
            if arr is t.data:
                return self.names[id(t)]
            if np.shares_memory(arr, t.data):
                where = f" (used by {user.op} at {_short_site(user._where)})" if user is not None \
                    and user._where else ""
                raise CompileError(
                    f"compile: {self.fn_name} computed a value from the input "
                    f"{self.names[id(t)]!r} with NumPy outside autograd_nn's ops{where}; it "
                    "would be baked into the compiled code. Compute it with Tensor ops, or pass "
                    "it as an argument")
        key = id(arr)
        if key not in self.constant_names:
            name = self.namespace.fresh(f"C{len(self.constant_names) + 1}")
            self.constant_names[key] = name
            self.constants[name] = arr
        return self.constant_names[key]

    def expression(self, t: Tensor) -> tuple[str, int]:
        if batched.is_batched(t):  # run inside vmap: the batch rule's computation
            text, level = batched.BatchedWriter(self, _TOOLS).expression(t)
            self.batched_levels[id(t)] = level
            return text, level
        folded = self._negated_product(t)
        if folded is not None:
            return folded, _MUL
        prim = t._op
        template = _template(t, self.forms)
        level = _precedence(template)
        needs = _slot_levels(template, level)
        params = t._params or {}
        values: dict[str, str] = {}
        slot = 0
        labels = prim.inputs
        for m in _PLACEHOLDER.finditer(template):
            key = m.group(1)
            if key in values:
                slot += 1
                continue
            if prim.variadic and key == labels[0]:
                values[key] = ", ".join(self.reference(p, t) for p in t.parents)
            elif key in labels:
                p = t.parents[labels.index(key)]
                values[key] = self.wrap(p, needs[slot], t)
            else:
                subscript = template[max(0, m.start() - 1):m.start()] == "["
                values[key] = self.param_text(key, params.get(key), subscript, t)
            slot += 1
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template), level

    def _negated_product(self, t: Tensor) -> str | None:
        """-(c * x) with a scalar constant c, written (-c) * x: one NumPy call fewer."""
        if t.op != "neg":
            return None
        inner = self.resolve(t.parents[0])
        if id(inner) not in self.inline or inner.op != "mul":
            return None
        c, x = (self.resolve(p) for p in inner.parents)
        if not (self.is_constant(c) and c.size == 1 and c.ndim == 0 and c.dtype == t.dtype):
            return None
        number = literals.number(-float(c.data.item()))
        if self.typed_scalars and c.dtype != np.float64:
            number = f"np.{c.dtype.name}({number})"
        return f"{number} * {self.wrap(x, _MUL + 1, inner)}"

    def wrap(self, p: Tensor, need: int, consumer: Tensor) -> str:
        p = self.resolve(p)
        text = self.reference(p, consumer)
        if id(p) in self.inline:
            level = self.batched_levels[id(p)] if batched.is_batched(p) else \
                _precedence(_template(p, self.forms))
        elif self.is_constant(p) and text.startswith("-"):
            level = _UNARY
        else:
            level = _ATOM
        return f"({text})" if level < need else text

    def param_text(self, key: str, value: Any, subscript: bool = False,
                   user: Tensor | None = None) -> str:
        if key == "index":
            items = value if isinstance(value, tuple) else (value,)
            parts = [self.array_constant(v, user) if isinstance(v, np.ndarray) else
                     _literal(v, subscript) for v in items]
            text = ", ".join(parts) + ("," if isinstance(value, tuple) and len(items) == 1 else "")
            if not isinstance(value, tuple):
                return text
            return (text or "()") if subscript else f"({text})"
        if key == "dtype":  # the template writes np.{dtype}
            return literals.numpy_type(np.dtype(value).type).removeprefix("np.")
        if isinstance(value, np.ndarray):
            return self.array_constant(value, user)
        return _literal(value)

    def output_text(self, out: Any) -> str:
        if isinstance(out, Tensor):
            if self.leaf_text is not None and id(out) in self.leaf_text:
                return self.leaf_text[id(out)]
            ref = self.reference(out)
            if out.ndim == 0 or self.is_constant(self.resolve(out)):  # arrays, never scalars or
                return f"np.array({ref})"  # shared constants, as the eager call returns
            if self.resolve(out) is not out and id(self.resolve(out)) in self.input_ids:
                return f"{ref}.copy()"  # x * 1 folded away: a new array, as eagerly
            return ref
        if isinstance(out, dict):
            return "{" + ", ".join(f"{self.output_literal(k)}: {self.output_text(v)}"
                                   for k, v in out.items()) + "}"
        if isinstance(out, tuple):
            inner = ", ".join(self.output_text(v) for v in out)
            return f"({inner}{',' if len(out) == 1 else ''})"
        if isinstance(out, list):
            return "[" + ", ".join(self.output_text(v) for v in out) + "]"
        if isinstance(out, np.ndarray):
            return self.array_constant(out)
        return self.output_literal(out)

    def output_literal(self, value: Any) -> str:
        """A value the function returns as it is (a number, a string, a dict key)."""
        try:
            return literals.literal(value)
        except LiteralError as e:
            raise CompileError(f"compile: {self.fn_name} returns {value!r}: {e}") from None


def constant_scalar(arr: np.ndarray) -> Tensor:
    """A constant array whose entries are all equal, as a 0-d constant of its dtype."""
    return Tensor(arr.reshape(-1)[0].copy())


def _param_key(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", id(v))
    if isinstance(v, tuple):
        return tuple(_param_key(x) for x in v)
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    return repr(v)


def _short_site(site: str | None) -> str:
    if not site:
        return ""
    return re.sub(r"(/[^\s:]*/)?([^/\s:]+\.py):(\d+)", lambda m: f"{m.group(2)}:{m.group(3)}",
                  site).replace(" in <module>", "")


def _where_read(site: str | None) -> str:
    """Where the code read a constant array: 'used at file:line', or how it reached it."""
    where = _short_site(site)
    return where if where.startswith("reached") else f"used at {where}"


def _with_comment(code: str, comment: str) -> str:
    return f"{code}  # {comment}" if comment else code


def _helper_source(name: str, fn: Any) -> str:
    src = textwrap.dedent(inspect.getsource(fn))
    return re.sub(r"^def \w+\(", f"def {name}(", src, count=1).rstrip()


def generate(traced: Traced, fn_name: str, arg_names: Sequence[str], args: tuple,
             kwargs: dict, loop: LoopPlan | None = None, kernel: Any = None) -> Program:
    """The module text of one compiled specialisation of `fn_name`, every name in it from one
    `Namespace`: NumPy, helpers and builtins first, then dtypes, arguments and values. With a
    `kernel` backend (`backends.Kernel`), the arithmetic goes into a kernel function."""
    namespace = Namespace()
    for name in kernel.reserved if kernel is not None else ():
        namespace.reserve(name)
    writer = _Writer(traced, fn_name, namespace)
    if kernel is not None:
        writer.typed_scalars, writer.forms = kernel.typed_scalars, kernel.forms
    writer.prepare()
    namespace.reserve("SpecialisationError")
    if loop is not None:
        namespace.reserve("range")  # the loop of ag.iterate
    watched = traced.trace.outside.watched()
    checksums = bool(watched) or any(g.how == "data" for g in traced.trace.guards)
    if checksums:
        namespace.reserve("zlib")
    if watched:
        for name in _OUTSIDE_NAMES:
            namespace.reserve(name)
    values = saved_values(traced.trace.outside)
    if values:
        for name in _VALUE_NAMES:
            namespace.reserve(name)
    entry = namespace.fresh(entry_name(fn_name))
    dtypes = {d: namespace.fresh(f"{d.name}_dtype" if namespace.taken(d.name) else d.name)
              for d in _argument_dtypes(args, kwargs)}  # float64; bool_dtype (bool is taken)
    params = [namespace.fresh(name) for name in arg_names[:len(args)]]
    arguments = list(zip(params, args))
    if kwargs:
        arguments.append((namespace.fresh("keywords"), dict(kwargs)))
    input_names = _input_names(traced, arguments, namespace)
    body, module = writer.write(input_names, loop, wrap_loop=kernel is None)
    imports = ["import numpy as np"]
    if kernel is not None:
        body, module, imports = kernel.split(writer, entry, body, input_names, loop)
    signature = ", ".join(params + [f"**{arguments[-1][0]}"] * bool(kwargs))
    function = [f"def {entry}({signature}):"] + [
        f"    {line}" for line in _docstring(fn_name, arguments)
        + _unpack_lines(traced, input_names, arguments, dtypes, fn_name)
        + outside_checks(traced.trace.outside)
        + (["if FUNCTION is not None:  # bound: check the Python values it reached",
            "    value_changed()"] if values else []) + body]
    title = ('"""Straight-line NumPy written by autograd_nn.compile; needs only NumPy."""'
             if kernel is None else kernel.title)
    header = [title, "", *imports, "", f"__all__ = [{entry!r}]", ""]
    header += [f"{name} = np.dtype({_dtype_text(d)!r})" for d, name in dtypes.items()]
    header += ["", "class SpecialisationError(ValueError):",
               '    """An argument or a value the code was specialised to has changed."""', ""]
    if checksums:
        header.insert(header.index("import numpy as np") + 1, "import zlib")
    if watched:
        header += outside_module_lines(traced.trace.outside)
    if values:
        header += _VALUE_TEMPLATE.format(values=values).split("\n")
    source = "\n".join(header + [f"\n{m}\n" for m in module] + ["", *function]) + "\n"
    source = re.sub(r"\n{3,}", "\n\n\n", source)
    outside = names_outside(source, entry, namespace)
    if outside:
        raise CompileError(f"compile: internal error: the code generated for {fn_name} uses "
                           f"names its namespace did not give out: {', '.join(outside)}")
    return Program(source, entry, watched, getattr(writer, "kernel_name", None),
                   getattr(writer, "kernel_dtypes", {}))


def _docstring(fn_name: str, arguments: list[tuple[str, Any]]) -> list[str]:
    """The generated function's docstring: what it was specialised to."""
    lines = ["Generated by autograd_nn.compile from " + fn_name + ", specialised to:"]
    lines += [f"    {line}" for line in describe_signature(arguments)]
    lines += ["Called with other shapes, dtypes or static values, the compiled function traces "
              "again."]
    lines = [line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for line in lines]
    return ['"""' + lines[0], *lines[1:-1], lines[-1] + '"""']


def entry_name(fn_name: str) -> str:
    """The generated function's wanted name: the function's, unless that is a builtin (a
    module-level `sum` would shadow the one the helpers call)."""
    if not fn_name.isidentifier():
        return "compiled"
    return f"{fn_name}_compiled" if hasattr(builtins, fn_name) else fn_name


def _dtype_text(dtype: np.dtype) -> str:
    """How np.dtype(...) is given `dtype`: its name ('float64') when that reads back."""
    try:
        return dtype.name if np.dtype(dtype.name) == dtype else dtype.str
    except TypeError:
        return dtype.str


def _argument_dtypes(args: tuple, kwargs: dict) -> list[np.dtype]:
    leaves = [x for x in tree_flatten([list(args), kwargs])[0]
              if isinstance(x, (np.ndarray, Tensor))]
    return sorted({x.dtype for x in leaves}, key=lambda d: d.name)


def _argument_parts(arguments: list[tuple[str, Any]]) -> Iterator[tuple[str, Any, int]]:
    """(access path, value, depth) for every container and leaf of the arguments, outermost
    first: `params`, `params['weights1']`, `X`, ..."""
    stack = [(name, value, 0) for name, value in reversed(arguments)]
    while stack:
        access, tree, depth = stack.pop()
        yield access, tree, depth
        if _is_container(tree):
            items = tree.items() if isinstance(tree, dict) else enumerate(tree)
            stack.extend(reversed([(f"{access}[{_key_text(k, access)}]", v, depth + 1)
                                   for k, v in items]))


def _key_text(key: Any, access: str) -> str:
    try:
        return literals.literal(key)
    except LiteralError as e:
        raise CompileError(f"compile: a key of the argument {access}: {e}") from None


def _is_container(tree: Any) -> bool:
    return isinstance(tree, (dict, list, tuple)) and not isinstance(tree, Tensor)


def _input_names(traced: Traced, arguments: list[tuple[str, Any]],
                 namespace: Namespace) -> dict[int, str]:
    """Each traced input's name: an array passed as an argument keeps the parameter's name; one
    in a container or a named Tensor gets a fresh name after its key or `Tensor.name`."""
    names: dict[int, str] = {}
    inputs = iter(traced.inputs)  # in the order of the argument leaves
    for access, tree, depth in _argument_parts(arguments):
        if not isinstance(tree, (np.ndarray, Tensor)):
            continue
        t = next(inputs)
        if depth == 0 and not (isinstance(tree, Tensor) and tree.name):
            names[id(t)] = access
        else:
            names[id(t)] = namespace.fresh(traced.trace.inputs[id(t)][1])
    return names


def _unpack_lines(traced: Traced, names: dict[int, str], arguments: list[tuple[str, Any]],
                  dtypes: dict[np.dtype, str], fn_name: str) -> list[str]:
    """`weights1 = params["weights1"]` for every input inside a container argument, and the
    checks that the arguments still have the structure, shapes, dtypes and static values the
    code was specialised to."""
    lines = []
    inputs = iter(traced.inputs)  # in the order of the argument leaves

    def check(condition: str, what: str) -> None:
        lines.append(f"if {condition}:")
        lines.append(f"    raise SpecialisationError({what!r})")

    for access, tree, _ in _argument_parts(arguments):
        if _is_container(tree):
            kind = type(tree)
            try:  # a dict's keys in order: code that iterates over it depends on the order
                keys = literals.literal(tuple(tree)) if isinstance(tree, dict) else None
            except LiteralError:
                keys = None
            if keys is not None:
                check(f"{_type_differs(access, kind)} or tuple({access}) != {keys}",
                      f"{access} must be a {kind.__name__} with the keys {keys}, in this order")
            else:
                check(f"{_type_differs(access, kind)} or len({access}) != {len(tree)}",
                      f"{access} must be a {kind.__name__} of {len(tree)} items")
        elif isinstance(tree, (np.ndarray, Tensor)):
            name = names[id(next(inputs))]
            value = f"{access}.data" if isinstance(tree, Tensor) else access
            if name != value:
                lines.append(f"{name} = {value}")
            check(f"{name}.shape != {tuple(tree.shape)!r} or {name}.dtype != "
                  f"{dtypes[tree.dtype]}",
                  f"{access} must have shape {tuple(tree.shape)} and dtype {tree.dtype.name}")
        else:
            check(_static_differs(access, tree, fn_name), f"{access} was {tree!r} when traced")
    return lines


def _type_differs(access: str, kind: type) -> str:
    """True when the container at `access` is not of type `kind` (a namedtuple, an OrderedDict
    is compared by name: the module holds no user type)."""
    if kind in (dict, list, tuple):
        return f"type({access}) is not {kind.__name__}"
    return f"type({access}).__qualname__ != {kind.__qualname__!r}"


def _static_differs(access: str, value: Any, fn_name: str) -> str:
    """True when the static argument at `access` is no longer `value` (of the same type)."""
    if value is None:
        return f"{access} is not None"
    try:
        return f"type({access}) is not {literals.type_text(value)} or " \
               f"{literals.differs(access, value)}"
    except LiteralError as e:
        raise CompileError(
            f"compile: {fn_name}'s argument {access} is static (not an array), and {e}; pass it "
            f"by closing over it instead (lambda x: {fn_name}(x, value))") from None


def describe_signature(arguments: list[tuple[str, Any]]) -> list[str]:
    """One line per argument leaf: its access path and shape/dtype (or static value)."""
    return [f"{access}: {shape_text(tree.shape, 'spaced')} {tree.dtype}"
            if isinstance(tree, (np.ndarray, Tensor)) else f"{access} = {tree!r} (static)"
            for access, tree, _ in _argument_parts(arguments) if not _is_container(tree)]


# --- what the code read outside its arguments ---------------------------------------------------
_VALUE_NAMES = ("VALUES", "FUNCTION", "bind_function", "value_changed")
_VALUE_TEMPLATE = '''
# The Python values the traced function reached (closure, globals, defaults, attributes), as
# they were when traced. Until bind_function(f) is called they are constants; once it is, every
# call follows each path from f and raises SpecialisationError naming the one that changed.
VALUES = {values}
FUNCTION = None


def bind_function(function):
    """Give the code the function it was traced from: each call then checks VALUES."""
    global FUNCTION
    FUNCTION = function


def value_changed():
    """Raise SpecialisationError if a value in VALUES is no longer the traced one."""
    for path, then in VALUES:
        now = FUNCTION
        try:
            for kind, key in path:
                if kind == "cell":
                    now = now.__closure__[now.__code__.co_freevars.index(key)].cell_contents
                elif kind == "global":
                    now = now.__globals__[key]
                elif kind == "attr":
                    now = getattr(now, key)
                elif kind == "key":
                    now = now[key]
                elif kind == "length":
                    now = len(now)
                elif kind == "keys":
                    now = tuple(now)
                elif kind == "whole" and isinstance(now, (list, tuple)):
                    now = list(now)
        except (LookupError, AttributeError, ValueError, TypeError):
            raise SpecialisationError(f"{{path}}: no longer reachable from the function")
        same = type(now) is type(then) and (now == then or (now != now and then != then))
        if same and isinstance(then, float) and then == 0:
            same = bool(np.signbit(now)) == bool(np.signbit(then))
        if not same:
            raise SpecialisationError(f"{{path}} was {{then!r}} when traced, is {{now!r}}")
'''


def saved_values(outside: Outside) -> str:
    """The Python values the trace reached, as the source of a list of (path, value) that a
    saved module can check: those that have a source form (functions and classes do not)."""
    items = []
    for path, value in outside.values + outside.module_values:
        try:
            items.append(f"    ({literals.literal(path)}, {literals.literal(value)}),")
        except LiteralError:
            continue
    return "[\n" + "\n".join(items) + "\n]" if items else ""


_OUTSIDE_NAMES = ("zlib", "OUTSIDE", "bind", "outside_changed")
_OUTSIDE_TEMPLATE = '''
# Until bind() is called, the values below are constants: the ones traced. Once it is, every
# call checks them against the objects it was given.
OUTSIDE = None


def bind(*objects):
    """Give the code what it read outside its arguments, in this order:
{order}
    Each call checks that every Module is in the mode it was traced in and every array still
    holds the values it was traced with (a checksum)."""
    global OUTSIDE
    OUTSIDE = [dict(x.named_modules()) if hasattr(x, "named_modules") else x for x in objects]


def outside_changed(holder, shape, dtype, traced):
    """True when a bound array (or a constant Tensor's .data) no longer holds the traced values:
    its bytes when small, else a CRC-32 of them."""
    arr = holder if isinstance(holder, np.ndarray) else holder.data
    if arr.shape != shape or arr.dtype.str != dtype:
        return True
    if isinstance(traced, bytes):
        return arr.tobytes() != traced
    return zlib.crc32(np.ascontiguousarray(arr)) != traced
'''


def _describe_outside(outside: Outside) -> list[str]:
    """One line per object `bind` takes: a Module, or an array and where it was used."""
    lines = [f"a {type(m).__name__} Module (its and its submodules' training flags)"
             for m in outside.modules.values()]
    lines += [f"a constant {shape_text(t.shape, 'spaced')} {t.dtype} array (or the Tensor "
              f"holding it) {_where_read(site)}" for t, site in outside.arrays.values()]
    return [f"{k + 1}. {line}" for k, line in enumerate(lines)]


def outside_module_lines(outside: Outside) -> list[str]:
    """The module-level `bind` and its check helper, listing what `bind` takes."""
    order = "\n".join(f"    {line}" for line in _describe_outside(outside))
    order = order.replace("\\", "\\\\").replace('"""', "'''")
    return _OUTSIDE_TEMPLATE.format(order=order).split("\n")


def outside_checks(outside: Outside) -> list[str]:
    """The generated function's checks of every Module's mode and every constant array."""
    if not outside.watched():
        return []
    lines = []
    for k, root in enumerate(outside.modules.values()):
        for name, m in root.named_modules():
            what = f"the {type(m).__name__}" + (f" {name!r} of the {type(root).__name__}"
                                                 if name else "")
            lines += [f"if OUTSIDE[{k}][{name!r}].training is not {bool(m.training)}:",
                      f"    raise SpecialisationError("
                      f"{f'{what}: training was {bool(m.training)} when traced'!r})"]
    for k, (t, site) in enumerate(outside.arrays.values(), start=len(outside.modules)):
        arr = t if isinstance(t, np.ndarray) else t.data
        what = (f"the constant {shape_text(arr.shape, 'spaced')} {arr.dtype} array "
                f"{_where_read(site)} changed since tracing")
        lines += [f"if outside_changed(OUTSIDE[{k}], {arr.shape!r}, {arr.dtype.str!r}, "
                  f"{fingerprint(arr)!r}):",
                  f"    raise SpecialisationError({what!r})"]
    return ["if OUTSIDE is not None:  # bound: check what the code read outside its arguments",
            *[f"    {line}" for line in lines]]


__all__ = ["CompileError", "Program", "describe_signature", "generate"]
