"""What every op of ``anygrad.ops.OPS`` is, so that tests/test_ops.py can test it.

Each :class:`OpSpec` names an op and gives

* ``cases``: sample inputs (shapes and value domains, or Python scalars) and params,
  chosen to cover broadcasting pairs, 0-d tensors and batch 1;
* ``numpy``: the reference forward on float64 NumPy arrays, ``numpy(*inputs, **params)``;
* ``torch``: the same function in PyTorch, ``torch(torch_module, *inputs, **params)``,
  whose autograd is the oracle for the op's VJPs;
* ``call``: how anygrad is called (default ``OPS[name](*inputs, **params)``).

**Adding an op to the table:** add an ``OpSpec`` for it to ``SPECS`` at the end of this file
(copy the spec of a similar op); tests/test_ops.py then checks its forward, its VJPs
against PyTorch and against finite differences on every backend.

Inputs are drawn away from kinks (``kinks``: points where the op is not differentiable),
so finite differences and autograd agree; the kink and tie conventions themselves are
tested explicitly in tests/test_ops.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --- describing inputs ---------------------------------------------------------------------
#: Value domains of floating-point inputs (see :func:`draw`).
FLOAT_DOMAINS = ("real", "positive", "probability", "grid", "offgrid", "coarse", "large")


@dataclass(frozen=True)
class Arg:
    """One positional input: a tensor of ``shape`` with values from ``domain``, fixed
    ``values`` (integer indices or boolean masks), or a Python ``scalar``. Float tensors
    get a gradient unless ``grad`` is False (inputs such as class weights that the op
    does not differentiate, like PyTorch)."""

    shape: tuple[int, ...] = ()
    domain: str = "real"
    values: Any = None
    scalar: float | int | None = None
    grad: bool = True

    @property
    def is_scalar(self) -> bool:
        return self.scalar is not None

    @property
    def is_float_tensor(self) -> bool:
        """Whether this input is a floating-point tensor (one that gets a gradient)."""
        return self.scalar is None and self.values is None and self.domain in FLOAT_DOMAINS

    @property
    def requires_grad(self) -> bool:
        return self.is_float_tensor and self.grad

    def __str__(self) -> str:
        if self.is_scalar:
            return repr(self.scalar)
        if self.values is not None:
            return f"{np.asarray(self.values).dtype.kind}{list(np.shape(self.values))}"
        return "x".join(map(str, self.shape)) or "0d"


def T(*shape: int, domain: str = "real", grad: bool = True) -> Arg:  # noqa: N802  (reads like a type in the tables)
    """A float tensor input of ``shape``."""
    return Arg(shape=tuple(shape), domain=domain, grad=grad)


def S(value: float | int) -> Arg:  # noqa: N802
    """A Python scalar input."""
    return Arg(scalar=value)


def V(values: Any) -> Arg:  # noqa: N802
    """A fixed integer or boolean tensor input (indices, masks, conditions)."""
    return Arg(values=values)


def B(*shape: int) -> Arg:  # noqa: N802
    """A random boolean tensor input of ``shape``."""
    return Arg(shape=tuple(shape), domain="bool")


@dataclass(frozen=True)
class Case:
    """One way to call an op: its inputs and params."""

    args: tuple[Arg, ...]
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def id(self) -> str:
        inputs = ",".join(map(str, self.args))
        params = ",".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return "-".join(part for part in (inputs, params, self.label) if part)


def _short(value: Any) -> str:
    return str(value).replace(" ", "").replace("slice(None,None,None)", ":")


def case(*args: Arg, label: str = "", **params: Any) -> Case:
    return Case(tuple(args), params, label)


@dataclass(frozen=True)
class OpSpec:
    """How to test one op (see the module docstring)."""

    name: str
    cases: tuple[Case, ...]
    numpy: Callable[..., Any]
    torch: Callable[..., Any]
    call: Callable[..., Any] | None = None
    kinks: tuple[float, ...] = ()
    differentiable: bool = True
    #: finite-difference step and tolerances for anygrad.gradcheck
    gradcheck: dict[str, float] = field(default_factory=dict)


def draw(arg: Arg, rng: np.random.Generator, kinks: tuple[float, ...] = ()) -> Any:
    """Host values for one input: a float64/int64/bool NumPy array or a Python scalar.

    ``real``: uniform in [-2, 2], at least 0.1 away from every kink; ``positive``: [0.5, 2];
    ``probability``: [0.05, 0.95];
    ``grid``/``offgrid``: multiples of 0.25 / multiples of 0.25 plus 0.125 (two inputs
    drawn from them never tie); ``coarse``: {-1, -0.5, 0, 0.5, 1} (ties are likely);
    ``large``: values around 1e4 (overflow checks); ``bool``: random booleans.
    """
    if arg.is_scalar:
        return arg.scalar
    if arg.values is not None:
        return np.asarray(arg.values)
    shape = arg.shape
    if arg.domain == "real":
        x = rng.uniform(-2.0, 2.0, size=shape)
        for kink in kinks:
            distance = x - kink
            x = np.where(np.abs(distance) < 0.1, kink + np.copysign(0.1 + np.abs(distance), distance), x)
        return np.asarray(x, dtype=np.float64)
    if arg.domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if arg.domain == "probability":
        return rng.uniform(0.05, 0.95, size=shape)
    if arg.domain == "grid":
        return rng.integers(-8, 9, size=shape) * 0.25
    if arg.domain == "offgrid":
        return rng.integers(-8, 8, size=shape) * 0.25 + 0.125
    if arg.domain == "coarse":
        return rng.integers(-2, 3, size=shape) * 0.5
    if arg.domain == "large":
        return 1e4 + rng.uniform(-3.0, 3.0, size=shape) * 1e3
    if arg.domain == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise ValueError(f"unknown domain {arg.domain!r}")


# --- helpers for the reference functions ---------------------------------------------------------
def _dims(x: Any, axis: Any) -> tuple[int, ...]:
    """An anygrad/NumPy ``axis`` (None, int or tuple) as a torch ``dim`` tuple."""
    if axis is None:
        return tuple(range(x.ndim))
    return axis if isinstance(axis, tuple) else (axis,)


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


def _np_log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _np_key(key: Any) -> Any:
    """An index key with lists as NumPy arrays."""
    if isinstance(key, tuple):
        return tuple(_np_key(k) for k in key)
    return np.asarray(key) if isinstance(key, list) else key


def _torch_key(torch: Any, key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_torch_key(torch, k) for k in key)
    return torch.tensor(key) if isinstance(key, list) else key


def _torch_scalar(torch: Any, value: Any, like: Any) -> Any:
    """A Python scalar as a 0-d tensor of ``like``'s dtype (for torch functions that need tensors)."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=like.dtype)


