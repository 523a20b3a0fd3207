"""The Tensor: a backend array, its gradient, and its place in the graph."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np

from anygrad.backend import Backend, backend_of_array, dtype_is, get_backend, host_generator

__all__ = ["Tensor", "tensor", "zeros", "ones", "full", "arange", "randn", "rand", "randint", "zeros_like", "ones_like"]


class Tensor:
    """An array of one backend on one device that can record the ops applied to it.

    ``data`` is the backend array; ``grad`` is a backend array of the same shape once
    :meth:`backward` has reached this tensor (leaves only), else ``None``. Gradients are
    never modified in place by anygrad, so they may share memory with other arrays.
    """

    __slots__ = ("data", "grad", "requires_grad", "_backend", "_node", "__weakref__")
    __array_ufunc__ = None  # make numpy_array * tensor call Tensor.__rmul__, not a ufunc loop

    def __init__(self, data: Any, *, requires_grad: bool = False, dtype: Any = None, backend: Any = None,
                 device: Any = None) -> None:
        target, array = _to_backend_array(data, dtype, backend, device)
        self.data = array
        self.grad = None
        self._backend = target
        self._node = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: Any, backend: Backend, node: Any) -> Tensor:
        tensor = object.__new__(cls)
        tensor.data = data
        tensor.grad = None
        tensor._backend = backend
        tensor._node = node
        tensor.requires_grad = node is not None
        return tensor

    # --- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.data.shape, dtype=np.int64))

    @property
    def device(self) -> Any:
        return self._backend.device

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def xp(self) -> Any:
        """The Array API namespace of ``data``."""
        return self._backend.xp

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not self.is_floating_point():
            raise TypeError(f"only floating-point tensors can require grad, not dtype {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaves; use .detach()")
        self.requires_grad = requires_grad
        return self

    def is_floating_point(self) -> bool:
        """Whether the dtype is a real floating-point type."""
        return dtype_is(self._backend.xp, self.data.dtype, "real floating")

    # --- conversion ---------------------------------------------------------------------
    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, self._backend, None)

    def numpy(self) -> np.ndarray:
        """A NumPy array of the data (copied off a device; not tracked by autograd)."""
        return self._backend.to_host(self.data)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (synchronizes a device)."""
        if self.size != 1:
            raise ValueError(f"item(): the tensor has {self.size} elements, not 1 (shape {self.shape})")
        return self.numpy().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if not dtype_is(self._backend.xp, self.data.dtype, "integral"):
            raise TypeError(f"only integer tensors can be used as an index, not dtype {self.dtype}")
        return int(self.item())

    def to(self, backend: Any = None, device: Any = None, dtype: Any = None) -> Tensor:
        """This tensor on another backend and/or device (DLPack where possible) or dtype.

        ``t.to("cupy")``, ``t.to(device="cuda:1")``, ``t.to("torch", device="cpu")``.
        Without a device a tensor already on the named backend stays on its device.
        The result is a new leaf when a copy was made; moves are not differentiable.
        """
        if isinstance(backend, str) and backend not in _backend_names() and device is None:
            backend, device = None, backend  # t.to("cuda:0") reads as a device
        if device is None and (backend is None or backend == self._backend.name):
            target = self._backend  # no device named: stay where it is (t.to(dtype=...) must not move)
        else:
            target = get_backend(self._backend.name if backend is None else backend, device)
        if target is self._backend:
            moved = self
        else:
            moved = Tensor._wrap(target.move(self.data, self._backend), target, None)
            moved.requires_grad = self.requires_grad and self.is_leaf
        return moved if dtype is None else moved.astype(dtype)

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate gradients of this tensor into the ``.grad`` of every leaf it depends on.

        A scalar output seeds with 1; any other output needs ``grad`` of its shape. The
        graph is freed afterwards unless ``retain_graph=True``.
        """
        _engine.backward(self, grad, retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # --- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", threshold=100)
        extras = [f"backend={self._backend.label}", f"dtype={_dtype_name(self.dtype)}"]
        if self.requires_grad:
            extras.append("requires_grad=True" if self.is_leaf else f"grad_fn={self._node.op.name}")
        return f"tensor({body}, {', '.join(extras)})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__

    # --- operators: one line each ----------------------------------------------------------
    def __add__(self, other: Any) -> Tensor: return _ops.add(self, other)
    def __radd__(self, other: Any) -> Tensor: return _ops.add(other, self)
    def __sub__(self, other: Any) -> Tensor: return _ops.sub(self, other)
    def __rsub__(self, other: Any) -> Tensor: return _ops.sub(other, self)
    def __mul__(self, other: Any) -> Tensor: return _ops.mul(self, other)
    def __rmul__(self, other: Any) -> Tensor: return _ops.mul(other, self)
    def __truediv__(self, other: Any) -> Tensor: return _ops.div(self, other)
    def __rtruediv__(self, other: Any) -> Tensor: return _ops.div(other, self)
    def __pow__(self, other: Any) -> Tensor: return _ops.pow(self, other)
    def __rpow__(self, other: Any) -> Tensor: return _ops.pow(other, self)
    def __matmul__(self, other: Any) -> Tensor: return _ops.matmul(self, other)
    def __rmatmul__(self, other: Any) -> Tensor: return _ops.matmul(other, self)
    def __neg__(self) -> Tensor: return _ops.neg(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return _ops.abs(self)
    def __getitem__(self, key: Any) -> Tensor: return _ops.index(self, key)
    def __lt__(self, other: Any) -> Tensor: return _ops.less(self, other)
    def __le__(self, other: Any) -> Tensor: return _ops.less_equal(self, other)
    def __gt__(self, other: Any) -> Tensor: return _ops.greater(self, other)
    def __ge__(self, other: Any) -> Tensor: return _ops.greater_equal(self, other)
    def __eq__(self, other: Any) -> Tensor: return _ops.equal(self, other)  # type: ignore[override]
    def __ne__(self, other: Any) -> Tensor: return _ops.not_equal(self, other)  # type: ignore[override]
    def __invert__(self) -> Tensor: return _ops.logical_not(self)
    def __and__(self, other: Any) -> Tensor: return _ops.logical_and(self, other)
    def __or__(self, other: Any) -> Tensor: return _ops.logical_or(self, other)

    # --- methods: the same ops as the functions in anygrad ------------------------------------
    def exp(self) -> Tensor: return _ops.exp(self)
    def log(self) -> Tensor: return _ops.log(self)
    def sqrt(self) -> Tensor: return _ops.sqrt(self)
    def abs(self) -> Tensor: return _ops.abs(self)
    def neg(self) -> Tensor: return _ops.neg(self)
    def tanh(self) -> Tensor: return _ops.tanh(self)
    def sigmoid(self) -> Tensor: return _ops.sigmoid(self)
    def relu(self) -> Tensor: return _ops.relu(self)
    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor: return _ops.leaky_relu(self, negative_slope=negative_slope)
    def maximum(self, other: Any) -> Tensor: return _ops.maximum(self, other)
    def minimum(self, other: Any) -> Tensor: return _ops.minimum(self, other)
    def clip(self, min: float | None = None, max: float | None = None) -> Tensor: return _ops.clip(self, min=min, max=max)  # noqa: A002
    clamp = clip
    def matmul(self, other: Any) -> Tensor: return _ops.matmul(self, other)
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.sum(self, axis=axis, keepdims=keepdims)
    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.mean(self, axis=axis, keepdims=keepdims)
    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.max(self, axis=axis, keepdims=keepdims)
    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.min(self, axis=axis, keepdims=keepdims)
    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor: return _ops.argmax(self, axis=axis, keepdims=keepdims)
    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor: return _ops.argmin(self, axis=axis, keepdims=keepdims)
    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.logsumexp(self, axis=axis, keepdims=keepdims)
    def softmax(self, axis: int = -1) -> Tensor: return _ops.softmax(self, axis=axis)
    def log_softmax(self, axis: int = -1) -> Tensor: return _ops.log_softmax(self, axis=axis)
    def reshape(self, *shape: Any) -> Tensor: return _ops.reshape(self, shape=_shape_arg(shape))
    def view(self, *shape: Any) -> Tensor: return _ops.reshape(self, shape=_shape_arg(shape))
    def flatten(self, start_axis: int = 0) -> Tensor: return _ops.flatten(self, start_axis=start_axis)
    def permute(self, *axes: Any) -> Tensor: return _ops.permute(self, axes=_shape_arg(axes))
    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor: return _ops.transpose(self, axis0, axis1)
    def expand_dims(self, axis: int) -> Tensor: return _ops.expand_dims(self, axis=axis)
    unsqueeze = expand_dims
    def squeeze(self, axis: Any = None) -> Tensor: return _ops.squeeze(self, axis=axis)
    def astype(self, dtype: Any) -> Tensor: return _ops.astype(self, dtype=self._backend.dtype(dtype))
    def float(self) -> Tensor: return self.astype("float32")
    def double(self) -> Tensor: return self.astype("float64")

    @property
    def T(self) -> Tensor:  # noqa: N802
        if self.ndim != 2:
            raise ValueError(f"Tensor.T needs a 2-D tensor, got shape {self.shape}; use .mT or permute")
        return _ops.permute(self, axes=(1, 0))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        return _ops.transpose(self, -2, -1)


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``reshape(2, 3)`` and ``reshape((2, 3))`` both mean shape (2, 3)."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _backend_names() -> tuple[str, ...]:
    from anygrad.backend import BACKEND_NAMES

    return BACKEND_NAMES


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


# --- creation ----------------------------------------------------------------------------
def _host_array(data: Any, dtype: Any) -> np.ndarray:
    """Nested lists, scalars and NumPy arrays as a NumPy array with PyTorch's default
    dtypes: Python floats become float32, Python ints int64, NumPy keeps its dtype."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return np.asarray(data)
    array = np.asarray(data)
    if array.dtype == np.float64 and dtype is None:
        array = array.astype(np.float32)
    elif array.dtype.kind in "iu" and dtype is None:
        array = array.astype(np.int64)
    elif array.dtype == object:
        raise TypeError(f"anygrad.tensor: cannot make a tensor from {type(data).__name__} holding mixed objects")
    return array


