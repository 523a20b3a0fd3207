"""Adam and AdamW with PyTorch's bias-corrected formulas."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

from anygrad.optim.optimizer import Optimizer, _check_number

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), with the same formulas and numbers as ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g`` (negated when ``maximize``), at step ``t``::

        g = g + weight_decay * p                 # L2 penalty (Adam)
        p = p * (1 - lr * weight_decay)          # decoupled decay instead (AdamW)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = maximum(v_max, v)                # amsgrad only; then used in place of v
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    ``decoupled_weight_decay=True`` is AdamW (as in ``torch.optim.Adam``).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
                isinstance(b, numbers.Real) for b in betas)):
            raise TypeError(f"{self._name}: betas must be a pair of numbers (beta1, beta2), got {betas!r}")
        _check_number(self._name, "beta1 (betas[0])", betas[0], low=0.0, high=1.0, high_inclusive=False)
        _check_number(self._name, "beta2 (betas[1])", betas[1], low=0.0, high=1.0, high_inclusive=False)
        _check_number(self._name, "epsilon (eps)", group["eps"], low=0.0)
        _check_number(self._name, "weight_decay", group["weight_decay"], low=0.0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        state = self.state
        for group in self.param_groups:
            # Python floats keep float32 parameters float32 (NumPy scalars would promote them).
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                xp = p._backend.xp
                data = p.data
                in_place = p._backend.is_writeable(data)
                param_state = state[p]
                if not param_state:
                    param_state["step"] = 0
                    param_state["exp_avg"] = xp.zeros_like(data)
                    param_state["exp_avg_sq"] = xp.zeros_like(data)
                    if amsgrad:
                        param_state["max_exp_avg_sq"] = xp.zeros_like(data)
                step = param_state["step"] + 1
                param_state["step"] = step
                if maximize:
                    grad = -grad
                if weight_decay != 0:
                    if not decoupled:
                        grad = grad + weight_decay * data
                    elif in_place:
                        data *= 1 - lr * weight_decay
                    else:
                        data = data * (1 - lr * weight_decay)
                exp_avg = param_state["exp_avg"]
                exp_avg_sq = param_state["exp_avg_sq"]
                if in_place:
                    delta = grad - exp_avg
                    delta *= 1 - beta1
                    exp_avg += delta
                    square = grad * grad
                    square *= 1 - beta2
                    exp_avg_sq *= beta2
                    exp_avg_sq += square
                else:
                    exp_avg = exp_avg + (1 - beta1) * (grad - exp_avg)
                    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * (grad * grad)
                    param_state["exp_avg"] = exp_avg
                    param_state["exp_avg_sq"] = exp_avg_sq
                if amsgrad:
                    max_exp_avg_sq = xp.maximum(param_state["max_exp_avg_sq"], exp_avg_sq)
                    if in_place:
                        param_state["max_exp_avg_sq"][...] = max_exp_avg_sq
                    else:
                        param_state["max_exp_avg_sq"] = max_exp_avg_sq
                    exp_avg_sq = max_exp_avg_sq
                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                if in_place:
                    denom = xp.sqrt(exp_avg_sq)
                    denom /= bias_correction2_sqrt
                    denom += eps
                    update = exp_avg / denom
                    update *= step_size
                    data -= update
                else:
                    denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
                    p.data = data - step_size * (exp_avg / denom)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    each step first shrinks ``p`` by ``lr * weight_decay * p``, then applies Adam."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
