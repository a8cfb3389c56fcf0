"""A complete third-party agent for ``mtrnn-evaluate``: a hand-written rule player for the four delay tasks.

Evaluate it (each task runs in its own process with a time and memory limit)::

    mtrnn-evaluate --agent examples/my_agent.py:make_agent \
        --task mtrnn/DelayGo-v0 --task mtrnn/DelayAnti-v0 \
        --task mtrnn/DelayMatchToSample-v0 --task mtrnn/DelayAntiMatchToSample-v0 --out my_agent.json

The file needs nothing from mtrnn: only numpy. mtrnn calls ``make_agent`` once per task with the keyword
arguments ``env_id``, ``n_inputs``, ``n_outputs`` and ``n_actions`` and plays what it returns. This one is a
*step agent* (``reset(batch_size)``, then ``act(observations (B, n_in)) -> actions (B,)`` once per time step);
a *sequence agent* would instead offer ``predict(inputs (T, B, n_in)) -> outputs (T, B, n_out)`` (a torch
module works too), and a stable-baselines3 model is played as it is.

The rule: remember the last location shown while the fixation cue is on; when the cue goes off (the decision
period), answer by the task's rule. Observations carry Gaussian noise (std 0.05), so inputs are thresholded at 0.5.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

RULES = {
    "mtrnn/DelayGo-v0": "go",
    "mtrnn/DelayAnti-v0": "anti",
    "mtrnn/DelayMatchToSample-v0": "match",
    "mtrnn/DelayAntiMatchToSample-v0": "nonmatch",
}


class RuleAgent:
    """Plays the delay tasks by their rules (inputs: fixation cue + one-hot locations; action k = location k-1)."""

    name = "rule-agent"
    version = "1.0"

    def __init__(self, rule: str, n_locations: int) -> None:
        self.rule = rule
        self.n_locations = n_locations
        self.sample: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def reset(self, batch_size: int) -> None:
        """Start ``batch_size`` trials: nothing seen yet."""
        self.sample = np.full(batch_size, -1, dtype=np.int64)

    def act(self, observations: NDArray[np.float32]) -> NDArray[np.int64]:
        """``observations (B, 1 + n_locations)`` -> ``actions (B,)`` (0 = fixate, k = respond at location k-1)."""
        fixation = observations[:, 0] > 0.5
        shown = observations[:, 1:].max(axis=1) > 0.5
        location = observations[:, 1:].argmax(axis=1)
        actions: NDArray[np.int64]
        # while the cue is on: remember the sample
        self.sample = np.where(fixation & shown, location, self.sample).astype(np.int64)
        deciding = ~fixation
        if self.rule in ("go", "anti"):
            target = self.sample if self.rule == "go" else (self.sample + self.n_locations // 2) % self.n_locations
            actions = np.where(deciding, target + 1, 0).astype(np.int64)
        else:  # the test stimulus is shown in the decision period: respond at it, or keep fixating
            match = shown & (location == self.sample)
            respond = match if self.rule == "match" else shown & ~match
            actions = np.where(deciding & respond, location + 1, 0).astype(np.int64)
        return actions


class AlwaysFixate:
    """Any other task: keep fixating (correct exactly on the no-go trials)."""

    name = "rule-agent"
    version = "1.0"

    def reset(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def act(self, observations: NDArray[np.float32]) -> NDArray[np.int64]:
        return np.zeros(len(observations), dtype=np.int64)


def make_agent(*, env_id: str, n_inputs: int, n_outputs: int, n_actions: int) -> RuleAgent | AlwaysFixate:
    """The factory ``mtrnn-evaluate`` calls once per task."""
    if env_id in RULES:
        return RuleAgent(RULES[env_id], n_locations=n_inputs - 1)
    return AlwaysFixate()
