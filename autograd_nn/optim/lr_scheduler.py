"""Learning-rate schedules: StepLR, MultiStepLR, ExponentialLR, LinearLR (warm-up),
CosineAnnealingLR, LambdaLR, OneCycleLR, SequentialLR (one after another) and
ReduceLROnPlateau (on a metric).

Each sets every parameter group's lr from the group's lr at construction (its "initial_lr", the
base) and a step count, giving the same sequence as torch.optim.lr_scheduler: constructing one
applies step 0, and `step()` (after `optimizer.step()`) advances by one. The closed forms are
exact for a schedule that is the only thing changing the learning rate (or the one SequentialLR
runs).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR",
           "MultiStepLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR"]


def _groups_of(optimizer: Any, where: str) -> list[dict[str, Any]]:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g
                                               for g in groups):
        raise TypeError(f"{where}: expected an optimizer with an lr (param_groups, as "
                        f"ag.optim's optimizers have), got {type(optimizer).__name__}")
    return groups


class LRScheduler:
    """Base class: subclasses give `lr_at(step, base_lr)`; `step()` moves on and writes the lr
    of every parameter group (each from its own base lr)."""

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        groups = _groups_of(optimizer, type(self).__name__)
        self.optimizer = optimizer
        for g in groups:
            g.setdefault("initial_lr", float(g["lr"]))
        self.base_lrs = [float(g["initial_lr"]) for g in groups]
        self.base_lr = self.base_lrs[0]
        self.last_epoch = int(last_epoch)
        self.step()

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (or go to step `epoch`) and set each group's learning rate."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            g["lr"] = self.lr_at(self.last_epoch, base)

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last step, one per parameter group (PyTorch's form)."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's settings and step count (everything but the optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take what `state_dict()` saved."""
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

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class ExponentialLR(LRScheduler):
    """base_lr * gamma ** step."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** step


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

    def lr_at(self, step: int, base_lr: float) -> float:
        done = min(step, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        self.T_max = _count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * step / self.T_max)) / 2


class MultiStepLR(LRScheduler):
    """base_lr * gamma ** (the number of milestones <= step): the lr drops by gamma at each
    milestone (a milestone listed twice drops it twice, as torch's)."""

    def __init__(self, optimizer: Any, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        marks = list(milestones) if isinstance(milestones, (list, tuple, range)) else None
        if marks is None or not marks or any(
                isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0
                for m in marks):
            raise ValueError(f"MultiStepLR: milestones must be a non-empty list of step "
                             f"numbers >= 0, got {milestones!r}")
        self.milestones = sorted(int(m) for m in marks)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, step)


class LambdaLR(LRScheduler):
    """base_lr * lr_lambda(step): one function for every parameter group, or a list with one
    per group (torch.optim.lr_scheduler.LambdaLR)."""

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float] | Sequence[Callable],
                 last_epoch: int = -1) -> None:
        groups = _groups_of(optimizer, "LambdaLR")
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"LambdaLR: expected {len(groups)} lr_lambdas (one per "
                                 f"parameter group), got {len(lr_lambda)}")
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * len(groups)
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda #{i} must be a function of the step, got "
                                f"{type(fn).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """The state without plain functions (None in their place, as torch's): lambdas do not
        pickle; loading keeps this scheduler's own functions there."""
        out = super().state_dict()
        out["lr_lambdas"] = [None if callable(fn) and hasattr(fn, "__code__") else fn
                             for fn in self.lr_lambdas]
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take what `state_dict()` saved, keeping this scheduler's functions where it has None."""
        state = dict(state)
        saved = state.pop("lr_lambdas", None) or [None] * len(self.lr_lambdas)
        self.__dict__.update(state)
        self.lr_lambdas = [mine if theirs is None else theirs
                           for mine, theirs in zip(self.lr_lambdas, saved, strict=True)]

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (or go to step `epoch`) and set each group's learning rate."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        for g, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas,
                               strict=True):
            g["lr"] = base * fn(self.last_epoch)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin; torch.optim.lr_scheduler.OneCycleLR): the lr rises from
    max_lr / div_factor to max_lr over the first pct_start of total_steps, then anneals to
    initial_lr / final_div_factor ("cos" or "linear"); with three_phase, it first comes back
    down to the initial lr. With cycle_momentum, the momentum (or Adam's beta1) moves the other
    way between max_momentum and base_momentum. Stepping past total_steps is refused."""

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        where = "OneCycleLR"
        groups = _groups_of(optimizer, where)
        if total_steps is not None:
            self.total_steps = _count(total_steps, "total_steps", where)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_count(epochs, "epochs", where)
                                * _count(steps_per_epoch, "steps_per_epoch", where))
        else:
            raise ValueError(f"{where}: give total_steps, or epochs and steps_per_epoch")
        if isinstance(pct_start, bool) or not 0 <= pct_start <= 1:
            raise ValueError(f"{where}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{where}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        end = float(pct_start * self.total_steps) - 1
        last = self.total_steps - 1
        # (end step, start, end) per phase; "initial", "max", "min" name per-group values
        if three_phase:
            self.phases = [(end, "initial", "max", "max_m", "base_m"),
                           (float(2 * pct_start * self.total_steps) - 2, "max", "initial",
                            "base_m", "max_m"),
                           (last, "initial", "min", "max_m", "max_m")]
        else:
            self.phases = [(end, "initial", "max", "max_m", "base_m"),
                           (last, "max", "min", "base_m", "max_m")]
        max_lrs = _per_group(max_lr, "max_lr", len(groups), where)
        self.values = []
        for g, top in zip(groups, max_lrs, strict=True):
            if last_epoch == -1:
                g["initial_lr"] = top / div_factor
            self.values.append({"initial": g["initial_lr"], "max": top,
                                "min": g["initial_lr"] / final_div_factor})
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"{where}: cycle_momentum=True needs an optimizer with "
                                 f"momentum or betas; {type(optimizer).__name__} has neither "
                                 "(pass cycle_momentum=False)")
            self.use_beta1 = "betas" in defaults
            tops = _per_group(max_momentum, "max_momentum", len(groups), where)
            bases = _per_group(base_momentum, "base_momentum", len(groups), where)
            for g, v, top, base in zip(groups, self.values, tops, bases, strict=True):
                v["max_m"], v["base_m"] = top, base
                if last_epoch == -1:
                    self._set_momentum(g, top)
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *tuple(group["betas"])[1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (or go to step `epoch`): set each group's lr (and momentum)."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, but total_steps is "
                             f"{self.total_steps}")
        for g, v in zip(self.optimizer.param_groups, self.values, strict=True):
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    g["lr"] = self._anneal(v[lr0], v[lr1], pct)
                    if self.cycle_momentum:
                        self._set_momentum(g, self._anneal(v[m0], v[m1], pct))
                    break
                start_step = end_step


def _per_group(value: Any, name: str, n: int, where: str) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{where}: expected {n} values of {name} (one per parameter "
                             f"group), got {len(value)}")
        return [float(v) for v in value]
    return [float(value)] * n


class SequentialLR(LRScheduler):
    """Runs `schedulers` one after another, switching at the steps in `milestones` (one fewer
    than schedulers); each scheduler restarts from its step 0 at its milestone, as
    torch.optim.lr_scheduler.SequentialLR. The schedulers must drive this optimizer."""

    def __init__(self, optimizer: Any, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        where = "SequentialLR"
        groups = _groups_of(optimizer, where)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(f"{where}: expects at least one scheduler")
        for i, sched in enumerate(schedulers):
            if isinstance(sched, ReduceLROnPlateau) or not isinstance(sched, LRScheduler):
                raise TypeError(f"{where}: scheduler #{i} is a {type(sched).__name__}; it takes "
                                "step-count schedulers (not ReduceLROnPlateau, whose step needs "
                                "a metric)")
            if sched.optimizer is not optimizer:
                raise ValueError(f"{where}: scheduler #{i} ({type(sched).__name__}) drives "
                                 "another optimizer")
        milestones = [int(m) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{where}: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.optimizer = optimizer
        self.last_epoch = int(last_epoch) + 1
        for g in groups:  # back to the initial lr; undo the step each scheduler took
            g["lr"] = g["initial_lr"]
        for sched in schedulers:
            sched.last_epoch -= 1
        self._schedulers[bisect.bisect_right(milestones, 0)].step()

    def step(self, epoch: int | None = None) -> None:
        """Advance one step: the scheduler of this stretch steps (restarting at its milestone)."""
        if epoch is not None:
            raise TypeError("SequentialLR.step() takes no epoch")
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched.step(0)
        else:
            sched.step()

    def state_dict(self) -> dict[str, Any]:
        """Its step count and milestones, and each scheduler's own state_dict()."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take what `state_dict()` saved, the schedulers' states too."""
        state = dict(state)
        for sched, saved in zip(self._schedulers, state.pop("_schedulers"), strict=True):
            sched.load_state_dict(saved)
        self.__dict__.update(state)


class ReduceLROnPlateau:
    """Multiplies each group's lr by `factor` (not below min_lr) when the metric given to
    `step(metric)` has not improved for more than `patience` steps, then waits `cooldown`
    steps (torch.optim.lr_scheduler.ReduceLROnPlateau, the same rules and defaults). "Improved"
    is mode "min" (or "max") beyond `threshold`, relative ("rel") or absolute ("abs")."""

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0,
                 eps: float = 1e-8) -> None:
        where = "ReduceLROnPlateau"
        groups = _groups_of(optimizer, where)
        if not 0 <= factor < 1:
            raise ValueError(f"{where}: factor must be in [0, 1), got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{where}: {name} must be an int >= 0, got {value!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.min_lrs = _per_group(min_lr, "min_lr", len(groups), where)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bar = (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
                   else self.best - self.threshold)
            return value < bar
        bar = (self.best * (1 + self.threshold) if self.threshold_mode == "rel"
               else self.best + self.threshold)
        return value > bar

    def step(self, metric: Any) -> None:
        """Record this step's metric (a number or a 0-d Tensor) and reduce the lr on a
        plateau."""
        try:
            value = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number (e.g. the "
                            f"validation loss), got {type(metric).__name__}") from None
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, floor in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = float(g["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        """The current learning rates, one per parameter group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's settings and step count (everything but the optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take what `state_dict()` saved."""
        self.__dict__.update(state)
