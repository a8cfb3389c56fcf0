"""``env.step`` under the policies every RL run starts from: mtrnn's Yang env against neurogym's, same run.

A uniformly random agent and an always-fixate agent play ``mtrnn/Yang19-DelayAnti-v0`` (unwrapped, default
``abort_on_break=True``: a response before the go period ends the trial, so a random agent starts a new trial every
few steps) and neurogym's ``yang19.dlyanti-v0`` with ``dt=20`` (unwrapped; neurogym plays trials back to back and
does not abort). Ours is measured one trial per episode (``reset`` when an episode ends) and streaming. Both agents
draw actions with the same Python ``random.Random``, so the policy costs the same on either side. Steps per second
include drawing every new trial. Part of ``python -m mtrnn.benchmarks.envs_speed``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from mtrnn.benchmarks.envs_speed import Measurement, _si, _throughput, _turns

__all__ = ["GOAL", "OUR_ID", "PEER_ID", "format_policy_report", "measure_policies"]

OUR_ID = "mtrnn/Yang19-DelayAnti-v0"
PEER_ID = "yang19.dlyanti-v0"
#: Goal: ours / neurogym steps per second, for each policy.
GOAL = 1.0
POLICIES = ("random", "always fixate")
PEER = "neurogym yang19.dlyanti-v0 (dt=20)"
OURS_EPISODIC = "mtrnn Yang19-DelayAnti-v0, one trial per episode"
OURS_STREAMING = "mtrnn Yang19-DelayAnti-v0, streaming=True"


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


def measure_policies(rounds: int, seconds: float) -> dict[str, dict[str, tuple[Measurement, float]]]:
    """``{policy: {env: (steps per second, mean steps per trial)}}`` for both policies and the three envs."""
    import neurogym  # noqa: F401  (registers neurogym's ids)

    results: dict[str, dict[str, tuple[Measurement, float]]] = {}
    for policy in POLICIES:
        theirs = gym.make(PEER_ID, dt=20).unwrapped
        theirs.reset(seed=0)
        episodic = gym.make(OUR_ID).unwrapped
        episodic.reset(seed=0)
        streaming = gym.make(OUR_ID, streaming=True).unwrapped
        streaming.reset(seed=0)
        players = {
            PEER: _player(theirs, policy, episodic=False, seed=0),
            OURS_EPISODIC: _player(episodic, policy, episodic=True, seed=0),
            OURS_STREAMING: _player(streaming, policy, episodic=False, seed=0),
        }

        def timed(play: Callable[[], object]) -> Callable[[], float]:
            return lambda: _throughput(play, 1.0, seconds, 1000)

        measured = _turns([(name, timed(play)) for name, (play, _) in players.items()], rounds)
        results[policy] = {m.name: (m, players[m.name][1][0] / max(players[m.name][1][1], 1)) for m in measured}
    return results


def format_policy_report(results: dict[str, dict[str, tuple[Measurement, float]]]) -> tuple[str, float]:
    """A markdown table (steps/s, steps per trial, ratio to neurogym) and the worst ratio over policies."""
    worst = float("inf")
    lines = [
        f"### env.step under a random and an always-fixate policy ({OUR_ID} vs neurogym {PEER_ID}, dt = 20 ms)",
        "",
        "| policy | env (unwrapped) | steps/s | steps per trial | ratio |",
        "|---|---|---|---|---|",
    ]
    for policy, rows in results.items():
        peer = rows[PEER][0]
        for name, (measurement, per_trial) in rows.items():
            ratio = measurement.ratio(peer)
            if name != PEER:
                worst = min(worst, ratio)
            lines.append(f"| {policy} | {name} | {_si(measurement.median)} | {per_trial:.1f} | {ratio:.2f}× |")
    lines += [
        "",
        f"Goal: ours ≥ {GOAL:g}× neurogym under both policies; worst measured {worst:.2f}× "
        f"({'met' if worst >= GOAL else 'not met'}).",
    ]
    return "\n".join(lines), worst
