"""Run directories: ``runs/<name>/`` with ``config.json``, ``model.safetensors``, ``metrics.csv``, a checkpoint and
``report.md``. Every write is atomic (a temporary file in the same folder, then ``os.replace``) and nothing is ever
pickled: tensors live in safetensors files, structure in JSON.

Layout::

    runs/<name>/config.json               TrainConfig.to_dict()
    runs/<name>/model.safetensors         the network's state_dict; metadata: n_inputs, head_sizes
    runs/<name>/metrics.csv               step, trials, time, loss, perf/<env id> per task
    runs/<name>/checkpoint.safetensors    model + optimiser tensors; metadata: step, time, metrics, optimiser
                                          structure, callback states (everything a resume needs, in one file)
    runs/<name>/report.md, *.png          written at the end of training
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from mtrnn.agents.config import TrainConfig
from mtrnn.agents.networks import RecurrentNetwork, build_network

__all__ = [
    "Checkpoint",
    "RunDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_agent",
    "load_config",
]

_CHECKPOINT_KEY = "mtrnn.checkpoint"
_MODEL_KEY = "mtrnn.model"
_FORMAT = 1

#: One metrics.csv row: column name -> value (None for an empty cell).
MetricsRow = dict[str, float | int | None]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
        extra: JSON-safe trainer bookkeeping (loss accumulators, timings, callback states).
    """

    step: int
    elapsed: float
    model: Mapping[str, Tensor]
    optimizer: Mapping[str, Any]
    metrics: Sequence[MetricsRow]
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

    Args:
        path: the folder (``runs/<name>``).
    """

    CONFIG = "config.json"
    MODEL = "model.safetensors"
    METRICS = "metrics.csv"
    CHECKPOINT = "checkpoint.safetensors"
    REPORT = "report.md"

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

    def clear(self) -> None:
        """Delete the files a run writes (and nothing else)."""
        for name in (self.CONFIG, self.MODEL, self.METRICS, self.CHECKPOINT, self.REPORT):
            self.file(name).unlink(missing_ok=True)
        for png in self.path.glob("*.png"):
            png.unlink()

    # ------------------------------------------------------------------ config
    def write_config(self, config: TrainConfig) -> None:
        """Write ``config.json``."""
        atomic_write_text(self.file(self.CONFIG), json.dumps(config.to_dict(), indent=2) + "\n")

    def read_config(self) -> TrainConfig:
        """Read ``config.json``."""
        path = self.file(self.CONFIG)
        if not path.exists():
            raise FileNotFoundError(f"run_dir {str(self.path)!r} has no {self.CONFIG}; is it a run directory?")
        return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ model
    def write_model(self, network: RecurrentNetwork) -> None:
        """Write ``model.safetensors``: the state_dict, with ``n_inputs`` and ``head_sizes`` as metadata."""
        tensors = {name: _cpu(t) for name, t in network.state_dict().items()}
        meta = {"format": _FORMAT, "n_inputs": network.n_inputs, "head_sizes": list(network.head_sizes)}
        atomic_write_bytes(self.file(self.MODEL), save_safetensors(tensors, metadata={_MODEL_KEY: json.dumps(meta)}))

    def model_shape(self) -> tuple[int, tuple[int, ...]]:
        """``(n_inputs, head_sizes)`` recorded in ``model.safetensors``."""
        path = self.file(self.MODEL)
        if not path.exists():
            raise FileNotFoundError(f"run_dir {str(self.path)!r} has no {self.MODEL}")
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})[_MODEL_KEY])
        return int(meta["n_inputs"]), tuple(int(n) for n in meta["head_sizes"])

    def read_model(self, device: str | torch.device = "cpu") -> dict[str, Tensor]:
        """The tensors of ``model.safetensors``."""
        data = self.file(self.MODEL).read_bytes()
        return {k: v.to(device) for k, v in load_safetensors(data).items()}

    # ------------------------------------------------------------------ metrics
    def write_metrics(self, rows: Sequence[MetricsRow], columns: Sequence[str]) -> None:
        """Write ``metrics.csv`` (floats with full precision; None as an empty cell)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else repr(row[c]) for c in columns])
        atomic_write_text(self.file(self.METRICS), buffer.getvalue())

    def read_metrics(self) -> list[MetricsRow]:
        """Read ``metrics.csv``: ``step``/``trials`` as ints, everything else as floats (None when empty)."""
        with self.file(self.METRICS).open(encoding="utf-8", newline="") as file:
            rows: list[MetricsRow] = []
            for raw in csv.DictReader(file):
                row: MetricsRow = {}
                for key, text in raw.items():
                    if text == "":
                        row[key] = None
                    elif key in ("step", "trials"):
                        row[key] = int(text)
                    else:
                        row[key] = float(text)
                rows.append(row)
        return rows

    # ------------------------------------------------------------------ checkpoint
    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint.safetensors`` atomically (model + optimiser tensors, JSON bookkeeping)."""
        tensors = {f"model.{name}": _cpu(t) for name, t in checkpoint.model.items()}
        optimizer_tensors, optimizer_structure = _optimizer_to_safetensors(checkpoint.optimizer)
        tensors.update(optimizer_tensors)
        meta = {
            "format": _FORMAT,
            "step": checkpoint.step,
            "elapsed": checkpoint.elapsed,
            "metrics": [_json_value(row) for row in checkpoint.metrics],
            "optimizer": optimizer_structure,
            "extra": _json_value(dict(checkpoint.extra)),
        }
        data = save_safetensors(tensors, metadata={_CHECKPOINT_KEY: json.dumps(meta)})
        atomic_write_bytes(self.file(self.CHECKPOINT), data)

    def read_checkpoint(self) -> Checkpoint:
        """Read ``checkpoint.safetensors``."""
        path = self.file(self.CHECKPOINT)
        if not path.exists():
            raise FileNotFoundError(f"run_dir {str(self.path)!r} has no {self.CHECKPOINT} to resume from")
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})[_CHECKPOINT_KEY])
        tensors = load_safetensors(path.read_bytes())
        model = {name[len("model.") :]: t for name, t in tensors.items() if name.startswith("model.")}
        metrics = [{k: _from_json_number(v) for k, v in row.items()} for row in meta["metrics"]]
        return Checkpoint(
            step=int(meta["step"]),
            elapsed=float(meta["elapsed"]),
            model=model,
            optimizer=_optimizer_from_safetensors(tensors, meta["optimizer"]),
            metrics=metrics,
            extra=meta["extra"],
        )


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
    """
    run = RunDir(run_dir)
    config = run.read_config()
    n_inputs, head_sizes = run.model_shape()
    n_outputs: int | tuple[int, ...] = head_sizes[0] if len(head_sizes) == 1 else head_sizes
    network = build_network(config.network, n_inputs, n_outputs)
    network.load_state_dict(run.read_model())
    return network.to(device).eval()
