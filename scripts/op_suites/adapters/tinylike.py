"""A tinygrad-style `Tensor` over autograd_nn: names and arguments mapped, no op computed.

Every op forwards to one autograd_nn function or Tensor method (renaming the op and its keywords,
repacking arguments such as `permute(*order)` into `transpose(axes)`). A name with no autograd_nn
counterpart raises `MissingName`, which the runner counts as a missing op. Only constructors build
their data with NumPy, as an autograd_nn user does (`ag.Tensor(np.zeros(...))`).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

import autograd_nn as ag
from autograd_nn.nn import functional as F


class MissingName(AttributeError):
    """autograd_nn has no function for this tinygrad/torch name (counted as a missing op)."""


class DType:
    """A tinygrad dtype name standing for one NumPy dtype."""

    def __init__(self, name: str, np_dtype: Any) -> None:
        self.name, self.np = name, np.dtype(np_dtype)

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"

    @property
    def max(self) -> Any:
        return (np.iinfo if self.np.kind in "iu" else np.finfo)(self.np).max.item()

    @property
    def min(self) -> Any:
        return (np.iinfo if self.np.kind in "iu" else np.finfo)(self.np).min.item()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DType) and self.np == other.np

    def __hash__(self) -> int:
        return hash(self.np)


class dtypes:  # noqa: N801 - tinygrad's name
    """tinygrad's dtype names."""

    bool = DType("bool", np.bool_)
    int8, int16, int32, int64 = (DType(f"int{b}", f"int{b}") for b in (8, 16, 32, 64))
    uint8, uint16, uint32, uint64 = (DType(f"uint{b}", f"uint{b}") for b in (8, 16, 32, 64))
    half = float16 = DType("half", np.float16)
    float32 = float = DType("float", np.float32)
    float64 = double = DType("double", np.float64)
    int = int32
    default_float = float32
    default_int = int32

    @staticmethod
    def is_float(d: DType) -> bool:
        return np.issubdtype(d.np, np.floating)

    @staticmethod
    def is_int(d: DType) -> bool:
        return np.issubdtype(d.np, np.integer)

    @staticmethod
    def is_unsigned(d: DType) -> bool:
        return np.issubdtype(d.np, np.unsignedinteger)

    @staticmethod
    def from_np(d: Any) -> DType:
        return _DTYPE_OF[np.dtype(d)]


_DTYPE_OF = {
    d.np: d
    for d in (dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
              dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.half, dtypes.float32,
              dtypes.float64)
}


def _to_np_dtype(d: Any) -> Any:
    return d.np if isinstance(d, DType) else np.dtype(d)


def _np_dtype(d: Any) -> Any:
    if d is None:
        return None
    if isinstance(d, DType):
        return d.np
    if isinstance(d, str):
        return getattr(dtypes, d).np
    return np.dtype(d)


def _unwrap(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.t
    if isinstance(x, (list, tuple)):
        return _same_kind(x, [_unwrap(e) for e in x])
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, ag.Tensor):
        return Tensor(x)
    if isinstance(x, (list, tuple)):
        return _same_kind(x, [_wrap(e) for e in x])
    return x


def _same_kind(x: list | tuple, items: list) -> Any:
    """`items` in x's container type; a named tuple (cummax's values, indices) by position."""
    return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)


