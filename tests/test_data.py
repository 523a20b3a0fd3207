"""anygrad.data: file readers, datasets and the DataLoader."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest

import anygrad
from anygrad.backend import Backend, backend_of_array, host_generator
from anygrad.data import (
    DataLoader,
    TensorDataset,
    load_fashion_mnist,
    load_mnist,
    normalize_images,
    pixel_mean_std,
    read_idx,
    read_mnist_pickle,
    read_npy,
    read_npz,
    synthetic_classification,
)

# --- helpers: the file formats, written by hand -----------------------------------------------
IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: 00 00, type byte, dimension count, big-endian uint32 sizes, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def pickle_gz(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    return write(path, pickle.dumps(obj, protocol=protocol), gz=True)


class Python2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as the classic mnist.pkl.gz has them."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes_as_python2_str(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes_as_python2_str


def python2_style_pickle(obj) -> bytes:
    stream = io.BytesIO()
    Python2StylePickler(stream, protocol=2).dump(obj)
    # Protocol 2 names globals as plain text; Python 2 era NumPy lived in numpy.core.
    return stream.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def mnist_splits(seed=0, sizes=(5, 3, 4), features=784):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, features), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64))
                 for n in sizes)


def write_idx_set(directory, train=6, test=4, gz=True, names=None, seed=0):
    """A fake (Fashion-)MNIST directory; returns the uint8 images and labels written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        name = (names or {}).get(stem, stem) + (".gz" if gz else "")
        write(directory / name, idx_bytes(array), gz=gz)
    return arrays


# --- IDX ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_reads_images_and_labels_exactly(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 3, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    read_images = read_idx(write(tmp_path / f"images-idx3-ubyte{suffix}", idx_bytes(images), gz))
    read_labels = read_idx(write(tmp_path / f"labels-idx1-ubyte{suffix}", idx_bytes(labels), gz))
    assert read_images.dtype == np.uint8 and read_images.shape == (3, 28, 28)
    np.testing.assert_array_equal(read_images, images)
    assert read_labels.dtype == np.uint8 and read_labels.shape == (3,)
    np.testing.assert_array_equal(read_labels, labels)
    assert read_images.flags.writeable


@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda t: t.__name__)
def test_read_idx_decodes_every_type_code_big_endian_into_native_arrays(tmp_path, dtype):
    values = np.array([[0, 1, -2, 100], [7, -128, 127, 3]]).astype(dtype) if np.dtype(dtype).kind != "u" \
        else np.array([[0, 1, 2, 255], [7, 128, 127, 3]], dtype=dtype)
    if np.dtype(dtype).kind == "f":
        values = values * np.asarray(1.5, dtype=dtype)
    found = read_idx(write(tmp_path / "x-idx2", idx_bytes(values)))
    assert found.dtype == np.dtype(dtype) and found.dtype.isnative
    np.testing.assert_array_equal(found, values)


def test_read_idx_recognises_gzip_by_content_not_by_name(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "labels-idx1-ubyte", idx_bytes(labels), gz=True)), labels)


LABELS = np.arange(10, dtype=np.uint8)
GOOD = idx_bytes(LABELS)


