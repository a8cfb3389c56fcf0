"""PPO's loss on the heads of packed steps, with its gradient written out (one autograd node instead of ~30).

With ``out = W·hᵀ + b`` (``W (A+1, H)``: the action rows then the value row of the policy's readout), per step ``n``
of ``N``: ``log π = log_softmax(out[:A])``, ratio ``r = exp(log π[a] − log π_old[a])``, and

* policy loss ``−mean(min(r·Â, clip(r, 1−ε, 1+ε)·Â))`` (Schulman et al. 2017), ``Â`` the normalised advantages;
* value loss ``mean((R − V)²)``, ``V = out[A]``;
* entropy ``mean(−Σ_a π log π)``;
* ``loss = policy + c_v·value − c_e·entropy``.

The backward pass is autograd's on the same forward, written as one function (``torch.minimum`` splits the
gradient of a tie in halves, ``clamp`` passes it on its closed range, as autograd does), so the update is the same
up to float rounding; at PPO's minibatch sizes the ~30 autograd nodes of the loss cost more than their arithmetic.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

__all__ = ["ppo_loss"]


class _PPOLoss(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor,
        actions: Tensor,
        old_log_probs: Tensor,
        advantages: Tensor,
        returns: Tensor,
        clip: float,
        vf_coef: float,
        ent_coef: float,
    ) -> tuple[Tensor, Tensor]:
        n_actions = weight.shape[0] - 1
        outputs = torch.addmm(bias.unsqueeze(1), weight, hidden.t())  # (A + 1, N): the softmax runs along N
        log_probs = torch.log_softmax(outputs[:n_actions], dim=0)
        probs = log_probs.exp()
        log_ratio = log_probs.gather(0, actions.unsqueeze(0)).squeeze(0) - old_log_probs
        ratio = log_ratio.exp()
        unclipped = ratio * advantages
        clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
        policy_loss = -torch.minimum(unclipped, clipped).mean()
        error = returns - outputs[n_actions]
        value_loss = (error * error).mean()
        plogp = probs * log_probs
        entropy = -plogp.sum(0).mean()
        loss = policy_loss + vf_coef * value_loss - ent_coef * entropy
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_fraction = ((ratio - 1).abs() > clip).to(ratio.dtype).mean()
        diagnostics = torch.stack((policy_loss, value_loss, entropy, approx_kl, clip_fraction))
        ctx.save_for_backward(hidden, weight, actions, advantages, log_probs, probs, ratio, unclipped, clipped, error)
        ctx.constants = (clip, vf_coef, ent_coef)  # type: ignore[attr-defined]
        ctx.mark_non_differentiable(diagnostics)
        return loss, diagnostics

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        hidden, weight, actions, advantages, log_probs, probs, ratio, unclipped, clipped, error = ctx.saved_tensors
        clip, vf_coef, ent_coef = ctx.constants
        scale = grad_loss / hidden.shape[0]
        # minimum: the smaller input takes the gradient, a tie half each; clamp passes it on [1 − ε, 1 + ε]
        tie = (unclipped == clipped).to(ratio.dtype) * 0.5
        inside = ((ratio >= 1 - clip) & (ratio <= 1 + clip)).to(ratio.dtype)
        through = (unclipped < clipped).to(ratio.dtype) + tie + ((clipped < unclipped).to(ratio.dtype) + tie) * inside
        grad_new = through.mul_(advantages).mul_(ratio).mul_(-scale)  # d loss / d log π[a]
        # entropy: d(−c_e·mean(−Σ π log π)) / d log π = c_e/N · π (1 + log π)
        grad_log_probs = (log_probs + 1).mul_(probs).mul_(ent_coef * scale)
        grad_log_probs.scatter_add_(0, actions.unsqueeze(0), grad_new.unsqueeze(0))
        grad_logits = grad_log_probs - probs * grad_log_probs.sum(0, keepdim=True)  # log_softmax's backward
        grad_values = error.mul(-2 * vf_coef * scale)
        grad_outputs = torch.cat((grad_logits, grad_values.unsqueeze(0)))  # (A + 1, N)
        grad_hidden = grad_outputs.t().mm(weight) if ctx.needs_input_grad[0] else None
        grad_weight = grad_outputs.mm(hidden) if ctx.needs_input_grad[1] else None
        grad_bias = grad_outputs.sum(1) if ctx.needs_input_grad[2] else None
        return grad_hidden, grad_weight, grad_bias, None, None, None, None, None, None, None


def ppo_loss(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor,
    actions: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    returns: Tensor,
    *,
    clip: float,
    vf_coef: float,
    ent_coef: float,
) -> tuple[Tensor, Tensor]:
    """PPO's loss on ``N`` steps (see the module docstring).

    Args:
        hidden: ``(N, H)`` the policy's hidden units (differentiable).
        weight: ``(A + 1, H)`` the readout (action rows, then the value row); ``bias (A + 1,)``.
        actions: ``(N,)`` int64 the actions taken; ``old_log_probs (N,)`` their log-probabilities in the rollout.
        advantages: ``(N,)`` normalised advantages; ``returns (N,)`` the value targets.
        clip: ε; ``vf_coef``, ``ent_coef``: the loss weights.

    Returns:
        ``loss`` (a differentiable scalar) and, not differentiable, ``(5,)``: the policy loss, value loss,
        entropy, approximate KL ``mean((r − 1) − log r)`` and the fraction of clipped ratios.
    """
    loss, diagnostics = _PPOLoss.apply(
        hidden, weight, bias, actions, old_log_probs, advantages, returns, clip, vf_coef, ent_coef
    )
    return loss, diagnostics
