"""The autograd engine: grad mode, the op wrapper, the graph and the backward pass.

An :class:`Op` pairs a forward function on raw backend arrays with one VJP per input.
Calling an op unwraps Tensors, checks they share one backend and device, runs the
forward and, when a gradient is needed, records a :class:`Node` with its depth (one more
than its deepest input's). :func:`backward` visits nodes deepest first, which is a
reverse topological order found without a separate graph traversal, reduces broadcast
gradients in one place (:func:`sum_to`) and frees the graph as it goes.
"""

from __future__ import annotations

import contextvars
import functools
import heapq
import inspect
from collections.abc import Callable
from typing import Any

from anygrad.tensor import Tensor

__all__ = ["Op", "backward", "enable_grad", "is_grad_enabled", "no_grad", "op", "sum_to"]

# --- grad mode -------------------------------------------------------------------------
_GRAD_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("anygrad_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    """Whether ops record the graph in the current context."""
    return _GRAD_ENABLED.get()


class _GradMode:
    """Context manager and decorator setting grad mode (thread- and async-safe)."""

    _enabled: bool

    def __new__(cls, function: Callable[..., Any] | None = None) -> Any:
        # ``@no_grad`` without parentheses decorates directly, as in PyTorch.
        mode = super().__new__(cls)
        if function is None:
            return mode
        mode.__init__()
        return mode(function)

    def __init__(self, function: Callable[..., Any] | None = None) -> None:
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(_GRAD_ENABLED.set(self._enabled))

    def __exit__(self, *exc_info: object) -> None:
        _GRAD_ENABLED.reset(self._tokens.pop())

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        mode = type(self)

        @functools.wraps(function)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            with mode():  # a fresh context manager per call keeps concurrent calls apart
                return function(*args, **kwargs)

        return in_mode


class no_grad(_GradMode):  # noqa: N801  (PyTorch's name)
    """Disable graph recording: ``with anygrad.no_grad():``, ``@anygrad.no_grad()`` or ``@anygrad.no_grad``."""

    _enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enable graph recording inside a :class:`no_grad` region."""

    _enabled = True


# --- ops and the graph -------------------------------------------------------------------
class Node:
    """What backward needs of one op application. ``arrays is None`` once freed.

    ``depth`` is 1 + the largest depth among the inputs' nodes (leaves count 0), so every
    node is deeper than all nodes it consumes: backward's visiting order relies on that."""

    __slots__ = ("op", "inputs", "arrays", "params", "out", "depth")

    def __init__(self, op: Op, inputs: tuple[Any, ...], arrays: list[Any], params: dict[str, Any], out: Any,
                 depth: int):
        self.op = op
        self.inputs = inputs
        self.arrays = arrays
        self.params = params
        self.out = out
        self.depth = depth


class Op:
    """A differentiable function of Tensors: ``forward(xp, *arrays, **params)`` plus
    one VJP per positional input, ``vjp(xp, g, out, *arrays, **params)`` (or one joint VJP
    for all inputs, see :meth:`defvjp_joint`).

    ``broadcasting`` ops may return gradients of the broadcast shape; the engine sums
    them back to each input's shape. Every other op must return exact shapes.
    An op with ``residuals`` returns ``(out, residual)`` from its forward: intermediates
    its VJPs reuse instead of recomputing; its VJPs then get ``(out, residual)`` as ``out``.
    """

    __slots__ = ("name", "forward", "broadcasting", "differentiable", "residuals", "vjps", "vjp_argnum", "vjp_joint",
                 "defaults")

    def __init__(self, forward: Callable[..., Any], *, broadcasting: bool, differentiable: bool,
                 residuals: bool = False) -> None:
        self.name = forward.__name__
        self.forward = forward
        self.broadcasting = broadcasting
        self.differentiable = differentiable
        self.residuals = residuals
        self.vjps: tuple[Callable[..., Any] | None, ...] = ()
        self.vjp_argnum: Callable[..., Any] | None = None
        self.vjp_joint: Callable[..., Any] | None = None
        # Params the caller left out still reach the VJPs: they take every param by name.
        self.defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(forward).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is not inspect.Parameter.empty
        }

    def __repr__(self) -> str:
        return f"<anygrad op {self.name}>"

    def defvjp(self, *vjps: Callable[..., Any] | None) -> Op:
        """One VJP per positional input (None for inputs that get no gradient)."""
        self.vjps = vjps
        return self

    def defvjp_argnum(self, vjp: Callable[..., Any]) -> Callable[..., Any]:
        """One VJP for all inputs of a variadic op: ``vjp(xp, i, g, out, *arrays, **params)``."""
        self.vjp_argnum = vjp
        return vjp

    def defvjp_joint(self, vjp: Callable[..., Any]) -> Callable[..., Any]:
        """One VJP returning every input's gradient at once, for ops whose gradients share
        work (a fused activation's derivative): ``vjp(xp, needs, g, out, *arrays, **params)``
        returns one gradient (or None) per input; ``needs[i]`` says whether input i wants one."""
        self.vjp_joint = vjp
        return vjp

    def __call__(self, *args: Any, **params: Any) -> Tensor:
        backend = None
        requires_grad = False
        depth = 1
        arrays = []
        for arg in args:
            if isinstance(arg, Tensor):
                arg_backend = arg._backend
                if arg_backend is not backend:
                    if backend is not None:
                        raise _mixing_error(self.name, backend, arg_backend)
                    backend = arg_backend
                if arg.requires_grad:
                    requires_grad = True
                    node = arg._node
                    if node is not None and node.depth >= depth:
                        depth = node.depth + 1
                arrays.append(arg.data)
            elif arg is None or isinstance(arg, (int, float)):
                arrays.append(arg)
            else:
                raise TypeError(
                    f"anygrad.{self.name}: expected Tensors or Python scalars, got {type(arg).__name__}; "
                    "wrap arrays with anygrad.tensor(...)"
                )
        if backend is None:
            raise TypeError(f"anygrad.{self.name}: needs at least one Tensor input")
        if self.defaults:
            params = {**self.defaults, **params}
        try:
            saved = out = self.forward(backend.xp, *arrays, **params)
        except Exception as exc:
            raise _op_error(self, args, params, exc) from exc
        if self.residuals:
            out = saved[0]
        if requires_grad and self.differentiable and _GRAD_ENABLED.get():
            return Tensor._wrap(out, backend, Node(self, args, arrays, params, saved, depth))
        return Tensor._wrap(out, backend, None)


