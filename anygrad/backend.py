"""Everything that differs between array libraries, and nothing else.

Op code only ever sees ``xp``, the Array API namespace of its inputs. This module
resolves backend names and devices to a :class:`Backend`, converts to and from host
(NumPy) arrays, owns the random generators and the default-backend setting, and holds
the few per-library overrides the standard has no portable spelling for (scatter-add),
the NumPy namespace that calls NumPy directly and goes around its slow paths, and the one
host-memory setting NumPy's speed at large batches depends on.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import importlib
import os
import types
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Backend",
    "available_backends",
    "scatter_add",
    "backend",
    "get_backend",
    "get_default_backend",
    "keep_freed_memory",
    "manual_seed",
    "synchronize",
    "to_numpy",
    "use",
]

BACKEND_NAMES = ("numpy", "cupy", "torch", "jax", "array_api_strict")

# The library each backend name imports to find out whether it is installed.
_LIBRARY = {
    "numpy": "numpy",
    "cupy": "cupy",
    "torch": "torch",
    "jax": "jax",
    "array_api_strict": "array_api_strict",
}


def _namespace_of(name: str) -> Any:
    """The Array API namespace for a backend name (imports lazily)."""
    if name == "numpy":
        return _numpy_namespace()
    if name == "cupy":
        return importlib.import_module("array_api_compat.cupy")
    if name == "torch":
        return importlib.import_module("array_api_compat.torch")
    if name == "jax":
        import jax

        # Without x64, JAX turns float64 requests into float32 (with a warning): float64
        # tensors, gradient checks and int64 indices need it. Default dtypes stay ours
        # (anygrad always passes a dtype when it creates arrays).
        jax.config.update("jax_enable_x64", True)
        return importlib.import_module("jax.numpy")
    if name == "array_api_strict":
        return importlib.import_module("array_api_strict")
    raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKEND_NAMES)}")


# --- NumPy: the hottest calls made direct ---------------------------------------------------
# array_api_compat.numpy reaches NumPy's reductions through their Python-level wrappers and
# checks the device in Python on every creation and cast: 0.5-1 us a call, as much as the
# arithmetic itself on the small arrays of per-sample training. These call the same NumPy
# routines directly, with the same results and dtypes (tests/test_backend.py compares them
# with array_api_compat.numpy; a float matrix's row or column sums may round differently,
# being added in another order), and go around NumPy's slow paths for large arrays where
# the shapes hit them. Every other name is array_api_compat.numpy's own.
def _numpy_device_check(device: Any) -> None:
    if device not in ("cpu", None):
        raise ValueError(f"Unsupported device for NumPy: {device!r}")


# Each override first asks whether its array is large: small arrays, the per-sample case,
# go to NumPy at once, so the checks below cost them ~0.1 us a call.
def _numpy_sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    if getattr(x, "size", 0) >= _SUM_AS_PRODUCT_FROM and dtype is None:
        summed = _sum_as_product(x, axis, keepdims)
        if summed is not None:
            return summed
    return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)  # np.sum's own call for arrays


# NumPy's add.reduce over either axis of a float matrix is several times slower than BLAS's
# matrix-vector product with ones: a (2048, 128) batch's bias gradient 37 us against 13, the
# (2048, 10) row sums of cross-entropy 29 against 4. Below ~1024 elements creating the vector
# of ones costs more than it saves.
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_SUM_AS_PRODUCT_FROM = 1024


def _sum_as_product(x: Any, axis: Any, keepdims: bool) -> Any:
    """Row sums or a matrix's column sums as a product with ones; None for other sums."""
    if type(x) is not np.ndarray or x.dtype not in _BLAS_FLOATS or x.ndim < 2:
        return None
    last = x.ndim - 1
    if axis in (-1, last, (-1,), (last,)):  # row sums (softmax, cross-entropy)
        rows = x @ np.ones(x.shape[-1], x.dtype)
        return rows[..., None] if keepdims else rows
    if last == 1 and axis in (0, -2, (0,), (-2,)):  # column sums (a bias gradient)
        columns = np.ones(x.shape[0], x.dtype) @ x
        return columns[None] if keepdims else columns
    return None


