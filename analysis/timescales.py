"""Autocorrelation timescales of units (Khajehabdollahi, Zeraati et al. 2024, ICLR; LevinaLab/rnn_timescale_public).

The procedure of the paper: drive the network with random binary input (10 trials of 1e5 steps after 500 steps of
burn-in), take each unit's autocorrelation (FFT, unbiased per lag, mean removed per trial, averaged over trials,
normalised to 1 at lag 0), fit a single and a double exponential to lags 0–30, choose the model by AIC and take
its slowest timescale as the unit's network-mediated timescale ``τ_net``.

Differences from the published scripts, on purpose:

* the unbiased estimator divides lag ``k`` by ``T − k`` (theirs by ``T − 1 − k``, and drops the last lag);
* the fits are a variable-projection least squares (amplitudes ``≥ 0`` solved in closed form for every
  candidate τ; a log-spaced grid of τ, then a vectorised local refinement) for all units at once instead of one
  ``curve_fit`` call per unit: deterministic, no start-point dependence, and fast over thousands of units;
* a failed fit is NaN with its reason (:class:`FitFailure`) instead of a silent NaN;
* the double exponential must also be identifiable over the fitted lags: ``τ₂/τ₁ >= 2``, weaker weight
  ``>= 5 %``, and the fast τ₁ within the first third of the window. AIC alone reads the smooth estimation error of
  a slow autocorrelation as a second timescale (an AR(1) with τ = 50 came out as ≈ 135 in 1 of 5 seeds).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.zeros((20000, 4, 1))
>>> for t in range(1, 20000):
...     x[t] = np.exp(-1 / 10) * x[t - 1] + rng.standard_normal((4, 1))
>>> fit = fit_timescales(autocorrelation(x, 30))
>>> bool(abs(fit.tau[0] - 10) < 1)
True
"""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mtrnn.agents.cells import LeakyRNNCell
from mtrnn.analysis.drive import BernoulliInput, InputProcess, NetworkLike, drive_long, network_dt, resolve_network

__all__ = [
    "FitFailure",
    "FitModel",
    "NetworkTimescales",
    "TimescaleFit",
    "autocorrelation",
    "autocorrelation_sem",
    "fit_timescales",
    "network_timescales",
]

_MEMORY_BUDGET = 128 << 20  # bytes of complex spectrum per FFT chunk


class FitModel(enum.IntEnum):
    """The model AIC chose for a unit (0 when the fit failed)."""

    NONE = 0
    SINGLE = 1
    """``a·exp(−t/τ)``, 2 parameters."""
    DOUBLE = 2
    """``a₁·exp(−t/τ₁) + a₂·exp(−t/τ₂)``, 4 parameters (Levina's ``a·c``, ``a·(1 − c)``)."""


class FitFailure(enum.IntEnum):
    """Why a unit's timescale is NaN (``OK`` when it is not)."""

    OK = 0
    TOO_SHORT = 1
    """Fewer lags than the double exponential needs (at least 6)."""
    FLAT = 2
    """Zero-variance (constant) activity, non-finite autocorrelation, or no decay: τ at the upper bound."""
    NEGATIVE = 3
    """The autocorrelation at lag 1 is ≤ 0 (no positive correlation to fit an exponential decay to)."""

    @property
    def description(self) -> str:
        return {
            FitFailure.OK: "fitted",
            FitFailure.TOO_SHORT: "autocorrelation too short (need >= 6 lags)",
            FitFailure.FLAT: "flat: constant activity, non-finite autocorrelation, or tau at the upper bound",
            FitFailure.NEGATIVE: "negative: autocorrelation at lag 1 <= 0",
        }[self]