#: ``linear``'s fused activations, applied to the product in NumPy.
_LINEAR_ACTIVATIONS_NUMPY = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
}


def _linear_activation_torch(torch: Any, z: Any, activation: str | None) -> Any:
    return z if activation is None else getattr(torch, activation)(z)


# --- shape sets ---------------------------------------------------------------------------------
UNARY = (T(), T(1, 3), T(2, 3))

BINARY = (
    (T(), T()),
    (T(2, 3), T(2, 3)),
    (T(2, 3), T()),                 # 0-d broadcast
    (T(), T(3)),
    (T(2, 1), T(1, 3)),             # both sides broadcast
    (T(3), T(2, 3)),                # missing leading axis
    (T(1, 3), T(2, 1, 3)),          # batch 1 against a batch
)


def unary_cases(domain: str = "real", **params: Any) -> tuple[Case, ...]:
    return tuple(case(Arg(a.shape, domain), **params) for a in UNARY)


def binary_cases(x_domain: str = "real", y_domain: str = "real", scalars: tuple[Any, ...] = (2.0,)) -> tuple[Case, ...]:
    """Broadcasting pairs, then a Python scalar on each side."""
    cases = [case(Arg(x.shape, x_domain), Arg(y.shape, y_domain)) for x, y in BINARY]
    for value in scalars:
        cases.append(case(S(value), Arg((2, 3), y_domain)))
        cases.append(case(Arg((2, 3), x_domain), S(value)))
    return tuple(cases)