def _numpy_max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
    return _extreme(np.maximum, x, axis, keepdims)


def _numpy_min(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
    return _extreme(np.minimum, x, axis, keepdims)


# NumPy reduces a short last axis row by row: a (2048, 10) row max (softmax, cross-entropy)
# takes 80 us, where reducing the transposed copy takes 7 (one vectorized pass per column).
# Measured crossovers: it pays from 32 rows, for rows of up to 16 elements.
_SHORT_ROW, _MANY_ROWS = 16, 32


def _extreme(ufunc: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """ufunc (maximum or minimum) reduced over ``axis``: column by column for many short rows."""
    if getattr(x, "size", 0) < _MANY_ROWS or x.ndim < 2 or not 0 < x.shape[-1] <= _SHORT_ROW \
            or x.size < _MANY_ROWS * x.shape[-1] or axis not in (-1, x.ndim - 1, (-1,), (x.ndim - 1,)):
        return ufunc.reduce(x, axis=axis, keepdims=keepdims)
    ndim, length = x.ndim, x.shape[-1]
    rows = x if ndim == 2 else np.reshape(x, (-1, length))
    reduced = ufunc.reduce(np.ascontiguousarray(rows.T), axis=0)
    if ndim == 2:  # the common case, without two reshapes (~1 us)
        return reduced[:, None] if keepdims else reduced
    return np.reshape(reduced, x.shape[:-1] + ((1,) if keepdims else ()))


def _numpy_maximum(x1: Any, x2: Any, /) -> Any:
    return _with_scalar_as_row(np.maximum, x1, x2)


def _numpy_minimum(x1: Any, x2: Any, /) -> Any:
    return _with_scalar_as_row(np.minimum, x1, x2)


# NumPy's maximum and minimum of a float array and a Python scalar miss the SIMD loop they
# use for two arrays: a (2048, 128) ReLU takes 80 us, against 39 with the scalar as a row
# (the same values: NumPy casts the scalar to the array's dtype either way).
_SCALAR_AS_ROW_FROM = 4096  # elements; below it the row costs more than it saves


def _with_scalar_as_row(ufunc: Any, x1: Any, x2: Any) -> Any:
    if getattr(x1, "size", 0) < _SCALAR_AS_ROW_FROM and getattr(x2, "size", 0) < _SCALAR_AS_ROW_FROM:
        return ufunc(x1, x2)
    # Python numbers only: NumPy scalars (np.float64 is a float) keep their own dtype.
    array, scalar = (x1, x2) if type(x2) in (int, float) else (x2, x1)
    if type(scalar) in (int, float) and type(array) is np.ndarray and array.dtype.kind == "f":
        row = np.full(array.shape[-1], scalar, dtype=array.dtype)
        return ufunc(x1, row) if scalar is x2 else ufunc(row, x2)
    return ufunc(x1, x2)


def _numpy_astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
    _numpy_device_check(device)
    return x.astype(dtype, copy=copy)


def _numpy_arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Any:
    _numpy_device_check(device)
    return np.arange(start, stop, step, dtype=dtype)


def _numpy_ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    _numpy_device_check(device)
    return np.ones_like(x, dtype=dtype)


def _numpy_zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    _numpy_device_check(device)
    return np.zeros_like(x, dtype=dtype)


# NumPy's where branches on every element: a random mask (a ReLU-like op's sign pattern) costs
# 3.6 ns an element, 60 us for a (128, 128) leaky ReLU and 950 us at (2048, 128), twenty times
# a multiply. For float arrays the same selection as bit operations on their integer views
# takes no branch (130 us at (2048, 128), 57 when one branch is 0.0) and copies every bit
# (signed zeros, NaN payloads) as where does.
_SELECT_FROM = 2048  # elements; below it a mispredicted branch costs less than the extra passes
_SAME_WIDTH_INTEGER = {np.dtype(np.float16): np.int16, np.dtype(np.float32): np.int32,
                       np.dtype(np.float64): np.int64}


def _numpy_where(condition: Any, x1: Any, x2: Any, /) -> Any:
    if getattr(condition, "size", 0) < _SELECT_FROM and getattr(x1, "size", 0) < _SELECT_FROM \
            and getattr(x2, "size", 0) < _SELECT_FROM:
        return np.where(condition, x1, x2)
    dtype = _select_dtype(condition, x1, x2)
    if dtype is None:
        return np.where(condition, x1, x2)
    integer = _SAME_WIDTH_INTEGER[dtype]
    shape = np.broadcast_shapes(condition.shape, np.shape(x1), np.shape(x2))
    mask = condition.astype(integer)
    np.negative(mask, out=mask)  # -1 has every bit set: all ones where true, zeros elsewhere
    into = mask if mask.shape == shape else None  # the fresh mask takes the result where it can
    bits1, bits2 = _bits(x1, dtype, integer), _bits(x2, dtype, integer)
    if bits2.ndim == 0 and bits2 == 0:  # a +0.0 branch: nothing to add where false
        return np.bitwise_and(mask, bits1, out=into).view(dtype)
    where_false = np.bitwise_and(np.invert(mask), bits2)
    picked = np.bitwise_and(mask, bits1, out=into)
    return np.bitwise_or(picked, where_false, out=picked if picked.shape == shape else None).view(dtype)


def _select_dtype(condition: Any, x1: Any, x2: Any) -> Any:
    """The result's float dtype (the arrays' one; Python numbers take it, as NumPy casts
    them), or None where NumPy's own where is used (not float, or mixed dtypes)."""
    if type(condition) is not np.ndarray or condition.dtype != np.bool_:
        return None
    arrays = [x for x in (x1, x2) if type(x) is np.ndarray]
    if not arrays or any(type(x) not in (int, float) for x in (x1, x2) if type(x) is not np.ndarray):
        return None
    dtype = arrays[0].dtype
    if any(x.dtype != dtype for x in arrays) or dtype not in _SAME_WIDTH_INTEGER:
        return None
    return dtype


def _bits(x: Any, dtype: Any, integer: Any) -> Any:
    return np.asarray(x, dtype=dtype).view(integer)


_NUMPY_DIRECT = {"sum": _numpy_sum, "max": _numpy_max, "min": _numpy_min, "maximum": _numpy_maximum,
                 "minimum": _numpy_minimum, "where": _numpy_where, "astype": _numpy_astype, "arange": _numpy_arange,
                 "ones_like": _numpy_ones_like, "zeros_like": _numpy_zeros_like}


@functools.cache
def _numpy_namespace() -> types.ModuleType:
    """array_api_compat.numpy with the functions of ``_NUMPY_DIRECT`` replaced."""
    compat = importlib.import_module("array_api_compat.numpy")
    namespace = types.ModuleType("anygrad.numpy_namespace", "array_api_compat.numpy with direct NumPy calls "
                                 "for " + ", ".join(_NUMPY_DIRECT))
    namespace.__dict__.update({name: getattr(compat, name) for name in dir(compat) if not name.startswith("__")})
    namespace.__dict__.update(_NUMPY_DIRECT)
    namespace.__array_api_version__ = compat.__array_api_version__
    namespace.__array_namespace_info__ = compat.__array_namespace_info__

    def __getattr__(name: str) -> Any:  # anything compat makes on demand
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(compat, name)

    namespace.__getattr__ = __getattr__
    return namespace


def _backend_name_of_array(array: Any) -> str:
    if array_api_compat.is_numpy_array(array):
        return "numpy"
    if array_api_compat.is_torch_array(array):
        return "torch"
    if array_api_compat.is_cupy_array(array):
        return "cupy"
    if array_api_compat.is_jax_array(array):
        return "jax"
    if array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(array)):
        return "array_api_strict"
    raise TypeError(f"anygrad does not know the array type {type(array).__module__}.{type(array).__name__}")


def _normalize_device(name: str, xp: Any, device: Any) -> Any:
    """The library's own device object for ``device`` (None means the library default)."""
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"the numpy backend has only the 'cpu' device, not {device!r}")
        return "cpu"
    if name == "torch":
        import torch

        device = torch.device("cpu" if device is None else device)
        if device.type == "cuda" and device.index is None:
            # "cuda" and the "cuda:0" its arrays report must name one Backend.
            device = torch.device("cuda", torch.cuda.current_device())
        return device
    if name == "cupy":
        import cupy

        if device is None:
            return cupy.cuda.Device()
        if isinstance(device, str):
            device = int(device.rsplit(":", 1)[-1]) if ":" in device else int(device)
        return device if isinstance(device, cupy.cuda.Device) else cupy.cuda.Device(device)
    if name == "jax":
        import jax

        if device is None:
            return jax.devices()[0]
        if isinstance(device, str):
            platform, _, index = device.partition(":")
            return jax.devices(platform)[int(index or 0)]
        return device
    # array_api_strict: "CPU_DEVICE", "device1", "device2" or a Device
    if device is None:
        return xp.Device("CPU_DEVICE")
    return xp.Device(device) if isinstance(device, str) else device


