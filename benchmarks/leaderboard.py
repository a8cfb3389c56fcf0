"""``mtrnn-leaderboard``: train and evaluate the built-in baselines over the task suite, ingest submitted results,
and render ``LEADERBOARD.md`` with a heat map.

Baselines: leaky RNN (tanh, relu, softplus; Yang et al. 2019's network), GRU and LSTM, each trained per task
group × seed with the budget of the profile, then scored on the frozen test sets (:mod:`mtrnn.agents.evaluation`).
Groups: each of the four delay tasks trained alone (default recipe: cross-entropy on labels, Adam 1e-3, batch 64);
Yang-20 trained as the mixture ``mtrnn/Yang19-v0`` (Yang's recipe: sigmoid outputs, masked squared loss) and
scored on every rule and on the mixture; every other registered family (e.g. N-parity / N-DMS at their default N)
trained alone with the default recipe. A table cell is the mean over seeds (= the pooled fraction correct, equal
trials per seed) with the 95 % Wilson interval of the pooled trials; the mean row is the mean over tasks with a
normal-approximation 95 % interval (the tasks' binomial variances added). Submitted results files in
``benchmarks/submissions/`` are validated (schema, digest, frozen seeds, full trial counts); rejected ones are
listed with the reason.

    mtrnn-leaderboard --quick                 # a few minutes on a laptop CPU
    mtrnn-leaderboard --full --workers 8      # the published budget
    mtrnn-leaderboard --full --backend ray --address auto
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mtrnn.agents import Activation, Architecture, Loss, NetworkConfig, OutputActivation, TrainConfig
from mtrnn.agents.evaluation import (
    TEST_PROTOCOL,
    EvaluationResults,
    ResultsError,
    frozen_test_set,
    load_results,
    mtrnn_version,
    wilson_interval,
)
from mtrnn.agents.rundir import atomic_write_bytes, atomic_write_text
from mtrnn.benchmarks.sweep import RESULTS_FILE, Backend, Cell, grid, network_label, run_sweep
from mtrnn.envs import all_ids, make_task

__all__ = [
    "PROFILES",
    "Board",
    "Column",
    "Profile",
    "baseline_cells",
    "build_board",
    "main",
    "read_submissions",
    "render_heatmap",
    "render_markdown",
]

DELAY_IDS = (
    "mtrnn/DelayGo-v0",
    "mtrnn/DelayAnti-v0",
    "mtrnn/DelayMatchToSample-v0",
    "mtrnn/DelayAntiMatchToSample-v0",
)
YANG_MIXTURE = "mtrnn/Yang19-v0"
_Z = 1.959963984540054

#: The baseline networks.
BASELINES: tuple[NetworkConfig, ...] = (
    NetworkConfig(activation=Activation.TANH),
    NetworkConfig(activation=Activation.RELU),
    NetworkConfig(activation=Activation.SOFTPLUS),
    NetworkConfig(architecture=Architecture.GRU),
    NetworkConfig(architecture=Architecture.LSTM),
)


def yang_ids() -> tuple[str, ...]:
    """The 20 rule ids of Yang et al. 2019 and the mixture."""
    return (*(i for i in all_ids() if i.startswith("mtrnn/Yang19-") and i != YANG_MIXTURE), YANG_MIXTURE)


def suite_groups(other_families: bool = True) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """``{group: (train ids, eval ids)}``: the delay tasks alone, Yang-20 as a mixture, every other id alone."""
    groups: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        i.removeprefix("mtrnn/").removesuffix("-v0"): ((i,), (i,)) for i in DELAY_IDS
    }
    groups["yang20"] = ((YANG_MIXTURE,), yang_ids())
    if other_families:
        known = set(DELAY_IDS) | set(yang_ids())
        for env_id in all_ids():
            if env_id not in known:
                groups[env_id.removeprefix("mtrnn/").rsplit("-v", 1)[0]] = ((env_id,), (env_id,))
    return groups


@dataclass(frozen=True)
class Profile:
    """A training budget for every cell.

    Attributes:
        name: ``tiny`` (tests), ``quick`` or ``full``.
        seeds: training seeds per baseline and group.
        hidden_size: recurrent units of every baseline (``yang_hidden_size`` for Yang-20).
        max_steps: updates (batches of 64 trials) per cell, Yang-20 aside.
        yang_max_steps: updates for the Yang-20 mixture (0: leave Yang-20 out).
        yang_hidden_size: recurrent units for Yang-20.
        eval_trials: trials of each frozen test set (None: the full 1024).
        groups: restrict to these groups (None: the whole suite).
        baselines: labels of the :data:`BASELINES` to train (None: all of them).
    """

    name: str
    seeds: tuple[int, ...]
    hidden_size: int
    max_steps: int
    yang_max_steps: int
    yang_hidden_size: int
    eval_trials: int | None
    groups: tuple[str, ...] | None = None
    baselines: tuple[str, ...] | None = None

    def command(self) -> str:
        """The command that builds this profile's board."""
        groups = "" if self.groups is None else "".join(f" --group {g}" for g in self.groups)
        return f"mtrnn-leaderboard --{self.name}{groups}"

    def budget(self) -> str:
        """The training budget in words (printed in LEADERBOARD.md)."""
        text = (
            f"{self.max_steps} updates × 64 trials per cell ({self.hidden_size} units) for single tasks"
            + (
                f"; {self.yang_max_steps} updates × 64 trials ({self.yang_hidden_size} units) for the Yang-20 mixture"
                if self.yang_max_steps and (self.groups is None or "yang20" in self.groups)
                else ""
            )
            + f"; seeds {list(self.seeds)}; "
            + (f"first {self.eval_trials} trials" if self.eval_trials else "all trials")
            + " of each frozen test set"
            + ("" if self.groups is None else f"; groups {', '.join(self.groups)} only")
        )
        return text


