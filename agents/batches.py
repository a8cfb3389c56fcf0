"""Where the trainer's batches come from: the training task, the seeded per-step batch stream and the fixed
evaluation sets.

Every random stream is derived from ``(seed, purpose, index)`` with :class:`numpy.random.SeedSequence`, so a run
can be replayed from any step (exact resume) and a background thread can draw batches ahead of the update:

* training batch of step ``k``: ``task.sample_batch(B, default_rng([seed, 0, k]), noise=False)``;
* recurrent noise of step ``k``: the training device's generator seeded from ``SeedSequence([seed, 1, k])``;
* input noise of step ``k``: its own generator seeded from ``SeedSequence([seed, 4, k])`` (so that a producer
  thread can draw it ahead on the CPU);
* evaluation trials of task ``i``: ``default_rng([seed, 2, i])``, the same trials at every evaluation;
* network initialisation: ``SeedSequence([seed, 3])``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from mtrnn.envs import ENV_SPECS, MultiTask, Task, TrialBatch, make_task

__all__ = [
    "BatchStream",
    "EvalTask",
    "build_task",
    "eval_tasks",
    "init_seed",
    "input_noise_seed",
    "torch_step_seed",
]

_TRAIN, _TORCH, _EVAL, _INIT, _INPUT_NOISE = 0, 1, 2, 3, 4
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


def init_seed(seed: int) -> int:
    """The torch seed of the network's initialisation."""
    return _seed_int([seed, _INIT])


def build_task(env_ids: tuple[str, ...], weights: tuple[float, ...] | None = None) -> Task:
    """The training task: one registered task, or a :class:`MultiTask` of several.

    Several tasks get one-hot rule inputs unless every one of them carries its own rule cue (Yang's tasks).
    """
    tasks = [make_task(env_id) for env_id in env_ids]
    if len(tasks) == 1:
        return tasks[0]
    rule_inputs = not all(task.carries_rule_input for task in tasks)
    return MultiTask(tasks, weights, rule_inputs=rule_inputs)


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
        """``batch_size`` noisy trials of this task (inputs as the network sees them)."""
        return self.task.sample_batch(batch_size, rng, conditions=self.conditions, noise=True)


def _component_id(mixture_id: str, index: int, component: Task) -> str:
    """The registered id whose default task is ``component`` (same class and ``repr``); else ``<mixture>#<index>``."""
    for entry in ENV_SPECS:
        if entry.task is type(component) and entry.id != mixture_id and repr(make_task(entry.id)) == repr(component):
            return entry.id
    return f"{mixture_id}#{index}"


def eval_tasks(env_ids: tuple[str, ...], task: Task) -> list[EvalTask]:
    """The tasks scored at each evaluation: every id of ``env_ids``; every component of a single mixture id."""
    if isinstance(task, MultiTask):
        if len(env_ids) == 1:
            ids = [_component_id(env_ids[0], k, component) for k, component in enumerate(task.tasks)]
        else:
            ids = list(env_ids)
        return [EvalTask(env_id, task, {"rule": k}) for k, env_id in enumerate(ids)]
    return [EvalTask(env_ids[0], task)]


def eval_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of evaluation task ``index`` (a fresh one at every evaluation: the same trials)."""
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
