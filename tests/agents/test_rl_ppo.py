"""Batched recurrent PPO: learns, is deterministic, saves and loads, resumes exactly after kill -9, and its run
directory gives the analysis toolkit the policy's cell."""

from __future__ import annotations

import copy
import csv
import dataclasses
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrnn.agents.networks import Architecture, NetworkConfig, RecurrentNetwork
from mtrnn.agents.rl import PPOTrainer, RLConfig, RLResult, greedy_actions, load_policy, play_trials, read_rl_config
from mtrnn.agents.rundir import RunDir
from mtrnn.agents.trainer import StopReason

#: DelayGo with 100 ms steps (16-step trials) and two locations: chance is 0.5 for an agent that holds fixation.
SHORT = {"dt": 100, "n_locations": 2}


def _config(**changes: object) -> RLConfig:
    base = RLConfig(
        env_id="mtrnn/DelayGo-v0",
        task_kwargs=SHORT,
        network=NetworkConfig(hidden_size=16, tau=100.0, recurrent_noise=0.0),
        trials_per_update=32,
        n_minibatches=2,
        n_epochs=2,
        learning_rate=3e-3,
        eval_interval=3,
        eval_trials=64,
        max_env_steps=1500,
        threads=1,
        seed=3,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> tuple[PPOTrainer, RLResult]:
    """One short run that learns (reused by the tests below, so the suite trains it once)."""
    config = _config(
        out_dir=str(tmp_path_factory.mktemp("rl") / "run"),
        network=NetworkConfig(hidden_size=32, tau=100.0, recurrent_noise=0.0),
        trials_per_update=64,
        n_epochs=4,
        eval_interval=10,
        eval_trials=256,
        max_env_steps=80_000,
        target_perf=0.9,
    )
    trainer = PPOTrainer(config)
    return trainer, trainer.train()


def test_short_run_learns_delay_go_well_above_chance(learned: tuple[PPOTrainer, RLResult]) -> None:
    _, result = learned
    assert result.stop_reason is StopReason.TARGET_REACHED
    assert result.state.performance >= 0.9  # chance (respond at a random one of 2 locations) is 0.5
    assert result.state.env_steps < 80_000  # seed 3 needs ~20-60 k (the trajectory moves with float rounding)


def test_runs_are_deterministic_and_seeded() -> None:
    first = PPOTrainer(_config(max_env_steps=300)).train().metrics
    again = PPOTrainer(_config(max_env_steps=300)).train().metrics
    assert [{**row, "time": 0} for row in again] == [{**row, "time": 0} for row in first]
    other = PPOTrainer(_config(max_env_steps=300, seed=4)).train().metrics
    assert [row["env_steps"] for row in other] != [row["env_steps"] for row in first]


def test_a_run_does_not_depend_on_the_global_torch_state_before_it() -> None:
    """Regression: ``nn.init.orthogonal_`` rounds differently with torch's thread count (~1e-7 on 64 units), so
    the same config built at the process default (``mtrnn-train-rl``) and after ``torch.set_num_threads(1)``
    (``benchmarks.rl_curves``) trained differently; the trainer now owns its seeding and init thread count."""
    config = _config(network=NetworkConfig(hidden_size=64, tau=100.0, recurrent_noise=0.0), max_env_steps=100)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        trainer = PPOTrainer(config)
        weights = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
        first = trainer.train().metrics
        torch.manual_seed(123)
        torch.rand(5)
        np.random.seed(7)  # noqa: NPY002 -- perturbing the legacy global stream is the point
        torch.set_num_threads(2)
        trainer = PPOTrainer(config)
        assert all(torch.equal(v, weights[k]) for k, v in trainer.policy.state_dict().items())
        again = trainer.train().metrics
    finally:
        torch.set_num_threads(previous)
    assert [{**row, "time": 0} for row in again] == [{**row, "time": 0} for row in first]


def test_metrics_rows_count_trials_and_env_steps(learned: tuple[PPOTrainer, RLResult]) -> None:
    _, result = learned
    rows = result.metrics
    assert [row["step"] for row in rows][:3] == [0, 10, 20]
    assert rows[-1]["trials"] == rows[-1]["step"] * 64
    assert rows[-1]["env_steps"] == result.state.env_steps
    assert (np.diff([float(row["env_steps"]) for row in rows]) > 0).all()
    assert rows[0]["reward"] is None and rows[1]["reward"] is not None
    assert rows[-1]["perf/mtrnn/DelayGo-v0"] == result.state.performance
    result = PPOTrainer(_config(max_env_steps=200)).train()
    assert result.stop_reason is StopReason.MAX_STEPS
    assert result.metrics[-1]["env_steps"] >= 200 and [row["step"] for row in result.metrics][:2] == [0, 3]


def test_save_then_load_gives_the_same_actions(learned: tuple[PPOTrainer, RLResult]) -> None:
    trainer, _ = learned
    run = Path(str(trainer.config.out_dir))
    loaded = load_policy(run)
    batch = trainer.task.sample_batch(16, np.random.default_rng(11))
    ours = greedy_actions(trainer.policy, batch, trainer.task)
    np.testing.assert_array_equal(greedy_actions(loaded, batch, trainer.task), ours)
    with torch.no_grad():  # the early-stopping rollout chooses what the whole-trial network chooses
        logits, _, _ = loaded(torch.from_numpy(batch.inputs))
    full = logits.argmax(-1).numpy()
    outcome = play_trials(ours, batch, trainer.task)
    np.testing.assert_array_equal(np.where(outcome.played, ours, 0), np.where(outcome.played, full, 0))
    assert isinstance(loaded.network, RecurrentNetwork) and loaded.cell is loaded.network.cell
    x, h = torch.from_numpy(batch.inputs[0]), loaded.initial_state(16)
    assert loaded.cell(x, h).shape == (16, 32)  # the one-step map fixed-point analysis uses
    assert read_rl_config(run) == trainer.config
    for name in ("config.json", "model.safetensors", "metrics.csv", "checkpoint.safetensors", "report.md"):
        assert (run / name).exists(), name
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"reward", "eval_reward", "perf/mtrnn/DelayGo-v0", "trials", "env_steps"} <= set(header)
    assert "curves.png" in (run / "report.md").read_text()


