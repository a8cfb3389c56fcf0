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
* optionally ``_tables(conditions, layout)``: the same as per-period :class:`~mtrnn.envs.batch.Gathered` tables, which
  gives the task a compact form (:meth:`Task.sample_compact`) that the gym env plays without dense arrays, and lets
  ``sample_batch`` write each dense array in one gather (``_build`` is then not called by ``sample_batch``);
* ``score(outputs, batch)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import CompactBatch, Gathered, TrialBatch
from mtrnn.envs.conditions import Condition, Reals, check_conditions
from mtrnn.envs.layout import Layout
from mtrnn.envs.timing import TimingSpec, to_steps

__all__ = ["Built", "Layout", "PeriodTask", "Sampled", "Tables", "Task", "check_batch_size", "check_dt"]


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


@cache
def _prime_allocator() -> None:
    """Once per process, let the C allocator keep freed batch memory instead of returning it to the OS.

    glibc serves blocks above a threshold with ``mmap`` and hands freed memory at the top of its heap back to
    the OS above a second one; both start at 128 KiB and grow only when a large ``mmap``-ed block is freed. A
    loop that builds and drops multi-MB batches then page-faults on every fresh batch: measured on the
    development machine, a noise-free 256 x 500 step DelayMatchToSample batch takes 2.5 ms in a fresh process
    and 0.27 ms once the thresholds have grown. Allocating and freeing one untouched 16 MiB block grows them
    (to what any process that ever freed such a block has); no memory is touched or kept. With other
    allocators this is a plain no-op.
    """
    np.empty(16 << 20, dtype=np.uint8)


@cache
def _duration_names(period_names: tuple[str, ...]) -> tuple[str, ...]:
    """``"<period>_duration"`` of every period (:attr:`PeriodTask.duration_names`)."""
    return tuple(f"{p}_duration" for p in period_names)


@dataclass(frozen=True)
class Built:
    """What a task's ``_build`` returns; the base class pads, masks and adds noise.

    ``mask`` may be None, in which case the default mask is used: 1 on valid steps, 0 in grace windows.
    ``padding_zeroed`` says the builder already left every padding step 0 in all four arrays (so the base class
    need not zero them again).
    """

    inputs: NDArray[np.float32]
    targets: NDArray[np.float32]
    labels: NDArray[np.int64]
    mask: NDArray[np.float32] | None = None
    padding_zeroed: bool = False


@dataclass(frozen=True)
class Tables:
    """What a task's ``_tables`` returns: every signal of a batch as a table of rows and a ``(T, B)`` row index.

    ``Gathered.dense()`` of each must be what ``_build`` returns, with padding already 0 (as
    ``Built(padding_zeroed=True)``) and the mask included.
    """

    inputs: Gathered
    targets: Gathered
    mask: Gathered
    labels: Gathered

    def built(self) -> Built:
        """The dense arrays, each written once."""
        return Built(
            inputs=self.inputs.dense(),
            targets=self.targets.dense(),
            labels=self.labels.dense(),
            mask=self.mask.dense(),
            padding_zeroed=True,
        )