def _shape_args(args: tuple) -> tuple:
    """`f(2, 3)` and `f((2, 3))` both mean shape (2, 3), as in tinygrad."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _check_dims(shape: tuple) -> tuple:
    # tinygrad's own argument check for creation methods (a refusal, not a computation)
    if any(not isinstance(s, (int, np.integer)) or s < 0 for s in shape):
        raise ValueError(f"cannot create a tensor with negative dimensions: {shape}")
    return shape


def _from_data(data: np.ndarray, dtype: Any = None, requires_grad: Any = None) -> Tensor:
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


_KW_SPELLINGS = {"dim": ("axis",), "axis": ("dim",), "keepdim": ("keepdims",)}


def _rename(f: Any, kwargs: dict) -> dict:
    """torch/tinygrad keyword names to the spelling the autograd_nn function takes."""
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):
        return kwargs
    out = {}
    for k, v in kwargs.items():
        if k not in params:
            k = next((a for a in _KW_SPELLINGS.get(k, ()) if a in params), k)
        out[k] = v
    return out


def _fn(name: str) -> Any:
    f = getattr(ag, name, None)
    if f is None:
        f = getattr(F, name, None)
    if f is None:
        raise MissingName(f"autograd_nn has no `{name}`")
    return f


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    f = _fn(name)
    return _wrap(f(*_unwrap(args), **_unwrap(_rename(f, kwargs))))


# tinygrad/torch method name -> autograd_nn function name (same argument order after self)
ALIASES = {
    "add": "add", "sub": "sub", "mul": "mul", "pow": "power", "neg": "neg", "dot": "matmul",
    "matmul": "matmul", "swish": "silu", "leakyrelu": "leaky_relu", "bitwise_not": "invert",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh", "acosh": "arccosh",
    "atanh": "arctanh", "atan2": "arctan2", "clamp": "clip", "lshift": "left_shift",
    "rshift": "right_shift", "bitwise_left_shift": "left_shift",
    "bitwise_right_shift": "right_shift", "repeat_interleave": "repeat", "abs": "abs",
    "binary_crossentropy": "binary_cross_entropy",
    "binary_crossentropy_logits": "binary_cross_entropy_with_logits",
}
# names whose keyword spelling differs
KW_ALIASES = {
    "leaky_relu": {"neg_slope": "negative_slope"},
    "clip": {"min_": "lo", "max_": "hi", "min": "lo", "max": "hi"},
    "hardtanh": {"min_val": "min_val", "max_val": "max_val"},
    "roll": {"shifts": "shift", "dims": "axis"},
    "tril": {"diagonal": "k"}, "triu": {"diagonal": "k"},
    "repeat": {"dim": "axis"},
    "diagonal": {"dim1": "axis1", "dim2": "axis2"},
}


_UNBOUND: dict[str, Any] = {}


class _TensorType(type):
    """`Tensor.relu(x)` on the class means `x.relu()`, as in tinygrad."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        agname = ALIASES.get(name, name)
        _fn(agname)

        def unbound(self: Any, *args: Any, **kwargs: Any) -> Any:
            holder = self if isinstance(self, Tensor) else Tensor(self)
            return getattr(holder, name)(*args, **kwargs)

        return _UNBOUND.setdefault(name, unbound)  # one per name: tests compare `op != Tensor.pow`


