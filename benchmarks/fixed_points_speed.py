"""Time :func:`mtrnn.analysis.find_fixed_points` against a re-implementation of fixed-point-finder's torch algorithm.

``python -m mtrnn.benchmarks.fixed_points_speed [--run-dir RUN] [--starts 1024] [--rounds 3] [--out DIR]`` finds the
fixed points
of one N = 256 leaky RNN from the same 1024 starts with the same tolerances (``tol_q = 1e-12``, ``tol_dq = 1e-20``,
``max_iters = 5000``, ``tol_unique = 1e-3``, outliers beyond 10 typical distances dropped), once with ours and once
with the baseline, in the same process with one torch thread (after a tiny warm-up run of each), ``--rounds``
times alternately, and prints the time ratios (median and range over the rounds), where the time goes in each
(last round), and how well the two sets of fixed points match (each baseline point's distance to the nearest of
ours and back). Results go to ``DIR/fixed_points_speed.json`` (atomically; default: the working directory).

Ours (``find_fixed_points`` with its defaults): per-point Adam whose starts switch to Newton-Krylov steps (batched
GMRES) once ``q < 1``, the leaky RNN's closed-form gradient and Jacobians, Newton / Levenberg-Marquardt polish of
the unique slow points; ``report.seconds`` gives the phases (``newton`` is part of ``adam``).

The network: by default a Hopfield-like leaky tanh RNN (``α = 0.2``) with 6 planted ±1 patterns, ``W = 1.5/N ·
Σ ξξᵀ``, whose fixed points include the patterns, their mixtures and saddles between them; or the cell of a
trained run directory (``--run-dir``, e.g. the DelayAnti network of ``make demo``, under its delay-period input).
Starts: states of the network's own trajectories plus Gaussian noise of std 0.5 (Golub & Sussillo's example).

The baseline mirrors the algorithm fixed-point-finder documents for torch (mattgolub/fixed-point-finder,
``FixedPointFinderTorch``; it is not on PyPI, so it cannot be installed and run here): one ``torch.optim.Adam``
over the whole ``(K, S)`` batch of states with the mean ``q`` as loss, learning rate 1.0 decayed by 0.95 on
plateaus (``ReduceLROnPlateau``, patience 5), iterating until *every* start has ``q < tol_q`` or
``|Δq| < tol_dq · lr`` (or ``max_iters``); then the distance-outlier rule, a pairwise Python loop for
deduplication, one ``torch.autograd.functional.jacobian`` call per fixed point and one ``numpy.linalg.eig`` per
point (right eigenvectors only, no input Jacobians: its torch version has neither).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from mtrnn.agents.cells import Activation, LeakyRNNCell
from mtrnn.agents.rundir import atomic_write_text, load_agent, load_config
from mtrnn.analysis.fixed_points import CellStep, FixedPoints, find_fixed_points
from mtrnn.analysis.fixed_points_starts import period_input
from mtrnn.envs import make_task

__all__ = ["BaselineResult", "Match", "baseline_fixed_points", "main", "match_points", "planted_network"]

TOLERANCES = {"tol_q": 1e-12, "tol_dq": 1e-20, "max_iters": 5000, "tol_unique": 1e-3, "outlier_distance_scale": 10.0}


def planted_network(size: int = 256, n_patterns: int = 6, gain: float = 1.5, seed: int = 0) -> LeakyRNNCell:
    """A leaky tanh RNN (``α = 0.2``) with Hopfield weights ``W = gain/N · Σ_p ξ_p ξ_pᵀ`` of ±1 patterns."""
    rng = np.random.default_rng(seed)
    patterns = np.sign(rng.standard_normal((n_patterns, size)))
    cell = LeakyRNNCell(1, size, activation=Activation.TANH, alpha=0.2)
    with torch.no_grad():
        cell.weight_rec.copy_(torch.from_numpy(gain / size * patterns.T @ patterns))
        cell.weight_in.zero_()
        cell.bias.zero_()
    return cell.eval()


def trajectory_starts(
    cell: CellStep, inputs: Tensor, size: int, n_starts: int, rng: np.random.Generator, steps: int = 40
) -> Tensor:
    """States visited from 64 random initial states under ``inputs (n_in,)``, sampled and jittered (std 0.5)."""
    h = torch.from_numpy(rng.standard_normal((64, size)).astype(np.float32))
    visited = []
    with torch.no_grad():
        for _ in range(steps):
            h = cell(inputs.expand(64, -1), h)
            visited.append(h)
    states = torch.cat(visited)
    pick = torch.from_numpy(rng.integers(0, states.shape[0], n_starts))
    return states[pick] + 0.5 * torch.from_numpy(rng.standard_normal((n_starts, size)).astype(np.float32))


@dataclass
class BaselineResult:
    """The baseline's unique points ``states (M, S)``, ``q (M,)``, eigenvalues ``(M, S)`` and phase times (s)."""

    states: np.ndarray
    q: np.ndarray
    eigenvalues: np.ndarray
    iterations: int
    seconds: dict[str, float]