@dataclass(frozen=True)
class Sampled:
    """What a task's ``_sample_conditions`` draws for a batch, when it needs more than the conditions.

    Attributes:
        conditions: ``{name: (B,)}`` the variables of ``condition_domains``.
        auxiliary: ``{name: (B,)}`` draws that only serve :meth:`PeriodTask._finalize_conditions` to derive
            conditions (e.g. the offset of a non-match test from the sample); drawn in the same pass so the random
            stream does not depend on which conditions are given, and never recorded in the batch.
    """

    conditions: dict[str, NDArray]
    auxiliary: Mapping[str, NDArray] = field(default_factory=dict)


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

    def sample_compact(
        self, batch_size: int, rng: np.random.Generator, conditions: Mapping[str, object] | None = None
    ) -> CompactBatch:
        """The trials of ``sample_batch(batch_size, rng, conditions, noise=False)`` in compact form.

        Draws from ``rng`` exactly as that call does, and ``.expand()`` is that batch bit for bit. Tasks whose
        signals are constant within periods keep per-period tables (no ``(T, B, n_in)`` array is written); the
        default wraps the dense batch.
        """
        return CompactBatch.of(self.sample_batch(batch_size, rng, conditions, noise=False))

    @abstractmethod
    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """``outputs (T, B, n_out)`` -> ``(B,)`` 1.0 for a correct trial, 0.0 for a wrong one."""

    def score_trials(
        self, outputs: NDArray[np.floating], batch: TrialBatch, index: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """:meth:`score` of trials ``index`` of ``batch`` (a batch that may hold other tasks' trials, as a
        per-trial :class:`~mtrnn.envs.multitask.MultiTask` batch does): ``outputs (T, B, n_out)`` -> ``(len(index),)``.

        The default scores ``batch.select(index, signals=False)`` (no copy of inputs, targets or mask) with the
        outputs of those trials; tasks that read less (Yang's read the last step) override it.
        """
        sub = batch.select(index, signals=False)
        return self.score(np.asarray(outputs)[: sub.n_steps, index], sub)

    @abstractmethod
    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` first step of each trial's decision period (responding earlier breaks fixation)."""

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(B, n_actions)`` bool: the actions that count as a correct decision in each trial.

        Default: the label at each trial's last step (0 on a no-go trial).
        """
        last = batch.labels[batch.lengths - 1, np.arange(batch.batch_size)]
        return np.eye(self.n_actions, dtype=bool)[last]

    def response_deadline(self, batch: TrialBatch) -> NDArray[np.int64] | None:
        """``(B,)`` int64: the first step at which a response comes too late, or None when no trial has a deadline.

        A response (a non-zero action on a checked step) at step ``t >= response_deadline(batch)[b]`` is a wrong
        decision whatever its action: :class:`~mtrnn.envs.env.TrialEnv` pays ``wrong_reward``, ends the trial and
        reports ``performance`` 0.0, and :func:`~mtrnn.envs.scoring.decision_outcome` and
        :func:`mtrnn.agents.rl.rollout.play_trials` judge it the same way (a response before the deadline follows the
        usual rule). A trial with no deadline of its own gets ``batch.n_steps`` (no step is late). Timing tasks
        whose answer must come within a tolerance of a target time use it (neurogym's ReadySetGo and MotorTiming
        through :class:`~mtrnn.envs.NeurogymTask`). Default: None, no deadline (the decision period lasts to
        the trial's end).
        """
        return None

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

    def add_input_noise(
        self, inputs: NDArray[np.float32], rng: np.random.Generator, valid: NDArray[np.bool_] | None = None
    ) -> None:
        """Add Gaussian noise of std :attr:`input_noise_std` to ``inputs (T, B, n)`` in place, then bound the
        values to :attr:`observation_bounds` (so every observation lies in the gym observation space).

        With ``valid (T, B)``, only the valid steps get noise (padding stays 0); the draws fill the valid
        steps in ``(t, b)`` order. A batch without padding draws the same numbers either way.
        """
        scale = np.float32(self.input_noise_std)
        if valid is None or valid.all():
            values = rng.standard_normal(inputs.shape, dtype=np.float32)
            values *= scale
            inputs += values
        else:
            values = rng.standard_normal((int(np.count_nonzero(valid)), inputs.shape[2]), dtype=np.float32)
            values *= scale
            inputs[valid] += values
        low, high = self.observation_bounds
        np.clip(inputs, np.float32(low), np.float32(high), out=inputs)

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
    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> dict[str, NDArray] | Sampled:
        """Draw every variable of ``condition_domains`` for ``batch_size`` trials, each ``(B,)``; return them, or a
        :class:`Sampled` with the auxiliary draws :meth:`_finalize_conditions` needs."""

    @abstractmethod
    def _build(self, conditions: Mapping[str, NDArray], layout: Layout) -> Built:
        """Build ``(T, B, ·)`` inputs/targets and ``(T, B)`` labels for the given conditions and layout."""

    def _tables(self, conditions: Mapping[str, NDArray], layout: Layout) -> Tables | None:
        """Hook: ``_build``'s result as per-period tables (see :class:`Tables`), or None (the default) when the task
        has no compact form. When it returns tables, :meth:`sample_batch` builds the batch from them (one gather per
        array, see :meth:`_finish_tables`) and does not call ``_build``."""
        return None

    @property
    def grace(self) -> Mapping[str, float]:
        """Grace windows in ms at the start of periods, ``{period: ms}``: not penalised, not checked."""
        return {}

    # ------------------------------------------------------------------ derived
    @property
    def duration_names(self) -> tuple[str, ...]:
        """Condition keys holding period durations in ms: ``"<period>_duration"``."""
        return _duration_names(tuple(self.period_names))

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
        cond, durations, layout = self._draw(batch_size, rng, conditions)
        tables = self._tables(cond, layout)
        if tables is not None:
            return self._finish_tables(tables, layout, {**cond, **durations}, rng, noise)
        return self._finish(self._build(cond, layout), layout, {**cond, **durations}, rng, noise)

    def sample_compact(
        self, batch_size: int, rng: np.random.Generator, conditions: Mapping[str, object] | None = None
    ) -> CompactBatch:
        """See :meth:`Task.sample_compact`: per-period tables when the task has them (:meth:`_tables`)."""
        cond, durations, layout = self._draw(batch_size, rng, conditions)
        tables = self._tables(cond, layout)
        if tables is None:
            built = self._build(cond, layout)
            return CompactBatch.of(self._finish(built, layout, {**cond, **durations}, rng, noise=False))
        return CompactBatch(
            inputs=tables.inputs,
            targets=tables.targets,
            mask=tables.mask,
            labels=tables.labels,
            periods=self._periods(layout),
            conditions={**cond, **durations},
            lengths=layout.lengths.astype(np.int64, copy=False),
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            metadata={"task": self.name},
        )

    def _draw(
        self, batch_size: int, rng: np.random.Generator, conditions: Mapping[str, object] | None
    ) -> tuple[dict[str, NDArray], dict[str, NDArray[np.float64]], Layout]:
        """Everything a batch draws from ``rng``: the conditions, the period durations (ms) and the layout."""
        batch_size = check_batch_size(batch_size)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        _prime_allocator()
        given = self._check_conditions(conditions, batch_size)
        sampled = self._sample_conditions(rng, batch_size)
        if isinstance(sampled, Sampled):
            drawn, auxiliary = sampled.conditions, sampled.auxiliary
        else:
            drawn, auxiliary = sampled, {}
        cond: dict[str, NDArray] = {**drawn, **{k: v for k, v in given.items() if k in drawn}} if given else drawn
        cond = self._finalize_conditions(cond, given, rng, auxiliary)
        durations: dict[str, NDArray[np.float64]] = {}
        timing = self.timing
        for period, key in zip(self.period_names, self.duration_names, strict=True):
            durations[key] = given[key] if key in given else timing[period].sample(rng, batch_size)
        return cond, durations, self._layout(durations)

    def _finalize_conditions(
        self,
        conditions: dict[str, NDArray],
        given: Mapping[str, NDArray],
        rng: np.random.Generator,
        auxiliary: Mapping[str, NDArray],
    ) -> dict[str, NDArray]:
        """Hook: derive dependent variables after overrides (default: unchanged).

        Args:
            conditions: the sampled conditions with the given ones in their place.
            given: the conditions the caller fixed (validated).
            rng: the batch's generator.
            auxiliary: the auxiliary draws of :meth:`_sample_conditions` (see :class:`Sampled`).
        """
        return conditions

    def _check_conditions(self, conditions: Mapping[str, object] | None, batch_size: int) -> dict[str, NDArray]:
        if conditions is None:  # nothing given: no domains to build
            return {}
        return check_conditions(conditions, self.all_condition_domains, batch_size)

    def _layout(self, durations: Mapping[str, NDArray[np.float64]]) -> Layout:
        ms = np.array([durations[k] for k in self.duration_names], dtype=np.float64)  # (P, B)
        steps = np.rint(np.divide(ms, self.dt, out=ms), out=ms).astype(np.int64)  # to_steps
        np.maximum(steps, 1, out=steps)
        ends = np.cumsum(steps, axis=0)
        begins = np.subtract(ends, steps, out=steps)
        names = self.period_names
        starts = dict(zip(names, begins, strict=True))
        stops = dict(zip(names, ends, strict=True))
        lengths = ends[-1]
        return Layout(starts=starts, stops=stops, lengths=lengths, n_steps=int(lengths.max()))

    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` first step of :attr:`decision_period` in each trial."""
        return batch.periods[self.decision_period][0]

    def default_mask(self, layout: Layout, n_outputs: int | None = None) -> NDArray[np.float32]:
        """``(T, B, n_out)``: 1 on valid steps, 0 in the grace windows of :attr:`grace` and in padding."""
        n = self.n_outputs if n_outputs is None else n_outputs
        if layout.uniform:
            mask = np.ones((layout.n_steps, layout.batch_size, n), dtype=np.float32)
            for period, ms in self.grace.items():
                first, last = layout._period_spans[period]
                mask[first : min(first + int(to_steps(ms, self.dt)), last)] = 0.0
            return mask
        if layout.padded:
            mask = np.zeros((layout.n_steps, layout.batch_size, n), dtype=np.float32)
            layout.fill(mask, 0, layout.lengths, 1.0)
        else:
            mask = np.ones((layout.n_steps, layout.batch_size, n), dtype=np.float32)
        for period, ms in self.grace.items():
            start = layout.starts[period]
            stop = np.minimum(start + to_steps(ms, self.dt), layout.stops[period])
            layout.fill(mask, start, stop, 0.0)
        return mask

    def _finish(
        self,
        built: Built,
        layout: Layout,
        conditions: dict[str, NDArray],
        rng: np.random.Generator,
        noise: bool,
    ) -> TrialBatch:
        inputs = np.asarray(built.inputs, dtype=np.float32)
        targets = np.asarray(built.targets, dtype=np.float32)
        labels = np.asarray(built.labels, dtype=np.int64)
        mask = self.default_mask(layout) if built.mask is None else np.asarray(built.mask, dtype=np.float32)
        if layout.padded and not built.padding_zeroed:
            padding = ~layout.valid
            inputs[padding] = 0.0
            targets[padding] = 0.0
            labels = np.where(padding, 0, labels)
            if built.mask is not None:
                mask = np.where(padding[:, :, None], np.float32(0.0), mask)
        if not labels.flags.writeable:
            labels = labels.copy()
        add_noise = noise and self.input_noise_std > 0
        if add_noise:
            self.add_input_noise(inputs, rng, layout.valid if layout.padded else None)
        return self._trial_batch(inputs, targets, mask, labels, layout, conditions, add_noise)

    def _trial_batch(
        self,
        inputs: NDArray[np.float32],
        targets: NDArray[np.float32],
        mask: NDArray[np.float32],
        labels: NDArray[np.int64],
        layout: Layout,
        conditions: dict[str, NDArray],
        noise_added: bool,
    ) -> TrialBatch:
        """The :class:`TrialBatch` of finished arrays (``noise_added``: numpy added the input noise)."""
        return TrialBatch(
            inputs=inputs,
            targets=targets,
            mask=mask,
            labels=labels,
            periods=self._periods(layout),
            conditions=conditions,
            lengths=layout.lengths.astype(np.int64, copy=False),
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=noise_added or self.input_noise_std == 0,
            metadata={"task": self.name},
        )

    def _finish_tables(
        self,
        tables: Tables,
        layout: Layout,
        conditions: dict[str, NDArray],
        rng: np.random.Generator,
        noise: bool,
    ) -> TrialBatch:
        """:meth:`_finish` of ``tables.built()``, bit for bit and drawing the same numbers, with every dense array
        written in one gather (no zero fill, no masked scatter); noisy inputs as :meth:`_noisy_inputs` writes them.
        """
        add_noise = noise and self.input_noise_std > 0
        inputs = self._noisy_inputs(tables.inputs, layout, rng) if add_noise else tables.inputs.dense()
        targets, mask, labels = tables.targets.dense(), tables.mask.dense(), tables.labels.dense()
        return self._trial_batch(inputs, targets, mask, labels, layout, conditions, add_noise)

    def _noisy_inputs(self, clean: Gathered, layout: Layout, rng: np.random.Generator) -> NDArray[np.float32]:
        """``(T, B, n_in)`` ``clean.dense()`` with :meth:`Task.add_input_noise` applied (same draws, same values).

        The steps before the shortest trial's end (the head, every trial valid) are drawn straight into the
        output in ``(t, b)`` order; the valid steps after it (the tail) into a buffer with one extra all-zero row,
        which one gather through a ``(T - head, B)`` position index (padding points at the zero row) writes into
        the rest of the output. Splitting the draws in two calls draws the same numbers as one call.
        """
        rows, index = clean.rows, clean.index
        n_steps, batch = index.shape
        n_in = rows.shape[-1]
        lengths = layout.lengths
        head = min(int(lengths.min()), n_steps)
        scale = np.float32(self.input_noise_std)
        low, high = (np.float32(bound) for bound in self.observation_bounds)
        out = np.empty((n_steps, batch, n_in), dtype=np.float32)
        top = out[:head]
        rng.standard_normal(out=top, dtype=np.float32)
        if head < n_steps:
            tail_valid = np.arange(head, n_steps)[:, None] < lengths
            n_tail = int(lengths.sum()) - head * batch
            buffer = np.empty((n_tail + 1, n_in), dtype=np.float32)
            values = buffer[:n_tail]
            rng.standard_normal(out=values, dtype=np.float32)
            values *= scale
            values += rows.take(index[head:][tail_valid], axis=0, mode="clip")
            np.clip(values, low, high, out=values)
            buffer[n_tail] = 0.0
            position = np.full(tail_valid.shape, n_tail, dtype=np.intp)
            position[tail_valid] = np.arange(n_tail)
            buffer.take(position, axis=0, mode="clip", out=out[head:])
        top *= scale
        top += rows.take(index[:head], axis=0, mode="clip")
        np.clip(top, low, high, out=top)
        return out

    def _periods(self, layout: Layout) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
        return {p: (layout.starts[p], layout.stops[p]) for p in self.period_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dt={self.dt}, input_noise_std={self.input_noise_std})"
