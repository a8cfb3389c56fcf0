"""A late answer is wrong: ``TrialEnv`` reads a task's ``response_deadline`` (neurogym's timing tasks).

neurogym's ReadySetGo and MotorTiming fail a production outside ``interval ± (prod_margin · interval + 25 ms)``;
the gym env must not pay a response after that window as correct, and must agree with ``NeurogymTask.score`` on
the same response.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "neurogym", reason="neurogym is an optional extra (gymnasium 0.29 only): pip install 'mtrnn[neurogym]'"
)

from mtrnn.envs import NeurogymTask, TrialEnv

TIMING_IDS = ["ReadySetGo-v0", "MotorTiming-v0"]


def _respond_at(env: TrialEnv, step: int) -> tuple[float, float]:
    """Fixate until ``step``, then give the trial's correct action: ``(reward, performance)``."""
    for _ in range(step):
        _, _, terminated, _, _ = env.step(0)
        assert not terminated
    action = int(np.argmax(env._correct[env._i]))
    _, reward, terminated, _, info = env.step(action)
    assert terminated and info["new_trial"]
    return reward, info["performance"]


def _score_at(task: NeurogymTask, env: TrialEnv, step: int) -> float:
    """``task.score`` of outputs that fixate until ``step`` and then give the correct action."""
    trial = env.trial
    assert trial is not None
    actions = np.zeros(trial.n_steps, dtype=np.int64)
    actions[step:] = int(np.argmax(env._correct[env._i]))
    outputs = np.eye(task.n_outputs, dtype=np.float32)[actions][:, None, :]
    return float(task.score(outputs, trial)[0])


@pytest.mark.parametrize("env_id", TIMING_IDS)
def test_a_response_after_the_tolerance_is_wrong_and_one_inside_is_right(env_id: str) -> None:
    task = NeurogymTask(env_id)
    env = TrialEnv(task)
    env.reset(seed=0)
    light = env._light
    assert light is not None
    deadline = int(task.response_deadline(light)[env._i])
    opens = int(task.decision_start(light)[env._i])
    assert opens < deadline < env._length  # the trial goes on past the tolerance
    for step, paid in ((deadline - 1, True), (deadline, False), (env._length - 1, False)):
        env.reset(seed=0)
        assert _score_at(task, env, step) == float(paid)
        reward, performance = _respond_at(env, step)
        assert performance == float(paid)
        assert reward == (env.correct_reward if paid else env.wrong_reward)
