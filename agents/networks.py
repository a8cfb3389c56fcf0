"""Recurrent networks: a frozen :class:`NetworkConfig`, :class:`RecurrentNetwork` and :func:`build_network`.

A network is a one-step cell (:mod:`mtrnn.agents.cells`) plus a linear readout, possibly split into heads::

    net = build_network(NetworkConfig(hidden_size=256), n_inputs=85, n_outputs=33)
    outputs, states = net(inputs)          # (T, B, 85) -> (T, B, 33), (T, B, 256)
    h = net.cell(x, h)                     # one step, (B, 85), (B, 256) -> (B, 256)

The leaky RNN follows Yang et al. 2019 (Nat Neurosci 22:297; gyyang/multitask): ``α = dt/τ``,
``h ← (1 − α)h + α f(W_in x + W_rec h + b + ξ)``, recurrent noise ``σ_rec·√(2/α)`` in training only. Trainable
per-unit time constants and Levina's update form follow Khajehabdollahi, Zeraati et al. 2024 (ICLR;
LevinaLab/rnn_timescale_public). GRU and LSTM are torch's.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mtrnn.agents.cells import (
    Activation,
    Init,
    LeakyRNNCell,
    RecurrentCell,
    TorchGRUCell,
    TorchLSTMCell,
)

__all__ = [
    "Activation",
    "Architecture",
    "Init",
    "NetworkConfig",
    "OutputActivation",
    "RecurrentNetwork",
    "build_network",
]


class Architecture(enum.Enum):
    """Which recurrent cell a network uses."""

    LEAKY_RNN = "leaky_rnn"
    """:class:`~mtrnn.agents.cells.LeakyRNNCell` (Yang 2019 / Levina)."""
    GRU = "gru"
    """torch's GRU (:class:`~mtrnn.agents.cells.TorchGRUCell`)."""
    LSTM = "lstm"
    """torch's LSTM, state ``concat(h, c)`` (:class:`~mtrnn.agents.cells.TorchLSTMCell`)."""


class OutputActivation(enum.Enum):
    """Applied to the readout: ``IDENTITY`` (logits, e.g. for cross-entropy) or ``SIGMOID`` (Yang's squared loss)."""

    IDENTITY = "identity"
    SIGMOID = "sigmoid"