@pytest.mark.parametrize("data, message", [
    (b"", r"not an IDX file: bad magic number 0x \(expected"),
    (b"\x00\x00", r"not an IDX file: bad magic number 0x0000"),
    (b"\x01\x02\x08\x01" + GOOD[4:], r"not an IDX file: bad magic number 0x01020801"),
    (b"\x00\x00\x0a\x01" + GOOD[4:], r"bad magic number 0x00000a01 \(expected 00 00, a type byte in \{08, 09"),
    (b"\x00\x00\x08\x00" + GOOD[4:], r"bad magic number 0x00000800 .* dimension count >= 1"),
    (GOOD[:6], r"the IDX header is truncated: expected 4 bytes, got 2"),
    (GOOD[:-3], r"the IDX payload of shape \(10,\) is truncated: expected 10 bytes, got 7"),
    (GOOD + b"\x00", r"the IDX payload is longer than the header's shape \(10,\) says"),
    (b"\x00\x00\x08\x02" + struct.pack(">2I", 2**31, 2**31) + b"\x01\x02",
     r"shape \(2147483648, 2147483648\) is truncated"),
], ids=["empty", "short-magic", "bad-magic", "unknown-type", "zero-dims", "short-header", "short-payload",
        "long-payload", "absurd-shape"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_rejects_damaged_files_naming_file_and_problem(tmp_path, data, message, gz):
    path = write(tmp_path / "labels-idx1-ubyte", data, gz)
    with pytest.raises(ValueError, match=f"^{path}: .*{message}"):
        read_idx(path)


def test_read_idx_rejects_a_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(4000, dtype=np.uint8)))
    path = write(tmp_path / "labels-idx1-ubyte.gz", compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=f"^{path}: damaged or truncated gzip stream"):
        read_idx(path)


def test_read_idx_rejects_a_gzip_stream_with_a_wrong_checksum(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8))))
    compressed[-8] ^= 0xFF  # the CRC32 of the uncompressed data
    path = write(tmp_path / "labels-idx1-ubyte.gz", bytes(compressed))
    with pytest.raises(ValueError, match=f"^{path}: damaged or truncated gzip stream: CRC check failed"):
        read_idx(path)


def test_read_idx_rejects_garbled_deflate_data(tmp_path):
    compressed = bytearray(gzip.compress(os.urandom(2000)))
    compressed[12:40] = b"\xff" * 28
    path = write(tmp_path / "labels-idx1-ubyte.gz", bytes(compressed))
    with pytest.raises(ValueError, match=f"^{path}: damaged or truncated gzip stream"):
        read_idx(path)


def test_read_idx_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-idx1-ubyte"):
        read_idx(tmp_path / "nothing-idx1-ubyte")


# --- mnist.pkl.gz ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_read_mnist_pickle_reads_train_valid_test(tmp_path, protocol):
    splits = mnist_splits()
    found = read_mnist_pickle(pickle_gz(tmp_path / "mnist.pkl.gz", splits, protocol))
    assert len(found) == 3
    for (images, labels), (want_images, want_labels) in zip(found, splits, strict=True):
        assert images.dtype == np.float32 and images.shape == want_images.shape
        assert labels.dtype == np.int64 and labels.shape == want_labels.shape
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)


def test_read_mnist_pickle_reads_python2_pickles_like_the_classic_file(tmp_path):
    splits = mnist_splits(sizes=(4, 2, 3))
    path = write(tmp_path / "mnist.pkl.gz", python2_style_pickle(splits), gz=True)
    assert b"numpy.core.multiarray" in gzip.decompress(path.read_bytes())
    for (images, labels), (want_images, want_labels) in zip(read_mnist_pickle(path), splits, strict=True):
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
        assert images.dtype == np.float32 and labels.dtype == np.int64


def test_read_mnist_pickle_reads_an_uncompressed_pickle(tmp_path):
    splits = mnist_splits(sizes=(2, 2, 2))
    path = write(tmp_path / "mnist.pkl", pickle.dumps(splits))
    np.testing.assert_array_equal(read_mnist_pickle(path)[2][0], splits[2][0])


