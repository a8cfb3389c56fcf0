"""RL learning curves on the same wall-clock budget: batched PPO (leaky RNN, GRU; on tasks with a delay both also
with the delay curriculum ``curriculum_delays = (20, 100, 200, 400)`` ms and ``ent_coef = 0.03``, the GRU then with
2048 trials per update) vs SB3 RecurrentPPO (LSTM), with the supervised trainer's curve beside them.

``python -m mtrnn.benchmarks.rl_curves --out DIR [--budget-s 120] [--tasks mtrnn/DelayGo-v0 mtrnn/DelayAnti-v0]``

Every RL contender trains from scratch on the task for ``--budget-s`` seconds of wall-clock time with one torch
thread (same hidden size, 64), and is evaluated every few updates on the same 256 seeded trials with greedy
actions, scored by the env's rule (``mtrnn.agents.rl.play_trials``). The supervised trainer (cross-entropy on
the labels, the same evaluation trials' measure ``task.score``) stops at 95 % or at the same budget. Writes
``rl_curves.png`` (performance against trials and against wall-clock time), ``rl_curves.md`` (final performance,
trials, env steps, wall time to 90 %) and one run directory per contender under ``DIR/runs``. Needs the ``rl``
extra. The machine's load changes wall-clock numbers; compare contenders within one run.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mtrnn.agents.config import TrainConfig
from mtrnn.agents.networks import Activation, Architecture, NetworkConfig
from mtrnn.agents.rl import Algo, Backend, PPOTrainer, RLConfig
from mtrnn.agents.rl.sb3 import train_sb3
from mtrnn.agents.rundir import MetricsRow, atomic_write_bytes, atomic_write_text
from mtrnn.agents.trainer import Trainer
from mtrnn.envs import make_task

__all__ = ["Curve", "main", "run_curves"]

HIDDEN = 64
#: The batched curriculum contender's delays (ms) before the task itself (``RLConfig.curriculum_delays``).
CURRICULUM_DELAYS = (20.0, 100.0, 200.0, 400.0)
#: Its entropy coefficient (the default 0.01 stalled at the 100 ms stage in our runs; 0.03 kept exploring).
CURRICULUM_ENT_COEF = 0.03
#: Trials per update of the GRU curriculum contender (at the default 512 the GRU collapsed onto "always fixate"
#: within ~30 updates in every run we tried, also with the curriculum and ``ent_coef`` 0.03 or 0.1).
GRU_TRIALS_PER_UPDATE = 2048


@dataclass(frozen=True)
class Curve:
    """One contender's learning curve on one task."""

    task: str
    name: str
    trials: list[float]
    seconds: list[float]
    performance: list[float]
    env_steps: int | None

    def time_to(self, level: float) -> float | None:
        """Wall seconds until the greedy performance first reached ``level`` (None: never)."""
        return next((s for s, p in zip(self.seconds, self.performance, strict=True) if p >= level), None)

    def trials_to(self, level: float) -> float | None:
        """Trials until the performance first reached ``level`` (None: never)."""
        return next((n for n, p in zip(self.trials, self.performance, strict=True) if p >= level), None)


def _curve(task: str, name: str, rows: Sequence[MetricsRow], env_steps: int | None) -> Curve:
    key = f"perf/{task}"
    return Curve(
        task,
        name,
        [float(row["trials"] or 0) for row in rows],
        [float(row["time"] or 0.0) for row in rows],
        [float(row[key]) if row[key] is not None else math.nan for row in rows],
        env_steps,
    )


def _batched(
    task: str,
    architecture: Architecture,
    budget: float,
    out: Path,
    *,
    curriculum: bool = False,
    trials_per_update: int = RLConfig.trials_per_update,
) -> Curve:
    network = NetworkConfig(
        architecture=architecture, hidden_size=HIDDEN, activation=Activation.TANH, tau=40.0, recurrent_noise=0.0
    )
    wide = trials_per_update != RLConfig.trials_per_update
    suffix = ("-curriculum" if curriculum else "") + (f"-{trials_per_update}" if wide else "")
    config = RLConfig(
        env_id=task,
        network=network,
        curriculum_delays=CURRICULUM_DELAYS if curriculum else (),
        ent_coef=CURRICULUM_ENT_COEF if curriculum else RLConfig.ent_coef,
        trials_per_update=trials_per_update,
        max_env_steps=None,
        max_time=budget,
        eval_interval=5,
        threads=1,
        out_dir=str(out / f"batched-{architecture.value}{suffix}-{task.split('/')[-1]}"),
    )
    result = PPOTrainer(config, overwrite=True).train()
    name = f"batched PPO, {architecture.value}" + (", delay curriculum" if curriculum else "")
    name += f", {trials_per_update} trials/update" if wide else ""
    return _curve(task, name, result.metrics, result.state.env_steps)


