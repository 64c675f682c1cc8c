"""Rules run on symbols: the text `explain` shows for a rule is the rule itself, written out.

A row's vector-Jacobian rule is ordinary code: NumPy operators, ufuncs and `prims.<row>(...)`
calls. Called with `Sym` values for `g`, `out` and the inputs, the same code builds an
expression instead of numbers, written with the fewest parentheses Python needs:

    tanh's rule   g * (1 - ans * ans)         is written  g * (1 - out * out)
    where's rule  prims.where(c, g, 0.0)      is written  where(c, g, 0)
    cumsum's rule (reverse, cumsum, reverse)  is written  cumsum(g[::-1], axis=0)[::-1]

A symbol knows its shape and dtype (rules branch on `x.ndim`), and its value when one is given:
a rule that branches on values (`value_of(x) == 0` in prod) takes the branch those values take,
and an array it reads that way is written as the expression it came from. Parameters are
constants (axis=1 is written 1). The text is Python: with `namespace()`'s names bound to NumPy
and the rows, and the symbols' names bound to their values, it evaluates to the rule's numbers.

Conventions: `x * 1`, `x + 0`, `x ** 1` and `0 * x` are simplified; a minus sign moves to the
first factor (`-g * 0.5 * out`); a broadcast 1 is `ones(2,3)`; parameters at their usual value
(axis=None, keepdims=False, stride (1, 1), ...) are left out; a float that is a named constant
is written by name (`log(2)`, `2/sqrt(pi)`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.formatting import shape_text

__all__ = ["QUIET", "Sym", "SymbolicValueError", "Traced", "derive", "factor", "namespace",
           "symbol", "text_of"]

# Python's operator precedence (higher binds tighter)
_CMP, _OR, _XOR, _AND, _ADD, _MUL, _UNARY, _POW, _ATOM = 5, 6, 7, 8, 10, 11, 12, 13, 16
_PREC = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "//": _MUL, "%": _MUL, "@": _MUL,
         "**": _POW, "<": _CMP, "<=": _CMP, ">": _CMP, ">=": _CMP, "==": _CMP, "!=": _CMP,
         "&": _AND, "|": _OR, "^": _XOR}
_CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")
_UFUNC_OPS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/",
              np.floor_divide: "//", np.remainder: "%", np.power: "**", np.matmul: "@",
              np.less: "<", np.less_equal: "<=", np.greater: ">", np.greater_equal: ">=",
              np.equal: "==", np.not_equal: "!=", np.bitwise_and: "&", np.bitwise_or: "|",
              np.bitwise_xor: "^"}
_OP_UFUNCS = {op: u for u, op in _UFUNC_OPS.items()}
# parameters left out of the text at these values (the public functions' defaults)
QUIET = {"axis": None, "keepdims": False, "stride": (1, 1), "padding": (0, 0),
         "dilation": (1, 1), "output_padding": (0, 0), "groups": 1, "ddof": 0}
# floats the rows use by value, written by name: value -> (text, precedence)
_NAMED = {
    float(np.log(2.0)): ("log(2)", _ATOM), float(np.log(10.0)): ("log(10)", _ATOM),
    float(2.0 / np.sqrt(np.pi)): ("2/sqrt(pi)", _MUL), float(np.pi): ("pi", _ATOM),
    float(np.sqrt(0.5)): ("sqrt(0.5)", _ATOM), float(np.sqrt(2.0 / np.pi)): ("sqrt(2/pi)", _ATOM),
    float(np.sqrt(2.0)): ("sqrt(2)", _ATOM),
}
_INLINE = 16  # constant arrays up to this many elements are written out


class SymbolicValueError(ValueError):
    """A rule read the values of a symbol that has none (only its shape was given)."""


# ---------------------------------------------------------------------------------------------
# Expressions: what a symbol is, as a tree that writes itself with minimal parentheses
# ---------------------------------------------------------------------------------------------
class Expr:
    """A node of an expression; `op` is its operator ("+", "neg", "call", ...), `prec` its
    Python precedence."""

    op: str | None = None
    prec: int = _ATOM

    def text(self) -> str:
        raise NotImplementedError


class Leaf(Expr):
    """A name (`g`, `out`, `z1`, `dL/dh1`), or text of unknown precedence (`dL/dh1 * h1`,
    bracketed wherever an operator applies to it)."""

    def __init__(self, name: str, prec: int = _ATOM) -> None:
        self.name, self.prec = name, prec

    def text(self) -> str:
        return self.name


class Num(Expr):
    """A Python number."""

    def __init__(self, value: Any) -> None:
        if isinstance(value, np.generic):
            value = value.item()
        self.value = value
        text, prec = _number(value)
        self._text, self.prec = text, prec
        self.op = "/" if prec == _MUL else "neg" if prec == _UNARY else None

    def text(self) -> str:
        return self._text


class Raw(Expr):
    """Text written as is, with the precedence it has."""

    def __init__(self, text: str, prec: int = _ATOM, op: str | None = None) -> None:
        self._text, self.prec, self.op = text, prec, op

    def text(self) -> str:
        return self._text


class BinOp(Expr):
    """`left op right`: an operand is bracketed when it binds less tightly than `op` (or as
    tightly, unless the grouping does not matter: a + (b - c), a * (b / c), a**(b**c))."""

    def __init__(self, op: str, left: Expr, right: Expr) -> None:
        self.op, self.left, self.right, self.prec = op, left, right, _PREC[op]

    def text(self) -> str:
        op, p = self.op, self.prec
        left, right = self.left, self.right
        lt, rt = left.text(), right.text()
        if left.prec < p or (left.prec == p and op in ("**", *_CMP_OPS)):
            lt = f"({lt})"
        keep = right.prec == p and (op == "**" or (op == "+" and right.op in ("+", "-"))
                                    or (op == "*" and right.op in ("*", "/")))
        if (right.prec < p and not (op == "**" and right.prec == _UNARY)) or (
                right.prec == p and not keep):
            rt = f"({rt})"
        return f"{lt}**{rt}" if op == "**" else f"{lt} {op} {rt}"


class Unary(Expr):
    """`-x`, `~x`."""

    def __init__(self, op: str, operand: Expr) -> None:
        self.op, self.operand, self.prec = op, operand, _UNARY

    def text(self) -> str:
        inner = self.operand.text()
        if self.operand.prec < _UNARY or isinstance(self.operand, Unary):
            inner = f"({inner})"
        return f"{self.op}{inner}"


class Call(Expr):
    """`name(args, key=value)`; arguments are expressions, keyword values already text."""

    op = "call"

    def __init__(self, name: str, args: Sequence[Expr], kwargs: Sequence[tuple[str, str]] = ()):
        self.name, self.args, self.kwargs = name, list(args), list(kwargs)

    def text(self) -> str:
        items = [a.text() for a in self.args] + [f"{k}={v}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(items)})"


class Postfix(Expr):
    """`base.T`, `base.mT`, `base[index]`."""

    op = "postfix"

    def __init__(self, base: Expr, suffix: str) -> None:
        self.base, self.suffix = base, suffix

    def text(self) -> str:
        base = self.base.text()
        if self.base.prec < _ATOM:
            base = f"({base})"
        return base + self.suffix


def _number(v: Any) -> tuple[str, int]:
    """A number's text and precedence: named constants by name, 1/3 as a fraction."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), _ATOM
    if isinstance(v, complex):
        return repr(v), _ATOM
    if isinstance(v, float) and not math.isfinite(v):
        return ("nan" if math.isnan(v) else "inf" if v > 0 else "-inf"), (
            _UNARY if v < 0 else _ATOM)
    negative = v < 0
    a = -v if negative else v
    if isinstance(a, float) and a in _NAMED:
        text, prec = _NAMED[a]
    elif isinstance(a, float) and a.is_integer() and a < 1e15:
        text, prec = str(int(a)), _ATOM
    elif isinstance(a, float):
        text, prec = repr(a), _ATOM
        frac = Fraction(a).limit_denominator(1000)
        if len(text) > 8 and frac.denominator > 1 and float(frac) == a:
            text, prec = f"{frac.numerator}/{frac.denominator}", _MUL
        elif len(text) > 12:
            text = f"{a:.12g}"
    else:
        text, prec = str(a), _ATOM
    if negative:
        return "-" + text, _MUL if prec == _MUL else _UNARY
    return text, prec


