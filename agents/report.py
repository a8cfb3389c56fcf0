"""The end-of-run report: ``report.md`` with learning curves and example trials (network outputs over targets)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.callbacks import TrainState
from mtrnn.agents.config import Loss, TrainConfig
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.agents.rundir import MetricsRow, RunDir
from mtrnn.envs import Task, TrialBatch
from mtrnn.envs.plotting import plot_trial

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ExampleTrial", "plot_curves", "write_report"]

CURVES = "curves.png"


@dataclass(frozen=True)
class ExampleTrial:
    """Trials of one evaluated task for the report (the first one is drawn).

    Attributes:
        env_id: the task's column name (``perf/<env_id>``).
        task: the task that scores the trials.
        batch: the (noise-free) trials.
        inputs: ``(T, B, n_in)`` what the network sees (with input noise), on the network's device.
    """

    env_id: str
    task: Task
    batch: TrialBatch
    inputs: Tensor


def _save(fig: Figure, run: RunDir, name: str) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    run.write_bytes(name, buffer.getvalue())


def plot_curves(metrics: Sequence[MetricsRow], target: float | None = None) -> Figure:
    """Training loss and per-task performance against trials, from metrics rows (``metrics.csv``); rows with a
    ``change`` (curriculum stage, resume with new settings) are drawn as labelled vertical markers."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    changes = [row for row in metrics if row.get("change")]
    metrics = [row for row in metrics if not row.get("change")]
    tasks: list[str] = []  # every perf/ column, in order of first appearance (a head curriculum adds heads)
    for row in metrics:
        tasks += [key for key in row if key.startswith("perf/") and key not in tasks]
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
        values = [math.nan if row.get(key) is None else row[key] for row in metrics]
        bottom.plot(trials, values, color=colors(k % colors.N), label=key.removeprefix("perf/"), lw=1.3)
    if target is not None:
        bottom.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
    for row in changes:
        for axis in (top, bottom):
            axis.axvline(float(row["trials"] or 0), color="tab:purple", ls=":", lw=1)
        bottom.annotate(
            str(row["change"])[:40],
            (float(row["trials"] or 0), 0.02),
            rotation=90,
            fontsize=6,
            color="tab:purple",
            va="bottom",
            ha="right",
        )
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


def _example_trials(
    run: RunDir, network: RecurrentNetwork, examples: Sequence[ExampleTrial], loss: Loss
) -> list[tuple[str, str, bool]]:
    """Draw the first trial of each example with the network's output; returns ``(env_id, file, correct)``."""
    network.eval()
    drawn = []
    with torch.no_grad():
        for example in examples:
            batch = example.batch.select(slice(0, 1))
            seen = example.inputs[: batch.n_steps, :1]
            outputs, _ = network(example.inputs[:, :1])
            outputs = outputs[: batch.n_steps]
            batch = dataclasses.replace(batch, inputs=seen.cpu().numpy(), noise_added=True)  # what the network saw
            correct = bool(example.task.score(outputs.cpu().numpy(), batch)[0] == 1.0)
            if loss is Loss.CROSS_ENTROPY:
                outputs = torch.softmax(outputs, dim=-1)
            fig = plot_trial(
                batch,
                0,
                outputs=outputs.cpu().numpy(),
                input_names=example.task.input_names,
                output_names=example.task.output_names,
                title=f"{example.env_id} — network {'correct' if correct else 'wrong'}",
            )
            name = _file_name(example.env_id)
            _save(fig, run, name)
            drawn.append((example.env_id, name, correct))
    return drawn


def write_report(
    run: RunDir,
    *,
    config: TrainConfig,
    metrics: Sequence[MetricsRow],
    state: TrainState,
    stop_reason: str,
    network: RecurrentNetwork,
    examples: Sequence[ExampleTrial],
) -> None:
    """Write ``report.md``, ``curves.png`` and one ``trial_<task>.png`` per example into ``run``.

    Args:
        run: the run directory.
        config: the run's config.
        metrics: the metrics rows (``metrics.csv``).
        state: where training ended.
        stop_reason: why it ended (``StopReason.value``).
        network: the trained network.
        examples: per evaluated task, trials to draw one example from.
    """
    _save(plot_curves(metrics, config.target_perf), run, CURVES)
    drawn = _example_trials(run, network, examples, config.loss)
    evaluations = [row for row in metrics if not row.get("change")]
    changes = [row for row in metrics if row.get("change")]
    last = evaluations[-1]
    lines = [
        f"# Run `{config.name}`",
        "",
        f"Trained on {', '.join(f'`{i}`' for i in config.task_names)}"
        + (f" (task arguments {json.dumps(config.task_kwargs)})" if config.task_kwargs else "")
        + f" — {config.network.architecture.value}, {config.network.hidden_size} units, "
        f"{config.network.activation.value}, loss {config.loss.value}, {config.optimizer.value} "
        f"lr {config.learning_rate:g}, batch {config.batch_size}, {config.num_threads} thread(s).",
        "",
        f"* stopped: **{stop_reason}** after {state.step} updates ({state.trials} trials), "
        f"{state.elapsed:.1f} s wall time",
        f"* target performance: {config.target_perf if config.target_perf is not None else 'none'}; "
        f"lowest per-task performance at the end: {state.min_performance:.3f}",
        f"* time in the training loop spent on data (drawing batches, moving them, input noise): "
        f"{100 * state.data_fraction:.1f}%",
        *(f"* step {row['step']}: {row['change']}" for row in changes),
        "",
        f"## Performance at step {last['step']} ({config.eval_trials} seeded trials per task)",
        "",
        "| task | fraction correct |",
        "|---|---|",
        *(
            f"| `{key.removeprefix('perf/')}` | {float(value):.3f} |"
            for key, value in last.items()
            if key.startswith("perf/") and value is not None
        ),
        "",
        "## Learning curves",
        "",
        f"![loss and performance]({CURVES})",
        "",
        "## Example trials (network output over the targets)",
        "",
    ]
    for env_id, name, correct in drawn:
        lines += [f"`{env_id}` ({'correct' if correct else 'wrong'}):", "", f"![{env_id}]({name})", ""]
    lines += ["## Config", "", "```json", json.dumps(config.to_dict(), indent=2), "```", ""]
    run.write_text(run.REPORT, "\n".join(lines))
