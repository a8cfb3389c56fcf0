"""Task variance and functional clusters of units (Yang et al. 2019, Nat Neurosci 22:297, Fig. 2–3).

Following gyyang/multitask (``analysis/variance.py``, ``analysis/clustering.py``):

1. For each rule, run the network (no noise) on that rule's explicit-condition test batch (``task.test_grid()``,
   Yang's ``mode='test'``). A unit's **task variance** is its variance across trials (stimulus conditions) at
   each time step, averaged over time, from the end of the first (fixation) period to the end of the trial.
2. Units whose summed variance over rules is ``<= 1e-3`` are inactive and dropped; each remaining unit's vector
   is divided by its maximum over rules (Yang's ``normalization_method='max'``).
3. KMeans (``n_init=20``) for k = 2…29 (fewer when there are fewer units), k chosen by the highest silhouette
   score; clusters ordered by the rule each prefers (the rule of the largest summed normalised variance).
4. Lesion each cluster (:func:`~mtrnn.analysis.perturbation.ablate`) and score every rule.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.analysis.drive import analysis_batches, check_positive_int, run_network
from mtrnn.analysis.perturbation import AblationResult, ablation_effect
from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.task import Task

__all__ = [
    "ACTIVE_THRESHOLD",
    "ClusterMethod",
    "TaskVariance",
    "UnitClusters",
    "cluster_units",
    "lesion_clusters",
    "task_variance",
    "task_variance_from_states",
]

#: Yang's threshold on a unit's summed task variance below which it counts as inactive.
ACTIVE_THRESHOLD = 1e-3


class ClusterMethod(enum.Enum):
    """How :func:`cluster_units` groups units."""

    KMEANS = "kmeans"
    """``sklearn.cluster.KMeans(k, n_init=20, random_state=seed)`` (Yang)."""
    AGGLOMERATIVE = "agglomerative"
    """``AgglomerativeClustering(k, metric='cosine', linkage='average')`` (Yang's commented alternative)."""


@dataclass(frozen=True)
class TaskVariance:
    """Per-unit variance across conditions for every rule.

    Attributes:
        variance: ``(H, rules)`` raw task variance.
        rules: one name per rule (column).
        active: ``(H,)`` True where the summed variance exceeds the threshold.
        threshold: the activity threshold used.
    """

    variance: NDArray[np.float64]
    rules: tuple[str, ...]
    active: NDArray[np.bool_]
    threshold: float

    @property
    def active_units(self) -> NDArray[np.int64]:
        """Indices of the active units."""
        return np.flatnonzero(self.active)

    @property
    def normalized(self) -> NDArray[np.float64]:
        """``(n_active, rules)``: active units' variance divided by their maximum over rules (Yang's 'max')."""
        v = self.variance[self.active]
        return v / v.max(axis=1, keepdims=True)


def task_variance_from_states(
    states: Mapping[str, NDArray[np.floating]], starts: Mapping[str, int], threshold: float = ACTIVE_THRESHOLD
) -> TaskVariance:
    """Task variance from activity ``{rule: (T, B, H)}``, each counted from step ``starts[rule]``.

    ``var`` over trials (axis 1) at each step, then the mean over steps (Yang's ``val.var(axis=1).mean(axis=0)``).
    """
    if not states:
        raise ValueError("states must hold at least one rule")
    if not (isinstance(threshold, (int, float)) and threshold >= 0):
        raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
    columns = []
    sizes = set()
    for rule, h in states.items():
        array = np.asarray(h, dtype=np.float64)
        if array.ndim != 3 or array.shape[1] < 2:
            raise ValueError(f"states[{rule!r}] must have shape (T, B >= 2, H), got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"states[{rule!r}] holds NaN or inf")
        start = int(starts.get(rule, 0))
        if not 0 <= start < array.shape[0]:
            raise ValueError(f"starts[{rule!r}] must lie in [0, {array.shape[0]}), got {start}")
        columns.append(array[start:].var(axis=1).mean(axis=0))
        sizes.add(array.shape[2])
    if len(sizes) != 1:
        raise ValueError(f"every rule's states must have the same number of units, got {sorted(sizes)}")
    variance = np.stack(columns, axis=1)
    return TaskVariance(
        variance=variance, rules=tuple(states), active=variance.sum(axis=1) > threshold, threshold=float(threshold)
    )


def _analysis_window(batch: TrialBatch) -> tuple[int, int]:
    """Steps ``[start, stop)`` shared by every trial: from the end of the first period to the shortest trial's end."""
    first = next(iter(batch.periods.values()))
    start = int(np.max(first[1]))
    stop = int(np.min(batch.lengths))
    if stop - start < 1:
        start = 0
    return start, stop


def task_variance(
    network: RecurrentNetwork,
    task: Task,
    *,
    batches: Mapping[str, TrialBatch] | None = None,
    threshold: float = ACTIVE_THRESHOLD,
) -> TaskVariance:
    """Task variance of every hidden unit of ``network`` on each rule of ``task`` (Yang 2019).

    Args:
        network: the trained network (run in eval mode, no noise).
        task: a :class:`~mtrnn.envs.MultiTask` (one column per component) or a single task.
        batches: ``{rule: batch}`` to use instead of :func:`~mtrnn.analysis.drive.analysis_batches` (the
            components' ``test_grid()``).
        threshold: summed variance at or below which a unit is inactive (Yang: 1e-3).
    """
    batches = analysis_batches(task) if batches is None else batches
    states: dict[str, NDArray[np.floating]] = {}
    starts: dict[str, int] = {}
    for rule, batch in batches.items():
        _, h = run_network(network, batch.inputs)
        start, stop = _analysis_window(batch)
        states[rule] = h[:stop, :, : network.cell.hidden_size]  # LSTM: h of concat(h, c)
        starts[rule] = start
    return task_variance_from_states(states, starts, threshold)


@dataclass(frozen=True)
class UnitClusters:
    """Functional clusters of the active units.

    Attributes:
        units: ``(n_active,)`` unit indices, sorted by cluster.
        labels: ``(n_active,)`` cluster of each unit in ``units`` (0 … k − 1, ordered by preferred rule).
        normalized: ``(n_active, rules)`` normalised task variance, rows as ``units``.
        rules: rule names.
        n_clusters: the chosen k.
        candidates: ``(K,)`` the k tried.
        scores: ``(K,)`` silhouette score of each k.
    """

    units: NDArray[np.int64]
    labels: NDArray[np.int64]
    normalized: NDArray[np.float64]
    rules: tuple[str, ...]
    n_clusters: int
    candidates: NDArray[np.int64]
    scores: NDArray[np.float64]

    def members(self) -> dict[str, list[int]]:
        """``{"cluster c": [unit indices]}`` for every cluster."""
        return {f"cluster {c + 1}": self.units[self.labels == c].tolist() for c in range(self.n_clusters)}

    @property
    def rule_by_cluster(self) -> NDArray[np.float64]:
        """``(rules, k)`` mean normalised variance of each cluster for each rule (Yang's Fig. 3 heat map)."""
        return np.stack([self.normalized[self.labels == c].mean(axis=0) for c in range(self.n_clusters)], axis=1)


def cluster_units(
    variance: TaskVariance,
    *,
    method: ClusterMethod = ClusterMethod.KMEANS,
    k_range: tuple[int, int] = (2, 30),
    seed: int = 0,
    n_init: int = 20,
) -> UnitClusters:
    """Cluster the active units by normalised task variance, k by the highest silhouette score (Yang 2019).

    Args:
        variance: from :func:`task_variance`.
        method: :class:`ClusterMethod`.
        k_range: ``[low, high)`` of k tried (Yang: 2…29); capped at ``n_active − 1`` (silhouette needs it).
        seed: KMeans' random state.
        n_init: KMeans restarts per k (Yang: 20).
    """
    try:
        from sklearn.cluster import AgglomerativeClustering, KMeans
        from sklearn.metrics import silhouette_score
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("cluster_units needs scikit-learn: pip install 'mtrnn[analysis]'") from error
    n_init = check_positive_int("n_init", n_init)
    if not isinstance(method, ClusterMethod):
        raise TypeError(f"method must be a ClusterMethod ({', '.join(m.name for m in ClusterMethod)}), got {method!r}")
    low, high = k_range
    x = variance.normalized
    n_active = x.shape[0]
    n_distinct = np.unique(np.round(x, 9), axis=0).shape[0]
    if n_distinct < 3:
        raise ValueError(
            f"variance has {n_distinct} distinct normalised task-variance profiles among {n_active} active units; "
            "clustering needs at least 3 (and at least 2 rules: with one rule every profile is 1)"
        )
    high = min(int(high), n_distinct)
    if int(low) < 2 or high <= int(low):
        raise ValueError(
            f"k_range must give at least one k in [2, {n_distinct - 1}] (distinct profiles - 1), got {k_range}"
        )
    candidates = np.arange(int(low), high)
    scores, labelings = [], []
    for k in candidates:
        if method is ClusterMethod.KMEANS:
            labels = KMeans(int(k), n_init=n_init, random_state=seed).fit(x).labels_
        else:
            labels = AgglomerativeClustering(int(k), metric="cosine", linkage="average").fit(x).labels_
        n_found = np.unique(labels).size
        scores.append(silhouette_score(x, labels) if 1 < n_found < n_active else -1.0)
        labelings.append(labels)
    best = int(np.argmax(scores))
    labels = np.asarray(labelings[best])
    found = np.unique(labels)
    preference = np.array([np.argmax(x[labels == c].sum(axis=0)) for c in found])
    order = found[np.argsort(preference, kind="stable")]
    relabel = np.empty(int(labels.max()) + 1, dtype=np.int64)
    relabel[order] = np.arange(order.size)
    labels = relabel[labels]
    sort = np.argsort(labels, kind="stable")
    return UnitClusters(
        units=variance.active_units[sort],
        labels=labels[sort],
        normalized=x[sort],
        rules=variance.rules,
        n_clusters=int(order.size),
        candidates=candidates,
        scores=np.asarray(scores, dtype=np.float64),
    )


def lesion_clusters(
    network: RecurrentNetwork,
    task: Task,
    clusters: UnitClusters,
    *,
    n_trials: int = 256,
    seed: int = 0,
    task_names: tuple[str, ...] | None = None,
    progress: bool = False,
) -> AblationResult:
    """Lesion each cluster in turn and score every rule (Yang 2019, Fig. 3): the per-task performance table."""
    n_trials = check_positive_int("n_trials", n_trials)
    return ablation_effect(
        network, task, clusters.members(), n_trials=n_trials, seed=seed, task_names=task_names, progress=progress
    )
