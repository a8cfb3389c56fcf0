"""Every registered ``mtrnn/`` id: the gymnasium contract, determinism, batch equivalence, pickling."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtrnn.envs
from mtrnn.envs import TrialEnv, all_ids
from mtrnn.envs.env import draw_chunk
from mtrnn.envs.gym_envs import load_entry_point
from mtrnn.envs.registry import ENV_SPECS

IDS = all_ids()
#: The ids played by a TrialEnv (the others, e.g. the memory tasks, have their own env class and tests).
TRIAL_IDS = [entry.id for entry in ENV_SPECS if issubclass(load_entry_point(entry.entry_point), TrialEnv)]


def test_every_id_is_registered_and_listed() -> None:
    registered = {env_id for env_id in gym.registry if env_id.startswith("mtrnn/")}
    assert set(IDS) <= registered
    assert len(IDS) == len(set(IDS))
    assert {"mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0", "mtrnn/DelayMatchToSample-v0"} <= set(IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_make_with_module_prefix(env_id: str) -> None:
    env = gym.make(f"mtrnn.envs:{env_id}")
    assert type(env.unwrapped).__name__ == env_id.split("/")[1].rsplit("-v", 1)[0].replace("-", "") + "Env"
    assert env.spec is not None and env.spec.max_episode_steps is None  # the env ends its own trials


def _rollout(env: gym.Env, seed: int, n_steps: int) -> list:
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    record = [obs]
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        record += [obs, reward, terminated, info["gt"]]
        if terminated or truncated:
            obs, info = env.reset()
            record.append(obs)
    return record


@pytest.mark.parametrize("env_id", IDS)
def test_reset_seed_is_deterministic(env_id: str) -> None:
    first = _rollout(gym.make(env_id), seed=7, n_steps=300)
    second = _rollout(gym.make(env_id), seed=7, n_steps=300)
    other = _rollout(gym.make(env_id), seed=8, n_steps=300)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=False))


@pytest.mark.parametrize("env_id", IDS)
def test_observations_inside_space_with_declared_dtype(env_id: str) -> None:
    env = gym.make(env_id, input_noise_std=0.5)
    obs, _ = env.reset(seed=0)
    for _ in range(500):
        assert obs.dtype == env.observation_space.dtype
        assert env.observation_space.contains(obs)
        obs, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            obs, _ = env.reset()


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_seeded_episode_plays_the_first_trial_of_the_seeded_chunk(env_id: str) -> None:
    env = gym.make(env_id, input_noise_std=0.0)
    obs, info = env.reset(seed=123)
    base = env.unwrapped
    assert isinstance(base, TrialEnv)
    batch = draw_chunk(base.task, base.chunk_size, np.random.default_rng(123))
    length = int(batch.lengths[0])
    assert info["gt"] == batch.labels[0, 0]
    played, labels = [obs], []
    for _ in range(length - 1):
        obs, _, terminated, _, info = env.step(0)
        played.append(obs)
        labels.append(info["gt"])
        if terminated:
            break
    np.testing.assert_array_equal(np.stack(played), batch.inputs[: len(played), 0])
    np.testing.assert_array_equal(base.gt, batch.labels[:length, 0])
    np.testing.assert_array_equal(labels, batch.labels[: len(labels), 0])  # info["gt"]: the step just taken


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_label_following_agent_scores_one_and_env_agrees(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    for seed in range(20):
        env.reset(seed=seed)
        gt = env.gt.copy()
        t, total = 0, 0.0
        while True:
            _, reward, terminated, _, info = env.step(int(gt[t]))
            total += reward
            t += 1
            if terminated:
                break
        assert info["performance"] == 1.0
        assert total == env.correct_reward
        batch = env.trial
        assert batch is not None
        assert env.task.score(batch.targets, batch)[0] == 1.0


@pytest.mark.parametrize("env_id", IDS)
def test_pickling_round_trip_keeps_the_rng_state(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    assert type(clone.unwrapped) is type(env.unwrapped)

    def play(e: gym.Env) -> np.ndarray:
        observations = []
        for _ in range(30):
            obs, _, terminated, truncated, _ = e.step(0)
            observations.append(obs)
            if terminated or truncated:
                observations.append(e.reset()[0])
        return np.stack(observations)

    np.testing.assert_array_equal(play(env), play(clone))


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_streaming_mode_runs_trials_back_to_back(env_id: str) -> None:
    env = gym.make(env_id, streaming=True).unwrapped
    env.reset(seed=0)
    new_trials = 0
    for _ in range(3 * env.task.max_steps):
        _, _, terminated, _, info = env.step(0)
        assert not terminated
        new_trials += info["new_trial"]
        if info["new_trial"]:
            assert info["performance"] in (0.0, 1.0)
    assert new_trials >= 3


def test_registering_twice_is_silent() -> None:
    mtrnn.envs.register_envs()
    assert gym.spec("mtrnn/DelayAnti-v0").entry_point == "mtrnn.envs.gym_envs:DelayAntiEnv"
