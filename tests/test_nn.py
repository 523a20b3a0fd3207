"""anygrad.nn behaves like torch.nn: module discovery and names, state_dict round trips with
torch models, moving between backends, reprs, and layers/activations that give torch's
outputs (float32) and gradients (float64) for identical weights."""

from __future__ import annotations

import numpy as np
import pytest

import anygrad
import anygrad.nn.functional as F
from anygrad import nn


def host(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def copy_into_torch(torch, model: nn.Module, reference) -> None:
    """Load anygrad's weights (as NumPy arrays) into a torch module of the same structure."""
    state = model.state_dict()
    reference.load_state_dict({key: torch.from_numpy(value.numpy().copy()) for key, value in state.items()})


def two_layer_class(lib):
    """A hand-written model (parameters, a submodule list, a container, assigned in order)
    written against ``lib``: anygrad.nn or torch.nn."""

    class TwoLayer(lib.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.Linear(4, 5)
            self.blocks = lib.ModuleList([lib.Linear(5, 5), lib.Linear(5, 5, bias=False)])
            self.head = lib.Sequential(lib.Tanh(), lib.Linear(5, 3))

        def forward(self, x):
            x = self.embed(x)
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    return TwoLayer


TwoLayer = two_layer_class(nn)


# --- Parameter ----------------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad_and_shares_the_array(backend):
    data = anygrad.zeros(2, 3)
    param = nn.Parameter(data)
    assert isinstance(param, anygrad.Tensor)
    assert param.requires_grad and param.is_leaf
    assert param.data is data.data and param._backend is backend
    assert repr(param).startswith("Parameter containing:\ntensor(")
    frozen = nn.Parameter(data, requires_grad=False)
    assert not frozen.requires_grad


def test_ops_on_parameters_give_plain_tensors(backend):
    param = nn.Parameter(anygrad.ones(2))
    assert type(param * 2.0) is anygrad.Tensor


# --- discovery and names -------------------------------------------------------------------------
def test_parameters_are_found_in_assignment_order_with_torchs_names(backend, torch):
    model, reference = TwoLayer(), two_layer_class(torch.nn)()
    names = [name for name, _ in model.named_parameters()]
    assert names == [name for name, _ in reference.named_parameters()]
    assert names == ["embed.weight", "embed.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                     "head.1.weight", "head.1.bias"]
    assert [p.shape for p in model.parameters()] == [tuple(p.shape) for p in reference.parameters()]
    assert list(model.state_dict()) == list(reference.state_dict())
    assert [name for name, _ in model.named_modules()] == [name for name, _ in reference.named_modules()]
    assert [name for name, _ in model.named_children()] == ["embed", "blocks", "head"]
    assert list(model.children()) == [model.embed, model.blocks, model.head]
    assert len(list(model.modules())) == 8


def test_a_shared_parameter_is_listed_once(backend):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    model.append(model[0])  # the same layer twice
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_assigning_none_keeps_an_empty_slot_and_wrong_types_are_rejected(backend):
    layer = nn.Linear(3, 2)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight' of Linear \(an anygrad.nn."
                                        r"Parameter or None is expected"):
        layer.weight = anygrad.zeros(2, 3)
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="cannot assign int as child module '0' of Sequential"):
        setattr(model, "0", 3)


def test_assigning_before_module_init_is_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"cannot assign 'layer' before Module.__init__\(\) is called"):
        Forgetful()


def test_deleting_an_attribute_unregisters_it(backend):
    model = TwoLayer()
    del model.head
    assert "head.1.weight" not in model.state_dict()
    assert not hasattr(model, "head")


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1)


# --- containers ---------------------------------------------------------------------------------------
def test_sequential_indexes_slices_iterates_and_appends(backend):
    first, act, last = nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)
    model = nn.Sequential(first, act)
    assert model.append(last) is model
    assert len(model) == 3 and list(model) == [first, act, last]
    assert model[0] is first and model[-1] is last
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head) == [act, last]
    assert list(head.state_dict()) == ["2.weight", "2.bias"]  # slices keep the names, as in torch
    with pytest.raises(IndexError, match="Sequential index 3 is out of range for 3 modules"):
        model[3]
    with pytest.raises(TypeError, match="Sequential: expected anygrad.nn.Module instances, got function"):
        nn.Sequential(lambda x: x)


