"""Benchmark 1: wall time to train ``mtrnn/DelayAnti-v0`` to >= 95% with the default recipe (goal: <= 60 s).

``python -m mtrnn.benchmarks.train_delayanti`` trains ``TrainConfig(target_perf=0.95)`` — every other field at
its default, which *is* the recipe: leaky RNN, 128 tanh units, α = 0.2, recurrent noise 0.05, cross-entropy on
the labels (identity outputs), Adam lr 1e-3, batch 64, gradient norm clipped at 1, evaluation every 100 updates
on 256 seeded trials — once per seed, in memory. The wall time counts building the network, training and every
evaluation (imports excluded); it is the time at which the evaluation that first reached 95% finished. The run
also reports the share of the training loop spent on data (drawing batches, input noise) from the trainer's own
timers. The table is printed and written atomically to ``--out`` (default ``train_delayanti.md`` in the working
directory; the stored run is ``benchmarks/results/train_delayanti.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mtrnn.agents import StopReason, TrainConfig, Trainer
from mtrnn.agents.rundir import atomic_write_text

__all__ = ["ENV_ID", "TARGET", "Result", "main", "run_seed"]

ENV_ID = "mtrnn/DelayAnti-v0"
TARGET = 0.95
DEFAULT_OUT = Path("train_delayanti.md")


@dataclass(frozen=True)
class Result:
    """One seed's run: wall seconds to the criterion (or to the budget), updates, trials, final performance."""

    seed: int
    threads: int
    reached: bool
    wall: float
    steps: int
    trials: int
    performance: float
    data_share: float


def run_seed(seed: int, threads: int | None = None, max_time: float = 120.0) -> Result:
    """Train the default recipe with ``seed`` until 95% (or ``max_time`` seconds)."""
    config = TrainConfig(env_ids=(ENV_ID,), target_perf=TARGET, max_time=max_time, seed=seed, threads=threads)
    start = time.perf_counter()
    result = Trainer(config).train()
    wall = time.perf_counter() - start
    state = result.state
    return Result(
        seed=seed,
        threads=config.num_threads,
        reached=result.stop_reason is StopReason.TARGET_REACHED,
        wall=wall,
        steps=state.step,
        trials=state.trials,
        performance=state.performance[ENV_ID],
        data_share=state.data_fraction,
    )


def format_table(results: Sequence[Result]) -> str:
    """A markdown table, one row per run, and the median wall time per thread count."""
    lines = [
        "| seed | threads | reached 95% | wall time (s) | updates | trials | final perf | data share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.seed} | {r.threads} | {'yes' if r.reached else 'no'} | {r.wall:.1f} | {r.steps} | {r.trials} | "
            f"{r.performance:.3f} | {100 * r.data_share:.1f}% |"
        )
    lines.append("")
    for threads in sorted({r.threads for r in results}):
        walls = [r.wall for r in results if r.threads == threads]
        lines.append(f"Median wall time to 95% with {threads} thread(s): {statistics.median(walls):.1f} s.")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to train (default 0 1 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts (default 2 1)")
    parser.add_argument("--max-time", type=float, default=120.0, help="budget per run in seconds (default 120)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    results = []
    for seed in args.seeds:
        for threads in args.threads:
            result = run_seed(seed, threads, args.max_time)
            results.append(result)
            print(result, flush=True)
    header = (
        "# Benchmark 1: `mtrnn/DelayAnti-v0` to 95% with the default recipe\n\n"
        "Default `TrainConfig` (leaky RNN, 128 tanh units, dt 20 ms, τ 100 ms, recurrent noise 0.05, cross-entropy "
        "on labels, Adam lr 1e-3, batch 64, clip norm 1, evaluation every 100 updates on 256 seeded trials), "
        "`target_perf=0.95`. Wall time = building the network + training + every evaluation, until the "
        "evaluation that reached 95%. Data share = time drawing batches and adding input noise / time in the "
        "training loop (trainer timers).\n\n"
        f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, load average at start "
        f"{load:.2f}. Command: `python -m mtrnn.benchmarks.train_delayanti`.\n\n"
    )
    table = format_table(results)
    print(table)
    atomic_write_text(args.out, header + table)


if __name__ == "__main__":
    main()
