"""The four matching tasks of Yang et al. 2019: DMS, DNMS, DMC and DNMC.

A sample stimulus (``direction1``, ring ``modality1``) is flashed; after a delay a test stimulus (``direction2``,
ring ``modality2``, drawn independently of ``modality1``) appears and stays on. The fixation cue never goes off:
the test onset is the go signal. On a go trial the answer is a saccade to the test stimulus; on a no-go trial the
network must keep fixating to the end of the trial (which counts as correct).

* DMS (``dmsgo``): go iff the test matches the sample direction; DNMS (``dmsnogo``): go iff it does not. Match
  with probability 0.5; a non-matching test is U(20°, 340°) away from the sample. A given ``direction2``
  matches iff it lies within 5° of ``direction1`` (Yang's psychometric rule).
* DMC (``dmcgo``): go iff sample and test are in the same category; DNMC (``dmcnogo``): go iff they are not.
  Directions are drawn from the ten locations (0.1, 0.3, …, 1.9)·π; category = direction < π. The response
  period is {200, 400, 600} ms (500 ms for DMS/DNMS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.conditions import Condition, Flag, Integers, Reals
from mtrnn.envs.task import Sampled
from mtrnn.envs.timing import Choice, Fixed, TimingSpec
from mtrnn.envs.yang19.base import Stimulus, Yang19Task
from mtrnn.envs.yang19.grids import ConditionGrid, grid_conditions
from mtrnn.envs.yang19.rings import circular_distance
from mtrnn.envs.yang19.rules import Rule

__all__ = [
    "CATEGORY_LOCATIONS",
    "Yang19DMCGo",
    "Yang19DMCNoGo",
    "Yang19DMSGo",
    "Yang19DMSNoGo",
    "Yang19MatchTask",
]

_TWO_PI = 2 * np.pi
#: DMS: a test within this distance of the sample is a match (Yang's ``psychometric`` mode: 5°).
_MATCH_TOLERANCE = np.pi / 36
#: DMC: the ten stimulus locations; the first five (< π) are category 1.
CATEGORY_LOCATIONS = np.pi * np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9])
_TEST_DURATIONS = {"fix1": 500.0, "stim1": 500.0, "delay1": 1200.0, "go1": 500.0}


class Yang19MatchTask(Yang19Task):
    """Common base of DMS, DNMS, DMC and DNMC (see the module docstring)."""

    period_names: ClassVar[tuple[str, ...]] = ("fix1", "stim1", "delay1", "go1")
    #: Go on a match (DMS, DMC) or on a non-match (DNMS, DNMC).
    go_on_match: ClassVar[bool] = True

    @property
    def condition_domains(self) -> dict[str, Condition]:
        return {
            "direction1": Reals(0.0, _TWO_PI),
            "direction2": Reals(0.0, _TWO_PI),
            "match": Flag(),
            "modality1": Integers(1, 3),
            "modality2": Integers(1, 3),
        }

    @property
    def fixation_periods(self) -> tuple[str, ...]:
        return self.period_names

    def _stimuli(self, conditions: Mapping[str, NDArray]) -> list[Stimulus]:
        strength = np.ones(conditions["direction1"].shape)
        return [
            Stimulus(("stim1",), conditions["direction1"], strength, conditions["modality1"]),
            Stimulus(self.periods_from("go1"), conditions["direction2"], strength, conditions["modality2"]),
        ]

    def _matches(self, direction1: NDArray, direction2: NDArray) -> NDArray[np.bool_]:
        raise NotImplementedError

    def _test_for(self, conditions: Mapping[str, NDArray], auxiliary: Mapping[str, NDArray]) -> NDArray[np.float64]:
        """A test direction for the sampled/given ``direction1`` and ``match`` (from the auxiliary draws)."""
        raise NotImplementedError

    def _finalize_conditions(
        self,
        conditions: dict[str, NDArray],
        given: Mapping[str, NDArray],
        rng: np.random.Generator,
        auxiliary: Mapping[str, NDArray],
    ) -> dict[str, NDArray]:
        """A given ``direction2`` decides ``match`` (and must agree with a given ``match``)."""
        if "direction2" in given:
            match = self._matches(conditions["direction1"], given["direction2"])
            if "match" in given and np.any(given["match"] != match):
                raise ValueError("conditions['match'] contradicts conditions['direction1'] and ['direction2']")
            direction2 = given["direction2"]
        else:
            match = np.asarray(conditions["match"], dtype=bool)
            direction2 = self._test_for(conditions, auxiliary)
        go = match if self.go_on_match else ~match
        return {**conditions, "direction2": direction2, "match": match, "response": direction2, "go": go}

    def test_grid(self) -> ConditionGrid:
        """Yang's test mode: 20 sample directions x 2 x 2 modalities, all go trials (match for DMS/DMC)."""
        grid = grid_conditions(
            {"direction1": self._test_samples(), "modality1": [1, 2], "modality2": [1, 2]},
            fixed={f"{k}_duration": v for k, v in _TEST_DURATIONS.items()},
        )
        shift = 0.0 if self.go_on_match else np.pi
        return ConditionGrid({**grid.conditions, "direction2": np.mod(grid.conditions["direction1"] + shift, _TWO_PI)})

    def _test_samples(self) -> NDArray[np.float64]:
        return _TWO_PI * np.arange(20) / 20


