"""The 20 tasks of Yang et al. 2019, rule by rule: encoding, answers, timing, cost mask, scoring and the gym env.

Expected values are written out from the paper and Yang's ``task.py``/``network.py`` (gyyang/multitask), not
read back from the tasks' own tables.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from mtrnn.envs import TrialBatch, TrialEnv, decision_outcome
from mtrnn.envs.yang19 import (
    CATEGORY_LOCATIONS,
    RULES,
    Rule,
    Yang19Task,
    circular_distance,
    gaussian_tuning,
    population_vector,
    preferred_directions,
    yang19_task,
)

TWO_PI = 2 * np.pi
N = 256
GO_ANTI = (Rule.FDGO, Rule.REACTGO, Rule.DELAYGO, Rule.FDANTI, Rule.REACTANTI, Rule.DELAYANTI)
ANTI = (Rule.FDANTI, Rule.REACTANTI, Rule.DELAYANTI)
ONE_RING_DM = {Rule.DM1: 1, Rule.DM2: 2, Rule.DELAYDM1: 1, Rule.DELAYDM2: 2}
TWO_RING_DM = {
    Rule.CONTEXTDM1: 1,
    Rule.CONTEXTDM2: 2,
    Rule.MULTIDM: 0,
    Rule.CONTEXTDELAYDM1: 1,
    Rule.CONTEXTDELAYDM2: 2,
    Rule.MULTIDELAYDM: 0,
}
DELAYED_DM = (Rule.DELAYDM1, Rule.DELAYDM2, Rule.CONTEXTDELAYDM1, Rule.CONTEXTDELAYDM2, Rule.MULTIDELAYDM)
MATCHING = (Rule.DMSGO, Rule.DMSNOGO, Rule.DMCGO, Rule.DMCNOGO)
NO_GO_ON_MATCH = (Rule.DMSNOGO, Rule.DMCNOGO)
#: Rules whose fixation cue stays on all trial (the stimulus onset is the go signal).
FIXATION_CUE_ALL_TRIAL = (Rule.REACTGO, Rule.REACTANTI, *MATCHING)

# Yang's timing (ms): a tuple is an interval U(lo, hi), a set the discrete choices.
_DELAYED_DM_TIMING = {
    "fix1": {200, 400, 600},
    "stim1": {200, 400, 600},
    "delay1": {200, 400, 800, 1600},
    "stim2": {200, 400, 600},
    "delay2": (100, 300),
    "go1": {500},
}
_MATCH_TIMING = {"fix1": {200, 400, 600}, "stim1": {200, 400, 600}, "delay1": {200, 400, 800, 1600}}
YANG_TIMING: dict[Rule, dict[str, tuple[float, float] | set[float]]] = {
    Rule.FDGO: {"fix1": (300, 700), "stim1": (500, 1500), "go1": {500}},
    Rule.FDANTI: {"fix1": (300, 700), "stim1": (500, 1500), "go1": {500}},
    Rule.REACTGO: {"fix1": (500, 2500), "go1": {500}},
    Rule.REACTANTI: {"fix1": (500, 2500), "go1": {500}},
    Rule.DELAYGO: {"fix1": {300, 500, 700}, "stim1": {200, 400, 600}, "delay1": {200, 400, 800, 1600}, "go1": {500}},
    Rule.DELAYANTI: {"fix1": {300, 500, 700}, "stim1": {200, 400, 600}, "delay1": {200, 400, 800, 1600}, "go1": {500}},
    **{r: {"fix1": (100, 400), "stim1": {400, 800, 1600}, "go1": {500}} for r in (Rule.DM1, Rule.DM2)},
    **{r: {"fix1": (100, 400), "stim1": {400, 800, 1600}, "go1": {500}} for r in TWO_RING_DM if r not in DELAYED_DM},
    **{r: _DELAYED_DM_TIMING for r in DELAYED_DM},
    Rule.DMSGO: {**_MATCH_TIMING, "go1": {500}},
    Rule.DMSNOGO: {**_MATCH_TIMING, "go1": {500}},
    Rule.DMCGO: {**_MATCH_TIMING, "go1": {200, 400, 600}},
    Rule.DMCNOGO: {**_MATCH_TIMING, "go1": {200, 400, 600}},
}


@cache
def _task(rule: Rule) -> Yang19Task:
    return yang19_task(rule)


@cache
def _batch(rule: Rule) -> TrialBatch:
    return _task(rule).sample_batch(N, np.random.default_rng(rule.position), noise=False)


def _ring(batch: TrialBatch, modality: int) -> np.ndarray:
    return batch.inputs[..., 1 + 32 * (modality - 1) : 1 + 32 * modality]


def _response_start(batch: TrialBatch) -> np.ndarray:
    return batch.periods["go1"][0]


# ---------------------------------------------------------------------------------------------- the encoding
def test_tuning_curve_is_yangs() -> None:
    curve = gaussian_tuning(np.array([0.0]))[0]
    assert curve.shape == (32,)
    assert curve[0] == pytest.approx(0.8)
    assert curve[2] == pytest.approx(0.8 * np.exp(-0.5))  # 2 units = π/8 away
    assert curve[30] == pytest.approx(0.8 * np.exp(-0.5))
    assert curve[4] == pytest.approx(0.8 * np.exp(-2.0))
    np.testing.assert_allclose(preferred_directions()[:3], [0.0, np.pi / 16, np.pi / 8])


@pytest.mark.parametrize("direction", [0.0, 0.3, np.pi, 5.9])
def test_population_vector_reads_a_bump_back(direction: float) -> None:
    bump = 0.05 + gaussian_tuning(np.array([direction]))
    assert circular_distance(population_vector(bump)[0], direction) < 1e-3


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_shapes_and_dtypes(rule: Rule) -> None:
    task, batch = _task(rule), _batch(rule)
    assert (task.n_inputs, task.n_outputs, task.n_actions) == (85, 33, 33)
    assert task.rule == rule.value and task.display_name == rule.display_name
    T = batch.n_steps
    assert batch.inputs.shape == (T, N, 85) and batch.inputs.dtype == np.float32
    assert batch.targets.shape == batch.mask.shape == (T, N, 33)
    assert batch.targets.dtype == batch.mask.dtype == np.float32
    assert batch.labels.shape == (T, N) and batch.labels.dtype == np.int64


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_rule_unit_is_on_for_the_whole_trial_and_only_that_one(rule: Rule) -> None:
    batch = _batch(rule)
    expected = np.zeros((batch.n_steps, N, 20), dtype=np.float32)
    expected[..., rule.position] = batch.valid
    np.testing.assert_array_equal(batch.inputs[..., 65:], expected)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_fixation_cue_is_on_until_the_response_or_all_trial(rule: Rule) -> None:
    batch = _batch(rule)
    expected = batch.valid if rule in FIXATION_CUE_ALL_TRIAL else batch.valid & ~batch.period_mask("go1")
    np.testing.assert_array_equal(batch.inputs[..., 0], expected)


@pytest.mark.parametrize("rule", GO_ANTI, ids=str)
def test_go_anti_stimulus_is_a_bump_at_the_direction_in_its_ring_only(rule: Rule) -> None:
    batch = _batch(rule)
    cond = batch.conditions
    if rule in (Rule.FDGO, Rule.FDANTI):  # on from stim1 through the response
        shown = batch.period_mask("stim1") | batch.period_mask("go1")
    elif rule in (Rule.REACTGO, Rule.REACTANTI):  # its onset is the go signal
        shown = batch.period_mask("go1")
    else:  # flashed, then remembered
        shown = batch.period_mask("stim1")
    bump = gaussian_tuning(cond["direction"])[None] * shown[..., None]
    for m in (1, 2):
        in_ring = (cond["modality"] == m)[None, :, None]
        np.testing.assert_allclose(_ring(batch, m), bump * in_ring, atol=1e-6)
    t, b = np.nonzero(shown)
    read = population_vector(_ring(batch, 1)[t, b] + _ring(batch, 2)[t, b])
    assert np.all(circular_distance(read, cond["direction"][b]) < 1e-2)


@pytest.mark.parametrize("rule", [*ONE_RING_DM, *TWO_RING_DM], ids=str)
def test_dm_stimuli_are_bumps_with_their_strengths(rule: Rule) -> None:
    batch = _batch(rule)
    cond = batch.conditions
    on1 = batch.period_mask("stim1")
    on2 = batch.period_mask("stim2") if rule in DELAYED_DM else on1
    for m in (1, 2):
        if rule in ONE_RING_DM:
            s1, s2 = (cond["strength1"], cond["strength2"]) if ONE_RING_DM[rule] == m else (0.0, 0.0)
        else:
            s1, s2 = cond[f"strength1_mod{m}"], cond[f"strength2_mod{m}"]
        expected = (
            on1[..., None] * (s1 * gaussian_tuning(cond["direction1"]).T).T[None]
            + on2[..., None] * (s2 * gaussian_tuning(cond["direction2"]).T).T[None]
        )
        np.testing.assert_allclose(_ring(batch, m), expected, atol=1e-5)
    assert np.all(circular_distance(cond["direction1"], cond["direction2"]) >= 0.5 * np.pi - 1e-9)


@pytest.mark.parametrize("rule", MATCHING, ids=str)
def test_matching_sample_then_test_stays_on_in_their_rings(rule: Rule) -> None:
    batch = _batch(rule)
    cond = batch.conditions
    for m in (1, 2):
        expected = batch.period_mask("stim1")[..., None] * (
            gaussian_tuning(cond["direction1"]) * (cond["modality1"] == m)[:, None]
        ) + batch.period_mask("go1")[..., None] * (
            gaussian_tuning(cond["direction2"]) * (cond["modality2"] == m)[:, None]
        )
        np.testing.assert_allclose(_ring(batch, m), expected, atol=1e-6)
    assert {1, 2} == set(cond["modality1"]) == set(cond["modality2"])


# ---------------------------------------------------------------------------------------------- the answers
def _final_ring_direction(batch: TrialBatch) -> np.ndarray:
    last = batch.targets[batch.lengths - 1, np.arange(N)]
    return population_vector(last[:, 1:])


@pytest.mark.parametrize("rule", GO_ANTI, ids=str)
def test_go_answers_the_stimulus_and_anti_the_opposite(rule: Rule) -> None:
    batch = _batch(rule)
    expected = np.mod(batch.conditions["direction"] + (np.pi if rule in ANTI else 0.0), TWO_PI)
    assert np.all(circular_distance(batch.conditions["response"], expected) < 1e-9)
    assert np.all(circular_distance(_final_ring_direction(batch), expected) < 1e-2)


@pytest.mark.parametrize("rule", [*ONE_RING_DM, *TWO_RING_DM], ids=str)
def test_dm_answers_the_stronger_stimulus_in_the_attended_modality_or_the_sum(rule: Rule) -> None:
    batch = _batch(rule)
    cond = batch.conditions
    if rule in ONE_RING_DM:
        first, second = cond["strength1"], cond["strength2"]
    elif TWO_RING_DM[rule] == 0:
        first = cond["strength1_mod1"] + cond["strength1_mod2"]
        second = cond["strength2_mod1"] + cond["strength2_mod2"]
    else:
        m = TWO_RING_DM[rule]
        first, second = cond[f"strength1_mod{m}"], cond[f"strength2_mod{m}"]
    expected = np.where(first > second, cond["direction1"], cond["direction2"])
    assert np.all(circular_distance(_final_ring_direction(batch), expected) < 1e-2)
    assert 0.3 < np.mean(first > second) < 0.7


@pytest.mark.parametrize("rule", [Rule.CONTEXTDM1, Rule.CONTEXTDELAYDM2], ids=str)
def test_context_dm_ignores_the_other_modality_often_enough_to_matter(rule: Rule) -> None:
    cond = _batch(rule).conditions
    other = 3 - TWO_RING_DM[rule]
    other_says_first = cond[f"strength1_mod{other}"] > cond[f"strength2_mod{other}"]
    assert 0.3 < np.mean(other_says_first != (cond["choice"] == 1)) < 0.7


@pytest.mark.parametrize("rule", [Rule.MULTIDM, Rule.MULTIDELAYDM], ids=str)
def test_multisensory_split_keeps_each_modality_between_60_and_140_percent_of_the_mean(rule: Rule) -> None:
    cond = _batch(rule).conditions
    for k in (1, 2):
        a, b = cond[f"strength{k}_mod1"], cond[f"strength{k}_mod2"]
        ratio = np.abs(a - b) / ((a + b) / 2)
        assert np.all((ratio >= 0.2 - 1e-9) & (ratio <= 0.8 + 1e-9))


@pytest.mark.parametrize("rule", MATCHING, ids=str)
def test_matching_goes_only_on_match_or_only_on_non_match(rule: Rule) -> None:
    batch = _batch(rule)
    cond = batch.conditions
    d1, d2 = cond["direction1"], cond["direction2"]
    if rule in (Rule.DMSGO, Rule.DMSNOGO):
        match = circular_distance(d1, d2) < 1e-9
        assert np.all(circular_distance(d1, d2)[~match] >= np.pi / 9 - 1e-9)  # non-matches at least 20° away
    else:
        assert np.all(np.isin(np.round(d1, 12), np.round(CATEGORY_LOCATIONS, 12)))
        assert np.all(np.isin(np.round(d2, 12), np.round(CATEGORY_LOCATIONS, 12)))
        match = (d1 < np.pi) == (d2 < np.pi)
    np.testing.assert_array_equal(cond["match"], match)
    assert 0.4 < match.mean() < 0.6
    go = ~match if rule in NO_GO_ON_MATCH else match
    np.testing.assert_array_equal(cond["go"], go)
    last = batch.targets[batch.lengths - 1, np.arange(N)]
    np.testing.assert_allclose(last[~go, 0], 0.8)
    np.testing.assert_allclose(last[~go, 1:], 0.05)
    np.testing.assert_allclose(last[go, 0], 0.05)
    assert np.all(circular_distance(population_vector(last[go, 1:]), d2[go]) < 1e-2)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_targets_and_labels_follow_yang(rule: Rule) -> None:
    batch = _batch(rule)
    go = batch.conditions["go"]
    responding = batch.period_mask("go1") & go[None]
    fixating = batch.valid & ~responding
    np.testing.assert_allclose(batch.targets[..., 0][fixating], 0.8)
    np.testing.assert_allclose(batch.targets[..., 0][responding], 0.05)
    np.testing.assert_allclose(batch.targets[..., 1:][fixating], 0.05)
    t, b = np.nonzero(responding)
    bump = 0.05 + gaussian_tuning(batch.conditions["response"])[b]
    np.testing.assert_allclose(batch.targets[t, b, 1:], bump, atol=1e-6)
    unit = np.argmin(circular_distance(batch.conditions["response"][:, None], preferred_directions()[None]), axis=1)
    np.testing.assert_array_equal(batch.labels, np.where(responding, unit[None] + 1, 0))


# ---------------------------------------------------------------------------------------------- time
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_period_durations_follow_yangs_distributions(rule: Rule) -> None:
    batch = _batch(rule)
    expected = YANG_TIMING[rule]
    assert tuple(batch.periods) == tuple(expected)
    for period, law in expected.items():
        ms = batch.conditions[f"{period}_duration"]
        if isinstance(law, set):
            assert set(np.unique(ms)) == law
        else:
            assert ms.min() >= law[0] and ms.max() <= law[1]
            assert ms.max() - ms.min() > 0.8 * (law[1] - law[0])
        start, stop = batch.periods[period]
        np.testing.assert_array_equal(stop - start, np.rint(ms / 20.0))


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_cost_mask_is_yangs_with_a_100_ms_grace_window(rule: Rule) -> None:
    batch = _batch(rule)
    t = np.arange(batch.n_steps)[:, None]
    onset = _response_start(batch)[None]
    weight = np.select(
        [t < 5, t < onset, t < onset + 5, t < batch.lengths[None]],
        [0.0, 1.0, 0.0, 5.0],
        default=0.0,
    )
    np.testing.assert_array_equal(batch.mask[..., 1:], np.repeat(weight[..., None], 32, axis=-1))
    np.testing.assert_array_equal(batch.mask[..., 0], 2 * weight)


@pytest.mark.parametrize("dt", [10.0, 25.0])
def test_grace_windows_are_100_ms_at_other_time_steps(dt: float) -> None:
    task = yang19_task(Rule.DELAYGO, dt=dt)
    batch = task.sample_batch(8, np.random.default_rng(0))
    steps = round(100 / dt)
    onset = _response_start(batch)
    columns = np.arange(8)
    for k in range(steps):
        assert np.all(batch.mask[k] == 0)
        assert np.all(batch.mask[onset + k, columns] == 0)
    assert np.all(batch.mask[onset + steps, columns, 1:] == 5)


@pytest.mark.parametrize("rule", [Rule.DELAYGO, Rule.CONTEXTDELAYDM1, Rule.DMCNOGO], ids=str)
def test_shared_timing_draws_one_timing_per_batch(rule: Rule) -> None:
    task = yang19_task(rule, shared_timing=True)
    batches = [task.sample_batch(32, np.random.default_rng(s)) for s in range(6)]
    for batch in batches:
        assert len(np.unique(batch.lengths)) == 1
        assert batch.valid.all()
    assert len({int(b.lengths[0]) for b in batches}) > 1
    assert len(np.unique(_batch(rule).lengths)) > 1


# ---------------------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("rule", RULES, ids=str)
def test_targets_score_one_and_rotated_rings_score_zero_on_go_trials(rule: Rule) -> None:
    task, batch = _task(rule), _batch(rule)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    go = batch.conditions["go"]
    for shift in (1, -3):  # 0.0625π and 0.1875π away: inside 0.2π
        near = batch.targets.copy()
        near[..., 1:] = np.roll(near[..., 1:], shift, axis=-1)
        np.testing.assert_array_equal(task.score(near, batch), 1.0)
    for shift in (4, -5, 16):  # 0.25π, 0.3125π, π away
        rotated = batch.targets.copy()
        rotated[..., 1:] = np.roll(rotated[..., 1:], shift, axis=-1)
        score = task.score(rotated, batch)
        np.testing.assert_array_equal(score[go], 0.0)
        np.testing.assert_array_equal(score[~go], 1.0)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_score_reads_only_the_last_step_and_the_fixation_threshold(rule: Rule) -> None:
    task, batch = _task(rule), _batch(rule)
    go = batch.conditions["go"]
    outputs = np.zeros_like(batch.targets)
    last = batch.lengths - 1
    columns = np.arange(N)
    outputs[last, columns] = batch.targets[last, columns]
    np.testing.assert_array_equal(task.score(outputs, batch), 1.0)
    outputs[last, columns, 0] = np.where(go, 0.5, 0.51)  # go: <= 0.5 is not fixating; no-go: > 0.5 is
    np.testing.assert_array_equal(task.score(outputs, batch), 1.0)
    outputs[last, columns, 0] = np.where(go, 0.51, 0.5)
    np.testing.assert_array_equal(task.score(outputs, batch), 0.0)


def _respond_at(batch: TrialBatch, unit: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and actions of an agent that fixates, then responds at ``unit`` (``None``: never responds)."""
    responding = batch.period_mask("go1") & (unit is not None)
    outputs = np.full(batch.targets.shape, 0.05, dtype=np.float32)
    outputs[..., 0] = np.where(responding, 0.05, 0.8)
    actions = np.zeros(batch.labels.shape, dtype=np.int64)
    if unit is not None:
        t, b = np.nonzero(responding)
        outputs[t, b, 1:] += gaussian_tuning(preferred_directions()[unit])[b]
        actions[t, b] = unit[b] + 1
    return outputs, actions


