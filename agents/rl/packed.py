"""Packed recurrent passes with hand-written backpropagation through time, for PPO's updates.

A PPO update re-runs the policy over trials of very different lengths (early in training most abort within a
step or two, a few run to the end), packed time-major as :class:`torch.nn.utils.rnn.PackedSequence` stores them:
step ``t`` holds the first ``batch_sizes[t]`` trials (longest first). At hidden size 64 the cost of such a pass is
the number of operations per time step, not arithmetic: autograd records ~10 nodes per step and replays each in
backward (torch's own packed LSTM backward even zero-fills the whole packed gradient once per step, quadratic in
the sequence length). The two :class:`torch.autograd.Function` s here run the time loop with a handful of torch
calls per step in each direction and compute everything that does not depend on the previous step once over all
``N`` packed rows: the input projection, the activations' derivatives, and the weight gradients (one matrix
product each, ``dW = dP^T · h_prev``, instead of one per step).

* :func:`packed_leaky`: :class:`~mtrnn.agents.cells.LeakyRNNCell` with a fixed leak (both update forms, every
  activation); its forward is the same sequence of torch calls as the cell's own step (``addmm``, ``f``,
  ``lerp``), so the hidden states equal the cell's bit for bit.
* :func:`packed_lstm`: :class:`~mtrnn.agents.cells.TorchLSTMCell` (``nn.LSTMCell`` equations, gates i, f, g, o),
  the same calls as :meth:`TorchLSTMCell.sequence`.

Gradients are those of autograd on the same forward up to float rounding (sums are taken in another order).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx

from mtrnn.agents.cells import LEAKY_RELU_SLOPE, Activation, LeakyRNNCell, TorchLSTMCell

__all__ = ["packed_leaky", "packed_lstm", "previous_rows", "supports_packed"]


def previous_rows(batch_sizes: list[int]) -> Tensor:
    """For every packed row from step 1 on, the row of the same trial at the step before: ``(N − b_0,)`` int64.

    Row ``r`` of step ``t ≥ 1`` is trial ``r − off_t``, which sat at row ``r − b_{t−1}`` one step earlier
    (``off_t`` the first row of step ``t``, ``b_t = batch_sizes[t]``).
    """
    sizes = torch.tensor(batch_sizes, dtype=torch.long)
    rows = torch.arange(int(batch_sizes[0]), int(sizes.sum()), dtype=torch.long)
    return rows - torch.repeat_interleave(sizes[:-1], sizes[1:])


def supports_packed(cell: object) -> bool:
    """Whether :func:`packed_leaky` or :func:`packed_lstm` runs ``cell`` (a fixed-leak :class:`LeakyRNNCell`
    without recurrent noise in the current mode, or a :class:`TorchLSTMCell`)."""
    if isinstance(cell, TorchLSTMCell):
        return True
    if isinstance(cell, LeakyRNNCell):
        return cell.tau is None and not (cell.training and cell.recurrent_noise > 0)
    return False


def _activate(activation: Activation, x: Tensor) -> Tensor:
    if activation is Activation.TANH:
        return torch.tanh(x)
    if activation is Activation.RELU:
        return torch.relu(x)
    if activation is Activation.SOFTPLUS:
        return F.softplus(x)
    return F.leaky_relu(x, LEAKY_RELU_SLOPE)


def _derivative(activation: Activation, x: Tensor, y: Tensor) -> Tensor:
    """``f'(x)`` from the pre-activation ``x`` and ``y = f(x)``, elementwise (as autograd's backward of ``f``)."""
    if activation is Activation.TANH:
        return 1.0 - y * y
    if activation is Activation.RELU:
        return (y > 0).to(y.dtype)
    if activation is Activation.SOFTPLUS:
        return torch.where(x > 20.0, 1.0, torch.sigmoid(x))  # F.softplus is linear above its threshold 20
    return torch.where(x > 0, 1.0, LEAKY_RELU_SLOPE).to(y.dtype)


def _weight_grads(
    grad_pre: Tensor, inputs: Tensor, hidden: Tensor, batch_sizes: list[int], previous: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of ``pre = x W_in^T + h_prev W_rec^T + b`` from ``grad_pre (N, P)``, one product each.

    ``inputs (N, n_in)``, ``hidden (N, H)`` the packed states (``h_prev`` of a row is the row
    :func:`previous_rows` names; it is 0 at step 0, whose rows add nothing to ``W_rec``'s gradient).

    Returns:
        ``grad W_in (P, n_in)``, ``grad W_rec (P, H)``, ``grad b (P,)``.
    """
    if previous is None:
        previous = previous_rows(batch_sizes).to(hidden.device)
    # x^T·g is computed as (x^T g) rather than g^T·x: with N ≫ P the second layout is several times slower
    grad_in = inputs.t().mm(grad_pre).t()
    grad_rec = hidden[previous].t().mm(grad_pre[batch_sizes[0] :]).t()
    return grad_in, grad_rec, grad_pre.sum(0)


