"""The op registry: one `Primitive` row per operation, from which everything else is generated.

A row holds the NumPy forward, one vector-Jacobian rule per input, how its public function reads
its arguments (`prepare`), whether it is a Tensor method, how `ag.explain` writes its forward
step (`display`; the gradient text is the rule itself, run on symbols by check/symbolic.py) and
where `gradcheck` should look for kinks (`kink`). The public functions (`ag.exp`, ...), the
Tensor methods and `__all__` are generated from these rows in public.py.

A row is also callable, on arrays or on Tensors: `prims.exp(a)` runs NumPy when every input is
an array (or number), and records an op when any input is a Tensor. Rules are written with these
calls and with operators, so one set of rules serves ordinary gradients (on arrays, fast) and
every higher order (recorded, differentiable again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..saved import row_reads, save_plans

__all__ = [
    "COMPOSITES", "Api", "Call", "Code", "Composite", "Modes", "PRIMITIVES", "Primitive", "Text",
    "check_flag", "composite",
    "minus_zero", "normalize_axis", "over_one", "plain_without_params", "plus_zero", "primitive",
    "prims", "reduction_axes",
    "same_as_input", "shape_tuple", "sum_to_shape", "times_one", "value_of",
]

_ndarray = np.ndarray

PRIMITIVES: dict[str, Primitive] = {}
prims = SimpleNamespace()  # prims.<name> is PRIMITIVES[<name>], for rules to call each other
COMPOSITES: dict[str, Composite] = {}


class Api:
    """How users reach a row: its public function and Tensor method, and Python's operators."""

    __slots__ = ("public", "method", "prepare", "number_param", "operator", "doc")

    def __init__(self, public: str | None, method: bool | str | Callable,
                 prepare: Callable | None, number_param: tuple | None,
                 operator: tuple[str, str | None] | None, doc: str) -> None:
        self.public = public  # the public function's name (`ag.<public>`), or None
        self.method = method  # True: a Tensor method of the same name; str: that name
        # (*lifted inputs, *params) -> params dict, a Call, None (no params) or a final value
        self.prepare = prepare
        # (param, row): a plain Python number as the second operand runs `row` with it as
        # `param` (x ** 2 runs "pow" with exponent=2)
        self.number_param = number_param
        self.operator = operator  # ("__add__", "__radd__"): the Tensor operators it is behind
        self.doc = doc


class Text:
    """How explain, the explorer, names and pictures show a row."""

    __slots__ = ("display", "formula", "notes", "kink", "activation", "commutative")

    def __init__(self, display: str | Callable | None, formula: Sequence | None,
                 notes: Sequence[str], kink: Callable | None, activation: bool,
                 commutative: bool) -> None:
        self.display = display  # the forward step ("{a} + {b}")
        # per input, optional: explain prints the rule itself (check/symbolic.py); a row keeps
        # a text only where that reads worse, and tests/test_rule_text.py checks it
        self.formula = formula
        self.notes = tuple(notes)  # extra lines ("sigmoid'({x}) = {out}*(1-{out})")
        self.kink = kink  # (input arrays, params) -> (distance to a kink, where), or None
        self.activation = activation  # a layer's activation: its input is z<k>, its result h<k>
        self.commutative = commutative  # inputs swap freely: pictures leave edges unlabelled


class Code:
    """How `ag.compile` writes a row."""

    __slots__ = ("source", "helper", "identity")

    def __init__(self, source: str | Callable | None, helper: dict[str, Callable] | None,
                 identity: Callable | None) -> None:
        # the NumPy expression ("{a} + {b}"; NumPy ufunc rows default to "np.<ufunc>(...)"),
        # or (params, input shapes) -> such a template
        self.source = source
        self.helper = helper  # name -> self-contained function the module defines ("sigmoid")
        # (node, inputs, params, constant) -> the value the op leaves unchanged, or None:
        # `constant(x)` is x's array when x is a constant, else None (x * 1 is x)
        self.identity = identity


class Modes:
    """How vmap and forward mode run a row."""

    __slots__ = ("batch", "linear", "bilinear", "jvp")

    def __init__(self, batch: Callable | None, linear: bool, bilinear: bool,
                 jvp: Callable | None) -> None:
        # how the row runs on a batch under `vmap` (see batch_rules.py); elementwise rows need
        # none; None otherwise: vmap refuses the row
        self.batch = batch
        # forward mode (forward.py): a linear op's tangent is the op applied to the tangents, a
        # bilinear one's is f(ta, b) + f(a, tb); `jvp(tangents, ans, *inputs, **params)` is a
        # rule of the row's own; elementwise rows use their VJP rules, the rest double-VJP
        self.linear, self.bilinear, self.jvp = linear, bilinear, jvp


