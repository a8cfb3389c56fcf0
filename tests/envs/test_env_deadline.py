"""A late answer is wrong: ``TrialEnv``, ``decision_outcome`` and ``play_trials`` apply ``Task.response_deadline``.

neurogym's ReadySetGo, MotorTiming and OneTwoThreeGo fail a production outside
``interval ± (prod_margin · interval + 25 ms)``; the gym env must not pay a response after that window as correct,
must agree with ``NeurogymTask.score`` on the same response, and the whole-batch rules (``decision_outcome``, the
RL path's ``play_trials``) must pay what the env pays.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "neurogym", reason="neurogym is an optional extra (gymnasium 0.29 only): pip install 'mtrnn[neurogym]'"
)

from mtrnn.agents.rl import RewardRule, play_trials
from mtrnn.envs import MultiTask, NeurogymTask, TrialEnv, decision_outcome, make_task

TIMING_IDS = ["ReadySetGo-v0", "MotorTiming-v0", "OneTwoThreeGo-v0"]
RULES = [RewardRule(), RewardRule(fixation_penalty=-0.3, correct_reward=1.7, wrong_reward=-0.4, abort_on_break=False)]


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


@pytest.mark.parametrize("rule", RULES, ids=["defaults", "no-abort"])
@pytest.mark.parametrize("when", ["inside", "at-deadline", "last-step"])
@pytest.mark.parametrize("env_id", TIMING_IDS)
def test_the_batch_rules_pay_a_late_answer_as_the_env_does(env_id: str, when: str, rule: RewardRule) -> None:
    task = NeurogymTask(env_id)
    env = TrialEnv(task, **rule.env_kwargs())
    env.reset(seed=0)
    trial = env.trial
    assert trial is not None
    deadline = task.response_deadline(trial)
    assert deadline is not None
    step = {"inside": int(deadline[0]) - 1, "at-deadline": int(deadline[0]), "last-step": env._length - 1}[when]
    actions = np.zeros((trial.n_steps, 1), dtype=np.int64)
    actions[step:] = int(np.argmax(task.correct_actions(trial)[0]))
    total = 0.0
    for t in range(step + 1):
        _, reward, terminated, _, info = env.step(int(actions[t, 0]))
        total += reward
    assert terminated
    outcome = play_trials(actions, trial, task, rule)
    assert outcome.end[0] == step
    assert outcome.rewards[step, 0] == reward and outcome.returns[0] == total
    assert outcome.performance[0] == info["performance"] == float(when == "inside")
    judged = decision_outcome(
        actions, trial, task.decision_start(trial), task.correct_actions(trial), task.response_deadline(trial)
    )
    assert judged[0] == info["performance"]


def test_plain_tasks_have_no_deadline_and_a_mixture_takes_its_components() -> None:
    rng = np.random.default_rng(0)
    plain = make_task("mtrnn/DelayGo-v0")
    assert plain.response_deadline(plain.sample_batch(2, rng)) is None
    untimed = NeurogymTask("GoNogo-v0", dt=80.0)  # the same shapes and dt as ReadySetGo
    assert untimed.response_deadline(untimed.sample_batch(2, rng)) is None
    timed = NeurogymTask("ReadySetGo-v0")
    mixture = MultiTask([timed, untimed], mix_within_batch=True)
    batch = mixture.sample_batch(8, rng)
    rules = np.asarray(batch.conditions["rule"])
    assert set(rules.tolist()) == {0, 1}
    deadline = mixture.response_deadline(batch)
    assert deadline is not None
    own = timed.response_deadline(batch.select(np.flatnonzero(rules == 0), signals=False))
    np.testing.assert_array_equal(deadline[rules == 0], own)
    np.testing.assert_array_equal(deadline[rules == 1], batch.n_steps)
    assert MultiTask([untimed, untimed]).response_deadline(batch) is None


@pytest.mark.parametrize("rule", RULES, ids=["defaults", "no-abort"])
@pytest.mark.parametrize("env_id", TIMING_IDS)
def test_the_batch_rules_pay_random_actions_as_the_env_does(env_id: str, rule: RewardRule) -> None:
    """Responses anywhere (early, inside the tolerance, late; right or wrong), trial by trial against the env."""
    task = NeurogymTask(env_id)
    env = TrialEnv(task, **rule.env_kwargs())
    rng = np.random.default_rng(3)
    for seed in range(6):
        env.reset(seed=seed)
        trial = env.trial
        assert trial is not None
        actions = np.where(
            rng.random((trial.n_steps, 1)) < 0.05, rng.integers(1, task.n_actions, (trial.n_steps, 1)), 0
        )
        outcome = play_trials(actions, trial, task, rule)
        judged = decision_outcome(
            actions, trial, task.decision_start(trial), task.correct_actions(trial), task.response_deadline(trial)
        )
        total, terminated, t = 0.0, False, -1
        while not terminated:
            t += 1
            _, reward, terminated, _, info = env.step(int(actions[t, 0]))
            assert outcome.rewards[t, 0] == reward
            total += reward
        assert outcome.end[0] == t and outcome.returns[0] == total
        assert outcome.performance[0] == info["performance"]
        assert judged[0] == info["performance"]
