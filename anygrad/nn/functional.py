"""Functions with ``torch.nn.functional``'s names and signatures: ``import anygrad.nn.functional as F``.

``dim`` is PyTorch's name for an axis. Losses check their arguments here (shapes, dtypes,
the class-index range, the reduction) and then run one fused op of :mod:`anygrad.ops`, so a
training step pays for one loss op, and errors name the loss, the shapes and the dtypes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anygrad import ops
from anygrad.backend import dtype_is
from anygrad.tensor import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


# --- layers and activations --------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` with weight of shape (out_features, in_features), one op."""
    return ops.linear(input, weight, bias)


def relu(input: Tensor) -> Tensor:  # noqa: A002
    """max(x, 0)."""
    return ops.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """x for x > 0, else negative_slope * x."""
    return ops.leaky_relu(input, negative_slope=negative_slope)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x)), exact in both tails."""
    return ops.sigmoid(input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """The hyperbolic tangent."""
    return ops.tanh(input)


def _required_dim(name: str, dim: int | None) -> int:
    if dim is None:
        raise TypeError(f"anygrad.nn.functional.{name}: pass dim= (the class axis, e.g. dim=1 for (N, C) logits)")
    return dim


def softmax(input: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along ``dim`` (stable for large logits)."""
    return ops.softmax(input, axis=_required_dim("softmax", dim))


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along ``dim``, computed as x - logsumexp(x) (stable)."""
    return ops.log_softmax(input, axis=_required_dim("log_softmax", dim))


def _check_dropout_probability(where: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{where}: the drop probability p must be a number in [0, 1), got {p!r}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (inverted
    dropout), so the expected value is unchanged; the identity when not ``training`` or p = 0.

    The mask comes from the backend's own generator (:meth:`Backend.uniform`): on a GPU it is
    made on the device.
    """
    p = _check_dropout_probability("anygrad.nn.functional.dropout", p)
    if not training or p == 0:
        return input
    backend = input._backend
    keep = backend.uniform(input.shape, input.dtype) >= p
    mask = backend.xp.astype(keep, input.dtype) * (1.0 / (1.0 - p))
    return ops.mul(input, Tensor._wrap(mask, backend, None))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices of any shape as int64 one-hot vectors along a new last axis.

    ``num_classes=-1`` uses max(tensor) + 1 (which reads the maximum back to the host).
    Indices are range-checked on every device (a host read, as in PyTorch): one_hot
    prepares data, it is not meant for the inner loop.
    """
    _check_tensor("one_hot", "tensor", tensor)
    xp = tensor.xp
    if not dtype_is(xp, tensor.dtype, "integral"):
        raise TypeError(f"anygrad.nn.functional.one_hot: needs integer class indices, got dtype {tensor.dtype}")
    if num_classes == -1:
        num_classes = int(xp.max(tensor.data)) + 1 if tensor.size else 0
    _check_class_range("one_hot", tensor, num_classes, ignore_index=None, on_device=True)
    hot = xp.arange(num_classes, device=tensor.device) == tensor.data[..., None]
    return Tensor._wrap(xp.astype(hot, xp.int64), tensor._backend, None)


# --- argument checks for the losses --------------------------------------------------------------
def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"anygrad.nn.functional.{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_tensor(name: str, what: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"anygrad.nn.functional.{name}: {what} must be an anygrad Tensor, got {type(value).__name__}")
    return value


def _is_floating(tensor: Tensor) -> bool:
    return tensor.is_floating_point()


def _check_floating(name: str, what: str, tensor: Tensor) -> None:
    if not _is_floating(tensor):
        raise TypeError(
            f"anygrad.nn.functional.{name}: {what} must have a floating-point dtype, got {tensor.dtype} "
            f"(shape {tensor.shape})"
        )


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if target.shape != input.shape:
        raise ValueError(
            f"anygrad.nn.functional.{name}: target shape {target.shape} differs from input shape {input.shape}; "
            "they must match (anygrad does not broadcast a loss's target)"
        )


def _check_broadcasts_to(name: str, what: str, value: Tensor | None, shape: tuple[int, ...]) -> None:
    if value is None:
        return
    _check_tensor(name, what, value)
    _check_floating(name, what, value)
    try:
        fits = np.broadcast_shapes(value.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"anygrad.nn.functional.{name}: {what} of shape {value.shape} does not broadcast to the "
                         f"input shape {shape}")


def _check_class_weight(name: str, weight: Tensor | None, classes: int) -> None:
    if weight is None:
        return
    _check_tensor(name, "weight", weight)
    _check_floating(name, "weight", weight)
    if weight.shape != (classes,):
        raise ValueError(f"anygrad.nn.functional.{name}: weight must have shape ({classes},), one per class, "
                         f"got {weight.shape}")


def _check_class_range(name: str, target: Tensor, classes: int, ignore_index: int | None,
                       on_device: bool = False) -> bool:
    """Class indices must lie in [0, classes) or equal ignore_index. Returns whether they
    were all found in [0, classes) (so none equals an ignore_index outside that range).

    Checked where the targets live in host memory (a cheap reduction). On a GPU the check
    would read a device value every step, a host sync that stalls training, so it is
    skipped there: check labels once when the dataset is placed on the device instead.
    """
    if not (target._backend.is_host or on_device):
        return False
    xp = target.xp
    t = target.data
    if 0 in t.shape or (bool(xp.min(t) >= 0) and bool(xp.max(t) < classes)):
        return True
    outside = xp.logical_or(t < 0, t >= classes)
    if ignore_index is not None and not 0 <= ignore_index < classes:
        outside = xp.logical_and(outside, t != ignore_index)
    if bool(xp.any(outside)):
        values = target.numpy()
        offending = np.unique(values[target._backend.to_host(outside)])[:5].tolist()
        allowed = f"[0, {classes})" + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
        raise IndexError(
            f"anygrad.nn.functional.{name}: class index out of range: targets must be in {allowed}, "
            f"got {offending} (target shape {target.shape})"
        )


def _class_axis_size(name: str, input: Tensor) -> int:  # noqa: A002
    if input.ndim == 0:
        raise ValueError(f"anygrad.nn.functional.{name}: input must have a class axis: shape (C,), (N, C) or "
                         "(N, C, d1, ...), got a 0-d tensor")
    return input.shape[0] if input.ndim == 1 else input.shape[1]


def _batch_shape(input: Tensor) -> tuple[int, ...]:  # noqa: A002
    """The input's shape without its class axis: what class-index targets look like."""
    return () if input.ndim == 1 else input.shape[:1] + input.shape[2:]


