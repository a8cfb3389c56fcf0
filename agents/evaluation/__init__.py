"""Third-party agent evaluation: agent protocols, frozen test sets, ``evaluate``, results files, isolation.

``mtrnn.agents.evaluate(agent, env_ids)`` scores any agent — a sequence agent, a step agent, a
stable-baselines3 model, a torch module, an mtrnn run directory or third-party code named as
``file.py:factory`` / ``module:factory`` — on the same frozen trials, and returns results that
:func:`save_results` writes as a validated, digested JSON file (``mtrnn-evaluate`` on the command line).
"""

from mtrnn.agents.evaluation.evaluate import AgentError, Playback, evaluate, evaluate_task, mtrnn_version
from mtrnn.agents.evaluation.isolation import Limits, evaluate_isolated
from mtrnn.agents.evaluation.protocols import (
    AgentFactory,
    AgentKind,
    SB3Policy,
    SequenceAgent,
    StepAgent,
    TorchSequenceAgent,
    agent_kind,
    as_agent,
)
from mtrnn.agents.evaluation.results import (
    RESULTS_SCHEMA,
    AgentInfo,
    ComponentResult,
    EvaluationResults,
    Machine,
    ResultsError,
    Status,
    TaskResult,
    load_results,
    save_results,
    wilson_interval,
)
from mtrnn.agents.evaluation.specs import AgentSpec, SpecKind, run_dir_factory
from mtrnn.agents.evaluation.testsets import FIRST_SEEDS, TEST_PROTOCOL, TRIALS_PER_TASK, TestSet, frozen_test_set

__all__ = [
    "FIRST_SEEDS",
    "RESULTS_SCHEMA",
    "TEST_PROTOCOL",
    "TRIALS_PER_TASK",
    "AgentError",
    "AgentFactory",
    "AgentInfo",
    "AgentKind",
    "AgentSpec",
    "ComponentResult",
    "EvaluationResults",
    "Limits",
    "Machine",
    "Playback",
    "ResultsError",
    "SB3Policy",
    "SequenceAgent",
    "SpecKind",
    "Status",
    "StepAgent",
    "TaskResult",
    "TestSet",
    "TorchSequenceAgent",
    "agent_kind",
    "as_agent",
    "evaluate",
    "evaluate_isolated",
    "evaluate_task",
    "frozen_test_set",
    "load_results",
    "mtrnn_version",
    "run_dir_factory",
    "save_results",
    "wilson_interval",
]
