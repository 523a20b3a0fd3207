"""Launching real MPI jobs from tests: where mpiexec is, why a test must skip, and a run
that kills a hung job whole instead of hanging the test session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest


def mpiexec() -> str | None:
    beside_python = Path(sys.executable).with_name("mpiexec")
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def why_no_mpi() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'anygrad[dist]')"
    if mpiexec() is None:
        return "no mpiexec next to the Python interpreter or on PATH (pip install 'anygrad[dist]' brings MPICH's)"
    return None


needs_mpi = pytest.mark.skipif(why_no_mpi() is not None, reason=why_no_mpi() or "")


@cache
def _flags() -> tuple[str, ...]:
    """Open MPI refuses more ranks than cores (and root) unless told; MPICH's Hydra needs nothing."""
    version = subprocess.run([mpiexec(), "--version"], capture_output=True, text=True, timeout=30).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        return ("--oversubscribe", "--allow-run-as-root")
    return ()


def run_job(arguments: list[str], cwd: Path | None = None, timeout: float = 120.0) -> tuple[int, str, float]:
    """Run ``mpiexec <arguments>`` with one BLAS thread per rank; returns (exit code, output,
    seconds). A job still running after ``timeout`` is killed with all its ranks and fails the test."""
    command = [mpiexec(), *_flags(), *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.monotonic()
    job = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=environment, start_new_session=True)  # its own process group: killed whole
    try:
        output, _ = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        output, _ = job.communicate()
        pytest.fail(f"{' '.join(command)} still ran after {timeout} s (a hang); output:\n{output}")
    return job.returncode, output, time.monotonic() - start
