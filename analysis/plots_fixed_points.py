"""The fixed-point picture: trajectories per condition in their top principal components with the fixed points
(filled: stable, open: unstable) and each point's leading eigenvector (Sussillo & Barak 2013, Fig. 3-like).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from mtrnn.analysis.fixed_points import FixedPoints

__all__ = ["pca_basis", "plot_fixed_points"]


def pca_basis(data: NDArray[np.floating], n_components: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean ``(S,)`` and the top ``n_components`` principal axes ``(n_components, S)`` of ``data (N, S)``."""
    data = np.asarray(data, dtype=np.float64)
    mean = data.mean(0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    axes = np.zeros((n_components, data.shape[1]))
    axes[: min(n_components, vt.shape[0])] = vt[:n_components]
    return mean, axes


def plot_fixed_points(
    fixed_points: FixedPoints,
    trajectories: NDArray[np.floating] | None = None,
    labels: Sequence[object] | NDArray | None = None,
    *,
    n_components: int = 2,
    eigenvector_length: float = 0.05,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Trajectories and fixed points in the top principal components of the trajectories.

    Args:
        fixed_points: from :func:`mtrnn.analysis.find_fixed_points`.
        trajectories: ``(T, B, S)`` network states (e.g. :func:`mtrnn.analysis.network_states`), one line per
            trial, coloured by ``labels``; None: only the points (PCs of the points themselves).
        labels: ``(B,)`` a condition per trial (e.g. the stimulus direction); trials with the same label share a
            colour and a legend entry. None: one colour per trial.
        n_components: 2 or 3 (a 3-D axis).
        eigenvector_length: half-length of each leading-eigenvector line, as a fraction of the span of PC 1; a
            line looks short when that eigenvector lies mostly outside the plotted PCs.
        ax: draw here (2-D, or 3-D for ``n_components=3``); None: a new figure.
        title: axis title.

    Returns:
        The figure.
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    if not isinstance(fixed_points, FixedPoints):
        raise TypeError(f"fixed_points must be a FixedPoints, got {type(fixed_points).__name__}")
    size = fixed_points.state_size
    traj = None
    if trajectories is not None:
        traj = np.asarray(trajectories, dtype=np.float64)
        if traj.ndim != 3 or traj.shape[2] != size:
            raise ValueError(f"trajectories must have shape (T, B, S = {size}), got {traj.shape}")
    if labels is not None:
        if traj is None:
            raise ValueError("labels need trajectories to colour")
        labels = np.asarray(labels)
        if labels.shape != (traj.shape[1],):
            raise ValueError(f"labels must have shape (B = {traj.shape[1]},), got {labels.shape}")
    if traj is not None:
        basis_data = traj.reshape(-1, size)
    elif len(fixed_points) > 0:
        basis_data = fixed_points.states
    else:
        raise ValueError("nothing to plot: no trajectories and no fixed points")
    mean, axes = pca_basis(basis_data, n_components)

    if ax is None:
        fig = plt.figure(figsize=(5.5, 4.8))
        ax = fig.add_subplot(projection="3d" if n_components == 3 else None)
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    assert isinstance(fig, Figure)

    def project(points: NDArray[np.floating]) -> NDArray[np.float64]:
        return (np.asarray(points, dtype=np.float64) - mean) @ axes.T

    if traj is not None:
        projected = project(traj)  # (T, B, n_components)
        keys = list(dict.fromkeys(labels.tolist())) if labels is not None else list(range(traj.shape[1]))
        cmap = plt.get_cmap("hsv" if len(keys) > 10 else "tab10")
        colours = {key: cmap(i / max(len(keys), 1) if len(keys) > 10 else i % 10) for i, key in enumerate(keys)}
        seen: set[object] = set()
        for trial in range(traj.shape[1]):
            key = labels[trial].item() if labels is not None else trial
            legend = str(key) if labels is not None and key not in seen else None
            seen.add(key)
            line = projected[:, trial].T
            ax.plot(*line, color=colours[key], lw=0.8, alpha=0.7, label=legend)
            ax.scatter(*projected[:1, trial].T, color=colours[key], s=8, marker="o", alpha=0.7)  # type: ignore[misc]
        span = float(np.ptp(projected[..., 0])) or 1.0
    else:
        span = float(np.ptp(project(fixed_points.states)[:, 0])) or 1.0

    if len(fixed_points) > 0:
        points = project(fixed_points.states)
        stable = fixed_points.is_stable
        if fixed_points.eigenvectors.shape[-1] > 0:
            lead = np.real(fixed_points.eigenvectors[:, :, 0])
            direction = lead @ axes.T  # (M, n_components): the eigenvector's component in the PCs
            half = eigenvector_length * span * direction
            for point, vector in zip(points, half, strict=True):
                ends = np.stack([point - vector, point + vector])
                ax.plot(*ends.T, color="crimson", lw=1.0, zorder=4)
        ax.scatter(*points[stable].T, s=40, color="black", zorder=5, label="stable")  # type: ignore[misc]
        ax.scatter(  # type: ignore[misc]
            *points[~stable].T, s=40, facecolors="white", edgecolors="black", zorder=5, label="unstable"
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if n_components == 3:
        ax.set_zlabel("PC 3")  # type: ignore[attr-defined]
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best", frameon=False)
    return fig