class Primitive:
    """One operation. `rule(g, ans, *inputs, **params)` returns the gradient for its input; None
    marks an input without gradient. The engine sums every gradient to its input's shape and
    dtype, so rules may return broadcast shapes. Variadic rows have one rule
    `rule(i, g, ans, *inputs, **params)` for all inputs.

    What the engine needs sits on the row itself; every other fact is in one of four parts:
    `api` (public function, method, operators), `text` (explain, names, pictures), `code`
    (ag.compile) and `modes` (vmap, forward mode). A row is written as one `primitive(...)`
    call whose keywords fill them."""

    __slots__ = (
        "name", "forward", "vjps", "inputs", "variadic", "grad_inputs", "elementwise",
        "api", "text", "code", "modes",
        "reads_ans", "read_inputs", "saves", "reads_by_rule", "save_plans",
    )

    def __init__(self, name: str, forward: Callable, vjps: Sequence[Callable | None], *,
                 inputs: Sequence[str] | None = None, variadic: bool = False,
                 elementwise: bool = False,
                 public: str | None = "", method: bool | str | Callable = False,
                 prepare: Callable | None = None, number_param: tuple | None = None,
                 operator: tuple[str, str | None] | None = None, doc: str = "",
                 display: str | Callable | None = None,
                 formula: Sequence[str | Callable] | None = None,
                 notes: Sequence[str] = (), kink: Callable | None = None,
                 activation: bool = False, commutative: bool = False,
                 source: str | Callable | None = None,
                 helper: dict[str, Callable] | None = None, identity: Callable | None = None,
                 batch: Callable | None = None, linear: bool = False,
                 bilinear: bool = False, jvp: Callable | None = None) -> None:
        """`elementwise`: a broadcasting elementwise op (explain names the summed axes; vmap
        and forward mode need nothing more). The other keywords fill the parts (see them)."""
        self.name = name
        self.forward = forward
        self.vjps = tuple(vjps)
        self.variadic = variadic
        if inputs is None:
            inputs = ("xs",) if variadic else ("x",) if len(self.vjps) == 1 else ("a", "b", "c")[
                :len(self.vjps)]
        self.inputs = tuple(inputs)
        if not variadic and len(self.inputs) != len(self.vjps):
            raise ValueError(f"primitive {name}: {len(self.inputs)} inputs but "
                             f"{len(self.vjps)} rules")
        # which inputs can carry a gradient (None: all of them, the fast case)
        which = tuple(i for i, rule in enumerate(self.vjps) if rule is not None)
        self.grad_inputs = None if variadic or len(which) == len(self.vjps) else which
        self.elementwise = elementwise
        # what backward reads (the result? which inputs?), found from the rules' code when the
        # row first records (autograd_nn/saved.py); None until then
        self.reads_ans = self.read_inputs = self.saves = self.reads_by_rule = None
        self.save_plans = None  # what an op keeps, by which inputs need a gradient (saved.py)
        self.api = Api(name if public == "" else public, method, prepare, number_param,
                       operator, doc)
        self.text = Text(display, formula, notes, kink, activation, commutative)
        self.code = Code(source, helper, identity)
        self.modes = Modes(batch, linear, bilinear, jvp)

    def __call__(self, *inputs: Any, **params: Any) -> Any:
        """Run on arrays (NumPy, no graph), or record when any input is a Tensor."""
        for x in inputs:
            if x.__class__ is not _ndarray:
                record = getattr(x, "_apply_primitive", None)
                if record is not None:
                    return record(self, inputs, params)
        return self.forward(*inputs, **params)

    def find_reads(self) -> bool:
        """Fill `reads_ans`, `read_inputs`, `reads_by_rule`, `save_plans` and `saves` (whether
        backward reads any value)."""
        self.reads_ans, self.read_inputs, self.reads_by_rule = row_reads(
            self.vjps, self.inputs, self.variadic)
        self.save_plans = save_plans(self.reads_ans, self.read_inputs, self.reads_by_rule,
                                     None if self.variadic else len(self.vjps),
                                     self.grad_inputs)
        self.saves = self.reads_ans or self.read_inputs != ()
        return self.saves

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class Call:
    """What a row's `prepare` returns to run another row instead (e.g. `x ** 2` runs "pow")."""

    __slots__ = ("prim", "inputs", "params")

    def __init__(self, prim: Primitive, inputs: Sequence[Any], params: dict | None = None):
        self.prim, self.inputs, self.params = prim, tuple(inputs), params


def plain_without_params(prepare: Callable) -> Callable:
    """Mark a `prepare` that returns None when given the inputs alone (`div`'s rounding_mode):
    a call without parameters, and the row's operator, then skip it (`a / b` stays fast)."""
    prepare.plain_without_params = True
    return prepare


