"""The :class:`Task`: builds whole batches of trials at once, vectorised, padded and masked.

A task samples per-trial conditions and period durations from one ``numpy.random.Generator`` and builds
``inputs``, ``targets``, ``mask`` and ``labels`` for the whole batch with array operations (no Python loop over
trials). Everything else in mtrnn (the gym env, the trainer, curricula, analysis) consumes the
:class:`~mtrnn.envs.batch.TrialBatch` it returns.

A subclass declares

* ``period_names``: the ordered periods of a trial (laid out back to back);
* ``default_timing()``: a :class:`~mtrnn.envs.timing.TimingSpec` per period;
* ``decision_period``: the period in which the answer is given;
* ``condition_domains``: the typed domain of each sampled per-trial variable;
* ``_sample_conditions(rng, batch_size)``;
* ``_build(conditions, layout)``: inputs, targets and labels (and optionally its own mask);
* ``score(outputs, batch)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.conditions import Condition, Reals
from mtrnn.envs.timing import TimingSpec, to_steps

__all__ = ["Built", "Layout", "PeriodTask", "Task", "check_batch_size", "check_dt"]


def check_dt(dt: object) -> float:
    """Validate a time step in ms: a finite number > 0."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise TypeError(f"dt must be a number of milliseconds, got {type(dt).__name__}")
    if not math.isfinite(float(dt)) or float(dt) <= 0:
        raise ValueError(f"dt must be a finite time step > 0 ms, got {dt}")
    return float(dt)


def check_batch_size(batch_size: object) -> int:
    """Validate a batch size: an integer >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int >= 1, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


@dataclass(frozen=True)
class Layout:
    """Where each period of each trial lies in a padded batch.

    Attributes:
        starts: ``{period: (B,)}`` first step of each period.
        stops: ``{period: (B,)}`` one past the last step of each period.
        lengths: ``(B,)`` valid steps per trial.
        n_steps: ``T``, the padded length.
    """

    starts: Mapping[str, NDArray[np.int64]]
    stops: Mapping[str, NDArray[np.int64]]
    lengths: NDArray[np.int64]
    n_steps: int

    @property
    def batch_size(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def time(self) -> NDArray[np.int64]:
        """``(T, 1)`` step index, broadcastable against ``(T, B)``."""
        return np.arange(self.n_steps)[:, None]

    def within(self, name: str) -> NDArray[np.bool_]:
        """``(T, B)`` True inside period ``name``."""
        t = self.time
        return (t >= self.starts[name][None, :]) & (t < self.stops[name][None, :])

    def between(self, start: NDArray[np.int64], stop: NDArray[np.int64]) -> NDArray[np.bool_]:
        """``(T, B)`` True for ``start <= t < stop`` (per-trial ``(B,)`` bounds)."""
        t = self.time
        return (t >= start[None, :]) & (t < stop[None, :])

    def from_(self, name: str) -> NDArray[np.bool_]:
        """``(T, B)`` True from the start of period ``name`` to the trial's end."""
        return (self.time >= self.starts[name][None, :]) & self.valid

    @property
    def valid(self) -> NDArray[np.bool_]:
        """``(T, B)`` True on unpadded steps."""
        return self.time < self.lengths[None, :]


@dataclass(frozen=True)
class Built:
    """What a task's ``_build`` returns; the base class pads, masks and adds noise.

    ``mask`` may be None, in which case the default mask is used: 1 on valid steps, 0 in grace windows.
    """

    inputs: NDArray[np.float32]
    targets: NDArray[np.float32]
    labels: NDArray[np.int64]
    mask: NDArray[np.float32] | None = None


