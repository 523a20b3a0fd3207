"""The engine: how gradients flow through graphs, grad mode, graph lifetime and errors."""

from __future__ import annotations

import asyncio
import re
import threading

import numpy as np
import pytest

import anygrad
from anygrad.engine import Op, op


def values(t) -> np.ndarray:
    return anygrad.to_numpy(t)


# --- graph shapes: every path contributes --------------------------------------------------------
def test_a_diamond_sums_both_paths_like_torch(backend, torch):
    def f(lib, a):
        b = lib.exp(a) if lib is torch else a.exp()
        c = a * 3.0
        return (b * c).sum()

    a = anygrad.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    f(anygrad, a).backward()
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f(torch, t).backward()
    np.testing.assert_allclose(values(a.grad), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("expression", "expected"), [
    (lambda x: x + x, [2.0, 2.0]),
    (lambda x: x * x, [2.0, -4.0]),
    (lambda x: x * x * x, [3.0, 12.0]),
    (lambda x: (x + x) * x, [4.0, -8.0]),
])
def test_a_tensor_used_twice_gets_the_sum_of_both_uses(backend, expression, expected):
    x = anygrad.tensor([1.0, -2.0], requires_grad=True)
    expression(x).sum().backward()
    np.testing.assert_array_equal(values(x.grad), expected)


def test_shared_weights_accumulate_the_gradients_of_every_use(backend, torch):
    host_w = np.array([[0.5, -1.0], [2.0, 0.25]])
    host_x = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, 1.0]])
    w = anygrad.tensor(host_w, dtype="float64", requires_grad=True)
    x = anygrad.tensor(host_x, dtype="float64")
    anygrad.linear(anygrad.tanh(anygrad.linear(x, w)), w).sum().backward()

    tw = torch.tensor(host_w, requires_grad=True)
    linear = torch.nn.functional.linear
    linear(torch.tanh(linear(torch.tensor(host_x), tw)), tw).sum().backward()
    np.testing.assert_allclose(values(w.grad), tw.grad.numpy(), rtol=1e-12)