class Tensor(metaclass=_TensorType):
    """tinygrad's Tensor as a thin holder of an `ag.Tensor` (`self.t`)."""

    __array_priority__ = 1000

    def __init__(self, data: Any, device: Any = None, dtype: Any = None,
                 requires_grad: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.t
        if isinstance(data, ag.Tensor):
            self.t = data if dtype is None else ag.astype(data, _np_dtype(dtype))
            return
        arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(_np_dtype(dtype))
        elif not isinstance(data, np.ndarray):  # Python data: tinygrad's default dtypes
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            elif arr.dtype == np.int64:
                arr = arr.astype(np.int32)
        # tinygrad can differentiate any float tensor; ag needs it asked for up front
        grad = np.issubdtype(arr.dtype, np.floating) and requires_grad is not False
        self.t = ag.Tensor(arr, requires_grad=bool(grad) and arr.dtype != np.float16)

    # --- data, shape, dtype: not ops ---
    def numpy(self) -> np.ndarray:
        return np.array(self.t.data)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        return self.t.item()

    def realize(self, *others: Any) -> Tensor:
        return self

    contiguous = realize

    def to(self, device: Any) -> Tensor:
        return self

    def to_(self, device: Any) -> Tensor:
        return self

    def cpu(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return self

    @property
    def shape(self) -> tuple:
        return tuple(self.t.shape)

    @property
    def ndim(self) -> int:
        return self.t.ndim

    @property
    def dtype(self) -> DType:
        return dtypes.from_np(self.t.dtype)

    @property
    def device(self) -> str:
        return "CPU"

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def size(self, dim: Any = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<Tensor over {self.t!r}>"

    @property
    def requires_grad(self) -> bool:
        return self.t.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.t.requires_grad = value

    # --- gradients: ag's backward under tinygrad's names ---
    def backward(self) -> Tensor:
        self.t.backward()
        return self

    @property
    def grad(self) -> Any:
        g = self.t.grad
        return None if g is None else Tensor(ag.Tensor(g) if not isinstance(g, ag.Tensor) else g)

    @grad.setter
    def grad(self, value: Any) -> None:
        self.t.grad = None if value is None else np.asarray(_unwrap(value))

    def gradient(self, *targets: Tensor) -> list:
        for x in targets:
            x.t.grad = None
        self.t.backward()
        return [Tensor(ag.Tensor(x.t.grad)) for x in targets]

    def detach(self) -> Tensor:
        return Tensor(self.t.detach())

    # --- creation: data from NumPy, wrapped ---
    @staticmethod
    def zeros(*shape: Any, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.zeros(s, _np_dtype(kw.get("dtype")) or np.float32), **_ctor_kw(kw))

    @staticmethod
    def ones(*shape: Any, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.ones(s, _np_dtype(kw.get("dtype")) or np.float32), **_ctor_kw(kw))

    @staticmethod
    def empty(*shape: Any, **kw: Any) -> Tensor:
        return Tensor.zeros(*shape, **kw)

    @staticmethod
    def full(shape: Any, fill_value: Any, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args((shape,)) if isinstance(shape, (tuple, list)) else (shape,))
        dt = _np_dtype(kw.get("dtype")) or (
            np.bool_ if isinstance(fill_value, bool) else
            np.int32 if isinstance(fill_value, int) else np.float32)
        return _from_data(np.full(s, fill_value, dt), **_ctor_kw(kw))

    @staticmethod
    def arange(start: Any, stop: Any = None, step: Any = 1, **kw: Any) -> Tensor:
        if stop is None:
            start, stop = 0, start
        if abs((stop - start) / step) > 2**27:  # not a test of ours: don't allocate gigabytes
            raise MemoryError(f"adapter: arange({start}, {stop}, {step}) is too large to build")
        data = np.arange(start, stop, step)
        dt = _np_dtype(kw.get("dtype"))
        if dt is None:  # tinygrad's defaults: int32 (int64 past its range), float32
            small = data.size == 0 or np.abs(data).max() < 2**31
            dt = (np.int32 if small else np.int64) if data.dtype.kind == "i" else np.float32
        return _from_data(data.astype(dt), **_ctor_kw(kw))

    @staticmethod
    def eye(n: int, m: Any = None, **kw: Any) -> Tensor:
        dt = _np_dtype(kw.get("dtype")) or np.float32
        return _from_data(np.eye(n, m, dtype=dt), **_ctor_kw(kw))

    @staticmethod
    def rand(*shape: Any, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.random.random_sample(s).astype(np.float32), **_ctor_kw(kw))

    @staticmethod
    def randn(*shape: Any, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.random.standard_normal(s).astype(np.float32), **_ctor_kw(kw))

    @staticmethod
    def randint(*shape: Any, low: int = 0, high: int = 10, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.random.randint(low, high, s).astype(np.int32), **_ctor_kw(kw))

    @staticmethod
    def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.random.uniform(low, high, s).astype(np.float32), **_ctor_kw(kw))

    @staticmethod
    def normal(*shape: Any, mean: float = 0.0, std: float = 1.0, **kw: Any) -> Tensor:
        s = _check_dims(_shape_args(shape))
        return _from_data(np.random.normal(mean, std, s).astype(np.float32), **_ctor_kw(kw))

    @staticmethod
    def zeros_like(x: Tensor, **kw: Any) -> Tensor:
        return Tensor.full(x.shape, 0, dtype=kw.pop("dtype", x.dtype), **kw)

    @staticmethod
    def ones_like(x: Tensor, **kw: Any) -> Tensor:
        return Tensor.full(x.shape, 1, dtype=kw.pop("dtype", x.dtype), **kw)

    def full_like(self, fill_value: Any, **kw: Any) -> Tensor:
        return Tensor.full(self.shape, fill_value, dtype=kw.pop("dtype", self.dtype), **kw)

    # --- ops whose arguments need repacking (still one ag call each) ---
    def reshape(self, *shape: Any, **kw: Any) -> Tensor:
        return _call("reshape", self, _shape_args(shape or (kw["shape"],)))

    view = reshape

    def permute(self, *order: Any, **kw: Any) -> Tensor:
        return _call("transpose", self, _shape_args(order or (kw["order"],)))

    def expand(self, *shape: Any, **kw: Any) -> Tensor:
        s = _shape_args(shape or (kw["shape"],))
        s = tuple(self.shape[i - len(s) + self.ndim] if d == -1 else d for i, d in enumerate(s))
        return _call("broadcast_to", self, s)

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Tensor:
        return _call("swapaxes", self, dim0, dim1)

    @property
    def T(self) -> Tensor:  # noqa: N802 - tinygrad's name
        return _call("transpose", self)

    def flip(self, *axis: Any, **kw: Any) -> Tensor:
        return _call("flip", self, _shape_args(axis or (kw.get("axis", kw.get("dims")),)))

    def cat(self, *others: Any, dim: int = 0) -> Tensor:
        tensors = list(self) if isinstance(self, (list, tuple)) else [self, *others]
        return _call("concatenate", tensors, axis=dim)

    def stack(self, *others: Any, dim: int = 0) -> Tensor:
        """`x.stack(y, z)` or teenygrad's `Tensor.stack([x, y, z])`."""
        tensors = list(self) if isinstance(self, (list, tuple)) else [self, *others]
        return _call("stack", tensors, axis=dim)

    def repeat(self, *repeats: Any) -> Tensor:
        return _call("tile", self, _shape_args(repeats))

    def squeeze(self, dim: Any = None) -> Tensor:
        return _call("squeeze", self, dim)

    def std(self, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return _call("std", self, axis, ddof=correction, keepdims=keepdim)

    def var(self, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return _call("var", self, axis, ddof=correction, keepdims=keepdim)

    def where(self, x: Any, y: Any) -> Tensor:
        return _call("where", self, x, y)

    def pad(self, padding: Any, mode: str = "constant", value: float = 0.0) -> Tensor:
        pads = _pad_pairs(padding, self.ndim)
        return _call("pad", self, pads, mode=mode, constant_values=value)

    def conv2d(self, weight: Any, bias: Any = None, groups: int = 1, stride: Any = 1,
               dilation: Any = 1, padding: Any = 0, **kw: Any) -> Tensor:
        return _call("conv2d", self, weight, bias, stride=stride, padding=padding,
                     dilation=dilation, groups=groups, **kw)

    def conv_transpose2d(self, weight: Any, bias: Any = None, groups: int = 1, stride: Any = 1,
                         dilation: Any = 1, padding: Any = 0, output_padding: Any = 0) -> Tensor:
        return _call("conv_transpose2d", self, weight, bias, stride=stride, padding=padding,
                     output_padding=output_padding, groups=groups, dilation=dilation)

    def max_pool2d(self, kernel_size: Any = (2, 2), stride: Any = None, dilation: Any = 1,
                   padding: Any = 0, **kw: Any) -> Tensor:
        return _call("max_pool2d", self, kernel_size, stride=stride, padding=padding,
                     dilation=dilation, **kw)

    def avg_pool2d(self, kernel_size: Any = (2, 2), stride: Any = None, dilation: Any = 1,
                   padding: Any = 0, **kw: Any) -> Tensor:
        if dilation != 1:
            kw["dilation"] = dilation
        return _call("avg_pool2d", self, kernel_size, stride=stride, padding=padding, **kw)

    def einsum(formula: str, *operands: Any, **kw: Any) -> Tensor:  # noqa: N805
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        return _call("einsum", formula, *operands, **kw)

    einsum = staticmethod(einsum)

    def gather(self, *args: Any, **kw: Any) -> Tensor:
        """tinygrad's gather(dim, index), or teenygrad's gather(idx, dim), as torch.gather."""
        if args and isinstance(args[0], int):
            kw.setdefault("dim", args[0])
            args = args[1:]
        index = args[0] if args else kw.get("index", kw.get("idx"))
        dim = args[1] if len(args) > 1 else kw["dim"]
        return _call("gather", self, dim, index)

    def gelu(self, approximate: str = "tanh") -> Tensor:
        """tinygrad's gelu is the tanh approximation unless asked otherwise."""
        return _call("gelu", self, approximate=approximate)

    def pad2d(self, padding: Any, value: float = 0.0) -> Tensor:
        """teenygrad's pad2d takes torch's flat (left, right, top, bottom) list."""
        return self.pad(tuple(padding), value=value)

    def cast(self, dtype: Any) -> Tensor:
        return _call("astype", self, _np_dtype(dtype))

    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def half(self) -> Tensor:
        return self.cast(dtypes.half)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)

    def type(self, dtype: Any) -> Tensor:
        return self.cast(dtype)

    def softmax(self, axis: int = -1, **kw: Any) -> Tensor:
        return _call("softmax", self, axis, **kw)

    def log_softmax(self, axis: int = -1, **kw: Any) -> Tensor:
        return _call("log_softmax", self, axis, **kw)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _call("flatten", self, start_dim, end_dim)

    def split(self, sizes: Any, dim: int = 0) -> Any:
        raise MissingName("autograd_nn has no torch-style `split` into chunks of a size")

    def chunk(self, chunks: int, dim: int = 0) -> Any:
        raise MissingName("autograd_nn has no `chunk`")

    # --- everything else: same op, renamed ---
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "t":
            raise AttributeError(name)
        agname = ALIASES.get(name, name)
        kwmap = KW_ALIASES.get(agname, {})

        def method(*args: Any, **kwargs: Any) -> Any:
            kwargs = {kwmap.get(k, k): v for k, v in kwargs.items()}
            return _call(agname, self, *args, **kwargs)

        _fn(agname)  # raise MissingName now if there is no such op
        return method

    # --- Python operators: ag.Tensor's own ---
    def _bin(self, other: Any, op: str) -> Any:
        return _wrap(getattr(self.t, op)(_unwrap(other)))

    def __add__(self, o: Any) -> Any: return self._bin(o, "__add__")  # noqa: E704
    def __radd__(self, o: Any) -> Any: return self._bin(o, "__radd__")  # noqa: E704
    def __sub__(self, o: Any) -> Any: return self._bin(o, "__sub__")  # noqa: E704
    def __rsub__(self, o: Any) -> Any: return self._bin(o, "__rsub__")  # noqa: E704
    def __mul__(self, o: Any) -> Any: return self._bin(o, "__mul__")  # noqa: E704
    def __rmul__(self, o: Any) -> Any: return self._bin(o, "__rmul__")  # noqa: E704
    def __truediv__(self, o: Any) -> Any: return self._bin(o, "__truediv__")  # noqa: E704
    def __rtruediv__(self, o: Any) -> Any: return self._bin(o, "__rtruediv__")  # noqa: E704
    def __floordiv__(self, o: Any) -> Any: return self._bin(o, "__floordiv__")  # noqa: E704
    def __rfloordiv__(self, o: Any) -> Any: return self._bin(o, "__rfloordiv__")  # noqa: E704
    def __mod__(self, o: Any) -> Any: return self._bin(o, "__mod__")  # noqa: E704
    def __rmod__(self, o: Any) -> Any: return self._bin(o, "__rmod__")  # noqa: E704
    def __pow__(self, o: Any) -> Any: return self._bin(o, "__pow__")  # noqa: E704
    def __rpow__(self, o: Any) -> Any: return self._bin(o, "__rpow__")  # noqa: E704
    def __matmul__(self, o: Any) -> Any: return self._bin(o, "__matmul__")  # noqa: E704
    def __rmatmul__(self, o: Any) -> Any: return self._bin(o, "__rmatmul__")  # noqa: E704
    def __and__(self, o: Any) -> Any: return self._bin(o, "__and__")  # noqa: E704
    def __rand__(self, o: Any) -> Any: return self._bin(o, "__rand__")  # noqa: E704
    def __or__(self, o: Any) -> Any: return self._bin(o, "__or__")  # noqa: E704
    def __ror__(self, o: Any) -> Any: return self._bin(o, "__ror__")  # noqa: E704
    def __xor__(self, o: Any) -> Any: return self._bin(o, "__xor__")  # noqa: E704
    def __rxor__(self, o: Any) -> Any: return self._bin(o, "__rxor__")  # noqa: E704
    def __lshift__(self, o: Any) -> Any: return self._bin(o, "__lshift__")  # noqa: E704
    def __rshift__(self, o: Any) -> Any: return self._bin(o, "__rshift__")  # noqa: E704
    def __lt__(self, o: Any) -> Any: return self._bin(o, "__lt__")  # noqa: E704
    def __le__(self, o: Any) -> Any: return self._bin(o, "__le__")  # noqa: E704
    def __gt__(self, o: Any) -> Any: return self._bin(o, "__gt__")  # noqa: E704
    def __ge__(self, o: Any) -> Any: return self._bin(o, "__ge__")  # noqa: E704
    def __eq__(self, o: Any) -> Any: return self._bin(o, "__eq__")  # type: ignore[override]  # noqa: E704
    def __ne__(self, o: Any) -> Any: return self._bin(o, "__ne__")  # type: ignore[override]  # noqa: E704
    def __neg__(self) -> Any: return _wrap(-self.t)  # noqa: E704
    def __invert__(self) -> Any: return _wrap(~self.t)  # noqa: E704
    def __abs__(self) -> Any: return _call("abs", self)  # noqa: E704
    def __hash__(self) -> int: return id(self)  # noqa: E704

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self.t[_unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        raise MissingName("autograd_nn tensors have no item assignment")

    def __bool__(self) -> bool:
        return bool(self.t.item())

    def __int__(self) -> int:
        return int(self.t.item())

    def __float__(self) -> float:
        return float(self.t.item())


def _ctor_kw(kw: dict) -> dict:
    return {"dtype": kw.get("dtype"), "requires_grad": kw.get("requires_grad")}


def _pad_pairs(padding: Any, ndim: int) -> Any:
    """tinygrad's pad: per-axis (before, after) pairs, or torch's flat list from the last axis."""
    padding = tuple(padding)
    if all(p is None or isinstance(p, (tuple, list)) for p in padding):
        return [(0, 0) if p is None else tuple(p) for p in padding]
    pairs = [(0, 0)] * ndim
    for i in range(len(padding) // 2):
        pairs[ndim - 1 - i] = (padding[2 * i], padding[2 * i + 1])
    return pairs