# --- building expressions, with the simplifications ---------------------------------------------
def _is_num(e: Expr, value: Any = None) -> bool:
    if not isinstance(e, Num) or isinstance(e.value, (bool, complex)):
        return False
    return value is None or e.value == value


def _negative(e: Expr) -> bool:
    if isinstance(e, Num):
        return not isinstance(e.value, (bool, complex)) and e.value < 0
    if isinstance(e, Unary):
        return e.op == "-"
    return isinstance(e, BinOp) and e.op in ("*", "/", "@") and _negative(e.left)


def _neg(e: Expr) -> Expr:
    """-e, with the sign on the first factor."""
    if _is_num(e):
        return Num(-e.value)
    if isinstance(e, Unary) and e.op == "-":
        return e.operand
    if isinstance(e, BinOp) and e.op in ("*", "/", "@"):
        return BinOp(e.op, _neg(e.left), e.right)
    return Unary("-", e)


def _binop(op: str, a: Expr, b: Expr) -> Expr:
    if _is_num(a) and _is_num(b) and op in ("+", "-", "*", "/", "**"):
        try:
            return Num({"+": a.value + b.value, "-": a.value - b.value,
                        "*": a.value * b.value, "/": a.value / b.value,
                        "**": a.value ** b.value}[op])
        except (ZeroDivisionError, OverflowError):
            pass
    if op == "*":
        if _is_num(a, 1):
            return b
        if _is_num(b, 1):
            return a
        if _is_num(a, 0) or _is_num(b, 0):
            return Num(0)
        if _is_num(a, -1):
            return _neg(b)
        if _is_num(b, -1):
            return _neg(a)
        if _negative(b):
            return BinOp("*", _neg(a), _neg(b))
    elif op == "/":
        if _is_num(b, 1):
            return a
        if _is_num(a, 0):
            return Num(0)
        if _negative(b):
            return BinOp("/", _neg(a), _neg(b))
    elif op == "+":
        if _is_num(a, 0):
            return b
        if _is_num(b, 0):
            return a
        if _negative(b):
            return BinOp("-", a, _neg(b))
    elif op == "-":
        if _is_num(b, 0):
            return a
        if _is_num(a, 0):
            return _neg(b)
        if _negative(b):
            return BinOp("+", a, _neg(b))
    elif op == "**" and _is_num(b, 1):
        return a
    return BinOp(op, a, b)


