"""MNIST, Fashion-MNIST and a synthetic stand-in, as (train, test) TensorDatasets.

Every loader returns images as float32 ``(N, 784)`` in [0, 1] (optionally standardized
with the training set's mean and std) and labels as int64 ``(N,)``, on the host; move a
dataset to a device once with ``dataset.to(backend, device)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from anygrad.backend import host_generator
from anygrad.data.loader import TensorDataset
from anygrad.data.readers import read_idx, read_mnist_pickle, read_npz

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "load_fashion_mnist",
    "load_mnist",
    "normalize_images",
    "synthetic_classification",
]

# Where Debian's dataset-fashion-mnist package installs the four IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Single-file MNIST layouts load_mnist looks for when a directory has no IDX files.
_MNIST_FILES = ("mnist.pkl.gz", "mnist.pkl", "mnist.npz")


def normalize_images(images: np.ndarray, mean: float | None = None, std: float | None = None) -> np.ndarray:
    """Images as float32 ``(N, features)``: uint8 pixels divided by 255, float pixels
    (already in [0, 1]) kept; then ``(x - mean) / std`` when ``mean`` and ``std`` are given."""
    images = np.asarray(images)
    if images.ndim < 1:
        raise ValueError("normalize_images: expected a batch of images, got a 0-d array")
    if images.dtype == np.uint8:
        flat = images.reshape(len(images), -1).astype(np.float32)
        flat /= np.float32(255)
    elif images.dtype.kind == "f":
        flat = images.reshape(len(images), -1).astype(np.float32)
    else:
        raise TypeError(f"normalize_images: expected uint8 or floating-point images, got dtype {images.dtype}")
    if (mean is None) != (std is None):
        raise ValueError("normalize_images: give both mean and std, or neither")
    if mean is not None:
        if not std > 0:
            raise ValueError(f"normalize_images: std must be positive, got {std}")
        flat -= np.float32(mean)
        flat /= np.float32(std)
    return flat


def pixel_mean_std(images: np.ndarray, rows_per_chunk: int = 4096) -> tuple[float, float]:
    """The mean and the (population) standard deviation of every value in ``images``, added
    up in float64 a chunk of rows at a time: the same figures as ``images.mean(dtype=float64)``
    and ``images.std(dtype=float64)``, which make a float64 copy of the whole array (for
    Fashion-MNIST's training images 0.76 s and 376 MB, against 0.06 s and 25 MB)."""
    values = np.asarray(images)
    if values.size == 0:
        raise ValueError("pixel_mean_std: got no values")
    rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
    chunks = [rows[start:start + rows_per_chunk] for start in range(0, len(rows), rows_per_chunk)]
    mean = sum(float(np.add.reduce(chunk, axis=None, dtype=np.float64)) for chunk in chunks) / rows.size
    squares = 0.0
    for chunk in chunks:
        deviations = np.ravel(chunk.astype(np.float64))
        deviations -= mean
        squares += float(deviations @ deviations)
    return mean, math.sqrt(squares / rows.size)


def _datasets(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
              standardize: bool) -> tuple[TensorDataset, TensorDataset]:
    train_x, test_x = normalize_images(train_images), normalize_images(test_images)
    if standardize:
        mean, std = pixel_mean_std(train_x)
        train_x, test_x = normalize_images(train_x, mean, std), normalize_images(test_x, mean, std)
    return (TensorDataset(train_x, train_labels.astype(np.int64)),
            TensorDataset(test_x, test_labels.astype(np.int64)))


def _find_idx(directory: Path, stem: str) -> Path | None:
    """The IDX file for ``stem`` in ``directory``: gzipped or not, '-' or '.' before 'idx'."""
    dotted = stem.replace("-idx", ".idx")
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (directory / name).is_file():
            return directory / name
    return None


def _idx_datasets(directory: Path, what: str, how_to_get: str,
                  standardize: bool) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) datasets from a directory of the four IDX files."""
    arrays = _read_idx_directory(directory, what, how_to_get)
    return _datasets(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
                     standardize)


def _read_idx_directory(directory: Path, what: str, how_to_get: str) -> dict[str, np.ndarray]:
    if not directory.is_dir():
        raise FileNotFoundError(f"{what} not found: {directory} is not a directory. {how_to_get}")
    found = {key: _find_idx(directory, stem) for key, stem in _IDX_FILES.items()}
    missing = [f"{_IDX_FILES[key]}.gz" for key, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(f"{what} not found: {directory} lacks {', '.join(missing)}. {how_to_get}")
    arrays = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{what}: {found[f'{split}_images']} and {found[f'{split}_labels']} do not hold aligned "
                             f"images (N, rows, cols) and labels (N,): shapes {images.shape} and {labels.shape}")
    return arrays


def load_fashion_mnist(root: str | os.PathLike[str] | None = None, *,
                       standardize: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """Fashion-MNIST as ``(train, test)`` datasets of (images float32 (N, 784) in [0, 1],
    labels int64 (N,)): 60000 and 10000 samples of the classes :data:`FASHION_MNIST_CLASSES`.

    ``root`` is a directory holding the four IDX files (``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
    ``t10k-labels-idx1-ubyte.gz``, gzipped or not); by default Debian's
    ``dataset-fashion-mnist`` package directory :data:`FASHION_MNIST_DIR`.
    ``standardize=True`` shifts and scales both sets by the training pixels' mean and std.
    """
    directory = Path(FASHION_MNIST_DIR if root is None else root).expanduser()
    how_to_get = ("Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download "
                  "the four files from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) "
                  "into a directory and pass it: load_fashion_mnist(root=that_directory).")
    return _idx_datasets(directory, "Fashion-MNIST", how_to_get, standardize)


def load_mnist(root: str | os.PathLike[str], *, standardize: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """MNIST as ``(train, test)`` datasets of (images float32 (N, 784) in [0, 1], labels int64 (N,)).

    ``root`` is a directory holding the four IDX files (as for :func:`load_fashion_mnist`)
    or ``mnist.pkl.gz`` or ``mnist.npz``, or the path of one of those two files. From
    the classic ``mnist.pkl.gz`` the train and valid splits are joined into the 60000
    training samples (use :func:`~anygrad.data.read_mnist_pickle` to keep them apart);
    ``mnist.npz`` is the Keras layout (``x_train``, ``y_train``, ``x_test``, ``y_test``).
    """
    path = Path(root).expanduser()
    if path.is_dir() and _find_idx(path, _IDX_FILES["train_images"]) is None:
        path = next((path / name for name in _MNIST_FILES if (path / name).is_file()), path)
    if path.is_file() and path.name.endswith(".npz"):
        arrays = read_npz(path)
        keys = ("x_train", "y_train", "x_test", "y_test")
        if any(key not in arrays for key in keys):
            raise ValueError(f"{path}: expected the arrays {', '.join(keys)}, found {', '.join(sorted(arrays))}")
        return _datasets(*(arrays[key] for key in keys), standardize)
    if path.is_file():
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = read_mnist_pickle(path)
        return _datasets(np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y]), test_x, test_y,
                         standardize)
    how_to_get = ("Download the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                  "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), the classic mnist.pkl.gz, or Keras's "
                  "mnist.npz into a directory and pass it: load_mnist(root=that_directory).")
    return _idx_datasets(path, "MNIST", how_to_get, standardize)


def synthetic_classification(n: int, features: int = 784, classes: int = 10, seed: int | None = 0, *,
                             noise: float = 0.5) -> TensorDataset:
    """An MNIST-shaped, learnable data set for tests and benchmarks, with no download.

    Each class has a random prototype in [0, 1]^features; a sample is its class's
    prototype plus Gaussian noise of std ``noise``, clipped to [0, 1]. Returns a dataset
    of (images float32 (n, features), labels int64 (n,)). The prototypes depend only on
    ``seed``, ``features`` and ``classes``, so a train and a test set come from one call:
    ``train, test = synthetic_classification(70000).split(60000)``. ``seed=None`` draws
    the seed from the generator :func:`anygrad.manual_seed` seeds.
    """
    if n < 0 or features < 1 or classes < 1:
        raise ValueError(f"synthetic_classification: need n >= 0, features >= 1, classes >= 1; "
                         f"got n={n}, features={features}, classes={classes}")
    if seed is None:
        seed = int(host_generator().integers(2**63))
    prototypes = np.random.default_rng([seed, 0]).random((classes, features))
    samples = np.random.default_rng([seed, 1])
    labels = samples.integers(classes, size=n)
    images = prototypes[labels] + noise * samples.standard_normal((n, features))
    return TensorDataset(np.clip(images, 0.0, 1.0).astype(np.float32), labels.astype(np.int64))

