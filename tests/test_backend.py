"""Backends: which are available, how the default is chosen, caching, RNG and scatter-add."""

from __future__ import annotations

import contextvars
import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import anygrad
from anygrad.backend import BACKEND_NAMES, scatter_add


def values(t) -> np.ndarray:
    return anygrad.to_numpy(t)


def in_fresh_context(function):
    """Run ``function`` in a copy of the current context, so use() cannot leak into other tests."""
    return contextvars.copy_context().run(function)


# --- availability ------------------------------------------------------------------------------------
def test_available_backends_lists_the_installed_libraries_in_a_fixed_order():
    available = anygrad.available_backends()
    assert available[0] == "numpy"
    assert available == [name for name in BACKEND_NAMES if name in available]
    for name in ("torch", "jax", "array_api_strict"):
        assert (name in available) == (importlib.util.find_spec(name) is not None)


def test_cupy_counts_as_available_only_with_a_usable_gpu():
    if importlib.util.find_spec("cupy") is None:
        assert "cupy" not in anygrad.available_backends()
        return
    import cupy

    try:
        usable = bool(cupy.cuda.is_available())
    except Exception:
        usable = False
    assert ("cupy" in anygrad.available_backends()) == usable


# --- choosing the default backend ---------------------------------------------------------------------
def test_the_default_backend_is_numpy(monkeypatch):
    monkeypatch.delenv("ANYGRAD_BACKEND", raising=False)
    assert anygrad.get_default_backend() is anygrad.get_backend("numpy")
    assert anygrad.tensor([1.0]).backend == "numpy"


@pytest.mark.parametrize(("setting", "name", "device"), [
    ("torch", "torch", "cpu"),
    ("jax", "jax", None),
    ("array_api_strict:device1", "array_api_strict", "device1"),
])
def test_the_anygrad_backend_environment_variable_sets_the_default(monkeypatch, setting, name, device):
    pytest.importorskip(name)
    monkeypatch.setenv("ANYGRAD_BACKEND", setting)
    assert anygrad.get_default_backend() is anygrad.get_backend(name, device)
    assert anygrad.zeros(2)._backend is anygrad.get_backend(name, device)


def test_use_sets_the_default_in_the_current_context(monkeypatch):
    monkeypatch.delenv("ANYGRAD_BACKEND", raising=False)

    def body():
        chosen = anygrad.use("torch")
        assert chosen is anygrad.get_backend("torch", "cpu")
        assert anygrad.tensor([1.0]).backend == "torch"
        anygrad.use("array_api_strict", device="device1")
        return anygrad.ones(2)._backend.label

    assert in_fresh_context(body) == "array_api_strict:device1"
    assert anygrad.get_default_backend().name == "numpy"  # the context copy kept it from leaking


def test_use_overrides_the_environment_variable(monkeypatch):
    monkeypatch.setenv("ANYGRAD_BACKEND", "jax")

    def body():
        anygrad.use("torch")
        return anygrad.get_default_backend().name

    assert in_fresh_context(body) == "torch"


def test_the_backend_context_manager_restores_the_previous_default(monkeypatch):
    monkeypatch.delenv("ANYGRAD_BACKEND", raising=False)
    with anygrad.backend("torch") as outer:
        assert outer is anygrad.get_backend("torch") and anygrad.ones(1).backend == "torch"
        with anygrad.backend("array_api_strict", device="device1") as inner:
            assert anygrad.ones(1)._backend is inner
        assert anygrad.get_default_backend() is outer
    assert anygrad.get_default_backend().name == "numpy"
    with pytest.raises(KeyError), anygrad.backend("jax"):
        raise KeyError("boom")
    assert anygrad.get_default_backend().name == "numpy"


def test_the_backend_fixture_makes_its_backend_the_default(backend):
    assert anygrad.get_default_backend() is backend
    assert anygrad.ones(1)._backend is backend


def test_unknown_backends_and_devices_are_named_in_the_error():
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'; known backends: numpy, cupy, torch, jax, "
                                         "array_api_strict"):
        anygrad.get_backend("tensorflow")
    with pytest.raises(ValueError, match="unknown backend 'tf'"):
        anygrad.use("tf")
    with pytest.raises(ValueError, match="the numpy backend has only the 'cpu' device, not 'cuda'"):
        anygrad.get_backend("numpy", "cuda")
    with pytest.raises(TypeError, match="backend numpy:cpu has no dtype 'float99'"):
        anygrad.zeros(2, dtype="float99", backend="numpy")