# ---------------------------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------------------------
class Traced(np.ndarray):
    """An array a rule read from a symbol (`value_of(s)`), that remembers the expression it is
    the value of: used as an index or a constant, it is written as that expression."""

    expr: Expr | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self.expr = None  # anything computed from it is a plain constant


class Sym:
    """A symbolic array: an expression, with a shape, a dtype and (when given) values.

    Rules see it as an array: Python operators, NumPy ufuncs (`__array_ufunc__`), `prims.<row>`
    calls (`_apply_primitive`), `.T`, `.mT`, indexing, `.shape`/`.ndim`/`.dtype`/`.size`, and
    `.data` (the values, for rules that branch on them)."""

    __slots__ = ("expr", "_value", "_compute", "known")
    __array_priority__ = 1000.0

    def __init__(self, expr: Expr, value: Any = None, compute: Callable | None = None,
                 known: bool = True) -> None:
        self.expr, self._value, self._compute, self.known = expr, value, compute, known

    # --- what a rule may ask ------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        if self._value is None:
            with np.errstate(all="ignore"):
                self._value = np.asarray(self._compute())
            self._compute = None
        return self._value

    @property
    def shape(self) -> tuple:
        return tuple(np.shape(self.value))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(self.value).dtype

    @property
    def data(self) -> np.ndarray:
        """The values (for rules that branch on them), as a `Traced` array."""
        if not self.known:
            raise SymbolicValueError(f"the rule reads the values of {self.expr.text()}, "
                                     "which were not given (only its shape)")
        traced = np.asarray(self.value).view(Traced)
        traced.expr = self.expr
        return traced

    def __len__(self) -> int:
        return self.shape[0]

    def __bool__(self) -> bool:
        raise TypeError(f"a rule branched on the symbolic value {self.expr.text()}; read its "
                        "values with value_of() to branch on them")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(f"{self.expr.text()} is symbolic: NumPy cannot turn it into an array "
                        "(use a ufunc, an operator or a prims.<row> call)")

    def __repr__(self) -> str:
        return f"Sym({self.expr.text()!r})"

    __hash__ = object.__hash__

    def text(self) -> str:
        return self.expr.text()

    # --- operators ----------------------------------------------------------------------------
    def _bin(self, op: str, other: Any, reflected: bool = False) -> Sym:
        a, b = (other, self) if reflected else (self, other)
        return _operate(op, a, b)

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __truediv__(self, o): return self._bin("/", o)
    def __rtruediv__(self, o): return self._bin("/", o, True)
    def __floordiv__(self, o): return self._bin("//", o)
    def __rfloordiv__(self, o): return self._bin("//", o, True)
    def __mod__(self, o): return self._bin("%", o)
    def __rmod__(self, o): return self._bin("%", o, True)
    def __pow__(self, o): return self._bin("**", o)
    def __rpow__(self, o): return self._bin("**", o, True)
    def __matmul__(self, o): return self._bin("@", o)
    def __rmatmul__(self, o): return self._bin("@", o, True)
    def __lt__(self, o): return self._bin("<", o)
    def __le__(self, o): return self._bin("<=", o)
    def __gt__(self, o): return self._bin(">", o)
    def __ge__(self, o): return self._bin(">=", o)
    def __eq__(self, o): return self._bin("==", o)  # type: ignore[override]
    def __ne__(self, o): return self._bin("!=", o)  # type: ignore[override]
    def __and__(self, o): return self._bin("&", o)
    def __rand__(self, o): return self._bin("&", o, True)
    def __or__(self, o): return self._bin("|", o)
    def __ror__(self, o): return self._bin("|", o, True)

    def __neg__(self) -> Sym:
        return _derived(_neg(self.expr), lambda: -self.value, [self])

    def __pos__(self) -> Sym:
        return self

    def __abs__(self) -> Sym:
        return _derived(Call("abs", [self.expr]), lambda: np.abs(self.value), [self])

    def __invert__(self) -> Sym:
        return _derived(Unary("~", self.expr), lambda: ~self.value, [self])

    @property
    def T(self) -> Sym:  # noqa: N802 (ndarray's name)
        return _derived(Postfix(self.expr, ".T"), lambda: self.value.T, [self])

    @property
    def mT(self) -> Sym:  # noqa: N802
        return _derived(Postfix(self.expr, ".mT"), lambda: np.swapaxes(self.value, -1, -2),
                        [self])

    def __getitem__(self, index: Any) -> Sym:
        return _derived(Postfix(self.expr, f"[{_index_text(index)}]"),
                        lambda: self.value[_values(index)], [self, index])

    # --- NumPy and the rows --------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs:
            return NotImplemented
        if ufunc in _UFUNC_OPS and len(inputs) == 2:
            return _operate(_UFUNC_OPS[ufunc], *inputs)
        if ufunc is np.negative:
            return -inputs[0]
        if ufunc is np.positive:
            return inputs[0]
        name = {"absolute": "abs", "true_divide": "divide"}.get(ufunc.__name__, ufunc.__name__)
        return _derived(Call(name, [_expr(x) for x in inputs]),
                        lambda: ufunc(*[_values(x) for x in inputs]), inputs)

    def _apply_primitive(self, prim: Any, inputs: Sequence[Any], params: dict) -> Sym:
        """How `prims.<row>(...)` runs on symbols (see `Primitive.__call__`)."""
        params = dict(params or {})
        expr = _row_expr(prim, list(inputs), params)
        return _derived(expr, lambda: prim.forward(*[_values(x) for x in inputs],
                                                   **_values(params)), inputs)


