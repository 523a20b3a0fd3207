"""anygrad.nn.init: torch.nn.init's formulas (gains, fans, bounds, standard deviations),
values drawn on the host so one seed gives identical tensors on every backend, and clear
errors. Distribution checks use a fixed seed, many samples and generous tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anygrad
from anygrad import nn
from anygrad.nn import init

SHAPE = (300, 200)  # 60,000 samples: sample std within ~0.6% of the true one


def empty(*shape: int, dtype: str = "float32") -> anygrad.Tensor:
    return anygrad.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize(("nonlinearity", "param"), [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("leaky_relu", 0), ("selu", None),
])
def test_calculate_gain_matches_torch(torch, nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15)


def test_calculate_gain_rejects_unknown_nonlinearities():
    with pytest.raises(ValueError, match="calculate_gain: unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="calculate_gain: negative_slope True is not a number"):
        init.calculate_gain("leaky_relu", True)


# --- the distributions -------------------------------------------------------------------------------------------
def _torch_reference(torch, name: str, shape: tuple[int, ...], **kwargs) -> np.ndarray:
    torch.manual_seed(0)
    values = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, name)(values, **kwargs)
    return values.numpy()


UNIFORM_SCHEMES = [
    ("xavier_uniform_", {}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform_", {"nonlinearity": "tanh"}),
]
NORMAL_SCHEMES = [
    ("xavier_normal_", {}),
    ("xavier_normal_", {"gain": init.calculate_gain("tanh")}),
    ("kaiming_normal_", {}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "nonlinearity": "leaky_relu"}),
]


@pytest.mark.parametrize(("name", "kwargs"), UNIFORM_SCHEMES, ids=lambda v: str(v))
@pytest.mark.parametrize("shape", [SHAPE, (120, 50, 3, 3)], ids=["matrix", "conv"])
def test_uniform_schemes_have_torchs_bound(backend, torch, name, kwargs, shape):
    ours = getattr(init, name)(empty(*shape, dtype="float64"), **kwargs).numpy()
    theirs = _torch_reference(torch, name, shape, **kwargs)
    # The bound is the largest value either can draw; with 60,000+ samples both come within 0.1% of it.
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=2e-3)
    assert np.abs(ours).max() <= np.abs(theirs).max() * (1 + 1e-3)
    assert abs(ours.mean()) < 0.01 * ours.std()
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02)


@pytest.mark.parametrize(("name", "kwargs"), NORMAL_SCHEMES, ids=lambda v: str(v))
@pytest.mark.parametrize("shape", [SHAPE, (120, 50, 3, 3)], ids=["matrix", "conv"])
def test_normal_schemes_have_torchs_std(backend, torch, name, kwargs, shape):
    ours = getattr(init, name)(empty(*shape, dtype="float64"), **kwargs).numpy()
    theirs = _torch_reference(torch, name, shape, **kwargs)
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02)
    assert abs(ours.mean()) < 0.02 * ours.std()


def test_the_formulas_give_the_textbook_values(backend):
    fan_in, fan_out = 200, 300  # weight shape (out, in) = SHAPE
    bound = math.sqrt(6 / (fan_in + fan_out))
    values = init.xavier_uniform_(empty(*SHAPE)).numpy()
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.999 * bound
    values = init.kaiming_normal_(empty(*SHAPE), nonlinearity="relu").numpy()
    assert values.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    values = init.kaiming_uniform_(empty(*SHAPE), mode="fan_out", nonlinearity="relu").numpy()
    assert np.abs(values).max() <= math.sqrt(6 / fan_out)


def test_uniform_normal_and_constants(backend):
    values = init.uniform_(empty(*SHAPE), -2.0, 3.0).numpy()
    assert values.min() >= -2.0 and values.max() < 3.0 and values.mean() == pytest.approx(0.5, abs=0.03)
    values = init.normal_(empty(*SHAPE), mean=1.0, std=0.5).numpy()
    assert values.mean() == pytest.approx(1.0, abs=0.01) and values.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(init.constant_(empty(2, 3), 0.25).numpy(), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(init.ones_(empty(2, 3)).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(init.zeros_(init.ones_(empty(4))).numpy(), np.zeros(4))


def test_glorot_names_are_the_xavier_functions():
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.glorot_normal_ is init.xavier_normal_


# --- one seed, one model, every backend --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                  "kaiming_normal_"])
def test_one_seed_gives_identical_values_on_every_backend(backend, name):
    anygrad.manual_seed(123)
    ours = getattr(init, name)(empty(4, 5)).numpy()
    anygrad.manual_seed(123)
    reference = getattr(init, name)(anygrad.zeros(4, 5, backend="numpy")).numpy()
    np.testing.assert_array_equal(ours, reference)


def test_one_seed_gives_the_same_linear_layer_on_every_backend(backend):
    anygrad.manual_seed(5)
    model = nn.MLP(8, [6], 3)
    anygrad.manual_seed(5)
    with anygrad.backend("numpy"):
        reference = nn.MLP(8, [6], 3)
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert ours._backend is backend
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)


def test_linear_uses_torchs_default_initialisation(backend):
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.999 * bound
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(bias).max() <= bound and bias.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


# --- what init does to the tensor ----------------------------------------------------------------------------------
def test_init_returns_the_tensor_keeps_dtype_backend_and_records_no_graph(backend):
    param = nn.Parameter(anygrad.zeros(3, 4, dtype="float64"))
    assert init.kaiming_uniform_(param, a=math.sqrt(5)) is param
    assert param.is_leaf and param.requires_grad and param._node is None
    assert param.numpy().dtype == np.float64 and param._backend is backend
    assert init.constant_(param, 2.0).numpy().dtype == np.float64


def test_an_explicit_generator_gives_reproducible_values(backend):
    first = init.normal_(empty(3, 3), generator=np.random.default_rng(9)).numpy()
    second = init.normal_(empty(3, 3), generator=np.random.default_rng(9)).numpy()
    np.testing.assert_array_equal(first, second)


def test_bad_arguments_are_clear_errors(backend):
    with pytest.raises(ValueError, match=r"xavier_uniform_: fan in and fan out need a tensor of at least 2 "
                                         r"dimensions, got shape \(5,\)"):
        init.xavier_uniform_(empty(5))
    with pytest.raises(ValueError, match="kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal_(empty(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="uniform_: needs a <= b, got a=1.0, b=0.0"):
        init.uniform_(empty(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="normal_: std must be >= 0, got -1.0"):
        init.normal_(empty(3), 0.0, -1.0)
    with pytest.raises(TypeError, match="anygrad.nn.init.zeros_: expected an anygrad Tensor, got ndarray"):
        init.zeros_(np.zeros(3))
