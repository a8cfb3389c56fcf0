"""Task variance and clustering on planted selectivity; the Yang pipeline end to end on a tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents import NetworkConfig, build_network
from mtrnn.analysis.task_variance import cluster_units, lesion_clusters, task_variance, task_variance_from_states
from mtrnn.envs import MultiTask, make_task


def planted(seed: int = 0) -> dict[str, np.ndarray]:
    """Units 0–9 vary across conditions only in rule A, 10–19 only in B, 20–29 equally in both, 30 never."""
    rng = np.random.default_rng(seed)
    conditions = rng.standard_normal((1, 16, 1))
    gains = {"A": np.r_[np.ones(10), np.zeros(10), np.ones(10), 0.0], "B": np.r_[np.zeros(10), np.ones(20), 0.0]}
    states = {}
    for rule, gain in gains.items():
        h = conditions * gain + 0.01 * rng.standard_normal((20, 16, 31)) * (gain > 0)
        h[:5] = 0.0  # a fixation period without variance
        states[rule] = h
    return states


def test_variance_across_conditions_then_mean_over_time() -> None:
    states = planted()
    result = task_variance_from_states(states, {"A": 5, "B": 5})
    expected = states["A"][5:].var(axis=1).mean(axis=0)
    np.testing.assert_allclose(result.variance[:, 0], expected)
    assert result.rules == ("A", "B")
    assert result.active.tolist() == [True] * 30 + [False]
    normalized = result.normalized
    assert normalized.max(axis=1) == pytest.approx(1.0)
    assert (normalized[:10, 1] < 0.01).all() and (normalized[10:20, 0] < 0.01).all()


def test_clusters_recover_planted_groups() -> None:
    clusters = cluster_units(task_variance_from_states(planted(), {"A": 5, "B": 5}), k_range=(2, 5), n_init=4)
    assert clusters.n_clusters == 3
    groups = {frozenset(members) for members in clusters.members().values()}
    assert groups == {frozenset(range(10)), frozenset(range(10, 20)), frozenset(range(20, 30))}
    assert clusters.rule_by_cluster.shape == (2, 3)
    assert clusters.scores.shape == clusters.candidates.shape == (3,)


@pytest.mark.parametrize(
    ("states", "starts", "match"),
    [
        ({}, {}, "states"),
        ({"A": np.zeros((5, 1, 3))}, {}, "states"),
        ({"A": np.full((5, 2, 3), np.nan)}, {}, "states"),
        ({"A": np.zeros((5, 2, 3))}, {"A": 9}, "starts"),
    ],
)
def test_bad_input(states: dict[str, np.ndarray], starts: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        task_variance_from_states(states, starts)


def test_yang_pipeline_on_a_tiny_network() -> None:
    task = MultiTask([make_task("mtrnn/Yang19-Go-v0"), make_task("mtrnn/Yang19-Anti-v0")], rule_inputs=False)
    torch.manual_seed(0)
    network = build_network(NetworkConfig(hidden_size=12, recurrent_noise=0.0), task.n_inputs, task.n_outputs)
    variance = task_variance(network, task)
    assert variance.variance.shape == (12, 2) and variance.rules == ("Yang19Go", "Yang19Anti")
    clusters = cluster_units(variance, k_range=(2, 4), n_init=4)
    table = lesion_clusters(network, task, clusters, n_trials=8)
    assert table.performance.shape == (clusters.n_clusters, 2)
