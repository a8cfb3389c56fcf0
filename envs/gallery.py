"""Write one picture per registered task (inputs, targets, mask, periods) and a summary table.

``python -m mtrnn.envs.gallery`` writes ``docs/tasks/<Name>-v0.png``, ``summary.md`` and ``summary.json``
(``make demo`` runs it with ``--out runs/demo``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtrnn.envs.io import atomic_write_text
from mtrnn.envs.plotting import plot_trial
from mtrnn.envs.registry import all_ids, make_task

__all__ = ["answer_of", "main", "write_gallery"]


def file_stem(env_id: str) -> str:
    """``mtrnn/DelayAnti-v0`` -> ``DelayAnti-v0``."""
    return env_id.split("/", 1)[-1]


def answer_of(task: object) -> str:
    """One line saying what the right answer is: the task's ``answer``, else its docstring's first line."""
    answer = getattr(task, "answer", "")
    if answer:
        return str(answer)
    doc = (type(task).__doc__ or "").strip().splitlines()
    return doc[0].strip() if doc else ""


def write_gallery(out: Path, env_ids: Sequence[str] | None = None, seed: int = 0, n_trials: int = 256) -> list[dict]:
    """For each id: a PNG of one trial and a summary row (periods, answer, sizes, score of the targets).

    Returns the summary rows, also written to ``out/summary.json`` and ``out/summary.md``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for env_id in env_ids or all_ids():
        task = make_task(env_id)
        batch = task.sample_batch(n_trials, np.random.default_rng(seed))
        fig = plot_trial(batch, 0, input_names=task.input_names, output_names=task.output_names, title=env_id)
        png = out / f"{file_stem(env_id)}.png"
        fig.savefig(png, dpi=110)
        plt.close(fig)
        score = task.score(batch.targets, batch)
        rows.append(
            {
                "id": env_id,
                "task": task.display_name or task.name,
                "periods": list(getattr(task, "period_names", ())),
                "answer": answer_of(task),
                "n_inputs": task.n_inputs,
                "n_outputs": task.n_outputs,
                "n_actions": task.n_actions,
                "dt_ms": task.dt,
                "mean_steps": float(batch.lengths.mean()),
                "score_of_targets": float(score.mean()),
                "picture": png.name,
            }
        )
    atomic_write_text(out / "summary.json", json.dumps(rows, indent=2) + "\n")
    lines = [
        "| id | task | periods | right answer | n_in | n_out | mean steps | score(targets) | picture |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['id']}` | {r['task']} | {', '.join(r['periods'])} | {r['answer']} | {r['n_inputs']} "
            f"| {r['n_outputs']} | {r['mean_steps']:.1f} | {r['score_of_targets']:.3f} | [png]({r['picture']}) |"
        )
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/tasks"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the trials drawn")
    parser.add_argument("--id", action="append", dest="ids", help="env id (repeatable); default: all")
    args = parser.parse_args(argv)
    rows = write_gallery(args.out, args.ids, seed=args.seed)
    print((args.out / "summary.md").read_text())
    print(f"wrote {len(rows)} pictures to {args.out}/")


if __name__ == "__main__":
    main()
