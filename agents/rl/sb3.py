"""The Stable-Baselines3 path: SB3 ``PPO``/``A2C`` (``MlpPolicy``) and sb3-contrib ``RecurrentPPO``
(``MlpLstmPolicy``) on mtrnn's gym envs, into the same run-directory layout as the batched trainer.

* Envs come from SB3's own ``make_vec_env`` (``DummyVecEnv`` or ``SubprocVecEnv``), one trial per episode, each
  wrapped in SB3's ``Monitor`` with ``info["performance"]`` kept per episode.
* SB3's logger is replaced by one that writes nowhere on disk (no stray ``/tmp/SB3-*`` folder; SB3 creates one
  whenever ``configure`` gets no folder) and keeps every dump in memory (:class:`RecordingWriter`); the episode
  statistics SB3 logs (``rollout/ep_rew_mean``, ``rollout/ep_len_mean``) are joined by
  ``rollout/performance``, the fraction of correct trials among the last 100 episodes.
* Every ``eval_interval`` rollouts the policy plays the run's fixed evaluation trials greedily
  (``model.predict(..., deterministic=True)`` over the whole batch, one step at a time, the LSTM state reset at
  the trial start) and :func:`~mtrnn.agents.rl.rollout.play_trials` scores them by the env's rule — the same
  trials and measure as the batched trainer's evaluation.

Needs the ``rl`` extra (``pip install 'mtrnn[rl]'``). SB3 keeps random state (envs, rollout buffer, last
observations) that it cannot restore, so an SB3 run cannot be resumed exactly; its ``model.safetensors`` holds
the policy's ``state_dict`` (nothing pickled).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from safetensors.torch import save as save_safetensors

try:
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import KVWriter, Logger
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("mtrnn.agents.rl.sb3 needs the rl extra: pip install 'mtrnn[rl]'") from error

from mtrnn.agents.rl.config import Algo, Backend, RLConfig
from mtrnn.agents.rl.rollout import play_trials
from mtrnn.agents.rundir import MetricsRow, RunDir, atomic_write_bytes, atomic_write_text
from mtrnn.agents.trainer import StopReason
from mtrnn.envs import Task, TrialBatch, make_task

__all__ = [
    "RecordingWriter",
    "SB3Result",
    "VecEnvKind",
    "make_sb3_model",
    "make_sb3_vec_env",
    "quiet_logger",
    "sb3_greedy_actions",
    "train_sb3",
]

_EVAL = 2


class VecEnvKind(enum.Enum):
    """Which SB3 vectorised env :func:`make_sb3_vec_env` builds."""

    DUMMY = "dummy"
    """``DummyVecEnv``: every env in this process."""
    SUBPROC = "subproc"
    """``SubprocVecEnv``: one worker process per env."""


_VEC_ENV_CLASSES: dict[VecEnvKind, type[DummyVecEnv] | type[SubprocVecEnv]] = {
    VecEnvKind.DUMMY: DummyVecEnv,
    VecEnvKind.SUBPROC: SubprocVecEnv,
}


class RecordingWriter(KVWriter):
    """An SB3 ``KVWriter`` that keeps every logger dump in memory: ``rows[i]`` is ``{key: value}`` of dump ``i``.

    Give it to :func:`quiet_logger`; SB3 calls :meth:`write` at each ``logger.dump``.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        """Store one dump (numbers only)."""
        row = {k: v for k, v in key_values.items() if isinstance(v, (int, float, np.integer, np.floating))}
        row["time/total_timesteps"] = step
        self.rows.append(row)

    def close(self) -> None:
        """Nothing to close."""


def quiet_logger(writer: RecordingWriter | None = None) -> Logger:
    """An SB3 ``Logger`` with no folder and no file output (``writer`` receives every dump, if given).

    Pass it to ``model.set_logger`` before ``learn``: SB3 then does not call ``configure``, which makes a
    ``/tmp/SB3-<date>`` folder whenever no folder is given.
    """
    return Logger(folder=None, output_formats=[] if writer is None else [writer])


