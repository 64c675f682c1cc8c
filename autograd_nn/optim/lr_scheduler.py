"""Learning-rate schedules: StepLR, ExponentialLR, LinearLR (warm-up) and CosineAnnealingLR.

Each sets `optimizer.lr` from the optimizer's lr at construction (the base) and a step count,
giving the same sequence as torch.optim.lr_scheduler: constructing one applies step 0, and
`step()` (after `optimizer.step()`) advances by one. The closed forms are exact for a schedule
that is the only thing changing the learning rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "StepLR"]


class LRScheduler:
    """Base class: subclasses give `lr_at(step)`; `step()` moves on and writes optimizer.lr."""

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: expected an optimizer with an lr, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = int(last_epoch)
        self.step()

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set the optimizer's learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rate set by the last step, as a one-element list (PyTorch's form)."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _positive(value: Any, what: str, where: str) -> Any:
    if not value > 0:
        raise ValueError(f"{where}: {what} must be positive, got {value!r}")
    return value


def _count(value: Any, what: str, where: str) -> int:
    """A positive whole number of steps (a fraction would be truncated silently)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{where}: {what} must be a positive int, got {value!r}")
    return int(_positive(value, what, where))


class StepLR(LRScheduler):
    """base_lr * gamma ** (step // step_size)."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _count(step_size, "step_size", "StepLR")
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class ExponentialLR(LRScheduler):
    """base_lr * gamma ** step."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** step


class LinearLR(LRScheduler):
    """A linear ramp of the factor from start_factor to end_factor over total_iters steps, then
    constant (a warm-up with the defaults)."""

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in "
                             f"[0, 1], got {start_factor}, {end_factor}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = _count(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int) -> float:
        done = min(step, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        self.T_max = _count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * step / self.T_max)) / 2
