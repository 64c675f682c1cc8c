"""What a live graph keeps for backward, and how writes into it are caught.

Rule: don't write in place into an array that a recorded op's backward will read (an input of
the op, or its result) until that graph is done (`backward()` without `retain_graph`, or the
graph dropped). Such a write would make backward compute gradients at values the forward never
saw, so it is caught: an array of up to `SMALL` bytes is copied when the op records and
compared when backward reaches the op, which raises `ModifiedInPlaceError` naming the op and
the input; a larger array (a copy would cost real time and memory) is made read-only while the
graph holds it, so NumPy refuses the write itself ("assignment destination is read-only").
Rebinding `t.data` to a new array is always fine: the graph keeps the arrays it saw; the
optimizers step a parameter that a live graph still reads by rebinding, not in place.

Which arguments a rule reads is found once per row from the rule's code (`reads`); reading only
`.shape`, `.ndim`, `.dtype` or `.size` does not count, so `add` or `sum` keep nothing.
"""

from __future__ import annotations

import dis
import inspect
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_ndarray = np.ndarray
_SHAPE_ONLY = frozenset({"shape", "ndim", "dtype", "size"})
_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLOSURE",
                    "LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW",
                    "LOAD_FAST_BORROW_LOAD_FAST_BORROW"})

SMALL = 8192  # bytes: arrays up to this size are copied and compared, larger ones locked
_counts: dict[int, int] = {}  # id(array) -> how many live graphs hold it read-only
_mutex = threading.Lock()
_acquire, _release = _mutex.acquire, _mutex.release


def reads(rule: Callable | None, names: Sequence[str]) -> set[str]:
    """Which of `names` (a rule's parameters) the rule reads beyond their shape and dtype;
    every name when the rule's code cannot be read."""
    if rule is None:
        return set()
    code = getattr(rule, "__code__", None)
    if code is None:
        return set(names)
    wanted = set(names)
    found: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for k, ins in enumerate(instructions):
        if ins.opname not in _LOADS:
            continue
        loaded = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
        for name in loaded:
            if name in wanted and not (len(loaded) == 1 and _shape_only(instructions, k + 1)):
                found.add(name)
    # a nested function reading a parameter counts as reading it
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            found |= wanted & (set(const.co_freevars) | set(code.co_cellvars))
    return found


def _shape_only(instructions: list, k: int) -> bool:
    """Whether the value loaded just before instruction `k` is only asked its shape: `x.shape`,
    or `xs[i].shape` for a sequence of inputs."""
    def op(j: int) -> Any:
        return instructions[j] if j < len(instructions) else None

    first = op(k)
    if first is not None and first.opname == "LOAD_ATTR" and first.argval in _SHAPE_ONLY:
        return True
    index, subscript, attr = op(k), op(k + 1), op(k + 2)
    return (index is not None and index.opname in ("LOAD_FAST", "LOAD_CONST")
            and subscript is not None and subscript.opname == "BINARY_SUBSCR"
            and attr is not None and attr.opname == "LOAD_ATTR" and attr.argval in _SHAPE_ONLY)


def _parameters(rule: Callable) -> list[str] | None:
    try:
        return list(inspect.signature(rule).parameters)
    except (TypeError, ValueError):
        return None


def row_reads(vjps: Sequence[Callable | None], inputs: Sequence[str],
              variadic: bool) -> tuple[bool, tuple[int, ...] | None, tuple | None]:
    """(whether some rule reads the result, which inputs some rule reads (None = all of a
    variadic row's inputs), and for a row with 2-4 inputs the same pair for each choice of the
    inputs that need a gradient: an op keeps only what the rules that will run read)."""
    if variadic:  # rule(i, g, ans, *xs, **params)
        params = _parameters(vjps[0])
        if params is None or len(params) < 4:
            return True, None, None
        used = reads(vjps[0], (params[2], params[3]))
        return params[2] in used, (None if params[3] in used else ()), None
    by_rule = []
    for rule in vjps:
        if rule is None:
            by_rule.append((False, ()))
            continue
        params = _parameters(rule)
        if params is None or len(params) < 2 + len(inputs):  # unusual: assume it reads all
            by_rule.append((True, tuple(range(len(inputs)))))
            continue
        ans_name, input_names = params[1], params[2:2 + len(inputs)]
        used = reads(rule, (ans_name, *input_names))
        by_rule.append((ans_name in used,
                        tuple(i for i, n in enumerate(input_names) if n in used)))
    uses_ans = any(a for a, _ in by_rule)
    used_inputs = tuple(sorted({i for _, ins in by_rule for i in ins}))
    return uses_ans, used_inputs, (reads_by_mask(tuple(by_rule)) if 1 < len(vjps) <= 4
                                   else None)


def reads_by_mask(by_rule: tuple) -> dict[tuple[bool, ...], tuple[bool, tuple[int, ...]]]:
    """For each choice of which inputs need a gradient, what their rules read: (the result?,
    which inputs), looked up when an op records."""
    table = {}
    for mask in itertools.product((False, True), repeat=len(by_rule)):
        uses_ans, used = False, set()
        for (ans, ins), needed in zip(by_rule, mask, strict=True):
            if needed:
                uses_ans |= ans
                used.update(ins)
        table[mask] = (uses_ans, tuple(sorted(used)))
    return table