PROFILES: Mapping[str, Profile] = {
    "tiny": Profile("tiny", (0,), 16, 20, 0, 16, 48, groups=("DelayGo", "DelayAnti"), baselines=("leaky-tanh", "gru")),
    "quick": Profile("quick", (0,), 64, 400, 400, 64, 256),
    "full": Profile("full", (0, 1, 2), 128, 3000, 30000, 256, None),
}


def _config(profile: Profile, group: str, train_ids: tuple[str, ...]) -> TrainConfig:
    """The recipe of a group: Yang's for Yang-20; the default one (cross-entropy on labels) otherwise, with
    ``τ`` = one time step (``α = 1``) for tasks outside the delay family (N-parity / N-DMS run at ``dt`` = 1 step,
    where the default τ of 100 ms would freeze a leaky network)."""
    if group == "yang20":
        network = NetworkConfig(hidden_size=profile.yang_hidden_size, output_activation=OutputActivation.SIGMOID)
        return TrainConfig(
            network=network, loss=Loss.MSE, max_steps=profile.yang_max_steps, eval_interval=10**6, eval_trials=32
        )
    network = NetworkConfig(hidden_size=profile.hidden_size)
    if not set(train_ids) <= set(DELAY_IDS):
        network = dataclasses.replace(network, tau=max(make_task(i).dt for i in train_ids))
    return TrainConfig(network=network, max_steps=profile.max_steps, eval_interval=10**6, eval_trials=32)


def baseline_cells(profile: Profile, runs: str | Path) -> list[Cell]:
    """Every baseline × group × seed cell of ``profile`` (run directories under ``runs``)."""
    groups = suite_groups()
    if profile.yang_max_steps == 0:
        groups.pop("yang20")
    if profile.groups is not None:
        groups = {g: groups[g] for g in profile.groups}
    cells: list[Cell] = []
    for group, ids in groups.items():
        cells += grid(
            runs,
            groups={group: ids},
            networks=[n for n in BASELINES if profile.baselines is None or network_label(n) in profile.baselines],
            seeds=profile.seeds,
            base=lambda g: _config(profile, g, groups[g][0]),
            eval_trials=profile.eval_trials,
        )
    return cells


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Entry:
    """One agent on one task: pooled counts over seeds (or a submission's counts)."""

    n_correct: int
    n_trials: int
    per_seed: tuple[float, ...] = ()

    @property
    def performance(self) -> float:
        return self.n_correct / self.n_trials

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.n_correct, self.n_trials)


@dataclass(frozen=True)
class Column:
    """One agent of the board: a baseline (mean over seeds) or a submission."""

    name: str
    source: str
    entries: Mapping[str, Entry]
    failures: Mapping[str, str]

    def mean(self, tasks: Sequence[str]) -> tuple[float, float, float] | None:
        """Mean over ``tasks`` with a normal-approximation 95 % interval; None unless every task has an entry."""
        if not tasks or any(t not in self.entries for t in tasks):
            return None
        values = [self.entries[t] for t in tasks]
        mean = float(np.mean([e.performance for e in values]))
        variance = sum(e.performance * (1 - e.performance) / e.n_trials for e in values) / len(values) ** 2
        half = _Z * math.sqrt(variance)
        return mean, max(0.0, mean - half), min(1.0, mean + half)