_ENUM_FIELDS: dict[str, type[enum.Enum]] = {
    "architecture": Architecture,
    "activation": Activation,
    "init": Init,
    "output_activation": OutputActivation,
}


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"NetworkConfig.{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"NetworkConfig.{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that defines a network's architecture and dynamics (not its sizes: those come from the task).

    Validated on construction; a bad value raises ``TypeError``/``ValueError`` naming the field.
    """

    architecture: Architecture = Architecture.LEAKY_RNN
    """The recurrent cell. The fields below marked *leaky only* are ignored by GRU and LSTM."""
    hidden_size: int = 256
    """Number of recurrent units ``H`` (>= 1). The LSTM state has ``2H`` entries, ``concat(h, c)``."""
    activation: Activation = Activation.RELU
    """*Leaky only.* The rate nonlinearity ``f`` (Yang's code default: relu; his paper: softplus)."""
    init: Init = Init.ORTHOGONAL
    """*Leaky only.* ``W_rec`` initialisation, scaled by ``g`` = 1.0 (tanh) or 0.5 (others), as in Yang's code."""
    dt: float = 20.0
    """Time step in ms (> 0); must match the task's ``dt``."""
    tau: float = 100.0
    """*Leaky only.* Fixed membrane time constant in ms (>= dt); ``alpha = dt / tau``. Unused by the dynamics
    when ``train_tau`` (then each unit has its own τ in steps)."""
    train_tau: bool = False
    """*Leaky only.* Per-unit trainable τ, in time steps (Levina): initialised ``1 + U(0, 1)`` steps, used as
    ``max(τ_i, 1)`` steps (``max(τ_i, 1)·dt`` ms), ``α_i = 1/max(τ_i, 1)``; the diagonal of ``W_rec`` is zeroed
    and stays 0. When False, τ is a constant, not a parameter."""
    nonlinearity_inside: bool = True
    """*Leaky only.* True: ``h ← (1 − α)h + α f(p)`` (Yang 2019; identical to Levina's "mod" variant, whose
    nonlinearity sits inside the leaky sum). False: ``h ← f((1 − α)h + α p)`` (Levina's main network). Here
    ``p = W_in x + W_rec h + b + noise``."""
    recurrent_noise: float = 0.05
    """*Leaky only.* ``σ_rec >= 0``; the noise actually added to ``p`` has std ``σ_rec·√(2/α)`` (Yang), and is
    added only in training mode (``network.train()``)."""
    output_activation: OutputActivation = OutputActivation.IDENTITY
    """Applied to the readout (SIGMOID for Yang's squared loss, IDENTITY for logits)."""

    def __post_init__(self) -> None:
        for name, kind in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                allowed = ", ".join(f"{kind.__name__}.{member.name}" for member in kind)
                raise TypeError(f"NetworkConfig.{name} must be one of {allowed}; got {value!r}")
        if isinstance(self.hidden_size, bool) or not isinstance(self.hidden_size, int):
            raise TypeError(f"NetworkConfig.hidden_size must be an int >= 1, got {type(self.hidden_size).__name__}")
        if self.hidden_size < 1:
            raise ValueError(f"NetworkConfig.hidden_size must be an int >= 1, got {self.hidden_size}")
        dt = _number("dt", self.dt)
        tau = _number("tau", self.tau)
        noise = _number("recurrent_noise", self.recurrent_noise)
        if dt <= 0:
            raise ValueError(f"NetworkConfig.dt must be > 0 ms, got {dt}")
        if tau < dt:
            raise ValueError(f"NetworkConfig.tau must be >= dt = {dt} ms (alpha = dt/tau in (0, 1]), got {tau}")
        if noise < 0:
            raise ValueError(f"NetworkConfig.recurrent_noise must be >= 0, got {noise}")
        for name in ("train_tau", "nonlinearity_inside"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"NetworkConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.train_tau and self.architecture is not Architecture.LEAKY_RNN:
            raise ValueError(
                f"NetworkConfig.train_tau applies to architecture=Architecture.LEAKY_RNN only, got {self.architecture}"
            )
        if self.train_tau and self.init is Init.DIAGONAL:
            raise ValueError(
                "NetworkConfig.init=Init.DIAGONAL puts all of W_rec on its diagonal, which train_tau zeroes; "
                "use Init.ORTHOGONAL or Init.NORMAL"
            )
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "tau", tau)
        object.__setattr__(self, "recurrent_noise", noise)

    @property
    def alpha(self) -> float:
        """``dt / tau`` in ``(0, 1]``: the fixed leak of the leaky RNN (unused when ``train_tau``)."""
        return self.dt / self.tau

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (enums as their values); inverse of :meth:`from_dict`."""
        data: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            data[field.name] = value.value if isinstance(value, enum.Enum) else value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkConfig:
        """Build from a (JSON) mapping; enum fields take their values (``"relu"``) or members; missing = default.

        Raises ``ValueError`` for unknown keys or enum values, naming them and the allowed ones.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"NetworkConfig.from_dict needs a mapping, got {type(data).__name__}")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"NetworkConfig has no field(s) {unknown}; fields are {names}")
        values = dict(data)
        for name, kind in _ENUM_FIELDS.items():
            if name in values and not isinstance(values[name], kind):
                try:
                    values[name] = kind(values[name])
                except ValueError:
                    allowed = [member.value for member in kind]
                    raise ValueError(f"NetworkConfig.{name} must be one of {allowed}, got {values[name]!r}") from None
        return cls(**values)


