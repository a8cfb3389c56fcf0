"""The supervised trainer: batched rollouts of a recurrent network over whole trial batches.

The :class:`Trainer` owns the loop, the optimiser, evaluation, checkpoints and the run directory (as SB3's
algorithms do); the network is a :class:`~mtrnn.agents.networks.RecurrentNetwork` with a narrow interface.
Recipe and defaults follow Yang et al. 2019 (Nat Neurosci 22:297): Adam (lr 1e-3 there), batches of 64 trials
of one rule, gradient clipping, evaluation every few hundred steps on fresh trials per task, stop at a target
performance (the minimum over tasks).

Exact resume: every random stream of step ``k`` is derived from ``(seed, k)`` (see :mod:`mtrnn.agents.batches`),
and a checkpoint (model, optimiser, step, metrics) is written atomically at every evaluation, so a run killed at
any moment and resumed from its run directory writes the same metrics as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.batches import (
    BatchStream,
    EvalTask,
    build_task,
    eval_rng,
    eval_tasks,
    init_seed,
    input_noise_seed,
    torch_step_seed,
)
from mtrnn.agents.callbacks import Callback, ProgressBar, TrainState
from mtrnn.agents.config import Loss, Optimizer, TrainConfig
from mtrnn.agents.losses import activity_penalty, masked_cross_entropy, masked_mse, weight_penalty, weights_of
from mtrnn.agents.networks import RecurrentNetwork, build_network
from mtrnn.agents.rundir import Checkpoint, MetricsRow, RunDir
from mtrnn.envs import Task, TrialBatch

__all__ = ["StopReason", "TrainResult", "Trainer", "TrainingDiverged", "train"]

#: Trials per forward pass at evaluation (bounds memory; the trials drawn do not depend on it).
EVAL_CHUNK = 256


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
def _torch_threads(n: int) -> Iterator[None]:
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
        overwrite: when ``config.out_dir`` already holds a run, replace it (else FileExistsError).
        report: write ``report.md`` and its PNGs into the run directory at the end.
        task: train on this Task instead of ``config.env_ids`` (any :class:`~mtrnn.envs.Task`, e.g. an
            unregistered variant or a :class:`~mtrnn.envs.neurogym_adapter.NeurogymTask`); its metrics column is
            ``perf/<task.name>`` (one per component of a MultiTask). ``config.json`` cannot describe such a task:
            pass the same one again to :meth:`resume`.

    Use :meth:`resume` to continue a run from its directory.
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
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if task is not None and not isinstance(task, Task):
            raise TypeError(f"task must be a Task or None, got {type(task).__name__}")
        self.config = config
        self.device = _device(config.device)
        self.task: Task = build_task(config.env_ids, config.task_weights) if task is None else task
        if not math.isclose(config.network.dt, self.task.dt):
            raise ValueError(
                f"network.dt must equal the task's time step, {self.task.dt} ms, got {config.network.dt} ms"
            )
        self.eval_tasks: list[EvalTask] = eval_tasks(config.env_ids if task is None else (task.name,), self.task)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed(config.seed))
            network = build_network(config.network, self.task.n_inputs, self.task.n_outputs)
        self.network: RecurrentNetwork = network.to(self.device)
        self.optimizer = self._make_optimizer()
        self._weights = weights_of(self.network)
        self.callbacks: list[Callback] = list(callbacks)
        if progress:
            self.callbacks.append(ProgressBar())
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(callback).__name__}")
        self.run_dir = RunDir(config.out_dir) if config.out_dir is not None else None
        self._overwrite = overwrite
        self._report = report
        self._resumed = False
        self._stream: BatchStream[dict[str, Tensor]] = BatchStream(
            self.task, config.batch_size, config.seed, self._host_tensors, config.num_prefetch
        )
        self._step = 0
        self._elapsed_before = 0.0
        self._loss = math.nan
        self._loss_sum = 0.0
        self._loss_count = 0
        self._data_time = 0.0
        self._update_time = 0.0
        self._performance: dict[str, float] = {}
        self._evaluated_at = -1
        self._metrics: list[MetricsRow] = []
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
        task: Task | None = None,
    ) -> Trainer:
        """Continue the run in ``run_dir`` from its checkpoint (same config; ``device``/``threads`` may change;
        a run trained on an explicit ``task`` needs the same task again).

        The resumed run replays exactly what the uninterrupted run would have done: its metrics rows equal those of
        an uninterrupted run with the same config (the ``time`` column aside).
        """
        run = RunDir(run_dir)
        config = run.read_config()
        changes: dict[str, object] = {"out_dir": str(run.path)}
        if device is not None:
            changes["device"] = device
        if threads is not None:
            changes["threads"] = threads
        config = dataclasses.replace(config, **changes)
        trainer = cls(config, callbacks=callbacks, progress=progress, report=report, task=task)
        trainer._load(run.read_checkpoint())
        return trainer

    def _load(self, checkpoint: Checkpoint) -> None:
        self.network.load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self._step = checkpoint.step
        self._elapsed_before = checkpoint.elapsed
        self._metrics = [dict(row) for row in checkpoint.metrics]
        extra = checkpoint.extra
        self._loss = float(extra["loss"])
        self._loss_sum = float(extra["loss_sum"])
        self._loss_count = int(extra["loss_count"])
        self._data_time = float(extra["data_time"])
        self._update_time = float(extra["update_time"])
        self._evaluated_at = int(extra["evaluated_at"])
        self._performance = {k: float(v) for k, v in extra["performance"].items()}
        available = list(self.callbacks)
        for saved in extra["callbacks"]:
            match = next((c for c in available if type(c).__qualname__ == saved["type"]), None)
            if match is None:
                raise ValueError(
                    f"callbacks must include a {saved['type']} to resume this run (its state was checkpointed)"
                )
            available.remove(match)
            match.load_state_dict(saved["state"])
        self._resumed = True

    # ------------------------------------------------------------------ public API
    @property
    def step(self) -> int:
        """Updates done so far."""
        return self._step

    @property
    def metrics(self) -> list[MetricsRow]:
        """The metrics rows so far (one per evaluation; the rows of ``metrics.csv``)."""
        return list(self._metrics)

    @property
    def metrics_columns(self) -> list[str]:
        """``step, trials, time, loss, perf/<env id>…`` (the columns of ``metrics.csv``)."""
        return ["step", "trials", "time", "loss", *(f"perf/{t.env_id}" for t in self.eval_tasks)]

    def set_task(self, task: Task) -> None:
        """The curriculum hook: train on ``task`` from the next batch on (same ``n_inputs``/``n_outputs``).

        Evaluation keeps scoring the config's tasks. Pass a new Task object; do not change a task in place.
        """
        if not isinstance(task, Task):
            raise TypeError(f"task must be a Task, got {type(task).__name__}")
        if (task.n_inputs, task.n_outputs) != (self.task.n_inputs, self.task.n_outputs):
            raise ValueError(
                f"task must have n_inputs={self.task.n_inputs} and n_outputs={self.task.n_outputs} like the "
                f"network, got {task.n_inputs} and {task.n_outputs}"
            )
        self.task = task
        self._stream.set_task(task)

    def state(self) -> TrainState:
        """A snapshot of where training stands."""
        return TrainState(
            step=self._step,
            batch_size=self.config.batch_size,
            elapsed=self._elapsed(),
            loss=self._loss,
            performance=dict(self._performance),
            evaluated_at=self._evaluated_at,
            data_time=self._data_time,
            update_time=self._update_time,
        )

    def evaluate(self) -> dict[str, float]:
        """Fraction correct per task (``task.score``) on the run's fixed seeded evaluation trials.

        The network runs in eval mode (no recurrent noise); inputs carry the task's input noise. The training
        random streams are not touched.
        """
        was_training = self.network.training
        self.network.eval()
        performance: dict[str, float] = {}
        with torch.no_grad():
            for index, eval_task in enumerate(self.eval_tasks):
                rng = eval_rng(self.config.seed, index)
                scores = []
                for start in range(0, self.config.eval_trials, EVAL_CHUNK):
                    batch = eval_task.sample(min(EVAL_CHUNK, self.config.eval_trials - start), rng)
                    outputs, _ = self.network(torch.from_numpy(batch.inputs).to(self.device))
                    scores.append(eval_task.task.score(outputs.cpu().numpy(), batch))
                performance[eval_task.env_id] = float(np.mean(np.concatenate(scores)))
        self.network.train(was_training)
        return performance

    def train(self) -> TrainResult:
        """Train until the target performance or a budget is reached (or a callback stops the run).

        Raises:
            TrainingDiverged: the loss or the gradient became NaN/inf (the last good checkpoint stays on disk).
        """
        config = self.config
        self._prepare_run_dir()
        self._clock = time.perf_counter()
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with _torch_threads(config.num_threads), torch.random.fork_rng(devices=devices):
            self.network.train()
            for callback in self.callbacks:
                callback.init_callback(self)
                callback.on_training_start(self.state())
            try:
                if not self._metrics:
                    self._record_evaluation()
                reason = self._stop_reason()
                while reason is None:
                    reason = self._train_one_step()
                    if reason is None:
                        reason = self._stop_reason()
                if self._evaluated_at != self._step:
                    self._record_evaluation()
            finally:
                self._stream.close()
            state = self.state()
            for callback in self.callbacks:
                callback.on_training_end(state)
        self.network.eval()
        if self.run_dir is not None and self._report:
            from mtrnn.agents.report import write_report

            write_report(self, reason)
        return TrainResult(self.network, state, reason, list(self._metrics), self.run_dir)

    # ------------------------------------------------------------------ the loop
    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._clock)

    def _prepare_run_dir(self) -> None:
        run = self.run_dir
        if run is None or self._resumed:
            return
        if run.holds_run():
            if not self._overwrite:
                raise FileExistsError(
                    f"out_dir {str(run.path)!r} already holds a run; resume it (mtrnn-train --resume {run.path}) "
                    "or overwrite it (overwrite=True, --overwrite)"
                )
            run.clear()
        run.write_config(self.config)

    def _stop_reason(self) -> StopReason | None:
        config = self.config
        if (
            config.target_perf is not None
            and self._evaluated_at == self._step
            and min(self._performance.values()) >= config.target_perf
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
        self._data_time += middle - start
        self._update_time += time.perf_counter() - middle
        self._step = step + 1
        self._loss = loss
        self._loss_sum += loss
        self._loss_count += 1
        state = self.state()
        stop = not all([callback.on_step(state) for callback in self.callbacks])
        if self._step % self.config.eval_interval == 0:
            self._record_evaluation()
            state = self.state()
            stop = not all([callback.on_evaluation(state) for callback in self.callbacks]) or stop
        return StopReason.CALLBACK if stop else None

    def _input_noise(self, task: Task, batch: TrialBatch, inputs: Tensor, step: int) -> Tensor:
        """``inputs`` plus the step's seeded Gaussian input noise (std ``batch.input_noise_std``), clipped to the
        task's observation bounds as the task itself would."""
        if batch.noise_added or batch.input_noise_std == 0:
            return inputs
        generator = torch.Generator(device=inputs.device)
        generator.manual_seed(input_noise_seed(self.config.seed, step))
        noise = torch.randn(inputs.shape, generator=generator, device=inputs.device, dtype=inputs.dtype)
        low, high = task.observation_bounds
        return noise.mul_(batch.input_noise_std).add_(inputs).clamp_(low, high)

    def _host_tensors(self, task: Task, batch: TrialBatch, step: int) -> dict[str, Tensor]:
        """CPU tensors of what the loss needs (run by the batch producer, possibly in its thread); on a CPU
        device the input noise is added here too, off the training thread."""
        inputs = torch.from_numpy(batch.inputs)
        tensors = {"inputs": self._input_noise(task, batch, inputs, step) if self.device.type == "cpu" else inputs}
        if self.config.loss is Loss.MSE:
            tensors["targets"] = torch.from_numpy(batch.targets)
            tensors["mask"] = torch.from_numpy(batch.mask)
        else:
            tensors["labels"] = torch.from_numpy(batch.labels)
            mask = torch.from_numpy(batch.mask)
            tensors["step_mask"] = (mask.sum(-1) > 0).to(mask.dtype)  # batch.step_mask, cheaper in torch
        return tensors

    def _to_device(self, task: Task, batch: TrialBatch, host: dict[str, Tensor], step: int) -> dict[str, Tensor]:
        """Move the host tensors to the training device; off the CPU, add the input noise there."""
        if self.device.type == "cpu":
            return host
        tensors = {name: t.to(self.device, non_blocking=True) for name, t in host.items()}
        tensors["inputs"] = self._input_noise(task, batch, tensors["inputs"], step)
        return tensors

    def _loss_of(self, tensors: dict[str, Tensor]) -> Tensor:
        config = self.config
        outputs, states = self.network(tensors["inputs"])
        if config.loss is Loss.MSE:
            loss = masked_mse(outputs, tensors["targets"], tensors["mask"])
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
        config = self.config
        loss = self._loss_of(tensors)
        value = float(loss.item())
        if not math.isfinite(value):
            self._diverged(f"the loss is {value}", step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)
        if not math.isfinite(float(norm)):
            self._diverged(f"the gradient norm is {float(norm)}", step)
        if config.grad_clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, config.grad_clip_value)
        if config.grad_clip_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(params, config.grad_clip_norm, norm)
        self.optimizer.step()
        return value

    def _diverged(self, what: str, step: int) -> None:
        kept = (
            f"the last good checkpoint (step {self._evaluated_at}) is kept in {self.run_dir.path}"
            if self.run_dir is not None
            else "nothing was saved (no out_dir)"
        )
        raise TrainingDiverged(
            f"training diverged at step {step + 1}: {what}; {kept}. Lower learning_rate or set grad_clip_norm."
        )

    def _record_evaluation(self) -> None:
        """Evaluate, append a metrics row and (with a run directory) write checkpoint, metrics and model."""
        self._performance = self.evaluate()
        self._evaluated_at = self._step
        loss = self._loss_sum / self._loss_count if self._loss_count else None
        row: MetricsRow = {
            "step": self._step,
            "trials": self._step * self.config.batch_size,
            "time": round(self._elapsed(), 3),
            "loss": loss,
            **{f"perf/{k}": v for k, v in self._performance.items()},
        }
        self._metrics.append(row)
        self._loss_sum, self._loss_count = 0.0, 0
        if self.run_dir is not None:
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        run = self.run_dir
        assert run is not None
        extra = {
            "loss": self._loss,
            "loss_sum": self._loss_sum,
            "loss_count": self._loss_count,
            "data_time": self._data_time,
            "update_time": self._update_time,
            "evaluated_at": self._evaluated_at,
            "performance": self._performance,
            "callbacks": [
                {"type": type(callback).__qualname__, "state": callback.state_dict()}
                for callback in self.callbacks
                if callback.state_dict()
            ],
        }
        run.write_checkpoint(
            Checkpoint(
                step=self._step,
                elapsed=self._elapsed(),
                model=self.network.state_dict(),
                optimizer=self.optimizer.state_dict(),
                metrics=self._metrics,
                extra=extra,
            )
        )
        run.write_metrics(self._metrics, self.metrics_columns)
        run.write_model(self.network)


def train(config: TrainConfig, *, callbacks: Sequence[Callback] = (), progress: bool = False) -> TrainResult:
    """Build a :class:`Trainer` for ``config`` and train it."""
    return Trainer(config, callbacks=callbacks, progress=progress).train()