def _to_backend_array(data: Any, dtype: Any, backend: Any, device: Any) -> tuple[Backend, Any]:
    if isinstance(data, Tensor):
        source, data = data._backend, data.data
    elif array_api_compat.is_array_api_obj(data) and not isinstance(data, (np.ndarray, np.generic)):
        source = backend_of_array(data)
    else:
        target = get_backend(backend, device)
        host = _host_array(data, dtype)
        return target, target.from_host(host, dtype)
    # An array of some backend: it stays there unless a backend or device was asked for.
    if backend is None and device is None:
        target = source
    else:
        target = get_backend(source.name if backend is None else backend, device)
    array = target.move(data, source)
    if dtype is not None:
        array = target.xp.astype(array, target.dtype(dtype))
    return target, array


def tensor(data: Any, *, requires_grad: bool = False, dtype: Any = None, backend: Any = None,
           device: Any = None) -> Tensor:
    """Make a Tensor from nested lists, scalars, NumPy arrays or any Array API array
    (always a copy, as ``torch.tensor`` makes).

    Python and NumPy data goes to ``backend``/``device`` (default: the default backend);
    an array of another library stays on its own backend and device unless one is given.
    Python floats become float32 (the default float dtype); ``dtype`` may be a name
    (``"float64"``) or the backend's dtype object.
    """
    result = Tensor(data, requires_grad=requires_grad, dtype=dtype, backend=backend, device=device)
    if _aliases(result, data):
        # Like torch.tensor: the tensor owns its data, so an in-place optimizer step never
        # writes into the caller's array (Parameter(t) and DataLoader batches do share).
        result.data = result.xp.asarray(result.data, copy=True)
    return result


