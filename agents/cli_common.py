"""What the training command lines share (``mtrnn-train``, ``mtrnn-train-rl``): the run flags and the rules that
turn a config dataclass's fields into flags."""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["bare_type", "field_docs", "new_parser", "optional_value"]


def new_parser(prog: str, description: str, *, config_help: str, resume_help: str) -> argparse.ArgumentParser:
    """A parser whose flags default to "not given" (so they override ``--config``), with the ``run`` group:
    ``--config``, ``--resume RUN_DIR``, ``--overwrite``, ``--no-progress``, ``--print-config``."""
    parser = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    run = parser.add_argument_group("run")
    run.add_argument("--config", type=Path, help=config_help)
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help=resume_help)
    run.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    return parser


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field of the dataclass ``cls`` (used as the flag's help)."""
    docs: dict[str, str] = {}
    comment: list[str] = []
    try:
        source = inspect.getsource(cls)
    except OSError:
        return docs
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
        elif ":" in stripped and comment:
            docs[stripped.split(":")[0].strip()] = " ".join(comment)
            comment = []
        else:
            comment = []
    return docs


def optional_value(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert``, except that ``none`` (any case) gives None."""

    def parse(text: str) -> Any:
        return None if text.strip().lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def bare_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a field annotation such as ``float | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False
