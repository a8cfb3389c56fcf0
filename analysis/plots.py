"""Figures of the analyses (matplotlib; every function returns the Figure and never shows it)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from mtrnn.analysis.dimensionality import PCAResult
from mtrnn.analysis.perturbation import AblationResult, PerturbationResult
from mtrnn.analysis.task_variance import UnitClusters
from mtrnn.analysis.timescales import FitModel, NetworkTimescales

__all__ = [
    "plot_ablation",
    "plot_pca",
    "plot_perturbation",
    "plot_similarity",
    "plot_task_variance",
    "plot_timescales",
]


def plot_timescales(result: NetworkTimescales, title: str | None = None, n_examples: int = 4) -> Figure:
    """Histogram of ``τ_net`` (and the trained τ beside it), and example autocorrelations with their fits."""
    fig, (ax_hist, ax_acf) = plt.subplots(1, 2, figsize=(10, 3.8))
    tau = result.tau_net[np.isfinite(result.tau_net)]
    values = [tau] + ([result.tau_trained] if result.tau_trained is not None else [])
    pooled = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values]) if values else np.array([1.0])
    low, high = (pooled.min(), pooled.max()) if pooled.size else (1.0, 10.0)
    bins = np.geomspace(max(low * 0.8, 1e-2), max(high * 1.25, low * 2), 30)
    ax_hist.hist(tau, bins=bins, alpha=0.7, label=f"τ_net (fitted, n = {tau.size})", color="C0")
    if result.tau_trained is not None:
        ax_hist.hist(
            result.tau_trained,
            bins=bins,
            alpha=0.6,
            label="single-unit τ (trained)" if result.tau_is_trained else "single-unit τ = 1/α (fixed)",
            color="C1",
        )
    ax_hist.set_xscale("log")
    ax_hist.set_xlabel("timescale (steps)")
    ax_hist.set_ylabel("units")
    failed = int((result.fit.failure != 0).sum())
    ax_hist.set_title(f"{failed} of {result.tau_net.size} units without a fit" if failed else "every unit fitted")
    ax_hist.legend(fontsize=8)
    lags = result.fit.lags
    good = np.flatnonzero(np.isfinite(result.tau_net))
    if good.size:
        order = good[np.argsort(result.tau_net[good])]
        picks = order[np.linspace(0, order.size - 1, min(n_examples, order.size)).astype(int)]
        for color, unit in enumerate(picks):
            model = "single" if result.fit.model[unit] == FitModel.SINGLE else "double"
            ax_acf.plot(lags, result.acf[:, unit], "o", ms=3, color=f"C{color}")
            ax_acf.plot(
                lags,
                result.fit.curve(int(unit)),
                "-",
                color=f"C{color}",
                label=f"unit {unit}: τ_net = {result.tau_net[unit]:.1f} ({model})",
            )
    ax_acf.set_xlabel("lag (steps)")
    ax_acf.set_ylabel("autocorrelation")
    ax_acf.legend(fontsize=7)
    ax_acf.set_title("autocorrelation (dots) and the AIC-chosen fit (lines)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_pca(result: PCAResult, threshold: float = 0.9, title: str | None = None, max_components: int = 40) -> Figure:
    """Explained variance per component and cumulative, with the number of PCs to ``threshold`` marked."""
    ratio = result.explained_variance_ratio[:max_components]
    k = result.n_components(threshold)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    index = np.arange(1, ratio.size + 1)
    ax.bar(index, ratio, color="C0", alpha=0.6, label="per component")
    ax.plot(index, np.cumsum(result.explained_variance_ratio)[: ratio.size], "o-", ms=3, color="C1", label="cumulative")
    ax.axhline(threshold, color="gray", ls="--", lw=1)
    ax.axvline(k, color="C3", ls=":", lw=1.5, label=f"{k} PCs reach {threshold:.0%}")
    ax.set_xlabel("principal component")
    ax.set_ylabel("fraction of variance")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="center right")
    ax.set_title(title or f"participation ratio {result.participation_ratio:.2f}")
    fig.tight_layout()
    return fig


def plot_ablation(result: AblationResult, title: str | None = None) -> Figure:
    """Performance change per ablated group and task: bars for one task, a heat map for several."""
    change = result.change
    n_groups, n_tasks = change.shape
    if n_tasks == 1:
        fig, ax = plt.subplots(figsize=(max(6, min(14, 0.08 * n_groups + 4)), 3.8))
        order = np.argsort(change[:, 0])
        ax.bar(np.arange(n_groups), change[order, 0], color="C3", width=1.0 if n_groups > 60 else 0.8)
        ax.set_xlabel("ablated group, sorted by effect" + (" (units)" if n_groups > 20 else ""))
        if n_groups <= 20:
            ax.set_xticks(np.arange(n_groups), [result.group_names[i] for i in order], rotation=60, ha="right")
        ax.set_ylabel(f"Δ performance ({result.task_names[0]})")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(title or f"ablation; intact performance {result.baseline[0]:.3f}")
    else:
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * n_tasks + 3), max(3.5, 0.3 * n_groups + 1.5)))
        bound = max(0.05, float(np.abs(change).max()))
        image = ax.imshow(change, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_xticks(np.arange(n_tasks), result.task_names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(np.arange(n_groups), result.group_names, fontsize=8)
        fig.colorbar(image, ax=ax, label="Δ performance")
        ax.set_title(title or "performance change after ablation")
    fig.tight_layout()
    return fig


def plot_perturbation(results: Sequence[PerturbationResult], title: str | None = None) -> Figure:
    """Performance (mean ± std over directions) against ε for each target and task; ε = 0 drawn at the left."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r_index, result in enumerate(results):
        eps = result.epsilons
        positive = eps > 0
        left = eps[positive].min() / 3 if positive.any() else 1e-3
        x = np.where(positive, eps, left)
        for t_index, task in enumerate(result.task_names):
            mean, std = result.mean[:, t_index], result.std[:, t_index]
            color = f"C{(r_index * len(result.task_names) + t_index) % 10}"
            label = f"{result.target.value}" + (f" · {task}" if len(result.task_names) > 1 else "")
            ax.plot(x, mean, "o-", ms=3, color=color, label=label)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("ε (relative size ‖δW‖/‖W‖; leftmost point: ε = 0)")
    ax.set_ylabel("performance")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    n_dir = results[0].performance.shape[1] if results else 0
    ax.set_title(title or f"perturbation, mean ± std over {n_dir} random directions")
    fig.tight_layout()
    return fig