@dataclass(frozen=True)
class Board:
    """The leaderboard: tasks (rows) × agents (columns), and the submissions that were rejected."""

    tasks: tuple[str, ...]
    columns: tuple[Column, ...]
    rejected: tuple[tuple[str, str], ...]

    def table(self) -> str:
        """The markdown table (no dates: two boards from the same seeds give the same text)."""
        columns = sorted(self.columns, key=lambda c: (-(c.mean(self.tasks) or (-1.0,))[0], c.name))
        head = "| task | " + " | ".join(f"{c.name}<br><sub>{c.source}</sub>" for c in columns) + " |"
        lines = [head, "|---" + "|---:" * len(columns) + "|"]
        for task in self.tasks:
            cells = []
            for column in columns:
                entry = column.entries.get(task)
                if entry is not None:
                    low, high = entry.interval
                    cells.append(f"{100 * entry.performance:.1f} <sub>[{100 * low:.1f}, {100 * high:.1f}]</sub>")
                elif task in column.failures:
                    cells.append("failed")
                else:
                    cells.append("—")
            lines.append(f"| {task.removeprefix('mtrnn/')} | " + " | ".join(cells) + " |")
        means = []
        for column in columns:
            mean = column.mean(self.tasks)
            means.append(
                "—"
                if mean is None
                else f"**{100 * mean[0]:.1f}** <sub>[{100 * mean[1]:.1f}, {100 * mean[2]:.1f}]</sub>"
            )
        lines.append("| **mean** | " + " | ".join(means) + " |")
        return "\n".join(lines) + "\n"


def _column(name: str, source: str, results: Sequence[EvaluationResults]) -> Column:
    pooled: dict[str, list[tuple[int, int]]] = {}
    failures: dict[str, str] = {}
    for result in results:
        for task in result.tasks:
            if task.ok and task.n_correct is not None:
                pooled.setdefault(task.env_id, []).append((task.n_correct, task.n_trials))
            else:
                failures[task.env_id] = task.error or "failed"
    entries = {
        env_id: Entry(sum(k for k, _ in counts), sum(n for _, n in counts), tuple(k / n for k, n in counts))
        for env_id, counts in pooled.items()
        if env_id not in failures
    }
    return Column(name, source, entries, failures)


def read_submissions(folder: str | Path) -> tuple[list[tuple[Path, EvaluationResults]], list[tuple[str, str]]]:
    """Validate every ``*.json`` in ``folder``: ``(accepted, [(file name, why rejected)])``.

    A submission must validate (schema, digests, consistency), use the current test protocol, and for every task
    it reports as OK use the frozen seeds and the full trial count of that task version.
    """
    accepted, rejected = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            results = load_results(path)
        except ResultsError as error:
            rejected.append((path.name, str(error).removeprefix(f"{path}: ")))
            continue
        reason = None
        if results.test_protocol != TEST_PROTOCOL:
            reason = f"test_protocol is {results.test_protocol!r}, the leaderboard uses {TEST_PROTOCOL!r}"
        for index, task in enumerate(results.tasks):
            if reason is not None:
                break
            if task.env_id not in all_ids():
                reason = f"tasks[{index}].env_id {task.env_id!r} is not a registered id"
                break
            frozen = frozen_test_set(task.env_id)
            if task.first_seed != frozen.first_seed:
                reason = (
                    f"tasks[{index}].seeds.first is {task.first_seed}, the frozen set starts at {frozen.first_seed}"
                )
            elif task.n_trials != frozen.n_trials:
                reason = f"tasks[{index}].n_trials is {task.n_trials}, the leaderboard needs all {frozen.n_trials}"
        if reason is None:
            accepted.append((path, results))
        else:
            rejected.append((path.name, reason))
    return accepted, rejected


def build_board(cells: Sequence[Cell], submissions: str | Path | None = None) -> Board:
    """Collect the finished cells (a column per baseline label) and the accepted submissions into a :class:`Board`."""
    by_label: dict[str, list[EvaluationResults]] = {}
    tasks: list[str] = []
    for cell in cells:
        path = cell.run_dir / RESULTS_FILE
        if not path.exists():
            continue
        by_label.setdefault(cell.label, []).append(load_results(path))
        tasks += [t for t in cell.eval_ids if t not in tasks]
    columns = [_column(label, "baseline", results) for label, results in by_label.items()]
    rejected: list[tuple[str, str]] = []
    if submissions is not None and Path(submissions).is_dir():
        accepted, rejected = read_submissions(submissions)
        for path, results in accepted:
            name = f"{results.agent.name} {results.agent.version}".strip()
            columns.append(_column(name, f"submitted: {path.name}", [results]))
    return Board(tuple(tasks), tuple(columns), tuple(rejected))


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def render_markdown(board: Board, profile: Profile, *, picture: str | None, date: str, commit: str) -> str:
    """The whole LEADERBOARD.md."""
    lines = [
        "# mtrnn leaderboard",
        "",
        f"Profile **{profile.name}** · budget: {profile.budget()} · {date} · commit `{commit}` · "
        f"mtrnn {mtrnn_version()} · test protocol `{TEST_PROTOCOL}`.",
        "",
        "Percent correct on the frozen test sets (the same trials for every agent; `mtrnn-evaluate`). Baselines: "
        "mean over seeds with the 95 % Wilson interval of the pooled trials; **mean**: mean over tasks with a "
        "normal-approximation 95 % interval."
        + (f" Regenerate with `{profile.command()}`." if profile.name in ("quick", "full") else ""),
        "",
    ]
    if picture:
        lines += [f"![leaderboard heat map]({picture})", ""]
    lines += [board.table(), ""]
    lines += ["## Submissions", ""]
    accepted = [c for c in board.columns if c.source.startswith("submitted")]
    lines += [f"- accepted: {c.name} ({c.source.removeprefix('submitted: ')})" for c in accepted] or ["- none accepted"]
    lines += [f"- rejected: {name} — {why}" for name, why in board.rejected]
    return "\n".join(lines) + "\n"


