"""Curricula: one object that decides which task to train on next, for gym agents and for the trainer alike.

A :class:`Curriculum` holds explicit state (its stage and the trials seen in it), names the task it currently
wants (:attr:`Curriculum.task`), and decides from measured performance whether to move on
(:meth:`Curriculum.update` returns True when it changed). The same object drives the Gymnasium
:class:`CurriculumWrapper` (which measures performance over windows of episodes) and the trainer's curriculum
callback (``mtrnn.agents.curriculum``, which measures it at each evaluation), so both make the same decisions
from the same performance. ``state_dict()`` / ``load_state_dict()`` resume a run mid-curriculum exactly.

Kinds (:class:`CurriculumKind`), after Khajehabdollahi, Zeraati et al., ICLR 2024 (N-parity / N-DMS) and
Duncker, Driscoll et al., NeurIPS 2020 (sequential rules):

* **single-head** — one head for ``N``; advance to ``N + 1`` (the same readout, as in their code);
* **cumulative multi-head** — keep every head, add the heads ``N_max + 1 … N_max + add_heads``;
* **sliding** — a window of heads: drop the oldest ``forget_heads``, add ``add_heads`` new ones;
* **rule switch** — a list of tasks, advancing on a performance criterion or after a trial budget;
* **difficulty schedule** (:class:`ParameterSchedule`) over any task parameter (delay, coherence, …).

Performance is a mapping ``{key: fraction correct}``. Memory tasks report one key per head, ``"N=<n>"``
(:attr:`mtrnn.envs.memory.MemoryTask.head_names`); every other task one key, ``"performance"``
(:func:`performance_keys`). The head curricula advance, as in the paper, when the mean over the active heads
exceeds ``mean_threshold`` **and** the newest head exceeds ``newest_threshold`` (both 0.98 by default).

Write your own kind by subclassing :class:`StagedCurriculum` (``task_at(stage)`` and ``ready(performance)``),
or implement the :class:`Curriculum` protocol from scratch. numpy + gymnasium only.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, SupportsFloat, runtime_checkable

import gymnasium as gym
import numpy as np

from mtrnn.envs.memory import MemoryTask
from mtrnn.envs.task import Task

__all__ = [
    "PERFORMANCE",
    "AdvanceRule",
    "Curriculum",
    "CurriculumKind",
    "CurriculumWrapper",
    "HeadCurriculum",
    "ParameterSchedule",
    "RuleSwitch",
    "StagedCurriculum",
    "performance_keys",
]

#: The performance key of a task without heads.
PERFORMANCE = "performance"


def performance_keys(task: Task) -> tuple[str, ...]:
    """The keys a performance mapping for ``task`` holds: ``"N=<n>"`` per head of a memory task, else
    ``("performance",)``."""
    return task.head_names if isinstance(task, MemoryTask) else (PERFORMANCE,)


class CurriculumKind(enum.Enum):
    """The built-in kinds (``mtrnn-train --curriculum``)."""

    SINGLE = "single"
    CUMULATIVE = "cumulative"
    SLIDING = "sliding"
    RULE_SWITCH = "rule-switch"


@runtime_checkable
class Curriculum(Protocol):
    """What the gym wrapper and the trainer callback need from a curriculum.

    Attributes:
        task: the task to train on now (a new object after each change; never changed in place).
        stage: how many times the curriculum has advanced.
        finished: True once there is no later stage.
    """

    @property
    def task(self) -> Task: ...

    @property
    def stage(self) -> int: ...

    @property
    def finished(self) -> bool: ...

    def observe(self, trials: int) -> None:
        """Count ``trials`` more trials trained on the current task (for trial budgets)."""

    def update(self, performance: Mapping[str, float]) -> bool:
        """Decide from ``performance`` (``{key: fraction correct}`` on the current task, keys as
        :func:`performance_keys`) whether to advance; True when the task changed."""

    def describe(self) -> dict[str, int]:
        """Numbers that identify the current stage (``curriculum/...`` columns of ``metrics.csv``)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state (restored by :meth:`load_state_dict`)."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value}")
    return float(value)