def symbol(name: str, value: Any = None, *, shape: Sequence[int] | None = None,
           dtype: Any = np.float64) -> Sym:
    """A named symbol: with `value` (an array) a rule may read its values; with only `shape`
    (and dtype) it may ask its shape. The name "1" is the number 1 (a root's gradient); a name
    in brackets, `(dL/dh1 * h1)`, is an expression, bracketed again only where it needs to be."""
    if value is None:
        value, known = np.ones(tuple(shape or ()), dtype=dtype), False
    else:
        value, known = np.asarray(value), True
    if name == "1":
        expr: Expr = Num(1)
    elif _bracketed(name):
        expr = Leaf(name[1:-1], prec=0)
    else:
        expr = Leaf(name)
    return Sym(expr, value=value, known=known)


def _bracketed(text: str) -> bool:
    """Whether `text` is one bracketed whole, `(a + b)` (not `(a) + (b)`)."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for k, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(text) - 1:
            return False
    return True


def _derived(expr: Expr, compute: Callable, parts: Sequence[Any]) -> Sym:
    known = all(p.known for p in _syms(parts))
    return Sym(expr, compute=compute, known=known)


def _syms(x: Any) -> list[Sym]:
    if isinstance(x, Sym):
        return [x]
    if isinstance(x, (tuple, list)):
        return [s for item in x for s in _syms(item)]
    if isinstance(x, dict):
        return [s for item in x.values() for s in _syms(item)]
    return []


def _values(x: Any) -> Any:
    """x with every symbol replaced by its value."""
    if isinstance(x, Sym):
        return x.value
    if isinstance(x, tuple):
        return tuple(_values(i) for i in x)
    if isinstance(x, list):
        return [_values(i) for i in x]
    if isinstance(x, dict):
        return {k: _values(v) for k, v in x.items()}
    return x


def _operate(op: str, a: Any, b: Any) -> Sym:
    ufunc = _OP_UFUNCS[op]
    return _derived(_binop(op, _expr(a), _expr(b)), lambda: ufunc(_values(a), _values(b)),
                    [a, b])


def _expr(x: Any) -> Expr:
    """The expression of an operand: a symbol's own, a number, or a constant array."""
    if isinstance(x, Sym):
        return x.expr
    if isinstance(x, Traced) and x.expr is not None:
        return x.expr
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return Num(x)
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return Num(x.item())
    if isinstance(x, np.ndarray):
        return Raw(_array_text(x))
    return Raw(_param_text("", x))


