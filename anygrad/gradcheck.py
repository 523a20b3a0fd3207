"""Finite-difference checks of the engine's gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from anygrad.tensor import Tensor, tensor

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """The engine's gradient and the finite-difference estimate disagree."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Compare the engine's gradients of ``fn(*inputs)`` with central finite differences.

    Inputs that require grad must be float64. A non-scalar output is reduced with a
    fixed random cotangent ``v``, so the check covers ``v @ J`` for every input element.
    On failure raises :class:`GradcheckError` naming the input, the worst element, both
    values and the error (or returns False when ``raise_exception=False``).
    """
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i, t in enumerate(checked):
        if t.numpy().dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; finite differences need float64")
    inputs = list(inputs)
    output = fn(*inputs)
    cotangent = tensor(np.random.default_rng(seed).standard_normal(output.shape), dtype="float64",
                       backend=output._backend)

    def scalar(args: list[Any]) -> float:
        return float((fn(*args) * cotangent).sum().item())

    for t in checked:
        t.grad = None
    (output * cotangent).sum().backward()

    for position, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = np.zeros(t.shape) if t.grad is None else t._backend.to_host(t.grad).astype(np.float64)
        host = t.numpy().astype(np.float64)
        numeric = np.zeros_like(host)
        for index in np.ndindex(host.shape):
            values = []
            for step in (eps, -eps):
                shifted = host.copy()
                shifted[index] += step
                args = list(inputs)
                args[position] = tensor(shifted, dtype="float64", backend=t._backend)
                values.append(scalar(args))
            numeric[index] = (values[0] - values[1]) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            message = (
                f"gradcheck: input {position} (shape {t.shape}) disagrees at index {tuple(map(int, worst))}: "
                f"engine {analytic[worst]:.8g}, finite differences {numeric[worst]:.8g}, "
                f"abs error {abs(analytic[worst] - numeric[worst]):.3g} (atol {atol}, rtol {rtol})"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
