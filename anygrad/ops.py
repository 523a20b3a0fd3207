"""The op table: each op's forward and its VJPs, side by side.

Forwards take the Array API namespace ``xp`` and raw arrays (or Python scalars);
VJPs take ``(xp, g, out, *inputs, **params)`` and return the gradient for one input.
Ops marked ``broadcasting`` may return broadcast-shaped gradients; the engine sums them
back (``engine.sum_to``). Adding an op here adds its tests (tests/op_specs.py must
describe it, and a test checks that every op is described).
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import array_api_compat
import array_api_extra as xpx
import numpy as np

from anygrad.backend import backend_of_array, scatter_add
from anygrad.engine import Op, op, sum_to
from anygrad.tensor import Tensor


def _zero_safe_log(xp: Any, x: Any) -> Any:
    return math.log(x) if isinstance(x, (int, float)) else xp.log(x)


# --- elementwise arithmetic -----------------------------------------------------------------
@op(broadcasting=True)
def add(xp, x, y):
    return x + y
add.defvjp(lambda xp, g, out, x, y: g,
           lambda xp, g, out, x, y: g)


@op(broadcasting=True)
def sub(xp, x, y):
    return x - y
sub.defvjp(lambda xp, g, out, x, y: g,
           lambda xp, g, out, x, y: -g)


@op(broadcasting=True)
def mul(xp, x, y):
    return x * y
mul.defvjp(lambda xp, g, out, x, y: g * y,
           lambda xp, g, out, x, y: g * x)


@op(broadcasting=True)
def div(xp, x, y):
    return x / y
div.defvjp(lambda xp, g, out, x, y: g / y,
           lambda xp, g, out, x, y: -g * out / y)


@op(broadcasting=True)
def pow(xp, x, y):  # noqa: A001
    return x**y
pow.defvjp(lambda xp, g, out, x, y: xp.zeros_like(g) if isinstance(y, (int, float)) and y == 0 else g * y * x ** (y - 1),
           lambda xp, g, out, x, y: g * out * _zero_safe_log(xp, x))


@op()
def neg(xp, x):
    return -x
neg.defvjp(lambda xp, g, out, x: -g)


@op()
def abs(xp, x):  # noqa: A001
    return xp.abs(x)
abs.defvjp(lambda xp, g, out, x: g * xp.sign(x))


@op()
def exp(xp, x):
    return xp.exp(x)
exp.defvjp(lambda xp, g, out, x: g * out)


@op()
def log(xp, x):
    return xp.log(x)
log.defvjp(lambda xp, g, out, x: g / x)


@op()
def sqrt(xp, x):
    return xp.sqrt(x)
sqrt.defvjp(lambda xp, g, out, x: g / (2.0 * out))


@op()
def tanh(xp, x):
    return xp.tanh(x)
tanh.defvjp(lambda xp, g, out, x: g * (1.0 - out * out))


@op()
def sigmoid(xp, x):
    # exp(-|x|) never overflows, so both tails stay finite and exact.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
sigmoid.defvjp(lambda xp, g, out, x: g * out * (1.0 - out))


def _masked(xp, g, condition):
    """``where(condition, g, 0)`` as a product with a 0/1 array of g's dtype: two passes, no
    branch per element (NumPy's own ``where`` branches; even the NumPy namespace's bit select
    makes one pass more). The mask is fresh, so the product goes into it in place."""
    mask = xp.astype(condition, g.dtype)
    mask *= g
    return mask


@op()
def relu(xp, x):
    return xp.maximum(x, 0.0)
relu.defvjp(lambda xp, g, out, x: _masked(xp, g, out > 0))


@op()
def leaky_relu(xp, x, *, negative_slope=0.01):
    return xp.where(x > 0, x, x * negative_slope)
leaky_relu.defvjp(lambda xp, g, out, x, *, negative_slope: xp.where(x > 0, g, g * negative_slope))


def _share(xp, g, wins, ties):
    """The winner of a max/min takes the gradient; ties split it evenly (as PyTorch)."""
    return xp.where(wins, g, xp.where(ties, g * 0.5, 0.0))


@op(broadcasting=True)
def maximum(xp, x, y):
    return xp.maximum(x, y)
maximum.defvjp(lambda xp, g, out, x, y: _share(xp, g, x > y, x == y),
               lambda xp, g, out, x, y: _share(xp, g, y > x, x == y))


@op(broadcasting=True)
def minimum(xp, x, y):
    return xp.minimum(x, y)
minimum.defvjp(lambda xp, g, out, x, y: _share(xp, g, x < y, x == y),
               lambda xp, g, out, x, y: _share(xp, g, y < x, x == y))


@op()
def clip(xp, x, *, min=None, max=None):  # noqa: A002
    return xp.clip(x, min, max)
def _clip_vjp(xp, g, out, x, *, min, max):  # noqa: A002
    inside = xp.ones_like(x, dtype=xp.bool) if min is None else x >= min
    if max is not None:
        inside = xp.logical_and(inside, x <= max)
    return _masked(xp, g, inside)
clip.defvjp(_clip_vjp)


@op(broadcasting=True)
def where(xp, condition, x, y):
    return xp.where(condition, x, y)
where.defvjp(None,
             lambda xp, g, out, condition, x, y: xp.where(condition, g, 0.0),
             lambda xp, g, out, condition, x, y: xp.where(condition, 0.0, g))


@op()
def astype(xp, x, *, dtype):
    return xp.astype(x, dtype)
astype.defvjp(lambda xp, g, out, x, *, dtype: g)  # the engine casts back to x's dtype


# --- linear algebra --------------------------------------------------------------------
def _outer_or_matmul(a, b):
    """``a @ b`` for a (..., k, 1) @ (..., 1, n): a K=1 GEMM is slow in BLAS; the
    broadcast product computes the same outer product far faster."""
    return a * b if a.shape[-1] == 1 else a @ b


def _check_inner_sizes(name, x_shape, y_shape, x_axis, y_axis):
    """Raise one clear ValueError for mismatched contraction sizes (each library words its own)."""
    if x_shape[x_axis] != y_shape[y_axis]:
        raise ValueError(f"shapes {x_shape} and {y_shape} do not match: {name} contracts axis {x_axis} of the "
                         f"first (size {x_shape[x_axis]}) with axis {y_axis} of the second (size {y_shape[y_axis]})")


# Not marked broadcasting: only the batch axes broadcast, so the engine's elementwise
# broadcast error would misreport an inner-size mismatch. The VJPs sum batch axes back.
@op()
def matmul(xp, x, y):
    try:
        return x @ y
    except Exception:  # only on failure: the checks cost nothing on the fast path
        if x.ndim and y.ndim:
            _check_inner_sizes("matmul", tuple(x.shape), tuple(y.shape), -1, -2 if y.ndim > 1 else 0)
            batches = zip(reversed(x.shape[:-2]), reversed(y.shape[:-2]), strict=False)  # shorter one broadcasts
            if not builtins.all(a == b or 1 in (a, b) for a, b in batches):
                raise ValueError(f"the batch axes of shapes {tuple(x.shape)} and {tuple(y.shape)} "
                                 "cannot be broadcast together") from None
        raise
def _matmul_vjp_x(xp, g, out, x, y):
    if y.ndim == 1:
        grad = g[..., None] * y if x.ndim > 1 else g * y
    elif x.ndim == 1:
        grad = (y @ g[..., None])[..., 0]
    else:
        grad = g @ xp.matrix_transpose(y)
    return sum_to(xp, grad, x.shape)
def _matmul_vjp_y(xp, g, out, x, y):
    if x.ndim == 1:
        grad = x[:, None] * g[..., None, :] if y.ndim > 1 else g * x
    elif y.ndim == 1:
        grad = (g[..., None, :] @ x)[..., 0, :]
    else:
        grad = _outer_or_matmul(xp.matrix_transpose(x), g)
    return sum_to(xp, grad, y.shape)
matmul.defvjp(_matmul_vjp_x, _matmul_vjp_y)


#: Activations ``linear`` can apply to its result in the same op: those whose derivative
#: is a function of their output, so the VJP needs nothing the op does not already keep.
_LINEAR_ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


@op()
def linear(xp, x, weight, bias=None, *, activation=None):
    """``x @ weight.T + bias`` with PyTorch's weight layout (out_features, in_features),
    followed by ``activation`` ("relu", "sigmoid", "tanh" or None) in the same op: one
    graph node instead of two (nn.Sequential fuses Linear + activation this way)."""
    if activation is not None and activation not in _LINEAR_ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_LINEAR_ACTIVATIONS)} or None, got {activation!r}")
    try:
        out = x @ weight.T
    except Exception:
        if x.ndim and weight.ndim == 2:
            _check_inner_sizes("linear", tuple(x.shape), tuple(weight.shape), -1, 1)
        raise
    if bias is not None:
        if isinstance(bias, (int, float)) or bias.dtype != out.dtype or bias.ndim > 1:
            out = out + bias  # promotes or broadcasts, as the standard's + does
        else:
            out += bias  # the product is a fresh array: adding in place saves allocating another
    return out if activation is None else _LINEAR_ACTIVATIONS[activation].forward(xp, out)
def _rows(xp, a):
    """A (..., n) array as (rows, n)."""
    return a if a.ndim == 2 else xp.reshape(a, (-1, a.shape[-1]))
@linear.defvjp_joint
def _linear_vjp(xp, needs, g, out, x, weight, bias=None, *, activation=None):
    if activation is not None:  # through the activation first, once for all three gradients
        g = _LINEAR_ACTIVATIONS[activation].vjps[0](xp, g, out, None)
    rows = _rows(xp, g)
    return (
        g @ weight if needs[0] else None,
        _outer_or_matmul(rows.T, _rows(xp, x)) if needs[1] else None,
        xp.sum(rows, axis=0) if len(needs) > 2 and needs[2] else None,
    )


# --- reductions -----------------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes) if ndim else ()


def _keep(xp, g, x, axis, keepdims):
    """A reduced array reshaped so it broadcasts against ``x`` (as keepdims=True would)."""
    if keepdims:
        return g
    axes = _axes(axis, x.ndim)
    return xp.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _count(x, axis):
    return math.prod(x.shape[a] for a in _axes(axis, x.ndim))


@op()
def sum(xp, x, *, axis=None, keepdims=False):  # noqa: A001
    return xp.sum(x, axis=axis, keepdims=keepdims)
sum.defvjp(lambda xp, g, out, x, *, axis, keepdims: xp.broadcast_to(_keep(xp, g, x, axis, keepdims), x.shape))


@op()
def mean(xp, x, *, axis=None, keepdims=False):
    return xp.mean(x, axis=axis, keepdims=keepdims)
mean.defvjp(lambda xp, g, out, x, *, axis, keepdims:
            xp.broadcast_to(_keep(xp, g, x, axis, keepdims) / _count(x, axis), x.shape))


def _extremum_vjp(xp, g, out, x, *, axis, keepdims):
    """Ties share the gradient evenly, as PyTorch's amax/amin and full max/min do."""
    hits = xp.astype(x == _keep(xp, out, x, axis, keepdims), g.dtype)
    return hits * (_keep(xp, g, x, axis, keepdims) / xp.sum(hits, axis=axis, keepdims=True))