def _count(name: str, value: object, low: int, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}{' or None' if optional else ''}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}{' or None' if optional else ''}, got {value}")
    return int(value)


def _lookup(performance: Mapping[str, float], keys: Sequence[str]) -> list[float]:
    if not isinstance(performance, Mapping):
        raise TypeError(f"performance must be a mapping of key -> fraction correct, got {type(performance).__name__}")
    missing = [key for key in keys if key not in performance]
    if missing:
        raise ValueError(f"performance must hold the keys {list(keys)} of the current task, missing {missing}")
    return [float(performance[key]) for key in keys]


@dataclass(frozen=True)
class AdvanceRule:
    """When a head curriculum advances: ``mean(active heads) > mean_threshold`` and ``newest head >
    newest_threshold`` (Khajehabdollahi, Zeraati et al. 2024: 0.98 and 0.98).

    Attributes:
        mean_threshold: in [0, 1].
        newest_threshold: in [0, 1].
    """

    mean_threshold: float = 0.98
    newest_threshold: float = 0.98

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean_threshold", _fraction("mean_threshold", self.mean_threshold))
        object.__setattr__(self, "newest_threshold", _fraction("newest_threshold", self.newest_threshold))

    def passed(self, values: Sequence[float]) -> bool:
        """Whether per-head accuracies ``values`` (newest last) pass the rule."""
        return float(np.mean(values)) > self.mean_threshold and values[-1] > self.newest_threshold


class StagedCurriculum(ABC):
    """Base of the built-in curricula: a stage counter, a trial count per stage, an optional trial budget.

    Subclasses define :meth:`task_at` (the task of a stage), :meth:`ready` (the performance criterion) and
    :attr:`n_stages` (None: unbounded). :meth:`update` advances when ``ready(performance)`` or when the stage's
    trial budget (``trials_per_stage``, counted by :meth:`observe`) is spent; the budget is checked only when
    :meth:`update` is called (at each evaluation or window), so a stage lasts at least its budget.

    Args:
        trials_per_stage: advance after this many trials in a stage whatever the performance (>= 1); None: never.
    """

    def __init__(self, *, trials_per_stage: int | None = None) -> None:
        self.trials_per_stage: int | None = _count("trials_per_stage", trials_per_stage, 1, optional=True)
        self._stage = 0
        self._trials = 0
        self._task: Task | None = None

    # ------------------------------------------------------------------ what a subclass defines
    @abstractmethod
    def task_at(self, stage: int) -> Task:
        """The task of ``stage`` (0-based)."""

    @abstractmethod
    def ready(self, performance: Mapping[str, float]) -> bool:
        """Whether ``performance`` on the current task passes the criterion."""

    @property
    def n_stages(self) -> int | None:
        """Number of stages (None: unbounded)."""
        return None

    def describe(self) -> dict[str, int]:
        """``{"curriculum/stage": stage}``; subclasses add what identifies their task."""
        return {"curriculum/stage": self._stage}

    # ------------------------------------------------------------------ the protocol
    @property
    def task(self) -> Task:
        if self._task is None:
            self._task = self.task_at(self._stage)
        return self._task

    @property
    def stage(self) -> int:
        return self._stage

    @property
    def trials(self) -> int:
        """Trials counted in the current stage."""
        return self._trials

    @property
    def finished(self) -> bool:
        return self.n_stages is not None and self._stage >= self.n_stages - 1

    def observe(self, trials: int) -> None:
        self._trials += _count("trials", trials, 0)

    def update(self, performance: Mapping[str, float]) -> bool:
        if self.finished:
            return False
        budget = self.trials_per_stage is not None and self._trials >= self.trials_per_stage
        if not (budget or self.ready(performance)):
            return False
        self._stage += 1
        self._trials = 0
        self._task = None
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self._stage, "trials": self._trials}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or not {"stage", "trials"} <= set(state):
            raise ValueError(f"state must be a curriculum state_dict with 'stage' and 'trials', got {state!r}")
        stage = _count("state['stage']", state["stage"], 0)
        if self.n_stages is not None and stage >= self.n_stages:
            raise ValueError(f"state['stage'] must be < n_stages = {self.n_stages}, got {stage}")
        self._stage = stage
        self._trials = _count("state['trials']", state["trials"], 0)
        self._task = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stage={self._stage}, task={self.task!r})"


