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
from anygrad.engine import Op, op
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


@op()
def relu(xp, x):
    return xp.maximum(x, 0.0)
relu.defvjp(lambda xp, g, out, x: xp.where(out > 0, g, 0.0))


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
@clip.defvjp
def _clip_vjp(xp, g, out, x, *, min, max):  # noqa: A002
    inside = xp.ones_like(x, dtype=xp.bool) if min is None else x >= min
    if max is not None:
        inside = xp.logical_and(inside, x <= max)
    return xp.where(inside, g, 0.0)


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


@op(broadcasting=True)
def matmul(xp, x, y):
    return x @ y
@matmul.defvjp
def _matmul_vjp_x(xp, g, out, x, y):
    if y.ndim == 1:
        return g[..., None] * y if x.ndim > 1 else g * y
    if x.ndim == 1:
        return (y @ g[..., None])[..., 0]
    return g @ xp.matrix_transpose(y)
def _matmul_vjp_y(xp, g, out, x, y):
    if x.ndim == 1:
        return x[:, None] * g[..., None, :] if y.ndim > 1 else g * x
    if y.ndim == 1:
        return (g[..., None, :] @ x)[..., 0, :]
    return _outer_or_matmul(xp.matrix_transpose(x), g)
matmul.defvjp(_matmul_vjp_x, _matmul_vjp_y)


@op()
def linear(xp, x, weight, bias=None):
    """``x @ weight.T + bias`` with PyTorch's weight layout (out_features, in_features)."""
    out = x @ weight.T
    return out if bias is None else out + bias
def _rows(xp, a):
    """A (..., n) array as (rows, n)."""
    return a if a.ndim == 2 else xp.reshape(a, (-1, a.shape[-1]))
linear.defvjp(lambda xp, g, out, x, weight, bias=None: g @ weight,
              lambda xp, g, out, x, weight, bias=None: _outer_or_matmul(_rows(xp, g).T, _rows(xp, x)),
              lambda xp, g, out, x, weight, bias=None: xp.sum(_rows(xp, g), axis=0))


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
    return xp.permute_dims(x, axes)
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
@getitem.defvjp
def _getitem_vjp(xp, g, out, x, *, key):
    if not _has_array(key):  # basic indexing reads each element at most once
        return xpx.at(xp.zeros_like(x), key).set(g)
    return _scatter_back(xp, g, x, _flat_positions(xp, x)[key])


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


#: Every op of the table, by name (the tests are generated from it).
OPS: dict[str, Op] = {name: value for name, value in globals().items() if isinstance(value, Op)}