# --- writing arrays, indices and parameters ----------------------------------------------------
def _array_text(a: np.ndarray) -> str:
    """A constant array: ones/zeros/full when uniform, eye(n), a list when small."""
    if isinstance(a, Traced) and a.expr is not None:
        return a.expr.text()
    flat = a.reshape(-1)
    dtype = "" if a.dtype == np.float64 else f", dtype={a.dtype.name}"
    if a.size and np.all(flat == flat[0]) and (a.dtype.kind == "f" or a.size > _INLINE):
        v = flat[0].item()
        if v in (0, 1):  # ones(2,3), as explain writes a seed
            dims = shape_text(a.shape)[1:-1]
            if dtype:
                dims = (dims.rstrip(",") + dtype) if dims else dtype[2:]
            return f"{'ones' if v else 'zeros'}({dims})"
        return f"full({_param_text('', a.shape)}, {_number(v)[0]}{dtype})"
    if a.ndim == 2 and a.shape[0] == a.shape[1] and np.array_equal(a, np.eye(len(a))):
        return f"eye({len(a)}{dtype})"
    if a.ndim == 1 and a.size > 3 and a.dtype.kind in "iu":
        step = int(flat[1]) - int(flat[0])
        if step and np.array_equal(np.diff(flat), np.full(a.size - 1, step)):
            stop = int(flat[-1]) + (1 if step > 0 else -1)
            return (f"arange({int(flat[0])}, {stop})" if step == 1 else
                    f"arange({int(flat[0])}, {stop}, {step})")
    if a.size <= _INLINE:
        return _list_text(a.tolist())
    return f"<{a.dtype.name} array {shape_text(a.shape)}>"


def _list_text(x: Any) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_list_text(i) for i in x) + "]"
    return _number(x)[0]


def _slice_text(s: slice) -> str:
    parts = ["" if s.start is None else str(s.start), "" if s.stop is None else str(s.stop)]
    if s.step is not None:
        parts.append(str(s.step))
    return ":".join(parts)


