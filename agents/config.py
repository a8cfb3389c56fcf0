"""`TrainConfig`: every setting of a supervised training run, frozen, validated and JSON round-trippable.

A run directory's ``config.json`` is ``TrainConfig.to_dict()``; ``TrainConfig.from_dict`` rebuilds it exactly, so
the file alone describes (and, with the checkpoint, resumes) a run. Derived values are properties, never stored.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from mtrnn.agents.checks import check_device, check_number, check_out_dir
from mtrnn.agents.continual import Continual
from mtrnn.agents.networks import DEFAULT_DT, NetworkConfig
from mtrnn.agents.tasks import TaskSource, build_task
from mtrnn.envs import CurriculumKind, Task, all_ids, make_task

__all__ = ["RESUME_CHANGES", "Continual", "CurriculumKind", "Loss", "Optimizer", "TaskSource", "TrainConfig"]

#: The fields a resumed run may change (``Trainer.resume(..., changes=...)``, ``mtrnn-train --resume DIR --FLAG``):
#: budgets, the stopping target, the evaluation interval, the learning rate, and where/how fast it runs. Every
#: other field defines the run and is refused. Changing ``threads`` or ``device`` keeps the run valid but not
#: bit-exact (float sums are ordered differently); the others keep it exact up to the step of the change.
RESUME_CHANGES = frozenset(
    {"max_steps", "max_time", "target_perf", "eval_interval", "learning_rate", "threads", "device", "prefetch"}
)


class Loss(enum.Enum):
    """The training loss.

    * ``MSE``: masked squared error on ``batch.targets``, ``mean(((y - ŷ) · batch.mask)²)`` over all
      ``(T, B, n_out)`` entries — Yang et al. 2019's ``cost_lsq`` (a mask weight ``w`` counts ``w²``). Pair it with
      sigmoid outputs for Yang's tasks.
    * ``CROSS_ENTROPY``: cross-entropy of the outputs (logits, identity output activation) against
      ``batch.labels``, averaged over the steps where ``batch.step_mask`` is 1.
    """

    MSE = "mse"
    CROSS_ENTROPY = "cross_entropy"


class Optimizer(enum.Enum):
    """The optimiser: ``ADAM`` (``torch.optim.Adam``) or ``SGD`` (with ``momentum`` and ``nesterov``)."""

    ADAM = "adam"
    SGD = "sgd"


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a supervised training run (the trainer reads nothing else).

    Several ``env_ids`` are trained as one :class:`mtrnn.envs.MultiTask` (one task per batch, drawn with
    ``task_weights``; one-hot rule inputs appended unless every task carries its own rule cue). Evaluation
    scores every task (every component of a mixture id such as ``mtrnn/Yang19-v0``) separately. The network's
    time step is the task's (``task_kwargs`` ``dt``, default 20 ms): one source of truth.
    """

    #: Registered ``mtrnn/…`` ids to train on (one or several; empty only with ``custom_task``).
    env_ids: tuple[str, ...] = ("mtrnn/DelayAnti-v0",)
    #: Relative sampling weight per id (several ids only; None: uniform).
    task_weights: tuple[float, ...] | None = None
    #: Constructor arguments per env id, JSON-safe, e.g. ``{"mtrnn/DelayAnti-v0": {"n_locations": 4, "dt": 10}}``
    #: (``make_task(env_id, **kwargs)``; the network's dt follows the task's).
    task_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: A task given as an object (``Trainer(config, task=...)``) that registered ids cannot describe: its class and
    #: constructor arguments (:class:`~mtrnn.agents.tasks.TaskSource`); None: the task is ``env_ids``.
    custom_task: TaskSource | None = None
    #: The recurrent network (architecture, size, activation, τ, noise, output activation); partial dicts in
    #: ``from_dict`` fill the rest from ``NetworkConfig()``.
    network: NetworkConfig = field(default_factory=NetworkConfig)
    #: The loss (:class:`Loss`): MSE on targets with ``batch.mask`` or cross-entropy on labels.
    loss: Loss = Loss.CROSS_ENTROPY
    #: The optimiser (:class:`Optimizer`).
    optimizer: Optimizer = Optimizer.ADAM
    #: Learning rate (> 0); 1e-3 is Yang et al. 2019's Adam rate.
    learning_rate: float = 1e-3
    #: SGD momentum in [0, 1) (ignored by Adam).
    momentum: float = 0.9
    #: SGD Nesterov momentum (needs momentum > 0; ignored by Adam).
    nesterov: bool = False
    #: Trials per training batch (>= 1).
    batch_size: int = 64
    #: Clip the gradients' global L2 norm to this value (> 0); None: no norm clipping.
    grad_clip_norm: float | None = 1.0
    #: Clip every gradient entry to ±this value (> 0; Yang 2019 uses 1.0); None: no value clipping.
    grad_clip_value: float | None = None
    #: L1 penalty on the weights (every parameter with >= 2 dimensions; biases and τ excluded), >= 0.
    l1_weight: float = 0.0
    #: L2 penalty (sum of squares) on the weights, >= 0.
    l2_weight: float = 0.0
    #: L1 penalty on the recurrent activity, ``mean(|h|)`` over ``(T, B, H)``, >= 0.
    l1_activity: float = 0.0
    #: L2 penalty on the recurrent activity, ``mean(h²)``, >= 0.
    l2_activity: float = 0.0
    #: Evaluate (and checkpoint) every this many updates (>= 1).
    eval_interval: int = 100
    #: Fresh seeded trials per task at each evaluation (>= 1).
    eval_trials: int = 256
    #: Stop once the lowest per-task performance reaches this value, in (0, 1]; None: no target.
    target_perf: float | None = None
    #: Stop after this many updates (>= 1); None: no step budget.
    max_steps: int | None = 10_000
    #: Stop after this many seconds of wall time (> 0); None: no time budget.
    max_time: float | None = None
    #: Seed of every random stream of the run (>= 0): initialisation, batches, noise, evaluation.
    seed: int = 0
    #: Torch device for training (``"cpu"``, ``"cuda"``, ``"cuda:1"``…).
    device: str = "cpu"
    #: torch CPU threads (>= 1); None: every core this process may use. The trainer records the number it used in
    #: the run's config.json (a resume uses it again: thread counts change float sums, so exactness needs them).
    threads: int | None = None
    #: Batches a background thread draws (and adds input noise to) ahead of the update (>= 0; 0: in the training
    #: loop); None: 1 when the thread has a core of its own (``threads`` < cores) or the device is not the CPU, else 0.
    prefetch: int | None = None
    #: Run directory (``runs/<name>``); None: train in memory, write nothing.
    out_dir: str | None = None
    #: A curriculum (:class:`~mtrnn.envs.curriculum.CurriculumKind`): ``single``/``cumulative``/``sliding`` raise
    #: N on a memory task (mtrnn/NParity-v0, mtrnn/NDMS-v0); ``rule-switch`` trains the env ids one after the
    #: other (evaluating all of them). None: no curriculum. See :mod:`mtrnn.agents.curriculum`.
    curriculum: CurriculumKind | None = None
    #: Head curricula: the first N (>= 1).
    n_start: int = 2
    #: Head curricula: stop raising N beyond this (None: never).
    n_max: int | None = None
    #: Multi-head curricula: heads at the first stage (>= 1; sliding: >= forget_heads).
    init_heads: int = 1
    #: Multi-head curricula: heads added per stage (>= 1).
    add_heads: int = 1
    #: Sliding curriculum: oldest heads dropped per stage (>= 1, <= add_heads).
    forget_heads: int = 1
    #: Advance when the mean performance over the active heads (rule switch: the current task's) exceeds this, in
    #: [0, 1] (0.98 in Khajehabdollahi, Zeraati et al. 2024); None: on the trial budget only.
    advance_threshold: float | None = 0.98
    #: Head curricula: and the newest head's performance exceeds this, in [0, 1].
    newest_threshold: float = 0.98
    #: Advance after this many trials in a stage whatever the performance (>= 1; checked at evaluations); None: no
    #: budget.
    trials_per_stage: int | None = None
    #: Continual learning across a rule-switch curriculum (:class:`~mtrnn.agents.continual.Continual`):
    #: ``projection`` (Duncker et al. 2020); None: naive sequential training.
    continual: Continual | None = None
    #: The α of the projectors ``α/(α+λ)`` (> 0).
    projection_alpha: float = 1e-3

    def __post_init__(self) -> None:
        ids = self.env_ids
        if isinstance(ids, str) or not isinstance(ids, (tuple, list)):
            raise TypeError(f"env_ids must be a tuple of registered ids, got {ids!r}")
        if self.custom_task is not None and not isinstance(self.custom_task, TaskSource):
            raise TypeError(f"custom_task must be a TaskSource or None, got {type(self.custom_task).__name__}")
        if self.custom_task is not None and ids:
            raise ValueError(f"env_ids must be empty when custom_task is given (one task source), got {list(ids)}")
        if self.custom_task is None and not ids:
            raise TypeError("env_ids must be a non-empty tuple of registered ids (or give custom_task)")
        known = all_ids()
        for i, env_id in enumerate(ids):
            if env_id not in known:
                raise ValueError(f"env_ids[{i}] must be a registered id (one of {known}), got {env_id!r}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"env_ids must not repeat an id, got {list(ids)}")
        object.__setattr__(self, "env_ids", tuple(ids))
        if self.task_weights is not None:
            if isinstance(self.task_weights, str) or not isinstance(self.task_weights, (tuple, list)):
                raise TypeError(f"task_weights must be a tuple of numbers >= 0 or None, got {self.task_weights!r}")
            weights = tuple(check_number(f"task_weights[{i}]", w, low=0.0) for i, w in enumerate(self.task_weights))
            if len(weights) != len(ids):
                raise ValueError(f"task_weights must have one entry per env id ({len(ids)}), got {len(weights)}")
            if sum(weights) <= 0:
                raise ValueError(f"task_weights must not all be 0, got {list(weights)}")
            object.__setattr__(self, "task_weights", weights)
        object.__setattr__(self, "task_kwargs", self._checked_task_kwargs())
        if not isinstance(self.network, NetworkConfig):
            raise TypeError(f"network must be a NetworkConfig, got {type(self.network).__name__}")
        if self.network.dt is not None:
            raise ValueError(
                f"network.dt must be None in a TrainConfig: the network runs at its task's time step; set the task's "
                f"dt instead (task_kwargs {{env_id: {{'dt': {self.network.dt:g}}}}}, mtrnn-train --dt)"
            )
        for name, kind in (("loss", Loss), ("optimizer", Optimizer)):
            if not isinstance(getattr(self, name), kind):
                allowed = [m.value for m in kind]
                raise TypeError(f"{name} must be a {kind.__name__} (one of {allowed}), got {getattr(self, name)!r}")
        if self.loss is Loss.CROSS_ENTROPY and self.network.output_activation.value != "identity":
            raise ValueError(
                "network.output_activation must be 'identity' with loss 'cross_entropy' (outputs are logits), "
                f"got {self.network.output_activation.value!r}"
            )
        values = {
            "learning_rate": check_number("learning_rate", self.learning_rate, low=0.0, low_open=True),
            "momentum": check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True),
            "batch_size": check_number("batch_size", self.batch_size, low=1, integer=True),
            "grad_clip_norm": check_number(
                "grad_clip_norm", self.grad_clip_norm, low=0.0, low_open=True, optional=True
            ),
            "grad_clip_value": check_number(
                "grad_clip_value", self.grad_clip_value, low=0.0, low_open=True, optional=True
            ),
            "l1_weight": check_number("l1_weight", self.l1_weight, low=0.0),
            "l2_weight": check_number("l2_weight", self.l2_weight, low=0.0),
            "l1_activity": check_number("l1_activity", self.l1_activity, low=0.0),
            "l2_activity": check_number("l2_activity", self.l2_activity, low=0.0),
            "eval_interval": check_number("eval_interval", self.eval_interval, low=1, integer=True),
            "eval_trials": check_number("eval_trials", self.eval_trials, low=1, integer=True),
            "target_perf": check_number(
                "target_perf", self.target_perf, low=0.0, high=1.0, low_open=True, optional=True
            ),
            "max_steps": check_number("max_steps", self.max_steps, low=1, integer=True, optional=True),
            "max_time": check_number("max_time", self.max_time, low=0.0, low_open=True, optional=True),
            "seed": check_number("seed", self.seed, low=0, high=2**63 - 1, integer=True),
            "threads": check_number("threads", self.threads, low=1, integer=True, optional=True),
            "prefetch": check_number("prefetch", self.prefetch, low=0, high=64, integer=True, optional=True),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov must be False when momentum is 0 (Nesterov needs momentum in (0, 1))")
        if self.max_steps is None and self.max_time is None:
            raise ValueError("max_steps and max_time must not both be None (the run needs a budget)")
        check_device(self.device)
        check_out_dir(self.out_dir)
        self._check_curriculum()

    def _check_curriculum(self) -> None:
        for name, kind in (("curriculum", CurriculumKind), ("continual", Continual)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                allowed = [m.value for m in kind]
                raise TypeError(f"{name} must be a {kind.__name__} (one of {allowed}) or None, got {value!r}")
        values = {
            "n_start": check_number("n_start", self.n_start, low=1, integer=True),
            "n_max": check_number("n_max", self.n_max, low=1, integer=True, optional=True),
            "init_heads": check_number("init_heads", self.init_heads, low=1, integer=True),
            "add_heads": check_number("add_heads", self.add_heads, low=1, integer=True),
            "forget_heads": check_number("forget_heads", self.forget_heads, low=1, integer=True),
            "advance_threshold": check_number(
                "advance_threshold", self.advance_threshold, low=0.0, high=1.0, optional=True
            ),
            "newest_threshold": check_number("newest_threshold", self.newest_threshold, low=0.0, high=1.0),
            "trials_per_stage": check_number(
                "trials_per_stage", self.trials_per_stage, low=1, integer=True, optional=True
            ),
            "projection_alpha": check_number("projection_alpha", self.projection_alpha, low=0.0, low_open=True),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if self.curriculum is not None and self.advance_threshold is None and self.trials_per_stage is None:
            raise ValueError("advance_threshold and trials_per_stage must not both be None with a curriculum")
        if self.continual is not None and self.curriculum is not CurriculumKind.RULE_SWITCH:
            raise ValueError(
                f"continual {self.continual.value!r} needs curriculum 'rule-switch' (tasks one after the other), "
                f"got curriculum {None if self.curriculum is None else self.curriculum.value!r}"
            )

    def _checked_task_kwargs(self) -> dict[str, dict[str, Any]]:
        kwargs = self.task_kwargs
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"task_kwargs must be a mapping env id -> {{argument: value}}, got {kwargs!r}")
        checked: dict[str, dict[str, Any]] = {}
        for env_id, arguments in kwargs.items():
            if env_id not in self.env_ids:
                raise ValueError(f"task_kwargs keys must be ids of env_ids {list(self.env_ids)}, got {env_id!r}")
            if not isinstance(arguments, Mapping) or not all(isinstance(k, str) for k in arguments):
                raise TypeError(f"task_kwargs[{env_id!r}] must be a mapping argument name -> value, got {arguments!r}")
            try:
                plain = json.loads(json.dumps(dict(arguments), allow_nan=False))
            except (TypeError, ValueError) as error:
                raise TypeError(f"task_kwargs[{env_id!r}] must be JSON-safe, got {arguments!r}: {error}") from None
            if plain:
                try:
                    make_task(env_id, **plain)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"task_kwargs[{env_id!r}] do not build the task: {error}") from None
                checked[env_id] = plain
        return checked

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # ------------------------------------------------------------------ derived values
    @property
    def dt(self) -> float:
        """The time step in ms of the task (and so of the network); builds the task to read it."""
        return float(self.build_task().dt)

    @property
    def alpha(self) -> float:
        """The leaky network's ``dt / τ`` at the task's time step."""
        return float(self.network.alpha_at(self.dt))

    @property
    def n_tasks(self) -> int:
        """Number of env ids trained together (1 for a custom task)."""
        return max(1, len(self.env_ids))

    def build_task(self) -> Task:
        """The training task the config describes (``env_ids`` with ``task_kwargs``, or ``custom_task``)."""
        if self.custom_task is not None:
            return self.custom_task.build()
        try:
            return build_task(self.env_ids, self.task_weights, self.task_kwargs)
        except (TypeError, ValueError) as error:
            raise type(error)(f"task_kwargs {self.task_kwargs} do not build the task: {error}") from error

    @property
    def task_names(self) -> tuple[str, ...]:
        """What the run trains on, for people: the env ids, or the custom task's name."""
        return self.env_ids if self.custom_task is None else (self.custom_task.name,)

    @property
    def num_threads(self) -> int:
        """torch CPU threads the run uses: ``threads``, or every core this process may use."""
        return self.threads if self.threads is not None else available_cores()

    @property
    def num_prefetch(self) -> int:
        """Batches drawn ahead: ``prefetch``, or the automatic choice described there."""
        if self.prefetch is not None:
            return self.prefetch
        return 1 if torch.device(self.device).type != "cpu" or self.num_threads < available_cores() else 0

    @property
    def run_dir(self) -> Path | None:
        """``out_dir`` as a Path (None when training in memory)."""
        return None if self.out_dir is None else Path(self.out_dir)

    @property
    def name(self) -> str:
        """The run's name: the last component of ``out_dir`` (``"run"`` in memory)."""
        return "run" if self.out_dir is None else Path(self.out_dir).name

    @property
    def max_trials(self) -> int | None:
        """``max_steps * batch_size`` (None without a step budget)."""
        return None if self.max_steps is None else self.max_steps * self.batch_size

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: enums as their values, tuples as lists, the network as its own dict."""
        result: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, NetworkConfig):
                value = {k: v for k, v in value.to_dict().items() if k != "dt"}  # the task's dt, not stored twice
            elif isinstance(value, TaskSource):
                value = value.to_dict()
            elif f.name == "task_kwargs":
                value = {k: dict(v) for k, v in value.items()}
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            result[f.name] = value
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (missing keys take their defaults; unknown keys raise ValueError).

        A partial ``network`` dict fills its other fields from ``NetworkConfig()`` (the one network default). A
        ``network.dt`` saved by older versions moves to ``task_kwargs`` (the task's time step).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping of field name -> value, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"config has unknown field(s) {unknown}; fields are {names}")
        kwargs = dict(data)
        if "network" in kwargs and isinstance(kwargs["network"], Mapping):
            network = dict(kwargs["network"])
            legacy_dt = network.pop("dt", None)
            if legacy_dt is not None and legacy_dt != DEFAULT_DT:
                ids = kwargs.get("env_ids", cls.env_ids)
                task_kwargs = {k: dict(v) for k, v in dict(kwargs.get("task_kwargs") or {}).items()}
                for env_id in ids if isinstance(ids, (list, tuple)) else ():
                    task_kwargs.setdefault(env_id, {}).setdefault("dt", legacy_dt)
                kwargs["task_kwargs"] = task_kwargs
            kwargs["network"] = NetworkConfig.from_dict(network)
        if isinstance(kwargs.get("custom_task"), Mapping):
            kwargs["custom_task"] = TaskSource.from_dict(kwargs["custom_task"])
        choices: tuple[tuple[str, type[enum.Enum]], ...] = (
            ("loss", Loss),
            ("optimizer", Optimizer),
            ("curriculum", CurriculumKind),
            ("continual", Continual),
        )
        for name, kind in choices:
            if name in kwargs and isinstance(kwargs[name], str):
                try:
                    kwargs[name] = kind(kwargs[name])
                except ValueError as error:
                    allowed = [m.value for m in kind]
                    raise ValueError(f"{name} must be one of {allowed}, got {kwargs[name]!r}") from error
        for name in ("env_ids", "task_weights"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)
