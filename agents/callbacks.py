"""Training callbacks in Stable-Baselines3's style: hooks given a typed :class:`TrainState`, ``on_step() -> bool``.

A callback that returns False from :meth:`Callback.on_step` or :meth:`Callback.on_evaluation` stops the run.

Stateful callbacks (a curriculum) persist through :meth:`Callback.state_dict` / :meth:`Callback.load_state_dict`:

* the trainer saves ``state_dict()`` (JSON-safe; an empty dict saves nothing) in every checkpoint, after every
  callback's ``on_evaluation`` of that evaluation, so the checkpoint holds what the callback decided there;
* on resume, the order is: ``init_callback(trainer)`` (``self.trainer`` is set), then ``load_state_dict(saved)``,
  then ``on_training_start`` — all before the next batch is drawn. A callback that changed the task with
  ``self.trainer.set_task(task)`` calls it again from ``load_state_dict`` (the checkpoint holds no Task
  objects, only the callback's own state);
* saved states go back to the callbacks of the same class, in order.

Example (a curriculum that switches tasks when performance passes a threshold)::

    class Switch(Callback):
        def __init__(self, stages):
            self.stages, self.stage = stages, 0

        def on_evaluation(self, state):
            if state.min_performance > 0.9 and self.stage + 1 < len(self.stages):
                self.stage += 1
                self.trainer.set_task(make_task(self.stages[self.stage]))
                self.trainer.record_change(f"stage {self.stage}")
            return True

        def state_dict(self):
            return {"stage": self.stage}

        def load_state_dict(self, state):
            self.stage = state["stage"]
            self.trainer.set_task(make_task(self.stages[self.stage]))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from mtrnn.agents.trainer import Trainer

__all__ = ["Callback", "ProgressBar", "TrainState"]


@dataclass(frozen=True)
class TrainState:
    """Where training stands, handed to every callback hook (a fresh snapshot each time).

    Attributes:
        step: updates done so far.
        batch_size: trials per update.
        elapsed: wall seconds of training (summed over resumes).
        loss: the last update's loss (NaN before the first update).
        performance: the last evaluation, ``{env_id: fraction correct}``.
        evaluated_at: the step of the last evaluation (-1 before the first).
        data_time: seconds spent drawing batches and moving them to the device.
        update_time: seconds spent in forward, backward and optimiser steps.
    """

    step: int
    batch_size: int
    elapsed: float
    loss: float = math.nan
    performance: Mapping[str, float] = field(default_factory=dict)
    evaluated_at: int = -1
    data_time: float = 0.0
    update_time: float = 0.0

    @property
    def trials(self) -> int:
        """Trials trained on so far (``step * batch_size``)."""
        return self.step * self.batch_size

    @property
    def min_performance(self) -> float:
        """The lowest per-task performance of the last evaluation (NaN before the first)."""
        return min(self.performance.values()) if self.performance else math.nan

    @property
    def data_fraction(self) -> float:
        """Share of the training loop's time spent on data: ``data_time / (data_time + update_time)``."""
        total = self.data_time + self.update_time
        return self.data_time / total if total > 0 else math.nan


class Callback:
    """Base class: override the hooks you need. ``self.trainer`` is set before training starts."""

    trainer: Trainer

    def init_callback(self, trainer: Trainer) -> None:
        """Attach to ``trainer`` (called once, before :meth:`on_training_start`)."""
        self.trainer = trainer

    def on_training_start(self, state: TrainState) -> None:
        """Before the first update of this call to ``train()`` (also after a resume)."""

    def on_step(self, state: TrainState) -> bool:
        """After every update; return False to stop training."""
        return True

    def on_evaluation(self, state: TrainState) -> bool:
        """After every evaluation (``state.performance`` is fresh); return False to stop training."""
        return True

    def on_training_end(self, state: TrainState) -> None:
        """After the last update (not called when training diverges)."""

    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state saved in every checkpoint (e.g. a curriculum's stage); default: none (``{}``)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, on resume: called after :meth:`init_callback` (so
        ``self.trainer`` is there, e.g. to call ``self.trainer.set_task``) and before the next batch."""


class ProgressBar(Callback):
    """A tqdm progress bar over the step budget showing the loss and the lowest per-task performance."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None

    def on_training_start(self, state: TrainState) -> None:
        from tqdm import tqdm

        total = self.trainer.config.max_steps
        self._bar = tqdm(total=total, initial=state.step, unit="step", dynamic_ncols=True)
        self._show(state)

    def _show(self, state: TrainState) -> None:
        if self._bar is not None:
            loss = "—" if math.isnan(state.loss) else f"{state.loss:.4f}"  # NaN only before the first update
            self._bar.set_postfix(loss=loss, perf=f"{state.min_performance:.3f}", refresh=False)

    def on_step(self, state: TrainState) -> bool:
        if self._bar is not None:
            self._bar.update(1)
            if state.step % 10 == 0:
                self._show(state)
        return True

    def on_evaluation(self, state: TrainState) -> bool:
        self._show(state)
        return True

    def on_training_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._show(state)
            self._bar.close()
            self._bar = None
