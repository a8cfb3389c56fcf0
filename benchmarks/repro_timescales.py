"""Seed-004, scaled to a CPU: single-head vs cumulative multi-head curricula on N-parity with the Levina network.

Khajehabdollahi, Zeraati et al., "Emergent mechanisms for long timescales depend on training curriculum and
affect performance in memory tasks" (ICLR 2024; LevinaLab/rnn_timescale_public) train a 500-unit leaky-ReLU RNN
with per-neuron trainable τ (1 + U(0, 1), clamped >= 1 step, zero self-connections) and h0 = 0.1·U(0, 1) by SGD
(lr 0.05, momentum 0.1, Nesterov, gradient-norm clip 2.0, batches of 256) on N-parity, raising N when the mean
accuracy over the active heads and the newest head both exceed 98%. Their result: multi-head (cumulative)
networks reach larger N faster and keep the single-neuron τ near its initial value, while single-head networks
solve each N by raising τ.

Here both curricula get the same wall-clock budget on one CPU thread with a smaller network (``--hidden``,
default 64 units) and the paper's recipe otherwise. The script records the trials to each N and the trained τ at
each curriculum change, writes ``repro_timescales.json`` and ``repro_timescales.png`` into ``--out``, and prints
the comparison (ratios of trials between the curricula, measured in the same run on the same machine)::

    python -m mtrnn.benchmarks.repro_timescales --budget 240 --out results/
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrnn.agents.callbacks import Callback, TrainState
from mtrnn.agents.config import Optimizer, TrainConfig
from mtrnn.agents.networks import Activation, NetworkConfig
from mtrnn.agents.rundir import atomic_write_bytes, atomic_write_text
from mtrnn.agents.trainer import Trainer
from mtrnn.envs import CurriculumKind

__all__ = ["levina_config", "main", "run_curriculum"]


def levina_config(
    kind: CurriculumKind,
    *,
    task: str = "mtrnn/NParity-v0",
    hidden: int = 64,
    budget: float = 240.0,
    seed: int = 0,
    eval_interval: int = 50,
    eval_trials: int = 512,
    nonlinearity_inside: bool = False,
) -> TrainConfig:
    """The paper's recipe (Levina network, SGD, clip 2.0, batch 256, 98% / 98% advance rule) at ``hidden`` units,
    with a wall-clock budget (seconds) on one thread. ``nonlinearity_inside=True`` is their "mod" form."""
    network = NetworkConfig(
        hidden_size=hidden,
        activation=Activation.LEAKY_RELU,
        train_tau=True,
        nonlinearity_inside=nonlinearity_inside,
        recurrent_noise=0.0,
        initial_state_scale=0.1,
    )
    return TrainConfig(
        env_ids=(task,),
        network=network,
        optimizer=Optimizer.SGD,
        learning_rate=0.05,
        momentum=0.1,
        nesterov=True,
        grad_clip_norm=2.0,
        batch_size=256,
        eval_interval=eval_interval,
        eval_trials=eval_trials,
        max_steps=None,
        max_time=budget,
        seed=seed,
        threads=1,
        prefetch=0,
        curriculum=kind,
        n_start=2,
        advance_threshold=0.98,
        newest_threshold=0.98,
    )


class _TauAtChanges(Callback):
    """Records, at each curriculum change, the trials so far and every unit's trained τ (in steps)."""

    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self._last = 0

    def on_training_start(self, state: TrainState) -> None:
        self._snapshot(state, n=self.trainer.task.heads[-1])

    def on_evaluation(self, state: TrainState) -> bool:
        n = self.trainer.task.heads[-1]
        if n != self._last:
            self._snapshot(state, n)
        return True

    def _snapshot(self, state: TrainState, n: int) -> None:
        tau = self.trainer.network.cell.tau_steps.detach().cpu().numpy()
        # the stage of N starts now: the τ recorded is what solving N − 1 left behind
        self.stages.append(
            {"N": int(n), "trials": state.trials, "seconds": round(state.elapsed, 1), "tau": tau.tolist()}
        )
        self._last = n