def test_backends_are_cached_per_library_and_device():
    assert anygrad.get_backend("torch") is anygrad.get_backend("torch", "cpu")
    assert anygrad.get_backend("numpy") is anygrad.get_backend("numpy", "cpu")
    strict = anygrad.get_backend("array_api_strict")
    assert strict is anygrad.get_backend("array_api_strict", "CPU_DEVICE")
    assert strict is not anygrad.get_backend("array_api_strict", "device1")
    assert anygrad.get_backend(strict) is strict
    assert repr(strict) == "Backend(array_api_strict:CPU_DEVICE)"


def test_host_backends_say_so():
    assert anygrad.get_backend("numpy").is_host and anygrad.get_backend("torch", "cpu").is_host
    assert anygrad.get_backend("array_api_strict").is_host
    assert not anygrad.get_backend("array_api_strict", "device1").is_host  # the stand-in for a GPU


# --- random numbers ------------------------------------------------------------------------------------
def test_manual_seed_gives_identical_random_tensors_on_every_backend(backend):
    def draw():
        anygrad.manual_seed(1234)
        return (values(anygrad.randn(3, 4)), values(anygrad.rand(5, dtype="float64")),
                values(anygrad.randint(0, 10, (6,))))

    with anygrad.backend("numpy"):
        expected = draw()
    for got, want in zip(draw(), expected, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_manual_seed_repeats_and_different_seeds_differ():
    anygrad.manual_seed(7)
    first = values(anygrad.randn(8))
    anygrad.manual_seed(7)
    np.testing.assert_array_equal(values(anygrad.randn(8)), first)
    anygrad.manual_seed(8)
    assert not np.array_equal(values(anygrad.randn(8)), first)


def test_device_uniform_samples_lie_in_the_unit_interval_on_the_device(backend):
    sample = backend.uniform((1000,), "float32")
    t = anygrad.tensor(sample)
    assert t._backend is backend and values(t).dtype == np.float32
    assert np.all((values(t) >= 0) & (values(t) < 1)) and 0.4 < values(t).mean() < 0.6


# --- host transfer and scatter-add -------------------------------------------------------------------------
def test_to_host_and_from_host_round_trip(backend):
    host = np.arange(6.0).reshape(2, 3)
    array = backend.from_host(host, "float64")
    back = backend.to_host(array)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    reversed_columns = backend.from_host(host[:, ::-1])  # negative strides (torch's DLPack import aborts on them)
    np.testing.assert_array_equal(backend.to_host(reversed_columns), host[:, ::-1])


_SHORT_ROWS = np.random.default_rng(0).standard_normal((64, 10)).astype(np.float32)
_SHORT_ROWS[5, 3] = np.nan
_LARGE = np.random.default_rng(1).standard_normal((64, 128)).astype(np.float32)

NUMPY_DIRECT_CALLS = [
    ("sum", (np.ones((2, 3), np.float32),), {}),
    ("sum", (np.arange(6, dtype=np.int32).reshape(2, 3),), {"axis": 1, "keepdims": True}),
    ("sum", (np.ones((2, 3, 4), np.float32),), {"axis": (0, 2), "dtype": np.float64}),
    ("sum", (np.array(2.5),), {}),
    ("sum", (np.ones((0, 3)),), {"axis": 0}),
    ("max", (np.array([[1.0, np.nan], [3.0, -1.0]]),), {"axis": 1}),
    ("max", (np.arange(6).reshape(2, 3),), {"axis": -1, "keepdims": True}),
    ("min", (np.array([[1.0, 2.0], [-3.0, 4.0]], np.float32),), {}),
    # Many short rows, reduced column by column (sums of small integers are exact in any order).
    ("sum", (np.arange(640, dtype=np.float32).reshape(64, 10),), {"axis": 1, "keepdims": True}),
    ("sum", (np.arange(640).reshape(4, 16, 10),), {"axis": -1}),
    ("sum", (np.arange(640, dtype=np.float32).reshape(64, 10),), {"axis": (1,), "dtype": np.float64}),
    # Float matrices of 1024 elements and more, summed as products with ones (BLAS).
    ("sum", (np.arange(2048, dtype=np.float32).reshape(128, 16),), {"axis": -1}),
    ("sum", (np.arange(2048, dtype=np.float64).reshape(128, 16),), {"axis": 1, "keepdims": True}),
    ("sum", (np.arange(2048, dtype=np.float32).reshape(128, 16),), {"axis": 0}),
    ("sum", (np.arange(2048, dtype=np.float32).reshape(128, 16),), {"axis": (-2,), "keepdims": True}),
    ("sum", (np.arange(2048, dtype=np.float32).reshape(8, 16, 16),), {"axis": 2, "keepdims": True}),
    ("sum", (np.arange(2048, dtype=np.float32).reshape(8, 16, 16),), {"axis": 0}),  # NumPy's own call
    ("sum", (np.arange(2048, dtype=np.float16).reshape(128, 16) / 64,), {"axis": 0}),  # not a BLAS float
    ("max", (_SHORT_ROWS,), {"axis": 1, "keepdims": True}),
    ("max", (_SHORT_ROWS.reshape(4, 16, 10),), {"axis": 2}),
    ("min", (_SHORT_ROWS[:, :3].copy(),), {"axis": -1}),
    ("max", (_SHORT_ROWS.T,), {"axis": -1}),  # not contiguous
    ("max", (_SHORT_ROWS[:31, :2],), {"axis": -1}),  # too few rows: NumPy's own call
    # A Python scalar against a large float array, as a row of the array's dtype.
    ("maximum", (_LARGE, 0.0), {}),
    ("maximum", (0, _LARGE), {}),
    ("minimum", (_LARGE, 0.1), {}),
    ("minimum", (-math.inf, _LARGE), {}),
    ("maximum", (_LARGE, math.nan), {}),
    ("maximum", (_LARGE, np.float64(0.0)), {}),  # a NumPy float64 keeps its dtype: float64
    ("maximum", (_LARGE.astype(np.int32), 3), {}),
    ("maximum", (_LARGE.astype(np.float64), -0.0), {}),
    ("astype", (np.arange(3), np.float32), {}),
    ("astype", (np.ones(3, np.float32), np.float32), {"copy": False}),
    ("arange", (5,), {}),
    ("arange", (1, 7, 2), {"dtype": np.float32, "device": "cpu"}),
    ("ones_like", (np.ones((2, 2), np.int8),), {"dtype": np.float64}),
    ("zeros_like", (np.ones(3, np.float32),), {"device": "cpu"}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), NUMPY_DIRECT_CALLS)
def test_numpy_direct_calls_give_what_array_api_compat_gives(name, args, kwargs):
    import array_api_compat.numpy as compat

    direct = getattr(anygrad.get_backend("numpy").xp, name)(*args, **kwargs)
    expected = getattr(compat, name)(*args, **kwargs)
    assert type(direct) is type(expected) and direct.dtype == expected.dtype and direct.shape == expected.shape
    np.testing.assert_array_equal(direct, expected)
    if name == "astype" and kwargs.get("copy") is False:
        assert direct is args[0]


_SPECIAL = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-40], np.float32)  # 1e-40: subnormal
_MASK = np.random.default_rng(3).standard_normal((64, 128)) > 0
_OTHER = np.random.default_rng(4).standard_normal((64, 128)).astype(np.float32)