def _check_class_indices(name: str, input: Tensor, target: Tensor, also_probabilities: bool) -> None:  # noqa: A002
    expected = _batch_shape(input)
    if target.shape != expected:
        raise ValueError(
            f"anygrad.nn.functional.{name}: target of shape {target.shape} and dtype {target.dtype} does not fit "
            f"input of shape {input.shape}: class indices need shape {expected} and an integer dtype"
            + _probabilities_hint(input, also_probabilities)
        )
    if not dtype_is(target.xp, target.dtype, "integral"):
        raise TypeError(
            f"anygrad.nn.functional.{name}: target of shape {target.shape} must hold class indices (an integer "
            f"dtype), got {target.dtype}; convert with target.astype('int64')"
            + _probabilities_hint(input, also_probabilities)
        )


def _probabilities_hint(input: Tensor, also_probabilities: bool) -> str:  # noqa: A002
    return f"; or class probabilities: a float dtype and the input's shape {input.shape}" if also_probabilities else ""


def _class_rows(x: Tensor) -> Tensor:
    """(C,), (N, C) or (N, C, d1, ...) as (rows, C), the layout of the fused ops."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return ops.reshape(x, shape=(1, x.shape[0]))
    last = ops.permute(x, axes=(0,) + tuple(range(2, x.ndim)) + (1,))
    return ops.reshape(last, shape=(-1, x.shape[1]))


def _flat_indices(target: Tensor) -> Tensor:
    return target if target.ndim == 1 else ops.reshape(target, shape=(math.prod(target.shape),))


def _per_element(loss: Tensor, reduction: str, input: Tensor) -> Tensor:  # noqa: A002
    """An unreduced loss back in the input's batch shape (a no-op for (N, C) inputs)."""
    if reduction != "none":
        return loss
    shape = _batch_shape(input)
    return ops.reshape(loss, shape=shape) if loss.shape != shape else loss


def _check_common(name: str, input: Tensor, target: Tensor, reduction: str) -> None:  # noqa: A002
    _check_reduction(name, reduction)
    _check_tensor(name, "input", input)
    _check_tensor(name, "target", target)
    _check_floating(name, "input", input)


