"""MultiTask: rule mixing with one-hot rule inputs and sampling weights, as batches and as an env."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mtrnn.envs import DelayAnti, DelayGo, DelayMatchToSample, MultiTask, TrialEnv


def _mix(**kwargs: object) -> MultiTask:
    return MultiTask([DelayGo(), DelayAnti(), DelayMatchToSample()], **kwargs)  # type: ignore[arg-type]


def test_rule_inputs_are_appended_and_on_for_the_whole_trial() -> None:
    task = _mix(mix_within_batch=True)
    task_in = DelayGo().n_inputs
    assert task.n_inputs == task_in + 3
    batch = task.sample_batch(90, np.random.default_rng(0), noise=False)
    rule = batch.conditions["rule"]
    one_hot = batch.inputs[..., task_in:]
    expected = np.eye(3)[rule][None] * batch.valid[..., None]
    np.testing.assert_array_equal(one_hot, expected)


def test_one_rule_per_batch_by_default_with_weights() -> None:
    task = _mix(weights=[1.0, 0.0, 3.0])
    rules = [int(task.sample_batch(4, np.random.default_rng(s)).conditions["rule"][0]) for s in range(400)]
    counts = np.bincount(rules, minlength=3)
    assert counts[1] == 0
    assert 0.65 < counts[2] / 400 < 0.85
    batch = task.sample_batch(16, np.random.default_rng(0))
    assert len(np.unique(batch.conditions["rule"])) == 1


def test_mixed_batch_scores_each_trial_by_its_own_rule() -> None:
    task = _mix(mix_within_batch=True)
    batch = task.sample_batch(200, np.random.default_rng(1))
    assert len(np.unique(batch.conditions["rule"])) == 3
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    anti = batch.conditions["rule"] == 1
    go_targets = task.tasks[0].sample_batch(1, np.random.default_rng(0))
    assert go_targets.batch_size == 1
    outputs = batch.targets.copy()
    decision = batch.period_mask("go") | batch.period_mask("test")
    outputs[..., 1:] = np.where(decision[..., None], np.roll(outputs[..., 1:], 2, axis=-1), outputs[..., 1:])
    assert np.all(task.score(outputs, batch)[anti] == 0.0)


def test_explicit_rule_condition() -> None:
    task = _mix()
    batch = task.sample_batch(5, np.random.default_rng(0), conditions={"rule": 2})
    np.testing.assert_array_equal(batch.conditions["rule"], 2)
    assert "test" in batch.periods


def test_multitask_plays_as_an_env() -> None:
    env = TrialEnv(_mix(mix_within_batch=True))
    check_env(env, skip_render_check=True)
    for seed in range(12):
        env.reset(seed=seed)
        gt = env.gt.copy()
        t = 0
        while True:
            _, _, terminated, _, info = env.step(int(gt[t]))
            t += 1
            if terminated:
                break
        assert info["performance"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [1.0, 1.0]}, "weights"),
        ({"weights": [1.0, -1.0, 1.0]}, "weights"),
        ({"weights": [0.0, 0.0, 0.0]}, "weights"),
    ],
)
def test_bad_weights_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _mix(**kwargs)


def test_tasks_must_share_dimensions() -> None:
    with pytest.raises(ValueError, match="n_inputs"):
        MultiTask([DelayGo(n_locations=4), DelayAnti(n_locations=8)])
    with pytest.raises(TypeError, match="tasks"):
        MultiTask([])


def test_bad_rule_condition_raises() -> None:
    with pytest.raises(ValueError, match="rule"):
        _mix().sample_batch(4, np.random.default_rng(0), conditions={"rule": 3})
