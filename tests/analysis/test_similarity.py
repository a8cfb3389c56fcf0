"""Similarity measures on known answers: rotations, scalings, independent data; the dsa-metric wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from mtrnn.analysis.similarity import ScoreMethod, dsa_distance, linear_cka, procrustes_distance


@pytest.fixture(scope="module")
def trajectories() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((40, 6, 5))
    a = 0.9 * np.linalg.qr(rng.standard_normal((5, 5)))[0]
    x[0] = rng.standard_normal((6, 5))
    for t in range(1, 40):
        x[t] = x[t - 1] @ a.T + 0.05 * rng.standard_normal((6, 5))
    return x


def test_rotation_and_scaling_are_invisible(trajectories: np.ndarray) -> None:
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))[0]
    rotated = 3.0 * trajectories @ q + 2.0
    assert procrustes_distance(trajectories, rotated) == pytest.approx(0.0, abs=1e-6)
    assert linear_cka(trajectories, rotated) == pytest.approx(1.0)
    padded = np.concatenate([rotated, np.zeros((40, 6, 3))], axis=-1)  # different numbers of units
    assert procrustes_distance(trajectories, padded) == pytest.approx(0.0, abs=1e-6)


def test_independent_data_is_far(trajectories: np.ndarray) -> None:
    noise = np.random.default_rng(2).standard_normal(trajectories.shape)
    assert procrustes_distance(trajectories, noise) > 0.5
    assert linear_cka(trajectories, noise) < 0.5


def test_dsa_wrapper_same_dynamics_closer_than_other_dynamics(trajectories: np.ndarray) -> None:
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((5, 5)))[0]
    same = dsa_distance(trajectories, trajectories @ q, n_delays=2, rank=5, score_method=ScoreMethod.WASSERSTEIN)
    other = dsa_distance(
        trajectories,
        np.cumsum(np.random.default_rng(3).standard_normal(trajectories.shape), axis=0),
        n_delays=2,
        rank=5,
    )
    assert same < 1e-3 < other


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: procrustes_distance(x, x[:10]), "samples"),
        (lambda x: linear_cka(x, np.zeros_like(x)), "variance"),
        (lambda x: dsa_distance(x, x, n_delays=2, rank=50), "rank"),
        (lambda x: dsa_distance(x[..., 0], x), "x"),
    ],
)
def test_bad_input(trajectories: np.ndarray, call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(trajectories)  # type: ignore[operator]
