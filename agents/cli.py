"""``mtrnn-train``: train a recurrent network on mtrnn tasks into a run directory.

Every :class:`~mtrnn.agents.config.TrainConfig` field (and every network field) is a flag, named after the field
with dashes (``--learning-rate``, ``--hidden-size``); ``--task`` (repeatable) sets ``env_ids``, ``--task-weight``
(repeatable) ``task_weights`` and ``--out`` ``out_dir``. ``--config file.json`` starts from a saved config
(e.g. another run's ``config.json``); flags given on the command line override it. Optional numbers take
``none``. Examples::

    mtrnn-train --task mtrnn/DelayAnti-v0 --out runs/delayanti --target-perf 0.95
    mtrnn-train --config runs/delayanti/config.json --seed 1 --out runs/delayanti-seed1
    mtrnn-train --resume runs/delayanti
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from mtrnn.agents.config import TrainConfig
from mtrnn.agents.networks import NetworkConfig
from mtrnn.agents.trainer import Trainer, TrainingDiverged

__all__ = ["build_parser", "config_from_args", "main"]

#: Flags whose name is not the field's name.
_FLAG_NAMES = {"env_ids": "--task", "task_weights": "--task-weight", "out_dir": "--out"}
#: Flags allowed together with ``--resume``.
_RESUME_FLAGS = {"device", "threads"}


def _field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``cls`` (used as the flag's help)."""
    import inspect

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


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.strip().lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _bare(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of a field annotation such as ``float | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _add_field(group: argparse._ArgumentGroup, name: str, annotation: Any, default: Any, help_text: str) -> None:
    kind, optional = _bare(annotation)
    flag = _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
    shown = default.value if isinstance(default, enum.Enum) else default
    help_text = f"{help_text} (default: {shown})"
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        group.add_argument(flag, dest=name, action="append", type=item, help=help_text + "; repeatable")
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        group.add_argument(flag, dest=name, choices=[m.value for m in kind], help=help_text)
    elif kind is bool:
        group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, help=help_text)
    else:
        convert = _optional(kind) if optional else kind
        metavar = name.upper() + ("|none" if optional else "")
        group.add_argument(flag, dest=name, type=convert, metavar=metavar, help=help_text)


def _defaults(cls: type) -> dict[str, Any]:
    result = {}
    for f in fields(cls):
        if f.default is not MISSING:
            result[f.name] = f.default
        elif f.default_factory is not MISSING:
            result[f.name] = f.default_factory()
    return result


def build_parser() -> argparse.ArgumentParser:
    """The ``mtrnn-train`` argument parser (flags default to "not given" so that they override a config file)."""
    parser = argparse.ArgumentParser(
        prog="mtrnn-train",
        description="Train a recurrent network on mtrnn tasks; writes config.json, model.safetensors, "
        "metrics.csv, a checkpoint and report.md into the run directory.",
        argument_default=argparse.SUPPRESS,
    )
    run = parser.add_argument_group("run")
    run.add_argument("--config", type=Path, help="start from this JSON config (e.g. a run's config.json)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    run.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    train_hints = typing.get_type_hints(TrainConfig)
    train_docs, train_defaults = _field_docs(TrainConfig), _defaults(TrainConfig)
    training = parser.add_argument_group("training (TrainConfig fields)")
    for f in fields(TrainConfig):
        if f.name != "network":
            _add_field(training, f.name, train_hints[f.name], train_defaults[f.name], train_docs.get(f.name, ""))
    network_hints = typing.get_type_hints(NetworkConfig)
    network_defaults = train_defaults["network"].to_dict()
    network = parser.add_argument_group("network (NetworkConfig fields)")
    for f in fields(NetworkConfig):
        if f.name in train_hints:
            raise RuntimeError(f"NetworkConfig field {f.name!r} collides with a TrainConfig field")
        _add_field(network, f.name, network_hints[f.name], network_defaults[f.name], f"network.{f.name}")
    return parser


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    """The config dict: defaults, then ``--config``, then flags given."""
    given = vars(args)
    data = TrainConfig().to_dict()
    if "config" in given:
        loaded = json.loads(Path(given["config"]).read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise TypeError(f"--config must hold a JSON object of config fields, got {type(loaded).__name__}")
        network = {**data["network"], **loaded.get("network", {})}
        data.update(loaded)
        data["network"] = network
    network_names = {f.name for f in fields(NetworkConfig)}
    for name, value in given.items():
        if name in network_names:
            data["network"][name] = value
        elif name in data:
            data[name] = value
    return data


def config_from_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` that ``mtrnn-train argv`` would train (``--resume`` not allowed here)."""
    args = build_parser().parse_args(argv)
    if "resume" in vars(args):
        raise ValueError("--resume reads its config from the run directory; config_from_args does not take it")
    return TrainConfig.from_dict(_resolve(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mtrnn-train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    given = vars(args)
    progress = "no_progress" not in given
    config_names = {f.name for f in fields(TrainConfig)} | {f.name for f in fields(NetworkConfig)}
    try:
        if "resume" in given:
            extra = sorted((set(given) & config_names) - _RESUME_FLAGS) + (["config"] if "config" in given else [])
            if extra:
                parser.error(f"--resume continues the saved config; it takes only --device and --threads, got {extra}")
            trainer = Trainer.resume(
                given["resume"], progress=progress, device=given.get("device"), threads=given.get("threads")
            )
        else:
            config = TrainConfig.from_dict(_resolve(args))
            if "print_config" in given:
                print(json.dumps(config.to_dict(), indent=2))
                return 0
            if config.out_dir is None:
                parser.error("--out is required: the run directory to write (e.g. --out runs/delayanti)")
            trainer = Trainer(config, progress=progress, overwrite="overwrite" in given)
    except (ValueError, TypeError, FileNotFoundError) as error:
        parser.error(str(error))
    try:
        result = trainer.train()
    except FileExistsError as error:
        parser.error(str(error))
    except TrainingDiverged as error:
        print(f"mtrnn-train: {error}", file=sys.stderr)
        return 1
    state = result.state
    print(
        f"{result.stop_reason.value} after {state.step} updates ({state.trials} trials, {state.elapsed:.1f} s); "
        f"lowest per-task performance {state.min_performance:.3f}; report: {trainer.config.out_dir}/report.md"
    )
    for env_id, value in state.performance.items():
        print(f"  {env_id:40s} {value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
