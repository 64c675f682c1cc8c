"""`Tensor`: a NumPy array that remembers how it was computed.

The class holds data and graph links; node records use `__slots__` and hold no closures, so a
graph has no reference cycles and is freed by reference counting as soon as it is dropped. The
rest of the Tensor's story is in three modules beside this one: `recording` (lifting arguments
and the one path that records an op), `public` (each row's public function, Tensor method and
operator, generated from the rows) and `numpy_ufuncs` (NumPy's ufuncs given a Tensor).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import engine, ops  # noqa: F401 (importing ops registers every row)
from .state import thread

_accumulating = threading.Lock()  # guards `.grad += ...` across threads (as PyTorch does)
_FLOAT_KINDS = "f"  # real floats only: the rules have no complex (conjugate) conventions
_ndarray = np.ndarray


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as err:  # ragged nested lists, strings to float, ...
        raise type(err)(f"Tensor: cannot make a numeric array from this data: {err}") from None
    if arr.dtype == object:
        raise TypeError(
            f"Tensor: cannot make a numeric array from {type(data).__name__} "
            f"(NumPy gives dtype=object); pass numbers, nested lists of numbers, or an ndarray"
        )
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"Tensor: unsupported dtype {arr.dtype} (numeric data only)")
    return arr


class Size(int):
    """A Tensor's number of elements, an int as NumPy's `size`, that PyTorch code may also call:
    `t.size()` is the shape and `t.size(dim)` one axis's length."""

    def __new__(cls, n: int, shape: tuple[int, ...]) -> Size:
        self = super().__new__(cls, n)
        self.shape = shape
        return self

    def __call__(self, dim: int | None = None) -> Any:
        """The shape (as torch's size()), or the length of axis `dim`."""
        if dim is None:
            return self.shape
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or \
                not -len(self.shape) <= dim < len(self.shape):
            raise IndexError(f"size: dim {dim!r} is out of range for a tensor with "
                             f"{len(self.shape)} dims")
        return self.shape[dim]


