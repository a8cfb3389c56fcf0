"""Benchmark 2: the Yang et al. 2019 mixture of 20 tasks, 256 units — time until every task is >= 90%.

``python -m mtrnn.benchmarks.train_yang20`` trains ``mtrnn/Yang19-v0`` (one rule per batch, Yang's sampling
weights: contextdm1/2 five times as often) with the recipe below into ``runs/yang20`` (the same run as
:func:`mtrnn_train_command`, the command README shows) and writes, atomically, ``--results`` (default
``train_yang20.md`` in the working directory; the stored run is ``benchmarks/results/train_yang20.md``): the
wall time at which the lowest per-task performance first reached 90%
(Yang's metric: last-step fixation and population-vector decoding within 36°, 512 seeded trials per rule), the
time each task first reached 90%, and the per-task performance at the end. Goal: <= 60 minutes on 2 CPU cores.

The recipe is the paper's network with Yang's training settings (gyyang/multitask ``train.py``): leaky RNN of
256 softplus units with diagonal ``W_rec = 0.5·I``, α = 0.2, recurrent noise 0.05, sigmoid outputs with the
masked squared loss, Adam lr 1e-3, batch 64, gradients clipped to ±1, evaluation every 500 updates on 512
trials per rule. (Yang's code default, relu units with a random orthogonal ``W_rec``, blows up here: the
activity of the mixture's network grows without bound within ~10 Adam updates and never recovers.) Any
``mtrnn-train`` flag given after the script's own options overrides the recipe (e.g. ``--activation tanh
--init orthogonal``, ``--learning-rate 2e-3``); ``--max-time`` bounds the run (default 3600 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from mtrnn.agents import Trainer, TrainResult
from mtrnn.agents.cli import config_from_args
from mtrnn.agents.rundir import MetricsRow, atomic_write_text

__all__ = ["RECIPE", "TARGET", "first_times", "main", "mtrnn_train_command"]

TARGET = 0.9
#: The recipe as ``mtrnn-train`` flags.
RECIPE = (
    *("--task", "mtrnn/Yang19-v0", "--hidden-size", "256", "--activation", "softplus", "--init", "diagonal"),
    *("--output-activation", "sigmoid", "--loss", "mse", "--optimizer", "adam", "--learning-rate", "1e-3"),
    *("--batch-size", "64", "--grad-clip-value", "1", "--grad-clip-norm", "none"),
    *("--eval-interval", "500", "--eval-trials", "512", "--target-perf", str(TARGET), "--max-steps", "none"),
)
DEFAULT_OUT = Path("train_yang20.md")
DEFAULT_MAX_TIME = 3600.0
DEFAULT_RUN_DIR = Path("runs/yang20")


def mtrnn_train_command(max_time: float = DEFAULT_MAX_TIME, run_dir: Path = DEFAULT_RUN_DIR) -> list[str]:
    """The ``mtrnn-train`` command line that trains exactly what this benchmark trains."""
    return ["mtrnn-train", *RECIPE, "--max-time", f"{max_time:g}", "--out", str(run_dir)]


def first_times(metrics: Sequence[MetricsRow], target: float = TARGET) -> dict[str, float | None]:
    """Per ``perf/<id>`` column: the ``time`` of the first row at or above ``target`` (None if never)."""
    columns = [key for key in metrics[0] if key.startswith("perf/")]
    result: dict[str, float | None] = {}
    for column in columns:
        hits = [row["time"] for row in metrics if (row[column] or 0.0) >= target]
        result[column.removeprefix("perf/")] = float(hits[0]) if hits and hits[0] is not None else None
    return result


def _all_reached(metrics: Sequence[MetricsRow], target: float = TARGET) -> MetricsRow | None:
    for row in metrics:
        values = [v for k, v in row.items() if k.startswith("perf/")]
        if values and all(v is not None and v >= target for v in values):
            return row
    return None


def format_results(result: TrainResult, command: str, load: float) -> str:
    """The markdown results page."""
    metrics = result.metrics
    config = result.run_dir.read_config() if result.run_dir is not None else None
    reached = _all_reached(metrics)
    firsts = first_times(metrics)
    last = metrics[-1]
    state = result.state
    if reached is not None:
        verdict = (
            f"**Every task reached {TARGET:.0%} after {reached['time']:.0f} s** ({reached['step']} updates, "
            f"{reached['trials']} trials)."
        )
    else:
        below = sum(1 for k, v in last.items() if k.startswith("perf/") and (v or 0.0) < TARGET)
        verdict = (
            f"**Not reached**: stopped ({result.stop_reason.value}) after {state.elapsed:.0f} s, {state.step} "
            f"updates ({state.trials} trials); {below} of {len(firsts)} tasks still below {TARGET:.0%}."
        )
    lines = [
        "# Benchmark 2: Yang et al. 2019's 20 tasks, 256 units, until every task is >= 90%",
        "",
        verdict,
        "",
        f"Lowest per-task performance at the end: {state.min_performance:.3f}. Share of the training loop spent "
        f"on data: {100 * state.data_fraction:.1f}%.",
        "",
        f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, load average at start "
        f"{load:.2f}. Command: `{command}`.",
        "",
        f"| task | performance at step {last['step']} | first time >= {TARGET:.0%} (s) |",
        "|---|---|---|",
    ]
    for task, first in firsts.items():
        value = last[f"perf/{task}"]
        shown = "not yet" if first is None else f"{first:.0f}"
        lines.append(f"| `{task}` | {value:.3f} | {shown} |")
    lines += ["", "Recipe (`config.json`):", "", "```json", json.dumps(config.to_dict() if config else {}, indent=2)]
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Train with the recipe (plus any ``mtrnn-train`` flags) and write the results page."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Other arguments are mtrnn-train flags overriding the recipe."
    )
    parser.add_argument("--max-time", type=float, default=DEFAULT_MAX_TIME, help="wall-time budget in s (default 3600)")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory (default runs/yang20)")
    parser.add_argument("--results", type=Path, default=DEFAULT_OUT, help="results file (default ./train_yang20.md)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    flags = [*mtrnn_train_command(args.max_time, args.run_dir)[1:], *extra]
    config = config_from_args(flags)
    load = os.getloadavg()[0]
    result = Trainer(config, progress=True, overwrite=True).train()
    command = " ".join(["python -m mtrnn.benchmarks.train_yang20", *argv])
    page = format_results(result, command, load)
    print(page)
    atomic_write_text(args.results, page)


if __name__ == "__main__":
    main()