class _PackedLeaky(torch.autograd.Function):
    """``h_t = lerp(h_{t−1}, f(p_t), α)`` (inside) or ``f(lerp(h_{t−1}, p_t, α))`` (outside) with
    ``p_t = W_in x_t + b + W_rec h_{t−1}``, on packed rows from the zero state."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        inputs: Tensor,
        batch_sizes: list[int],
        weight_in: Tensor,
        weight_rec: Tensor,
        bias: Tensor,
        alpha: float,
        activation: Activation,
        inside: bool,
    ) -> Tensor:
        drives = F.linear(inputs, weight_in, bias).split(batch_sizes)
        weight_t = weight_rec.t()
        hidden = inputs.new_empty(inputs.shape[0], weight_rec.shape[0])
        # what f' is computed from: f(p) for tanh (inside), p for the other activations, q = lerp(h, p, α) (outside)
        saved = torch.empty_like(hidden)
        hiddens, saveds = hidden.split(batch_sizes), saved.split(batch_sizes)
        h = inputs.new_zeros(batch_sizes[0], weight_rec.shape[0])
        for t, drive in enumerate(drives):
            n = drive.shape[0]
            previous = h if n == h.shape[0] else h[:n]
            h = hiddens[t]
            if inside:
                if activation is Activation.TANH:
                    rate = torch.tanh(torch.addmm(drive, previous, weight_t), out=saveds[t])
                else:
                    rate = _activate(activation, torch.addmm(drive, previous, weight_t, out=saveds[t]))
                torch.lerp(previous, rate, alpha, out=h)
            else:
                pre = torch.addmm(drive, previous, weight_t)
                h.copy_(_activate(activation, torch.lerp(previous, pre, alpha, out=saveds[t])))
        ctx.save_for_backward(inputs, weight_rec, hidden, saved)
        ctx.batch_sizes = batch_sizes  # type: ignore[attr-defined]
        ctx.alpha, ctx.activation, ctx.inside = alpha, activation, inside  # type: ignore[attr-defined]
        return hidden

    @staticmethod
    def backward(ctx: Any, grad_hidden: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight_rec, hidden, saved = ctx.saved_tensors
        batch_sizes: list[int] = ctx.batch_sizes
        alpha: float = ctx.alpha
        activation: Activation = ctx.activation
        inside: bool = ctx.inside
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("packed_leaky does not differentiate its inputs")
        if inside:  # d h / d p = α f'(p);  d h / d h_prev = (1 − α) + d p · W_rec
            output = saved if activation is Activation.TANH else _activate(activation, saved)
            slope = _derivative(activation, saved, output).mul_(alpha)
            matrix = weight_rec
        else:  # h = f(q), q = (1 − α) h_prev + α p:  d h_prev = d q · ((1 − α) I + α W_rec), d p = α d q
            slope = _derivative(activation, saved, hidden)
            matrix = torch.eye(weight_rec.shape[0], dtype=weight_rec.dtype, device=weight_rec.device)
            matrix = torch.lerp(matrix, weight_rec, alpha)
        grad = grad_hidden.clone(memory_format=torch.contiguous_format)  # accumulates d h_t over the steps after t
        delta = torch.empty_like(grad)  # d p (inside) or d q (outside)
        grads, slopes, deltas = grad.split(batch_sizes), slope.split(batch_sizes), delta.split(batch_sizes)
        keep = 1.0 - alpha
        for t in range(len(batch_sizes) - 1, -1, -1):
            g = grads[t]
            d = torch.mul(g, slopes[t], out=deltas[t])
            if t:
                n = batch_sizes[t]
                previous = grads[t - 1] if n == batch_sizes[t - 1] else grads[t - 1][:n]
                if inside:
                    previous.add_(g, alpha=keep)
                previous.addmm_(d, matrix)
        if not inside:
            delta.mul_(alpha)
        grad_in, grad_rec, grad_bias = _weight_grads(delta, inputs, hidden, batch_sizes)
        return None, None, grad_in, grad_rec, grad_bias, None, None, None


def packed_leaky(cell: LeakyRNNCell, inputs: Tensor, batch_sizes: list[int]) -> Tensor:
    """Hidden states of ``cell`` on packed trials from the zero state, with a fused backward.

    Args:
        cell: a fixed-leak :class:`LeakyRNNCell` (see :func:`supports_packed`).
        inputs: ``(N, n_inputs)`` packed observations (not differentiated).
        batch_sizes: ``T`` non-increasing trial counts, ``sum = N``.

    Returns:
        ``(N, H)`` packed states, equal to stepping ``cell`` on the shrinking batch.
    """
    if not supports_packed(cell):
        raise ValueError("packed_leaky needs a LeakyRNNCell with a fixed leak and no recurrent noise")
    result: Tensor = _PackedLeaky.apply(
        inputs,
        batch_sizes,
        cell.weight_in,
        cell.weight_rec,
        cell.bias,
        cell.alpha,
        cell.activation,
        cell.nonlinearity_inside,
    )
    return result


def _gate_order(size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rows of ``nn.LSTMCell``'s gate weights (i, f, g, o) in the order the packed pass uses, (o, i, f, g), and the
    inverse permutation: the three sigmoid gates are one contiguous block and g another (so each step has
    contiguous inputs for σ and tanh), and (i, f, g), the gates scaled by ``dc`` in backward, are contiguous too."""
    order = torch.cat([torch.arange(k * size, (k + 1) * size, device=device) for k in (3, 0, 1, 2)])
    return order, torch.argsort(order)


