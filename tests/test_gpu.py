"""What only a GPU can show: a training step that never waits for the device, memory that
stays flat over many steps, and results equal to the CPU's. Runs with ``-m gpu`` on a GPU;
skipped elsewhere (CPU CI checks device placement through array-api-strict's device1)."""

from __future__ import annotations

import contextlib

import numpy as np

import anygrad
import anygrad.nn.functional as F
from anygrad import nn, optim


def _training(backend, batch_size: int = 64, steps: int = 8, seed: int = 0):
    """A model, optimizer and on-device batches, all from one seed; returns (model, step, batches)."""
    anygrad.manual_seed(seed)
    model = nn.MLP(784, [128, 128], 10, backend=backend)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(seed)
    batches = [
        (anygrad.tensor(rng.random((batch_size, 784), dtype=np.float32), backend=backend),
         anygrad.tensor(rng.integers(0, 10, batch_size), backend=backend))
        for _ in range(steps)
    ]

    def step(images, labels):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    return model, step, batches


@contextlib.contextmanager
def _host_syncs_forbidden(backend):
    if backend.name == "cupy":
        import cupyx

        with cupyx.allow_synchronize(False):
            yield
    else:
        import torch

        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode(0)


def test_a_training_step_never_waits_for_the_gpu(gpu_backend):
    model, step, batches = _training(gpu_backend)
    step(*batches[0])  # warm-up: first calls may allocate and compile
    gpu_backend.synchronize()
    with _host_syncs_forbidden(gpu_backend):
        for images, labels in batches[1:]:
            loss = step(images, labels)
    gpu_backend.synchronize()
    assert np.isfinite(loss.item())


def _used_bytes(backend) -> int:
    if backend.name == "cupy":
        import cupy

        return cupy.get_default_memory_pool().used_bytes()
    import torch

    return torch.cuda.memory_allocated(backend.device)


def test_ten_thousand_steps_hold_gpu_memory_flat(gpu_backend, capsys):
    model, step, batches = _training(gpu_backend, batch_size=32, steps=4)
    for i in range(100):
        step(*batches[i % len(batches)])
    gpu_backend.synchronize()
    settled = _used_bytes(gpu_backend)
    peak = settled
    for i in range(10_000):
        step(*batches[i % len(batches)])
        if i % 500 == 0:
            peak = max(peak, _used_bytes(gpu_backend))
    gpu_backend.synchronize()
    after = _used_bytes(gpu_backend)
    with capsys.disabled():
        print(f"\n{gpu_backend.label}: used bytes after 100 steps {settled}, after 10,100 steps {after}, "
              f"peak sampled {peak}")
    assert after <= settled + 1024 * 1024, "GPU memory grew over 10,000 steps"


def test_gpu_training_gives_the_cpu_parameters(gpu_backend):
    cpu = anygrad.get_backend("numpy")
    models = []
    for backend in (cpu, gpu_backend):
        model, step, batches = _training(backend, steps=20)
        for images, labels in batches:
            step(images, labels)
        models.append(model)
    for (name, on_cpu), on_gpu in zip(models[0].state_dict().items(), models[1].state_dict().values(), strict=True):
        np.testing.assert_allclose(on_gpu.numpy(), on_cpu.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_dropout_masks_come_from_the_device_generator_and_follow_the_seed(gpu_backend):
    x = anygrad.ones(256, 256, backend=gpu_backend)
    anygrad.manual_seed(7)
    first = F.dropout(x, 0.5, training=True)
    second = F.dropout(x, 0.5, training=True)
    anygrad.manual_seed(7)
    again = F.dropout(x, 0.5, training=True)
    assert first.backend == gpu_backend.name and first.device == gpu_backend.device
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.array_equal(first.numpy(), second.numpy())
    assert abs(float((first.numpy() == 0).mean()) - 0.5) < 0.02


def test_a_device_named_without_an_index_is_the_device_its_arrays_report(gpu_backend):
    from anygrad.backend import backend_of_array

    made = anygrad.ones(2)  # on the fixture's backend, named "cuda" or by default
    assert backend_of_array(made.data) is made._backend
    (made + anygrad.tensor(made.data)).sum()  # no device-mixing error between the two spellings