def op(*, broadcasting: bool = False, differentiable: bool = True,
       residuals: bool = False) -> Callable[[Callable[..., Any]], Op]:
    """Decorator turning a forward function into an :class:`Op`."""

    def make(forward: Callable[..., Any]) -> Op:
        return Op(forward, broadcasting=broadcasting, differentiable=differentiable, residuals=residuals)

    return make


# --- errors that name the op, shapes, dtypes and devices ---------------------------------
def _mixing_error(name: str, first: Any, second: Any) -> ValueError:
    return ValueError(
        f"anygrad.{name}: inputs are on different backends or devices: {first.label} and {second.label}; "
        "move one with .to(...) first (anygrad never copies between devices implicitly)"
    )


def _broadcastable(shapes: list[tuple[int, ...]]) -> bool:
    for sizes in zip(*(reversed(shape) for shape in shapes), strict=False):
        if len({size for size in sizes if size != 1}) > 1:
            return False
    # zip stops at the shortest shape; longer shapes' extra leading axes always broadcast.
    return True


def _op_error(op: Op, args: tuple[Any, ...], params: dict[str, Any], exc: Exception) -> Exception:
    tensors = [arg for arg in args if isinstance(arg, Tensor)]
    shapes = [tuple(t.shape) for t in tensors]
    described = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in tensors)
    settings = "".join(f", {key}={value!r}" for key, value in params.items())
    where = f"inputs {described}{settings} on {tensors[0]._backend.label}"
    if op.broadcasting and not _broadcastable(shapes):
        return ValueError(f"anygrad.{op.name}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together")
    error_type = type(exc) if isinstance(exc, (TypeError, ValueError, IndexError)) else RuntimeError
    return error_type(f"anygrad.{op.name}: {exc} ({where})")