def test_update_running_only_unfinished_trials_equals_the_whole_trial_pass(
    learned: tuple[PPOTrainer, RLResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update runs each minibatch packed, on the played steps only (and, as a second reference, in chunks
    of 3 steps on the trials still going); the gradient step equals one padded pass over whole trials (the
    learned policy holds fixation, so trials end at many different steps)."""
    import mtrnn.agents.rl.ppo as ppo

    trained, _ = learned
    trainer = PPOTrainer(dataclasses.replace(trained.config, out_dir=None, n_epochs=2))
    trainer.policy.load_state_dict(trained.policy.state_dict())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as train() runs (this test calls rollout and update directly)
    try:
        # a rollout whose trials end at several different steps (the learned policy mostly answers on time)
        data = next(d for d in map(trainer.rollout, range(1, 40)) if len(set(d.outcome.end.tolist())) > 3)
        policy, optimizer = copy.deepcopy(trainer.policy.state_dict()), copy.deepcopy(trainer.optimizer.state_dict())
        results = []
        for chunk in (None, 3, 10_000):
            monkeypatch.setattr(ppo, "UPDATE_CHUNK", chunk)
            trainer.policy.load_state_dict(policy)
            trainer.optimizer.load_state_dict(optimizer)
            stats = trainer.update(data, 1)
            results.append((stats, [p.detach().clone() for p in trainer.policy.parameters()]))
        *runs, (whole, after_whole) = results
        for stats, after in runs:
            assert stats == pytest.approx(whole, rel=1e-4, abs=1e-6)
            for a, b in zip(after, after_whole, strict=True):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("architecture", [Architecture.GRU, Architecture.LSTM])
def test_gru_and_lstm_policies_train(architecture: Architecture) -> None:
    config = _config(network=NetworkConfig(architecture=architecture, hidden_size=8), max_env_steps=150)
    result = PPOTrainer(config).train()
    assert result.state.env_steps >= 150
    assert np.isfinite(result.metrics[-1]["loss"])  # type: ignore[arg-type]


_KILL_SCRIPT = """
import os, signal
from mtrnn.agents.rl import PPOTrainer, RLConfig

def kill(state):
    if state.step == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return True

PPOTrainer(RLConfig.from_dict({config}), callbacks=[kill]).train()
"""


def _without_time(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(file)]


def test_killed_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    config = _config(max_env_steps=500)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    script = _KILL_SCRIPT.format(kill_at=5, config=dataclasses.replace(config, out_dir=str(killed)).to_dict())
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    assert RunDir(killed).read_checkpoint().step == 3
    PPOTrainer.resume(killed, report=False).train()
    PPOTrainer(dataclasses.replace(config, out_dir=str(whole)), report=False).train()
    assert _without_time(killed / "metrics.csv") == _without_time(whole / "metrics.csv")
    assert (killed / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    PPOTrainer(_config(out_dir=str(tmp_path), max_env_steps=50), report=False).train()
    with pytest.raises(FileExistsError, match="already holds a run"):
        PPOTrainer(_config(out_dir=str(tmp_path), max_env_steps=50)).train()


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"max_env_steps": 0}, ValueError, "max_env_steps must be an int in"),
        ({"max_env_steps": None, "max_time": None}, ValueError, "max_env_steps and max_time"),
        ({"max_time": -1.0}, ValueError, "max_time must be"),
        ({"trials_per_update": 1.5}, TypeError, "trials_per_update must be an int"),
        ({"n_minibatches": 64}, ValueError, "n_minibatches must be <= trials_per_update"),
        ({"env_id": "mtrnn/Nope-v0"}, ValueError, "env_id must be one of"),
        ({"algo": "ppo"}, TypeError, "algo must be a Algo"),
        ({"backend": "batched"}, TypeError, "backend must be a Backend"),
        ({"gamma": 1.5}, ValueError, "gamma must be"),
        ({"task_kwargs": {"timing": object()}}, TypeError, "task_kwargs"),
        ({"curriculum_delays": (100.0, 0.0)}, ValueError, r"curriculum_delays\[1\] must be"),
        ({"curriculum_delays": "100"}, TypeError, "curriculum_delays must be a sequence"),
        ({"curriculum_threshold": 0.0}, ValueError, "curriculum_threshold must be"),
    ],
)
def test_bad_settings_name_the_argument(changes: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _config(**changes)


def test_from_dict_rejects_unknown_algorithms_and_architectures() -> None:
    data = _config().to_dict()
    with pytest.raises(ValueError, match=r"algo must be one of \['ppo', 'a2c', 'recurrent_ppo'\], got 'dqn'"):
        RLConfig.from_dict({**data, "algo": "dqn"})
    with pytest.raises(ValueError, match=r"NetworkConfig\.architecture must be one of"):
        RLConfig.from_dict({**data, "network": {"architecture": "transformer"}})
    with pytest.raises(ValueError, match="algo must be 'ppo' with backend 'batched'"):
        RLConfig.from_dict({**data, "algo": "a2c"})
    with pytest.raises(ValueError, match="architecture must be 'lstm' with algo 'recurrent_ppo'"):
        RLConfig.from_dict({**data, "backend": "sb3", "algo": "recurrent_ppo"})
    assert RLConfig.from_dict(data) == _config()


def test_delay_curriculum_trains_stage_tasks_then_the_task_and_resumes_at_its_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollouts draw from the short-delay stage until the stage's greedy performance exceeds the threshold (forced
    here), then from the task itself; evaluation is always on the task; the stage survives a resume."""
    config = _config(curriculum_delays=(100.0,), out_dir=str(tmp_path), max_env_steps=200, eval_interval=2)
    assert RLConfig.from_dict(config.to_dict()) == config
    trainer = PPOTrainer(config, report=False)
    assert (
        trainer.training_task.sample_batch(1, np.random.default_rng(0)).n_steps
        < trainer.task.sample_batch(1, np.random.default_rng(0)).n_steps
    )
    monkeypatch.setattr(PPOTrainer, "_stage_performance", lambda self: 1.0)
    result = trainer.train()
    assert [row["stage"] for row in result.metrics][:2] == [0, 1]
    assert trainer.stage == 1 and trainer.training_task is trainer.task
    assert PPOTrainer.resume(tmp_path, report=False).stage == 1
    with pytest.raises(ValueError, match="curriculum_delays needs a task with a 'delay' period"):
        PPOTrainer(_config(env_id="mtrnn/Yang19-ReactGo-v0", task_kwargs={}, curriculum_delays=(100.0,)))
