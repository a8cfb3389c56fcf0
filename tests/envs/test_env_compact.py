"""The compact form the gym env plays from: ``task.sample_compact`` stands for ``task.sample_batch(noise=False)``.

For every id: the same draws from the generator, ``expand()`` equal bit for bit, and ``without_signals()`` equal to
what ``select(signals=False)`` gives (the arrays a task's ``score``, ``decision_start`` and ``correct_actions`` read).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import TrialEnv
from mtrnn.envs.batch import CompactBatch
from mtrnn.envs.gym_envs import load_entry_point
from mtrnn.envs.registry import ENV_SPECS

TRIAL_IDS = [entry.id for entry in ENV_SPECS if issubclass(load_entry_point(entry.entry_point), TrialEnv)]
YANG_IDS = [env_id for env_id in TRIAL_IDS if env_id.startswith("mtrnn/Yang19-") and env_id != "mtrnn/Yang19-v0"]


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_compact_batch_expands_to_the_noise_free_batch_with_the_same_draws(env_id: str) -> None:
    task = gym.make(env_id).unwrapped.task
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    compact = task.sample_compact(6, first)
    batch = task.sample_batch(6, second, noise=False)
    assert isinstance(compact, CompactBatch)
    assert first.bit_generator.state == second.bit_generator.state
    expanded = compact.expand()
    for name in ("inputs", "targets", "mask", "labels", "lengths"):
        got, want = getattr(expanded, name), getattr(batch, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert expanded.periods.keys() == batch.periods.keys()
    for name, (start, stop) in batch.periods.items():
        np.testing.assert_array_equal(expanded.periods[name][0], start)
        np.testing.assert_array_equal(expanded.periods[name][1], stop)
    assert expanded.conditions.keys() == batch.conditions.keys()
    for name, values in batch.conditions.items():
        np.testing.assert_array_equal(expanded.conditions[name], values)
    assert expanded.noise_added == batch.noise_added
    light, selected = compact.without_signals(), batch.select(np.arange(6), signals=False)
    np.testing.assert_array_equal(light.labels, selected.labels)
    np.testing.assert_array_equal(light.checked_steps, selected.checked_steps)
    np.testing.assert_array_equal(task.decision_start(light), task.decision_start(batch))
    np.testing.assert_array_equal(task.correct_actions(light), task.correct_actions(batch))


@pytest.mark.parametrize("env_id", YANG_IDS)
def test_yang_tasks_keep_per_period_tables(env_id: str) -> None:
    """Yang's signals are constant within periods: the compact form holds a row per (period, trial), not per step."""
    task = gym.make(env_id).unwrapped.task
    compact = task.sample_compact(4, np.random.default_rng(0))
    assert compact.source is None
    assert len(compact.inputs.rows) == (len(task.period_names) + 1) * 4
    assert compact.inputs.index.shape == (compact.n_steps, 4)
