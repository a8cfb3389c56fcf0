"""Where fixed-point searches start and under which input: :func:`sample_initial_states`, :func:`period_input`.

Sussillo & Barak 2013 and Golub & Sussillo 2018 start the search from states the network visits (sampled from its
trajectories) plus Gaussian noise, and hold the input at the value of one task period, e.g. the fixation (and rule)
input of the delay period.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray

from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.envs.batch import TrialBatch

__all__ = ["network_states", "period_input", "sample_initial_states"]


def _check_batch(batch: object) -> TrialBatch:
    if not isinstance(batch, TrialBatch):
        raise TypeError(f"batch must be a TrialBatch (task.sample_batch(...)), got {type(batch).__name__}")
    return batch


def network_states(network: RecurrentNetwork, batch: TrialBatch) -> NDArray[np.float32]:
    """Run ``network`` (eval mode, no noise, no gradients) on ``batch.inputs``: states ``(T, B, S)``.

    Noise-free batches (``noise=False``) are run as they are: the analysis looks at the noise-free dynamics.
    """
    if not isinstance(network, RecurrentNetwork):
        raise TypeError(f"network must be a RecurrentNetwork (mtrnn.agents.load_agent), got {type(network).__name__}")
    batch = _check_batch(batch)
    if batch.inputs.shape[-1] != network.n_inputs:
        raise ValueError(
            f"batch has {batch.inputs.shape[-1]} inputs but the network takes n_inputs = {network.n_inputs}"
        )
    weight = network.readout.weight
    training = network.training
    network.eval()
    try:
        with torch.no_grad():
            inputs = torch.as_tensor(batch.inputs, dtype=weight.dtype, device=weight.device)
            _, states = network(inputs)
    finally:
        network.train(training)
    return states.cpu().numpy().astype(np.float32, copy=False)


def sample_initial_states(
    network: RecurrentNetwork,
    batch: TrialBatch,
    n: int,
    noise: float,
    rng: np.random.Generator,
    period: str | None = None,
) -> NDArray[np.float32]:
    """``n`` starting states ``(n, S)``: states the network visits on ``batch``, plus Gaussian noise.

    Steps are drawn uniformly (with replacement) among the valid (unpadded) steps of all trials, or only those
    inside ``period`` when given; each gets i.i.d. ``N(0, noise²)`` noise on every state entry (Golub &
    Sussillo's ``noise_scale``; 0.5 in their example for a tanh network).

    Args:
        network: a trained network (:func:`mtrnn.agents.load_agent`).
        batch: explicit-condition trials (``task.sample_batch(B, rng, conditions=..., noise=False)``).
        n: number of starts (>= 1).
        noise: standard deviation of the added noise (>= 0).
        rng: the only source of randomness.
        period: sample only inside this period of ``batch`` (e.g. ``"delay"``); None: every valid step.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    batch = _check_batch(batch)
    allowed = batch.valid if period is None else batch.valid & batch.period_mask(period)
    steps, trials = np.nonzero(allowed)
    if steps.size == 0:
        raise ValueError(f"period {period!r} has no steps in batch; pick another period or a longer batch")
    states = network_states(network, batch)
    pick = rng.integers(0, steps.size, size=int(n))
    chosen = states[steps[pick], trials[pick]]
    if noise > 0:
        chosen = chosen + rng.normal(0.0, float(noise), size=chosen.shape).astype(np.float32)
    return np.ascontiguousarray(chosen, dtype=np.float32)


def period_input(batch: TrialBatch, period: str, trial: int | None = None, atol: float = 1e-6) -> NDArray[np.float32]:
    """The constant input ``(n_in,)`` during ``period`` (e.g. fixation + rule input in the delay).

    The mean over the period's steps of ``trial`` (or of every trial that has the period). The input must really
    be constant there: build the batch with ``noise=False``; a spread larger than ``atol`` raises ``ValueError``
    (pick one ``trial`` when trials differ, e.g. in the stimulus period).
    """
    batch = _check_batch(batch)
    mask = batch.period_mask(period)
    if trial is not None:
        if isinstance(trial, bool) or not isinstance(trial, (int, np.integer)) or not 0 <= trial < batch.batch_size:
            raise ValueError(f"trial must be an int in [0, {batch.batch_size}), got {trial!r}")
        only = np.zeros_like(mask)
        only[:, trial] = mask[:, trial]
        mask = only
    if not mask.any():
        raise ValueError(f"period {period!r} has no steps in the chosen trial(s) of batch")
    values = batch.inputs[mask].astype(np.float64)
    spread = float((values.max(0) - values.min(0)).max())
    if spread > atol:
        raise ValueError(
            f"the input is not constant in period {period!r} (spread {spread:.3g} > atol = {atol}); build the batch "
            "with noise=False, pick one trial=..., or raise atol"
        )
    return values.mean(0).astype(np.float32)
