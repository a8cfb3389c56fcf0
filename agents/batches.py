"""Where the trainer's batches come from: the training task, the seeded per-step batch stream and the fixed
evaluation sets.

Every random stream is derived from ``(seed, purpose, index)`` with :class:`numpy.random.SeedSequence`, so a run
can be replayed from any step (exact resume) and a background thread can draw batches ahead of the update:

* training batch of step ``k``: ``task.sample_batch(B, default_rng([seed, 0, k]), noise=False)``;
* recurrent noise of step ``k``: the training device's generator seeded from ``SeedSequence([seed, 1, k])``;
* input noise of step ``k``: its own generator seeded from ``SeedSequence([seed, 4, k])`` (so that a producer
  thread can draw it ahead on the CPU);
* evaluation trials of task ``i``: ``default_rng([seed, 2, i])``, drawn once per run (noise-free) and reused
  at every evaluation; their input noise: ``SeedSequence([seed, 5, i, chunk])``;
* network initialisation: ``SeedSequence([seed, 3])``.

Input noise has one description, on the batch (``batch.input_noise_std``, ``batch.noise_added``; bounds
``task.observation_bounds``), and one torch implementation, :func:`add_input_noise`, used for training and
evaluation alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.tasks import build_task
from mtrnn.envs import MultiTask, Task, TrialBatch

__all__ = [
    "BatchStream",
    "EvalTask",
    "add_input_noise",
    "build_task",
    "eval_noise_seed",
    "eval_tasks",
    "init_seed",
    "input_noise_seed",
    "torch_step_seed",
]

_TRAIN, _TORCH, _EVAL, _INIT, _INPUT_NOISE, _EVAL_NOISE = 0, 1, 2, 3, 4, 5
Prepared = TypeVar("Prepared")


def _seed_int(entropy: list[int]) -> int:
    """A 64-bit seed for ``torch.manual_seed`` derived from ``entropy``."""
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def torch_step_seed(seed: int, step: int) -> int:
    """The torch seed of training step ``step`` (input and recurrent noise)."""
    return _seed_int([seed, _TORCH, step])


def input_noise_seed(seed: int, step: int) -> int:
    """The torch seed of training step ``step``'s input noise."""
    return _seed_int([seed, _INPUT_NOISE, step])


def eval_noise_seed(seed: int, index: int, chunk: int) -> int:
    """The torch seed of the input noise of evaluation task ``index``'s trials ``chunk``."""
    return _seed_int([seed, _EVAL_NOISE, index, chunk])


def add_input_noise(inputs: Tensor, batch: TrialBatch, bounds: tuple[float, float], seed: int) -> Tensor:
    """``inputs (T, B, n_in)`` plus the batch's Gaussian input noise (std ``batch.input_noise_std``, drawn from a
    torch generator seeded with ``seed`` on ``inputs.device``), clipped to ``bounds`` (the task's
    ``observation_bounds``, as the task itself clips). Returns ``inputs`` unchanged when the batch already holds
    its noise or has none. A new tensor otherwise (``inputs`` is not modified)."""
    if batch.noise_added or batch.input_noise_std == 0:
        return inputs
    generator = torch.Generator(device=inputs.device)
    generator.manual_seed(seed)
    noise = torch.randn(inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype)
    low, high = bounds
    return noise.mul_(batch.input_noise_std).add_(inputs).clamp_(low, high)


def init_seed(seed: int) -> int:
    """The torch seed of the network's initialisation."""
    return _seed_int([seed, _INIT])


@dataclass(frozen=True)
class EvalTask:
    """One task scored separately at each evaluation.

    Attributes:
        env_id: the column name is ``perf/<env_id>``.
        task: the task that draws and scores the trials (a :class:`MultiTask` for a mixture's component).
        conditions: fixed conditions (``{"rule": k}`` for component ``k`` of a mixture), or None.
    """

    env_id: str
    task: Task
    conditions: Mapping[str, object] | None = None

    def sample(self, batch_size: int, rng: np.random.Generator) -> TrialBatch:
        """``batch_size`` noise-free trials of this task (add the noise with :func:`add_input_noise`)."""
        return self.task.sample_batch(batch_size, rng, conditions=self.conditions, noise=False)


