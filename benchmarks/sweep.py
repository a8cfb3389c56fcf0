"""Sweeps: seeds × tasks × architectures × hyperparameters, each cell a run directory, on a local process pool or
on Ray.

Every cell trains one :class:`~mtrnn.agents.TrainConfig` into ``<out>/<cell name>/`` (a normal run directory) and
then evaluates the run on the frozen test sets of its evaluation ids (:func:`mtrnn.agents.evaluate`), writing
``results.json`` there. A cell whose ``results.json`` exists and validates is finished and never redone; a cell
with a checkpoint but no results continues from its checkpoint (the trainer's resume is exact), so an interrupted
sweep picks up where it stopped. Cells train with one torch thread and every random stream is derived from the
cell's seed, so a cell's numbers do not depend on where it ran: the local pool and Ray give the same table.

    python -m mtrnn.benchmarks.sweep --out sweeps/demo --task mtrnn/DelayGo-v0 --task mtrnn/DelayAnti-v0 \\
        --architecture leaky_rnn:tanh --architecture gru --seeds 0 1 2 --hidden-size 64 128 --max-steps 500
    python -m mtrnn.benchmarks.sweep ... --backend ray --address auto      # on a running Ray cluster

On a cluster, mtrnn must be installed on every node (or shipped with a Ray ``runtime_env``), and ``--out`` must be
a folder every node can write (a shared file system).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mtrnn.agents import Activation, Architecture, NetworkConfig, TrainConfig, Trainer, evaluate
from mtrnn.agents.evaluation import EvaluationResults, ResultsError, load_results, save_results
from mtrnn.agents.rundir import RunDir, atomic_write_text

__all__ = [
    "RESULTS_FILE",
    "Backend",
    "Cell",
    "SweepOutcome",
    "cell_finished",
    "grid",
    "main",
    "network_label",
    "parse_architecture",
    "run_cell",
    "run_sweep",
]

#: The results file every finished cell holds.
RESULTS_FILE = "results.json"


class Backend(enum.Enum):
    """Where the cells run."""

    LOCAL = "local"
    """A local process pool (``workers`` processes; in this process when ``workers`` <= 1)."""
    RAY = "ray"
    """Ray tasks (``ray.init(address=...)``; one CPU per cell): a local Ray or a cluster."""


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep.

    Attributes:
        name: the run directory relative to the sweep folder (``<label>/<group>/seed<k>[/<hyper>]``).
        label: the agent's name in tables (architecture and hyperparameters, not the seed).
        group: the training group (``"DelayGo"``, ``"yang20"``…).
        config: the training config (``out_dir`` is the cell's run directory).
        eval_ids: the ids the trained run is evaluated on.
        eval_trials: first trials of each frozen test set used (None: all).
    """

    name: str
    label: str
    group: str
    config: TrainConfig
    eval_ids: tuple[str, ...]
    eval_trials: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "group": self.group,
            "config": self.config.to_dict(),
            "eval_ids": list(self.eval_ids),
            "eval_trials": self.eval_trials,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(
            name=data["name"],
            label=data["label"],
            group=data["group"],
            config=TrainConfig.from_dict(data["config"]),
            eval_ids=tuple(data["eval_ids"]),
            eval_trials=data["eval_trials"],
        )

    @property
    def run_dir(self) -> Path:
        assert self.config.out_dir is not None
        return Path(self.config.out_dir)


def parse_architecture(text: str) -> NetworkConfig:
    """``leaky_rnn:tanh``, ``leaky_rnn:relu``, ``leaky_rnn:softplus``, ``gru`` or ``lstm`` -> a NetworkConfig."""
    name, _, activation = text.partition(":")
    try:
        architecture = Architecture(name)
    except ValueError as error:
        raise ValueError(
            f"architecture must be one of {[a.value for a in Architecture]} (leaky_rnn:<activation>), got {text!r}"
        ) from error
    if activation:
        if architecture is not Architecture.LEAKY_RNN:
            raise ValueError(f"architecture {text!r}: only leaky_rnn takes an activation")
        try:
            return NetworkConfig(architecture=architecture, activation=Activation(activation))
        except ValueError as error:
            raise ValueError(
                f"architecture {text!r}: activation must be one of {[a.value for a in Activation]}"
            ) from error
    return NetworkConfig(architecture=architecture)


def network_label(network: NetworkConfig) -> str:
    """``leaky-tanh``, ``gru``, ``lstm``… (hidden size left out)."""
    if network.architecture is Architecture.LEAKY_RNN:
        return f"leaky-{network.activation.value}"
    return network.architecture.value


