"""Running a trained network for analysis: networks from run directories, long input processes, test batches.

Everything here is inference only (``torch.no_grad``, the network in eval mode: no recurrent noise) and returns
numpy arrays, time-major like the rest of mtrnn: ``inputs (T, B, n_in) -> states (T, B, state_size)``.

Input processes (what drives a network for timescale analysis) follow the :class:`InputProcess` protocol, so
users can plug in their own: :class:`BernoulliInput` is the random binary stream of Khajehabdollahi, Zeraati et
al. 2024 (ICLR; LevinaLab/rnn_timescale_public: each trial has its own ``p ~ U(0, 1)``), :class:`TaskInput`
strings a task's trials back to back.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.agents.rundir import load_agent, load_config
from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.task import Task
from mtrnn.envs.yang19.grids import ConditionGrid

__all__ = [
    "BernoulliInput",
    "InputProcess",
    "NetworkLike",
    "TaskInput",
    "analysis_batches",
    "check_positive_int",
    "copy_network",
    "drive_long",
    "evaluate_performance",
    "is_run_dir",
    "named_tasks",
    "network_dt",
    "resolve_network",
    "run_network",
    "task_of_run",
]

#: A trained network, or the run directory it lives in (``runs/<name>``).
NetworkLike: TypeAlias = RecurrentNetwork | str | os.PathLike[str]


def check_positive_int(name: str, value: object, low: int = 1) -> int:
    """Validate an integer argument ``>= low``; the error names the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def resolve_network(network: NetworkLike, device: str | torch.device = "cpu") -> RecurrentNetwork:
    """The network itself, or the one :func:`~mtrnn.agents.rundir.load_agent` rebuilds from a run directory."""
    if isinstance(network, RecurrentNetwork):
        return network
    if isinstance(network, (str, os.PathLike)):
        return load_agent(network, device=device)
    raise TypeError(f"network must be a RecurrentNetwork or a run directory path, got {type(network).__name__}")


def network_dt(network: RecurrentNetwork) -> float:
    """The time step in ms the network's dynamics assume (``network.dt``, else ``config.dt``, else 20 ms)."""
    for value in (getattr(network, "dt", None), getattr(network.config, "dt", None)):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 20.0


def task_of_run(run_dir: str | os.PathLike[str]) -> Task:
    """The task a run directory was trained on (one task, or the :class:`MultiTask` of its ``env_ids``)."""
    config = load_config(run_dir)
    builder = getattr(config, "build_task", None)
    if callable(builder):
        task = builder()
        if not isinstance(task, Task):
            raise TypeError(f"config.build_task() of {run_dir} returned {type(task).__name__}, not a Task")
        return task
    from mtrnn.agents.batches import build_task

    return build_task(config.env_ids, config.task_weights)


