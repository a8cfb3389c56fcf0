"""The four delay tasks: the answer the targets demand is the right one, and scoring judges it."""

from __future__ import annotations

import numpy as np
import pytest

from mtrnn.envs import (
    DelayAnti,
    DelayAntiMatchToSample,
    DelayGo,
    DelayMatchToSample,
    DelayTask,
    Fixed,
    TrialBatch,
)

TASKS = [DelayGo, DelayAnti, DelayMatchToSample, DelayAntiMatchToSample]


def _batch(task: DelayTask, n: int = 256, seed: int = 0) -> TrialBatch:
    return task.sample_batch(n, np.random.default_rng(seed))


def _decision(task: DelayTask, batch: TrialBatch) -> np.ndarray:
    """The action the targets demand at each trial's last step (0 = fixate)."""
    last = batch.targets[batch.lengths - 1, np.arange(batch.batch_size)]
    return last.argmax(axis=-1)


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_all_four_share_input_output_dims(cls: type[DelayTask]) -> None:
    task = cls(n_locations=6)
    assert (task.n_inputs, task.n_outputs, task.n_actions) == (7, 7, 7)
    batch = _batch(task, 8)
    assert batch.inputs.shape == (batch.n_steps, 8, 7)
    assert batch.targets.shape == batch.mask.shape == (batch.n_steps, 8, 7)
    assert batch.labels.shape == (batch.n_steps, 8)
    assert batch.inputs.dtype == batch.targets.dtype == batch.mask.dtype == np.float32
    assert batch.labels.dtype == np.int64


@pytest.mark.parametrize("n_locations", [2, 4, 8, 16])
def test_delay_go_answers_the_stimulus_location(n_locations: int) -> None:
    task = DelayGo(n_locations=n_locations)
    batch = _batch(task)
    np.testing.assert_array_equal(_decision(task, batch), batch.conditions["location"] + 1)


