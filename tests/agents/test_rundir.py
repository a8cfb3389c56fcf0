"""Run directories: atomic writes, checkpoint and metrics round trips."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from mtrnn.agents import NetworkConfig, RunDir, TrainConfig, build_network, load_agent, load_config
from mtrnn.agents.rundir import CallbackState, Checkpoint, Progress, RunFileError, atomic_write_text


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "file.txt"
    atomic_write_text(path, "good")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "bad")
    assert path.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def _trained_optimizer(network: torch.nn.Module, optimizer_class: type[torch.optim.Optimizer], **kwargs: object):  # type: ignore[no-untyped-def]
    optimizer = optimizer_class(network.parameters(), lr=0.01, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        outputs, _ = network(torch.ones(4, 2, 3))
        outputs.square().sum().backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize(
    ("optimizer_class", "kwargs"),
    [(torch.optim.Adam, {}), (torch.optim.SGD, {"momentum": 0.9, "nesterov": True})],
    ids=["adam", "sgd"],
)
def test_checkpoint_round_trip(tmp_path: Path, optimizer_class: type[torch.optim.Optimizer], kwargs: dict) -> None:
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=5), 3, 2)
    optimizer = _trained_optimizer(network, optimizer_class, **kwargs)
    metrics = [{"step": 0, "trials": 0, "time": 0.1, "loss": None, "perf/x": 0.0}, {"step": 5, "loss": math.nan}]
    run = RunDir(tmp_path)
    progress = Progress(loss=math.inf, loss_sum=2.5, loss_count=3, evaluated_at=5, performance={"a": 0.5})
    callbacks = (CallbackState("Curriculum", {"stage": 2, "history": [1, 2]}),)
    extra = {"v": math.inf}
    run.write_checkpoint(
        Checkpoint(7, 1.5, network.state_dict(), optimizer.state_dict(), metrics, progress, callbacks, extra)
    )
    loaded = run.read_checkpoint()
    assert (loaded.step, loaded.elapsed) == (7, 1.5)
    assert loaded.metrics[0] == metrics[0] and math.isnan(loaded.metrics[1]["loss"])
    assert loaded.progress == progress and loaded.callbacks == callbacks and loaded.extra == {"v": "inf"}
    for name, tensor in network.state_dict().items():
        assert torch.equal(loaded.model[name], tensor)
    restored = optimizer_class(network.parameters(), lr=0.5, **kwargs)
    restored.load_state_dict(loaded.optimizer)
    original = optimizer.state_dict()
    assert restored.state_dict()["param_groups"][0]["lr"] == 0.01
    for index, state in original["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(restored.state_dict()["state"][index][key]), torch.as_tensor(value))


def test_metrics_round_trip_keeps_full_precision(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    rows = [{"step": 0, "trials": 0, "time": 0.5, "loss": None, "perf/a": 1 / 3}, {"step": 10, "loss": 0.1 + 0.2}]
    run.write_metrics(rows, ["step", "trials", "time", "loss", "perf/a"])
    read = run.read_metrics()
    assert read[0] == rows[0]
    assert read[1] == {"step": 10, "trials": None, "time": None, "loss": 0.1 + 0.2, "perf/a": None}


def test_model_and_config_files(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    config = TrainConfig(network=NetworkConfig(hidden_size=6))
    run.write_config(config)
    assert load_config(tmp_path) == config
    network = build_network(config.network, 4, [2, 3])
    run.write_model(network)
    assert run.model_shape() == (4, (2, 3))
    assert run.holds_run()
    run.clear()
    assert not run.holds_run() and list(tmp_path.iterdir()) == []


def test_missing_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match=r"config\.json does not exist"):
        load_config(tmp_path)
    with pytest.raises(RunFileError, match=r"checkpoint\.safetensors does not exist.*--overwrite"):
        RunDir(tmp_path).read_checkpoint()


def test_a_truncated_model_names_the_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_config(TrainConfig(network=NetworkConfig(hidden_size=4)))
    run.write_model(build_network(NetworkConfig(hidden_size=4), 9, 9))
    data = run.file(run.MODEL).read_bytes()
    run.file(run.MODEL).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match=r"model\.safetensors is corrupt or truncated.*--resume"):
        load_agent(tmp_path)


def test_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_clear_deletes_only_what_the_trainer_wrote(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_config(TrainConfig())
    run.write_bytes("curves.png", b"png")
    (tmp_path / "my_figure.png").write_bytes(b"mine")
    (tmp_path / "notes.txt").write_text("mine")
    run.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_figure.png", "notes.txt"]