@pytest.mark.parametrize("rule", RULES, ids=str)
@pytest.mark.parametrize("offset", [None, 0, 2, 3, -3, 4, 16])
def test_action_decoding_agrees_with_get_perf(rule: Rule, offset: int | None) -> None:
    task, batch = _task(rule), _batch(rule)
    go = batch.conditions["go"]
    label = np.argmin(circular_distance(batch.conditions["response"][:, None], preferred_directions()[None]), axis=1)
    unit = None if offset is None else (label + offset) % 32
    outputs, actions = _respond_at(batch, unit)
    by_score = task.score(outputs, batch)
    by_actions = decision_outcome(actions, batch, task.decision_start(batch), task.correct_actions(batch))
    np.testing.assert_array_equal(by_actions, by_score)
    if offset is None:
        np.testing.assert_array_equal(by_score, ~go)
    else:
        np.testing.assert_array_equal(by_score[~go], 0.0)
        # the label unit is within π/32 of the response; units 2 away are within 0.156π, 4 away beyond 0.219π
        expected = {0: 1.0, 2: 1.0, 4: 0.0, 16: 0.0}.get(offset)
        if expected is not None:
            np.testing.assert_array_equal(by_score[go], expected)


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_gym_env_agrees_with_score_on_the_same_seeded_trial(rule: Rule) -> None:
    env = TrialEnv(_task(rule))
    agreed = []
    for seed in range(12):
        env.reset(seed=seed)
        batch = env.trial
        assert batch is not None
        label = int(np.argmin(circular_distance(batch.conditions["response"][0], preferred_directions())))
        unit = None if seed % 4 == 0 else np.array([(label + seed % 4 - 1) % 32])
        outputs, actions = _respond_at(batch, unit)
        t = 0
        while True:
            _, _, terminated, _, info = env.step(int(actions[t, 0]))
            t += 1
            if terminated:
                break
        score = float(_task(rule).score(outputs, batch)[0])
        assert info["performance"] == score
        agreed.append(score)
    assert set(agreed) == {0.0, 1.0}


