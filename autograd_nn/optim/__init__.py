"""Optimizers (`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, with parameter groups and
`state_dict`/`load_state_dict`, and their pure-function forms) and learning-rate schedules
(`ag.optim.lr_scheduler`)."""

from . import lr_scheduler
from .adaptive import (
    Adagrad,
    RMSprop,
    adagrad_init,
    adagrad_update,
    rmsprop_init,
    rmsprop_update,
)
from .base import Optimizer
from .optimizers import (
    SGD,
    Adam,
    AdamW,
    adam_init,
    adam_update,
    adamw_update,
    sgd_init,
    sgd_update,
)

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "adagrad_init",
           "adagrad_update", "adam_init", "adam_update", "adamw_update", "lr_scheduler",
           "rmsprop_init", "rmsprop_update", "sgd_init", "sgd_update"]
