"""The end-of-run report: ``report.md`` with learning curves and example trials (network outputs over targets)."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mtrnn.agents.batches import eval_rng
from mtrnn.agents.config import Loss
from mtrnn.agents.rundir import MetricsRow, RunDir, atomic_write_bytes, atomic_write_text
from mtrnn.envs.plotting import plot_trial

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mtrnn.agents.trainer import StopReason, Trainer

__all__ = ["plot_curves", "write_report"]

CURVES = "curves.png"


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(metrics: Sequence[MetricsRow], target: float | None = None) -> Figure:
    """Training loss and per-task performance against trials, from metrics rows (``metrics.csv``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tasks = [key for key in metrics[0] if key.startswith("perf/")] if metrics else []
    many = len(tasks) > 6
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11 if many else 8, 6.5), sharex=True, constrained_layout=True)
    trials = np.array([row["trials"] for row in metrics], dtype=float)
    loss = np.array([math.nan if row["loss"] is None else row["loss"] for row in metrics], dtype=float)
    top.plot(trials, loss, color="k", marker=".", ms=3)
    if np.any(np.isfinite(loss) & (loss > 0)):
        top.set_yscale("log")
    top.set_ylabel("training loss\n(mean since last evaluation)")
    colors = plt.get_cmap("tab20" if len(tasks) > 10 else "tab10")
    for k, key in enumerate(tasks):
        values = [math.nan if row[key] is None else row[key] for row in metrics]
        bottom.plot(trials, values, color=colors(k % colors.N), label=key.removeprefix("perf/"), lw=1.3)
    if target is not None:
        bottom.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("performance (fraction correct)")
    bottom.set_xlabel("trials")
    if many:
        bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        bottom.legend(fontsize=7, loc="lower right", frameon=False)
    return fig


def _file_name(env_id: str) -> str:
    return "trial_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", env_id.split("/")[-1]) + ".png"


def _example_trials(trainer: Trainer, run: RunDir) -> list[tuple[str, str, bool]]:
    """One example trial per evaluated task with the network's output; returns ``(env_id, file, correct)``."""
    network = trainer.network
    network.eval()
    examples = []
    with torch.no_grad():
        for index, eval_task in enumerate(trainer.eval_tasks):
            batch = eval_task.sample(1, eval_rng(trainer.config.seed, index))
            outputs, _ = network(torch.from_numpy(batch.inputs).to(trainer.device))
            correct = bool(eval_task.task.score(outputs.cpu().numpy(), batch)[0] == 1.0)
            if trainer.config.loss is Loss.CROSS_ENTROPY:
                outputs = torch.softmax(outputs, dim=-1)
            shown = outputs.cpu().numpy()
            fig = plot_trial(
                batch,
                0,
                outputs=shown,
                input_names=eval_task.task.input_names,
                output_names=eval_task.task.output_names,
                title=f"{eval_task.env_id} — network {'correct' if correct else 'wrong'}",
            )
            name = _file_name(eval_task.env_id)
            _save(fig, run.file(name))
            examples.append((eval_task.env_id, name, correct))
    return examples


def write_report(trainer: Trainer, reason: StopReason) -> None:
    """Write ``report.md``, ``curves.png`` and one ``trial_<task>.png`` per task into the trainer's run dir."""
    run = trainer.run_dir
    if run is None:
        raise ValueError("trainer.run_dir must be set to write a report (config.out_dir is None)")
    config = trainer.config
    metrics = trainer.metrics
    state = trainer.state()
    _save(plot_curves(metrics, config.target_perf), run.file(CURVES))
    examples = _example_trials(trainer, run)
    last = metrics[-1]
    lines = [
        f"# Run `{config.name}`",
        "",
        f"Trained on {', '.join(f'`{i}`' for i in config.env_ids)} — "
        f"{config.network.architecture.value}, {config.network.hidden_size} units, "
        f"{config.network.activation.value}, loss {config.loss.value}, {config.optimizer.value} "
        f"lr {config.learning_rate:g}, batch {config.batch_size}.",
        "",
        f"* stopped: **{reason.value}** after {state.step} updates ({state.trials} trials), "
        f"{state.elapsed:.1f} s wall time",
        f"* target performance: {config.target_perf if config.target_perf is not None else 'none'}; "
        f"lowest per-task performance at the end: {state.min_performance:.3f}",
        f"* time in the training loop spent on data (drawing batches, moving them, input noise): "
        f"{100 * state.data_fraction:.1f}%",
        "",
        f"## Performance at step {last['step']} ({config.eval_trials} seeded trials per task)",
        "",
        "| task | fraction correct |",
        "|---|---|",
        *(f"| `{key.removeprefix('perf/')}` | {last[key]:.3f} |" for key in last if key.startswith("perf/")),
        "",
        "## Learning curves",
        "",
        f"![loss and performance]({CURVES})",
        "",
        "## Example trials (network output over the targets)",
        "",
    ]
    for env_id, name, correct in examples:
        lines += [f"`{env_id}` ({'correct' if correct else 'wrong'}):", "", f"![{env_id}]({name})", ""]
    lines += ["## Config", "", "```json", json.dumps(config.to_dict(), indent=2), "```", ""]
    atomic_write_text(run.file(run.REPORT), "\n".join(lines))