def _recurrent_ppo(task: str, budget: float, out: Path) -> Curve:
    config = RLConfig(
        env_id=task,
        backend=Backend.SB3,
        algo=Algo.RECURRENT_PPO,
        network=NetworkConfig(architecture=Architecture.LSTM, hidden_size=HIDDEN),
        n_envs=8,
        n_steps=128,
        learning_rate=3e-4,
        eval_interval=5,
        max_env_steps=None,
        max_time=budget,
        threads=1,
        out_dir=str(out / f"sb3-recurrent_ppo-{task.split('/')[-1]}"),
    )
    result = train_sb3(config, overwrite=True)
    return _curve(task, "SB3 RecurrentPPO, lstm", result.metrics, int(result.metrics[-1]["env_steps"] or 0))


def _supervised(task: str, budget: float, out: Path) -> Curve:
    config = TrainConfig(
        env_ids=(task,),
        network=NetworkConfig(hidden_size=HIDDEN, activation=Activation.TANH),
        max_steps=None,
        max_time=budget,
        target_perf=0.95,
        eval_interval=5,
        threads=1,
        out_dir=str(out / f"supervised-{task.split('/')[-1]}"),
    )
    result = Trainer(config, overwrite=True).train()
    return _curve(task, "supervised (cross-entropy), leaky_rnn", result.metrics, None)


def run_curves(tasks: Sequence[str], budget: float, out: Path) -> list[Curve]:
    """Train every contender on every task for ``budget`` seconds; returns the curves."""
    runs = out / "runs"
    curves = []
    for task in tasks:
        has_delay = "delay" in getattr(make_task(task), "period_names", ())
        curves.append(_batched(task, Architecture.LEAKY_RNN, budget, runs))
        if has_delay:
            curves.append(_batched(task, Architecture.LEAKY_RNN, budget, runs, curriculum=True))
        curves.append(_batched(task, Architecture.GRU, budget, runs))
        if has_delay:  # the GRU collapses onto "always fixate" at 512 trials per update; 2048 kept it exploring
            curves.append(
                _batched(task, Architecture.GRU, budget, runs, curriculum=True, trials_per_update=GRU_TRIALS_PER_UPDATE)
            )
        curves.append(_recurrent_ppo(task, budget, runs))
        curves.append(_supervised(task, budget, runs))
    return curves


def _plot(curves: Sequence[Curve], tasks: Sequence[str], budget: float, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 0.6 + 3.6 * len(tasks)), squeeze=False, layout="constrained")
    colors: dict[str, str] = {}
    for row, task in enumerate(tasks):
        for curve in (c for c in curves if c.task == task):
            color = colors.setdefault(curve.name, f"C{len(colors)}")
            axes[row, 0].plot(curve.trials, curve.performance, marker=".", ms=3, color=color, label=curve.name)
            axes[row, 1].plot(curve.seconds, curve.performance, marker=".", ms=3, color=color, label=curve.name)
        axes[row, 0].set_xscale("symlog", linthresh=1000)
        for col in (0, 1):
            axes[row, col].axhline(0.9, color="grey", ls="--", lw=0.8)
            axes[row, col].set_ylim(-0.02, 1.02)
            axes[row, col].set_title(task, fontsize=10)
        axes[row, 0].set_ylabel("greedy performance\n(256 seeded trials)")
    axes[-1, 0].set_xlabel("trials (symlog)")
    axes[-1, 1].set_xlabel(f"wall-clock seconds (budget {budget:g} s, 1 torch thread)")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _table(curves: Sequence[Curve], budget: float) -> str:
    lines = [
        f"RL learning curves, {budget:g} s wall-clock budget per contender, 1 torch thread, hidden size {HIDDEN} "
        f"({platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}).",
        "",
        "| task | contender | final perf | trials | env steps | time to 90 % | trials to 90 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in curves:
        to90 = c.time_to(0.9)
        trials90 = c.trials_to(0.9)
        lines.append(
            f"| `{c.task}` | {c.name} | {c.performance[-1]:.3f} | {int(c.trials[-1])} | "
            f"{c.env_steps if c.env_steps is not None else '–'} | "
            f"{f'{to90:.1f} s' if to90 is not None else 'not reached'} | "
            f"{int(trials90) if trials90 is not None else '–'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m mtrnn.benchmarks.rl_curves``."""
    parser = argparse.ArgumentParser(prog="python -m mtrnn.benchmarks.rl_curves", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="results folder (default: working directory)")
    parser.add_argument("--budget-s", type=float, default=120.0, help="wall-clock seconds per contender")
    parser.add_argument("--tasks", nargs="+", default=["mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"])
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0 seconds, got {args.budget_s}")
    torch.set_num_threads(1)
    curves = run_curves(args.tasks, args.budget_s, args.out)
    _plot(curves, args.tasks, args.budget_s, args.out / "rl_curves.png")
    table = _table(curves, args.budget_s)
    atomic_write_text(args.out / "rl_curves.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
