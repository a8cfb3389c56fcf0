"""Recurrent agents (torch): networks, and the one-step cells that training, RL and analysis share."""

from mtrnn.agents.cells import LeakyRNNCell, RecurrentCell, TorchGRUCell, TorchLSTMCell
from mtrnn.agents.networks import (
    Activation,
    Architecture,
    Init,
    NetworkConfig,
    OutputActivation,
    RecurrentNetwork,
    build_network,
)

__all__ = [
    "Activation",
    "Architecture",
    "Init",
    "LeakyRNNCell",
    "NetworkConfig",
    "OutputActivation",
    "RecurrentCell",
    "RecurrentNetwork",
    "TorchGRUCell",
    "TorchLSTMCell",
    "build_network",
]
