"""`Yang19Task`: what the 20 tasks of Yang et al. 2019 share (encoding, cost mask, scoring, actions).

Yang, Joglekar, Song, Newsome & Wang (2019), Nat Neurosci 22:297; code ``gyyang/multitask`` (``task.py``,
``network.py``). Re-implemented, vectorised over trials.

Layout (default :attr:`RingEncoding.GAUSSIAN_32`):

* inputs ``n_in = 1 + 2·32 + 20 = 85``: fixation cue, modality-1 ring, modality-2 ring, one rule unit per rule of
  ``rule_units`` (all 20 in the paper's order by default); the task's own rule unit is 1 for the whole trial;
* outputs ``n_out = 33``: fixation, then the 32-unit response ring;
* actions ``n_actions = 33``: 0 = fixate, ``k`` = respond in the preferred direction of ring unit ``k - 1``
  (``2π(k-1)/32``).

With ``ring=RingEncoding.SINCOS`` each ring is ``(cos θ, sin θ)`` (inputs ``1 + 2·2 + n_rules``, outputs 3:
fixation, cos, sin); the 33 actions are kept (32 directions), so gym agents see the same action space.

Targets (squared loss): fixation output 0.8 while the network must fixate (the whole trial on no-go trials),
else 0.05; ring outputs 0.05 + a bump at the response direction during the response (sin/cos: 0 baseline and
``(cos, sin)`` of the response direction, as Driscoll et al. 2024). ``batch.mask`` is Yang's cost mask: 0 for the
first 100 ms, 1 until the response period starts, 0 for a 100 ms grace window, 5 afterwards; the fixation column
is doubled.

Timing: Yang draws one timing per batch (``shared_timing=True``); by default every trial draws its own timing and
the batch is padded to its longest trial (padding has mask 0). The period durations are the conditions
``"<period>_duration"`` (ms) and can be fixed with ``conditions=``. Stimulus modalities are drawn per trial
(Yang draws them once per batch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import Gathered, TrialBatch
from mtrnn.envs.layout import Layout, period_rows
from mtrnn.envs.task import Built, PeriodTask, Tables, check_dt
from mtrnn.envs.timing import TimingSpec, to_steps
from mtrnn.envs.yang19.grids import ConditionGrid
from mtrnn.envs.yang19.rings import N_RING_UNITS, RingEncoding, circular_distance, nearest_unit, preferred_directions
from mtrnn.envs.yang19.rules import RULES, Rule

__all__ = [
    "CORRECT_ANGLE",
    "MAX_STRENGTH",
    "SharedDraw",
    "Stimulus",
    "Yang19Task",
    "check_rule",
    "check_rule_units",
    "yang_input_noise_std",
]

#: ``get_perf``: a response is correct within 0.2π (36°) of the target direction.
CORRECT_ANGLE = 0.2 * np.pi
#: Largest stimulus strength accepted in ``conditions=`` (Yang's largest sampled strength is ~2.13, in multidelaydm).
MAX_STRENGTH = 2.5
#: Yang's cost mask: the first 100 ms and the first 100 ms of the response are not in the loss.
_UNCHECKED_MS = 100.0
_RESPONSE_WEIGHT = 5.0
_FIXATION_WEIGHT = 2.0
_FIXATE_TARGET = 0.8


def yang_input_noise_std(dt: float, tau: float = 100.0, sigma_x: float = 0.01) -> float:
    """Yang's input noise std ``σ_x·√(2/α)`` with ``α = dt/τ`` (0.0316 at dt = 20 ms)."""
    return sigma_x * math.sqrt(2.0 * tau / dt)


def check_rule(rule: Rule | str, name: str = "rule") -> Rule:
    """A :class:`Rule` from a Rule or Yang's rule name; errors name the argument ``name``."""
    allowed = [r.value for r in RULES]
    if not isinstance(rule, str) or rule not in allowed:
        raise ValueError(f"{name} must be a Rule or one of {allowed}, got {rule!r}")
    return Rule(rule)


def check_rule_units(rule_units: Sequence[Rule | str] | None, name: str = "rule_units") -> tuple[Rule, ...]:
    """Validate a sequence of rules (``None`` = all 20 in the paper's order); errors name the argument ``name``."""
    if rule_units is None:
        return RULES
    if isinstance(rule_units, (str, bytes)) or not isinstance(rule_units, Sequence) or len(rule_units) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of Rule, got {rule_units!r}")
    units = tuple(check_rule(value, f"{name}[{i}]") for i, value in enumerate(rule_units))
    if len(set(units)) != len(units):
        raise ValueError(f"{name} must not repeat a rule, got {[str(u) for u in units]}")
    return units


