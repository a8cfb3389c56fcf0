"""The trainer side of curricula: :class:`CurriculumCallback` and readout-head growth.

The trainer evaluates, the :class:`~mtrnn.envs.curriculum.Curriculum` decides, and this callback carries the
decision out: it counts the trials trained (``curriculum.observe``), hands every evaluation to
``curriculum.update`` and, when the curriculum changes, grows or shifts the network's readout heads
(:func:`resize_heads`: new rows initialised, optimiser state extended, the kept heads' outputs unchanged), sets
the new training task and records a ``change`` row in ``metrics.csv`` (a marker on the report's curves). With a
:class:`~mtrnn.agents.continual.OrthogonalProjection` it also closes each finished task (Duncker et al. 2020).

Head curricula (N-parity / N-DMS; Khajehabdollahi, Zeraati et al., ICLR 2024) evaluate the current task, one
``perf/<id>/N=<n>`` column per head; rule switches keep evaluating every task of the run (one column each).
Its state (the curriculum's, the projection's) goes into every checkpoint, so a killed run resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.callbacks import Callback, TrainState
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.envs import Task
from mtrnn.envs.curriculum import PERFORMANCE, AdvanceRule, Curriculum, CurriculumKind, HeadCurriculum, RuleSwitch
from mtrnn.envs.memory import MemoryTask

if TYPE_CHECKING:
    from mtrnn.agents.config import TrainConfig
    from mtrnn.agents.continual import OrthogonalProjection
    from mtrnn.agents.trainer import Trainer

__all__ = ["CurriculumCallback", "callback_from_config", "resize_heads"]

#: Seed stream of the rows of new readout heads (see :mod:`mtrnn.agents.batches` for the others).
_HEAD_STREAM = 7
#: Seed stream of the trials that close a task for the projection.
_PROJECTION_STREAM = 8


def _seed(seed: int, stream: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1, np.uint64)[0] >> 1)


@torch.no_grad()
def resize_heads(
    network: RecurrentNetwork,
    keep: Sequence[int],
    add: int,
    *,
    head_size: int = 2,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Keep the readout heads ``keep`` (indices into the current heads, in order) and append ``add`` new heads.

    The readout's parameters are resized in place (the same ``nn.Parameter`` objects, so the optimiser and
    anything else holding them stay valid): kept rows are copied, so the kept heads compute exactly what they
    did; new rows are drawn Glorot-uniform for a ``(head_size, H)`` layer from ``generator``, biases 0. The
    optimiser's per-parameter state (SGD momentum, Adam moments) follows the rows: kept rows keep theirs, new
    rows start at 0 (Adam's step count is shared by the whole parameter and kept). Call it between updates,
    when no autograd graph through the readout is alive (autograd checks gradient shapes against the
    parameter's shape when the graph was built).

    Args:
        network: the network (its readout must consist of heads of ``head_size`` units).
        keep: indices of the heads to keep, in their new order.
        add: heads to append (>= 0).
        head_size: units per head.
        optimizer: the optimiser training the network (its state is resized too), or None.
        generator: the random source of the new rows (None: torch's global generator).
    """
    sizes = network.head_sizes
    if any(size != head_size for size in sizes):
        raise ValueError(f"network heads must all have head_size={head_size} units, got {list(sizes)}")
    if isinstance(add, bool) or not isinstance(add, int) or add < 0:
        raise ValueError(f"add must be an int >= 0, got {add!r}")
    kept = [int(k) for k in keep]
    if any(not 0 <= k < len(sizes) for k in kept) or len(set(kept)) != len(kept):
        raise ValueError(f"keep must hold distinct head indices in [0, {len(sizes)}), got {list(keep)}")
    if not kept and add == 0:
        raise ValueError("keep and add must leave at least one head")
    readout = network.readout
    weight, bias = readout.weight, readout.bias
    rows = torch.tensor([k * head_size + j for k in kept for j in range(head_size)], dtype=torch.long)
    hidden = weight.shape[1]
    bound = math.sqrt(6.0 / (hidden + head_size))
    fresh = torch.empty(add * head_size, hidden, dtype=weight.dtype).uniform_(-bound, bound, generator=generator)
    new_values = {
        weight: torch.cat([weight.detach()[rows.to(weight.device)], fresh.to(weight.device)]),
        bias: torch.cat([bias.detach()[rows.to(bias.device)], bias.new_zeros(add * head_size)]),
    }
    if optimizer is not None:
        for parameter in (weight, bias):
            state = optimizer.state.get(parameter, {})
            for key, value in list(state.items()):
                if isinstance(value, Tensor) and value.shape == parameter.shape:
                    extra = value.new_zeros((add * head_size, *value.shape[1:]))
                    state[key] = torch.cat([value[rows.to(value.device)], extra])
    for parameter, value in new_values.items():
        parameter.data = value
        if parameter.grad is not None:
            parameter.grad = None
    readout.out_features = weight.shape[0]
    network.head_sizes = (head_size,) * (len(kept) + add)
    network.n_outputs = sum(network.head_sizes)


