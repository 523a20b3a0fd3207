"""The Tensor: creation, dtypes, moves between backends and devices, conversions, display."""

from __future__ import annotations

import re

import numpy as np
import pytest

import anygrad

# Every CPU place a tensor can live: (backend, device).
PLACES = [
    pytest.param("numpy", None, id="numpy"),
    pytest.param("torch", "cpu", id="torch"),
    pytest.param("jax", None, id="jax"),
    pytest.param("array_api_strict", None, id="strict"),
    pytest.param("array_api_strict", "device1", id="strict-device1"),
]


def values(t) -> np.ndarray:
    return anygrad.to_numpy(t)


def native_array(name: str, device, host: np.ndarray):
    """``host`` as an array of the library itself (made without anygrad.tensor)."""
    if name == "numpy":
        return host
    pytest.importorskip(name)
    return anygrad.get_backend(name, device).from_host(host)


# --- creation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "dtype", "shape"), [
    (1.5, "float32", ()),
    ([1.0, 2.0], "float32", (2,)),
    ([1, 2.5], "float32", (2,)),
    (3, "int64", ()),
    ([[1, 2]], "int64", (1, 2)),
    (True, "bool", ()),
])
def test_python_data_goes_to_the_default_backend_with_torchs_default_dtypes(backend, data, dtype, shape):
    t = anygrad.tensor(data)
    assert (t.backend, t.device) == (backend.name, backend.device)
    assert values(t).dtype == np.dtype(dtype) and t.shape == shape
    np.testing.assert_array_equal(values(t), np.asarray(data, dtype=dtype))


def test_numpy_arrays_and_scalars_keep_their_dtype_and_go_to_the_default_backend(backend):
    for data in (np.arange(3.0), np.arange(3, dtype=np.int32), np.float64(2.5), np.ones((2, 2), dtype=np.float32)):
        t = anygrad.tensor(data)
        assert t.backend == backend.name and t.device == backend.device
        assert values(t).dtype == np.asarray(data).dtype
        np.testing.assert_array_equal(values(t), data)


def test_an_explicit_dtype_overrides_the_default(backend):
    assert values(anygrad.tensor([1.0, 2.0], dtype="float64")).dtype == np.float64
    assert values(anygrad.tensor([1, 2], dtype="float32")).dtype == np.float32
    assert values(anygrad.tensor(np.arange(3.0), dtype=backend.xp.float32)).dtype == np.float32


@pytest.mark.parametrize(("name", "device"), PLACES[1:])  # NumPy arrays are host data: see above
def test_arrays_of_a_library_stay_on_their_backend_and_device(name, device):
    array = native_array(name, device, np.array([1.0, 2.0]))
    with anygrad.backend("numpy"):  # the default backend does not matter
        t = anygrad.tensor(array)
    expected = anygrad.get_backend(name, device)
    assert (t.backend, t.device) == (expected.name, expected.device)
    assert values(t).dtype == np.float64  # library arrays keep their dtype
    np.testing.assert_array_equal(values(t), [1.0, 2.0])


@pytest.mark.parametrize(("name", "device"), PLACES)
def test_asking_for_a_backend_moves_library_arrays_there(backend, name, device):
    array = native_array(name, device, np.array([1.0, 2.0]))
    t = anygrad.tensor(array, backend=backend, dtype="float32")
    assert (t.backend, t.device) == (backend.name, backend.device)
    assert values(t).dtype == np.float32
    np.testing.assert_array_equal(values(t), [1.0, 2.0])


def test_creation_functions_make_float32_on_the_default_backend(backend):
    made = {
        "zeros": anygrad.zeros(2, 3), "ones": anygrad.ones((2, 3)), "full": anygrad.full((2, 3), 7.0),
        "randn": anygrad.randn(2, 3), "rand": anygrad.rand(2, 3),
        "zeros_like": anygrad.zeros_like(anygrad.ones(2, 3)), "ones_like": anygrad.ones_like(anygrad.ones(2, 3)),
    }
    for name, t in made.items():
        assert (t.backend, t.device, t.shape) == (backend.name, backend.device, (2, 3)), name
        assert values(t).dtype == np.float32, name
    np.testing.assert_array_equal(values(made["full"]), np.full((2, 3), 7.0))
    assert np.all((values(made["rand"]) >= 0) & (values(made["rand"]) < 1))
    np.testing.assert_array_equal(values(anygrad.arange(4)), [0, 1, 2, 3])
    assert values(anygrad.arange(4)).dtype == np.int64
    np.testing.assert_array_equal(values(anygrad.arange(1.0, 2.0, 0.5)), [1.0, 1.5])
    assert values(anygrad.randint(0, 5, (3,))).dtype == np.int64
    assert values(anygrad.zeros(2, dtype="float64")).dtype == np.float64