class _SpatialMatch(Yang19MatchTask):
    def default_timing(self) -> dict[str, TimingSpec]:
        return {
            "fix1": Choice([200, 400, 600]),
            "stim1": Choice([200, 400, 600]),
            "delay1": Choice([200, 400, 800, 1600]),
            "go1": Fixed(500),
        }

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> Sampled:
        direction1 = rng.uniform(0.0, _TWO_PI, batch_size)
        match = rng.random(batch_size) < 0.5
        # a non-match test's angle from the sample
        offset = rng.uniform(np.pi / 9, 17 * np.pi / 9, batch_size)
        conditions = {
            "direction1": direction1,
            "direction2": np.mod(direction1 + np.where(match, 0.0, offset), _TWO_PI),
            "match": match,
            "modality1": rng.integers(1, 3, batch_size),
            "modality2": rng.integers(1, 3, batch_size),
        }
        return Sampled(conditions, {"offset": offset})

    def _matches(self, direction1: NDArray, direction2: NDArray) -> NDArray[np.bool_]:
        return circular_distance(direction1, direction2) < _MATCH_TOLERANCE

    def _test_for(self, conditions: Mapping[str, NDArray], auxiliary: Mapping[str, NDArray]) -> NDArray[np.float64]:
        offset = np.where(conditions["match"], 0.0, auxiliary["offset"])
        return np.mod(conditions["direction1"] + offset, _TWO_PI)


class _CategoryMatch(Yang19MatchTask):
    def default_timing(self) -> dict[str, TimingSpec]:
        return {
            "fix1": Choice([200, 400, 600]),
            "stim1": Choice([200, 400, 600]),
            "delay1": Choice([200, 400, 800, 1600]),
            "go1": Choice([200, 400, 600]),
        }

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> Sampled:
        direction1 = CATEGORY_LOCATIONS[rng.integers(0, 10, batch_size)]
        match = rng.random(batch_size) < 0.5
        # which of the five locations of the test's category
        auxiliary = {"pick": rng.integers(0, 5, batch_size)}
        conditions = {
            "direction1": direction1,
            "match": match,
            "modality1": rng.integers(1, 3, batch_size),
            "modality2": rng.integers(1, 3, batch_size),
        }
        conditions["direction2"] = self._test_for(conditions, auxiliary)
        return Sampled(conditions, auxiliary)

    def _matches(self, direction1: NDArray, direction2: NDArray) -> NDArray[np.bool_]:
        return (np.asarray(direction1) < np.pi) == (np.asarray(direction2) < np.pi)

    def _test_for(self, conditions: Mapping[str, NDArray], auxiliary: Mapping[str, NDArray]) -> NDArray[np.float64]:
        """One of the five locations of the sample's category (match) or of the other category."""
        first_category = np.asarray(conditions["direction1"]) < np.pi
        wanted_first = np.where(conditions["match"], first_category, ~first_category)
        return CATEGORY_LOCATIONS[np.where(wanted_first, 0, 5) + auxiliary["pick"]]

    def _test_samples(self) -> NDArray[np.float64]:
        ten = np.arange(10) / 10
        return np.pi * np.concatenate([0.1 + 0.8 * ten, 1.1 + 0.8 * ten])


_MATCH_DOC = """

    ## Trial periods (default, dt = 20 ms)
    | period | duration                 | fixation cue | stimulus        | correct action                        |
    |--------|--------------------------|--------------|-----------------|---------------------------------------|
    | fix1   | {{200, 400, 600}} ms       | on           | off             | fixate                                |
    | stim1  | {{200, 400, 600}} ms       | on           | sample          | fixate                                |
    | delay1 | {{200, 400, 800, 1600}} ms | on           | off             | fixate                                |
    | go1    | {go1}               | on           | test (stays on) | {answer} |

    Conditions: ``direction1``, ``direction2`` (rad), ``match`` (bool), ``modality1``, ``modality2`` (1 or 2);
    derived ``response`` (= ``direction2``), ``go``; ``<period>_duration`` (ms). A correct no-go trial keeps
    fixating to the end (scored correct by ``score`` and rewarded by the gym env at the trial's end).

    ## Version history
    * v0: initial version.
    """


class Yang19DMSGo(_SpatialMatch):
    __doc__ = "DMS (``dmsgo``), Yang et al. 2019: saccade to the test iff it matches the sample direction." + (
        _MATCH_DOC.format(go1="500 ms      ", answer="match: respond at test; else fixate")
    )
    rule: ClassVar[Rule] = Rule.DMSGO
    answer: ClassVar[str] = "respond at the test stimulus iff it matches the sample direction, else keep fixating"


class Yang19DMSNoGo(_SpatialMatch):
    __doc__ = "DNMS (``dmsnogo``), Yang et al. 2019: saccade to the test iff it does not match the sample." + (
        _MATCH_DOC.format(go1="500 ms      ", answer="non-match: respond at test; else fixate")
    )
    rule: ClassVar[Rule] = Rule.DMSNOGO
    go_on_match: ClassVar[bool] = False
    answer: ClassVar[str] = "respond at the test stimulus iff it does not match the sample, else keep fixating"


class Yang19DMCGo(_CategoryMatch):
    __doc__ = "DMC (``dmcgo``), Yang et al. 2019: saccade to the test iff it is in the sample's category." + (
        _MATCH_DOC.format(go1="{200, 400, 600} ms", answer="same category: respond at test")
    )
    rule: ClassVar[Rule] = Rule.DMCGO
    answer: ClassVar[str] = "respond at the test stimulus iff it is in the sample's category (< π or not)"


class Yang19DMCNoGo(_CategoryMatch):
    __doc__ = "DNMC (``dmcnogo``), Yang et al. 2019: saccade to the test iff it is in the other category." + (
        _MATCH_DOC.format(go1="{200, 400, 600} ms", answer="other category: respond at test")
    )
    rule: ClassVar[Rule] = Rule.DMCNOGO
    go_on_match: ClassVar[bool] = False
    answer: ClassVar[str] = "respond at the test stimulus iff it is in the other category, else keep fixating"
