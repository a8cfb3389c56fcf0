"""The ten decision-making tasks of Yang et al. 2019: DM 1/2, Ctx DM 1/2, MultSen DM and their delayed versions.

Two stimuli at directions separated by U(0.5π, 1.5π); the answer is the direction of the stronger one.

* DM 1 / DM 2 (``dm1``/``dm2``): both stimuli in one modality ring (1 or 2); condition keys ``strength1``,
  ``strength2``.
* Ctx DM 1 / Ctx DM 2 (``contextdm1``/``contextdm2``): the stimuli are shown in both rings with independent
  strengths; only the attended modality (1 or 2) counts.
* MultSen DM (``multidm``): both rings; the answer is the stimulus with the larger sum over both modalities.

Two-ring tasks have the condition keys ``strength1_mod1``, ``strength2_mod1``, ``strength1_mod2``,
``strength2_mod2``. Strengths are drawn as Yang's ``contextdm_genstim``: mean U(0.8, 1.2), ``± coherence``;
coherences {0.01, 0.02, 0.04, 0.08} (immediate) or {0.08, 0.16, 0.32} (delayed). For MultSen, each stimulus'
total strength ``s`` is split over the rings as ``s ± s·U(0.2, 0.8)/2`` (random sign).

Immediate versions show both stimuli together in ``stim1`` and respond when the fixation cue goes off; delayed
versions show them one after the other, separated by a delay (``stim1``, ``delay1``, ``stim2``, ``delay2``).
The derived condition ``choice`` is 1 or 2 (which stimulus is the answer; 2 on ties, as Yang).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.conditions import Condition, Reals
from mtrnn.envs.task import Sampled
from mtrnn.envs.timing import Choice, Fixed, TimingSpec, Uniform
from mtrnn.envs.yang19.base import MAX_STRENGTH, Stimulus, Yang19Task
from mtrnn.envs.yang19.grids import ConditionGrid, grid_conditions
from mtrnn.envs.yang19.rules import Rule

__all__ = [
    "Attend",
    "Yang19ContextDM1",
    "Yang19ContextDM2",
    "Yang19ContextDelayDM1",
    "Yang19ContextDelayDM2",
    "Yang19DM1",
    "Yang19DM2",
    "Yang19DecisionTask",
    "Yang19DelayDM1",
    "Yang19DelayDM2",
    "Yang19MultiDM",
    "Yang19MultiDelayDM",
]

_TWO_PI = 2 * np.pi
_IMMEDIATE_COHERENCES = (0.01, 0.02, 0.04, 0.08)
_DELAYED_COHERENCES = (0.08, 0.16, 0.32)
_TEST_DIRECTIONS = _TWO_PI * np.arange(20) / 20


class Attend(Enum):
    """Which modality decides: ring 1, ring 2, or the sum of both (multi-sensory)."""

    MOD1 = 1
    MOD2 = 2
    BOTH = 3


def _strength_pair(
    rng: np.random.Generator, batch_size: int, coherences: tuple[float, ...]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Yang's ``contextdm_genstim``: mean U(0.8, 1.2) ± coherence (random sign) for stimulus 1, ∓ for 2."""
    mean = rng.uniform(0.8, 1.2, batch_size)
    signed = rng.choice(np.asarray(coherences), batch_size) * rng.choice([-1.0, 1.0], batch_size)
    return mean + signed, mean - signed


