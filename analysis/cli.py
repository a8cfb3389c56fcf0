"""``mtrnn-analyze``: run one analysis on a run directory and write its results into ``RUN_DIR/analysis/``.

::

    mtrnn-analyze timescales runs/demo          # τ_net per unit under Bernoulli input (Khajehabdollahi 2024)
    mtrnn-analyze pca runs/demo --threshold 0.9
    mtrnn-analyze ablate runs/demo              # every unit, one at a time
    mtrnn-analyze perturb runs/demo --directions 10
    mtrnn-analyze task-variance runs/yang       # Yang 2019 Fig. 2-3 + cluster lesions
    mtrnn-analyze similarity runs/a --other runs/b --other runs/gru
    mtrnn-analyze fixed-points runs/demo --period delay

Every result is written atomically (``.npz`` without pickle, JSON, PNG, Markdown tables).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrnn.agents.cells import LeakyRNNCell
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.agents.rundir import atomic_write_bytes, atomic_write_text
from mtrnn.analysis.dimensionality import pca
from mtrnn.analysis.drive import (
    BernoulliInput,
    TaskInput,
    analysis_batches,
    resolve_network,
    run_network,
    task_of_run,
)
from mtrnn.analysis.io import save_json, save_npz
from mtrnn.analysis.perturbation import DEFAULT_EPSILONS, PerturbTarget, ablation_effect, perturbation_curve
from mtrnn.analysis.similarity import ScoreMethod, compare_networks
from mtrnn.analysis.task_variance import ClusterMethod, cluster_units, lesion_clusters, task_variance
from mtrnn.analysis.timescales import FitFailure, FitModel, network_timescales
from mtrnn.envs.task import Task

__all__ = ["build_parser", "main"]


def _save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _out_dir(args: argparse.Namespace) -> Path:
    out = Path(args.out) if args.out else Path(args.run_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _load(args: argparse.Namespace) -> tuple[RecurrentNetwork, Task, tuple[str, ...] | None]:
    run = Path(args.run_dir)
    if not (run / "config.json").exists():
        raise SystemExit(f"mtrnn-analyze: {run} is not a run directory (no config.json)")
    network = resolve_network(run)
    task = task_of_run(run)
    from mtrnn.agents.rundir import load_config

    ids = tuple(load_config(run).env_ids)
    components = len(getattr(task, "tasks", [task]))
    return network, task, ids if len(ids) == components else None


def _timescales(args: argparse.Namespace) -> str:
    network, task, _ = _load(args)
    out = _out_dir(args)
    channels = tuple(int(c) for c in args.channels.split(",")) if args.channels else None
    process = TaskInput(task) if args.input == "task" else BernoulliInput(channels=channels)
    result = network_timescales(
        network,
        process,
        n_steps=args.n_steps,
        burn_in=args.burn_in,
        n_trials=args.trials,
        max_lag=args.max_lag,
        seed=args.seed,
        progress=args.progress,
    )
    result.save(out / "timescales.npz")
    finite = np.isfinite(result.tau_net)
    summary = {
        "input": args.input,
        "n_steps": args.n_steps,
        "burn_in": args.burn_in,
        "trials": args.trials,
        "max_lag": args.max_lag,
        "units": int(result.tau_net.size),
        "fitted": int(finite.sum()),
        "failures": {f.name: int((result.fit.failure == f).sum()) for f in FitFailure if f is not FitFailure.OK},
        "models": {m.name: int((result.fit.model == m).sum()) for m in (FitModel.SINGLE, FitModel.DOUBLE)},
        "tau_net_median_steps": float(np.median(result.tau_net[finite])) if finite.any() else None,
        "tau_net_mean_steps": float(np.mean(result.tau_net[finite])) if finite.any() else None,
        "tau_trained_mean_steps": None if result.tau_trained is None else float(np.mean(result.tau_trained)),
        "dt_ms": result.dt_ms,
    }
    save_json(out / "timescales.json", summary)
    from mtrnn.analysis.plots import plot_timescales

    _save_figure(plot_timescales(result, title=f"{args.run_dir}: {args.input} input"), out / "timescales.png")
    return f"τ_net median {summary['tau_net_median_steps']} steps over {summary['fitted']}/{summary['units']} units"


def _pca(args: argparse.Namespace) -> str:
    network, task, _ = _load(args)
    out = _out_dir(args)
    samples = []
    for batch in analysis_batches(task, seed=args.seed).values():
        _, states = run_network(network, batch.inputs)
        samples.append(states[batch.valid][:, : network.cell.hidden_size])
    result = pca(np.concatenate(samples, axis=0))
    k = result.n_components(args.threshold)
    save_npz(
        out / "pca.npz",
        {
            "explained_variance": result.explained_variance,
            "explained_variance_ratio": result.explained_variance_ratio,
            "components": result.components,
            "mean": result.mean,
        },
    )
    save_json(
        out / "pca.json",
        {
            "threshold": args.threshold,
            "n_components": k,
            "participation_ratio": result.participation_ratio,
            "explained_variance_ratio_first_20": result.explained_variance_ratio[:20],
        },
    )
    from mtrnn.analysis.plots import plot_pca

    _save_figure(plot_pca(result, args.threshold), out / "pca.png")
    return f"{k} PCs reach {args.threshold:.0%}; participation ratio {result.participation_ratio:.2f}"


def _parse_groups(specs: Sequence[str] | None) -> dict[str, list[int]] | None:
    if not specs:
        return None
    groups: dict[str, list[int]] = {}
    for spec in specs:
        name, _, units = spec.partition("=")
        if not units:
            raise SystemExit(f"mtrnn-analyze: --group must look like NAME=1,2,3, got {spec!r}")
        groups[name] = [int(u) for u in units.split(",")]
    return groups


def _ablate(args: argparse.Namespace) -> str:
    network, task, names = _load(args)
    out = _out_dir(args)
    result = ablation_effect(
        network,
        task,
        _parse_groups(args.group),
        n_trials=args.trials,
        seed=args.seed,
        task_names=names,
        progress=args.progress,
    )
    save_npz(
        out / "ablation.npz",
        {"baseline": result.baseline, "performance": result.performance, "change": result.change},
    )
    save_json(
        out / "ablation.json",
        {
            "task_names": result.task_names,
            "group_names": result.group_names,
            "groups": result.groups,
            "baseline": result.baseline,
            "performance": result.performance,
        },
    )
    atomic_write_text(out / "ablation.md", result.table() + "\n")
    from mtrnn.analysis.plots import plot_ablation

    _save_figure(plot_ablation(result), out / "ablation.png")
    worst = int(np.argmin(result.change.min(axis=1)))
    return f"largest drop: {result.group_names[worst]} ({result.change[worst].min():+.3f})"


def _perturb(args: argparse.Namespace) -> str:
    network, task, names = _load(args)
    out = _out_dir(args)
    if args.target:
        targets = [PerturbTarget(t) for t in args.target]
    else:
        targets = [PerturbTarget.RECURRENT_WEIGHTS]
        cell = network.cell
        if isinstance(cell, LeakyRNNCell) and cell.tau is not None:
            targets.append(PerturbTarget.TAU)
    epsilons = DEFAULT_EPSILONS if args.epsilons is None else np.array([float(e) for e in args.epsilons.split(",")])
    results = [
        perturbation_curve(
            network,
            task,
            target,
            epsilons=epsilons,
            n_directions=args.directions,
            n_trials=args.trials,
            seed=args.seed,
            task_names=names,
            progress=args.progress,
        )
        for target in targets
    ]
    arrays: dict[str, Any] = {"epsilons": results[0].epsilons}
    summary: dict[str, Any] = {"epsilons": results[0].epsilons, "directions": args.directions, "trials": args.trials}
    for result in results:
        arrays[f"performance_{result.target.value}"] = result.performance
        summary[result.target.value] = {"task_names": result.task_names, "mean": result.mean, "std": result.std}
    save_npz(out / "perturbation.npz", arrays)
    save_json(out / "perturbation.json", summary)
    from mtrnn.analysis.plots import plot_perturbation

    _save_figure(plot_perturbation(results), out / "perturbation.png")
    return ", ".join(f"{r.target.value}: {np.round(r.mean.mean(axis=1), 3).tolist()}" for r in results)


def _task_variance(args: argparse.Namespace) -> str:
    network, task, names = _load(args)
    out = _out_dir(args)
    variance = task_variance(network, task)
    if len(variance.rules) < 2:
        raise SystemExit(
            f"mtrnn-analyze task-variance: {args.run_dir} was trained on one task; task variance compares rules "
            "(train on several tasks, e.g. Yang's)"
        )
    clusters = cluster_units(variance, method=ClusterMethod(args.method), seed=args.seed)
    save_npz(
        out / "task_variance.npz",
        {
            "variance": variance.variance,
            "active": variance.active,
            "units": clusters.units,
            "labels": clusters.labels,
            "normalized": clusters.normalized,
            "candidates": clusters.candidates,
            "scores": clusters.scores,
            "rule_by_cluster": clusters.rule_by_cluster,
        },
    )
    from mtrnn.analysis.plots import plot_ablation, plot_task_variance

    _save_figure(plot_task_variance(clusters, title=str(args.run_dir)), out / "task_variance.png")
    summary: dict[str, Any] = {
        "rules": variance.rules,
        "active_units": int(variance.active.sum()),
        "n_clusters": clusters.n_clusters,
        "clusters": clusters.members(),
        "method": args.method,
    }
    if args.lesion_trials > 0:
        lesion = lesion_clusters(
            network,
            task,
            clusters,
            n_trials=args.lesion_trials,
            seed=args.seed,
            task_names=names,
            progress=args.progress,
        )
        atomic_write_text(out / "cluster_lesions.md", lesion.table() + "\n")
        summary["lesions"] = {
            "task_names": lesion.task_names,
            "baseline": lesion.baseline,
            "performance": lesion.performance,
        }
        _save_figure(plot_ablation(lesion, title="cluster lesions: Δ performance"), out / "cluster_lesions.png")
    save_json(out / "task_variance.json", summary)
    return f"{clusters.n_clusters} clusters of {variance.active.sum()} active units"


def _similarity(args: argparse.Namespace) -> str:
    if not args.other:
        raise SystemExit("mtrnn-analyze similarity: give at least one --other RUN_DIR to compare with")
    _, task, _ = _load(args)
    out = _out_dir(args)
    runs = [args.run_dir, *args.other]
    n = len(runs)
    measures = {name: np.zeros((n, n)) for name in ("dsa", "procrustes", "cka")}
    measures["cka"][np.diag_indices(n)] = 1.0
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    settings: dict[str, Any] = {}
    for i, j in pairs:
        result = compare_networks(
            runs[i],
            runs[j],
            task,
            n_delays=args.n_delays,
            rank=args.rank,
            score_method=ScoreMethod(args.score_method),
            n_components=args.components,
            seed=args.seed,
        )
        for name, value in (("dsa", result.dsa), ("procrustes", result.procrustes), ("cka", result.cka)):
            measures[name][i, j] = measures[name][j, i] = value
        settings[f"{i}-{j}"] = result.settings
    labels = [Path(r).name for r in runs]
    save_json(out / "similarity.json", {"runs": runs, **measures, "settings": settings})
    from mtrnn.analysis.plots import plot_similarity

    names = {
        "dsa": f"DSA ({args.score_method}, n_delays={args.n_delays}, rank={args.rank})",
        "procrustes": "Procrustes angle (states)",
        "cka": "linear CKA (states)",
    }
    _save_figure(plot_similarity(labels, {names[k]: v for k, v in measures.items()}), out / "similarity.png")
    return "; ".join(f"{labels[0]} vs {labels[j]}: DSA {measures['dsa'][0, j]:.4g}" for j in range(1, n))


def _default_period(periods: Sequence[str]) -> str:
    for name in ("delay", "delay1", "delay2"):
        if name in periods:
            return name
    return next(iter(periods))


def _fixed_points(args: argparse.Namespace) -> str:
    from mtrnn.analysis.fixed_points import find_fixed_points
    from mtrnn.analysis.fixed_points_starts import network_states, period_input, sample_initial_states
    from mtrnn.analysis.plots_fixed_points import plot_fixed_points

    network, task, _ = _load(args)
    out = _out_dir(args)
    batches = analysis_batches(task, seed=args.seed)
    rule = args.rule if args.rule is not None else next(iter(batches))
    if rule not in batches:
        raise SystemExit(f"mtrnn-analyze fixed-points: --rule must be one of {list(batches)}, got {rule!r}")
    batch = batches[rule]
    period = args.period or _default_period(list(batch.periods))
    if period not in batch.periods:
        raise SystemExit(f"mtrnn-analyze fixed-points: --period must be one of {list(batch.periods)}, got {period!r}")
    inputs = period_input(batch, period, trial=0)
    rng = np.random.default_rng(args.seed)
    starts = sample_initial_states(network, batch, args.n_starts, args.noise, rng, period=period)
    points = find_fixed_points(network.cell, inputs, starts, max_iters=args.max_iters, max_q=args.max_q)
    points.save(out / "fixed_points.npz")
    save_json(
        out / "fixed_points.json",
        {
            "rule": rule,
            "period": period,
            "n_starts": args.n_starts,
            "noise": args.noise,
            "n_points": int(points.states.shape[0]),
            "n_stable": int(np.asarray(points.is_stable).sum()),
            "q": np.asarray(points.q),
            "n_unstable_dims": np.asarray(points.n_unstable_dims),
        },
    )
    trajectories = network_states(network, batch)
    key = next((k for k in ("location", "direction", "stim1_direction") if k in batch.conditions), None)
    labels = np.round(np.asarray(batch.conditions[key]), 3) if key is not None else None
    fig = plot_fixed_points(points, trajectories, labels, title=f"{rule}: fixed points of the {period} input")
    _save_figure(fig, out / "fixed_points.png")
    return f"{points.states.shape[0]} fixed points ({int(np.asarray(points.is_stable).sum())} stable) in {period}"


def build_parser() -> argparse.ArgumentParser:
    """The ``mtrnn-analyze`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mtrnn-analyze", description="Analyses of a trained network; results go to RUN_DIR/analysis/."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by mtrnn-train")
        p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/analysis)")
        p.add_argument("--seed", type=int, default=0, help="seeds inputs, trials and directions (default 0)")
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
        return p

    p = add("fixed-points", "fixed points of one task period's constant input (Sussillo & Barak 2013)")
    p.add_argument("--rule", default=None, help="which task of a mixture (class name; default: the first)")
    p.add_argument("--period", default=None, help="the period whose input is held constant (default: the delay)")
    p.add_argument("--n-starts", type=int, default=256, help="starting states (default 256)")
    p.add_argument("--noise", type=float, default=0.05, help="noise std added to the starting states (default 0.05)")
    p.add_argument("--max-iters", type=int, default=5000, help="Adam iterations at most (default 5000)")
    p.add_argument(
        "--max-q",
        type=float,
        default=1e-4,
        help="keep points with q <= MAX_Q (default 1e-4; trained networks often keep memories on slow points: 1e-3)",
    )
    p.set_defaults(handler=_fixed_points)

    p = add("timescales", "τ_net per unit from autocorrelation fits (Khajehabdollahi, Zeraati et al. 2024)")
    p.add_argument("--input", choices=["bernoulli", "task"], default="bernoulli", help="input process")
    p.add_argument("--channels", default=None, help="Bernoulli input channels, e.g. 0,1 (default: all inputs)")
    p.add_argument("--n-steps", type=int, default=100_000, help="recorded steps per trial (default 1e5)")
    p.add_argument("--burn-in", type=int, default=500, help="steps dropped first (default 500)")
    p.add_argument("--trials", type=int, default=10, help="independent trials (default 10)")
    p.add_argument("--max-lag", type=int, default=30, help="lags fitted, 0..max_lag (default 30)")
    p.set_defaults(handler=_timescales)

    p = add("pca", "PCA of the activity on the test batches: PCs to a threshold, participation ratio")
    p.add_argument("--threshold", type=float, default=0.9, help="variance fraction (default 0.9)")
    p.set_defaults(handler=_pca)

    p = add("ablate", "performance per task after removing units (all, one at a time, or --group)")
    p.add_argument("--group", action="append", default=None, help="NAME=1,2,3 (repeatable); default: every unit")
    p.add_argument("--trials", type=int, default=256, help="trials per task (default 256)")
    p.set_defaults(handler=_ablate)

    p = add("perturb", "performance against W <- W + eps·||W||·d/||d|| (weights, trained tau)")
    p.add_argument(
        "--target", action="append", choices=[t.value for t in PerturbTarget], default=None, help="repeatable"
    )
    p.add_argument("--directions", type=int, default=10, help="random directions per eps (default 10)")
    p.add_argument("--epsilons", default=None, help="comma-separated eps (default: 0 and geomspace(1e-2, 10, 10))")
    p.add_argument("--trials", type=int, default=256, help="trials per task (default 256)")
    p.set_defaults(handler=_perturb)

    p = add("task-variance", "Yang 2019 task variance, clusters (silhouette) and cluster lesions")
    p.add_argument("--method", choices=[m.value for m in ClusterMethod], default="kmeans")
    p.add_argument("--lesion-trials", type=int, default=256, help="trials per rule for lesions (0: none)")
    p.set_defaults(handler=_task_variance)

    p = add("similarity", "DSA, Procrustes and CKA between this run and --other runs on the same trials")
    p.add_argument("--other", action="append", default=None, help="another run directory (repeatable)")
    p.add_argument("--n-delays", type=int, default=5, help="DSA delays (default 5)")
    p.add_argument("--rank", type=int, default=10, help="DSA rank (default 10)")
    p.add_argument("--score-method", choices=[m.value for m in ScoreMethod], default="wasserstein", help="DSA score")
    p.add_argument("--components", type=int, default=10, help="PCs per network fed to DSA (default 10)")
    p.set_defaults(handler=_similarity)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mtrnn-analyze``."""
    import matplotlib

    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    message = args.handler(args)
    print(f"{args.command}: {message}; results in {_out_dir(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
