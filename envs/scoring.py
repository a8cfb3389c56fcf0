"""Scoring rules shared by tasks and by the gym env, so that both judge a trial the same way."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch

__all__ = ["decision_outcome"]


def decision_outcome(
    actions: NDArray[np.integer],
    batch: TrialBatch,
    decision_start: NDArray[np.integer],
    correct_actions: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Judge discrete action sequences by the gym env's rule, vectorised over trials.

    A trial is correct iff (1) the agent fixates (action 0) on every checked step before the decision period
    (checked = any mask weight > 0; grace windows and unchecked steps are free), and (2) its first non-fixate
    action on a checked step of the decision period is a correct action, or, when it never leaves fixation,
    fixating is the correct action (a no-go trial).

    Args:
        actions: ``(T, B)`` int, the action taken at each step.
        batch: the trials.
        decision_start: ``(B,)`` first step of each trial's decision period.
        correct_actions: ``(B, n_actions)`` bool, which actions count as correct in the decision period.

    Returns:
        ``(B,)`` float64, 1.0 correct, 0.0 wrong.
    """
    actions = np.asarray(actions)
    if actions.shape != (batch.n_steps, batch.batch_size):
        raise ValueError(f"actions must have shape (T={batch.n_steps}, B={batch.batch_size}), got {actions.shape}")
    t = np.arange(batch.n_steps)[:, None]
    checked = (batch.mask.max(axis=-1) > 0) & batch.valid
    responding = actions != 0
    broke = np.any(checked & (t < decision_start[None, :]) & responding, axis=0)
    deciding = checked & (t >= decision_start[None, :]) & responding
    has_response = deciding.any(axis=0)
    first = np.argmax(deciding, axis=0)
    columns = np.arange(batch.batch_size)
    chosen = np.where(has_response, actions[first, columns], 0)
    correct = correct_actions[columns, chosen] & ~broke
    return correct.astype(np.float64)