def baseline_fixed_points(
    cell: Callable[[Tensor, Tensor], Tensor],
    inputs: Tensor,
    initial_states: Tensor,
    tol_q: float,
    tol_dq: float,
    max_iters: int,
    tol_unique: float,
    outlier_distance_scale: float,
) -> BaselineResult:
    """fixed-point-finder's torch algorithm, as documented (see the module docstring); ``inputs (K, n_in)``."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    x = initial_states.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=1.0)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.95, patience=5)
    q_prev = torch.full((x.shape[0],), math.nan)
    iteration = 1
    while True:
        optimizer.zero_grad()
        q_b = 0.5 * (cell(inputs, x) - x).square().sum(1)
        q_scalar = q_b.mean()
        q_scalar.backward()
        optimizer.step()
        scheduler.step(float(q_scalar.detach()))
        lr = optimizer.param_groups[0]["lr"]
        q_np = q_b.detach().numpy()
        dq_np = np.abs(q_np - q_prev.numpy())
        if iteration > 1 and np.all((dq_np < tol_dq * lr) | (q_np < tol_q)):
            break
        if iteration + 1 > max_iters:
            break
        q_prev = q_b.detach()
        iteration += 1
    xstar = x.detach().numpy()
    qstar = q_np
    seconds["optimisation"] = time.perf_counter() - start

    start = time.perf_counter()
    x0 = initial_states.numpy()
    centroid = x0.mean(0)
    typical = np.linalg.norm(x0 - centroid, axis=1).mean()
    inlier = np.linalg.norm(xstar - centroid, axis=1) / typical <= outlier_distance_scale
    xstar, qstar, u = xstar[inlier], qstar[inlier], inputs.numpy()[inlier]
    order = np.argsort(qstar, kind="stable")
    xstar, qstar, u = xstar[order], qstar[order], u[order]
    n = xstar.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        for j in range(i + 1, n):
            if keep[j] and np.max(np.abs(xstar[i] - xstar[j])) <= tol_unique and np.array_equal(u[i], u[j]):
                keep[j] = False
    xstar, qstar, u = xstar[keep], qstar[keep], u[keep]
    seconds["dedup"] = time.perf_counter() - start

    start = time.perf_counter()
    jacobians = []
    for point, inp in zip(xstar, u, strict=True):
        u_t = torch.from_numpy(inp)[None]

        def one(state: Tensor, u_t: Tensor = u_t) -> Tensor:
            return cell(u_t, state[None])[0]

        jacobians.append(torch.autograd.functional.jacobian(one, torch.from_numpy(point)).numpy())
    seconds["jacobians"] = time.perf_counter() - start
    start = time.perf_counter()
    eigenvalues = [np.linalg.eig(jac)[0] for jac in jacobians]
    seconds["eig"] = time.perf_counter() - start
    values = np.array(eigenvalues) if eigenvalues else np.zeros((0, initial_states.shape[1]), complex)
    return BaselineResult(states=xstar, q=qstar, eigenvalues=values, iterations=iteration, seconds=seconds)


@dataclass
class Match:
    """How two sets of points correspond: counts and nearest-neighbour L∞ distances both ways."""

    n_ours: int
    n_baseline: int
    baseline_to_ours_max: float
    baseline_to_ours_median: float
    ours_to_baseline_max: float
    baseline_matched: int
    ours_matched: int
    stability_agreement: float


def match_points(
    ours: FixedPoints, baseline: BaselineResult, tol: float, stable_baseline: np.ndarray | None = None
) -> Match:
    """Nearest neighbours between the two sets; a point is matched when its nearest is within ``tol`` (L∞)."""
    a = ours.states.astype(np.float64)
    b = baseline.states.astype(np.float64)
    if len(a) == 0 or len(b) == 0:
        return Match(len(a), len(b), math.inf, math.inf, math.inf, 0, 0, math.nan)
    dist = np.abs(b[:, None, :] - a[None, :, :]).max(-1)
    b_to_a = dist.min(1)
    a_to_b = dist.min(0)
    agreement = math.nan
    if stable_baseline is not None:
        nearest = dist.argmin(1)
        agreement = float(np.mean(ours.is_stable[nearest] == stable_baseline))
    return Match(
        n_ours=len(a),
        n_baseline=len(b),
        baseline_to_ours_max=float(b_to_a.max()),
        baseline_to_ours_median=float(np.median(b_to_a)),
        ours_to_baseline_max=float(a_to_b.max()),
        baseline_matched=int((b_to_a <= tol).sum()),
        ours_matched=int((a_to_b <= tol).sum()),
        stability_agreement=agreement,
    )


def _network(run_dir: str | None, size: int) -> tuple[CellStep, Tensor, str]:
    if run_dir is None:
        return planted_network(size), torch.zeros(1), f"planted Hopfield-like leaky tanh RNN, N = {size}"
    network = load_agent(run_dir)
    config = load_config(run_dir)
    task = make_task(config.env_ids[0])
    batch = task.sample_batch(16, np.random.default_rng(0), noise=False)
    inputs = torch.from_numpy(period_input(batch, "delay", trial=0))
    return network.cell, inputs, f"{run_dir} ({config.network.hidden_size} units), delay-period input"


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m mtrnn.benchmarks.fixed_points_speed", description=__doc__)
    parser.add_argument("--run-dir", default=None, help="a trained run directory (default: the planted network)")
    parser.add_argument("--size", type=int, default=256, help="units of the planted network (default 256)")
    parser.add_argument("--starts", type=int, default=1024, help="number of starts (default 1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of both (default 1)")
    parser.add_argument("--out", default=".", help="folder for fixed_points_speed.json (default: .)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):  # numpy's LAPACK too (torch.set_num_threads does not reach it)
        return _run(args)


def _run(args: argparse.Namespace) -> dict[str, object]:
    cell, inputs, description = _network(args.run_dir, args.size)
    for parameter in getattr(cell, "parameters", lambda: [])():
        parameter.requires_grad_(False)
    size = int(getattr(cell, "state_size", args.size))
    rng = np.random.default_rng(args.seed)
    starts = trajectory_starts(cell, inputs, size, args.starts, rng)
    per_start_inputs = inputs.expand(args.starts, -1).contiguous()

    # Warm-up of both on 8 starts and 5 iterations: one-time costs (autograd's and torch.func's first calls, lazy
    # imports) would otherwise fall on whichever runs first.
    warm = {**TOLERANCES, "max_iters": 5}
    find_fixed_points(cell, inputs, starts[:8], warn_fraction=1.0, **warm)
    baseline_fixed_points(cell, per_start_inputs[:8], starts[:8], **warm)  # type: ignore[arg-type]

    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    walls: dict[str, list[float]] = {"ours": [], "baseline": []}
    cpus: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(args.rounds):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        ours = find_fixed_points(cell, inputs, starts, **TOLERANCES)
        walls["ours"].append(time.perf_counter() - begin)
        cpus["ours"].append(time.process_time() - begin_cpu)

        begin, begin_cpu = time.perf_counter(), time.process_time()
        base = baseline_fixed_points(cell, per_start_inputs, starts, **TOLERANCES)  # type: ignore[arg-type]
        walls["baseline"].append(time.perf_counter() - begin)
        cpus["baseline"].append(time.process_time() - begin_cpu)
    ours_seconds, ours_cpu = float(np.median(walls["ours"])), float(np.median(cpus["ours"]))
    base_seconds, base_cpu = float(np.median(walls["baseline"])), float(np.median(cpus["baseline"]))
    ratios = np.array(walls["baseline"]) / np.array(walls["ours"])
    ratios_cpu = np.array(cpus["baseline"]) / np.array(cpus["ours"])

    stable_base = np.abs(base.eigenvalues).max(1) < 1 if len(base.eigenvalues) else None
    match = match_points(ours, base, tol=TOLERANCES["tol_unique"], stable_baseline=stable_base)
    # The true fixed points (q < 1e-10) on both sides; the rest are slow points, whose exact place is loose.
    fixed_base = base.q < 1e-10
    fixed_match = match_points(
        ours.select(ours.q < 1e-10),
        BaselineResult(base.states[fixed_base], base.q[fixed_base], base.eigenvalues[fixed_base], 0, {}),
        tol=TOLERANCES["tol_unique"],
        stable_baseline=None if stable_base is None else stable_base[fixed_base],
    )
    result: dict[str, object] = {
        "network": description,
        "starts": args.starts,
        "tolerances": TOLERANCES,
        "ours_seconds": ours_seconds,
        "ours_cpu_seconds": ours_cpu,
        "ours_phases": asdict(ours.report.seconds),
        "ours_points": len(ours),
        "ours_report": ours.report.summary(),
        "ours_max_q": float(ours.q.max()) if len(ours) else None,
        "baseline_seconds": base_seconds,
        "baseline_cpu_seconds": base_cpu,
        "baseline_phases": base.seconds,
        "baseline_iterations": base.iterations,
        "baseline_points": len(base.states),
        "baseline_max_q": float(base.q.max()) if len(base.q) else None,
        "rounds": args.rounds,
        "ours_seconds_per_round": walls["ours"],
        "ours_cpu_seconds_per_round": cpus["ours"],
        "baseline_seconds_per_round": walls["baseline"],
        "baseline_cpu_seconds_per_round": cpus["baseline"],
        "speedup": float(np.median(ratios)),
        "speedup_range": [float(ratios.min()), float(ratios.max())],
        "speedup_cpu": float(np.median(ratios_cpu)),
        "speedup_cpu_range": [float(ratios_cpu.min()), float(ratios_cpu.max())],
        "match": asdict(match),
        "match_fixed_points_q_below_1e-10": asdict(fixed_match),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 torch thread (shared, loaded machine)",
    }
    print(json.dumps(result, indent=2))
    print(
        f"median of {args.rounds} rounds: ours {ours_seconds:.1f} s (CPU {ours_cpu:.1f} s) vs baseline "
        f"{base_seconds:.1f} s (CPU {base_cpu:.1f} s): {np.median(ratios):.1f}x faster wall-clock (range "
        f"{ratios.min():.1f}-{ratios.max():.1f}), {np.median(ratios_cpu):.1f}x in CPU time (range "
        f"{ratios_cpu.min():.1f}-{ratios_cpu.max():.1f}); phases of our last round (s): "
        + ", ".join(f"{name} {value:.2f}" for name, value in asdict(ours.report.seconds).items())
        + "; "
        f"all points: {match.baseline_matched}/{match.n_baseline} baseline points within tol_unique of ours "
        f"(max distance {match.baseline_to_ours_max:.2e}), {match.ours_matched}/{match.n_ours} of ours matched; "
        f"fixed points (q < 1e-10): {fixed_match.baseline_matched}/{fixed_match.n_baseline} baseline and "
        f"{fixed_match.ours_matched}/{fixed_match.n_ours} ours matched, max distance "
        f"{fixed_match.baseline_to_ours_max:.2e}"
    )
    out = Path(args.out)
    atomic_write_text(out / "fixed_points_speed.json", json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
