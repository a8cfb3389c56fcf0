"""The six Go/Anti tasks of Yang et al. 2019: Go, RT Go, Dly Go, Anti, RT Anti, Dly Anti.

One stimulus, of strength 1, in modality ring 1 or 2 (drawn per trial), at a direction drawn uniformly on the
circle. The answer is the stimulus direction (Go) or the opposite direction (Anti, ``+π``). The three timings
(Yang's ``fdgo_``, ``reactgo_``, ``delaygo_``):

* Go / Anti (``fdgo``/``fdanti``): the stimulus comes on during fixation and stays on; the fixation cue goes off
  after ``stim1`` (go signal).
* RT Go / RT Anti (``reactgo``/``reactanti``): the fixation cue stays on all trial; the stimulus onset is the go
  signal (respond as soon as it appears).
* Dly Go / Dly Anti (``delaygo``/``delayanti``): the stimulus is flashed, then a memory delay, then the fixation
  cue goes off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.conditions import Condition, Integers, Reals
from mtrnn.envs.timing import Choice, Fixed, TimingSpec, Uniform
from mtrnn.envs.yang19.base import Stimulus, Yang19Task
from mtrnn.envs.yang19.grids import ConditionGrid, grid_conditions
from mtrnn.envs.yang19.rules import Rule

__all__ = [
    "Yang19Anti",
    "Yang19DelayAnti",
    "Yang19DelayGo",
    "Yang19Go",
    "Yang19ReactAnti",
    "Yang19ReactGo",
]

_TWO_PI = 2 * np.pi
#: Yang's test-mode grid: 20 directions x 2 modalities.
_TEST_DIRECTIONS = _TWO_PI * np.arange(20) / 20


class _GoAntiTask(Yang19Task):
    anti: ClassVar[bool] = False

    @property
    def condition_domains(self) -> dict[str, Condition]:
        return {"direction": Reals(0.0, _TWO_PI), "modality": Integers(1, 3)}

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> dict[str, NDArray]:
        return {"direction": rng.uniform(0.0, _TWO_PI, batch_size), "modality": rng.integers(1, 3, batch_size)}

    def _finalize_conditions(
        self,
        conditions: dict[str, NDArray],
        given: Mapping[str, NDArray],
        rng: np.random.Generator,
        auxiliary: Mapping[str, NDArray],
    ) -> dict[str, NDArray]:
        response = np.mod(conditions["direction"] + (np.pi if self.anti else 0.0), _TWO_PI)
        return {**conditions, "response": response, "go": np.ones(response.shape, dtype=bool)}

    @property
    def stimulus_periods(self) -> tuple[str, ...]:
        """The periods in which the stimulus is shown."""
        raise NotImplementedError

    def _stimuli(self, conditions: Mapping[str, NDArray]) -> list[Stimulus]:
        direction = conditions["direction"]
        return [Stimulus(self.stimulus_periods, direction, np.ones(direction.shape), conditions["modality"])]

    def _grid(self, durations: Mapping[str, float]) -> ConditionGrid:
        fixed = {f"{k}_duration": v for k, v in durations.items()}
        return grid_conditions({"direction": _TEST_DIRECTIONS, "modality": [1, 2]}, fixed=fixed)


class _FixationOffTask(_GoAntiTask):
    """Go / Anti: stimulus on from ``stim1`` to the end; the fixation cue goes off at ``go1``."""

    period_names: ClassVar[tuple[str, ...]] = ("fix1", "stim1", "go1")

    def default_timing(self) -> dict[str, TimingSpec]:
        return {"fix1": Uniform(300, 700), "stim1": Uniform(500, 1500), "go1": Fixed(500)}

    @property
    def stimulus_periods(self) -> tuple[str, ...]:
        return ("stim1", "go1")

    def test_grid(self) -> ConditionGrid:
        return self._grid({"fix1": 500.0, "stim1": 1000.0, "go1": 500.0})


class _ReactionTask(_GoAntiTask):
    """RT Go / RT Anti: the fixation cue stays on; the stimulus onset (``go1``) is the go signal."""

    period_names: ClassVar[tuple[str, ...]] = ("fix1", "go1")

    def default_timing(self) -> dict[str, TimingSpec]:
        return {"fix1": Uniform(500, 2500), "go1": Fixed(500)}

    @property
    def fixation_periods(self) -> tuple[str, ...]:
        return self.period_names

    @property
    def stimulus_periods(self) -> tuple[str, ...]:
        return ("go1",)

    def test_grid(self) -> ConditionGrid:
        return self._grid({"fix1": 2000.0, "go1": 500.0})


class _MemoryTask(_GoAntiTask):
    """Dly Go / Dly Anti: the stimulus is shown in ``stim1`` only; respond after the delay."""

    period_names: ClassVar[tuple[str, ...]] = ("fix1", "stim1", "delay1", "go1")

    def default_timing(self) -> dict[str, TimingSpec]:
        return {
            "fix1": Choice([300, 500, 700]),
            "stim1": Choice([200, 400, 600]),
            "delay1": Choice([200, 400, 800, 1600]),
            "go1": Fixed(500),
        }

    @property
    def stimulus_periods(self) -> tuple[str, ...]:
        return ("stim1",)

    def test_grid(self) -> ConditionGrid:
        return self._grid({"fix1": 500.0, "stim1": 500.0, "delay1": 1000.0, "go1": 500.0})


class Yang19Go(_FixationOffTask):
    """Go (``fdgo``), Yang et al. 2019: respond in the stimulus direction when the fixation cue goes off.

    ## Trial periods (default, dt = 20 ms)
    | period | duration       | fixation cue | stimulus | correct action            |
    |--------|----------------|--------------|----------|---------------------------|
    | fix1   | U(300, 700) ms | on           | off      | fixate                    |
    | stim1  | U(500, 1500)ms | on           | on       | fixate                    |
    | go1    | 500 ms         | off          | on       | respond at the stimulus   |

    ## Observation, actions, targets, mask, score
    See :mod:`mtrnn.envs.yang19.base`: ``n_in = 85`` (fixation, 2 x 32 ring units, 20 rule units), 33 actions
    (0 = fixate, ``k`` = direction ``2π(k-1)/32``), Yang's cost mask and ``get_perf``.

    ## Conditions
    ``direction`` (rad, [0, 2π]), ``modality`` (1 or 2); derived ``response`` (= direction), ``go`` (True);
    durations ``fix1_duration``, ``stim1_duration``, ``go1_duration`` (ms).

    ## Reference
    Yang et al. (2019) Nat Neurosci 22:297, task "Go" (``fdgo``).

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.FDGO
    answer: ClassVar[str] = "respond at the stimulus direction when the fixation cue goes off"


