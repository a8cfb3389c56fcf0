"""One-step recurrent cells: ``cell(x (B, n_in), h (B, state_size)) -> h (B, state_size)``.

The cell protocol is :class:`RecurrentCell` (a ``typing.Protocol``: sizes plus one step); a user's own
``nn.Module`` plugs in without subclassing. The same cell object serves supervised training (through the optional
``sequence`` fast path, which runs the whole time loop), step-by-step agents (RL) and fixed-point analysis (one
call per step). Three cells:

- :class:`LeakyRNNCell`: the leaky-integrator rate network of Yang et al. 2019 (Nat Neurosci 22:297), with the
  per-neuron trainable time constants and the two update forms of Khajehabdollahi, Zeraati et al. 2024 (ICLR;
  code LevinaLab/rnn_timescale_public).
- :class:`TorchGRUCell` and :class:`TorchLSTMCell`: torch's GRU and LSTM (``nn.GRU``, ``nn.LSTMCell``
  parameters and equations) behind the same protocol; the LSTM state is ``concat(h, c)``, shape ``(B, 2H)``.

Sequences are time-major: ``inputs (T, B, n_in) -> states (T, B, state_size)``, where ``states[t]`` is the state
after the step that read ``inputs[t]``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtrnn.agents.checks import check_number

__all__ = [
    "LEAKY_RELU_SLOPE",
    "Activation",
    "Init",
    "LeakyRNNCell",
    "RecurrentCell",
    "TorchGRUCell",
    "TorchLSTMCell",
    "check_cell",
    "hidden_of",
    "recurrent_gain",
    "run_sequence",
]

LEAKY_RELU_SLOPE = 0.01
"""Negative slope of :attr:`Activation.LEAKY_RELU` (torch's default, as in LevinaLab/rnn_timescale_public)."""


class Activation(enum.Enum):
    """The rate nonlinearity ``f`` of :class:`LeakyRNNCell`."""

    TANH = "tanh"
    RELU = "relu"
    SOFTPLUS = "softplus"
    LEAKY_RELU = "leaky_relu"


class Init(enum.Enum):
    """How :class:`LeakyRNNCell` initialises ``W_rec`` (``g`` = :func:`recurrent_gain` of the activation).

    ``ORTHOGONAL``: ``g`` times a random orthogonal matrix; ``DIAGONAL``: ``g·I`` (Yang 2019's paper networks:
    softplus with ``0.5·I``); ``NORMAL``: entries ``N(0, g²/H)``, i.e. ``g·N(0, 1)/√H``.
    """

    ORTHOGONAL = "orthogonal"
    DIAGONAL = "diagonal"
    NORMAL = "normal"


_ACTIVATIONS: dict[Activation, Callable[[Tensor], Tensor]] = {
    Activation.TANH: torch.tanh,
    Activation.RELU: torch.relu,
    Activation.SOFTPLUS: F.softplus,
    Activation.LEAKY_RELU: lambda x: F.leaky_relu(x, LEAKY_RELU_SLOPE),
}


def recurrent_gain(activation: Activation) -> float:
    """The scale ``g`` of the initial ``W_rec``: 1.0 for tanh, 0.5 otherwise (gyyang/multitask, ``w_rec_start``).

    Rectifying units need the smaller gain to keep activity bounded at the start of training.
    """
    return 1.0 if activation is Activation.TANH else 0.5


@runtime_checkable
class RecurrentCell(Protocol):
    """The cell protocol: what the trainer, RL agents and the analysis toolkit need from a recurrent cell.

    Any ``torch.nn.Module`` with these attributes and a one-step call plugs in, without subclassing anything of
    ours (the three cells below are ordinary implementations)::

        class MyCell(nn.Module):
            def __init__(self, n_inputs, hidden_size):
                super().__init__()
                self.n_inputs, self.hidden_size, self.state_size = n_inputs, hidden_size, hidden_size
                self.linear = nn.Linear(n_inputs + hidden_size, hidden_size)

            def forward(self, x, h):  # (B, n_inputs), (B, state_size) -> (B, state_size)
                return torch.tanh(self.linear(torch.cat((x, h), -1)))

    Optional fast paths, used when present (see :func:`run_sequence` and :func:`hidden_of`):

    * ``sequence(inputs (T, B, n_inputs), h0 (B, state_size)) -> (T, B, state_size)``: the whole time loop
      (ours fuse the input projection and noise over all steps); without it the loop calls the cell per step.
    * ``hidden(states (..., state_size)) -> (..., hidden_size)``: the part of the state a readout sees (the
      LSTM's ``h`` of ``concat(h, c)``); without it, the first ``hidden_size`` entries.

    Attributes:
        n_inputs: size of ``x``.
        hidden_size: number of units ``H`` (what a readout sees).
        state_size: size of the state ``h`` the cell maps (``H``; LSTM: ``2H``, ``concat(h, c)``).
    """

    n_inputs: int
    hidden_size: int
    state_size: int

    def __call__(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: ``x (B, n_inputs)``, ``h (B, state_size)`` -> next state ``(B, state_size)``."""
        ...


def check_cell(cell: object) -> None:
    """Raise ``TypeError`` naming what is missing when ``cell`` does not follow :class:`RecurrentCell` (it must
    also be a ``torch.nn.Module``, so that its parameters train and save)."""
    if not isinstance(cell, nn.Module):
        raise TypeError(f"cell must be a torch.nn.Module following RecurrentCell, got {type(cell).__name__}")
    for name in ("n_inputs", "hidden_size", "state_size"):
        value = getattr(cell, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TypeError(f"cell.{name} must be an int >= 1 (the RecurrentCell protocol), got {value!r}")
    if cell.state_size < cell.hidden_size:  # type: ignore[operator]
        raise TypeError(f"cell.state_size must be >= cell.hidden_size, got {cell.state_size} < {cell.hidden_size}")


def run_sequence(cell: RecurrentCell, inputs: Tensor, h0: Tensor) -> Tensor:
    """``inputs (T, B, n_inputs)``, ``h0 (B, state_size)`` -> states ``(T, B, state_size)``.

    Uses the cell's own ``sequence`` fast path when it has one, else calls the cell once per step.
    """
    sequence = getattr(cell, "sequence", None)
    if callable(sequence):
        result: Tensor = sequence(inputs, h0)
        return result
    h = h0
    states = []
    for x in inputs.unbind(0):
        h = cell(x, h)
        states.append(h)
    return torch.stack(states)


def hidden_of(cell: RecurrentCell, states: Tensor) -> Tensor:
    """The part of ``states (..., state_size)`` a readout sees, ``(..., hidden_size)``: the cell's ``hidden``
    when it has one, else the first ``hidden_size`` entries (all of them when ``state_size == hidden_size``)."""
    hidden = getattr(cell, "hidden", None)
    if callable(hidden):
        result: Tensor = hidden(states)
        return result
    return states if cell.state_size == cell.hidden_size else states[..., : cell.hidden_size]


class LeakyRNNCell(nn.Module):
    """Leaky-integrator rate units (Yang et al. 2019; Khajehabdollahi, Zeraati et al. 2024).

    With pre-activation ``p = W_in x + W_rec h + b + ξ`` and leak ``α`` (``α = dt/τ``; ``α_i = 1/τ_i`` per unit
    when τ is trained), one step is, with ``nonlinearity_inside=True`` (the default; Yang 2019's network, which
    is also Levina's "mod" variant ``RNN_Mod`` with ``α = 1/τ``)::

        h ← (1 − α) h + α f(p)

    and with ``nonlinearity_inside=False`` (Levina's main network ``RNN_Stack``, the nonlinearity wraps the whole
    leaky update)::

        h ← f((1 − α) h + α p)

    Recurrent noise ``ξ ~ N(0, σ²)`` with ``σ = σ_rec·√(2/α)`` (Yang's discretisation of white noise in
    continuous time; per unit ``σ_rec·√(2/α_i)`` when τ is trained) is added only in training mode.

    Trainable τ (``train_tau=True``, Levina): a parameter ``tau`` of shape ``(H,)`` in units of time steps,
    initialised ``1 + U(0, 1)``, used as ``max(τ_i, 1)`` (so ``α_i ≤ 1``); the diagonal of ``W_rec`` is zeroed at
    initialisation and masked in every step: the dynamics never see it and its gradient is 0, so gradient-based
    optimisers leave it at 0. Fixed τ (``train_tau=False``) is a plain float, not a parameter: no optimiser
    can change it.

    Initialisation: ``W_in ~ N(0, 1/n_inputs)``, ``b = 0`` (Yang 2019), ``W_rec`` per :class:`Init`.

    Args:
        n_inputs: size of ``x``.
        hidden_size: number of units ``H``.
        activation: ``f``.
        init: ``W_rec`` initialisation.
        alpha: fixed leak ``dt/τ`` in ``(0, 1]``; ignored when ``train_tau``.
        train_tau: per-unit trainable τ in steps as above.
        nonlinearity_inside: which update form (see above).
        recurrent_noise: ``σ_rec ≥ 0``.
    """

    weight_in: nn.Parameter
    weight_rec: nn.Parameter
    bias: nn.Parameter
    tau: nn.Parameter | None
    off_diagonal: Tensor
    """``1 − I``, ``(H, H)``: the mask on ``W_rec`` when τ is trained (a non-persistent buffer)."""

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int,
        *,
        activation: Activation = Activation.RELU,
        init: Init = Init.ORTHOGONAL,
        alpha: float = 0.2,
        train_tau: bool = False,
        nonlinearity_inside: bool = True,
        recurrent_noise: float = 0.0,
    ) -> None:
        super().__init__()
        alpha = check_number("alpha", alpha, low=0.0, high=1.0, low_open=True)
        recurrent_noise = check_number("recurrent_noise", recurrent_noise, low=0.0)
        if train_tau and init is Init.DIAGONAL:
            raise ValueError("init=Init.DIAGONAL is all on the diagonal of W_rec, which train_tau zeroes")
        self.n_inputs = n_inputs
        self.hidden_size = hidden_size
        self.state_size = hidden_size
        self.activation = activation
        self.init = init
        self.alpha = float(alpha)
        self.train_tau = train_tau
        self.nonlinearity_inside = nonlinearity_inside
        self.recurrent_noise = float(recurrent_noise)
        self._f = _ACTIVATIONS[activation]
        self.weight_in = nn.Parameter(torch.empty(hidden_size, n_inputs))
        self.weight_rec = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        if train_tau:
            self.tau = nn.Parameter(torch.empty(hidden_size))
            self.register_buffer("off_diagonal", 1.0 - torch.eye(hidden_size), persistent=False)
        else:
            self.tau = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights from torch's global RNG (seed it with ``torch.manual_seed``)."""
        gain = recurrent_gain(self.activation)
        with torch.no_grad():
            nn.init.normal_(self.weight_in, 0.0, 1.0 / math.sqrt(self.n_inputs))
            nn.init.zeros_(self.bias)
            if self.init is Init.ORTHOGONAL:
                nn.init.orthogonal_(self.weight_rec, gain=gain)
            elif self.init is Init.DIAGONAL:
                self.weight_rec.copy_(gain * torch.eye(self.hidden_size))
            else:
                nn.init.normal_(self.weight_rec, 0.0, gain / math.sqrt(self.hidden_size))
            if self.tau is not None:
                self.tau.copy_(1.0 + torch.rand(self.hidden_size))
                self.weight_rec.fill_diagonal_(0.0)

    @property
    def tau_steps(self) -> Tensor:
        """Each unit's effective time constant in steps, shape ``(H,)``: ``1/α`` (fixed) or ``max(τ_i, 1)``."""
        if self.tau is None:
            return torch.full_like(self.bias, 1.0 / self.alpha)
        return torch.clamp(self.tau, min=1.0)

    def leak(self) -> float | Tensor:
        """``α``: the fixed float, or the per-unit ``1/max(τ_i, 1)`` of shape ``(H,)`` (differentiable in τ)."""
        if self.tau is None:
            return self.alpha
        return 1.0 / torch.clamp(self.tau, min=1.0)

    def noise_std(self) -> float | Tensor:
        """Standard deviation of the recurrent noise, ``σ_rec·√(2/α)`` (per unit, detached, if τ is trained)."""
        if self.tau is None:
            return self.recurrent_noise * math.sqrt(2.0 / self.alpha)
        return self.recurrent_noise * torch.sqrt(2.0 * torch.clamp(self.tau.detach(), min=1.0))

    def recurrent_weight(self) -> Tensor:
        """The ``W_rec`` the dynamics use, ``(H, H)`` (diagonal masked to 0 when τ is trained)."""
        if self.tau is None:
            return self.weight_rec
        return self.weight_rec * self.off_diagonal

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """``W_in x + b`` plus, in training mode, the recurrent noise: ``(..., n_inputs) -> (..., H)``."""
        drive = F.linear(inputs, self.weight_in, self.bias)
        if self.training and self.recurrent_noise > 0:
            # Scaled and summed in the noise tensor itself: one fresh (T, B, H) buffer per call, not two.
            drive = torch.randn_like(drive).mul_(self.noise_std()).add_(drive)
        return drive

    def _update(self, h: Tensor, pre: Tensor, alpha: float | Tensor) -> Tensor:
        if self.nonlinearity_inside:
            return torch.lerp(h, self._f(pre), alpha)
        return self._f(torch.lerp(h, pre, alpha))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: ``x (B, n_inputs)``, ``h (B, H)`` -> ``(B, H)``."""
        pre = torch.addmm(self.project_inputs(x), h, self.recurrent_weight().t())
        return self._update(h, pre, self.leak())

    def sequence(self, inputs: Tensor, h0: Tensor) -> Tensor:
        """``inputs (T, B, n_inputs)``, ``h0 (B, H)`` -> states ``(T, B, H)``.

        The input projection (and the noise) is one operation over all ``T·B`` rows; the loop iterates over
        ``unbind`` views and stacks the states once (indexing ``u[t]`` inside the loop makes backward slow).
        """
        drive = self.project_inputs(inputs)
        weight_t = self.recurrent_weight().t()
        alpha = self.leak()
        h = h0
        states = []
        for drive_t in drive.unbind(0):
            h = self._update(h, torch.addmm(drive_t, h, weight_t), alpha)
            states.append(h)
        return torch.stack(states)

    def hidden(self, states: Tensor) -> Tensor:
        """The part of ``states (..., H)`` a readout sees: all of it."""
        return states

    def extra_repr(self) -> str:
        tau = "trainable" if self.train_tau else f"alpha={self.alpha:g}"
        return (
            f"{self.n_inputs}, {self.hidden_size}, activation={self.activation.value}, init={self.init.value}, "
            f"{tau}, nonlinearity_inside={self.nonlinearity_inside}, recurrent_noise={self.recurrent_noise:g}"
        )


class TorchGRUCell(nn.Module):
    """torch's GRU (``nn.GRU``, one layer) as a cell; state ``h (B, H)``.

    The whole sequence runs through ``nn.GRU`` itself; one step is ``nn.GRU`` on a length-1 sequence, so both
    paths use the same parameters (``cell.gru.weight_ih_l0`` etc.) and torch's initialisation.
    """

    def __init__(self, n_inputs: int, hidden_size: int) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        self.hidden_size = hidden_size
        self.state_size = hidden_size
        self.gru = nn.GRU(n_inputs, hidden_size)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: ``x (B, n_inputs)``, ``h (B, H)`` -> ``(B, H)``."""
        return self.gru(x.unsqueeze(0), h.unsqueeze(0))[0][0]

    def sequence(self, inputs: Tensor, h0: Tensor) -> Tensor:
        """``inputs (T, B, n_inputs)``, ``h0 (B, H)`` -> ``(T, B, H)``."""
        return self.gru(inputs, h0.unsqueeze(0))[0]

    def hidden(self, states: Tensor) -> Tensor:
        """The part of ``states (..., H)`` a readout sees: all of it."""
        return states


class TorchLSTMCell(nn.Module):
    """torch's LSTM (``nn.LSTMCell`` parameters and gate order i, f, g, o) as a cell; state ``concat(h, c)``.

    ``state_size = 2H``: ``state[..., :H]`` is ``h`` (what the readout sees), ``state[..., H:]`` is ``c``.
    :meth:`sequence` runs the same equations with the input projection done once for the whole sequence, and
    returns ``c`` at every step too (``nn.LSTM`` only returns ``h``).
    """

    def __init__(self, n_inputs: int, hidden_size: int) -> None:
        super().__init__()
        self.n_inputs = n_inputs
        self.hidden_size = hidden_size
        self.state_size = 2 * hidden_size
        self.lstm = nn.LSTMCell(n_inputs, hidden_size)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: ``x (B, n_inputs)``, ``h = concat(h, c) (B, 2H)`` -> ``(B, 2H)``."""
        hidden, cell = h.split(self.hidden_size, dim=-1)
        hidden, cell = self.lstm(x, (hidden, cell))
        return torch.cat((hidden, cell), dim=-1)

    def sequence(self, inputs: Tensor, h0: Tensor) -> Tensor:
        """``inputs (T, B, n_inputs)``, ``h0 (B, 2H)`` -> ``(T, B, 2H)``."""
        lstm = self.lstm
        gates_in = F.linear(inputs, lstm.weight_ih, lstm.bias_ih + lstm.bias_hh)
        weight_t = lstm.weight_hh.t()
        hidden, cell = h0.split(self.hidden_size, dim=-1)
        hiddens, cells = [], []
        for gates_t in gates_in.unbind(0):
            i, f, g, o = torch.addmm(gates_t, hidden, weight_t).chunk(4, dim=-1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            hiddens.append(hidden)
            cells.append(cell)
        return torch.cat((torch.stack(hiddens), torch.stack(cells)), dim=-1)

    def hidden(self, states: Tensor) -> Tensor:
        """``h``, the first ``H`` of ``concat(h, c)``: ``(..., 2H) -> (..., H)``."""
        return states[..., : self.hidden_size]
