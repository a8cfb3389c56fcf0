"""The training task of a run, and how a run's ``config.json`` describes it so that the run directory alone can
rebuild it.

A task is described in one of two ways:

* registered ids (``TrainConfig.env_ids``) with per-id constructor arguments (``TrainConfig.task_kwargs``,
  e.g. ``{"mtrnn/DelayAnti-v0": {"n_locations": 4, "dt": 10}}``); several ids train as one
  :class:`~mtrnn.envs.MultiTask`;
* a :class:`TaskSource` (``TrainConfig.custom_task``) for any other Task object given to the trainer
  (a :class:`~mtrnn.envs.neurogym_adapter.NeurogymTask`, a user's Task subclass): its class and, when they can be
  found, its constructor arguments.

:func:`describe_task` turns a Task object into one of these and checks the description by rebuilding the task and
comparing a seeded batch of trials with the original's; a description that does not reproduce the task is never
recorded as one (the run then records the real class name and needs ``task=`` again to resume).
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtrnn.envs import ENV_SPECS, MultiTask, Task, make_task

__all__ = ["TaskSource", "build_task", "describe_task", "same_task"]


def build_task(
    env_ids: tuple[str, ...],
    weights: tuple[float, ...] | None = None,
    kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Task:
    """The training task: one registered task, or a :class:`MultiTask` of several (one rule per batch).

    Args:
        env_ids: registered ids.
        weights: relative sampling weight per id (several ids only).
        kwargs: constructor arguments per id (``make_task(env_id, **kwargs[env_id])``).

    Several tasks get one-hot rule inputs unless every one of them carries its own rule cue (Yang's tasks); their
    ``component_ids`` are the env ids.
    """
    kwargs = kwargs or {}
    tasks = [make_task(env_id, **dict(kwargs.get(env_id, {}))) for env_id in env_ids]
    if len(tasks) == 1:
        return tasks[0]
    rule_inputs = not all(task.carries_rule_input for task in tasks)
    return MultiTask(tasks, weights, rule_inputs=rule_inputs, component_ids=list(env_ids))


@dataclass(frozen=True)
class TaskSource:
    """A training task given as an object rather than as registered ids, as ``config.json`` records it.

    Attributes:
        factory: ``"package.module:QualName"`` of the task's class.
        kwargs: JSON-safe constructor arguments that rebuild the task (``factory(**kwargs)``), or None when
            they could not be found (then the run needs the same task object again to resume).
        name: the task's name (its metrics column is ``perf/<name>``).
        description: ``repr(task)``, for people reading the config.
    """

    factory: str
    kwargs: Mapping[str, Any] | None
    name: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.factory, str) or ":" not in self.factory:
            raise TypeError(f"custom_task.factory must be 'package.module:QualName', got {self.factory!r}")
        if self.kwargs is not None:
            if not isinstance(self.kwargs, Mapping):
                raise TypeError(f"custom_task.kwargs must be a mapping or None, got {self.kwargs!r}")
            _check_json(f"custom_task.kwargs of {self.factory}", self.kwargs)
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"custom_task.name must be a non-empty string, got {self.name!r}")

    @property
    def rebuildable(self) -> bool:
        """Whether :meth:`build` can rebuild the task (its constructor arguments are known)."""
        return self.kwargs is not None

    def load_class(self) -> type:
        """Import the task's class."""
        module_name, _, qualname = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"custom_task.factory {self.factory!r} cannot be imported: {error}") from error
        if not isinstance(target, type) or not issubclass(target, Task):
            raise TypeError(f"custom_task.factory {self.factory!r} must name a Task class")
        return target

    def build(self) -> Task:
        """Rebuild the task; ValueError when its arguments are unknown (pass the task object again)."""
        if self.kwargs is None:
            raise ValueError(
                f"this run trained on a {self.factory} task whose constructor arguments could not be recorded "
                f"({self.description}); pass the same task object again (Trainer.resume(..., task=task))"
            )
        task = self.load_class()(**dict(self.kwargs))
        assert isinstance(task, Task)
        return task

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (inverse of :meth:`from_dict`)."""
        kwargs = None if self.kwargs is None else json.loads(json.dumps(dict(self.kwargs)))
        return {"factory": self.factory, "kwargs": kwargs, "name": self.name, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSource:
        """Build from :meth:`to_dict`'s output."""
        if not isinstance(data, Mapping):
            raise TypeError(f"custom_task must be a mapping with factory, kwargs, name, got {data!r}")
        unknown = sorted(set(data) - {"factory", "kwargs", "name", "description"})
        if unknown:
            raise ValueError(
                f"custom_task has unknown field(s) {unknown}; fields are factory, kwargs, name, description"
            )
        return cls(data.get("factory", ""), data.get("kwargs"), data.get("name", ""), data.get("description", ""))