def test_gradients_accumulate_across_backward_calls_until_zeroed(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(values(x.grad), [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(values(x.grad), [3.0, 3.0])


def test_only_leaves_keep_grad(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    hidden = x * 2.0
    out = (hidden * hidden).sum()
    out.backward()
    assert x.is_leaf and x.grad is not None
    assert not hidden.is_leaf and hidden.grad is None
    assert out.grad is None


def test_tensors_without_requires_grad_get_no_gradient(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    constant = anygrad.tensor([3.0, 4.0])
    (x * constant).sum().backward()
    assert constant.grad is None and not constant.requires_grad
    np.testing.assert_array_equal(values(x.grad), [3.0, 4.0])


def test_gradients_keep_the_dtype_and_backend_of_their_input(backend):
    x = anygrad.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    y = anygrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    (x.astype("float64") * y).sum().backward()
    assert values(x.grad).dtype == np.float32 and values(y.grad).dtype == np.float64
    assert anygrad.tensor(x.grad).backend == backend.name


def test_a_chain_of_ten_thousand_ops_backpropagates_without_recursion(backend):
    x = anygrad.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(values(x.grad), 1.0001**10_000, rtol=1e-3)


# --- backward's arguments ---------------------------------------------------------------------------
def test_backward_with_an_explicit_grad_computes_that_vector_jacobian_product(backend):
    x = anygrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(anygrad.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(values(x.grad), [2.0, 2.0, -6.0])


def test_backward_of_a_one_element_tensor_needs_no_grad(backend):
    x = anygrad.tensor([[2.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(values(x.grad), [[4.0]])


def test_backward_of_a_non_scalar_without_grad_raises(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("grad can be implied only for scalar outputs, but the output "
                                                     "has shape (2,)")):
        (x * 2.0).backward()


def test_backward_with_a_grad_of_the_wrong_shape_raises(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=re.escape("grad has shape (3,) but the output has shape (2,)")):
        (x * 2.0).backward(anygrad.tensor([1.0, 1.0, 1.0]))


def test_backward_of_a_tensor_without_a_graph_raises(backend):
    with pytest.raises(RuntimeError, match="does not require grad and has no graph"):
        anygrad.tensor([1.0, 2.0]).sum().backward()


def test_a_second_backward_through_a_freed_graph_raises(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed by an earlier backward; pass retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_doubles_the_grads(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    first = values(x.grad).copy()
    y.backward()
    np.testing.assert_array_equal(values(x.grad), 2 * first)


def test_detach_shares_the_data_but_cuts_the_graph(backend):
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    frozen = y.detach()
    assert frozen.is_leaf and not frozen.requires_grad
    np.testing.assert_array_equal(values(frozen), values(y))
    (y * frozen).sum().backward()  # frozen acts as a constant
    np.testing.assert_array_equal(values(x.grad), [9.0, 18.0])


# --- grad mode -------------------------------------------------------------------------------------
def test_no_grad_as_a_context_manager_records_nothing(backend):
    x = anygrad.tensor([1.0], requires_grad=True)
    assert anygrad.is_grad_enabled()
    with anygrad.no_grad():
        assert not anygrad.is_grad_enabled()
        y = x * 2.0
    assert anygrad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_no_grad_as_a_decorator_with_and_without_parentheses(backend):
    x = anygrad.tensor([1.0], requires_grad=True)

    @anygrad.no_grad()
    def with_parentheses(t):
        return t * 2.0, anygrad.is_grad_enabled()

    @anygrad.no_grad
    def without_parentheses(t):
        return t * 2.0, anygrad.is_grad_enabled()

    for function in (with_parentheses, without_parentheses):
        y, enabled = function(x)
        assert not enabled and not y.requires_grad
        assert anygrad.is_grad_enabled()
    assert without_parentheses.__name__ == "without_parentheses"


def test_enable_grad_inside_no_grad_records_again(backend):
    x = anygrad.tensor([1.0], requires_grad=True)
    with anygrad.no_grad():
        with anygrad.enable_grad():
            assert anygrad.is_grad_enabled()
            y = x * 2.0
        assert not anygrad.is_grad_enabled()
    y.sum().backward()
    np.testing.assert_array_equal(values(x.grad), [2.0])


def test_grad_mode_is_restored_when_the_block_raises(backend):
    with pytest.raises(KeyError), anygrad.no_grad():
        raise KeyError("boom")
    assert anygrad.is_grad_enabled()


def test_no_grad_in_one_thread_does_not_leak_into_another():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def worker():
        with anygrad.no_grad():
            seen["worker"] = anygrad.is_grad_enabled()
            inside.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(timeout=10)
    seen["main"] = anygrad.is_grad_enabled()
    release.set()
    thread.join()
    assert seen == {"worker": False, "main": True}


def test_no_grad_in_one_asyncio_task_does_not_leak_into_another():
    async def main():
        inside = asyncio.Event()
        release = asyncio.Event()

        async def quiet():
            with anygrad.no_grad():
                inside.set()
                await release.wait()
                return anygrad.is_grad_enabled()

        async def recording():
            await inside.wait()
            enabled = anygrad.is_grad_enabled()
            release.set()
            return enabled

        return await asyncio.gather(quiet(), recording())

    assert asyncio.run(main()) == [False, True]


# --- errors that name what went wrong -----------------------------------------------------------------
def test_a_broadcasting_mismatch_names_the_op_and_both_shapes(backend):
    with pytest.raises(ValueError, match=re.escape("anygrad.add: shapes (2, 3) and (4,) cannot be broadcast together")):
        anygrad.ones(2, 3) + anygrad.ones(4)
    with pytest.raises(ValueError, match=re.escape("anygrad.mul: shapes (3, 1, 2) and (4, 3) cannot be broadcast")):
        anygrad.ones(3, 1, 2) * anygrad.ones(4, 3)


def test_a_matmul_size_mismatch_names_the_op_and_both_shapes(backend):
    with pytest.raises(ValueError, match=re.escape("anygrad.matmul: shapes (2, 3) and (4, 3) do not match")):
        anygrad.ones(2, 3) @ anygrad.ones(4, 3)
    with pytest.raises(ValueError, match=re.escape("anygrad.matmul: the batch axes of shapes (2, 2, 3) and (3, 3, 2) "
                                                   "cannot be broadcast together")):
        anygrad.ones(2, 2, 3) @ anygrad.ones(3, 3, 2)
    with pytest.raises(ValueError, match=re.escape("anygrad.linear: shapes (2, 3) and (5, 4) do not match")):
        anygrad.linear(anygrad.ones(2, 3), anygrad.ones(5, 4))


def test_mixing_backends_names_both():
    a = anygrad.tensor([1.0], backend="numpy")
    b = anygrad.tensor([1.0], backend="torch")
    with pytest.raises(ValueError, match=r"anygrad.add: inputs are on different backends or devices: "
                                         r"numpy:cpu and torch:cpu; move one with \.to"):
        a + b
    with pytest.raises(ValueError, match="anygrad.mul: .*torch:cpu and numpy:cpu"):
        b * a


def test_mixing_devices_names_both():
    a = anygrad.tensor([1.0], backend="array_api_strict")
    b = a.to(device="device1")
    with pytest.raises(ValueError, match="anygrad.sub: inputs are on different backends or devices: "
                                         "array_api_strict:CPU_DEVICE and array_api_strict:device1"):
        a - b


def test_a_grad_seed_from_another_backend_names_both(backend):
    other = "numpy" if backend.name != "numpy" else "torch"
    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=f"grad is on {other}:.* but the output is on {re.escape(backend.label)}"):
        (x * 2.0).backward(anygrad.tensor([1.0, 1.0], backend=other))


def test_raw_arrays_in_ops_raise_a_type_error_that_says_to_wrap_them(backend, torch):
    x = anygrad.tensor([1.0, 2.0])
    raw_arrays = [np.ones(2), torch.ones(2), backend.xp.ones(2, device=backend.device)]
    for raw in raw_arrays:
        kind = type(raw).__name__
        message = rf"anygrad.add: expected Tensors or Python scalars, got {kind}; wrap arrays with anygrad.tensor"
        with pytest.raises(TypeError, match=message):
            x + raw
        if type(raw).__module__.startswith("array_api_strict"):
            message = "Expected Array or Python scalar"  # strict's own operator raises before deferring to Tensor
        with pytest.raises(TypeError, match=message):
            raw + x
    with pytest.raises(TypeError, match="anygrad.exp: expected Tensors or Python scalars, got ndarray; wrap arrays"):
        anygrad.exp(np.ones(2))


# --- the op contract ---------------------------------------------------------------------------------
def test_a_new_op_needs_only_a_forward_and_its_vjp(backend):
    @op()
    def cube(xp, x):
        return x * x * x
    cube.defvjp(lambda xp, g, out, x: 3.0 * g * x * x)

    assert isinstance(cube, Op) and repr(cube) == "<anygrad op cube>"
    x = anygrad.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    assert anygrad.gradcheck(cube, [x])


def test_params_left_at_their_defaults_reach_the_vjp(backend):
    x = anygrad.tensor([-1.0, 2.0], requires_grad=True)
    anygrad.leaky_relu(x).sum().backward()
    np.testing.assert_allclose(values(x.grad), [0.01, 1.0])


def test_a_vjp_of_the_wrong_shape_fails_loudly_instead_of_being_summed(backend):
    @op()
    def broken(xp, x):
        return x * 2.0
    broken.defvjp(lambda xp, g, out, x: xp.sum(g, axis=0, keepdims=True))

    x = anygrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=re.escape("the VJP of broken for input 0 has shape (1, 2), "
                                                     "expected (2, 2)")):
        broken(x).sum().backward()


def test_backward_into_an_input_the_op_does_not_differentiate_raises(backend):
    @op()
    def scaled(xp, x, scale):
        return x * scale
    scaled.defvjp(lambda xp, g, out, x, scale: g * scale, None)

    x = anygrad.tensor([1.0, 2.0], requires_grad=True)
    scaled(x, anygrad.tensor([3.0, 4.0])).sum().backward()  # a constant scale needs no gradient
    np.testing.assert_array_equal(values(x.grad), [3.0, 4.0])
    with pytest.raises(RuntimeError, match="anygrad.scaled: input 1 is not differentiable"):
        scaled(x, anygrad.tensor([3.0, 4.0], requires_grad=True)).sum().backward()


def test_a_tensor_consumed_directly_and_through_another_consumer_gets_both_gradients(backend):
    # r = a * x with a = 2 * x: x feeds r directly and through a. A topological order that
    # placed x before a would drop the path through a.
    for operands in ((lambda a, x: a * x), (lambda a, x: x * a)):
        w = anygrad.tensor([1.5], requires_grad=True)
        x = w * 1.0
        a = x * 2.0
        operands(a, x).sum().backward()
        np.testing.assert_allclose(anygrad.to_numpy(w.grad), [4 * 1.5])  # d(2 x^2)/dw = 4 x


def test_paths_of_different_lengths_all_arrive_before_a_tensor_passes_its_gradient_on(backend, torch):
    # x reaches the output directly, through 3 ops and through 40 ops; backward visits the
    # deepest nodes first, so x's gradient must wait for the 40-op path.
    def f(lib, w):
        x = w * 1.0
        long = x
        for _ in range(20):
            long = (long * 0.9) + 0.1
        short = (lib.exp(x) if lib is torch else x.exp()) * 2.0
        return (x * long + short * x + x).sum()

    w = anygrad.tensor([0.3, -0.7], dtype="float64", requires_grad=True)
    f(anygrad, w).backward()
    t = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    f(torch, t).backward()
    np.testing.assert_allclose(values(w.grad), t.grad.numpy(), rtol=1e-12)
