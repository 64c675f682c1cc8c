"""Optimizers (`SGD`, `Adam` and their pure-function forms) and learning-rate schedules
(`ag.optim.lr_scheduler`)."""

from . import lr_scheduler
from .optimizers import SGD, Adam, Optimizer, adam_init, adam_update, sgd_init, sgd_update

__all__ = ["SGD", "Adam", "Optimizer", "adam_init", "adam_update", "lr_scheduler", "sgd_init",
           "sgd_update"]
