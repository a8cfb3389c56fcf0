"""Comparing two networks' trajectories: Dynamical Similarity Analysis plus two state-space baselines.

* **DSA** (Ostrow et al. 2023, NeurIPS; PyPI ``dsa-metric``): a thin wrapper over ``DSA.DSA`` (extra
  ``analysis``; nothing of DSA is re-implemented here). Each network's activity is delay-embedded
  (``n_delays``), a rank-``rank`` linear dynamics model is fitted (HAVOK DMD), and the two models are compared
  with ``score_method``. dsa-metric 2.0's default, :attr:`ScoreMethod.WASSERSTEIN`, compares the eigenvalue
  spectra only (about 0.05 s a pair); :attr:`ScoreMethod.ANGULAR` is the original Procrustes-over-vector-fields
  score, an optimisation over rotations costing about 1–4 min a pair on 2 CPU threads (measured here: 40 s for
  8 × 50 × 20 with ``iters=200``). Every result records the method and ``(n_delays, rank)`` it used.
* **Procrustes** (angular shape distance, Williams et al. 2021): ``arccos ‖X̃ᵀỸ‖_*`` of the centred,
  unit-Frobenius-norm state matrices: 0 when one is a rotation (and scaling) of the other, π/2 at most.
* **Linear CKA** (Kornblith et al. 2019): ``‖ỸᵀX̃‖²_F / (‖X̃ᵀX̃‖_F‖ỸᵀỸ‖_F)`` on centred states; 1 for identical
  geometry up to rotation and isotropic scaling.

Both networks run on the same explicit-condition batches (each rule's ``test_grid()``), noise-free.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mtrnn.analysis.dimensionality import pca
from mtrnn.analysis.drive import NetworkLike, analysis_batches, check_positive_int, resolve_network, run_network
from mtrnn.envs.task import Task

__all__ = [
    "ScoreMethod",
    "SimilarityResult",
    "compare_networks",
    "dsa_distance",
    "linear_cka",
    "network_trajectories",
    "procrustes_distance",
]


class ScoreMethod(enum.Enum):
    """dsa-metric's ``score_method``."""

    WASSERSTEIN = "wasserstein"
    """Distance between the DMD eigenvalue spectra (dsa-metric 2.0's default; fast)."""
    ANGULAR = "angular"
    """Angular Procrustes distance between the DMD matrices, optimised over rotations (the DSA paper; slow)."""
    EUCLIDEAN = "euclidean"
    """Euclidean Procrustes distance between the DMD matrices (slow, like angular)."""


def _states(name: str, x: NDArray[np.floating]) -> NDArray[np.float64]:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 3 or min(array.shape) < 1:
        raise ValueError(f"{name} must have shape (T, B, units), got {np.shape(x)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or inf")
    return array


def _samples(name: str, x: NDArray[np.floating]) -> NDArray[np.float64]:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(f"{name} must have shape (..., units), got {np.shape(x)}")
    array = array.reshape(-1, array.shape[-1])
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or inf")
    centred = array - array.mean(axis=0)
    norm = np.linalg.norm(centred)
    if norm == 0:
        raise ValueError(f"{name} has no variance")
    return centred / norm


def procrustes_distance(x: NDArray[np.floating], y: NDArray[np.floating]) -> float:
    """Angular Procrustes distance in ``[0, π/2]`` between states ``x (..., n)`` and ``y (..., m)``.

    Rows (all leading axes flattened) must correspond (same trials and steps); ``n`` and ``m`` may differ.
    """
    a, b = _samples("x", x), _samples("y", y)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {a.shape[0]} and {b.shape[0]}")
    nuclear = float(np.linalg.svd(a.T @ b, compute_uv=False).sum())
    return float(math.acos(min(1.0, max(-1.0, nuclear))))


