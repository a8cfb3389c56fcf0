"""``mtrnn-train``: train a recurrent network on mtrnn tasks into a run directory.

Every :class:`~mtrnn.agents.config.TrainConfig` field (and every network field) is a flag, named after the field
with dashes (``--learning-rate``, ``--hidden-size``); ``--task`` (repeatable) sets ``env_ids``, ``--task-weight``
(repeatable) ``task_weights``, ``--task-kwargs [ID=]JSON`` (repeatable) ``task_kwargs`` (without ``ID=``: for
every task), ``--dt MS`` the tasks' time step (the network's follows) and ``--out`` ``out_dir``.
``--config file.json`` starts from a saved config (e.g. another run's ``config.json``; its ``out_dir`` is not
reused, ``--out`` names the new run); flags given on the command line override it. Optional numbers take
``none``. ``--resume RUN_DIR`` continues a run exactly; it takes the flags of the fields a resume may change
(``--max-steps``, ``--max-time``, ``--target-perf``, ``--eval-interval``, ``--learning-rate``, ``--threads``,
``--device``, ``--prefetch``), recorded as a change in ``metrics.csv``. Examples::

    mtrnn-train --task mtrnn/DelayAnti-v0 --out runs/delayanti --target-perf 0.95
    mtrnn-train --task mtrnn/DelayAnti-v0 --task-kwargs '{"n_locations": 4}' --dt 10 --out runs/anti4
    mtrnn-train --config runs/delayanti/config.json --seed 1 --out runs/delayanti-seed1
    mtrnn-train --resume runs/delayanti
    mtrnn-train --resume runs/delayanti --max-steps 20000 --learning-rate 3e-4
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import typing
from collections.abc import Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from mtrnn.agents.cli_common import bare_type, field_docs, new_parser, optional_value
from mtrnn.agents.config import RESUME_CHANGES, TrainConfig
from mtrnn.agents.networks import NetworkConfig
from mtrnn.agents.rundir import RunFileError
from mtrnn.agents.trainer import Trainer, TrainingDiverged

__all__ = ["build_parser", "config_from_args", "main"]

#: Flags whose name is not the field's name.
_FLAG_NAMES = {"env_ids": "--task", "task_weights": "--task-weight", "out_dir": "--out"}
#: Fields with a hand-written flag (or none): ``task_kwargs`` (``--task-kwargs``), ``custom_task`` (API only) and
#: the network's ``dt`` (``--dt`` sets the tasks' time step; the network follows the task).
_NOT_GENERATED = {"network", "task_kwargs", "custom_task", "dt"}


def _add_field(group: argparse._ArgumentGroup, name: str, annotation: Any, default: Any, help_text: str) -> None:
    kind, optional = bare_type(annotation)
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
        convert = optional_value(kind) if optional else kind
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
    parser = new_parser(
        "mtrnn-train",
        "Train a recurrent network on mtrnn tasks; writes config.json, model.safetensors, "
        "metrics.csv, a checkpoint and report.md into the run directory.",
        config_help="start from this JSON config (e.g. a run's config.json)",
        resume_help="continue the run in RUN_DIR exactly",
    )
    train_hints = typing.get_type_hints(TrainConfig)
    train_docs, train_defaults = field_docs(TrainConfig), _defaults(TrainConfig)
    training = parser.add_argument_group("training (TrainConfig fields)")
    for f in fields(TrainConfig):
        if f.name not in _NOT_GENERATED:
            _add_field(training, f.name, train_hints[f.name], train_defaults[f.name], train_docs.get(f.name, ""))
    training.add_argument(
        "--task-kwargs",
        dest="task_kwargs",
        action="append",
        type=_task_kwargs,
        metavar="[ENV_ID=]JSON",
        help="constructor arguments of the task(s) as a JSON object, e.g. '{\"n_locations\": 4}' (every task) or "
        "'mtrnn/DelayAnti-v0={\"n_locations\": 4}' (one task); repeatable",
    )
    training.add_argument(
        "--dt",
        dest="task_dt",
        type=float,
        metavar="MS",
        help="time step of every task in ms (the network runs at its task's time step; default: the task's, 20)",
    )
    network_hints = typing.get_type_hints(NetworkConfig)
    network_defaults = train_defaults["network"].to_dict()
    network = parser.add_argument_group("network (NetworkConfig fields)")
    for f in fields(NetworkConfig):
        if f.name in _NOT_GENERATED:
            continue
        if f.name in train_hints:
            raise RuntimeError(f"NetworkConfig field {f.name!r} collides with a TrainConfig field")
        _add_field(network, f.name, network_hints[f.name], network_defaults[f.name], f"network.{f.name}")
    return parser


def _task_kwargs(text: str) -> tuple[str | None, dict[str, Any]]:
    """``[ENV_ID=]JSON`` -> ``(env id or None for every task, kwargs)``."""
    env_id: str | None = None
    body = text.strip()
    if not body.startswith("{") and "=" in body:
        env_id, _, body = body.partition("=")
        env_id = env_id.strip()
    try:
        kwargs = json.loads(body)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"must be [ENV_ID=]JSON object, got {text!r} ({error})") from None
    if not isinstance(kwargs, dict):
        raise argparse.ArgumentTypeError(f"must be [ENV_ID=]JSON object, got {text!r}")
    return env_id, kwargs


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    """The config dict: defaults, then ``--config`` (without its ``out_dir``), then flags given."""
    given = vars(args)
    data = TrainConfig().to_dict()
    if "config" in given:
        path = Path(given["config"])
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFileError(f"--config {path} does not exist") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunFileError(f"--config {path} is not valid JSON ({error}); fix the file or pass flags") from None
        if not isinstance(loaded, dict):
            raise RunFileError(f"--config {path} must hold a JSON object of config fields, got {type(loaded).__name__}")
        loaded.pop("out_dir", None)  # a config file never chooses the output folder: --out does
        network = {**data["network"], **loaded.get("network", {})}
        data.update(loaded)
        data["network"] = network
    network_names = {f.name for f in fields(NetworkConfig)} - _NOT_GENERATED
    for name, value in given.items():
        if name in network_names:
            data["network"][name] = value
        elif name in data and name not in _NOT_GENERATED:
            data[name] = value
    ids = list(data.get("env_ids") or [])
    kwargs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in dict(data.get("task_kwargs") or {}).items() if k in ids}
    for env_id, values in given.get("task_kwargs", []):
        for target in ids if env_id is None else [env_id]:
            kwargs.setdefault(target, {}).update(values)
    if "task_dt" in given:
        for target in ids:
            kwargs.setdefault(target, {})["dt"] = given["task_dt"]
    data["task_kwargs"] = kwargs
    return data


def config_from_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` that ``mtrnn-train argv`` would train (``--resume`` not allowed here)."""
    args = build_parser().parse_args(argv)
    if "resume" in vars(args):
        raise ValueError("--resume reads its config from the run directory; config_from_args does not take it")
    return TrainConfig.from_dict(_resolve(args))


