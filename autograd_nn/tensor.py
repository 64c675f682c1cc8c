"""`Tensor`: a NumPy array that remembers how it was computed.

The class holds data and graph links only; every operation lives in `autograd_nn.ops` (forward
and backward side by side) and the methods below are thin calls into it. Node records use
`__slots__` and hold no closures, so a graph has no reference cycles and is freed by reference
counting as soon as it is dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOAT_KINDS = "f"  # real floats only: the rules have no complex (conjugate) conventions


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


class Tensor:
    """An n-dimensional array with an optional gradient and a record of the op that made it.

    `Tensor(data, requires_grad=False, name=None)`: data is a number, nested list or ndarray.
    Floating dtypes are kept (float64 by default, float32 honoured); only floating tensors may
    require grad. Tensors hash by identity, so they can be dict keys even though `==` is
    elementwise.
    """

    __slots__ = (
        "data", "grad", "name", "_rg", "_op", "_parents", "_params", "_scope", "_where",
        "__weakref__",
    )
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__ instead of NumPy
    __array_priority__ = 1000

    def __init__(
        self, data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None
    ) -> None:
        arr = _as_array(data, dtype)
        self.data = arr
        self.grad = None
        self.name = name
        self._rg = False
        self._op = None
        self._parents = ()
        self._params = None
        self._scope = None
        self._where = None
        if requires_grad:
            self.requires_grad = True

    # --- attributes -------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

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
        self._rg = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

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

    @property
    def T(self) -> Tensor:
        return _F.transpose(self)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a tensor with one element can be converted, this one has shape "
                f"{self.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t == x).all() style reductions on .data"
            )
        return bool(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # NumPy functions (np.dot, np.asarray, ...) would silently drop the graph of a tensor
        # that requires grad, so that conversion must be asked for explicitly.
        if self._rg:
            raise TypeError(
                f"cannot hand a Tensor that requires grad ({self.shape} {self.dtype}"
                f"{', ' + repr(self.name) if self.name else ''}) to NumPy: a NumPy function such "
                "as np.dot would drop its gradient silently. Use the autograd_nn op instead "
                "(ag.dot, ag.matmul or @, ag.exp, ...), or take the values on purpose with "
                ".data, .numpy() or .detach()"
            )
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data, name=self.name)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets `.grad` to None)."""
        self.grad = None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf that requires grad.

        `grad` is the gradient of some scalar with respect to this tensor (needed unless this
        tensor has one element). The graph's links are released afterwards unless
        `retain_graph=True`, so a second backward needs `retain_graph=True` on the first.
        """
        seed = _engine.check_root(self, grad, "backward")
        _engine.backward_pass([self], [seed], retain_graph=retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op.name}")
        elif self._rg:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}{', ' if extras else ''}{', '.join(extras)})"

    __hash__ = object.__hash__

    # --- operators ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _F.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _F.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _F.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _F.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _F.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Tensor does not support item assignment (in-place writes would silently corrupt "
            "recorded graphs); build a new tensor with ag.where(...) or ag.concatenate(...), or "
            "write to .data of a tensor that is not part of a graph"
        )

    # comparisons: elementwise, not differentiable, return boolean tensors
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _F.compare(self, other, np.equal, "==")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _F.compare(self, other, np.not_equal, "!=")

    def __lt__(self, other: Any) -> Tensor:
        return _F.compare(self, other, np.less, "<")

    def __le__(self, other: Any) -> Tensor:
        return _F.compare(self, other, np.less_equal, "<=")

    def __gt__(self, other: Any) -> Tensor:
        return _F.compare(self, other, np.greater, ">")

    def __ge__(self, other: Any) -> Tensor:
        return _F.compare(self, other, np.greater_equal, ">=")

    # --- methods (all thin wrappers over autograd_nn.functions) -------------------------------
    def dot(self, other: Any) -> Tensor:
        return _F.dot(self, other)

    def matmul(self, other: Any) -> Tensor:
        return _F.matmul(self, other)

    # The extra keywords let np.sum(t), np.mean(t), np.max(t) ... call these methods and keep
    # the graph; NumPy's dtype= and out= themselves are not supported.
    def sum(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any) -> Tensor:
        _no_numpy_extras("sum", numpy_kwargs)
        return _F.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any) -> Tensor:
        _no_numpy_extras("mean", numpy_kwargs)
        return _F.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any) -> Tensor:
        _no_numpy_extras("max", numpy_kwargs)
        return _F.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False, **numpy_kwargs: Any) -> Tensor:
        _no_numpy_extras("min", numpy_kwargs)
        return _F.min(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _F.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _F.transpose(self, axes or None)

    def exp(self) -> Tensor:
        return _F.exp(self)

    def log(self) -> Tensor:
        return _F.log(self)

    def sqrt(self) -> Tensor:
        return _F.sqrt(self)

    def abs(self) -> Tensor:
        return _F.abs(self)

    def sigmoid(self) -> Tensor:
        return _F.sigmoid(self)

    def relu(self) -> Tensor:
        return _F.relu(self)

    def tanh(self) -> Tensor:
        return _F.tanh(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return _F.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _F.log_softmax(self, axis)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _F.logsumexp(self, axis, keepdims)

    def astype(self, dtype: Any) -> Tensor:
        return _F.astype(self, dtype)


def _no_numpy_extras(op: str, kwargs: dict) -> None:
    """Accept NumPy's reduction keywords only at their no-op defaults (np.sum(t) passes them)."""
    extra = {k: v for k, v in kwargs.items() if v is not None and k not in ("where",)}
    if kwargs.get("where", True) is not True:
        extra["where"] = kwargs["where"]
    if extra:
        raise TypeError(
            f"{op}: the NumPy arguments {sorted(extra)} are not supported on Tensors; use "
            f"t.{op}(axis=..., keepdims=...) and .astype(dtype) for a dtype"
        )


# The op functions and the engine import Tensor themselves, so they bind these two names when
# they load (see the end of functions.py and engine.py) instead of being imported here.
_F: Any = None
_engine: Any = None
