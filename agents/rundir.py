"""Run directories: ``runs/<name>/`` with ``config.json``, ``model.safetensors``, ``metrics.csv``, a checkpoint and
``report.md``. Every write is atomic (a temporary file in the same folder, then ``os.replace``) and nothing is ever
pickled: tensors live in safetensors files, structure in JSON.

Layout::

    runs/<name>/config.json               TrainConfig.to_dict()
    runs/<name>/model.safetensors         the network's state_dict; metadata: n_inputs, head_sizes, dt
    runs/<name>/metrics.csv               step, trials, time, loss, perf/<env id> per task, change
    runs/<name>/checkpoint.safetensors    model + optimiser tensors; metadata: step, time, metrics, optimiser
                                          structure, Progress, callback states (everything a resume needs)
    runs/<name>/report.md, *.png          written at the end of training
    runs/<name>/.mtrnn-files              the names of the files the trainer wrote (``--overwrite`` deletes
                                          those and nothing else)

Files are created with the permissions the process's umask allows (like ``open``), not ``mkstemp``'s 0600. A
corrupt or truncated file raises :class:`RunFileError` naming the file and what to do.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from mtrnn.agents.config import TrainConfig
from mtrnn.agents.networks import RecurrentNetwork, build_network
from mtrnn.envs.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "CallbackState",
    "Checkpoint",
    "MetricsRow",
    "Progress",
    "RunDir",
    "RunFileError",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_agent",
    "load_config",
]

_CHECKPOINT_KEY = "mtrnn.checkpoint"
_MODEL_KEY = "mtrnn.model"
_FORMAT = 2

#: One metrics.csv row: column name -> value (None for an empty cell; the ``change`` column holds text).
MetricsRow = dict[str, float | int | str | None]

#: Columns of metrics.csv that hold text, not numbers.
TEXT_COLUMNS = ("change",)


class RunFileError(ValueError):
    """A run file is missing, corrupt or truncated; the message names the file and what to do."""


@dataclass(frozen=True)
class Progress:
    """The trainer's bookkeeping between evaluations, saved in every checkpoint.

    Attributes:
        loss: the last update's loss (NaN before the first).
        loss_sum: sum of the losses since the last evaluation (the next metrics row's ``loss`` is the mean).
        loss_count: updates since the last evaluation.
        data_time: seconds spent drawing batches and moving them to the device.
        update_time: seconds spent in forward, backward and optimiser steps.
        evaluated_at: the step of the last evaluation (-1 before the first).
        performance: the last evaluation, ``{env_id: fraction correct}``.
    """

    loss: float = math.nan
    loss_sum: float = 0.0
    loss_count: int = 0
    data_time: float = 0.0
    update_time: float = 0.0
    evaluated_at: int = -1
    performance: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats as strings)."""
        return {
            "loss": _json_value(self.loss),
            "loss_sum": _json_value(self.loss_sum),
            "loss_count": self.loss_count,
            "data_time": self.data_time,
            "update_time": self.update_time,
            "evaluated_at": self.evaluated_at,
            "performance": {k: _json_value(v) for k, v in self.performance.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Progress:
        """Inverse of :meth:`to_dict`."""
        return cls(
            loss=float(data["loss"]),
            loss_sum=float(data["loss_sum"]),
            loss_count=int(data["loss_count"]),
            data_time=float(data["data_time"]),
            update_time=float(data["update_time"]),
            evaluated_at=int(data["evaluated_at"]),
            performance={str(k): float(v) for k, v in data["performance"].items()},
        )


@dataclass(frozen=True)
class CallbackState:
    """One stateful callback's saved state.

    Attributes:
        kind: the callback's class (``type(callback).__qualname__``); a resume hands the state to the callback
            of that class (in order, when there are several).
        state: what its ``state_dict()`` returned (JSON-safe).
    """

    kind: str
    state: Mapping[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """Everything a resumed run needs to continue exactly where the checkpoint was taken.

    Every random stream of training step ``k`` is derived from ``(seed, k)``, so the step count is the whole
    random state.

    Attributes:
        step: updates done.
        elapsed: wall seconds of training so far.
        model: the network's ``state_dict``.
        optimizer: the optimiser's ``state_dict``.
        metrics: the metrics rows written so far.
        progress: the supervised trainer's bookkeeping (:class:`Progress`).
        callbacks: the states of the stateful callbacks, in the trainer's callback order.
        extra: JSON-safe bookkeeping of other trainers (e.g. the RL trainer's counters).
    """

    step: int
    elapsed: float
    model: Mapping[str, Tensor]
    optimizer: Mapping[str, Any]
    metrics: Sequence[MetricsRow]
    progress: Progress = field(default_factory=Progress)
    callbacks: tuple[CallbackState, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _cpu(tensor: Tensor) -> Tensor:
    return tensor.detach().to("cpu").contiguous().clone()


def _optimizer_to_safetensors(state: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimiser ``state_dict`` into tensors (``optimizer.<param>.<key>``) and a JSON structure."""
    tensors: dict[str, Tensor] = {}
    values: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        values[str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{key}"] = _cpu(value)
            else:
                values[str(index)][key] = _json_value(value)
    return tensors, {"param_groups": _json_value(state["param_groups"]), "values": values}


def _optimizer_from_safetensors(tensors: Mapping[str, Tensor], structure: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in structure["values"].items()}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": [dict(g) for g in structure["param_groups"]]}


class RunDir:
    """One run directory. Reads and writes its files; creates the folder on the first write.

    Every file it writes is listed in :attr:`MANIFEST`, so that :meth:`clear` (``--overwrite``) deletes exactly
    the files a trainer wrote and never a file of the user's.

    Args:
        path: the folder (``runs/<name>``).
    """

    CONFIG = "config.json"
    MODEL = "model.safetensors"
    METRICS = "metrics.csv"
    CHECKPOINT = "checkpoint.safetensors"
    REPORT = "report.md"
    MANIFEST = ".mtrnn-files"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a path to a run directory, got {path!r}")
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """Path of ``name`` inside the run directory."""
        return self.path / name

    def holds_run(self) -> bool:
        """Whether the folder already holds a run (a config or a checkpoint)."""
        return self.file(self.CONFIG).exists() or self.file(self.CHECKPOINT).exists()

    # ------------------------------------------------------------------ files the trainer wrote
    def written(self) -> list[str]:
        """Names of the files the trainer wrote here (from :attr:`MANIFEST`)."""
        path = self.file(self.MANIFEST)
        if not path.exists():
            return []
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        return [n for n in names if n and "/" not in n and "\\" not in n and n not in (".", "..")]

    def _record(self, name: str) -> None:
        names = self.written()
        if name not in names:
            atomic_write_text(self.file(self.MANIFEST), "".join(f"{n}\n" for n in [*names, name]))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write the file ``name`` atomically and record it as the trainer's."""
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name) or name.startswith("."):
            raise ValueError(f"name must be a plain file name inside the run directory, got {name!r}")
        self._record(name)
        atomic_write_bytes(self.file(name), data)

    def write_text(self, name: str, text: str) -> None:
        """Write the UTF-8 text file ``name`` atomically and record it as the trainer's."""
        self.write_bytes(name, text.encode("utf-8"))

    def clear(self) -> None:
        """Delete the files the trainer wrote (the run files and those listed in :attr:`MANIFEST`), nothing else."""
        for name in {self.CONFIG, self.MODEL, self.METRICS, self.CHECKPOINT, self.REPORT, *self.written()}:
            self.file(name).unlink(missing_ok=True)
        self.file(self.MANIFEST).unlink(missing_ok=True)

    # ------------------------------------------------------------------ config
    def write_config(self, config: TrainConfig) -> None:
        """Write ``config.json``."""
        self.write_text(self.CONFIG, json.dumps(config.to_dict(), indent=2) + "\n")

    def read_config(self) -> TrainConfig:
        """Read ``config.json`` (RunFileError naming the file when it is missing, not JSON or not a config)."""
        path = self.file(self.CONFIG)
        if not path.exists():
            raise RunFileError(f"{path} does not exist: {str(self.path)!r} is not a run directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunFileError(
                f"{path} is corrupt or truncated (not JSON: {error}); restore it (e.g. write the run's config "
                "again with mtrnn-train --print-config) or start the run again with --overwrite"
            ) from None
        try:
            return TrainConfig.from_dict(data)
        except (TypeError, ValueError) as error:
            raise RunFileError(
                f"{path} does not hold a valid run config ({error}); fix it or start the run again with --overwrite"
            ) from None

    # ------------------------------------------------------------------ model
    def write_model(self, network: RecurrentNetwork) -> None:
        """Write ``model.safetensors``: the state_dict, with ``n_inputs``, ``head_sizes``, ``dt`` (and a user
        cell's class) as metadata."""
        tensors = {name: _cpu(t) for name, t in network.state_dict().items()}
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "n_inputs": network.n_inputs,
            "head_sizes": list(network.head_sizes),
            "dt": network.dt,
            "cell": f"{type(network.cell).__module__}:{type(network.cell).__qualname__}",
        }
        self.write_bytes(self.MODEL, save_safetensors(tensors, metadata={_MODEL_KEY: json.dumps(meta)}))

    def _model_meta(self) -> dict[str, Any]:
        path = self.file(self.MODEL)
        if not path.exists():
            raise RunFileError(f"{path} does not exist: the run has not written a model yet")
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[_MODEL_KEY])
            return dict(meta)
        except (SafetensorError, OSError, KeyError, ValueError) as error:
            raise RunFileError(
                f"{path} is corrupt or truncated ({error}); resume the run from its checkpoint "
                f"(mtrnn-train --resume {self.path}) or train it again with --overwrite"
            ) from None

    def model_shape(self) -> tuple[int, tuple[int, ...]]:
        """``(n_inputs, head_sizes)`` recorded in ``model.safetensors``."""
        meta = self._model_meta()
        return int(meta["n_inputs"]), tuple(int(n) for n in meta["head_sizes"])

    def model_dt(self) -> float | None:
        """The time step (ms) recorded in ``model.safetensors`` (None for files written before it was)."""
        dt = self._model_meta().get("dt")
        return None if dt is None else float(dt)

    def read_model(self, device: str | torch.device = "cpu") -> dict[str, Tensor]:
        """The tensors of ``model.safetensors``."""
        path = self.file(self.MODEL)
        self._model_meta()
        try:
            tensors = load_safetensors(path.read_bytes())
        except (SafetensorError, OSError, ValueError) as error:
            raise RunFileError(
                f"{path} is corrupt or truncated ({error}); resume the run from its checkpoint "
                f"(mtrnn-train --resume {self.path}) or train it again with --overwrite"
            ) from None
        return {k: v.to(device) for k, v in tensors.items()}

    # ------------------------------------------------------------------ metrics
    def write_metrics(self, rows: Sequence[MetricsRow], columns: Sequence[str]) -> None:
        """Write ``metrics.csv`` (floats with full precision; None as an empty cell; text columns as text)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        self.write_text(self.METRICS, buffer.getvalue())

    def read_metrics(self) -> list[MetricsRow]:
        """Read ``metrics.csv``: ``step``/``trials`` as ints, ``change`` as text, the rest floats (None if empty)."""
        path = self.file(self.METRICS)
        try:
            with path.open(encoding="utf-8", newline="") as file:
                rows: list[MetricsRow] = []
                for raw in csv.DictReader(file):
                    row: MetricsRow = {}
                    for key, text in raw.items():
                        if text == "" or text is None:
                            row[key] = None
                        elif key in TEXT_COLUMNS:
                            row[key] = text
                        elif key in ("step", "trials"):
                            row[key] = int(text)
                        else:
                            row[key] = float(text)
                    rows.append(row)
        except FileNotFoundError:
            raise RunFileError(f"{path} does not exist: the run has not evaluated yet") from None
        except (UnicodeDecodeError, ValueError, csv.Error) as error:
            raise RunFileError(
                f"{path} is corrupt ({error}); the checkpoint holds the same rows: resume the run "
                f"(mtrnn-train --resume {self.path}) to write it again"
            ) from None
        return rows

    # ------------------------------------------------------------------ checkpoint
    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint.safetensors`` atomically (model + optimiser tensors, JSON bookkeeping)."""
        tensors = {f"model.{name}": _cpu(t) for name, t in checkpoint.model.items()}
        optimizer_tensors, optimizer_structure = _optimizer_to_safetensors(checkpoint.optimizer)
        tensors.update(optimizer_tensors)
        callbacks = []
        for saved in checkpoint.callbacks:
            try:
                json.dumps(saved.state, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"the state_dict() of callback {saved.kind} must be JSON-safe (numbers, strings, lists, dicts): "
                    f"{error}"
                ) from None
            callbacks.append({"kind": saved.kind, "state": saved.state})
        meta = {
            "format": _FORMAT,
            "step": checkpoint.step,
            "elapsed": checkpoint.elapsed,
            "metrics": [_json_value(row) for row in checkpoint.metrics],
            "optimizer": optimizer_structure,
            "progress": checkpoint.progress.to_dict(),
            "callbacks": callbacks,
            "extra": _json_value(dict(checkpoint.extra)),
        }
        data = save_safetensors(tensors, metadata={_CHECKPOINT_KEY: json.dumps(meta)})
        self.write_bytes(self.CHECKPOINT, data)

    def read_checkpoint(self) -> Checkpoint:
        """Read ``checkpoint.safetensors`` (RunFileError naming the file when it is missing or corrupt)."""
        path = self.file(self.CHECKPOINT)
        if not path.exists():
            raise RunFileError(
                f"{path} does not exist: {str(self.path)!r} holds no checkpoint to resume from; start the run "
                "again with --overwrite"
            )
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[_CHECKPOINT_KEY])
            tensors = load_safetensors(path.read_bytes())
            model = {name[len("model.") :]: t for name, t in tensors.items() if name.startswith("model.")}
            metrics = [{k: _from_json_number(v) for k, v in row.items()} for row in meta["metrics"]]
            extra = dict(meta.get("extra", {}))
            if "progress" in meta:
                progress = Progress.from_dict(meta["progress"])
                callbacks = tuple(CallbackState(str(c["kind"]), dict(c["state"])) for c in meta["callbacks"])
            elif "loss_sum" in extra:  # format 1 of the supervised trainer: its bookkeeping in "extra"
                progress = Progress.from_dict(extra)
                callbacks = tuple(CallbackState(str(c["type"]), dict(c["state"])) for c in extra["callbacks"])
            else:
                progress, callbacks = Progress(), ()
            return Checkpoint(
                step=int(meta["step"]),
                elapsed=float(meta["elapsed"]),
                model=model,
                optimizer=_optimizer_from_safetensors(tensors, meta["optimizer"]),
                metrics=metrics,
                progress=progress,
                callbacks=callbacks,
                extra=extra,
            )
        except (SafetensorError, OSError, KeyError, ValueError, TypeError, AttributeError) as error:
            raise RunFileError(
                f"{path} is corrupt or truncated ({type(error).__name__}: {error}); the run cannot resume from "
                "it: start the run again with --overwrite (or restore the file from a copy)"
            ) from None


def _cell(value: float | int | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else repr(value)


def _from_json_number(value: Any) -> Any:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def load_config(run_dir: str | os.PathLike[str]) -> TrainConfig:
    """The :class:`TrainConfig` of a run directory (from its ``config.json``)."""
    return RunDir(run_dir).read_config()


def load_agent(run_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> RecurrentNetwork:
    """Rebuild a trained network from ``config.json`` + ``model.safetensors`` (no pickle), in eval mode.

    Args:
        run_dir: the run directory (``runs/<name>``).
        device: where to put the network.

    Returns:
        The :class:`~mtrnn.agents.networks.RecurrentNetwork`, with ``forward(inputs (T, B, n_in))``.

    Raises:
        RunFileError: a file is missing or corrupt, or the run trained a user's own cell (rebuild that cell and
            load ``model.safetensors`` into ``build_network(config.network, ..., cell=cell)`` yourself).
    """
    run = RunDir(run_dir)
    config = run.read_config()
    n_inputs, head_sizes = run.model_shape()
    meta = run._model_meta()
    cell = str(meta.get("cell", "mtrnn.agents.cells:"))
    if not cell.startswith("mtrnn.agents.cells:"):
        raise RunFileError(
            f"{run.file(run.MODEL)} holds a network with a user cell ({cell}): build that cell, then "
            "build_network(load_config(run_dir).network, n_inputs, n_outputs, cell=cell).load_state_dict(...)"
        )
    dt = run.model_dt()
    if dt is None:
        dt = config.build_task().dt
    n_outputs: int | tuple[int, ...] = head_sizes[0] if len(head_sizes) == 1 else head_sizes
    network = build_network(config.network, n_inputs, n_outputs, dt=dt)
    network.load_state_dict(run.read_model())
    return network.to(device).eval()
