"""Optimizers and learning-rate schedulers against torch.optim, on every backend.

Each comparison trains the same small least-squares problem twice from identical weights:
anygrad (gradients from anygrad's backward) and PyTorch (gradients from torch autograd),
and checks the parameters after 1 and after 100 steps.
"""

from __future__ import annotations

import numpy as np
import pytest

import anygrad
from anygrad import optim
from anygrad.backend import backend_of_array
from anygrad.optim import lr_scheduler

# (anygrad class, torch class name, keyword arguments) for every option combination.
SGD_CASES = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "nesterov": True},
    {"lr": 0.01, "maximize": True},
    {"lr": 0.01, "momentum": 0.5, "dampening": 0.1, "weight_decay": 0.05, "maximize": True},
]
ADAM_CASES = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05, "maximize": True},
]
ADAMW_CASES = [
    {},  # the default weight_decay=1e-2 must match torch's
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "betas": (0.85, 0.95)},
    {"lr": 0.01, "maximize": True},
]
CASES = (
    [pytest.param("SGD", kw, id=f"SGD-{kw}") for kw in SGD_CASES]
    + [pytest.param("Adam", kw, id=f"Adam-{kw}") for kw in ADAM_CASES]
    + [pytest.param("AdamW", kw, id=f"AdamW-{kw}") for kw in ADAMW_CASES]
)
TOLERANCE = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-4, "atol": 2e-5}}


class Problem:
    """Least squares ``mean((x @ w + b - y)**2)`` with the same data for anygrad and torch."""

    def __init__(self, torch, dtype: str, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.torch = torch
        self.dtype = dtype
        self.x = rng.standard_normal((16, 3))
        self.y = rng.standard_normal((16, 2))
        self.w = rng.standard_normal((3, 2))
        self.b = rng.standard_normal(2)

    def anygrad_params(self) -> list[anygrad.Tensor]:
        return [anygrad.tensor(self.w, dtype=self.dtype, requires_grad=True),
                anygrad.tensor(self.b, dtype=self.dtype, requires_grad=True)]

    def torch_params(self) -> list:
        dtype = getattr(self.torch, self.dtype)
        return [self.torch.tensor(self.w, dtype=dtype, requires_grad=True),
                self.torch.tensor(self.b, dtype=dtype, requires_grad=True)]

    def anygrad_step(self, params, optimizer) -> None:
        w, b = params
        x = anygrad.tensor(self.x, dtype=self.dtype)
        y = anygrad.tensor(self.y, dtype=self.dtype)
        optimizer.zero_grad()
        ((x @ w + b - y) ** 2).mean().backward()
        optimizer.step()

    def torch_step(self, params, optimizer) -> None:
        w, b = params
        dtype = getattr(self.torch, self.dtype)
        x = self.torch.tensor(self.x, dtype=dtype)
        y = self.torch.tensor(self.y, dtype=dtype)
        optimizer.zero_grad()
        ((x @ w + b - y) ** 2).mean().backward()
        optimizer.step()


def assert_same_params(ours, theirs, dtype: str) -> None:
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), **TOLERANCE[dtype])
        assert str(mine.numpy().dtype) == dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "options"), CASES)
def test_optimizer_matches_torch_after_1_and_100_steps(backend, torch, name, options, dtype):
    problem = Problem(torch, dtype)
    ours, theirs = problem.anygrad_params(), problem.torch_params()
    optimizer = getattr(optim, name)(ours, **options)
    reference = getattr(torch.optim, name)(theirs, **options)
    for step in range(100):
        problem.anygrad_step(ours, optimizer)
        problem.torch_step(theirs, reference)
        if step == 0:
            assert_same_params(ours, theirs, dtype)
    assert_same_params(ours, theirs, dtype)
    for p in ours:  # updates stay on the parameter's backend and device, outside any graph
        assert backend_of_array(p.data) is backend
        assert p.is_leaf and p.requires_grad


def test_param_groups_with_their_own_hyperparameters_match_torch(backend, torch):
    problem = Problem(torch, "float64")
    (w, b), (tw, tb) = problem.anygrad_params(), problem.torch_params()
    optimizer = optim.SGD([{"params": [w]}, {"params": b, "lr": 0.2, "momentum": 0.5}], lr=0.05, momentum=0.9)
    reference = torch.optim.SGD([{"params": [tw]}, {"params": tb, "lr": 0.2, "momentum": 0.5}], lr=0.05,
                                momentum=0.9)
    assert optimizer.param_groups[0]["lr"] == 0.05 and optimizer.param_groups[1]["lr"] == 0.2
    assert optimizer.param_groups[1]["weight_decay"] == 0.0  # defaults fill what a group leaves out
    for _ in range(30):
        problem.anygrad_step([w, b], optimizer)
        problem.torch_step([tw, tb], reference)
    assert_same_params([w, b], [tw, tb], "float64")


