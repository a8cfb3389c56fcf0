"""Networks: shapes, leak and τ semantics, noise, the cell protocol, heads, configs and their errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mtrnn.agents.cells import LeakyRNNCell, TorchLSTMCell, recurrent_gain
from mtrnn.agents.networks import (
    Activation,
    Architecture,
    Init,
    NetworkConfig,
    OutputActivation,
    RecurrentNetwork,
    build_network,
)

T, B, N_IN, N_OUT, H = 6, 3, 5, 4, 8


def _net(n_outputs: int | list[int] = N_OUT, n_inputs: int = N_IN, **fields: Any) -> RecurrentNetwork:
    torch.manual_seed(0)
    config = NetworkConfig.from_dict({"hidden_size": H, **fields})
    return build_network(config, n_inputs, n_outputs)


def _zero_weights(net: RecurrentNetwork) -> None:
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if name != "cell.tau":
                parameter.zero_()


def _train_steps(net: RecurrentNetwork, steps: int = 5, lr: float = 0.05) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    inputs, targets = torch.randn(T, B, net.n_inputs), torch.rand(T, B, net.n_outputs)
    for _ in range(steps):
        optimizer.zero_grad()
        outputs, states = net(inputs)
        ((outputs - targets).square().mean() + states.square().mean()).backward()
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("activation", list(Activation), ids=lambda a: a.value)
@pytest.mark.parametrize("architecture", list(Architecture), ids=lambda a: a.value)
def test_forward_shapes_and_dtypes(architecture: Architecture, activation: Activation, dtype: torch.dtype) -> None:
    net = _net(architecture=architecture, activation=activation).to(dtype)
    outputs, states = net(torch.randn(T, B, N_IN, dtype=dtype))
    state_size = 2 * H if architecture is Architecture.LSTM else H
    assert net.state_size == state_size
    assert outputs.shape == (T, B, N_OUT) and outputs.dtype == dtype
    assert states.shape == (T, B, state_size) and states.dtype == dtype
    assert net.initial_state(B).shape == (B, state_size)
    assert torch.isfinite(outputs).all() and torch.isfinite(states).all()


@pytest.mark.parametrize("nonlinearity_inside", [True, False])
@pytest.mark.parametrize(("dt", "tau"), [(20.0, 100.0), (10.0, 20.0), (20.0, 20.0)])
def test_leaky_unit_without_input_decays_by_one_minus_alpha(dt: float, tau: float, nonlinearity_inside: bool) -> None:
    net = _net(dt=dt, tau=tau, activation=Activation.RELU, nonlinearity_inside=nonlinearity_inside).double().eval()
    _zero_weights(net)
    h0 = torch.rand(B, H, dtype=torch.float64) + 0.5
    _, states = net(torch.zeros(T, B, N_IN, dtype=torch.float64), h0)
    alpha = dt / tau
    assert net.config.alpha == alpha
    expected = torch.stack([(1 - alpha) ** (t + 1) * h0 for t in range(T)])
    torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-12)


def test_trainable_tau_leak_is_per_unit_and_clamped_at_one_step() -> None:
    net = _net(train_tau=True).double().eval()
    _zero_weights(net)
    cell = net.cell
    assert isinstance(cell, LeakyRNNCell) and cell.tau is not None
    tau = torch.linspace(0.25, 4.0, H, dtype=torch.float64)
    with torch.no_grad():
        cell.tau.copy_(tau)
    h0 = torch.ones(B, H, dtype=torch.float64)
    _, states = net(torch.zeros(T, B, N_IN, dtype=torch.float64), h0)
    tau_steps = tau.clamp(min=1.0)
    torch.testing.assert_close(cell.tau_steps, tau_steps)
    expected = torch.stack([(1 - 1 / tau_steps) ** (t + 1) * h0 for t in range(T)])
    torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-12)


def test_fixed_tau_is_no_parameter_and_stays_fixed_under_training() -> None:
    net = _net(dt=20.0, tau=100.0)
    names = {name for name, _ in net.named_parameters()}
    assert names == {"cell.weight_in", "cell.weight_rec", "cell.bias", "readout.weight", "readout.bias"}
    _train_steps(net)
    cell = net.cell
    assert isinstance(cell, LeakyRNNCell)
    assert cell.leak() == pytest.approx(0.2)
    torch.testing.assert_close(cell.tau_steps, torch.full((H,), 5.0))


def test_trainable_tau_learns_stays_at_least_one_step_and_keeps_zero_diagonal() -> None:
    net = _net(train_tau=True)
    cell = net.cell
    assert isinstance(cell, LeakyRNNCell) and cell.tau is not None
    initial = cell.tau.detach().clone()
    assert ((initial >= 1.0) & (initial < 2.0)).all()
    assert (cell.weight_rec.diagonal() == 0).all()
    _train_steps(net, steps=30, lr=0.5)
    assert not torch.equal(cell.tau.detach(), initial)
    assert (cell.tau_steps >= 1.0).all()
    assert (cell.weight_rec.diagonal() == 0).all()
    assert (cell.recurrent_weight().diagonal() == 0).all()


def test_recurrent_noise_only_in_training_mode() -> None:
    net = _net(recurrent_noise=0.1)
    quiet = _net(recurrent_noise=0.0)
    quiet.load_state_dict(net.state_dict())
    inputs = torch.randn(T, B, N_IN)
    net.train()
    assert not torch.equal(net(inputs)[1], net(inputs)[1])
    assert not torch.equal(net.cell(inputs[0], net.initial_state(B)), net.cell(inputs[0], net.initial_state(B)))
    net.eval()
    quiet.train()
    torch.testing.assert_close(net(inputs)[1], net(inputs)[1], rtol=0, atol=0)
    torch.testing.assert_close(net(inputs)[1], quiet(inputs)[1], rtol=0, atol=0)


def test_recurrent_noise_std_is_sigma_rec_times_sqrt_two_over_alpha() -> None:
    sigma_rec, dt, tau = 0.1, 20.0, 40.0
    net = _net(recurrent_noise=sigma_rec, dt=dt, tau=tau, activation=Activation.RELU)
    _zero_weights(net)
    net.train()
    torch.manual_seed(1)
    # One step from rest: h = α relu(ξ), and E[relu(ξ)²] = σ²/2.
    _, states = net(torch.zeros(1, 4000, N_IN))
    alpha = dt / tau
    estimate = math.sqrt(2 * states.square().mean().item()) / alpha
    assert estimate == pytest.approx(sigma_rec * math.sqrt(2 / alpha), rel=0.03)


def test_lstm_state_is_concat_of_h_and_c_as_torch_computes_them() -> None:
    net = _net(architecture=Architecture.LSTM).eval()
    cell = net.cell
    assert isinstance(cell, TorchLSTMCell)
    reference = nn.LSTM(N_IN, H)
    reference.load_state_dict({f"{name}_l0": value for name, value in cell.lstm.state_dict().items()})
    inputs = torch.randn(T, B, N_IN)
    outputs, states = net(inputs)
    hiddens, (_, c_last) = reference(inputs)
    torch.testing.assert_close(states[..., :H], hiddens)
    torch.testing.assert_close(states[-1, :, H:], c_last[0])
    torch.testing.assert_close(outputs, net.readout(hiddens))


_CELL_CASES = {
    "leaky": {},
    "leaky-levina-form": {"nonlinearity_inside": False, "activation": Activation.LEAKY_RELU},
    "leaky-train-tau": {"train_tau": True},
    "leaky-tanh-sigmoid-out": {"activation": Activation.TANH, "output_activation": OutputActivation.SIGMOID},
    "gru": {"architecture": Architecture.GRU},
    "lstm": {"architecture": Architecture.LSTM},
}


@pytest.mark.parametrize("fields", list(_CELL_CASES.values()), ids=list(_CELL_CASES))
def test_cell_stepped_by_hand_reproduces_forward(fields: dict[str, Any]) -> None:
    net = _net(**fields).double().eval()
    inputs = torch.randn(T, B, N_IN, dtype=torch.float64)
    h0 = 0.1 * torch.randn(B, net.state_size, dtype=torch.float64)
    outputs, states = net(inputs, h0)
    h, stepped = h0, []
    for t in range(T):
        h = net.cell(inputs[t], h)
        stepped.append(h)
    torch.testing.assert_close(torch.stack(stepped), states, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.outputs_from_states(states), outputs)
    torch.testing.assert_close(net(inputs)[1], net(inputs, net.initial_state(B).double())[1])


@pytest.mark.parametrize("architecture", list(Architecture), ids=lambda a: a.value)
def test_multi_head_readout_splits_into_independent_linear_heads(architecture: Architecture) -> None:
    heads = [2, 2, 3]
    net = _net(n_outputs=heads, architecture=architecture)
    assert net.head_sizes == (2, 2, 3) and net.n_outputs == 7
    outputs, states = net(torch.randn(T, B, N_IN))
    parts = net.split_heads(outputs)
    assert [p.shape for p in parts] == [(T, B, size) for size in heads]
    hidden = net.cell.hidden(states)
    start = 0
    for part, size in zip(parts, heads, strict=True):
        rows = slice(start, start + size)
        torch.testing.assert_close(part, hidden @ net.readout.weight[rows].T + net.readout.bias[rows])
        start += size
    assert _net(n_outputs=5).head_sizes == (5,)


def test_sigmoid_output_activation_bounds_outputs() -> None:
    outputs, _ = _net(output_activation=OutputActivation.SIGMOID)(3 * torch.randn(T, B, N_IN))
    assert ((outputs > 0) & (outputs < 1)).all()


@pytest.mark.parametrize("activation", list(Activation), ids=lambda a: a.value)
@pytest.mark.parametrize("init", list(Init), ids=lambda i: i.value)
def test_initialisation_follows_yang(init: Init, activation: Activation) -> None:
    size = 128
    torch.manual_seed(0)
    net = build_network(NetworkConfig(hidden_size=size, init=init, activation=activation), 85, 33)
    cell = net.cell
    assert isinstance(cell, LeakyRNNCell)
    gain = recurrent_gain(activation)
    weight = cell.weight_rec.detach()
    if init is Init.ORTHOGONAL:
        torch.testing.assert_close(weight @ weight.T, gain**2 * torch.eye(size), atol=1e-4, rtol=0)
    elif init is Init.DIAGONAL:
        torch.testing.assert_close(weight, gain * torch.eye(size))
    else:
        assert weight.std().item() == pytest.approx(gain / math.sqrt(size), rel=0.05)
    assert cell.weight_in.std().item() == pytest.approx(1 / math.sqrt(85), rel=0.05)
    assert (cell.bias == 0).all() and (net.readout.bias == 0).all()


@pytest.mark.parametrize("fields", list(_CELL_CASES.values()), ids=list(_CELL_CASES))
def test_safetensors_round_trip_gives_identical_outputs(fields: dict[str, Any], tmp_path) -> None:
    net = _net(**fields).eval()
    path = tmp_path / "model.safetensors"
    save_file(net.state_dict(), str(path))
    config = NetworkConfig.from_dict(json.loads(json.dumps(net.config.to_dict())))
    torch.manual_seed(123)
    loaded = build_network(config, N_IN, N_OUT).eval()
    loaded.load_state_dict(load_file(str(path)))
    inputs = torch.randn(T, B, N_IN)
    torch.testing.assert_close(loaded(inputs), net(inputs), rtol=0, atol=0)


def test_every_parameter_gets_a_gradient() -> None:
    net = _net(train_tau=True, recurrent_noise=0.0)
    outputs, _ = net(torch.randn(T, B, N_IN))
    outputs.square().sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


_CONFIGS = [
    NetworkConfig(),
    NetworkConfig(
        architecture=Architecture.LEAKY_RNN,
        hidden_size=500,
        activation=Activation.LEAKY_RELU,
        init=Init.NORMAL,
        dt=1.0,
        tau=1.0,
        train_tau=True,
        nonlinearity_inside=False,
        recurrent_noise=0.0,
        output_activation=OutputActivation.SIGMOID,
    ),
    NetworkConfig(architecture=Architecture.LSTM, hidden_size=64),
]


@pytest.mark.parametrize("config", _CONFIGS, ids=["default", "levina", "lstm"])
def test_config_round_trips_through_json(config: NetworkConfig) -> None:
    data = json.loads(json.dumps(config.to_dict()))
    assert NetworkConfig.from_dict(data) == config
    assert data["architecture"] == config.architecture.value


def test_config_defaults_are_the_one_default_network() -> None:
    config = NetworkConfig()
    assert (config.dt, config.tau, config.alpha, config.hidden_size) == (None, 100.0, 0.2, 128)
    assert config.activation is Activation.TANH and config.architecture is Architecture.LEAKY_RNN
    assert config.nonlinearity_inside and not config.train_tau
    assert NetworkConfig(dt=20, tau=100).dt == 20.0


def test_network_time_step_comes_from_the_build_argument() -> None:
    config = NetworkConfig(hidden_size=4, tau=100.0)
    assert build_network(config, 3, 2, dt=10.0).cell.alpha == pytest.approx(0.1)
    assert build_network(config, 3, 2).dt == 20.0
    with pytest.raises(ValueError, match="tau must be >= the time step"):
        build_network(NetworkConfig(tau=10.0), 3, 2, dt=20.0)
    with pytest.raises(ValueError, match=r"dt must equal network\.dt"):
        build_network(NetworkConfig(dt=20.0), 3, 2, dt=10.0)


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"hidden_size": 0}, ValueError, "hidden_size"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size"),
        ({"hidden_size": True}, TypeError, "hidden_size"),
        ({"dt": 0.0}, ValueError, "dt"),
        ({"dt": "20"}, TypeError, "dt"),
        ({"tau": 10.0, "dt": 20.0}, ValueError, "tau"),
        ({"tau": 0.0}, ValueError, "tau"),
        ({"tau": math.nan}, ValueError, "tau"),
        ({"recurrent_noise": -0.1}, ValueError, "recurrent_noise"),
        ({"activation": "relu"}, TypeError, "activation"),
        ({"architecture": "gru"}, TypeError, "architecture"),
        ({"init": None}, TypeError, "init"),
        ({"output_activation": "sigmoid"}, TypeError, "output_activation"),
        ({"train_tau": 1}, TypeError, "train_tau"),
        ({"nonlinearity_inside": "no"}, TypeError, "nonlinearity_inside"),
        ({"train_tau": True, "architecture": Architecture.GRU}, ValueError, "train_tau"),
        ({"train_tau": True, "init": Init.DIAGONAL}, ValueError, "init"),
    ],
)
def test_bad_config_values_raise_naming_the_field(fields: dict[str, Any], error: type[Exception], field: str) -> None:
    with pytest.raises(error, match=rf"NetworkConfig\.{field}\b"):
        NetworkConfig(**fields)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"hidden": 3}, r"no field\(s\) \['hidden'\]"),
        ({"activation": "sigmoid"}, r"NetworkConfig\.activation must be one of \['tanh'"),
        ({"architecture": "transformer"}, r"NetworkConfig\.architecture must be one of"),
    ],
)
def test_from_dict_rejects_unknown_fields_and_values(data: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NetworkConfig.from_dict(data)


@pytest.mark.parametrize(
    ("n_inputs", "n_outputs", "error", "name"),
    [
        (0, 3, ValueError, "n_inputs"),
        (2.0, 3, TypeError, "n_inputs"),
        (4, 0, ValueError, "n_outputs"),
        (4, [], TypeError, "n_outputs"),
        (4, [2, 0], ValueError, "n_outputs"),
        (4, "3", TypeError, "n_outputs"),
    ],
)
def test_build_network_rejects_bad_sizes(n_inputs: Any, n_outputs: Any, error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name):
        build_network(NetworkConfig(hidden_size=4), n_inputs, n_outputs)


def test_forward_rejects_wrong_shapes_naming_the_argument() -> None:
    net = _net()
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, B, n_inputs=5\)"):
        net(torch.randn(T, B, N_IN + 1))
    with pytest.raises(ValueError, match=r"inputs must have shape"):
        net(torch.randn(B, N_IN))
    with pytest.raises(ValueError, match=r"h0 must have shape \(B, state_size\) = \(3, 8\)"):
        net(torch.randn(T, B, N_IN), torch.zeros(B, H + 1))
    with pytest.raises(ValueError, match="outputs must end in n_outputs"):
        net.split_heads(torch.zeros(T, B, N_OUT + 1))
    with pytest.raises(ValueError, match="batch_size"):
        net.initial_state(0)