@pytest.mark.parametrize(("condition", "x1", "x2"), [
    (_MASK, _LARGE, _OTHER),
    (_MASK, _LARGE, 0.0),
    (_MASK, _LARGE, -0.0),
    (_MASK, 0.0, _LARGE),
    (_MASK, _LARGE, math.nan),
    (_MASK, 3, _LARGE),
    (_MASK[:, :1], _LARGE, _OTHER),  # the condition broadcast
    (_MASK[0], _LARGE, 1.5),
    (_MASK, _LARGE[:, :1], 0.0),  # a branch broadcast
    (_MASK[:, :6], np.tile(_SPECIAL, (64, 1)), -np.tile(_SPECIAL, (64, 1))),  # every bit kept: too small, NumPy's
    (np.tile(_MASK, (1, 6))[:, :768], np.tile(_SPECIAL, (64, 128)), 0.5),
    (_MASK, _LARGE.astype(np.float64), _OTHER.astype(np.float64)),
    (_MASK, _LARGE.astype(np.float16), 2),
    (_MASK, _LARGE, _OTHER.astype(np.float64)),  # mixed dtypes: NumPy's own where (and promotion)
    (_MASK, _LARGE.astype(np.int32), 0),  # integers: NumPy's own where
    (_MASK.astype(np.int8), _LARGE, 0.0),  # not a bool condition: NumPy's own where
])
def test_numpy_where_selects_exactly_what_numpy_selects(condition, x1, x2):
    selected = anygrad.get_backend("numpy").xp.where(condition, x1, x2)
    expected = np.where(condition, x1, x2)
    assert selected.dtype == expected.dtype and selected.shape == expected.shape
    assert selected.tobytes() == expected.tobytes()  # bit for bit: signed zeros and NaNs too


