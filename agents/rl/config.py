"""`RLConfig`: every setting of an RL run (either backend), frozen, validated and JSON round-trippable.

A run directory's ``config.json`` is ``RLConfig.to_dict()``; ``RLConfig.from_dict`` rebuilds it exactly.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mtrnn.agents.checks import check_device, check_number, check_out_dir
from mtrnn.agents.config import available_cores
from mtrnn.agents.networks import Activation, Architecture, NetworkConfig, OutputActivation
from mtrnn.agents.rl.rollout import RewardRule
from mtrnn.agents.rundir import RunDir
from mtrnn.envs import all_ids

__all__ = ["Algo", "Backend", "RLConfig", "default_policy_network", "read_rl_config"]

#: What ``RLConfig.kind`` holds, so a run directory says which trainer wrote it.
RL_KIND = "mtrnn.rl"


class Backend(enum.Enum):
    """Who trains.

    * ``BATCHED``: mtrnn's own trainer: whole trial batches, our cells (leaky RNN, GRU, LSTM); algo PPO.
    * ``SB3``: Stable-Baselines3 on the gym env through ``make_vec_env`` (PPO, A2C, sb3-contrib RecurrentPPO).
    """

    BATCHED = "batched"
    SB3 = "sb3"


class Algo(enum.Enum):
    """The algorithm: ``PPO`` (both backends), ``A2C`` and ``RECURRENT_PPO`` (SB3 backend only).

    With the SB3 backend, ``PPO`` and ``A2C`` use ``MlpPolicy`` (no memory: for tasks without a delay) and
    ``RECURRENT_PPO`` is sb3-contrib's ``MlpLstmPolicy`` (needs ``architecture=lstm``).
    """

    PPO = "ppo"
    A2C = "a2c"
    RECURRENT_PPO = "recurrent_ppo"


def default_policy_network() -> NetworkConfig:
    """The default policy network: a leaky RNN of 64 tanh units, τ = 40 ms (α = 0.5 at dt = 20 ms), no recurrent
    noise, logits out. With Yang's τ = 100 ms (α = 0.2) batched PPO on ``mtrnn/DelayGo-v0`` collapsed onto
    "always fixate" in every run we tried; faster units kept exploring the response period."""
    return NetworkConfig(hidden_size=64, activation=Activation.TANH, tau=40.0, recurrent_noise=0.0)


_JSON_SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class RLConfig:
    """Everything that defines an RL run. Budgets count env steps actually played (a trial that aborts at its
    second step counts 2), the unit SB3 counts as well."""

    #: The registered ``mtrnn/…`` id to train on.
    env_id: str = "mtrnn/DelayGo-v0"
    #: Task keyword arguments (JSON scalars only, e.g. ``{"dt": 100, "n_locations": 2}``).
    task_kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: Who trains (:class:`Backend`).
    backend: Backend = Backend.BATCHED
    #: The algorithm (:class:`Algo`).
    algo: Algo = Algo.PPO
    #: The policy network (the batched backend's cell; SB3: ``hidden_size`` units per layer / LSTM size).
    network: NetworkConfig = field(default_factory=default_policy_network)
    #: Reward for breaking fixation (the env's ``fixation_penalty``).
    fixation_penalty: float = -0.1
    #: Reward for a correct decision (the env's ``correct_reward``).
    correct_reward: float = 1.0
    #: Reward for a wrong decision (the env's ``wrong_reward``).
    wrong_reward: float = 0.0
    #: End the trial when fixation is broken (the env's ``abort_on_break``).
    abort_on_break: bool = True
    #: Learning rate of Adam (> 0).
    learning_rate: float = 1e-3
    #: Batched: trials per rollout (one update per rollout), >= 1. Large batches are nearly free: the policy runs
    #: one Python step loop per rollout whatever B is, so env steps per second grow with B.
    trials_per_update: int = 512
    #: SB3: parallel envs in ``make_vec_env`` (>= 1).
    n_envs: int = 8
    #: SB3: steps per env per rollout (>= 1).
    n_steps: int = 128
    #: Passes over each rollout (PPO), >= 1.
    n_epochs: int = 4
    #: Minibatches per pass (batched: trials are split, whole trials each; SB3: ``batch_size = n_envs·n_steps /
    #: n_minibatches``), >= 1.
    n_minibatches: int = 2
    #: Discount factor in [0, 1].
    gamma: float = 0.99
    #: GAE λ in [0, 1].
    gae_lambda: float = 0.95
    #: PPO clip range ε > 0.
    clip_range: float = 0.2
    #: Entropy bonus coefficient >= 0.
    ent_coef: float = 0.01
    #: Value loss coefficient >= 0.
    vf_coef: float = 0.5
    #: Clip the gradients' global norm to this (> 0).
    max_grad_norm: float = 0.5
    #: Batched: a delay curriculum (ms, each > 0): train first on the task with its ``delay`` period fixed at
    #: each of these durations in turn, moving on once the greedy performance on 256 seeded trials of the current
    #: stage exceeds ``curriculum_threshold`` (checked at every evaluation), then on the task itself; ``perf/<id>``
    #: is always measured on the task itself. Empty: no curriculum. The task must have a ``delay`` period.
    curriculum_delays: tuple[float, ...] = ()
    #: Greedy performance on a curriculum stage that moves training to the next stage, in (0, 1].
    curriculum_threshold: float = 0.9
    #: Evaluate (greedy actions, fixed seeded trials) and checkpoint every this many updates (>= 1).
    eval_interval: int = 10
    #: Seeded evaluation trials, drawn once per run (>= 1).
    eval_trials: int = 256
    #: Stop after this many env steps (>= 1); None: no step budget.
    max_env_steps: int | None = 500_000
    #: Stop after this many seconds of training (> 0); None: no time budget.
    max_time: float | None = None
    #: Stop once the greedy evaluation performance reaches this, in (0, 1]; None: no target.
    target_perf: float | None = None
    #: Seed of every random stream (>= 0).
    seed: int = 0
    #: torch CPU threads (>= 1); None: every core.
    threads: int | None = None
    #: torch device of the batched backend (``"cpu"``, ``"cuda"``).
    device: str = "cpu"
    #: The run directory; None: train in memory.
    out_dir: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or self.env_id not in all_ids():
            raise ValueError(f"env_id must be one of {all_ids()}, got {self.env_id!r}")
        if not isinstance(self.task_kwargs, Mapping):
            raise TypeError(f"task_kwargs must be a mapping of name -> JSON scalar, got {self.task_kwargs!r}")
        for key, value in self.task_kwargs.items():
            if not isinstance(key, str) or not isinstance(value, _JSON_SCALARS):
                raise TypeError(f"task_kwargs[{key!r}] must be a JSON scalar (bool, int, float, str), got {value!r}")
        object.__setattr__(self, "task_kwargs", dict(self.task_kwargs))
        for name, kind in (("backend", Backend), ("algo", Algo)):
            if not isinstance(getattr(self, name), kind):
                allowed = [m.value for m in kind]
                raise TypeError(f"{name} must be a {kind.__name__} (one of {allowed}), got {getattr(self, name)!r}")
        if not isinstance(self.network, NetworkConfig):
            raise TypeError(f"network must be a NetworkConfig, got {type(self.network).__name__}")
        if self.network.output_activation is not OutputActivation.IDENTITY:
            raise ValueError("network.output_activation must be 'identity' (the policy's outputs are logits)")
        if self.backend is Backend.BATCHED and self.algo is not Algo.PPO:
            raise ValueError(f"algo must be 'ppo' with backend 'batched', got {self.algo.value!r}")
        if self.algo is Algo.RECURRENT_PPO and self.network.architecture is not Architecture.LSTM:
            raise ValueError(
                "architecture must be 'lstm' with algo 'recurrent_ppo' (sb3-contrib's RecurrentPPO is LSTM only), "
                f"got {self.network.architecture.value!r}"
            )
        mlp = self.backend is Backend.SB3 and self.algo is not Algo.RECURRENT_PPO
        if mlp and self.network.architecture is not Architecture.LEAKY_RNN:
            raise ValueError(
                f"architecture does not apply to algo {self.algo.value!r} with backend 'sb3' (MlpPolicy, no "
                f"memory); leave it at 'leaky_rnn' or use algo 'recurrent_ppo' with 'lstm', got "
                f"{self.network.architecture.value!r}"
            )
        RewardRule(self.fixation_penalty, self.correct_reward, self.wrong_reward, self.abort_on_break)
        delays = self.curriculum_delays
        if isinstance(delays, (str, bytes)) or not isinstance(delays, (tuple, list)):
            raise TypeError(f"curriculum_delays must be a sequence of durations in ms (> 0), got {delays!r}")
        delays = tuple(check_number(f"curriculum_delays[{i}]", d, low=0.0, low_open=True) for i, d in enumerate(delays))
        object.__setattr__(self, "curriculum_delays", delays)
        if delays and self.backend is not Backend.BATCHED:
            raise ValueError("curriculum_delays applies to backend 'batched' only; leave it empty with 'sb3'")
        values = {
            "fixation_penalty": float(self.fixation_penalty),
            "correct_reward": float(self.correct_reward),
            "wrong_reward": float(self.wrong_reward),
            "learning_rate": check_number("learning_rate", self.learning_rate, low=0.0, low_open=True),
            "trials_per_update": check_number("trials_per_update", self.trials_per_update, low=1, integer=True),
            "n_envs": check_number("n_envs", self.n_envs, low=1, integer=True),
            "n_steps": check_number("n_steps", self.n_steps, low=1, integer=True),
            "n_epochs": check_number("n_epochs", self.n_epochs, low=1, integer=True),
            "n_minibatches": check_number("n_minibatches", self.n_minibatches, low=1, integer=True),
            "gamma": check_number("gamma", self.gamma, low=0.0, high=1.0),
            "gae_lambda": check_number("gae_lambda", self.gae_lambda, low=0.0, high=1.0),
            "clip_range": check_number("clip_range", self.clip_range, low=0.0, low_open=True),
            "ent_coef": check_number("ent_coef", self.ent_coef, low=0.0),
            "vf_coef": check_number("vf_coef", self.vf_coef, low=0.0),
            "max_grad_norm": check_number("max_grad_norm", self.max_grad_norm, low=0.0, low_open=True),
            "curriculum_threshold": check_number(
                "curriculum_threshold", self.curriculum_threshold, low=0.0, high=1.0, low_open=True
            ),
            "eval_interval": check_number("eval_interval", self.eval_interval, low=1, integer=True),
            "eval_trials": check_number("eval_trials", self.eval_trials, low=1, integer=True),
            "max_env_steps": check_number("max_env_steps", self.max_env_steps, low=1, integer=True, optional=True),
            "max_time": check_number("max_time", self.max_time, low=0.0, low_open=True, optional=True),
            "target_perf": check_number(
                "target_perf", self.target_perf, low=0.0, high=1.0, low_open=True, optional=True
            ),
            "seed": check_number("seed", self.seed, low=0, high=2**63 - 1, integer=True),
            "threads": check_number("threads", self.threads, low=1, integer=True, optional=True),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if self.n_minibatches > self.trials_per_update and self.backend is Backend.BATCHED:
            raise ValueError(
                f"n_minibatches must be <= trials_per_update = {self.trials_per_update} (whole trials per "
                f"minibatch), got {self.n_minibatches}"
            )
        if self.max_env_steps is None and self.max_time is None:
            raise ValueError("max_env_steps and max_time must not both be None (the run needs a budget)")
        check_device(self.device)
        check_out_dir(self.out_dir)

    # ------------------------------------------------------------------ derived values
    @property
    def reward_rule(self) -> RewardRule:
        """The env's reward rule these settings describe."""
        return RewardRule(self.fixation_penalty, self.correct_reward, self.wrong_reward, self.abort_on_break)

    @property
    def num_threads(self) -> int:
        """torch CPU threads the run uses."""
        return self.threads if self.threads is not None else available_cores()

    @property
    def run_dir(self) -> Path | None:
        """``out_dir`` as a Path (None in memory)."""
        return None if self.out_dir is None else Path(self.out_dir)

    @property
    def name(self) -> str:
        """The run's name: the last component of ``out_dir`` (``"run"`` in memory)."""
        return "run" if self.out_dir is None else Path(self.out_dir).name

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: enums as their values, the network as its own dict, plus ``"kind": "mtrnn.rl"``."""
        result: dict[str, Any] = {"kind": RL_KIND}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, NetworkConfig):
                value = value.to_dict()
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            result[f.name] = value
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RLConfig:
        """Inverse of :meth:`to_dict` (missing keys take their defaults; unknown keys raise ValueError)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping of field name -> value, got {type(data).__name__}")
        kwargs = dict(data)
        kind = kwargs.pop("kind", RL_KIND)
        if kind != RL_KIND:
            raise ValueError(f"config kind must be {RL_KIND!r} (an RL run), got {kind!r}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(f"RL config has unknown field(s) {unknown}; fields are {names}")
        if isinstance(kwargs.get("network"), Mapping):
            kwargs["network"] = NetworkConfig.from_dict({**default_policy_network().to_dict(), **kwargs["network"]})
        for name, kind_enum in (("backend", Backend), ("algo", Algo)):
            if isinstance(kwargs.get(name), str):
                try:
                    kwargs[name] = kind_enum(kwargs[name])
                except ValueError:
                    allowed = [m.value for m in kind_enum]
                    raise ValueError(f"{name} must be one of {allowed}, got {kwargs[name]!r}") from None
        return cls(**kwargs)


def read_rl_config(run_dir: str | os.PathLike[str]) -> RLConfig:
    """The :class:`RLConfig` in ``run_dir/config.json``."""
    run = RunDir(run_dir)
    path = run.file(RunDir.CONFIG)
    if not path.exists():
        raise FileNotFoundError(f"run_dir {str(run.path)!r} has no {RunDir.CONFIG}; is it an RL run directory?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restore it or start a new run") from error
    return RLConfig.from_dict(data)