def _check_json(name: str, value: Any) -> None:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be JSON-safe (numbers, strings, lists, dicts), got {value!r}: {error}") from None
    if json.loads(text) != value and not isinstance(value, Mapping):
        raise TypeError(f"{name} must survive a JSON round trip, got {value!r}")


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _json_safe(value: Any) -> Any:
    """``value`` as plain JSON (numpy scalars and tuples converted), or raise TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple):
        value = list(value)
    text = json.dumps(value, allow_nan=False)
    return json.loads(text)


def _constructor_kwargs(task: Task) -> dict[str, Any] | None:
    """The task's constructor arguments: its own ``to_dict()`` when it has one (e.g.
    :meth:`~mtrnn.envs.neurogym_adapter.NeurogymTask.to_dict`), else read back from same-named attributes (those
    equal to the default, and those that are not JSON, are left out); None when they cannot be found."""
    if hasattr(task, "to_dict") and callable(task.to_dict):
        try:
            return dict(_json_safe(task.to_dict()))
        except (TypeError, ValueError):
            return None
    try:
        parameters = inspect.signature(type(task).__init__).parameters
    except (TypeError, ValueError):
        return None
    kwargs: dict[str, Any] = {}
    for name, parameter in list(parameters.items())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(task, name):
            if parameter.default is parameter.empty:
                return None
            continue
        value = getattr(task, name)
        if parameter.default is not parameter.empty:
            try:
                if bool(value == parameter.default):
                    continue
            except (TypeError, ValueError):
                pass
        try:
            kwargs[name] = _json_safe(value)
        except (TypeError, ValueError):
            if parameter.default is parameter.empty:
                return None
            # Not JSON (e.g. a timing of TimingSpec objects): left at its default; the caller checks the rebuilt
            # task against the original, so a non-default value here makes the description fail, never lie.
    return kwargs


def same_task(a: Task, b: Task, trials: int = 8) -> bool:
    """Whether ``a`` and ``b`` draw the same trials: sizes, ``dt``, and a seeded batch (inputs with their noise,
    targets, mask, labels) equal."""
    if type(a) is not type(b):
        return False
    if (a.n_inputs, a.n_outputs, a.n_actions) != (b.n_inputs, b.n_outputs, b.n_actions):
        return False
    if not math.isclose(a.dt, b.dt) or not math.isclose(a.input_noise_std, b.input_noise_std):
        return False
    first = a.sample_batch(trials, np.random.default_rng(12345))
    second = b.sample_batch(trials, np.random.default_rng(12345))
    return all(
        x.shape == y.shape and np.array_equal(x, y)
        for x, y in (
            (first.inputs, second.inputs),
            (first.targets, second.targets),
            (first.mask, second.mask),
            (first.labels, second.labels),
        )
    )


def _registered(task: Task) -> tuple[str, dict[str, Any]] | None:
    """``(env_id, kwargs)`` rebuilding ``task`` with :func:`~mtrnn.envs.make_task`, checked; None if none does."""
    kwargs = _constructor_kwargs(task)
    if kwargs is None:
        return None
    for entry in ENV_SPECS:
        if entry.task is not type(task):
            continue
        defaults = _constructor_kwargs(make_task(entry.id)) or {}
        reduced = {k: v for k, v in kwargs.items() if defaults.get(k, _MISSING) != v}
        try:
            candidate = make_task(entry.id, **reduced)
        except (TypeError, ValueError):
            continue
        if same_task(candidate, task):
            return entry.id, reduced
    return None


_MISSING = object()


def describe_task(
    task: Task,
) -> tuple[tuple[str, ...], tuple[float, ...] | None, dict[str, dict[str, Any]]] | TaskSource:
    """How ``config.json`` records ``task``: ``(env_ids, task_weights, task_kwargs)`` when registered ids rebuild
    it exactly (checked on a seeded batch), else a :class:`TaskSource` (rebuildable when its constructor
    arguments could be read back and rebuild the same trials)."""
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task, got {type(task).__name__}")
    found = _registered(task)
    if found is not None:
        env_id, kwargs = found
        return (env_id,), None, ({env_id: kwargs} if kwargs else {})
    if isinstance(task, MultiTask):
        parts = [_registered(component) for component in task.tasks]
        if all(part is not None for part in parts):
            ids = tuple(part[0] for part in parts if part is not None)
            kwargs = {part[0]: part[1] for part in parts if part is not None and part[1]}
            weights = tuple(float(w) for w in task.weights)
            uniform = bool(np.allclose(task.weights, task.weights[0]))
            if len(set(ids)) == len(ids):
                try:
                    candidate = build_task(ids, None if uniform else weights, kwargs)
                except (TypeError, ValueError):
                    candidate = None
                if candidate is not None and same_task(candidate, task):
                    return ids, (None if uniform else weights), kwargs
    arguments = _constructor_kwargs(task)
    source_kwargs: dict[str, Any] | None = None
    if arguments is not None:
        try:
            rebuilt = type(task)(**arguments)
        except (TypeError, ValueError):
            rebuilt = None
        if rebuilt is not None and same_task(rebuilt, task):
            source_kwargs = arguments
    return TaskSource(_qualified(type(task)), source_kwargs, task.name, repr(task))
