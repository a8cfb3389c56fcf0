"""The results file of an evaluation: a JSON document with a published schema, a digest, and validation on read.

Layout (``schema`` = ``"mtrnn-results/1"``; :data:`RESULTS_SCHEMA` is the JSON Schema)::

    {
      "schema": "mtrnn-results/1",
      "agent": {"name", "version", "kind", "source", "sha256"},   # sha256 of the agent's file (null: none)
      "mtrnn_version": "0.1.0",
      "created": "2026-12-02T15:00:00Z",                           # UTC, ISO 8601
      "machine": {"platform", "python", "processor", "cpus", "numpy", "torch"},
      "test_protocol": "mtrnn-test/1",                             # how trials derive from seeds (testsets.py)
      "interval": {"method": "wilson", "confidence": 0.95},
      "tasks": [
        {"env_id": "mtrnn/DelayGo-v0", "version": 0, "status": "ok" | "failed", "kind": "sequence",
         "n_trials": 1024, "n_correct": 1003, "performance": 0.9795, "interval": [0.9688, 0.9867],
         "seeds": {"first": 1000000, "count": 1024}, "seconds": 1.2, "error": null,
         "components": [{"env_id", "n_trials", "n_correct", "performance", "interval"}, ...]},   # mixtures
        ...
      ],
      "digests": {"agent": "<sha256>", ..., "tasks[0]": "<sha256>", ...},
      "digest": "<sha256>"
    }

``performance`` = ``n_correct / n_trials`` and ``interval`` is the 95 % Wilson score interval of that proportion
(Wilson 1927), both re-checked on read. ``digests`` holds the sha256 of the canonical JSON (sorted keys, no
spaces) of every top-level field and of every task entry, ``digest`` that of the whole document without
``digest``; a file edited by hand fails the check and the error names what changed. A digest detects edits; it
does not stop someone who recomputes it (the leaderboard can re-run a submitted agent file, whose sha256 is
recorded, to confirm a result).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from mtrnn.agents.rundir import atomic_write_text

__all__ = [
    "CONFIDENCE",
    "RESULTS_SCHEMA",
    "SCHEMA_ID",
    "AgentInfo",
    "ComponentResult",
    "EvaluationResults",
    "Machine",
    "ResultsError",
    "Status",
    "TaskResult",
    "load_results",
    "save_results",
    "wilson_interval",
]

SCHEMA_ID = "mtrnn-results/1"
#: Confidence level of every interval.
CONFIDENCE = 0.95
_Z95 = 1.959963984540054
_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_PROPORTION = {"type": "number", "minimum": 0, "maximum": 1}
_INTERVAL = {"type": "array", "items": _PROPORTION, "minItems": 2, "maxItems": 2}
_COMPONENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["env_id", "n_trials", "n_correct", "performance", "interval"],
    "properties": {
        "env_id": {"type": "string", "minLength": 1},
        "n_trials": {"type": "integer", "minimum": 1},
        "n_correct": {"type": "integer", "minimum": 0},
        "performance": _PROPORTION,
        "interval": _INTERVAL,
    },
}

#: The JSON Schema (draft 2020-12) of a results file.
RESULTS_SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "mtrnn evaluation results",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "agent",
        "mtrnn_version",
        "created",
        "machine",
        "test_protocol",
        "interval",
        "tasks",
        "digests",
        "digest",
    ],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "agent": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "version", "kind", "source", "sha256"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "version": {"type": "string"},
                "kind": {"enum": ["object", "factory", "run_dir"]},
                "source": {"type": "string"},
                "sha256": {"anyOf": [_SHA, {"type": "null"}]},
            },
        },
        "mtrnn_version": {"type": "string", "minLength": 1},
        "created": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"},
        "machine": {
            "type": "object",
            "additionalProperties": False,
            "required": ["platform", "python", "processor", "cpus", "numpy", "torch"],
            "properties": {
                "platform": {"type": "string"},
                "python": {"type": "string"},
                "processor": {"type": "string"},
                "cpus": {"type": "integer", "minimum": 1},
                "numpy": {"type": "string"},
                "torch": {"type": "string"},
            },
        },
        "test_protocol": {"type": "string", "minLength": 1},
        "interval": {
            "type": "object",
            "additionalProperties": False,
            "required": ["method", "confidence"],
            "properties": {"method": {"const": "wilson"}, "confidence": {"const": CONFIDENCE}},
        },
        "tasks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "env_id",
                    "version",
                    "status",
                    "kind",
                    "n_trials",
                    "n_correct",
                    "performance",
                    "interval",
                    "seeds",
                    "seconds",
                    "error",
                    "components",
                ],
                "properties": {
                    "env_id": {"type": "string", "pattern": r"^[^\s]+-v\d+$"},
                    "version": {"type": "integer", "minimum": 0},
                    "status": {"enum": ["ok", "failed"]},
                    "kind": {"enum": ["sequence", "step", "sb3", None]},
                    "n_trials": {"type": "integer", "minimum": 1},
                    "n_correct": {"type": ["integer", "null"], "minimum": 0},
                    "performance": {"anyOf": [_PROPORTION, {"type": "null"}]},
                    "interval": {"anyOf": [_INTERVAL, {"type": "null"}]},
                    "seeds": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["first", "count"],
                        "properties": {
                            "first": {"type": "integer", "minimum": 0},
                            "count": {"type": "integer", "minimum": 1},
                        },
                    },
                    "seconds": {"type": "number", "minimum": 0},
                    "error": {"type": ["string", "null"]},
                    "components": {"type": "array", "items": _COMPONENT},
                },
            },
        },
        "digests": {"type": "object", "additionalProperties": _SHA},
        "digest": _SHA,
    },
}


class ResultsError(ValueError):
    """A results file is malformed, incomplete, inconsistent or was edited; the message names the field."""


class Status(enum.Enum):
    """Whether a task was evaluated (``OK``) or the agent failed on it (``FAILED``, with the reason)."""

    OK = "ok"
    FAILED = "failed"


def wilson_interval(n_correct: int, n_trials: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of ``n_correct / n_trials`` (95 % for the default ``z``)."""
    if n_trials < 1 or not 0 <= n_correct <= n_trials:
        raise ValueError(f"n_correct must lie in [0, n_trials] with n_trials >= 1, got {n_correct}/{n_trials}")
    p = n_correct / n_trials
    denominator = 1 + z * z / n_trials
    center = (p + z * z / (2 * n_trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / n_trials + z * z / (4 * n_trials * n_trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class AgentInfo:
    """Who was evaluated.

    Attributes:
        name: the agent's name (its ``name`` attribute, the factory's name or the run directory's).
        version: its ``version`` attribute (``""`` when it has none).
        kind: ``"object"`` (an agent passed in Python), ``"factory"`` (third-party code) or ``"run_dir"``.
        source: what was named on the command line (file and factory, module, run directory).
        sha256: sha256 of the agent's file (the factory's ``.py`` file, a run's ``model.safetensors``), or None.
    """

    name: str
    version: str = ""
    kind: str = "object"
    source: str = ""
    sha256: str | None = None


@dataclass(frozen=True)
class Machine:
    """Where the evaluation ran."""

    platform: str
    python: str
    processor: str
    cpus: int
    numpy: str
    torch: str

    @classmethod
    def current(cls) -> Machine:
        """This machine."""
        import numpy
        import torch

        return cls(
            platform=platform.platform(),
            python=platform.python_version(),
            processor=platform.processor() or platform.machine(),
            cpus=os.cpu_count() or 1,
            numpy=numpy.__version__,
            torch=torch.__version__,
        )


@dataclass(frozen=True)
class ComponentResult:
    """One rule of a mixture: its trials of the mixture's test set."""

    env_id: str
    n_trials: int
    n_correct: int

    @property
    def performance(self) -> float:
        return self.n_correct / self.n_trials

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.n_correct, self.n_trials)


@dataclass(frozen=True)
class TaskResult:
    """The outcome on one task.

    Attributes:
        env_id: the task version.
        status: OK, or FAILED with :attr:`error`.
        kind: how the agent was played (``"sequence"``, ``"step"``, ``"sb3"``; None if it never got built).
        n_trials: trials of the test set used.
        first_seed: trial ``i`` used seed ``first_seed + i`` (see :mod:`~mtrnn.agents.evaluation.testsets`).
        n_correct: correct trials (None when failed).
        seconds: wall time of this task's evaluation.
        error: why the agent failed (None when OK).
        components: per-rule counts of a mixture.
    """

    env_id: str
    status: Status
    kind: str | None
    n_trials: int
    first_seed: int
    n_correct: int | None = None
    seconds: float = 0.0
    error: str | None = None
    components: tuple[ComponentResult, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", round(float(self.seconds), 3))  # as stored in the file

    @property
    def version(self) -> int:
        from mtrnn.agents.evaluation.testsets import env_version

        return env_version(self.env_id)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def performance(self) -> float | None:
        """Fraction correct (None when failed)."""
        return None if self.n_correct is None else self.n_correct / self.n_trials

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of :attr:`performance` (None when failed)."""
        return None if self.n_correct is None else wilson_interval(self.n_correct, self.n_trials)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> TaskResult:
        """The inverse of :meth:`to_dict` (derived fields such as ``performance`` are recomputed, not read)."""
        return cls(
            env_id=entry["env_id"],
            status=Status(entry["status"]),
            kind=entry["kind"],
            n_trials=entry["n_trials"],
            first_seed=entry["seeds"]["first"],
            n_correct=entry["n_correct"],
            seconds=float(entry["seconds"]),
            error=entry["error"],
            components=tuple(ComponentResult(c["env_id"], c["n_trials"], c["n_correct"]) for c in entry["components"]),
        )

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "env_id": self.env_id,
            "version": self.version,
            "status": self.status.value,
            "kind": self.kind,
            "n_trials": self.n_trials,
            "n_correct": self.n_correct,
            "performance": self.performance,
            "interval": None if interval is None else list(interval),
            "seeds": {"first": self.first_seed, "count": self.n_trials},
            "seconds": self.seconds,
            "error": self.error,
            "components": [
                {
                    "env_id": c.env_id,
                    "n_trials": c.n_trials,
                    "n_correct": c.n_correct,
                    "performance": c.performance,
                    "interval": list(c.interval),
                }
                for c in self.components
            ],
        }


@dataclass(frozen=True)
class EvaluationResults:
    """Everything one evaluation produced (one agent, several tasks); :func:`save_results` writes it."""

    agent: AgentInfo
    tasks: tuple[TaskResult, ...]
    mtrnn_version: str
    created: str
    machine: Machine
    test_protocol: str

    def task(self, env_id: str) -> TaskResult:
        """The result of ``env_id``."""
        for result in self.tasks:
            if result.env_id == env_id:
                return result
        raise KeyError(f"env_id {env_id!r} was not evaluated; evaluated: {[t.env_id for t in self.tasks]}")

    def performance(self, env_id: str) -> float | None:
        """Fraction correct on ``env_id`` (None when the agent failed on it)."""
        return self.task(env_id).performance

    @property
    def failures(self) -> dict[str, str]:
        """``{env_id: reason}`` of every failed task."""
        return {t.env_id: t.error or "" for t in self.tasks if not t.ok}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, digests included."""
        body: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "agent": {
                "name": self.agent.name,
                "version": self.agent.version,
                "kind": self.agent.kind,
                "source": self.agent.source,
                "sha256": self.agent.sha256,
            },
            "mtrnn_version": self.mtrnn_version,
            "created": self.created,
            "machine": {
                "platform": self.machine.platform,
                "python": self.machine.python,
                "processor": self.machine.processor,
                "cpus": self.machine.cpus,
                "numpy": self.machine.numpy,
                "torch": self.machine.torch,
            },
            "test_protocol": self.test_protocol,
            "interval": {"method": "wilson", "confidence": CONFIDENCE},
            "tasks": [t.to_dict() for t in self.tasks],
        }
        body["digests"] = _field_digests(body)
        body["digest"] = _sha256(body)
        return body

    @classmethod
    def from_dict(cls, data: object, source: str = "results") -> EvaluationResults:
        """Validate a document (schema, digests, internal consistency) and rebuild the results.

        Raises:
            ResultsError: naming ``source`` and the offending field.
        """
        _validate(data, source)
        assert isinstance(data, dict)
        return cls(
            agent=AgentInfo(**data["agent"]),
            tasks=tuple(TaskResult.from_dict(entry) for entry in data["tasks"]),
            mtrnn_version=data["mtrnn_version"],
            created=data["created"],
            machine=Machine(**data["machine"]),
            test_protocol=data["test_protocol"],
        )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _sha256(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k != "digest"})).hexdigest()