def _device_label(name: str, device: Any) -> str:
    if name == "cupy":
        return f"cuda:{device.id}"
    if name == "array_api_strict":
        return str(device).split("'")[1] if "'" in str(device) else str(device)
    return str(device)


def _is_host_device(name: str, xp: Any, device: Any) -> bool:
    """Whether arrays on this device live in host memory (NumPy can read them)."""
    if name == "numpy":
        return True
    if name == "torch":
        return device.type == "cpu"
    if name == "jax":
        return device.platform == "cpu"
    if name == "array_api_strict":
        return device == xp.Device("CPU_DEVICE")
    return False


class Backend:
    """One array library on one device.

    Backends are cached: ``get_backend("torch", "cpu") is get_backend("torch", "cpu")``,
    so ops check that their inputs agree with one identity comparison.
    """

    __slots__ = ("name", "xp", "device", "label", "is_host", "is_writeable")

    def __init__(self, name: str, device: Any = None) -> None:
        self.name = name
        self.xp = _namespace_of(name)
        self.device = _normalize_device(name, self.xp, device)
        self.label = f"{name}:{_device_label(name, self.device)}"
        self.is_host = _is_host_device(name, self.xp, self.device)
        # Whether an array can be updated in place (optimizers then allocate nothing), as
        # array_api_compat.is_writeable_array answers it, without its per-call type dispatch.
        self.is_writeable: Callable[[Any], bool] = _IS_WRITEABLE.get(name, _always_writeable)

    def __repr__(self) -> str:
        return f"Backend({self.label})"

    # A Backend names a library and device; copies and pickles resolve to the cached one
    # (so copy.deepcopy(model) works and the copy still passes the identity check of ops).
    def __reduce__(self) -> tuple[Any, ...]:
        return get_backend, (self.name, _device_label(self.name, self.device))

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        return self

    # -- creation and host transfer -------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """The library's dtype object for a dtype name or object (None stays None)."""
        if dtype is None or not isinstance(dtype, str):
            return dtype
        try:
            return getattr(self.xp, dtype)
        except AttributeError:
            raise TypeError(f"backend {self.label} has no dtype {dtype!r}") from None

    def from_host(self, array: np.ndarray, dtype: Any = None) -> Any:
        """Copy a NumPy array onto this backend and device."""
        if self.name == "numpy":
            return np.asarray(array, dtype=self.dtype(dtype))
        if self.name == "torch" and not array.flags.c_contiguous:
            # torch's DLPack import of a negative-stride NumPy array aborts the process.
            array = np.ascontiguousarray(array)
        if self.name == "jax":
            import jax

            # jnp.asarray(..., device=) compiles two XLA programs per new shape (a cast and a
            # copy); casting on the host and device_put compiles none. The private host copy
            # keeps a CPU device_put, which may alias its input, from seeing later writes.
            host = np.array(array, dtype=None if dtype is None else np.dtype(self.dtype(dtype)), copy=True)
            return jax.device_put(host, self.device)
        return self.xp.asarray(array, dtype=self.dtype(dtype), device=self.device)

    def to_host(self, array: Any) -> np.ndarray:
        """A NumPy copy (or view, on the host) of a backend array."""
        if self.name == "numpy":
            return np.asarray(array)
        if self.name == "torch":
            return array.detach().cpu().numpy()
        if self.name == "cupy":
            return array.get()
        if self.name == "array_api_strict" and not self.is_host:
            array = array_api_compat.to_device(array, self.xp.Device("CPU_DEVICE"))
        return np.from_dlpack(array) if self.name == "array_api_strict" else np.asarray(array)

    def move(self, array: Any, source: Backend) -> Any:
        """Move an array from the ``source`` backend to this one (DLPack where possible)."""
        if source is self:
            return array
        if source.name == self.name and self.name != "numpy":
            return array_api_compat.to_device(array, self.device)
        both_on_gpu = source.name in ("cupy", "torch") and self.name in ("cupy", "torch") and not (
            source.is_host or self.is_host
        )
        if both_on_gpu or (source.is_host and self.is_host and self.name != "array_api_strict"):
            with contextlib.suppress(Exception):
                return self.xp.from_dlpack(array)
        return self.from_host(source.to_host(array))

    def synchronize(self) -> None:
        """Wait until all work queued on this device has finished (no-op on the host)."""
        if self.name == "cupy":
            self.device.synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        elif self.name == "jax":
            import jax

            jax.effects_barrier()

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) samples made on the device by its own generator where it has one."""
        return _device_uniform(self, shape, self.dtype(dtype))


def _always_writeable(array: Any) -> bool:
    return True


_IS_WRITEABLE: dict[str, Callable[[Any], bool]] = {
    "numpy": lambda array: bool(array.flags.writeable),  # views of read-only buffers are not
    "jax": lambda array: False,  # immutable arrays
}


@functools.cache
def dtype_is(xp: Any, dtype: Any, kind: str) -> bool:
    """``xp.isdtype(dtype, kind)``, cached: NumPy's costs ~4 µs a call, too much for
    checks that run every training step."""
    return bool(xp.isdtype(dtype, kind))


# --- scatter-add: one override per library, a portable one-hot fallback ----------------
def _scatter_add_numpy(xp: Any, size: int, positions: Any, values: Any) -> Any:
    out = np.zeros(size, dtype=values.dtype)
    np.add.at(out, positions, values)
    return out


def _scatter_add_cupy(xp: Any, size: int, positions: Any, values: Any) -> Any:
    import cupy
    import cupyx

    out = cupy.zeros(size, dtype=values.dtype)
    cupyx.scatter_add(out, positions, values)
    return out


def _scatter_add_torch(xp: Any, size: int, positions: Any, values: Any) -> Any:
    out = values.new_zeros(size)
    return out.index_add_(0, positions, values)


def _scatter_add_jax(xp: Any, size: int, positions: Any, values: Any) -> Any:
    return xp.zeros(size, dtype=values.dtype).at[positions].add(values)


def _scatter_add_one_hot(xp: Any, size: int, positions: Any, values: Any) -> Any:
    device = array_api_compat.device(values)
    one_hot = xp.astype(xp.arange(size, device=device)[:, None] == positions[None, :], values.dtype)
    return one_hot @ values


_SCATTER_ADD: dict[str, Callable[..., Any]] = {
    "anygrad.numpy_namespace": _scatter_add_numpy,
    "array_api_compat.cupy": _scatter_add_cupy,
    "array_api_compat.torch": _scatter_add_torch,
    "jax.numpy": _scatter_add_jax,
}


def scatter_add(xp: Any, size: int, positions: Any, values: Any) -> Any:
    """A length-``size`` vector holding the sum of ``values`` at flat ``positions``;
    repeated positions accumulate (the standard has no scatter-add, so each library
    gets its own, and any other library a one-hot matmul)."""
    return _SCATTER_ADD.get(xp.__name__, _scatter_add_one_hot)(xp, size, positions, values)

# --- backend cache, default backend, availability ---------------------------------------
_BACKENDS: dict[tuple[str, str], Backend] = {}


def get_backend(name: str | Backend | None = None, device: Any = None) -> Backend:
    """The cached :class:`Backend` for a name and device; ``None`` means the default."""
    if isinstance(name, Backend):
        return name if device is None else get_backend(name.name, device)
    if name is None:
        default = get_default_backend()
        return default if device is None else get_backend(default.name, device)
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKEND_NAMES)}")
    key = (name, repr(device))
    found = _BACKENDS.get(key)
    if found is None:
        found = Backend(name, device)
        # Two spellings of one device ("cpu", None) must give the same Backend object.
        found = _BACKENDS.setdefault((name, found.label), found)
        _BACKENDS[key] = found
    return found


def backend_of_array(array: Any) -> Backend:
    """The Backend an existing array lives on."""
    name = _backend_name_of_array(array)
    device = None if name == "numpy" else array_api_compat.device(array)
    return get_backend(name, device)


def _is_available(name: str) -> bool:
    try:
        importlib.import_module(_LIBRARY[name])
    except ImportError:
        return False
    if name == "cupy":
        import cupy

        try:
            return bool(cupy.cuda.is_available())
        except Exception:  # a broken CUDA install reports itself here
            return False
    return True


def available_backends() -> list[str]:
    """Backends that import and can run on this machine (CuPy only with a usable GPU)."""
    return [name for name in BACKEND_NAMES if _is_available(name)]


_DEFAULT_BACKEND: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "anygrad_default_backend", default=None
)


def get_default_backend() -> Backend:
    """The backend new tensors go to: set by :func:`use` / :func:`backend`, else the
    ``ANYGRAD_BACKEND`` environment variable (``name`` or ``name:device``), else NumPy."""
    found = _DEFAULT_BACKEND.get()
    if found is not None:
        return found
    setting = os.environ.get("ANYGRAD_BACKEND", "numpy")
    name, _, device = setting.partition(":")
    return get_backend(name, device or None)


def use(name: str, device: Any = None) -> Backend:
    """Make ``name`` (on ``device``) the default backend in the current context."""
    found = get_backend(name, device)
    _DEFAULT_BACKEND.set(found)
    return found


@contextlib.contextmanager
def backend(name: str, device: Any = None) -> Iterator[Backend]:
    """``with anygrad.backend("torch", device="cpu"):`` makes it the default inside."""
    token = _DEFAULT_BACKEND.set(get_backend(name, device))
    try:
        yield _DEFAULT_BACKEND.get()
    finally:
        _DEFAULT_BACKEND.reset(token)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy array from a Tensor, a backend array, or anything ``np.asarray`` takes."""
    from anygrad.tensor import Tensor  # the Tensor module builds on this one

    if isinstance(x, Tensor):
        return x._backend.to_host(x.data)
    data = x
    if isinstance(data, np.ndarray) or not array_api_compat.is_array_api_obj(data):
        return np.asarray(data)
    return backend_of_array(data).to_host(data)