def _head_sizes(n_outputs: int | Sequence[int]) -> tuple[int, ...]:
    sizes = (n_outputs,) if isinstance(n_outputs, int) else n_outputs
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) == 0:
        raise TypeError(f"n_outputs must be an int >= 1 or a non-empty sequence of them, got {n_outputs!r}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"n_outputs must be an int >= 1 or a non-empty sequence of them, got {n_outputs!r}")
        if size < 1:
            raise ValueError(f"n_outputs entries must be >= 1, got {n_outputs!r}")
    return tuple(sizes)


def _make_cell(config: NetworkConfig, n_inputs: int) -> RecurrentCell:
    if config.architecture is Architecture.GRU:
        return TorchGRUCell(n_inputs, config.hidden_size)
    if config.architecture is Architecture.LSTM:
        return TorchLSTMCell(n_inputs, config.hidden_size)
    return LeakyRNNCell(
        n_inputs,
        config.hidden_size,
        activation=config.activation,
        init=config.init,
        alpha=config.alpha,
        train_tau=config.train_tau,
        nonlinearity_inside=config.nonlinearity_inside,
        recurrent_noise=config.recurrent_noise,
    )


class RecurrentNetwork(nn.Module):
    """A recurrent cell and a linear readout (optionally several heads), time-major.

    Attributes:
        config: the :class:`NetworkConfig` it was built from.
        n_inputs: input size.
        n_outputs: total output size, ``sum(head_sizes)``.
        head_sizes: one entry per readout head (a single head: ``(n_outputs,)``).
        state_size: ``H`` (LSTM: ``2H``, state ``concat(h, c)``).
        cell: the one-step cell ``cell(x (B, n_inputs), h (B, state_size)) -> (B, state_size)``, the same
            object (and parameters) :meth:`forward` runs.
        readout: ``nn.Linear(H, n_outputs)``; head ``k`` is the slice of its rows for that head, which is the
            same as one linear layer per head. Initialised Glorot-uniform, bias 0 (Yang 2019).

    Build with :func:`build_network`. Seed torch's global RNG (``torch.manual_seed``) for reproducible weights
    and recurrent noise.
    """

    def __init__(self, config: NetworkConfig, n_inputs: int, n_outputs: int | Sequence[int]) -> None:
        super().__init__()
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int):
            raise TypeError(f"n_inputs must be an int >= 1, got {n_inputs!r}")
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be an int >= 1, got {n_inputs}")
        self.config = config
        self.n_inputs = n_inputs
        self.head_sizes = _head_sizes(n_outputs)
        self.n_outputs = sum(self.head_sizes)
        self.cell = _make_cell(config, n_inputs)
        self.state_size = self.cell.state_size
        self.readout = nn.Linear(config.hidden_size, self.n_outputs)
        with torch.no_grad():
            nn.init.xavier_uniform_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

    def initial_state(self, batch_size: int) -> Tensor:
        """Zeros ``(batch_size, state_size)`` on the parameters' device and dtype."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        weight = self.readout.weight
        return weight.new_zeros(batch_size, self.state_size)

    def outputs_from_states(self, states: Tensor) -> Tensor:
        """Readout plus output activation: ``(..., state_size) -> (..., n_outputs)``."""
        outputs = self.readout(self.cell.hidden(states))
        if self.config.output_activation is OutputActivation.SIGMOID:
            outputs = torch.sigmoid(outputs)
        return outputs

    def forward(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run a whole batch of sequences.

        Args:
            inputs: ``(T, B, n_inputs)``, time-major.
            h0: initial state ``(B, state_size)``; zeros when None.

        Returns:
            ``outputs (T, B, n_outputs)`` after the output activation and ``states (T, B, state_size)``, where
            ``states[t]`` follows the step that read ``inputs[t]``.
        """
        if inputs.dim() != 3 or inputs.shape[-1] != self.n_inputs:
            raise ValueError(f"inputs must have shape (T, B, n_inputs={self.n_inputs}), got {tuple(inputs.shape)}")
        batch_size = inputs.shape[1]
        if h0 is None:
            h0 = inputs.new_zeros(batch_size, self.state_size)
        elif h0.shape != (batch_size, self.state_size):
            raise ValueError(
                f"h0 must have shape (B, state_size) = ({batch_size}, {self.state_size}), got {tuple(h0.shape)}"
            )
        states = self.cell.sequence(inputs, h0)
        return self.outputs_from_states(states), states

    def split_heads(self, outputs: Tensor) -> list[Tensor]:
        """``(..., n_outputs)`` -> one ``(..., head_size)`` tensor per head, in order."""
        if outputs.shape[-1] != self.n_outputs:
            raise ValueError(f"outputs must end in n_outputs = {self.n_outputs}, got shape {tuple(outputs.shape)}")
        return list(outputs.split(self.head_sizes, dim=-1))


def build_network(config: NetworkConfig, n_inputs: int, n_outputs: int | Sequence[int]) -> RecurrentNetwork:
    """Build the network ``config`` describes for a task with ``n_inputs`` inputs.

    Args:
        config: architecture and dynamics.
        n_inputs: input size (``task.n_inputs``).
        n_outputs: output size (``task.n_outputs``), or a sequence of head sizes for a multi-head readout
            (one linear head per entry, outputs concatenated in that order; e.g. ``[2] * n_heads`` for the
            N-parity heads of Khajehabdollahi, Zeraati et al. 2024).
    """
    return RecurrentNetwork(config, n_inputs, n_outputs)