def test_sequential_from_an_ordered_mapping_uses_its_names(backend, torch):
    from collections import OrderedDict

    model = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.Tanh()), ("out", nn.Linear(3, 1))]))
    assert list(model.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert model.hidden is model[0]


def graph_ops(output: anygrad.Tensor) -> list[str]:
    """The ops recorded between the model's input and ``output``, output first (a chain)."""
    names, node = [], output._node
    while node is not None:
        names.append(node.op.name + "".join(f"[{v}]" for v in node.params.values() if v is not None))
        node = next((t._node for t in node.inputs if isinstance(t, anygrad.Tensor) and t._node is not None), None)
    return names


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Sigmoid, nn.Tanh])
def test_sequential_runs_linear_and_activation_as_one_op_with_the_same_values_and_gradients(backend, activation):
    model = nn.Sequential(nn.Linear(4, 3), activation(), nn.Linear(3, 2), activation(), nn.Linear(2, 2))
    x = anygrad.tensor(host((5, 4)).astype(np.float32), backend=backend)
    fused = model(x)
    name = activation.__name__.lower()
    assert graph_ops(fused) == ["linear", f"linear[{name}]", f"linear[{name}]"]
    fused.sum().backward()
    fused_grads = [anygrad.to_numpy(p.grad) for p in model.parameters()]
    model.zero_grad()
    one_by_one = x
    for module in model:
        one_by_one = module(one_by_one)
    assert graph_ops(one_by_one) == ["linear", name, "linear", name, "linear"]
    np.testing.assert_array_equal(fused.numpy(), one_by_one.numpy())
    one_by_one.sum().backward()
    for fused_grad, p in zip(fused_grads, model.parameters(), strict=True):
        np.testing.assert_array_equal(fused_grad, anygrad.to_numpy(p.grad))


def test_sequential_calls_other_pairs_and_subclasses_one_by_one(backend):
    class ShiftedReLU(nn.ReLU):  # a subclass may compute something else: never fused
        def forward(self, x):
            return super().forward(x) + 1.0

    x = anygrad.ones(2, 3, backend=backend)
    for second in (ShiftedReLU(), nn.LeakyReLU(), nn.Dropout(0.0), nn.Identity()):
        model = nn.Sequential(nn.Linear(3, 2), second)
        assert graph_ops(model(x))[-1] == "linear"
    assert graph_ops(nn.Sequential(nn.Linear(3, 2), ShiftedReLU())(x))[0] == "add"
    x.requires_grad_(True)
    assert graph_ops(nn.Sequential(nn.ReLU(), nn.Linear(3, 2))(x)) == ["linear", "relu"]