def _component_id(mixture_id: str, index: int, mixture: MultiTask) -> str:
    """The id of component ``index`` of a mixture: the mixture's stable ``component_ids[index]`` (Yang's mixture:
    the registered ids of its rules), else ``<mixture id>#<index>``."""
    ids = getattr(mixture, "component_ids", None)
    if isinstance(ids, (tuple, list)) and len(ids) == len(mixture.tasks) and isinstance(ids[index], str):
        return ids[index]
    return f"{mixture_id}#{index}"


def eval_tasks(env_ids: tuple[str, ...], task: Task) -> list[EvalTask]:
    """The tasks scored at each evaluation: every id of ``env_ids``; every component of a single mixture id."""
    if isinstance(task, MultiTask):
        if len(env_ids) == 1:
            ids = [_component_id(env_ids[0], k, task) for k in range(len(task.tasks))]
        else:
            ids = list(env_ids)
        return [EvalTask(env_id, task, {"rule": k}) for k, env_id in enumerate(ids)]
    return [EvalTask(env_ids[0], task)]


def eval_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of evaluation task ``index``'s trials (drawn once per run)."""
    return np.random.default_rng([seed, _EVAL, index])


class BatchStream(Generic[Prepared]):
    """Training batches by step: batch ``k`` is ``task.sample_batch(B, default_rng([seed, 0, k]), noise=False)``.

    ``prepare(task, batch, k)`` turns each batch into what the update consumes (e.g. tensors with input noise).
    With ``prefetch > 0`` a background thread draws and prepares the next ``prefetch`` batches while the network
    trains (numpy and torch release the GIL in their array work). Batches depend only on ``(task, seed, step)``,
    so working ahead changes nothing. Call :meth:`set_task` (not an in-place change of the task) to switch tasks
    between steps.

    Args:
        task: the training task.
        batch_size: trials per batch.
        seed: the run's seed.
        prepare: ``(task, batch, step) -> prepared``, run where the batch is drawn.
        prefetch: batches to draw ahead (0: draw in the caller's thread).
    """

    def __init__(
        self,
        task: Task,
        batch_size: int,
        seed: int,
        prepare: Callable[[Task, TrialBatch, int], Prepared],
        prefetch: int = 0,
    ) -> None:
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.prepare = prepare
        self.prefetch = prefetch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtrnn-batches") if prefetch else None
        self._pending: dict[int, Future[tuple[TrialBatch, Prepared]]] = {}

    def draw(self, step: int) -> TrialBatch:
        """Build the (noise-free) batch of ``step`` now, in this thread."""
        rng = np.random.default_rng([self.seed, _TRAIN, step])
        return self.task.sample_batch(self.batch_size, rng, noise=False)

    def _produce(self, task: Task, step: int) -> tuple[TrialBatch, Prepared]:
        rng = np.random.default_rng([self.seed, _TRAIN, step])
        batch = task.sample_batch(self.batch_size, rng, noise=False)
        return batch, self.prepare(task, batch, step)

    def get(self, step: int) -> tuple[TrialBatch, Prepared]:
        """The batch of training step ``step`` and what ``prepare`` made of it."""
        if self._pool is None:
            return self._produce(self.task, step)
        for stale in [k for k in self._pending if k < step]:
            self._pending.pop(stale).cancel()
        for ahead in range(step, step + self.prefetch + 1):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self._produce, self.task, ahead)
        return self._pending.pop(step).result()

    def set_task(self, task: Task) -> None:
        """Draw the following batches from ``task`` (batches drawn ahead from the old task are dropped)."""
        self._drop_pending()
        self.task = task

    def _drop_pending(self) -> None:
        for future in self._pending.values():
            future.cancel()
        for future in self._pending.values():
            if not future.cancelled():
                future.exception()
        self._pending.clear()

    def close(self) -> None:
        """Stop the background thread."""
        if self._pool is not None:
            self._drop_pending()
            self._pool.shutdown(wait=True)
            self._pool = None