KEEPS_NOTHING = -2  # a save plan's index when the op keeps no array


def save_plans(reads_ans: bool, read_inputs: tuple[int, ...] | None, by_mask: dict | None,
               n_inputs: int | None, grad_inputs: tuple[int, ...] | None) -> tuple:
    """What an op of a row with 1-4 inputs keeps, indexed by which inputs need a gradient (bit
    i: input i), so that recording decides it with one lookup: None when no input that can
    carry a gradient needs one, else (reads the result?, which inputs are read, the one array
    to copy: its index, -1 for the result, `KEEPS_NOTHING`, or None for several). Empty for
    a variadic row or one with more inputs (recording then works it out per op)."""
    if n_inputs is None or not 1 <= n_inputs <= 4 or (n_inputs > 1 and by_mask is None):
        return ()
    plans = []
    for bits in range(2 ** n_inputs):
        mask = tuple(bool(bits >> i & 1) for i in range(n_inputs))
        if not any(mask[i] for i in (range(n_inputs) if grad_inputs is None else grad_inputs)):
            plans.append(None)
            continue
        uses_ans, read = (reads_ans, read_inputs) if n_inputs == 1 else by_mask[mask]
        count = len(read) + uses_ans
        one = (KEEPS_NOTHING if count == 0 else None if count > 1 else
               read[0] if read else -1)
        plans.append((uses_ans, read, one))
    return tuple(plans)


class ModifiedInPlaceError(RuntimeError):
    """Backward found that an array the forward pass saved was written in place since."""


def save(arrays: tuple, read: tuple[int, ...] | None, out: np.ndarray,
         reads_out: bool) -> tuple:
    """What one recorded op keeps for backward, as one flat tuple (the cyclic garbage collector
    then ignores it): every input array as the forward saw it, the result if a rule reads it, a
    `Hold` keeping the large arrays its rules read read-only (or None), then an index and a
    bytes copy for each small one (index -1 is the result). (Recording builds the common
    case, one small array, itself: `recording.record`.)"""
    copies = []
    large = None
    for i in (range(len(arrays)) if read is None else read):
        a = arrays[i]
        if a.nbytes <= SMALL:
            copies += (i, a.tobytes())
        else:
            large = [a] if large is None else [*large, a]
    if reads_out:
        if out.nbytes <= SMALL:
            copies += (-1, out.tobytes())
        else:
            large = [out] if large is None else [*large, out]
    return (arrays, out if reads_out else None, None if large is None else Hold(large), *copies)


def check(saved: tuple, node: Any) -> None:
    """Raise `ModifiedInPlaceError` naming the op and the array if one was overwritten."""
    arrays, out = saved[0], saved[1]
    for k in range(3, len(saved), 2):
        i = saved[k]
        a = out if i < 0 else arrays[i]
        if a.tobytes() != saved[k + 1]:
            raise ModifiedInPlaceError(_modified_message(node, i, a))


class Hold:
    """Large saved arrays, read-only until this is released (with its graph)."""

    __slots__ = ("locked",)

    def __init__(self, arrays: list) -> None:
        self.locked = _lock(arrays)

    def __del__(self) -> None:
        if self.locked:
            _unlock(self.locked)


def _modified_message(node: Any, i: int, a: np.ndarray) -> str:
    prim = node._op
    if i < 0:
        what = f"the result of {prim.name}"
    else:
        parent = node._parents[i] if node._parents else None
        label = f" '{parent.name}'" if parent is not None and parent.name else ""
        slot = prim.inputs[0] if prim.variadic else prim.inputs[i]
        what = f"input {slot}{label} (#{i}) of {prim.name}"
    site = f" (recorded at {node._where})" if getattr(node, "_where", None) else ""
    return (
        f"backward: {what}{site}, an array of shape {a.shape} {a.dtype}, was written in place "
        "after the forward pass read it, so its gradients would be computed at values the "
        "forward never saw. Write into it after backward() instead, rebind it (t.data = "
        "t.data - step) rather than writing in place, or run the forward again."
    )


def _lock(arrays: list) -> list:
    """Make `arrays` (and what each is a view of) read-only; returns what this turned or kept
    read-only, for `_unlock`."""
    locked = []
    counts = _counts
    _acquire()
    try:
        for a in arrays:
            while True:  # the array, then what it is a view of: a write there reaches it
                key = id(a)
                n = counts.get(key)
                if n is not None:
                    counts[key] = n + 1
                    locked.append(a)
                elif a.flags.writeable:
                    a.flags.writeable = False
                    counts[key] = 1
                    locked.append(a)
                a = a.base
                if a is None or a.__class__ is not _ndarray:
                    break
    finally:
        _release()
    return locked


def _unlock(locked: list) -> None:
    counts = _counts
    _acquire()
    try:
        for a in reversed(locked):  # bases first, so their views may turn writeable again
            key = id(a)
            n = counts[key] - 1
            if n:
                counts[key] = n
                continue
            del counts[key]
            try:
                a.flags.writeable = True
            except ValueError:  # its base is held read-only by another graph
                pass
    finally:
        _release()
