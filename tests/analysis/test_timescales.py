"""Timescales on processes with known answers: AR(1) (the discrete OU process), a two-timescale mixture, a leaky
unit with no recurrence; the failure reasons; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents import NetworkConfig, build_network
from mtrnn.agents.cells import Activation
from mtrnn.analysis.drive import BernoulliInput
from mtrnn.analysis.timescales import (
    FitFailure,
    FitModel,
    autocorrelation,
    autocorrelation_sem,
    fit_timescales,
    network_timescales,
)


def ar1(tau: float, n_steps: int, n_trials: int, rng: np.random.Generator) -> np.ndarray:
    """``x_t = e^{−1/τ} x_{t−1} + ξ_t`` (autocorrelation ``e^{−k/τ}``), stationary start, ``(T, trials)``."""
    from scipy.signal import lfilter

    phi = np.exp(-1.0 / tau)
    noise = rng.standard_normal((n_steps, n_trials))
    noise[0] /= np.sqrt(1 - phi**2)
    return np.asarray(lfilter([1.0], [1.0, -phi], noise, axis=0))


@pytest.fixture(scope="module")
def processes() -> dict[float, np.ndarray]:
    """The paper's sampling: 10 trials of 1e5 steps."""
    rng = np.random.default_rng(1)
    return {tau: ar1(tau, 100_000, 10, rng) for tau in (2.0, 5.0, 20.0, 50.0)}


@pytest.mark.parametrize("tau", [2.0, 5.0, 20.0, 50.0])
def test_ar1_timescale_recovered_within_10_percent(processes: dict[float, np.ndarray], tau: float) -> None:
    x = processes[tau][:, :, None]
    fit = fit_timescales(autocorrelation(x, 30))
    assert fit.failure[0] == FitFailure.OK
    assert fit.tau[0] == pytest.approx(tau, rel=0.1)
    assert fit.model[0] == FitModel.SINGLE


def test_timescale_in_units_of_dt(processes: dict[float, np.ndarray]) -> None:
    acf = autocorrelation(processes[5.0][:, :, None], 30)
    assert fit_timescales(acf, dt=20.0).tau[0] == pytest.approx(20.0 * fit_timescales(acf).tau[0])


def test_slow_component_of_a_two_timescale_mixture(processes: dict[float, np.ndarray]) -> None:
    fast, slow = processes[2.0], processes[50.0]
    mixture = 0.8 * fast / fast.std() + 0.6 * slow / slow.std()
    x = mixture[:, :, None]
    fit = fit_timescales(autocorrelation(x, 30), acf_sem=autocorrelation_sem(x, 30))
    assert fit.model[0] == FitModel.DOUBLE
    assert fit.tau[0] == pytest.approx(50.0, rel=0.15)
    assert fit.double_taus[0, 0] == pytest.approx(2.0, rel=0.15)


def test_autocorrelation_matches_the_direct_unbiased_estimator() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 2)).cumsum(axis=0)
    acf = autocorrelation(x, 10)
    centred = x - x.mean(axis=0)
    direct = np.array([(centred[: 50 - k] * centred[k:]).sum(axis=0) / (50 - k) for k in range(11)]).mean(axis=1)
    np.testing.assert_allclose(acf, direct / direct[0], rtol=1e-10)
    assert acf.shape == (11, 2)


def test_fit_failures_have_reasons() -> None:
    lags = np.arange(31)
    acf = np.stack([np.ones(31), np.cos(np.pi * lags), np.exp(-lags / 4.0)], axis=1)
    constant = autocorrelation(np.ones((100, 2, 1)), 30)
    assert np.isnan(constant).all()
    fit = fit_timescales(np.concatenate([acf, constant], axis=1))
    assert fit.failure.tolist() == [FitFailure.FLAT, FitFailure.NEGATIVE, FitFailure.OK, FitFailure.FLAT]
    assert np.isnan(fit.tau[[0, 1, 3]]).all() and fit.tau[2] == pytest.approx(4.0, rel=1e-4)
    assert "flat" in fit.reason(0) and "negative" in fit.reason(1)
    short = fit_timescales(np.exp(-np.arange(4) / 3.0))
    assert short.failure[0] == FitFailure.TOO_SHORT and np.isnan(short.tau[0])


@pytest.mark.parametrize(
    ("activity", "max_lag", "match"),
    [
        (np.zeros(10), 2, "activity"),
        (np.zeros((10, 1, 1)), 10, "max_lag"),
        (np.full((10, 1, 1), np.nan), 2, "activity"),
        (np.zeros((10, 1, 1)), -1, "max_lag"),
    ],
)
def test_autocorrelation_bad_input(activity: np.ndarray, max_lag: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        autocorrelation(activity, max_lag)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"dt": 0.0}, "dt"), ({"tau_bounds": (5.0, 1.0)}, "tau_bounds"), ({"min_ratio": 0.5}, "min_ratio")],
)
def test_fit_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_timescales(np.exp(-np.arange(10) / 3.0), **kwargs)  # type: ignore[arg-type]


def test_leaky_unit_without_recurrence_has_its_membrane_timescale() -> None:
    """``h ← (1 − α)h + α f(u)`` with white input is AR(1) with ``τ = −1/ln(1 − α)`` (4.48 steps for α = 0.2)."""
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=4, activation=Activation.RELU, recurrent_noise=0.0), 1, 2)
    with torch.no_grad():
        network.cell.weight_rec.zero_()
        network.cell.weight_in.fill_(1.0)
    result = network_timescales(network, BernoulliInput(p=0.5), n_steps=20_000, n_trials=10, burn_in=100)
    expected = -1.0 / np.log(1 - 0.2)
    np.testing.assert_allclose(result.tau_net, expected, rtol=0.1)
    np.testing.assert_allclose(result.tau_trained, 5.0)
    assert not result.tau_is_trained