class Yang19Anti(_FixationOffTask):
    """Anti (``fdanti``), Yang et al. 2019: as :class:`Yang19Go`, but respond opposite the stimulus (``+π``).

    Periods ``fix1`` U(300, 700) ms, ``stim1`` U(500, 1500) ms (stimulus on from ``stim1`` to the end),
    ``go1`` 500 ms (fixation cue off). Conditions ``direction``, ``modality``; ``response = direction + π``.

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.FDANTI
    anti: ClassVar[bool] = True
    answer: ClassVar[str] = "respond opposite the stimulus when the fixation cue goes off"


class Yang19ReactGo(_ReactionTask):
    """RT Go (``reactgo``), Yang et al. 2019: respond in the stimulus direction as soon as the stimulus appears.

    ## Trial periods (default, dt = 20 ms)
    | period | duration        | fixation cue | stimulus | correct action          |
    |--------|-----------------|--------------|----------|-------------------------|
    | fix1   | U(500, 2500) ms | on           | off      | fixate                  |
    | go1    | 500 ms          | on           | on       | respond at the stimulus |

    The fixation cue never goes off: the stimulus onset is the go signal.

    ## Conditions
    ``direction``, ``modality``; ``response`` (= direction), ``go``; ``fix1_duration``, ``go1_duration``.

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.REACTGO
    answer: ClassVar[str] = "respond at the stimulus direction as soon as it appears"


class Yang19ReactAnti(_ReactionTask):
    """RT Anti (``reactanti``), Yang et al. 2019: respond opposite the stimulus as soon as it appears.

    Periods ``fix1`` U(500, 2500) ms, ``go1`` 500 ms (stimulus on); the fixation cue stays on.
    ``response = direction + π``.

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.REACTANTI
    anti: ClassVar[bool] = True
    answer: ClassVar[str] = "respond opposite the stimulus as soon as it appears"


class Yang19DelayGo(_MemoryTask):
    """Dly Go (``delaygo``), Yang et al. 2019: remember the flashed stimulus, respond there after the delay.

    ## Trial periods (default, dt = 20 ms)
    | period | duration                   | fixation cue | stimulus | correct action              |
    |--------|----------------------------|--------------|----------|-----------------------------|
    | fix1   | {300, 500, 700} ms         | on           | off      | fixate                      |
    | stim1  | {200, 400, 600} ms         | on           | on       | fixate                      |
    | delay1 | {200, 400, 800, 1600} ms   | on           | off      | fixate                      |
    | go1    | 500 ms                     | off          | off      | respond at the remembered   |

    ## Conditions
    ``direction``, ``modality``; ``response`` (= direction), ``go``; the four ``<period>_duration``.

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.DELAYGO
    answer: ClassVar[str] = "after the delay, respond at the remembered stimulus direction"


class Yang19DelayAnti(_MemoryTask):
    """Dly Anti (``delayanti``), Yang et al. 2019: as :class:`Yang19DelayGo`, but respond opposite (``+π``).

    Periods ``fix1`` {300, 500, 700}, ``stim1`` {200, 400, 600}, ``delay1`` {200, 400, 800, 1600}, ``go1`` 500 ms.

    ## Version history
    * v0: initial version.
    """

    rule: ClassVar[Rule] = Rule.DELAYANTI
    anti: ClassVar[bool] = True
    answer: ClassVar[str] = "after the delay, respond opposite the remembered stimulus"