class Tensor:
    """An n-dimensional array with an optional gradient and a record of the op that made it.

    `Tensor(data, requires_grad=False, name=None)`: data is a number, nested list or ndarray.
    Floating dtypes are kept (float64 by default, float32 honoured); only floating tensors may
    require grad. Tensors hash by identity, so they can be dict keys even though `==` is
    elementwise. The operators and op methods (`x.exp()`, `x.sum(axis)`, ...) are generated
    from the op rows at the end of this module.
    """

    __slots__ = (
        "data", "grad", "name", "_needs_grad", "_op", "_parents", "_params", "_scope", "_where",
        "_saved", "_hooks", "_levels", "_kept", "__weakref__",
    )
    __array_priority__ = 1000
    # Attached by the modules that build on the class (they import it, it imports none of
    # them): the operators, methods and `T` (public.py), `_apply_primitive` (recording.py),
    # `__array_ufunc__` (numpy_ufuncs.py), `__array_function__` (numpy_functions.py).

    def __init__(
        self, data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None
    ) -> None:
        arr = _as_array(data, dtype)
        self.data = arr
        levels = data._levels if isinstance(data, Tensor) else None  # one example's, in vmap
        self.grad = None
        self.name = name
        self._needs_grad = False
        self._op = None
        self._parents = ()
        self._params = None
        self._scope = None
        self._where = None
        self._saved = self._hooks = None
        self._levels = levels
        if requires_grad:
            self.requires_grad = True

    # --- attributes -------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor (only real floating tensors can)."""
        return self._needs_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind not in _FLOAT_KINDS:
            label = f" '{self.name}'" if self.name else ""
            raise TypeError(
                f"Tensor{label}: only real floating-point tensors can require grad, but this one "
                f"has "
                f"dtype {self.data.dtype} (shape {self.data.shape}); convert it first, e.g. "
                "Tensor(data, dtype=np.float64, requires_grad=True)"
            )
        if not value and self._op is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() instead"
            )
        self._needs_grad = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape (inside `vmap`, one example's shape)."""
        levels = self._levels
        return self.data.shape if levels is None else self.data.shape[len(levels):]

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        levels = self._levels
        return self.data.ndim if levels is None else self.data.ndim - len(levels)

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (float64 unless made otherwise)."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """The number of elements (NumPy's `size`); also callable as PyTorch's `size()` (the
        shape) and `size(dim)` (one axis's length)."""
        n = self.data.size if self._levels is None else int(np.prod(self.shape))
        return Size(n, self.shape)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs, parameters, constants)."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the primitive that produced this tensor, or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The recorded inputs of the op that produced this tensor (empty for leaves)."""
        return self._parents or ()

    @property
    def graph_released(self) -> bool:
        """True when backward() released this op's graph links (use retain_graph=True to keep)."""
        return self._op is not None and self._parents is None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (ag.compile guards it)."""
        return self._concrete(self._one_value("item"), "item")

    def __float__(self) -> float:
        return float(self.item())  # item() is what ag.compile guards

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1 and self._levels is None:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t == x).all() style reductions on .data"
            )
        return self._concrete(bool(self._one_value("bool")), "bool")

    def _concrete(self, value: Any, how: str) -> Any:
        """A Python value read from this tensor; active layers see it (`ag.compile` guards it:
        the compiled code checks it on every call and traces again when it changes)."""
        layers = thread.modes.layers
        if layers is not None:
            for entry in layers:
                entry.concrete(self, value, how)
        return value

    def _one_value(self, how: str) -> Any:
        """The single element of this tensor; inside vmap, the value every example shares (a
        Python branch on it is then the same for all), else an error naming the problem."""
        data = self.data
        if self._levels is not None:
            flat = data.reshape(-1)
            if flat.size and not (flat == flat[0]).all():
                raise ValueError(
                    f"{how}() of a value that differs between the examples of a vmap (shape "
                    f"{self.shape} per example): a Python branch on it cannot be batched; use "
                    "ag.where(...) instead, or loop over the examples")
            data = flat[:1]
        if data.size != 1:
            raise ValueError(
                f"{how}(): only a tensor with one element can be converted, this one has shape "
                f"{self.shape}"
            )
        return data.reshape(()).item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # NumPy functions (np.dot, np.asarray, ...) would silently drop the graph of a tensor
        # that requires grad, so that conversion must be asked for explicitly.
        if self._needs_grad:
            raise TypeError(
                f"cannot hand a Tensor that requires grad ({self.shape} {self.dtype}"
                f"{', ' + repr(self.name) if self.name else ''}) to NumPy: a NumPy function such "
                "as np.dot would drop its gradient silently. Use the autograd_nn op instead "
                "(ag.dot, ag.matmul or @, ag.exp, ...), or take the values on purpose with "
                ".data, .numpy() or .detach()"
            )
        if self._levels is not None:
            raise _batched_to_numpy(self, "NumPy")
        layers = thread.modes.layers
        if layers is not None:  # a running jvp refuses to lose a tangent this way
            for entry in layers:
                entry.numpy_call(self, "a NumPy function", "the autograd_nn op")
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph (inside vmap, still
        one example's value)."""
        t = Tensor(self.data, name=self.name)
        t._levels = self._levels
        return t

    def register_hook(self, hook: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `hook(gradient)` when backward has this tensor's whole gradient (an array; a
        Tensor when the backward is itself recorded); a non-None return replaces the gradient
        that flows on. Returns a function that removes the hook. As in PyTorch, the hook runs in
        every backward pass that reaches the tensor, the recorded second pass of `hessian` or
        `hvp` included (so with a hook that changes gradients, `hessian(f)` and
        `jacfwd(grad(f))` differ)."""
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if not self._needs_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no "
                               "gradient will ever reach it")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        hooks = self._hooks

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove

    def retain_grad(self) -> None:
        """Keep this intermediate's gradient in `.grad` after `backward()` (leaves always do)."""
        if not self._needs_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if self._op is None:
            return
        if self._hooks is None:
            self._hooks = []
        if engine.RETAIN not in self._hooks:
            self._hooks.append(engine.RETAIN)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets `.grad` to None)."""
        self.grad = None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf that requires grad.

        `grad` is the gradient of some scalar with respect to this tensor (needed unless this
        tensor has one element). The graph's links are released afterwards unless
        `retain_graph=True`, so a second backward needs `retain_graph=True` on the first.
        """
        if thread.modes.tracing is not None:  # .grad holds arrays: they would be baked in
            raise RuntimeError(
                "backward(): called while ag.compile traces the function; the .grad arrays "
                "would be baked into the compiled code. Use ag.grad or ag.value_and_grad inside "
                "the function instead (they compile)")
        seed = seed_gradient(self, grad, "backward")
        try:
            found = engine.backward([self], [seed], retain_graph=retain_graph, keep=True)
        finally:  # draw_graph(self) after backward() still shows the graph's structure
            engine.keep_structure(self)
        with _accumulating:  # threads adding into one parameter's .grad lose nothing
            for leaf, g in found.values():
                if g.__class__ is not _ndarray:
                    g = g.data
                # a fresh array: never alias one that another node or the caller may hold
                leaf.grad = np.array(g) if leaf.grad is None else np.asarray(leaf.grad + g)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self._needs_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    __hash__ = object.__hash__


    def __pos__(self) -> Tensor:
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment (in-place writes would silently corrupt "
            "recorded graphs); build a new tensor with ag.where(...) or ag.concatenate(...), or "
            "write to .data of a tensor that is not part of a graph"
        )



def _batched_to_numpy(t: Tensor, what: str) -> TypeError:
    return TypeError(
        f"cannot hand a value batched by vmap ({t.shape} {t.dtype} per example) to {what}: "
        "NumPy would see the whole batch as one array. Use the autograd_nn op instead "
        "(ag.exp, ag.tanh, ...; to index an array with it, make the array a Tensor: "
        "ag.Tensor(a)[i])")


def seed_gradient(root: Tensor, grad: Any, where: str) -> np.ndarray:
    """Check a backward root and its seed gradient; returns the seed as an array."""
    if not isinstance(root, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(root).__name__}")
    if not root._needs_grad:
        raise RuntimeError(
            f"{where}: this tensor ({root.shape} {root.dtype}) does not require grad: it was "
            "computed without any input that has requires_grad=True, or under no_grad()"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"{where}: grad can be implicitly created only for a scalar output, but this "
                f"tensor has shape {root.shape}; pass grad= an array of that shape "
                "(e.g. np.ones(shape)) or reduce the output first (.sum() or .mean())"
            )
        return np.ones(root.data.shape, root.data.dtype)
    if isinstance(grad, Tensor):
        grad = grad.data
    grad = np.asarray(grad)
    if grad.shape != root.shape:
        raise ValueError(
            f"{where}: grad has shape {grad.shape} but the tensor has shape {root.shape}")
    if grad.dtype != root.dtype:
        grad = grad.astype(root.dtype)
    return grad



__all__ = ["Tensor", "seed_gradient"]