def synchronize(name: str | Backend | None = None, device: Any = None) -> None:
    """Wait for queued device work on a backend (default: the default backend)."""
    get_backend(name, device).synchronize()


# --- host memory ---------------------------------------------------------------------------
#: glibc's malloc options (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(block_mib: int = 32, free_mib: int = 64) -> dict[str, Any]:
    """Ask the C allocator (glibc) to keep freed host memory for reuse instead of returning
    it to the OS: blocks up to ``block_mib`` (glibc's ceiling is 32) come from the heap, and
    up to ``free_mib`` of free heap is kept. Returns what was done, for logs.

    NumPy arrays come from malloc. glibc hands blocks above its mmap threshold straight
    to the OS on free and trims free heap above its trim threshold; both start at 128 KiB
    and rise only to the largest block freed so far. A training loop whose arrays are
    hundreds of KiB (batch 512 and up) then maps and zeroes fresh pages every step: about
    1,000-2,000 page faults a step, 18-30% of the step (bench/NOTES.md). Kept memory is
    reused at once. The cost: the process holds up to ``free_mib`` MiB it no longer uses.

    Process-wide and opt-in (``anygrad train`` and the benchmark call it). Does nothing
    where MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set (that choice stands) or
    where the C library is not glibc."""
    if not (isinstance(block_mib, int) and 1 <= block_mib <= 32 and isinstance(free_mib, int) and free_mib >= 0):
        raise ValueError(f"keep_freed_memory: block_mib must be an int in [1, 32] (glibc's ceiling) and free_mib "
                         f"an int >= 0, got block_mib={block_mib!r}, free_mib={free_mib!r}")
    chosen = {name: os.environ[name] for name in _MALLOC_VARIABLES if name in os.environ}
    if chosen:
        return {"setting": "environment", **chosen}
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return {"setting": "system (no glibc mallopt)"}
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_threshold, trim_threshold = block_mib << 20, free_mib << 20
    if mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(_M_TRIM_THRESHOLD, trim_threshold):
        return {"setting": "keep freed memory", "mmap_threshold": mmap_threshold, "trim_threshold": trim_threshold}
    return {"setting": "system (mallopt refused the settings)"}