def _field_digests(body: Mapping[str, Any]) -> dict[str, str]:
    digests = {}
    for key, value in body.items():
        if key in ("digests", "digest"):
            continue
        if key == "tasks":
            for index, entry in enumerate(value):
                digests[f"tasks[{index}]"] = hashlib.sha256(_canonical(entry)).hexdigest()
        else:
            digests[key] = hashlib.sha256(_canonical(value)).hexdigest()
    return digests


def _path(error: jsonschema.ValidationError) -> str:
    text = "results"
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _validate(data: object, source: str) -> None:
    if not isinstance(data, dict):
        raise ResultsError(f"{source}: the document must be a JSON object, got {type(data).__name__}")
    validator = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        error = errors[0]
        missing = ""
        if error.validator == "required":
            missing = " (a required field is missing)"
        raise ResultsError(f"{source}: field {_path(error)} is invalid{missing}: {error.message}")
    for index, entry in enumerate(data["tasks"]):
        where = f"results.tasks[{index}]"
        if entry["seeds"]["count"] != entry["n_trials"]:
            raise ResultsError(f"{source}: field {where}.seeds.count must equal n_trials ({entry['n_trials']})")
        if entry["version"] != int(entry["env_id"].rsplit("-v", 1)[1]):
            raise ResultsError(f"{source}: field {where}.version does not match env_id {entry['env_id']!r}")
        if entry["status"] == "ok":
            for name in ("n_correct", "performance", "interval", "kind"):
                if entry[name] is None:
                    raise ResultsError(f"{source}: field {where}.{name} must be set when status is 'ok'")
            if entry["error"] is not None:
                raise ResultsError(f"{source}: field {where}.error must be null when status is 'ok'")
            _check_counts(source, where, entry)
            if entry["components"] and (
                sum(c["n_trials"] for c in entry["components"]) != entry["n_trials"]
                or sum(c["n_correct"] for c in entry["components"]) != entry["n_correct"]
            ):
                raise ResultsError(f"{source}: field {where}.components do not add up to n_trials / n_correct")
            for k, component in enumerate(entry["components"]):
                _check_counts(source, f"{where}.components[{k}]", component)
        else:
            for name in ("n_correct", "performance", "interval"):
                if entry[name] is not None:
                    raise ResultsError(f"{source}: field {where}.{name} must be null when status is 'failed'")
            if not entry["error"]:
                raise ResultsError(f"{source}: field {where}.error must give the reason when status is 'failed'")
    expected = _field_digests(data)
    stored = data["digests"]
    for key in sorted(set(expected) | set(stored)):
        if expected.get(key) != stored.get(key):
            field_name = f"results.{key}"
            raise ResultsError(
                f"{source}: field {field_name} does not match its digest (digests[{key!r}]): the file was edited "
                "after it was written; re-run mtrnn-evaluate to produce a valid file"
            )
    if _sha256(data) != data["digest"]:
        raise ResultsError(
            f"{source}: field results.digest does not match the document: the file was edited after it was "
            "written; re-run mtrnn-evaluate"
        )