@cache
def _mask_rows(n_outputs: int) -> NDArray[np.float32]:
    """The three distinct rows of Yang's cost mask (unchecked, before the response, after it), read-only."""
    rows = np.zeros((3, n_outputs), dtype=np.float32)
    rows[1], rows[2] = 1.0, _RESPONSE_WEIGHT
    rows[:, 0] *= _FIXATION_WEIGHT
    rows.flags.writeable = False
    return rows


@dataclass(frozen=True)
class _PeriodTables:
    """The rows of a Yang task's tables that every trial of a period shares (see :func:`_period_tables`).

    Attributes:
        inputs: ``(P + 1, n_in)`` float32: the fixation unit on in the fixation periods, the rule unit on in every
            period, rings 0; the last row (padding) 0. Read-only.
        targets: ``(P + 1, n_out)`` float32: fixate target 0.8 before the response period and the ring baseline,
            the baseline everywhere in the response periods (a go trial adds its bump), the padding row 0. Read-only.
        rank: ``{period: k}``.
        first: the rank of the decision period (the response periods are ``first .. P - 1``).
    """

    inputs: NDArray[np.float32]
    targets: NDArray[np.float32]
    rank: Mapping[str, int]
    first: int

    def ranks(self, periods: tuple[str, ...]) -> NDArray[np.intp]:
        """``(S, 1)`` the ranks of ``periods`` (read-only, built once per distinct tuple)."""
        return _ranks(tuple(self.rank), periods)


@lru_cache(maxsize=1024)
def _ranks(names: tuple[str, ...], periods: tuple[str, ...]) -> NDArray[np.intp]:
    """``(S, 1)`` the rank in ``names`` of each of ``periods``, read-only."""
    ranks = np.array([names.index(name) for name in periods], dtype=np.intp)[:, None]
    ranks.flags.writeable = False
    return ranks


@lru_cache(maxsize=64)
def _unchecked_offsets(dt: float) -> NDArray[np.int64]:
    """``(U, 1)`` read-only ``0 .. U - 1``, ``U`` the steps of Yang's 100 ms unchecked and grace windows at ``dt``."""
    offsets = np.arange(int(to_steps(_UNCHECKED_MS, dt)), dtype=np.int64)[:, None]
    offsets.flags.writeable = False
    return offsets


@lru_cache(maxsize=256)
def _period_tables(
    names: tuple[str, ...],
    fixation: tuple[str, ...],
    decision: str,
    ring: RingEncoding,
    n_rules: int,
    rule_index: int,
) -> _PeriodTables:
    """The constant rows of a Yang task with periods ``names``, fixation periods ``fixation``, decision period
    ``decision``, ring encoding ``ring`` and ``n_rules`` rule units of which ``rule_index`` is the task's."""
    P = len(names)
    rank = {name: k for k, name in enumerate(names)}
    width = ring.width
    inputs = np.zeros((P + 1, 1 + 2 * width + n_rules), dtype=np.float32)
    inputs[[rank[name] for name in fixation], 0] = 1.0
    inputs[:P, 1 + 2 * width + rule_index] = 1.0
    first = rank[decision]
    baseline = np.float32(ring.target_baseline)
    targets = np.full((P + 1, 1 + width), baseline, dtype=np.float32)
    targets[:first, 0] = _FIXATE_TARGET
    targets[P] = 0.0
    inputs.flags.writeable = False
    targets.flags.writeable = False
    return _PeriodTables(inputs=inputs, targets=targets, rank=rank, first=first)


@lru_cache(maxsize=256)
def _mask_codes(n_periods: int, first: int, batch: int) -> NDArray[np.intp]:
    """``((P + 1) · B,)`` read-only: the mask row (:func:`_mask_rows`) of each row of a ``(P + 1, B)`` period
    table: 1 before the response period ``first``, 2 from it on, 0 on padding (before the unchecked steps and the
    grace window are cut out)."""
    per_period = np.zeros(n_periods + 1, dtype=np.intp)
    per_period[:first] = 1
    per_period[first:n_periods] = 2
    codes = np.repeat(per_period, batch)
    codes.flags.writeable = False
    return codes


@dataclass(frozen=True)
class SharedDraw(TimingSpec):
    """``spec``, drawn once and shared by every trial of a batch (Yang's per-batch timing)."""

    spec: TimingSpec

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return np.full(size, self.spec.sample(rng, 1)[0])

    @property
    def low(self) -> float:
        return self.spec.low

    @property
    def high(self) -> float:
        return self.spec.high


