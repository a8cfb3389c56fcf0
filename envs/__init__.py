"""mtrnn.envs: cognitive tasks as Gymnasium environments and as vectorised, masked trial batches.

numpy + gymnasium only (no torch). Importing this package registers every ``mtrnn/<Name>-v0`` id.
"""

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.conditions import Condition, Flag, Integers, Reals
from mtrnn.envs.curriculum import (
    AdvanceRule,
    Curriculum,
    CurriculumKind,
    CurriculumWrapper,
    HeadCurriculum,
    ParameterSchedule,
    RuleSwitch,
    StagedCurriculum,
)
from mtrnn.envs.delay import DelayAnti, DelayAntiMatchToSample, DelayGo, DelayMatchToSample, DelayTask
from mtrnn.envs.env import TrialEnv
from mtrnn.envs.memory import NDMS, MemoryEnv, MemoryTask, MultiHeadBatch, NParity
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.neurogym_adapter import NeurogymTask
from mtrnn.envs.registry import ENV_SPECS, all_ids, make_task, register_envs
from mtrnn.envs.scoring import decision_outcome
from mtrnn.envs.task import Built, Layout, PeriodTask, Task  # noqa: F401
from mtrnn.envs.timing import Choice, Fixed, TimingSpec, TruncExp, Uniform, to_steps
from mtrnn.envs.yang19 import (
    DRISCOLL_RULES,
    DUNCKER_RULES,
    RULES,
    ConditionGrid,
    RingEncoding,
    Rule,
    Yang19Mixture,
    Yang19Task,
    grid_conditions,
    yang19_task,
)

register_envs()

# Built and Layout (what a task subclass builds with) stay importable from here for old code; they live in
# mtrnn.envs.task and are not among the package's public names.
__all__ = [
    "DRISCOLL_RULES",
    "DUNCKER_RULES",
    "ENV_SPECS",
    "NDMS",
    "RULES",
    "AdvanceRule",
    "Choice",
    "Condition",
    "ConditionGrid",
    "Curriculum",
    "CurriculumKind",
    "CurriculumWrapper",
    "DelayAnti",
    "DelayAntiMatchToSample",
    "DelayGo",
    "DelayMatchToSample",
    "DelayTask",
    "Fixed",
    "Flag",
    "HeadCurriculum",
    "Integers",
    "MemoryEnv",
    "MemoryTask",
    "MultiHeadBatch",
    "MultiTask",
    "NParity",
    "NeurogymTask",
    "ParameterSchedule",
    "PeriodTask",
    "Reals",
    "RingEncoding",
    "Rule",
    "RuleSwitch",
    "StagedCurriculum",
    "Task",
    "TimingSpec",
    "TrialBatch",
    "TrialEnv",
    "TruncExp",
    "Uniform",
    "Yang19Mixture",
    "Yang19Task",
    "all_ids",
    "decision_outcome",
    "grid_conditions",
    "make_task",
    "register_envs",
    "to_steps",
    "yang19_task",
]