def _aliases(result: Tensor, data: Any) -> bool:
    source = data.data if isinstance(data, Tensor) else data
    if result.data is source:
        return True
    if not isinstance(source, np.ndarray):
        return False
    if result._backend.name == "array_api_strict":
        return True  # NumPy underneath even on its fake devices, where to_host copies: assume shared
    return result._backend.is_host and np.may_share_memory(result._backend.to_host(result.data), source)


def _filled(host: np.ndarray, requires_grad: bool, backend: Any, device: Any, dtype: Any) -> Tensor:
    target = get_backend(backend, device)
    result = Tensor._wrap(target.from_host(host, dtype), target, None)
    return result.requires_grad_(True) if requires_grad else result


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    shape = _shape_arg(shape)
    if not all(isinstance(n, numbers.Integral) and n >= 0 for n in shape):
        raise ValueError(f"a shape needs non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def zeros(*shape: Any, dtype: Any = "float32", requires_grad: bool = False, backend: Any = None,
          device: Any = None) -> Tensor:
    """A tensor of zeros of ``shape`` (float32 unless ``dtype`` says otherwise)."""
    target = get_backend(backend, device)
    result = Tensor._wrap(target.xp.zeros(_shape(shape), dtype=target.dtype(dtype), device=target.device), target, None)
    return result.requires_grad_(True) if requires_grad else result


