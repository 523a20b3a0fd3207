"""Optimizers (SGD, Adam, AdamW) and learning-rate schedulers, as ``torch.optim``."""

from anygrad.optim import lr_scheduler
from anygrad.optim.adam import Adam, AdamW
from anygrad.optim.optimizer import Optimizer
from anygrad.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
