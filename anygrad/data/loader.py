"""Datasets of aligned arrays and a DataLoader that yields batches on the model's device.

A :class:`TensorDataset` holds its arrays either on the host (NumPy) or, after
``dataset.to(backend, device)``, on a backend's device. A :class:`DataLoader` then hands
out tuples of :class:`~anygrad.Tensor` already on the target backend: from a host
dataset each batch is cut on the host and copied over once; from a device-resident
dataset it is cut on the device (a slice; when shuffling, of a copy gathered once per
epoch with ``take`` and an index array moved there once), so GPU epochs do not stream
the data set over the bus.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np

from anygrad.backend import Backend, backend_of_array, get_backend, host_generator
from anygrad.tensor import Tensor

__all__ = ["DataLoader", "TensorDataset"]


def _as_array(value: Any) -> Any:
    """The raw array behind a Tensor or backend array; anything else through ``np.asarray``."""
    if isinstance(value, Tensor):
        return value.data
    if array_api_compat.is_array_api_obj(value):
        return value
    return np.asarray(value)


class TensorDataset:
    """Aligned arrays (say images and labels): sample ``i`` is ``arrays[k][i]`` for each ``k``.

    The arrays may be NumPy arrays (the host), arrays of one backend and device, or
    Tensors (their data is used); dtypes are kept as given. ``dataset.to(backend, device)``
    places every array on a device once, so that a :class:`DataLoader` cuts batches there.
    """

    __slots__ = ("arrays", "backend")

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        raw = tuple(_as_array(array) for array in arrays)
        backends = [backend_of_array(array) for array in raw]
        if any(found is not backends[0] for found in backends):
            raise ValueError(
                f"TensorDataset: all arrays must live on one backend and device, got {[b.label for b in backends]}"
            )
        if any(array.ndim == 0 for array in raw):
            raise ValueError(f"TensorDataset: arrays need a sample axis, got shapes {[tuple(a.shape) for a in raw]}")
        lengths = [array.shape[0] for array in raw]
        if any(length != lengths[0] for length in lengths):
            raise ValueError(f"TensorDataset: arrays hold different numbers of samples, shapes "
                             f"{[tuple(a.shape) for a in raw]}")
        self.arrays: tuple[Any, ...] = raw
        self.backend: Backend = backends[0]  # numpy:cpu for host arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        """Sample(s) ``index`` of every array, as raw arrays of the dataset's backend."""
        return tuple(array[index, ...] for array in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)} {str(a.dtype).rsplit('.', 1)[-1]}" for a in self.arrays)
        return f"TensorDataset({len(self)} samples on {self.backend.label}: {shapes})"

    def to(self, backend: Any = None, device: Any = None) -> TensorDataset:
        """The same samples on ``backend``/``device`` (default: the default backend), copied once."""
        target = get_backend(backend, device)
        if target is self.backend:
            return self
        return TensorDataset(*(target.move(array, self.backend) for array in self.arrays))

    def numpy(self) -> tuple[np.ndarray, ...]:
        """The arrays as NumPy arrays (copied off a device)."""
        return tuple(self.backend.to_host(array) for array in self.arrays)

    def split(self, count: int) -> tuple[TensorDataset, TensorDataset]:
        """The first ``count`` samples and the rest, as two datasets (views where the library has them)."""
        if not 0 <= count <= len(self):
            raise ValueError(f"TensorDataset.split: count {count} is outside [0, {len(self)}]")
        return (TensorDataset(*(a[:count, ...] for a in self.arrays)),
                TensorDataset(*(a[count:, ...] for a in self.arrays)))


class DataLoader:
    """Batches of a :class:`TensorDataset` as tuples of Tensors on the model's backend.

    ``backend``/``device`` name where batches go; by default the dataset's own backend if
    it was placed on one with ``dataset.to(...)``, else the default backend at
    construction. A device-resident dataset must already be on that backend and device
    (nothing is moved silently). With ``shuffle=True`` each epoch draws a new
    permutation from a NumPy generator seeded with ``seed`` (or, when ``seed`` is None,
    with a seed drawn from the generator :func:`anygrad.manual_seed` seeds), so one seed
    gives the same batches on every backend. ``len(loader)`` is the number of batches.

    Host batches for the NumPy backend are views of the dataset's arrays: do not modify
    them in place.
    """

    def __init__(self, dataset: TensorDataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, backend: Any = None, device: Any = None) -> None:
        if not isinstance(dataset, TensorDataset):
            raise TypeError(f"DataLoader needs a TensorDataset (e.g. TensorDataset(images, labels)), "
                            f"got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        source = dataset.backend
        on_host = source.name == "numpy"
        target = source if backend is None and device is None and not on_host else get_backend(backend, device)
        if not on_host and target is not source:
            raise ValueError(
                f"DataLoader: the dataset lives on {source.label} but batches are asked for on {target.label}; "
                f"place it there once with dataset.to({target.name!r}, device=...) or keep it on the host"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.backend: Backend = target
        # Only a shuffling loader draws from the global host generator, so that creating a
        # plain loader does not change the weights a model initialised afterwards gets.
        self._generator = None
        if self.shuffle:
            self._generator = np.random.default_rng(int(host_generator().integers(2**63)) if seed is None else seed)

    def __len__(self) -> int:
        count, rest = divmod(len(self.dataset), self.batch_size)
        return count + (1 if rest and not self.drop_last else 0)

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, backend={self.backend.label})")

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """One epoch of batches; a shuffling loader draws a new order each time."""
        size, target, wrap = self.batch_size, self.backend, Tensor._wrap
        n = len(self.dataset)
        # (start, stop) of each batch; stops stay in bounds (array-api-strict refuses others)
        bounds = [(i, min(i + size, n)) for i in range(0, len(self) * size, size)]
        arrays = self.dataset.arrays
        copy_to_target = self.dataset.backend is not target  # host dataset, batches for a device
        order = self._generator.permutation(n) if self.shuffle else None
        if order is not None and not copy_to_target and target.name != "numpy":
            # Device-resident: gather the whole epoch once (the index crosses over once), so
            # each batch is a slice: one cheap op per array instead of a gather kernel per batch.
            order = target.from_host(order)
            arrays = [target.xp.take(a, order, axis=0) for a in arrays]
            order = None
        if order is None and copy_to_target:
            for i, j in bounds:
                yield tuple([wrap(target.from_host(a[i:j]), target, None) for a in arrays])
        elif order is None:
            for i, j in bounds:
                yield tuple([wrap(a[i:j, ...], target, None) for a in arrays])
        elif copy_to_target:
            for i, j in bounds:
                index = order[i:j]
                yield tuple([wrap(target.from_host(a[index]), target, None) for a in arrays])
        else:  # host dataset, NumPy batches: gather each batch (no second copy of the data set)
            for i, j in bounds:
                index = order[i:j]
                yield tuple([wrap(a[index], target, None) for a in arrays])
