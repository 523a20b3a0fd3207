"""Checkpoints: safetensors files written and read by anygrad, PyTorch and back again."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import anygrad


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "layer.weight": rng.standard_normal((3, 4)).astype(np.float32),
        "layer.bias": rng.standard_normal(4),
        "steps": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "scale": np.asarray(2.5, dtype=np.float32),  # 0-d
        "empty": np.zeros((0, 2), dtype=np.float32),
    }


def test_round_trip_keeps_names_values_dtypes_and_shapes_on_every_backend(backend, tmp_path):
    path = tmp_path / "model.safetensors"
    expected = _values()
    anygrad.save({name: anygrad.tensor(value) for name, value in expected.items()}, path)
    loaded = anygrad.load(path)
    assert sorted(loaded) == sorted(expected)
    for name, value in expected.items():
        tensor = loaded[name]
        assert isinstance(tensor, anygrad.Tensor) and not tensor.requires_grad
        assert tensor._backend is backend  # the default backend, on its device
        assert tensor.numpy().dtype == value.dtype and tensor.shape == value.shape
        np.testing.assert_array_equal(tensor.numpy(), value)


def test_save_takes_tensors_backend_arrays_and_numpy_arrays(backend, tmp_path):
    path = tmp_path / "mixed.safetensors"
    weight = anygrad.randn(2, 3)
    anygrad.save({"tensor": weight, "array": weight.data, "numpy": np.ones(2), "strided": np.arange(6.0)[::-2]},
                 path)
    loaded = anygrad.load(path, backend="numpy")
    np.testing.assert_array_equal(loaded["tensor"].numpy(), weight.numpy())
    np.testing.assert_array_equal(loaded["array"].numpy(), weight.numpy())
    np.testing.assert_array_equal(loaded["numpy"].numpy(), np.ones(2))
    np.testing.assert_array_equal(loaded["strided"].numpy(), [5.0, 3.0, 1.0])


def test_load_puts_tensors_on_the_requested_backend_and_device(tmp_path):
    path = tmp_path / "w.safetensors"
    anygrad.save({"w": np.ones((2, 2), np.float32)}, path)
    loaded = anygrad.load(path, backend="array_api_strict", device="device1")
    assert loaded["w"]._backend is anygrad.get_backend("array_api_strict", "device1")
    assert loaded["w"].numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_the_file_is_plain_safetensors_with_the_given_metadata(backend, tmp_path):
    path = tmp_path / "meta.safetensors"
    anygrad.save({"w": anygrad.ones(2)}, path, metadata={"epoch": "3", "model": "mlp"})
    raw = path.read_bytes()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])  # a JSON header and raw bytes: no pickle
    assert header["w"]["dtype"] == "F32" and header["w"]["shape"] == [2]
    assert header["__metadata__"] == {"epoch": "3", "model": "mlp"}
    assert anygrad.checkpoint.load_metadata(path) == {"epoch": "3", "model": "mlp"}


def test_loaded_parameters_are_writeable_so_optimizers_can_update_them(backend, tmp_path):
    path = tmp_path / "w.safetensors"
    anygrad.save({"w": np.array([1.0, 2.0], np.float32)}, path)
    w = anygrad.load(path)["w"].requires_grad_()
    optimizer = anygrad.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    optimizer.step()
    assert w.tolist() == [0.0, 0.0]


# --- PyTorch interoperability ---------------------------------------------------------------
def _anygrad_mlp(dtype: str) -> anygrad.nn.Sequential:
    nn = anygrad.nn
    return nn.Sequential(nn.Linear(4, 8, dtype=dtype), nn.ReLU(), nn.Linear(8, 3, dtype=dtype))


def _torch_mlp(torch, dtype: str):
    torch.manual_seed(0)
    layers = (torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return torch.nn.Sequential(*layers).to(getattr(torch, dtype))


TOLERANCE = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-12}}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_anygrad_checkpoint_loads_into_a_torch_sequential(backend, torch, tmp_path, dtype):
    from safetensors.torch import load_file

    model = _anygrad_mlp(dtype)
    path = tmp_path / "anygrad.safetensors"
    anygrad.save(model.state_dict(), path)
    reference = _torch_mlp(torch, dtype)
    reference.load_state_dict(load_file(path))  # strict: the names and shapes must all match

    x = np.random.default_rng(1).standard_normal((5, 4))
    expected = reference(torch.tensor(x, dtype=getattr(torch, dtype))).detach().numpy()
    got = model(anygrad.tensor(x, dtype=dtype)).numpy()
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_checkpoint_loads_into_anygrad_with_the_same_outputs(backend, torch, tmp_path, dtype):
    from safetensors.torch import save_file

    reference = _torch_mlp(torch, dtype)
    path = tmp_path / "torch.safetensors"
    save_file(reference.state_dict(), path)
    model = _anygrad_mlp(dtype)
    model.load_state_dict(anygrad.load(path))
    assert all(p._backend is backend for p in model.parameters())

    x = np.random.default_rng(2).standard_normal((5, 4))
    expected = reference(torch.tensor(x, dtype=getattr(torch, dtype))).detach().numpy()
    got = model(anygrad.tensor(x, dtype=dtype)).numpy()
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


# --- errors --------------------------------------------------------------------------------
def test_loading_a_missing_file_or_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="anygrad.load: no such file: .*missing.safetensors"):
        anygrad.load(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError, match="anygrad.load: .* is a folder, not a safetensors file"):
        anygrad.load(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_loading_a_corrupt_file_is_a_clear_error(tmp_path, damage):
    path = tmp_path / "bad.safetensors"
    if damage == "garbage":
        path.write_bytes(b"this is not a safetensors file at all")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        anygrad.save({"w": np.ones((64, 64))}, path)
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"anygrad.load: .*bad.safetensors' is not a valid safetensors file"):
        anygrad.load(path)


def test_saving_bad_values_is_a_clear_error(tmp_path):
    path = tmp_path / "out.safetensors"
    with pytest.raises(TypeError, match="anygrad.save: the value of 'lr' is a float, not a tensor or array"):
        anygrad.save({"w": np.ones(2), "lr": 0.1}, path)
    with pytest.raises(TypeError, match="the value of 'names' is a list"):
        anygrad.save({"names": ["a", "b"]}, path)
    with pytest.raises(TypeError, match="the value of 'text' has dtype <U1"):
        anygrad.save({"text": np.array(["a"])}, path)
    with pytest.raises(TypeError, match="keys must be strings, got int 0"):
        anygrad.save({0: np.ones(2)}, path)
    with pytest.raises(TypeError, match="state_dict must be a dict of name -> tensor, not a list"):
        anygrad.save([np.ones(2)], path)
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        anygrad.save({"w": np.ones(2)}, path, metadata={"epoch": 3})
    with pytest.raises(FileNotFoundError, match="anygrad.save: the folder .*nowhere' does not exist"):
        anygrad.save({"w": np.ones(2)}, tmp_path / "nowhere" / "out.safetensors")
    assert not path.exists()  # nothing half-written
