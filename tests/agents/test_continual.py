"""Continual learning by orthogonal projection (Duncker et al. 2020)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents.continual import OrthogonalProjection, projector
from mtrnn.agents.networks import Activation, NetworkConfig, RecurrentNetwork, build_network
from mtrnn.envs import Task, TrialBatch


def test_projector_shrinks_used_directions_and_keeps_unused_ones() -> None:
    basis = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    covariance = basis @ torch.diag(torch.tensor([10.0, 1e-1, 0.0, 0.0], dtype=torch.float64)) @ basis.T
    p = projector(covariance, alpha=1e-3)
    np.testing.assert_allclose((p @ basis[:, 0]).norm().item(), 1e-3 / (1e-3 + 10.0), rtol=1e-6)
    np.testing.assert_allclose((p @ basis[:, 1]).norm().item(), 1e-3 / (1e-3 + 0.1), rtol=1e-6)
    np.testing.assert_allclose((p @ basis[:, 2]).numpy(), basis[:, 2].numpy(), atol=1e-12)
    torch.testing.assert_close(
        projector(torch.zeros(3, 3, dtype=torch.float64), 1e-3), torch.eye(3, dtype=torch.float64)
    )


class _CuedReport(Task):
    """Toy rule task: a bit on input 0 or 1, a rule cue on input ``2 + rule``; answer the bit (rule 0) or its
    opposite (rule 1) at the last of 4 steps. The two rules conflict, so naive sequential training forgets."""

    def __init__(self, rule: int) -> None:
        self.rule, self.dt, self.input_noise_std = rule, 1.0, 0.0

    n_inputs = property(lambda self: 4)
    n_outputs = property(lambda self: 2)
    n_actions = property(lambda self: 2)
    max_steps = property(lambda self: 4)

    def sample_batch(self, batch_size, rng, conditions=None, noise=True):  # type: ignore[no-untyped-def]
        bit = rng.integers(0, 2, batch_size)
        inputs = np.zeros((4, batch_size, 4), dtype=np.float32)
        inputs[:2, np.arange(batch_size), bit] = 1.0
        inputs[:, :, 2 + self.rule] = 1.0
        labels = np.zeros((4, batch_size), dtype=np.int64)
        labels[-1] = bit ^ self.rule
        mask = np.zeros((4, batch_size, 2), dtype=np.float32)
        mask[-1] = 1.0
        targets = np.zeros((4, batch_size, 2), dtype=np.float32)
        targets[-1, np.arange(batch_size), labels[-1]] = 1.0
        periods = {"trial": (np.zeros(batch_size, np.int64), np.full(batch_size, 4))}
        lengths = np.full(batch_size, 4)
        return TrialBatch(inputs, targets, mask, labels, periods, {"bit": bit}, lengths, dt=1.0)

    def score(self, outputs, batch):  # type: ignore[no-untyped-def]
        return (np.asarray(outputs)[-1].argmax(-1) == batch.labels[-1]).astype(np.float64)

    def decision_start(self, batch):  # type: ignore[no-untyped-def]
        return batch.lengths - 1


def _network(hidden: int = 32, n_inputs: int = 4, n_outputs: int = 2) -> RecurrentNetwork:
    torch.manual_seed(0)
    config = NetworkConfig(hidden_size=hidden, activation=Activation.RELU, recurrent_noise=0.0)
    return build_network(config, n_inputs, n_outputs, dt=1.0)


def _tasks() -> tuple[Task, Task]:
    return _CuedReport(0), _CuedReport(1)


def _loss(network: RecurrentNetwork, task: Task, rng: np.random.Generator, n: int = 64) -> torch.Tensor:
    batch = task.sample_batch(n, rng)
    outputs, _ = network(torch.from_numpy(batch.inputs))
    return torch.nn.functional.cross_entropy(outputs[-1], torch.from_numpy(batch.labels[-1]))


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_each_step_is_the_optimisers_step_projected(optimizer_name: str) -> None:
    """ΔW = P_out · ΔW_unprojected · P_in for the recurrent layer ([W_rec, W_in]) and the readout."""
    first, second = _tasks()
    networks = [_network(), _network()]  # same initial weights
    optimizers = [
        torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        if optimizer_name == "sgd"
        else torch.optim.Adam(n.parameters(), lr=1e-2)
        for n in networks
    ]
    projection = OrthogonalProjection(networks[1], alpha=1e-3, trials=64)
    projection.attach(optimizers[1])
    projection.end_task(first, np.random.default_rng(0))
    (p_in, p_out), (q_in, q_out) = projection.projectors()
    before = [w.detach().clone() for w in (networks[0].cell.weight_rec, networks[0].cell.weight_in)]
    readout_before = networks[0].readout.weight.detach().clone()
    for network, optimizer in zip(networks, optimizers, strict=True):
        optimizer.zero_grad()
        _loss(network, second, np.random.default_rng(1)).backward()
        optimizer.step()
    raw, projected = (
        torch.cat([n.cell.weight_rec - before[0], n.cell.weight_in - before[1]], dim=1).detach() for n in networks
    )
    assert raw.abs().max() > 0
    torch.testing.assert_close(projected, p_out @ raw @ p_in, atol=1e-6, rtol=1e-4)
    raw_out, projected_out = (n.readout.weight.detach() - readout_before for n in networks)
    torch.testing.assert_close(projected_out, q_out @ raw_out @ q_in, atol=1e-6, rtol=1e-4)
    # the used input directions are (nearly) closed: far smaller change than without projection
    top = torch.linalg.eigh(projection.layers[0].input_covariance)[1][:, -1].float()
    assert (projected @ top).norm() < 1e-2 * (raw @ top).norm()


def test_projection_state_round_trips() -> None:
    network = _network(16)
    projection = OrthogonalProjection(network, trials=32)
    projection.end_task(_tasks()[0], np.random.default_rng(1))
    other = OrthogonalProjection(_network(16), trials=32)
    other.load_state_dict(projection.state_dict())
    for a, b in zip(projection.projectors(), other.projectors(), strict=True):
        torch.testing.assert_close(a[0], b[0])
        torch.testing.assert_close(a[1], b[1])
    assert other.tasks_done == 1


def _sequential(projected: bool) -> float:
    """Train rule 0 then rule 1 (Adam, 32 relu units); return the loss on rule 0 after the second task."""
    network = _network()
    first, second = _tasks()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    projection = OrthogonalProjection(network, alpha=1e-3, trials=128)
    if projected:
        projection.attach(optimizer)
    rng = np.random.default_rng(0)
    for task, steps in ((first, 100), (second, 100)):
        for _ in range(steps):
            optimizer.zero_grad()
            _loss(network, task, rng).backward()
            optimizer.step()
        if projected:
            projection.end_task(task, rng)
    with torch.no_grad():
        return float(_loss(network, first, np.random.default_rng(99), n=256))


def test_projection_keeps_the_first_task_better_than_naive_training() -> None:
    naive = _sequential(projected=False)
    projected = _sequential(projected=True)
    assert projected < 0.7 * naive


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha"):
        OrthogonalProjection(_network(8), alpha=0.0)
    with pytest.raises(TypeError, match="LeakyRNNCell"):
        OrthogonalProjection(
            build_network(
                NetworkConfig(
                    architecture="gru"
                    and __import__("mtrnn.agents.networks", fromlist=["Architecture"]).Architecture.GRU,
                    hidden_size=8,
                ),
                3,
                2,
                dt=20.0,
            )
        )
