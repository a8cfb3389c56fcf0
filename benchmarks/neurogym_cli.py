"""The command line the benchmarks against neurogym share: rounds of turn-taking, seconds per turn, an output file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["parse_turn_taking"]


def parse_turn_taking(
    argv: Sequence[str] | None, description: str, default_out: Path
) -> tuple[argparse.Namespace, ModuleType]:
    """Parse ``--rounds``, ``--seconds`` and ``--out``, check them, import neurogym and pin torch to one thread.

    Returns:
        The parsed arguments and the imported ``neurogym`` module (for its version in the report).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of turn-taking (median over rounds)")
    parser.add_argument("--seconds", type=float, default=0.2, help="time per contender per round")
    parser.add_argument(
        "--out", type=Path, default=default_out, help=f"markdown file to write (default ./{default_out.name})"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or not args.seconds > 0:
        parser.error("--rounds must be >= 1 and --seconds > 0")
    try:
        import neurogym
    except ImportError:
        parser.error("this benchmark compares against neurogym: pip install 'mtrnn[neurogym]'")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return args, neurogym
