"""Layers: `Linear`, containers (`Sequential`, `ModuleList`), `MLP`, and activation modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .. import functions as ag
from ..core.tensor import Tensor
from . import init as I
from .module import Module, Parameter

__all__ = [
    "GELU", "Identity", "Linear", "LogSoftmax", "MLP", "ModuleList", "ReLU", "SiLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "get_activation",
]

_INITS: dict[str, Callable[..., np.ndarray]] = {
    "uniform": I.uniform, "normal": I.normal, "xavier_uniform": I.xavier_uniform,
    "xavier_normal": I.xavier_normal, "kaiming_uniform": I.kaiming_uniform,
    "kaiming_normal": I.kaiming_normal, "zeros": I.zeros, "ones": I.ones,
}


def _initial_value(
    spec: Any, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any, what: str
) -> np.ndarray:
    """Weights from an init spec: a name in `ag.nn.init`, a callable, or an explicit array."""
    if isinstance(spec, str):
        if spec not in _INITS:
            raise ValueError(f"{what}: unknown init {spec!r}; choose one of {sorted(_INITS)}")
        return _INITS[spec](shape, rng=rng, dtype=dtype)
    if callable(spec):
        arr = np.asarray(spec(shape, rng=rng, dtype=dtype))
    else:
        arr = np.asarray(spec.data if isinstance(spec, Tensor) else spec)
    if arr.shape != shape:
        raise ValueError(f"{what}: the initial value has shape {arr.shape}, expected {shape}")
    return arr.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------
class Linear(Module):
    """y = x @ W + b with W of shape (in_features, out_features) and b of shape (out_features,).

    W is stored (in, out), not PyTorch's (out, in), so `x @ W` reads like the tutorials'
    `np.dot(X, weights)` and their weight arrays can be loaded as they are. `init` is a name
    from `ag.nn.init` ("xavier_uniform" by default), a callable `(shape, rng=, dtype=)`, or an
    array of shape (in, out); `bias_init` likewise ("zeros").
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: Any = "xavier_uniform",
        rng: Any = None,
        bias_init: Any = "zeros",
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        for label, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
                raise ValueError(f"Linear: {label} must be a positive int, got {n!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rng = I.as_rng(rng)
        shape = (self.in_features, self.out_features)
        self.weight = Parameter(_initial_value(init, shape, rng, dtype, "Linear weight"))
        if bias:
            b = _initial_value(bias_init, (self.out_features,), rng, dtype, "Linear bias")
            self.bias = Parameter(b)
        else:
            self.bias = None

    def forward(self, x: Any) -> Tensor:
        """x @ weight + bias (x of shape (..., in_features))."""
        try:
            y = ag.matmul(x, self.weight)
        except ValueError:
            shape = getattr(x, "shape", np.shape(x))
            raise ValueError(
                f"Linear({self.in_features} -> {self.out_features}) at "
                f"{self._qualname or 'root'!r}: input of shape {shape} does not end in "
                f"{self.in_features} features"
            ) from None
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        """Feature counts and whether there is a bias."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype}"
        )


# ---------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------
def _module_args(modules: tuple, where: str) -> list[Module]:
    if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
        modules = tuple(modules[0])
    for i, m in enumerate(modules):
        if not isinstance(m, Module):
            raise TypeError(f"{where}: item {i} is a {type(m).__name__}, expected a Module")
    return list(modules)


class ModuleList(Module):
    """A list of submodules named "0", "1", ... (registered, but with no forward of its own)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in _module_args((list(modules),), "ModuleList"):
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end; returns this list."""
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} index must be an int, got {index!r}")
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__} index {index} out of range for {n} modules")
        return self._modules[str(int(index) % n)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))


class Sequential(ModuleList):
    """Modules applied one after another: `Sequential(Linear(2, 4), ReLU(), Linear(4, 1))`."""

    def __init__(self, *modules: Module) -> None:
        super().__init__(_module_args(modules, "Sequential"))

    def forward(self, x: Any) -> Any:
        """Each module in turn, the output of one the input of the next."""
        for m in self._modules.values():
            x = m(x)
        return x


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x: Any) -> Any:
        """`x` unchanged."""
        return x


class ReLU(Module):
    """max(x, 0) (gradient 0 at 0)."""

    def forward(self, x: Any) -> Tensor:
        """max(x, 0) elementwise."""
        return ag.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), stable for any x."""

    def forward(self, x: Any) -> Tensor:
        """1 / (1 + exp(-x)) elementwise."""
        return ag.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x: Any) -> Tensor:
        """tanh(x) elementwise."""
        return ag.tanh(x)


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF (torch.nn.GELU); approximate="tanh" uses
    PyTorch's tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        """gelu(x) elementwise."""
        return ag.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        """The approximation, if any."""
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish; torch.nn.SiLU)."""

    def forward(self, x: Any) -> Tensor:
        """silu(x) elementwise."""
        return ag.silu(x)


class Softmax(Module):
    """Softmax along `axis` (the last by default), max-subtracted."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        """softmax of `x` along this module's axis."""
        return ag.softmax(x, self.axis)

    def extra_repr(self) -> str:
        """The axis."""
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `axis`, computed as x - logsumexp(x)."""

    def forward(self, x: Any) -> Tensor:
        """log(softmax(x)) along this module's axis, computed stably."""
        return ag.log_softmax(x, self.axis)


