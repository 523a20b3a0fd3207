"""Op tests generated from the op table (anygrad.ops.OPS, described in tests/op_specs.py),
then the kink, tie and overflow conventions that the generated tests step around."""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import SPECS, SPECS_BY_NAME, Arg, Case, OpSpec, draw

import anygrad
from anygrad.ops import OPS

ALL_CASES = [pytest.param(spec, c, id=f"{spec.name}-{c.id}") for spec in SPECS for c in spec.cases]
GRAD_CASES = [p for p in ALL_CASES if p.values[0].differentiable]
NON_GRAD_CASES = [p for p in ALL_CASES if not p.values[0].differentiable]
# float32 (dtype preservation) on one case per op and on every case with a Python scalar,
# where promotion rules could change the dtype: all cases would double the JAX compile time.
FLOAT32_CASES = [p for p in ALL_CASES
                 if p.values[1] is p.values[0].cases[0] or any(arg.is_scalar for arg in p.values[1].args)]

FORWARD_TOLERANCE = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 1e-5}}
GRAD_TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}


# --- helpers --------------------------------------------------------------------------------------
def host_inputs(spec: OpSpec, c: Case) -> list:
    rng = np.random.default_rng(0)
    return [draw(arg, rng, spec.kinks) for arg in c.args]


def anygrad_inputs(host: list, c: Case, dtype: str, requires_grad: bool) -> list:
    """The case's inputs on the default backend: float tensors in ``dtype``, index and
    mask tensors in their own dtype, Python scalars as they are."""
    inputs = []
    for value, arg in zip(host, c.args, strict=True):
        if arg.is_scalar:
            inputs.append(value)
        elif arg.is_float_tensor:
            inputs.append(anygrad.tensor(value, dtype=dtype, requires_grad=requires_grad and arg.requires_grad))
        else:
            inputs.append(anygrad.tensor(value))
    return inputs


def torch_inputs(torch, host: list, c: Case) -> list:
    inputs = []
    for value, arg in zip(host, c.args, strict=True):
        if arg.is_scalar:
            inputs.append(value)
        elif arg.is_float_tensor:
            inputs.append(torch.tensor(value, dtype=torch.float64, requires_grad=arg.requires_grad))
        else:
            inputs.append(torch.tensor(value))
    return inputs


def call(spec: OpSpec, inputs: list, params: dict):
    return (spec.call or OPS[spec.name])(*inputs, **params)


def host_dtype(value) -> np.dtype:
    return np.asarray(value).dtype


# --- the table and the specs agree ------------------------------------------------------------------
def test_every_op_in_the_table_has_a_spec():
    missing = sorted(set(OPS) - set(SPECS_BY_NAME))
    assert not missing, (
        f"ops without a test spec: {missing}. Add an OpSpec for each to SPECS in tests/op_specs.py "
        "(sample inputs, params, a NumPy float64 reference and the PyTorch equivalent; copy a similar op's spec)"
    )


def test_every_spec_describes_an_op_of_the_table():
    assert sorted(set(SPECS_BY_NAME) - set(OPS)) == []


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_spec_agrees_with_the_table_on_differentiability(spec):
    assert OPS[spec.name].differentiable is spec.differentiable


def test_specs_cover_0d_inputs_wherever_the_op_accepts_them():
    without_0d = {spec.name for spec in SPECS if spec.differentiable
                  and not any(arg.shape == () and arg.is_float_tensor for c in spec.cases for arg in c.args)}
    # These need at least one axis by definition.
    assert without_0d <= {"concat", "cross_entropy", "getitem", "linear", "matmul", "nll_loss", "permute",
                          "softmax", "soft_cross_entropy", "log_softmax", "take"}


# --- generated: forward, VJPs vs PyTorch, VJPs vs finite differences -----------------------------------
@pytest.mark.parametrize(("spec", "case", "dtype"),
                         [pytest.param(*p.values, "float64", id=f"{p.id}-float64") for p in ALL_CASES]
                         + [pytest.param(*p.values, "float32", id=f"{p.id}-float32") for p in FLOAT32_CASES])
def test_forward_matches_the_numpy_reference(backend, spec, case, dtype):
    host = host_inputs(spec, case)
    expected = spec.numpy(*host, **case.params)
    # NumPy on inputs of ``dtype`` says which dtype the result must have.
    cast = [value.astype(dtype) if arg.is_float_tensor else value for value, arg in zip(host, case.args, strict=True)]
    expected_dtype = host_dtype(spec.numpy(*cast, **case.params))

    out = call(spec, anygrad_inputs(host, case, dtype, requires_grad=False), case.params)

    assert out.backend == backend.name and out.device == backend.device
    actual = anygrad.to_numpy(out)
    assert actual.dtype == expected_dtype
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, **FORWARD_TOLERANCE[dtype])


