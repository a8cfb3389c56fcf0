"""The Newton-Krylov steps and the closed-form leaky RNN linearisation of ``find_fixed_points``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents.cells import Activation, LeakyRNNCell
from mtrnn.analysis import find_fixed_points
from mtrnn.analysis.fixed_points_solver import LeakyProblem, Problem, gmres, make_problem


def _leaky(activation: Activation, train_tau: bool, inside: bool = True) -> LeakyRNNCell:
    torch.manual_seed(0)
    cell = LeakyRNNCell(3, 6, activation=activation, train_tau=train_tau, nonlinearity_inside=inside)
    with torch.no_grad():
        cell.bias.normal_()
        if cell.tau is not None:
            cell.tau.copy_(torch.linspace(1.0, 8.0, 6))
    return cell.double().eval()


@pytest.mark.parametrize("activation", list(Activation), ids=[a.value for a in Activation])
@pytest.mark.parametrize("train_tau", [False, True], ids=["fixed_tau", "trained_tau"])
def test_closed_form_equals_autograd(activation: Activation, train_tau: bool) -> None:
    cell = _leaky(activation, train_tau)
    x = torch.randn(5, 6, dtype=torch.float64)
    u = torch.randn(5, 3, dtype=torch.float64)
    scale = 1.0 / torch.as_tensor(cell.leak(), dtype=torch.float64).detach()  # the continuous speed's 1/α
    step = lambda ui, xi: cell(ui, xi)  # noqa: E731
    closed = make_problem(cell, step, scale, True, x, u)
    generic = make_problem(cell, step, scale, False, x, u)
    assert isinstance(closed, LeakyProblem) and type(generic) is Problem
    rows_c, rows_g = closed.rows(u), generic.rows(u)
    for a, b in zip(closed.q_and_grad(x, rows_c), generic.q_and_grad(x, rows_g), strict=True):
        torch.testing.assert_close(a, b)
    (r_c, mv_c), (r_g, mv_g) = closed.linearise(x, rows_c), generic.linearise(x, rows_g)
    v = torch.randn(5, 6, dtype=torch.float64)
    torch.testing.assert_close(r_c, r_g)
    torch.testing.assert_close(mv_c(v), mv_g(v))
    for a, b in zip(closed.all_jacobians(x, u, rows_c), generic.all_jacobians(x, u, rows_g), strict=True):
        torch.testing.assert_close(a, b)


def test_other_cells_use_autograd() -> None:
    cell = _leaky(Activation.TANH, False, inside=False)
    x, u = torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    assert type(make_problem(cell, lambda ui, xi: cell(ui, xi), torch.tensor(1.0), True, x, u)) is Problem


def test_gmres_is_exact_in_the_full_krylov_space() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 7, 7, dtype=torch.float64, generator=generator) + 3 * torch.eye(7, dtype=torch.float64)
    b = torch.randn(4, 7, dtype=torch.float64, generator=generator)
    delta = gmres(lambda v: (a @ v.unsqueeze(-1)).squeeze(-1), b, dim=7)
    torch.testing.assert_close(delta, torch.linalg.solve(a, b))


@pytest.mark.parametrize(
    ("newton_from_q", "closed_form"), [(1.0, True), (1e6, False), (None, True)], ids=["newton", "autograd", "adam"]
)
def test_newton_and_closed_form_find_the_same_two_unit_points(newton_from_q: float | None, closed_form: bool) -> None:
    """A 2-unit leaky tanh RNN ``x ← ½x + ½tanh(2x)`` per unit: 9 fixed points, 0 (unstable) and ±x*."""
    cell = LeakyRNNCell(1, 2, activation=Activation.TANH, alpha=0.5)
    with torch.no_grad():
        cell.weight_rec.copy_(2.0 * torch.eye(2))
        cell.weight_in.zero_()
        cell.bias.zero_()
    starts = np.random.default_rng(0).normal(0.0, 1.0, (100, 2)).astype(np.float32)
    fps = find_fixed_points(
        cell, np.zeros(1), starts, tol_unique=1e-4, newton_from_q=newton_from_q, closed_form=closed_form
    )
    star = 0.9575040240772687
    expected = np.array([[a, b] for a in (-star, 0, star) for b in (-star, 0, star)])
    distance = np.abs(fps.states[:, None, :] - expected[None]).max(-1)
    assert len(fps) == 9 and distance.min(1).max() < 1e-5 and distance.min(0).max() < 1e-5
    np.testing.assert_array_equal(fps.n_unstable_dims, (np.abs(fps.states) < 1e-3).sum(1))
    assert (fps.report.seconds.newton > 0) == (newton_from_q is not None)
