"""``mtrnn-train``: every config field is a flag, flags override ``--config``, runs and resumes."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from mtrnn.agents import Activation, Loss, NetworkConfig, Optimizer, OutputActivation, TrainConfig
from mtrnn.agents.cli import build_parser, config_from_args, main

TINY_FLAGS = ["--task", "mtrnn/DelayGo-v0", "--hidden-size", "8", "--eval-trials", "8", "--threads", "1"]


def _dests() -> set[str]:
    return {action.dest for action in build_parser()._actions}


@pytest.mark.parametrize("name", [f.name for f in fields(TrainConfig) if f.name != "network"])
def test_every_train_config_field_is_a_flag(name: str) -> None:
    assert name in _dests()


@pytest.mark.parametrize("name", [f.name for f in fields(NetworkConfig)])
def test_every_network_field_is_a_flag(name: str) -> None:
    assert name in _dests()


def test_flags_map_to_config_fields() -> None:
    config = config_from_args(
        [
            *("--task", "mtrnn/DelayGo-v0", "--task", "mtrnn/DelayAnti-v0"),
            *("--task-weight", "1", "--task-weight", "2.5"),
            *("--loss", "mse", "--optimizer", "sgd", "--nesterov", "--momentum", "0.5"),
            *("--learning-rate", "0.003", "--batch-size", "32", "--grad-clip-norm", "none", "--grad-clip-value", "1"),
            *("--l2-activity", "0.01", "--eval-interval", "7", "--target-perf", "0.9"),
            *("--max-steps", "none", "--max-time", "30", "--seed", "5", "--device", "cpu", "--out", "runs/x"),
            *("--hidden-size", "16", "--activation", "softplus", "--output-activation", "sigmoid", "--train-tau"),
        ]
    )
    assert config == TrainConfig(
        env_ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"),
        task_weights=(1.0, 2.5),
        loss=Loss.MSE,
        optimizer=Optimizer.SGD,
        nesterov=True,
        momentum=0.5,
        learning_rate=0.003,
        batch_size=32,
        grad_clip_norm=None,
        grad_clip_value=1.0,
        l2_activity=0.01,
        eval_interval=7,
        target_perf=0.9,
        max_steps=None,
        max_time=30.0,
        seed=5,
        out_dir="runs/x",
        network=NetworkConfig(
            hidden_size=16,
            activation=Activation.SOFTPLUS,
            output_activation=OutputActivation.SIGMOID,
            train_tau=True,
        ),
    )


def test_no_flags_give_the_default_config() -> None:
    assert config_from_args([]) == TrainConfig()


def test_flags_override_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    saved = TrainConfig(seed=3, learning_rate=0.02, network=NetworkConfig(hidden_size=12))
    path.write_text(json.dumps(saved.to_dict()))
    config = config_from_args(["--config", str(path), "--seed", "4", "--tau", "200"])
    assert (config.seed, config.learning_rate, config.network.hidden_size, config.network.tau) == (4, 0.02, 12, 200.0)


def test_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-config", "--hidden-size", "10"]) == 0
    assert TrainConfig.from_dict(json.loads(capsys.readouterr().out)).network.hidden_size == 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--learning-rate", "-1"], "learning_rate must be"),
        (["--task", "mtrnn/Nope-v0", "--out", "x"], "env_ids"),
        (["--hidden-size", "0", "--out", "x"], "hidden_size"),
        (["--activation", "sigmoid"], "invalid choice"),
        (["--max-steps", "10"], "--out is required"),
    ],
    ids=["range", "unknown-task", "network-field", "enum-choice", "missing-out"],
)
def test_bad_flags_exit_with_a_message_naming_the_field(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    flags = [*TINY_FLAGS, "--max-steps", "4", "--eval-interval", "2", "--out", str(out), "--no-progress"]
    assert main(flags) == 0
    assert "max_steps after 4 updates" in capsys.readouterr().out
    assert {"config.json", "model.safetensors", "metrics.csv", "checkpoint.safetensors", "report.md"} <= {
        p.name for p in out.iterdir()
    }
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,trials,time,loss,perf/mtrnn/DelayGo-v0"
    assert main(["--resume", str(out), "--no-progress", "--threads", "1"]) == 0
    with pytest.raises(SystemExit):
        main(["--resume", str(out), "--seed", "3"])
    assert "takes only --device and --threads" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(flags)
    assert "--overwrite" in capsys.readouterr().err