def render_heatmap(board: Board, path: str | Path) -> None:
    """A PNG heat map: agents (rows) × tasks (columns), percent correct, with the values written in."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = sorted(board.columns, key=lambda c: (-(c.mean(board.tasks) or (-1.0,))[0], c.name))
    labels = [t.removeprefix("mtrnn/").removeprefix("Yang19-").removesuffix("-v0") for t in board.tasks] + ["mean"]
    values = np.full((len(columns), len(labels)), np.nan)
    for i, column in enumerate(columns):
        for j, task in enumerate(board.tasks):
            if task in column.entries:
                values[i, j] = 100 * column.entries[task].performance
        mean = column.mean(board.tasks)
        values[i, -1] = np.nan if mean is None else 100 * mean[0]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) + 2.5), 0.5 * len(columns) + 2.2))
    image = axes.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(columns)), [c.name for c in columns], fontsize=9)
    axes.axvline(len(labels) - 1.5, color="white", linewidth=2)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                color = "black" if values[i, j] > 60 else "white"
                axes.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=7, color=color)
    figure.colorbar(image, ax=axes, label="% correct", fraction=0.03)
    axes.set_title("mtrnn leaderboard: % correct on the frozen test sets", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def run_leaderboard(
    profile: Profile,
    *,
    runs: str | Path,
    out: str | Path,
    submissions: str | Path | None,
    backend: Backend = Backend.LOCAL,
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
    date: str | None = None,
) -> Board:
    """Train/evaluate the baselines (resuming), ingest submissions, write ``LEADERBOARD.md`` and its PNG in ``out``."""
    cells = baseline_cells(profile, runs)
    run_sweep(cells, backend=backend, workers=workers, address=address, progress=progress)
    board = build_board(cells, submissions)
    out = Path(out)
    picture = "LEADERBOARD.png"
    render_heatmap(board, out / picture)
    when = date or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = render_markdown(board, profile, picture=picture, date=when, commit=_commit())
    atomic_write_text(out / "LEADERBOARD.md", text)
    return board


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtrnn-leaderboard", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_const", const="quick", dest="profile", help="a few minutes on a CPU")
    which.add_argument("--full", action="store_const", const="full", dest="profile", help="the published budget")
    which.add_argument("--profile", choices=sorted(PROFILES), dest="profile")
    parser.add_argument(
        "--runs", default=None, help="where the baseline run directories go (default runs/leaderboard-<profile>)"
    )
    parser.add_argument("--out", default=".", help="folder for LEADERBOARD.md and LEADERBOARD.png (default: .)")
    parser.add_argument("--submissions", default="benchmarks/submissions", help="folder of submitted results files")
    parser.add_argument("--backend", choices=[b.value for b in Backend], default=Backend.LOCAL.value)
    parser.add_argument("--address", default=None, help="Ray address (e.g. auto)")
    parser.add_argument("--workers", type=int, default=1, help="local processes")
    parser.add_argument(
        "--group", action="append", default=None, help=f"only this task group (repeatable): {', '.join(suite_groups())}"
    )
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile or "quick"]
    if args.group:
        unknown = sorted(set(args.group) - set(suite_groups()))
        if unknown:
            parser.error(f"--group must be among {list(suite_groups())}, got {unknown}")
        profile = dataclasses.replace(profile, groups=tuple(args.group))
    runs = args.runs or f"runs/leaderboard-{profile.name}"
    board = run_leaderboard(
        profile,
        runs=runs,
        out=args.out,
        submissions=args.submissions,
        backend=Backend(args.backend),
        workers=args.workers,
        address=args.address,
    )
    print(board.table())
    for name, why in board.rejected:
        print(f"rejected {name}: {why}")
    print(f"wrote {Path(args.out) / 'LEADERBOARD.md'} and LEADERBOARD.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