def test_module_list_registers_its_modules(backend):
    blocks = nn.ModuleList([nn.Linear(2, 2)])
    blocks.append(nn.Linear(2, 3)).extend([nn.ReLU()])
    assert len(blocks) == 3 and isinstance(blocks[1], nn.Linear) and isinstance(blocks[-1], nn.ReLU)
    blocks[2] = nn.Tanh()
    assert isinstance(blocks[2], nn.Tanh)
    assert [name for name, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert isinstance(blocks[:2], nn.ModuleList) and len(blocks[:2]) == 2


# --- repr -------------------------------------------------------------------------------------------------
def test_repr_matches_torch(torch):
    def build(lib):
        return lib.Sequential(
            lib.Flatten(), lib.Linear(784, 128), lib.ReLU(), lib.Linear(128, 64, bias=False), lib.LeakyReLU(0.2),
            lib.Sequential(lib.Linear(64, 10), lib.Sigmoid(), lib.Tanh(), lib.Identity()),
            lib.Softmax(dim=1), lib.LogSoftmax(dim=-1),
        )

    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(TwoLayer()) == repr(two_layer_class(torch.nn)())
    assert repr(nn.Sequential(nn.Linear(784, 128))) == (
        "Sequential(\n  (0): Linear(in_features=784, out_features=128, bias=True)\n)"
    )
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


# --- modes and gradients ---------------------------------------------------------------------------------------
def test_train_and_eval_set_the_mode_of_every_submodule(backend):
    model = TwoLayer()
    assert model.training and model.head[0].training
    assert model.eval() is model
    assert not any(module.training for module in model.modules())
    model.train()
    assert all(module.training for module in model.modules())


def test_zero_grad_sets_gradients_to_none(backend):
    model = nn.Linear(3, 2)
    model(anygrad.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_false_freezes_parameters(backend):
    model = nn.Linear(3, 2).requires_grad_(False)
    assert not model(anygrad.ones(1, 3)).requires_grad


# --- moving between backends and dtypes ------------------------------------------------------------------------
def test_to_moves_parameters_in_place_and_keeps_them_parameters(backend):
    with anygrad.backend("numpy"):
        model = TwoLayer()
        x = anygrad.tensor(host((2, 4)), dtype="float32")
        expected = model(x).numpy()
    params = list(model.parameters())
    model(x).sum().backward()
    assert model.to(backend.name, device=backend.device) is model
    assert list(model.parameters()) == params  # the same objects (optimizers keep working)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert all(p._backend is backend and p.grad is not None for p in params)
    out = model(anygrad.tensor(host((2, 4)), dtype="float32"))
    assert out._backend is backend
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    model.to("numpy")
    assert all(p.backend == "numpy" for p in model.parameters())


def test_to_casts_floating_parameters_to_a_dtype(backend):
    model = nn.Linear(3, 2).to(dtype="float64")
    assert all(str(p.dtype).endswith("float64") for p in model.parameters())
    assert model.float().weight.numpy().dtype == np.float32
    assert model.double().bias.numpy().dtype == np.float64


# --- state_dict -----------------------------------------------------------------------------------------------
def torch_mlp(torch, dropout: bool = False):
    layers = [torch.nn.Linear(6, 5), torch.nn.ReLU()]
    layers += [torch.nn.Dropout(0.5)] if dropout else []
    layers += [torch.nn.Linear(5, 4), torch.nn.ReLU()]
    layers += [torch.nn.Dropout(0.5)] if dropout else []
    return torch.nn.Sequential(*layers, torch.nn.Linear(4, 3)).double()


def test_state_dict_round_trips_with_a_torch_sequential(backend, torch):
    model = nn.MLP(6, [5, 4], 3, dtype="float64")
    reference = torch_mlp(torch)
    x = host((7, 6))
    # anygrad -> torch
    copy_into_torch(torch, model, reference)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(anygrad.tensor(x, dtype="float64")).numpy(), expected, rtol=1e-12)
    # torch -> anygrad, from torch tensors and from NumPy arrays
    reference = torch_mlp(torch)
    for state in (reference.state_dict(), {k: v.numpy() for k, v in reference.state_dict().items()}):
        fresh = nn.MLP(6, [5, 4], 3, dtype="float64")
        result = fresh.load_state_dict(state)
        assert result.missing_keys == [] and result.unexpected_keys == []
        assert all(p._backend is backend for p in fresh.parameters())
        np.testing.assert_allclose(fresh(anygrad.tensor(x, dtype="float64")).numpy(),
                                   reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_load_state_dict_copies_and_casts_to_each_parameters_dtype(backend):
    model = nn.Linear(2, 2)
    weight = np.array([[1.0, 2.0], [3.0, 4.0]])  # float64 source, float32 model
    model.load_state_dict({"weight": weight, "bias": np.zeros(2)})
    weight[0, 0] = 100.0
    loaded = model.weight.numpy()
    assert loaded.dtype == np.float32 and loaded[0, 0] == 1.0
    assert isinstance(model.weight, nn.Parameter)
    other = nn.Linear(2, 2, backend="numpy")
    model.load_state_dict(other.state_dict())  # anygrad Tensors from another backend
    np.testing.assert_array_equal(model.weight.numpy(), other.weight.numpy())
    assert model.weight._backend is backend


def test_state_dict_values_are_detached_views_of_the_parameters(backend):
    model = nn.Linear(2, 3)
    state = model.state_dict()
    assert type(state).__name__ == "OrderedDict"
    assert not state["weight"].requires_grad and state["weight"].data is model.weight.data


def test_load_state_dict_lists_missing_unexpected_and_mismatched_keys_and_loads_nothing(backend):
    model = nn.MLP(3, [4], 2)
    before = model[0].weight.numpy().copy()
    state = {"0.weight": np.ones((4, 3)), "2.weight": np.ones((3, 4)), "2.bias": np.ones(2), "extra": np.ones(1)}
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "Error(s) in loading state_dict for MLP" in message
    assert "missing key(s): '0.bias'" in message
    assert "unexpected key(s): 'extra'" in message
    assert "2.weight: expected shape (2, 4), got (3, 4)" in message
    np.testing.assert_array_equal(model[0].weight.numpy(), before)


def test_load_state_dict_non_strict_reports_keys_but_still_checks_shapes(backend):
    model = nn.Linear(3, 2)
    result = model.load_state_dict({"weight": np.ones((2, 3)), "other": np.ones(1)}, strict=False)
    assert result == (["bias"], ["other"])
    np.testing.assert_array_equal(model.weight.numpy(), np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"shape mismatch: weight: expected shape \(2, 3\), got \(3, 2\)"):
        model.load_state_dict({"weight": np.ones((3, 2))}, strict=False)


# --- layers against torch ----------------------------------------------------------------------------------------
def compare_module(torch, make, make_torch, x_shape, backend_name: str) -> None:
    """Same weights: forward in float32 and gradients (input and parameters) in float64."""
    x = host(x_shape, seed=3)
    for dtype in ("float32", "float64"):
        anygrad.manual_seed(1)
        module = make().to(dtype=dtype)
        reference = make_torch().to(getattr(torch, dtype))
        copy_into_torch(torch, module, reference)
        xa = anygrad.tensor(x, dtype=dtype, requires_grad=True)
        xt = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        out, expected = module(xa), reference(xt)
        assert out.backend == backend_name and out.shape == tuple(expected.shape)
        if dtype == "float32":
            np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
            continue
        cotangent = host(tuple(expected.shape), seed=4)
        out.backward(anygrad.tensor(cotangent, dtype="float64"))
        expected.backward(torch.from_numpy(cotangent))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xa.grad if isinstance(xa.grad, np.ndarray) else anygrad.to_numpy(xa.grad),
                                   xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        for (name, param), (_, torch_param) in zip(module.named_parameters(), reference.named_parameters(),
                                                   strict=True):
            np.testing.assert_allclose(anygrad.to_numpy(param.grad), torch_param.grad.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=name)


LAYERS = {
    "Linear": (lambda lib: lib.Linear(4, 3), (5, 4)),
    "Linear-no-bias": (lambda lib: lib.Linear(4, 3, bias=False), (5, 4)),
    "Linear-batch1": (lambda lib: lib.Linear(4, 3), (1, 4)),
    "Linear-1d-input": (lambda lib: lib.Linear(4, 3), (4,)),
    "Linear-3d-input": (lambda lib: lib.Linear(4, 3), (2, 5, 4)),
    "ReLU": (lambda lib: lib.ReLU(), (3, 4)),
    "LeakyReLU": (lambda lib: lib.LeakyReLU(0.2), (3, 4)),
    "Sigmoid": (lambda lib: lib.Sigmoid(), (3, 4)),
    "Tanh": (lambda lib: lib.Tanh(), (3, 4)),
    "Softmax-dim1": (lambda lib: lib.Softmax(dim=1), (3, 4)),
    "Softmax-dim0": (lambda lib: lib.Softmax(dim=0), (3, 4)),
    "LogSoftmax": (lambda lib: lib.LogSoftmax(dim=-1), (3, 4)),
    "Flatten": (lambda lib: lib.Flatten(), (2, 3, 2, 2)),
    "Flatten-middle": (lambda lib: lib.Flatten(1, 2), (2, 3, 2, 2)),
    "Identity": (lambda lib: lib.Identity(), (3, 4)),
    "Dropout-eval": (lambda lib: lib.Dropout(0.5).eval(), (3, 4)),
    "Sequential": (lambda lib: lib.Sequential(lib.Flatten(), lib.Linear(6, 5), lib.Tanh(), lib.Linear(5, 2),
                                              lib.Sigmoid()), (4, 2, 3)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch_forward_and_gradients(backend, torch, name):
    make, shape = LAYERS[name]
    compare_module(torch, lambda: make(nn), lambda: make(torch.nn), shape, backend.name)


@pytest.mark.parametrize(("activation", "torch_activation"), [("relu", "ReLU"), ("tanh", "Tanh"),
                                                             ("sigmoid", "Sigmoid"), ("leaky_relu", "LeakyReLU")])
def test_mlp_is_the_equivalent_torch_sequential(backend, torch, activation, torch_activation):
    def torch_model():
        act = getattr(torch.nn, torch_activation)
        return torch.nn.Sequential(torch.nn.Linear(6, 5), act(), torch.nn.Linear(5, 4), act(), torch.nn.Linear(4, 3))

    model = nn.MLP(6, [5, 4], 3, activation=activation)
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in torch_model()]
    compare_module(torch, lambda: nn.MLP(6, [5, 4], 3, activation=activation), torch_model, (7, 6), backend.name)


def test_mlp_with_dropout_has_torchs_layer_indices(backend, torch):
    model = nn.MLP(6, [5, 4], 3, dropout=0.5)
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in torch_mlp(torch, dropout=True)]
    assert list(model.state_dict()) == list(torch_mlp(torch, dropout=True).state_dict())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    assert nn.MLP(2, 3, 1, activation=nn.Tanh)[1].__class__ is nn.Tanh  # one hidden size; a Module class
    with pytest.raises(ValueError, match="MLP: unknown activation 'gelu'; use one of relu, leaky_relu"):
        nn.MLP(2, [3], 1, activation="gelu")


def test_linear_names_a_mismatched_input(backend):
    with pytest.raises(ValueError, match=r"Linear\(in_features=4\): the input of shape \(2, 5\) has 5 features "
                                         r"in its last axis, expected 4"):
        nn.Linear(4, 3)(anygrad.ones(2, 5))


def test_linear_creates_its_parameters_on_the_requested_backend_and_dtype(backend):
    layer = nn.Linear(3, 2, dtype="float64")
    assert layer.weight._backend is backend and layer.weight.numpy().dtype == np.float64
    with pytest.raises(ValueError, match="Linear: in_features must be a non-negative int, got 2.5"):
        nn.Linear(2.5, 3)


def test_softmax_needs_a_dim(backend):
    with pytest.raises(TypeError, match=r"softmax: pass dim= \(the class axis"):
        nn.Softmax()(anygrad.ones(2, 3))


# --- dropout ------------------------------------------------------------------------------------------------------
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(backend):
    x = anygrad.ones(200, 500, requires_grad=True)
    out = nn.Dropout(0.3)(x)
    values = out.numpy()
    kept = values != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 100,000 draws: the standard error is 0.0015
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_array_equal(anygrad.to_numpy(x.grad), values)  # the gradient is the same mask


def test_dropout_masks_differ_between_calls(backend):
    layer = nn.Dropout(0.5)
    x = anygrad.ones(1000)
    assert not np.array_equal(layer(x).numpy(), layer(x).numpy())


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero(backend):
    x = anygrad.tensor(host((4, 5)), dtype="float32")
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert F.dropout(x, 0.9, training=False) is x
    model = nn.MLP(5, [8], 2, dropout=0.5).eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "0.5"])
