"""Dimensionality of population activity: PCA explained variance, PCs to a threshold, participation ratio.

As in Khajehabdollahi, Zeraati et al. 2024 (ICLR; LevinaLab/rnn_timescale_public), who report the number of PCs
that explain 90 % of the variance. Their count is off by one (it returns the index of the first component at or
above the threshold, not the number of components); :func:`n_components` returns the number: the smallest ``k``
whose first ``k`` components explain at least ``threshold`` of the variance.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((2000, 3)) @ rng.standard_normal((3, 50))  # rank 3 in 50 dimensions
>>> n_components(pca(x).explained_variance_ratio, 0.99)
3
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["PCAResult", "n_components", "participation_ratio", "pca"]


@dataclass(frozen=True)
class PCAResult:
    """Principal components of activity ``(samples, units)``.

    Attributes:
        explained_variance: ``(K,)`` variance along each component, largest first (``K = min(samples, units)``).
        explained_variance_ratio: ``(K,)`` the same divided by the total variance.
        components: ``(K, units)`` unit-norm principal axes, rows in the order above.
        mean: ``(units,)`` the mean removed before the decomposition.
    """

    explained_variance: NDArray[np.float64]
    explained_variance_ratio: NDArray[np.float64]
    components: NDArray[np.float64]
    mean: NDArray[np.float64]

    def project(self, activity: NDArray[np.floating], k: int | None = None) -> NDArray[np.float64]:
        """``activity (..., units)`` in the first ``k`` components (all when None): ``(..., k)``."""
        x = np.asarray(activity, dtype=np.float64)
        if x.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"activity must end in units = {self.mean.shape[0]}, got shape {x.shape}")
        axes = self.components if k is None else self.components[:k]
        return (x - self.mean) @ axes.T

    def n_components(self, threshold: float = 0.9) -> int:
        """:func:`n_components` of this result."""
        return n_components(self.explained_variance_ratio, threshold)

    @property
    def participation_ratio(self) -> float:
        """:func:`participation_ratio` of the explained variances."""
        return participation_ratio(self.explained_variance)


def _samples_by_units(activity: NDArray[np.floating]) -> NDArray[np.float64]:
    x = np.asarray(activity)
    if x.ndim < 2:
        raise ValueError(f"activity must have shape (..., units) with at least 2 dimensions, got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"activity must be a real numeric array, got dtype {x.dtype}")
    x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"activity needs >= 2 samples and >= 1 unit, got {x.shape[0]} x {x.shape[1]}")
    if not np.isfinite(x).all():
        raise ValueError("activity must be finite (it holds NaN or inf)")
    return x


def pca(activity: NDArray[np.floating]) -> PCAResult:
    """PCA of ``activity (..., units)``: every leading index is a sample (e.g. ``(T, B, H)`` -> ``T·B`` samples).

    Variances use ``samples − 1`` degrees of freedom (as scikit-learn's ``PCA``).
    """
    x = _samples_by_units(activity)
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2 / (x.shape[0] - 1)
    total = variance.sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    return PCAResult(explained_variance=variance, explained_variance_ratio=ratio, components=vt, mean=mean)


def n_components(explained_variance_ratio: NDArray[np.floating], threshold: float = 0.9) -> int:
    """The smallest ``k`` whose first ``k`` components explain at least ``threshold`` of the variance.

    Args:
        explained_variance_ratio: ``(K,)`` ratios, largest first (e.g. :attr:`PCAResult.explained_variance_ratio`).
        threshold: in ``(0, 1]``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    ratio = np.asarray(explained_variance_ratio, dtype=np.float64)
    if ratio.ndim != 1 or ratio.size == 0 or not np.isfinite(ratio).all() or (ratio < 0).any():
        raise ValueError("explained_variance_ratio must be a non-empty 1-D array of finite ratios >= 0")
    if ratio.sum() <= 0:
        raise ValueError("explained_variance_ratio sums to 0: the activity has no variance")
    cumulative = np.cumsum(ratio) / ratio.sum()
    # a relative tolerance so that a threshold met exactly (e.g. 1.0) is not missed through rounding
    return int(np.searchsorted(cumulative, threshold - 1e-12 * max(1.0, threshold), side="left")) + 1


def participation_ratio(values: NDArray[np.floating]) -> float:
    """Participation ratio ``(Σλ)² / Σλ²``.

    Args:
        values: ``(K,)`` covariance eigenvalues (e.g. :attr:`PCAResult.explained_variance`), or activity
            ``(..., units)`` (2-D or more), whose PCA eigenvalues are used.
    """
    x = np.asarray(values, dtype=np.float64)
    eigen = pca(x).explained_variance if x.ndim >= 2 else x
    if eigen.ndim != 1 or eigen.size == 0 or not np.isfinite(eigen).all() or (eigen < 0).any():
        raise ValueError("values must be eigenvalues >= 0 (1-D) or activity (..., units)")
    square = float((eigen**2).sum())
    if square == 0:
        raise ValueError("values have no variance: the participation ratio is undefined")
    return float(eigen.sum() ** 2 / square) if math.isfinite(square) else math.nan
