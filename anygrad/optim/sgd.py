"""Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from anygrad.optim.optimizer import Optimizer, _check_number

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, with the same formulas and numbers as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay * p
        buf = g                                       # first step (a copy)
        buf = momentum * buf + (1 - dampening) * g    # later steps
        g = g + momentum * buf if nesterov else buf   # only when momentum != 0
        p = p - lr * g

    Note this is PyTorch's momentum: the learning rate scales the whole velocity. The
    course/Chainer form ``v = mu * v - lr * g; p = p + v`` gives the same trajectory only
    while ``lr`` stays constant.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _check_number(self._name, "momentum", group["momentum"], low=0.0)
        _check_number(self._name, "dampening", group["dampening"], low=0.0)
        _check_number(self._name, "weight_decay", group["weight_decay"], low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{self._name}: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        state = self.state
        for group in self.param_groups:
            # Python floats keep float32 parameters float32 (NumPy scalars would promote them).
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                data = p.data
                in_place = p._backend.is_writeable(data)
                fresh = False  # whether `grad` is an array this step made (safe to keep as the buffer)
                if maximize:
                    grad, fresh = -grad, True
                if weight_decay != 0:
                    grad, fresh = grad + weight_decay * data, True
                if momentum != 0:
                    param_state = state[p]
                    buf = param_state.get("momentum_buffer")
                    if buf is None:
                        # The buffer is updated in place later and p.grad may share memory: copy
                        # it unless this step made it (asarray also turns NumPy scalars into arrays).
                        buf = p._backend.xp.asarray(grad, copy=None if fresh else True)
                        param_state["momentum_buffer"] = buf
                    elif in_place:
                        buf *= momentum
                        buf += grad if dampening == 0 else (1 - dampening) * grad
                    else:
                        buf = momentum * buf + (grad if dampening == 0 else (1 - dampening) * grad)
                        param_state["momentum_buffer"] = buf
                    grad = grad + momentum * buf if nesterov else buf
                if in_place:
                    data -= lr * grad
                else:
                    p.data = data - lr * grad
        return loss
