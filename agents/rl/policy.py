"""The recurrent actor-critic: a :class:`~mtrnn.agents.networks.RecurrentNetwork` whose readout has two heads,
action logits and a value, both read from the same recurrent state.

Because the policy *is* a ``RecurrentNetwork`` (head sizes ``(n_actions, 1)``), the trained network keeps its
``.cell`` — the same one-step cell the supervised trainer and the analysis toolkit use (fixed points of an
RL-trained network work as for a supervised one)::

    policy = build_policy(NetworkConfig(hidden_size=64), task)
    logits, values, states = policy(inputs)     # (T, B, n_in) -> (T, B, A), (T, B), (T, B, state_size)
    h = policy.cell(x, h)                        # one step, as in analysis

The action rows of the readout start 100× smaller than Glorot's (near-uniform initial actions, as in SB3 and
Andrychowicz et al. 2021, "What matters in on-policy RL"); the leaky RNN's recurrent noise is off in the policy
(its randomness is the action sampling; PPO's importance ratio needs the same network function in rollout and
update), so the network is always run in eval mode.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from mtrnn.agents.cells import LeakyRNNCell, RecurrentCell, TorchLSTMCell, hidden_of, run_sequence
from mtrnn.agents.networks import NetworkConfig, OutputActivation, RecurrentNetwork, build_network
from mtrnn.agents.rl.config import Backend, read_rl_config
from mtrnn.agents.rl.packed import packed_leaky, packed_lstm, supports_packed
from mtrnn.agents.rundir import RunDir
from mtrnn.envs import make_task

__all__ = ["ACTION_HEAD_GAIN", "RecurrentPolicy", "build_policy", "load_policy"]

#: Scale of the initial action rows of the readout relative to Glorot's init.
ACTION_HEAD_GAIN = 0.01


class RecurrentPolicy(nn.Module):
    """Actor and critic on one recurrent state.

    Attributes:
        network: the :class:`RecurrentNetwork`; its readout heads are ``(n_actions, 1)`` (logits, value).
        n_actions: number of discrete actions (0 = fixate, k = choice k).
    """

    def __init__(self, network: RecurrentNetwork) -> None:
        super().__init__()
        if not isinstance(network, RecurrentNetwork):
            raise TypeError(f"network must be a RecurrentNetwork, got {type(network).__name__}")
        if len(network.head_sizes) != 2 or network.head_sizes[1] != 1:
            raise ValueError(f"network must have head sizes (n_actions, 1), got {network.head_sizes}")
        if network.config.output_activation is not OutputActivation.IDENTITY:
            raise ValueError("network.config.output_activation must be OutputActivation.IDENTITY (logits)")
        self.network = network
        self.n_actions = network.head_sizes[0]
        self.network.eval()

    @property
    def cell(self) -> RecurrentCell:
        """The network's one-step cell ``cell(x (B, n_in), h (B, state_size)) -> (B, state_size)``."""
        return self.network.cell

    @property
    def config(self) -> NetworkConfig:
        """The network's :class:`NetworkConfig`."""
        return self.network.config

    @property
    def n_inputs(self) -> int:
        """Observation size."""
        return self.network.n_inputs

    @property
    def state_size(self) -> int:
        """Size of the recurrent state (LSTM: ``2H``)."""
        return self.network.state_size

    def train(self, mode: bool = True) -> RecurrentPolicy:
        """Keep the network in eval mode (no recurrent noise) whatever ``mode`` is; see the module docstring."""
        super().train(mode)
        self.network.eval()
        return self

    def heads(self, states: Tensor) -> tuple[Tensor, Tensor]:
        """``states (..., state_size)`` -> ``logits (..., n_actions)``, ``values (...)``."""
        logits, values = self.network.split_heads(self.network.outputs_from_states(states))
        return logits, values.squeeze(-1)

    def forward(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Run whole trials.

        Args:
            inputs: ``(T, B, n_inputs)`` observations, every trial starting at ``t = 0``.
            h0: ``(B, state_size)`` initial state (zeros when None: the state every trial starts from).

        Returns:
            ``logits (T, B, n_actions)``, ``values (T, B)`` and ``states (T, B, state_size)``.
        """
        _, states = self.network(inputs, h0)
        logits, values = self.heads(states)
        return logits, values, states

    def run(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """What rollouts and PPO updates need: the heads at every step and only the last state.

        The same function as :meth:`forward` (same parameters, same numbers up to float rounding), through the
        fastest sequence kernel torch has for the cell (see :meth:`run_hidden`).

        Args:
            inputs: ``(T, B, n_inputs)``.
            h0: ``(B, state_size)`` initial state (zeros when None).

        Returns:
            ``logits (T, B, n_actions)``, ``values (T, B)`` and the last state ``(B, state_size)``.
        """
        hidden, last = self.run_hidden(inputs, h0)
        logits, values = self.network.split_heads(self.network.readout(hidden))
        return logits, values.squeeze(-1), last

    def run_hidden(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The hidden units at every step (what the readout sees) and the last state.

        An LSTM runs through torch's fused ``torch.lstm`` (one C++ loop, oneDNN's LSTM kernel on CPU where torch
        uses it, cuDNN on GPU) instead of a Python loop over steps; a GRU through ``nn.GRU``; the leaky RNN
        through its own :meth:`~mtrnn.agents.cells.LeakyRNNCell.sequence`.

        Args:
            inputs: ``(T, B, n_inputs)``.
            h0: ``(B, state_size)`` initial state (zeros when None).

        Returns:
            ``hidden (T, B, hidden_size)`` and the last state ``(B, state_size)``.
        """
        if h0 is None:
            h0 = inputs.new_zeros(inputs.shape[1], self.state_size)
        cell = self.cell
        if isinstance(cell, TorchLSTMCell):
            size = cell.hidden_size
            lstm = cell.lstm
            weights = [lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh]
            hx = (h0[:, :size].unsqueeze(0).contiguous(), h0[:, size:].unsqueeze(0).contiguous())
            hidden, h_n, c_n = torch.lstm(inputs, hx, weights, True, 1, 0.0, torch.is_grad_enabled(), False, False)
            return hidden, torch.cat((h_n[0], c_n[0]), dim=-1)
        states = run_sequence(cell, inputs, h0)
        return hidden_of(cell, states), states[-1]

    def run_packed(self, inputs: Tensor, batch_sizes: Tensor) -> tuple[Tensor, Tensor]:
        """Run trials of different lengths from the zero state, computing only the steps each trial plays.

        The trials are sorted longest first and packed time-major, as :class:`torch.nn.utils.rnn.PackedSequence`
        stores them: step ``t`` holds the first ``batch_sizes[t]`` trials (those still running). See
        :meth:`packed_hidden`. Equal to :meth:`forward` on the padded trials, read at the played steps (up to
        float rounding).

        Args:
            inputs: ``(N, n_inputs)`` packed observations, ``N = batch_sizes.sum()``.
            batch_sizes: ``(T,)`` int64 on the CPU, non-increasing, trials running at each step.

        Returns:
            ``logits (N, n_actions)`` and ``values (N,)`` in the same packed order.
        """
        logits, values = self.network.split_heads(self.network.readout(self.packed_hidden(inputs, batch_sizes)))
        return logits, values.squeeze(-1)

    def packed_hidden(self, inputs: Tensor, batch_sizes: Tensor) -> Tensor:
        """The hidden units (what the readout sees) of :meth:`run_packed`: ``(N, n_inputs) -> (N, hidden_size)``.

        The LSTM and the fixed-leak leaky RNN run through :mod:`mtrnn.agents.rl.packed` (a few torch calls per
        step, hand-written backpropagation through time), other cells (the GRU among them) one step at a time on
        the shrinking batch.
        """
        n_trials = int(batch_sizes[0])
        cell = self.cell
        if isinstance(cell, TorchLSTMCell):
            return packed_lstm(cell, inputs, batch_sizes.tolist())
        if isinstance(cell, LeakyRNNCell) and supports_packed(cell):
            return packed_leaky(cell, inputs, batch_sizes.tolist())
        # other cells (the GRU too: torch's packed nn.GRU backward zero-fills the whole packed gradient once per
        # step, twice as slow as this loop on 80-step trials) step on the shrinking batch
        state = inputs.new_zeros(n_trials, self.state_size)
        hiddens = []
        for x_t in inputs.split(batch_sizes.tolist()):
            state = cell(x_t, state[: x_t.shape[0]])
            hiddens.append(hidden_of(cell, state))
        return torch.cat(hiddens)

    def heads_by_column(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """The heads with the rows as columns: ``hidden (N, hidden_size)`` -> ``logits (n_actions, N)``,
        ``values (N,)`` (one product ``W·hiddenᵀ``; a softmax over the few actions then runs along ``N``, several
        times faster than over a last dimension of ``n_actions``). Equal to :meth:`heads` up to float rounding."""
        readout = self.network.readout
        outputs = torch.addmm(readout.bias.unsqueeze(1), readout.weight, hidden.t())
        return outputs[: self.n_actions], outputs[self.n_actions]

    def initial_state(self, batch_size: int) -> Tensor:
        """Zeros ``(batch_size, state_size)``: the state at every trial start."""
        return self.network.initial_state(batch_size)

    @torch.no_grad()
    def step(self, observation: Tensor, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One env step for ``B`` agents: ``observation (B, n_in)``, ``state (B, state_size)`` ->
        ``logits (B, n_actions)``, ``value (B,)``, next ``state``. Reset ``state`` to :meth:`initial_state` rows
        where a new trial starts."""
        state = self.cell(observation, state)
        logits, value = self.heads(state)
        return logits, value, state


def build_policy(config: NetworkConfig, n_inputs: int, n_actions: int, *, dt: float | None = None) -> RecurrentPolicy:
    """A fresh :class:`RecurrentPolicy` (seed torch's global RNG first for reproducible weights).

    Args:
        config: the network (any architecture; ``output_activation`` must be IDENTITY).
        n_inputs: ``task.n_inputs``.
        n_actions: ``task.n_actions``.
        dt: the task's time step in ms (``task.dt``; sets the leaky RNN's ``α = dt/τ``).
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
    if isinstance(n_actions, bool) or not isinstance(n_actions, int) or n_actions < 2:
        raise ValueError(f"n_actions must be an int >= 2, got {n_actions!r}")
    network = build_network(config, n_inputs, [n_actions, 1], dt=dt)
    with torch.no_grad():
        network.readout.weight[:n_actions].mul_(ACTION_HEAD_GAIN)
    return RecurrentPolicy(network)


def load_policy(run_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> RecurrentPolicy:
    """Rebuild the trained policy of a batched RL run directory (``config.json`` + ``model.safetensors``).

    The RL counterpart of :func:`mtrnn.agents.load_agent`: ``load_policy(run).network`` is the
    :class:`RecurrentNetwork` (heads: logits, value) and ``load_policy(run).cell`` its one-step cell, what the
    analysis toolkit takes.
    """
    run = RunDir(run_dir)
    config = read_rl_config(run.path)
    if config.backend is not Backend.BATCHED:
        raise ValueError(
            f"run_dir {str(run.path)!r} holds an SB3 run ({config.algo.value}); load_policy rebuilds batched runs "
            "(our cells); its model.safetensors is the SB3 policy's state_dict"
        )
    task = make_task(config.env_id, **config.task_kwargs)
    policy = build_policy(config.network, task.n_inputs, task.n_actions, dt=task.dt)
    policy.network.load_state_dict(run.read_model())
    return policy.to(device).eval()