# --- backward ------------------------------------------------------------------------------
def sum_to(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back down to ``shape`` (the one unbroadcast)."""
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1
    )
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return xp.reshape(grad, shape) if extra else grad


def backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into every leaf's ``.grad`` (see Tensor.backward).

    Non-leaf tensors wait in a heap keyed by their node's depth and are visited deepest
    first: a tensor's consumers are all deeper than it, so by the time it is popped every
    gradient flowing into it has arrived (PyTorch's engine orders by sequence number the
    same way). This needs no traversal of the graph before the backward pass itself.
    Leaves get their gradients as soon as each one is computed."""
    if not root.requires_grad:
        raise RuntimeError(
            "anygrad.backward: this tensor does not require grad and has no graph "
            "(made under no_grad, detached, or from inputs with requires_grad=False)"
        )
    xp = root._backend.xp
    if grad is None:
        if root.data.ndim != 0 and _size(root.data.shape) != 1:
            raise RuntimeError(
                f"anygrad.backward: grad can be implied only for scalar outputs, but the output has shape "
                f"{tuple(root.shape)}; pass grad= of that shape (or reduce with .sum() / .mean())"
            )
        grad = xp.ones_like(root.data)
    else:
        grad = _check_seed(root, grad)
    if root._node is None:
        root.grad = grad if root.grad is None else root.grad + grad
        return
    grads: dict[int, Any] = {id(root): grad}
    waiting: list[tuple[int, int, Tensor]] = [(-root._node.depth, id(root), root)]
    pop, push = heapq.heappop, heapq.heappush
    while waiting:
        _, key, tensor = pop(waiting)
        g = grads.pop(key)
        node = tensor._node
        op, out, arrays, params = node.op, node.out, node.arrays, node.params
        if arrays is None:
            raise RuntimeError(
                f"anygrad.backward: the graph through {op.name} was freed by an earlier backward; "
                "pass retain_graph=True to the first backward to go through it twice"
            )
        inputs = node.inputs
        vjps, vjp_argnum, joint_grads = op.vjps, op.vjp_argnum, None
        if op.vjp_joint is not None:
            needs = [isinstance(arg, Tensor) and arg.requires_grad for arg in inputs]
            joint_grads = op.vjp_joint(xp, needs, g, out, *arrays, **params)
        for i, arg in enumerate(inputs):
            if not (isinstance(arg, Tensor) and arg.requires_grad):
                continue
            if joint_grads is not None:
                arg_grad = joint_grads[i]
            elif vjp_argnum is not None:
                arg_grad = vjp_argnum(xp, i, g, out, *arrays, **params)
            else:
                vjp = vjps[i] if i < len(vjps) else None
                if vjp is None:
                    raise RuntimeError(f"anygrad.{op.name}: input {i} is not differentiable")
                arg_grad = vjp(xp, g, out, *arrays, **params)
            if arg_grad is None:
                continue
            data = arg.data
            if arg_grad.shape != data.shape:
                if not op.broadcasting:
                    raise RuntimeError(
                        f"anygrad internal error: the VJP of {op.name} for input {i} has shape "
                        f"{tuple(arg_grad.shape)}, expected {tuple(data.shape)}"
                    )
                arg_grad = sum_to(xp, arg_grad, data.shape)
            if arg_grad.dtype != data.dtype:
                arg_grad = xp.astype(arg_grad, data.dtype)
            if arg._node is None:  # a leaf: nothing flows on from it
                arg.grad = arg_grad if arg.grad is None else arg.grad + arg_grad
                continue
            arg_key = id(arg)
            previous = grads.get(arg_key)
            if previous is None:
                grads[arg_key] = arg_grad
                push(waiting, (-arg._node.depth, arg_key, arg))
            else:
                grads[arg_key] = previous + arg_grad
        if not retain_graph:  # free the graph as it is walked
            node.inputs = ()
            node.arrays = node.out = None


def _check_seed(root: Tensor, grad: Any) -> Any:
    if isinstance(grad, Tensor):
        if grad._backend is not root._backend:
            raise ValueError(
                f"anygrad.backward: grad is on {grad._backend.label} but the output is on {root._backend.label}"
            )
        grad = grad.data
    if tuple(grad.shape) != tuple(root.shape):
        raise ValueError(
            f"anygrad.backward: grad has shape {tuple(grad.shape)} but the output has shape {tuple(root.shape)}"
        )
    return grad


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size