def test_add_param_group_takes_part_in_later_steps(backend, torch):
    problem = Problem(torch, "float64")
    (w, b), (tw, tb) = problem.anygrad_params(), problem.torch_params()
    optimizer, reference = optim.Adam([w], lr=0.01), torch.optim.Adam([tw], lr=0.01)
    problem.anygrad_step([w, b], optimizer)
    problem.torch_step([tw, tb], reference)
    optimizer.add_param_group({"params": [b], "lr": 0.1})
    reference.add_param_group({"params": [tb], "lr": 0.1})
    for _ in range(10):
        problem.anygrad_step([w, b], optimizer)
        problem.torch_step([tw, tb], reference)
    assert_same_params([w, b], [tw, tb], "float64")


def test_zero_grad_sets_none_by_default_and_new_zeros_without_touching_the_old_grad(backend):
    w = anygrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    optimizer = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    optimizer.zero_grad()
    assert w.grad is None

    (w * w).sum().backward()
    old_grad = w.grad
    optimizer.zero_grad(set_to_none=False)
    assert w.grad is not old_grad
    np.testing.assert_array_equal(anygrad.to_numpy(w.grad), np.zeros(3, np.float32))
    assert backend_of_array(w.grad) is backend and w.grad.dtype == w.dtype
    np.testing.assert_array_equal(anygrad.to_numpy(old_grad), [2.0, 4.0, 6.0])
    (w * w).sum().backward()  # accumulates onto the zeros
    np.testing.assert_array_equal(anygrad.to_numpy(w.grad), [2.0, 4.0, 6.0])


def test_parameters_without_a_gradient_are_left_alone(backend):
    w = anygrad.tensor([1.0, 2.0], requires_grad=True)
    unused = anygrad.tensor([5.0], requires_grad=True)
    optimizer = optim.Adam([w, unused], lr=0.1)
    (w * w).sum().backward()
    optimizer.step()
    assert unused.tolist() == [5.0] and unused not in optimizer.state
    assert w.tolist() != [1.0, 2.0]


@pytest.mark.parametrize(("name", "options"), [("SGD", {"momentum": 0.9, "nesterov": True}),
                                               ("SGD", {"momentum": 0.9, "dampening": 0.3}),
                                               ("Adam", {"amsgrad": True}), ("AdamW", {})])
def test_steps_never_write_into_gradient_arrays(backend, name, options):
    # anygrad's .grad arrays may share memory (one array can be the gradient of two tensors),
    # so the momentum buffer must start as a copy, never as the gradient array itself.
    a, b, c = (anygrad.tensor([1.0, -2.0, 3.0], requires_grad=True) for _ in range(3))
    optimizer = getattr(optim, name)([a, b, c], lr=0.1, **options)
    shared = anygrad.tensor([0.25, -1.0, 2.0]).data
    for _ in range(3):
        a.grad = b.grad = shared
        c.grad = anygrad.tensor([0.25, -1.0, 2.0]).data  # a private copy: the reference
        optimizer.step()
        np.testing.assert_array_equal(anygrad.to_numpy(shared), np.array([0.25, -1.0, 2.0], np.float32))
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    np.testing.assert_array_equal(b.numpy(), c.numpy())


def test_updates_are_in_place_on_writeable_arrays_and_new_arrays_on_immutable_ones(backend):
    import array_api_compat

    w = anygrad.tensor([1.0, 2.0], requires_grad=True)
    optimizer = optim.SGD([w], lr=0.5, momentum=0.9)
    before = w.data
    for _ in range(2):
        (w * w).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    assert (w.data is before) == array_api_compat.is_writeable_array(before)
    # step 1: g = 2w = [2, 4] = buf, w = [0, 0]; step 2: g = 0, buf = 0.9 * [2, 4], w = -0.5 * buf
    np.testing.assert_allclose(w.numpy(), [-0.9, -1.8], rtol=1e-6)
    buffer = optimizer.state[w]["momentum_buffer"]
    assert backend_of_array(buffer) is backend and buffer.dtype == w.dtype