def _check_counts(source: str, where: str, entry: Mapping[str, Any]) -> None:
    n, k = entry["n_trials"], entry["n_correct"]
    if k > n:
        raise ResultsError(f"{source}: field {where}.n_correct ({k}) exceeds n_trials ({n})")
    if not math.isclose(entry["performance"], k / n, rel_tol=0, abs_tol=1e-12):
        raise ResultsError(f"{source}: field {where}.performance must equal n_correct / n_trials = {k / n!r}")
    low, high = wilson_interval(k, n)
    if not (
        math.isclose(entry["interval"][0], low, abs_tol=1e-12)
        and math.isclose(entry["interval"][1], high, abs_tol=1e-12)
    ):
        raise ResultsError(f"{source}: field {where}.interval must be the 95% Wilson interval [{low!r}, {high!r}]")


def save_results(results: EvaluationResults, path: str | os.PathLike[str]) -> Path:
    """Write ``results`` as JSON to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(results.to_dict(), indent=2) + "\n")
    return path


def load_results(path: str | os.PathLike[str]) -> EvaluationResults:
    """Read and validate a results file.

    Raises:
        ResultsError: the file is not JSON, breaks the schema, is inconsistent or was edited (the message names
            the file and the field).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON ({error}); re-run mtrnn-evaluate to write it again") from error
    return EvaluationResults.from_dict(data, source=str(path))
