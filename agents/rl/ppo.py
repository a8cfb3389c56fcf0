"""Batched recurrent PPO: policy-gradient training on whole trial batches with our own cells.

Each update draws ``B`` trials as one :class:`~mtrnn.envs.TrialBatch`, runs the recurrent policy over ``(T, B)``
in one pass (as supervised training does), samples an action at every step, and lets
:func:`~mtrnn.agents.rl.rollout.play_trials` apply the gym env's rule to find where each trial ended and what it
paid. Every trial starts from the zero state (the hidden state is reset at each trial start, as SB3's recurrent
policies do at episode starts). PPO (Schulman et al. 2017, arXiv:1707.06347) then takes ``n_epochs`` passes
over the rollout in ``n_minibatches`` minibatches of whole trials, each re-running the network from the trial
start (full backpropagation through time, no stale states): clipped surrogate objective, value head on the same
recurrent state with a squared loss, entropy bonus, GAE(γ, λ) advantages (Schulman et al. 2016,
arXiv:1506.02438) normalised per minibatch, Adam (ε = 1e-5) and global gradient-norm clipping — SB3's PPO
recipe, on whole trials. Reward rule: Song, Yang & Wang 2017 (eLife 6:e21492). The network runs through
:meth:`RecurrentPolicy.run` (torch's fused LSTM kernel for the LSTM).

Delay curriculum (``config.curriculum_delays``): on the full ``mtrnn/DelayGo-v0`` (60 steps of fixation, then a
1-of-8 response from memory) batched PPO stalls at "fixate, then respond at a random location"; trained first
with the delay fixed at 20, 100, 200 and 400 ms (each stage until its greedy performance exceeds
``curriculum_threshold``, 0.9) and ``ent_coef = 0.03`` it reached 90 % on the full task in our runs. A
curriculum over one task parameter, as :class:`~mtrnn.envs.ParameterSchedule` describes for supervised training
(Bengio et al. 2009, "Curriculum learning"); the evaluation is always on the task itself.

Exact resume: rollout ``k`` draws its trials from ``default_rng([seed, 0, k])`` and its actions and minibatch
order from a torch generator seeded from ``(seed, 1, k)``; the evaluation trials come from
``default_rng([seed, 2, 0])`` (the supervised trainer's first evaluation set) and are drawn once per run, those
of curriculum stage ``s`` from ``default_rng([seed, 3, s])``; the initial weights from ``init_seed(seed)`` on
one torch thread, whatever the caller's thread count and global RNG state. A checkpoint (policy, optimiser,
counters, metrics) is written atomically at every evaluation, so a run killed at any moment and resumed writes
the same metrics as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from mtrnn.agents.batches import init_seed, torch_step_seed
from mtrnn.agents.rl.config import Backend, RLConfig, read_rl_config
from mtrnn.agents.rl.loss import ppo_loss
from mtrnn.agents.rl.policy import RecurrentPolicy, build_policy
from mtrnn.agents.rl.rollout import Outcome, RewardRule, checked_steps, play_trials
from mtrnn.agents.rundir import Checkpoint, MetricsRow, RunDir, atomic_write_text
from mtrnn.agents.trainer import StopReason, torch_threads
from mtrnn.envs import Fixed, Task, TrialBatch, make_task

__all__ = ["ROLLOUT_CHUNK", "PPOTrainer", "RLCallback", "RLResult", "RLState", "act", "gae", "greedy_actions"]

#: Trials per forward pass at evaluation.
EVAL_CHUNK = 256
_TRAIN, _EVAL, _STAGE = 0, 2, 3


@dataclass(frozen=True)
class RLState:
    """Where an RL run stands (handed to callbacks after every update).

    Attributes:
        step: updates done.
        trials: trials played.
        env_steps: env steps played.
        elapsed: wall seconds of training (summed over resumes).
        performance: the last greedy evaluation (fraction correct), NaN before the first.
        evaluated_at: step of the last evaluation (-1 before the first).
    """

    step: int
    trials: int
    env_steps: int
    elapsed: float
    performance: float = math.nan
    evaluated_at: int = -1


class RLCallback(Protocol):
    """Called after every update with the current :class:`RLState`; return False to stop the run."""

    def __call__(self, state: RLState) -> bool: ...


@dataclass(frozen=True)
class RLResult:
    """What :meth:`PPOTrainer.train` returns: the policy, the final state, why it stopped, the metrics rows."""

    policy: RecurrentPolicy
    state: RLState
    stop_reason: StopReason
    metrics: Sequence[MetricsRow]
    run_dir: RunDir | None = field(default=None)


def gae(rewards: Tensor, values: Tensor, played: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimates over whole trials that end at their last played step.

    ``A_t = δ_t + γλ·A_{t+1}``, ``δ_t = r_t + γ·V_{t+1} − V_t``, where ``V_{t+1}`` and ``A_{t+1}`` are 0 after a
    trial's last played step (the episode terminated there). Shapes ``(T, B)``; returns ``(T, B)``, 0 on
    steps not played.
    """
    n_steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in range(n_steps - 1, -1, -1):
        if t + 1 < n_steps:
            following = played[t + 1]
            next_value = values[t + 1] * following
        else:
            following = torch.zeros_like(played[t])
            next_value = following
        delta = rewards[t] + gamma * next_value - values[t]
        last = (delta + gamma * lam * following * last) * played[t]
        advantages[t] = last
    return advantages


