"""Seed-000: sequential training on Go, Anti, DelayGo, DelayAnti with and without orthogonal projection.

Duncker, Driscoll, Shenoy, Sahani & Sussillo, "Organizing recurrent network dynamics by task-computation to
enable continual learning" (NeurIPS 2020): a network trained on tasks one after the other forgets the earlier
ones (naive sequential training); projecting every weight update away from the input and output activity of
earlier tasks (:class:`~mtrnn.agents.continual.OrthogonalProjection`, α = 1e-3) keeps them.

Here: Yang et al. 2019's ``fdgo``, ``fdanti``, ``delaygo``, ``delayanti`` (``mtrnn.envs.DUNCKER_RULES``) with
sin/cos rings (25 inputs: fixation, two (cos, sin) modality rings, 20 rule units; 3 outputs: fixation, cos,
sin), a leaky RNN of 256 relu units (Yang's α = 0.2, recurrent noise 0.05), squared loss on linear outputs, Adam
(lr 1e-3), a fixed budget of updates per task (``--updates``). The trainer's rule-switch curriculum
(:class:`~mtrnn.agents.curriculum.CurriculumCallback` with a :class:`~mtrnn.envs.curriculum.RuleSwitch`)
switches the task; every evaluation scores all four tasks on the same seeded trials. The table is the
performance on every task at the end of each stage; both runs share the seed (same initial network, same
batches), so the only difference is the projection::

    python -m mtrnn.benchmarks.repro_continual --updates 250 --out results/
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrnn.agents.config import Loss, Optimizer, TrainConfig
from mtrnn.agents.curriculum import CurriculumCallback
from mtrnn.agents.networks import Activation, NetworkConfig
from mtrnn.agents.rundir import atomic_write_bytes, atomic_write_text
from mtrnn.agents.trainer import Trainer
from mtrnn.envs import DUNCKER_RULES, RingEncoding, RuleSwitch, Yang19Mixture

__all__ = ["main", "run_sequence"]

LABELS = ("Go", "Anti", "DelayGo", "DelayAnti")


def run_sequence(
    projection: bool, *, updates: int, batch_size: int, hidden: int, seed: int, eval_interval: int
) -> dict[str, Any]:
    """Train the four tasks in order (``updates`` each); returns the metrics rows and the 4×4 table."""
    mixture = Yang19Mixture(rules=DUNCKER_RULES, ring=RingEncoding.SINCOS)
    stages = [
        Yang19Mixture(rules=DUNCKER_RULES, weights=[float(i == k) for i in range(4)], ring=RingEncoding.SINCOS)
        for k in range(4)
    ]
    config = TrainConfig(
        env_ids=("mtrnn/Yang19-v0",),
        network=NetworkConfig(hidden_size=hidden, activation=Activation.RELU),
        loss=Loss.MSE,
        optimizer=Optimizer.ADAM,
        learning_rate=1e-3,
        batch_size=batch_size,
        grad_clip_norm=1.0,
        eval_interval=eval_interval,
        eval_trials=256,
        max_steps=4 * updates,
        seed=seed,
        threads=1,
        prefetch=0,
    )
    trainer = Trainer(config, task=mixture, report=False)
    ids = [task.env_id for task in trainer.eval_tasks]
    switch = RuleSwitch(stages, trials_per_stage=updates * batch_size, names=ids)
    trainer.callbacks.append(CurriculumCallback(switch, projection_alpha=1e-3 if projection else None))
    started = time.perf_counter()
    result = trainer.train()
    rows = [row for row in result.metrics if "change" not in row]
    table = []
    for stage in range(4):
        end = (stage + 1) * updates
        row = next(r for r in rows if r["step"] == end)
        table.append([float(row[f"perf/{env_id}"]) for env_id in ids])
    return {
        "projection": projection,
        "ids": ids,
        "table": table,
        "metrics": [{k: v for k, v in r.items() if k != "time"} for r in rows],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _run_one_thread(projection: bool, settings: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(1)
    return run_sequence(projection, **settings)


def _plot(runs: Sequence[dict[str, Any]], updates: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, constrained_layout=True)
    colors = plt.get_cmap("tab10")
    for axis, run in zip(axes, runs, strict=True):
        steps = [row["step"] for row in run["metrics"]]
        for k, (env_id, label) in enumerate(zip(run["ids"], LABELS, strict=True)):
            axis.plot(steps, [row[f"perf/{env_id}"] for row in run["metrics"]], color=colors(k), label=label, lw=1.5)
        for stage in range(1, 4):
            axis.axvline(stage * updates, color="grey", ls=":", lw=1)
        for stage, label in enumerate(LABELS):
            axis.text((stage + 0.5) * updates, 1.04, f"train {label}", ha="center", fontsize=8)
        axis.set_title("orthogonal projection (α = 1e-3)" if run["projection"] else "naive sequential training", pad=16)
        axis.set_xlabel("updates")
        axis.set_ylim(-0.02, 1.1)
    axes[0].set_ylabel("performance (fraction correct)")
    axes[1].legend(frameon=False, loc="lower left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _markdown(run: dict[str, Any]) -> str:
    lines = ["| after training | " + " | ".join(LABELS) + " |", "|---|" + "---|" * 4]
    for stage, values in enumerate(run["table"]):
        cells = [f"{v:.2f}" if k <= stage else f"({v:.2f})" for k, v in enumerate(values)]
        lines.append(f"| {LABELS[stage]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=250, help="updates per task")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--eval-interval", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2), help="run the two conditions in parallel")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the JSON and the PNG")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = {
        "updates": args.updates,
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "seed": args.seed,
        "eval_interval": args.eval_interval,
    }
    if args.jobs == 2:
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_one_thread, projection, settings) for projection in (False, True)]
            runs = [future.result() for future in futures]
    else:
        runs = [run_sequence(projection, **settings) for projection in (False, True)]
    for run in runs:
        print(f"{'projection' if run['projection'] else 'naive':10s} ({run['seconds']:.0f} s)\n{_markdown(run)}\n")
    naive, projected = (np.asarray(run["table"]) for run in runs)
    earlier = np.tril(np.ones((4, 4), dtype=bool), k=-1)  # task k measured after a later task was trained
    print(
        f"mean performance on earlier tasks after later ones: naive {naive[earlier].mean():.2f}, "
        f"projection {projected[earlier].mean():.2f}; on the task just trained: naive "
        f"{np.diag(naive).mean():.2f}, projection {np.diag(projected).mean():.2f}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {**vars(args), "out": str(args.out), "torch_threads": 1, "runs": runs}
    atomic_write_text(args.out / "repro_continual.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_bytes(args.out / "repro_continual.png", _plot(runs, args.updates))
    print(f"wrote {args.out / 'repro_continual.json'} and {args.out / 'repro_continual.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