def _index_text(index: Any) -> str:
    """An index as written inside [...]: `:, ::-1`, `0, [2, 0]`, `..., None`."""
    items = index if isinstance(index, tuple) else (index,)
    if not items:
        return "()"
    out = []
    for i in items:
        if isinstance(i, slice):
            out.append(_slice_text(i))
        elif i is Ellipsis:
            out.append("...")
        elif i is None:
            out.append("None")
        elif isinstance(i, Sym):
            out.append(i.expr.text())
        elif isinstance(i, np.ndarray):
            out.append(_array_text(i) if i.ndim else str(i.item()))
        elif isinstance(i, list):
            out.append(_list_text(i))
        else:
            out.append(str(int(i)) if isinstance(i, (int, np.integer)) else repr(i))
    return ", ".join(out)


def _axes_text(axis: Any) -> str:
    if axis is None:
        return "None"
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return str(axes[0]) if len(axes) == 1 else str(tuple(int(a) for a in axes))


def _param_text(key: str, v: Any) -> str:
    """A parameter's value as Python text."""
    if key == "axis":
        return _axes_text(v)
    if key == "shape" and isinstance(v, tuple):
        return shape_text(v)
    if key == "index":
        return f"s_[{_index_text(v)}]"
    if isinstance(v, Sym):
        return v.expr.text()
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (bool, int, float, np.generic)):
        return _number(v.item() if isinstance(v, np.generic) else v)[0]
    if isinstance(v, np.ndarray):
        return _array_text(v)
    if isinstance(v, tuple):
        items = [_param_text("", i) for i in v]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_param_text("", i) for i in v) + "]"
    if isinstance(v, slice):
        return f"s_[{_slice_text(v)}]"
    return repr(v)


def _quiet(key: str, v: Any) -> bool:
    if key not in QUIET:
        return False
    q = QUIET[key]
    try:
        return (v is None and q is None) or (v is not None and q is not None and (
            v == q or (isinstance(q, tuple) and tuple(v) == q)))
    except (TypeError, ValueError):
        return False


def _row_expr(prim: Any, inputs: list, params: dict) -> Expr:
    """How a `prims.<row>(...)` call is written (the rows that have a shorter form, then
    `name(inputs, key=value)`)."""
    name = prim.name
    args = [_expr(x) for x in inputs]
    x = inputs[0] if inputs else None
    if name == "getitem":
        return Postfix(args[0], f"[{_index_text(params['index'])}]")
    if name == "transpose" and params.get("axes") is None:
        return Postfix(args[0], ".T")
    if (name == "transpose" and isinstance(x, Sym) and tuple(params["axes"]) == tuple(
            range(x.ndim))) or (name == "swapaxes" and params["axis1"] == params["axis2"]):
        return args[0]  # leaves x as it is
    if name == "swapaxes" and isinstance(x, Sym) and x.ndim >= 2 and {
            params["axis1"], params["axis2"]} == {x.ndim - 1, x.ndim - 2}:
        return Postfix(args[0], ".T" if x.ndim == 2 else ".mT")
    if name == "einsum":
        return Call("einsum", [Raw(repr(params["subscripts"])), *args])
    if name == "astype" and isinstance(args[0], BinOp) and args[0].op in _CMP_OPS and \
            np.dtype(params["dtype"]).kind == "f":
        return args[0]  # a comparison's True/False already counts as 1/0
    if name == "broadcast_to" and isinstance(args[0], Num):
        shape = tuple(params["shape"])
        v = args[0].value
        if v in (0, 1):
            return Raw(("ones" if v else "zeros") + shape_text(shape))
        return Call("full", [Raw(shape_text(shape)), args[0]])
    if name in ("take_index", "put_add"):
        it = iter(inputs[1:])
        index = tuple(next(it) if _is_slot(i) else i for i in params["template"])
        if name == "take_index":
            return Postfix(args[0], f"[{_index_text(index)}]")
        return Call("scatter_add", [args[0]], [("index", f"s_[{_index_text(index)}]"),
                                                ("shape", shape_text(tuple(params["shape"])))])
    keys = [k for k, v in params.items() if not _quiet(k, v)]
    if keys == ["shape"]:
        return Call(name, [*args, Raw(shape_text(tuple(params["shape"])))])
    return Call(name, args, [(k, _param_text(k, params[k])) for k in keys])