# --- losses ---------------------------------------------------------------------------------------
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets, as ``torch.nn.functional.cross_entropy``.

    ``input``: logits of shape (C,), (N, C) or (N, C, d1, ...). ``target``: class indices
    (integer dtype, the input's shape without the class axis), or class probabilities (float
    dtype, the input's shape). ``weight`` (C,) rescales classes; targets equal to
    ``ignore_index`` count for nothing; ``label_smoothing`` in [0, 1] mixes the target with the
    uniform distribution. "mean" divides by the summed weight of the counted targets (class
    indices) or by the number of rows (probabilities). Class indices are range-checked (one
    device reduction and a bool read per call).
    """
    name = "cross_entropy"
    _check_common(name, input, target, reduction)
    if not (isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"anygrad.nn.functional.{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    classes = _class_axis_size(name, input)
    _check_class_weight(name, weight, classes)
    if target.shape == input.shape:  # class probabilities (PyTorch's rule: same shape means probabilities)
        if not _is_floating(target):
            raise TypeError(
                f"anygrad.nn.functional.{name}: target has the input's shape {input.shape}, so it is read as class "
                f"probabilities and needs a float dtype, got {target.dtype}; class indices need shape "
                f"{_batch_shape(input)}"
            )
        if ignore_index >= 0:
            raise ValueError(f"anygrad.nn.functional.{name}: ignore_index is not supported with class-probability "
                             f"targets, got ignore_index={ignore_index}")
        loss = ops.soft_cross_entropy(_class_rows(input), _class_rows(target), weight,
                                      label_smoothing=float(label_smoothing), reduction=reduction)
    else:
        _check_class_indices(name, input, target, also_probabilities=True)
        all_in_range = _check_class_range(name, target, classes, ignore_index)
        # No target can equal an ignore_index outside [0, classes): the op then skips finding ignored rows.
        ignored = None if all_in_range and not 0 <= ignore_index < classes else ignore_index
        loss = ops.cross_entropy(_class_rows(input), _flat_indices(target), weight, ignore_index=ignored,
                                 label_smoothing=float(label_smoothing), reduction=reduction)
    return _per_element(loss, reduction, input)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (e.g. from log_softmax) at class indices,
    as ``torch.nn.functional.nll_loss``: -weight[t] * input[t], with PyTorch's weighted mean."""
    name = "nll_loss"
    _check_common(name, input, target, reduction)
    classes = _class_axis_size(name, input)
    _check_class_weight(name, weight, classes)
    _check_class_indices(name, input, target, also_probabilities=False)
    _check_class_range(name, target, classes, ignore_index)
    loss = ops.nll_loss(_class_rows(input), _flat_indices(target), weight, ignore_index=ignore_index,
                        reduction=reduction)
    return _per_element(loss, reduction, input)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error (input - target)^2, reduced; input and target must have one shape."""
    _check_common("mse_loss", input, target, reduction)
    _check_floating("mse_loss", "target", target)
    _check_same_shape("mse_loss", input, target)
    return ops.mse_loss(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Absolute error |input - target|, reduced; input and target must have one shape."""
    _check_common("l1_loss", input, target, reduction)
    _check_floating("l1_loss", "target", target)
    _check_same_shape("l1_loss", input, target)
    errors = ops.abs(ops.sub(input, target))
    if reduction == "none":
        return errors
    return ops.mean(errors) if reduction == "mean" else ops.sum(errors)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-weight * (y log p + (1 - y) log(1 - p)) for probabilities ``input`` p, logs clamped at
    -100 like PyTorch (p = 0 or 1 gives a finite loss). Prefer the ``_with_logits`` version."""
    name = "binary_cross_entropy"
    _check_common(name, input, target, reduction)
    _check_floating(name, "target", target)
    _check_same_shape(name, input, target)
    _check_broadcasts_to(name, "weight", weight, input.shape)
    return ops.binary_cross_entropy(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, *,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(input), computed stably from the logits.

    ``pos_weight`` (broadcast along the last axis, e.g. one per class) weighs positive
    targets; ``weight`` rescales each element.
    """
    name = "binary_cross_entropy_with_logits"
    _check_common(name, input, target, reduction)
    _check_floating(name, "target", target)
    _check_same_shape(name, input, target)
    _check_broadcasts_to(name, "weight", weight, input.shape)
    _check_broadcasts_to(name, "pos_weight", pos_weight, input.shape)
    return ops.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction=reduction)
