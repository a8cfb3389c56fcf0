"""Plain Stable-Baselines3 on an mtrnn task: sb3-contrib ``RecurrentPPO`` (LSTM policy) on a short DelayGo.

Run it (needs the ``rl`` extra: ``pip install 'mtrnn[rl]'``)::

    python examples/sb3_recurrent_ppo.py                # ~20 s on one core; chance is 0.5
    python examples/sb3_recurrent_ppo.py --seed 1 --steps 10240   # 1.000 here, in ~10 s

Measured here (greedy accuracy on 200 fresh trials, default 20 480 steps): seeds 0, 1, 2 → 1.000, seed 3 → 0.000
(that run never answers correctly: RL on this task still depends on the seed; with 10 240 steps seeds 0, 1, 2 gave
1.000, 1.000, 0.545). With 4 locations 30 k steps were not enough (0.000).

What a user of SB3 writes, nothing mtrnn-specific but the env id: ``make_vec_env`` over ``gym.make``'d envs
(one trial per episode; ``Monitor`` keeps the env's ``info["performance"]``, 1 for a correct trial), the
``MlpLstmPolicy``, ``learn``, then a greedy evaluation that plays fresh seeded episodes through the gym env with
the LSTM state reset at each episode start (``episode_start``), as SB3's own ``evaluate_policy`` does. The task is
DelayGo (Yang et al. 2019; the reward rule of Song, Yang & Wang 2017: +1 correct, 0 wrong, −0.1 and an abort for
breaking fixation) at ``dt = 200`` ms with 2 locations: 8-step trials, so the example runs in seconds at
RecurrentPPO's speed (~1–2 k env steps/s here). The full task (80 steps, 8 locations) needs ~10⁷ steps; for it
use mtrnn's batched trainer (``mtrnn-train-rl``, README "Reinforcement learning").

``mtrnn.agents.rl.sb3.quiet_logger`` replaces SB3's default logger, which otherwise creates an empty
``/tmp/SB3-<date>`` folder on every ``learn``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env

import mtrnn.envs  # noqa: F401  (registers the mtrnn/ ids)
from mtrnn.agents.rl.sb3 import quiet_logger

ENV_ID = "mtrnn/DelayGo-v0"


def train(steps: int, n_locations: int, seed: int) -> RecurrentPPO:
    """RecurrentPPO (64-unit LSTM) trained for ``steps`` env steps on 8 envs of DelayGo (dt 200 ms)."""
    env = make_vec_env(
        ENV_ID,
        n_envs=8,
        seed=seed,
        env_kwargs={"dt": 200, "n_locations": n_locations},
        monitor_kwargs={"info_keywords": ("performance",)},
    )
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=32,
        batch_size=128,
        n_epochs=4,
        learning_rate=3e-3,
        policy_kwargs={"lstm_hidden_size": 64},
        seed=seed,
    )
    model.set_logger(quiet_logger())
    model.learn(total_timesteps=steps)
    env.close()
    return model


def evaluate(model: RecurrentPPO, n_episodes: int, n_locations: int, seed: int) -> float:
    """Fraction of ``n_episodes`` fresh trials (env seeded with ``seed``) answered correctly, greedy actions."""
    env = gym.make(ENV_ID, dt=200, n_locations=n_locations)
    correct = 0
    observation, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        state = None
        episode_start = np.ones((1,), dtype=bool)
        done = False
        info: dict[str, float] = {}
        while not done:
            action, state = model.predict(observation, state=state, episode_start=episode_start, deterministic=True)
            observation, _, terminated, truncated, info = env.step(int(action))
            episode_start = np.zeros((1,), dtype=bool)
            done = terminated or truncated
        correct += int(info["performance"] == 1.0)
        observation, _ = env.reset()
    env.close()
    return correct / n_episodes


def main(argv: Sequence[str] | None = None) -> float:
    """Train, evaluate, print the greedy accuracy and return it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_480, help="env steps to train (default 20480)")
    parser.add_argument("--n-locations", type=int, default=2, help="stimulus locations (chance = 1/n)")
    parser.add_argument("--episodes", type=int, default=200, help="greedy evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = train(args.steps, args.n_locations, args.seed)
    accuracy = evaluate(model, args.episodes, args.n_locations, seed=10_000 + args.seed)
    print(
        f"{ENV_ID} (dt 200 ms, {args.n_locations} locations): greedy accuracy {accuracy:.3f} "
        f"over {args.episodes} trials after {model.num_timesteps} env steps (chance {1 / args.n_locations:.3f})"
    )
    return accuracy


if __name__ == "__main__":
    main()