# ---------------------------------------------------------------------------------------------- conditions
def test_explicit_conditions_fix_directions_and_durations() -> None:
    task = yang19_task(Rule.DELAYANTI)
    batch = task.sample_batch(
        3,
        np.random.default_rng(0),
        conditions={"direction": [0.0, 1.0, 2.0], "modality": 2, "delay1_duration": 1000},
        noise=False,
    )
    np.testing.assert_allclose(batch.conditions["response"], [np.pi, 1.0 + np.pi, 2.0 + np.pi])
    start, stop = batch.periods["delay1"]
    np.testing.assert_array_equal(stop - start, 50)
    assert np.all(batch.inputs[..., 1:33] == 0)


def test_dm_given_first_direction_keeps_the_sampled_separation() -> None:
    task = yang19_task(Rule.DM1)
    batch = task.sample_batch(200, np.random.default_rng(0), conditions={"direction1": 1.0})
    separation = circular_distance(batch.conditions["direction2"], 1.0)
    assert np.all(separation >= 0.5 * np.pi - 1e-9)
    batch = task.sample_batch(2, np.random.default_rng(0), conditions={"direction2": [3.0, 4.0], "strength1": 0.9})
    np.testing.assert_array_equal(batch.conditions["direction2"], [3.0, 4.0])