class CurriculumCallback(Callback):
    """Drive a trainer with a :class:`~mtrnn.envs.curriculum.Curriculum`.

    * after every update: ``curriculum.observe(batch_size)``;
    * after every evaluation: ``curriculum.update(performance)`` with the current task's performance
      (head curricula: ``{"N=<n>": …}`` from the ``perf/<id>/N=<n>`` columns; rule switches:
      ``{"performance": perf/<id of the current rule>}``);
    * on a change: close the finished task for the projection (if any), resize the readout heads for a head
      curriculum (cumulative: keep all, add the new ones; sliding: drop the oldest; single-head: the one head is
      reused, as in the paper's code), train the new task and record a ``change`` row.

    Args:
        curriculum: the curriculum (the same object a :class:`~mtrnn.envs.curriculum.CurriculumWrapper`
            would use).
        rule_ids: for a :class:`~mtrnn.envs.curriculum.RuleSwitch`: the evaluation column (``perf/<id>``) of each
            of its tasks (default: its ``names``).
        projection_alpha: continual learning by orthogonal projection (Duncker et al. 2020) with this ``α``
            (rule switches only): each finished task's activity is protected from later updates
            (:class:`~mtrnn.agents.continual.OrthogonalProjection`); None: naive sequential training.
        projection_trials: trials of a finished task whose activity defines its covariances.
        stop_when_finished: stop training once the curriculum's last stage passes its criterion.
    """

    def __init__(
        self,
        curriculum: Curriculum,
        *,
        rule_ids: Sequence[str] | None = None,
        projection_alpha: float | None = None,
        projection_trials: int = 512,
        stop_when_finished: bool = False,
    ) -> None:
        if not isinstance(curriculum, Curriculum):
            raise TypeError(f"curriculum must implement the Curriculum protocol, got {type(curriculum).__name__}")
        self.curriculum = curriculum
        if rule_ids is None and isinstance(curriculum, RuleSwitch):
            rule_ids = curriculum.names
        self.rule_ids = None if rule_ids is None else tuple(rule_ids)
        if projection_alpha is not None and not isinstance(curriculum, RuleSwitch):
            raise ValueError("projection_alpha needs a rule-switch curriculum (the readout must not grow)")
        self.projection_alpha = projection_alpha
        self.projection_trials = projection_trials
        self.projection: OrthogonalProjection | None = None
        self.stop_when_finished = bool(stop_when_finished)
        self._done = False

    @property
    def follows_evaluation(self) -> bool:
        """Whether evaluation follows the training task (head curricula, difficulty schedules, your own kinds) or
        keeps scoring every task of the run (rule switches)."""
        return not isinstance(self.curriculum, RuleSwitch)

    # ------------------------------------------------------------------ the trainer's hooks
    def init_callback(self, trainer: Trainer) -> None:
        super().init_callback(trainer)
        if self.projection_alpha is not None and self.projection is None:
            from mtrnn.agents.continual import OrthogonalProjection

            self.projection = OrthogonalProjection(
                trainer.network, alpha=self.projection_alpha, trials=self.projection_trials
            )
        if self.projection is not None:
            self.projection.attach(trainer.optimizer)
        if trainer.step == 0:  # a fresh run; a resumed one installs its saved stage in load_state_dict
            self._install(initial=True)

    def on_step(self, state: TrainState) -> bool:
        self.curriculum.observe(state.batch_size)
        return True

    def on_evaluation(self, state: TrainState) -> bool:
        if self._done:
            return not self.stop_when_finished
        task = self.curriculum.task
        performance = self._performance(task, state.performance)
        finished_before = self.curriculum.finished
        if not self.curriculum.update(performance):
            if finished_before and self.stop_when_finished and self._passes(performance):
                self._done = True
                return False
            return True
        if self.projection is not None:
            rng = np.random.default_rng(_seed(self.trainer.config.seed, _PROJECTION_STREAM, self.curriculum.stage))
            self.projection.end_task(task, rng)
        self._install(initial=False, previous=task)
        return True

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"curriculum": self.curriculum.state_dict(), "done": self._done}
        if self.projection is not None:
            state["projection"] = self.projection.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.curriculum.load_state_dict(state["curriculum"])
        self._done = bool(state.get("done", False))
        if self.projection is not None and "projection" in state:
            self.projection.load_state_dict(state["projection"])
        self._install(initial=True)

    # ------------------------------------------------------------------ helpers
    def _passes(self, performance: Mapping[str, float]) -> bool:
        curriculum = self.curriculum
        if isinstance(curriculum, HeadCurriculum):
            return curriculum.ready(performance)
        threshold = getattr(curriculum, "threshold", None)
        return threshold is not None and performance.get(PERFORMANCE, 0.0) > threshold

    def _performance(self, task: Task, evaluation: Mapping[str, float]) -> dict[str, float]:
        if isinstance(task, MemoryTask):
            column = self.trainer.eval_tasks[0].env_id
            return {name: float(evaluation[f"{column}/{name}"]) for name in task.head_names}
        if self.rule_ids is None:
            return {PERFORMANCE: float(min(evaluation.values()))}
        return {PERFORMANCE: float(evaluation[self.rule_ids[self.curriculum.stage]])}

    def _install(self, *, initial: bool, previous: Task | None = None) -> None:
        """Make the trainer train (and, for head curricula, evaluate) the curriculum's current task."""
        trainer = self.trainer
        task = self.curriculum.task
        if isinstance(task, MemoryTask):
            self._match_heads(task, previous)
        trainer.set_task(task, evaluate=self.follows_evaluation)
        if not initial:
            trainer.record_change(self._describe())

    def _match_heads(self, task: MemoryTask, previous: Task | None) -> None:
        network = self.trainer.network
        n_heads = len(network.head_sizes)
        if isinstance(previous, MemoryTask) and self.curriculum_kind_shares_heads(previous, task):
            old = {n: k for k, n in enumerate(previous.heads)}
            keep = [old[n] for n in task.heads if n in old]
            add = task.n_heads - len(keep)
        elif task.n_heads == n_heads and network.n_outputs == task.n_outputs:
            return
        else:  # a resume (weights come from the checkpoint) or the single-head curriculum's reused head
            keep = list(range(min(n_heads, task.n_heads)))
            add = task.n_heads - len(keep)
        if keep == list(range(n_heads)) and add == 0:
            return
        generator = torch.Generator().manual_seed(_seed(self.trainer.config.seed, _HEAD_STREAM, self.curriculum.stage))
        resize_heads(network, keep, add, optimizer=self.trainer.optimizer, generator=generator)

    @staticmethod
    def curriculum_kind_shares_heads(previous: MemoryTask, task: MemoryTask) -> bool:
        """True when heads are identified by their ``N`` across the change (multi-head kinds); False for the
        single-head curriculum, whose one head answers the new ``N``."""
        return not (previous.n_heads == task.n_heads == 1)

    def _describe(self) -> str:
        description = self.curriculum.describe()
        task = self.curriculum.task
        if isinstance(task, MemoryTask):
            heads = task.heads
            span = f"N={heads[0]}" if len(heads) == 1 else f"N={heads[0]}..{heads[-1]}"
            return f"curriculum stage {description['curriculum/stage']}: {task.name} heads {span}"
        name = self.rule_ids[self.curriculum.stage] if self.rule_ids is not None else task.name
        return f"curriculum stage {description['curriculum/stage']}: {name}"


