"""Ablation (a removed unit has no influence, for every architecture) and perturbation (relative size ε)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents import Architecture, NetworkConfig, build_network
from mtrnn.agents.cells import Activation
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.analysis.drive import run_network
from mtrnn.analysis.perturbation import (
    DEFAULT_EPSILONS,
    PerturbTarget,
    ablate,
    ablation_effect,
    perturb,
    perturbation_curve,
)
from mtrnn.envs import make_task

ARCHITECTURES = [Architecture.LEAKY_RNN, Architecture.GRU, Architecture.LSTM]


def tiny(architecture: Architecture, seed: int = 0, train_tau: bool = False) -> RecurrentNetwork:
    torch.manual_seed(seed)
    config = NetworkConfig(
        architecture=architecture, hidden_size=6, activation=Activation.TANH, recurrent_noise=0.0, train_tau=train_tau
    )
    return build_network(config, 3, 2)


def _randomise_unit(network: RecurrentNetwork, unit: int) -> None:
    """New random values for every weight into and out of ``unit`` (and nothing else)."""
    cell = network.cell
    hidden = cell.hidden_size
    with torch.no_grad():
        network.readout.weight[:, unit] = torch.randn(network.n_outputs)
        if architecture_of(network) is Architecture.LEAKY_RNN:
            cell.weight_rec[unit].normal_()
            cell.weight_rec[:, unit].normal_()
            cell.weight_in[unit].normal_()
            cell.bias[unit] = 1.0
            return
        module = cell.gru if architecture_of(network) is Architecture.GRU else cell.lstm
        suffix = "_l0" if architecture_of(network) is Architecture.GRU else ""
        gates = 3 if architecture_of(network) is Architecture.GRU else 4
        rows = [unit + g * hidden for g in range(gates)]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, name + suffix)[rows] = torch.randn_like(getattr(module, name + suffix)[rows])
        getattr(module, "weight_hh" + suffix)[:, unit].normal_()


def architecture_of(network: RecurrentNetwork) -> Architecture:
    return network.config.architecture


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_ablated_unit_has_no_influence(architecture: Architecture) -> None:
    network = tiny(architecture)
    other = tiny(architecture)
    _randomise_unit(other, 2)
    inputs = np.random.default_rng(0).standard_normal((20, 4, 3)).astype(np.float32)
    out_a, states_a = run_network(ablate(network, [2]), inputs)
    out_b, _ = run_network(ablate(other, [2]), inputs)
    np.testing.assert_allclose(out_a, out_b, atol=1e-6)
    np.testing.assert_array_equal(states_a[..., 2], 0.0)  # the removed unit stays silent (tanh / gates at 0)
    intact, _ = run_network(network, inputs)
    assert not np.allclose(intact, out_a)
    assert network.readout.weight[:, 2].abs().sum() > 0  # the caller's network is untouched


def test_ablation_effect_scores_the_same_trials() -> None:
    task = make_task("mtrnn/DelayGo-v0")
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=5, recurrent_noise=0.0), task.n_inputs, task.n_outputs)
    result = ablation_effect(network, task, {"a": [0], "b": [1, 2]}, n_trials=16)
    assert result.performance.shape == (2, 1) and result.baseline.shape == (1,)
    assert result.group_names == ("a", "b") and result.groups == ((0,), (1, 2))
    again = ablation_effect(network, task, {"a": [0]}, n_trials=16)
    np.testing.assert_array_equal(again.performance[0], result.performance[0])
    assert "| a |" in result.table()
    with pytest.raises(ValueError, match="units"):
        ablation_effect(network, task, {"bad": [5]}, n_trials=4)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("epsilon", [0.0, 0.1, 3.0])
def test_weight_perturbation_has_relative_size_epsilon(architecture: Architecture, epsilon: float) -> None:
    network = tiny(architecture)
    perturbed = perturb(network, epsilon, PerturbTarget.RECURRENT_WEIGHTS, torch.Generator().manual_seed(1))
    before = dict(network.named_parameters())
    changed = [name for name, p in perturbed.named_parameters() if not torch.equal(p, before[name])]
    if epsilon == 0:
        assert changed == []
        return
    assert len(changed) == 1 and ("weight_rec" in changed[0] or "weight_hh" in changed[0])
    new, old = dict(perturbed.named_parameters())[changed[0]].detach(), before[changed[0]].detach()
    assert float(torch.linalg.norm(new - old) / torch.linalg.norm(old)) == pytest.approx(epsilon, rel=1e-5)


def test_tau_perturbation() -> None:
    network = tiny(Architecture.LEAKY_RNN, train_tau=True)
    grown = perturb(network, 0.5, PerturbTarget.TAU_POSITIVE, torch.Generator().manual_seed(0))
    assert grown.cell.tau is not None and network.cell.tau is not None
    delta = (grown.cell.tau - network.cell.tau).detach()
    assert (delta >= 0).all()
    assert float(torch.linalg.norm(delta) / torch.linalg.norm(network.cell.tau.detach())) == pytest.approx(
        0.5, rel=1e-5
    )
    with pytest.raises(ValueError, match="train_tau"):
        perturb(tiny(Architecture.LEAKY_RNN), 0.5, PerturbTarget.TAU, torch.Generator())
    with pytest.raises(ValueError, match="epsilon"):
        perturb(network, -1.0, PerturbTarget.TAU, torch.Generator())


def test_perturbation_curve_shapes_and_zero() -> None:
    task = make_task("mtrnn/DelayGo-v0")
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=5, recurrent_noise=0.0), task.n_inputs, task.n_outputs)
    result = perturbation_curve(network, task, epsilons=[0.0, 0.5], n_directions=2, n_trials=8)
    assert result.performance.shape == (2, 2, 1)
    assert result.performance[0, 0, 0] == result.performance[0, 1, 0]  # ε = 0: every direction is the intact net
    assert DEFAULT_EPSILONS.size == 11 and DEFAULT_EPSILONS[0] == 0 and DEFAULT_EPSILONS[-1] == pytest.approx(10)
    with pytest.raises(ValueError, match="epsilons"):
        perturbation_curve(network, task, epsilons=[-1.0])
