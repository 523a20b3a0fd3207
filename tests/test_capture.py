"""anygrad.capture: a replayed step computes exactly what the eager step computes, and a step
that a replay would get wrong is refused or run eagerly."""

from __future__ import annotations

import numpy as np
import pytest

import anygrad
from anygrad import nn, optim
from anygrad.nn import functional as F


def _model_and_optimizer(backend, **sgd):
    anygrad.manual_seed(0)
    model = nn.MLP(6, [8, 8], 4, backend=backend)
    return model, optim.SGD(model.parameters(), **{"lr": 0.1, **sgd})


def _batches(backend, sizes=(5, 5, 5, 5, 3, 5)):
    rng = np.random.default_rng(1)
    return [(anygrad.tensor(rng.standard_normal((n, 6)).astype(np.float32), backend=backend),
             anygrad.tensor(rng.integers(0, 4, n), backend=backend)) for n in sizes]


def _train_step(model, optimizer):
    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _eager_and_captured(backend, **sgd):
    """Two identical models and optimizers: one stepped eagerly, one through anygrad.capture."""
    eager_model, eager_optimizer = _model_and_optimizer(backend, **sgd)
    model, optimizer = _model_and_optimizer(backend, **sgd)
    captured = anygrad.capture(_train_step(model, optimizer), model, optimizer)
    return (eager_model, eager_optimizer, _train_step(eager_model, eager_optimizer)), (model, optimizer, captured)


def _assert_same_state(eager_model, captured_model):
    for (name, p), q in zip(eager_model.named_parameters(), captured_model.parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy()), name
        assert np.array_equal(anygrad.to_numpy(p.grad), anygrad.to_numpy(q.grad)), name


@pytest.mark.parametrize("sgd", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}],
                         ids=["plain", "momentum", "nesterov-decay"])
def test_replays_give_the_eager_losses_parameters_and_gradients_bit_for_bit(backend, sgd):
    (eager_model, _, eager), (model, _, step) = _eager_and_captured(backend, **sgd)
    for x, y in _batches(backend) * 2:  # includes a smaller batch: a second capture
        expected, loss = eager(x, y), step(x, y)
        assert loss.item() == expected.item()
        assert loss.requires_grad is False and loss.backend == backend.name
    _assert_same_state(eager_model, model)
    assert len(step._replays) >= 2  # the batch of 3 was captured on its own


def test_a_replay_runs_no_python_of_the_step(backend):
    model, optimizer = _model_and_optimizer(backend)
    calls = []
    inner = _train_step(model, optimizer)

    def step(x, y):
        calls.append(1)
        return inner(x, y)

    captured = anygrad.capture(step, model, optimizer)
    batches = _batches(backend, sizes=(5,) * 4)
    for x, y in batches:
        captured(x, y)
    assert len(calls) == 2  # gradients absent, then present: two variants, then replays only


def test_a_changed_learning_rate_or_training_mode_is_captured_again(backend):
    (eager_model, eager_optimizer, eager), (model, optimizer, step) = _eager_and_captured(backend)
    batches = _batches(backend, sizes=(5,) * 3)
    for lr in (0.1, 0.01):
        for opt in (eager_optimizer, optimizer):
            opt.param_groups[0]["lr"] = lr
        for x, y in batches:
            assert step(x, y).item() == eager(x, y).item()
    for m in (eager_model, model):
        m.eval()
    x, y = batches[0]
    assert step(x, y).item() == eager(x, y).item()
    _assert_same_state(eager_model, model)


def test_new_parameter_values_are_read_on_every_replay(backend):
    (eager_model, _, eager), (model, _, step) = _eager_and_captured(backend)
    batches = _batches(backend, sizes=(5,) * 3)
    for x, y in batches:
        eager(x, y), step(x, y)
    weights = {name: anygrad.tensor(np.full(p.shape, 0.05, np.float32), backend=backend)
               for name, p in model.named_parameters()}
    for m in (eager_model, model):
        m.load_state_dict(weights)
    for x, y in batches:
        assert step(x, y).item() == eager(x, y).item()
    _assert_same_state(eager_model, model)


