"""``python -m bench --dist``: the bench's training step, data-parallel over MPI.

:func:`launch` (called by bench/__main__.py) starts 1, 2, 4 ... ranks, each as::

    mpiexec -n K python -m mpi4py -m bench.dist_worker --batch-size B --seconds S --json PATH

Every rank trains the bench MLP (same initial weights as ``python -m bench``, NumPy
backend) on its own rank-strided share of the workload's sample pool, ``B`` samples per
rank and step: forward, cross-entropy, backward, ``all_reduce_gradients()``, SGD. Rank 0
writes samples/s (all ranks together) and the mean allreduce time per step as JSON;
:func:`launch` collects them and :func:`table` prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import anygrad
from anygrad import distributed as dist
from anygrad import nn, optim
from bench.workload import Workload, cut_batches

WARMUP_STEPS = 3
#: Printed with every table: ranks sharing too few cores compete for them.
OVERHEAD_NOTE = ("{ranks} ranks on {cpus} usable CPU cores: with fewer cores than ranks the ranks share cores, so "
                 "this measures the overhead of data parallelism (allreduce, synchronization), not its speedup.")


def rank_batches(workload: Workload, batch_size: int, rank: int, world_size: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """This rank's batches: rows ``rank, rank + world_size, ...`` of the pool, cut into
    ``batch_size`` (tiled when the share is smaller than two batches), at most 64 batches."""
    images, labels = workload.pool()
    index = dist.shard_indices(len(images), rank, world_size)
    return cut_batches(images[index], labels[index], batch_size)


def parser() -> argparse.ArgumentParser:
    """The worker's command line (the launcher fills it in)."""
    p = argparse.ArgumentParser(prog="python -m mpi4py -m bench.dist_worker",
                                description="One MPI rank of python -m bench --dist.")
    p.add_argument("--batch-size", type=int, required=True, help="samples per rank and step")
    p.add_argument("--seconds", type=float, required=True, help="about how long to time")
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="hidden layer widths")
    p.add_argument("--json", metavar="FILE", required=True, help="where rank 0 writes the result")
    return p


def main(argv: list[str] | None = None) -> int:
    """Time the data-parallel training step on this rank; rank 0 writes the JSON."""
    args = parser().parse_args(argv)
    if args.batch_size < 1 or args.seconds <= 0:
        raise ValueError(f"bench.dist_worker: need --batch-size >= 1 and --seconds > 0, got "
                         f"{args.batch_size} and {args.seconds}")
    dist.init()
    rank, world_size = dist.get_rank(), dist.get_world_size()
    workload = Workload(hidden=tuple(args.hidden))
    backend = anygrad.get_backend("numpy")

    model = nn.MLP(workload.n_in, list(workload.hidden), workload.n_classes, backend=backend)
    for p, w in zip(model.parameters(), workload.initial_weights(), strict=True):
        p.data = backend.from_host(w)
    ddp = dist.DistributedDataParallel(model)
    optimizer = optim.SGD(ddp.parameters(), lr=workload.lr)
    batches = [(anygrad.tensor(x, backend=backend), anygrad.tensor(y, backend=backend))
               for x, y in rank_batches(workload, args.batch_size, rank, world_size)]

    def run(steps: int, first: int) -> anygrad.Tensor:
        loss = None
        for i in range(first, first + steps):
            x, y = batches[i % len(batches)]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(ddp(x), y)
            loss.backward()
            ddp.all_reduce_gradients()
            optimizer.step()
        return loss

    # Warm-up, which also sizes the timed run; every rank must run the same number of
    # steps (a rank with one more would wait forever in its allreduce), so they agree on the mean.
    run(WARMUP_STEPS, 0)  # first calls: allocations, caches
    dist.barrier()
    start = time.perf_counter()
    run(WARMUP_STEPS, WARMUP_STEPS)
    per_step = (time.perf_counter() - start) / WARMUP_STEPS
    estimate = anygrad.tensor([args.seconds / max(per_step, 1e-9)], dtype="float64", backend=backend)
    steps = max(3, int(anygrad.to_numpy(dist.all_reduce(estimate, "mean"))[0]))

    ddp.reset_timer()
    dist.barrier()
    start = time.perf_counter()
    loss = run(steps, 2 * WARMUP_STEPS)
    dist.barrier()
    elapsed = time.perf_counter() - start

    allreduce = anygrad.tensor([ddp.mean_allreduce_seconds], dtype="float64", backend=backend)
    allreduce_seconds = float(anygrad.to_numpy(dist.all_reduce(allreduce, "mean"))[0])
    if dist.is_main_process():
        samples_per_s = world_size * args.batch_size * steps / elapsed
        result = {
            "ranks": world_size,
            "batch_size_per_rank": args.batch_size,
            "steps": steps,
            "seconds": elapsed,
            "samples_per_s": samples_per_s,
            "samples_per_s_per_rank": samples_per_s / world_size,
            "allreduce_ms_per_step": allreduce_seconds * 1e3,
            "collectives_per_step": ddp.collectives / steps,
            "transport": dist.select_transport(backend),
            "last_loss": float(anygrad.to_numpy(loss)),
            "hidden": list(workload.hidden),
        }
        with open(args.json, "w") as file:
            json.dump(result, file, indent=1)
            file.write("\n")
    return 0


