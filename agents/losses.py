"""Training losses over padded, masked batches, and weight/activity penalties.

Shapes: ``T`` time steps, ``B`` trials, ``n_out`` outputs, ``H`` state units.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "activity_penalty",
    "masked_cross_entropy",
    "masked_mse",
    "multi_head_cross_entropy",
    "weight_penalty",
    "weights_of",
]


def masked_mse(outputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Yang et al. 2019's squared loss ``mean(((outputs - targets) · mask)²)``.

    The mean runs over every ``(T, B, n_out)`` entry (masked ones count as zeros), as in Yang's ``cost_lsq``;
    a mask weight ``w`` therefore weighs its squared error by ``w²``. Entries with mask 0 have no influence on
    the loss or its gradient.

    Args:
        outputs: ``(T, B, n_out)`` network outputs (after the output activation).
        targets: ``(T, B, n_out)`` targets.
        mask: ``(T, B, n_out)`` loss weights (``batch.mask``).

    Returns:
        A scalar tensor.
    """
    if outputs.shape != targets.shape or outputs.shape != mask.shape:
        raise ValueError(
            f"outputs, targets and mask must have the same (T, B, n_out) shape, got "
            f"{tuple(outputs.shape)}, {tuple(targets.shape)}, {tuple(mask.shape)}"
        )
    return torch.square((outputs - targets) * mask).mean()


def masked_cross_entropy(logits: Tensor, labels: Tensor, step_mask: Tensor) -> Tensor:
    """Cross-entropy of ``logits`` against integer ``labels``, averaged over the steps where ``step_mask > 0``.

    Steps with ``step_mask`` 0 (grace windows, padding, unchecked steps) have no influence on the loss or its
    gradient; the others are weighted by ``step_mask``.

    Args:
        logits: ``(T, B, n_out)`` unnormalised scores (identity output activation).
        labels: ``(T, B)`` int64 correct action per step (``batch.labels``).
        step_mask: ``(T, B)`` float weights (``batch.step_mask``).

    Returns:
        A scalar tensor (0 when no step is checked).
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2] or step_mask.shape != logits.shape[:2]:
        raise ValueError(
            "logits must be (T, B, n_out) with labels and step_mask (T, B), got "
            f"{tuple(logits.shape)}, {tuple(labels.shape)}, {tuple(step_mask.shape)}"
        )
    per_step = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
    weights = step_mask.reshape(-1)
    return (per_step * weights).sum() / weights.sum().clamp_min(1.0)


def multi_head_cross_entropy(logits: Tensor, head_labels: Tensor, step_mask: Tensor) -> Tensor:
    """The sum over heads of each head's masked cross-entropy (Khajehabdollahi, Zeraati et al. 2024: one
    two-class readout per N, loss = Σ_heads CE).

    Args:
        logits: ``(T, B, K·C)`` scores laid out head by head (head ``k`` owns units ``k·C … k·C + C − 1``).
        head_labels: ``(T, B, K)`` int64 class of each head (``MultiHeadBatch.head_labels``).
        step_mask: ``(T, B)`` float weights (``batch.step_mask``).

    Returns:
        A scalar tensor: ``Σ_k masked_cross_entropy(logits[..., head k], head_labels[..., k], step_mask)``.
    """
    if logits.dim() != 3 or head_labels.dim() != 3 or head_labels.shape[:2] != logits.shape[:2]:
        raise ValueError(
            f"logits must be (T, B, K·C) with head_labels (T, B, K), got {tuple(logits.shape)}, "
            f"{tuple(head_labels.shape)}"
        )
    heads = head_labels.shape[-1]
    if logits.shape[-1] % heads:
        raise ValueError(f"logits must have a multiple of K = {heads} units, got {logits.shape[-1]}")
    classes = logits.shape[-1] // heads
    per_step = F.cross_entropy(logits.reshape(-1, classes), head_labels.reshape(-1), reduction="none").reshape(
        *step_mask.shape, heads
    )
    weights = step_mask.unsqueeze(-1)
    return (per_step * weights).sum() / step_mask.sum().clamp_min(1.0)


def weights_of(module: nn.Module) -> list[Tensor]:
    """The module's weight matrices: trainable parameters with >= 2 dimensions (biases and τ excluded)."""
    return [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]


def weight_penalty(weights: Iterable[Tensor], l1: float, l2: float) -> Tensor | None:
    """``l1 · Σ|w| + l2 · Σw²`` over ``weights``; None when both coefficients are 0."""
    if l1 == 0 and l2 == 0:
        return None
    terms = []
    for w in weights:
        if l1:
            terms.append(l1 * w.abs().sum())
        if l2:
            terms.append(l2 * w.square().sum())
    return torch.stack(terms).sum() if terms else None


def activity_penalty(states: Tensor, l1: float, l2: float) -> Tensor | None:
    """``l1 · mean|h| + l2 · mean h²`` over ``states (T, B, H)``; None when both coefficients are 0."""
    if l1 == 0 and l2 == 0:
        return None
    penalty = states.new_zeros(())
    if l1:
        penalty = penalty + l1 * states.abs().mean()
    if l2:
        penalty = penalty + l2 * states.square().mean()
    return penalty