class _PackedLSTM(torch.autograd.Function):
    """``nn.LSTMCell``'s equations on packed rows from the zero state; returns the packed ``h``."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        inputs: Tensor,
        batch_sizes: list[int],
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias_ih: Tensor,
        bias_hh: Tensor,
    ) -> Tensor:
        size = weight_hh.shape[1]
        n_rows = inputs.shape[0]
        order, _ = _gate_order(size, inputs.device)
        weight_hh = weight_hh[order]  # rows (o, i, f, g)
        drive = F.linear(inputs, weight_ih[order], (bias_ih + bias_hh)[order])
        drives_s, drives_g = drive[:, : 3 * size].split(batch_sizes), drive[:, 3 * size :].split(batch_sizes)
        weight_s, weight_g = weight_hh[: 3 * size].t(), weight_hh[3 * size :].t()
        # per row, written in place: σ(o, i, f), tanh(g), c, tanh(c), h
        sigmoids = inputs.new_empty(n_rows, 3 * size)
        candidate, cell, tanh_cell, hidden = (inputs.new_empty(n_rows, size) for _ in range(4))
        sigmoids_t, candidates, cells, tanh_cells, hiddens = (
            x.split(batch_sizes) for x in (sigmoids, candidate, cell, tanh_cell, hidden)
        )
        o_s, i_s, f_s = (sigmoids.narrow(1, k * size, size).split(batch_sizes) for k in range(3))
        h = c = inputs.new_zeros(batch_sizes[0], size)
        for t in range(len(batch_sizes)):
            if batch_sizes[t] != h.shape[0]:
                n = batch_sizes[t]
                h, c = h[:n], c[:n]
            torch.sigmoid(torch.addmm(drives_s[t], h, weight_s), out=sigmoids_t[t])
            g = torch.tanh(torch.addmm(drives_g[t], h, weight_g), out=candidates[t])
            c = torch.mul(f_s[t], c, out=cells[t]).addcmul_(i_s[t], g)
            h = torch.mul(o_s[t], torch.tanh(c, out=tanh_cells[t]), out=hiddens[t])
        ctx.save_for_backward(inputs, weight_hh, hidden, candidate, cell, tanh_cell, sigmoids)
        ctx.batch_sizes = batch_sizes  # type: ignore[attr-defined]
        return hidden

    @staticmethod
    def backward(ctx: Any, grad_hidden: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight_hh, hidden, g, cell, tanh_cell, sigmoids = ctx.saved_tensors  # gates in order (o, i, f, g)
        batch_sizes: list[int] = ctx.batch_sizes
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("packed_lstm does not differentiate its inputs")
        size, first = hidden.shape[1], batch_sizes[0]
        previous = previous_rows(batch_sizes).to(hidden.device)
        o, i, f = sigmoids.chunk(3, 1)
        # scale = d gate pre-activations / d [h, c, c, c]: [tanh(c) σ'(o), g σ'(i), c_prev σ'(f), i (1 − g²)]
        scale = inputs.new_empty(hidden.shape[0], 4 * size)
        torch.mul(sigmoids, sigmoids, out=scale[:, : 3 * size])
        torch.sub(sigmoids, scale[:, : 3 * size], out=scale[:, : 3 * size])  # σ' = σ − σ²
        s_o, s_i, s_f, s_g = scale.chunk(4, 1)
        s_o.mul_(tanh_cell)
        s_i.mul_(g)
        s_f[:first].zero_()
        s_f[first:].mul_(cell[previous])
        torch.mul(g, g, out=s_g).mul_(i)
        torch.sub(i, s_g, out=s_g)
        h_to_c = torch.mul(tanh_cell, tanh_cell).mul_(o)  # d c / d h (through tanh(c)) = o (1 − tanh² c)
        torch.sub(o, h_to_c, out=h_to_c)
        grad_h = grad_hidden.clone(memory_format=torch.contiguous_format)  # sums d h_t over the later steps
        grad_c = torch.zeros_like(grad_h)
        grad_gates = torch.empty_like(scale)
        hs, cs, h_to_cs, forgets = (x.split(batch_sizes) for x in (grad_h, grad_c, h_to_c, f))
        ds, scales = grad_gates.split(batch_sizes), scale.split(batch_sizes)
        for t in range(len(batch_sizes) - 1, -1, -1):
            dh, dc, n = hs[t], cs[t], batch_sizes[t]
            dc.addcmul_(dh, h_to_cs[t])
            # contiguous (n, 4H) rows: a broadcast product into strided views is several times slower
            torch.cat((dh, dc, dc, dc), dim=1, out=ds[t]).mul_(scales[t])
            if t:
                if n == batch_sizes[t - 1]:
                    hs[t - 1].addmm_(ds[t], weight_hh)
                    cs[t - 1].addcmul_(dc, forgets[t])
                else:
                    hs[t - 1][:n].addmm_(ds[t], weight_hh)
                    cs[t - 1][:n].addcmul_(dc, forgets[t])
        grad_ih, grad_hh, grad_bias = _weight_grads(grad_gates, inputs, hidden, batch_sizes, previous)
        _, back = _gate_order(size, hidden.device)
        grad_bias = grad_bias[back]
        return None, None, grad_ih[back], grad_hh[back], grad_bias, grad_bias


def packed_lstm(cell: TorchLSTMCell, inputs: Tensor, batch_sizes: list[int]) -> Tensor:
    """``h`` of ``cell`` on packed trials from the zero state, with a fused backward.

    Args:
        cell: a :class:`TorchLSTMCell`.
        inputs: ``(N, n_inputs)`` packed observations (not differentiated).
        batch_sizes: ``T`` non-increasing trial counts, ``sum = N``.

    Returns:
        ``(N, H)`` packed hidden states ``h`` (not ``c``).
    """
    lstm = cell.lstm
    result: Tensor = _PackedLSTM.apply(inputs, batch_sizes, lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh)
    return result
