"""Whole-batch rollouts: the gym env's reward rule applied to ``(T, B)`` action sequences at once.

Our tasks are open-loop: a trial's observations do not depend on the agent's actions, except that the first
response (or, with ``abort_on_break``, a broken fixation) ends the trial. A recurrent policy can therefore read a
whole :class:`~mtrnn.envs.TrialBatch` in one pass over ``(T, B)``, sample an action at every step, and
:func:`play_trials` decides afterwards where each trial ended and what it paid — exactly what
:class:`~mtrnn.envs.TrialEnv` would have returned step by step for the same trials and actions (rewards,
terminations and ``info["performance"]``, to the last float). Steps after a trial's end are not played: the
policy's outputs there are computed but never used.

This is the rule of Song, Yang & Wang 2017 (eLife 6:e21492): +1 for a correct decision, 0 for a wrong one and a
negative reward (and, by default, an abort) for breaking fixation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs import Task, TrialBatch, TrialEnv

__all__ = ["Outcome", "RewardRule", "checked_steps", "play_trials"]


def _reward(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RewardRule:
    """The gym env's reward parameters (the keyword arguments of :class:`~mtrnn.envs.TrialEnv`).

    Attributes:
        fixation_penalty: reward for a response on a checked step before the decision period.
        correct_reward: reward for a correct decision, or for withholding on a no-go trial.
        wrong_reward: reward for a wrong decision.
        abort_on_break: a broken fixation ends the trial (else it is penalised at every such step, and the
            trial can no longer be correct).
    """

    fixation_penalty: float = -0.1
    correct_reward: float = 1.0
    wrong_reward: float = 0.0
    abort_on_break: bool = True

    def __post_init__(self) -> None:
        for name in ("fixation_penalty", "correct_reward", "wrong_reward"):
            object.__setattr__(self, name, _reward(name, getattr(self, name)))
        if not isinstance(self.abort_on_break, bool):
            raise TypeError(f"abort_on_break must be a bool, got {self.abort_on_break!r}")

    @classmethod
    def of_env(cls, env: TrialEnv) -> RewardRule:
        """The rule a :class:`~mtrnn.envs.TrialEnv` (pass ``env.unwrapped``) applies."""
        if not isinstance(env, TrialEnv):
            raise TypeError(f"env must be a TrialEnv (use gym.make(...).unwrapped), got {type(env).__name__}")
        return cls(env.fixation_penalty, env.correct_reward, env.wrong_reward, env.abort_on_break)

    def env_kwargs(self) -> dict[str, float | bool]:
        """The keyword arguments that give a :class:`~mtrnn.envs.TrialEnv` (``gym.make``) this rule."""
        return {
            "fixation_penalty": self.fixation_penalty,
            "correct_reward": self.correct_reward,
            "wrong_reward": self.wrong_reward,
            "abort_on_break": self.abort_on_break,
        }


@dataclass(frozen=True)
class Outcome:
    """What playing ``(T, B)`` actions on a batch of trials gave, trial by trial.

    Attributes:
        rewards: ``(T, B)`` float64, the reward of each step (0 on steps that were not played).
        played: ``(T, B)`` bool, the steps the env would have played (up to and including each trial's end).
        end: ``(B,)`` int64, the last played step of each trial (the step that returned ``terminated=True``).
        returns: ``(B,)`` float64, the sum of each trial's rewards, added in step order as an agent would.
        performance: ``(B,)`` float64, ``info["performance"]`` at the trial's end: 1.0 correct, 0.0 otherwise.
    """

    rewards: NDArray[np.float64]
    played: NDArray[np.bool_]
    end: NDArray[np.int64]
    returns: NDArray[np.float64]
    performance: NDArray[np.float64]

    @property
    def n_steps(self) -> int:
        """Env steps played in total, ``played.sum()``."""
        return int(self.played.sum())


def checked_steps(batch: TrialBatch) -> NDArray[np.bool_]:
    """``(T, B)`` bool: the steps the env judges, those with a mask weight > 0 in any output (``mask.max(-1) > 0``)
    within each trial's length; unchecked steps (grace windows, padding) neither reward nor punish."""
    mask = batch.mask
    # one comparison per output over (T, B) rows: several times faster than a reduction over the short last axis
    checked = mask[..., 0] > 0
    for k in range(1, mask.shape[-1]):
        checked |= mask[..., k] > 0
    checked &= np.arange(batch.n_steps)[:, None] < batch.lengths[None, :]
    return checked


def play_trials(actions: NDArray[np.integer], batch: TrialBatch, task: Task, rule: RewardRule | None = None) -> Outcome:
    """Judge ``(T, B)`` actions on ``batch`` step by step as :meth:`TrialEnv.step` does, vectorised over trials.

    Per trial: before the decision period a non-zero action on a checked step (any mask weight > 0) pays
    ``fixation_penalty`` and, with ``abort_on_break``, ends the trial. From the decision period on, the first
    non-zero action on a checked step is the decision and ends the trial: ``correct_reward`` if it is one of
    ``task.correct_actions`` and fixation was never broken, else ``wrong_reward``. A trial that reaches its last
    step without ending pays ``correct_reward`` there if fixating is correct (no-go) and fixation was never
    broken. A response on a checked step at or after ``task.response_deadline(batch)`` (when not None; neurogym's
    timing tasks) comes too late: it pays ``wrong_reward`` and ends the trial. Unchecked steps (grace windows)
    neither reward nor punish; padding is never played.

    Args:
        actions: ``(T, B)`` int, the action taken at each step (values after a trial's end are ignored).
        batch: the trials.
        task: the task that built ``batch`` (its ``decision_start``, ``correct_actions`` and
            ``response_deadline``).
        rule: the rewards; the env's defaults when None.

    Returns:
        The :class:`Outcome`.
    """
    rule = RewardRule() if rule is None else rule
    actions = np.asarray(actions)
    n_steps, batch_size = batch.n_steps, batch.batch_size
    if actions.shape != (n_steps, batch_size):
        raise ValueError(f"actions must have shape (T={n_steps}, B={batch_size}), got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.integer):
        raise TypeError(f"actions must be integers, got dtype {actions.dtype}")
    if actions.size and (actions.min() < 0 or actions.max() >= task.n_actions):
        raise ValueError(f"actions must lie in [0, {task.n_actions - 1}] (task.n_actions = {task.n_actions})")
    columns = np.arange(batch_size)
    t = np.arange(n_steps)[:, None]
    lengths = batch.lengths
    decision_start = np.asarray(task.decision_start(batch))[None, :]
    correct = np.asarray(task.correct_actions(batch))
    checked = checked_steps(batch)
    responding = (actions != 0) & checked
    deadline = task.response_deadline(batch)
    late = np.zeros((1, batch_size), dtype=bool) if deadline is None else t >= np.asarray(deadline)[None, :]
    breaks = responding & (t < decision_start) & ~late
    decides = responding & (t >= decision_start) & ~late
    answers = decides | (responding & late)  # a decision, or a response past the deadline (always wrong)

    # the step that ends each trial: the first answer, the first break (when it aborts), else the last step
    ending = answers | breaks if rule.abort_on_break else answers
    has_end = ending.any(axis=0)
    end = np.where(has_end, np.argmax(ending, axis=0), lengths - 1).astype(np.int64)
    played = t <= end[None, :]
    broke_before = np.cumsum(breaks, axis=0) > 0  # a break at or before step t

    rewards = np.zeros((n_steps, batch_size), dtype=np.float64)
    rewards[breaks & played] = rule.fixation_penalty
    decided = answers[end, columns]
    broke = broke_before[end, columns]
    chosen = actions[end, columns]
    right = decides[end, columns] & correct[columns, chosen] & ~broke
    withheld = ~decided & ~breaks[end, columns] & correct[:, 0] & ~broke
    end_reward = np.where(decided, np.where(right, rule.correct_reward, rule.wrong_reward), rewards[end, columns])
    end_reward = np.where(withheld, rule.correct_reward, end_reward)
    rewards[end, columns] = end_reward
    # summed step by step from t = 0, as an agent adds up its rewards (cumsum is sequential)
    returns = np.cumsum(rewards, axis=0)[-1] if n_steps else np.zeros(batch_size)
    performance = (right | withheld).astype(np.float64)
    return Outcome(rewards=rewards, played=played, end=end, returns=returns, performance=performance)