#: Steps the policy runs at a time in a rollout after its first short chunks (1, 1, 2, 4); it stops as soon as
#: every trial of the batch has ended.
ROLLOUT_CHUNK = 8
#: None: updates run each minibatch packed, on the played steps only (:meth:`RecurrentPolicy.run_packed`); an
#: int: in padded chunks of this many steps, each on the trials still going at its start (the tested reference).
UPDATE_CHUNK: int | None = None


@torch.no_grad()
def _clip_grad_norm(parameters: list[Tensor], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_(parameters, max_norm, foreach=True)`` for parameters of one device and dtype:
    the same operations (so the same numbers) without its per-call grouping and checks."""
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _rollout_chunks(n_steps: int) -> list[tuple[int, int]]:
    """``[start, stop)`` chunks of the rollout: 1, 1, 2, 4 steps, then :data:`ROLLOUT_CHUNK` at a time (early in
    training most trials end within a step or two, so the first chunks are short; later chunks amortise the
    per-call overhead)."""
    chunks, start = [], 0
    while start < n_steps:
        stop = min(start + min(ROLLOUT_CHUNK, max(1, start)), n_steps)
        chunks.append((start, stop))
        start = stop
    return chunks


def _can_end(batch: TrialBatch, task: Task, rule: RewardRule) -> np.ndarray:
    """``(T, B)`` bool: a non-fixate action here ends the trial (a decision, or a break when it aborts)."""
    checked = checked_steps(batch)
    if rule.abort_on_break:
        return checked
    return checked & (np.arange(batch.n_steps)[:, None] >= np.asarray(task.decision_start(batch))[None, :])


def act(
    policy: RecurrentPolicy,
    batch: TrialBatch,
    task: Task,
    rule: RewardRule,
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, Tensor, Tensor]:
    """Run ``policy`` over ``batch`` and choose an action at every step, stopping once every trial has ended.

    The network runs 1, 1, 2, 4, then :data:`ROLLOUT_CHUNK` steps at a time from the zero state; after each chunk
    the rule says which trials have ended (a response on a step where it ends the trial, or the trial's last
    step), the next chunk runs only the trials still going (early in training most abort within a step or two),
    and the loop stops when all have ended. Actions are sampled from the policy (Gumbel-max with ``generator``)
    or, without a generator, greedy (argmax).

    Returns:
        ``actions (T, B)`` int64 (0 after the steps run), ``log_probs (n, B, A)`` and ``values (n, B)`` of the
        ``n`` steps run (``n`` covers every trial's last played step).
    """
    device = next(policy.parameters()).device
    inputs = torch.from_numpy(batch.inputs).to(device)
    can_end = torch.from_numpy(_can_end(batch, task, rule)).to(device)
    lengths = torch.from_numpy(batch.lengths).to(device)
    n_steps, batch_size, n_actions = batch.n_steps, batch.batch_size, policy.n_actions
    chosen = torch.zeros(n_steps, batch_size, dtype=torch.long, device=device)
    log_probs = torch.zeros(n_steps, batch_size, n_actions, device=device)
    values = torch.zeros(n_steps, batch_size, device=device)
    alive = torch.arange(batch_size, device=device)  # the trials still running: only they are computed
    state: Tensor | None = None
    n_run = n_steps
    with torch.inference_mode():  # no autograd bookkeeping; the update re-runs the network with gradients
        for start, stop in _rollout_chunks(n_steps):
            hidden, last = policy.run_hidden(inputs[start:stop, alive], state)
            shape = hidden.shape[:2]
            # heads by column: the softmax over the few actions runs along the c·b steps
            logits, value = policy.heads_by_column(hidden.reshape(-1, hidden.shape[-1]))
            log_prob = torch.log_softmax(logits, dim=0).view(n_actions, *shape).permute(1, 2, 0)  # (c, b, A)
            value = value.view(shape)
            if generator is None:
                action = log_prob.argmax(dim=-1)
            else:  # drawn for the whole batch, so a trial's noise does not depend on which others still run
                uniform = torch.rand((stop - start, batch_size, n_actions), generator=generator, device=device)
                gumbel = -torch.log(-torch.log(uniform[:, alive].clamp_min_(1e-20)))
                action = (log_prob + gumbel).argmax(dim=-1)
            chosen[start:stop, alive] = action
            log_probs[start:stop, alive] = log_prob
            values[start:stop, alive] = value
            running = ~(((action != 0) & can_end[start:stop, alive]).any(dim=0) | (lengths[alive] <= stop))
            if not bool(running.any()):
                n_run = stop
                break
            alive, state = alive[running], last[running]
    actions = np.zeros((n_steps, batch_size), dtype=np.int64)
    actions[:n_run] = chosen[:n_run].cpu().numpy()
    return actions, log_probs[:n_run], values[:n_run]


def greedy_actions(
    policy: RecurrentPolicy, batch: TrialBatch, task: Task, rule: RewardRule | None = None
) -> np.ndarray:
    """``(T, B)`` argmax actions of ``policy`` on ``batch`` (256 trials at a time; 0 after each trial's end)."""
    rule = RewardRule() if rule is None else rule
    chunks = []
    for start in range(0, batch.batch_size, EVAL_CHUNK):
        part = batch.select(np.arange(start, min(start + EVAL_CHUNK, batch.batch_size)))
        actions = np.zeros((batch.n_steps, part.batch_size), dtype=np.int64)
        actions[: part.n_steps] = act(policy, part, task, rule)[0]
        chunks.append(actions)
    return np.concatenate(chunks, axis=1)


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device is {name!r} but torch.cuda.is_available() is False; use device='cpu'")
    return device


@dataclass
class _Rollout:
    inputs: Tensor  # (T, B, n_in), T cut at the last played step of any trial
    actions: Tensor  # (T, B) long
    log_probs: Tensor  # (T, B)
    advantages: Tensor  # (T, B)
    returns: Tensor  # (T, B)
    played: Tensor  # (T, B) float
    outcome: Outcome


@dataclass
class _Flat:
    """A rollout's per-step tensors with ``(T, B)`` flattened to rows ``t·B + b``."""

    inputs: Tensor  # (T·B, n_in)
    scalars: Tensor  # (3, T·B): old log-probabilities, advantages, returns
    actions: Tensor  # (T·B,) long


_ACCUMULATED = ("reward", "rollout_perf", "loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


class PPOTrainer:
    """Batched recurrent PPO on one mtrnn task (``config.backend`` must be ``BATCHED``).

    Args:
        config: the run's settings.
        callbacks: called after every update (see :class:`RLCallback`).
        progress: show a tqdm progress bar (env steps, rollout reward, greedy performance).
        overwrite: replace a run already in ``config.out_dir`` (else FileExistsError).
        report: write ``report.md`` and PNGs into the run directory at the end.
    """

    def __init__(
        self,
        config: RLConfig,
        *,
        callbacks: Sequence[RLCallback] = (),
        progress: bool = False,
        overwrite: bool = False,
        report: bool = True,
    ) -> None:
        if not isinstance(config, RLConfig):
            raise TypeError(f"config must be an RLConfig, got {type(config).__name__}")
        if config.backend is not Backend.BATCHED:
            raise ValueError(f"backend must be 'batched' for PPOTrainer, got {config.backend.value!r}")
        self.config = config
        self.device = _device(config.device)
        self.task: Task = make_task(config.env_id, **config.task_kwargs)
        self._stages: list[Task] = []
        if config.curriculum_delays:
            periods = getattr(self.task, "period_names", ())
            if "delay" not in periods:
                raise ValueError(
                    f"curriculum_delays needs a task with a 'delay' period; {config.env_id} has periods {list(periods)}"
                )
            self._stages = [
                make_task(config.env_id, **config.task_kwargs, timing={"delay": Fixed(ms)})
                for ms in config.curriculum_delays
            ]
        self._stage = 0
        self._stage_batches: dict[int, TrialBatch] = {}
        self.rule = config.reward_rule
        # the initial weights are a function of the config alone: the seeded global stream is forked (callers'
        # RNG state neither matters nor changes) and they are drawn on one torch thread, since
        # ``nn.init.orthogonal_``'s QR (LAPACK) rounds differently with the intra-op thread count (up to ~1e-7
        # on a 64-unit W_rec), and PPO amplifies such a difference into a different run
        with torch.random.fork_rng(devices=[]), torch_threads(1):
            torch.manual_seed(init_seed(config.seed))
            policy = build_policy(config.network, self.task.n_inputs, self.task.n_actions, dt=self.task.dt)
        self.policy: RecurrentPolicy = policy.to(self.device)
        # fused Adam: one kernel for all parameters (the per-parameter Python loop dominates at these sizes)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate, eps=1e-5, fused=True)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.run_dir = RunDir(config.out_dir) if config.out_dir is not None else None
        self._overwrite = overwrite
        self._report = report
        self._resumed = False
        self._eval_batch = self.task.sample_batch(config.eval_trials, np.random.default_rng([config.seed, _EVAL, 0]))
        self._step = 0
        self._trials = 0
        self._env_steps = 0
        self._elapsed_before = 0.0
        self._sums: dict[str, float] = dict.fromkeys(_ACCUMULATED, 0.0)
        self._count = 0
        self._performance = math.nan
        self._eval_reward = math.nan
        self._evaluated_at = -1
        self._metrics: list[MetricsRow] = []
        self._clock = time.perf_counter()

    # ------------------------------------------------------------------ resume
    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike[str],
        *,
        callbacks: Sequence[RLCallback] = (),
        progress: bool = False,
        report: bool = True,
        device: str | None = None,
        threads: int | None = None,
    ) -> PPOTrainer:
        """Continue the run in ``run_dir`` exactly (same config; ``device``/``threads`` may change)."""
        run = RunDir(run_dir)
        config = read_rl_config(run.path)
        changes: dict[str, Any] = {"out_dir": str(run.path)}
        if device is not None:
            changes["device"] = device
        if threads is not None:
            changes["threads"] = threads
        trainer = cls(dataclasses.replace(config, **changes), callbacks=callbacks, progress=progress, report=report)
        trainer._load(run.read_checkpoint())
        return trainer

    def _load(self, checkpoint: Checkpoint) -> None:
        self.policy.load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self._step = checkpoint.step
        self._elapsed_before = checkpoint.elapsed
        self._metrics = [dict(row) for row in checkpoint.metrics]
        extra = checkpoint.extra
        self._trials = int(extra["trials"])
        self._env_steps = int(extra["env_steps"])
        self._sums = {k: float(v) for k, v in extra["sums"].items()}
        self._count = int(extra["count"])
        self._performance = float(extra["performance"])
        self._eval_reward = float(extra["eval_reward"])
        self._evaluated_at = int(extra["evaluated_at"])
        self._stage = int(extra.get("stage", 0))
        self._resumed = True

    # ------------------------------------------------------------------ public API
    @property
    def metrics(self) -> list[MetricsRow]:
        """The metrics rows so far (one per evaluation; the rows of ``metrics.csv``)."""
        return list(self._metrics)

    @property
    def metrics_columns(self) -> list[str]:
        """The columns of ``metrics.csv``."""
        return [
            "step",
            "trials",
            "env_steps",
            "time",
            *_ACCUMULATED,
            f"perf/{self.config.env_id}",
            "eval_reward",
            "stage",
        ]

    def state(self) -> RLState:
        """A snapshot of where training stands."""
        return RLState(
            self._step, self._trials, self._env_steps, self._elapsed(), self._performance, self._evaluated_at
        )

    def evaluate(self) -> tuple[float, float]:
        """Greedy (argmax) actions on the run's fixed evaluation trials: ``(fraction correct, mean return)``.

        The fraction correct is what ``task.score`` gives the logits (argmax decoding, the env's rule), the
        supervised trainer's performance measure.
        """
        actions = greedy_actions(self.policy, self._eval_batch, self.task, self.rule)
        outcome = play_trials(actions, self._eval_batch, self.task, self.rule)
        return float(outcome.performance.mean()), float(outcome.returns.mean())

    @property
    def stage(self) -> int:
        """The curriculum stage trained now: ``i < len(config.curriculum_delays)`` trains with the ``i``-th delay,
        ``len(config.curriculum_delays)`` (0 without a curriculum) the task itself."""
        return self._stage

    @property
    def training_task(self) -> Task:
        """The task rollouts draw from: the current curriculum stage's, or the task itself."""
        return self._stages[self._stage] if self._stage < len(self._stages) else self.task

    def rollout(self, step: int) -> _Rollout:
        """Draw rollout ``step``'s trials, sample actions, play them and compute advantages."""
        config = self.config
        task = self.training_task
        batch = task.sample_batch(config.trials_per_update, np.random.default_rng([config.seed, _TRAIN, step]))
        generator = torch.Generator(device=self.device).manual_seed(torch_step_seed(config.seed, step))
        actions_np, log_probs, values = act(self.policy, batch, task, self.rule, generator)
        outcome = play_trials(actions_np, batch, task, self.rule)
        n_played = int(outcome.end.max()) + 1
        played = torch.from_numpy(outcome.played[:n_played]).to(self.device, torch.float32)
        rewards = torch.from_numpy(outcome.rewards[:n_played]).to(self.device, torch.float32)
        values = values[:n_played]
        advantages = gae(rewards, values, played, config.gamma, config.gae_lambda)
        actions = torch.from_numpy(actions_np[:n_played]).to(self.device)
        return _Rollout(
            inputs=torch.from_numpy(batch.inputs[:n_played]).to(self.device),
            actions=actions,
            log_probs=log_probs[:n_played].gather(-1, actions.unsqueeze(-1)).squeeze(-1),
            advantages=advantages,
            returns=(advantages + values) * played,
            played=played,
            outcome=outcome,
        )

    def update(self, data: _Rollout, step: int) -> dict[str, float]:
        """PPO's passes over one rollout; returns the mean losses and diagnostics."""
        config = self.config
        generator = torch.Generator().manual_seed(torch_step_seed(config.seed, step) ^ 0x5EED)
        n_trials = data.actions.shape[1]
        names = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
        totals = torch.zeros(len(names), device=self.device)  # summed on the device: one host sync per update
        parameters = list(self.policy.parameters())
        last_played = data.played.cumsum(0).argmax(0)  # (B,) each trial's last played step
        # the per-step tensors flattened once, so that a minibatch's played steps are one gather each
        flat = _Flat(
            data.inputs.reshape(-1, data.inputs.shape[-1]),
            torch.stack((data.log_probs, data.advantages, data.returns)).reshape(3, -1),
            data.actions.reshape(-1),
        )
        n = 0
        for _ in range(config.n_epochs):
            order = torch.randperm(n_trials, generator=generator).to(self.device)
            for index in order.tensor_split(config.n_minibatches):
                # longest trials first, so the trials still running at any step are a prefix of the minibatch
                ends = last_played[index]
                ends, sort = ends.sort(descending=True, stable=True)
                index = index[sort]
                last = int(ends[0]) + 1  # steps no trial of this minibatch played are dropped
                if UPDATE_CHUNK is None:
                    loss, diagnostics = self._packed_losses(data, flat, index, last)
                else:
                    policy_loss, value_loss, entropy, approx_kl, clipped = self._chunked_losses(
                        data, index, ends, last, UPDATE_CHUNK
                    )
                    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
                    diagnostics = torch.stack([policy_loss, value_loss, entropy, approx_kl, clipped]).detach()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                _clip_grad_norm(parameters, config.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    totals += torch.cat((loss.unsqueeze(0), diagnostics))
                n += 1
        return dict(zip(names, (totals / n).tolist(), strict=True))

    def _surrogate(self, new: Tensor, old: Tensor, adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per step: PPO's clipped surrogate, the approximate KL ``(r − 1) − log r`` and whether ``r`` is clipped."""
        clip = self.config.clip_range
        log_ratio = new - old
        ratio = log_ratio.exp()
        surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
        with torch.no_grad():
            kl = (ratio - 1) - log_ratio
            clipped = ((ratio - 1).abs() > clip).to(ratio.dtype)
        return surrogate, kl, clipped

    def _packed_losses(self, data: _Rollout, flat: _Flat, index: Tensor, last: int) -> tuple[Tensor, Tensor]:
        """Minibatch ``index`` (longest trial first) computed on its played steps only, packed time-major.

        Returns the loss and, detached, ``(5,)``: the policy loss, value loss, entropy, approximate KL and clip
        fraction, each a mean over the minibatch's played steps (advantages normalised over them).
        """
        config = self.config
        played = data.played[:last, index] > 0  # (T, b), each row a prefix: the trials still running
        batch_sizes = played.sum(1).cpu()
        n_trials = data.played.shape[1]
        steps = torch.arange(last, device=self.device).unsqueeze(1)
        rows = (steps * n_trials + index)[played]  # (N,) the played steps in packed order, as rows of ``flat``
        old_log_probs, advantages, returns = flat.scalars.index_select(1, rows)
        hidden = self.policy.packed_hidden(flat.inputs.index_select(0, rows), batch_sizes)
        advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
        readout = self.policy.network.readout
        return ppo_loss(
            hidden,
            readout.weight,
            readout.bias,
            flat.actions.index_select(0, rows),
            old_log_probs,
            advantages,
            returns,
            clip=config.clip_range,
            vf_coef=config.vf_coef,
            ent_coef=config.ent_coef,
        )

    def _chunked_losses(self, data: _Rollout, index: Tensor, ends: Tensor, last: int, chunk: int) -> tuple[Tensor, ...]:
        """As :meth:`_packed_losses`, on padded ``(T, b)`` chunks of ``chunk`` steps (each chunk runs the trials
        still going at its start; steps not played weigh 0): the reference the packed pass is tested against."""
        played = data.played[:last, index]
        weight = played / played.sum()
        advantages = data.advantages[:last, index]
        mean = (advantages * weight).sum()
        std = (((advantages - mean) ** 2) * weight).sum().sqrt()
        advantages = (advantages - mean) / (std + 1e-8)
        starts = list(range(0, last, chunk))
        running = (ends[None, :] >= torch.tensor(starts, device=self.device)[:, None]).sum(1).tolist()
        zero = torch.zeros((), device=self.device)
        policy_loss, value_loss, entropy, approx_kl, clipped = zero, zero, zero, zero, zero
        state: Tensor | None = None
        for begin, n_running in zip(starts, running, strict=True):
            stop = min(begin + chunk, last)
            rows = index[:n_running]
            state = None if state is None else state[:n_running]  # drop the trials that have ended
            logits, values, state = self.policy.run(data.inputs[begin:stop, rows], state)
            w = weight[begin:stop, :n_running]
            log_probs = torch.log_softmax(logits, dim=-1)
            new = log_probs.gather(-1, data.actions[begin:stop, rows].unsqueeze(-1)).squeeze(-1)
            surrogate, kl, clip = self._surrogate(
                new, data.log_probs[begin:stop, rows], advantages[begin:stop, :n_running]
            )
            policy_loss = policy_loss - (surrogate * w).sum()
            value_loss = value_loss + (((data.returns[begin:stop, rows] - values) ** 2) * w).sum()
            entropy = entropy + (-(log_probs.exp() * log_probs).sum(-1) * w).sum()
            approx_kl = approx_kl + (kl * w).sum()
            clipped = clipped + (clip * w).sum()
        return policy_loss, value_loss, entropy, approx_kl, clipped

    def train(self) -> RLResult:
        """Train until a budget or the target is reached (or a callback returns False)."""
        config = self.config
        self._prepare_run_dir()
        self._clock = time.perf_counter()
        bar = self._progress_bar()
        reason: StopReason | None
        with torch_threads(config.num_threads):
            if not self._metrics:
                self._record_evaluation()
            reason = self._stop_reason()
            while reason is None:
                data = self.rollout(self._step)
                stats = self.update(data, self._step)
                self._step += 1
                self._trials += config.trials_per_update
                self._env_steps += data.outcome.n_steps
                stats["reward"] = float(data.outcome.returns.mean())
                stats["rollout_perf"] = float(data.outcome.performance.mean())
                for key in _ACCUMULATED:
                    self._sums[key] += stats[key]
                self._count += 1
                if self._step % config.eval_interval == 0:
                    self._record_evaluation()
                if bar is not None:
                    bar.n = min(self._env_steps, bar.total or self._env_steps)
                    bar.set_postfix(reward=f"{stats['reward']:.3f}", perf=f"{self._performance:.3f}", refresh=False)
                    bar.refresh()
                state = self.state()
                stop = [callback(state) is False for callback in self.callbacks]
                reason = StopReason.CALLBACK if any(stop) else self._stop_reason()
            if self._evaluated_at != self._step:
                self._record_evaluation()
        if bar is not None:
            bar.close()
        if self.run_dir is not None and self._report:
            from mtrnn.agents.rl.report import write_rl_report

            write_rl_report(self.run_dir, config, self._metrics, reason, self.policy, self.task, self._eval_batch)
        return RLResult(self.policy, self.state(), reason, list(self._metrics), self.run_dir)

    # ------------------------------------------------------------------ internals
    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.config.max_env_steps, initial=self._env_steps, unit="step", desc=self.config.env_id)

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._clock)

    def _stop_reason(self) -> StopReason | None:
        config = self.config
        if config.target_perf is not None and self._performance >= config.target_perf:
            return StopReason.TARGET_REACHED
        if config.max_env_steps is not None and self._env_steps >= config.max_env_steps:
            return StopReason.MAX_STEPS
        if config.max_time is not None and self._elapsed() >= config.max_time:
            return StopReason.MAX_TIME
        return None

    def _prepare_run_dir(self) -> None:
        run = self.run_dir
        if run is None or self._resumed:
            return
        if run.holds_run():
            if not self._overwrite:
                raise FileExistsError(
                    f"out_dir {str(run.path)!r} already holds a run; resume it (mtrnn-train-rl --resume "
                    f"{run.path}), pass overwrite=True (--overwrite), or choose another out_dir"
                )
            run.clear()
        atomic_write_text(run.file(RunDir.CONFIG), json.dumps(self.config.to_dict(), indent=2) + "\n")

    def _stage_performance(self) -> float:
        """Greedy performance on 256 trials of the current curriculum stage (drawn once per stage and seed)."""
        task = self._stages[self._stage]
        if self._stage not in self._stage_batches:
            rng = np.random.default_rng([self.config.seed, _STAGE, self._stage])
            self._stage_batches[self._stage] = task.sample_batch(EVAL_CHUNK, rng)
        batch = self._stage_batches[self._stage]
        actions = greedy_actions(self.policy, batch, task, self.rule)
        return float(play_trials(actions, batch, task, self.rule).performance.mean())

    def _record_evaluation(self) -> None:
        self._performance, self._eval_reward = self.evaluate()
        self._evaluated_at = self._step
        stage = self._stage
        if stage < len(self._stages) and self._stage_performance() > self.config.curriculum_threshold:
            self._stage += 1
        means: dict[str, float | None] = {k: (v / self._count if self._count else None) for k, v in self._sums.items()}
        row: MetricsRow = {
            "step": self._step,
            "trials": self._trials,
            "env_steps": self._env_steps,
            "time": round(self._elapsed(), 3),
            **means,
            f"perf/{self.config.env_id}": self._performance,
            "eval_reward": self._eval_reward,
            "stage": stage,
        }
        self._metrics.append(row)
        self._sums = dict.fromkeys(_ACCUMULATED, 0.0)
        self._count = 0
        if self.run_dir is not None:
            self._write_checkpoint(self.run_dir)

    def _write_checkpoint(self, run: RunDir) -> None:
        extra = {
            "trials": self._trials,
            "env_steps": self._env_steps,
            "sums": self._sums,
            "count": self._count,
            "performance": self._performance,
            "eval_reward": self._eval_reward,
            "evaluated_at": self._evaluated_at,
            "stage": self._stage,
        }
        run.write_checkpoint(
            Checkpoint(
                step=self._step,
                elapsed=self._elapsed(),
                model=self.policy.state_dict(),
                optimizer=self.optimizer.state_dict(),
                metrics=self._metrics,
                extra=extra,
            )
        )
        run.write_metrics(self._metrics, self.metrics_columns)
        run.write_model(self.policy.network)