def test_read_only_numpy_parameters_are_replaced_not_written():
    host = np.array([1.0, 2.0])
    host.flags.writeable = False
    w = anygrad.tensor(host, requires_grad=True, backend="numpy")
    optimizer = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    optimizer.step()
    assert host.tolist() == [1.0, 2.0]
    np.testing.assert_allclose(w.numpy(), [0.9, 1.9])


def test_step_evaluates_the_closure_with_grad_enabled_and_returns_its_loss(backend):
    w = anygrad.tensor([3.0], requires_grad=True)
    optimizer = optim.SGD([w], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with anygrad.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == 9.0
    assert w.tolist() == [3.0 - 0.25 * 6.0]


def test_training_an_nn_mlp_with_model_parameters_matches_torch(backend, torch):
    nn = anygrad.nn
    model = nn.Sequential(nn.Linear(3, 8, dtype="float64"), nn.Tanh(), nn.Linear(8, 2, dtype="float64"))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    reference.load_state_dict({name: torch.tensor(t.numpy()) for name, t in model.state_dict().items()})
    optimizer = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=0.01, amsgrad=True)
    problem = Problem(torch, "float64")
    x, y = anygrad.tensor(problem.x), anygrad.tensor(problem.y)
    tx, ty = torch.tensor(problem.x), torch.tensor(problem.y)
    for _ in range(20):
        optimizer.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        optimizer.step()
        reference_optimizer.zero_grad()
        ((reference(tx) - ty) ** 2).mean().backward()
        reference_optimizer.step()
    assert_same_params(list(model.parameters()), list(reference.parameters()), "float64")


# --- state dicts -------------------------------------------------------------------------------
STATEFUL = [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
            ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
            ("AdamW", {"lr": 0.01})]


@pytest.mark.parametrize(("name", "options"), STATEFUL)
def test_state_dict_round_trip_continues_exactly_like_an_uninterrupted_run(backend, torch, name, options):
    problem = Problem(torch, "float64")
    uninterrupted = problem.anygrad_params()
    optimizer = getattr(optim, name)(uninterrupted, **options)
    for _ in range(10):
        problem.anygrad_step(uninterrupted, optimizer)

    first = problem.anygrad_params()
    first_optimizer = getattr(optim, name)(first, **options)
    for _ in range(5):
        problem.anygrad_step(first, first_optimizer)
    saved = first_optimizer.state_dict()
    weights = [p.numpy().copy() for p in first]
    for _ in range(5):  # the saved dict is a snapshot: later steps must not change it
        problem.anygrad_step(first, first_optimizer)

    resumed = [anygrad.tensor(weight, requires_grad=True) for weight in weights]
    resumed_optimizer = getattr(optim, name)(resumed, lr=123.0)
    resumed_optimizer.load_state_dict(saved)
    assert resumed_optimizer.param_groups[0]["lr"] == options["lr"]
    for _ in range(5):
        problem.anygrad_step(resumed, resumed_optimizer)
    for mine, reference in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(mine.numpy(), reference.numpy())


@pytest.mark.parametrize(("name", "options"), STATEFUL)
def test_state_dict_has_torchs_layout_and_loads_into_torch(backend, torch, name, options):
    problem = Problem(torch, "float64")
    ours, theirs = problem.anygrad_params(), problem.torch_params()
    optimizer = getattr(optim, name)(ours, **options)
    reference = getattr(torch.optim, name)(theirs, **options)
    for _ in range(3):
        problem.anygrad_step(ours, optimizer)
        problem.torch_step(theirs, reference)
    mine, expected = optimizer.state_dict(), reference.state_dict()
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in expected["param_groups"]]
    shared_keys = set(mine["param_groups"][0]) & set(expected["param_groups"][0])
    assert {"lr", "params", "weight_decay", "maximize"} <= shared_keys
    for key in shared_keys:
        assert mine["param_groups"][0][key] == expected["param_groups"][0][key], key
    assert mine["state"].keys() == expected["state"].keys()
    for index, values in mine["state"].items():
        assert values.keys() == expected["state"][index].keys()
        for key, value in values.items():
            reference_value = expected["state"][index][key]
            if key == "step":
                assert value == int(reference_value.item())
            else:
                np.testing.assert_allclose(value.numpy(), reference_value.numpy(), rtol=1e-10, atol=1e-12)

    # our state, converted to torch tensors, drives torch.optim to the same place
    converted = {"param_groups": mine["param_groups"],
                 "state": {i: {k: v if k == "step" else torch.tensor(v.numpy()) for k, v in s.items()}
                           for i, s in mine["state"].items()}}
    reference.load_state_dict(converted)
    for _ in range(5):
        problem.anygrad_step(ours, optimizer)
        problem.torch_step(theirs, reference)
    assert_same_params(ours, theirs, "float64")