def test_creation_rejects_bad_shapes_and_object_data():
    with pytest.raises(ValueError, match=re.escape("a shape needs non-negative integers, got (2, -1)")):
        anygrad.zeros(2, -1)
    with pytest.raises(TypeError, match="anygrad.tensor: cannot make a tensor from list holding mixed objects"):
        anygrad.tensor([1.0, "a", None])


def test_requires_grad_is_only_for_floating_point_tensors(backend):
    assert anygrad.tensor([1.0], requires_grad=True).requires_grad
    assert anygrad.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, not dtype .*int64"):
        anygrad.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, not dtype .*bool"):
        anygrad.tensor([True]).requires_grad_()


def test_requires_grad_false_is_only_for_leaves(backend):
    y = anygrad.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"requires_grad_\(False\) is only allowed on leaves; use .detach\(\)"):
        y.requires_grad_(False)


# --- moving between backends and devices ------------------------------------------------------------
@pytest.mark.parametrize(("name", "device"), PLACES)
def test_to_moves_between_every_pair_of_backends_and_devices(backend, name, device):
    pytest.importorskip(name)
    x = anygrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    moved = x.to(name, device=device)
    # Without a device, a tensor already on that backend stays on its device.
    target = backend if (name, device) == (backend.name, None) else anygrad.get_backend(name, device)
    assert (moved.backend, moved.device) == (target.name, target.device)
    assert values(moved).dtype == np.float64
    np.testing.assert_array_equal(values(moved), values(x))
    # The moved tensor is a leaf of its own that still requires grad (as a moved parameter must).
    assert moved.requires_grad and moved.is_leaf
    back = moved.to(backend)
    assert back._backend is backend
    np.testing.assert_array_equal(values(back), values(x))


def test_to_the_same_place_returns_the_tensor_itself_and_to_a_dtype_casts_in_place(backend):
    x = anygrad.tensor([1.5, 2.5])
    assert x.to(backend.name, device=backend.device) is x
    assert x.to() is x and x.to(backend.name) is x
    cast = x.to(dtype="float64")
    assert values(cast).dtype == np.float64 and cast._backend is backend


def test_to_a_device_only_keeps_the_backend():
    x = anygrad.tensor([1.0], backend="array_api_strict")
    assert x.to(device="device1").device == anygrad.get_backend("array_api_strict", "device1").device
    assert x.to(device="device1").backend == "array_api_strict"
    torch_x = anygrad.tensor([1.0], backend="torch")
    assert torch_x.to("cpu") is torch_x  # a device name alone reads as a device, as in PyTorch


def test_a_move_of_an_intermediate_is_a_constant_leaf(backend):
    y = anygrad.tensor([1.0], requires_grad=True) * 2.0
    moved = y.to("numpy" if backend.name != "numpy" else "torch")
    assert moved.is_leaf and not moved.requires_grad


# --- conversion to host and Python ---------------------------------------------------------------------
@pytest.mark.parametrize(("name", "device"), PLACES)
def test_to_numpy_takes_tensors_and_raw_arrays_of_every_library(name, device):
    host = np.array([[1.0, 2.0], [3.0, 4.0]])
    array = native_array(name, device, host)
    for given in (array, anygrad.tensor(array)):
        result = anygrad.to_numpy(given)
        assert isinstance(result, np.ndarray) and result.dtype == np.float64
        np.testing.assert_array_equal(result, host)
    np.testing.assert_array_equal(anygrad.to_numpy([1, 2]), [1, 2])  # anything np.asarray takes


def test_numpy_and_tolist_copy_the_values_to_the_host(backend):
    x = anygrad.tensor([[1.0, 2.0]], requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray)
    assert x.tolist() == [[1.0, 2.0]]


def test_item_float_int_bool_read_one_element_tensors(backend):
    assert anygrad.tensor([[2.5]]).item() == 2.5
    assert float(anygrad.tensor(2.5)) == 2.5
    assert int(anygrad.tensor(3)) == 3
    assert bool(anygrad.tensor(1.0)) is True and bool(anygrad.tensor(0.0)) is False
    assert isinstance(anygrad.tensor(3).item(), int)
    assert [10, 20, 30][anygrad.tensor(1)] == 20  # __index__
    with pytest.raises(ValueError, match=re.escape("item(): the tensor has 2 elements, not 1 (shape (2,))")):
        anygrad.tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="only integer tensors can be used as an index, not dtype .*float32"):
        [10, 20][anygrad.tensor(1.0)]