@dataclass(frozen=True)
class Stimulus:
    """One stimulus of a batch: the periods it is shown in and what it shows.

    Attributes:
        periods: the periods in which it is on (every step of each).
        direction: ``(B,)`` rad.
        strength: ``(B,)``.
        modality: ``(B,)`` int, 1 or 2 (which ring).
    """

    periods: tuple[str, ...]
    direction: NDArray[np.floating]
    strength: NDArray[np.floating]
    modality: NDArray[np.integer]


class Yang19Task(PeriodTask):
    """Base of the 20 tasks of Yang et al. 2019 (see the module docstring for the layout).

    Args:
        dt: time step in ms (Yang: 20).
        ring: :class:`RingEncoding` of stimuli and responses (Yang's 32-unit rings, or sin/cos).
        rule_units: the rules that have a rule input unit, in order (default: all 20 in the paper's order);
            must hold this task's rule.
        shared_timing: draw every period duration once per batch, as Yang does (default: per trial).
        timing: per-period :class:`~mtrnn.envs.timing.TimingSpec` overrides (ms).
        input_noise_std: std of the Gaussian input noise; default Yang's ``0.01·√(2τ/dt)``, τ = 100 ms.

    Subclasses set :attr:`rule`, ``period_names``, ``default_timing``, the condition domains and samplers, and
    :meth:`_stimuli`; :meth:`_finalize_conditions` must add ``"response"`` (``(B,)`` rad) and ``"go"``
    (``(B,)`` bool, False on no-go trials).
    """

    carries_rule_input: ClassVar[bool] = True
    decision_period: ClassVar[str] = "go1"
    #: Yang's rule.
    rule: ClassVar[Rule]
    #: One line: what the right answer is (for tables).
    answer: ClassVar[str] = ""
    #: How many stimuli can be on in one ring at once (bounds :attr:`input_range`).
    simultaneous_stimuli: ClassVar[int] = 1

    def __init__(
        self,
        *,
        dt: float = 20.0,
        ring: RingEncoding = RingEncoding.GAUSSIAN_32,
        rule_units: Sequence[Rule | str] | None = None,
        shared_timing: bool = False,
        timing: Mapping[str, TimingSpec] | None = None,
        input_noise_std: float | None = None,
    ) -> None:
        if not isinstance(ring, RingEncoding):
            raise TypeError(f"ring must be a RingEncoding ({', '.join(e.name for e in RingEncoding)}), got {ring!r}")
        units = check_rule_units(rule_units)
        if self.rule not in units:
            names = [str(u) for u in units]
            raise ValueError(f"rule_units must include this task's rule {self.rule.value!r}, got {names}")
        if not isinstance(shared_timing, bool):
            raise TypeError(f"shared_timing must be a bool, got {shared_timing!r}")
        self.ring = ring
        self.rule_units = units
        self.shared_timing = shared_timing
        noise = yang_input_noise_std(check_dt(dt)) if input_noise_std is None else input_noise_std
        if shared_timing and (timing is None or isinstance(timing, Mapping)):
            timing = {
                name: SharedDraw(spec) if isinstance(spec, TimingSpec) and not isinstance(spec, SharedDraw) else spec
                for name, spec in {**self.default_timing(), **(timing or {})}.items()
            }
        super().__init__(dt=dt, timing=timing, input_noise_std=noise)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "rule" in cls.__dict__:
            cls.display_name = cls.rule.display_name

    # ------------------------------------------------------------------ layout
    @property
    def rule_index(self) -> int:
        """The input unit of this task's rule among the rule units (0-based, after the rings)."""
        return self.rule_units.index(self.rule)

    @property
    def n_inputs(self) -> int:
        return 1 + 2 * self.ring.width + len(self.rule_units)

    @property
    def n_outputs(self) -> int:
        return 1 + self.ring.width

    @property
    def n_actions(self) -> int:
        return 1 + N_RING_UNITS

    def ring_slice(self, modality: int) -> slice:
        """The input units of modality ring 1 or 2."""
        if modality not in (1, 2):
            raise ValueError(f"modality must be 1 or 2, got {modality!r}")
        width = self.ring.width
        return slice(1 + (modality - 1) * width, 1 + modality * width)

    @property
    def rule_slice(self) -> slice:
        """The rule input units."""
        return slice(1 + 2 * self.ring.width, self.n_inputs)

    @property
    def input_range(self) -> tuple[float, float]:
        """Noise-free inputs lie in this range (strengths are capped at :data:`MAX_STRENGTH`)."""
        if self.ring is RingEncoding.GAUSSIAN_32:
            return (0.0, max(1.0, 0.8 * MAX_STRENGTH * self.simultaneous_stimuli))
        bound = MAX_STRENGTH * self.simultaneous_stimuli
        return (-bound, bound)

    @property
    def input_names(self) -> tuple[str, ...]:
        if self.ring is RingEncoding.GAUSSIAN_32:
            rings = tuple(f"mod{m} {k}" for m in (1, 2) for k in range(N_RING_UNITS))
        else:
            rings = tuple(f"mod{m} {c}" for m in (1, 2) for c in ("cos", "sin"))
        return ("fixation", *rings, *(f"rule {r.value}" for r in self.rule_units))

    @property
    def output_names(self) -> tuple[str, ...]:
        if self.ring is RingEncoding.GAUSSIAN_32:
            return ("fixate", *(f"ring {k}" for k in range(N_RING_UNITS)))
        return ("fixate", "cos", "sin")

    # ------------------------------------------------------------------ what a subclass adds
    @property
    def fixation_periods(self) -> tuple[str, ...]:
        """The periods in which the fixation input is on: by default those before the response period."""
        return self.period_names[: self.period_names.index(self.decision_period)]

    def periods_from(self, name: str) -> tuple[str, ...]:
        """Period ``name`` and every period after it (to the trial's end)."""
        return self.period_names[self.period_names.index(name) :]

    def _stimuli(self, conditions: Mapping[str, NDArray]) -> list[Stimulus]:
        """The stimuli of the batch."""
        raise NotImplementedError

    def test_grid(self) -> ConditionGrid:
        """Yang's ``mode='test'`` batch for this rule: a dense grid of conditions with fixed timings."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the builder
    def _build(self, conditions: Mapping[str, NDArray], layout: Layout) -> Built:
        """The dense arrays of :meth:`_tables`, each written once (one gather)."""
        return self._tables(conditions, layout).built()

    def _tables(self, conditions: Mapping[str, NDArray], layout: Layout) -> Tables:
        """Every input, target and label is constant within a period of a trial: one row per (period, trial) (a
        small table) and a ``(T, B)`` index into it, the layout's period index ``· B + b`` (padding steps point at
        an all-zero row); the mask is :meth:`cost_mask`'s three rows and their index.

        The rows shared by every trial of a period (fixation and rule units, target baselines) come from per-task
        constant tables (:func:`_period_tables`); a batch writes the stimuli, response bumps and answers, and
        encodes every direction of the batch (stimuli and responses) in one call.
        """
        B = layout.batch_size
        names = self.period_names
        const = _period_tables(
            names, self.fixation_periods, self.decision_period, self.ring, len(self.rule_units), self.rule_index
        )
        P = len(names)
        index = period_rows(np.array([layout.stops[name] for name in names]), layout.n_steps)

        stimuli = self._stimuli(conditions)
        go = np.asarray(conditions["go"], dtype=bool)
        response = np.asarray(conditions["response"], dtype=np.float64)
        all_go = bool(go.all())
        directions = [np.asarray(stimulus.direction, dtype=np.float64) for stimulus in stimuli]
        directions.append(response if all_go else np.where(go, response, 0.0))
        tuned = self.ring.target(np.concatenate(directions))  # (len(directions) · B, width): encode = strength · tuned

        n_in = const.inputs.shape[1]
        rows = np.empty((P + 1, B, n_in), dtype=np.float32)
        rows[...] = const.inputs[:, None, :]
        width = self.ring.width
        trials = np.arange(B)
        rings = rows[:, :, 1 : 1 + 2 * width].reshape(P + 1, B, 2, width)  # a view: [period, trial, modality - 1]
        for k, stimulus in enumerate(stimuli):
            strength = np.asarray(stimulus.strength, dtype=np.float64)[:, None]
            encoded = (strength * tuned[k * B : (k + 1) * B]).astype(np.float32)
            shown = const.ranks(stimulus.periods)
            # the rings of the shown periods' rows, (S, B, width): 0 + encoded, in stimulus order
            rings[shown, trials, np.asarray(stimulus.modality) - 1] += encoded

        first = const.first  # the response periods are first .. P - 1
        n_out = const.targets.shape[1]
        table = np.empty((P + 1, B, n_out), dtype=np.float32)
        table[...] = const.targets[:, None, :]
        bump = tuned[-B:].astype(np.float32)
        answer = np.zeros((P + 1, B), dtype=np.int64)
        if all_go:
            table[first:P, :, 1:] += bump
            answer[first:P] = nearest_unit(response) + 1
        else:
            table[first:P, :, 0] = np.where(go, const.targets[first, 0], np.float32(_FIXATE_TARGET))
            table[first:P, :, 1:] += np.where(go[:, None], bump, np.float32(0.0))
            answer[first:P] = np.where(go, nearest_unit(directions[-1]) + 1, 0)
        return Tables(
            inputs=Gathered(rows.reshape(-1, n_in), index),
            targets=Gathered(table.reshape(-1, n_out), index),
            mask=self._cost_mask_table(layout, index),
            labels=Gathered(answer.reshape(-1), index),
        )

    def cost_mask(self, layout: Layout) -> NDArray[np.float32]:
        """Yang's cost mask ``(T, B, n_out)``: 0 for the first 100 ms, 1 until the response, 0 for 100 ms, 5 after.

        The fixation output's column is doubled; padding is 0.
        """
        return self._cost_mask_table(layout).dense()

    def _cost_mask_table(self, layout: Layout, index: NDArray[np.intp] | None = None) -> Gathered:
        """:meth:`cost_mask` as its three distinct rows (unchecked, before the response, after it) and a row index.

        Args:
            layout: the batch's layout.
            index: its :func:`~mtrnn.envs.layout.period_rows` index ``(T, B)`` when already built.
        """
        names = self.period_names
        B, T = layout.batch_size, layout.n_steps
        if index is None:
            index = period_rows(np.array([layout.stops[name] for name in names]), T)
        decision = self.decision_period
        # mask row 1 before the response period, 2 in it and after, 0 on padding; then the unchecked first steps
        # and the grace window at the response onset (clipped to the batch: a step past a trial's end is padding)
        code = _mask_codes(len(names), names.index(decision), B).take(index, mode="clip")
        offsets = _unchecked_offsets(self.dt)
        if len(offsets):
            code[: len(offsets)] = 0
            grace = layout.starts[decision] + offsets
            np.minimum(grace, T - 1, out=grace)
            code[grace, np.arange(B)] = 0
        return Gathered(_mask_rows(1 + self.ring.width), code)

    # ------------------------------------------------------------------ judging
    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """Yang's ``get_perf`` on each trial's last valid step. ``outputs (T, B, n_out)`` -> ``(B,)``.

        No-go trials are correct iff the fixation output is > 0.5; go trials iff it is <= 0.5 and the direction
        read from the ring outputs (population vector; sin/cos: ``atan2``) is within 0.2π of the response.
        """
        outputs = np.asarray(outputs)
        if outputs.shape != (batch.n_steps, batch.batch_size, self.n_outputs):
            raise ValueError(
                f"outputs must have shape (T={batch.n_steps}, B={batch.batch_size}, "
                f"n_out={self.n_outputs}), got {outputs.shape}"
            )
        return self._get_perf(batch.last_step_values(outputs), batch.conditions["go"], batch.conditions["response"])

    def score_trials(
        self, outputs: NDArray[np.floating], batch: TrialBatch, index: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """:meth:`score` of trials ``index`` of ``batch``: reads their last steps only (no copy of the batch)."""
        index = np.asarray(index)
        last = np.asarray(outputs)[batch.lengths[index] - 1, index]
        go = np.asarray(batch.conditions["go"])[index]
        return self._get_perf(last, go, np.asarray(batch.conditions["response"])[index])

    def _get_perf(
        self, last: NDArray[np.floating], go: NDArray[np.bool_], response: NDArray[np.floating]
    ) -> NDArray[np.float64]:
        """Yang's ``get_perf`` on last-step outputs ``(B, n_out)``, go flags and response directions ``(B,)``."""
        fixating = last[:, 0] > 0.5
        close = circular_distance(self.ring.decode(last[:, 1:]), response) < CORRECT_ANGLE
        return np.where(np.asarray(go, dtype=bool), close & ~fixating, fixating).astype(np.float64)

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(B, 33)``: on go trials the ring units within 0.2π of the response, on no-go trials only 0 (fixate).

        This is the action-space image of :meth:`score`: responding at unit ``k - 1`` is correct iff an output
        bump at that unit's direction would be scored correct.
        """
        go = np.asarray(batch.conditions["go"], dtype=bool)
        response = np.asarray(batch.conditions["response"], dtype=np.float64)
        close = circular_distance(response[:, None], preferred_directions()[None, :]) < CORRECT_ANGLE
        return np.concatenate([~go[:, None], close & go[:, None]], axis=1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dt={self.dt}, ring={self.ring.name}, rule_units={len(self.rule_units)}, "
            f"shared_timing={self.shared_timing}, input_noise_std={self.input_noise_std:.4g})"
        )
