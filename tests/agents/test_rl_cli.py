"""``mtrnn-train-rl``: flags map to RLConfig, bad values name the argument, train then resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtrnn.agents.networks import Architecture
from mtrnn.agents.rl import Algo, Backend, read_rl_config
from mtrnn.agents.rl.cli import config_from_args, main

TINY = ["--task-kwarg", "dt=100", "--task-kwarg", "n_locations=2", "--hidden-size", "8", "--tau", "100"]
TINY += ["--trials-per-update", "16", "--eval-trials", "16", "--eval-interval", "2", "--threads", "1"]


def test_flags_map_to_the_config() -> None:
    argv = ["--task", "mtrnn/DelayAnti-v0", "--algo", "ppo", "--architecture", "gru", "--max-env-steps", "1000"]
    argv += ["--max-time", "none", "--ent-coef", "0.05", "--no-abort-on-break", "--task-kwarg", "n_locations=4"]
    argv += ["--curriculum-delays", "20", "100"]
    config = config_from_args(argv)
    assert config.curriculum_delays == (20.0, 100.0)
    assert config.env_id == "mtrnn/DelayAnti-v0" and config.algo is Algo.PPO and config.backend is Backend.BATCHED
    assert config.network.architecture is Architecture.GRU and config.max_env_steps == 1000
    assert config.ent_coef == 0.05 and config.abort_on_break is False and config.task_kwargs == {"n_locations": 4}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algo", "dqn"], "argument --algo: invalid choice: 'dqn'"),
        (["--architecture", "transformer"], "argument --architecture: invalid choice: 'transformer'"),
        (["--backend", "rllib"], "argument --backend: invalid choice: 'rllib'"),
        (["--max-env-steps", "0"], "max_env_steps must be an int in [1, inf)"),
        (["--max-env-steps", "none", "--max-time", "none"], "max_env_steps and max_time must not both be None"),
        (["--max-time", "-5"], "max_time must be a finite number in (0.0, inf)"),
        (["--algo", "a2c"], "algo must be 'ppo' with backend 'batched'"),
        (["--backend", "sb3", "--algo", "recurrent_ppo"], "architecture must be 'lstm' with algo 'recurrent_ppo'"),
        (["--task", "mtrnn/Nope-v0"], "env_id must be one of"),
        (["--task-kwarg", "dt"], "expected KEY=VALUE"),
    ],
)
def test_bad_flags_exit_with_a_message_naming_the_argument(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", "unused"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-config", "--architecture", "lstm"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "mtrnn.rl" and printed["network"]["architecture"] == "lstm"


def test_train_then_resume_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main([*TINY, "--max-env-steps", "200", "--no-progress", "--out", str(out)]) == 0
    assert "greedy performance" in capsys.readouterr().out
    assert read_rl_config(out).max_env_steps == 200
    with pytest.raises(SystemExit):
        main([*TINY, "--max-env-steps", "200", "--no-progress", "--out", str(out)])
    assert "already holds a run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--resume", str(out), "--learning-rate", "0.1"])
    assert "takes only --device and --threads" in capsys.readouterr().err
    assert main(["--resume", str(out), "--no-progress"]) == 0  # nothing left to do: reports the same run
    assert "max_steps" in capsys.readouterr().out
