"""The 20 tasks of Yang et al. 2019 (Nat Neurosci 22:297), one by one and as the 20-task mixture.

>>> import numpy as np
>>> from mtrnn.envs.yang19 import Rule, yang19_task
>>> task = yang19_task(Rule.DELAYANTI)
>>> batch = task.sample_batch(64, np.random.default_rng(0))
>>> batch.inputs.shape[1:], batch.targets.shape[1:]
((64, 85), (64, 33))
>>> float(task.score(batch.targets, batch).mean())
1.0
"""

from mtrnn.envs.yang19.base import (
    CORRECT_ANGLE,
    MAX_STRENGTH,
    SharedDraw,
    Stimulus,
    Yang19Task,
    yang_input_noise_std,
)
from mtrnn.envs.yang19.dm import (
    Attend,
    Yang19ContextDelayDM1,
    Yang19ContextDelayDM2,
    Yang19ContextDM1,
    Yang19ContextDM2,
    Yang19DecisionTask,
    Yang19DelayDM1,
    Yang19DelayDM2,
    Yang19DM1,
    Yang19DM2,
    Yang19MultiDelayDM,
    Yang19MultiDM,
)
from mtrnn.envs.yang19.go_anti import (
    Yang19Anti,
    Yang19DelayAnti,
    Yang19DelayGo,
    Yang19Go,
    Yang19ReactAnti,
    Yang19ReactGo,
)
from mtrnn.envs.yang19.grids import ConditionGrid, grid_conditions
from mtrnn.envs.yang19.matching import (
    CATEGORY_LOCATIONS,
    Yang19DMCGo,
    Yang19DMCNoGo,
    Yang19DMSGo,
    Yang19DMSNoGo,
    Yang19MatchTask,
)
from mtrnn.envs.yang19.mixture import TASK_CLASSES, Yang19Mixture, yang19_task
from mtrnn.envs.yang19.rings import (
    N_RING_UNITS,
    RingEncoding,
    circular_distance,
    gaussian_tuning,
    nearest_unit,
    population_vector,
    preferred_directions,
)
from mtrnn.envs.yang19.rules import DRISCOLL_RULES, DUNCKER_RULES, RULES, YANG_WEIGHTS, Rule

__all__ = [
    "CATEGORY_LOCATIONS",
    "CORRECT_ANGLE",
    "DRISCOLL_RULES",
    "DUNCKER_RULES",
    "MAX_STRENGTH",
    "N_RING_UNITS",
    "RULES",
    "TASK_CLASSES",
    "YANG_WEIGHTS",
    "Attend",
    "ConditionGrid",
    "RingEncoding",
    "Rule",
    "SharedDraw",
    "Stimulus",
    "Yang19Anti",
    "Yang19ContextDM1",
    "Yang19ContextDM2",
    "Yang19ContextDelayDM1",
    "Yang19ContextDelayDM2",
    "Yang19DM1",
    "Yang19DM2",
    "Yang19DMCGo",
    "Yang19DMCNoGo",
    "Yang19DMSGo",
    "Yang19DMSNoGo",
    "Yang19DecisionTask",
    "Yang19DelayAnti",
    "Yang19DelayDM1",
    "Yang19DelayDM2",
    "Yang19DelayGo",
    "Yang19Go",
    "Yang19MatchTask",
    "Yang19Mixture",
    "Yang19MultiDM",
    "Yang19MultiDelayDM",
    "Yang19ReactAnti",
    "Yang19ReactGo",
    "Yang19Task",
    "circular_distance",
    "gaussian_tuning",
    "grid_conditions",
    "nearest_unit",
    "population_vector",
    "preferred_directions",
    "yang19_task",
    "yang_input_noise_std",
]
