"""`TrainConfig`: every setting of a supervised training run, frozen, validated and JSON round-trippable.

A run directory's ``config.json`` is ``TrainConfig.to_dict()``; ``TrainConfig.from_dict`` rebuilds it exactly, so
the file alone describes (and, with the checkpoint, resumes) a run. Derived values are properties, never stored.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from mtrnn.agents.networks import Activation, NetworkConfig
from mtrnn.envs import all_ids

__all__ = ["Loss", "Optimizer", "TrainConfig", "default_network"]


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


def default_network() -> NetworkConfig:
    """The default recipe's network: a leaky RNN of 128 tanh units (the delay tasks' network of "Training and
    Analysis for Multitask RNNs"), otherwise :class:`NetworkConfig`'s defaults (Yang's α = 0.2, orthogonal
    ``W_rec``, recurrent noise 0.05). It trains ``mtrnn/DelayAnti-v0`` to 95% in about 100 updates (see
    ``benchmarks/train_delayanti.py``)."""
    return NetworkConfig(hidden_size=128, activation=Activation.TANH)


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _number(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    integer: bool = False,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Any:
    """Validate one numeric field; returns it as int/float (None passes when ``optional``).

    Raises TypeError/ValueError whose message names the field and its allowed range.
    """
    if value is None and optional:
        return None
    kind = "an int" if integer else "a finite number"
    high_open = high_open or math.isinf(high)
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    allowed = f"{kind} in {interval}" + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a supervised training run (the trainer reads nothing else).

    Several ``env_ids`` are trained as one :class:`mtrnn.envs.MultiTask` (one task per batch, drawn with
    ``task_weights``; one-hot rule inputs appended unless every task carries its own rule cue). Evaluation
    scores every task (every component of a mixture id such as ``mtrnn/Yang19-v0``) separately.
    """

    #: Registered ``mtrnn/…`` ids to train on (one or several).
    env_ids: tuple[str, ...] = ("mtrnn/DelayAnti-v0",)
    #: Relative sampling weight per id (several ids only; None: uniform).
    task_weights: tuple[float, ...] | None = None
    #: The recurrent network (architecture, size, activation, τ, noise, output activation).
    network: NetworkConfig = field(default_factory=default_network)
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
    #: torch CPU threads (>= 1); None: every core this process may use.
    threads: int | None = None
    #: Batches a background thread draws (and adds input noise to) ahead of the update (>= 0; 0: in the training
    #: loop); None: 1 when the thread has a core of its own (``threads`` < cores) or the device is not the CPU, else 0.
    prefetch: int | None = None
    #: Run directory (``runs/<name>``); None: train in memory, write nothing.
    out_dir: str | None = None

    def __post_init__(self) -> None:
        ids = self.env_ids
        if isinstance(ids, str) or not isinstance(ids, (tuple, list)) or not ids:
            raise TypeError(f"env_ids must be a non-empty tuple of registered ids, got {ids!r}")
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
            weights = tuple(_number(f"task_weights[{i}]", w, low=0.0) for i, w in enumerate(self.task_weights))
            if len(weights) != len(ids):
                raise ValueError(f"task_weights must have one entry per env id ({len(ids)}), got {len(weights)}")
            if sum(weights) <= 0:
                raise ValueError(f"task_weights must not all be 0, got {list(weights)}")
            object.__setattr__(self, "task_weights", weights)
        if not isinstance(self.network, NetworkConfig):
            raise TypeError(f"network must be a NetworkConfig, got {type(self.network).__name__}")
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
            "learning_rate": _number("learning_rate", self.learning_rate, low=0.0, low_open=True),
            "momentum": _number("momentum", self.momentum, low=0.0, high=1.0, high_open=True),
            "batch_size": _number("batch_size", self.batch_size, low=1, integer=True),
            "grad_clip_norm": _number("grad_clip_norm", self.grad_clip_norm, low=0.0, low_open=True, optional=True),
            "grad_clip_value": _number("grad_clip_value", self.grad_clip_value, low=0.0, low_open=True, optional=True),
            "l1_weight": _number("l1_weight", self.l1_weight, low=0.0),
            "l2_weight": _number("l2_weight", self.l2_weight, low=0.0),
            "l1_activity": _number("l1_activity", self.l1_activity, low=0.0),
            "l2_activity": _number("l2_activity", self.l2_activity, low=0.0),
            "eval_interval": _number("eval_interval", self.eval_interval, low=1, integer=True),
            "eval_trials": _number("eval_trials", self.eval_trials, low=1, integer=True),
            "target_perf": _number("target_perf", self.target_perf, low=0.0, high=1.0, low_open=True, optional=True),
            "max_steps": _number("max_steps", self.max_steps, low=1, integer=True, optional=True),
            "max_time": _number("max_time", self.max_time, low=0.0, low_open=True, optional=True),
            "seed": _number("seed", self.seed, low=0, high=2**63 - 1, integer=True),
            "threads": _number("threads", self.threads, low=1, integer=True, optional=True),
            "prefetch": _number("prefetch", self.prefetch, low=0, high=64, integer=True, optional=True),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov must be False when momentum is 0 (Nesterov needs momentum in (0, 1))")
        if self.max_steps is None and self.max_time is None:
            raise ValueError("max_steps and max_time must not both be None (the run needs a budget)")
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a torch device name such as 'cpu' or 'cuda', got {self.device!r}")
        try:
            torch.device(self.device)
        except RuntimeError as error:
            raise ValueError(
                f"device must be a torch device name such as 'cpu', 'cuda' or 'cuda:0', got {self.device!r}"
            ) from error
        if self.out_dir is not None and (not isinstance(self.out_dir, str) or not self.out_dir.strip()):
            raise TypeError(f"out_dir must be a non-empty path string or None, got {self.out_dir!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def alpha(self) -> float:
        """The network's ``dt / τ``."""
        return float(self.network.alpha)

    @property
    def n_tasks(self) -> int:
        """Number of env ids trained together."""
        return len(self.env_ids)

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
                value = value.to_dict()
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            result[f.name] = value
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (missing keys take their defaults; unknown keys raise ValueError)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping of field name -> value, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"config has unknown field(s) {unknown}; fields are {names}")
        kwargs = dict(data)
        if "network" in kwargs and isinstance(kwargs["network"], Mapping):
            kwargs["network"] = NetworkConfig.from_dict(kwargs["network"])
        for name, kind in (("loss", Loss), ("optimizer", Optimizer)):
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
