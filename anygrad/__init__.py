"""anygrad: a small, fast, correct autograd engine over the Python Array API standard.

One model trains on NumPy, CuPy, PyTorch tensors, JAX or array-api-strict: pick the
backend with :func:`use`, :func:`backend` or the ``ANYGRAD_BACKEND`` environment variable.
"""

# tensor first: it defines Tensor, then imports the op table, which builds on the engine.
from anygrad.tensor import (  # isort: skip
    Tensor,
    arange,
    full,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from anygrad import data, nn, optim
from anygrad.backend import (
    Backend,
    available_backends,
    backend,
    get_backend,
    get_default_backend,
    keep_freed_memory,
    manual_seed,
    synchronize,
    to_numpy,
    use,
)
from anygrad.capture import CapturedStep, CaptureError, capture
from anygrad.checkpoint import load, save
from anygrad.engine import enable_grad, is_grad_enabled, no_grad
from anygrad.gradcheck import GradcheckError, gradcheck
from anygrad.ops import (
    abs,
    add,
    argmax,
    argmin,
    astype,
    clip,
    concat,
    div,
    exp,
    expand_dims,
    flatten,
    getitem,
    leaky_relu,
    linear,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)

clamp = clip
unsqueeze = expand_dims
divide = div
multiply = mul
subtract = sub

__version__ = "0.1.0"

__all__ = [
    "Backend", "CaptureError", "CapturedStep", "GradcheckError", "Tensor", "abs", "add", "arange", "argmax",
    "argmin", "astype", "available_backends", "backend", "capture", "clamp", "clip", "concat", "data", "div",
    "divide", "enable_grad", "exp", "expand_dims", "flatten", "full", "get_backend", "get_default_backend", "getitem", "gradcheck",
    "is_grad_enabled", "keep_freed_memory", "leaky_relu", "linear", "load", "log", "log_softmax", "logsumexp",
    "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "multiply", "neg", "nn", "no_grad",
    "ones", "ones_like", "optim", "permute", "pow", "rand", "randint", "randn", "relu", "reshape", "save",
    "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub", "subtract", "sum", "synchronize", "tanh", "tensor",
    "to_numpy", "transpose", "unsqueeze", "use", "where", "zeros", "zeros_like",
]
