"""Timing: engines interleaved over repeats, the GEMM rate that gives each backend's
limit, the engine overhead per op, and the environment (threads, BLAS, versions).

Every clock is read after the device has finished (Engine.finish / a host read of the
result); nothing inside a timed loop reads a value back to the host.
"""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import anygrad
from bench.workload import Engine, Workload, check_against_reference


def blas_threads() -> int:
    """Threads NumPy's BLAS uses: threadpoolctl's answer where it is installed, else the
    thread environment variables OpenBLAS and MKL read, else the CPUs this process may use."""
    try:
        import threadpoolctl
    except ImportError:
        for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(variable, "").isdigit():
                return int(os.environ[variable])
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool.get("user_api") == "blas"]
    return blas[0]["num_threads"] if blas else 1


def match_torch_threads() -> int | None:
    """Give PyTorch's CPU ops as many threads as NumPy's BLAS has (same threads for all
    engines); returns that count, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(blas_threads())
    return torch.get_num_threads()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Machine, CPU, Python, library versions, BLAS, thread counts and date, for the JSON."""
    threads: dict[str, Any] = {"blas": blas_threads()}
    try:
        import threadpoolctl

        threads["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        threads["numpy_blas"] = {key: blas.get(key) for key in ("name", "version", "openblas configuration")}
    # OPENBLAS_CORETYPE picks OpenBLAS's kernels: on a CPU with AVX-512, "Haswell" (AVX2) halves its GEMM rate.
    threads["env"] = {key: os.environ[key] for key in
                      ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                       "OPENBLAS_L2_SIZE", "MKL_ENABLE_INSTRUCTIONS", "XLA_FLAGS",
                       # the C allocator's settings decide how often fresh pages fault (see page_faults)
                       "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX",
                       "LD_PRELOAD") if key in os.environ}
    gpus = []
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads["torch"] = torch.get_num_threads()
        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpus": gpus,
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in
                     ("anygrad", "numpy", "torch", "jax", "jaxlib", "cupy", "array-api-compat", "array-api-strict")
                     if _version(name) is not None},
        "threads": threads,
        "load_average_1_5_15min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall clock, busy CPU seconds of the whole machine, CPU seconds of this process), or
    None where /proc/stat is missing (not Linux)."""
    try:
        with open("/proc/stat") as file:
            ticks = [int(value) for value in file.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(ticks[:3]) + sum(ticks[5:8])  # user, nice, system; irq, softirq, steal
    own = os.times()
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def other_processes_cpus(start: tuple[float, float, float] | None, end: tuple[float, float, float] | None
                         ) -> float | None:
    """How many CPUs other processes kept busy on average between two :func:`cpu_snapshot`s."""
    if start is None or end is None:
        return None
    return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]))


# --- engine throughput ------------------------------------------------------------------------
def _timed(run: Callable[[int], None], steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return time.perf_counter() - start


def page_faults() -> int | None:
    """Minor page faults of this process so far (None where getrusage is missing).

    Each is a page of fresh memory the kernel maps (and zeroes) on first touch: when the C
    allocator hands freed memory back to the OS, the next step's arrays fault again, ~1 us
    a 4 KiB page (the harness asks it not to: anygrad.keep_freed_memory)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def calibrate(engine: Engine, seconds: float) -> int:
    """Warm the engine up and return how many steps take about ``seconds``."""
    engine.run(2)  # first calls: caches, lazy imports, allocator growth
    steps = 1
    while True:
        elapsed = _timed(engine.run, steps)
        if elapsed >= seconds / 4 or steps >= 1 << 20:
            return max(1, round(steps * seconds / max(elapsed, 1e-9)))
        steps *= 2 if elapsed > seconds / 64 else 8


