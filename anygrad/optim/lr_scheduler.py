"""Learning-rate schedules, with the same lr sequences as ``torch.optim.lr_scheduler``.

Like PyTorch's, the schedules are chainable: each step scales the group's current ``lr``
rather than recomputing it from the start, so a manual change to ``group['lr']`` or a second
scheduler on the same optimizer composes. Call ``scheduler.step()`` after ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from anygrad.optim.optimizer import Optimizer, _check_number

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "MultiStepLR", "StepLR"]


class LRScheduler:
    """Base class: sets each group's ``lr`` from :meth:`get_lr` at every :meth:`step`.

    On creation it records ``group['initial_lr']`` (the base lr, kept in ``base_lrs``) and
    takes step 0. ``last_epoch`` counts the steps taken; pass it (with ``initial_lr`` already in
    the groups) to resume a schedule, or use :meth:`state_dict` / :meth:`load_state_dict`.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{self._name}: expected an anygrad optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{self._name}: resuming with last_epoch={last_epoch} needs 'initial_lr' in "
                                   f"param_groups[{i}]; load the optimizer's state dict first")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    @property
    def _name(self) -> str:
        return f"anygrad.optim.lr_scheduler.{type(self).__name__}"

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError(f"{self._name} does not implement get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per param group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance the schedule by one epoch (or iteration) and set the groups' ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (everything but the optimizer), as PyTorch's."""
        return {key: _copied(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` of the same kind of scheduler."""
        unknown = sorted(set(state_dict) - set(vars(self)))
        if unknown:
            raise ValueError(f"{self._name}.load_state_dict: unexpected keys {unknown}; "
                             "is this the state of another kind of scheduler?")
        for key, value in state_dict.items():
            setattr(self, key, _copied(value))


def _copied(value: Any) -> Any:
    """Containers are copied so a state dict never aliases the live scheduler."""
    return type(value)(value) if isinstance(value, (list, dict, Counter)) else value


class StepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"anygrad.optim.lr_scheduler.StepLR: step_size must be a positive int, got {step_size!r}")
        _check_number("anygrad.optim.lr_scheduler.StepLR", "gamma", gamma, low=0.0)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs, scaled by ``gamma`` at every multiple of ``step_size``."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` at each epoch listed in ``milestones``
    (a milestone listed twice multiplies by ``gamma ** 2``)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        milestones = list(milestones)
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in milestones):
            raise TypeError(f"anygrad.optim.lr_scheduler.MultiStepLR: milestones must be ints, got {milestones!r}")
        _check_number("anygrad.optim.lr_scheduler.MultiStepLR", "gamma", gamma, low=0.0)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs, scaled by ``gamma`` (per listing) at a milestone."""
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        scale = self.gamma ** self.milestones[self.last_epoch]
        return [lr * scale for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_number("anygrad.optim.lr_scheduler.ExponentialLR", "gamma", gamma, low=0.0)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current lrs times ``gamma`` (unchanged on the initial step)."""
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Anneal each group's lr along a cosine from its base lr to ``eta_min`` over ``T_max``
    epochs (SGDR without restarts); past ``T_max`` it rises again, with period ``2 * T_max``::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"anygrad.optim.lr_scheduler.CosineAnnealingLR: T_max must be a positive int, "
                             f"got {T_max!r}")
        _check_number("anygrad.optim.lr_scheduler.CosineAnnealingLR", "eta_min", eta_min, low=0.0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next lrs by the chainable recurrence of the cosine (PyTorch's, step for step)."""
        epoch, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (epoch - 1 - period) % (2 * period) == 0:  # the cosine's trough: the ratio below would be 0/0
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / period)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]