class HeadCurriculum(StagedCurriculum):
    """Raise ``N`` on a memory task: single-head, cumulative multi-head or sliding window.

    Heads at stage ``s`` (``n0 = n_start``, ``I = init_heads``, ``A = add_heads``, ``F = forget_heads``):

    * ``SINGLE``: ``[n0 + s]``;
    * ``CUMULATIVE``: ``[n0, …, n0 + I − 1 + s·A]``;
    * ``SLIDING``: the cumulative heads without the oldest ``s·F``.

    Args:
        task: the memory task (its class, length factor, dt and noise are kept; its heads are replaced).
        kind: ``SINGLE``, ``CUMULATIVE`` or ``SLIDING``.
        n_start: the first ``N`` (>= 1).
        n_max: stop raising ``N`` once a stage would exceed it (None: never).
        init_heads: heads at stage 0 (multi-head kinds; sliding needs >= ``forget_heads``).
        add_heads: heads added per stage (multi-head kinds).
        forget_heads: oldest heads dropped per stage (sliding; <= ``add_heads`` so the window never empties).
        rule: the advance rule (default: 0.98 / 0.98).
        trials_per_stage: optional trial budget per stage.
    """

    def __init__(
        self,
        task: MemoryTask,
        kind: CurriculumKind = CurriculumKind.CUMULATIVE,
        *,
        n_start: int = 2,
        n_max: int | None = None,
        init_heads: int = 1,
        add_heads: int = 1,
        forget_heads: int = 1,
        rule: AdvanceRule | None = None,
        trials_per_stage: int | None = None,
    ) -> None:
        super().__init__(trials_per_stage=trials_per_stage)
        if not isinstance(task, MemoryTask):
            raise TypeError(f"task must be a MemoryTask (NParity, NDMS), got {type(task).__name__}")
        if not isinstance(kind, CurriculumKind) or kind is CurriculumKind.RULE_SWITCH:
            raise TypeError(f"kind must be CurriculumKind.SINGLE, CUMULATIVE or SLIDING, got {kind!r}")
        self.base_task = task
        self.kind = kind
        self.n_start: int = _count("n_start", n_start, 1)
        self.init_heads: int = _count("init_heads", init_heads, 1)
        self.add_heads: int = _count("add_heads", add_heads, 1)
        self.forget_heads: int = _count("forget_heads", forget_heads, 1)
        if kind is CurriculumKind.SINGLE and self.init_heads != 1:
            raise ValueError(f"init_heads must be 1 for the single-head curriculum, got {init_heads}")
        if kind is CurriculumKind.SLIDING:
            if self.init_heads < self.forget_heads:
                raise ValueError(f"init_heads must be >= forget_heads = {self.forget_heads}, got {init_heads}")
            if self.forget_heads > self.add_heads:
                raise ValueError(f"forget_heads must be <= add_heads = {self.add_heads}, got {forget_heads}")
        self.n_max: int | None = _count("n_max", n_max, self.n_start + self.init_heads - 1, optional=True)
        if rule is not None and not isinstance(rule, AdvanceRule):
            raise TypeError(f"rule must be an AdvanceRule, got {type(rule).__name__}")
        self.rule = rule or AdvanceRule()

    def heads_at(self, stage: int) -> tuple[int, ...]:
        """The ``N`` of each head at ``stage`` (newest last)."""
        if self.kind is CurriculumKind.SINGLE:
            return (self.n_start + stage,)
        last = self.n_start + self.init_heads - 1 + stage * self.add_heads
        first = self.n_start + (stage * self.forget_heads if self.kind is CurriculumKind.SLIDING else 0)
        return tuple(range(first, last + 1))

    @property
    def heads(self) -> tuple[int, ...]:
        """The current heads."""
        return self.heads_at(self.stage)

    @property
    def n_stages(self) -> int | None:
        if self.n_max is None:
            return None
        stage = 0
        while max(self.heads_at(stage + 1)) <= self.n_max:
            stage += 1
        return stage + 1

    def task_at(self, stage: int) -> MemoryTask:
        return self.base_task.with_heads(self.heads_at(stage))

    def ready(self, performance: Mapping[str, float]) -> bool:
        heads = self.heads
        return self.rule.passed(_lookup(performance, [f"N={n}" for n in heads]))

    def describe(self) -> dict[str, int]:
        """Stage, largest and smallest ``N`` and the number of heads."""
        heads = self.heads
        return {
            "curriculum/stage": self.stage,
            "curriculum/N": max(heads),
            "curriculum/N_min": min(heads),
            "curriculum/heads": len(heads),
        }