def _split(rng: np.random.Generator, total: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MultSen: split a total strength over the two rings, ``s ± s·U(0.2, 0.8)·(±1)/2``."""
    diff = total * rng.uniform(0.2, 0.8, total.shape) * rng.choice([-1.0, 1.0], total.shape)
    return total + diff / 2, total - diff / 2


class Yang19DecisionTask(Yang19Task):
    """Common base of the ten DM tasks (see the module docstring)."""

    simultaneous_stimuli: ClassVar[int] = 2
    attend: ClassVar[Attend]
    #: Stimuli in both modality rings (context and multi-sensory tasks).
    two_modalities: ClassVar[bool] = False
    #: Stimuli one after the other, separated by a delay.
    delayed: ClassVar[bool] = False

    @property
    def strength_keys(self) -> tuple[str, ...]:
        """The condition keys of the stimulus strengths."""
        if self.two_modalities:
            return ("strength1_mod1", "strength2_mod1", "strength1_mod2", "strength2_mod2")
        return ("strength1", "strength2")

    @property
    def condition_domains(self) -> dict[str, Condition]:
        domains: dict[str, Condition] = {"direction1": Reals(0.0, _TWO_PI), "direction2": Reals(0.0, _TWO_PI)}
        for key in self.strength_keys:
            domains[key] = Reals(0.0, MAX_STRENGTH)
        return domains

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> Sampled:
        coherences = _DELAYED_COHERENCES if self.delayed else _IMMEDIATE_COHERENCES
        offset = rng.uniform(0.5 * np.pi, 1.5 * np.pi, batch_size) * rng.choice([-1.0, 1.0], batch_size)
        direction1 = rng.uniform(0.0, _TWO_PI, batch_size)
        sampled: dict[str, NDArray] = {
            "direction1": direction1,
            "direction2": np.mod(direction1 + offset, _TWO_PI),
        }
        if not self.two_modalities:
            sampled["strength1"], sampled["strength2"] = _strength_pair(rng, batch_size, coherences)
        elif self.attend is Attend.BOTH:
            total1, total2 = _strength_pair(rng, batch_size, coherences)
            sampled["strength1_mod1"], sampled["strength1_mod2"] = _split(rng, total1)
            sampled["strength2_mod1"], sampled["strength2_mod2"] = _split(rng, total2)
        else:
            sampled["strength1_mod1"], sampled["strength2_mod1"] = _strength_pair(rng, batch_size, coherences)
            sampled["strength1_mod2"], sampled["strength2_mod2"] = _strength_pair(rng, batch_size, coherences)
        # the angle from the first stimulus to the second, kept when only direction1 is given
        return Sampled(sampled, {"offset": offset})

    def _finalize_conditions(
        self,
        conditions: dict[str, NDArray],
        given: Mapping[str, NDArray],
        rng: np.random.Generator,
        auxiliary: Mapping[str, NDArray],
    ) -> dict[str, NDArray]:
        """``direction2`` follows a given ``direction1`` (same offset) unless given; derive the answer."""
        conditions = dict(conditions)
        if "direction2" not in given:
            conditions["direction2"] = np.mod(conditions["direction1"] + auxiliary["offset"], _TWO_PI)
        first, second = self._evidence(conditions)
        choice = np.where(first > second, 1, 2)
        response = np.where(choice == 1, conditions["direction1"], conditions["direction2"])
        return {**conditions, "choice": choice, "response": response, "go": np.ones(choice.shape, dtype=bool)}

    def _evidence(self, conditions: Mapping[str, NDArray]) -> tuple[NDArray, NDArray]:
        """The strengths that decide: the attended modality's, or the sums over both."""
        if not self.two_modalities:
            return conditions["strength1"], conditions["strength2"]
        if self.attend is Attend.BOTH:
            return (
                conditions["strength1_mod1"] + conditions["strength1_mod2"],
                conditions["strength2_mod1"] + conditions["strength2_mod2"],
            )
        m = self.attend.value
        return conditions[f"strength1_mod{m}"], conditions[f"strength2_mod{m}"]

    def _stimuli(self, conditions: Mapping[str, NDArray]) -> list[Stimulus]:
        on1 = ("stim1",)
        on2 = ("stim2",) if self.delayed else on1
        shape = conditions["direction1"].shape
        stimuli = []
        for m in (1, 2) if self.two_modalities else (self.attend.value,):
            suffix = f"_mod{m}" if self.two_modalities else ""
            modality = np.full(shape, m)
            stimuli.append(Stimulus(on1, conditions["direction1"], conditions[f"strength1{suffix}"], modality))
            stimuli.append(Stimulus(on2, conditions["direction2"], conditions[f"strength2{suffix}"], modality))
        return stimuli

    def default_timing(self) -> dict[str, TimingSpec]:
        if self.delayed:
            return {
                "fix1": Choice([200, 400, 600]),
                "stim1": Choice([200, 400, 600]),
                "delay1": Choice([200, 400, 800, 1600]),
                "stim2": Choice([200, 400, 600]),
                "delay2": Uniform(100, 300),
                "go1": Fixed(500),
            }
        return {"fix1": Uniform(100, 400), "stim1": Choice([400, 800, 1600]), "go1": Fixed(500)}

    def test_grid(self) -> ConditionGrid:
        """Yang's test mode: 20 directions (``direction2 = direction1 + π``) x 5 strengths (x 5 in two rings)."""
        axes: dict[str, NDArray] = {"direction1": _TEST_DIRECTIONS}
        if self.two_modalities:
            levels = 0.8 + 0.4 * np.arange(5) / 5
            axes["strength1_mod1"] = levels
            axes["strength1_mod2"] = levels
        else:
            axes["strength1"] = (0.5 + np.arange(5) / 5) if self.delayed else (0.8 + 0.4 * np.arange(5) / 5)
        durations = self._test_durations()
        grid = grid_conditions(axes, fixed={f"{k}_duration": v for k, v in durations.items()})
        conditions = dict(grid.conditions)
        conditions["direction2"] = np.mod(conditions["direction1"] + np.pi, _TWO_PI)
        for key in list(conditions):
            if key.startswith("strength1"):
                conditions[key.replace("strength1", "strength2")] = 2.0 - conditions[key]
        return ConditionGrid(conditions)

    def _test_durations(self) -> dict[str, float]:
        if not self.delayed:
            stim = 1000.0 if self.two_modalities else 1500.0
            return {"fix1": 500.0, "stim1": stim, "go1": 500.0}
        if self.two_modalities:
            return {"fix1": 500.0, "stim1": 500.0, "delay1": 1000.0, "stim2": 500.0, "delay2": 500.0, "go1": 500.0}
        return {"fix1": 500.0, "stim1": 500.0, "delay1": 1000.0, "stim2": 500.0, "delay2": 200.0, "go1": 300.0}


class _ImmediateDM(Yang19DecisionTask):
    period_names: ClassVar[tuple[str, ...]] = ("fix1", "stim1", "go1")


class _DelayedDM(Yang19DecisionTask):
    period_names: ClassVar[tuple[str, ...]] = ("fix1", "stim1", "delay1", "stim2", "delay2", "go1")
    delayed: ClassVar[bool] = True


_IMMEDIATE_DOC = """

    ## Trial periods (default, dt = 20 ms)
    | period | duration             | fixation cue | stimuli     | correct action                 |
    |--------|----------------------|--------------|-------------|--------------------------------|
    | fix1   | U(100, 400) ms       | on           | off         | fixate                         |
    | stim1  | {400, 800, 1600} ms  | on           | both on     | fixate                         |
    | go1    | 500 ms               | off          | off         | respond at the stronger one    |
"""

_DELAYED_DOC = """

    ## Trial periods (default, dt = 20 ms)
    | period | duration                 | fixation cue | stimuli      | correct action              |
    |--------|--------------------------|--------------|--------------|-----------------------------|
    | fix1   | {200, 400, 600} ms       | on           | off          | fixate                      |
    | stim1  | {200, 400, 600} ms       | on           | stimulus 1   | fixate                      |
    | delay1 | {200, 400, 800, 1600} ms | on           | off          | fixate                      |
    | stim2  | {200, 400, 600} ms       | on           | stimulus 2   | fixate                      |
    | delay2 | U(100, 300) ms           | on           | off          | fixate                      |
    | go1    | 500 ms                   | off          | off          | respond at the stronger one |
"""

_TAIL = """
    Conditions: ``direction1``, ``direction2`` (rad), {strengths}; derived ``choice``, ``response``, ``go``;
    ``<period>_duration`` (ms). Layout, mask and score: :mod:`mtrnn.envs.yang19.base`.

    ## Version history
    * v0: initial version.
    """

_ONE = "``strength1``, ``strength2``"
_TWO = "``strength1_mod1``, ``strength2_mod1``, ``strength1_mod2``, ``strength2_mod2``"


class Yang19DM1(_ImmediateDM):
    __doc__ = (
        "DM 1 (``dm1``), Yang et al. 2019: two stimuli in modality 1; respond at the stronger one."
        + _IMMEDIATE_DOC
        + _TAIL.format(strengths=_ONE)
    )
    rule: ClassVar[Rule] = Rule.DM1
    attend: ClassVar[Attend] = Attend.MOD1
    answer: ClassVar[str] = "respond at the stronger of two simultaneous stimuli in ring 1"


class Yang19DM2(_ImmediateDM):
    __doc__ = (
        "DM 2 (``dm2``), Yang et al. 2019: two stimuli in modality 2; respond at the stronger one."
        + _IMMEDIATE_DOC
        + _TAIL.format(strengths=_ONE)
    )
    rule: ClassVar[Rule] = Rule.DM2
    attend: ClassVar[Attend] = Attend.MOD2
    answer: ClassVar[str] = "respond at the stronger of two simultaneous stimuli in ring 2"


class Yang19ContextDM1(_ImmediateDM):
    __doc__ = (
        "Ctx DM 1 (``contextdm1``), Yang et al. 2019: stimuli in both rings; the stronger in ring 1 wins."
        + _IMMEDIATE_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.CONTEXTDM1
    attend: ClassVar[Attend] = Attend.MOD1
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the stimulus stronger in ring 1, ignoring ring 2"


class Yang19ContextDM2(_ImmediateDM):
    __doc__ = (
        "Ctx DM 2 (``contextdm2``), Yang et al. 2019: stimuli in both rings; the stronger in ring 2 wins."
        + _IMMEDIATE_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.CONTEXTDM2
    attend: ClassVar[Attend] = Attend.MOD2
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the stimulus stronger in ring 2, ignoring ring 1"


class Yang19MultiDM(_ImmediateDM):
    __doc__ = (
        "MultSen DM (``multidm``), Yang et al. 2019: stimuli in both rings; the larger summed strength wins."
        + _IMMEDIATE_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.MULTIDM
    attend: ClassVar[Attend] = Attend.BOTH
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the stimulus with the larger strength summed over both rings"


class Yang19DelayDM1(_DelayedDM):
    __doc__ = (
        "Dly DM 1 (``delaydm1``), Yang et al. 2019: two stimuli in ring 1, one after the other; the stronger wins."
        + _DELAYED_DOC
        + _TAIL.format(strengths=_ONE)
    )
    rule: ClassVar[Rule] = Rule.DELAYDM1
    attend: ClassVar[Attend] = Attend.MOD1
    answer: ClassVar[str] = "respond at the stronger of two sequential stimuli in ring 1"


class Yang19DelayDM2(_DelayedDM):
    __doc__ = (
        "Dly DM 2 (``delaydm2``), Yang et al. 2019: two stimuli in ring 2, one after the other; the stronger wins."
        + _DELAYED_DOC
        + _TAIL.format(strengths=_ONE)
    )
    rule: ClassVar[Rule] = Rule.DELAYDM2
    attend: ClassVar[Attend] = Attend.MOD2
    answer: ClassVar[str] = "respond at the stronger of two sequential stimuli in ring 2"


class Yang19ContextDelayDM1(_DelayedDM):
    __doc__ = (
        "Ctx Dly DM 1 (``contextdelaydm1``), Yang et al. 2019: sequential stimuli in both rings; ring 1 decides."
        + _DELAYED_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.CONTEXTDELAYDM1
    attend: ClassVar[Attend] = Attend.MOD1
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the sequential stimulus stronger in ring 1, ignoring ring 2"


class Yang19ContextDelayDM2(_DelayedDM):
    __doc__ = (
        "Ctx Dly DM 2 (``contextdelaydm2``), Yang et al. 2019: sequential stimuli in both rings; ring 2 decides."
        + _DELAYED_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.CONTEXTDELAYDM2
    attend: ClassVar[Attend] = Attend.MOD2
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the sequential stimulus stronger in ring 2, ignoring ring 1"


class Yang19MultiDelayDM(_DelayedDM):
    __doc__ = (
        "MultSen Dly DM (``multidelaydm``), Yang et al. 2019: sequential stimuli in both rings; the sum decides."
        + _DELAYED_DOC
        + _TAIL.format(strengths=_TWO)
    )
    rule: ClassVar[Rule] = Rule.MULTIDELAYDM
    attend: ClassVar[Attend] = Attend.BOTH
    two_modalities: ClassVar[bool] = True
    answer: ClassVar[str] = "respond at the sequential stimulus with the larger strength summed over both rings"