@pytest.mark.parametrize("shape", [(512, 13), (64, 100), (1000, 3)])
@pytest.mark.parametrize("axis", [0, -1])
def test_numpy_sums_of_float_matrices_differ_from_numpys_by_rounding_only(shape, axis):
    import array_api_compat.numpy as compat

    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    direct = anygrad.get_backend("numpy").xp.sum(x, axis=axis)
    np.testing.assert_allclose(direct, compat.sum(x, axis=axis), rtol=1e-5, atol=1e-5)


def test_numpy_maximum_with_a_scalar_beyond_the_dtype_warns_as_numpy_does():
    xp = anygrad.get_backend("numpy").xp
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert np.all(xp.maximum(_LARGE, 1e300) == np.inf)


@pytest.mark.parametrize("name", ["max", "min"])
def test_numpy_direct_reductions_of_nothing_raise_as_numpy_does(name):
    with pytest.raises(ValueError, match="zero-size"):
        getattr(anygrad.get_backend("numpy").xp, name)(np.ones((0, 3)))


def test_the_numpy_namespace_is_array_api_compat_numpy_elsewhere():
    import array_api_compat.numpy as compat

    xp = anygrad.get_backend("numpy").xp
    assert xp.exp is compat.exp and xp.linalg is compat.linalg and xp.float32 is compat.float32
    assert xp.__array_api_version__ == compat.__array_api_version__
    with pytest.raises(ValueError, match="device"):
        xp.arange(3, device="gpu")
    with pytest.raises(AttributeError):
        xp.no_such_function  # noqa: B018


def test_is_writeable_answers_as_array_api_compat_does(backend):
    import array_api_compat

    array = backend.from_host(np.ones(3))
    assert backend.is_writeable(array) == array_api_compat.is_writeable_array(array)
    if backend.name == "numpy":
        read_only = np.ones(3)
        read_only.flags.writeable = False
        assert not backend.is_writeable(read_only)
        assert not backend.is_writeable(np.broadcast_to(np.ones(1), (3,)))


def test_scatter_add_accumulates_repeated_positions(backend):
    xp = backend.xp
    positions = backend.from_host(np.array([0, 2, 2, 4, 0, 2]))
    added = backend.from_host(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    result = scatter_add(xp, 5, positions, added)
    np.testing.assert_array_equal(backend.to_host(result), [6.0, 0.0, 11.0, 0.0, 4.0])
    assert anygrad.tensor(result)._backend is backend


def test_synchronize_returns_once_queued_work_is_done(backend):
    anygrad.synchronize()  # the default backend: the fixture's
    anygrad.synchronize(backend.name, backend.device)


# --- host memory ---------------------------------------------------------------------------
_CHURN = """
import resource, sys, numpy as np, anygrad
setting = anygrad.keep_freed_memory()["setting"] if sys.argv[1] == "keep" else "system"
def step():  # a large-batch training step's use of memory: eight 1 MiB arrays alive at once, then freed
    arrays = [np.ones(1 << 18, np.float32) for _ in range(8)]
    del arrays
step()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(setting, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 20)
"""


def _churn(mode: str, **env: str) -> tuple[str, float]:
    """(allocator setting, page faults per step) of a fresh process running ``_CHURN``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _CHURN, mode], env={**clean, **env}, capture_output=True,
                         text=True, check=True).stdout.split()
    return " ".join(out[:-1]), float(out[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator and getrusage's fault count")
def test_keep_freed_memory_stops_each_step_from_faulting_fresh_pages():
    setting, faults = _churn("system")
    if faults < 1000:
        pytest.skip(f"this C library keeps freed memory by itself ({faults:.0f} faults per step)")
    setting, faults = _churn("keep")
    assert setting == "keep freed memory" and faults < 50  # against ~2,000 (8 MiB of 4 KiB pages)
    setting, _ = _churn("keep", MALLOC_TRIM_THRESHOLD_="1000000")
    assert setting == "environment"  # the user's own setting stands


def test_keep_freed_memory_rejects_sizes_glibc_cannot_take():
    with pytest.raises(ValueError, match=r"block_mib must be an int in \[1, 32\] \(glibc's ceiling\)"):
        anygrad.keep_freed_memory(block_mib=64)
    with pytest.raises(ValueError, match="free_mib an int >= 0, got block_mib=32, free_mib=-1"):
        anygrad.keep_freed_memory(free_mib=-1)
