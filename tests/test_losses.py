"""Losses give torch.nn's numbers: the forward in float32, gradients in float64, for every
reduction, weight, ignore_index and label_smoothing variant; stay finite at extreme logits;
run as one fused op; and reject bad targets with errors naming the loss, shapes and dtypes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import anygrad
import anygrad.nn.functional as F
from anygrad import nn, ops

RNG_SEED = 7


def _logits(*shape: int) -> np.ndarray:
    return np.random.default_rng(RNG_SEED).standard_normal(shape) * 2.0


def _probabilities(*shape: int, axis: int = 1) -> np.ndarray:
    e = np.exp(np.random.default_rng(RNG_SEED + 1).standard_normal(shape))
    return e / e.sum(axis=axis, keepdims=True)


def _uniform(*shape: int, low: float = 0.05, high: float = 0.95, seed: int = RNG_SEED + 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _classes(*shape: int, classes: int, seed: int = RNG_SEED + 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=shape)


@dataclass
class LossCase:
    """``call(lib, **tensors)``: the same expression for anygrad and torch, where ``lib`` has
    ``.F`` (functional) and ``.nn``. Float arrays in ``inputs`` get gradients; ``constants``
    (class weights, pos_weight) do not."""

    id: str
    call: Any
    inputs: dict[str, np.ndarray]
    constants: dict[str, np.ndarray] = field(default_factory=dict)


WEIGHT4 = np.array([0.5, 1.0, 2.0, 1.5])
TARGETS_WITH_IGNORED = np.array([0, 3, -100, 1, 2, -100])
TARGETS = np.array([0, 3, 3, 1, 2, 1])

CASES = [
    # cross-entropy with class indices
    *[
        LossCase(f"cross_entropy-{reduction}", lambda lib, x, t, r=reduction: lib.F.cross_entropy(x, t, reduction=r),
                 {"x": _logits(6, 4), "t": TARGETS})
        for reduction in ("mean", "sum", "none")
    ],
    *[
        LossCase(f"cross_entropy-weight-ignored-{reduction}",
                 lambda lib, x, t, w, r=reduction: lib.F.cross_entropy(x, t, w, reduction=r),
                 {"x": _logits(6, 4), "t": TARGETS_WITH_IGNORED}, {"w": WEIGHT4})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("cross_entropy-ignore_index-in-range",
             lambda lib, x, t, w: lib.F.cross_entropy(x, t, w, ignore_index=3),
             {"x": _logits(6, 4), "t": TARGETS}, {"w": WEIGHT4}),
    *[
        LossCase(f"cross_entropy-label_smoothing-{reduction}",
                 lambda lib, x, t, r=reduction: lib.F.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
                 {"x": _logits(6, 4), "t": TARGETS_WITH_IGNORED})
        for reduction in ("mean", "sum", "none")
    ],
    *[
        LossCase(f"cross_entropy-label_smoothing-weight-{reduction}",
                 lambda lib, x, t, w, r=reduction: lib.F.cross_entropy(x, t, w, reduction=r, label_smoothing=0.3),
                 {"x": _logits(6, 4), "t": TARGETS_WITH_IGNORED}, {"w": WEIGHT4})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("cross_entropy-batch1", lambda lib, x, t: lib.F.cross_entropy(x, t),
             {"x": _logits(1, 4), "t": np.array([2])}),
    LossCase("cross_entropy-unbatched", lambda lib, x, t: lib.F.cross_entropy(x, t),
             {"x": _logits(5), "t": np.array(3)}),
    LossCase("cross_entropy-unbatched-none", lambda lib, x, t: lib.F.cross_entropy(x, t, reduction="none"),
             {"x": _logits(5), "t": np.array(3)}),
    *[
        LossCase(f"cross_entropy-spatial-{reduction}",
                 lambda lib, x, t, w, r=reduction: lib.F.cross_entropy(x, t, w, reduction=r, label_smoothing=0.1),
                 {"x": _logits(2, 4, 3, 2), "t": _classes(2, 3, 2, classes=4)}, {"w": WEIGHT4})
        for reduction in ("mean", "none")
    ],
    # cross-entropy with class probabilities (the target gets a gradient too)
    *[
        LossCase(f"cross_entropy-probabilities-{reduction}",
                 lambda lib, x, p, r=reduction: lib.F.cross_entropy(x, p, reduction=r),
                 {"x": _logits(5, 4), "p": _probabilities(5, 4)})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("cross_entropy-probabilities-weight-label_smoothing",
             lambda lib, x, p, w: lib.F.cross_entropy(x, p, w, label_smoothing=0.25),
             {"x": _logits(5, 4), "p": _probabilities(5, 4)}, {"w": WEIGHT4}),
    LossCase("cross_entropy-probabilities-spatial-none",
             lambda lib, x, p: lib.F.cross_entropy(x, p, reduction="none"),
             {"x": _logits(2, 4, 3), "p": _probabilities(2, 4, 3)}),
    LossCase("CrossEntropyLoss-module",
             lambda lib, x, t, w: lib.nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1,
                                                          reduction="sum")(x, t),
             {"x": _logits(6, 4), "t": TARGETS}, {"w": WEIGHT4}),
    # negative log-likelihood
    *[
        LossCase(f"nll_loss-weight-ignored-{reduction}",
                 lambda lib, x, t, w, r=reduction: lib.F.nll_loss(lib.F.log_softmax(x, dim=1), t, w, reduction=r),
                 {"x": _logits(6, 4), "t": TARGETS_WITH_IGNORED}, {"w": WEIGHT4})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("nll_loss-raw-inputs", lambda lib, x, t: lib.F.nll_loss(x, t), {"x": _logits(6, 4), "t": TARGETS}),
    LossCase("nll_loss-spatial-none", lambda lib, x, t: lib.F.nll_loss(x, t, reduction="none"),
             {"x": _logits(2, 4, 3), "t": _classes(2, 3, classes=4)}),
    LossCase("NLLLoss-module", lambda lib, x, t, w: lib.nn.NLLLoss(weight=w, ignore_index=0)(x, t),
             {"x": _logits(6, 4), "t": TARGETS}, {"w": WEIGHT4}),
    # regression
    *[
        LossCase(f"mse_loss-{reduction}", lambda lib, x, y, r=reduction: lib.F.mse_loss(x, y, reduction=r),
                 {"x": _logits(4, 3), "y": _logits(4, 3)[::-1].copy()})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("mse_loss-0d", lambda lib, x, y: lib.F.mse_loss(x, y), {"x": np.array(0.7), "y": np.array(-0.2)}),
    LossCase("MSELoss-module", lambda lib, x, y: lib.nn.MSELoss(reduction="sum")(x, y),
             {"x": _logits(5), "y": _uniform(5)}),
    *[
        LossCase(f"l1_loss-{reduction}", lambda lib, x, y, r=reduction: lib.F.l1_loss(x, y, reduction=r),
                 {"x": _logits(4, 3), "y": _uniform(4, 3)})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("L1Loss-module", lambda lib, x, y: lib.nn.L1Loss()(x, y), {"x": _logits(5), "y": _uniform(5)}),
    # binary cross-entropy
    *[
        LossCase(f"binary_cross_entropy-{reduction}",
                 lambda lib, p, y, r=reduction: lib.F.binary_cross_entropy(p, y, reduction=r),
                 {"p": _uniform(4, 3), "y": _uniform(4, 3, low=0.0, high=1.0, seed=3)})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("BCELoss-module-weight", lambda lib, p, y, w: lib.nn.BCELoss(weight=w)(p, y),
             {"p": _uniform(4, 3), "y": _uniform(4, 3, low=0.0, high=1.0, seed=3)}, {"w": np.array([0.5, 2.0, 1.0])}),
    *[
        LossCase(f"binary_cross_entropy_with_logits-{reduction}",
                 lambda lib, x, y, r=reduction: lib.F.binary_cross_entropy_with_logits(x, y, reduction=r),
                 {"x": _logits(4, 3), "y": _uniform(4, 3, low=0.0, high=1.0, seed=3)})
        for reduction in ("mean", "sum", "none")
    ],
    *[
        LossCase(f"binary_cross_entropy_with_logits-weight-pos_weight-{reduction}",
                 lambda lib, x, y, w, pw, r=reduction: lib.F.binary_cross_entropy_with_logits(
                     x, y, w, reduction=r, pos_weight=pw),
                 {"x": _logits(4, 3), "y": _uniform(4, 3, low=0.0, high=1.0, seed=3)},
                 {"w": _uniform(4, 1, seed=5), "pw": np.array([3.0, 0.5, 1.0])})
        for reduction in ("mean", "sum", "none")
    ],
    LossCase("BCEWithLogitsLoss-module", lambda lib, x, y, pw: lib.nn.BCEWithLogitsLoss(pos_weight=pw)(x, y),
             {"x": _logits(4, 3), "y": (_uniform(4, 3, seed=3) > 0.5).astype(np.float64)},
             {"pw": np.array([3.0, 0.5, 1.0])}),
]


def _is_float(value: np.ndarray) -> bool:
    return value.dtype.kind == "f"


def run_anygrad(case: LossCase, dtype: str):
    tensors = {name: anygrad.tensor(value, dtype=dtype, requires_grad=True) if _is_float(value)
               else anygrad.tensor(value) for name, value in case.inputs.items()}
    tensors |= {name: anygrad.tensor(value, dtype=dtype) for name, value in case.constants.items()}
    return case.call(SimpleNamespace(F=F, nn=nn), **tensors), tensors


def run_torch(torch, case: LossCase, dtype: str):
    tensors = {name: torch.tensor(value, dtype=getattr(torch, dtype), requires_grad=True) if _is_float(value)
               else torch.tensor(value) for name, value in case.inputs.items()}
    tensors |= {name: torch.tensor(value, dtype=getattr(torch, dtype)) for name, value in case.constants.items()}
    return case.call(SimpleNamespace(F=torch.nn.functional, nn=torch.nn), **tensors), tensors


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_loss_forward_matches_torch_in_float32(backend, torch, case):
    loss, _ = run_anygrad(case, "float32")
    expected, _ = run_torch(torch, case, "float32")
    assert loss.backend == backend.name and loss.shape == tuple(expected.shape)
    actual = anygrad.to_numpy(loss)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_loss_gradients_match_torch_in_float64(backend, torch, case):
    loss, tensors = run_anygrad(case, "float64")
    expected, torch_tensors = run_torch(torch, case, "float64")
    cotangent = np.random.default_rng(1).standard_normal(tuple(expected.shape))
    loss.backward(anygrad.tensor(cotangent, dtype="float64"))
    expected.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(anygrad.to_numpy(loss), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    checked = 0
    for name, value in case.inputs.items():
        if _is_float(value):
            np.testing.assert_allclose(anygrad.to_numpy(tensors[name].grad), torch_tensors[name].grad.numpy(),
                                       rtol=1e-10, atol=1e-12, err_msg=f"gradient of {name}")
            checked += 1
    assert checked >= 1


def test_weighted_mean_divides_by_the_summed_weights_of_counted_targets(backend):
    logits = anygrad.tensor(_logits(6, 4), dtype="float64")
    target = anygrad.tensor(TARGETS_WITH_IGNORED)
    weight = anygrad.tensor(WEIGHT4, dtype="float64")
    per_row = anygrad.to_numpy(F.cross_entropy(logits, target, weight, reduction="none"))
    counted = TARGETS_WITH_IGNORED != -100
    assert np.all(per_row[~counted] == 0.0)
    expected = per_row.sum() / WEIGHT4[TARGETS_WITH_IGNORED[counted]].sum()
    assert float(F.cross_entropy(logits, target, weight)) == pytest.approx(expected, rel=1e-12)


def test_one_hot_probability_targets_give_the_class_index_loss(backend):
    logits = anygrad.tensor(_logits(6, 4), dtype="float64")
    indices = anygrad.tensor(TARGETS)
    one_hot = F.one_hot(indices, num_classes=4).astype("float64")
    assert float(F.cross_entropy(logits, one_hot)) == pytest.approx(float(F.cross_entropy(logits, indices)), rel=1e-12)


# --- one fused op each -----------------------------------------------------------------------------
@pytest.mark.parametrize(("loss_fn", "target", "op"), [
    (F.cross_entropy, TARGETS, ops.cross_entropy),
    (F.mse_loss, _logits(6, 4), ops.mse_loss),
])
def test_cross_entropy_and_mse_are_one_op_on_the_logits(backend, loss_fn, target, op):
    logits = anygrad.tensor(_logits(6, 4), requires_grad=True)
    loss = loss_fn(logits, anygrad.tensor(target, dtype=None if target.dtype.kind == "i" else "float32"))
    assert loss._node.op is op
    assert loss._node.inputs[0] is logits


# --- numerics at the extremes -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_of_logits_of_1e4_is_finite_and_matches_torch(backend, torch, dtype, label_smoothing):
    values = [[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4 - 2.0], [0.0, 0.0, -1e4]]
    target = [1, 2, 2]
    x = anygrad.tensor(values, dtype=dtype, requires_grad=True)
    loss = F.cross_entropy(x, anygrad.tensor(target), label_smoothing=label_smoothing)
    loss.backward()
    t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(target), label_smoothing=label_smoothing)
    expected.backward()
    assert np.isfinite(float(loss)) and np.all(np.isfinite(anygrad.to_numpy(x.grad)))
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(anygrad.to_numpy(x.grad), t.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_of_1e4_is_finite_and_matches_torch(backend, torch, dtype):
    values, targets = [1e4, -1e4, 1e4, -1e4, 0.0], [0.0, 1.0, 1.0, 0.0, 0.5]
    x = anygrad.tensor(values, dtype=dtype, requires_grad=True)
    y = anygrad.tensor(targets, dtype=dtype, requires_grad=True)
    pos_weight = anygrad.tensor([2.0], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="sum", pos_weight=pos_weight)
    loss.backward()
    tx = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
    ty = torch.tensor(targets, dtype=getattr(torch, dtype), requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        tx, ty, reduction="sum", pos_weight=torch.tensor([2.0], dtype=tx.dtype))
    expected.backward()
    assert np.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(anygrad.to_numpy(x.grad), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(anygrad.to_numpy(y.grad), ty.grad.numpy(), rtol=1e-6)


def test_bce_clamps_the_log_at_minus_100_like_torch(backend, torch):
    probabilities, targets = [0.0, 1.0, 0.0, 1.0, 0.3], [1.0, 0.0, 0.0, 1.0, 0.6]
    p = anygrad.tensor(probabilities, dtype="float64", requires_grad=True)
    loss = F.binary_cross_entropy(p, anygrad.tensor(targets, dtype="float64"), reduction="none")
    loss.sum().backward()
    tp = torch.tensor(probabilities, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(targets, dtype=torch.float64),
                                                        reduction="none")
    expected.sum().backward()
    np.testing.assert_allclose(anygrad.to_numpy(loss), expected.detach().numpy(), rtol=1e-12)
    assert anygrad.to_numpy(loss)[0] == 100.0
    np.testing.assert_allclose(anygrad.to_numpy(p.grad), tp.grad.numpy(), rtol=1e-12)


# --- modules ---------------------------------------------------------------------------------------
def test_loss_modules_keep_class_weights_as_buffers_like_torch(backend, torch):
    weight = anygrad.tensor(WEIGHT4)
    loss = nn.CrossEntropyLoss(weight=weight)
    reference = torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT4))
    assert list(loss.state_dict()) == list(reference.state_dict()) == ["weight"]
    assert list(loss.parameters()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=weight[:1]).state_dict()) == ["pos_weight"]
    assert repr(loss) == repr(reference) == "CrossEntropyLoss()"


def test_loss_module_weights_move_with_the_module(backend):
    loss = nn.NLLLoss(weight=anygrad.tensor(WEIGHT4, backend="numpy"))
    loss.to(backend.name, device=backend.device)
    assert loss.weight._backend is backend
    logits = anygrad.tensor(_logits(6, 4))
    assert np.isfinite(float(loss(logits, anygrad.tensor(TARGETS))))


# --- errors -----------------------------------------------------------------------------------------
def test_float_targets_where_class_indices_are_needed_are_rejected(backend):
    logits = anygrad.tensor(_logits(6, 4))
    with pytest.raises(TypeError, match=r"cross_entropy: target of shape \(6,\) must hold class indices "
                                        r"\(an integer dtype\), got .*float32"):
        F.cross_entropy(logits, anygrad.tensor([0.0, 1.0, 2.0, 3.0, 0.0, 1.0]))
    with pytest.raises(TypeError, match=r"nll_loss: target of shape \(6,\) must hold class indices"):
        F.nll_loss(logits, anygrad.tensor(TARGETS).astype("float32"))


def test_integer_targets_of_the_logits_shape_are_read_as_probabilities_and_rejected(backend):
    logits = anygrad.tensor(_logits(6, 4))
    with pytest.raises(TypeError, match=r"cross_entropy: target has the input's shape \(6, 4\), so it is read as "
                                        r"class probabilities and needs a float dtype, got .*int64"):
        F.cross_entropy(logits, F.one_hot(anygrad.tensor(TARGETS), 4))


@pytest.mark.parametrize("target_shape", [(5,), (6, 1), (6, 2)])
def test_class_index_targets_of_the_wrong_shape_are_rejected(backend, target_shape):
    logits = anygrad.tensor(_logits(6, 4))
    target = anygrad.tensor(np.zeros(target_shape, dtype=np.int64))
    with pytest.raises(ValueError, match=rf"cross_entropy: target of shape {re_shape(target_shape)} and dtype "
                                         rf".*int64 does not fit input of shape \(6, 4\): class indices need "
                                         rf"shape \(6,\)"):
        F.cross_entropy(logits, target)


def re_shape(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize(("targets", "bad"), [([0, 4, 1], "[4]"), ([0, -1, 1], "[-1]"), ([7, 0, -3], "[-3, 7]")])
def test_class_indices_out_of_range_raise_index_errors(backend, targets, bad):
    if not backend.is_host:
        pytest.skip("checked only for host arrays: reading a device flag every step would sync the GPU")
    logits = anygrad.tensor(_logits(3, 4))
    expected = rf"cross_entropy: class index out of range: targets must be in \[0, 4\) or ignore_index=-100, " \
               rf"got {re.escape(bad)}"
    with pytest.raises(IndexError, match=expected):
        F.cross_entropy(logits, anygrad.tensor(targets))
    with pytest.raises(IndexError, match="nll_loss: class index out of range"):
        F.nll_loss(logits, anygrad.tensor(targets))


def test_device_targets_are_not_read_back_to_check_their_range(backend, monkeypatch):
    if backend.is_host:
        pytest.skip("host targets are checked")
    logits = anygrad.tensor(_logits(3, 4))
    targets = anygrad.tensor([0, 1, 2])
    def no_device_reads(*args):
        pytest.fail("cross_entropy read a device value back to the host")

    monkeypatch.setattr(type(backend), "to_host", no_device_reads)
    monkeypatch.setattr(type(targets.data), "__bool__", no_device_reads)
    F.cross_entropy(logits, targets)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"weight": [0.5, 1.0, 2.0, 1.5]}],
                         ids=["plain", "smoothing", "weights"])
def test_the_op_without_ignored_rows_gives_the_general_path_s_values_bit_for_bit(backend, reduction, options):
    """ignore_index=None (every target known to be a class) skips looking for ignored rows."""
    logits = _logits(6, 4)
    weight = options.pop("weight", None)
    weight = None if weight is None else anygrad.tensor(np.array(weight, logits.dtype))
    results = []
    for ignore_index in (-100, None):
        x = anygrad.tensor(logits, requires_grad=True)
        loss = ops.cross_entropy(x, anygrad.tensor(_classes(6, classes=4)), weight, ignore_index=ignore_index,
                                 reduction=reduction, **options)
        loss.sum().backward()
        results.append((loss.numpy(), x.grad))
    (loss, grad), (fast_loss, fast_grad) = results
    assert np.array_equal(loss, fast_loss)
    assert np.array_equal(anygrad.to_numpy(grad), anygrad.to_numpy(fast_grad))


def test_ignore_index_is_not_out_of_range(backend):
    logits = anygrad.tensor(_logits(3, 4))
    assert np.isfinite(float(F.cross_entropy(logits, anygrad.tensor([0, -5, 1]), ignore_index=-5)))


@pytest.mark.parametrize("loss_fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy,
                                     F.binary_cross_entropy_with_logits])
def test_elementwise_losses_reject_targets_of_another_shape(backend, loss_fn):
    x = anygrad.tensor(_uniform(4, 1))
    with pytest.raises(ValueError, match=rf"{loss_fn.__name__}: target shape \(4,\) differs from input shape "
                                         r"\(4, 1\)"):
        loss_fn(x, anygrad.tensor(_uniform(4)))


@pytest.mark.parametrize("loss_fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy,
                                     F.binary_cross_entropy_with_logits])
def test_elementwise_losses_reject_integer_targets(backend, loss_fn):
    with pytest.raises(TypeError, match=rf"{loss_fn.__name__}: target must have a floating-point dtype, got "
                                        r".*int64"):
        loss_fn(anygrad.tensor(_uniform(3)), anygrad.tensor([0, 1, 1]))


def test_bad_reductions_smoothing_weights_and_non_tensors_are_rejected(backend):
    logits, target = anygrad.tensor(_logits(6, 4)), anygrad.tensor(TARGETS)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(logits, target, reduction="avg")
    with pytest.raises(ValueError, match="MSELoss: reduction must be 'mean', 'sum' or 'none', got 'average'"):
        nn.MSELoss(reduction="average")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(logits, target, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(4,\), one per class, got \(3,\)"):
        F.cross_entropy(logits, target, anygrad.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="mse_loss: target must be an anygrad Tensor, got ndarray"):
        F.mse_loss(logits, _logits(6, 4))
    with pytest.raises(ValueError, match="ignore_index is not supported with class-probability targets"):
        F.cross_entropy(logits, anygrad.tensor(_probabilities(6, 4)), ignore_index=0)
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast to the input shape \(6, 4\)"):
        F.binary_cross_entropy_with_logits(logits, logits, pos_weight=anygrad.tensor([1.0, 2.0]))


def test_losses_refuse_targets_on_another_backend(backend):
    other = "torch" if backend.name != "torch" else "numpy"
    logits = anygrad.tensor(_logits(6, 4))
    with pytest.raises(ValueError, match=rf"anygrad.cross_entropy: inputs are on different backends or devices: "
                                         rf"{backend.label} and {other}"):
        F.cross_entropy(logits, anygrad.tensor(TARGETS, backend=other))
