"""The one explicit registry of mtrnn's Gymnasium environments (no folder scanning).

Every id is ``mtrnn/<Name>-v0`` and has its own env class, ``mtrnn.envs.gym_envs:<Name>Env``, generated from
its entry (a subclass of the entry's env class, e.g. :class:`~mtrnn.envs.env.TrialEnv`, that builds the id's task;
its docstring is the env's page, generated from the task). Specs hold JSON-able kwargs only, so every spec
serialises (``gym.spec(id).to_json()``). No time limit is registered by default: the env ends its own trials,
whatever ``dt`` or ``timing`` they are built with. Adding an id is one line in :data:`ENV_SPECS`.

:func:`register_envs` is the ``gymnasium.envs`` entry point (gymnasium 0.29
calls it when gymnasium is imported) and is also called when :mod:`mtrnn.envs` is imported (gymnasium 1.x
dropped plugin loading). Registering twice is a no-op. Bump an id's version whenever its behaviour changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gymnasium.envs.registration import register, registry

from mtrnn.envs.delay import DelayAnti, DelayAntiMatchToSample, DelayGo, DelayMatchToSample
from mtrnn.envs.memory import NDMS, NParity
from mtrnn.envs.task import Task
from mtrnn.envs.yang19 import RULES, TASK_CLASSES, Yang19Mixture

__all__ = [
    "ENTRY_POINT",
    "ENTRY_POINT_MODULE",
    "ENV_SPECS",
    "EnvEntry",
    "all_ids",
    "entry_of",
    "make_task",
    "register_envs",
]

NAMESPACE = "mtrnn"
#: The env class that plays a task unless an entry names another (called as ``cls(task, **env_kwargs)``).
ENTRY_POINT = "mtrnn.envs.env:TrialEnv"
#: The module that holds every registered id's own env class.
ENTRY_POINT_MODULE = "mtrnn.envs.gym_envs"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment: its id, the task class it plays and default task arguments (JSON-able).

    ``entry_point`` names the env class that plays the task (``"module:Class"``, called as
    ``cls(task, **env_kwargs)``); the id's own class (:attr:`class_entry_point`) derives from it.
    """

    id: str
    task: type[Task]
    kwargs: dict[str, Any] = field(default_factory=dict)
    entry_point: str = ENTRY_POINT
    #: Register a time limit at the default task's longest trial. Off by default: every env ends its own trials,
    #: and a limit taken from the default task would cut trials lengthened by ``dt``/``timing``/``N``.
    time_limit: bool = False

    def max_episode_steps(self) -> int | None:
        """The longest trial of the default task (episodes end with their trial); None without a time limit."""
        return self.task(**self.kwargs).max_steps if self.time_limit else None

    def __post_init__(self) -> None:
        try:
            json.dumps(self.kwargs)
        except TypeError as error:
            raise TypeError(f"kwargs of {self.id} must be JSON-able (they go into the gym spec): {error}") from None

    @property
    def class_name(self) -> str:
        """The id's own env class: ``mtrnn/Yang19-DelayAnti-v0`` -> ``Yang19DelayAntiEnv``."""
        name = self.id.split("/", 1)[-1].rsplit("-v", 1)[0]
        return name.replace("-", "").replace("_", "") + "Env"

    @property
    def class_entry_point(self) -> str:
        """The registered entry point, the id's own class: ``"mtrnn.envs.gym_envs:<Name>Env"``."""
        return f"{ENTRY_POINT_MODULE}:{self.class_name}"


#: Every environment mtrnn registers, in display order.
ENV_SPECS: tuple[EnvEntry, ...] = (
    EnvEntry("mtrnn/DelayGo-v0", DelayGo),
    EnvEntry("mtrnn/DelayAnti-v0", DelayAnti),
    EnvEntry("mtrnn/DelayMatchToSample-v0", DelayMatchToSample),
    EnvEntry("mtrnn/DelayAntiMatchToSample-v0", DelayAntiMatchToSample),
    *(EnvEntry(rule.env_id, TASK_CLASSES[rule]) for rule in RULES),
    EnvEntry("mtrnn/Yang19-v0", Yang19Mixture),
    EnvEntry("mtrnn/NParity-v0", NParity, entry_point="mtrnn.envs.memory:MemoryEnv", time_limit=False),
    EnvEntry("mtrnn/NDMS-v0", NDMS, entry_point="mtrnn.envs.memory:MemoryEnv", time_limit=False),
)


def all_ids() -> list[str]:
    """Every registered ``mtrnn/…`` id, in display order."""
    return [entry.id for entry in ENV_SPECS]


def entry_of(env_id: str) -> EnvEntry:
    """The :class:`EnvEntry` of a registered id."""
    for entry in ENV_SPECS:
        if entry.id == env_id:
            return entry
    raise ValueError(f"env_id must be one of {all_ids()}, got {env_id!r}")


def make_task(env_id: str, **kwargs: Any) -> Task:
    """The Task behind a registered id, built with its default arguments updated by ``kwargs``."""
    entry = entry_of(env_id)
    return entry.task(**{**entry.kwargs, **kwargs})


def register_envs() -> None:
    """Register every id of :data:`ENV_SPECS` with gymnasium (ids already registered are left alone)."""
    for entry in ENV_SPECS:
        if entry.id in registry:
            continue
        register(
            id=entry.id,
            entry_point=entry.class_entry_point,
            max_episode_steps=entry.max_episode_steps(),
            kwargs=dict(entry.kwargs),
        )
