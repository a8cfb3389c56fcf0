"""The end-of-run report of an RL run: ``report.md``, ``curves.png`` (reward and performance against trials and
wall-clock time) and, for a recurrent policy of ours, an example trial with the policy's action probabilities."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mtrnn.agents.rl.config import RLConfig
from mtrnn.agents.rl.rollout import play_trials
from mtrnn.agents.rundir import MetricsRow, RunDir, atomic_write_bytes, atomic_write_text
from mtrnn.agents.trainer import StopReason
from mtrnn.envs import Task, TrialBatch
from mtrnn.envs.plotting import plot_trial

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mtrnn.agents.rl.policy import RecurrentPolicy

__all__ = ["plot_rl_curves", "write_rl_report"]

CURVES = "curves.png"
TRIAL = "trial.png"


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _column(metrics: Sequence[MetricsRow], key: str) -> np.ndarray:
    return np.array([math.nan if row.get(key) is None else row[key] for row in metrics], dtype=float)


def plot_rl_curves(metrics: Sequence[MetricsRow], env_id: str, target: float | None = None) -> Figure:
    """Performance (greedy evaluation and rollout) and mean return, against trials (left) and time (right)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharey="row", constrained_layout=True)
    for col, (xkey, xlabel) in enumerate((("trials", "trials"), ("time", "wall-clock time (s)"))):
        x = _column(metrics, xkey)
        top, bottom = axes[0, col], axes[1, col]
        top.plot(x, _column(metrics, f"perf/{env_id}"), marker=".", label="greedy evaluation")
        top.plot(x, _column(metrics, "rollout_perf"), marker=".", alpha=0.7, label="rollouts (sampled actions)")
        if target is not None:
            top.axhline(target, color="grey", ls="--", lw=1, label=f"target {target:g}")
        top.set_ylim(-0.02, 1.02)
        bottom.plot(x, _column(metrics, "eval_reward"), marker=".", label="greedy evaluation")
        bottom.plot(x, _column(metrics, "reward"), marker=".", alpha=0.7, label="rollouts")
        bottom.set_xlabel(xlabel)
    axes[0, 0].set_ylabel("performance (fraction correct)")
    axes[1, 0].set_ylabel("mean return per trial")
    axes[0, 0].legend(fontsize=8, loc="lower right", frameon=False)
    axes[1, 0].legend(fontsize=8, loc="lower right", frameon=False)
    fig.suptitle(env_id)
    return fig


def _example_trial(run: RunDir, policy: RecurrentPolicy, task: Task, batch: TrialBatch, config: RLConfig) -> str:
    device = next(policy.parameters()).device
    trial = batch.select(0)
    with torch.no_grad():
        logits, _, _ = policy(torch.from_numpy(trial.inputs).to(device))
    probabilities = torch.softmax(logits, dim=-1).cpu().numpy()
    outcome = play_trials(probabilities.argmax(-1), trial, task, config.reward_rule)
    verdict = "correct" if outcome.performance[0] == 1.0 else "wrong"
    names = task.output_names if len(task.output_names) == policy.n_actions else None
    fig = plot_trial(
        trial,
        0,
        outputs=probabilities,
        input_names=task.input_names,
        output_names=names,
        title=f"{config.env_id} — policy action probabilities; greedy play {verdict}, ends at step "
        f"{int(outcome.end[0])}",
    )
    _save(fig, run.file(TRIAL))
    return verdict


def write_rl_report(
    run: RunDir,
    config: RLConfig,
    metrics: Sequence[MetricsRow],
    reason: StopReason,
    policy: RecurrentPolicy | None,
    task: Task,
    eval_batch: TrialBatch,
) -> None:
    """Write ``report.md``, ``curves.png`` and (with a policy of ours) ``trial.png`` into ``run``."""
    _save(plot_rl_curves(metrics, config.env_id, config.target_perf), run.file(CURVES))
    last = metrics[-1]
    network = config.network
    if config.algo.value == "recurrent_ppo" or config.backend.value == "batched":
        model = f"{network.architecture.value}, {network.hidden_size} units"
    else:
        model = f"MLP {network.hidden_size}x{network.hidden_size} (no memory)"
    lines = [
        f"# RL run `{config.name}`",
        "",
        f"`{config.env_id}` {config.task_kwargs or ''} — backend {config.backend.value}, {config.algo.value}, "
        f"{model}, lr {config.learning_rate:g}.",
        "",
        f"* stopped: **{reason.value}** after {last['step']} updates, {last['trials']} trials, "
        f"{last['env_steps']} env steps, {last['time']:.1f} s wall time",
        f"* greedy performance on {config.eval_trials} seeded evaluation trials: "
        f"{last[f'perf/{config.env_id}']:.3f}; mean return {last['eval_reward']:.3f}",
        "",
        "## Learning curves",
        "",
        f"![curves]({CURVES})",
        "",
    ]
    if policy is not None:
        verdict = _example_trial(run, policy, task, eval_batch, config)
        lines += ["## An evaluation trial (action probabilities over the targets)", "", f"Greedy play: {verdict}.", ""]
        lines += [f"![trial]({TRIAL})", ""]
    lines += ["## Config", "", "```json", json.dumps(config.to_dict(), indent=2), "```", ""]
    atomic_write_text(run.file(RunDir.REPORT), "\n".join(lines))