def autocorrelation(activity: NDArray[np.floating], max_lag: int) -> NDArray[np.float64]:
    """Per-unit autocorrelation, FFT-based: ``activity (T, trials, units)`` -> ``(max_lag + 1, units)``.

    For each trial and unit the mean over time is removed, the autocovariance at lag ``k`` is
    ``Σ_t x_t x_{t+k} / (T − k)`` (unbiased per lag; zero-padded FFT, no circular wrap), the trials are averaged
    and the result is divided by its lag-0 value. Units with zero variance get a NaN column.

    Args:
        activity: ``(T, trials, units)``, finite; ``(T, units)`` is read as one trial.
        max_lag: largest lag, ``0 <= max_lag < T``.
    """
    x = np.asarray(activity)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ValueError(f"activity must have shape (T, trials, units), got {np.shape(activity)}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"activity must be a real numeric array, got dtype {x.dtype}")
    n_steps, n_trials, n_units = x.shape
    if n_steps < 2 or n_trials < 1 or n_units < 1:
        raise ValueError(f"activity needs T >= 2 steps, >= 1 trial and >= 1 unit, got shape {x.shape}")
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or not 0 <= max_lag < n_steps:
        raise ValueError(f"max_lag must be an int in [0, T - 1 = {n_steps - 1}], got {max_lag!r}")
    if not np.isfinite(x).all():
        raise ValueError("activity must be finite (it holds NaN or inf)")
    n_fft = _fast_length(2 * n_steps - 1)
    chunk = max(1, _MEMORY_BUDGET // (16 * (n_fft // 2 + 1) * n_trials))
    acov = np.empty((max_lag + 1, n_units), dtype=np.float64)
    norm = n_steps - np.arange(max_lag + 1, dtype=np.float64)
    for start in range(0, n_units, chunk):
        part = x[:, :, start : start + chunk].astype(np.float64)
        part -= part.mean(axis=0, keepdims=True)
        spectrum = np.fft.rfft(part, n=n_fft, axis=0)
        power = spectrum.real**2 + spectrum.imag**2
        lagged = np.fft.irfft(power, n=n_fft, axis=0)[: max_lag + 1]
        acov[:, start : start + chunk] = (lagged / norm[:, None, None]).mean(axis=1)
    zero = acov[0] <= np.finfo(np.float64).tiny * 1e3
    out = np.full_like(acov, np.nan)
    np.divide(acov, acov[0], out=out, where=~zero[None, :])
    out[0, ~zero] = 1.0
    return out


def autocorrelation_sem(activity: NDArray[np.floating], max_lag: int) -> NDArray[np.float64]:
    """Standard error of the mean autocorrelation across trials: ``(T, trials, units)`` -> ``(max_lag + 1, units)``.

    Each trial's normalised autocorrelation (as :func:`autocorrelation` on that trial alone), their standard
    deviation over trials divided by ``√trials``; NaN with fewer than 2 trials. Pass it to
    :func:`fit_timescales` as ``acf_sem`` to make the choice of the double exponential noise-aware.
    """
    x = np.asarray(activity)
    if x.ndim != 3:
        raise ValueError(f"activity must have shape (T, trials, units), got {np.shape(activity)}")
    n_steps, n_trials, n_units = x.shape
    if n_trials < 2:
        return np.full((max_lag + 1, n_units), np.nan)
    per_trial = autocorrelation(x.reshape(n_steps, 1, n_trials * n_units), max_lag).reshape(-1, n_trials, n_units)
    return np.asarray(per_trial.std(axis=1, ddof=1) / np.sqrt(n_trials), dtype=np.float64)


def _fast_length(n: int) -> int:
    """The smallest 2^a·3^b·5^c >= n (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35
            while size < n:
                size *= 2
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


@dataclass(frozen=True)
class TimescaleFit:
    """Single- and double-exponential fits of autocorrelations, model chosen per unit by AIC.

    Shapes use ``U`` = units. Timescales are in the units of ``dt``; amplitudes refer to the normalised
    autocorrelation.

    Attributes:
        tau: ``(U,)`` the slowest timescale of the chosen model; NaN where the fit failed.
        model: ``(U,)`` :class:`FitModel` codes (0 where the fit failed).
        failure: ``(U,)`` :class:`FitFailure` codes (0 where the fit worked).
        single_amplitude, single_tau: ``(U,)`` the single-exponential fit ``a·exp(−t/τ)``.
        double_amplitudes, double_taus: ``(U, 2)`` the double-exponential fit, fast component first.
        single_aic, double_aic: ``(U,)`` ``n·log(RSS/n) + 2k`` with ``k`` = 2 and 4 (inf where not fitted).
        lags: ``(L,)`` the lags fitted, in units of ``dt``.
        dt: the time step of one lag.
    """

    tau: NDArray[np.float64]
    model: NDArray[np.int8]
    failure: NDArray[np.int8]
    single_amplitude: NDArray[np.float64]
    single_tau: NDArray[np.float64]
    double_amplitudes: NDArray[np.float64]
    double_taus: NDArray[np.float64]
    single_aic: NDArray[np.float64]
    double_aic: NDArray[np.float64]
    lags: NDArray[np.float64]
    dt: float

    def reason(self, unit: int) -> str:
        """Why unit ``unit`` has (or has no) timescale, in words."""
        return FitFailure(int(self.failure[unit])).description

    def curve(self, unit: int, lags: NDArray[np.floating] | None = None) -> NDArray[np.float64]:
        """The chosen model's fitted autocorrelation of ``unit`` at ``lags`` (default: the fitted lags)."""
        t = self.lags if lags is None else np.asarray(lags, dtype=np.float64)
        model = FitModel(int(self.model[unit]))
        if model is FitModel.SINGLE:
            return self.single_amplitude[unit] * np.exp(-t / self.single_tau[unit])
        if model is FitModel.DOUBLE:
            a, tau = self.double_amplitudes[unit], self.double_taus[unit]
            return a[0] * np.exp(-t / tau[0]) + a[1] * np.exp(-t / tau[1])
        return np.full_like(t, np.nan)

    def to_arrays(self) -> dict[str, NDArray]:
        """Every field as a numpy array (for ``np.savez``)."""
        return {
            "tau": self.tau,
            "model": self.model,
            "failure": self.failure,
            "single_amplitude": self.single_amplitude,
            "single_tau": self.single_tau,
            "double_amplitudes": self.double_amplitudes,
            "double_taus": self.double_taus,
            "single_aic": self.single_aic,
            "double_aic": self.double_aic,
            "lags": self.lags,
            "dt": np.asarray(self.dt),
        }


def fit_timescales(
    acf: NDArray[np.floating],
    dt: float = 1.0,
    *,
    tau_bounds: tuple[float, float] = (0.05, 2000.0),
    grid_size: int = 120,
    min_ratio: float = 2.0,
    min_weight: float = 0.05,
    max_fast_fraction: float = 1 / 3,
    acf_sem: NDArray[np.floating] | None = None,
    noise_threshold: float = 2.0,
) -> TimescaleFit:
    """Fit ``a·e^{−t/τ}`` and ``a₁e^{−t/τ₁} + a₂e^{−t/τ₂}`` to every column of ``acf``; choose by AIC.

    All lags given are fitted (Levina: lags 0–30 of the normalised autocorrelation, lag 0 included). Amplitudes
    are constrained ``>= 0``. ``tau`` is the slowest timescale of the model with the lower AIC
    (``n·log(RSS/n) + 2k``, ``k`` = 2 or 4; ties go to the single exponential).

    Args:
        acf: ``(L, units)`` autocorrelations at lags ``0 … L − 1`` (e.g. from :func:`autocorrelation`);
            ``(L,)`` is one unit.
        dt: the time between lags (> 0); every τ is returned in its units.
        tau_bounds: ``(low, high)`` search range of τ in lags (``0 < low < high``); a unit whose best τ sits at
            ``high`` does not decay and fails with :attr:`FitFailure.FLAT`.
        grid_size: log-spaced τ values of the initial grid (>= 10) before the local refinement.
        min_ratio: the double exponential counts only when ``τ₂/τ₁ >= min_ratio`` (>= 1) and
        min_weight: its weaker component carries ``>= min_weight`` of the amplitude (in [0, 0.5]). Over 31
            correlated lags a pure AR(1) autocorrelation estimated from 1e6 samples often lets AIC prefer a second,
            barely different or tiny component (measured: τ = 50 read as 85); these two guards keep AIC's choice
            where the components are distinguishable. ``min_ratio=1, min_weight=0`` is plain AIC (the paper's).
        max_fast_fraction: the double exponential counts only when its fast τ₁ is at most this fraction of the
            fitted window (``L − 1`` lags; default 1/3: 10 of 30 lags). Two timescales that both outlast a third of
            the window are not separable over it: this is what lets AIC read the smooth estimation error of a
            slow AR(1) as a second timescale (measured: τ = 50, 10 × 1e5 steps, read as τ ≈ 135 in 1 of 5
            seeds with plain AIC, the fit splitting it into ≈ 35 + 135).
        acf_sem: ``(L, units)`` standard error of ``acf`` (:func:`autocorrelation_sem`), or None. When given,
            the double exponential is chosen only where the single one misses the data by more than the noise:
            the root-mean-square of ``(acf − single fit) / acf_sem`` over the lags with ``acf_sem > 0`` must
            exceed ``noise_threshold``. The estimation error of a slow process's autocorrelation is smooth across
            lags and can look like a second timescale to AIC, which treats lags as independent. Optional and off
            by default: with Bernoulli input whose p differs per trial the trials differ for real, and the test
            then also rejects visible fast components of network units (measured RMS z of such units 1.45–1.84,
            of pure AR(1) processes up to 1.75: it cannot separate them).
        noise_threshold: see ``acf_sem`` (> 0).

    Returns:
        A :class:`TimescaleFit`; units that cannot be fitted are NaN with their :class:`FitFailure`.
    """
    y = np.asarray(acf, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError(f"acf must have shape (L, units), got {np.shape(acf)}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    low, high = (float(v) for v in tau_bounds)
    if not 0 < low < high < math.inf:
        raise ValueError(f"tau_bounds must be (low, high) with 0 < low < high < inf, got {tau_bounds}")
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 10:
        raise ValueError(f"grid_size must be an int >= 10, got {grid_size!r}")
    if not (isinstance(min_ratio, (int, float)) and 1.0 <= min_ratio < math.inf):
        raise ValueError(f"min_ratio must be a number >= 1, got {min_ratio!r}")
    if not (isinstance(min_weight, (int, float)) and 0.0 <= min_weight <= 0.5):
        raise ValueError(f"min_weight must be a number in [0, 0.5], got {min_weight!r}")
    n_lags, n_units = y.shape
    lags = np.arange(n_lags, dtype=np.float64)
    failure = np.zeros(n_units, dtype=np.int8)
    nan = np.full(n_units, np.nan)
    if n_lags < 6:
        failure[:] = FitFailure.TOO_SHORT
        return TimescaleFit(
            tau=nan.copy(),
            model=np.zeros(n_units, dtype=np.int8),
            failure=failure,
            single_amplitude=nan.copy(),
            single_tau=nan.copy(),
            double_amplitudes=np.full((n_units, 2), np.nan),
            double_taus=np.full((n_units, 2), np.nan),
            single_aic=np.full(n_units, np.inf),
            double_aic=np.full(n_units, np.inf),
            lags=lags * dt,
            dt=float(dt),
        )
    finite = np.isfinite(y).all(axis=0)
    failure[~finite] = FitFailure.FLAT
    failure[finite & (y[1] <= 0)] = FitFailure.NEGATIVE
    ok = failure == FitFailure.OK
    yy = np.where(ok[None, :], y, 0.0)

    log_low, log_high = math.log(low), math.log(high)
    grid = np.exp(np.linspace(log_low, log_high, grid_size))
    single_a, single_tau, single_rss = _fit_single(yy, lags, grid, log_low, log_high)
    double_a, double_tau, double_rss = _fit_double(yy, lags, grid, log_low, log_high)

    n = float(n_lags)
    floor = 1e-300
    single_aic = n * np.log(np.maximum(single_rss / n, floor)) + 2 * 2
    double_aic = n * np.log(np.maximum(double_rss / n, floor)) + 2 * 4
    double_aic = np.where(np.isfinite(double_rss), double_aic, np.inf)
    if acf_sem is not None:
        sem = np.asarray(acf_sem, dtype=np.float64)
        sem = sem[:, None] if sem.ndim == 1 else sem
        if sem.shape != y.shape:
            raise ValueError(f"acf_sem must have the shape of acf {y.shape}, got {np.shape(acf_sem)}")
        if not (isinstance(noise_threshold, (int, float)) and 0 < noise_threshold < math.inf):
            raise ValueError(f"noise_threshold must be a number > 0, got {noise_threshold!r}")
        residual = yy - single_a[None, :] * np.exp(-lags[:, None] / single_tau[None, :])
        usable = np.isfinite(sem) & (sem > 0)
        z2 = np.where(usable, (residual / np.where(usable, sem, 1.0)) ** 2, 0.0)
        count = usable.sum(axis=0)
        beyond_noise = np.sqrt(z2.sum(axis=0) / np.maximum(count, 1)) > noise_threshold
        beyond_noise |= count == 0
    else:
        beyond_noise = np.ones(n_units, dtype=bool)
    total = double_a.sum(axis=1)
    weight = np.divide(double_a.min(axis=1), total, out=np.zeros(n_units), where=total > 0)
    if not (isinstance(max_fast_fraction, (int, float)) and 0 < max_fast_fraction <= 1):
        raise ValueError(f"max_fast_fraction must be a number in (0, 1], got {max_fast_fraction!r}")
    distinct = (double_tau[:, 1] >= min_ratio * double_tau[:, 0]) & (weight >= min_weight)
    distinct &= double_tau[:, 0] <= max_fast_fraction * (n_lags - 1)
    use_double = (double_aic < single_aic) & distinct & beyond_noise
    slow_double = np.where(double_a[:, 1] > 0, double_tau[:, 1], double_tau[:, 0])
    tau = np.where(use_double, slow_double, single_tau)
    at_bound = tau >= high * (1 - 1e-6)
    no_signal = np.where(use_double, double_a.sum(axis=1) <= 0, single_a <= 0)
    failure[ok & at_bound] = FitFailure.FLAT
    failure[ok & ~at_bound & no_signal] = FitFailure.NEGATIVE
    good = failure == FitFailure.OK
    model = np.where(good, np.where(use_double, FitModel.DOUBLE, FitModel.SINGLE), FitModel.NONE).astype(np.int8)
    fitted = ok[:, None]
    return TimescaleFit(
        tau=np.where(good, tau, np.nan) * dt,
        model=model,
        failure=failure,
        single_amplitude=np.where(ok, single_a, np.nan),
        single_tau=np.where(ok, single_tau, np.nan) * dt,
        double_amplitudes=np.where(fitted, double_a, np.nan),
        double_taus=np.where(fitted, double_tau, np.nan) * dt,
        single_aic=np.where(ok, single_aic, np.inf),
        double_aic=np.where(ok, double_aic, np.inf),
        lags=lags * dt,
        dt=float(dt),
    )


def _single_rss(y: NDArray, lags: NDArray, tau: NDArray) -> tuple[NDArray, NDArray]:
    """Per unit: best amplitude ``>= 0`` and RSS of ``a·exp(−t/τ_u)``; ``tau (U,)``, ``y (L, U)``."""
    basis = np.exp(-lags[:, None] / tau[None, :])  # (L, U)
    gram = (basis * basis).sum(axis=0)
    proj = (basis * y).sum(axis=0)
    amp = np.maximum(proj, 0.0) / gram
    rss = (y * y).sum(axis=0) - amp * proj
    return amp, np.maximum(rss, 0.0)


def _fit_single(
    y: NDArray, lags: NDArray, grid: NDArray, log_low: float, log_high: float
) -> tuple[NDArray, NDArray, NDArray]:
    basis = np.exp(-lags[:, None] / grid[None, :])  # (L, G)
    gram = (basis * basis).sum(axis=0)  # (G,)
    proj = basis.T @ y  # (G, U)
    rss = (y * y).sum(axis=0)[None, :] - np.maximum(proj, 0.0) ** 2 / gram[:, None]
    best = np.argmin(rss, axis=0)
    logs = np.log(grid)
    step = logs[1] - logs[0]
    lo = np.clip(logs[best] - step, log_low, log_high)
    hi = np.clip(logs[best] + step, log_low, log_high)
    # golden-section search on log τ inside the bracket around the grid minimum, all units at once
    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _single_rss(y, lags, np.exp(c))[1], _single_rss(y, lags, np.exp(d))[1]
    for _ in range(60):
        left = fc <= fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new = b - ratio * (b - a)
        d_new = a + ratio * (b - a)
        c, d = c_new, d_new
        fc, fd = _single_rss(y, lags, np.exp(c))[1], _single_rss(y, lags, np.exp(d))[1]
    tau = np.exp((a + b) / 2)
    # keep the grid point if the refinement did not improve (boundary minima)
    amp, rss_refined = _single_rss(y, lags, tau)
    grid_rss = rss[best, np.arange(y.shape[1])]
    worse = rss_refined > grid_rss
    tau = np.where(worse, grid[best], tau)
    amp, rss_final = _single_rss(y, lags, tau)
    return amp, tau, rss_final


def _double_rss(y: NDArray, lags: NDArray, tau1: NDArray, tau2: NDArray) -> tuple[NDArray, NDArray]:
    """Per unit: amplitudes ``(U, 2)`` ``>= 0`` and RSS of two exponentials with ``tau1 (U,) < tau2 (U,)``."""
    e1 = np.exp(-lags[:, None] / tau1[None, :])
    e2 = np.exp(-lags[:, None] / tau2[None, :])
    g11, g22, g12 = (e1 * e1).sum(0), (e2 * e2).sum(0), (e1 * e2).sum(0)
    r1, r2 = (e1 * y).sum(0), (e2 * y).sum(0)
    amps, rss = _nnls2(g11, g22, g12, r1, r2, (y * y).sum(0))
    return amps, rss


def _nnls2(g11: NDArray, g22: NDArray, g12: NDArray, r1: NDArray, r2: NDArray, yy: NDArray) -> tuple[NDArray, NDArray]:
    """Closed-form non-negative least squares with two columns (Gram entries ``g``, projections ``r``)."""
    det = g11 * g22 - g12 * g12
    well = det > 1e-12 * g11 * g22
    safe = np.where(well, det, 1.0)
    c1 = (g22 * r1 - g12 * r2) / safe
    c2 = (g11 * r2 - g12 * r1) / safe
    both = well & (c1 >= 0) & (c2 >= 0)
    rss_both = np.where(both, yy - (c1 * r1 + c2 * r2), np.inf)
    a1 = np.maximum(r1, 0.0) / g11
    a2 = np.maximum(r2, 0.0) / g22
    rss1, rss2 = yy - a1 * r1, yy - a2 * r2
    pick1 = rss1 <= rss2
    rss_one = np.where(pick1, rss1, rss2)
    use_both = rss_both <= rss_one
    amp1 = np.where(use_both, c1, np.where(pick1, a1, 0.0))
    amp2 = np.where(use_both, c2, np.where(pick1, 0.0, a2))
    rss = np.maximum(np.where(use_both, rss_both, rss_one), 0.0)
    return np.stack([amp1, amp2], axis=-1), rss


def _fit_double(
    y: NDArray, lags: NDArray, grid: NDArray, log_low: float, log_high: float
) -> tuple[NDArray, NDArray, NDArray]:
    n_units = y.shape[1]
    basis = np.exp(-lags[:, None] / grid[None, :])  # (L, G)
    gram = basis.T @ basis  # (G, G)
    proj = basis.T @ y  # (G, U)
    yy = (y * y).sum(axis=0)
    i, j = np.triu_indices(grid.size, k=1)
    best_rss: NDArray[np.float64] = np.full(n_units, np.inf)
    best_pair: NDArray[np.int64] = np.zeros(n_units, dtype=np.int64)
    for start in range(0, i.size, 2048):
        ii, jj = i[start : start + 2048], j[start : start + 2048]
        _, rss = _nnls2(
            gram[ii, ii][:, None], gram[jj, jj][:, None], gram[ii, jj][:, None], proj[ii], proj[jj], yy[None, :]
        )
        k = np.argmin(rss, axis=0)
        value = rss[k, np.arange(n_units)]
        better = value < best_rss
        best_rss = np.where(better, value, best_rss)
        best_pair = np.where(better, start + k, best_pair)
    log1: NDArray[np.float64] = np.log(grid[i[best_pair]])
    log2: NDArray[np.float64] = np.log(grid[j[best_pair]])
    step: NDArray[np.float64] = np.full(n_units, np.log(grid[1] / grid[0]))
    current = best_rss
    moves = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)], dtype=np.float64)
    # pattern search on (log τ1, log τ2): move to the best neighbour, else halve the step
    for _ in range(80):
        cand1 = np.clip(log1[None, :] + moves[:, :1] * step[None, :], log_low, log_high)
        cand2 = np.clip(log2[None, :] + moves[:, 1:] * step[None, :], log_low, log_high)
        rss = np.stack([_double_rss(y, lags, np.exp(cand1[m]), np.exp(cand2[m]))[1] for m in range(moves.shape[0])])
        rss = np.where(cand1 < cand2 - 1e-9, rss, np.inf)
        k = np.argmin(rss, axis=0)
        value = rss[k, np.arange(n_units)]
        better = value < current * (1 - 1e-12)
        log1 = np.where(better, cand1[k, np.arange(n_units)], log1)
        log2 = np.where(better, cand2[k, np.arange(n_units)], log2)
        current = np.where(better, value, current)
        step = np.where(better, step, step / 2)
        if (step < 1e-7).all():
            break
    tau1, tau2 = np.exp(log1), np.exp(log2)
    amps, rss = _double_rss(y, lags, tau1, tau2)
    return amps, np.stack([tau1, tau2], axis=-1), rss


@dataclass(frozen=True)
class NetworkTimescales:
    """Network-mediated timescales of every unit, beside the trained single-unit τ where there is one.

    Attributes:
        tau_net: ``(H,)`` ``τ_net`` in steps (NaN where the fit failed; see ``fit.failure``).
        tau_trained: ``(H,)`` the unit's own τ in steps (``max(τ_i, 1)`` for a τ-trainable leaky RNN, ``1/α``
            for a fixed-τ leaky RNN), or None for GRU/LSTM.
        tau_is_trained: whether ``tau_trained`` was learned (``train_tau``) rather than fixed.
        acf: ``(max_lag + 1, H)`` the autocorrelations that were fitted.
        acf_sem: ``(max_lag + 1, H)`` their standard error across trials.
        fit: the :class:`TimescaleFit` (in steps).
        dt_ms: the network's time step in ms (``tau_net * dt_ms`` is in ms).
    """

    tau_net: NDArray[np.float64]
    tau_trained: NDArray[np.float64] | None
    acf: NDArray[np.float64]
    acf_sem: NDArray[np.float64]
    fit: TimescaleFit
    dt_ms: float
    tau_is_trained: bool = False

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write everything to an ``.npz`` file atomically (no pickle)."""
        from mtrnn.analysis.io import save_npz

        arrays: dict[str, NDArray] = {
            "tau_net": self.tau_net,
            "acf": self.acf,
            "acf_sem": self.acf_sem,
            "dt_ms": np.asarray(self.dt_ms),
        }
        if self.tau_trained is not None:
            arrays["tau_trained"] = self.tau_trained
        arrays.update({f"fit_{k}": v for k, v in self.fit.to_arrays().items()})
        save_npz(Path(path), arrays)


def network_timescales(
    network: NetworkLike,
    process: InputProcess | None = None,
    *,
    n_steps: int = 100_000,
    burn_in: int = 500,
    n_trials: int = 10,
    max_lag: int = 30,
    seed: int = 0,
    progress: bool = False,
) -> NetworkTimescales:
    """Drive a network and fit every unit's autocorrelation (Khajehabdollahi, Zeraati et al. 2024).

    Defaults are the paper's: :class:`~mtrnn.analysis.drive.BernoulliInput` on every input (``p ~ U(0, 1)``
    per trial), 10 trials of 1e5 recorded steps after 500 steps of burn-in, lags 0–30. Memory: the recorded
    activity is ``n_steps · n_trials · H`` float32 (0.5 GB for 128 units at the defaults).

    Args:
        network: a :class:`~mtrnn.agents.networks.RecurrentNetwork` or a run directory.
        process: the input stream; None: Bernoulli input. Use
            :class:`~mtrnn.analysis.drive.TaskInput` for task-like input.
        n_steps, burn_in, n_trials: see :func:`~mtrnn.analysis.drive.drive_long`.
        max_lag: the autocorrelation is computed and fitted on lags ``0 … max_lag`` (>= 5).
        seed: seeds the input.
        progress: tqdm bar while driving.
    """
    net = resolve_network(network)
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 5:
        raise ValueError(f"max_lag must be an int >= 5 (the double exponential needs 6 lags), got {max_lag!r}")
    if max_lag >= n_steps:
        raise ValueError(f"max_lag must be < n_steps = {n_steps}, got {max_lag}")
    activity = drive_long(
        net,
        BernoulliInput() if process is None else process,
        n_steps=n_steps,
        n_trials=n_trials,
        burn_in=burn_in,
        seed=seed,
        progress=progress,
    )
    if not np.isfinite(activity).all():
        bad = np.flatnonzero(~np.isfinite(activity).all(axis=(0, 1)))
        raise ValueError(
            f"the network's activity diverged under this input (units {bad[:10].tolist()} reach inf/NaN); drive it "
            "with task-like input (TaskInput) or fewer Bernoulli channels"
        )
    acf = autocorrelation(activity, max_lag)
    sem = autocorrelation_sem(activity, max_lag)
    del activity
    fit = fit_timescales(acf)
    cell = net.cell
    trained = cell.tau_steps.detach().cpu().double().numpy() if isinstance(cell, LeakyRNNCell) else None
    return NetworkTimescales(
        tau_net=fit.tau,
        tau_trained=trained,
        acf=acf,
        acf_sem=sem,
        fit=fit,
        dt_ms=network_dt(net),
        tau_is_trained=isinstance(cell, LeakyRNNCell) and cell.tau is not None,
    )