def test_dropout_rejects_probabilities_outside_zero_one(p):
    with pytest.raises(ValueError, match=r"Dropout: the drop probability p must be a number in \[0, 1\)"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=r"dropout: the drop probability p must be a number in \[0, 1\)"):
        F.dropout(anygrad.ones(2), p)


# --- functional ------------------------------------------------------------------------------------------------
FUNCTIONS = {
    "relu": lambda F, x: F.relu(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.3),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "softmax": lambda F, x: F.softmax(x, dim=0),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=1),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_matches_torch(backend, torch, name):
    x = host((3, 4), seed=5)
    xa = anygrad.tensor(x, dtype="float64", requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, expected = FUNCTIONS[name](F, xa), FUNCTIONS[name](torch.nn.functional, xt)
    cotangent = host((3, 4), seed=6)
    out.backward(anygrad.tensor(cotangent, dtype="float64"))
    expected.backward(torch.from_numpy(cotangent))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(anygrad.to_numpy(xa.grad), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_functional_linear_matches_torch(backend, torch):
    x, w, b = host((3, 4), 1), host((2, 4), 2), host((2,), 3)
    out = F.linear(*(anygrad.tensor(v, dtype="float64") for v in (x, w, b)))
    expected = torch.nn.functional.linear(*(torch.from_numpy(v) for v in (x, w, b)))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)


def test_one_hot_matches_torch(backend, torch):
    indices = [[0, 2], [1, 0]]
    expected = torch.nn.functional.one_hot(torch.tensor(indices)).numpy()
    got = F.one_hot(anygrad.tensor(indices))
    assert got.numpy().dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(F.one_hot(anygrad.tensor(indices), num_classes=4).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(indices), 4).numpy())
    with pytest.raises(IndexError, match=r"one_hot: class index out of range: targets must be in \[0, 2\), got \[2\]"):
        F.one_hot(anygrad.tensor(indices), num_classes=2)
    with pytest.raises(TypeError, match="one_hot: needs integer class indices"):
        F.one_hot(anygrad.tensor([0.0, 1.0]))


def test_a_deep_copied_model_computes_the_same_and_stays_on_its_backend(backend):
    import copy

    model = anygrad.nn.MLP(4, [3], 2)
    clone = copy.deepcopy(model)
    x = anygrad.randn(2, 4)
    np.testing.assert_array_equal(model(x).numpy(), clone(x).numpy())
    assert clone[0].weight is not model[0].weight
    assert clone[0].weight.backend == backend.name and clone[0].weight.device == model[0].weight.device


def test_to_numpy_reads_parameters_like_tensors(backend):
    weight = nn.Linear(3, 2).weight
    np.testing.assert_array_equal(anygrad.to_numpy(weight), weight.numpy())
    assert anygrad.to_numpy(weight).dtype == np.float32