@pytest.mark.parametrize(("spec", "case"), GRAD_CASES)
def test_vjps_match_torch_autograd_in_float64(backend, torch, spec, case):
    host = host_inputs(spec, case)
    inputs = anygrad_inputs(host, case, "float64", requires_grad=True)
    torch_in = torch_inputs(torch, host, case)
    out = call(spec, inputs, case.params)
    torch_out = spec.torch(torch, *torch_in, **case.params)
    np.testing.assert_allclose(anygrad.to_numpy(out), torch_out.detach().numpy(), **GRAD_TOLERANCE)

    cotangent = np.random.default_rng(1).standard_normal(tuple(torch_out.shape))
    out.backward(anygrad.tensor(cotangent, dtype=host_dtype(anygrad.to_numpy(out)).name))
    torch_out.backward(torch.tensor(cotangent, dtype=torch_out.dtype))

    checked = 0
    for position, (value, arg) in enumerate(zip(inputs, torch_in, strict=True)):
        if not case.args[position].requires_grad:
            continue
        assert value.grad is not None, f"input {position} got no gradient"
        grad = anygrad.to_numpy(value.grad)
        assert grad.dtype == np.float64 and grad.shape == tuple(value.shape)
        np.testing.assert_allclose(grad, arg.grad.numpy(), **GRAD_TOLERANCE, err_msg=f"input {position}")
        checked += 1
    assert checked > 0


@pytest.mark.parametrize(("spec", "case"), GRAD_CASES)
def test_vjps_match_finite_differences(backend, spec, case):
    inputs = anygrad_inputs(host_inputs(spec, case), case, "float64", requires_grad=True)
    assert anygrad.gradcheck(lambda *xs: call(spec, list(xs), case.params), inputs, **spec.gradcheck)


@pytest.mark.parametrize(("spec", "case"), NON_GRAD_CASES)
def test_non_differentiable_ops_match_torch_and_record_no_graph(backend, torch, spec, case):
    host = host_inputs(spec, case)
    inputs = anygrad_inputs(host, case, "float64", requires_grad=True)
    out = call(spec, inputs, case.params)
    assert out.requires_grad is False and out.is_leaf
    expected = spec.torch(torch, *torch_inputs(torch, host, case), **case.params)
    np.testing.assert_array_equal(anygrad.to_numpy(out), expected.numpy())


# --- kinks and ties: the same conventions as PyTorch -------------------------------------------------
def _grads(fn, *values):
    """Gradients of ``fn(*inputs).sum()`` with respect to float64 tensors of ``values``."""
    inputs = [anygrad.tensor(v, dtype="float64", requires_grad=True) for v in values]
    fn(*inputs).sum().backward()
    return [anygrad.to_numpy(x.grad) for x in inputs]


def _torch_grads(torch, fn, *values):
    inputs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    fn(*inputs).sum().backward()
    return [x.grad.numpy() for x in inputs]


def test_maximum_and_minimum_split_ties_evenly_like_torch(backend, torch):
    x, y = [1.0, 2.0, 3.0], [1.0, 1.0, 4.0]
    for ours, theirs in ((anygrad.maximum, torch.maximum), (anygrad.minimum, torch.minimum)):
        gx, gy = _grads(ours, x, y)
        np.testing.assert_array_equal(gx + gy, [1.0, 1.0, 1.0])
        assert gx[0] == gy[0] == 0.5
        for got, want in zip((gx, gy), _torch_grads(torch, theirs, x, y), strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("axis", "torch_dim"), [(None, (0, 1)), (1, 1), (0, 0)])
def test_max_and_min_with_ties_split_the_gradient_like_torch_amax(backend, torch, axis, torch_dim):
    x = [[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]]
    for name, torch_name in (("max", "amax"), ("min", "amin")):
        (ours,) = _grads(lambda t, name=name: getattr(t, name)(axis=axis), x)
        reduce = getattr(torch, torch_name)
        (theirs,) = _torch_grads(torch, lambda t, reduce=reduce: reduce(t, dim=torch_dim), x)
        np.testing.assert_allclose(ours, theirs, rtol=1e-15)
        # Each reduced slice hands out exactly its gradient of 1, however many elements tie.
        assert ours.sum() == pytest.approx(theirs.sum())


def test_relu_abs_and_leaky_relu_at_zero_have_torchs_subgradients(backend, torch):
    x = [-1.0, 0.0, 1.0]
    functional = torch.nn.functional
    pairs = [
        (anygrad.relu, torch.relu, [0.0, 0.0, 1.0]),
        (anygrad.abs, torch.abs, [-1.0, 0.0, 1.0]),
        (lambda t: anygrad.leaky_relu(t, negative_slope=0.1), lambda t: functional.leaky_relu(t, 0.1), [0.1, 0.1, 1.0]),
    ]
    for ours, theirs, expected in pairs:
        (got,) = _grads(ours, x)
        (want,) = _torch_grads(torch, theirs, x)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got, want)


def test_clip_passes_the_gradient_at_its_bounds_like_torch_clamp(backend, torch):
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    (got,) = _grads(lambda t: anygrad.clip(t, min=-1.0, max=1.0), x)
    (want,) = _torch_grads(torch, lambda t: torch.clamp(t, -1.0, 1.0), x)
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(got, want)


