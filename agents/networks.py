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
    check_cell,
    hidden_of,
    run_sequence,
)
from mtrnn.agents.checks import check_number

__all__ = [
    "DEFAULT_DT",
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


#: The time step (ms) a network built without one assumes: every registered task's default ``dt``.
DEFAULT_DT = 20.0


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that defines a network's architecture and dynamics (not its sizes: those come from the task).

    Validated on construction; a bad value raises ``TypeError``/``ValueError`` naming the field.
    """

    architecture: Architecture = Architecture.LEAKY_RNN
    """The recurrent cell. The fields below marked *leaky only* are ignored by GRU and LSTM."""
    hidden_size: int = 128
    """Number of recurrent units ``H`` (>= 1). The LSTM state has ``2H`` entries, ``concat(h, c)``."""
    activation: Activation = Activation.TANH
    """*Leaky only.* The rate nonlinearity ``f``. Default tanh: the delay tasks' network of "Training and
    Analysis for Multitask RNNs", which trains ``mtrnn/DelayAnti-v0`` to 95% in about 100 updates (Yang's code
    default is relu, his paper's networks softplus)."""
    init: Init = Init.ORTHOGONAL
    """*Leaky only.* ``W_rec`` initialisation, scaled by ``g`` = 1.0 (tanh) or 0.5 (others), as in Yang's code."""
    dt: float | None = None
    """Time step in ms (> 0), or None (default): the task's. The trainer builds the network with its task's
    ``dt`` (one source of truth: the task), so leave it None in a :class:`~mtrnn.agents.config.TrainConfig`;
    set it only to build a network without a task (:func:`build_network` then uses it, else 20 ms)."""
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
    initial_state_scale: float = 0.0
    """``s >= 0``: when :meth:`RecurrentNetwork.forward` gets no ``h0``, each trial starts from ``h0 = s·U(0, 1)``
    per unit, drawn from torch's generator (the trainer seeds it at every step), in training and evaluation alike
    (Levina's networks: 0.1); 0 (default): ``h0 = 0``."""

    def __post_init__(self) -> None:
        for name, kind in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                allowed = ", ".join(f"{kind.__name__}.{member.name}" for member in kind)
                raise TypeError(f"NetworkConfig.{name} must be one of {allowed}; got {value!r}")
        check_number("NetworkConfig.hidden_size", self.hidden_size, low=1, integer=True)
        dt = check_number("NetworkConfig.dt", self.dt, low=0.0, low_open=True, optional=True)
        tau = check_number("NetworkConfig.tau", self.tau, low=0.0, low_open=True)
        noise = check_number("NetworkConfig.recurrent_noise", self.recurrent_noise, low=0.0)
        scale = check_number("NetworkConfig.initial_state_scale", self.initial_state_scale, low=0.0)
        if dt is not None and tau < dt:
            raise ValueError(f"NetworkConfig.tau must be >= dt = {dt} ms (alpha = dt/tau in (0, 1]), got {tau}")
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
        object.__setattr__(self, "initial_state_scale", scale)

    @property
    def alpha(self) -> float:
        """``dt / tau``: the fixed leak of the leaky RNN (unused when ``train_tau``); ``dt`` = 20 ms when None."""
        return self.alpha_at(DEFAULT_DT if self.dt is None else self.dt)

    def alpha_at(self, dt: float) -> float:
        """``dt / tau`` for a task's time step ``dt`` (ms); ValueError when ``tau < dt``."""
        if self.tau < dt:
            raise ValueError(
                f"network tau must be >= the time step dt = {dt} ms (alpha = dt/tau in (0, 1]), got {self.tau} ms"
            )
        return dt / self.tau

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


def _make_cell(config: NetworkConfig, n_inputs: int, dt: float) -> RecurrentCell:
    if config.architecture is Architecture.GRU:
        return TorchGRUCell(n_inputs, config.hidden_size)
    if config.architecture is Architecture.LSTM:
        return TorchLSTMCell(n_inputs, config.hidden_size)
    return LeakyRNNCell(
        n_inputs,
        config.hidden_size,
        activation=config.activation,
        init=config.init,
        alpha=1.0 if config.train_tau else config.alpha_at(dt),
        train_tau=config.train_tau,
        nonlinearity_inside=config.nonlinearity_inside,
        recurrent_noise=config.recurrent_noise,
    )


class RecurrentNetwork(nn.Module):
    """A recurrent cell and a linear readout (optionally several heads), time-major.

    Attributes:
        config: the :class:`NetworkConfig` it was built from.
        dt: the time step in ms the dynamics assume (the task's).
        n_inputs: input size.
        n_outputs: total output size, ``sum(head_sizes)``.
        head_sizes: one entry per readout head (a single head: ``(n_outputs,)``).
        state_size: ``H`` (LSTM: ``2H``, state ``concat(h, c)``).
        cell: the one-step cell ``cell(x (B, n_inputs), h (B, state_size)) -> (B, state_size)``
            (:class:`~mtrnn.agents.cells.RecurrentCell`), the same object (and parameters) :meth:`forward` runs.
        readout: ``nn.Linear(H, n_outputs)``; head ``k`` is the slice of its rows for that head, which is the
            same as one linear layer per head. Initialised Glorot-uniform, bias 0 (Yang 2019).

    Build with :func:`build_network`. Seed torch's global RNG (``torch.manual_seed``) for reproducible weights
    and recurrent noise.
    """

    def __init__(
        self,
        config: NetworkConfig,
        n_inputs: int,
        n_outputs: int | Sequence[int],
        *,
        dt: float | None = None,
        cell: RecurrentCell | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
        check_number("n_inputs", n_inputs, low=1, integer=True)
        dt = check_number("dt", dt, low=0.0, low_open=True, optional=True)
        if dt is not None and config.dt is not None and not math.isclose(dt, config.dt):
            raise ValueError(f"dt must equal network.dt = {config.dt} ms when both are given, got {dt} ms")
        self.config = config
        self.dt: float = dt if dt is not None else config.dt if config.dt is not None else DEFAULT_DT
        self.n_inputs = n_inputs
        self.head_sizes = _head_sizes(n_outputs)
        self.n_outputs = sum(self.head_sizes)
        if cell is None:
            cell = _make_cell(config, n_inputs, self.dt)
        else:
            check_cell(cell)
            if cell.n_inputs != n_inputs:
                raise ValueError(f"cell.n_inputs must equal n_inputs = {n_inputs}, got {cell.n_inputs}")
        self.cell: RecurrentCell = cell
        self.state_size: int = int(cell.state_size)
        self.hidden_size: int = int(cell.hidden_size)
        self.readout = nn.Linear(self.hidden_size, self.n_outputs)
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
        outputs = self.readout(hidden_of(self.cell, states))
        if self.config.output_activation is OutputActivation.SIGMOID:
            outputs = torch.sigmoid(outputs)
        return outputs

    def forward(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run a whole batch of sequences.

        Args:
            inputs: ``(T, B, n_inputs)``, time-major.
            h0: initial state ``(B, state_size)``; when None, zeros (or ``initial_state_scale·U(0, 1)``, see
                :class:`NetworkConfig`).

        Returns:
            ``outputs (T, B, n_outputs)`` after the output activation and ``states (T, B, state_size)``, where
            ``states[t]`` follows the step that read ``inputs[t]``.
        """
        if inputs.dim() != 3 or inputs.shape[-1] != self.n_inputs:
            raise ValueError(f"inputs must have shape (T, B, n_inputs={self.n_inputs}), got {tuple(inputs.shape)}")
        batch_size = inputs.shape[1]
        if h0 is None and self.config.initial_state_scale > 0:
            h0 = torch.rand(batch_size, self.state_size, device=inputs.device, dtype=inputs.dtype)
            h0 = h0.mul_(self.config.initial_state_scale)
        elif h0 is None:
            h0 = inputs.new_zeros(batch_size, self.state_size)
        elif h0.shape != (batch_size, self.state_size):
            raise ValueError(
                f"h0 must have shape (B, state_size) = ({batch_size}, {self.state_size}), got {tuple(h0.shape)}"
            )
        states = run_sequence(self.cell, inputs, h0)
        return self.outputs_from_states(states), states

    def split_heads(self, outputs: Tensor) -> list[Tensor]:
        """``(..., n_outputs)`` -> one ``(..., head_size)`` tensor per head, in order."""
        if outputs.shape[-1] != self.n_outputs:
            raise ValueError(f"outputs must end in n_outputs = {self.n_outputs}, got shape {tuple(outputs.shape)}")
        return list(outputs.split(self.head_sizes, dim=-1))


def build_network(
    config: NetworkConfig,
    n_inputs: int,
    n_outputs: int | Sequence[int],
    *,
    dt: float | None = None,
    cell: RecurrentCell | None = None,
) -> RecurrentNetwork:
    """Build the network ``config`` describes for a task with ``n_inputs`` inputs.

    Args:
        config: architecture and dynamics.
        n_inputs: input size (``task.n_inputs``).
        n_outputs: output size (``task.n_outputs``), or a sequence of head sizes for a multi-head readout
            (one linear head per entry, outputs concatenated in that order; e.g. ``[2] * n_heads`` for the
            N-parity heads of Khajehabdollahi, Zeraati et al. 2024).
        dt: the task's time step in ms (``task.dt``); None: ``config.dt``, else 20 ms. The leaky RNN's
            ``alpha = dt / tau``.
        cell: use this cell (any ``nn.Module`` following :class:`~mtrnn.agents.cells.RecurrentCell`, e.g. a
            user's own) instead of the one ``config.architecture`` names; the readout reads its
            ``hidden_size`` units.
    """
    return RecurrentNetwork(config, n_inputs, n_outputs, dt=dt, cell=cell)
