"""Every registered spec serialises and round-trips; the time limit never cuts a trial; streaming keeps playing."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import Fixed, TrialEnv, all_ids
from mtrnn.envs.gym_envs import load_entry_point
from mtrnn.envs.registry import ENV_SPECS

IDS = all_ids()
TRIAL_IDS = [entry.id for entry in ENV_SPECS if issubclass(load_entry_point(entry.entry_point), TrialEnv)]


@pytest.mark.parametrize("env_id", IDS)
def test_spec_serialises_and_round_trips(env_id: str) -> None:
    spec = gym.spec(env_id)
    text = spec.to_json()
    again = EnvSpec.from_json(text)
    assert again == spec
    env = gym.make(again)
    assert type(env.unwrapped) is type(gym.make(env_id).unwrapped)
    assert env.unwrapped.__class__.__module__ == "mtrnn.envs.gym_envs"
    assert spec.max_episode_steps is None


@pytest.mark.parametrize("env_id", IDS)
def test_each_id_has_its_own_importable_env_class(env_id: str) -> None:
    entry_point = gym.spec(env_id).entry_point
    assert isinstance(entry_point, str)
    cls = load_entry_point(entry_point)
    assert type(gym.make(env_id).unwrapped) is cls


def _play_one_trial(env: gym.Env, seed: int) -> tuple[int, bool, bool, int]:
    """Always fixate from ``reset(seed)`` to the episode's end: (steps, terminated, truncated, trial length)."""
    env.reset(seed=seed)
    length = int(env.unwrapped.trial.lengths[0])
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(0)
        steps += 1
        if terminated or truncated:
            return steps, terminated, truncated, length


@pytest.mark.parametrize("env_id", TRIAL_IDS)
@pytest.mark.parametrize("kwargs", [{}, {"dt": 5.0}], ids=["default", "dt5"])
def test_fixating_through_a_trial_ends_it_without_truncation(env_id: str, kwargs: dict) -> None:
    env = gym.make(env_id, **kwargs)
    for seed in range(2):
        steps, terminated, truncated, length = _play_one_trial(env, seed)
        assert (steps, terminated, truncated) == (length, True, False)
    if kwargs:
        assert env.unwrapped.task.max_steps > 3 * gym.make(env_id).unwrapped.task.max_steps


@pytest.mark.parametrize("kwargs", [{"dt": 10}, {"dt": 5}, {"timing": {"delay": Fixed(3000)}}])
def test_longer_delay_anti_trials_can_still_be_won(kwargs: dict) -> None:
    env = gym.make("mtrnn/DelayAnti-v0", input_noise_std=0.0, **kwargs)
    for seed in range(3):
        env.reset(seed=seed)
        gt = env.unwrapped.gt.copy()
        assert len(gt) > 80  # longer than the default trial
        for t in range(len(gt)):
            _, reward, terminated, truncated, info = env.step(int(gt[t]))
            assert not truncated
            if terminated:
                break
        assert info["performance"] == 1.0 and reward == 1.0


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_streaming_through_gym_make_keeps_playing(env_id: str) -> None:
    env = gym.make(env_id, streaming=True, max_episode_steps=None)
    env.reset(seed=0)
    trials = 0
    for _ in range(2 * env.unwrapped.task.max_steps + 10):
        _, _, terminated, truncated, info = env.step(0)
        assert not (terminated or truncated)
        trials += info["new_trial"]
    assert trials >= 2


def test_a_time_limit_given_to_gym_make_still_applies() -> None:
    env = gym.make("mtrnn/DelayAnti-v0", streaming=True, max_episode_steps=50)
    env.reset(seed=0)
    for step in range(50):
        _, _, terminated, truncated, _ = env.step(0)
        assert not terminated
        assert truncated == (step == 49)


def test_live_timing_objects_are_fine_as_make_kwargs() -> None:
    env = gym.make("mtrnn/DelayAnti-v0", timing={"delay": Fixed(3000)})
    assert env.unwrapped.task.max_steps == 80 - 30 + 150
    assert np.isclose(env.unwrapped.timing["delay"].ms, 3000)