# --- numerics at the extremes --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_saturates_exactly_in_both_tails_with_finite_gradients(backend, dtype):
    x = anygrad.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype, requires_grad=True)
    y = anygrad.sigmoid(x)  # filterwarnings=error turns any overflow warning into a failure
    values = anygrad.to_numpy(y)
    assert values[0] == 0.0 and values[-1] == 1.0 and values[2] == 0.5
    y.sum().backward()
    grad = anygrad.to_numpy(x.grad)
    assert np.all(np.isfinite(grad))
    assert grad[0] == 0.0 and grad[-1] == 0.0 and grad[2] == 0.25


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_softmax_family_stays_finite_and_matches_torch_for_logits_of_1e4(backend, torch, name, dtype):
    values = [[1e4, -1e4, 0.0], [1e4, 1e4 - 1.0, -1e4]]
    x = anygrad.tensor(values, dtype=dtype, requires_grad=True)
    y = getattr(anygrad, name)(x, axis=-1)
    cotangent = np.asarray([0.3, -1.0]) if name == "logsumexp" else np.asarray([[0.3, -1.0, 2.0], [1.0, 0.5, -0.2]])
    y.backward(anygrad.tensor(cotangent, dtype=dtype))

    t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
    torch_y = getattr(torch, name)(t, dim=-1)
    torch_y.backward(torch.tensor(cotangent, dtype=t.dtype))
    assert np.all(np.isfinite(anygrad.to_numpy(y))) and np.all(np.isfinite(anygrad.to_numpy(x.grad)))
    tolerance = {"rtol": 1e-6, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(anygrad.to_numpy(y), torch_y.detach().numpy(), **tolerance)
    np.testing.assert_allclose(anygrad.to_numpy(x.grad), t.grad.numpy(), **tolerance)


# --- operators with Python scalars ---------------------------------------------------------------------
SCALAR_EXPRESSIONS = {
    "2 + x": lambda x: 2 + x, "x + 2": lambda x: x + 2,
    "2 - x": lambda x: 2 - x, "x - 2": lambda x: x - 2,
    "2 * x": lambda x: 2 * x, "x * 2.5": lambda x: x * 2.5,
    "2 / x": lambda x: 2 / x, "x / 2": lambda x: x / 2,
    "2 ** x": lambda x: 2**x, "x ** 2": lambda x: x**2, "x ** 0.5": lambda x: x**0.5,
    "-x": lambda x: -x, "1.5 - x * 2": lambda x: 1.5 - x * 2,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("expression", SCALAR_EXPRESSIONS)
def test_python_scalars_work_on_both_sides_of_operators(backend, torch, expression, dtype):
    fn = SCALAR_EXPRESSIONS[expression]
    values = [0.5, 1.0, 2.0]
    x = anygrad.tensor(values, dtype=dtype, requires_grad=True)
    y = fn(x)
    assert str(anygrad.to_numpy(y).dtype) == dtype  # a Python scalar never changes the dtype
    y.sum().backward()
    t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
    fn(t).sum().backward()
    np.testing.assert_allclose(anygrad.to_numpy(y), fn(t).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(anygrad.to_numpy(x.grad), t.grad.numpy(), rtol=1e-6)
    assert str(anygrad.to_numpy(x.grad).dtype) == dtype


# --- indexing ------------------------------------------------------------------------------------------
def test_duplicate_integer_indices_accumulate_their_gradients(backend):
    x = anygrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    (x[[1, 1, 0]].sum() + x[:, [2, 2, 2]].sum() + x[[0, 0], [1, 1]].sum()).backward()
    # row 0 once, row 1 twice; column 2 three times; element (0, 1) twice
    np.testing.assert_array_equal(anygrad.to_numpy(x.grad), [[1.0, 3.0, 4.0], [2.0, 2.0, 5.0]])


def test_tensor_indices_work_like_lists(backend):
    x = anygrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    rows = anygrad.tensor([1, 0, 1])
    np.testing.assert_array_equal(anygrad.to_numpy(x[rows, rows + 1]), [6.0, 2.0, 6.0])
    x[rows].sum().backward()
    np.testing.assert_array_equal(anygrad.to_numpy(x.grad), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])


def test_boolean_mask_selects_and_routes_gradients(backend):
    x = anygrad.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    selected = x[x > 0]
    np.testing.assert_array_equal(anygrad.to_numpy(selected), [1.0, 4.0])
    (selected * 3.0).sum().backward()
    np.testing.assert_array_equal(anygrad.to_numpy(x.grad), [[3.0, 0.0], [0.0, 3.0]])


def test_indexing_with_an_index_from_another_backend_names_both(backend):
    other = "torch" if backend.name != "torch" else "numpy"
    x = anygrad.tensor([1.0, 2.0, 3.0])
    index = anygrad.tensor([0, 1], backend=other)
    with pytest.raises(ValueError, match=rf"anygrad.getitem: the index is on {other}:.* but the tensor on "
                                         rf"{backend.label}"):
        x[index]


def test_spec_inputs_avoid_kinks_so_finite_differences_are_meaningful():
    spec = SPECS_BY_NAME["clip"]
    values = draw(Arg((1000,)), np.random.default_rng(0), spec.kinks)
    assert np.min(np.abs(values[:, None] - np.asarray(spec.kinks)[None, :])) >= 0.1