@pytest.mark.parametrize(("name", "options"), STATEFUL)
def test_load_state_dict_accepts_torchs_state_and_continues_like_torch(backend, torch, name, options):
    problem = Problem(torch, "float64")
    theirs = problem.torch_params()
    reference = getattr(torch.optim, name)(theirs, **options)
    for _ in range(4):
        problem.torch_step(theirs, reference)
    ours = [anygrad.tensor(p.detach().numpy(), requires_grad=True) for p in theirs]
    optimizer = getattr(optim, name)(ours)
    optimizer.load_state_dict(reference.state_dict())
    state = optimizer.state[ours[0]]
    assert all(backend_of_array(v) is backend for v in state.values() if not isinstance(v, int))
    for _ in range(6):
        problem.anygrad_step(ours, optimizer)
        problem.torch_step(theirs, reference)
    assert_same_params(ours, theirs, "float64")


def test_load_state_dict_rejects_a_state_of_another_shape(backend):
    w, b = anygrad.zeros(3, requires_grad=True), anygrad.zeros(2, requires_grad=True)
    optimizer = optim.SGD([w, b], momentum=0.9)
    with pytest.raises(ValueError, match="loaded state has 2 parameter groups, this optimizer has 1"):
        optimizer.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(ValueError, match="loaded group 0 has 1 parameters, this optimizer's group 0 has 2"):
        optimizer.load_state_dict({"state": {}, "param_groups": [{"params": [0]}]})
    groups = optimizer.state_dict()["param_groups"]
    with pytest.raises(ValueError, match=r"state\[1\]\['momentum_buffer'\] has shape \(3,\), but parameter 1"):
        optimizer.load_state_dict({"state": {1: {"momentum_buffer": np.zeros(3, np.float32)}},
                                   "param_groups": groups})
    with pytest.raises(ValueError, match="entry for parameter 7, which no parameter group lists"):
        optimizer.load_state_dict({"state": {7: {}}, "param_groups": groups})
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        optimizer.load_state_dict({"weights": 1})
    assert not optimizer.state  # a failed load changes nothing


# --- bad arguments --------------------------------------------------------------------------
def test_bad_parameters_raise_clear_errors(backend):
    w = anygrad.zeros(3, requires_grad=True)
    with pytest.raises(TypeError, match=r"SGD: params must be an iterable of Tensors.*not a Tensor"):
        optim.SGD(w)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="can only optimize Tensors, but param 1 is a list"):
        optim.SGD([w, [1.0]])
    with pytest.raises(ValueError, match=r"param 1 \(shape \(3,\)\) appears twice in one param group"):
        optim.Adam([w, w])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.Adam([{"params": [w]}, {"params": [w]}])
    with pytest.raises(ValueError, match="param 0 is not a leaf tensor"):
        optim.SGD([w * 2])
    with pytest.raises(TypeError, match="params must be an ordered sequence"):
        optim.SGD({w})
    with pytest.raises(ValueError, match="a param group needs a 'params' entry"):
        optim.SGD([{"lr": 0.1}])


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: invalid learning rate \(lr\) -0.1; it must be >= 0.0"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}]), "invalid learning rate"),
    (lambda p: optim.SGD(p, momentum=-0.5), "invalid momentum -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1.0), "invalid weight_decay"),
    (lambda p: optim.SGD(p, nesterov=True), "nesterov=True needs momentum > 0 and dampening = 0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "nesterov=True needs"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"invalid beta1 \(betas\[0\]\) 1.0; it must be in \[0.0, 1.0\)"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"invalid beta2"),
    (lambda p: optim.Adam(p, eps=-1e-8), r"invalid epsilon"),
    (lambda p: optim.AdamW(p, lr=float("nan")), "invalid learning rate"),
])
def test_invalid_hyperparameters_raise_value_errors(backend, make, message):
    with pytest.raises(ValueError, match=message):
        make([anygrad.zeros(2, requires_grad=True)])


