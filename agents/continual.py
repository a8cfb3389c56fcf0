"""Continual learning by orthogonal projection of weight updates (Duncker, Driscoll, Shenoy, Sahani & Sussillo,
"Organizing recurrent network dynamics by task-computation to enable continual learning", NeurIPS 2020).

After each task of a sequence, the activity each weight matrix saw is summarised by two covariances: of its
inputs and of its outputs. Later updates are projected away from the directions that carried that activity,
so that what earlier tasks computed changes little::

    Σ = Σ_previous + (1/n)·Σ_t a_t a_tᵀ          over the n valid steps of the finished task's trials
    P = V · diag(α / (α + λ)) · Vᵀ  = α (Σ + αI)⁻¹      (Σ = V diag(λ) Vᵀ)
    ΔW ← P_out · ΔW · P_in

For the leaky RNN's recurrent layer, ``W = [W_rec, W_in]`` acts on ``a_t = [h_{t−1}; x_t]`` (input side) and
produces the hidden state ``h_t`` (output side); the bias is projected on the output side only. For the readout,
the input side is ``h_t`` and the output side the network output ``y_t``. Directions with variance ``λ ≫ α``
are protected, directions never used (``λ ≪ α``) stay free; ``α = 1e-3`` is Duncker et al.'s example. Trainable
τ (Levina's cells) is not projected.

The **update**, not the gradient, is projected: each optimiser step is wrapped so that ``W ← W_before +
P_out (W_after − W_before) P_in``. For plain SGD this equals projecting the gradient; for SGD with momentum
and for Adam (whose step is not linear in the gradient) it is the only way to keep every change inside the
allowed subspace. Weight decay inside the optimiser is projected too.

Covariances are accumulated as float64 and saved in the trainer's checkpoint (exact resume).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from mtrnn.agents.cells import LeakyRNNCell
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.envs import Task

__all__ = ["Continual", "OrthogonalProjection", "ProjectedLayer", "projector"]


class Continual(enum.Enum):
    """Continual-learning methods for sequential tasks (``mtrnn-train --continual``)."""

    PROJECTION = "projection"
    """Orthogonal projection of weight updates (Duncker et al. 2020): :class:`OrthogonalProjection`."""


def projector(covariance: Tensor, alpha: float) -> Tensor:
    """``P = V diag(α/(α+λ)) Vᵀ`` of a symmetric PSD ``covariance (d, d)``; the identity for a zero matrix."""
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    scale = alpha / (alpha + eigenvalues.clamp_min(0.0))
    return (eigenvectors * scale) @ eigenvectors.T


@dataclass
class ProjectedLayer:
    """One projected weight matrix (and optional bias) with its two accumulated covariances.

    Attributes:
        name: ``"recurrent"`` or ``"readout"``.
        weights: the weight parameters whose columns are concatenated along the input side (the recurrent
            layer: ``[W_rec, W_in]``), each ``(d_out, d_in_k)``.
        bias: the bias ``(d_out,)`` or None.
        input_covariance: ``(d_in, d_in)`` float64.
        output_covariance: ``(d_out, d_out)`` float64.
    """

    name: str
    weights: tuple[nn.Parameter, ...]
    bias: nn.Parameter | None
    input_covariance: Tensor
    output_covariance: Tensor


class OrthogonalProjection:
    """Project every update of a leaky RNN's input, recurrent and readout weights away from earlier tasks'
    activity (Duncker et al. 2020). See the module docstring for the maths.

    Use::

        projection = OrthogonalProjection(network, alpha=1e-3)
        projection.attach(optimizer)          # wraps optimizer.step()
        ... train task 1 ...
        projection.end_task(task_1, rng)      # accumulate task 1's covariances, rebuild the projectors
        ... train task 2: updates now avoid task 1's subspaces ...

    Args:
        network: a :class:`RecurrentNetwork` with a :class:`~mtrnn.agents.cells.LeakyRNNCell`.
        alpha: the regulariser ``α > 0`` of ``α/(α+λ)``.
        trials: trials of a finished task whose activity enters its covariances (>= 1).
    """

    def __init__(self, network: RecurrentNetwork, *, alpha: float = 1e-3, trials: int = 512) -> None:
        if not isinstance(network, RecurrentNetwork) or not isinstance(network.cell, LeakyRNNCell):
            raise TypeError("network must be a RecurrentNetwork with a LeakyRNNCell (architecture leaky_rnn)")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ValueError(f"trials must be an int >= 1, got {trials!r}")
        self.network = network
        self.alpha = float(alpha)
        self.trials = trials
        self.tasks_done = 0
        cell = network.cell
        hidden, n_in, n_out = cell.hidden_size, cell.n_inputs, network.n_outputs
        self.layers = (
            ProjectedLayer(
                "recurrent",
                (cell.weight_rec, cell.weight_in),
                cell.bias,
                torch.zeros(hidden + n_in, hidden + n_in, dtype=torch.float64),
                torch.zeros(hidden, hidden, dtype=torch.float64),
            ),
            ProjectedLayer(
                "readout",
                (network.readout.weight,),
                network.readout.bias,
                torch.zeros(hidden, hidden, dtype=torch.float64),
                torch.zeros(n_out, n_out, dtype=torch.float64),
            ),
        )
        self._projectors: list[tuple[Tensor, Tensor]] | None = None
        self._before: list[list[Tensor]] = []
        self._handles: list[RemovableHandle] = []

    # ------------------------------------------------------------------ covariances
    @torch.no_grad()
    def end_task(self, task: Task, rng: np.random.Generator) -> None:
        """Add the covariances of the network's activity on ``trials`` fresh trials of ``task`` (drawn from
        ``rng``) and rebuild the projectors. Call it when a task is finished, before training the next."""
        network = self.network
        was_training = network.training
        network.eval()
        device = network.readout.weight.device
        sums = [
            (torch.zeros_like(layer.input_covariance), torch.zeros_like(layer.output_covariance))
            for layer in self.layers
        ]
        count = 0
        for start in range(0, self.trials, 256):
            batch = task.sample_batch(min(256, self.trials - start), rng)
            inputs = torch.from_numpy(batch.inputs).to(device)
            outputs, states = network(inputs)
            hidden = network.cell.hidden(states)
            previous = torch.cat([torch.zeros_like(hidden[:1]), hidden[:-1]])
            valid = torch.from_numpy(batch.valid).to(device)
            recurrent_in = torch.cat([previous, inputs], dim=-1)[valid].double()
            h = hidden[valid].double()
            y = outputs[valid].double()
            for (sum_in, sum_out), (a, b) in zip(sums, ((recurrent_in, h), (h, y)), strict=True):
                sum_in += (a.T @ a).cpu()
                sum_out += (b.T @ b).cpu()
            count += int(valid.sum())
        for layer, (sum_in, sum_out) in zip(self.layers, sums, strict=True):
            layer.input_covariance += sum_in / max(count, 1)
            layer.output_covariance += sum_out / max(count, 1)
        self.tasks_done += 1
        self._projectors = None
        network.train(was_training)

    def projectors(self) -> list[tuple[Tensor, Tensor]]:
        """``[(P_in, P_out)]`` per layer (float32, on the weights' device); identities before the first task."""
        if self._projectors is None:
            device = self.network.readout.weight.device
            self._projectors = [
                (
                    projector(layer.input_covariance, self.alpha).float().to(device),
                    projector(layer.output_covariance, self.alpha).float().to(device),
                )
                for layer in self.layers
            ]
        return self._projectors

    # ------------------------------------------------------------------ projecting updates
    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Wrap ``optimizer.step()``: remember the weights before, project the change after."""
        self.detach()
        self._handles = [
            optimizer.register_step_pre_hook(self._pre_step),
            optimizer.register_step_post_hook(self._post_step),
        ]

    def detach(self) -> None:
        """Stop projecting the optimiser's steps."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.tasks_done == 0:
            self._before = []
            return
        self._before = [
            [w.detach().clone() for w in layer.weights]
            + ([layer.bias.detach().clone()] if layer.bias is not None else [])
            for layer in self.layers
        ]

    @torch.no_grad()
    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._before:
            return
        for layer, before, (p_in, p_out) in zip(self.layers, self._before, self.projectors(), strict=True):
            n_weights = len(layer.weights)
            delta = torch.cat([w - old for w, old in zip(layer.weights, before[:n_weights], strict=True)], dim=1)
            projected = p_out @ delta @ p_in
            start = 0
            for w, old in zip(layer.weights, before[:n_weights], strict=True):
                width = w.shape[1]
                w.copy_(old + projected[:, start : start + width])
                start += width
            if layer.bias is not None:
                old_bias = before[n_weights]
                layer.bias.copy_(old_bias + p_out @ (layer.bias - old_bias))
        self._before = []

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state: α, tasks done and every covariance (nested lists of float64)."""
        return {
            "alpha": self.alpha,
            "tasks_done": self.tasks_done,
            "covariances": {
                layer.name: [layer.input_covariance.tolist(), layer.output_covariance.tolist()] for layer in self.layers
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the same network shape)."""
        if not isinstance(state, Mapping) or not {"alpha", "tasks_done", "covariances"} <= set(state):
            raise ValueError("state must be an OrthogonalProjection state_dict (alpha, tasks_done, covariances)")
        for layer in self.layers:
            saved_in, saved_out = state["covariances"][layer.name]
            covariance_in = torch.tensor(saved_in, dtype=torch.float64)
            covariance_out = torch.tensor(saved_out, dtype=torch.float64)
            if (
                covariance_in.shape != layer.input_covariance.shape
                or covariance_out.shape != layer.output_covariance.shape
            ):
                raise ValueError(f"state['covariances'][{layer.name!r}] does not match the network's shape")
            layer.input_covariance, layer.output_covariance = covariance_in, covariance_out
        self.alpha = float(state["alpha"])
        self.tasks_done = int(state["tasks_done"])
        self._projectors = None
