"""Stable-Baselines3 on every mtrnn env: check_env, PPO/A2C/RecurrentPPO through make_vec_env (also
SubprocVecEnv), episode statistics in SB3's logger, no stray /tmp/SB3-* folders, RecurrentPPO learns."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("stable_baselines3", reason="the rl extra (stable-baselines3, sb3-contrib) is not installed")
pytest.importorskip("sb3_contrib", reason="the rl extra (stable-baselines3, sb3-contrib) is not installed")

from stable_baselines3.common.env_checker import check_env

from mtrnn.agents.networks import Architecture, NetworkConfig
from mtrnn.agents.rl import Algo, Backend, RLConfig
from mtrnn.agents.rl.cli import main
from mtrnn.agents.rl.sb3 import VecEnvKind, make_sb3_model, make_sb3_vec_env, train_sb3
from mtrnn.agents.trainer import StopReason
from mtrnn.envs import all_ids


@pytest.mark.parametrize("env_id", all_ids())
def test_every_env_passes_sb3_check_env(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env, warn=True)
    env.close()


def _config(algo: Algo, **changes: object) -> RLConfig:
    network = NetworkConfig(architecture=Architecture.LSTM if algo is Algo.RECURRENT_PPO else Architecture.LEAKY_RNN)
    base = RLConfig(
        env_id="mtrnn/DelayGo-v0",
        task_kwargs={"dt": 200, "n_locations": 2},
        backend=Backend.SB3,
        algo=algo,
        network=dataclasses.replace(network, hidden_size=16),
        n_envs=2,
        n_steps=16,
        n_epochs=2,
        eval_interval=2,
        eval_trials=32,
        max_env_steps=128,
        threads=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _sb3_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("SB3-*"))


@pytest.mark.parametrize("algo", list(Algo))
def test_each_algorithm_trains_one_trial_per_episode_with_stats_in_the_logger(algo: Algo) -> None:
    before = _sb3_folders()
    result = train_sb3(_config(algo))
    assert _sb3_folders() == before  # SB3's default logger would have made /tmp/SB3-<date>
    last = result.logs[-1]
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/performance"} <= set(last)
    assert last["rollout/ep_len_mean"] <= 8  # one trial (at most 8 steps at dt = 200 ms) per episode
    assert result.metrics[-1]["env_steps"] >= 128
    assert result.metrics[-1]["trials"] > 0


def test_subproc_vec_env_trains_ppo() -> None:
    config = _config(Algo.PPO)
    env = make_sb3_vec_env(config, kind=VecEnvKind.SUBPROC)
    try:
        model = make_sb3_model(config, env)
        model.learn(total_timesteps=64)
        assert model.num_timesteps >= 64
        assert len(model.ep_info_buffer) > 0 and "performance" in model.ep_info_buffer[0]
    finally:
        env.close()


def test_recurrent_ppo_learns_a_short_delay_go_clearly_above_chance() -> None:
    """The shortest honest variant: DelayGo at dt = 200 ms (8-step trials, 1-step grace) with 2 locations, where
    an agent that holds fixation and answers at random scores 0.5; RecurrentPPO runs ~400 steps/s here."""
    config = _config(
        Algo.RECURRENT_PPO,
        network=NetworkConfig(architecture=Architecture.LSTM, hidden_size=32),
        n_envs=8,
        n_steps=32,
        n_epochs=4,
        n_minibatches=2,
        learning_rate=3e-3,
        eval_interval=10,
        eval_trials=128,
        max_env_steps=7680,
        seed=0,
    )
    result = train_sb3(config)
    assert result.metrics[-1]["perf/mtrnn/DelayGo-v0"] >= 0.8  # greedy, 128 seeded trials
    assert result.metrics[-1]["rollout_perf"] >= 0.7  # sampled actions, the last 10 rollouts


def test_sb3_backend_writes_the_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["--task", "mtrnn/DelayGo-v0", "--task-kwarg", "dt=200", "--task-kwarg", "n_locations=2"]
    argv += ["--backend", "sb3", "--algo", "a2c", "--max-env-steps", "64", "--n-envs", "2", "--n-steps", "8"]
    argv += ["--hidden-size", "8", "--eval-trials", "16", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "greedy performance" in capsys.readouterr().out
    for name in ("config.json", "model.safetensors", "metrics.csv", "report.md", "curves.png"):
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == "sb3" and config["algo"] == "a2c" and config["task_kwargs"]["dt"] == 200
    with pytest.raises(SystemExit):
        main(["--resume", str(out)])
    assert "only batched runs resume exactly" in capsys.readouterr().err


def test_target_stops_an_sb3_run() -> None:
    result = train_sb3(_config(Algo.PPO, target_perf=1e-9, max_env_steps=10_000))
    assert result.stop_reason is StopReason.TARGET_REACHED
    assert result.metrics[-1]["env_steps"] < 10_000


def test_the_plain_sb3_example_learns_a_short_delay_go(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/sb3_recurrent_ppo.py, as a user runs it (seed 0, a shorter budget): plain SB3 RecurrentPPO through
    make_vec_env, evaluated greedily through the gym env with the LSTM reset at each episode start."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "sb3_recurrent_ppo.py"
    spec = importlib.util.spec_from_file_location("sb3_recurrent_ppo_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    before = set(Path(tempfile.gettempdir()).glob("SB3-*"))
    accuracy = example.main(["--steps", "10240", "--episodes", "100", "--seed", "0"])
    assert accuracy >= 0.8  # chance 0.5
    assert "greedy accuracy" in capsys.readouterr().out
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == before
