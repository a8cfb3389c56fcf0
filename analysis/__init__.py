"""Analysis of trained recurrent networks (``mtrnn.analysis``)."""

from mtrnn.analysis.fixed_points import (
    CellStep,
    ConvergenceReport,
    FixedPoints,
    FixedPointsWarning,
    HasLeak,
    Polish,
    StartStatus,
    find_fixed_points,
)
from mtrnn.analysis.fixed_points_starts import network_states, period_input, sample_initial_states
from mtrnn.analysis.plots_fixed_points import plot_fixed_points

__all__ = [
    "CellStep",
    "ConvergenceReport",
    "FixedPoints",
    "FixedPointsWarning",
    "HasLeak",
    "Polish",
    "StartStatus",
    "find_fixed_points",
    "network_states",
    "period_input",
    "plot_fixed_points",
    "sample_initial_states",
]