def test_dms_given_test_direction_decides_match_and_a_contradiction_raises() -> None:
    task = yang19_task(Rule.DMSGO)
    batch = task.sample_batch(
        3, np.random.default_rng(0), conditions={"direction1": 1.0, "direction2": [1.0, 1.05, 2.0]}
    )
    np.testing.assert_array_equal(batch.conditions["match"], [True, True, False])
    with pytest.raises(ValueError, match="match"):
        task.sample_batch(1, np.random.default_rng(0), conditions={"direction1": 1.0, "direction2": 3.0, "match": 1})
    batch = task.sample_batch(50, np.random.default_rng(0), conditions={"match": False})
    assert np.all(circular_distance(batch.conditions["direction1"], batch.conditions["direction2"]) >= np.pi / 9)


def test_dmc_given_match_picks_a_test_of_the_right_category() -> None:
    task = yang19_task(Rule.DMCNOGO)
    batch = task.sample_batch(100, np.random.default_rng(0), conditions={"direction1": 0.3, "match": True})
    assert np.all(batch.conditions["direction2"] < np.pi) and not batch.conditions["go"].any()
    batch = task.sample_batch(100, np.random.default_rng(0), conditions={"direction1": 0.3, "match": False})
    assert np.all(batch.conditions["direction2"] > np.pi) and batch.conditions["go"].all()


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"ring": "sincos"}, TypeError, "ring"),
        ({"rule_units": ["dm1", "dm2"]}, ValueError, "rule_units"),
        ({"rule_units": ["fdgo", "nope"]}, ValueError, "rule_units"),
        ({"rule_units": ["fdgo", "fdgo"]}, ValueError, "rule_units"),
        ({"shared_timing": 1}, TypeError, "shared_timing"),
        ({"dt": 0}, ValueError, "dt"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        yang19_task(Rule.FDGO, **kwargs)


def test_strengths_outside_the_allowed_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="strength1"):
        yang19_task(Rule.DM1).sample_batch(2, np.random.default_rng(0), conditions={"strength1": 3.0})


