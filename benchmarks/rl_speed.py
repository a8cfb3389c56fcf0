"""RL training speed in env steps per second, in one run: batched recurrent PPO against SB3.

``python -m mtrnn.benchmarks.rl_speed [--out DIR] [--batched-steps 150000 1000000] [--sb3-steps 150000]``

Contenders, each training from scratch with one torch thread, hidden size 64, PPO with 4 epochs and 2
minibatches per rollout:

* batched PPO (ours) with an LSTM (the same cell RecurrentPPO uses) and with the leaky RNN (the batched
  trainer's default policy) on ``mtrnn/DelayGo-v0``, once per ``--batched-steps`` budget (the defaults: 512
  trials per update, fused Adam; updates run each minibatch packed on the steps its trials played, with
  hand-written BPTT, :mod:`mtrnn.agents.rl.packed`);
* sb3-contrib ``RecurrentPPO`` (``MlpLstmPolicy``, ``lstm_hidden_size=64``) on ``mtrnn/DelayGo-v0`` through
  ``make_vec_env`` (8 envs × 128 steps per rollout);
* SB3 ``PPO`` (``MlpPolicy`` 64×64) on neurogym's closest task, ``yang19.dlygo-v0`` (the delay-go task of
  Yang et al. 2019 as neurogym ships it), same rollout shape (needs the ``neurogym`` extra; skipped without it).

Env steps are the steps actually played (a trial aborted at its second step counts 2), SB3's own unit; the
batched trainer's count is ``Outcome.n_steps`` of its rollouts. The times cover everything ``learn``/``train``
does (rollouts, updates, the batched trainer's two evaluations). Early in training most trials abort within a
few steps, so the batched trainer's steps per second grow as fixation is learned (hence two budgets: the first
150 k steps, the worst case, and the first million, where a DelayGo run is still at its start). RecurrentPPO's
rate falls as its trials lengthen (measured here: 1,825 / 1,254 / 1,117 env steps/s over its first 4 k / 16 k /
150 k steps), so it runs ``--sb3-steps`` (default: the first batched budget, the same workload) and the ratios of
the longer batched budgets to it are lower bounds. Every contender starts from scratch. Writes
``rl_speed.md`` into ``--out`` (default: the working directory).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mtrnn.agents.networks import Activation, Architecture, NetworkConfig
from mtrnn.agents.rl import Algo, Backend, PPOTrainer, RLConfig
from mtrnn.agents.rundir import atomic_write_text

__all__ = ["Measurement", "main", "measure"]

HIDDEN = 64
TASK = "mtrnn/DelayGo-v0"
NEUROGYM_TASK = "yang19.dlygo-v0"


@dataclass(frozen=True)
class Measurement:
    """One contender's throughput."""

    name: str
    task: str
    env_steps: int
    trials: int
    seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.env_steps / self.seconds

    @property
    def trials_per_second(self) -> float:
        return self.trials / self.seconds


def _batched(architecture: Architecture, steps: int) -> Measurement:
    """Batched PPO from scratch until ``steps`` env steps."""
    network = NetworkConfig(
        architecture=architecture, hidden_size=HIDDEN, activation=Activation.TANH, tau=40.0, recurrent_noise=0.0
    )
    config = RLConfig(env_id=TASK, network=network, max_env_steps=steps, eval_interval=10**6, threads=1)
    trainer = PPOTrainer(config)
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    return Measurement(
        f"batched PPO (ours), {architecture.value}, {_budget(steps)} budget",
        TASK,
        result.state.env_steps,
        result.state.trials,
        seconds,
    )


def _budget(steps: int) -> str:
    """``150000`` -> ``"150 k"``, ``1000000`` -> ``"1 M"``."""
    if steps >= 1_000_000 and steps % 100_000 == 0:
        return f"{steps / 1e6:g} M"
    return f"{steps / 1e3:g} k" if steps >= 1000 else str(steps)


