"""The leaderboard on a tiny profile: renders, reproduces from the same seeds, ingests and rejects submissions;
sweeps resume without redoing finished cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtrnn.agents import evaluate
from mtrnn.agents.evaluation import save_results
from mtrnn.benchmarks.leaderboard import PROFILES, baseline_cells, run_leaderboard
from mtrnn.benchmarks.sweep import RESULTS_FILE, cell_finished, grid, parse_architecture, run_sweep

TINY = PROFILES["tiny"]


class Fixate:
    name = "always-fixate"
    version = "1"

    def reset(self, batch_size: int) -> None:
        pass

    def act(self, observations: np.ndarray) -> np.ndarray:
        return np.zeros(len(observations), dtype=np.int64)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("submissions")
    ids = ["mtrnn/DelayGo-v0"]
    full = evaluate(Fixate(), ids)
    save_results(full, folder / "fixate.json")
    save_results(evaluate(Fixate(), ids, n_trials=16), folder / "short.json")
    edited = json.loads((folder / "fixate.json").read_text())
    edited["tasks"][0]["n_correct"] = 1024
    edited["tasks"][0]["performance"] = 1.0
    (folder / "edited.json").write_text(json.dumps(edited))
    return folder


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory, submissions: Path) -> tuple[Path, Path, object, object]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    a = run_leaderboard(TINY, runs=first / "runs", out=first, submissions=submissions, progress=False)
    b = run_leaderboard(TINY, runs=second / "runs", out=second, submissions=submissions, progress=False)
    return first, second, a, b


def test_leaderboard_renders(boards: tuple) -> None:
    first, _, board, _ = boards
    text = (first / "LEADERBOARD.md").read_text()
    assert "![leaderboard heat map](LEADERBOARD.png)" in text
    assert "budget: 20 updates × 64 trials per cell (16 units)" in text and "commit `" in text
    png = (first / "LEADERBOARD.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert [c.name for c in board.columns] == ["leaky-tanh", "gru", "always-fixate 1"]
    assert "| DelayGo-v0 |" in text and "| **mean** |" in text
    fixate = next(c for c in board.columns if c.name == "always-fixate 1")
    assert fixate.entries["mtrnn/DelayGo-v0"].performance == 0.0  # no no-go trials in delay-go


def test_submissions_are_validated_and_rejections_listed(boards: tuple) -> None:
    first, _, board, _ = boards
    rejected = dict(board.rejected)
    assert set(rejected) == {"edited.json", "short.json"}
    assert "results.tasks[0].interval" in rejected["edited.json"]  # n_correct and performance edited, not the interval
    assert "needs all 1024" in rejected["short.json"]
    text = (first / "LEADERBOARD.md").read_text()
    assert "- rejected: short.json" in text and "- accepted: always-fixate 1 (fixate.json)" in text


def test_same_seeds_reproduce_the_table(boards: tuple) -> None:
    _, _, a, b = boards
    assert a.table() == b.table()
    values = [e.n_correct for c in a.columns for e in c.entries.values()]
    assert len(values) == 5  # 2 baselines x 2 tasks, the submission's one task


def test_sweep_resumes_without_redoing_finished_cells(boards: tuple) -> None:
    first = boards[0]
    cells = baseline_cells(TINY, first / "runs")
    assert all(cell_finished(c) for c in cells)
    redo = cells[1]
    before = (redo.run_dir / RESULTS_FILE).read_text()
    (redo.run_dir / RESULTS_FILE).unlink()
    outcome = run_sweep(cells, progress=False)
    assert outcome.ran == (redo.name,)
    assert set(outcome.skipped) == {c.name for c in cells} - {redo.name}
    after = json.loads((redo.run_dir / RESULTS_FILE).read_text())
    assert [t["n_correct"] for t in after["tasks"]] == [t["n_correct"] for t in json.loads(before)["tasks"]]


def test_grid_names_every_combination(tmp_path: Path) -> None:
    cells = grid(
        tmp_path,
        groups={"DelayGo": (("mtrnn/DelayGo-v0",), ("mtrnn/DelayGo-v0",))},
        networks=[parse_architecture("leaky_rnn:softplus"), parse_architecture("lstm")],
        seeds=[0, 1],
        hyper={"learning_rate": [1e-3, 3e-3]},
    )
    assert len(cells) == 8
    assert len({c.name for c in cells}) == 8
    assert cells[0].name == "leaky-softplus-learning_rate=0.001/DelayGo/seed0"
    assert {c.config.threads for c in cells} == {1}


@pytest.mark.parametrize(
    ("text", "message"), [("transformer", "architecture must be one of"), ("gru:tanh", "only leaky_rnn")]
)
def test_bad_architecture_is_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_architecture(text)


def test_bad_sweep_arguments_are_named(tmp_path: Path) -> None:
    groups = {"DelayGo": (("mtrnn/DelayGo-v0",), ("mtrnn/DelayGo-v0",))}
    with pytest.raises(ValueError, match="hyper has unknown"):
        grid(tmp_path, groups=groups, networks=[parse_architecture("gru")], seeds=[0], hyper={"nonsense": [1]})
    with pytest.raises(ValueError, match="workers"):
        run_sweep([], workers=0)