def test_non_numeric_hyperparameters_raise_type_errors(backend):
    w = anygrad.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"learning rate \(lr\) must be a real number, got str '0.1'"):
        optim.SGD([w], lr="0.1")
    with pytest.raises(TypeError, match="betas must be a pair of numbers"):
        optim.Adam([w], betas=0.9)


# --- learning-rate schedulers ----------------------------------------------------------------
SCHEDULERS = [
    pytest.param("StepLR", {"step_size": 7, "gamma": 0.5}, id="StepLR"),
    pytest.param("MultiStepLR", {"milestones": [5, 12, 12, 30], "gamma": 0.3}, id="MultiStepLR"),
    pytest.param("ExponentialLR", {"gamma": 0.9}, id="ExponentialLR"),
    pytest.param("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}, id="CosineAnnealingLR"),
    pytest.param("CosineAnnealingLR", {"T_max": 7}, id="CosineAnnealingLR-eta0"),
]


def _two_group_optimizers(torch):
    ours = optim.SGD([{"params": [anygrad.zeros(2, requires_grad=True)]},
                      {"params": [anygrad.zeros(2, requires_grad=True)], "lr": 0.03}], lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)]},
                              {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.03}], lr=0.1, momentum=0.9)
    return ours, theirs


@pytest.mark.parametrize(("name", "options"), SCHEDULERS)
def test_scheduler_lr_sequence_equals_torchs_for_45_steps(torch, name, options):
    ours, theirs = _two_group_optimizers(torch)
    scheduler = getattr(lr_scheduler, name)(ours, **options)
    reference = getattr(torch.optim.lr_scheduler, name)(theirs, **options)
    assert scheduler.get_last_lr() == reference.get_last_lr() == [0.1, 0.03]
    for _ in range(45):
        ours.step()
        theirs.step()
        scheduler.step()
        reference.step()
        assert scheduler.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-13, abs=0)
        assert [g["lr"] for g in ours.param_groups] == scheduler.get_last_lr()
    assert scheduler.last_epoch == reference.last_epoch == 45
    assert scheduler.base_lrs == reference.base_lrs == [0.1, 0.03]


@pytest.mark.parametrize(("name", "options"), SCHEDULERS)
def test_scheduler_state_dict_resumes_the_same_sequence(torch, name, options):
    ours, _ = _two_group_optimizers(torch)
    scheduler = getattr(lr_scheduler, name)(ours, **options)
    for _ in range(9):
        scheduler.step()
    saved_optimizer, saved_scheduler = ours.state_dict(), scheduler.state_dict()
    expected = []
    for _ in range(20):
        scheduler.step()
        expected.append(scheduler.get_last_lr())

    resumed, _ = _two_group_optimizers(torch)
    resumed.load_state_dict(saved_optimizer)
    resumed_scheduler = getattr(lr_scheduler, name)(resumed, **options)
    resumed_scheduler.load_state_dict(saved_scheduler)
    got = []
    for _ in range(20):
        resumed_scheduler.step()
        got.append(resumed_scheduler.get_last_lr())
    assert got == expected


def test_scheduled_sgd_trains_like_torch(backend, torch):
    problem = Problem(torch, "float64")
    ours, theirs = problem.anygrad_params(), problem.torch_params()
    optimizer = optim.SGD(ours, lr=0.1, momentum=0.9)
    reference = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)
    reference_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=20)
    for _ in range(30):
        problem.anygrad_step(ours, optimizer)
        problem.torch_step(theirs, reference)
        scheduler.step()
        reference_scheduler.step()
    assert_same_params(ours, theirs, "float64")


def test_scheduler_bad_arguments_raise_clear_errors(torch):
    ours, theirs = _two_group_optimizers(torch)
    with pytest.raises(TypeError, match="StepLR: expected an anygrad optimizer, got SGD"):
        lr_scheduler.StepLR(theirs, step_size=3)
    with pytest.raises(ValueError, match="step_size must be a positive int, got 0"):
        lr_scheduler.StepLR(ours, step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        lr_scheduler.CosineAnnealingLR(ours, T_max=0)
    with pytest.raises(KeyError, match="resuming with last_epoch=4 needs 'initial_lr'"):
        lr_scheduler.ExponentialLR(ours, gamma=0.5, last_epoch=4)
    scheduler = lr_scheduler.ExponentialLR(ours, gamma=0.5)
    with pytest.raises(ValueError, match=r"unexpected keys \['step_size'\]"):
        scheduler.load_state_dict({"step_size": 3})
