"""Agents named on the command line: ``runs/<name>`` (an mtrnn run directory), ``path/to/file.py:factory`` or
``package.module:factory`` (third-party code; the factory is called once per task with keyword arguments
``env_id``, ``n_inputs``, ``n_outputs`` and ``n_actions``)."""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtrnn.agents.evaluation.protocols import AgentFactory, TorchSequenceAgent
from mtrnn.agents.rundir import RunDir, load_agent, load_config
from mtrnn.envs import MultiTask

__all__ = ["AgentSpec", "SpecKind", "file_sha256", "run_dir_factory"]


class SpecKind(enum.Enum):
    """What an agent spec names."""

    RUN_DIR = "run_dir"
    FILE = "file"
    MODULE = "module"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class AgentSpec:
    """A parsed ``--agent`` value.

    Attributes:
        text: the value as given.
        kind: run directory, ``file.py:factory`` or ``module:factory``.
        target: the folder, the file or the module name.
        attribute: the factory's name (None for a run directory).
    """

    text: str
    kind: SpecKind
    target: str
    attribute: str | None = None

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        """Parse ``runs/<name>``, ``path/to/file.py:factory`` or ``module:factory``.

        Raises:
            ValueError: naming ``--agent`` and the accepted forms.
        """
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"agent must be a non-empty string, got {text!r}")
        forms = "a run directory (runs/<name>), path/to/file.py:factory or package.module:factory"
        if Path(text).is_dir():
            if not RunDir(text).file(RunDir.CONFIG).exists():
                raise ValueError(f"--agent {text!r} is a folder without {RunDir.CONFIG}; it must be {forms}")
            return cls(text, SpecKind.RUN_DIR, text)
        if ":" not in text:
            raise ValueError(f"--agent {text!r} names no factory; it must be {forms}")
        target, attribute = text.rsplit(":", 1)
        if not attribute.isidentifier():
            raise ValueError(f"--agent {text!r}: {attribute!r} is not a Python name; it must be {forms}")
        if target.endswith(".py"):
            if not Path(target).is_file():
                raise ValueError(f"--agent {text!r}: no such file {target!r}")
            return cls(text, SpecKind.FILE, target, attribute)
        if not all(part.isidentifier() for part in target.split(".")):
            raise ValueError(
                f"--agent {text!r}: {target!r} is neither a .py file nor a module name; it must be {forms}"
            )
        return cls(text, SpecKind.MODULE, target, attribute)

    @property
    def third_party(self) -> bool:
        """Whether the spec names code that is not mtrnn's (evaluated in an isolated process by default)."""
        return self.kind is not SpecKind.RUN_DIR

    @property
    def default_name(self) -> str:
        """The run directory's name or ``<file stem>.<factory>`` / ``<module>.<factory>``."""
        if self.kind is SpecKind.RUN_DIR:
            return Path(self.target).resolve().name
        stem = Path(self.target).stem if self.kind is SpecKind.FILE else self.target
        return f"{stem}.{self.attribute}"

    def sha256(self) -> str | None:
        """sha256 of the agent's file: the ``.py`` file, the module's file, a run's ``model.safetensors``."""
        if self.kind is SpecKind.RUN_DIR:
            model = RunDir(self.target).file(RunDir.MODEL)
            return file_sha256(model) if model.exists() else None
        if self.kind is SpecKind.FILE:
            return file_sha256(self.target)
        found = importlib.util.find_spec(self.target)
        origin = None if found is None else found.origin
        return file_sha256(origin) if origin and Path(origin).is_file() else None

    def factory(self) -> AgentFactory:
        """Import the code (or read the run) and return the factory."""
        if self.kind is SpecKind.RUN_DIR:
            return run_dir_factory(self.target)
        assert self.attribute is not None
        if self.kind is SpecKind.FILE:
            path = Path(self.target).resolve()
            name = f"mtrnn_agent_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ValueError(f"--agent {self.text!r}: cannot import {str(path)!r} as Python code")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))  # the file may import its neighbours
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(self.target)
        factory = getattr(module, self.attribute, None)
        if factory is None or not callable(factory):
            raise ValueError(f"--agent {self.text!r}: {self.target!r} has no callable {self.attribute!r}")
        return factory


def run_dir_factory(run_dir: str | Path) -> AgentFactory:
    """A factory that plays an mtrnn run directory's network as a sequence agent.

    A network trained on several tasks with one-hot rule inputs gets the rule input of the evaluated task
    appended (the task must be one it was trained on); networks trained on a mixture that carries its own rule
    units (``mtrnn/Yang19-v0``) are evaluated on its component tasks as they are.
    """
    config = load_config(run_dir)
    name = Path(run_dir).resolve().name
    network_inputs, _ = RunDir(run_dir).model_shape()

    def factory(*, env_id: str, n_inputs: int, n_outputs: int, n_actions: int, **_: Any) -> TorchSequenceAgent:
        extra = None
        if len(config.env_ids) > 1:
            trained = config.build_task()
            if isinstance(trained, MultiTask) and trained.rule_inputs:
                if env_id not in config.env_ids:
                    raise ValueError(
                        f"run {name!r} was trained with rule inputs on {list(config.env_ids)}; it cannot play {env_id}"
                    )
                extra = np.eye(len(config.env_ids), dtype=np.float32)[config.env_ids.index(env_id)]
        expected = n_inputs + (0 if extra is None else extra.shape[0])
        if network_inputs != expected:
            raise ValueError(f"run {name!r} has {network_inputs} inputs; {env_id} needs {expected}")
        return TorchSequenceAgent(load_agent(run_dir), extra_inputs=extra, name=name)

    return factory
