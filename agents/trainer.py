"""The supervised trainer: batched rollouts of a recurrent network over whole trial batches.

The :class:`Trainer` owns the loop, the optimiser, evaluation, checkpoints and the run directory (as SB3's
algorithms do); the network is a :class:`~mtrnn.agents.networks.RecurrentNetwork` with a narrow interface.
Recipe and defaults follow Yang et al. 2019 (Nat Neurosci 22:297): Adam (lr 1e-3 there), batches of 64 trials
of one rule, gradient clipping, evaluation every few hundred steps on fresh trials per task, stop at a target
performance (the minimum over tasks).

Exact resume: every random stream of step ``k`` is derived from ``(seed, k)`` (see :mod:`mtrnn.agents.batches`),
and a checkpoint (model, optimiser, step, metrics, bookkeeping, the states of stateful callbacks) is written
atomically at every evaluation, after the callbacks' ``on_evaluation``, so a run killed at any moment and resumed
from its run directory writes the same metrics as an uninterrupted run. On resume the callbacks are attached
(``init_callback``) first, then given their saved state (``load_state_dict``, which may call
:meth:`Trainer.set_task`), then told that training starts, all before the next batch is drawn. The thread count
is part of the run (recorded in ``config.json``): a resume with another count continues correctly but not
bit-exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.batches import (
    BatchStream,
    EvalTask,
    add_input_noise,
    eval_noise_seed,
    eval_rng,
    eval_tasks,
    init_seed,
    input_noise_seed,
    torch_step_seed,
)
from mtrnn.agents.callbacks import Callback, ProgressBar, TrainState
from mtrnn.agents.cells import RecurrentCell
from mtrnn.agents.config import RESUME_CHANGES, Loss, Optimizer, TrainConfig
from mtrnn.agents.losses import (
    activity_penalty,
    masked_cross_entropy,
    masked_mse,
    multi_head_cross_entropy,
    weight_penalty,
    weights_of,
)
from mtrnn.agents.networks import RecurrentNetwork, build_network
from mtrnn.agents.rundir import CallbackState, Checkpoint, MetricsRow, Progress, RunDir
from mtrnn.agents.tasks import TaskSource, describe_task
from mtrnn.envs import MemoryTask, MultiHeadBatch, Task, TrialBatch

__all__ = ["StopReason", "TrainResult", "Trainer", "TrainingDiverged", "train"]

#: Trials per forward pass at evaluation (bounds memory; the trials drawn do not depend on it).
EVAL_CHUNK = 256
#: The evaluation trials are kept (on the training device) between evaluations when they take at most this many
#: bytes; larger sets are drawn again at each evaluation (the same seeded trials, only slower).
EVAL_CACHE_BYTES = 512 * 2**20


class StopReason(enum.Enum):
    """Why a run stopped."""

    TARGET_REACHED = "target_reached"
    MAX_STEPS = "max_steps"
    MAX_TIME = "max_time"
    CALLBACK = "callback"


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient became NaN/inf; the run directory keeps the last good checkpoint."""


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.train` returns.

    Attributes:
        network: the trained network (in eval mode).
        state: the final :class:`TrainState`.
        stop_reason: why training stopped.
        metrics: every metrics row (as in ``metrics.csv``).
        run_dir: the run directory, or None when training in memory.
    """

    network: RecurrentNetwork
    state: TrainState
    stop_reason: StopReason
    metrics: Sequence[MetricsRow]
    run_dir: RunDir | None


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device is {name!r} but torch.cuda.is_available() is False; use device='cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device is {name!r} but torch.backends.mps.is_available() is False; use device='cpu'")
    return device


def _seed_device(device: torch.device, seed: int) -> None:
    """Seed the generator that draws random numbers on ``device`` (cheaper than ``torch.manual_seed``)."""
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    elif device.type == "cuda":
        torch.cuda.default_generators[device.index or 0].manual_seed(seed)
    else:
        torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch CPU threads, then restore the caller's count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Trainer:
    """Train a recurrent network on the tasks of a :class:`TrainConfig`.

    Args:
        config: the run's settings.
        callbacks: hooks called during training (see :mod:`mtrnn.agents.callbacks`).
        progress: show a tqdm progress bar (loss and lowest per-task performance).
        overwrite: when ``config.out_dir`` already holds a run, delete the files that run's trainer wrote (and
            nothing else) and start again (else FileExistsError).
        report: write ``report.md`` and its PNGs into the run directory at the end.
        task: train on this Task instead of ``config.env_ids`` (any :class:`~mtrnn.envs.Task`, e.g. an
            unregistered variant or a :class:`~mtrnn.envs.neurogym_adapter.NeurogymTask`). The trainer's
            :attr:`config` (and ``config.json``) then describes this task: as registered ids with
            ``task_kwargs`` when those rebuild it exactly, else as a ``custom_task`` naming its class (and its
            constructor arguments when they could be read back; otherwise a resume needs the same task again).
        cell: train this recurrent cell (any ``nn.Module`` following
            :class:`~mtrnn.agents.cells.RecurrentCell`, e.g. a user's own) instead of the one
            ``config.network.architecture`` names; ``config.network.hidden_size`` must equal its
            ``hidden_size``. A resume needs a cell of the same class again.

    The network's time step is the task's. Use :meth:`resume` to continue a run from its directory.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        callbacks: Sequence[Callback] = (),
        progress: bool = False,
        overwrite: bool = False,
        report: bool = True,
        task: Task | None = None,
        cell: RecurrentCell | None = None,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if task is not None and not isinstance(task, Task):
            raise TypeError(f"task must be a Task or None, got {type(task).__name__}")
        self.device = _device(config.device)
        if task is None:
            self.task: Task = config.build_task()
        else:
            self.task = task
            config = _described(config, task)
        if cell is not None and getattr(cell, "hidden_size", None) != config.network.hidden_size:
            raise ValueError(
                f"network.hidden_size must equal the cell's hidden_size ({getattr(cell, 'hidden_size', None)}) "
                f"when a cell is given, got {config.network.hidden_size}"
            )
        # The thread count is part of the run (float sums depend on it): record the number actually used.
        self.config: TrainConfig = dataclasses.replace(config, threads=config.num_threads)
        self.eval_tasks: list[EvalTask] = eval_tasks(self.config.task_names, self.task)
        # Initial weights on one thread: orthogonal_'s QR rounds differently with the thread count, and the run must
        # depend on its config and seed only, not on the caller's torch.set_num_threads.
        with torch.random.fork_rng(devices=[]), torch_threads(1):
            torch.manual_seed(init_seed(config.seed))
            network = build_network(config.network, self.task.n_inputs, self.task.n_outputs, dt=self.task.dt, cell=cell)
        self.network: RecurrentNetwork = network.to(self.device)
        self.optimizer = self._make_optimizer()
        self._weights = weights_of(self.network)
        self.callbacks: list[Callback] = list(callbacks)
        if progress:
            self.callbacks.append(ProgressBar())
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(callback).__name__}")
        if self.config.curriculum is not None:  # the config's curriculum (mtrnn-train --curriculum)
            from mtrnn.agents.curriculum import callback_from_config

            self.callbacks.insert(0, callback_from_config(self.config, self.task))
        self.run_dir = RunDir(self.config.out_dir) if self.config.out_dir is not None else None
        self._overwrite = overwrite
        self._report = report
        self._resumed = False
        self._saved_callbacks: tuple[CallbackState, ...] = ()
        self._changes: str | None = None
        self._pin = self.device.type == "cuda"
        self._stream: BatchStream[dict[str, Tensor]] = BatchStream(
            self.task, self.config.batch_size, self.config.seed, self._host_tensors, self.config.num_prefetch
        )
        self._step = 0
        self._elapsed_before = 0.0
        self._progress = Progress()
        self._metrics: list[MetricsRow] = []
        self._eval_sets: list[list[tuple[TrialBatch, Tensor]]] | None = None
        self._checkpoint_step: int | None = None
        self._clock = time.perf_counter()

    # ------------------------------------------------------------------ construction helpers
    def _make_optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        params = [p for p in self.network.parameters() if p.requires_grad]
        if config.optimizer is Optimizer.ADAM:
            return torch.optim.Adam(params, lr=config.learning_rate)
        return torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum, nesterov=config.nesterov)

    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike[str],
        *,
        callbacks: Sequence[Callback] = (),
        progress: bool = False,
        report: bool = True,
        device: str | None = None,
        threads: int | None = None,
        changes: Mapping[str, Any] | None = None,
        task: Task | None = None,
        cell: RecurrentCell | None = None,
    ) -> Trainer:
        """Continue the run in ``run_dir`` from its checkpoint.

        The resumed run replays exactly what the uninterrupted run would have done: its metrics rows equal those
        of an uninterrupted run with the same config (the ``time`` column aside), provided it gets the same
        callbacks (their saved states are restored) and the same thread count (the recorded one, by default).

        Args:
            run_dir: the run directory.
            callbacks: the run's callbacks again (a stateful one gets its saved state back).
            progress: show a progress bar.
            report: write the report at the end.
            device: train on this device instead (same as ``changes={"device": ...}``).
            threads: use this many torch threads instead of the recorded number (not bit-exact).
            changes: new values of fields in :data:`~mtrnn.agents.config.RESUME_CHANGES` (budgets, target,
                evaluation interval, learning rate, device, threads, prefetch); recorded as a ``change`` row in
                ``metrics.csv`` and written to ``config.json``. Any other field raises ValueError naming it.
            task: the task object again, for a run trained on a task its config cannot rebuild.
            cell: a cell of the same class again, for a run trained on a user's cell.
        """
        run = RunDir(run_dir)
        saved = run.read_config()
        checkpoint = run.read_checkpoint()
        requested: dict[str, Any] = dict(changes or {})
        if device is not None:
            requested["device"] = device
        if threads is not None:
            requested["threads"] = threads
        refused = sorted(set(requested) - RESUME_CHANGES)
        if refused:
            raise ValueError(
                f"changes may only name {sorted(RESUME_CHANGES)} on resume (the rest defines the run); got "
                f"{refused}: start a new run (e.g. mtrnn-train --config {run.file(run.CONFIG)} --out NEW_DIR ...)"
            )
        config = dataclasses.replace(saved, out_dir=str(run.path), **requested)
        trainer = cls(config, callbacks=callbacks, progress=progress, report=report, task=task, cell=cell)
        if task is not None and _task_fields(trainer.config) != _task_fields(saved):
            raise ValueError(
                f"task must be the task the run in {run.path} trained on ({_task_fields(saved)}), got one described "
                f"as {_task_fields(trainer.config)}"
            )
        trainer._load(checkpoint)
        differences = [
            f"{name} {getattr(saved, name)!r} -> {getattr(trainer.config, name)!r}"
            for name in sorted(RESUME_CHANGES)
            if getattr(saved, name) != getattr(trainer.config, name)
        ]
        if differences:
            trainer._changes = "resume: " + "; ".join(differences)
        return trainer

    def _load(self, checkpoint: Checkpoint) -> None:
        readout = checkpoint.model.get("readout.weight")
        if readout is not None and readout.shape[0] != self.network.n_outputs:
            # a curriculum grew (or shifted) the readout heads: take the checkpoint's shape, then its values
            from mtrnn.agents.curriculum import resize_heads

            size = self.network.head_sizes[0]
            resize_heads(self.network, [], readout.shape[0] // size, head_size=size)
        self.network.load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        for group in self.optimizer.param_groups:  # a resume may lower the learning rate
            group["lr"] = self.config.learning_rate
        self._step = checkpoint.step
        self._elapsed_before = checkpoint.elapsed
        self._metrics = [dict(row) for row in checkpoint.metrics]
        self._progress = checkpoint.progress
        self._saved_callbacks = checkpoint.callbacks
        self._checkpoint_step = checkpoint.step
        self._resumed = True

    def _restore_callbacks(self) -> None:
        """Hand each saved callback state to the callback of the same class (in order); after ``init_callback``,
        so that a callback can act on the trainer (e.g. :meth:`set_task`) while restoring."""
        available = list(self.callbacks)
        for saved in self._saved_callbacks:
            match = next((c for c in available if type(c).__qualname__ == saved.kind), None)
            if match is None:
                raise ValueError(
                    f"callbacks must include a {saved.kind} to resume this run (its state was checkpointed)"
                )
            available.remove(match)
            match.load_state_dict(saved.state)
        self._saved_callbacks = ()

    # ------------------------------------------------------------------ public API
    @property
    def step(self) -> int:
        """Updates done so far."""
        return self._step

    @property
    def last_checkpoint(self) -> int | None:
        """The step of the last checkpoint written to (or resumed from) the run directory; None if none."""
        return self._checkpoint_step

    @property
    def metrics(self) -> list[MetricsRow]:
        """The metrics rows so far (one per evaluation, plus one per recorded change; ``metrics.csv``)."""
        return list(self._metrics)

    @property
    def metrics_columns(self) -> list[str]:
        """``step, trials, time, loss, perf/<env id>…, change`` (the columns of ``metrics.csv``); with a head
        curriculum also ``perf/<env id>/N=<n>`` for every head evaluated so far."""
        columns = ["step", "trials", "time", "loss", *(f"perf/{t.env_id}" for t in self.eval_tasks)]
        for row in self._metrics:
            columns += [key for key in row if key not in columns and key != "change"]
        return [*columns, "change"]

    def set_task(self, task: Task, *, evaluate: bool = False) -> None:
        """The curriculum hook: train on ``task`` from the next batch on (``n_inputs``/``n_outputs`` of the network:
        resize its readout first when the task has more heads, see :func:`mtrnn.agents.curriculum.resize_heads`).

        Evaluation keeps scoring the config's tasks, unless ``evaluate``: then it scores ``task`` instead, under the
        same column (a head curriculum's evaluation follows its task). Pass a new Task object; do not change a
        task in place. A
        callback that calls this must save what it needs to call it again in its ``state_dict()`` and call it
        again from ``load_state_dict()`` (run on resume before the next batch): the checkpoint does not hold
        task objects.
        """
        if not isinstance(task, Task):
            raise TypeError(f"task must be a Task, got {type(task).__name__}")
        if (task.n_inputs, task.n_outputs) != (self.network.n_inputs, self.network.n_outputs):
            raise ValueError(
                f"task must have n_inputs={self.network.n_inputs} and n_outputs={self.network.n_outputs} like the "
                f"network, got {task.n_inputs} and {task.n_outputs}"
            )
        if not math.isclose(task.dt, self.network.dt):
            raise ValueError(f"task.dt must equal the network's time step {self.network.dt} ms, got {task.dt} ms")
        self.task = task
        self._stream.set_task(task)
        if evaluate:
            name = self.eval_tasks[0].env_id if len(self.eval_tasks) == 1 else task.name
            self.eval_tasks = [EvalTask(name, task)]
            self._eval_sets = None

    def record_change(self, description: str) -> None:
        """Add a ``change`` row to the metrics at the current step (e.g. a curriculum stage or a resume with a new
        learning rate); saved with the next checkpoint and drawn as a marker on the report's curves."""
        if not isinstance(description, str) or not description.strip() or "\n" in description:
            raise ValueError(f"description must be a non-empty one-line string, got {description!r}")
        self._metrics.append(
            {
                "step": self._step,
                "trials": self._step * self.config.batch_size,
                "time": round(self._elapsed(), 3),
                "change": description,
            }
        )

    def state(self) -> TrainState:
        """A snapshot of where training stands."""
        progress = self._progress
        return TrainState(
            step=self._step,
            batch_size=self.config.batch_size,
            elapsed=self._elapsed(),
            loss=progress.loss,
            performance=dict(progress.performance),
            evaluated_at=progress.evaluated_at,
            data_time=progress.data_time,
            update_time=progress.update_time,
        )

    def evaluation_sets(self) -> list[list[tuple[TrialBatch, Tensor]]]:
        """Per evaluation task, its fixed seeded trials in chunks: ``(noise-free batch, inputs with input noise
        on the training device (T, B, n_in))``. Drawn once per run (and kept when small enough, see
        :data:`EVAL_CACHE_BYTES`); a resumed run draws the same trials."""
        if self._eval_sets is not None:
            return self._eval_sets
        sets = []
        size = 0
        for index, eval_task in enumerate(self.eval_tasks):
            rng = eval_rng(self.config.seed, index)
            chunks = []
            bounds = eval_task.task.observation_bounds
            for chunk, start in enumerate(range(0, self.config.eval_trials, EVAL_CHUNK)):
                batch = eval_task.sample(min(EVAL_CHUNK, self.config.eval_trials - start), rng)
                inputs = torch.from_numpy(batch.inputs).to(self.device)
                inputs = add_input_noise(inputs, batch, bounds, eval_noise_seed(self.config.seed, index, chunk))
                size += batch.inputs.nbytes + batch.targets.nbytes + batch.mask.nbytes + inputs.nbytes
                chunks.append((batch, inputs))
            sets.append(chunks)
        if size <= EVAL_CACHE_BYTES:
            self._eval_sets = sets
        return sets

    def evaluate(self) -> dict[str, float]:
        """Fraction correct per task (``task.score``) on the run's fixed seeded evaluation trials.

        The network runs in eval mode (no recurrent noise); inputs carry the task's input noise, added by the
        same function as in training (:func:`~mtrnn.agents.batches.add_input_noise`, seeded per run). The
        training random streams are not touched.
        """
        was_training = self.network.training
        self.network.eval()
        performance: dict[str, float] = {}
        with torch.no_grad():
            for eval_task, chunks in zip(self.eval_tasks, self.evaluation_sets(), strict=True):
                scores = []
                for batch, inputs in chunks:
                    outputs, _ = self.network(inputs)
                    if isinstance(eval_task.task, MemoryTask):  # one score per head: (B, K)
                        scores.append(eval_task.task.score_heads(outputs.cpu().numpy(), batch))
                    else:
                        scores.append(eval_task.task.score(outputs.cpu().numpy(), batch))
                joined = np.concatenate(scores)
                performance[eval_task.env_id] = float(np.mean(joined))
                if isinstance(eval_task.task, MemoryTask):
                    for name, column in zip(eval_task.task.head_names, joined.T, strict=True):
                        performance[f"{eval_task.env_id}/{name}"] = float(np.mean(column))
        self.network.train(was_training)
        return performance

    def train(self) -> TrainResult:
        """Train until the target performance or a budget is reached (or a callback stops the run).

        Raises:
            TrainingDiverged: the loss or the gradient became NaN/inf (the last good checkpoint stays on disk).
            KeyboardInterrupt: passed on; :attr:`last_checkpoint` says where a resume would continue.
        """
        config = self.config
        self._prepare_run_dir()
        self._clock = time.perf_counter()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch_threads(config.num_threads), torch.random.fork_rng(devices=devices):
            self.network.train()
            for callback in self.callbacks:
                callback.init_callback(self)
            self._restore_callbacks()
            if self._changes is not None:
                self.record_change(self._changes)
                self._changes = None
            for callback in self.callbacks:
                callback.on_training_start(self.state())
            try:
                if not any(_is_evaluation(row) for row in self._metrics):
                    self._record_evaluation()
                reason = self._stop_reason()
                while reason is None:
                    reason = self._train_one_step()
                    if reason is None:
                        reason = self._stop_reason()
                if self._progress.evaluated_at != self._step:
                    self._record_evaluation()
            finally:
                self._stream.close()
            state = self.state()
            for callback in self.callbacks:
                callback.on_training_end(state)
        self.network.eval()
        if self.run_dir is not None and self._report:
            from mtrnn.agents.report import ExampleTrial, write_report

            examples = [
                ExampleTrial(eval_task.env_id, eval_task.task, chunks[0][0], chunks[0][1])
                for eval_task, chunks in zip(self.eval_tasks, self.evaluation_sets(), strict=True)
            ]
            write_report(
                self.run_dir,
                config=self.config,
                metrics=self.metrics,
                state=state,
                stop_reason=reason.value,
                network=self.network,
                examples=examples,
            )
        return TrainResult(self.network, state, reason, list(self._metrics), self.run_dir)

    # ------------------------------------------------------------------ the loop
    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._clock)

    def _prepare_run_dir(self) -> None:
        run = self.run_dir
        if run is None:
            return
        if self._resumed:
            run.write_config(self.config)
            return
        if run.holds_run():
            if not self._overwrite:
                raise FileExistsError(
                    f"out_dir {str(run.path)!r} already holds a run; continue it (mtrnn-train --resume {run.path}), "
                    "choose another --out, or replace it (--overwrite, overwrite=True: deletes the files its "
                    "trainer wrote, nothing else)"
                )
            run.clear()
        run.write_config(self.config)

    def _stop_reason(self) -> StopReason | None:
        config = self.config
        progress = self._progress
        if (
            config.target_perf is not None
            and progress.evaluated_at == self._step
            and progress.performance
            and min(progress.performance.values()) >= config.target_perf
        ):
            return StopReason.TARGET_REACHED
        if config.max_steps is not None and self._step >= config.max_steps:
            return StopReason.MAX_STEPS
        if config.max_time is not None and self._elapsed() >= config.max_time:
            return StopReason.MAX_TIME
        return None

    def _train_one_step(self) -> StopReason | None:
        step = self._step
        start = time.perf_counter()
        batch, host = self._stream.get(step)
        tensors = self._to_device(self._stream.task, batch, host, step)
        _seed_device(self.device, torch_step_seed(self.config.seed, step))
        middle = time.perf_counter()
        loss = self._update(tensors, step)
        progress = self._progress
        self._progress = dataclasses.replace(
            progress,
            loss=loss,
            loss_sum=progress.loss_sum + loss,
            loss_count=progress.loss_count + 1,
            data_time=progress.data_time + (middle - start),
            update_time=progress.update_time + (time.perf_counter() - middle),
        )
        self._step = step + 1
        state = self.state()
        stop = not all([callback.on_step(state) for callback in self.callbacks])
        if self._step % self.config.eval_interval == 0:
            stop = not self._record_evaluation() or stop
        return StopReason.CALLBACK if stop else None

    def _host_tensors(self, task: Task, batch: TrialBatch, step: int) -> dict[str, Tensor]:
        """CPU tensors of what the loss needs (run by the batch producer, possibly in its thread); on a CPU
        device the input noise is added here too, off the training thread. For a CUDA device they are pinned,
        so that the copy to the device can run asynchronously."""
        inputs = torch.from_numpy(batch.inputs)
        if self.device.type == "cpu":
            inputs = add_input_noise(inputs, batch, task.observation_bounds, input_noise_seed(self.config.seed, step))
        tensors = {"inputs": inputs}
        if self.config.loss is Loss.MSE:
            tensors["targets"] = torch.from_numpy(batch.targets)
            tensors["mask"] = torch.from_numpy(batch.mask)
        else:
            if isinstance(batch, MultiHeadBatch):
                tensors["head_labels"] = torch.from_numpy(batch.head_labels)
            tensors["labels"] = torch.from_numpy(batch.labels)
            mask = torch.from_numpy(batch.mask)
            tensors["step_mask"] = (mask.sum(-1) > 0).to(mask.dtype)  # batch.step_mask, cheaper in torch
        if self._pin:
            tensors = {name: t.pin_memory() for name, t in tensors.items()}
        return tensors

    def _to_device(self, task: Task, batch: TrialBatch, host: dict[str, Tensor], step: int) -> dict[str, Tensor]:
        """Move the host tensors to the training device (asynchronously from pinned memory); off the CPU, add
        the input noise there."""
        if self.device.type == "cpu":
            return host
        tensors = {name: t.to(self.device, non_blocking=t.is_pinned()) for name, t in host.items()}
        seed = input_noise_seed(self.config.seed, step)
        tensors["inputs"] = add_input_noise(tensors["inputs"], batch, task.observation_bounds, seed)
        return tensors

    def _loss_of(self, tensors: dict[str, Tensor]) -> Tensor:
        config = self.config
        outputs, states = self.network(tensors["inputs"])
        if config.loss is Loss.MSE:
            loss = masked_mse(outputs, tensors["targets"], tensors["mask"])
        elif "head_labels" in tensors:  # a multi-head memory task: one cross-entropy per head, summed
            loss = multi_head_cross_entropy(outputs, tensors["head_labels"], tensors["step_mask"])
        else:
            loss = masked_cross_entropy(outputs, tensors["labels"], tensors["step_mask"])
        for penalty in (
            weight_penalty(self._weights, config.l1_weight, config.l2_weight),
            activity_penalty(states, config.l1_activity, config.l2_activity),
        ):
            if penalty is not None:
                loss = loss + penalty
        return loss

    def _update(self, tensors: dict[str, Tensor], step: int) -> float:
        """One update; returns the loss. Gradient clipping: by value first (``grad_clip_value``), then by the
        global norm of the value-clipped gradients (``grad_clip_norm``, norm measured after value clipping).
        One host synchronisation per update: the loss and the raw gradient norm are read together, before
        the optimiser step, to stop on NaN/inf."""
        config = self.config
        loss = self._loss_of(tensors)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params if p.grad is not None]
        raw_norm = torch.nn.utils.get_total_norm(grads)
        if config.grad_clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, config.grad_clip_value)
        if config.grad_clip_norm is not None:
            norm = raw_norm if config.grad_clip_value is None else torch.nn.utils.get_total_norm(grads)
            torch.nn.utils.clip_grads_with_norm_(params, config.grad_clip_norm, norm)
        value, raw = torch.stack((loss.detach().to(raw_norm.dtype), raw_norm)).tolist()
        if not math.isfinite(value):
            self._diverged(f"the loss is {value}", step)
        if not math.isfinite(raw):
            self._diverged(f"the gradient norm is {raw}", step)
        self.optimizer.step()
        return float(value)

    def _diverged(self, what: str, step: int) -> None:
        if self.run_dir is not None and self._checkpoint_step is not None:
            kept = (
                f"the last good checkpoint (step {self._checkpoint_step}) is kept in {self.run_dir.path}; continue "
                f"from it with a lower rate: mtrnn-train --resume {self.run_dir.path} --learning-rate "
                f"{self.config.learning_rate / 10:g}"
            )
        else:
            kept = "nothing was saved (no out_dir)"
        raise TrainingDiverged(
            f"training diverged at step {step + 1}: {what}; {kept}. Lower learning_rate or set grad_clip_norm."
        )

    def _record_evaluation(self) -> bool:
        """Evaluate, append a metrics row, call the callbacks' ``on_evaluation`` and then (with a run directory)
        write checkpoint, metrics and model, so that the checkpoint holds what the callbacks decided. Returns
        False when a callback asks to stop."""
        performance = self.evaluate()
        progress = self._progress
        loss = progress.loss_sum / progress.loss_count if progress.loss_count else None
        row: MetricsRow = {
            "step": self._step,
            "trials": self._step * self.config.batch_size,
            "time": round(self._elapsed(), 3),
            "loss": loss,
            **{f"perf/{k}": v for k, v in performance.items()},
        }
        self._metrics.append(row)
        self._progress = dataclasses.replace(
            progress, loss_sum=0.0, loss_count=0, evaluated_at=self._step, performance=performance
        )
        state = self.state()
        go_on = all([callback.on_evaluation(state) for callback in self.callbacks])
        if self.run_dir is not None:
            self._write_checkpoint()
        return go_on

    def _write_checkpoint(self) -> None:
        run = self.run_dir
        assert run is not None
        callbacks = []
        for callback in self.callbacks:
            state = callback.state_dict()
            if state:
                callbacks.append(CallbackState(type(callback).__qualname__, dict(state)))
        run.write_checkpoint(
            Checkpoint(
                step=self._step,
                elapsed=self._elapsed(),
                model=self.network.state_dict(),
                optimizer=self.optimizer.state_dict(),
                metrics=self._metrics,
                progress=self._progress,
                callbacks=tuple(callbacks),
            )
        )
        run.write_metrics(self._metrics, self.metrics_columns)
        run.write_model(self.network)
        self._checkpoint_step = self._step


def _task_fields(config: TrainConfig) -> tuple[object, ...]:
    source = config.custom_task
    return (
        config.env_ids,
        config.task_weights,
        config.task_kwargs,
        None if source is None else (source.factory, source.kwargs, source.name),
    )


def _is_evaluation(row: MetricsRow) -> bool:
    return row.get("change") is None


def _described(config: TrainConfig, task: Task) -> TrainConfig:
    """``config`` with its task fields describing ``task`` (see :func:`~mtrnn.agents.tasks.describe_task`)."""
    described = describe_task(task)
    if isinstance(described, TaskSource):
        return dataclasses.replace(config, env_ids=(), task_weights=None, task_kwargs={}, custom_task=described)
    env_ids, weights, kwargs = described
    return dataclasses.replace(config, env_ids=env_ids, task_weights=weights, task_kwargs=kwargs, custom_task=None)


def train(config: TrainConfig, *, callbacks: Sequence[Callback] = (), progress: bool = False) -> TrainResult:
    """Build a :class:`Trainer` for ``config`` and train it."""
    return Trainer(config, callbacks=callbacks, progress=progress).train()
