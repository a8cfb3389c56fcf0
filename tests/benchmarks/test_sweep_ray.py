"""The Ray backend runs the same cells to the same numbers as the local pool (a local ``ray.init(num_cpus=2)``;
Ray's start-up cost stays in this module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mtrnn.agents import TrainConfig
from mtrnn.agents.evaluation import load_results
from mtrnn.benchmarks.sweep import RESULTS_FILE, Backend, grid, parse_architecture, run_sweep

ray = pytest.importorskip("ray", reason="Ray is the optional 'ray' extra; the dev venv (.venv) installs it")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _cells(folder: Path) -> list:
    return grid(
        folder,
        groups={"DelayGo": (("mtrnn/DelayGo-v0",), ("mtrnn/DelayGo-v0",))},
        networks=[parse_architecture("leaky_rnn:tanh"), parse_architecture("gru")],
        seeds=[3],
        base=TrainConfig(max_steps=30, eval_interval=30),
        hyper={"hidden_size": [16]},
        eval_trials=64,
    )


def test_ray_and_local_backends_give_the_same_numbers(local_ray: None, tmp_path: Path) -> None:
    local, remote = _cells(tmp_path / "local"), _cells(tmp_path / "ray")
    run_sweep(local, progress=False)
    outcome = run_sweep(remote, backend=Backend.RAY, progress=False)
    assert len(outcome.ran) == 2
    for a, b in zip(local, remote, strict=True):
        first, second = load_results(a.run_dir / RESULTS_FILE), load_results(b.run_dir / RESULTS_FILE)
        assert [t.n_correct for t in first.tasks] == [t.n_correct for t in second.tasks]
        assert (a.run_dir / "metrics.csv").read_text().split("\n")[1].split(",")[3:] == (
            (b.run_dir / "metrics.csv").read_text().split("\n")[1].split(",")[3:]
        )
    assert run_sweep(remote, backend=Backend.RAY, progress=False).skipped == tuple(c.name for c in remote)
