"""``evaluate(agent, env_ids)``: score any agent on the frozen test sets, under the rules every agent shares.

* a :class:`~mtrnn.agents.evaluation.protocols.SequenceAgent` is scored by the task's own ``score`` on whole
  batches (as the trainer scores networks);
* a :class:`~mtrnn.agents.evaluation.protocols.StepAgent` is played step by step on whole batches and judged by
  the gym env's rule, :func:`mtrnn.envs.decision_outcome` (``Playback.BATCH``, the default), or trial by trial
  through ``gym.make(env_id)`` (``Playback.GYM``); both give the same number for a deterministic agent, because
  the tasks are open loop (observations do not depend on actions) and every test trial is the trial
  ``env.reset(seed=first_seed + i)`` plays;
* an :class:`~mtrnn.agents.evaluation.protocols.SB3Policy` is played through the gym envs (``Playback.GYM``, the
  default) or on whole batches with ``n_envs = B`` (``Playback.BATCH``), deterministically.

An agent that raises, returns the wrong shape, NaNs or invalid actions fails that task: the result records the
reason and the other tasks go on. Third-party code named by a spec runs in its own process with time and memory
limits (:mod:`~mtrnn.agents.evaluation.isolation`).
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from mtrnn.agents.evaluation.protocols import AgentFactory, AgentKind, as_agent
from mtrnn.agents.evaluation.results import (
    AgentInfo,
    ComponentResult,
    EvaluationResults,
    Machine,
    Status,
    TaskResult,
)
from mtrnn.agents.evaluation.specs import AgentSpec
from mtrnn.agents.evaluation.testsets import TEST_PROTOCOL, TestSet, frozen_test_set
from mtrnn.envs import ENV_SPECS, MultiTask, Task, TrialBatch, decision_outcome, make_task

__all__ = ["AgentError", "Playback", "evaluate", "evaluate_task", "mtrnn_version"]

#: Trials per batch handed to an agent (bounds memory; the trials do not depend on it).
CHUNK = 256


class Playback(enum.Enum):
    """How step agents and SB3 models are played (sequence agents always get whole batches)."""

    BATCH = "batch"
    """Whole batches, one step at a time, judged by :func:`mtrnn.envs.decision_outcome`."""
    GYM = "gym"
    """Trial by trial through ``gym.make(env_id)``; the env's ``info["performance"]`` at the trial's end."""


class AgentError(RuntimeError):
    """The agent broke its protocol (wrong shape, non-finite outputs, invalid actions)."""


def mtrnn_version() -> str:
    """The installed mtrnn version."""
    try:
        return metadata.version("mtrnn")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- playing one kind of agent
def _check_outputs(outputs: object, batch: TrialBatch, n_outputs: int) -> NDArray[np.floating]:
    array = np.asarray(outputs)
    expected = (batch.n_steps, batch.batch_size, n_outputs)
    if array.shape != expected:
        raise AgentError(f"predict returned shape {array.shape}, expected (T, B, n_out) = {expected}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise AgentError(f"predict returned dtype {array.dtype}, expected real numbers")
    if not np.isfinite(array).all():
        raise AgentError(f"predict returned {int((~np.isfinite(array)).sum())} non-finite values (NaN or inf)")
    return array


def _check_actions(actions: object, batch_size: int, n_actions: int, what: str) -> NDArray[np.int64]:
    array = np.asarray(actions)
    if array.shape == () and batch_size == 1:
        array = array.reshape(1)
    if array.shape != (batch_size,):
        raise AgentError(f"{what} returned shape {array.shape}, expected (B,) = ({batch_size},)")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise AgentError(f"{what} returned non-finite or non-numeric actions ({array.dtype})")
    as_int = array.astype(np.int64)
    if (as_int != array).any() or as_int.min() < 0 or as_int.max() >= n_actions:
        raise AgentError(f"{what} returned actions outside the integers [0, {n_actions}): {np.unique(array)[:8]}")
    return as_int


def _sb3_step(model: Any, observations: NDArray[np.float32], state: Any, starts: NDArray[np.bool_]) -> tuple[Any, Any]:
    return model.predict(observations, state=state, episode_start=starts, deterministic=True)


def _play_batches(agent: Any, kind: AgentKind, task: Task, test: TestSet, chunk: int) -> NDArray[np.float64]:
    scores = []
    for _, batch in test.batches(task, chunk):
        inputs = batch.inputs
        if kind is AgentKind.SEQUENCE:
            outputs = _check_outputs(agent.predict(inputs.copy()), batch, task.n_outputs)
            scores.append(np.asarray(task.score(outputs, batch), dtype=np.float64))
            continue
        actions = np.zeros((batch.n_steps, batch.batch_size), dtype=np.int64)
        if kind is AgentKind.STEP:
            agent.reset(batch.batch_size)
            for t in range(batch.n_steps):
                actions[t] = _check_actions(agent.act(inputs[t].copy()), batch.batch_size, task.n_actions, "act")
        else:
            state = None
            for t in range(batch.n_steps):
                starts = np.full(batch.batch_size, t == 0)
                action, state = _sb3_step(agent, inputs[t].copy(), state, starts)
                actions[t] = _check_actions(action, batch.batch_size, task.n_actions, "predict")
        scores.append(
            decision_outcome(
                actions, batch, task.decision_start(batch), task.correct_actions(batch), task.response_deadline(batch)
            )
        )
    return np.concatenate(scores)


def _play_gym(agent: Any, kind: AgentKind, test: TestSet, n_actions: int) -> NDArray[np.float64]:
    env = gym.make(test.env_id)
    scores = np.zeros(test.n_trials)
    try:
        for i, seed in enumerate(test.seeds):
            observation, _ = env.reset(seed=seed, options={"conditions": test.conditions(i)})
            state: Any = None
            if kind is AgentKind.STEP:
                agent.reset(1)
            first = True
            while True:
                observations = np.asarray(observation, dtype=np.float32)[None].copy()
                if kind is AgentKind.STEP:
                    action = _check_actions(agent.act(observations), 1, n_actions, "act")[0]
                else:
                    raw, state = _sb3_step(agent, observations, state, np.array([first]))
                    action = _check_actions(np.asarray(raw).reshape(-1), 1, n_actions, "predict")[0]
                first = False
                observation, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    scores[i] = float(info.get("performance", 0.0))
                    break
    finally:
        env.close()
    return scores


def _component_ids(env_id: str, task: MultiTask) -> list[str]:
    ids = []
    for k, component in enumerate(task.tasks):
        match = [
            e.id
            for e in ENV_SPECS
            if e.task is type(component) and e.id != env_id and repr(make_task(e.id)) == repr(component)
        ]
        ids.append(match[0] if match else f"{env_id}#{k}")
    return ids


# ---------------------------------------------------------------------- one task, one agent
def evaluate_task(
    agent: object,
    env_id: str,
    *,
    n_trials: int | None = None,
    playback: Playback | None = None,
    chunk: int = CHUNK,
) -> TaskResult:
    """Score one agent on the frozen test set of ``env_id``.

    Args:
        agent: a sequence agent, step agent, SB3 model or ``torch.nn.Module`` built for this task.
        env_id: a registered id.
        n_trials: use the first ``n_trials`` trials of the test set (None: all of them).
        playback: how to play step agents / SB3 models (None: BATCH for step agents, GYM for SB3 models).
        chunk: trials per batch handed to the agent.

    Returns:
        A :class:`TaskResult`: OK with the counts, or FAILED with the reason when the agent misbehaved.
    """
    if playback is not None and not isinstance(playback, Playback):
        raise TypeError(f"playback must be a Playback ({[p.value for p in Playback]}) or None, got {playback!r}")
    test = frozen_test_set(env_id, n_trials)
    start = time.perf_counter()
    kind: AgentKind | None = None
    try:
        agent, kind = as_agent(agent)
        task = make_task(env_id)
        mode = playback or (Playback.GYM if kind is AgentKind.SB3 else Playback.BATCH)
        if kind is AgentKind.SEQUENCE or mode is Playback.BATCH:
            scores = _play_batches(agent, kind, task, test, chunk)
        else:
            scores = _play_gym(agent, kind, test, task.n_actions)
    except Exception as error:
        return TaskResult(
            env_id,
            Status.FAILED,
            None if kind is None else kind.value,
            test.n_trials,
            test.first_seed,
            seconds=time.perf_counter() - start,
            error=f"{type(error).__name__}: {error}",
        )
    components: tuple[ComponentResult, ...] = ()
    if isinstance(task, MultiTask):
        rules = np.arange(test.n_trials) % task.n_rules
        ids = _component_ids(env_id, task)
        components = tuple(
            ComponentResult(ids[k], int((rules == k).sum()), int(scores[rules == k].sum()))
            for k in range(task.n_rules)
            if (rules == k).any()
        )
    return TaskResult(
        env_id,
        Status.OK,
        kind.value,
        test.n_trials,
        test.first_seed,
        n_correct=round(float(scores.sum())),
        seconds=time.perf_counter() - start,
        components=components,
    )


# ---------------------------------------------------------------------- the public entry point
def _is_agent(value: object) -> bool:
    return isinstance(value, torch.nn.Module) or any(callable(getattr(value, m, None)) for m in ("predict", "act"))


def _dims(env_id: str) -> dict[str, Any]:
    task = make_task(env_id)
    return {"env_id": env_id, "n_inputs": task.n_inputs, "n_outputs": task.n_outputs, "n_actions": task.n_actions}


def evaluate(
    agent: object,
    env_ids: str | Sequence[str],
    *,
    n_trials: int | None = None,
    playback: Playback | None = None,
    isolate: bool | None = None,
    limits: Any = None,
    name: str | None = None,
    version: str | None = None,
    progress: bool = False,
) -> EvaluationResults:
    """Evaluate an agent on every task of ``env_ids`` with the frozen test sets.

    Args:
        agent: an agent object (sequence agent, step agent, SB3 model, ``torch.nn.Module``; used for every
            task), an :class:`~mtrnn.agents.evaluation.protocols.AgentFactory` (called once per task with
            ``env_id``, ``n_inputs``, ``n_outputs``, ``n_actions``), or a spec string / path: an mtrnn run
            directory, ``path/to/file.py:factory`` or ``module:factory``.
        env_ids: one registered id or several.
        n_trials: use the first ``n_trials`` trials of each test set (None: the full frozen set).
        playback: how step agents and SB3 models are played (see :class:`Playback`).
        isolate: run each task in its own process with ``limits`` (None: yes for third-party specs, no
            otherwise; only specs can be isolated).
        limits: an :class:`~mtrnn.agents.evaluation.isolation.Limits` (None: its defaults).
        name: the agent's name in the results (default: its ``name`` attribute, the factory's or spec's name).
        version: its version (default: its ``version`` attribute, else ``""``).
        progress: show a tqdm bar over the tasks.

    Returns:
        :class:`EvaluationResults` (save them with :func:`~mtrnn.agents.evaluation.results.save_results`).
    """
    ids = [env_ids] if isinstance(env_ids, str) else list(env_ids)
    if not ids:
        raise ValueError("env_ids must name at least one registered id")
    for env_id in ids:
        frozen_test_set(env_id, n_trials)  # validates the id and n_trials up front
    spec: AgentSpec | None = None
    if isinstance(agent, (str, os.PathLike)):
        spec = AgentSpec.parse(os.fspath(agent))
    if isolate and spec is None:
        raise ValueError("isolate=True needs the agent as a spec string (file.py:factory, module:factory, run dir)")
    if spec is not None and (isolate if isolate is not None else spec.third_party):
        from mtrnn.agents.evaluation.isolation import Limits, evaluate_isolated

        return evaluate_isolated(
            spec,
            ids,
            limits=limits or Limits(),
            n_trials=n_trials,
            playback=playback,
            name=name,
            version=version,
            progress=progress,
        )
    factory: AgentFactory | None
    if spec is not None:
        info = AgentInfo(
            spec.default_name, "", "run_dir" if not spec.third_party else "factory", spec.text, spec.sha256()
        )
        factory = None
        try:
            factory = spec.factory()
        except Exception as error:
            load_error = f"{type(error).__name__}: {error}"
    elif _is_agent(agent):
        info = AgentInfo(str(getattr(agent, "name", "") or type(agent).__name__), kind="object")
        factory = None
    elif callable(agent):
        info = AgentInfo(getattr(agent, "__name__", type(agent).__name__), kind="factory")
        factory = agent
    else:
        raise TypeError(f"agent must be an agent, a factory or a spec string, got {type(agent).__name__}")
    results: list[TaskResult] = []
    names: list[tuple[str, str]] = []
    for env_id in tqdm(ids, desc="evaluate", disable=not progress):
        if spec is not None and factory is None:
            test = frozen_test_set(env_id, n_trials)
            results.append(TaskResult(env_id, Status.FAILED, None, test.n_trials, test.first_seed, error=load_error))
            continue
        built: object = agent
        if factory is not None:
            try:
                built = factory(**_dims(env_id))
            except Exception as error:
                test = frozen_test_set(env_id, n_trials)
                results.append(
                    TaskResult(
                        env_id,
                        Status.FAILED,
                        None,
                        test.n_trials,
                        test.first_seed,
                        error=f"factory: {type(error).__name__}: {error}",
                    )
                )
                continue
        names.append((str(getattr(built, "name", "") or ""), str(getattr(built, "version", "") or "")))
        results.append(evaluate_task(built, env_id, n_trials=n_trials, playback=playback))
    agent_name = name or next((n for n, _ in names if n), None) or info.name
    agent_version = version if version is not None else next((v for _, v in names if v), info.version)
    return EvaluationResults(
        agent=AgentInfo(agent_name, agent_version, info.kind, info.source, info.sha256),
        tasks=tuple(results),
        mtrnn_version=mtrnn_version(),
        created=_now(),
        machine=Machine.current(),
        test_protocol=TEST_PROTOCOL,
    )