def reduction_cases(domain: str = "real") -> tuple[Case, ...]:
    return (
        case(Arg((), domain), axis=None, keepdims=False),
        case(Arg((4,), domain), axis=None, keepdims=False),
        case(Arg((4,), domain), axis=0, keepdims=True),
        case(Arg((1, 3), domain), axis=-1, keepdims=False),
        case(Arg((2, 3), domain), axis=None, keepdims=False),
        case(Arg((2, 3), domain), axis=0, keepdims=False),
        case(Arg((2, 3), domain), axis=-1, keepdims=True),
        case(Arg((2, 3, 2), domain), axis=(0, 2), keepdims=False),
        case(Arg((2, 3, 2), domain), axis=None, keepdims=True),
    )


def comparison_cases() -> tuple[Case, ...]:
    """Coarse values, so that equal elements (ties) occur."""
    return (
        case(T(3, 4, domain="coarse"), T(3, 4, domain="coarse")),
        case(T(3, 1, domain="coarse"), T(4, domain="coarse")),
        case(T(domain="coarse"), T(3, domain="coarse")),
        case(T(3, 4, domain="coarse"), S(0.5)),
        case(S(0.0), T(3, 4, domain="coarse")),
    )


# --- the specs --------------------------------------------------------------------------------
def _reduce(name: str) -> OpSpec:
    return OpSpec(
        name,
        reduction_cases(),
        numpy=lambda x, axis, keepdims: getattr(np, name)(x, axis=axis, keepdims=keepdims),
        torch=lambda torch, x, axis, keepdims: getattr(torch, {"max": "amax", "min": "amin"}.get(name, name))(
            x, dim=_dims(x, axis), keepdim=keepdims
        ),
    )


def _compare(name: str, operator: Callable[[Any, Any], Any]) -> OpSpec:
    return OpSpec(name, comparison_cases(), numpy=operator, torch=lambda torch, x, y: operator(x, y),
                  differentiable=False)


def _arg_reduce(name: str) -> OpSpec:
    cases = (
        case(T(4), axis=None, keepdims=False),
        case(T(2, 3), axis=None, keepdims=False),
        case(T(2, 3), axis=0, keepdims=False),
        case(T(2, 3), axis=-1, keepdims=True),
        case(T(1, 3, 2), axis=1, keepdims=False),
    )

    def torch_fn(torch, x, axis, keepdims):
        if axis is None:
            return getattr(torch, name)(x)
        return getattr(torch, name)(x, dim=axis, keepdim=keepdims)

    return OpSpec(name, cases, numpy=lambda x, axis, keepdims: getattr(np, name)(x, axis=axis, keepdims=keepdims),
                  torch=torch_fn, differentiable=False)


GETITEM_KEYS = (
    (slice(None), 1),                       # x[:, 1]
    -1,                                     # x[-1]
    (slice(1, None), slice(None, 2)),       # x[1:, :2]
    (Ellipsis, -2),                         # x[..., -2]
    None,                                   # x[None]
    [2, 0, 2],                              # x[[2, 0, 2]]: take along axis 0, a duplicate
    (slice(None), [1, 1, 0, 1]),            # x[:, idx]: take along axis 1, duplicates
    ([0, 2, 2, 1], [3, 0, 0, 3]),           # x[rows, cols]: gather, a duplicated pair
    ([-1, 0], [-1, -1]),                    # negative integer arrays
    [[True, False, True, True], [False, False, True, False], [True, True, False, False]],  # boolean mask
    [True, False, True],                    # boolean mask over the first axis
)