def test_default_input_noise_is_yangs() -> None:
    assert _task(Rule.FDGO).input_noise_std == pytest.approx(0.01 * np.sqrt(2 / 0.2))
    noisy = _task(Rule.FDGO).sample_batch(64, np.random.default_rng(0))
    clean = _task(Rule.FDGO).sample_batch(64, np.random.default_rng(0), noise=False)
    assert (noisy.inputs - clean.inputs)[clean.valid].std() == pytest.approx(0.0316, rel=0.05)


@pytest.mark.parametrize("rule", [Rule.DELAYANTI, Rule.DMCGO], ids=str)
def test_input_noise_is_drawn_on_valid_steps_only_and_padding_stays_zero(rule: Rule) -> None:
    task = _task(rule)
    noisy = task.sample_batch(128, np.random.default_rng(0))
    clean = task.sample_batch(128, np.random.default_rng(0), noise=False)
    assert not clean.valid.all()  # per-trial timing pads the batch
    assert not noisy.inputs[~clean.valid].any()
    residual = (noisy.inputs - clean.inputs)[clean.valid]
    assert residual.std() == pytest.approx(task.input_noise_std, rel=0.02)
    assert abs(residual.mean()) < 1e-3
    # a batch of one has no padding: the draws are those of the whole array (what the gym env plays)
    one = task.sample_batch(1, np.random.default_rng(5))
    again = task.sample_batch(1, np.random.default_rng(5), noise=False)
    rng = np.random.default_rng(5)
    task.sample_batch(1, rng, noise=False)  # the same draws up to the noise
    expected = again.inputs + np.float32(task.input_noise_std) * rng.standard_normal(again.inputs.shape, np.float32)
    np.testing.assert_allclose(one.inputs, np.clip(expected, *task.observation_bounds), rtol=0, atol=1e-6)