# --- random numbers -----------------------------------------------------------------------
class _RandomState:
    """The host generator every backend draws initial values from, plus the devices'
    own generators (used for dropout masks), all derived from one seed."""

    __slots__ = ("seed", "host", "devices")

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.host = np.random.default_rng(seed)
        self.devices: dict[str, Any] = {}


# Until manual_seed is called, every context shares one unseeded state, like torch's default generator.
_RANDOM: contextvars.ContextVar[_RandomState] = contextvars.ContextVar(
    "anygrad_random", default=_RandomState(None)  # noqa: B039
)


def manual_seed(seed: int) -> None:
    """Seed the host generator and every device generator in the current context."""
    _RANDOM.set(_RandomState(int(seed)))


def host_generator() -> np.random.Generator:
    """The seeded NumPy generator initial weights and random tensors are drawn from."""
    return _RANDOM.get().host


def _device_uniform(backend: Backend, shape: tuple[int, ...], dtype: Any) -> Any:
    state = _RANDOM.get()
    generator = state.devices.get(backend.label)
    seed = int(state.host.integers(2**63)) if generator is None else None
    if backend.name == "cupy":
        import cupy

        if generator is None:
            with backend.device:
                generator = cupy.random.default_rng(seed)
        with backend.device:
            sample = generator.random(shape, dtype=dtype)
    elif backend.name == "torch" and backend.device.type != "cpu":
        import torch

        if generator is None:
            generator = torch.Generator(device=backend.device).manual_seed(seed)
        sample = torch.rand(shape, generator=generator, dtype=dtype, device=backend.device)
    else:  # host libraries, JAX and strict: draw on the host (JAX has no stateful generator)
        generator = state.host
        if backend.name == "numpy":
            # float64 draws, as for the other host backends: one seed, one dropout mask everywhere.
            sample = generator.random(shape).astype(np.float32 if dtype is None else dtype, copy=False)
        else:
            sample = backend.from_host(generator.random(shape), dtype or backend.xp.float32)
    state.devices[backend.label] = generator
    return sample