def grid(
    out: str | os.PathLike[str],
    *,
    groups: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]],
    networks: Sequence[NetworkConfig],
    seeds: Sequence[int],
    base: TrainConfig | Callable[[str], TrainConfig] | None = None,
    hyper: Mapping[str, Sequence[Any]] | None = None,
    eval_trials: int | None = None,
) -> list[Cell]:
    """Every combination of group × network × hyperparameters × seed as a :class:`Cell`.

    Args:
        out: the sweep folder.
        groups: ``{group name: (train ids, eval ids)}``.
        networks: the architectures (their ``hidden_size`` is overridden by ``hyper["hidden_size"]`` if given).
        seeds: training seeds (every random stream of a run derives from it).
        base: the training config every cell starts from, or ``group -> config`` (recipes per group); None:
            ``TrainConfig()``.
        hyper: ``{TrainConfig or NetworkConfig field: values}``; every combination is a cell.
        eval_trials: trials of each frozen test set used (None: all).
    """
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    hyper = dict(hyper or {})
    network_fields = {f.name for f in dataclasses.fields(NetworkConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in hyper:
        if key not in network_fields | train_fields or key in ("network", "env_ids", "out_dir", "seed"):
            raise ValueError(f"hyper has unknown or reserved field {key!r}; allowed: TrainConfig/NetworkConfig fields")
    keys = sorted(hyper)
    cells = []
    for group, (train_ids, eval_ids) in groups.items():
        start = base(group) if callable(base) else (base or TrainConfig())
        for network, values, seed in itertools.product(networks, itertools.product(*(hyper[k] for k in keys)), seeds):
            chosen = dict(zip(keys, values, strict=True))
            net_changes = {k: v for k, v in chosen.items() if k in network_fields}
            train_changes = {k: v for k, v in chosen.items() if k not in network_fields}
            merged = dataclasses.replace(
                start.network,
                architecture=network.architecture,
                activation=network.activation,
                **net_changes,
            )
            label = network_label(merged) + "".join(f"-{k}={v}" for k, v in sorted(train_changes.items()))
            label += "".join(f"-{k}={v}" for k, v in sorted(net_changes.items()))
            name = f"{label}/{group}/seed{seed}"
            config = dataclasses.replace(
                start,
                env_ids=tuple(train_ids),
                network=merged,
                seed=int(seed),
                out_dir=str(Path(out) / name),
                threads=1,
                prefetch=0,
                **train_changes,
            )
            cells.append(Cell(name, label, group, config, tuple(eval_ids), eval_trials))
    return cells


def cell_finished(cell: Cell) -> bool:
    """Whether the cell's ``results.json`` exists and validates."""
    path = cell.run_dir / RESULTS_FILE
    if not path.exists():
        return False
    try:
        load_results(path)
    except ResultsError:
        return False
    return True


def run_cell(data: Mapping[str, Any]) -> dict[str, Any]:
    """Train (or continue) one cell and evaluate it; returns ``{"name", "skipped"}``. Takes and returns plain
    dicts so that any backend can ship it."""
    cell = Cell.from_dict(data)
    if cell_finished(cell):
        return {"name": cell.name, "skipped": True}
    run = RunDir(cell.run_dir)
    if run.file(RunDir.CHECKPOINT).exists() and run.file(RunDir.CONFIG).exists():
        trainer = Trainer.resume(run.path, report=False)
    else:
        trainer = Trainer(cell.config, overwrite=True, report=False)
    trainer.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(cell.config.num_threads)
    try:
        results = evaluate(str(run.path), cell.eval_ids, n_trials=cell.eval_trials, isolate=False, name=cell.label)
    finally:
        torch.set_num_threads(threads)
    save_results(results, run.path / RESULTS_FILE)
    return {"name": cell.name, "skipped": False}


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: the cells it ran and those it found finished."""

    ran: tuple[str, ...]
    skipped: tuple[str, ...]

    def results(self, cells: Iterable[Cell]) -> dict[str, EvaluationResults]:
        """``{cell name: results}`` of finished cells."""
        return {c.name: load_results(c.run_dir / RESULTS_FILE) for c in cells if cell_finished(c)}


def _run_local(payload: list[dict[str, Any]], workers: int, bar: tqdm) -> list[dict[str, Any]]:
    if workers <= 1:
        done = []
        for data in payload:
            done.append(run_cell(data))
            bar.update()
        return done
    done = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, data) for data in payload]
        for future in as_completed(futures):
            done.append(future.result())
            bar.update()
    return done


def _run_ray(payload: list[dict[str, Any]], address: str | None, bar: tqdm) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as error:
        raise ImportError("backend 'ray' needs Ray: pip install 'mtrnn[ray]'") from error
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_cell)
    pending = [remote.remote(data) for data in payload]
    done = []
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        done.extend(ray.get(finished))
        bar.update(len(finished))
    return done


def run_sweep(
    cells: Sequence[Cell],
    *,
    backend: Backend = Backend.LOCAL,
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
) -> SweepOutcome:
    """Run every unfinished cell (finished ones are skipped) on ``backend``.

    Args:
        cells: from :func:`grid`.
        backend: :class:`Backend` (local process pool or Ray).
        workers: local processes (>= 1; 1 runs the cells in this process). Ray uses the cluster's CPUs.
        address: Ray's ``address`` (``"auto"`` for a running cluster; None starts a local Ray, or reuses the
            one this process already started with ``ray.init``).
        progress: show a tqdm bar.
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"backend must be a Backend ({[b.value for b in Backend]}), got {backend!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise ValueError("cells must have distinct names")
    todo = [c for c in cells if not cell_finished(c)]
    skipped = tuple(c.name for c in cells if c not in todo)
    with tqdm(total=len(cells), initial=len(skipped), desc="sweep", disable=not progress) as bar:
        payload = [c.to_dict() for c in todo]
        if backend is Backend.RAY:
            _run_ray(payload, address, bar)
        else:
            _run_local(payload, workers, bar)
    return SweepOutcome(tuple(c.name for c in todo), skipped)


def summary_table(cells: Sequence[Cell]) -> str:
    """A markdown table: one row per finished cell, one column per evaluated id (percent correct)."""
    results = {c.name: load_results(c.run_dir / RESULTS_FILE) for c in cells if cell_finished(c)}
    ids = sorted({t.env_id for r in results.values() for t in r.tasks})
    lines = ["| cell | " + " | ".join(i.removeprefix("mtrnn/") for i in ids) + " |", "|---" * (len(ids) + 1) + "|"]
    for name, result in sorted(results.items()):
        values = {t.env_id: t.performance for t in result.tasks}
        cells_text = [("—" if values.get(i) is None else f"{100 * values[i]:.1f}") for i in ids]
        lines.append(f"| {name} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtrnn.benchmarks.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="sweep folder (one run directory per cell)")
    parser.add_argument("--task", action="append", required=True, metavar="ID", help="train and evaluate on ID")
    parser.add_argument("--architecture", action="append", default=None, help="leaky_rnn:tanh, gru, lstm…")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--hidden-size", type=int, nargs="+", default=[128])
    parser.add_argument("--learning-rate", type=float, nargs="+", default=[1e-3])
    parser.add_argument("--max-steps", type=int, default=1000, help="training budget per cell (updates)")
    parser.add_argument("--eval-trials", type=int, default=None, help="trials of each frozen test set (default all)")
    parser.add_argument("--backend", choices=[b.value for b in Backend], default=Backend.LOCAL.value)
    parser.add_argument("--address", default=None, help="Ray address (e.g. auto); default: a local Ray")
    parser.add_argument("--workers", type=int, default=1, help="local processes")
    args = parser.parse_args(argv)
    networks = [parse_architecture(a) for a in (args.architecture or ["leaky_rnn:tanh"])]
    groups = {task.removeprefix("mtrnn/"): ((task,), (task,)) for task in args.task}
    base = TrainConfig(max_steps=args.max_steps)
    hyper = {"hidden_size": args.hidden_size, "learning_rate": args.learning_rate}
    cells = grid(
        args.out,
        groups=groups,
        networks=networks,
        seeds=args.seeds,
        base=base,
        hyper=hyper,
        eval_trials=args.eval_trials,
    )
    outcome = run_sweep(cells, backend=Backend(args.backend), workers=args.workers, address=args.address)
    table = summary_table(cells)
    atomic_write_text(Path(args.out) / "sweep.md", table)
    atomic_write_text(Path(args.out) / "cells.json", json.dumps([c.to_dict() for c in cells], indent=1) + "\n")
    print(table)
    print(f"ran {len(outcome.ran)} cells, skipped {len(outcome.skipped)} finished ones; table in {args.out}/sweep.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
