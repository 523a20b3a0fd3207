"""Parameter initialisation with PyTorch's names and formulas (``torch.nn.init``).

Random values are drawn in float64 on the host from :func:`anygrad.backend.host_generator`
(seeded by :func:`anygrad.manual_seed`), rounded to the tensor's dtype on the host, and
copied to the tensor's backend and device: one seed gives the same model on every backend.
Each function replaces ``tensor.data`` (a functional update, fine for immutable JAX arrays),
records no graph, and returns the tensor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anygrad.backend import host_generator
from anygrad.tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "glorot_normal_",
    "glorot_uniform_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_GAIN_ONE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
             "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation: 1 for linear/sigmoid, 5/3 for tanh, sqrt(2)
    for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in _GAIN_ONE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
        f"{', '.join(_GAIN_ONE + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def _calculate_fan_in_and_fan_out(tensor: Tensor, where: str) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as PyTorch computes them."""
    shape = _checked(tensor, where).shape
    if len(shape) < 2:
        raise ValueError(
            f"anygrad.nn.init.{where}: fan in and fan out need a tensor of at least 2 dimensions, got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _checked(tensor: Any, where: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"anygrad.nn.init.{where}: expected an anygrad Tensor, got {type(tensor).__name__}")
    return tensor


def _host_dtype(tensor: Tensor) -> np.dtype:
    """The NumPy dtype with the tensor's dtype name (float32 for torch.float32, ...)."""
    return np.dtype(str(tensor.dtype).rsplit(".", 1)[-1])


def _set_from_host(tensor: Tensor, values: np.ndarray) -> Tensor:
    # Rounding on the host makes the values identical on every backend.
    host = np.asarray(values, dtype=_host_dtype(tensor))
    tensor.data = tensor._backend.from_host(host, tensor.dtype)
    return tensor


def _generator(generator: np.random.Generator | None) -> np.random.Generator:
    return host_generator() if generator is None else generator


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples from U(a, b)."""
    _checked(tensor, "uniform_")
    if a > b:
        raise ValueError(f"anygrad.nn.init.uniform_: needs a <= b, got a={a}, b={b}")
    return _set_from_host(tensor, _generator(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _checked(tensor, "normal_")
    if std < 0:
        raise ValueError(f"anygrad.nn.init.normal_: std must be >= 0, got {std}")
    return _set_from_host(tensor, _generator(generator).normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val`` (made on the device directly: nothing random to share)."""
    _checked(tensor, "constant_")
    backend = tensor._backend
    tensor.data = backend.xp.full(tensor.shape, val, dtype=tensor.dtype, device=backend.device)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(_checked(tensor, "zeros_"), 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(_checked(tensor, "ones_"), 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, where: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"anygrad.nn.init.{where}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, where)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0  # fan 0: an empty tensor


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015): U(-b, b) with b = gain * sqrt(3 / fan), gain from
    :func:`calculate_gain` (``a`` is leaky_relu's negative slope)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015): N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"), generator)
