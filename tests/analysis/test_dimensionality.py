"""PCA on planted low-rank data; the PC count is a count (not an index); participation ratio; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mtrnn.analysis.dimensionality import n_components, participation_ratio, pca


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_planted_low_rank_data(rank: int) -> None:
    rng = np.random.default_rng(rank)
    latent = rng.standard_normal((3000, rank))
    basis = np.linalg.qr(rng.standard_normal((40, rank)))[0].T
    x = (latent @ basis).reshape(100, 30, 40) + 5.0
    result = pca(x)
    assert result.n_components(0.999) == rank
    assert result.explained_variance_ratio[rank:].sum() < 1e-10
    np.testing.assert_allclose(result.mean, x.reshape(-1, 40).mean(axis=0))
    # the components span the planted subspace
    projection = result.components[:rank] @ basis.T
    np.testing.assert_allclose(np.linalg.svd(projection, compute_uv=False), 1.0, atol=1e-8)
    assert result.participation_ratio == pytest.approx(rank, rel=0.15)


@pytest.mark.parametrize(("threshold", "expected"), [(0.5, 1), (0.51, 2), (0.9, 2), (0.91, 3), (1.0, 3)])
def test_number_of_components_is_a_count(threshold: float, expected: int) -> None:
    assert n_components(np.array([0.5, 0.4, 0.1]), threshold) == expected


def test_participation_ratio_of_isotropic_variance() -> None:
    assert participation_ratio(np.array([2.0, 2.0, 2.0, 0.0])) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pca(np.zeros(5)), "activity"),
        (lambda: pca(np.array([[np.nan, 1.0], [1.0, 2.0]])), "activity"),
        (lambda: n_components(np.array([0.5, 0.5]), 1.5), "threshold"),
        (lambda: n_components(np.array([]), 0.9), "explained_variance_ratio"),
        (lambda: participation_ratio(np.zeros(3)), "values"),
    ],
)
def test_bad_input(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]