def _is_slot(item: Any) -> bool:
    return type(item).__name__ == "_Slot"


# ---------------------------------------------------------------------------------------------
# Running a rule, and the names its text uses
# ---------------------------------------------------------------------------------------------
def derive(prim: Any, i: int, g: Sym, out: Sym, inputs: Sequence[Sym], params: dict) -> Sym | None:
    """Run `prim`'s rule for input `i` on symbols; None when the input has no gradient. Raises
    what the rule raises (SymbolicValueError when it reads values that were not given)."""
    k = 0 if prim.variadic else i
    rule = prim.vjps[k] if k < len(prim.vjps) else None
    if rule is None:
        return None
    with np.errstate(all="ignore"):
        if prim.variadic:
            result = rule(i, g, out, *inputs, **params)
        else:
            result = rule(g, out, *inputs, **params)
    if result is None or isinstance(result, Sym):
        return result
    return Sym(_expr(result), value=np.asarray(result))


def text_of(x: Any) -> str:
    """The text of a symbol (or of a number or constant array)."""
    return _expr(x).text()


def factor(result: Sym, g: Sym) -> Expr | None:
    """`result` as `g * f` with f free of g (an elementwise rule's derivative): f, or None."""
    factors: list[Expr] = []

    def flatten(e: Expr) -> bool:
        if isinstance(e, BinOp) and e.op == "*":
            flatten(e.left)
            flatten(e.right)
        else:
            factors.append(e)

    flatten(result.expr)
    hits = [k for k, f in enumerate(factors) if f is g.expr]
    negated = [k for k, f in enumerate(factors) if isinstance(f, Unary) and f.operand is g.expr]
    if len(hits) + len(negated) != 1:
        return None
    k = (hits + negated)[0]
    rest = factors[:k] + factors[k + 1:]
    if any(_contains(f, g.expr) for f in rest):
        return None
    if not rest:
        rest = [Num(1)]
    expr = rest[0]
    for f in rest[1:]:
        expr = _binop("*", expr, f)
    return _neg(expr) if negated else expr


def _contains(e: Expr, target: Expr) -> bool:
    if e is target:
        return True
    for child in (getattr(e, "left", None), getattr(e, "right", None),
                  getattr(e, "operand", None), getattr(e, "base", None)):
        if child is not None and _contains(child, target):
            return True
    return any(_contains(a, target) for a in getattr(e, "args", ()))


def namespace() -> dict[str, Any]:
    """The names derived texts use, bound to NumPy and the rows, so that a text evaluates to
    the rule's numbers once its symbols' names are bound to their values too."""
    from ..core.ops.registry import PRIMITIVES, sum_to_shape

    ns: dict[str, Any] = {}
    for name, row in PRIMITIVES.items():
        ns[name] = _with_quiet_defaults(row)
    ns.update({
        "abs": np.abs, "where": np.where, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
        "sign": np.sign, "sin": np.sin, "cos": np.cos, "tan": np.tan, "sinh": np.sinh,
        "cosh": np.cosh, "floor": np.floor, "expand_dims": np.expand_dims, "pi": np.pi,
        "einsum": np.einsum, "eye": np.eye, "s_": np.s_, "sum_to": sum_to_shape,
        "arange": np.arange,
        "ones": lambda *shape, dtype=float: np.ones(shape, dtype),
        "zeros": lambda *shape, dtype=float: np.zeros(shape, dtype),
        "full": np.full, "nan": np.nan, "inf": np.inf,
        "float64": np.float64, "float32": np.float32, "float16": np.float16,
        "bool": np.bool_, "int64": np.int64,
    })
    return ns


def _with_quiet_defaults(row: Any) -> Callable:
    """A row called with its quiet parameters filled in (they are left out of the text)."""
    try:
        names = list(inspect.signature(row.forward).parameters)
    except (TypeError, ValueError):
        return row
    defaults = {k: v for k, v in QUIET.items() if k in names}
    if not defaults:
        return row

    def call(*inputs: Any, **params: Any) -> Any:
        return row(*inputs, **{**defaults, **params})

    call.__name__ = row.name
    return call
