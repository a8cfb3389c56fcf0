"""The packed passes with hand-written backpropagation (:mod:`mtrnn.agents.rl.packed`) give the states and
gradients of stepping the cell with autograd on the shrinking batch."""

from __future__ import annotations

import itertools

import pytest
import torch

from mtrnn.agents.cells import Activation, LeakyRNNCell, TorchLSTMCell, hidden_of
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


@pytest.mark.parametrize(("activation", "alpha", "inside"), CELLS)
def test_packed_leaky_equals_stepping_the_cell(activation: Activation, alpha: float, inside: bool) -> None:
    torch.manual_seed(0)
    cell = LeakyRNNCell(9, 16, activation=activation, alpha=alpha, nonlinearity_inside=inside)
    inputs, weights = torch.randn(sum(BATCH_SIZES), 9), torch.randn(sum(BATCH_SIZES), 16)
    assert supports_packed(cell)
    ours, our_grads = _states_and_grads(cell, packed_leaky, inputs, weights)
    reference, grads = _states_and_grads(cell, _stepped, inputs, weights)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    for ours_grad, grad in zip(our_grads, grads, strict=True):
        torch.testing.assert_close(ours_grad, grad, atol=1e-5, rtol=1e-5)


def test_packed_lstm_equals_stepping_the_cell() -> None:
    torch.manual_seed(0)
    cell = TorchLSTMCell(9, 16)
    inputs, weights = torch.randn(sum(BATCH_SIZES), 9), torch.randn(sum(BATCH_SIZES), 16)
    ours, our_grads = _states_and_grads(cell, packed_lstm, inputs, weights)
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
