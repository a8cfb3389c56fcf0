"""``mtrnn-train-rl``: train a policy with RL on an mtrnn task into a run directory.

Every :class:`~mtrnn.agents.rl.config.RLConfig` field (and every network field) is a flag named after the field
with dashes (``--learning-rate``, ``--hidden-size``, ``--architecture``); ``--task`` sets ``env_id``,
``--task-kwarg KEY=VALUE`` (repeatable, VALUE as JSON) ``task_kwargs``, ``--out`` ``out_dir``. Optional
numbers take ``none``. Examples::

    mtrnn-train-rl --task mtrnn/DelayGo-v0 --algo ppo --architecture gru --out runs/rl-delaygo
    mtrnn-train-rl --resume runs/rl-delaygo
    mtrnn-train-rl --task mtrnn/DelayGo-v0 --backend sb3 --algo recurrent_ppo --architecture lstm \\
        --max-env-steps 100000 --out runs/rl-delaygo-sb3
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import typing
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from mtrnn.agents.cli_common import bare_type, field_docs, new_parser, optional_value
from mtrnn.agents.networks import NetworkConfig
from mtrnn.agents.rl.config import Backend, RLConfig, default_policy_network

__all__ = ["build_parser", "config_from_args", "main"]

_FLAG_NAMES = {"env_id": "--task", "out_dir": "--out", "task_kwargs": "--task-kwarg"}
_RESUME_FLAGS = {"device", "threads"}


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (VALUE as JSON, e.g. dt=100), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add(group: argparse._ArgumentGroup, name: str, annotation: Any, default: Any, doc: str) -> None:
    flag = _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
    annotation, optional = bare_type(annotation)
    shown = default.value if isinstance(default, enum.Enum) else default
    help_text = f"{doc or name} (default: {shown})"
    if name == "task_kwargs":
        group.add_argument(flag, dest=name, action="append", type=_key_value, metavar="KEY=VALUE", help=help_text)
    elif name == "curriculum_delays":
        group.add_argument(flag, dest=name, nargs="*", type=float, metavar="MS", help=help_text)
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        group.add_argument(flag, dest=name, choices=[m.value for m in annotation], help=help_text)
    elif annotation is bool:
        group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, help=help_text)
    else:
        convert = optional_value(annotation) if optional else annotation
        group.add_argument(flag, dest=name, type=convert, metavar=name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The ``mtrnn-train-rl`` argument parser (flags default to "not given", so they override ``--config``)."""
    parser = new_parser(
        "mtrnn-train-rl",
        "Train a policy with RL (batched recurrent PPO, or SB3) on an mtrnn task; writes config.json, "
        "model.safetensors, metrics.csv, a checkpoint and report.md into the run directory.",
        config_help="start from this JSON config (e.g. an RL run's config.json)",
        resume_help="continue the (batched) run in RUN_DIR exactly",
    )
    hints, docs = typing.get_type_hints(RLConfig), field_docs(RLConfig)
    defaults = RLConfig().to_dict()
    training = parser.add_argument_group("RL (RLConfig fields)")
    for f in fields(RLConfig):
        if f.name != "network":
            _add(training, f.name, hints[f.name], defaults[f.name], docs.get(f.name, ""))
    network_hints = typing.get_type_hints(NetworkConfig)
    network_defaults = default_policy_network().to_dict()
    network = parser.add_argument_group("policy network (NetworkConfig fields)")
    for f in fields(NetworkConfig):
        _add(network, f.name, network_hints[f.name], network_defaults[f.name], f"network.{f.name}")
    return parser


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    given = vars(args)
    data = RLConfig().to_dict()
    if "config" in given:
        path = Path(given["config"])
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"--config {path}: cannot read a JSON config ({error})") from error
        if not isinstance(loaded, dict):
            raise TypeError(f"--config must hold a JSON object of config fields, got {type(loaded).__name__}")
        data["network"] = {**data["network"], **loaded.get("network", {})}
        data.update({k: v for k, v in loaded.items() if k != "network"})
    network_names = {f.name for f in fields(NetworkConfig)}
    for name, value in given.items():
        if name in network_names:
            data["network"][name] = value
        elif name == "task_kwargs":
            data["task_kwargs"] = {**data.get("task_kwargs", {}), **dict(value)}
        elif name in data:
            data[name] = value
    return data


def config_from_args(argv: Sequence[str] | None = None) -> RLConfig:
    """The :class:`RLConfig` that ``mtrnn-train-rl argv`` would train (``--resume`` not allowed here)."""
    args = build_parser().parse_args(argv)
    if "resume" in vars(args):
        raise ValueError("--resume reads its config from the run directory; config_from_args does not take it")
    return RLConfig.from_dict(_resolve(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mtrnn-train-rl``; returns the exit status."""
    from mtrnn.agents.rl.ppo import PPOTrainer, read_rl_config

    parser = build_parser()
    args = parser.parse_args(argv)
    given = vars(args)
    progress = "no_progress" not in given
    names = {f.name for f in fields(RLConfig)} | {f.name for f in fields(NetworkConfig)}
    try:
        if "resume" in given:
            extra = sorted((set(given) & names) - _RESUME_FLAGS) + (["config"] if "config" in given else [])
            if extra:
                parser.error(f"--resume continues the saved config; it takes only --device and --threads, got {extra}")
            if read_rl_config(given["resume"]).backend is not Backend.BATCHED:
                parser.error("--resume: only batched runs resume exactly; SB3 cannot restore its envs and buffers")
            config = None
            trainer = PPOTrainer.resume(
                given["resume"], progress=progress, device=given.get("device"), threads=given.get("threads")
            )
        else:
            config = RLConfig.from_dict(_resolve(args))
            if "print_config" in given:
                print(json.dumps(config.to_dict(), indent=2))
                return 0
            if config.out_dir is None:
                parser.error("--out is required: the run directory to write (e.g. --out runs/rl-delaygo)")
            batched = config.backend is Backend.BATCHED
            trainer = PPOTrainer(config, progress=progress, overwrite="overwrite" in given) if batched else None
    except (ValueError, TypeError, FileNotFoundError) as error:
        parser.error(str(error))
    try:
        if trainer is None:
            assert config is not None
            from mtrnn.agents.rl.sb3 import train_sb3

            result = train_sb3(config, progress=progress, overwrite="overwrite" in given)
            reason, metrics, out = result.stop_reason, result.metrics, config.out_dir
        else:
            trained = trainer.train()
            reason, metrics, out = trained.stop_reason, trained.metrics, trainer.config.out_dir
    except FileExistsError as error:
        parser.error(str(error))
    last = metrics[-1]
    env_id = trainer.config.env_id if trainer is not None else config.env_id  # type: ignore[union-attr]
    print(
        f"{reason.value} after {last['step']} updates ({last['trials']} trials, {last['env_steps']} env steps, "
        f"{last['time']:.1f} s); greedy performance {last[f'perf/{env_id}']:.3f}; report: {out}/report.md",
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