def run_network(
    network: RecurrentNetwork, inputs: NDArray[np.floating] | torch.Tensor, h0: torch.Tensor | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Run ``inputs (T, B, n_in)`` through ``network`` in eval mode, no gradients.

    Returns:
        ``outputs (T, B, n_out)`` and ``states (T, B, state_size)`` as float32 numpy arrays.
    """
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32) if not isinstance(inputs, torch.Tensor) else inputs)
    if x.dim() != 3 or x.shape[-1] != network.n_inputs:
        raise ValueError(f"inputs must have shape (T, B, n_inputs={network.n_inputs}), got {tuple(x.shape)}")
    weight = network.readout.weight
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            outputs, states = network(x.to(device=weight.device, dtype=weight.dtype), h0)
    finally:
        network.train(was_training)
    return outputs.float().cpu().numpy(), states.float().cpu().numpy()


@runtime_checkable
class InputProcess(Protocol):
    """Anything that draws a long input stream: ``process(n_steps, n_trials, n_inputs, rng) -> (T, trials, n_in)``."""

    def __call__(self, n_steps: int, n_trials: int, n_inputs: int, rng: np.random.Generator) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class BernoulliInput:
    """Random binary input, the timescale probe of Khajehabdollahi, Zeraati et al. 2024.

    Each trial draws its own ``p ~ U(0, 1)`` (their ``generate_binary_sequence``) unless ``p`` is given; every
    step of ``channels`` (default: every input) is 1 with probability ``p``, independently per channel.

    Attributes:
        p: fixed probability in ``[0, 1]``, or None for a fresh ``U(0, 1)`` per trial.
        channels: the input indices that carry bits; the others stay 0. None: all inputs.
    """

    p: float | None = None
    channels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.p is not None and not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"p must lie in [0, 1] (or be None for p ~ U(0, 1) per trial), got {self.p}")

    def __call__(self, n_steps: int, n_trials: int, n_inputs: int, rng: np.random.Generator) -> NDArray[np.float32]:
        channels = list(range(n_inputs)) if self.channels is None else list(self.channels)
        if any(c < 0 or c >= n_inputs for c in channels):
            raise ValueError(f"channels must lie in [0, {n_inputs}), got {self.channels}")
        p = rng.uniform(size=n_trials) if self.p is None else np.full(n_trials, float(self.p))
        out = np.zeros((n_steps, n_trials, n_inputs), dtype=np.float32)
        bits = rng.random((n_steps, n_trials, len(channels))) < p[None, :, None]
        out[:, :, channels] = bits
        return out


@dataclass(frozen=True)
class TaskInput:
    """A task's trials strung back to back (each trial stream its own sequence of trials), with input noise.

    Attributes:
        task: any :class:`~mtrnn.envs.task.Task` whose ``n_inputs`` matches the network.
        trials_per_draw: trials drawn per batch while filling the stream.
    """

    task: Task
    trials_per_draw: int = 64

    def __call__(self, n_steps: int, n_trials: int, n_inputs: int, rng: np.random.Generator) -> NDArray[np.float32]:
        if self.task.n_inputs != n_inputs:
            raise ValueError(f"task has {self.task.n_inputs} inputs but the network has {n_inputs}")
        out = np.zeros((n_steps, n_trials, n_inputs), dtype=np.float32)
        filled = np.zeros(n_trials, dtype=np.int64)
        while (filled < n_steps).any():
            batch = self.task.sample_batch(self.trials_per_draw, rng, noise=True)
            for b in range(batch.batch_size):
                stream = int(np.argmin(filled))
                if filled[stream] >= n_steps:
                    break
                length = int(batch.lengths[b])
                take = min(length, n_steps - int(filled[stream]))
                out[filled[stream] : filled[stream] + take, stream] = batch.inputs[:take, b]
                filled[stream] += take
        return out


def drive_long(
    network: RecurrentNetwork,
    process: InputProcess,
    *,
    n_steps: int,
    n_trials: int,
    burn_in: int = 0,
    seed: int = 0,
    chunk_steps: int = 5000,
    hidden_only: bool = True,
    progress: bool = False,
) -> NDArray[np.float32]:
    """Drive ``network`` with ``process`` for ``burn_in + n_steps`` steps and keep the last ``n_steps``.

    The run goes in chunks of ``chunk_steps`` (the state carried across), so inputs never exist in full.

    Args:
        network: the network (eval mode, no recurrent noise, while it runs).
        process: the input stream (:class:`BernoulliInput`, :class:`TaskInput` or your own).
        n_steps: recorded steps ``T`` (>= 2).
        n_trials: independent streams (>= 1), all run as one batch.
        burn_in: steps dropped at the start (>= 0), so that the recorded activity is stationary.
        seed: seeds the input process.
        chunk_steps: steps per chunk.
        hidden_only: keep only what the readout sees (LSTM: ``h`` of ``concat(h, c)``).
        progress: show a tqdm bar.

    Returns:
        ``(n_steps, n_trials, H)`` float32 (``state_size`` when not ``hidden_only``), from a zero initial state.
    """
    n_steps = check_positive_int("n_steps", n_steps, 2)
    n_trials = check_positive_int("n_trials", n_trials)
    burn_in = check_positive_int("burn_in", burn_in, 0)
    chunk_steps = check_positive_int("chunk_steps", chunk_steps)
    if not isinstance(process, InputProcess):
        raise TypeError(f"process must be an InputProcess (callable), got {type(process).__name__}")
    rng = np.random.default_rng(seed)
    total = burn_in + n_steps
    size = network.cell.hidden_size if hidden_only else network.state_size
    out = np.empty((n_steps, n_trials, size), dtype=np.float32)
    weight = network.readout.weight
    h = weight.new_zeros(n_trials, network.state_size)
    was_training = network.training
    network.eval()
    starts = range(0, total, chunk_steps)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="driving network", unit="chunk")
    try:
        with torch.no_grad():
            for start in starts:
                steps = min(chunk_steps, total - start)
                x = torch.from_numpy(process(steps, n_trials, network.n_inputs, rng)).to(weight.device, weight.dtype)
                states = network.cell.sequence(x, h)
                h = states[-1]
                kept = states[max(burn_in - start, 0) :]
                if kept.shape[0]:
                    first = max(start - burn_in, 0)
                    values = network.cell.hidden(kept) if hidden_only else kept
                    out[first : first + kept.shape[0]] = values.float().cpu().numpy()
    finally:
        network.train(was_training)
    return out


def analysis_batches(task: Task, *, n_random: int = 256, seed: int = 0) -> dict[str, TrialBatch]:
    """Noise-free explicit-condition batches per rule: ``{rule name: batch}``, inputs as the network sees them.

    Each component of a :class:`MultiTask` (or the task itself) uses its ``test_grid()`` (Yang's test-mode
    grid) when it has one, else ``n_random`` seeded random trials.
    """
    components = list(task.tasks) if isinstance(task, MultiTask) else [task]
    batches: dict[str, TrialBatch] = {}
    for k, component in enumerate(components):
        grid = _test_grid(component)
        conditions: dict[str, object] = dict(grid.conditions) if grid is not None else {}
        size = grid.batch_size if grid is not None else n_random
        if isinstance(task, MultiTask):
            conditions["rule"] = k
        rng = np.random.default_rng([seed, k])
        batch = task.sample_batch(size, rng, conditions=conditions or None, noise=False)
        name = component.name
        batches[name if name not in batches else f"{name}#{k}"] = batch
    return batches


def _test_grid(task: Task) -> ConditionGrid | None:
    method = getattr(task, "test_grid", None)
    if method is None:
        return None
    try:
        grid = method()
    except NotImplementedError:
        return None
    return grid if isinstance(grid, ConditionGrid) else None


def evaluate_performance(
    network: RecurrentNetwork,
    task: Task,
    *,
    n_trials: int = 256,
    seed: int = 0,
    names: tuple[str, ...] | None = None,
) -> dict[str, float]:
    """Fraction correct per task (``task.score``) on seeded noisy trials, the network in eval mode.

    The same trials for every call with the same ``seed``, so lesions and perturbations are compared on identical
    trials. Each component of a :class:`MultiTask` is scored separately (its trials drawn with
    ``conditions={"rule": k}``).

    Args:
        network: the network.
        task: the task (a run's: :func:`task_of_run`).
        n_trials: trials per task (>= 1).
        seed: seeds the trials.
        names: one name per component (default: the component class names).

    Returns:
        ``{name: fraction correct}``.
    """
    n_trials = check_positive_int("n_trials", n_trials)
    components = list(task.tasks) if isinstance(task, MultiTask) else [task]
    ids = names if names is not None else _default_ids(task)
    if len(ids) != len(components):
        raise ValueError(f"names must have one entry per task ({len(components)}), got {names}")
    performance: dict[str, float] = {}
    for k, name in enumerate(ids):
        rng = np.random.default_rng([seed, k])
        conditions = {"rule": k} if isinstance(task, MultiTask) else None
        batch = task.sample_batch(n_trials, rng, conditions=conditions, noise=True)
        outputs, _ = run_network(network, batch.inputs)
        performance[name] = float(task.score(outputs, batch).mean())
    return performance


def _default_ids(task: Task) -> tuple[str, ...]:
    if isinstance(task, MultiTask):
        names = [t.name for t in task.tasks]
        return tuple(n if names.count(n) == 1 else f"{n}#{k}" for k, n in enumerate(names))
    return (task.name,)


def copy_network(network: RecurrentNetwork) -> RecurrentNetwork:
    """A deep copy (same device), so that lesions and perturbations never touch the caller's network."""
    return copy.deepcopy(network)


def is_run_dir(path: object) -> bool:
    """Whether ``path`` names a folder holding ``config.json``."""
    return isinstance(path, (str, os.PathLike)) and (Path(path) / "config.json").exists()


def named_tasks(task: Task) -> Mapping[str, Task]:
    """``{name: component}`` of a :class:`MultiTask` (or ``{task.name: task}``)."""
    components = list(task.tasks) if isinstance(task, MultiTask) else [task]
    return {name: t for name, t in zip(_default_ids(task), components, strict=True)}
