"""Batches built from per-period tables (Yang's tasks): the one-gather path gives the batch the definitions give.

``PeriodTask.sample_batch`` writes a task's :class:`~mtrnn.envs.task.Tables` straight into the dense arrays and adds
the input noise to the valid rows before that gather; the result must be the noise-free batch plus
:meth:`~mtrnn.envs.task.Task.add_input_noise`, drawing the same numbers from the generator.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtrnn.envs.layout import period_rows, runs, runs_from_ends
from mtrnn.envs.timing import Fixed
from mtrnn.envs.yang19 import Rule, yang19_task
from mtrnn.envs.yang19.rings import circular_distance, gaussian_tuning, preferred_directions

# go/anti (one stimulus), dm (two stimuli in one period), matching (no-go trials)
RULES = [Rule.DELAYANTI, Rule.DM1, Rule.DMSGO]


@pytest.mark.parametrize("shared_timing", [False, True], ids=["per-trial-timing", "shared-timing"])
@pytest.mark.parametrize("batch_size", [1, 9])
@pytest.mark.parametrize("rule", RULES, ids=[r.value for r in RULES])
def test_noisy_batch_is_the_noise_free_batch_plus_add_input_noise(
    rule: Rule, batch_size: int, shared_timing: bool
) -> None:
    task = yang19_task(rule, shared_timing=shared_timing)
    first, second = np.random.default_rng(11), np.random.default_rng(11)
    noisy = task.sample_batch(batch_size, first, noise=True)
    clean = task.sample_batch(batch_size, second, noise=False)
    inputs = clean.inputs.copy()
    padded = bool(clean.lengths.min() < clean.n_steps)
    task.add_input_noise(inputs, second, clean.valid if padded else None)
    np.testing.assert_array_equal(noisy.inputs, inputs)
    assert noisy.inputs.dtype == np.float32 and noisy.inputs.flags.c_contiguous
    assert first.bit_generator.state == second.bit_generator.state
    assert noisy.noise_added
    for name in ("targets", "mask", "labels", "lengths"):
        np.testing.assert_array_equal(getattr(noisy, name), getattr(clean, name), err_msg=name)
    assert not noisy.inputs[~noisy.valid].any()  # padding stays 0


def _naive_runs(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.stack([np.repeat(values, lengths[:, b]) for b in range(lengths.shape[1])], axis=1)


@pytest.mark.parametrize(
    "lengths",
    [
        [[3, 1], [2, 4], [0, 0]],  # a last run of length 0
        [[0, 2], [5, 0], [1, 4]],  # runs of length 0 in the middle and first
        [[6], [0], [0]],
    ],
    ids=["empty-last", "empty-inner", "one-trial"],
)
def test_runs_decode_run_lengths_in_c_order(lengths: list[list[int]]) -> None:
    table = np.asarray(lengths)
    values = np.array([4, 0, 7])
    decoded = runs(values, table)
    np.testing.assert_array_equal(decoded, _naive_runs(values, table))
    assert decoded.flags.c_contiguous and decoded.dtype == np.intp
    ends = np.cumsum(table[:-1], axis=0)
    np.testing.assert_array_equal(runs_from_ends(values, ends, int(table[:, 0].sum())), decoded)


@pytest.mark.parametrize("n_steps_extra", [0, 3], ids=["longest-trial-fills-T", "padded-to-T"])
def test_period_rows_is_runs_from_ends_of_the_period_rows(n_steps_extra: int) -> None:
    steps = np.array([[1, 4, 2, 3], [2, 1, 1, 5], [3, 2, 6, 1]])  # (P, B) steps per period, each >= 1
    ends = np.cumsum(steps, axis=0)
    n_steps = int(ends[-1].max()) + n_steps_extra
    P, B = steps.shape
    want = runs_from_ends(np.arange(P + 1) * B, ends, n_steps) + np.arange(B)
    got = period_rows(ends, n_steps)
    np.testing.assert_array_equal(got, want)
    assert got.flags.c_contiguous and got.dtype == np.intp and got.flags.writeable


@pytest.mark.parametrize(
    ("dt", "timing"),
    [
        (20.0, {"go1": Fixed(40.0)}),
        (20.0, {"fix1": Fixed(20.0), "stim1": Fixed(20.0), "delay1": Fixed(20.0), "go1": Fixed(60.0)}),
        (250.0, {}),
        (10.0, {}),
    ],
    ids=["grace-past-the-end", "response-before-100ms", "no-unchecked-steps", "dt-10"],
)
def test_cost_mask_is_the_run_definition_at_the_edges(dt: float, timing: dict[str, Fixed]) -> None:
    """The mask index (period rows, then the unchecked steps and the grace window cut out) is Yang's mask runs."""
    task = yang19_task(Rule.DELAYGO, dt=dt, timing=timing)
    batch = task.sample_batch(16, np.random.default_rng(3), noise=False)
    t = np.arange(batch.n_steps)[:, None]
    onset = batch.periods["go1"][0][None]
    unchecked = round(100 / dt)
    # Yang's runs: unchecked, before the response, grace, after it, padding
    weight = np.select(
        [t < np.minimum(onset, unchecked), t < onset, t < onset + unchecked, t < batch.lengths[None]],
        [0.0, 1.0, 0.0, 5.0],
        default=0.0,
    )
    np.testing.assert_array_equal(batch.mask[..., 1:], np.repeat(weight[..., None], 32, axis=-1))
    np.testing.assert_array_equal(batch.mask[..., 0], 2 * weight)
    np.testing.assert_array_equal(task.sample_compact(16, np.random.default_rng(3)).expand().mask, batch.mask)


@pytest.mark.parametrize("batch_size", [64, 200])
def test_noisy_batch_of_many_trials_draws_head_and_tail_in_valid_order(batch_size: int) -> None:
    """Trials of many lengths: the steps every trial has (drawn into the output) and the rest (drawn into a buffer)
    together are the noise-free batch plus add_input_noise over the valid steps in (t, b) order."""
    task = yang19_task(Rule.DELAYANTI)
    first, second = np.random.default_rng(2), np.random.default_rng(2)
    noisy = task.sample_batch(batch_size, first, noise=True)
    clean = task.sample_batch(batch_size, second, noise=False)
    assert clean.lengths.min() < clean.n_steps
    inputs = clean.inputs.copy()
    task.add_input_noise(inputs, second, clean.valid)
    np.testing.assert_array_equal(noisy.inputs, inputs)
    assert first.bit_generator.state == second.bit_generator.state


@pytest.mark.parametrize(
    "direction",
    [0.0, -0.0, 1e-300, np.pi, np.nextafter(2 * np.pi, 0.0), 2 * np.pi, -0.5, 7.0, 2 * np.pi * 5 / 32],
    ids=["0", "-0", "tiny", "pi", "below-2pi", "2pi", "negative", "above-2pi", "preferred"],
)
def test_gaussian_tuning_is_the_circular_distance_definition_bit_for_bit(direction: float) -> None:
    directions = np.array([direction, 1.0])
    distance = circular_distance(directions[:, None], preferred_directions())
    want = 0.8 * np.exp(-0.5 * (distance / (np.pi / 8)) ** 2)
    assert gaussian_tuning(directions).tobytes() == want.tobytes()