def run_curriculum(config: TrainConfig) -> dict[str, Any]:
    """Train one curriculum; returns trials to each N, τ at each change and the final per-head accuracy."""
    recorder = _TauAtChanges()
    trainer = Trainer(config, callbacks=[recorder], report=False)
    result = trainer.train()
    final_tau = trainer.network.cell.tau_steps.detach().cpu().numpy()
    heads = trainer.task.heads
    return {
        "curriculum": config.curriculum.value if config.curriculum else None,
        "stages": recorder.stages,
        "largest_N_solved": int(heads[-1]) - 1,
        "training_N": int(heads[-1]),
        "updates": result.state.step,
        "trials": result.state.trials,
        "seconds": round(result.state.elapsed, 1),
        "final_tau": final_tau.tolist(),
        "final_performance": dict(result.state.performance),
    }


def _plot(results: Sequence[dict[str, Any]], hidden: int, budget: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    colors = {"single": "tab:orange", "cumulative": "tab:blue"}
    for result in results:
        name = result["curriculum"]
        stages = result["stages"]
        trials = [s["trials"] for s in stages] + [result["trials"]]
        n = [s["N"] for s in stages] + [stages[-1]["N"]]
        left.step(trials, n, where="post", color=colors.get(name), label=f"{name}-head" if name == "single" else name)
        solved = [s["N"] - 1 for s in stages[1:]]
        taus = [np.asarray(s["tau"]) for s in stages[1:]]
        if solved:
            middle.plot(solved, [t.mean() for t in taus], "o-", color=colors.get(name), label=f"{name}: mean")
            middle.fill_between(
                solved,
                [np.percentile(t, 10) for t in taus],
                [np.percentile(t, 90) for t in taus],
                color=colors.get(name),
                alpha=0.2,
                label=f"{name}: 10–90%",
            )
        right.hist(result["final_tau"], bins=30, histtype="step", color=colors.get(name), lw=1.5, label=name)
    left.set_xlabel("trials")
    left.set_ylabel("N being trained (largest head)")
    left.set_title("curriculum progress")
    left.legend(frameon=False)
    middle.set_xlabel("N just solved")
    middle.set_ylabel("trained τ (steps)")
    middle.set_title("single-neuron τ after solving N")
    middle.legend(frameon=False, fontsize=7)
    right.set_xlabel("τ (steps) at the end")
    right.set_ylabel("units")
    right.set_title("final τ distribution")
    right.legend(frameon=False)
    fig.suptitle(f"N-parity, Levina network ({hidden} units), {budget:.0f} s per curriculum on 1 CPU thread")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, default=240.0, help="wall-clock seconds per curriculum")
    parser.add_argument("--hidden", type=int, default=64, help="recurrent units (the paper: 500)")
    parser.add_argument("--task", default="mtrnn/NParity-v0", help="mtrnn/NParity-v0 or mtrnn/NDMS-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the JSON and the PNG")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = []
    for kind in (CurriculumKind.SINGLE, CurriculumKind.CUMULATIVE):
        config = levina_config(kind, task=args.task, hidden=args.hidden, budget=args.budget, seed=args.seed)
        result = run_curriculum(config)
        results.append(result)
        reached = ", ".join(f"N={s['N']} at {s['trials']}" for s in result["stages"])
        print(
            f"{kind.value:10s} trained N={result['training_N']} (solved up to {result['largest_N_solved']}) in "
            f"{result['trials']} trials; stage starts: {reached}"
        )
    single, multi = results
    shared = sorted({s["N"] for s in single["stages"]} & {s["N"] for s in multi["stages"]} - {2})
    for n in shared:
        t_single = next(s["trials"] for s in single["stages"] if s["N"] == n)
        t_multi = next(s["trials"] for s in multi["stages"] if s["N"] == n)
        print(
            f"trials to reach N={n}: single {t_single}, cumulative {t_multi} "
            f"(single/cumulative {t_single / t_multi:.2f})"
        )
    for result in results:
        tau = np.asarray(result["final_tau"])
        print(
            f"{result['curriculum']:10s} final τ: mean {tau.mean():.2f}, median {np.median(tau):.2f}, "
            f"90th percentile {np.percentile(tau, 90):.2f}, max {tau.max():.2f} steps"
        )
    summary = {
        "task": args.task,
        "hidden": args.hidden,
        "budget_seconds_per_curriculum": args.budget,
        "seed": args.seed,
        "wall_seconds_total": round(time.perf_counter() - started, 1),
        "torch_threads": 1,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "repro_timescales.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_bytes(args.out / "repro_timescales.png", _plot(results, args.hidden, args.budget))
    print(f"wrote {args.out / 'repro_timescales.json'} and {args.out / 'repro_timescales.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
