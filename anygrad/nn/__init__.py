"""Neural-network building blocks with PyTorch's names: Module, Parameter, containers,
layers, activations, losses, ``init`` and ``functional`` (``import anygrad.nn.functional as F``)."""

from anygrad.nn import functional, init
from anygrad.nn.layers import (
    MLP,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from anygrad.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from anygrad.nn.module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "L1Loss", "LeakyReLU",
    "Linear", "LogSoftmax", "MLP", "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "functional", "init",
]