@pytest.mark.parametrize("n_locations", [2, 4, 8, 16])
def test_delay_anti_answers_the_opposite_location(n_locations: int) -> None:
    task = DelayAnti(n_locations=n_locations)
    batch = _batch(task)
    opposite = (batch.conditions["location"] + n_locations // 2) % n_locations
    np.testing.assert_array_equal(_decision(task, batch), opposite + 1)


def test_stimulus_is_shown_only_during_the_stimulus_period() -> None:
    task = DelayAnti(input_noise_std=0.0)
    batch = _batch(task, 32)
    shown = batch.inputs[:, :, 1:].sum(axis=-1) > 0
    np.testing.assert_array_equal(shown, batch.period_mask("stimulus"))
    location = batch.inputs[:, :, 1:].argmax(axis=-1)[batch.period_mask("stimulus")]
    expected = np.broadcast_to(batch.conditions["location"], shown.shape)[batch.period_mask("stimulus")]
    np.testing.assert_array_equal(location, expected)


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_fixation_cue_is_on_until_the_decision_period(cls: type[DelayTask]) -> None:
    task = cls(input_noise_std=0.0)
    batch = _batch(task, 16)
    decision = batch.period_mask(task.decision_period)
    np.testing.assert_array_equal(batch.inputs[..., 0] == 1, batch.valid & ~decision)


@pytest.mark.parametrize(
    ("cls", "respond_on_match"), [(DelayMatchToSample, True), (DelayAntiMatchToSample, False)], ids=["DMS", "DAMS"]
)
def test_match_tasks_respond_at_test_on_go_trials_and_withhold_otherwise(
    cls: type[DelayTask], respond_on_match: bool
) -> None:
    task = cls()
    batch = _batch(task, 512)
    match = batch.conditions["match"]
    assert 0.4 < match.mean() < 0.6
    sample, test = batch.conditions["sample"], batch.conditions["test"]
    np.testing.assert_array_equal(test == sample, match)
    go = match if respond_on_match else ~match
    expected = np.where(go, test + 1, 0)
    np.testing.assert_array_equal(_decision(task, batch), expected)


def test_non_match_test_locations_cover_every_other_location() -> None:
    task = DelayMatchToSample(n_locations=4)
    batch = task.sample_batch(2000, np.random.default_rng(1), conditions={"sample": 0, "match": False})
    assert set(np.unique(batch.conditions["test"])) == {1, 2, 3}


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_score_of_targets_is_one_and_wrong_answers_score_zero(cls: type[DelayTask]) -> None:
    task = cls()
    batch = _batch(task, 300)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
    wrong = batch.targets.copy()
    rolled = np.roll(wrong[..., 1:], 1, axis=-1)
    decision = batch.period_mask(task.decision_period)
    wrong[..., 1:] = np.where(decision[..., None], rolled, wrong[..., 1:])
    go = _decision(task, batch) != 0
    assert go.any()
    # a response at the neighbouring location is wrong; a no-go trial's fixation is untouched and stays right
    np.testing.assert_array_equal(task.score(wrong, batch), np.where(go, 0.0, 1.0))


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_breaking_fixation_before_the_decision_period_scores_zero(cls: type[DelayTask]) -> None:
    task = cls()
    batch = _batch(task, 64)
    outputs = batch.targets.copy()
    t = int(batch.periods["delay"][0][0]) + 2
    outputs[t, :, 0] = 0.0
    outputs[t, :, 1] = 1.0
    np.testing.assert_array_equal(task.score(outputs, batch), 0.0)


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_grace_window_is_exactly_100_ms_of_zero_mask_at_response_onset(cls: type[DelayTask]) -> None:
    task = cls(dt=10.0)
    batch = _batch(task, 16)
    start = batch.periods[task.decision_period][0]
    step_mask = batch.step_mask
    for offset in range(10):
        assert np.all(step_mask[start + offset, np.arange(16)] == 0)
    assert np.all(step_mask[start + 10, np.arange(16)] == 1)
    assert np.all(step_mask[: int(start.min())] == 1)


def test_responding_inside_the_grace_window_is_free() -> None:
    task = DelayGo()
    batch = _batch(task, 32)
    outputs = batch.targets.copy()
    start = int(batch.periods["go"][0][0])
    outputs[start, :, 0] = 1.0
    outputs[start, :, 1:] = 0.0
    np.testing.assert_array_equal(task.score(outputs, batch), 1.0)


def test_explicit_conditions_and_durations_are_honoured() -> None:
    task = DelayAnti(timing={"delay": Fixed(1000)})
    batch = task.sample_batch(
        5, np.random.default_rng(0), conditions={"location": [0, 1, 2, 3, 4], "stimulus_duration": 200.0}
    )
    np.testing.assert_array_equal(batch.conditions["location"], [0, 1, 2, 3, 4])
    start, stop = batch.periods["stimulus"]
    np.testing.assert_array_equal(stop - start, 10)
    start, stop = batch.periods["delay"]
    np.testing.assert_array_equal(stop - start, 50)
    np.testing.assert_array_equal(batch.lengths, 10 + 10 + 50 + 20)


def test_noise_free_batch_reports_the_std_to_add() -> None:
    task = DelayGo(input_noise_std=0.2)
    clean = task.sample_batch(8, np.random.default_rng(0), noise=False)
    noisy = task.sample_batch(8, np.random.default_rng(0), noise=True)
    assert not clean.noise_added and noisy.noise_added
    assert clean.input_noise_std == pytest.approx(0.2)
    assert set(np.unique(clean.inputs)) <= {0.0, 1.0}
    residual = (noisy.inputs - clean.inputs)[clean.valid]
    assert residual.std() == pytest.approx(0.2, rel=0.1)
    np.testing.assert_array_equal(clean.targets, noisy.targets)


def test_variable_timing_pads_and_masks_shorter_trials() -> None:
    from mtrnn.envs import Choice

    task = DelayGo(timing={"delay": Choice([200, 1000])}, input_noise_std=0.0)
    batch = _batch(task, 64)
    assert len(np.unique(batch.lengths)) == 2
    padding = ~batch.valid
    assert np.all(batch.mask[padding] == 0)
    assert np.all(batch.inputs[padding] == 0)
    assert np.all(batch.labels[padding] == 0)
    np.testing.assert_array_equal(task.score(batch.targets, batch), 1.0)
