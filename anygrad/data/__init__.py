"""Data: readers for MNIST-style files, ready-made datasets, and a device-aware DataLoader.

>>> train, test = anygrad.data.load_fashion_mnist()          # doctest: +SKIP
>>> loader = anygrad.data.DataLoader(train, batch_size=64, shuffle=True, seed=0)  # doctest: +SKIP
>>> for images, labels in loader: ...                         # doctest: +SKIP
"""

from anygrad.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    load_fashion_mnist,
    load_mnist,
    normalize_images,
    pixel_mean_std,
    synthetic_classification,
)
from anygrad.data.loader import DataLoader, TensorDataset
from anygrad.data.readers import read_idx, read_mnist_pickle, read_npy, read_npz

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "DataLoader",
    "TensorDataset",
    "load_fashion_mnist",
    "load_mnist",
    "normalize_images",
    "pixel_mean_std",
    "read_idx",
    "read_mnist_pickle",
    "read_npy",
    "read_npz",
    "synthetic_classification",
]