def linear_cka(x: NDArray[np.floating], y: NDArray[np.floating]) -> float:
    """Linear centred kernel alignment in ``[0, 1]`` between states ``x (..., n)`` and ``y (..., m)``."""
    a, b = _samples("x", x), _samples("y", y)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {a.shape[0]} and {b.shape[0]}")
    cross = np.linalg.norm(b.T @ a) ** 2
    return float(cross / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def dsa_distance(
    x: NDArray[np.floating],
    y: NDArray[np.floating],
    *,
    n_delays: int = 5,
    rank: int = 10,
    score_method: ScoreMethod = ScoreMethod.WASSERSTEIN,
    delay_interval: int = 1,
    iters: int = 1500,
    lr: float = 5e-3,
) -> float:
    """DSA distance between trajectories ``x (T, B, n)`` and ``y (T, B, m)`` (dsa-metric's ``DSA(...).fit_score()``).

    Args:
        x, y: time-major trajectories, trials as dsa-metric's "trials" axis (they need not match in size).
        n_delays: delays of the Hankel embedding (>= 1).
        rank: rank of the fitted linear dynamics (>= 1, at most ``n_delays · units``).
        score_method: :class:`ScoreMethod`.
        delay_interval: steps between delays.
        iters, lr: optimiser settings of the angular/euclidean scores.
    """
    try:
        from DSA import DSA
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("dsa_distance needs dsa-metric: pip install 'mtrnn[analysis]'") from error
    a, b = _states("x", x), _states("y", y)
    n_delays = check_positive_int("n_delays", n_delays)
    rank = check_positive_int("rank", rank)
    delay_interval = check_positive_int("delay_interval", delay_interval)
    if not isinstance(score_method, ScoreMethod):
        raise TypeError(
            f"score_method must be a ScoreMethod ({', '.join(m.name for m in ScoreMethod)}), got {score_method!r}"
        )
    for name, array in (("x", a), ("y", b)):
        if rank > n_delays * array.shape[2]:
            raise ValueError(f"rank must be <= n_delays * units of {name} = {n_delays * array.shape[2]}, got {rank}")
        if array.shape[0] <= n_delays * delay_interval + 1:
            raise ValueError(f"{name} has {array.shape[0]} steps; n_delays * delay_interval needs more")
    model = DSA(
        np.ascontiguousarray(a.transpose(1, 0, 2)),
        np.ascontiguousarray(b.transpose(1, 0, 2)),
        n_delays=n_delays,
        delay_interval=delay_interval,
        rank=rank,
        score_method=score_method.value,
        iters=iters,
        lr=lr,
    )
    return float(np.asarray(model.fit_score()).reshape(-1)[0])


def network_trajectories(network: NetworkLike, task: Task, *, seed: int = 0) -> NDArray[np.float32]:
    """Hidden states ``(T, B, H)`` of a network on ``task``'s explicit-condition batches, noise-free.

    Every rule's test batch is cut to the shortest rule's length and the trials are stacked along ``B``, so two
    networks on the same task get exactly the same trials.
    """
    net = resolve_network(network)
    batches = analysis_batches(task, seed=seed)
    length = min(int(b.lengths.min()) for b in batches.values())
    parts = []
    for batch in batches.values():
        _, states = run_network(net, batch.inputs[:length])
        parts.append(states[..., : net.cell.hidden_size])
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class SimilarityResult:
    """Distances between two networks on the same trials, with every setting that produced them.

    Attributes:
        dsa: DSA distance (``score_method``; 0 = same dynamics).
        procrustes: angular Procrustes distance on states, in ``[0, π/2]``.
        cka: linear CKA on states, in ``[0, 1]`` (1 = same geometry).
        settings: ``n_delays``, ``rank``, ``score_method``, ``n_components``, trajectory shape, seconds.
    """

    dsa: float
    procrustes: float
    cka: float
    settings: dict[str, object] = field(default_factory=dict)


def compare_networks(
    a: NetworkLike,
    b: NetworkLike,
    task: Task,
    *,
    n_delays: int = 5,
    rank: int = 10,
    score_method: ScoreMethod = ScoreMethod.WASSERSTEIN,
    n_components: int | None = 10,
    seed: int = 0,
) -> SimilarityResult:
    """DSA, Procrustes and CKA between networks ``a`` and ``b`` on ``task``'s explicit-condition batches.

    Args:
        a, b: networks or run directories (any architectures; the task's inputs must fit both).
        task: the task whose test batches both networks see.
        n_delays, rank, score_method: DSA settings (see :func:`dsa_distance`).
        n_components: DSA sees each network's activity in its own top principal components (DSA is invariant
            to such rotations; this keeps the Hankel matrix small); None: all units. The baselines use all units.
        seed: seeds batches without a test grid.
    """
    start = time.perf_counter()
    x = network_trajectories(a, task, seed=seed)
    y = network_trajectories(b, task, seed=seed)
    xd: NDArray[np.floating] = x
    yd: NDArray[np.floating] = y
    if n_components is not None:
        n_components = check_positive_int("n_components", n_components)
        xd = pca(x).project(x, n_components)
        yd = pca(y).project(y, n_components)
    dsa = dsa_distance(xd, yd, n_delays=n_delays, rank=rank, score_method=score_method)
    settings: dict[str, object] = {
        "n_delays": n_delays,
        "rank": rank,
        "score_method": score_method.value,
        "n_components": n_components,
        "trajectory_shape": [list(x.shape), list(y.shape)],
    }
    result = SimilarityResult(dsa=dsa, procrustes=procrustes_distance(x, y), cka=linear_cka(x, y), settings=settings)
    settings["seconds"] = round(time.perf_counter() - start, 3)
    return result
