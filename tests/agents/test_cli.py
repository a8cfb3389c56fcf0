"""``mtrnn-train``: flags map to config fields, flags override ``--config``, runs, resumes, run-file errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mtrnn.agents import Activation, Loss, NetworkConfig, Optimizer, OutputActivation, RunDir, TrainConfig, Trainer
from mtrnn.agents.cli import config_from_args, main

TINY_FLAGS = ["--task", "mtrnn/DelayGo-v0", "--hidden-size", "8", "--eval-trials", "8", "--threads", "1"]


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


def test_api_cli_and_config_file_share_one_network_default(tmp_path: Path) -> None:
    partial = {"network": {"hidden_size": 64}}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    from_api = TrainConfig.from_dict(partial)
    assert from_api.network == NetworkConfig(hidden_size=64)
    assert from_api.network.activation is NetworkConfig().activation is TrainConfig().network.activation
    assert config_from_args(["--hidden-size", "64"]) == from_api
    assert config_from_args(["--config", str(path)]) == from_api


def test_task_kwargs_and_dt_flags_reach_the_task() -> None:
    config = config_from_args(["--task-kwargs", '{"n_locations": 4}', "--dt", "10"])
    assert config.task_kwargs == {"mtrnn/DelayAnti-v0": {"n_locations": 4, "dt": 10.0}}
    task = config.build_task()
    assert (task.n_inputs, task.dt) == (5, 10.0)
    two = config_from_args(
        [
            "--task",
            "mtrnn/DelayGo-v0",
            "--task",
            "mtrnn/DelayAnti-v0",
            "--task-kwargs",
            'mtrnn/DelayGo-v0={"n_locations": 4}',
        ]
    )
    assert two.task_kwargs == {"mtrnn/DelayGo-v0": {"n_locations": 4}}


def test_a_config_file_never_chooses_the_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TrainConfig(out_dir=str(other)).to_dict()))
    assert config_from_args(["--config", str(path)]).out_dir is None
    with pytest.raises(SystemExit):
        main(["--config", str(path), "--overwrite"])
    assert "--out is required" in capsys.readouterr().err
    assert not other.exists()


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
    assert header == "step,trials,time,loss,perf/mtrnn/DelayGo-v0,change"
    assert main(["--resume", str(out), "--no-progress", "--max-steps", "6", "--learning-rate", "1e-4"]) == 0
    assert "max_steps after 6 updates" in capsys.readouterr().out
    assert "resume: learning_rate 0.001 -> 0.0001; max_steps 4 -> 6" in (out / "metrics.csv").read_text()
    with pytest.raises(SystemExit):
        main(["--resume", str(out), "--seed", "3"])
    assert "may change only" in capsys.readouterr().err
    assert main(flags) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main([*TINY_FLAGS, "--max-steps", "2", "--eval-interval", "2", "--out", str(out), "--no-progress"]) == 0
    return out


def test_overwrite_keeps_the_user_s_files(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    assert (out / "curves.png").exists()
    (out / "my_plot.png").write_bytes(b"mine")
    (out / "notes.md").write_text("mine")
    flags = [*TINY_FLAGS, "--max-steps", "1", "--eval-interval", "1", "--out", str(out), "--no-progress"]
    assert main([*flags, "--overwrite"]) == 0
    assert (out / "my_plot.png").read_bytes() == b"mine" and (out / "notes.md").read_text() == "mine"
    assert RunDir(out).read_config().max_steps == 1


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("checkpoint.safetensors", "truncate", r"checkpoint\.safetensors is corrupt or truncated.*--overwrite"),
        ("config.json", "truncate", r"config\.json is corrupt or truncated.*--overwrite"),
        ("checkpoint.safetensors", "delete", r"checkpoint\.safetensors does not exist.*--overwrite"),
    ],
)
def test_corrupt_run_files_give_one_line_naming_the_file(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, damage: str, message: str
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    path = out / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    else:
        path.unlink()
    assert main(["--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err
    assert re.search(message, err)


def test_ctrl_c_names_the_last_checkpoint_and_the_resume_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Trainer._train_one_step

    def interrupted(self: Trainer):  # type: ignore[no-untyped-def]
        if self.step == 5:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "_train_one_step", interrupted)
    out = tmp_path / "run"
    assert main([*TINY_FLAGS, "--max-steps", "9", "--eval-interval", "4", "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert f"the last checkpoint is step 4 in {out}; continue with: mtrnn-train --resume {out}" in err


def test_readme_yang20_command_is_the_benchmark_recipe() -> None:
    from mtrnn.benchmarks.train_yang20 import mtrnn_train_command

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("mtrnn-train --task mtrnn/Yang19-v0")
    lines = []
    for line in readme[start:].splitlines():
        lines.append(line.rstrip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            break
    assert " ".join(lines).split() == mtrnn_train_command()
