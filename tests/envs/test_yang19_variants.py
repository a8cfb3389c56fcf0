"""Yang 2019 tasks beyond the defaults: the sin/cos ring variant and Yang's explicit test-mode grids."""

from __future__ import annotations

import numpy as np
import pytest

from mtrnn.envs import decision_outcome
from mtrnn.envs.yang19 import (
    RULES,
    ConditionGrid,
    RingEncoding,
    Rule,
    circular_distance,
    grid_conditions,
    preferred_directions,
    yang19_task,
)

SINCOS = RingEncoding.SINCOS
#: Yang's ``mode='test'`` batch sizes: 20 directions x 2 modalities (Go/Anti), x 5 strengths (DM), x 5 x 5
#: (two-ring DM), x 2 x 2 modalities (matching).
TEST_GRID_SIZES = {
    **dict.fromkeys((Rule.FDGO, Rule.REACTGO, Rule.DELAYGO, Rule.FDANTI, Rule.REACTANTI, Rule.DELAYANTI), 40),
    **dict.fromkeys((Rule.DM1, Rule.DM2, Rule.DELAYDM1, Rule.DELAYDM2), 100),
    **dict.fromkeys(
        (Rule.CONTEXTDM1, Rule.CONTEXTDM2, Rule.MULTIDM, Rule.CONTEXTDELAYDM1, Rule.CONTEXTDELAYDM2, Rule.MULTIDELAYDM),
        500,
    ),
    **dict.fromkeys((Rule.DMSGO, Rule.DMSNOGO, Rule.DMCGO, Rule.DMCNOGO), 80),
}


# ---------------------------------------------------------------------------------------------- sin/cos rings
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_sincos_layout_is_dunckers_25_inputs_3_outputs(rule: Rule) -> None:
    task = yang19_task(rule, ring=SINCOS)
    assert (task.n_inputs, task.n_outputs, task.n_actions) == (25, 3, 33)
    batch = task.sample_batch(128, np.random.default_rng(0), noise=False)
    assert batch.inputs.shape[2] == 25 and batch.targets.shape[2] == 3
    expected_rule = np.zeros((batch.n_steps, 128, 20), dtype=np.float32)
    expected_rule[..., rule.position] = batch.valid
    np.testing.assert_array_equal(batch.inputs[..., 5:], expected_rule)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    low, high = task.input_range
    assert low <= batch.inputs.min() and batch.inputs.max() <= high


@pytest.mark.parametrize("rule", [Rule.DELAYGO, Rule.DM2, Rule.MULTIDM, Rule.DMSNOGO], ids=str)
def test_sincos_stimulus_is_strength_times_cos_sin_and_target_is_the_unit_vector(rule: Rule) -> None:
    task = yang19_task(rule, ring=SINCOS)
    batch = task.sample_batch(64, np.random.default_rng(1), noise=False)
    cond = batch.conditions
    stim = batch.inputs[..., 1:5].reshape(batch.n_steps, 64, 2, 2)  # (T, B, modality, cos/sin)
    on = np.abs(stim).sum(axis=-1) > 0
    if rule is Rule.DELAYGO:
        t, b = np.nonzero(batch.period_mask("stim1"))
        m = cond["modality"][b] - 1
        expected = np.stack([np.cos(cond["direction"][b]), np.sin(cond["direction"][b])], axis=-1)
        np.testing.assert_allclose(stim[t, b, m], expected, atol=1e-6)
        assert on.sum() == t.size
    elif rule is Rule.DM2:
        t, b = np.nonzero(batch.period_mask("stim1"))
        expected = sum(
            cond[f"strength{k}"][b, None]
            * np.stack([np.cos(cond[f"direction{k}"][b]), np.sin(cond[f"direction{k}"][b])], axis=-1)
            for k in (1, 2)
        )
        np.testing.assert_allclose(stim[t, b, 1], expected, atol=1e-5)
        assert not on[..., 0].any()
    responding = batch.period_mask("go1") & cond["go"][None]
    t, b = np.nonzero(responding)
    response = cond["response"][b]
    np.testing.assert_allclose(batch.targets[t, b, 1:], np.stack([np.cos(response), np.sin(response)], -1), atol=1e-6)
    np.testing.assert_array_equal(batch.targets[..., 1:][~responding], 0.0)
    np.testing.assert_allclose(batch.targets[..., 0][batch.valid & ~responding], 0.8)