def test_len_and_iteration_follow_the_first_axis(backend):
    x = anygrad.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    assert len(x) == 3
    rows = list(x)
    assert [row.tolist() for row in rows] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    (rows[0] + rows[2] * 2.0).sum().backward()  # rows are views in the graph
    np.testing.assert_array_equal(values(x.grad), [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(anygrad.tensor(1.0))


def test_properties_describe_the_array(backend):
    x = anygrad.zeros(2, 3, 4)
    assert (x.shape, x.ndim, x.size) == ((2, 3, 4), 3, 24)
    assert x.backend == backend.name and x.device == backend.device and x.xp is backend.xp
    assert x.dtype == backend.xp.float32
    assert x.is_leaf and x.grad is None and not x.requires_grad


def test_repr_shows_values_backend_dtype_and_graph(backend):
    label = re.escape(backend.label)
    assert re.fullmatch(rf"tensor\(\[1\., 2\.\], backend={label}, dtype=float32\)", repr(anygrad.tensor([1.0, 2.0])))
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x).endswith("dtype=float32, requires_grad=True)")
    assert repr(x * 2.0) == f"tensor([2., 4.], backend={backend.label}, dtype=float32, grad_fn=mul)"
    assert repr(anygrad.tensor(3)) == f"tensor(3, backend={backend.label}, dtype=int64)"
    many = repr(anygrad.zeros(1000))
    assert "..." in many and len(many) < 200  # large tensors are summarised


# --- transposes and shape methods --------------------------------------------------------------------
def test_T_transposes_matrices_and_mT_the_last_two_axes(backend):
    x = anygrad.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(values(x.T), np.arange(6.0).reshape(2, 3).T)
    batch = anygrad.tensor(np.arange(12.0).reshape(2, 3, 2))
    np.testing.assert_array_equal(values(batch.mT), np.swapaxes(np.arange(12.0).reshape(2, 3, 2), -1, -2))
    (x.T * anygrad.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
    np.testing.assert_array_equal(values(x.grad), [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
    with pytest.raises(ValueError, match=re.escape("Tensor.T needs a 2-D tensor, got shape (2, 3, 2); use .mT")):
        _ = batch.T


def test_shape_methods_reshape_and_route_gradients_back(backend):
    x = anygrad.tensor(np.arange(6.0).reshape(1, 2, 3), requires_grad=True)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,) and x.view(-1).shape == (6,)
    assert x.flatten().shape == (6,) and x.flatten(1).shape == (1, 6)
    assert x.squeeze().shape == (2, 3) and x.squeeze(0).shape == (2, 3)
    assert x.unsqueeze(1).shape == (1, 1, 2, 3) and x.expand_dims(-1).shape == (1, 2, 3, 1)
    assert x.permute(2, 0, 1).shape == (3, 1, 2) and x.transpose(0, 2).shape == (3, 2, 1)
    with pytest.raises(ValueError, match=re.escape("anygrad.squeeze: axis 1 has size 2, not 1 (shape (1, 2, 3))")):
        x.squeeze(1)
    (x.reshape(3, 2) * anygrad.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(values(x.grad), np.arange(6.0).reshape(1, 2, 3))


def test_concat_and_stack_take_a_sequence_like_torch_or_separate_tensors(backend):
    a, b = anygrad.tensor([[1.0, 2.0]], requires_grad=True), anygrad.tensor([[3.0, 4.0]])
    np.testing.assert_array_equal(anygrad.concat([a, b]).numpy(), anygrad.concat(a, b).numpy())
    np.testing.assert_array_equal(anygrad.stack((a, b), axis=1).numpy(), np.stack([a.numpy(), b.numpy()], axis=1))
    anygrad.concat([a, b], axis=1).sum().backward()
    np.testing.assert_array_equal(anygrad.to_numpy(a.grad), [[1.0, 1.0]])


def test_tensor_copies_its_data_so_in_place_updates_never_reach_the_callers_array(backend):
    host = np.array([1.0, 2.0], dtype=np.float32)
    made = anygrad.tensor(host)
    host[0] = 9.0
    np.testing.assert_array_equal(made.numpy(), [1.0, 2.0])
    again = anygrad.tensor(made)
    assert again.data is not made.data
    np.testing.assert_array_equal(again.numpy(), [1.0, 2.0])