def _make_env(env_id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    """``gym.make(env_id, **kwargs)`` in any process (importing this module registers the mtrnn ids, also in a
    ``SubprocVecEnv`` worker on gymnasium 1.x, which no longer loads plugins)."""
    return gym.make(env_id, **kwargs)


def make_sb3_vec_env(config: RLConfig, n_envs: int | None = None, kind: VecEnvKind = VecEnvKind.DUMMY) -> VecEnv:
    """``make_vec_env`` on ``config.env_id`` with the config's task kwargs and reward rule, seeded with
    ``config.seed``; every env is wrapped in ``Monitor`` keeping ``info["performance"]`` per episode."""
    if not isinstance(kind, VecEnvKind):
        raise TypeError(f"kind must be a VecEnvKind ({', '.join(m.name for m in VecEnvKind)}), got {kind!r}")
    return make_vec_env(
        functools.partial(_make_env, config.env_id),
        n_envs=config.n_envs if n_envs is None else n_envs,
        seed=config.seed,
        env_kwargs={**config.task_kwargs, **config.reward_rule.env_kwargs()},
        vec_env_cls=_VEC_ENV_CLASSES[kind],
        monitor_kwargs={"info_keywords": ("performance",)},
    )


def make_sb3_model(config: RLConfig, env: Any) -> Any:
    """The SB3 algorithm ``config.algo`` describes, on ``env`` (a VecEnv), logging to a :func:`quiet_logger`."""
    if config.backend is not Backend.SB3:
        raise ValueError(f"backend must be 'sb3' to build an SB3 model, got {config.backend.value!r}")
    hidden = config.network.hidden_size
    rollout = config.n_envs * config.n_steps
    common = {
        "learning_rate": config.learning_rate,
        "gamma": config.gamma,
        "ent_coef": config.ent_coef,
        "vf_coef": config.vf_coef,
        "max_grad_norm": config.max_grad_norm,
        "seed": config.seed,
        "device": "cpu",
        "verbose": 0,
    }
    ppo_args = {
        "n_steps": config.n_steps,
        "batch_size": max(1, rollout // config.n_minibatches),
        "n_epochs": config.n_epochs,
        "gae_lambda": config.gae_lambda,
        "clip_range": config.clip_range,
    }
    model: Any
    if config.algo is Algo.RECURRENT_PPO:
        from sb3_contrib import RecurrentPPO

        model = RecurrentPPO("MlpLstmPolicy", env, policy_kwargs={"lstm_hidden_size": hidden}, **ppo_args, **common)
    elif config.algo is Algo.PPO:
        model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": [hidden, hidden]}, **ppo_args, **common)
    else:
        model = A2C(
            "MlpPolicy",
            env,
            policy_kwargs={"net_arch": [hidden, hidden]},
            n_steps=config.n_steps,
            gae_lambda=config.gae_lambda,
            **common,
        )
    model.set_logger(quiet_logger(RecordingWriter()))
    return model


def sb3_greedy_actions(model: Any, batch: TrialBatch) -> np.ndarray:
    """``(T, B)`` deterministic actions of an SB3 model on ``batch``: all ``B`` trials at once, one step at a time
    (recurrent policies start every trial from their initial state)."""
    state = None
    starts = np.ones(batch.batch_size, dtype=bool)
    actions = np.zeros((batch.n_steps, batch.batch_size), dtype=np.int64)
    for t in range(batch.n_steps):
        action, state = model.predict(batch.inputs[t], state=state, episode_start=starts, deterministic=True)
        actions[t] = action
        starts[:] = False
    return actions


@dataclass(frozen=True)
class SB3Result:
    """What :func:`train_sb3` returns: the SB3 model, why it stopped, the metrics rows, SB3's logger dumps."""

    model: Any
    stop_reason: StopReason
    metrics: Sequence[MetricsRow]
    logs: Sequence[dict[str, Any]]
    run_dir: RunDir | None


def _metrics_callback(
    config: RLConfig, task: Task, eval_batch: TrialBatch, on_row: Callable[[MetricsRow], None], progress: bool
) -> Any:
    class _Metrics(BaseCallback):
        """Counts trials, evaluates greedily every ``eval_interval`` rollouts, enforces the budgets."""

        def __init__(self) -> None:
            super().__init__()
            self.rollouts = 0
            self.trials = 0
            self.returns: list[float] = []
            self.performance: list[float] = []
            self.recent: deque[float] = deque(maxlen=100)
            self.start = time.perf_counter()
            self.reason: StopReason | None = None
            self.last_perf = math.nan
            self.bar: Any = None

        def _on_training_start(self) -> None:
            if progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=config.max_env_steps, unit="step", desc=f"{config.env_id} ({config.algo.value})")
            self.row()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                episode = info.get("episode")
                if episode is not None:
                    self.trials += 1
                    self.returns.append(float(episode["r"]))
                    self.performance.append(float(episode["performance"]))
                    self.recent.append(float(episode["performance"]))
            if self.bar is not None and self.n_calls % 64 == 0:
                self.bar.n = self.num_timesteps
                self.bar.refresh()
            if config.max_time is not None and time.perf_counter() - self.start >= config.max_time:
                self.reason = StopReason.MAX_TIME
                return False
            return True

        def _on_rollout_end(self) -> None:
            if self.recent:
                self.logger.record("rollout/performance", float(np.mean(self.recent)))
            self.rollouts += 1
            if self.rollouts % config.eval_interval == 0:
                self.row()

        def row(self) -> None:
            actions = sb3_greedy_actions(self.model, eval_batch)
            outcome = play_trials(actions, eval_batch, task, config.reward_rule)
            self.last_perf = float(outcome.performance.mean())
            row: MetricsRow = {
                "step": self.rollouts,
                "trials": self.trials,
                "env_steps": int(self.num_timesteps),
                "time": round(time.perf_counter() - self.start, 3),
                "reward": float(np.mean(self.returns)) if self.returns else None,
                "rollout_perf": float(np.mean(self.performance)) if self.performance else None,
                f"perf/{config.env_id}": self.last_perf,
                "eval_reward": float(outcome.returns.mean()),
            }
            self.returns, self.performance = [], []
            on_row(row)
            if config.target_perf is not None and self.last_perf >= config.target_perf:
                self.reason = StopReason.TARGET_REACHED
                self.model.num_timesteps = 1 << 62  # SB3 stops at the next budget check

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.close()

    return _Metrics()


SB3_COLUMNS = ("step", "trials", "env_steps", "time", "reward", "rollout_perf")


def train_sb3(
    config: RLConfig,
    *,
    progress: bool = False,
    overwrite: bool = False,
    report: bool = True,
    vec_env: VecEnvKind = VecEnvKind.DUMMY,
) -> SB3Result:
    """Train ``config`` with SB3 (``config.backend`` must be ``SB3``) into ``config.out_dir`` (if set).

    The run directory gets ``config.json``, ``metrics.csv`` (same columns as the batched trainer's, the PPO loss
    columns left out), ``model.safetensors`` (the SB3 policy's ``state_dict``) and ``report.md`` with curves.
    """
    if not isinstance(config, RLConfig):
        raise TypeError(f"config must be an RLConfig, got {type(config).__name__}")
    if config.backend is not Backend.SB3:
        raise ValueError(f"backend must be 'sb3' for train_sb3, got {config.backend.value!r}")
    if config.max_env_steps is None and config.max_time is None:
        raise ValueError("max_env_steps or max_time must be set")
    run = RunDir(config.out_dir) if config.out_dir is not None else None
    if run is not None:
        if run.holds_run():
            if not overwrite:
                raise FileExistsError(
                    f"out_dir {str(run.path)!r} already holds a run; pass overwrite=True (--overwrite) or choose "
                    "another out_dir (SB3 runs cannot be resumed exactly)"
                )
            run.clear()
        atomic_write_text(run.file(RunDir.CONFIG), json.dumps(config.to_dict(), indent=2) + "\n")
    task = make_task(config.env_id, **config.task_kwargs)
    eval_batch = task.sample_batch(config.eval_trials, np.random.default_rng([config.seed, _EVAL, 0]))
    columns = [*SB3_COLUMNS, f"perf/{config.env_id}", "eval_reward"]
    metrics: list[MetricsRow] = []

    def on_row(row: MetricsRow) -> None:
        metrics.append(row)
        if run is not None:
            run.write_metrics(metrics, columns)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    env = make_sb3_vec_env(config, kind=vec_env)
    try:
        model = make_sb3_model(config, env)
        callback = _metrics_callback(config, task, eval_batch, on_row, progress)
        budget = config.max_env_steps if config.max_env_steps is not None else 1 << 62
        model.learn(total_timesteps=budget, callback=callback, log_interval=1)
        if metrics[-1]["step"] != callback.rollouts:
            callback.row()
    finally:
        env.close()
        torch.set_num_threads(previous_threads)
    reason = callback.reason or StopReason.MAX_STEPS
    writer = model.logger.output_formats[0]
    assert isinstance(writer, RecordingWriter)
    if run is not None:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.policy.state_dict().items()}
        meta = {"mtrnn.sb3": json.dumps({"algo": config.algo.value, "policy": type(model.policy).__name__})}
        atomic_write_bytes(run.file(RunDir.MODEL), save_safetensors(tensors, metadata=meta))
        if report:
            from mtrnn.agents.rl.report import write_rl_report

            write_rl_report(run, config, metrics, reason, None, task, eval_batch)
    return SB3Result(model, reason, metrics, list(writer.rows), run)
