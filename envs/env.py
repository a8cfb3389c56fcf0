"""`TrialEnv`: a Gymnasium environment that plays the trials of a :class:`~mtrnn.envs.task.Task`.

Each trial is the batch of one that ``task.sample_batch(1, self.np_random)`` builds, so a seeded episode and
the batch of one built from a generator seeded the same way hold exactly the same trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.core import Env
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.task import Task

__all__ = ["TrialEnv"]


def _check_reward(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


class TrialEnv(Env[NDArray[np.float32], np.int64]):
    """Play a task's trials one step at a time.

    ## Episodes
    By default one trial is one episode: ``reset`` draws a trial and the episode terminates at the trial's end
    (a decision, an abort, or its last step). With ``streaming=True`` trials follow each other back to back
    (neurogym style): the episode never terminates by itself, ``info["new_trial"]`` marks the step that ended
    a trial, and the observation returned on that step is the first of the next trial.

    ## Rewards
    Action 0 is "fixate", action ``k`` is choice ``k``. Before the decision period, a non-zero action on a
    checked step breaks fixation: reward ``fixation_penalty`` and (when ``abort_on_break``) the trial ends as
    an error. In the decision period the first non-zero action is the decision: ``correct_reward`` if it is a
    correct action, ``wrong_reward`` otherwise; the trial ends. A trial whose correct answer is to withhold
    (no-go) pays ``correct_reward`` at its last step if the agent never responded. Steps inside grace windows
    (and any step the task does not check) neither reward nor punish. This is the rule
    :func:`mtrnn.envs.scoring.decision_outcome` applies to whole batches.

    ## Info
    ``gt`` (the correct action at this step), ``period`` (the period's name), ``new_trial`` (this step ended
    the trial) and, when it did, ``performance`` (1.0 correct, 0.0 wrong); in streaming mode also ``trial``
    (the next trial's conditions), as neurogym does.

    ## neurogym compatibility
    The env carries neurogym's surface: ``dt``, ``timing``, ``new_trial()``, ``ob``, ``gt``, ``start_ind``,
    ``end_ind``, ``rng`` (the same generator as ``np_random``, reseeded by ``reset(seed=...)``) and the
    ``reset(options={"step_fn": ...})`` protocol, so that neurogym's ``Noise``, ``PassReward`` and
    ``PassAction`` wrappers run on it. Wrap the env itself (``gym.make(...).unwrapped`` or ``TrialEnv(task)``):
    neurogym's wrappers read ``env.rng`` from the env they wrap.

    Args:
        task: a :class:`Task` instance, or a Task class built with ``task_kwargs``.
        streaming: trials back to back in one endless episode.
        fixation_penalty: reward for breaking fixation before the decision period.
        correct_reward: reward for a correct decision (or a correct withhold).
        wrong_reward: reward for a wrong decision.
        abort_on_break: end the trial when fixation is broken.
        **task_kwargs: arguments of the task class (e.g. ``dt``, ``n_locations``).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        task: Task | type[Task],
        *,
        streaming: bool = False,
        fixation_penalty: float = -0.1,
        correct_reward: float = 1.0,
        wrong_reward: float = 0.0,
        abort_on_break: bool = True,
        **task_kwargs: Any,
    ) -> None:
        if isinstance(task, type) and issubclass(task, Task):
            task = task(**task_kwargs)
        elif not isinstance(task, Task):
            raise TypeError(f"task must be a Task or a Task class, got {task!r}")
        elif task_kwargs:
            raise TypeError(f"task_kwargs {sorted(task_kwargs)} given with a Task instance; build the task with them")
        self.task: Task = task
        self.streaming = bool(streaming)
        self.fixation_penalty = _check_reward("fixation_penalty", fixation_penalty)
        self.correct_reward = _check_reward("correct_reward", correct_reward)
        self.wrong_reward = _check_reward("wrong_reward", wrong_reward)
        self.abort_on_break = bool(abort_on_break)
        low, high = task.observation_bounds
        self.observation_space = spaces.Box(low, high, shape=(task.n_inputs,), dtype=np.float32)
        self.action_space = spaces.Discrete(task.n_actions)
        self.trial: TrialBatch | None = None
        self._done = True

    # ------------------------------------------------------------------ neurogym's surface
    @property
    def dt(self) -> float:
        """Time step in ms."""
        return self.task.dt

    @property
    def timing(self) -> Mapping[str, object]:
        """Per-period timing specs (ms), when the task has them."""
        return dict(getattr(self.task, "timing", {}))

    @property
    def ob(self) -> NDArray[np.float32]:
        """``(T, n_in)`` observations of the current trial."""
        return self._obs

    @property
    def gt(self) -> NDArray[np.int64]:
        """``(T,)`` correct action at each step of the current trial."""
        return self._gt

    @property
    def start_ind(self) -> dict[str, int]:
        """First step of each period of the current trial."""
        return {k: int(v[0][0]) for k, v in self._periods.items()}

    @property
    def end_ind(self) -> dict[str, int]:
        """One past the last step of each period of the current trial."""
        return {k: int(v[1][0]) for k, v in self._periods.items()}

    @property
    def rng(self) -> np.random.Generator:
        """The env's one random generator, ``self.np_random`` (neurogym's wrappers draw from ``env.rng``).

        ``reset(seed=...)`` reseeds it, so a seeded reset also fixes what such wrappers draw (e.g. the noise of
        ``neurogym.wrappers.Noise``).
        """
        return self.np_random

    def new_trial(self, conditions: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Draw the next trial from ``self.np_random`` and start it; returns its conditions (scalars)."""
        batch = self.task.sample_batch(1, self.np_random, conditions=conditions)
        self.trial = batch
        length = int(batch.lengths[0])
        self._obs = batch.inputs[:length, 0]
        # one private row per step: step() hands each out once, so a wrapper may modify it in place
        self._rows = list(self._obs.copy())
        self._gt = batch.labels[:length, 0]
        self._periods = batch.periods
        self._labels = self._gt.tolist()
        self._checked = (batch.mask[:length, 0] > 0).any(axis=1).tolist()
        self._decision_start = int(self.task.decision_start(batch)[0])
        self._correct = self.task.correct_actions(batch)[0].tolist()
        period_at: list[str] = [""] * length
        for name, (start, stop) in batch.periods.items():
            first, last = int(start[0]), min(int(stop[0]), length)
            if last > first:
                period_at[first:last] = [name] * (last - first)
        self._period_at = period_at
        self._length = length
        self._t = 0
        self._broke = False
        self._done = False
        return {k: np.asarray(v)[0].item() for k, v in batch.conditions.items()}

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start a new trial.

        Options:
            ``"conditions"``: fixes the trial's conditions (see :meth:`Task.sample_batch`).
            ``"step_fn"``: neurogym's wrapper protocol (``Noise``, ``PassReward``, ``PassAction`` pass their own
            ``step``): the first step of the trial is taken through ``step_fn(0)`` (fixate) and its observation is
            returned, so that the wrapper's changes apply to the first observation too, as in neurogym.
        """
        super().reset(seed=seed)
        options = options or {}
        trial = self.new_trial(options.get("conditions"))
        step_fn = options.get("step_fn")
        if step_fn is not None:
            observation = step_fn(0)[0]
            t = min(self._t, self._length - 1)
            return observation, {"gt": self._labels[t], "period": self._period_at[t], "trial": trial}
        return self._rows[0], {"gt": self._labels[0], "period": self._period_at[0], "trial": trial}

    def step(self, action: int | np.integer) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called after the episode terminated; call reset() first")
        t = self._t
        action = int(action)
        reward = 0.0
        end = False
        performance = 0.0
        if action and self._checked[t]:
            if t < self._decision_start:
                reward = self.fixation_penalty
                self._broke = True
                end = self.abort_on_break
            else:
                end = True
                if self._correct[action] and not self._broke:
                    reward, performance = self.correct_reward, 1.0
                else:
                    reward = self.wrong_reward
        t += 1
        info: dict[str, Any]
        if not end and t >= self._length:
            end = True
            if self._correct[0] and not self._broke:
                reward, performance = self.correct_reward, 1.0
        if not end:
            self._t = t
            info = {"gt": self._labels[t - 1], "period": self._period_at[t - 1], "new_trial": False}
            return self._rows[t], reward, False, False, info
        info = {
            "gt": self._labels[t - 1],
            "period": self._period_at[t - 1],
            "new_trial": True,
            "performance": performance,
        }
        if self.streaming:
            info["trial"] = self.new_trial()
            return self._rows[0], reward, False, False, info
        self._t = t
        self._done = True
        return self._rows[t - 1].copy(), reward, True, False, info
