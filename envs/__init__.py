"""mtrnn.envs: cognitive tasks as Gymnasium environments and as vectorised, masked trial batches.

numpy + gymnasium only (no torch). Importing this package registers every ``mtrnn/<Name>-v0`` id.
"""

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.conditions import Condition, Flag, Integers, Reals
from mtrnn.envs.delay import DelayAnti, DelayAntiMatchToSample, DelayGo, DelayMatchToSample, DelayTask
from mtrnn.envs.env import TrialEnv
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.registry import ENV_SPECS, all_ids, make_task, register_envs
from mtrnn.envs.scoring import decision_outcome
from mtrnn.envs.task import Built, Layout, PeriodTask, Task
from mtrnn.envs.timing import Choice, Fixed, TimingSpec, TruncExp, Uniform, to_steps

register_envs()

__all__ = [
    "ENV_SPECS",
    "Built",
    "Choice",
    "Condition",
    "DelayAnti",
    "DelayAntiMatchToSample",
    "DelayGo",
    "DelayMatchToSample",
    "DelayTask",
    "Fixed",
    "Flag",
    "Integers",
    "Layout",
    "MultiTask",
    "PeriodTask",
    "Reals",
    "Task",
    "TimingSpec",
    "TrialBatch",
    "TrialEnv",
    "TruncExp",
    "Uniform",
    "all_ids",
    "decision_outcome",
    "make_task",
    "register_envs",
    "to_steps",
]
