"""MultiTask: rule mixing with one-hot rule inputs and sampling weights, as batches and as an env."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mtrnn.envs import DelayAnti, DelayGo, DelayMatchToSample, MultiTask, TrialEnv
from mtrnn.envs.yang19 import RULES, Yang19Mixture


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


@pytest.mark.parametrize("make", [lambda: _mix(mix_within_batch=True), lambda: Yang19Mixture(mix_within_batch=True)])
def test_scores_per_component_equal_each_component_scoring_its_own_trials(make: object) -> None:
    task = make()  # type: ignore[operator]
    batch = task.sample_batch(120, np.random.default_rng(3), noise=False)
    rng = np.random.default_rng(4)
    outputs = np.where(rng.random(batch.targets.shape) < 0.02, 1.0, batch.targets).astype(np.float32)
    rules = batch.conditions["rule"]
    expected = np.zeros(batch.batch_size)
    by_component = task.score_by_component(outputs, batch)
    assert set(by_component) == {task.component_ids[k] for k in np.unique(rules)}
    for k in np.unique(rules):
        index = np.flatnonzero(rules == k)
        own = batch.select(index)  # a full copy of the rule's trials
        expected[index] = task.tasks[k].score(outputs[: own.n_steps, index], own)
        np.testing.assert_array_equal(by_component[task.component_ids[k]], expected[index])
    assert 0.0 < expected.mean() < 1.0  # the perturbation makes some trials wrong, not all
    np.testing.assert_array_equal(task.score(outputs, batch), expected)
    np.testing.assert_array_equal(
        task.decision_start(batch),
        np.concatenate(
            [
                task.tasks[k].decision_start(batch.select([b]))
                for k, b in zip(rules, range(batch.batch_size), strict=True)
            ]
        ),
    )


def test_per_rule_sub_batches_copy_no_signals() -> None:
    task = Yang19Mixture(mix_within_batch=True)
    batch = task.sample_batch(64, np.random.default_rng(0), noise=False)
    for _, _, sub in task._per_rule(batch):
        for array in (sub.inputs, sub.targets, sub.mask):
            assert array.strides[-1] == 0 and not array.flags.writeable
    single = task.sample_batch(8, np.random.default_rng(0), conditions={"rule": 3})
    assert task._per_rule(single)[0][2] is single


def test_component_ids_are_stable_names() -> None:
    assert Yang19Mixture().component_ids == tuple(rule.env_id for rule in RULES)
    assert _mix().component_ids == ("DelayGo", "DelayAnti", "DelayMatchToSample")
    assert MultiTask([DelayGo(), DelayGo(dt=20.0)]).component_ids == ("DelayGo#0", "DelayGo#1")
    assert MultiTask([DelayGo(), DelayAnti()], component_ids=["go", "anti"]).component_ids == ("go", "anti")


@pytest.mark.parametrize(
    ("ids", "error", "match"),
    [(["go"], ValueError, "one id per task"), (["go", "go"], ValueError, "unique"), ("ga", TypeError, "strings")],
)
def test_bad_component_ids_raise(ids: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MultiTask([DelayGo(), DelayAnti()], component_ids=ids)  # type: ignore[arg-type]