SPECS: tuple[OpSpec, ...] = (
    # elementwise arithmetic
    OpSpec("add", binary_cases(), numpy=lambda x, y: x + y, torch=lambda torch, x, y: x + y),
    OpSpec("sub", binary_cases(), numpy=lambda x, y: x - y, torch=lambda torch, x, y: x - y),
    OpSpec("mul", binary_cases(scalars=(2.0, 3)), numpy=lambda x, y: x * y, torch=lambda torch, x, y: x * y),
    OpSpec("div", binary_cases(y_domain="positive"), numpy=lambda x, y: x / y, torch=lambda torch, x, y: x / y),
    OpSpec(
        "pow",
        binary_cases("positive", "real", scalars=())
        + (
            case(T(2, 3), S(2), label="square"),
            case(T(2, 3), S(3.0), label="cube"),
            case(T(2, 3, domain="positive"), S(0.5), label="sqrt"),
            case(T(2, 3, domain="positive"), S(-1.0), label="reciprocal"),
            case(T(2, 3), S(0), label="zeroth"),
            case(S(2.0), T(2, 3), label="exp2"),
            case(S(2), T(), label="exp2"),
        ),
        numpy=lambda x, y: np.power(x, y) if isinstance(x, np.ndarray) else x**y,
        torch=lambda torch, x, y: x**y,
    ),
    OpSpec("neg", unary_cases(), numpy=np.negative, torch=lambda torch, x: -x),
    OpSpec("abs", unary_cases(), numpy=np.abs, torch=lambda torch, x: torch.abs(x), kinks=(0.0,)),
    OpSpec("exp", unary_cases(), numpy=np.exp, torch=lambda torch, x: torch.exp(x)),
    OpSpec("log", unary_cases("positive"), numpy=np.log, torch=lambda torch, x: torch.log(x)),
    OpSpec("sqrt", unary_cases("positive"), numpy=np.sqrt, torch=lambda torch, x: torch.sqrt(x)),
    OpSpec("tanh", unary_cases(), numpy=np.tanh, torch=lambda torch, x: torch.tanh(x)),
    OpSpec("sigmoid", unary_cases(), numpy=lambda x: 1.0 / (1.0 + np.exp(-x)), torch=lambda torch, x: torch.sigmoid(x)),
    OpSpec("relu", unary_cases(), numpy=lambda x: np.maximum(x, 0.0), torch=lambda torch, x: torch.relu(x),
           kinks=(0.0,)),
    OpSpec(
        "leaky_relu",
        unary_cases() + (case(T(2, 3), negative_slope=0.2),),
        numpy=lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
        torch=lambda torch, x, negative_slope=0.01: torch.nn.functional.leaky_relu(x, negative_slope),
        kinks=(0.0,),
    ),
    OpSpec(
        "maximum",
        binary_cases("grid", "offgrid", scalars=(0.125,)),
        numpy=np.maximum,
        torch=lambda torch, x, y: torch.maximum(_torch_scalar(torch, x, y), _torch_scalar(torch, y, x)),
    ),
    OpSpec(
        "minimum",
        binary_cases("grid", "offgrid", scalars=(0.125,)),
        numpy=np.minimum,
        torch=lambda torch, x, y: torch.minimum(_torch_scalar(torch, x, y), _torch_scalar(torch, y, x)),
    ),
    OpSpec(
        "clip",
        (
            case(T(2, 3), min=-0.5, max=0.5),
            case(T(4), min=-0.5, max=None),
            case(T(), min=None, max=0.5),
            case(T(1, 3), min=-0.5, max=0.5),
        ),
        numpy=lambda x, min, max: np.clip(x, min, max),  # noqa: A006
        torch=lambda torch, x, min, max: torch.clamp(x, min, max),  # noqa: A006
        kinks=(-0.5, 0.5),
    ),
    OpSpec(
        "where",
        (
            case(B(2, 3), T(2, 3), T(2, 3)),
            case(B(2, 1), T(1, 3), T(3)),
            case(B(), T(2, 3), T()),
            case(B(3), T(2, 3), S(0.0)),
            case(B(2, 3), S(-1.0), T(2, 3)),
        ),
        numpy=np.where,
        torch=lambda torch, c, x, y: torch.where(c, x, y),
    ),
    OpSpec(
        "astype",
        (case(T(2, 3), dtype="float32"), case(T(4), dtype="float64"), case(T(), dtype="float32")),
        numpy=lambda x, dtype: x.astype(dtype),
        torch=lambda torch, x, dtype: x.to(getattr(torch, dtype)),
        call=lambda x, dtype: x.astype(dtype),
        # Finite differences through a float32 rounding need a larger step.
        gradcheck={"eps": 1e-2, "atol": 1e-4},
    ),
    # linear algebra
    OpSpec(
        "matmul",
        (
            case(T(3), T(3), label="dot"),
            case(T(3), T(3, 2), label="vector-matrix"),
            case(T(2, 3), T(3), label="matrix-vector"),
            case(T(2, 3), T(3, 4)),
            case(T(1, 3), T(3, 4), label="batch1"),
            case(T(2, 1, 3), T(3, 2), label="batch1-rows"),
            case(T(2, 2, 3), T(3, 2), label="batched"),
            case(T(2, 1, 2, 3), T(3, 3, 2), label="broadcast-batch"),
            case(T(3), T(2, 3, 2), label="vector-batched"),
            case(T(2, 2, 3), T(3), label="batched-vector"),
        ),
        numpy=np.matmul,
        torch=lambda torch, x, y: x @ y,
    ),
    OpSpec(
        "linear",
        (
            case(T(3), T(2, 3), T(2), label="1d"),
            case(T(4, 3), T(2, 3), T(2), label="2d"),
            case(T(1, 3), T(2, 3), T(2), label="batch1"),
            case(T(2, 2, 3), T(2, 3), T(2), label="3d"),
            case(T(4, 3), T(2, 3), label="no-bias"),
            case(T(1, 3), T(2, 3), label="batch1-no-bias"),
            case(T(4, 3, grad=False), T(2, 3), T(2), label="data-without-grad"),
            case(T(4, 3), T(2, 3, grad=False), T(2), label="frozen-weight"),
            case(T(4, 3), T(2, 3), T(2, grad=False), label="frozen-bias"),
            # the fused activations (what nn.Sequential runs for Linear + ReLU/Sigmoid/Tanh)
            case(T(4, 3), T(2, 3), T(2), activation="relu"),
            case(T(1, 3), T(2, 3), T(2), activation="relu", label="batch1"),
            case(T(2, 2, 3), T(2, 3), T(2), activation="relu", label="3d"),
            case(T(4, 3, grad=False), T(2, 3), T(2), activation="relu", label="data-without-grad"),
            case(T(4, 3), T(2, 3), T(2), activation="sigmoid"),
            case(T(4, 3), T(2, 3), activation="tanh", label="no-bias"),
            case(T(3), T(2, 3), T(2), activation="tanh", label="1d"),
        ),
        numpy=lambda x, w, b=None, activation=None: _LINEAR_ACTIVATIONS_NUMPY[activation](
            x @ w.T + (0.0 if b is None else b)),
        torch=lambda torch, x, w, b=None, activation=None: _linear_activation_torch(
            torch, torch.nn.functional.linear(x, w, b), activation),
    ),
    # reductions
    _reduce("sum"),
    _reduce("mean"),
    _reduce("max"),
    _reduce("min"),
    OpSpec(
        "logsumexp",
        reduction_cases() + (case(T(2, 3, domain="large"), axis=-1, keepdims=False, label="large"),),
        numpy=_np_logsumexp,
        torch=lambda torch, x, axis, keepdims: torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims),
    ),
    OpSpec(
        "softmax",
        (case(T(4), axis=-1), case(T(2, 3), axis=-1), case(T(2, 3), axis=0), case(T(1, 3)),
         case(T(2, 3, domain="large"), axis=-1, label="large")),
        numpy=lambda x, axis=-1: np.exp(_np_log_softmax(x, axis)),
        torch=lambda torch, x, axis=-1: torch.softmax(x, dim=axis),
    ),
    OpSpec(
        "log_softmax",
        (case(T(4), axis=-1), case(T(2, 3), axis=-1), case(T(2, 3), axis=0), case(T(1, 3)),
         case(T(2, 3, domain="large"), axis=-1, label="large")),
        numpy=_np_log_softmax,
        torch=lambda torch, x, axis=-1: torch.log_softmax(x, dim=axis),
    ),
    # shapes and indexing
    OpSpec(
        "reshape",
        (case(T(2, 3), shape=(3, 2)), case(T(2, 3), shape=(-1,)), case(T(), shape=(1, 1)), case(T(4), shape=(2, 1, 2))),
        numpy=lambda x, shape: np.reshape(x, shape),
        torch=lambda torch, x, shape: torch.reshape(x, shape),
    ),
    OpSpec(
        "permute",
        (case(T(2, 3), axes=(1, 0)), case(T(2, 3, 4), axes=(2, 0, 1)), case(T(1, 3, 2), axes=(0, 2, 1)),
         case(T(2, 3, 4), axes=(-1, 0, 1))),
        numpy=lambda x, axes: np.transpose(x, axes),
        torch=lambda torch, x, axes: torch.permute(x, axes),
    ),
    OpSpec(
        "concat",
        (case(T(2, 3), T(1, 3), T(3, 3), axis=0), case(T(2, 1), T(2, 3), T(2, 2), axis=-1),
         case(T(4), T(1), T(2), axis=0)),
        numpy=lambda *xs, axis: np.concatenate(xs, axis=axis),
        torch=lambda torch, *xs, axis: torch.cat(xs, dim=axis),
    ),
    OpSpec(
        "stack",
        (case(T(2, 3), T(2, 3), T(2, 3), axis=0), case(T(3), T(3), T(3), axis=-1), case(T(), T(), T(), axis=0)),
        numpy=lambda *xs, axis: np.stack(xs, axis=axis),
        torch=lambda torch, *xs, axis: torch.stack(xs, dim=axis),
    ),
    OpSpec(
        "getitem",
        tuple(case(T(3, 4), key=key) for key in GETITEM_KEYS) + (case(T(4), key=2), case(T(1, 3), key=0)),
        numpy=lambda x, key: x[_np_key(key)],
        torch=lambda torch, x, key: x[_torch_key(torch, key)],
        call=lambda x, key: x[key],
    ),
    OpSpec(
        "take",
        (case(T(3, 4), V([2, 0, 2]), axis=0), case(T(3, 4), V([3, 3, 1, 0, 3]), axis=1), case(T(4), V([1]), axis=0),
         case(T(2, 3), V([-1, 0]), axis=1, label="negative")),
        numpy=lambda x, indices, axis: np.take(x, indices, axis=axis),
        torch=lambda torch, x, indices, axis: torch.index_select(x, axis, indices % x.shape[axis]),
    ),
    # not differentiable
    _compare("less", lambda x, y: x < y),
    _compare("less_equal", lambda x, y: x <= y),
    _compare("greater", lambda x, y: x > y),
    _compare("greater_equal", lambda x, y: x >= y),
    _compare("equal", lambda x, y: x == y),
    _compare("not_equal", lambda x, y: x != y),
    OpSpec("logical_not", (case(B(2, 3)), case(B())), numpy=np.logical_not,
           torch=lambda torch, x: torch.logical_not(x), differentiable=False),
    OpSpec("logical_and", (case(B(2, 3), B(2, 3)), case(B(2, 1), B(3))), numpy=np.logical_and,
           torch=lambda torch, x, y: torch.logical_and(x, y), differentiable=False),
    OpSpec("logical_or", (case(B(2, 3), B(2, 3)), case(B(), B(3))), numpy=np.logical_or,
           torch=lambda torch, x, y: torch.logical_or(x, y), differentiable=False),
    _arg_reduce("argmax"),
    _arg_reduce("argmin"),
)