def _sb3(name: str, algo: Algo, env: object, task: str, steps: int) -> Measurement:
    from mtrnn.agents.rl.sb3 import make_sb3_model

    architecture = Architecture.LSTM if algo is Algo.RECURRENT_PPO else Architecture.LEAKY_RNN
    config = RLConfig(
        env_id=TASK,
        backend=Backend.SB3,
        algo=algo,
        network=NetworkConfig(architecture=architecture, hidden_size=HIDDEN),
        n_envs=8,
        n_steps=128,
        max_env_steps=steps,
        threads=1,
    )
    from stable_baselines3.common.callbacks import BaseCallback

    class _CountTrials(BaseCallback):
        trials = 0

        def _on_step(self) -> bool:
            # a trial ends with the episode (ours) or with info["new_trial"] (neurogym's endless episodes)
            ends = zip(self.locals["dones"], self.locals["infos"], strict=True)
            self.trials += sum(1 for done, info in ends if done or info.get("new_trial", False))
            return True

    model = make_sb3_model(config, env)
    counter = _CountTrials()
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=counter)
    seconds = time.perf_counter() - start
    return Measurement(name, task, int(model.num_timesteps), counter.trials, seconds)


def measure(batched_steps: Sequence[int], sb3_steps: int) -> list[Measurement]:
    """Run every contender once (the batched ones once per budget in ``batched_steps``); returns their
    measurements."""
    from stable_baselines3.common.env_util import make_vec_env

    from mtrnn.agents.rl.sb3 import make_sb3_vec_env

    results = [
        _batched(architecture, steps)
        for steps in batched_steps
        for architecture in (Architecture.LSTM, Architecture.LEAKY_RNN)
    ]
    config = RLConfig(env_id=TASK, backend=Backend.SB3, n_envs=8, seed=0, max_env_steps=sb3_steps)
    env = make_sb3_vec_env(config)
    results.append(_sb3("SB3 RecurrentPPO, lstm", Algo.RECURRENT_PPO, env, TASK, sb3_steps))
    env.close()
    if importlib.util.find_spec("neurogym") is not None:
        import neurogym  # noqa: F401  (registers neurogym's ids)

        env = make_vec_env(NEUROGYM_TASK, n_envs=8, seed=0)
        results.append(_sb3("SB3 PPO, MlpPolicy (neurogym)", Algo.PPO, env, NEUROGYM_TASK, sb3_steps))
        env.close()
    return results


def _table(results: Sequence[Measurement], command: str) -> str:
    reference = next(r for r in results if "RecurrentPPO" in r.name)
    ppo = next((r for r in results if "neurogym" in r.name), None)
    lines = [
        f"`{command}` — {platform.processor() or platform.machine()}, 1 torch thread, {time.strftime('%Y-%m-%d')}; "
        "the machine was shared, so read the ratios (same run), not the absolute numbers.",
        "",
        "| contender | task | env steps | trials | seconds | env steps/s | trials/s | × RecurrentPPO | × SB3 PPO |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        versus_ppo = f"{r.steps_per_second / ppo.steps_per_second:.1f}" if ppo is not None else "–"
        lines.append(
            f"| {r.name} | `{r.task}` | {r.env_steps} | {r.trials} | {r.seconds:.1f} | {r.steps_per_second:,.0f} | "
            f"{r.trials_per_second:,.0f} | {r.steps_per_second / reference.steps_per_second:.1f} | {versus_ppo} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m mtrnn.benchmarks.rl_speed``."""
    parser = argparse.ArgumentParser(prog="python -m mtrnn.benchmarks.rl_speed", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="results folder (default: working directory)")
    parser.add_argument(
        "--batched-steps",
        type=int,
        nargs="+",
        default=[150_000, 1_000_000],
        help="env steps of each batched run (one run per budget and cell)",
    )
    parser.add_argument("--sb3-steps", type=int, default=150_000, help="env steps of the RecurrentPPO and SB3 PPO runs")
    args = parser.parse_args(argv)
    if min(args.batched_steps) < 1:
        parser.error(f"--batched-steps must be >= 1, got {min(args.batched_steps)}")
    if args.sb3_steps < 1:
        parser.error(f"--sb3-steps must be >= 1, got {args.sb3_steps}")
    torch.set_num_threads(1)
    results = measure(args.batched_steps, args.sb3_steps)
    command = (
        "python -m mtrnn.benchmarks.rl_speed --batched-steps "
        + " ".join(map(str, args.batched_steps))
        + f" --sb3-steps {args.sb3_steps}"
    )
    table = _table(results, command)
    atomic_write_text(args.out / "rl_speed.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
