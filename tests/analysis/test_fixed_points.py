"""Fixed points on systems with known answers (affine maps, a 2-unit tanh map, planted attractors), our three
cells, the result file, the helpers and bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mtrnn.agents.cells import Activation, LeakyRNNCell, RecurrentCell, TorchGRUCell, TorchLSTMCell
from mtrnn.agents.networks import NetworkConfig, build_network
from mtrnn.analysis import (
    FixedPoints,
    FixedPointsWarning,
    Polish,
    StartStatus,
    find_fixed_points,
    network_states,
    period_input,
    plot_fixed_points,
    sample_initial_states,
)
from mtrnn.analysis.fixed_points_solver import unique_indices
from mtrnn.envs import make_task

torch.set_default_dtype(torch.float32)


class Affine(nn.Module):
    """``F(x, u) = A x + B u + c`` with ``A = V diag(λ) V⁻¹``."""

    def __init__(self, eigenvalues: list[float], seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        size = len(eigenvalues)
        self.v = rng.standard_normal((size, size)) + 2 * np.eye(size)
        self.lam = np.array(eigenvalues)
        a = self.v @ np.diag(self.lam) @ np.linalg.inv(self.v)
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(rng.standard_normal((size, 2)), dtype=torch.float64))
        self.c = nn.Parameter(torch.tensor(rng.standard_normal(size), dtype=torch.float64))
        self.state_size = size
        self.n_inputs = 2

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return h @ self.a.T + x @ self.b.T + self.c

    def fixed_point(self, u: np.ndarray) -> np.ndarray:
        a, b, c = (p.detach().numpy() for p in (self.a, self.b, self.c))
        return np.linalg.solve(np.eye(len(c)) - a, b @ u + c)


def _starts(size: int, n: int, scale: float = 1.0, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, (n, size))


@pytest.mark.parametrize("polish", list(Polish))
def test_affine_map_one_fixed_point_with_known_eigenvectors(polish: Polish) -> None:
    cell = Affine([0.5, -0.3, 0.8, 0.1])
    u = np.array([0.3, -1.0])
    fps = find_fixed_points(cell, u, _starts(4, 12), polish_method=polish, outlier_distance_scale=None)
    assert len(fps) == 1
    np.testing.assert_allclose(fps.states[0], cell.fixed_point(u), atol=1e-6)
    assert fps.q[0] < 1e-12
    np.testing.assert_allclose(fps.eigenvalues[0].real, [0.8, 0.5, -0.3, 0.1], atol=1e-9)  # slowest |λ| first
    np.testing.assert_allclose(fps.eigenvalues[0].imag, 0.0, atol=1e-9)
    order = [2, 0, 1, 3]
    v = cell.v[:, order] / np.linalg.norm(cell.v[:, order], axis=0)
    cosines = np.abs(np.sum(np.conj(fps.eigenvectors[0]) * v, axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-9)
    a = cell.a.detach().numpy()
    left = fps.left_eigenvectors[0]
    np.testing.assert_allclose(left.conj().T @ a, np.diag(fps.eigenvalues[0]) @ left.conj().T, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(left, axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(fps.jacobians[0], a, atol=1e-12)
    np.testing.assert_allclose(fps.input_jacobians[0], cell.b.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(fps.inputs[0], u)
    assert fps.is_stable.tolist() == [True] and fps.n_unstable_dims.tolist() == [0]


def test_affine_unstable_and_continuous_time() -> None:
    cell = Affine([1.5, 0.5, 0.2], seed=3)
    u = np.zeros(2)
    fps = find_fixed_points(cell, u, _starts(3, 16), outlier_distance_scale=None)
    assert len(fps) == 1 and fps.n_unstable_dims.tolist() == [1] and not fps.is_stable[0]
    np.testing.assert_allclose(fps.states[0], cell.fixed_point(u), atol=1e-6)
    # The flow (F(x) - x)/α: eigenvalues (λ - 1)/α, largest real part first, stable iff all Re < 0.
    flow = find_fixed_points(cell, u, _starts(3, 16), continuous=True, alpha=0.5, outlier_distance_scale=None)
    np.testing.assert_allclose(flow.eigenvalues[0].real, [1.0, -1.0, -1.6], atol=1e-9)
    np.testing.assert_allclose(flow.input_jacobians[0], cell.b.detach().numpy() / 0.5, atol=1e-12)
    assert flow.continuous and flow.n_unstable_dims.tolist() == [1]


def test_two_unit_tanh_map_has_nine_points_with_known_stability() -> None:
    """``x ← tanh(2x)`` per unit: 0 (|λ| = 2) and ±x* (x* = tanh(2x*)); the product gives 9 points."""

    def cell(x: Tensor, h: Tensor) -> Tensor:
        return torch.tanh(2.0 * h)

    star = 0.9575040240772687  # root of x = tanh(2x)
    fps = find_fixed_points(cell, np.zeros(1), _starts(2, 150, scale=1.0), tol_unique=1e-4)
    assert len(fps) == 9
    expected = np.array([[a, b] for a in (-star, 0, star) for b in (-star, 0, star)])
    distance = np.abs(fps.states[:, None, :] - expected[None]).max(-1)
    assert distance.min(1).max() < 1e-5 and distance.min(0).max() < 1e-5
    zeros = (np.abs(fps.states) < 1e-3).sum(1)  # number of coordinates at the unstable 0
    np.testing.assert_array_equal(fps.n_unstable_dims, zeros)
    np.testing.assert_array_equal(fps.is_stable, zeros == 0)
    slope = 2.0 * (1.0 - star**2)
    for point, values in zip(fps.states, fps.eigenvalues, strict=True):
        expected_values = sorted((2.0 if abs(c) < 1e-3 else slope for c in point), reverse=True)
        np.testing.assert_allclose(values.real, expected_values, atol=1e-5)


def test_planted_attractors_all_found_and_stable() -> None:
    """Hopfield-like leaky tanh RNN with orthogonal ±1 patterns ξ: ``W = 2/N Σ ξξᵀ`` has attractors at exactly
    ``±m*·ξ`` with ``m* = tanh(2 m*)``."""
    hadamard = np.array([[1.0]])
    for _ in range(4):
        hadamard = np.kron(hadamard, [[1.0, 1.0], [1.0, -1.0]])
    size = hadamard.shape[0]  # 16
    patterns = hadamard[[3, 10, 13]]
    cell = LeakyRNNCell(1, size, activation=Activation.TANH, alpha=0.5)
    with torch.no_grad():
        cell.weight_rec.copy_(torch.tensor(2.0 / size * patterns.T @ patterns))
        cell.weight_in.zero_()
    signed = np.concatenate([patterns, -patterns])
    rng = np.random.default_rng(0)
    starts = np.repeat(signed, 4, axis=0) * 0.8 + rng.normal(0, 0.3, (4 * len(signed), size))
    fps = find_fixed_points(cell, np.zeros(1), starts.astype(np.float32))
    stable = fps.states[fps.is_stable]
    assert len(stable) == len(signed)
    star = 0.9575040240772687
    distance = np.abs(stable[:, None, :] - star * signed[None]).max(-1)
    assert distance.min(0).max() < 1e-5  # every planted attractor found, at the right place
    assert (np.abs(fps.eigenvalues[fps.is_stable]) < 1).all()
    assert fps.q.max() < 1e-10


@pytest.mark.parametrize("cell_type", [TorchGRUCell, TorchLSTMCell])
def test_gru_and_lstm_points_are_fixed_and_jacobians_exact(cell_type: Callable[[int, int], RecurrentCell]) -> None:
    torch.manual_seed(0)
    cell = cell_type(3, 4)
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.mul_(2.0)
    u = np.array([0.2, -0.1, 0.5], dtype=np.float32)
    fps = find_fixed_points(cell, u, _starts(cell.state_size, 12, seed=2).astype(np.float32))
    assert fps.states.shape[1] == cell.state_size
    fixed = fps.q < 1e-12  # the rest are slow points (q <= max_q)
    assert fixed.any() and (fps.q <= 1e-4).all()
    x = torch.from_numpy(fps.states[fixed])
    with torch.no_grad():
        moved = cell(torch.from_numpy(u).expand(len(x), -1), x) - x
    assert moved.abs().max() < 1e-5
    reference = torch.autograd.functional.jacobian(lambda h: cell(torch.from_numpy(u)[None], h[None])[0], x[0])
    np.testing.assert_allclose(fps.jacobians[0], reference.numpy(), atol=1e-5)
    assert fps.input_jacobians.shape == (len(fps), cell.state_size, 3)


def test_requires_grad_and_training_mode_restored_also_on_error() -> None:
    cell = LeakyRNNCell(2, 6, recurrent_noise=0.1)
    cell.weight_in.requires_grad_(False)
    cell.train()
    find_fixed_points(cell, np.zeros(2), _starts(6, 4).astype(np.float32), max_iters=20, warn_fraction=1.0)
    assert [p.requires_grad for p in cell.parameters()] == [False, True, True]
    assert cell.training

    class Failing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = LeakyRNNCell(2, 6)
            self.calls = 0

        def forward(self, x: Tensor, h: Tensor) -> Tensor:
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("boom")
            return self.inner(x, h)

    failing = Failing()
    with pytest.raises(RuntimeError, match="boom"):
        find_fixed_points(failing, np.zeros(2), _starts(6, 4).astype(np.float32))
    assert all(p.requires_grad for p in failing.parameters()) and failing.training


def test_converged_starts_leave_the_batch() -> None:
    cell = Affine([0.5, 0.2])
    near = cell.fixed_point(np.zeros(2)) + 1e-5
    starts = np.vstack([near, near + 5.0])
    fps = find_fixed_points(cell, np.zeros(2), starts, outlier_distance_scale=None)
    assert fps.report.iterations[0] == 0 < fps.report.iterations[1]  # the first stopped at once
    assert (fps.report.status == StartStatus.Q_TOL).all() and len(fps) == 1


def test_chaotic_network_warns_and_reports() -> None:
    torch.manual_seed(0)
    weight = torch.randn(30, 30) * 3.0 / math.sqrt(30)

    def chaotic(x: Tensor, h: Tensor) -> Tensor:
        return torch.tanh(h @ weight.T)

    with pytest.warns(FixedPointsWarning, match="did not converge"):
        fps = find_fixed_points(chaotic, np.zeros(1), _starts(30, 16).astype(np.float32), max_iters=5)
    assert fps.report.n_unconverged > 8
    assert "max_iters" in fps.report.summary()


def test_save_load_round_trip_and_corrupt_file(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    fps = find_fixed_points(Affine([0.5, 0.1]), np.zeros(2), _starts(2, 8))
    fps.save(folder / "fps.npz")
    again = FixedPoints.load(folder / "fps.npz")
    for name in ("states", "q", "eigenvalues", "left_eigenvectors", "input_jacobians", "is_stable"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fps, name))
    np.testing.assert_array_equal(again.report.status, fps.report.status)
    assert again.report.seconds == fps.report.seconds and again.continuous == fps.continuous
    (folder / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        FixedPoints.load(folder / "bad.npz")
    np.savez(folder / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a FixedPoints file"):
        FixedPoints.load(folder / "other.npz")


def test_unique_indices_greedy_lowest_q() -> None:
    points = torch.tensor([[0.0016], [0.0], [0.0008], [5.0]])
    q = torch.tensor([3.0, 1.0, 2.0, 4.0])
    keep = unique_indices(points, q, tol=1e-3)
    # 0.0 (lowest q) removes 0.0008; 0.0016 is 1.6e-3 from 0.0, so it stays.
    assert keep.tolist() == [1, 0, 3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"initial_states": np.zeros(4)}, "initial_states"),
        ({"initial_states": np.zeros((3, 5))}, "initial_states"),
        ({"initial_states": np.full((3, 4), np.nan)}, "initial_states"),
        ({"initial_states": np.zeros((0, 4))}, "initial_states"),
        ({"inputs": np.zeros(0)}, "inputs"),
        ({"inputs": np.zeros((2, 2))}, "inputs"),
        ({"inputs": np.zeros(3)}, "inputs"),
        ({"inputs": np.array([np.inf, 0.0])}, "inputs"),
        ({"tol_q": -1.0}, "tol_q"),
        ({"max_iters": 1.5}, "max_iters"),
        ({"continuous": True}, "alpha"),
        ({"polish_from_q": 1e-20}, "polish_from_q"),
        ({"newton_from_q": 0.0}, "newton_from_q"),
        ({"krylov_dim": 0}, "krylov_dim"),
        ({"closed_form": "yes"}, "closed_form"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"inputs": np.zeros(2), "initial_states": np.zeros((3, 4))}
    arguments.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        find_fixed_points(Affine([0.5, 0.1, 0.2, 0.3]), **arguments)
    with pytest.raises(TypeError, match="polish_method"):
        find_fixed_points(Affine([0.5]), np.zeros(2), np.zeros((1, 1)), polish_method="newton")


def test_starts_period_input_and_plot_on_a_task() -> None:
    task = make_task("mtrnn/DelayAnti-v0")
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=16, activation=Activation.TANH), task.n_inputs, task.n_outputs)
    rng = np.random.default_rng(0)
    batch = task.sample_batch(8, rng, noise=False)
    states = network_states(network, batch)
    assert states.shape == (batch.n_steps, 8, 16)
    starts = sample_initial_states(network, batch, n=20, noise=0.0, rng=np.random.default_rng(1), period="delay")
    delay = states[batch.period_mask("delay") & batch.valid]
    assert starts.shape == (20, 16)
    assert np.abs(starts[:, None, :] - delay[None]).max(-1).min(1).max() < 1e-6  # each start is a delay state
    noisy = sample_initial_states(network, batch, n=20, noise=0.5, rng=np.random.default_rng(1), period="delay")
    assert 0.3 < float(np.std(noisy - starts)) < 0.7
    u = period_input(batch, "delay")
    assert u.shape == (task.n_inputs,)
    with pytest.raises(ValueError, match="not constant"):
        period_input(task.sample_batch(8, rng, noise=True), "delay")
    with pytest.raises(ValueError, match="n must"):
        sample_initial_states(network, batch, n=0, noise=0.1, rng=rng)
    fps = find_fixed_points(network.cell, u, starts)
    figure = plot_fixed_points(fps, states, labels=batch.conditions["location"])
    assert figure.axes and figure.axes[0].get_xlabel() == "PC 1"
    plt.close(figure)
    with pytest.raises(ValueError, match="trajectories"):
        plot_fixed_points(fps, states[:, :, :3])