# --- fused losses (torch.nn.functional semantics) ------------------------------------------------
def _np_reduce(losses, reduction, denominator):
    if reduction == "none":
        return losses
    return np.sum(losses) / denominator if reduction == "mean" else np.sum(losses)


def _np_class_losses(logp, target, weight, ignore_index, label_smoothing):
    """Per-row class-index losses and the weighted-mean denominator, as PyTorch defines them."""
    classes = logp.shape[1]
    weight = np.ones(classes, dtype=logp.dtype) if weight is None else weight
    kept = target != ignore_index
    safe = np.where(kept, target, 0)
    picked = np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
    losses = np.where(kept, -weight[safe] * picked, 0.0).astype(logp.dtype)
    if label_smoothing:
        spread = np.where(kept, -np.sum(weight * logp, axis=1), 0.0).astype(logp.dtype)
        losses = (1 - label_smoothing) * losses + label_smoothing / classes * spread
    return losses, np.sum(np.where(kept, weight[safe], 0.0).astype(logp.dtype))


def _torch_cross_entropy(torch, x, target, weight=None, **params):
    """The oracle of both cross-entropy ops: torch reads float targets as probabilities."""
    return torch.nn.functional.cross_entropy(x, target, weight, **params)


def _np_cross_entropy(x, target, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    losses, denominator = _np_class_losses(_np_log_softmax(x, axis=1), target, weight, ignore_index, label_smoothing)
    return _np_reduce(losses, reduction, denominator)


def _np_nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    losses, denominator = _np_class_losses(logp, target, weight, ignore_index, 0.0)
    return _np_reduce(losses, reduction, denominator)


def _np_soft_cross_entropy(x, target, weight=None, label_smoothing=0.0, reduction="mean"):
    classes = x.shape[1]
    probabilities = target * (1 - label_smoothing) + label_smoothing / classes
    weight = np.ones(classes, dtype=x.dtype) if weight is None else weight
    losses = -np.sum(weight * probabilities * _np_log_softmax(x, axis=1), axis=1)
    return _np_reduce(losses, reduction, x.shape[0])


def _np_mse_loss(x, y, reduction="mean"):
    return _np_reduce((x - y) ** 2, reduction, x.size)


def _np_binary_cross_entropy(p, y, weight=None, reduction="mean"):
    losses = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    return _np_reduce(losses if weight is None else losses * weight, reduction, p.size)


def _np_binary_cross_entropy_with_logits(x, y, weight=None, pos_weight=None, reduction="mean"):
    softplus_of_negative = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
    scale = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    losses = (1 - y) * x + scale * softplus_of_negative
    return _np_reduce(losses if weight is None else losses * weight, reduction, x.size)


REDUCTIONS = ("mean", "sum", "none")
LABELS = V([0, 2, 2, 1])
CLASS_WEIGHT = T(3, domain="positive", grad=False)  # PyTorch does not differentiate class weights either

LOSS_SPECS: tuple[OpSpec, ...] = (
    OpSpec(
        "cross_entropy",
        tuple(case(T(4, 3), LABELS, reduction=r) for r in REDUCTIONS)
        + (
            case(T(4, 3), LABELS, CLASS_WEIGHT, label="weighted"),
            case(T(4, 3), LABELS, CLASS_WEIGHT, reduction="none", label="weighted"),
            case(T(4, 3), LABELS, ignore_index=2),
            case(T(4, 3), LABELS, CLASS_WEIGHT, ignore_index=0, label="weighted"),
            case(T(4, 3), LABELS, label_smoothing=0.1),
            case(T(4, 3), LABELS, CLASS_WEIGHT, label_smoothing=0.2, reduction="sum", label="weighted"),
            case(T(1, 3), V([2]), label="batch1"),
            case(T(2, 3, domain="large"), V([0, 2]), label="large"),
        ),
        numpy=_np_cross_entropy,
        torch=_torch_cross_entropy,
    ),
    OpSpec(
        "soft_cross_entropy",
        tuple(case(T(4, 3), T(4, 3, domain="probability"), reduction=r) for r in REDUCTIONS)
        + (
            case(T(4, 3), T(4, 3, domain="probability"), CLASS_WEIGHT, label="weighted"),
            case(T(4, 3), T(4, 3, domain="probability"), label_smoothing=0.1),
            case(T(1, 3), T(1, 3, domain="probability"), CLASS_WEIGHT, label_smoothing=0.2, reduction="sum",
                 label="batch1"),
        ),
        numpy=_np_soft_cross_entropy,
        torch=_torch_cross_entropy,
    ),
    OpSpec(
        "nll_loss",
        tuple(case(T(4, 3), LABELS, reduction=r) for r in REDUCTIONS)
        + (
            case(T(4, 3), LABELS, CLASS_WEIGHT, label="weighted"),
            case(T(4, 3), LABELS, CLASS_WEIGHT, ignore_index=2, reduction="none", label="weighted"),
            case(T(1, 3), V([0]), label="batch1"),
        ),
        numpy=_np_nll_loss,
        torch=lambda torch, x, target, weight=None, **params: torch.nn.functional.nll_loss(x, target, weight, **params),
    ),
    OpSpec(
        "mse_loss",
        tuple(case(T(2, 3), T(2, 3), reduction=r) for r in REDUCTIONS) + (case(T(), T()), case(T(1, 3), T(1, 3))),
        numpy=_np_mse_loss,
        torch=lambda torch, x, y, **params: torch.nn.functional.mse_loss(x, y, **params),
    ),
    OpSpec(
        "binary_cross_entropy",
        tuple(case(T(2, 3, domain="probability"), T(2, 3, domain="probability"), reduction=r) for r in REDUCTIONS)
        + (
            case(T(2, 3, domain="probability"), T(2, 3, domain="probability"), T(3, domain="positive", grad=False),
                 label="weighted"),
            case(T(domain="probability"), T(domain="probability")),
        ),
        numpy=_np_binary_cross_entropy,
        torch=lambda torch, p, y, weight=None, **params: torch.nn.functional.binary_cross_entropy(
            p, y, weight, **params),
    ),
    OpSpec(
        "binary_cross_entropy_with_logits",
        tuple(case(T(2, 3), T(2, 3, domain="probability"), reduction=r) for r in REDUCTIONS)
        + (
            case(T(2, 3), T(2, 3, domain="probability"), T(3, domain="positive", grad=False), label="weighted"),
            case(T(2, 3), T(2, 3, domain="probability"), T(2, 3, domain="positive", grad=False),
                 T(3, domain="positive", grad=False), reduction="sum", label="pos_weight"),
            case(T(), T(domain="probability")),
            case(T(2, 3, domain="large"), T(2, 3, domain="probability"), label="large"),
        ),
        numpy=_np_binary_cross_entropy_with_logits,
        torch=lambda torch, x, y, weight=None, pos_weight=None, **params:
            torch.nn.functional.binary_cross_entropy_with_logits(x, y, weight, pos_weight=pos_weight, **params),
    ),
)

SPECS = SPECS + LOSS_SPECS
SPECS_BY_NAME: dict[str, OpSpec] = {spec.name: spec for spec in SPECS}

assert len(SPECS_BY_NAME) == len(SPECS), "two specs share a name"
