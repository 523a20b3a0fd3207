"""Layers and activations with PyTorch's names, arguments, initialisation and reprs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from anygrad import ops
from anygrad.nn import functional as F
from anygrad.nn import init
from anygrad.nn.module import Module, Parameter, Sequential
from anygrad.tensor import Tensor, zeros

__all__ = [
    "MLP",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features), one fused op.

    Initialised as PyTorch does: weight ~ kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in_features), 1/sqrt(in_features)), and bias from the same range; the values
    come from the seeded host generator, so one seed gives one model on every backend.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, backend: Any = None,
                 device: Any = None, dtype: Any = "float32") -> None:
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {size!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype, backend=backend, device=device))
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype, backend=backend, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial values (PyTorch's default scheme)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return self._forward_activated(x, None)

    def _forward_activated(self, x: Tensor, activation: str | None) -> Tensor:
        """``activation(self(x))`` as one op (see nn.Sequential)."""
        try:
            return ops.linear(x, self.weight, self.bias, activation=activation)
        except (TypeError, ValueError, RuntimeError) as error:
            # Checked only after a failure: the successful call pays nothing for the clear message.
            if isinstance(x, Tensor) and x.ndim and x.shape[-1] != self.in_features:
                raise ValueError(
                    f"Linear(in_features={self.in_features}): the input of shape {x.shape} has {x.shape[-1]} "
                    f"features in its last axis, expected {self.in_features}"
                ) from error
            raise

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Merge the axes ``start_dim`` .. ``end_dim`` into one: (N, 1, 28, 28) -> (N, 784)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        ndim = max(len(shape), 1)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}): start_dim comes after "
                             f"end_dim for an input of shape {shape}")
        merged = shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]
        return x if merged == shape else ops.reshape(x, shape=merged)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout while training: zero each element with probability ``p`` and scale
    the rest by 1 / (1 - p); the identity in eval mode. The mask comes from the backend's
    own generator (made on the GPU for GPU tensors)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = F._check_dropout_probability("Dropout", p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0)."""

    _fused_activation = "relu"  # nn.Sequential runs Linear + ReLU as one op

    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    _fused_activation = "sigmoid"  # nn.Sequential runs Linear + Sigmoid as one op

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    """The hyperbolic tangent."""

    _fused_activation = "tanh"  # nn.Sequential runs Linear + Tanh as one op

    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class Softmax(Module):
    """Softmax along ``dim`` (required: e.g. ``Softmax(dim=1)`` for (N, C) logits)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


_ACTIVATIONS: dict[str, Callable[[], Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}


class MLP(Sequential):
    """A multilayer perceptron as a Sequential: Linear, activation, [Dropout], ..., Linear.

    ``MLP(784, [128, 64], 10)`` has the layers, the state_dict keys (``0.weight``, ``2.weight``,
    ``4.weight``) and the outputs of ``torch.nn.Sequential(Linear(784, 128), ReLU(),
    Linear(128, 64), ReLU(), Linear(64, 10))`` with the same weights. ``activation`` is a name
    (relu, leaky_relu, sigmoid, tanh, identity) or a callable returning a Module; ``dropout``
    > 0 adds a Dropout after each hidden activation.
    """

    def __init__(self, in_features: int, hidden_sizes: int | Sequence[int], out_features: int,
                 activation: str | Callable[[], Module] = "relu", dropout: float = 0.0, *, backend: Any = None,
                 device: Any = None, dtype: Any = "float32") -> None:
        make_activation = _activation_factory(activation)
        F._check_dropout_probability("MLP", dropout)
        hidden = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
        sizes = [in_features, *hidden, out_features]
        layers: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Linear(fan_in, fan_out, backend=backend, device=device, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(make_activation())
                if dropout > 0:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)


def _activation_factory(activation: str | Callable[[], Module]) -> Callable[[], Module]:
    if isinstance(activation, str):
        try:
            return _ACTIVATIONS[activation.lower()]
        except KeyError:
            raise ValueError(f"MLP: unknown activation {activation!r}; use one of {', '.join(_ACTIVATIONS)} "
                             "or pass a callable returning a Module (e.g. anygrad.nn.Tanh)") from None
    if callable(activation):
        return activation
    raise TypeError(f"MLP: activation must be a name or a callable returning a Module, got {type(activation).__name__}")