def test_gradients_of_the_arguments_go_to_each_call_s_own_arguments(backend):
    """An adversarial-example step: the input's gradient is what the caller wants back."""
    model, optimizer = _model_and_optimizer(backend)

    def input_gradient(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    step = anygrad.capture(input_gradient, model, optimizer)
    for x, y in _batches(backend, sizes=(5,) * 4):
        x.requires_grad_()
        step(x, y)
        captured = anygrad.to_numpy(x.grad)
        x.grad = None
        input_gradient(x, y)
        assert np.array_equal(captured, anygrad.to_numpy(x.grad))


def test_replayed_expressions_keep_python_s_precedence_for_negative_numbers(backend):
    def step(x):
        return (-2.0) ** x, x * -1

    captured = anygrad.capture(step)
    for values in ([2.0, 3.0], [4.0, 1.0], [0.0, 2.0]):
        x = anygrad.tensor(np.array(values, np.float32), backend=backend)
        (power, negated), (expected_power, expected_negated) = captured(x), step(x)
        assert np.array_equal(power.numpy(), expected_power.numpy())
        assert np.array_equal(negated.numpy(), expected_negated.numpy())
    assert len(captured._replays) == 1


def test_a_value_check_that_fails_on_a_replay_raises_the_eager_error(backend):
    if not backend.is_host:
        pytest.skip("class indices are range-checked on the host only")
    model, optimizer = _model_and_optimizer(backend)
    step = anygrad.capture(_train_step(model, optimizer), model, optimizer)
    x, y = _batches(backend, sizes=(5,))[0]
    for _ in range(3):
        step(x, y)
    before = [p.numpy().copy() for p in model.parameters()]
    bad = anygrad.tensor(np.array([0, 1, 2, 3, 7]), backend=backend)
    with pytest.raises(IndexError, match="class index out of range"):
        step(x, bad)
    for p, old in zip(model.parameters(), before, strict=True):
        assert np.array_equal(p.numpy(), old)


def test_arrays_from_outside_the_arguments_and_state_are_refused(backend):
    model, optimizer = _model_and_optimizer(backend)
    outsider = anygrad.tensor(np.ones((5, 4), np.float32), backend=backend)

    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x) * outsider, y)
        loss.backward()
        optimizer.step()
        return loss

    with pytest.raises(anygrad.CaptureError, match="neither an argument nor part of the state"):
        anygrad.capture(step, model, optimizer)(*_batches(backend, sizes=(5,))[0])


def test_state_left_in_an_optimizer_not_passed_in_is_caught_when_next_used(backend):
    model, optimizer = _model_and_optimizer(backend, momentum=0.9)
    step = anygrad.capture(_train_step(model, optimizer), model)  # the optimizer is missing
    x, y = _batches(backend, sizes=(5,))[0]
    step(x, y)  # creates the momentum buffers, which capture cannot see
    with pytest.raises(anygrad.CaptureError, match="Pass every module and optimizer"):
        step(x, y)


def test_dropout_masks_are_drawn_afresh_on_every_replay_as_the_eager_step_draws_them(backend):
    def train(captured):
        anygrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8, backend=backend), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 4, backend=backend))
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        step = _train_step(model, optimizer)
        step = anygrad.capture(step, model, optimizer) if captured else step
        anygrad.manual_seed(1)
        losses = [step(x, y).item() for x, y in _batches(backend, sizes=(5,) * 6)]
        return model, losses

    (eager_model, eager_losses), (model, losses) = train(captured=False), train(captured=True)
    assert losses == eager_losses and len(set(losses)) == len(losses)
    _assert_same_state(eager_model, model)


def test_a_mask_drawn_on_the_host_is_refused(backend):
    model, optimizer = _model_and_optimizer(backend)
    inner = _train_step(model, optimizer)

    def step(x, y):
        mask = anygrad.tensor(np.random.default_rng().random(x.shape) > 0.5, backend=backend).astype("float32")
        return inner(x * mask, y)

    with pytest.raises(anygrad.CaptureError, match="neither an argument nor part of the state"):
        anygrad.capture(step, model, optimizer)(*_batches(backend, sizes=(5,))[0])


