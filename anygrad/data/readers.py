"""Readers for the files MNIST-like data sets come in, returning NumPy arrays.

Every reader checks the file against its own format and raises ``ValueError`` naming the
file and what is wrong (bad magic, short or long payload, truncated gzip, unexpected
pickle content) instead of returning garbage. Pickles are read with an unpickler that
only builds NumPy arrays: a pickle is a program, and a downloaded one must not run code.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

try:  # NumPy 2 moved the pickling helpers to numpy._core; old pickles still name numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

__all__ = ["read_idx", "read_mnist_pickle", "read_npy", "read_npz"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/ "THE IDX FILE FORMAT")
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Read payloads in pieces so a header that claims terabytes fails on the short payload
# instead of allocating the claimed size up front.
_CHUNK_BYTES = 1 << 24


@contextlib.contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """The file as a binary stream, decompressed when it starts with the gzip magic
    (so ``x.gz`` and ``x`` both work, whatever the name says)."""
    with open(path, "rb") as file:
        is_gzip = file.read(2) == _GZIP_MAGIC
        file.seek(0)
        if not is_gzip:
            yield file
            return
        with gzip.GzipFile(fileobj=file, mode="rb") as stream:
            yield stream


# What a damaged or truncated gzip stream raises while it is read.
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def _read_exactly(stream: IO[bytes], size: int, name: str, what: str) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK_BYTES))
        if not chunk:
            raise ValueError(f"{name}: the {what} is truncated: expected {size} bytes, got {size - remaining}")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``train-images-idx3-ubyte``, plain or ``.gz``) into a NumPy array.

    The header's magic number gives the element type and the number of dimensions, then
    one big-endian uint32 size per dimension; the payload must hold exactly that many
    elements. MNIST images come back as uint8 ``(N, 28, 28)``, labels as uint8 ``(N,)``;
    the array is native-endian and writeable.
    """
    name = os.fspath(path)
    with _open(path) as stream:
        try:
            magic = stream.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
                raise ValueError(
                    f"{name}: not an IDX file: bad magic number 0x{magic.hex()} (expected 00 00, a type byte in "
                    f"{{{', '.join(f'{code:02x}' for code in _IDX_DTYPES)}}}, and a dimension count >= 1)"
                )
            dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
            shape = tuple(int(n) for n in np.frombuffer(_read_exactly(stream, 4 * ndim, name, "IDX header"), ">u4"))
            count = int(np.prod(shape, dtype=np.int64))
            payload = _read_exactly(stream, count * dtype.itemsize, name, f"IDX payload of shape {shape}")
            if stream.read(1):
                raise ValueError(f"{name}: the IDX payload is longer than the header's shape {shape} says")
        except _GZIP_ERRORS as error:
            raise ValueError(f"{name}: damaged or truncated gzip stream: {error}") from error
    # astype copies into a native-endian, writeable array (frombuffer's view of bytes is read-only)
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


# --- pickles ------------------------------------------------------------------------------------
class _Refused(pickle.UnpicklingError):
    """A pickle asked for something other than NumPy arrays."""


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Python 3 pickles (protocol <= 2) store bytes as _codecs.encode(text, "latin1"); allow only that.
    if encoding not in ("latin1", "latin-1"):
        raise _Refused(f"refused _codecs.encode with encoding {encoding!r}: only latin1 is allowed")
    return text.encode("latin1")


# (module, name) -> the object a NumPy-array pickle may ask for: nothing else can be built.
_PICKLE_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _module in ("numpy.core", "numpy._core"):
    _PICKLE_ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _PICKLE_ALLOWED[(f"{_module}.multiarray", "scalar")] = _multiarray.scalar
    _PICKLE_ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _numeric._frombuffer


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals NumPy arrays need and refuses the rest."""

    def find_class(self, module: str, name: str) -> Any:
        found = _PICKLE_ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"refused to load the global {module}.{name}: only NumPy arrays may be unpickled")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent id: only NumPy arrays may be unpickled")


def _load_numpy_pickle(path: str | os.PathLike[str]) -> Any:
    name = os.fspath(path)
    with _open(path) as stream:
        try:
            # latin1 lets NumPy read the raw bytes of Python 2 pickles (the classic mnist.pkl.gz).
            return _NumpyOnlyUnpickler(stream, encoding="latin1").load()
        except _Refused as error:
            raise ValueError(f"{name}: {error}") from error
        except Exception as error:  # a damaged pickle fails in many ways; none may escape unexplained
            raise ValueError(f"{name}: not a readable pickle (truncated or damaged?): "
                             f"{type(error).__name__}: {error}") from error


def _check_split(name: str, which: str, split: Any) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(a, np.ndarray) for a in split)):
        raise ValueError(f"{name}: the {which} split is not an (images, labels) pair of NumPy arrays")
    images, labels = split
    if images.ndim != 2 or images.dtype.kind != "f":
        raise ValueError(f"{name}: {which} images must be a 2-D float array, got shape {images.shape} "
                         f"dtype {images.dtype}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{name}: {which} labels must be a 1-D integer array, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"{name}: {which} has {len(images)} images but {len(labels)} labels")
    return images.astype(np.float32, copy=False), labels.astype(np.int64, copy=False)


def read_mnist_pickle(path: str | os.PathLike[str]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Read the classic ``mnist.pkl.gz``: ``(train, valid, test)``, each ``(images, labels)``
    with images float32 ``(N, 784)`` in [0, 1] and labels int64 ``(N,)``.

    The pickle is read with a restricted unpickler that builds NumPy arrays and nothing
    else; any other global (``os.system``, ``builtins.eval``, ...) is refused with a
    ``ValueError`` before it can run. Plain (not gzipped) pickles are read too.
    """
    name = os.fspath(path)
    content = _load_numpy_pickle(path)
    if not (isinstance(content, (tuple, list)) and len(content) == 3):
        raise ValueError(f"{name}: expected a (train, valid, test) tuple, got {_describe(content)}")
    splits = zip(("train", "valid", "test"), content, strict=True)
    return tuple(_check_split(name, which, split) for which, split in splits)


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


# --- .npy / .npz ----------------------------------------------------------------------------------
_NUMPY_LOAD_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError)


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ``.npy`` file (never unpickling: object arrays are refused)."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as file:  # our own handle: np.load leaks its own when a zip is damaged
            array = np.load(file, allow_pickle=False)
    except _NUMPY_LOAD_ERRORS as error:
        raise ValueError(f"{name}: not a readable .npy file: {error}") from error
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name}: this is an .npz archive, not an .npy file; read it with read_npz")
    return array


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive into a dict (never unpickling)."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as file:  # our own handle: np.load leaks its own when a zip is damaged
            archive = np.load(file, allow_pickle=False)
            if isinstance(archive, np.ndarray):
                raise ValueError("this is an .npy file, not an .npz archive; read it with read_npy")
            with archive:
                return {key: archive[key] for key in archive.files}
    except _NUMPY_LOAD_ERRORS as error:
        raise ValueError(f"{name}: not a readable .npz archive: {error}") from error