def callback_from_config(config: TrainConfig, task: Task) -> CurriculumCallback:
    """The :class:`CurriculumCallback` a :class:`~mtrnn.agents.config.TrainConfig` describes (its ``curriculum``
    fields), for the training ``task`` the config builds.

    Head kinds need a memory task (``mtrnn/NParity-v0``, ``mtrnn/NDMS-v0``). A rule switch trains the config's
    env ids one after the other: stage ``k`` is the config's task drawing only id ``k`` (same inputs, rule
    inputs included), evaluated on every id.
    """
    kind = config.curriculum
    if kind is None:
        raise ValueError("config.curriculum must be set to build a curriculum callback")
    if kind is CurriculumKind.RULE_SWITCH:
        from mtrnn.agents.tasks import build_task

        ids = config.env_ids
        if len(ids) < 2:
            raise ValueError(f"curriculum 'rule-switch' needs at least two env ids to switch between, got {list(ids)}")
        stages = [
            build_task(ids, tuple(float(i == k) for i in range(len(ids))), config.task_kwargs) for k in range(len(ids))
        ]
        switch = RuleSwitch(
            stages, threshold=config.advance_threshold, trials_per_stage=config.trials_per_stage, names=ids
        )
        alpha = config.projection_alpha if config.continual is not None else None
        return CurriculumCallback(switch, projection_alpha=alpha)
    if not isinstance(task, MemoryTask):
        raise ValueError(
            f"curriculum {kind.value!r} raises N on a memory task (mtrnn/NParity-v0, mtrnn/NDMS-v0), got "
            f"{config.task_names}"
        )
    if config.advance_threshold is None:
        rule = AdvanceRule(1.0, 1.0)  # never passes (> 1): the trial budget decides
    else:
        rule = AdvanceRule(config.advance_threshold, config.newest_threshold)
    curriculum = HeadCurriculum(
        task,
        kind,
        n_start=config.n_start,
        n_max=config.n_max,
        init_heads=config.init_heads,
        add_heads=config.add_heads,
        forget_heads=config.forget_heads,
        rule=rule,
        trials_per_stage=config.trials_per_stage,
    )
    return CurriculumCallback(curriculum)
