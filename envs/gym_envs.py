"""One Gymnasium env class per registered id: ``mtrnn.envs.gym_envs:<Name>Env`` (e.g. ``DelayAntiEnv``).

Each class derives from the entry's env class (:class:`~mtrnn.envs.env.TrialEnv` unless the entry names another)
and builds its own task (``make_task(id, **task_kwargs)``), so
the registered spec holds an entry-point string and JSON-able kwargs only. The classes are generated from
:data:`mtrnn.envs.registry.ENV_SPECS` on first access (``from mtrnn.envs.gym_envs import DelayAntiEnv``, gymnasium's
entry-point loader, pickle), each with its documentation page (:func:`mtrnn.envs.env_pages.env_page`) as its
docstring, so ``help(gym.make(id).unwrapped)`` is the env's page.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from gymnasium.core import Env

from mtrnn.envs.env_pages import env_page
from mtrnn.envs.registry import ENV_SPECS, EnvEntry, make_task

__all__ = ["env_class", "load_entry_point"]


def load_entry_point(path: str) -> type[Env]:
    """The class named by ``"module:Class"``."""
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Env)):
        raise TypeError(f"entry point {path!r} must name a gymnasium Env class, got {cls!r}")
    return cls


_CLASSES: dict[str, type[Env]] = {}


def env_class(entry: EnvEntry) -> type[Env]:
    """The env class of a registry entry (built once): a subclass of the entry's env class whose constructor takes
    that class's keyword arguments (``streaming``, rewards, …) plus the task's (``dt``, ``timing``, …) and builds
    the task with ``make_task(entry.id, **task_kwargs)``. Its docstring is the env's page."""
    name = entry.class_name
    if name in _CLASSES:
        return _CLASSES[name]
    base = load_entry_point(entry.entry_point)
    params = [p for p in inspect.signature(base.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY]
    env_args = frozenset(p.name for p in params)

    def __init__(self: Env, **kwargs: Any) -> None:
        env_kwargs = {k: v for k, v in kwargs.items() if k in env_args}
        task_kwargs = {k: v for k, v in kwargs.items() if k not in env_args}
        base.__init__(self, make_task(entry.id, **task_kwargs), **env_kwargs)  # type: ignore[call-arg]

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    task_param = inspect.Parameter("task_kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any")
    __init__.__signature__ = inspect.Signature([self_param, *params, task_param])  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__doc__ = f"Build ``{entry.id}``: env arguments of :class:`{base.__name__}`, the rest go to the task."
    namespace = {"entry": entry, "__init__": __init__, "__module__": __name__, "__qualname__": name}
    cls = type(name, (base,), namespace)
    cls.__doc__ = env_page(entry)
    _CLASSES[name] = cls
    return cls


def __getattr__(name: str) -> type[Env]:
    for entry in ENV_SPECS:
        if entry.class_name == name:
            return env_class(entry)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *(entry.class_name for entry in ENV_SPECS)])
