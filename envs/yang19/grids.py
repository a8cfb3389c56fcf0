"""Explicit-condition batches for analysis: Cartesian grids of conditions with fixed timings.

This replaces Yang's ``mode='test'`` / ``mode='psychometric'`` string modes: build a :class:`ConditionGrid` with
:func:`grid_conditions` (or take a task's own ``test_grid()``, Yang's test-mode grid) and sample it.

>>> import numpy as np
>>> from mtrnn.envs.yang19 import Yang19DelayGo, grid_conditions
>>> grid = grid_conditions(
...     {"direction": np.linspace(0, 2 * np.pi, 8, endpoint=False), "modality": [1, 2]},
...     fixed={"fix1_duration": 500.0, "stim1_duration": 500.0, "delay1_duration": 1000.0, "go1_duration": 500.0},
... )
>>> grid.batch_size
16
>>> grid.sample(Yang19DelayGo()).inputs.shape
(125, 16, 85)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mtrnn.envs.batch import TrialBatch

if TYPE_CHECKING:
    from mtrnn.envs.task import Task

__all__ = ["ConditionGrid", "grid_conditions"]


@dataclass(frozen=True)
class ConditionGrid:
    """Per-trial conditions of an explicit batch: every value is a ``(B,)`` array.

    Attributes:
        conditions: ``{name: (B,) array}``, keys as the task's ``all_condition_domains``.
    """

    conditions: Mapping[str, NDArray]

    def __post_init__(self) -> None:
        sizes = {np.asarray(v).shape for v in self.conditions.values()}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError(f"conditions must all be 1-D arrays of one length, got shapes {sorted(sizes)}")

    @property
    def batch_size(self) -> int:
        """``B``, the number of trials in the grid."""
        return int(np.asarray(next(iter(self.conditions.values()))).shape[0])

    def sample(self, task: Task, rng: np.random.Generator | None = None, noise: bool = False) -> TrialBatch:
        """The batch of ``task`` holding these trials (noise-free unless ``noise``; ``rng`` defaults to seed 0)."""
        rng = np.random.default_rng(0) if rng is None else rng
        return task.sample_batch(self.batch_size, rng, conditions=self.conditions, noise=noise)


def grid_conditions(axes: Mapping[str, ArrayLike], fixed: Mapping[str, float] | None = None) -> ConditionGrid:
    """All combinations of the values of ``axes`` (the first axis varies slowest), plus ``fixed`` scalars.

    Args:
        axes: ``{condition: values}``; each a non-empty 1-D sequence.
        fixed: ``{condition: value}`` shared by every trial (e.g. period durations in ms).

    Returns:
        A :class:`ConditionGrid` of ``prod(len(values))`` trials.
    """
    if not isinstance(axes, Mapping) or len(axes) == 0:
        raise ValueError("axes must be a non-empty mapping of condition name -> 1-D values")
    values = []
    for name, value in axes.items():
        array = np.asarray(value)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"axes[{name!r}] must be a non-empty 1-D sequence, got shape {array.shape}")
        values.append(array)
    mesh = np.meshgrid(*values, indexing="ij")
    conditions: dict[str, NDArray] = {name: m.ravel() for name, m in zip(axes, mesh, strict=True)}
    size = mesh[0].size
    for name, value in (fixed or {}).items():
        if name in conditions:
            raise ValueError(f"fixed[{name!r}] is also an axis; give it in one place only")
        if np.ndim(value) != 0:
            raise ValueError(f"fixed[{name!r}] must be a scalar, got {value!r}")
        conditions[name] = np.full(size, value)
    return ConditionGrid(conditions)
