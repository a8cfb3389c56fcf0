"""Batch generation and ``env.step`` speed: mtrnn's tasks against neurogym's, measured in the same run.

``python -m mtrnn.benchmarks.envs_speed`` (needs the ``neurogym`` extra) measures, with one torch thread:

* **Batches**: ``DelayMatchToSample(n_locations=2)`` with a 1000 ms delay (200 + 400 + 1000 + 400 = 2000 ms)
  against ``neurogym.Dataset("DelayMatchSample-v0")`` with periods 200 + 400 + 600 + 400 + 400 = 2000 ms; both
  have 3 inputs and 3 actions. At ``dt = 20`` ms a trial is 100 steps (batch 64), at ``dt = 4`` ms 500 steps
  (batch 256); neurogym's ``seq_len`` is the trial length, so each column of either batch is one trial.
  Ours with ``noise=False`` (noise-free inputs; the consumer adds ``input_noise_std`` itself, e.g. in torch)
  and ``noise=True`` (numpy adds it); neurogym's env adds its own stimulus noise. Throughput is
  samples·steps per second; a timed block spans whole neurogym cache cycles (``Dataset`` refills its cache
  every few calls).
* **Gaussian ceiling**: numpy's ``standard_normal(float32)`` in floats per second (and torch's ``randn`` for
  reference). Divided by ``n_in`` it bounds any batch generator that draws its input noise in numpy.
* **env.step**: an always-fixate policy on our unwrapped env (trials back to back as neurogym plays them, and
  one trial per episode with ``reset``) against neurogym's unwrapped ``DelayMatchSample-v0`` with the same
  timing, at ``dt = 20`` ms (100-step trials) and ``dt = 80`` ms (24-step trials, like neurogym's defaults).
  Steps per second include drawing each new trial.
* **Yang et al. 2019** (section of its own): ``mtrnn/Yang19-DelayAnti-v0`` batches (85 inputs, per-trial timing,
  padded; noise off/on) and the 20-rule mixture ``mtrnn/Yang19-v0`` against ``neurogym.Dataset("yang19.dlyanti-v0",
  env_kwargs={"dt": 20}, seq_len=170, cache_len=1)`` at B = 64 and 256; and the trials per second of scoring a
  256-trial Yang-20 mixture batch (all rules in one batch) against one component scoring its own batch.

Contenders take turns in rounds, so background load hits all alike; the reported throughput is the median over
rounds and each ratio the median over rounds of ``ours / neurogym`` in the same round. The tables are printed
and written atomically to ``--out`` (default ``envs_speed.md`` in the working directory; the stored run is
``benchmarks/results/envs_speed.md``).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from mtrnn.benchmarks.neurogym_cli import parse_turn_taking
from mtrnn.envs import DelayMatchToSample, Fixed, NeurogymTask, TrialEnv, make_task
from mtrnn.envs.io import atomic_write_text

__all__ = [
    "SIZES",
    "YANG_BATCHES",
    "YANG_NOISE_FLOOR",
    "YANG_WRITE_FLOOR",
    "BatchSize",
    "Measurement",
    "format_yang_report",
    "main",
    "measure_batches",
    "measure_gaussian",
    "measure_mixture_scoring",
    "measure_steps",
    "measure_yang_batches",
]

#: Where the tables go by default: the working directory, never the installed package.
DEFAULT_OUT = Path("envs_speed.md")

#: Trial length of both tasks (ms).
TRIAL_MS = 2000.0
#: neurogym DelayMatchSample periods (ms), 2000 ms in all.
NEUROGYM_TIMING = {"fixation": 200, "sample": 400, "delay": 600, "test": 400, "decision": 400}
#: Time steps (ms) of the env.step comparison: 100-step trials (as the small batches) and 24-step ones (the
#: length of neurogym's default trials, where its cheaper trial generation weighs most).
STEP_DTS = (20.0, 80.0)
#: Goals: noise-free batches / neurogym, noisy batches / neurogym, env.step / neurogym.
GOALS = {"noise-free batches": 30.0, "noisy batches": 2.0, "env.step": 1.0}


@dataclass(frozen=True)
class BatchSize:
    """One batch shape: ``batch`` trials of ``steps`` steps (``dt`` ms each)."""

    batch: int
    """Trials per batch ``B``."""
    steps: int
    """Steps per trial ``T``."""

    @property
    def dt(self) -> float:
        """Time step (ms) that makes a 2000 ms trial ``steps`` long."""
        return TRIAL_MS / self.steps


SIZES = (BatchSize(64, 100), BatchSize(256, 500))


@dataclass(frozen=True)
class Measurement:
    """Per-round throughputs of one contender."""

    name: str
    """Row label."""
    per_round: tuple[float, ...]
    """Work units per second in each round."""

    @property
    def median(self) -> float:
        """Median throughput over rounds."""
        return statistics.median(self.per_round)

    def ratio(self, peer: Measurement) -> float:
        """Median over rounds of ``self / peer`` (same rounds)."""
        return statistics.median(a / b for a, b in zip(self.per_round, peer.per_round, strict=True))


def _throughput(fn: Callable[[], object], work: float, seconds: float, multiple: int = 1) -> float:
    """Work units per second of ``fn``, called in blocks of ``multiple`` calls for at least ``seconds``."""
    calls = 0
    start = time.perf_counter()
    while True:
        for _ in range(multiple):
            fn()
        calls += multiple
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return work * calls / elapsed


def _turns(contenders: Sequence[tuple[str, Callable[[], float]]], rounds: int) -> list[Measurement]:
    """Run every contender once per round (after one warm-up round), rotating who goes first."""
    for _, run in contenders:
        run()
    results: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for r in range(rounds):
        for k in range(len(contenders)):
            name, run = contenders[(k + r) % len(contenders)]
            results[name].append(run())
    return [Measurement(name, tuple(results[name])) for name, _ in contenders]


def _our_task(size: BatchSize) -> DelayMatchToSample:
    return DelayMatchToSample(n_locations=2, dt=size.dt, timing={"delay": Fixed(1000.0)})


def measure_batches(size: BatchSize, rounds: int, seconds: float) -> dict[str, Measurement]:
    """Samples·steps per second of our ``sample_batch`` (noise off/on) and of ``neurogym.Dataset``."""
    import neurogym

    task = _our_task(size)
    rng = np.random.default_rng(0)
    probe = task.sample_batch(size.batch, rng)
    env = NeurogymTask("DelayMatchSample-v0", dt=size.dt, timing=NEUROGYM_TIMING).env
    dataset = neurogym.Dataset(env, batch_size=size.batch, seq_len=size.steps)
    inputs, _ = dataset()
    if probe.n_steps != size.steps or len(env.ob) != size.steps or inputs.shape != probe.inputs.shape:
        raise RuntimeError(f"batches differ: neurogym {inputs.shape}, ours {probe.inputs.shape}, T={size.steps}")
    # Dataset refills its cache every (cache_len / seq_len - 1) calls: time whole cycles
    cycle = max(1, dataset._cache_len // dataset.seq_len - 1)
    work = size.batch * size.steps

    def ours(noise: bool) -> Callable[[], float]:
        return lambda: _throughput(lambda: task.sample_batch(size.batch, rng, noise=noise), work, seconds)

    contenders = [
        ("neurogym.Dataset", lambda: _throughput(dataset, work, seconds, cycle)),
        ("mtrnn noise=False", ours(False)),
        ("mtrnn noise=True", ours(True)),
    ]
    return {m.name: m for m in _turns(contenders, rounds)}


def measure_gaussian(size: BatchSize, n_inputs: int, rounds: int, seconds: float) -> dict[str, Measurement]:
    """Floats per second of numpy's (and torch's, if imported) float32 Gaussian generator, batch-sized draws."""
    shape = (size.steps, size.batch, n_inputs)
    floats = float(np.prod(shape))
    rng = np.random.default_rng(0)
    contenders = [
        ("numpy standard_normal", lambda: _throughput(lambda: rng.standard_normal(shape, np.float32), floats, seconds))
    ]
    torch = sys.modules.get("torch")
    if torch is not None:
        generator = torch.Generator().manual_seed(0)
        contenders.append(
            ("torch randn", lambda: _throughput(lambda: torch.randn(shape, generator=generator), floats, seconds))
        )
    return {m.name: m for m in _turns(contenders, rounds)}


def _fixating(env: Any, episodic: bool) -> Callable[[], object]:
    """One step of the always-fixate policy (``reset`` when an episode ends)."""
    step, reset = env.step, env.reset
    if episodic:
        return lambda: step(0)[2] and reset()
    return lambda: step(0)


def measure_steps(dt: float, rounds: int, seconds: float) -> tuple[int, dict[str, Measurement]]:
    """Steps per second of an always-fixate policy: our unwrapped env vs neurogym's, same trial length.

    Returns the trial length in steps and the measurements.
    """
    theirs = NeurogymTask("DelayMatchSample-v0", dt=dt, timing=NEUROGYM_TIMING).env
    theirs.reset(seed=0)
    task = DelayMatchToSample(n_locations=2, dt=dt, timing={"delay": Fixed(1000.0)})
    streaming = TrialEnv(task, streaming=True)
    streaming.reset(seed=0)
    episodic = TrialEnv(task)
    episodic.reset(seed=0)
    if len(theirs.ob) != len(streaming.ob):
        raise RuntimeError(f"trial lengths differ: neurogym {len(theirs.ob)}, ours {len(streaming.ob)}")

    def play(env: Any, episodes: bool) -> Callable[[], float]:
        return lambda: _throughput(_fixating(env, episodes), 1.0, seconds, 1000)

    contenders = [
        ("neurogym DelayMatchSample-v0", play(theirs, False)),
        ("mtrnn, trials back to back (streaming=True)", play(streaming, False)),
        ("mtrnn, one trial per episode (reset each)", play(episodic, True)),
    ]
    return len(theirs.ob), {m.name: m for m in _turns(contenders, rounds)}


# ---------------------------------------------------------------------------------------- Yang et al. 2019
#: Batch sizes of the Yang comparison.
YANG_BATCHES = (64, 256)
#: Goals of the Yang pair (mtrnn/Yang19-DelayAnti-v0 vs neurogym yang19.dlyanti-v0): noise-free, noisy batches.
YANG_GOALS = {"Yang noise-free batches": 30.0, "Yang noisy batches": 2.0}
#: Reference rows (not generators): writing a batch's four fresh arrays, and numpy drawing its input noise alone.
YANG_WRITE_FLOOR = "floor: write fresh inputs, targets, mask, labels (np.full)"
YANG_NOISE_FLOOR = "floor: numpy float32 Gaussians of the noise alone"


def _varying_throughput(fn: Callable[[], float], seconds: float) -> float:
    """Work units per second of ``fn``, which returns the work it did, called for at least ``seconds``."""
    work = 0.0
    start = time.perf_counter()
    while True:
        work += fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return work / elapsed


def measure_yang_batches(batch: int, rounds: int, seconds: float) -> dict[str, Measurement]:
    """Samples·steps per second: ``mtrnn/Yang19-DelayAnti-v0`` batches (noise off/on), the 20-rule mixture
    ``mtrnn/Yang19-v0`` (one rule per batch, Yang's weights), and ``neurogym.Dataset("yang19.dlyanti-v0",
    env_kwargs={"dt": 20}, seq_len=T, cache_len=1)`` with ``T`` our longest trial (170 steps).

    Our batches are trial-aligned and padded to their longest trial; their work is ``B × n_steps`` of each
    batch (padding included). neurogym's is ``B × T``.

    Two reference rows bound what any generator of these batches can reach here (their ratio to neurogym is the
    most a generator could score): :data:`YANG_WRITE_FLOOR` writes the four fresh ``T``-step arrays of a batch and
    nothing else, :data:`YANG_NOISE_FLOOR` draws the ``n_valid × n_in`` float32 Gaussians of a noisy batch with
    numpy's generator (the draws ``noise=True`` makes) and nothing else.
    """
    import warnings

    import neurogym

    task = make_task("mtrnn/Yang19-DelayAnti-v0")
    mixture = make_task("mtrnn/Yang19-v0")
    steps = task.max_steps
    with warnings.catch_warnings():  # neurogym's own gym.make on metadata without render_modes
        warnings.filterwarnings("ignore", message=".*render_modes")
        dataset = neurogym.Dataset(
            "yang19.dlyanti-v0", env_kwargs={"dt": 20}, batch_size=batch, seq_len=steps, cache_len=1
        )
    inputs, _ = dataset()
    if inputs.shape[:2] != (steps, batch):
        raise RuntimeError(f"neurogym batch has shape {inputs.shape}, expected ({steps}, {batch}, ·)")
    rng = np.random.default_rng(0)

    def ours(source: Any, noise: bool) -> Callable[[], float]:
        def one() -> float:
            sampled = source.sample_batch(batch, rng, noise=noise)
            return float(sampled.batch_size * sampled.n_steps)

        return lambda: _varying_throughput(one, seconds)

    # floors of any generator of these batches on this machine: writing the four fresh arrays of a T-step batch,
    # and (noisy) drawing the float32 Gaussians of its valid steps with numpy (the draws ours makes)
    shapes = [(steps, batch, task.n_inputs), (steps, batch, task.n_outputs), (steps, batch, task.n_outputs)]
    probe = task.sample_batch(batch, np.random.default_rng(1), noise=False)
    n_noise = int(np.count_nonzero(probe.valid)) * task.n_inputs
    noise_rng = np.random.default_rng(1)

    def write() -> None:
        for shape in shapes:
            np.full(shape, 1.0, dtype=np.float32)
        np.full((steps, batch), 1, dtype=np.int64)

    contenders = [
        ("neurogym.Dataset yang19.dlyanti-v0", lambda: _throughput(dataset, batch * steps, seconds)),
        ("mtrnn Yang19-DelayAnti noise=False", ours(task, False)),
        ("mtrnn Yang19-DelayAnti noise=True", ours(task, True)),
        ("mtrnn Yang19-v0 mixture noise=False", ours(mixture, False)),
        ("mtrnn Yang19-v0 mixture noise=True", ours(mixture, True)),
        (YANG_WRITE_FLOOR, lambda: _throughput(write, batch * steps, seconds)),
        (
            YANG_NOISE_FLOOR,
            lambda: _throughput(
                lambda: noise_rng.standard_normal(n_noise, dtype=np.float32), probe.batch_size * probe.n_steps, seconds
            ),
        ),
    ]
    return {m.name: m for m in _turns(contenders, rounds)}


def measure_mixture_scoring(batch: int, rounds: int, seconds: float) -> dict[str, Measurement]:
    """Trials scored per second: a ``Yang19Mixture(mix_within_batch=True)`` batch (all 20 rules in one batch,
    each trial scored by its own rule) against one component (``Yang19-DelayAnti``) scoring a batch alone."""
    from mtrnn.envs.yang19 import Yang19Mixture

    mixture = Yang19Mixture(mix_within_batch=True)
    mixed = mixture.sample_batch(batch, np.random.default_rng(0), noise=False)
    single = make_task("mtrnn/Yang19-DelayAnti-v0")
    alone = single.sample_batch(batch, np.random.default_rng(0), noise=False)
    contenders = [
        (
            "one component (Yang19-DelayAnti) score",
            lambda: _throughput(lambda: single.score(alone.targets, alone), batch, seconds),
        ),
        (
            "Yang-20 mixture score (rule per trial)",
            lambda: _throughput(lambda: mixture.score(mixed.targets, mixed), batch, seconds),
        ),
        (
            "Yang-20 mixture score_by_component",
            lambda: _throughput(lambda: mixture.score_by_component(mixed.targets, mixed), batch, seconds),
        ),
    ]
    return {m.name: m for m in _turns(contenders, rounds)}


def format_yang_report(
    batches: dict[int, dict[str, Measurement]], scoring: dict[str, Measurement], batch: int
) -> tuple[str, dict[str, float]]:
    """Markdown tables of the Yang rows and the worst ratio per Yang goal."""
    peer_name = "neurogym.Dataset yang19.dlyanti-v0"
    worst = dict.fromkeys(YANG_GOALS, float("inf"))
    lines = [
        "### Yang et al. 2019 batches vs neurogym (samples·steps per second, median over rounds)",
        "",
        "| B | mtrnn row | samples·steps/s | vs neurogym.Dataset yang19.dlyanti-v0 (range over rounds) |",
        "|---|---|---|---|",
    ]
    for size, rows in batches.items():
        peer = rows[peer_name]
        lines.append(f"| {size} | neurogym.Dataset yang19.dlyanti-v0 (T = 170) | {_si(peer.median)} | 1× |")
        for name, measurement in rows.items():
            if measurement is peer:
                continue
            ratio = measurement.ratio(peer)
            if name == "mtrnn Yang19-DelayAnti noise=False":
                worst["Yang noise-free batches"] = min(worst["Yang noise-free batches"], ratio)
            if name == "mtrnn Yang19-DelayAnti noise=True":
                worst["Yang noisy batches"] = min(worst["Yang noisy batches"], ratio)
            each = [a / b for a, b in zip(measurement.per_round, peer.per_round, strict=True)]
            lines.append(
                f"| {size} | {name} | {_si(measurement.median)} | {ratio:.1f}× ({min(each):.1f}–{max(each):.1f}) |"
            )
    lines += [
        "",
        "The two floor rows are no generators: their ratio is the most any generator of these batches could reach "
        "on this machine (writing the arrays alone; drawing the noise alone).",
    ]
    lines += ["", f"### Scoring {batch} trials (trials per second)", "", "| what | trials/s | vs one component |"]
    lines.append("|---|---|---|")
    one = scoring["one component (Yang19-DelayAnti) score"]
    for name, measurement in scoring.items():
        lines.append(f"| {name} | {_si(measurement.median)} | {measurement.ratio(one):.2f}× |")
    lines += ["", "### Yang goals (worst ratio over B = 64, 256)", "", "| goal | needed | measured | met |"]
    lines.append("|---|---|---|---|")
    for goal, needed in YANG_GOALS.items():
        lines.append(
            f"| {goal} vs neurogym | ≥ {needed:g}× | {worst[goal]:.2f}× | {'yes' if worst[goal] >= needed else 'no'} |"
        )
    return "\n".join(lines), worst


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g}"


def format_report(
    batches: dict[BatchSize, dict[str, Measurement]],
    gaussians: dict[BatchSize, dict[str, Measurement]],
    steps: dict[int, dict[str, Measurement]],
    n_inputs: int,
) -> tuple[str, dict[str, float]]:
    """Markdown tables and the worst ratio per goal (env.step: on trials as long as the small batches')."""
    worst = dict.fromkeys(GOALS, float("inf"))
    lines = [
        "### Batches (samples·steps per second, median over rounds)",
        "",
        "| B × T | neurogym.Dataset | mtrnn noise=False | ratio | mtrnn noise=True | ratio | "
        "Gaussian ceiling | noise=True / ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, rows in batches.items():
        peer, clean, noisy = rows["neurogym.Dataset"], rows["mtrnn noise=False"], rows["mtrnn noise=True"]
        gauss = gaussians[size]["numpy standard_normal"]
        ceiling = gauss.median / n_inputs
        worst["noise-free batches"] = min(worst["noise-free batches"], clean.ratio(peer))
        worst["noisy batches"] = min(worst["noisy batches"], noisy.ratio(peer))
        lines.append(
            f"| {size.batch} × {size.steps} | {_si(peer.median)} | {_si(clean.median)} | {clean.ratio(peer):.1f}× | "
            f"{_si(noisy.median)} | {noisy.ratio(peer):.1f}× | {_si(ceiling)} | {noisy.median / ceiling:.2f} |"
        )
    lines += ["", "### Gaussian generators (float32 floats per second, batch-sized draws)", ""]
    lines += ["| generator | B × T × n_in | floats/s |", "|---|---|---|"]
    for size, rows in gaussians.items():
        for name, measurement in rows.items():
            lines.append(f"| {name} | {size.batch} × {size.steps} × {n_inputs} | {_si(measurement.median)} |")
    lines += ["", "### env.step (steps per second, always fixate policy)", ""]
    lines += ["| env (unwrapped) | steps per trial | steps/s | ratio |", "|---|---|---|---|"]
    for length, rows in steps.items():
        peer = rows["neurogym DelayMatchSample-v0"]
        for name, measurement in rows.items():
            ratio = measurement.ratio(peer)
            if measurement is not peer and length == SIZES[0].steps:
                worst["env.step"] = min(worst["env.step"], ratio)
            lines.append(f"| {name} | {length} | {_si(measurement.median)} | {ratio:.2f}× |")
    lines += [
        "",
        "### Goals (worst ratio over batch sizes and env modes; env.step on 100-step trials)",
        "",
        "| goal | needed | measured | met |",
        "|---|---|---|---|",
    ]
    for goal, needed in GOALS.items():
        lines.append(
            f"| {goal} vs neurogym | ≥ {needed:g}× | {worst[goal]:.2f}× | {'yes' if worst[goal] >= needed else 'no'} |"
        )
    return "\n".join(lines), worst


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run, print and write the tables."""
    args, neurogym = parse_turn_taking(argv, __doc__.splitlines()[0], DEFAULT_OUT)
    torch = sys.modules.get("torch")
    load = os.getloadavg()[0]
    n_inputs = _our_task(SIZES[0]).n_inputs
    batches = {size: measure_batches(size, args.rounds, args.seconds) for size in SIZES}
    gaussians = {size: measure_gaussian(size, n_inputs, args.rounds, args.seconds) for size in SIZES}
    steps = dict(measure_steps(dt, args.rounds, args.seconds) for dt in STEP_DTS)
    tables, _ = format_report(batches, gaussians, steps, n_inputs)
    yang = {size: measure_yang_batches(size, args.rounds, args.seconds) for size in YANG_BATCHES}
    scoring = measure_mixture_scoring(YANG_BATCHES[-1], args.rounds, args.seconds)
    yang_tables, _ = format_yang_report(yang, scoring, YANG_BATCHES[-1])
    tables += "\n\n" + yang_tables
    # env.step under a random and an always-fixate policy on Yang's delay-anti (benchmarks/envs_step_policies.py)
    from mtrnn.benchmarks.envs_step_policies import format_policy_report, measure_policies

    tables += "\n\n" + format_policy_report(measure_policies(args.rounds, args.seconds))[0]
    versions = f"numpy {np.__version__}, gymnasium {gymnasium.__version__}, neurogym {neurogym.__version__}"
    if torch is not None:
        versions += f", torch {torch.__version__} (1 thread)"
    header = (
        "# Batch generation and env.step: mtrnn vs neurogym\n\n"
        "Comparable tasks: mtrnn DelayMatchToSample (2 locations) vs neurogym DelayMatchSample-v0, both 2000 ms "
        "trials with 3 inputs and 3 actions; one trial per batch column. "
        f"{args.rounds} rounds of turn-taking after a warm-up round; throughput = median over rounds, "
        "ratio = median over rounds of mtrnn / neurogym in the same round.\n\n"
        f"{versions}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average at start {load:.2f}. Command: `python -m mtrnn.benchmarks.envs_speed`.\n\n"
    )
    print(tables)
    atomic_write_text(args.out, header + tables + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
