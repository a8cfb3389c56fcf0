"""The one explicit registry of mtrnn's Gymnasium environments (no folder scanning).

Every id is ``mtrnn/<Name>-v0``. :func:`register_envs` is the ``gymnasium.envs`` entry point (gymnasium 0.29
calls it when gymnasium is imported) and is also called when :mod:`mtrnn.envs` is imported (gymnasium 1.x
dropped plugin loading). Registering twice is a no-op. Bump an id's version whenever its behaviour changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gymnasium.envs.registration import register, registry

from mtrnn.envs.delay import DelayAnti, DelayAntiMatchToSample, DelayGo, DelayMatchToSample
from mtrnn.envs.task import Task
from mtrnn.envs.yang19 import RULES, TASK_CLASSES, Yang19Mixture

__all__ = ["ENV_SPECS", "EnvEntry", "all_ids", "make_task", "register_envs"]

NAMESPACE = "mtrnn"
ENTRY_POINT = "mtrnn.envs.env:TrialEnv"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment: its id, the task class it plays and default task arguments."""

    id: str
    task: type[Task]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def max_episode_steps(self) -> int:
        """The longest trial of the default task (episodes end with their trial)."""
        return self.task(**self.kwargs).max_steps


#: Every environment mtrnn registers, in display order.
ENV_SPECS: tuple[EnvEntry, ...] = (
    EnvEntry("mtrnn/DelayGo-v0", DelayGo),
    EnvEntry("mtrnn/DelayAnti-v0", DelayAnti),
    EnvEntry("mtrnn/DelayMatchToSample-v0", DelayMatchToSample),
    EnvEntry("mtrnn/DelayAntiMatchToSample-v0", DelayAntiMatchToSample),
    *(EnvEntry(rule.env_id, TASK_CLASSES[rule]) for rule in RULES),
    EnvEntry("mtrnn/Yang19-v0", Yang19Mixture),
)


def all_ids() -> list[str]:
    """Every registered ``mtrnn/…`` id, in display order."""
    return [entry.id for entry in ENV_SPECS]


def make_task(env_id: str, **kwargs: Any) -> Task:
    """The Task behind a registered id, built with its default arguments updated by ``kwargs``."""
    for entry in ENV_SPECS:
        if entry.id == env_id:
            return entry.task(**{**entry.kwargs, **kwargs})
    raise ValueError(f"env_id must be one of {all_ids()}, got {env_id!r}")


def register_envs() -> None:
    """Register every id of :data:`ENV_SPECS` with gymnasium (ids already registered are left alone)."""
    for entry in ENV_SPECS:
        if entry.id in registry:
            continue
        register(
            id=entry.id,
            entry_point=ENTRY_POINT,
            max_episode_steps=entry.max_episode_steps(),
            kwargs={"task": entry.task, **entry.kwargs},
        )
