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
    response_deadline: NDArray[np.integer] | None = None,
) -> NDArray[np.float64]:
    """Judge discrete action sequences by the gym env's rule, vectorised over trials.

    A trial is correct iff (1) the agent fixates (action 0) on every checked step before the decision period
    (checked = any mask weight > 0; grace windows and unchecked steps are free), and (2) its first non-fixate
    action on a checked step of the decision period is a correct action, or, when it never leaves fixation,
    fixating is the correct action (a no-go trial). With ``response_deadline`` (the task's
    :meth:`~mtrnn.envs.task.Task.response_deadline`), a first response at or after a trial's deadline is wrong
    whatever its action, and ends the trial as the env's ``wrong_reward`` does.

    Args:
        actions: ``(T, B)`` int, the action taken at each step.
        batch: the trials.
        decision_start: ``(B,)`` first step of each trial's decision period.
        correct_actions: ``(B, n_actions)`` bool, which actions count as correct in the decision period.
        response_deadline: ``(B,)`` int, the first step at which a response comes too late; None (default):
            no deadline. Pass ``task.response_deadline(batch)`` to judge as :class:`~mtrnn.envs.env.TrialEnv` does.

    Returns:
        ``(B,)`` float64, 1.0 correct, 0.0 wrong.
    """
    actions = np.asarray(actions)
    if actions.shape != (batch.n_steps, batch.batch_size):
        raise ValueError(f"actions must have shape (T={batch.n_steps}, B={batch.batch_size}), got {actions.shape}")
    t = np.arange(batch.n_steps)[:, None]
    checked = (batch.mask.max(axis=-1) > 0) & batch.valid
    responding = actions != 0
    start = np.asarray(decision_start)[None, :]
    if response_deadline is None:
        late = np.zeros((1, batch.batch_size), dtype=bool)
    else:
        deadline = np.asarray(response_deadline)
        if deadline.shape != (batch.batch_size,):
            raise ValueError(f"response_deadline must have shape (B={batch.batch_size},), got {deadline.shape}")
        late = t >= deadline[None, :]
    broke = np.any(checked & (t < start) & ~late & responding, axis=0)
    # the step that ends the trial: the first response in the decision period or past the deadline
    ending = checked & ((t >= start) | late) & responding
    has_response = ending.any(axis=0)
    first = np.argmax(ending, axis=0)
    columns = np.arange(batch.batch_size)
    chosen = np.where(has_response, actions[first, columns], 0)
    in_time = ~np.broadcast_to(late, ending.shape)[first, columns]
    correct = correct_actions[columns, chosen] & ~broke & (in_time | ~has_response)
    return correct.astype(np.float64)