def _fail(message: str) -> int:
    print(f"mtrnn-train: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mtrnn-train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    given = vars(args)
    progress = "no_progress" not in given
    config_names = {f.name for f in fields(TrainConfig)} | {f.name for f in fields(NetworkConfig)} | {"task_dt"}
    try:
        if "resume" in given:
            refused = sorted((set(given) & config_names) - RESUME_CHANGES) + (["config"] if "config" in given else [])
            if refused:
                flags = ", ".join(f"--{name.replace('_', '-')}" for name in sorted(RESUME_CHANGES))
                parser.error(
                    f"--resume continues the saved run; it may change only {flags}, got {refused} (start a new run "
                    f"with --config {given['resume']}/config.json --out NEW_DIR to change them)"
                )
            changes = {name: given[name] for name in RESUME_CHANGES if name in given}
            trainer = Trainer.resume(given["resume"], progress=progress, changes=changes)
        else:
            config = TrainConfig.from_dict(_resolve(args))
            if "print_config" in given:
                print(json.dumps(config.to_dict(), indent=2))
                return 0
            if config.out_dir is None:
                parser.error("--out is required: the run directory to write (e.g. --out runs/delayanti)")
            trainer = Trainer(config, progress=progress, overwrite="overwrite" in given)
    except RunFileError as error:
        return _fail(str(error))
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    try:
        result = trainer.train()
    except FileExistsError as error:
        return _fail(str(error))
    except RunFileError as error:
        return _fail(str(error))
    except TrainingDiverged as error:
        print(f"mtrnn-train: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        out = trainer.config.out_dir
        if trainer.last_checkpoint is None:
            print(f"\nmtrnn-train: interrupted at step {trainer.step}; no checkpoint was written", file=sys.stderr)
        else:
            print(
                f"\nmtrnn-train: interrupted at step {trainer.step}; the last checkpoint is step "
                f"{trainer.last_checkpoint} in {out}; continue with: mtrnn-train --resume {out}",
                file=sys.stderr,
            )
        return 130
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