def ones(*shape: Any, dtype: Any = "float32", requires_grad: bool = False, backend: Any = None,
         device: Any = None) -> Tensor:
    """A tensor of ones of ``shape``."""
    target = get_backend(backend, device)
    result = Tensor._wrap(target.xp.ones(_shape(shape), dtype=target.dtype(dtype), device=target.device), target, None)
    return result.requires_grad_(True) if requires_grad else result


def full(shape: Any, fill_value: float, *, dtype: Any = "float32", requires_grad: bool = False,
         backend: Any = None, device: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    target = get_backend(backend, device)
    array = target.xp.full(_shape((shape,)), fill_value, dtype=target.dtype(dtype), device=target.device)
    result = Tensor._wrap(array, target, None)
    return result.requires_grad_(True) if requires_grad else result


def zeros_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=x.dtype if dtype is None else dtype, requires_grad=requires_grad, backend=x._backend)


def ones_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=x.dtype if dtype is None else dtype, requires_grad=requires_grad, backend=x._backend)


def arange(start: int, stop: int | None = None, step: int = 1, *, dtype: Any = None, backend: Any = None,
           device: Any = None) -> Tensor:
    """Evenly spaced values in [start, stop): int64 for integer arguments, else float32."""
    host = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None:
        dtype = "int64" if host.dtype.kind in "iu" else "float32"
    return _filled(host, False, backend, device, dtype)


def randn(*shape: Any, dtype: Any = "float32", requires_grad: bool = False, backend: Any = None,
          device: Any = None) -> Tensor:
    """Standard normal samples, drawn on the host from the seeded generator
    (:func:`anygrad.manual_seed`), so one seed gives the same values on every backend."""
    return _filled(host_generator().standard_normal(_shape(shape)), requires_grad, backend, device, dtype)


def rand(*shape: Any, dtype: Any = "float32", requires_grad: bool = False, backend: Any = None,
         device: Any = None) -> Tensor:
    """Uniform [0, 1) samples drawn on the host from the seeded generator."""
    return _filled(host_generator().random(_shape(shape)), requires_grad, backend, device, dtype)


def randint(low: int, high: int, size: Any, *, dtype: Any = "int64", backend: Any = None,
            device: Any = None) -> Tensor:
    """Integers in [low, high) drawn on the host from the seeded generator."""
    return _filled(host_generator().integers(low, high, size=_shape((size,))), False, backend, device, dtype)


from anygrad import engine as _engine  # noqa: E402  (the engine and the ops build on Tensor)
from anygrad import ops as _ops  # noqa: E402
