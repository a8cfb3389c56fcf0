"""Observations ``TrialEnv`` hands out are views of per-chunk arrays: the env must never write them again.

A trial's first ``HEAD_STEPS`` observations are rows of its chunk's head array and later ones rows of a segment
array; a user (or a replay buffer) that keeps them must see them unchanged after any number of later steps, chunk
draws and resets, episodic or streaming.
"""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import TrialEnv

STEPS = 400


@pytest.mark.parametrize("env_id", ["mtrnn/DelayAnti-v0", "mtrnn/Yang19-DelayAnti-v0"])
@pytest.mark.parametrize("streaming", [False, True], ids=["episodic", "streaming"])
def test_kept_observations_are_never_written_again(env_id: str, streaming: bool) -> None:
    env = gym.make(env_id, chunk_size=2, streaming=streaming).unwrapped
    assert isinstance(env, TrialEnv)
    draw = random.Random(0).random
    obs, _ = env.reset(seed=0)
    kept = [(obs, obs.copy())]
    fixating = True
    for _ in range(STEPS):  # trials alternate at random between a random agent and an always-fixate one
        action = 0 if fixating else int(draw() * env.action_space.n)
        obs, _, terminated, _, info = env.step(action)
        kept.append((obs, obs.copy()))
        if info["new_trial"]:
            fixating = draw() < 0.5
        if terminated:
            obs, _ = env.reset()
            kept.append((obs, obs.copy()))
    assert all(np.array_equal(held, copy) for held, copy in kept)
    assert all(held.dtype == np.float32 and env.observation_space.contains(held) for held, _ in kept)