class RunsShell:
    """A pickle that would run a shell command when loaded."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').remove('x')",)


class LoadsNumpyFiles:
    def __reduce__(self):
        return np.load, ("x.npy",)


class EncodesWithAnotherCodec:
    def __reduce__(self):
        return codecs.encode, ("text", "rot13")


def test_a_pickle_that_runs_a_shell_command_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    images, labels = mnist_splits(sizes=(2,))[0]
    evil = ((images, labels), (RunsShell(f"touch {marker}"), labels), (images, labels))
    path = pickle_gz(tmp_path / "mnist.pkl.gz", evil)
    with pytest.raises(ValueError, match=f"^{path}: refused to load the global {os.system.__module__}.system: "
                                         "only NumPy arrays may be unpickled"):
        read_mnist_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload, refused", [
    (Evaluates(), r"to load the global (__builtin__|builtins)\.eval"),  # protocol 2 writes Python 2 names
    (LoadsNumpyFiles(), r"to load the global numpy\.load"),
    (EncodesWithAnotherCodec(), "_codecs.encode with encoding 'rot13': only latin1 is allowed"),
], ids=["eval", "numpy.load", "codecs.encode"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_a_pickle_asking_for_anything_but_numpy_arrays_is_refused(tmp_path, payload, refused, protocol):
    path = pickle_gz(tmp_path / "mnist.pkl.gz", (payload, None, None), protocol)
    with pytest.raises(ValueError, match=f"^{path}: refused {refused}"):
        read_mnist_pickle(path)


@pytest.mark.parametrize("content, message", [
    ({"train": 1}, r"expected a \(train, valid, test\) tuple, got a dict"),
    ((1, 2), r"expected a \(train, valid, test\) tuple, got a tuple of 2 items"),
    ((mnist_splits()[0], mnist_splits()[1], 3), r"the test split is not an \(images, labels\) pair"),
    ((mnist_splits()[0], (np.zeros(3, np.float32), np.zeros(3, np.int64)), mnist_splits()[2]),
     r"valid images must be a 2-D float array, got shape \(3,\) dtype float32"),
    ((mnist_splits()[0], (np.zeros((3, 4), np.float32), np.zeros(3, np.float32)), mnist_splits()[2]),
     r"valid labels must be a 1-D integer array, got shape \(3,\) dtype float32"),
    (((np.zeros((3, 4), np.float32), np.zeros(2, np.int64)),) + mnist_splits()[1:],
     r"train has 3 images but 2 labels"),
], ids=["dict", "pair", "not-a-pair", "1-d-images", "float-labels", "misaligned"])
def test_read_mnist_pickle_rejects_unexpected_content(tmp_path, content, message):
    path = pickle_gz(tmp_path / "mnist.pkl.gz", content)
    with pytest.raises(ValueError, match=f"^{path}: {message}"):
        read_mnist_pickle(path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_mnist_pickle_rejects_truncated_files(tmp_path, gz):
    data = pickle.dumps(mnist_splits())
    path = write(tmp_path / "mnist.pkl.gz", data[: len(data) // 2], gz)
    with pytest.raises(ValueError, match=f"^{path}: not a readable pickle \\(truncated or damaged\\?\\)"):
        read_mnist_pickle(path)


def test_read_mnist_pickle_rejects_a_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(pickle.dumps(mnist_splits()))
    path = write(tmp_path / "mnist.pkl.gz", compressed[: len(compressed) - 100])
    with pytest.raises(ValueError, match=f"^{path}: not a readable pickle .*EOFError"):
        read_mnist_pickle(path)


def test_read_mnist_pickle_rejects_a_file_that_is_no_pickle(tmp_path):
    path = write(tmp_path / "mnist.pkl.gz", b"<html>404 Not Found</html>", gz=True)
    with pytest.raises(ValueError, match=f"^{path}: not a readable pickle"):
        read_mnist_pickle(path)


# --- .npy / .npz ---------------------------------------------------------------------------------------------
def test_read_npy_and_read_npz_return_the_saved_arrays(tmp_path):
    images, labels = mnist_splits(sizes=(3,))[0]
    np.save(tmp_path / "images.npy", images)
    np.savez_compressed(tmp_path / "mnist.npz", x=images, y=labels)
    np.testing.assert_array_equal(read_npy(tmp_path / "images.npy"), images)
    found = read_npz(tmp_path / "mnist.npz")
    assert sorted(found) == ["x", "y"]
    np.testing.assert_array_equal(found["x"], images)
    np.testing.assert_array_equal(found["y"], labels)


def test_read_npy_refuses_object_arrays_instead_of_unpickling(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([RunsShell("true")], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="objects.npy: not a readable .npy file: Object arrays cannot be loaded"):
        read_npy(tmp_path / "objects.npy")


def test_read_npz_refuses_object_arrays_instead_of_unpickling(tmp_path):
    np.savez(tmp_path / "objects.npz", x=np.array([RunsShell("true")], dtype=object))
    with pytest.raises(ValueError, match="objects.npz: not a readable .npz archive: Object arrays cannot be loaded"):
        read_npz(tmp_path / "objects.npz")


def test_read_npy_and_read_npz_reject_truncated_files(tmp_path):
    np.save(tmp_path / "full.npy", np.arange(1000.0))
    np.savez(tmp_path / "full.npz", x=np.arange(1000.0))
    npy = write(tmp_path / "cut.npy", (tmp_path / "full.npy").read_bytes()[:500])
    npz = write(tmp_path / "cut.npz", (tmp_path / "full.npz").read_bytes()[:500])
    with pytest.raises(ValueError, match=f"^{npy}: not a readable .npy file"):
        read_npy(npy)
    with pytest.raises(ValueError, match=f"^{npz}: not a readable .npz archive"):
        read_npz(npz)


def test_read_npy_and_read_npz_say_which_reader_a_file_needs(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    np.savez(tmp_path / "a.npz", x=np.arange(3))
    with pytest.raises(ValueError, match="a.npz: this is an .npz archive, not an .npy file; read it with read_npz"):
        read_npy(tmp_path / "a.npz")
    with pytest.raises(ValueError, match="a.npy: not a readable .npz archive: this is an .npy file.*read_npy"):
        read_npz(tmp_path / "a.npy")


# --- datasets ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_load_fashion_mnist_reads_a_directory_into_normalized_datasets(tmp_path, gz):
    written = write_idx_set(tmp_path / "fashion", gz=gz)
    train, test = load_fashion_mnist(tmp_path / "fashion")
    for dataset, prefix, n in ((train, "train", 6), (test, "t10k", 4)):
        images, labels = dataset.arrays
        assert images.dtype == np.float32 and images.shape == (n, 784)
        assert labels.dtype == np.int64 and labels.shape == (n,)
        expected = written[f"{prefix}-images-idx3-ubyte"].reshape(n, 784).astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(images, expected)
        np.testing.assert_array_equal(labels, written[f"{prefix}-labels-idx1-ubyte"])


def test_load_fashion_mnist_standardizes_both_sets_with_the_training_statistics(tmp_path):
    written = write_idx_set(tmp_path)
    train, test = load_fashion_mnist(str(tmp_path), standardize=True)
    raw_train = written["train-images-idx3-ubyte"].reshape(6, -1) / 255.0
    raw_test = written["t10k-images-idx3-ubyte"].reshape(4, -1) / 255.0
    np.testing.assert_allclose(train.arrays[0], (raw_train - raw_train.mean()) / raw_train.std(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(test.arrays[0], (raw_test - raw_train.mean()) / raw_train.std(), rtol=1e-5, atol=1e-5)


def test_load_fashion_mnist_without_the_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(anygrad.data.datasets, "FASHION_MNIST_DIR", str(tmp_path / "not-installed"))
    with pytest.raises(FileNotFoundError, match=r"Fashion-MNIST not found: .*not-installed is not a directory\. "
                                                r"Install it with `sudo apt-get install dataset-fashion-mnist`.*"
                                                r"https://github\.com/zalandoresearch/fashion-mnist.*"
                                                r"load_fashion_mnist\(root=that_directory\)"):
        load_fashion_mnist()


def test_load_fashion_mnist_names_the_files_a_directory_lacks(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\.gz\. Install it with .*apt-get"):
        load_fashion_mnist(tmp_path)


def test_load_fashion_mnist_rejects_images_and_labels_of_different_counts(tmp_path):
    write_idx_set(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz and .*t10k-labels-idx1-ubyte\.gz do not hold "
                                         r"aligned images .* shapes \(4, 28, 28\) and \(3,\)"):
        load_fashion_mnist(tmp_path)


def test_load_mnist_reads_idx_files_named_with_dots(tmp_path):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    dotted = {stem: stem.replace("-idx", ".idx") for stem in stems}
    written = write_idx_set(tmp_path, gz=False, names=dotted)
    train, test = load_mnist(tmp_path)
    np.testing.assert_array_equal(test.arrays[1], written["t10k-labels-idx1-ubyte"])
    assert len(train) == 6


@pytest.mark.parametrize("as_directory", [False, True], ids=["file", "directory"])
def test_load_mnist_joins_train_and_valid_of_the_classic_pickle(tmp_path, as_directory):
    splits = mnist_splits(sizes=(5, 3, 4))
    path = pickle_gz(tmp_path / "mnist.pkl.gz", splits)
    train, test = load_mnist(tmp_path if as_directory else path)
    np.testing.assert_array_equal(train.arrays[0], np.concatenate([splits[0][0], splits[1][0]]))
    np.testing.assert_array_equal(train.arrays[1], np.concatenate([splits[0][1], splits[1][1]]))
    np.testing.assert_array_equal(test.arrays[0], splits[2][0])
    assert train.arrays[1].dtype == np.int64 and test.arrays[0].dtype == np.float32


def test_load_mnist_reads_the_keras_npz_layout(tmp_path):
    written = write_idx_set(tmp_path / "idx")
    np.savez(tmp_path / "mnist.npz", x_train=written["train-images-idx3-ubyte"],
             y_train=written["train-labels-idx1-ubyte"], x_test=written["t10k-images-idx3-ubyte"],
             y_test=written["t10k-labels-idx1-ubyte"])
    train, test = load_mnist(tmp_path / "mnist.npz")
    reference_train, _ = load_mnist(tmp_path / "idx")
    np.testing.assert_array_equal(train.arrays[0], reference_train.arrays[0])
    np.testing.assert_array_equal(test.arrays[1], written["t10k-labels-idx1-ubyte"])
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz: expected the arrays x_train, y_train, x_test, y_test, "
                                         r"found images"):
        load_mnist(tmp_path / "other.npz")


def test_load_mnist_without_the_data_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST not found: .*missing is not a directory\. Download the four "
                                                r"MNIST IDX files .*mnist\.pkl\.gz.*mnist\.npz"):
        load_mnist(tmp_path / "missing")


def test_normalize_images_scales_uint8_to_unit_floats_and_standardizes():
    pixels = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    np.testing.assert_array_equal(normalize_images(pixels), np.array([[0.0, 1.0, 0.2, 0.4]], np.float32))
    assert normalize_images(pixels).dtype == np.float32
    np.testing.assert_allclose(normalize_images(pixels, mean=0.5, std=0.25), [[-2.0, 2.0, -1.2, -0.4]], rtol=1e-6)
    unit = np.array([[0.25, 0.5]], dtype=np.float64)
    assert normalize_images(unit).dtype == np.float32
    np.testing.assert_array_equal(normalize_images(unit), unit)


@pytest.mark.parametrize("shape", [(5000, 7), (3, 2, 2), (1,)])
def test_pixel_mean_std_matches_numpys_float64_figures_chunk_by_chunk(shape):
    images = np.random.default_rng(0).random(shape, dtype=np.float32)

    mean, std = pixel_mean_std(images, rows_per_chunk=1024)

    assert mean == pytest.approx(float(images.mean(dtype=np.float64)), rel=1e-12)
    assert std == pytest.approx(float(images.std(dtype=np.float64)), rel=1e-12, abs=1e-15)
    assert pixel_mean_std(np.full((4, 3), 7, np.uint8)) == (7.0, 0.0)


def test_pixel_mean_std_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="pixel_mean_std: got no values"):
        pixel_mean_std(np.zeros((0, 784), np.float32))


def test_normalize_images_rejects_bad_input():
    with pytest.raises(TypeError, match="normalize_images: expected uint8 or floating-point images, got dtype int16"):
        normalize_images(np.zeros((2, 3), np.int16))
    with pytest.raises(ValueError, match="normalize_images: give both mean and std, or neither"):
        normalize_images(np.zeros((2, 3), np.uint8), mean=0.1)
    with pytest.raises(ValueError, match="normalize_images: std must be positive, got 0.0"):
        normalize_images(np.zeros((2, 3), np.uint8), mean=0.1, std=0.0)


def test_synthetic_classification_is_mnist_shaped_and_reproducible():
    dataset = synthetic_classification(50, seed=3)
    images, labels = dataset.arrays
    assert images.shape == (50, 784) and images.dtype == np.float32
    assert labels.shape == (50,) and labels.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0 and set(labels.tolist()) <= set(range(10))
    again = synthetic_classification(50, seed=3)
    np.testing.assert_array_equal(again.arrays[0], images)
    np.testing.assert_array_equal(again.arrays[1], labels)
    assert not np.array_equal(synthetic_classification(50, seed=4).arrays[0], images)


def test_synthetic_classification_draws_its_seed_from_manual_seed_when_none():
    anygrad.manual_seed(7)
    first = synthetic_classification(20, features=5, seed=None).arrays[0]
    anygrad.manual_seed(7)
    np.testing.assert_array_equal(synthetic_classification(20, features=5, seed=None).arrays[0], first)


def test_synthetic_classification_is_learnable_from_a_train_split():
    train, test = synthetic_classification(1200, features=64, classes=5, seed=1).split(1000)
    (train_x, train_y), (test_x, test_y) = train.arrays, test.arrays
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in range(5)])
    predicted = np.argmin(((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=-1), axis=1)
    assert (predicted == test_y).mean() > 0.9


# --- TensorDataset ------------------------------------------------------------------------------------------
def test_tensor_dataset_indexes_aligned_samples_and_splits():
    images, labels = np.arange(12.0).reshape(6, 2), np.arange(6)
    dataset = TensorDataset(images, labels)
    assert len(dataset) == 6 and dataset.backend is anygrad.get_backend("numpy")
    row, label = dataset[4]
    np.testing.assert_array_equal(row, [8.0, 9.0])
    assert label == 4
    first, rest = dataset.split(4)
    assert (len(first), len(rest)) == (4, 2)
    np.testing.assert_array_equal(rest.arrays[0], images[4:])
    with pytest.raises(ValueError, match=r"TensorDataset.split: count 7 is outside \[0, 6\]"):
        dataset.split(7)


def test_tensor_dataset_rejects_misaligned_or_scattered_arrays():
    with pytest.raises(ValueError, match=r"TensorDataset: arrays hold different numbers of samples, shapes "
                                         r"\[\(3, 2\), \(4,\)\]"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="TensorDataset needs at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"TensorDataset: arrays need a sample axis, got shapes \[\(\)\]"):
        TensorDataset(np.float32(1.0))
    one = anygrad.get_backend("array_api_strict", "device1").from_host(np.zeros(3))
    with pytest.raises(ValueError, match=r"TensorDataset: all arrays must live on one backend and device, got "
                                         r"\['numpy:cpu', 'array_api_strict:device1'\]"):
        TensorDataset(np.zeros(3), one)


def test_tensor_dataset_to_places_every_array_on_the_backend_once(backend):
    dataset = synthetic_classification(8, features=3)
    placed = dataset.to(backend.name, backend.device)
    assert placed.backend is backend
    for array, original in zip(placed.arrays, dataset.arrays, strict=True):
        assert backend_of_array(array) is backend
        np.testing.assert_array_equal(backend.to_host(array), original)
    assert placed.to(backend.name, backend.device) is placed
    for array, original in zip(placed.numpy(), dataset.arrays, strict=True):
        np.testing.assert_array_equal(array, original)


def test_tensor_dataset_accepts_tensors(backend):
    images = anygrad.randn(4, 3)
    labels = anygrad.arange(4)
    dataset = TensorDataset(images, labels)
    assert dataset.backend is backend and dataset.arrays[0] is images.data


# --- DataLoader ------------------------------------------------------------------------------------------------
def batch_sizes(loader):
    return [len(labels) for _, labels in loader]


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]),
    (2, 5, True, []),
    (3, 1, False, [1, 1, 1]),
    (0, 4, False, []),
])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_data_loader_counts_batches_with_and_without_drop_last(n, batch_size, drop_last, sizes, shuffle):
    loader = DataLoader(synthetic_classification(n, features=2), batch_size, shuffle=shuffle, drop_last=drop_last,
                        seed=0)
    assert len(loader) == len(sizes)
    assert batch_sizes(loader) == sizes


def test_data_loader_without_shuffle_yields_the_samples_in_order():
    dataset = synthetic_classification(10, features=3)
    batches = list(DataLoader(dataset, batch_size=4))
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in batches]), dataset.arrays[0])
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), dataset.arrays[1])


def epoch_order(loader):
    """The sample ids an epoch visits (each image row holds its own id)."""
    return np.concatenate([ids.numpy() for ids, _ in loader])[:, 0]


def id_dataset(n):
    ids = np.arange(n)
    return TensorDataset(ids[:, None].astype(np.float32), ids.astype(np.int64))


def test_data_loader_shuffles_each_epoch_with_a_new_permutation_that_keeps_samples_aligned():
    loader = DataLoader(id_dataset(20), batch_size=6, shuffle=True, seed=1)
    epochs = [epoch_order(loader) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(20))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    for images, labels in loader:
        np.testing.assert_array_equal(images.numpy()[:, 0], labels.numpy())


def test_data_loader_gives_the_same_epochs_for_the_same_seed_and_others_for_another():
    first = DataLoader(id_dataset(30), batch_size=4, shuffle=True, seed=5)
    second = DataLoader(id_dataset(30), batch_size=4, shuffle=True, seed=5)
    other = DataLoader(id_dataset(30), batch_size=4, shuffle=True, seed=6)
    for _ in range(2):
        order = epoch_order(first)
        np.testing.assert_array_equal(epoch_order(second), order)
        assert not np.array_equal(epoch_order(other), order)


def test_data_loader_without_a_seed_follows_manual_seed():
    anygrad.manual_seed(11)
    order = epoch_order(DataLoader(id_dataset(30), batch_size=4, shuffle=True))
    anygrad.manual_seed(11)
    np.testing.assert_array_equal(epoch_order(DataLoader(id_dataset(30), batch_size=4, shuffle=True)), order)


def test_a_loader_that_does_not_shuffle_leaves_the_global_generator_alone():
    anygrad.manual_seed(2)
    expected = host_generator().random()
    anygrad.manual_seed(2)
    DataLoader(id_dataset(5), batch_size=2)
    assert host_generator().random() == expected


@pytest.mark.parametrize("resident", [False, True], ids=["host-dataset", "device-dataset"])
@pytest.mark.parametrize("drop_last", [False, True])
def test_data_loader_gives_the_same_batches_on_every_backend_for_one_seed(backend, resident, drop_last):
    dataset = synthetic_classification(23, features=4, seed=2)
    reference = DataLoader(dataset, batch_size=5, shuffle=True, drop_last=drop_last, seed=9, backend="numpy")
    source = dataset.to(backend.name, backend.device) if resident else dataset
    loader = DataLoader(source, batch_size=5, shuffle=True, drop_last=drop_last, seed=9,
                        backend=backend.name, device=backend.device)
    for _ in range(2):  # two epochs: the per-epoch permutations agree too
        got, want = list(loader), list(reference)
        assert len(got) == len(want) == len(loader)
        for (images, labels), (want_images, want_labels) in zip(got, want, strict=True):
            np.testing.assert_array_equal(images.numpy(), want_images.numpy())
            np.testing.assert_array_equal(labels.numpy(), want_labels.numpy())


@pytest.mark.parametrize("resident", [False, True], ids=["host-dataset", "device-dataset"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_data_loader_batches_are_float32_and_int64_tensors_on_the_default_backend_and_device(
        backend, resident, shuffle):
    dataset = synthetic_classification(7, features=6, classes=3)
    loader = DataLoader(dataset.to() if resident else dataset, batch_size=3, shuffle=shuffle, seed=0)
    assert loader.backend is backend
    weight = anygrad.ones(6, 3)  # a model parameter on the default backend and device
    for images, labels in loader:
        assert isinstance(images, anygrad.Tensor) and isinstance(labels, anygrad.Tensor)
        assert images._backend is backend and labels._backend is backend
        assert images.dtype == backend.xp.float32 and labels.dtype == backend.xp.int64
        assert not images.requires_grad
        # strict-device1 raises here if a batch was made on another device
        matches = anygrad.argmax(images @ weight, axis=1) == labels
        assert matches._backend is backend and matches.shape == labels.shape


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_batch_size_one_yields_every_sample_as_a_batch_of_one(backend, shuffle):
    dataset = id_dataset(5)
    loader = DataLoader(dataset, batch_size=1, shuffle=shuffle, seed=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 5
    assert all(images.shape == (1, 1) and labels.shape == (1,) for images, labels in batches)
    order = [int(labels.numpy()[0]) for _, labels in batches]
    assert sorted(order) == list(range(5))
    if not shuffle:
        assert order == list(range(5))


@pytest.fixture
def host_copies(monkeypatch):
    """Every NumPy array copied onto a backend (Backend.from_host) while the test runs."""
    copied = []
    original = Backend.from_host

    def counting_from_host(self, array, *args, **kwargs):
        copied.append(array)
        return original(self, array, *args, **kwargs)

    monkeypatch.setattr(Backend, "from_host", counting_from_host)
    return copied


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_a_device_resident_dataset_is_batched_on_the_device_not_copied_from_the_host(backend, host_copies, shuffle):
    placed = synthetic_classification(12, features=3).to(backend.name, backend.device)
    host_copies.clear()  # placing the dataset is the one copy allowed
    loader = DataLoader(placed, batch_size=1, shuffle=shuffle, seed=0)
    for _ in range(2):
        assert sum(1 for _ in loader) == 12
    # at most the epoch's index array crosses over (once per epoch); NumPy needs no crossing
    crossings = 2 if shuffle and backend.name != "numpy" else 0
    assert len(host_copies) == crossings
    assert all(array.dtype == np.int64 and array.shape == (12,) for array in host_copies)


def test_a_host_dataset_is_copied_to_the_device_one_batch_per_array_at_a_time(host_copies):
    target = anygrad.get_backend("array_api_strict", "device1")
    loader = DataLoader(synthetic_classification(10, features=3), batch_size=4, shuffle=True, seed=0, backend=target)
    list(loader)
    assert [array.shape for array in host_copies] == [(4, 3), (4,), (4, 3), (4,), (2, 3), (2,)]


def test_data_loader_never_moves_a_device_resident_dataset_silently():
    placed = synthetic_classification(4, features=2).to("array_api_strict", "device1")
    with pytest.raises(ValueError, match=r"DataLoader: the dataset lives on array_api_strict:device1 but batches are "
                                         r"asked for on array_api_strict:CPU_DEVICE; place it there once with "
                                         r"dataset.to\('array_api_strict', device=...\)"):
        DataLoader(placed, batch_size=2, backend="array_api_strict")
    assert DataLoader(placed, batch_size=2).backend is placed.backend


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_data_loader_rejects_a_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=f"DataLoader: batch_size must be a positive integer, got {batch_size!r}"):
        DataLoader(id_dataset(3), batch_size=batch_size)


def test_data_loader_needs_a_tensor_dataset():
    with pytest.raises(TypeError, match=r"DataLoader needs a TensorDataset \(e.g. TensorDataset\(images, labels\)\), "
                                        r"got tuple"):
        DataLoader((np.zeros(3), np.zeros(3)))
