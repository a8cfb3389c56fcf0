"""The packed passes with hand-written backpropagation (:mod:`mtrnn.agents.rl.packed`) give the states and
gradients of stepping the cell with autograd on the shrinking batch; PPO's written-out loss gradient
(:mod:`mtrnn.agents.rl.loss`) is autograd's."""

from __future__ import annotations

import itertools

import pytest
import torch

from mtrnn.agents.cells import Activation, LeakyRNNCell, TorchLSTMCell, hidden_of
from mtrnn.agents.rl.loss import ppo_loss
from mtrnn.agents.rl.packed import packed_leaky, packed_lstm, previous_rows, supports_packed

BATCH_SIZES = [7, 7, 5, 3, 3, 3, 1, 1]


def _stepped(cell: LeakyRNNCell | TorchLSTMCell, inputs: torch.Tensor, batch_sizes: list[int]) -> torch.Tensor:
    """The reference: the cell's own step on the trials still running, from the zero state."""
    state = inputs.new_zeros(batch_sizes[0], cell.state_size)
    hiddens = []
    for x in inputs.split(batch_sizes):
        state = cell(x, state[: x.shape[0]])
        hiddens.append(hidden_of(cell, state))
    return torch.cat(hiddens)


def _states_and_grads(cell: torch.nn.Module, run: object, inputs: torch.Tensor, weights: torch.Tensor) -> tuple:
    hidden = run(cell, inputs, BATCH_SIZES)  # type: ignore[operator]
    cell.zero_grad()
    (hidden * weights).sum().backward()
    return hidden.detach(), [torch.zeros(0) if p.grad is None else p.grad.clone() for p in cell.parameters()]


CELLS = [
    *(
        (activation, alpha, inside)
        for activation in Activation
        for alpha in (0.2, 0.5, 1.0)
        for inside in (True, False)
    ),
]


def _leaky(activation: Activation, alpha: float, inside: bool) -> tuple[LeakyRNNCell, object]:
    return LeakyRNNCell(9, 16, activation=activation, alpha=alpha, nonlinearity_inside=inside), packed_leaky


@pytest.mark.parametrize(
    "make",
    [
        *(pytest.param(lambda c=case: _leaky(*c), id="leaky-{}-{}-{}".format(*case)) for case in CELLS),
        pytest.param(lambda: (TorchLSTMCell(9, 16), packed_lstm), id="lstm"),
    ],
)
def test_packed_pass_equals_stepping_the_cell(make: object) -> None:
    torch.manual_seed(0)
    cell, packed = make()  # type: ignore[operator]
    inputs, weights = torch.randn(sum(BATCH_SIZES), 9), torch.randn(sum(BATCH_SIZES), 16)
    assert supports_packed(cell)
    ours, our_grads = _states_and_grads(cell, packed, inputs, weights)
    reference, grads = _states_and_grads(cell, _stepped, inputs, weights)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    for ours_grad, grad in zip(our_grads, grads, strict=True):
        torch.testing.assert_close(ours_grad, grad, atol=1e-5, rtol=1e-5)


def test_previous_rows_point_at_the_same_trial_one_step_earlier() -> None:
    rows = previous_rows(BATCH_SIZES).tolist()
    expected, offset = [], 0
    for before, now in itertools.pairwise(BATCH_SIZES):
        expected += [offset + i for i in range(now)]
        offset += before
    assert rows == expected


def test_trained_tau_and_noise_are_not_packed() -> None:
    assert not supports_packed(LeakyRNNCell(3, 4, train_tau=True))
    noisy = LeakyRNNCell(3, 4, recurrent_noise=0.1)
    assert not supports_packed(noisy) and supports_packed(noisy.eval())
    with pytest.raises(ValueError, match="fixed leak"):
        packed_leaky(LeakyRNNCell(3, 4, train_tau=True), torch.zeros(2, 3), [1, 1])


@pytest.mark.parametrize("clip", [0.2, 0.05])
def test_ppo_loss_gradient_equals_autograd(clip: float) -> None:
    """The written-out gradient of PPO's loss equals autograd's on the same formula (clipped ratios, ties at
    ``r = 1`` and zero advantages included)."""
    torch.manual_seed(0)
    n, hidden_size, n_actions = 40, 8, 5
    hidden = torch.randn(n, hidden_size, requires_grad=True)
    weight = (0.3 * torch.randn(n_actions + 1, hidden_size)).requires_grad_()
    bias = torch.randn(n_actions + 1, requires_grad=True)
    actions = torch.randint(0, n_actions, (n,))
    with torch.no_grad():
        current = torch.log_softmax(torch.addmm(bias.unsqueeze(1), weight, hidden.t())[:n_actions], 0)
        old = current.gather(0, actions.unsqueeze(0)).squeeze(0) + 0.3 * torch.randn(n)
        old[:5] = current.gather(0, actions.unsqueeze(0)).squeeze(0)[:5]  # ratio exactly 1
    advantages, returns = torch.randn(n), torch.randn(n)
    advantages[5:8] = 0.0
    kwargs = {"clip": clip, "vf_coef": 0.5, "ent_coef": 0.03}
    loss, diagnostics = ppo_loss(hidden, weight, bias, actions, old, advantages, returns, **kwargs)
    ours = torch.autograd.grad(loss, (hidden, weight, bias))

    outputs = torch.addmm(bias.unsqueeze(1), weight, hidden.t())
    log_probs = torch.log_softmax(outputs[:n_actions], 0)
    log_ratio = log_probs.gather(0, actions.unsqueeze(0)).squeeze(0) - old
    ratio = log_ratio.exp()
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    value_loss = ((returns - outputs[n_actions]) ** 2).mean()
    entropy = (-(log_probs.exp() * log_probs).sum(0)).mean()
    reference = -surrogate.mean() + 0.5 * value_loss - 0.03 * entropy
    assert ((ratio - 1).abs() > clip).any()  # some ratios are clipped
    torch.testing.assert_close(loss, reference)
    expected = [-surrogate.mean(), value_loss, entropy, ((ratio - 1) - log_ratio).mean()]
    torch.testing.assert_close(diagnostics[:4], torch.stack(expected).detach())
    assert diagnostics[4] == ((ratio - 1).abs() > clip).float().mean()
    for ours_grad, grad in zip(ours, torch.autograd.grad(reference, (hidden, weight, bias)), strict=True):
        torch.testing.assert_close(ours_grad, grad, atol=1e-6, rtol=1e-5)