def primitive(name: str, forward: Callable, *vjps: Callable | None, **fields: Any) -> Primitive:
    """Define and register one row: its forward, its rules, and the fields of `Primitive`."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is already defined")
    prim = Primitive(name, forward, vjps, **fields)
    PRIMITIVES[name] = prim
    setattr(prims, name, prim)
    return prim


class Composite:
    """An op written with other rows (`flatten` is a reshape): no rules of its own, so its
    gradient, explain text and compiled form are those of the rows it records. `inputs` leading
    arguments are lifted to Tensors (a sequence of them when `variadic`)."""

    __slots__ = ("name", "function", "inputs", "variadic", "method", "doc")

    def __init__(self, name: str, function: Callable, inputs: int, variadic: bool,
                 method: bool | str, doc: str) -> None:
        self.name, self.function, self.inputs = name, function, inputs
        self.variadic, self.method, self.doc = variadic, method, doc

    def __repr__(self) -> str:
        return f"<composite {self.name}>"


def composite(name: str, function: Callable, *, inputs: int = 1, variadic: bool = False,
              method: bool | str = False, doc: str = "") -> Callable:
    """Register an op built from other rows; its public function (and method) is generated like
    a row's. Returns `function`, which also runs on arrays (through the rows it calls)."""
    row = PRIMITIVES.get(name)
    if name in COMPOSITES or (row is not None and row.api.public is not None):
        raise ValueError(f"op {name!r} is already defined")
    COMPOSITES[name] = Composite(name, function, inputs, variadic, method, doc or function.__doc__)
    return function


# --- identities: when an op leaves an input unchanged (ag.compile then writes no statement) ---
# Each is `identity(node, inputs, params, constant)`: `constant(x)` is x's array when x is a
# constant of the traced code, else None. The compiler keeps the answer only when its shape and
# dtype are the node's.
def same_as_input(node: Any, inputs: Sequence, params: dict, constant: Callable) -> Any:
    """Reshape, broadcast, sum_to, astype, expand_dims: to the input's own shape and dtype."""
    return inputs[0]


def _all(arr: np.ndarray | None, value: float) -> bool:
    return arr is not None and arr.size > 0 and bool(np.all(arr == value))


def times_one(node: Any, inputs: Sequence, params: dict, constant: Callable) -> Any:
    """x * 1 and 1 * x."""
    a, b = inputs
    return a if _all(constant(b), 1) else b if _all(constant(a), 1) else None


def over_one(node: Any, inputs: Sequence, params: dict, constant: Callable) -> Any:
    """x / 1."""
    return inputs[0] if _all(constant(inputs[1]), 1) else None


def _zero_of_sign(arr: np.ndarray | None, negative: bool) -> bool:
    """All zeros, of the sign that leaves a float unchanged (any sign for integers)."""
    if not _all(arr, 0):
        return False
    return arr.dtype.kind not in "fc" or bool(np.all(np.signbit(arr.real) == negative))


def plus_zero(node: Any, inputs: Sequence, params: dict, constant: Callable) -> Any:
    """x + (-0.0) and (-0.0) + x (x + 0.0 turns -0.0 into 0.0: not an identity)."""
    a, b = inputs
    if _zero_of_sign(constant(b), negative=True):
        return a
    return b if _zero_of_sign(constant(a), negative=True) else None


def minus_zero(node: Any, inputs: Sequence, params: dict, constant: Callable) -> Any:
    """x - 0.0."""
    return inputs[0] if _zero_of_sign(constant(inputs[1]), negative=False) else None


def value_of(x: Any) -> Any:
    """The array inside a Tensor (or x itself): for rules that branch on values, not gradients."""
    return x.data if hasattr(x, "_apply_primitive") else x


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def normalize_axis(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """`axis` (None, int or sequence) as a sorted tuple of non-negative ints, checked: NumPy's
    AxisError when out of range (the public function puts its name in front of the error)."""
    if axis is None:
        return None
    if _is_int(axis):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)) and all(_is_int(a) for a in axis):
        axes = tuple(axis)
    else:
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(
                f"axis {ax!r} is out of range for a tensor with {ndim} dims")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduction_axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """`normalize_axis` for reductions: a 0-d tensor is one element along axis 0 or -1 (as in
    PyTorch), so those reduce it whole (None)."""
    if ndim == 0 and axis is not None:
        axes = (axis,) if _is_int(axis) else axis
        if isinstance(axes, (tuple, list)) and all(_is_int(a) and a in (0, -1) for a in axes):
            if len(axes) > 1:
                raise ValueError(f"repeated axis in {axis!r} (a 0-d tensor is one element along "
                                 "axis 0 or -1)")
            return None
    return normalize_axis(axis, ndim)


def shape_tuple(shape: Any, what: str = "shape") -> tuple[int, ...]:
    """`shape` (an int or a sequence of ints) as a tuple; fractional or non-numeric sizes are
    refused rather than truncated."""
    items = (shape,) if _is_int(shape) else shape
    if not isinstance(items, (tuple, list)) or not all(_is_int(n) for n in items):
        raise TypeError(f"{what} must be an int or a sequence of ints, got {shape!r}")
    return tuple(int(n) for n in items)


def check_flag(value: Any, what: str) -> bool:
    """A True/False argument (keepdims=...), refusing strings and other truthy values."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{what} must be True or False, got {value!r}")


def sum_to_shape(x: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast array back down to `shape` (leading axes, then size-1 axes)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    if lead:
        x = x.reshape(shape)
    return x
