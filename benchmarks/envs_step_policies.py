"""``env.step`` under the policies every RL run starts from: mtrnn's Yang env against neurogym's, same run.

A uniformly random agent and an always-fixate agent play ``mtrnn/Yang19-DelayAnti-v0`` (unwrapped, default
``abort_on_break=True``: a response before the go period ends the trial, so a random agent starts a new trial every
6 steps) and neurogym's ``yang19.dlyanti-v0`` with ``dt=20`` (unwrapped; neurogym plays trials back to back and
does not abort). Ours is measured one trial per episode (``reset`` when an episode ends) and streaming. Both agents
draw actions with the same Python ``random.Random``, so the policy costs the same on either side. Steps per second
include drawing every new trial.

neurogym's ``yang19.dlyanti-v0`` adds no input noise; ours adds Yang's (``input_noise_std`` ≈ 0.032 on all 85
inputs, one fresh Gaussian row per observation). Two rows compare the same work: ours with ``input_noise_std=0``
against neurogym's env, and neurogym's env wrapped in its own ``neurogym.wrappers.Noise`` (the same std) against
ours. A reference row, not an env, gives the rate at which numpy draws the 85 float32 Gaussians of one observation
(in chunk-sized draws): the most any env that adds this noise could reach here.

``python -m mtrnn.benchmarks.envs_step_policies --out DIR/envs_step_policies.md`` runs this part alone (it is also
part of ``python -m mtrnn.benchmarks.envs_speed``); the table is written to ``--out`` (default: the working
directory).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from mtrnn.benchmarks.envs_speed import Measurement, _si, _throughput, _turns
from mtrnn.benchmarks.neurogym_cli import parse_turn_taking
from mtrnn.envs.io import atomic_write_text
from mtrnn.envs.registry import make_task

__all__ = ["GOAL", "OUR_ID", "PEER_ID", "format_policy_report", "main", "measure_policies"]

OUR_ID = "mtrnn/Yang19-DelayAnti-v0"
PEER_ID = "yang19.dlyanti-v0"
#: Goal: ours / neurogym steps per second, for each policy (our default env against neurogym's).
GOAL = 1.0
POLICIES = ("random", "always fixate")
PEER = "neurogym yang19.dlyanti-v0 (dt=20)"
PEER_NOISE = "neurogym yang19.dlyanti-v0 + neurogym.wrappers.Noise (our std)"
OURS_EPISODIC = "mtrnn Yang19-DelayAnti-v0, one trial per episode"
OURS_STREAMING = "mtrnn Yang19-DelayAnti-v0, streaming=True"
OURS_NOISE_FREE = "mtrnn Yang19-DelayAnti-v0, one trial per episode, input_noise_std=0"
NOISE_FLOOR = "reference: numpy float32 Gaussians of one observation (85) per step, nothing else"
#: Rows held to the goal (our default env).
DEFAULT_ROWS = (OURS_EPISODIC, OURS_STREAMING)
#: Default output file: the working directory, never the installed package.
DEFAULT_OUT = Path("envs_step_policies.md")
#: Observations whose noise the reference row draws at once (a chunk's head: 256 trials × 6 steps).
FLOOR_ROWS = 256 * 6


def _player(env: Any, policy: str, episodic: bool, seed: int) -> tuple[Callable[[], object], list[int]]:
    """One step of ``policy`` on ``env`` (``reset`` when an episode ends) and a counter ``[steps, trials]``."""
    n_actions = int(env.action_space.n)
    draw = random.Random(seed).randrange
    step, reset = env.step, env.reset
    count = [0, 0]

    if policy == "random":

        def act() -> int:
            return draw(n_actions)
    else:

        def act() -> int:
            return 0

    def play() -> None:
        _, _, terminated, _, info = step(act())
        count[0] += 1
        if info["new_trial"]:
            count[1] += 1
        if episodic and terminated:
            reset()

    return play, count


def _noise_floor(n_inputs: int, std: float, seconds: float) -> Callable[[], float]:
    """Observations per second when a step only draws its input noise (clipped and scaled, as the env does)."""
    rng = np.random.default_rng(0)
    scale = np.float32(std)

    def draw() -> None:
        block = rng.standard_normal((FLOOR_ROWS, n_inputs), dtype=np.float32)
        np.clip(block, -8.0, 8.0, out=block)
        block *= scale

    return lambda: _throughput(draw, FLOOR_ROWS, seconds, 4)


def measure_policies(rounds: int, seconds: float) -> dict[str, dict[str, tuple[Measurement, float]]]:
    """``{policy: {row: (steps per second, mean steps per trial)}}`` for both policies and every row."""
    import neurogym  # noqa: F401  (registers neurogym's ids)
    from neurogym.wrappers import Noise

    results: dict[str, dict[str, tuple[Measurement, float]]] = {}
    for policy in POLICIES:
        theirs = gym.make(PEER_ID, dt=20).unwrapped
        theirs.reset(seed=0)
        episodic = gym.make(OUR_ID).unwrapped
        episodic.reset(seed=0)
        task = make_task(OUR_ID)
        std = float(task.input_noise_std)
        wrapped = gym.make(PEER_ID, dt=20).unwrapped
        wrapped.reset(seed=0)
        noisy_theirs = Noise(wrapped, std_noise=std)
        streaming = gym.make(OUR_ID, streaming=True).unwrapped
        streaming.reset(seed=0)
        noise_free = gym.make(OUR_ID, input_noise_std=0.0).unwrapped
        noise_free.reset(seed=0)
        players = {
            PEER: _player(theirs, policy, episodic=False, seed=0),
            OURS_EPISODIC: _player(episodic, policy, episodic=True, seed=0),
            OURS_STREAMING: _player(streaming, policy, episodic=False, seed=0),
            OURS_NOISE_FREE: _player(noise_free, policy, episodic=True, seed=0),
            PEER_NOISE: _player(noisy_theirs, policy, episodic=False, seed=0),
        }

        def timed(play: Callable[[], object]) -> Callable[[], float]:
            return lambda: _throughput(play, 1.0, seconds, 1000)

        contenders = [(name, timed(play)) for name, (play, _) in players.items()]
        contenders.append((NOISE_FLOOR, _noise_floor(task.n_inputs, std, seconds)))
        measured = _turns(contenders, rounds)
        results[policy] = {
            m.name: (m, players[m.name][1][0] / max(players[m.name][1][1], 1) if m.name in players else float("nan"))
            for m in measured
        }
    return results


def format_policy_report(results: dict[str, dict[str, tuple[Measurement, float]]]) -> tuple[str, float]:
    """A markdown table (steps/s, steps per trial, ratio to neurogym) and the worst ratio of our default env."""
    worst = float("inf")
    lines = [
        f"### env.step under a random and an always-fixate policy ({OUR_ID} vs neurogym {PEER_ID}, dt = 20 ms)",
        "",
        "| policy | env (unwrapped) | steps/s | steps per trial | ratio to neurogym | ratio to neurogym + Noise |",
        "|---|---|---|---|---|---|",
    ]
    for policy, rows in results.items():
        peer, noisy_peer = rows[PEER][0], rows[PEER_NOISE][0]
        for name, (measurement, per_trial) in rows.items():
            ratio = measurement.ratio(peer)
            if name in DEFAULT_ROWS:
                worst = min(worst, ratio)
            steps = "—" if per_trial != per_trial else f"{per_trial:.1f}"  # NaN: the reference row
            lines.append(
                f"| {policy} | {name} | {_si(measurement.median)} | {steps} | {ratio:.2f}× | "
                f"{measurement.ratio(noisy_peer):.2f}× |"
            )
    lines += [
        "",
        f"Goal: our default env (input noise on) ≥ {GOAL:g}× neurogym's (no input noise) under both policies; worst "
        f"measured {worst:.2f}× ({'met' if worst >= GOAL else 'not met'}). Same work: ours with "
        "`input_noise_std=0` against neurogym's env, ours against neurogym's env + its `Noise` wrapper.",
    ]
    return "\n".join(lines), worst


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run, print and write the table."""
    args, neurogym = parse_turn_taking(argv, __doc__.splitlines()[0], DEFAULT_OUT)
    load = os.getloadavg()[0]
    table, _ = format_policy_report(measure_policies(args.rounds, args.seconds))
    header = (
        "# env.step under a random and an always-fixate agent: mtrnn vs neurogym\n\n"
        f"{args.rounds} rounds of turn-taking after a warm-up round; steps/s = median over rounds, ratio = median "
        "over rounds of ours / theirs in the same round. numpy "
        f"{np.__version__}, gymnasium {gym.__version__}, neurogym {neurogym.__version__}; {os.cpu_count()} CPUs, "
        f"load average at start {load:.2f}. Command: `python -m mtrnn.benchmarks.envs_step_policies`.\n\n"
    )
    print(table)
    atomic_write_text(args.out, header + table + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
