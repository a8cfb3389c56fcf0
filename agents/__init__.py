"""Recurrent agents (torch): networks, the one-step cells that training, RL and analysis share, and the
supervised trainer (``mtrnn-train``) with its run directories."""

from mtrnn.agents.callbacks import Callback, ProgressBar, TrainState
from mtrnn.agents.cells import LeakyRNNCell, RecurrentCell, TorchGRUCell, TorchLSTMCell
from mtrnn.agents.config import RESUME_CHANGES, Loss, Optimizer, TaskSource, TrainConfig
from mtrnn.agents.continual import Continual, OrthogonalProjection
from mtrnn.agents.curriculum import CurriculumCallback, resize_heads
from mtrnn.agents.evaluation import evaluate
from mtrnn.agents.networks import (
    Activation,
    Architecture,
    Init,
    NetworkConfig,
    OutputActivation,
    RecurrentNetwork,
    build_network,
)
from mtrnn.agents.rundir import RunDir, RunFileError, load_agent, load_config
from mtrnn.agents.trainer import StopReason, Trainer, TrainingDiverged, TrainResult, train

__all__ = [
    "RESUME_CHANGES",
    "Activation",
    "Architecture",
    "Callback",
    "Continual",
    "CurriculumCallback",
    "Init",
    "LeakyRNNCell",
    "Loss",
    "NetworkConfig",
    "Optimizer",
    "OrthogonalProjection",
    "OutputActivation",
    "ProgressBar",
    "RecurrentCell",
    "RecurrentNetwork",
    "RunDir",
    "RunFileError",
    "StopReason",
    "TaskSource",
    "TorchGRUCell",
    "TorchLSTMCell",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "Trainer",
    "TrainingDiverged",
    "build_network",
    "evaluate",
    "load_agent",
    "load_config",
    "resize_heads",
    "train",
]