def test_values_read_as_python_numbers_are_refused(backend):
    model, optimizer = _model_and_optimizer(backend)
    inner = _train_step(model, optimizer)

    def step(x, y):
        loss = inner(x, y)
        print(f"loss {loss.item()}")
        return loss

    with pytest.raises(anygrad.CaptureError, match="reads an array.s value in Python"):
        anygrad.capture(step, model, optimizer)(*_batches(backend, sizes=(5,))[0])


@pytest.mark.parametrize("make", [lambda params: optim.Adam(params, lr=0.01),
                                  lambda params: optim.AdamW(params, lr=0.01, amsgrad=True)], ids=["adam", "adamw-amsgrad"])
def test_adam_replays_its_step_count_and_bias_corrections_bit_for_bit(backend, make):
    models = []
    for _ in range(2):
        anygrad.manual_seed(0)
        models.append(nn.MLP(6, [8], 4, backend=backend))
    (eager_model, model), optimizers = models, [make(m.parameters()) for m in models]
    eager, step = _train_step(eager_model, optimizers[0]), anygrad.capture(_train_step(model, optimizers[1]), model,
                                                                           optimizers[1])
    for x, y in _batches(backend, sizes=(5,) * 6):
        assert step(x, y).item() == eager(x, y).item()
    assert len(step._replays) == 1  # the first call made Adam's state; the rest replay one capture
    _assert_same_state(eager_model, model)
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert optimizers[1].state[q]["step"] == optimizers[0].state[p]["step"] == 6
        assert type(optimizers[1].state[q]["step"]) is int


def test_a_failed_capture_leaves_every_tensor_as_it_was(backend):
    model, optimizer = _model_and_optimizer(backend, momentum=0.9)
    eager_model, eager_optimizer = _model_and_optimizer(backend, momentum=0.9)
    inner = _train_step(model, optimizer)
    x, y = _batches(backend, sizes=(5,))[0]

    def failing(x, y):
        inner(x, y)
        raise KeyError("late failure")

    with pytest.raises(KeyError):
        anygrad.capture(failing, model, optimizer)(x, y)
    _train_step(eager_model, eager_optimizer)(x, y)
    _assert_same_state(eager_model, model)  # real arrays again, with the step's effects
    for p, eager_p in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert type(p.data) is type(eager_p.data) and type(p.grad) is type(eager_p.grad)
        assert p._backend is backend
        buffer, eager_buffer = optimizer.state[p]["momentum_buffer"], eager_optimizer.state[eager_p]["momentum_buffer"]
        assert type(buffer) is type(eager_buffer)
        assert np.array_equal(anygrad.to_numpy(buffer), anygrad.to_numpy(eager_buffer))


def test_outputs_may_be_tuples_of_tensors_and_must_be_tensors(backend):
    model, optimizer = _model_and_optimizer(backend)
    inner = _train_step(model, optimizer)

    def both(x, y):
        logits = model(x)
        return inner(x, y), logits

    step = anygrad.capture(both, model, optimizer)
    x, y = _batches(backend, sizes=(5,))[0]
    for _ in range(3):
        loss, logits = step(x, y)
        assert logits.shape == (5, 4) and loss.shape == ()
    with pytest.raises(anygrad.CaptureError, match="must return Tensors"):
        anygrad.capture(lambda x, y: {"loss": inner(x, y)}, model, optimizer)(x, y)
    with pytest.raises(TypeError, match="arguments must be Tensors"):
        step(x, 3)


def test_the_replay_is_straight_line_code_without_unused_loads(backend):
    model, optimizer = _model_and_optimizer(backend)
    step = anygrad.capture(_train_step(model, optimizer), model, optimizer)
    for x, y in _batches(backend, sizes=(5,) * 3):
        step(x, y)
    source = step._replays[0].source
    assert "for " not in source.split("raise _Miss", 1)[1]
    assert ".grad\n" not in source  # gradients cleared by zero_grad are not loaded