@op()
def max(xp, x, *, axis=None, keepdims=False):  # noqa: A001
    return xp.max(x, axis=axis, keepdims=keepdims)
max.defvjp(_extremum_vjp)


@op()
def min(xp, x, *, axis=None, keepdims=False):  # noqa: A001
    return xp.min(x, axis=axis, keepdims=keepdims)
min.defvjp(_extremum_vjp)


def _stable_max(xp, x, axis):
    """max over ``axis`` (kept), with rows of -inf shifted by 0 instead of NaN-making -inf."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0.0)


@op()
def logsumexp(xp, x, *, axis=None, keepdims=False):
    m = _stable_max(xp, x, axis)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.reshape(out, tuple(n for i, n in enumerate(out.shape) if i not in _axes(axis, x.ndim)))
logsumexp.defvjp(lambda xp, g, out, x, *, axis, keepdims:
                 _keep(xp, g, x, axis, keepdims) * xp.exp(x - _keep(xp, out, x, axis, keepdims)))


@op()
def softmax(xp, x, *, axis=-1):
    e = xp.exp(x - _stable_max(xp, x, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)
softmax.defvjp(lambda xp, g, out, x, *, axis: out * (g - xp.sum(g * out, axis=axis, keepdims=True)))


@op()
def log_softmax(xp, x, *, axis=-1):
    shifted = x - _stable_max(xp, x, axis)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
log_softmax.defvjp(lambda xp, g, out, x, *, axis: g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True))


# --- shape and indexing -----------------------------------------------------------------------
@op()
def reshape(xp, x, *, shape):
    return xp.reshape(x, shape)
reshape.defvjp(lambda xp, g, out, x, *, shape: xp.reshape(g, x.shape))


@op()
def permute(xp, x, *, axes):
    return xp.permute_dims(x, tuple(a % x.ndim for a in axes))  # the standard takes no negative axes
permute.defvjp(lambda xp, g, out, x, *, axes:
               xp.permute_dims(g, tuple(sorted(range(len(axes)), key=lambda i: axes[i] % len(axes)))))


@op()
def concat(xp, *xs, axis=0):
    return xp.concat(xs, axis=axis)
@concat.defvjp_argnum
def _concat_vjp(xp, i, g, out, *xs, axis):
    axis = axis % g.ndim
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    key = (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)
    return g[key + (...,)]


@op()
def stack(xp, *xs, axis=0):
    return xp.stack(xs, axis=axis)
@stack.defvjp_argnum
def _stack_vjp(xp, i, g, out, *xs, axis):
    return g[(slice(None),) * (axis % g.ndim) + (i, ...)]


def _has_array(key):
    return builtins.any(array_api_compat.is_array_api_obj(k) for k in (key if isinstance(key, tuple) else (key,)))


def _scatter_back(xp, g, x, positions):
    """The gradient of a gather: ``g`` summed into ``x``'s shape at the flat ``positions``
    it was read from (repeats add up; the standard has no scatter-add, backend.py does)."""
    size = math.prod(x.shape)
    flat = scatter_add(xp, size, xp.reshape(positions, (-1,)), xp.reshape(g, (-1,)))
    return xp.reshape(flat, x.shape)


def _flat_positions(xp, x):
    return xp.reshape(xp.arange(math.prod(x.shape), device=array_api_compat.device(x)), x.shape)


@op()
def getitem(xp, x, *, key):
    return x[key]
def _getitem_vjp(xp, g, out, x, *, key):
    if not _has_array(key):  # basic indexing reads each element at most once
        parts = key if isinstance(key, tuple) else (key,)
        if builtins.any(part is None for part in parts):
            # New axes hold no element of x, and the standard's setitem takes no None: drop them.
            key = tuple(part for part in parts if part is not None)
            g = xp.reshape(g, x[key].shape)
        return xpx.at(xp.zeros_like(x), key).set(g)
    return _scatter_back(xp, g, x, _flat_positions(xp, x)[key])
getitem.defvjp(_getitem_vjp)


@op()
def take(xp, x, indices, *, axis):
    return xp.take(x, indices, axis=axis)
take.defvjp(lambda xp, g, out, x, indices, *, axis:
            _scatter_back(xp, g, x, xp.take(_flat_positions(xp, x), indices, axis=axis)),
            None)


def index(x: Tensor, key: Any) -> Tensor:
    """``x[key]`` with PyTorch/NumPy semantics on every backend: Tensors and lists in the
    key become arrays on ``x``'s backend, a trailing ``...`` is implied, and one 1-D
    integer array among full slices becomes ``take`` (the standard's spelling)."""
    parts = tuple(_index_part(x, part) for part in (key if isinstance(key, tuple) else (key,)))
    arrays = [i for i, part in enumerate(parts) if array_api_compat.is_array_api_obj(part)]
    if len(arrays) == 1 and parts[arrays[0]].ndim == 1 and parts[arrays[0]].dtype != x.xp.bool:
        rest = parts[: arrays[0]] + parts[arrays[0] + 1 :]
        if builtins.all(part is Ellipsis or part == slice(None) for part in rest) and (
            Ellipsis not in rest[: arrays[0]]
        ):
            return take(x, Tensor._wrap(parts[arrays[0]], x._backend, None), axis=arrays[0])
    named = builtins.sum(part is not None and part is not Ellipsis for part in parts)
    if named < x.ndim and not builtins.any(part is Ellipsis for part in parts) and not (
        len(parts) == 1 and arrays and parts[0].dtype == x.xp.bool
    ):
        parts += (Ellipsis,)
    return getitem(x, key=parts[0] if len(parts) == 1 else parts)


def _index_part(x: Tensor, key: Any) -> Any:
    if isinstance(key, Tensor):
        if key._backend is not x._backend:
            raise ValueError(f"anygrad.getitem: the index is on {key._backend.label} but the tensor on {x._backend.label}")
        return key.data
    if isinstance(key, list):
        return x._backend.from_host(np.asarray(key))
    if array_api_compat.is_array_api_obj(key) and backend_of_array(key) is not x._backend:
        raise ValueError(
            f"anygrad.getitem: the index is on {backend_of_array(key).label} but the tensor on {x._backend.label}"
        )
    return key


# --- not differentiable: comparisons, logic, arg-reductions ----------------------------------
@op(differentiable=False)
def less(xp, x, y):
    return x < y


@op(differentiable=False)
def less_equal(xp, x, y):
    return x <= y


@op(differentiable=False)
def greater(xp, x, y):
    return x > y


@op(differentiable=False)
def greater_equal(xp, x, y):
    return x >= y


@op(differentiable=False)
def equal(xp, x, y):
    return x == y


@op(differentiable=False)
def not_equal(xp, x, y):
    return x != y


@op(differentiable=False)
def logical_not(xp, x):
    return xp.logical_not(x)


@op(differentiable=False)
def logical_and(xp, x, y):
    return xp.logical_and(x, y)


@op(differentiable=False)
def logical_or(xp, x, y):
    return xp.logical_or(x, y)


@op(differentiable=False)
def argmax(xp, x, *, axis=None, keepdims=False):
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@op(differentiable=False)
def argmin(xp, x, *, axis=None, keepdims=False):
    return xp.argmin(x, axis=axis, keepdims=keepdims)


# --- compositions (no VJP of their own) ----------------------------------------------------------
_concat, _stack = concat, stack  # the table's ops; the public names below also take a sequence


def concat(*tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis: ``concat([a, b])`` (as ``torch.cat`` and the
    standard take them) or ``concat(a, b)``."""
    return _concat(*_tensor_sequence(tensors), axis=axis)


def stack(*tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along a new axis: ``stack([a, b])`` or ``stack(a, b)``."""
    return _stack(*_tensor_sequence(tensors), axis=axis)


def _tensor_sequence(tensors: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors


def transpose(x: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes."""
    axes = list(range(x.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return permute(x, axes=tuple(axes))


def expand_dims(x: Tensor, axis: int = 0) -> Tensor:
    """Insert a size-1 axis at ``axis``."""
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, shape=tuple(shape))


def squeeze(x: Tensor, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """Remove size-1 axes (all of them, or those in ``axis``, which must have size 1)."""
    axes = tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None else _axes(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"anygrad.squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in axes))


def flatten(x: Tensor, start_axis: int = 0) -> Tensor:
    """Merge the axes from ``start_axis`` on into one."""
    return reshape(x, shape=x.shape[: start_axis % builtins.max(x.ndim, 1)] + (-1,))


# --- fused losses ---------------------------------------------------------------------------
# One op per loss: the forward reduces straight to the loss, and the VJP recomputes what it
# needs (softmax, the target coefficients) from the inputs instead of keeping a chain of
# intermediates. The log-sum-exp and softplus forms keep logits of +-1e4 finite.
# ``reduction`` is "mean", "sum" or "none" with PyTorch's meaning; anygrad.nn.functional
# checks the arguments (shapes, dtypes, class-index range) before calling these.
def _reduce_loss(xp, losses, reduction, denominator):
    if reduction == "none":
        return losses
    total = xp.sum(losses)
    return total / denominator if reduction == "mean" else total


def _loss_scale(g, reduction, denominator):
    """The factor each element's gradient gets: the cotangent, divided by the mean's denominator."""
    return g / denominator if reduction == "mean" else g


def _log_softmax_rows(xp, x):
    shifted = x - xp.max(x, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def _softmax_rows(xp, x):
    e = xp.exp(x - xp.max(x, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def _target_one_hot(xp, x, target, ignore_index):
    """(M, C) bool: True at (i, target[i]) for every row whose target is not ignore_index
    (None: no target is ignored)."""
    classes = x.shape[1]
    hot = xp.arange(classes, device=array_api_compat.device(x)) == target[:, None]
    if ignore_index is not None and 0 <= ignore_index < classes:  # otherwise ignored rows match no class already
        hot = xp.logical_and(hot, (target != ignore_index)[:, None])
    return hot


def _picked_weights(xp, x, weight, hot):
    """(M, C): the target's class weight (1 without weights) at each row's target, 0 elsewhere."""
    return xp.astype(hot, x.dtype) if weight is None else xp.where(hot, weight, 0.0)


def _kept_row_weights(xp, x, target, weight, ignore_index, picked_weights):
    """(M, 1): the class weight of each row's target (1 without weights), 0 on ignored rows;
    None when every row counts once (no weights, no ignored rows). Its sum is the denominator
    of PyTorch's (weighted) mean. Without weights it is read off the targets: an (M,)
    comparison costs less than summing (M, C) rows."""
    if weight is None:
        return None if ignore_index is None else xp.astype(target != ignore_index, x.dtype)[:, None]
    return xp.sum(picked_weights, axis=1, keepdims=True)


def _smoothed_coefficients(xp, x, target, weight, ignore_index, label_smoothing, hot):
    """(M, C) A with row loss -sum_c A[i, c] log_softmax(x)[i, c]: PyTorch mixes (1 - s) times the
    NLL with s/C times the (weighted) sum over all classes, on kept rows."""
    kept = 1.0 if ignore_index is None else xp.astype(target != ignore_index, x.dtype)[:, None]
    spread = kept if weight is None else kept * weight
    return (1.0 - label_smoothing) * _picked_weights(xp, x, weight, hot) + (label_smoothing / x.shape[1]) * spread


def _class_sum(xp, per_class, reduction):
    """-sum over the classes: per row for "none", else over everything (one reduction either way)."""
    return -xp.sum(per_class, axis=1) if reduction == "none" else -xp.sum(per_class)


def _picked_log_probabilities(xp, logp, weight, hot):
    # where, not a product: a -inf elsewhere in a row must not make 0 * -inf = nan.
    picked = xp.where(hot, logp, 0.0)
    return picked if weight is None else picked * weight


@op(residuals=True)
def cross_entropy(xp, x, target, weight=None, *, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Softmax cross-entropy of logits ``x`` (M, C) with class indices ``target`` (M,),
    optional class ``weight`` (C,): ``torch.nn.functional.cross_entropy`` in one op.
    ``ignore_index=None`` says that no target is ignored (the caller knows every target lies
    in [0, C)): the op then skips finding ignored rows, with the same values.
    Keeps log-probabilities and target coefficients for the VJP (a few (M, C) arrays)."""
    logp = _log_softmax_rows(xp, x)
    hot = _target_one_hot(xp, x, target, ignore_index)
    picked_weights = _picked_weights(xp, x, weight, hot)
    row_weights = _kept_row_weights(xp, x, target, weight, ignore_index, picked_weights)
    if label_smoothing:
        coefficients = _smoothed_coefficients(xp, x, target, weight, ignore_index, label_smoothing, hot)
        per_class, row_totals = coefficients * logp, xp.sum(coefficients, axis=1, keepdims=True)
    else:
        coefficients, row_totals = picked_weights, row_weights
        per_class = _picked_log_probabilities(xp, logp, weight, hot)
    loss = _class_sum(xp, per_class, reduction)
    denominator = None if reduction != "mean" else x.shape[0] if row_weights is None else xp.sum(row_weights)
    return (loss if denominator is None else loss / denominator), (logp, coefficients, row_totals, denominator)
def _cross_entropy_vjp(xp, g, saved, x, target, weight=None, *, ignore_index=-100, label_smoothing=0.0,
                       reduction="mean"):
    _, (logp, coefficients, row_totals, denominator) = saved
    probabilities = xp.exp(logp) if row_totals is None else xp.exp(logp) * row_totals
    return (probabilities - coefficients) * _class_loss_scale(g, reduction, denominator)
cross_entropy.defvjp(_cross_entropy_vjp, None, None)


def _class_loss_scale(g, reduction, denominator):
    """How the cotangent of a class loss reaches each (M, C) row: per row for "none", else
    as :func:`_loss_scale` (divided by the mean's denominator)."""
    return g[:, None] if reduction == "none" else _loss_scale(g, reduction, denominator)


def _probability_coefficients(xp, x, target, weight, label_smoothing):
    smoothed = target * (1.0 - label_smoothing) + label_smoothing / x.shape[1] if label_smoothing else target
    return smoothed if weight is None else smoothed * weight


@op()
def soft_cross_entropy(xp, x, target, weight=None, *, label_smoothing=0.0, reduction="mean"):
    """Softmax cross-entropy of logits ``x`` (M, C) with class probabilities ``target`` (M, C):
    ``torch.nn.functional.cross_entropy`` with probability targets (the mean divides by M)."""
    per_class = _probability_coefficients(xp, x, target, weight, label_smoothing) * _log_softmax_rows(xp, x)
    loss = _class_sum(xp, per_class, reduction)
    return loss / x.shape[0] if reduction == "mean" else loss
def _soft_cross_entropy_vjp_x(xp, g, out, x, target, weight=None, *, label_smoothing=0.0, reduction="mean"):
    coefficients = _probability_coefficients(xp, x, target, weight, label_smoothing)
    grad = _softmax_rows(xp, x) * xp.sum(coefficients, axis=1, keepdims=True) - coefficients
    return grad * _class_loss_scale(g, reduction, x.shape[0])
def _soft_cross_entropy_vjp_target(xp, g, out, x, target, weight=None, *, label_smoothing=0.0, reduction="mean"):
    grad = _log_softmax_rows(xp, x) * -(1.0 - label_smoothing)
    grad = grad if weight is None else grad * weight
    return grad * _class_loss_scale(g, reduction, x.shape[0])
soft_cross_entropy.defvjp(_soft_cross_entropy_vjp_x, _soft_cross_entropy_vjp_target, None)


@op()
def nll_loss(xp, logp, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``logp`` (M, C) at class indices
    ``target`` (M,): ``torch.nn.functional.nll_loss`` in one op."""
    hot = _target_one_hot(xp, logp, target, ignore_index)
    loss = _class_sum(xp, _picked_log_probabilities(xp, logp, weight, hot), reduction)
    if reduction != "mean":
        return loss
    return loss / xp.sum(_picked_weights(xp, logp, weight, hot))
def _nll_loss_vjp(xp, g, out, logp, target, weight=None, *, ignore_index=-100, reduction="mean"):
    picked_weights = _picked_weights(xp, logp, weight, _target_one_hot(xp, logp, target, ignore_index))
    denominator = xp.sum(picked_weights) if reduction == "mean" else None
    return -picked_weights * _class_loss_scale(g, reduction, denominator)
nll_loss.defvjp(_nll_loss_vjp, None, None)


def _count_or_none(x, reduction):
    return math.prod(x.shape) if reduction == "mean" else None


@op()
def mse_loss(xp, x, y, *, reduction="mean"):
    """Mean (or summed, or elementwise) squared error of ``x`` and ``y`` of one shape."""
    difference = x - y
    return _reduce_loss(xp, difference * difference, reduction, _count_or_none(x, reduction))
mse_loss.defvjp(lambda xp, g, out, x, y, *, reduction="mean":
                (x - y) * (2.0 * _loss_scale(g, reduction, _count_or_none(x, reduction))),
                lambda xp, g, out, x, y, *, reduction="mean":
                (y - x) * (2.0 * _loss_scale(g, reduction, _count_or_none(x, reduction))))


def _log_of_probability(xp, p):
    """log(p), and -inf at p = 0 without a divide-by-zero warning."""
    zero = p == 0
    return xp.where(zero, -math.inf, xp.log(xp.where(zero, 1.0, p)))


def _log_of_complement(xp, p):
    """log1p(-p) = log(1 - p), and -inf at p = 1 without a divide-by-zero warning."""
    one = p == 1
    return xp.where(one, -math.inf, xp.log1p(-xp.where(one, 0.0, p)))


#: PyTorch's binary_cross_entropy backward guards p (1 - p) with the float32 value of 1e-12.
_BCE_EPSILON = float(np.float32(1e-12))


@op()
def binary_cross_entropy(xp, p, y, weight=None, *, reduction="mean"):
    """``-w * (y log p + (1 - y) log(1 - p))`` with the logs clamped at -100, like PyTorch."""
    # Both logs clamped at -100, as PyTorch does, so p = 0 or 1 gives a finite loss.
    log_p = xp.clip(_log_of_probability(xp, p), -100.0, None)
    log_complement = xp.clip(_log_of_complement(xp, p), -100.0, None)
    losses = -(y * log_p + (1.0 - y) * log_complement)
    losses = losses if weight is None else losses * weight
    return _reduce_loss(xp, losses, reduction, _count_or_none(p, reduction))
def _binary_cross_entropy_vjp_p(xp, g, out, p, y, weight=None, *, reduction="mean"):
    # PyTorch's formula: (p - y) / max(p (1 - p), eps), finite at p = 0 and p = 1.
    grad = (p - y) / xp.clip((1.0 - p) * p, _BCE_EPSILON, None)
    grad = grad if weight is None else grad * weight
    return grad * _loss_scale(g, reduction, _count_or_none(p, reduction))
def _binary_cross_entropy_vjp_y(xp, g, out, p, y, weight=None, *, reduction="mean"):
    grad = _log_of_complement(xp, p) - _log_of_probability(xp, p)  # -logit(p), as PyTorch
    grad = grad if weight is None else grad * weight
    return grad * _loss_scale(g, reduction, _count_or_none(p, reduction))
binary_cross_entropy.defvjp(_binary_cross_entropy_vjp_p, _binary_cross_entropy_vjp_y, None)


def _softplus_of_negative(xp, x):
    """log(1 + exp(-x)) without overflow for either sign of x."""
    return xp.maximum(-x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def _stable_sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@op()
def binary_cross_entropy_with_logits(xp, x, y, weight=None, pos_weight=None, *, reduction="mean"):
    """Binary cross-entropy of ``sigmoid(x)`` computed from the logits ``x`` in the stable form
    ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``, like PyTorch."""
    softplus = _softplus_of_negative(xp, x)
    if pos_weight is not None:
        softplus = (1.0 + (pos_weight - 1.0) * y) * softplus
    losses = (1.0 - y) * x + softplus
    losses = losses if weight is None else losses * weight
    return _reduce_loss(xp, losses, reduction, _count_or_none(x, reduction))
def _bce_with_logits_vjp_x(xp, g, out, x, y, weight=None, pos_weight=None, *, reduction="mean"):
    sigmoid = _stable_sigmoid(xp, x)
    if pos_weight is None:
        grad = sigmoid - y
    else:
        grad = (1.0 + (pos_weight - 1.0) * y) * sigmoid - pos_weight * y
    grad = grad if weight is None else grad * weight
    return grad * _loss_scale(g, reduction, _count_or_none(x, reduction))
def _bce_with_logits_vjp_y(xp, g, out, x, y, weight=None, pos_weight=None, *, reduction="mean"):
    grad = -x if pos_weight is None else (pos_weight - 1.0) * _softplus_of_negative(xp, x) - x
    grad = grad if weight is None else grad * weight
    return grad * _loss_scale(g, reduction, _count_or_none(x, reduction))
binary_cross_entropy_with_logits.defvjp(_bce_with_logits_vjp_x, _bce_with_logits_vjp_y, None, None)


#: Every op of the table, by name (the tests are generated from it).
OPS: dict[str, Op] = {value.name: value for value in globals().values() if isinstance(value, Op)}
