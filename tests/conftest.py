"""The backend matrix: every test that takes the ``backend`` fixture runs once per backend.

Select a subset with ``--backend numpy,torch`` or ``ANYGRAD_TEST_BACKENDS=numpy,torch``.
Names: numpy, strict (array_api_strict on its default device), strict-device1 (a fake
second device: catches arrays created on the wrong device, the GPU bug CPU CI can see),
torch (CPU), jax, cupy and torch-cuda (GPU, marker ``gpu``; by default only where a GPU is present).
"""

from __future__ import annotations

import os

import pytest

import anygrad

# test name -> (backend, device, needs a GPU)
MATRIX = {
    "numpy": ("numpy", None, False),
    "strict": ("array_api_strict", None, False),
    "strict-device1": ("array_api_strict", "device1", False),
    "torch": ("torch", "cpu", False),
    "jax": ("jax", None, False),
    "cupy": ("cupy", None, True),
    "torch-cuda": ("torch", "cuda", True),
}


def _runnable(test_name: str) -> str | None:
    """None when the backend can run here, else why not."""
    backend, device, _ = MATRIX[test_name]
    if backend not in anygrad.available_backends():
        return f"{backend} is not installed or has no GPU here"
    if test_name == "torch-cuda":
        import torch

        if not torch.cuda.is_available():
            return "torch has no CUDA device here"
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default=os.environ.get("ANYGRAD_TEST_BACKENDS", ""),
        help=f"comma-separated backends to test (default: all that run here): {', '.join(MATRIX)}",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    chosen = [name.strip() for name in config.getoption("--backend").split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(MATRIX))
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {unknown}; choose from {list(MATRIX)}")
    # By default the GPU entries join only where they can run; asked for by name, they skip with a reason.
    return chosen or [name for name in MATRIX if not MATRIX[name][2] or _runnable(name) is None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    params = []
    for name in selected_backends(metafunc.config):
        marks = [pytest.mark.gpu] if MATRIX[name][2] else []
        reason = _runnable(name)
        if reason is not None:
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest):
    """The Backend under test; it is also the default backend while the test runs."""
    name, device, _ = MATRIX[request.param]
    with anygrad.backend(name, device) as chosen:
        yield chosen


@pytest.fixture(autouse=True)
def _seeded() -> None:
    anygrad.manual_seed(0)


@pytest.fixture
def torch():
    """PyTorch, the gradient oracle (skips the test where it is not installed)."""
    return pytest.importorskip("torch")


def pytest_report_header(config: pytest.Config) -> str:
    runnable = [name for name in selected_backends(config) if _runnable(name) is None]
    return f"anygrad backends under test: {', '.join(runnable)}; installed: {anygrad.available_backends()}"


@pytest.fixture(params=[pytest.param(name, id=name, marks=pytest.mark.gpu) for name in MATRIX if MATRIX[name][2]])
def gpu_backend(request: pytest.FixtureRequest):
    """A GPU backend (cupy, torch-cuda), made the default; skips where none can run."""
    reason = _runnable(request.param)
    if reason is not None:
        pytest.skip(reason)
    name, device, _ = MATRIX[request.param]
    with anygrad.backend(name, device) as chosen:
        yield chosen