# --- the launcher (runs in the ``python -m bench --dist`` process) ------------------------------------
def mpiexec() -> str:
    """The mpiexec next to this Python (the venv's, from ``anygrad[dist]``), else the one on PATH."""
    beside_python = Path(sys.executable).with_name("mpiexec")
    found = str(beside_python) if beside_python.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("python -m bench --dist: no mpiexec next to the Python interpreter or on PATH; "
                           "pip install 'anygrad[dist]' (installs mpi4py and MPICH)")
    return found


def _launcher_flags(command: str) -> list[str]:
    """Open MPI refuses more ranks than cores (and root) unless told; MPICH's Hydra needs nothing."""
    version = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30).stdout
    return ["--oversubscribe", "--allow-run-as-root"] if "Open MPI" in version or "OpenRTE" in version else []


def launch(ranks: list[int], batch_size: int, seconds: float, hidden: tuple[int, ...],
           log: Any = print, timeout: float = 600.0) -> dict[str, Any]:
    """Run the worker with each number of ``ranks`` (one BLAS thread per rank) and collect
    rank 0's results: ``{"settings", "cpus_usable", "runs": [one dict per rank count]}``."""
    command = mpiexec()
    flags = _launcher_flags(command)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for count in ranks:
            path = Path(folder) / f"ranks{count}.json"
            job = [command, *flags, "-n", str(count), sys.executable, "-m", "mpi4py", "-m", "bench.dist_worker",
                   "--batch-size", str(batch_size), "--seconds", str(seconds), "--json", str(path),
                   "--hidden", *map(str, hidden)]
            log(f"{count} rank(s): {shlex.join(job)}")
            done = subprocess.run(job, capture_output=True, text=True, env=environment, timeout=timeout)
            if done.returncode != 0 or not path.exists():
                raise RuntimeError(f"python -m bench --dist: {count} rank(s) failed (exit {done.returncode}):\n"
                                   f"{done.stdout}{done.stderr}")
            runs.append(json.loads(path.read_text()))
    return {
        "settings": {"ranks": list(ranks), "batch_size_per_rank": batch_size, "seconds": seconds,
                     "hidden": list(hidden), "backend": "numpy", "blas_threads_per_rank": 1},
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "runs": runs,
    }


def table(result: dict[str, Any]) -> str:
    """The runs as a text table, with the note on overhead vs speedup."""
    header = f"{'ranks':>5}  {'samples/s (total)':>17}  {'per rank':>10}  {'allreduce ms/step':>17}  transport"
    lines = [f"data-parallel training step, batch {result['settings']['batch_size_per_rank']} per rank, "
             f"hidden {result['settings']['hidden']}, numpy backend, 1 BLAS thread per rank", header]
    for run in result["runs"]:
        lines.append(f"{run['ranks']:>5}  {run['samples_per_s']:>17,.0f}  {run['samples_per_s_per_rank']:>10,.0f}  "
                     f"{run['allreduce_ms_per_step']:>17.3f}  {run['transport']}")
    most = max(run["ranks"] for run in result["runs"])
    note = OVERHEAD_NOTE.format(ranks=most, cpus=result["cpus_usable"])
    if most <= result["cpus_usable"]:
        note = (f"{most} ranks on {result['cpus_usable']} usable CPU cores: each rank can have a core, but other "
                "processes on the machine still skew the figures.")
    return "\n".join([*lines, "note: " + note])


if __name__ == "__main__":
    sys.exit(main())
