"""``mtrnn-evaluate``: score an agent on mtrnn's frozen test sets and write a validated results file.

mtrnn-evaluate --agent runs/delayanti --task mtrnn/DelayAnti-v0 --out results.json
mtrnn-evaluate --agent examples/my_agent.py:make_agent --task mtrnn/DelayGo-v0 --task mtrnn/DelayAnti-v0
mtrnn-evaluate --agent mypackage.agents:factory --suite delay --time-limit 300 --memory-limit 2048
mtrnn-evaluate --check results.json          # validate a results file (schema, digests, consistency)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mtrnn.agents.evaluation.evaluate import Playback, evaluate
from mtrnn.agents.evaluation.isolation import Limits
from mtrnn.agents.evaluation.results import EvaluationResults, ResultsError, load_results, save_results
from mtrnn.envs import all_ids

__all__ = ["build_parser", "format_results", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtrnn-evaluate",
        description="Score an agent on mtrnn's frozen test sets (the same trials for everyone) and write the "
        "results as a validated JSON file with a digest.",
    )
    parser.add_argument(
        "--agent",
        help="runs/<name> (an mtrnn run directory), path/to/file.py:factory or package.module:factory; the factory "
        "is called once per task with env_id, n_inputs, n_outputs, n_actions",
    )
    parser.add_argument("--task", action="append", default=[], metavar="ID", help="a registered id (repeatable)")
    parser.add_argument("--all-tasks", action="store_true", help="every registered id")
    parser.add_argument("--out", default="results.json", help="results file (default: ./results.json)")
    parser.add_argument("--trials", type=int, default=None, help="only the first N trials of each test set")
    parser.add_argument(
        "--playback",
        choices=[p.value for p in Playback],
        default=None,
        help="step agents and SB3 models: whole batches with the gym rule, or trial by trial through the gym env "
        "(default: batch for step agents, gym for SB3 models)",
    )
    parser.add_argument("--time-limit", type=float, default=Limits.time_s, help="seconds per task (isolated agents)")
    parser.add_argument(
        "--memory-limit", type=int, default=Limits.memory_mb, help="MiB an isolated agent may allocate (RLIMIT_AS)"
    )
    parser.add_argument(
        "--no-isolation", action="store_true", help="run third-party code in this process (no limits; trusted code)"
    )
    parser.add_argument("--name", default=None, help="agent name in the results (default: the agent's own)")
    parser.add_argument("--version", dest="agent_version", default=None, help="agent version in the results")
    parser.add_argument("--check", nargs="+", metavar="FILE", help="validate results files and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def format_results(results: EvaluationResults) -> str:
    """A plain-text table of a results file."""
    lines = [f"agent {results.agent.name} {results.agent.version}".rstrip()]
    for task in results.tasks:
        if task.ok:
            low, high = task.interval or (0.0, 0.0)
            lines.append(
                f"  {task.env_id:40s} {100 * (task.performance or 0):6.2f} %  [{100 * low:.2f}, {100 * high:.2f}]"
                f"  n={task.n_trials}  ({task.kind})"
            )
        else:
            lines.append(f"  {task.env_id:40s} FAILED: {task.error}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check:
        status = 0
        for path in args.check:
            try:
                results = load_results(path)
            except (ResultsError, FileNotFoundError) as error:
                print(f"REJECTED {error}", file=sys.stderr)
                status = 1
            else:
                print(f"OK {path}\n{format_results(results)}")
        return status
    if not args.agent:
        parser.error("--agent is required (or --check FILE)")
    ids = all_ids() if args.all_tasks else args.task
    if not ids:
        parser.error("name at least one --task ID (or --all-tasks)")
    unknown = [i for i in ids if i not in all_ids()]
    if unknown:
        parser.error(f"--task must be registered ids, unknown: {unknown}")
    try:
        limits = Limits(time_s=args.time_limit, memory_mb=args.memory_limit)
        results = evaluate(
            args.agent,
            ids,
            n_trials=args.trials,
            playback=None if args.playback is None else Playback(args.playback),
            isolate=False if args.no_isolation else None,
            limits=limits,
            name=args.name,
            version=args.agent_version,
            progress=not args.quiet,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    path = save_results(results, args.out)
    print(format_results(results))
    print(f"wrote {path}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
