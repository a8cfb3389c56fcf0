"""The Yang 2019 mixture: paper rule order, Yang's sampling weights, subsets (Driscoll's 15, Duncker's 4)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from mtrnn.envs import TrialEnv, make_task
from mtrnn.envs.yang19 import DRISCOLL_RULES, DUNCKER_RULES, RULES, RingEncoding, Rule, Yang19Mixture

SINCOS = RingEncoding.SINCOS


def test_registered_mixture_is_yangs_85_in_33_out() -> None:
    task = make_task("mtrnn/Yang19-v0")
    assert isinstance(task, Yang19Mixture)
    assert (task.n_inputs, task.n_outputs, task.n_actions) == (85, 33, 33)
    assert task.rules == RULES
    weights = np.ones(20)
    weights[[Rule.CONTEXTDM1.position, Rule.CONTEXTDM2.position]] = 5.0
    np.testing.assert_allclose(task.weights, weights / weights.sum())


def test_every_rule_is_registered_with_its_camel_case_id() -> None:
    for rule in RULES:
        env = gym.make(f"mtrnn/Yang19-{rule.id_name}-v0")
        assert env.unwrapped.task.rule == rule
        env.close()
    assert Rule.DELAYANTI.env_id == "mtrnn/Yang19-DelayAnti-v0"
    assert Rule.DMSNOGO.display_name == "DNMS"


def test_rules_are_drawn_with_yangs_weights_and_one_rule_per_batch() -> None:
    task = Yang19Mixture()
    rng = np.random.default_rng(0)
    rules = [int(task.sample_batch(1, rng, noise=False).conditions["rule"][0]) for _ in range(1400)]
    frequency = np.bincount(rules, minlength=20) / 1400
    assert frequency[[8, 9]].sum() == pytest.approx(10 / 28, abs=0.05)  # contextdm1/2: 5 times the others
    assert np.all(frequency > 0)
    batch = task.sample_batch(16, np.random.default_rng(0))
    assert len(np.unique(batch.conditions["rule"])) == 1


def test_rule_unit_means_the_same_rule_in_every_subset() -> None:
    subset = [Rule.DMCNOGO, Rule.FDGO, Rule.MULTIDM]
    task = Yang19Mixture(subset, mix_within_batch=True)
    assert task.n_inputs == 85
    batch = task.sample_batch(300, np.random.default_rng(0), noise=False)
    positions = np.array([r.position for r in subset])[batch.conditions["rule"]]
    expected = np.zeros((batch.n_steps, 300, 20), dtype=np.float32)
    expected[:, np.arange(300), positions] = batch.valid
    np.testing.assert_array_equal(batch.inputs[..., 65:], expected)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    assert task.rule_of("multidm") == 2


def test_driscoll_layout_keeps_only_her_15_rule_units() -> None:
    task = Yang19Mixture(DRISCOLL_RULES, ring=SINCOS, rule_units=DRISCOLL_RULES, mix_within_batch=True)
    assert (task.n_inputs, task.n_outputs) == (20, 3)
    batch = task.sample_batch(600, np.random.default_rng(0), noise=False)
    one_hot = np.eye(15)[batch.conditions["rule"]][None] * batch.valid[..., None]
    np.testing.assert_array_equal(batch.inputs[..., 5:], one_hot)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)


def test_duncker_layout_is_25_inputs_for_four_rules() -> None:
    task = Yang19Mixture(DUNCKER_RULES, ring=SINCOS)
    assert (task.n_inputs, task.n_outputs, task.n_rules) == (25, 3, 4)
    env = TrialEnv(task)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (25,)


def test_shared_timing_reaches_every_task_of_the_mixture() -> None:
    task = Yang19Mixture(shared_timing=True)
    for seed in range(5):
        batch = task.sample_batch(16, np.random.default_rng(seed))
        assert len(np.unique(batch.lengths)) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rules": ["fdgo", "bogus"]}, ValueError, "rules"),
        ({"rules": [Rule.DM1], "rule_units": [Rule.DM2]}, ValueError, "rule_units"),
        ({"rules": "fdgo"}, TypeError, "rules"),
        ({"rules": [Rule.DM1, Rule.DM2], "weights": [1.0]}, ValueError, "weights"),
    ],
)
def test_bad_mixtures_are_rejected(kwargs: dict, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        Yang19Mixture(**kwargs)