def plot_task_variance(clusters: UnitClusters, title: str | None = None) -> Figure:
    """Yang 2019 Fig. 2–3: normalised task variance (rules × units, sorted by cluster), the rule × cluster map and
    the silhouette score per k."""
    fig = plt.figure(figsize=(14, 4.8))
    grid = fig.add_gridspec(2, 3, width_ratios=[3.2, 1.4, 1.2], height_ratios=[12, 1], hspace=0.05, wspace=0.75)
    ax_units = fig.add_subplot(grid[0, 0])
    ax_bar = fig.add_subplot(grid[1, 0], sharex=ax_units)
    ax_map = fig.add_subplot(grid[0, 1])
    ax_score = fig.add_subplot(grid[0, 2])
    rules = clusters.rules
    image = ax_units.imshow(clusters.normalized.T, cmap="hot", aspect="auto", vmin=0, vmax=1, interpolation="nearest")
    ax_units.set_yticks(np.arange(len(rules)), rules, fontsize=7)
    ax_units.set_title(f"normalised task variance of {clusters.units.size} active units")
    ax_units.tick_params(labelbottom=False)
    colors = plt.get_cmap("tab20")(clusters.labels % 20)
    ax_bar.imshow(colors[None, :, :3], aspect="auto", interpolation="nearest")
    ax_bar.set_yticks([])
    ax_bar.set_xlabel("units, grouped by cluster")
    for c in range(clusters.n_clusters):
        where = np.flatnonzero(clusters.labels == c)
        ax_bar.text(where.mean(), 0, str(c + 1), ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax_units, fraction=0.03, pad=0.01)
    ax_map.imshow(clusters.rule_by_cluster, cmap="hot", aspect="auto", vmin=0, vmax=1, interpolation="nearest")
    ax_map.set_yticks(np.arange(len(rules)), rules, fontsize=7)
    ax_map.set_xticks(np.arange(clusters.n_clusters), [str(c + 1) for c in range(clusters.n_clusters)], fontsize=7)
    ax_map.set_xlabel("cluster")
    ax_map.set_title("rule × cluster")
    ax_score.plot(clusters.candidates, clusters.scores, "o-", ms=3)
    ax_score.axvline(clusters.n_clusters, color="C3", ls=":")
    ax_score.set_xlabel("k")
    ax_score.set_ylabel("silhouette score")
    ax_score.set_title(f"k = {clusters.n_clusters}")
    if title:
        fig.suptitle(title)
    return fig


def plot_similarity(
    names: Sequence[str], matrices: dict[str, NDArray[np.floating]], title: str | None = None
) -> Figure:
    """One heat map per measure (``{measure: (n, n) matrix}``) between the named networks."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, (measure, matrix) in zip(axes[0], matrices.items(), strict=True):
        values = np.asarray(matrix, dtype=np.float64)
        image = ax.imshow(values, cmap="viridis")
        low, high = float(values.min()), float(values.max())
        ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(np.arange(len(names)), names, fontsize=8)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                bright = high > low and (values[i, j] - low) / (high - low) > 0.6
                color = "black" if bright else "white"
                ax.text(j, i, f"{values[i, j]:.3g}", ha="center", va="center", fontsize=7, color=color)
        ax.set_title(measure)
        fig.colorbar(image, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
