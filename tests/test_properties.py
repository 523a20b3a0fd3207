"""Property tests: for random broadcast-compatible shapes, the gradients of the broadcasting
ops come back in each input's shape and equal PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import anygrad
from anygrad.engine import sum_to

# The backend fixture only selects the default backend, so sharing it across examples is safe.
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEEDS = st.integers(0, 2**32 - 1)

# name -> (anygrad function, torch function, value domains of the inputs)
BINARY = {
    "add": (lambda x, y: x + y, lambda torch, x, y: x + y, ("real", "real")),
    "sub": (lambda x, y: x - y, lambda torch, x, y: x - y, ("real", "real")),
    "mul": (lambda x, y: x * y, lambda torch, x, y: x * y, ("real", "real")),
    "div": (lambda x, y: x / y, lambda torch, x, y: x / y, ("real", "positive")),
    # grid and offgrid values never tie, so the gradient is unambiguous
    "maximum": (anygrad.maximum, lambda torch, x, y: torch.maximum(x, y), ("grid", "offgrid")),
}


def draw_values(rng: np.random.Generator, shape: tuple[int, ...], domain: str) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "grid":
        return rng.integers(-8, 9, size=shape) * 0.25
    if domain == "offgrid":
        return rng.integers(-8, 8, size=shape) * 0.25 + 0.125
    return rng.uniform(-2.0, 2.0, size=shape)


def check_gradients_match_torch(torch, ours, theirs, host_inputs, requires_grad):
    inputs = [anygrad.tensor(v, dtype=v.dtype.name, requires_grad=g) for v, g in zip(host_inputs, requires_grad,
                                                                                          strict=True)]
    torch_inputs = [torch.tensor(v, requires_grad=g) for v, g in zip(host_inputs, requires_grad, strict=True)]
    out = ours(*inputs)
    torch_out = theirs(torch, *torch_inputs)
    assert out.shape == tuple(torch_out.shape)
    cotangent = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(anygrad.tensor(cotangent, dtype="float64"))
    torch_out.backward(torch.tensor(cotangent))
    for x, t, g in zip(inputs, torch_inputs, requires_grad, strict=True):
        if not g:
            continue
        grad = anygrad.to_numpy(x.grad)
        assert grad.shape == x.shape
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), seed=SEEDS)
def test_binary_op_gradients_reduce_to_the_input_shapes_and_match_torch(backend, torch, name, shapes, seed):
    ours, theirs, domains = BINARY[name]
    rng = np.random.default_rng(seed)
    host = [draw_values(rng, shape, domain) for shape, domain in zip(shapes.input_shapes, domains, strict=True)]
    check_gradients_match_torch(torch, ours, theirs, host, [True, True])


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=SEEDS)
def test_where_gradients_reduce_to_the_input_shapes_and_match_torch(backend, torch, shapes, seed):
    rng = np.random.default_rng(seed)
    condition_shape, x_shape, y_shape = shapes.input_shapes
    host = [rng.integers(0, 2, size=condition_shape).astype(bool), draw_values(rng, x_shape, "real"),
            draw_values(rng, y_shape, "real")]
    check_gradients_match_torch(torch, anygrad.where, lambda torch, c, x, y: torch.where(c, x, y), host,
                                [False, True, True])


@settings(max_examples=50, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3), seed=SEEDS)
def test_sum_to_equals_summing_the_broadcast_axes_away(shapes, seed):
    shape, result_shape = shapes.input_shapes[0], shapes.result_shape
    grad = np.random.default_rng(seed).standard_normal(result_shape)
    # The reference: an input of ``shape`` broadcast to the result gets, per element, the sum
    # of the gradient over every position it was copied to.
    positions = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), result_shape)
    expected = np.bincount(positions.ravel(), weights=grad.ravel(), minlength=int(np.prod(shape))).reshape(shape)
    xp = anygrad.get_backend("numpy").xp
    reduced = sum_to(xp, grad, shape)
    assert reduced.shape == shape
    np.testing.assert_allclose(reduced, expected, rtol=1e-12, atol=1e-12)