def measure_batch_size(engines: list[Engine], weights: list[np.ndarray], batch_size: int, *,
                       repeats: int, seconds: float) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Samples/s and page faults per step (:func:`page_faults`; empty lists where they cannot
    be counted) of every engine at one batch size, ``repeats`` times each.

    Each engine is first checked against the reference step, then reloaded with the
    same initial weights and warmed up. Repeats go round robin over the engines
    (starting one engine later each round), so drift of the machine hits all alike."""
    batches = engines[0].workload.batches(batch_size)
    steps = {}
    for engine in engines:
        check_against_reference(engine, weights, batches[0])
        engine.load(weights, batches)
        steps[engine.name] = calibrate(engine, seconds)
    rates: dict[str, list[float]] = {engine.name: [] for engine in engines}
    faults: dict[str, list[float]] = {engine.name: [] for engine in engines}
    for repeat in range(repeats):
        for k in range(len(engines)):
            engine = engines[(repeat + k) % len(engines)]
            count = steps[engine.name]
            gc.collect()
            faults_before = page_faults()
            elapsed = _timed(engine.run, count)
            faults_after = page_faults()
            rates[engine.name].append(count * batch_size / elapsed)
            if faults_before is not None and faults_after is not None:
                faults[engine.name].append((faults_after - faults_before) / count)
    for engine in engines:
        loss = engine.loss()
        if not np.isfinite(loss):
            raise FloatingPointError(f"{engine.name} at batch size {batch_size}: the loss became {loss} while timed")
    return rates, faults


def summary(values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# --- the limit: GEMM rate of each backend ----------------------------------------------------
def gemm_flops(backend: anygrad.Backend, n: int = 2048, seconds: float = 0.5, repeats: int = 5) -> float:
    """Best float32 GEMM rate (flop/s) of ``backend`` on n x n x n products.

    Each product consumes the previous one (c = c @ b, b scaled to keep c's size), so
    reading the last result waits for all of them even where work is queued."""
    rng = np.random.default_rng(0)
    a = backend.from_host(rng.standard_normal((n, n), dtype=np.float32))
    b = backend.from_host((rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32))

    def chain(count: int) -> None:
        c = a
        for _ in range(count):
            c = c @ b
        backend.synchronize()
        backend.to_host(c[:1, :1])

    chain(1)
    count = max(1, min(64, round(seconds / max(_timed(chain, 1), 1e-9) / repeats)))
    best = min(_timed(chain, count) for _ in range(repeats))
    return 2.0 * n**3 * count / best


# --- engine overhead per op ---------------------------------------------------------------------
def _chain_seconds(run: Callable[[], None], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def anygrad_op_overhead(backend: anygrad.Backend, n: int = 1000, repeats: int = 5) -> float:
    """Seconds anygrad adds per op on ``backend``: a chain of ``n`` adds on a 1-element
    tensor that requires grad, forward and backward, minus the same raw array ops
    (n adds forward, n gradient accumulations backward), divided by n."""
    x = anygrad.tensor(np.ones(1, dtype=np.float32), backend=backend, requires_grad=True)
    raw = x.data

    def engine() -> None:
        y = x
        for _ in range(n):
            y = y + x
        y.backward()
        backend.to_host(x.grad)
        x.grad = None

    def arrays() -> None:
        y = raw
        for _ in range(n):
            y = y + raw
        grad = backend.xp.zeros_like(raw)
        seed = backend.xp.ones_like(raw)
        for _ in range(n):
            grad = grad + seed
        backend.to_host(grad)

    return (_chain_seconds(engine, repeats) - _chain_seconds(arrays, repeats)) / n


def torch_op_overhead(device: str = "cpu", n: int = 1000, repeats: int = 5) -> float:
    """The same figure for PyTorch eager autograd, as a yardstick."""
    import torch

    x = torch.ones(1, device=device, requires_grad=True)
    raw = torch.ones(1, device=device)

    def sync() -> None:
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    def engine() -> None:
        y = x
        for _ in range(n):
            y = y + x
        y.backward()
        sync()
        x.grad = None

    def tensors() -> None:
        y = raw
        for _ in range(n):
            y = y + raw
        grad = torch.zeros_like(raw)
        seed = torch.ones_like(raw)
        for _ in range(n):
            grad = grad + seed
        sync()

    return (_chain_seconds(engine, repeats) - _chain_seconds(tensors, repeats)) / n


def limit_samples_per_s(workload: Workload, flops: float) -> float:
    """The most samples/s a step can reach on hardware doing ``flops`` GEMM flop/s."""
    return flops / workload.flops_per_sample