_ACTIVATIONS: dict[str, Callable[[], Module]] = {
    "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity,
    "softmax": Softmax, "log_softmax": LogSoftmax, "gelu": GELU, "silu": SiLU,
}


def get_activation(spec: Any, where: str = "activation") -> Module | Callable | None:
    """An activation from a name ("relu", "sigmoid", ...), a Module, a callable, or None."""
    if spec is None or isinstance(spec, Module):
        return spec
    if isinstance(spec, str):
        if spec not in _ACTIVATIONS:
            raise ValueError(
                f"{where}: unknown activation {spec!r}; choose from {sorted(_ACTIVATIONS)}"
            )
        return _ACTIVATIONS[spec]()
    if callable(spec):
        return spec
    raise TypeError(f"{where}: expected a name, a Module or a callable, got {type(spec).__name__}")


def _describe_activation(act: Any) -> str:
    if act is None:
        return "None"
    if isinstance(act, Module):
        return type(act).__name__
    return getattr(act, "__name__", type(act).__name__)


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------
class MLP(Module):
    """A multilayer perceptron: Linear layers `layers.0`, `layers.1`, ... with an activation
    after every hidden layer and `output_activation` (None: none) after the last.

    `sizes = [2, 4, 1]` gives Linear(2, 4) -> activation -> Linear(4, 1). An activation given by
    name gets one module per hidden layer (`activations.0`, ...), so graph pictures keep layers
    apart; a Module is shared by all hidden layers; a plain callable is applied as is. `init`
    defaults to "kaiming_uniform" for ReLU and "xavier_uniform" otherwise; biases start at
    zero. One `rng` feeds all layers in order, so a seed fixes the whole model.
    """

    def __init__(
        self,
        sizes: Iterable[int],
        activation: Any = "relu",
        output_activation: Any = None,
        bias: bool = True,
        rng: Any = None,
        init: Any = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        sizes = list(sizes)
        bad = [n for n in sizes if not isinstance(n, (int, np.integer)) or isinstance(n, bool)
               or n <= 0]
        if bad:
            raise ValueError(f"MLP: sizes must be positive ints, got {bad[0]!r} in {sizes}")
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least [in, out], got {sizes}")
        self.sizes = sizes
        n_hidden = len(sizes) - 2
        act = get_activation(activation, "MLP activation")
        if init is None:
            init = "kaiming_uniform" if isinstance(act, ReLU) else "xavier_uniform"
        rng = I.as_rng(rng)
        self.layers = ModuleList(
            Linear(n_in, n_out, bias=bias, init=init, rng=rng, dtype=dtype)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        if isinstance(activation, str):  # one module per hidden layer, so pictures keep them apart
            acts = [act] + [get_activation(activation) for _ in range(n_hidden - 1)]
        else:
            acts = [act] * n_hidden
        acts = acts[:n_hidden]
        if n_hidden and isinstance(act, Module):
            self.activations = ModuleList(acts)
        else:
            self._hidden = acts  # plain callables (or none): not modules, not registered
        self._activation_label = _describe_activation(act)
        self.output_activation = get_activation(output_activation, "MLP output_activation")

    def forward(self, x: Any) -> Any:
        """Every layer with the hidden activation between, then the output activation."""
        # Read the attributes on every call, so re-assigned layers or activations take effect.
        hidden = list(self.activations) if "activations" in self._modules else self._hidden
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            act = self.output_activation if i == last else hidden[i]
            if act is not None:
                x = act(x)
        return x

    def extra_repr(self) -> str:
        """Layer sizes and activations."""
        return (
            f"sizes={self.sizes}, activation={self._activation_label}, "
            f"output_activation={_describe_activation(self.output_activation)}"
        )