class Task(ABC):
    """What every task offers its consumers (gym env, trainer, analysis): batches of trials and a score.

    Attributes:
        dt: time step in ms.
        input_noise_std: std of the Gaussian input noise.
    """

    dt: float
    input_noise_std: float
    #: Display name (e.g. ``"Delay anti"``).
    display_name: ClassVar[str] = ""
    #: True when the task's inputs already include its own rule cue (Yang's tasks), so a mixture of such tasks
    #: needs no extra rule inputs.
    carries_rule_input: ClassVar[bool] = False

    @property
    @abstractmethod
    def n_inputs(self) -> int:
        """Number of input units ``n_in``."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """Number of output units ``n_out``."""

    @property
    @abstractmethod
    def n_actions(self) -> int:
        """Number of discrete actions (0 = fixate, k = choice k)."""

    @property
    @abstractmethod
    def max_steps(self) -> int:
        """The longest possible trial, in steps."""

    @abstractmethod
    def sample_batch(
        self,
        batch_size: int,
        rng: np.random.Generator,
        conditions: Mapping[str, object] | None = None,
        noise: bool = True,
    ) -> TrialBatch:
        """Build ``batch_size`` trials at once (see :meth:`PeriodTask.sample_batch`)."""

    @abstractmethod
    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """``outputs (T, B, n_out)`` -> ``(B,)`` 1.0 for a correct trial, 0.0 for a wrong one."""

    @abstractmethod
    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` first step of each trial's decision period (responding earlier breaks fixation)."""

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(B, n_actions)`` bool: the actions that count as a correct decision in each trial.

        Default: the label at each trial's last step (0 on a no-go trial).
        """
        last = batch.labels[batch.lengths - 1, np.arange(batch.batch_size)]
        return np.eye(self.n_actions, dtype=bool)[last]

    @property
    def input_range(self) -> tuple[float, float]:
        """``(low, high)`` of the noise-free inputs."""
        return (0.0, 1.0)

    @property
    def observation_bounds(self) -> tuple[float, float]:
        """``(low, high)`` of every input after noise: :attr:`input_range` widened by 8 noise stds.

        Noisy inputs are clipped to these bounds (a draw beyond 8 std has probability ~1e-15), so that every
        observation lies in the gym observation space.
        """
        low, high = self.input_range
        margin = 8.0 * self.input_noise_std
        return (low - margin, high + margin)

    @property
    def input_names(self) -> tuple[str, ...]:
        """A short name per input unit (for plots)."""
        return tuple(f"in{i}" for i in range(self.n_inputs))

    @property
    def output_names(self) -> tuple[str, ...]:
        """A short name per output unit (for plots)."""
        return tuple(f"out{i}" for i in range(self.n_outputs))

    @property
    def name(self) -> str:
        """The class name."""
        return type(self).__name__


class PeriodTask(Task):
    """A task whose trials are a sequence of named periods, built as whole batches.

    Args:
        dt: time step in ms (> 0).
        timing: per-period overrides of :meth:`default_timing` (keys must be period names).
        input_noise_std: std of the Gaussian noise added to the inputs (>= 0).

    Subclasses set the class variables below and implement the abstract methods.
    """

    #: Ordered period names; periods follow each other in this order.
    period_names: ClassVar[tuple[str, ...]] = ()
    #: The period in which the answer is given (rewarded/scored).
    decision_period: ClassVar[str] = ""

    def __init__(
        self,
        *,
        dt: float = 20.0,
        timing: Mapping[str, TimingSpec] | None = None,
        input_noise_std: float = 0.0,
    ) -> None:
        self.dt = check_dt(dt)
        if timing is not None and not isinstance(timing, Mapping):
            raise TypeError(f"timing must be a mapping of period name -> TimingSpec, got {timing!r}")
        spec = dict(self.default_timing())
        for name, value in (timing or {}).items():
            if name not in self.period_names:
                raise ValueError(f"timing has unknown period {name!r}; periods are {list(self.period_names)}")
            if not isinstance(value, TimingSpec):
                raise TypeError(
                    f"timing[{name!r}] must be a TimingSpec (Fixed, Choice, Uniform, TruncExp), got {value!r}"
                )
            spec[name] = value
        for name, value in spec.items():
            if value.low / self.dt < 0.5:
                raise ValueError(
                    f"timing[{name!r}] can be {value.low} ms, shorter than half a time step (dt={self.dt} ms)"
                )
        self.timing: dict[str, TimingSpec] = spec
        noise = float(input_noise_std)
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"input_noise_std must be a finite number >= 0, got {input_noise_std}")
        self.input_noise_std = noise

    # ------------------------------------------------------------------ what a subclass declares
    @abstractmethod
    def default_timing(self) -> dict[str, TimingSpec]:
        """A timing spec for every name in ``period_names`` (ms)."""

    @property
    @abstractmethod
    def condition_domains(self) -> dict[str, Condition]:
        """The typed domain of each sampled per-trial variable (not the period durations)."""

    @abstractmethod
    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> dict[str, NDArray]:
        """Draw every variable of ``condition_domains`` for ``batch_size`` trials, each ``(B,)``."""

    @abstractmethod
    def _build(self, conditions: Mapping[str, NDArray], layout: Layout) -> Built:
        """Build ``(T, B, ·)`` inputs/targets and ``(T, B)`` labels for the given conditions and layout."""

    @property
    def grace(self) -> Mapping[str, float]:
        """Grace windows in ms at the start of periods, ``{period: ms}``: not penalised, not checked."""
        return {}

    # ------------------------------------------------------------------ derived
    @property
    def duration_names(self) -> tuple[str, ...]:
        """Condition keys holding period durations in ms: ``"<period>_duration"``."""
        return tuple(f"{p}_duration" for p in self.period_names)

    @property
    def all_condition_domains(self) -> dict[str, Condition]:
        """The domains of every key accepted in ``conditions=`` (sampled variables and durations)."""
        domains = dict(self.condition_domains)
        for key in self.duration_names:
            domains[key] = Reals(low=0.5 * self.dt, high=math.inf)
        return domains

    @property
    def max_steps(self) -> int:
        """The longest possible trial, in steps."""
        return int(sum(int(to_steps(self.timing[p].high, self.dt)) for p in self.period_names))

    # ------------------------------------------------------------------ the batch builder
    def sample_batch(
        self,
        batch_size: int,
        rng: np.random.Generator,
        conditions: Mapping[str, object] | None = None,
        noise: bool = True,
    ) -> TrialBatch:
        """Build ``batch_size`` trials at once.

        Args:
            batch_size: number of trials ``B`` (>= 1).
            rng: the only source of randomness.
            conditions: fix any per-trial variable (a scalar or a ``(B,)`` array); keys are those of
                :attr:`all_condition_domains`, e.g. ``{"direction": 3, "delay_duration": 400.0}``.
            noise: add Gaussian input noise of std ``input_noise_std`` in numpy. With ``noise=False`` the
                inputs are noise-free and the consumer adds ``batch.input_noise_std`` itself (e.g. in torch).

        Returns:
            A :class:`TrialBatch` with ``inputs (T, B, n_in)``, ``targets``/``mask (T, B, n_out)``,
            ``labels (T, B)``, ``periods``, ``conditions``, ``lengths (B,)``.
        """
        batch_size = check_batch_size(batch_size)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        given = self._check_conditions(conditions, batch_size)
        sampled = self._sample_conditions(rng, batch_size)
        cond: dict[str, NDArray] = {**sampled, **{k: v for k, v in given.items() if k in sampled}}
        cond = self._finalize_conditions(cond, given, rng)
        durations: dict[str, NDArray[np.float64]] = {}
        for period, key in zip(self.period_names, self.duration_names, strict=True):
            durations[key] = given[key] if key in given else self.timing[period].sample(rng, batch_size)
        layout = self._layout(durations)
        built = self._build(cond, layout)
        return self._finish(built, layout, {**cond, **durations}, rng, noise)

    def _finalize_conditions(
        self, conditions: dict[str, NDArray], given: Mapping[str, NDArray], rng: np.random.Generator
    ) -> dict[str, NDArray]:
        """Hook: derive dependent variables after overrides (default: unchanged)."""
        return conditions

    def _check_conditions(self, conditions: Mapping[str, object] | None, batch_size: int) -> dict[str, NDArray]:
        if conditions is None:
            return {}
        if not isinstance(conditions, Mapping):
            raise TypeError(f"conditions must be a mapping of name -> value, got {type(conditions).__name__}")
        domains = self.all_condition_domains
        checked = {}
        for key, value in conditions.items():
            if key not in domains:
                raise ValueError(f"conditions has unknown key {key!r}; allowed keys are {sorted(domains)}")
            checked[key] = domains[key].coerce(key, value, batch_size)
        return checked

    def _layout(self, durations: Mapping[str, NDArray[np.float64]]) -> Layout:
        steps = [np.maximum(to_steps(durations[k], self.dt), 1) for k in self.duration_names]
        ends = np.cumsum(np.stack(steps), axis=0)
        starts, stops = {}, {}
        for i, period in enumerate(self.period_names):
            stops[period] = ends[i]
            starts[period] = ends[i] - steps[i]
        lengths = ends[-1]
        return Layout(starts=starts, stops=stops, lengths=lengths, n_steps=int(lengths.max()))

    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` first step of :attr:`decision_period` in each trial."""
        return batch.periods[self.decision_period][0]

    def default_mask(self, layout: Layout, n_outputs: int | None = None) -> NDArray[np.float32]:
        """``(T, B, n_out)``: 1 on valid steps, 0 in the grace windows of :attr:`grace`."""
        keep = layout.valid.copy()
        for period, ms in self.grace.items():
            start = layout.starts[period]
            stop = np.minimum(start + to_steps(ms, self.dt), layout.stops[period])
            keep &= ~layout.between(start, stop)
        n = self.n_outputs if n_outputs is None else n_outputs
        return np.broadcast_to(keep[:, :, None], (*keep.shape, n)).astype(np.float32)

    def _finish(
        self,
        built: Built,
        layout: Layout,
        conditions: dict[str, NDArray],
        rng: np.random.Generator,
        noise: bool,
    ) -> TrialBatch:
        valid = layout.valid
        inputs = np.asarray(built.inputs, dtype=np.float32)
        targets = np.asarray(built.targets, dtype=np.float32)
        labels = np.where(valid, built.labels, 0).astype(np.int64)
        mask = self.default_mask(layout) if built.mask is None else np.asarray(built.mask, dtype=np.float32)
        inputs *= valid[:, :, None]
        targets *= valid[:, :, None]
        mask = mask * valid[:, :, None]
        add_noise = noise and self.input_noise_std > 0
        if add_noise:
            inputs += self.input_noise_std * rng.standard_normal(inputs.shape, dtype=np.float32)
            low, high = self.observation_bounds
            np.clip(inputs, low, high, out=inputs)
        periods = {p: (layout.starts[p], layout.stops[p]) for p in self.period_names}
        return TrialBatch(
            inputs=inputs,
            targets=targets,
            mask=mask.astype(np.float32, copy=False),
            labels=labels,
            periods=periods,
            conditions=conditions,
            lengths=layout.lengths.astype(np.int64),
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=add_noise or self.input_noise_std == 0,
            metadata={"task": self.name},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dt={self.dt}, input_noise_std={self.input_noise_std})"
