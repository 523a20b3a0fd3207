"""What the MPI worker scripts and tests/test_distributed.py share: the data, the model, the
training step, and the one-process reference that data-parallel training must reproduce."""

from __future__ import annotations

import numpy as np

import anygrad
from anygrad import distributed as dist
from anygrad.data import DataLoader, TensorDataset
from anygrad.nn import functional as F

FEATURES, CLASSES, HIDDEN = 5, 3, 8
INIT_SEED = 100  # rank r initialises its model with INIT_SEED + r; rank 0's weights win the broadcast
LOADER_SEED = 7
LEARNING_RATE, MOMENTUM = 0.1, 0.9


def make_dataset(samples: int) -> TensorDataset:
    """The same small classification data set on every rank (float64 on the host)."""
    rng = np.random.default_rng(2024)
    features = rng.standard_normal((samples, FEATURES))
    labels = rng.integers(0, CLASSES, size=samples).astype(np.int64)
    return TensorDataset(features, labels)


def make_model(seed: int, backend: str, device: str | None, dtype: str) -> anygrad.nn.Module:
    anygrad.manual_seed(seed)
    return anygrad.nn.MLP(FEATURES, [HIDDEN], CLASSES, activation="tanh", backend=backend, device=device,
                          dtype=dtype)


def make_loader(dataset: TensorDataset, batch_size: int, shuffle: bool, backend: str, device: str | None
                ) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=LOADER_SEED if shuffle else None,
                      backend=backend, device=device)


def make_optimizer(model: anygrad.nn.Module) -> anygrad.optim.SGD:
    return anygrad.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)


def loss_of(model: anygrad.nn.Module, features: anygrad.Tensor, labels: anygrad.Tensor, dtype: str) -> anygrad.Tensor:
    return F.cross_entropy(model(features.astype(dtype)), labels)


def parameters_as_numpy(model: anygrad.nn.Module) -> dict[str, np.ndarray]:
    return {name: p.numpy().copy() for name, p in model.named_parameters()}


def reference_training(world_size: int, samples: int, batch_size: int, epochs: int, shuffle: bool, drop_last: bool,
                       backend: str, device: str | None, dtype: str) -> dict[str, np.ndarray]:
    """One process training rank 0's initial model on the combined batches: at each step,
    the concatenation of the batches the ``world_size`` ranks' loaders give."""
    model = make_model(INIT_SEED, backend, device, dtype)
    optimizer = make_optimizer(model)
    dataset = make_dataset(samples)
    loaders = [make_loader(dist.shard_dataset(dataset, rank, world_size, drop_last=drop_last), batch_size, shuffle,
                           backend, device) for rank in range(world_size)]
    for _ in range(epochs):
        for batches in zip(*loaders, strict=True):
            features = anygrad.concat(*[features for features, _ in batches])
            labels = anygrad.concat(*[labels for _, labels in batches])
            optimizer.zero_grad()
            loss_of(model, features, labels, dtype).backward()
            optimizer.step()
    return parameters_as_numpy(model)