class RuleSwitch(StagedCurriculum):
    """Train on a sequence of tasks (rules) one after the other (Duncker, Driscoll et al. 2020).

    Advance when the current task's performance exceeds ``threshold`` or after ``trials_per_stage`` trials
    (at least one of the two must be given).

    Args:
        tasks: the tasks in order (>= 1).
        threshold: performance criterion in [0, 1] (strictly exceeded), or None.
        trials_per_stage: trial budget per task, or None.
        names: a name per task (default: each task's ``name``).
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        *,
        threshold: float | None = None,
        trials_per_stage: int | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(trials_per_stage=trials_per_stage)
        if isinstance(tasks, Task) or not isinstance(tasks, Sequence) or not tasks:
            raise TypeError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
        for i, task in enumerate(tasks):
            if not isinstance(task, Task):
                raise TypeError(f"tasks[{i}] must be a Task, got {type(task).__name__}")
        self.tasks = tuple(tasks)
        self.threshold = None if threshold is None else _fraction("threshold", threshold)
        if self.threshold is None and self.trials_per_stage is None:
            raise ValueError(
                "threshold and trials_per_stage must not both be None (the curriculum could never advance)"
            )
        self.names = tuple(task.name for task in self.tasks) if names is None else tuple(names)
        if len(self.names) != len(self.tasks):
            raise ValueError(f"names must have one entry per task ({len(self.tasks)}), got {len(self.names)}")

    @property
    def n_stages(self) -> int:
        return len(self.tasks)

    def task_at(self, stage: int) -> Task:
        return self.tasks[stage]

    def ready(self, performance: Mapping[str, float]) -> bool:
        if self.threshold is None:
            return False
        return _lookup(performance, [PERFORMANCE])[0] > self.threshold

    def describe(self) -> dict[str, int]:
        """Stage and rule index (the same number here)."""
        return {"curriculum/stage": self.stage, "curriculum/rule": self.stage}


class ParameterSchedule(StagedCurriculum):
    """A difficulty schedule over any task parameter: stage ``s`` trains ``make_task(values[s])``.

    Example: lengthen DelayGo's delay once performance exceeds 0.9::

        ParameterSchedule(lambda ms: DelayGo(timing={"delay": Fixed(ms)}), [200, 500, 1000, 2000], threshold=0.9)

    Args:
        make_task: builds the task for one parameter value.
        values: the values in order (>= 1).
        threshold: performance criterion in [0, 1] (strictly exceeded), or None.
        trials_per_stage: trial budget per stage, or None.
        parameter: a name for the parameter (documentation only).
    """

    def __init__(
        self,
        make_task: Callable[[Any], Task],
        values: Sequence[Any],
        *,
        threshold: float | None = None,
        trials_per_stage: int | None = None,
        parameter: str = "value",
    ) -> None:
        super().__init__(trials_per_stage=trials_per_stage)
        if not callable(make_task):
            raise TypeError(f"make_task must be a callable value -> Task, got {make_task!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise TypeError(f"values must be a non-empty sequence of parameter values, got {values!r}")
        self.make_task = make_task
        self.values = tuple(values)
        self.parameter = parameter
        self.threshold = None if threshold is None else _fraction("threshold", threshold)
        if self.threshold is None and self.trials_per_stage is None:
            raise ValueError(
                "threshold and trials_per_stage must not both be None (the curriculum could never advance)"
            )

    @property
    def n_stages(self) -> int:
        return len(self.values)

    def task_at(self, stage: int) -> Task:
        task = self.make_task(self.values[stage])
        if not isinstance(task, Task):
            raise TypeError(f"make_task({self.values[stage]!r}) must return a Task, got {type(task).__name__}")
        return task

    def ready(self, performance: Mapping[str, float]) -> bool:
        if self.threshold is None:
            return False
        return _lookup(performance, [PERFORMANCE])[0] > self.threshold


class CurriculumWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Drive a gym env's task with a :class:`Curriculum`, between episodes.

    Every finished episode contributes its performance (``info["head_performance"]`` of a
    :class:`~mtrnn.envs.memory.MemoryEnv`, else ``{"performance": info["performance"]}``) and one trial
    (:meth:`Curriculum.observe`). Every ``window`` episodes the window's mean performance is handed to
    :meth:`Curriculum.update` and the window starts afresh; when the curriculum changes, the next ``reset``
    plays the new task. ``info`` carries ``curriculum`` (:meth:`Curriculum.describe`) and, on the step that
    closed a window, ``curriculum_changed``.

    Spaces follow the current task: the observation space stays fixed as long as the tasks share their input
    size (checked), but a multi-head memory env's ``MultiDiscrete`` action space grows with the heads (an agent
    with a fixed action space should use the single-head curriculum or a sliding window of fixed width).

    Args:
        env: a :class:`~mtrnn.envs.memory.MemoryEnv` or :class:`~mtrnn.envs.env.TrialEnv` (possibly wrapped).
        curriculum: the curriculum (its current task is installed now).
        window: episodes per performance measurement (>= 1).
    """

    def __init__(self, env: gym.Env[Any, Any], curriculum: Curriculum, *, window: int = 100) -> None:
        super().__init__(env)
        if not isinstance(curriculum, Curriculum):
            raise TypeError(f"curriculum must implement the Curriculum protocol, got {type(curriculum).__name__}")
        self.curriculum = curriculum
        self.window: int = _count("window", window, 1)
        self._scores: dict[str, list[float]] = {}
        self._episodes = 0
        self._install(curriculum.task)

    def _install(self, task: Task) -> None:
        base = self.env.unwrapped
        set_task = getattr(base, "set_task", None)
        if callable(set_task):
            set_task(task)
        else:
            old = getattr(base, "task", None)
            if not isinstance(old, Task):
                raise TypeError(f"env must play a Task (MemoryEnv or TrialEnv), got {type(base).__name__}")
            if (task.n_inputs, task.n_actions) != (old.n_inputs, old.n_actions):
                raise ValueError(
                    f"the curriculum's task must keep n_inputs={old.n_inputs} and n_actions={old.n_actions}, "
                    f"got {task.n_inputs} and {task.n_actions}"
                )
            base.task = task  # type: ignore[attr-defined]
        self.observation_space = base.observation_space
        self.action_space = base.action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        info["curriculum"] = self.curriculum.describe()
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if info.get("new_trial") and "performance" in info:
            self._record(info)
        info["curriculum"] = self.curriculum.describe()
        return observation, reward, terminated, truncated, info

    def _record(self, info: dict[str, Any]) -> None:
        scores = info.get("head_performance", {PERFORMANCE: info["performance"]})
        for key, value in scores.items():
            self._scores.setdefault(key, []).append(float(value))
        self._episodes += 1
        self.curriculum.observe(1)
        if self._episodes < self.window:
            return
        performance = {key: float(np.mean(values)) for key, values in self._scores.items() if values}
        self._scores, self._episodes = {}, 0
        changed = self.curriculum.update(performance)
        info["curriculum_changed"] = changed
        if changed:
            self._install(self.curriculum.task)

    @property
    def window_performance(self) -> dict[str, float]:
        """Mean performance per key over the episodes of the current (unfinished) window."""
        return {key: float(np.mean(values)) if values else math.nan for key, values in self._scores.items()}
