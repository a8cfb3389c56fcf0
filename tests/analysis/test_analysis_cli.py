"""``mtrnn-analyze``: every subcommand on tiny run directories (leaky RNN, GRU, LSTM) writes its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrnn.agents import Architecture, NetworkConfig, RunDir, TrainConfig, build_network
from mtrnn.analysis.cli import main
from mtrnn.analysis.io import load_npz
from mtrnn.envs import MultiTask, make_task


def tiny_run(
    path: Path,
    architecture: Architecture = Architecture.LEAKY_RNN,
    seed: int = 0,
    ids: tuple[str, ...] = ("mtrnn/DelayGo-v0",),
) -> Path:
    """An untrained 6-unit network, saved as a run directory."""
    torch.manual_seed(seed)
    config = TrainConfig(
        env_ids=ids, network=NetworkConfig(architecture=architecture, hidden_size=6, recurrent_noise=0.0)
    )
    tasks = [make_task(env_id) for env_id in ids]
    task = tasks[0] if len(tasks) == 1 else MultiTask(tasks, rule_inputs=True)
    run = RunDir(path)
    run.write_config(config)
    run.write_model(build_network(config.network, task.n_inputs, task.n_outputs))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {a.value: tiny_run(root / a.value, a) for a in Architecture}


@pytest.mark.parametrize("architecture", ["leaky_rnn", "gru", "lstm"])
def test_pca_and_ablate_on_every_architecture(runs: dict[str, Path], architecture: str) -> None:
    run = runs[architecture]
    assert main(["pca", str(run), "--threshold", "0.8"]) == 0
    summary = json.loads((run / "analysis" / "pca.json").read_text())
    assert 1 <= summary["n_components"] <= 6
    assert main(["ablate", str(run), "--group", "a=0,1", "--group", "b=5", "--trials", "8", "--no-progress"]) == 0
    assert load_npz(run / "analysis" / "ablation.npz")["performance"].shape == (2, 1)
    assert (run / "analysis" / "ablation.png").stat().st_size > 0
    assert "| a |" in (run / "analysis" / "ablation.md").read_text()


def test_timescales_perturb_task_variance(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["leaky_rnn"]
    out = tmp_path / "out"
    argv = ["--out", str(out), "--no-progress"]
    assert main(["timescales", str(run), "--n-steps", "2000", "--trials", "2", "--burn-in", "50", *argv]) == 0
    saved = load_npz(out / "timescales.npz")
    assert saved["tau_net"].shape == (6,) and saved["acf"].shape == (31, 6)
    assert main(["perturb", str(run), "--directions", "2", "--trials", "8", "--epsilons", "0,0.5", *argv]) == 0
    assert load_npz(out / "perturbation.npz")["performance_recurrent_weights"].shape == (2, 2, 1)
    with pytest.raises(SystemExit, match="one task"):
        main(["task-variance", str(run), *argv])
    two = tiny_run(tmp_path / "two", ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"))
    assert main(["task-variance", str(two), "--lesion-trials", "8", *argv]) == 0
    assert json.loads((out / "task_variance.json").read_text())["n_clusters"] >= 2
    assert {p.name for p in out.glob("*.png")} >= {"timescales.png", "perturbation.png", "task_variance.png"}


def test_similarity_of_three_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    twin = tiny_run(tmp_path / "twin", seed=0)
    argv = ["similarity", str(runs["leaky_rnn"]), "--other", str(twin), "--other", str(runs["gru"])]
    assert main([*argv, "--n-delays", "2", "--rank", "4", "--components", "4", "--out", str(tmp_path / "s")]) == 0
    result = json.loads((tmp_path / "s" / "similarity.json").read_text())
    dsa, cka = np.array(result["dsa"]), np.array(result["cka"])
    assert dsa[0, 1] == pytest.approx(0.0, abs=1e-6) and cka[0, 1] == pytest.approx(1.0)  # the same weights
    assert dsa[0, 2] > dsa[0, 1]
    assert result["settings"]["0-1"]["score_method"] == "wasserstein"


def test_fixed_points(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "fp"
    argv = ["fixed-points", str(runs["leaky_rnn"]), "--n-starts", "8", "--max-iters", "300", "--max-q", "1e-3"]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "fixed_points.json").read_text())
    assert summary["period"] == "delay" and summary["n_points"] >= 1
    assert (out / "fixed_points.png").stat().st_size > 0


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a run directory"):
        main(["pca", str(tmp_path)])