@pytest.mark.parametrize("rule", [Rule.FDANTI, Rule.CONTEXTDELAYDM1, Rule.DMCGO, Rule.DMSNOGO], ids=str)
@pytest.mark.parametrize("degrees", [10.0, 35.0, 37.0, 90.0, 180.0])
def test_sincos_score_and_actions_follow_the_36_degree_rule(rule: Rule, degrees: float) -> None:
    task = yang19_task(rule, ring=SINCOS)
    batch = task.sample_batch(128, np.random.default_rng(2), noise=False)
    go = batch.conditions["go"]
    angle = np.deg2rad(degrees)
    rotated = batch.targets.copy()
    cos, sin = rotated[..., 1].copy(), rotated[..., 2].copy()
    rotated[..., 1] = np.cos(angle) * cos - np.sin(angle) * sin
    rotated[..., 2] = np.sin(angle) * cos + np.cos(angle) * sin
    score = task.score(rotated, batch)
    np.testing.assert_array_equal(score[go], 1.0 if degrees < 36 else 0.0)
    np.testing.assert_array_equal(score[~go], 1.0)
    # the discrete action set is 32 directions; a response at a unit direction is correct iff within 36°
    response = batch.conditions["response"]
    correct = task.correct_actions(batch)
    close = circular_distance(response[:, None], preferred_directions()[None]) < 0.2 * np.pi
    np.testing.assert_array_equal(correct[:, 1:], close & go[:, None])
    actions = np.where(batch.period_mask("go1"), 1 + np.argmax(close, axis=1)[None], 0)
    outcome = decision_outcome(actions, batch, task.decision_start(batch), correct)
    np.testing.assert_array_equal(outcome, go.astype(float))


def test_sincos_rule_units_of_a_subset() -> None:
    task = yang19_task(Rule.DMCNOGO, ring=SINCOS, rule_units=[Rule.DMCGO, Rule.DMCNOGO])
    assert task.n_inputs == 7
    batch = task.sample_batch(4, np.random.default_rng(0), noise=False)
    np.testing.assert_array_equal(batch.inputs[..., 5:], np.stack([0 * batch.valid, batch.valid], axis=-1))


# ---------------------------------------------------------------------------------------------- explicit grids
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_yang_test_grid_is_all_go_with_fixed_timing(rule: Rule) -> None:
    task = yang19_task(rule)
    grid = task.test_grid()
    assert grid.batch_size == TEST_GRID_SIZES[rule]
    batch = grid.sample(task)
    assert batch.valid.all() and not batch.noise_added
    assert batch.conditions["go"].all()
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    for key in (k for k in batch.conditions if k.endswith("_duration")):
        assert len(np.unique(batch.conditions[key])) == 1
    direction = batch.conditions.get("direction", batch.conditions.get("direction1"))
    assert len(np.unique(np.round(direction, 9))) == 20


def test_grid_conditions_is_the_cartesian_product_with_fixed_values() -> None:
    grid = grid_conditions({"direction": [0.0, 1.0, 2.0], "modality": [1, 2]}, fixed={"go1_duration": 300.0})
    assert grid.batch_size == 6
    np.testing.assert_array_equal(grid.conditions["direction"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(grid.conditions["modality"], [1, 2, 1, 2, 1, 2])
    np.testing.assert_array_equal(grid.conditions["go1_duration"], 300.0)
    batch = grid.sample(yang19_task(Rule.REACTANTI))
    np.testing.assert_array_equal(batch.periods["go1"][1] - batch.periods["go1"][0], 15)
    np.testing.assert_allclose(batch.conditions["response"], np.mod(grid.conditions["direction"] + np.pi, 2 * np.pi))


@pytest.mark.parametrize(
    ("axes", "fixed", "words"),
    [
        ({}, None, "axes"),
        ({"direction": []}, None, "axes"),
        ({"direction": [[0.0, 1.0]]}, None, "axes"),
        ({"direction": [0.0]}, {"direction": 1.0}, "fixed"),
        ({"direction": [0.0]}, {"go1_duration": [1.0, 2.0]}, "fixed"),
    ],
)
def test_bad_grids_are_rejected(axes: dict, fixed: dict | None, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        grid_conditions(axes, fixed)


def test_condition_grid_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        ConditionGrid({"a": np.zeros(2), "b": np.zeros(3)})
