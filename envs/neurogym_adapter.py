"""neurogym interop: :class:`NeurogymTask` turns a neurogym ``TrialEnv`` into an mtrnn :class:`~mtrnn.envs.task.Task`.

neurogym (Molano-Mazón et al., "NeuroGym: An open resource for developing and sharing neuroscience tasks",
2022) builds one trial at a time with ``new_trial()``, leaving the observations in ``env.ob`` ``(T, n_in)``, the
correct action per step in ``env.gt`` ``(T,)`` and the period bounds in ``env.start_ind`` / ``env.end_ind``.
:class:`NeurogymTask` calls it once per batch column and returns trial-aligned, padded and masked
:class:`~mtrnn.envs.batch.TrialBatch` es, so that mtrnn's trainer and analyses run on neurogym's tasks.

Each neurogym env judges a trial in its own ``_step``; :class:`NeurogymTask` scores with the same rule, written
as data (:class:`ResponseRule`): the first non-fixate action inside the env's response window is the answer, and
it is correct iff it equals the env's ground truth ``gt`` at that step (for the timing tasks, iff it falls within
neurogym's tolerance around the interval to produce). :data:`UNSUPPORTED` lists the envs that cannot be adapted,
each with the reason.

neurogym is an optional dependency (``pip install mtrnn[neurogym]``; it pins gymnasium 0.29 and imports torch).
It is imported only when a :class:`NeurogymTask` is built, never by ``import mtrnn.envs``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.task import Task, check_batch_size

__all__ = ["UNSUPPORTED", "NeurogymTask", "ResponseRule", "TimedResponse"]


@dataclass(frozen=True)
class TimedResponse:
    """neurogym's rule for its interval-production tasks (ReadySetGo, MotorTiming, OneTwoThreeGo).

    A response at time ``t`` (ms, the start of the step) is correct iff
    ``|t - end(reference) - interval| <= margin · interval + 25`` with ``interval = trial[interval_key]`` and
    ``margin`` the env's ``prod_margin`` (its reward then decays with the error; mtrnn scores 1).

    Attributes:
        reference: the period whose end starts the clock.
        interval_key: the key of neurogym's trial dict holding the interval to produce (ms).
    """

    reference: str
    interval_key: str


@dataclass(frozen=True)
class ResponseRule:
    """How a neurogym env judges a trial, read from its ``_step``.

    The first non-fixate action on a step inside the response window (the union of ``window``'s periods, as
    neurogym's ``in_period`` sees them: ``start_t <= t < end_t`` in ms) is the answer; it is correct iff it equals
    ``gt`` at that step (or, with ``timed``, iff it is a response within the tolerance). A trial without an
    answer is correct iff ``gt`` is 0 (fixate) on every step of the window: a no-go trial withheld (neurogym
    itself never sets ``performance = 1`` on such a trial; mtrnn counts the withhold as correct, as the gym env
    rewards it). Actions outside the window are ignored (neurogym's default ``abort=False``).

    Attributes:
        window: the periods in which an action is the answer, in trial order.
        timed: the interval-production rule, or None (the answer must equal ``gt``).
    """

    window: tuple[str, ...]
    timed: TimedResponse | None = None


#: The rules of neurogym envs whose response window is not a period named ``"decision"`` (by env class name).
RULES: dict[str, ResponseRule] = {
    "ReadySetGo": ResponseRule(("production",), TimedResponse("measure", "production")),
    "MotorTiming": ResponseRule(("production",), TimedResponse("set", "production")),
    "OneTwoThreeGo": ResponseRule(("interval3", "response"), TimedResponse("s3", "interval")),
    "DelayMatchCategory": ResponseRule(("test",)),
    # any response after the sample that is not the match response in the matching test fails
    "DelayMatchSampleDistractor1D": ResponseRule(("delay1", "test1", "delay2", "test2", "delay3", "test3")),
}

#: neurogym envs (by class name) that cannot be adapted, with the reason (also listed in the README).
UNSUPPORTED: dict[str, str] = {
    "AnnubesEnv": "scores every step of the stimulus period (no single answer) and needs session/catch_prob",
    "Bandit": "a bandit: one-step trials without periods or ground truth, rewards drawn at random",
    "DawTwoStep": "a two-step RL task: no periods or ground truth, correctness depends on the agent's own choice",
    "DualDelayMatchSample": "two answers per trial (test1 and test2), each scored",
    "EconomicDecisionMaking": "no ground truth (gt): the correct choice is the offer of larger value",
    "HierarchicalReasoning": "two answers per trial: the rule choice (rule_target) and the target (decision)",
    "Null": "an empty env (one action, no trials)",
    "PostDecisionWager": "the sure option scores a fraction of a correct trial (not a correct/wrong rule)",
    "Reaching1D": "continuous pursuit: performance accumulates the distance to the target at every step",
    "Reaching1DWithSelfDistraction": "continuous pursuit: performance accumulates the distance at every step",
    "ReachingDelayResponse": "a continuous (Box) action space",
    "SpatialSuppressMotion": "a continuous (Box) action space",
    "ToneDetection": "defines no performance rule (its _step never scores)",
}


@contextmanager
def _neurogym_quirks() -> Iterator[None]:
    """neurogym's own wrappers reach inner attributes through gymnasium's deprecated forwarding and build envs with
    ``gym.make`` on metadata without ``render_modes``; those warnings are neurogym's, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*to get variables from other wrappers is deprecated")
        warnings.filterwarnings("ignore", message=".*metadata doesn't include `render_modes`")
        yield


class NeurogymTask(Task):
    """The trials of a neurogym environment as mtrnn batches (one neurogym trial per batch column).

    ## Batches
    * ``inputs (T, B, n_in)``: neurogym's ``env.ob`` of each trial (its own stimulus noise included), aligned at
      the trial's start and padded with zeros to the longest trial of the batch. ``input_noise_std`` adds
      mtrnn's Gaussian input noise on top (default 0: neurogym's envs add their own).
    * ``labels (T, B)``: neurogym's ``env.gt`` (0 = fixate), 0 in padding.
    * ``targets (T, B, n_out)``: the one-hot encoding of ``labels`` over the action space, so
      ``n_out == n_actions`` (0 in padding).
    * ``mask (T, B, n_out)``: 1 on every valid step, 0 in padding. neurogym has no grace windows and trains on
      every step (fixation included: its ``Dataset`` feeds ``gt`` at all steps to a cross-entropy loss), so
      fixation and decision periods are weighted alike.
    * ``periods``: neurogym's ``start_ind``/``end_ind`` per trial; a period a trial lacks has
      ``start == stop == 0``.
    * ``conditions``: every scalar of neurogym's trial dict (``ground_truth``, ``coh``, …), the duration of each
      period in ms as ``"<period>_duration"`` (NaN where a trial lacks the period), and what the score needs:
      ``"response_start"``/``"response_stop"`` (steps: the response window as neurogym's ``in_period`` sees
      it) and, for the timing tasks, ``"response_clock_ms"`` (the end of the reference period) and
      ``"response_interval_ms"`` (the interval to produce).

    ## Wrapped envs
    An id whose entry point returns a wrapped env is driven through its trial-level wrappers (``ScheduleEnvs``
    of the ``yang19.*`` ids, ``ScheduleAttr`` of ``ibl20``: their ``new_trial`` draws the trial) and read from
    the env underneath; neurogym's ``ReactionTime`` wrapper (``roitman02``) is applied as it acts on the first
    step: the decision window opens one step after stimulus onset and the trial ends with the stimulus.

    ## Randomness
    Every batch reseeds neurogym's own generators (``env.seed``: ``env.rng`` and its timing samplers) with a
    seed drawn from the ``rng`` given to :meth:`sample_batch`, so ``sample_batch(B, np.random.default_rng(s))``
    always returns the same batch, whatever was sampled before (for envs whose trials depend only on their RNG;
    envs that carry state across trials, e.g. trial-history blocks, are not reproducible this way).

    ## Score
    The env's own rule (:class:`ResponseRule`): with ``actions = argmax(outputs)``, the first non-fixate action
    in the response window must equal ``gt`` at that step (timing tasks: fall within neurogym's tolerance); a
    trial without one is correct iff ``gt`` is 0 throughout the window (a no-go trial). A
    :class:`~mtrnn.envs.env.TrialEnv` playing this task applies mtrnn's stricter rule: fixation must also be
    held before :meth:`decision_start`, the first step at which a response can be correct.

    Args:
        env: a neurogym env id (e.g. ``"PerceptualDecisionMaking-v0"``), built with ``env_kwargs``, or a
            neurogym ``TrialEnv`` instance (wrapped in trial-level wrappers or not), which this task then drives
            (it reseeds it on each batch).
        decision_period: the first period of the response window. Default: the env's known rule, else its period
            named ``"decision"``, else the one period in which ``gt`` is non-zero; the error lists the periods
            when none of these decides.
        input_noise_std: std of extra Gaussian input noise (>= 0).
        max_steps: the longest trial in steps; by default derived from the env's ``timing`` (an error is raised
            when it is asked for and the timing has no finite bound, e.g. a callable sampler).
        env_kwargs: arguments of the env class (``dt``, ``timing``, …) when ``env`` is an id (may also be given
            as keyword arguments).
    """

    def __init__(
        self,
        env: str | Any,
        *,
        decision_period: str | None = None,
        input_noise_std: float = 0.0,
        max_steps: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            from neurogym.core import TrialEnv as NeurogymEnv
        except ImportError as error:
            raise ImportError("NeurogymTask needs neurogym: pip install 'mtrnn[neurogym]'") from error

        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise TypeError(f"env_kwargs must be a mapping of env arguments, got {type(env_kwargs).__name__}")
        both = sorted(set(env_kwargs or {}) & set(kwargs))
        if both:
            raise TypeError(f"env arguments {both} given both in env_kwargs and as keywords")
        merged = {**(env_kwargs or {}), **kwargs}
        if isinstance(env, str):
            self.env_id: str | None = env
            with _neurogym_quirks():
                env = _make(env, merged)
        elif merged:
            raise TypeError(f"env_kwargs {sorted(merged)} given with an env instance; build the env with them")
        else:
            self.env_id = None
        #: The env arguments given with the id (see :meth:`to_dict`).
        self.env_kwargs: dict[str, Any] = merged
        source, self._reaction_time = _trial_source(env, NeurogymEnv)
        core = source.unwrapped
        unsupported = UNSUPPORTED.get(type(core).__name__)
        if unsupported is not None:
            raise ValueError(f"env {type(core).__name__} is not supported by NeurogymTask: {unsupported}")
        self.env = source
        space = core.observation_space
        if space.shape is None or len(space.shape) != 1:
            raise ValueError(f"env must have a 1-D Box observation space, got {space}")
        actions = core.action_space
        if not hasattr(actions, "n") or actions.shape != ():
            raise ValueError(f"env must have a Discrete action space, got {actions}")
        noise = float(input_noise_std)
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"input_noise_std must be a finite number >= 0, got {input_noise_std}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))):
            raise TypeError(f"max_steps must be an int >= 1 or None, got {type(max_steps).__name__}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1 or None, got {max_steps}")
        if decision_period is not None and not isinstance(decision_period, str):
            raise TypeError(f"decision_period must be a period name or None, got {decision_period!r}")
        self.dt = float(core.dt)
        self.input_noise_std = noise
        self._max_steps = None if max_steps is None else int(max_steps)
        probes = self._probe(8)
        periods = list(dict.fromkeys(name for probe in probes for name in probe[0]))
        self.rule = self._pick_rule(type(core).__name__, decision_period, periods, probes)
        #: The first period of the response window.
        self.decision_period = self.rule.window[0]
        self._period_names = tuple(periods)
        first = probes[0][2]
        #: The keys ``conditions=`` accepts: the scalars of neurogym's trial dict.
        self.condition_names: tuple[str, ...] = tuple(k for k, v in first.items() if _is_scalar(v))
        self._n_inputs = int(space.shape[0])
        self._n_actions = int(actions.n)
        low, high = np.min(space.low), np.max(space.high)
        self._input_range = (float(low), float(high))

    def _probe(self, n: int) -> list[tuple[dict[str, int], NDArray[np.int64], Mapping[str, Any]]]:
        """``n`` trials drawn with seed 0: ``(start_ind, gt, trial)`` each."""
        with _neurogym_quirks():
            self.env.seed(0)
            probes = []
            for _ in range(n):
                trial = self.env.new_trial()
                core = self.env.unwrapped
                if not hasattr(core, "gt"):
                    raise ValueError(f"env {type(core).__name__} sets no ground truth (env.gt) for its trials")
                probes.append((dict(core.start_ind), np.array(core.gt), trial))
        return probes

    def _pick_rule(
        self,
        env_class: str,
        decision_period: str | None,
        periods: list[str],
        probes: list[tuple[dict[str, int], NDArray[np.int64], Mapping[str, Any]]],
    ) -> ResponseRule:
        known = RULES.get(env_class)
        if decision_period is not None:
            if decision_period not in periods:
                raise ValueError(f"decision_period must be one of the env's periods {periods}, got {decision_period!r}")
            if known is not None and known.window[0] == decision_period:
                return known
            return ResponseRule((decision_period,))
        if known is not None:
            return known
        if "decision" in periods:
            return ResponseRule(("decision",))
        # the periods in which gt asks for a response
        answering = set()
        for starts, gt, _ in probes:
            ends = sorted(starts.items(), key=lambda item: item[1])
            for step in np.flatnonzero(gt):
                inside = [name for name, start in ends if start <= step]
                if inside:
                    answering.add(inside[-1])
        if len(answering) == 1:
            return ResponseRule((answering.pop(),))
        raise ValueError(
            f"decision_period cannot be picked for env {env_class}: it has no 'decision' period and its ground "
            f"truth asks for a response in {sorted(answering) or 'no period'}; pass decision_period= one of {periods}"
        )

    # ------------------------------------------------------------------ description
    def to_dict(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this task (``NeurogymTask(**task.to_dict())``), JSON-safe.

        Raises:
            ValueError: the task was built from an env instance (there is no id to rebuild it from).
            TypeError: an env argument is not JSON (e.g. a callable timing).
        """
        if self.env_id is None:
            raise ValueError(f"{self!r} was built from an env instance; only a task built from an id can be described")
        import json

        description = {
            "env": self.env_id,
            "decision_period": self.decision_period,
            "input_noise_std": self.input_noise_std,
            "max_steps": self._max_steps,
            "env_kwargs": dict(self.env_kwargs),
        }
        try:
            return dict(json.loads(json.dumps(description, allow_nan=False)))
        except (TypeError, ValueError) as error:
            raise TypeError(f"env_kwargs of {self!r} are not JSON-safe: {error}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NeurogymTask:
        """Rebuild a task from :meth:`to_dict`'s output."""
        if not isinstance(data, Mapping) or "env" not in data:
            raise TypeError(f"data must be a mapping as NeurogymTask.to_dict returns (with 'env'), got {data!r}")
        return cls(**dict(data))

    # ------------------------------------------------------------------ sizes
    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    @property
    def n_outputs(self) -> int:
        """One output per action (targets are the one-hot of neurogym's ``gt``)."""
        return self._n_actions

    @property
    def n_actions(self) -> int:
        return self._n_actions

    @property
    def input_range(self) -> tuple[float, float]:
        """The bounds of the env's observation space (neurogym's are usually infinite)."""
        return self._input_range

    @property
    def max_steps(self) -> int:
        """The longest possible trial, in steps: ``max_steps`` if given, else the sum of the timing's maxima."""
        if self._max_steps is not None:
            return self._max_steps
        timing = self.env.unwrapped.timing
        longest = [_longest_ms(spec) for spec in timing.values()]
        if not longest or any(ms is None for ms in longest) or not set(self._period_names) <= set(timing):
            raise ValueError(
                f"max_steps cannot be derived from the timing of {self.name} ({timing}); "
                "pass max_steps= to NeurogymTask"
            )
        return max(1, math.ceil(sum(ms for ms in longest if ms is not None) / self.dt))

    @property
    def name(self) -> str:
        """The neurogym id (or the env's class name)."""
        return self.env_id or type(self.env.unwrapped).__name__

    @property
    def input_names(self) -> tuple[str, ...]:
        return _space_names(self.env.unwrapped.observation_space, self.n_inputs, "in")

    @property
    def output_names(self) -> tuple[str, ...]:
        return _space_names(self.env.unwrapped.action_space, self.n_outputs, "out")

    # ------------------------------------------------------------------ batches
    def sample_batch(
        self,
        batch_size: int,
        rng: np.random.Generator,
        conditions: Mapping[str, object] | None = None,
        noise: bool = True,
    ) -> TrialBatch:
        """Build ``batch_size`` neurogym trials (one ``new_trial()`` each) into one padded batch.

        Args:
            batch_size: number of trials ``B`` (>= 1).
            rng: the only source of randomness (neurogym's generators are reseeded from it).
            conditions: fix variables of neurogym's trial dict (keys of :attr:`condition_names`; a scalar or a
                ``(B,)`` array each), passed to ``env.new_trial(**kwargs)`` per trial. neurogym does not check
                their values.
            noise: add ``input_noise_std`` Gaussian noise in numpy (else the consumer adds it).

        Returns:
            A :class:`TrialBatch` as described in the class docstring.
        """
        batch_size = check_batch_size(batch_size)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        given = self._check_conditions(conditions, batch_size)
        trials = []
        with _neurogym_quirks():
            self.env.seed(int(rng.integers(0, 2**32)))
            for b in range(batch_size):
                trial = self.env.new_trial(**{k: v[b].item() for k, v in given.items()})
                trials.append(self._read_trial(trial))
        lengths = np.array([len(t.gt) for t in trials], dtype=np.int64)
        n_steps = int(lengths.max())
        inputs = np.zeros((n_steps, batch_size, self.n_inputs), dtype=np.float32)
        labels = np.zeros((n_steps, batch_size), dtype=np.int64)
        for b, t in enumerate(trials):
            inputs[: lengths[b], b] = t.ob
            labels[: lengths[b], b] = t.gt
        valid = np.arange(n_steps)[:, None] < lengths[None, :]
        targets = np.eye(self.n_outputs, dtype=np.float32)[labels]
        targets *= valid[:, :, None]
        mask = np.repeat(valid[:, :, None], self.n_outputs, axis=2).astype(np.float32)
        periods = _periods([(t.start_ind, t.end_ind) for t in trials], lengths)
        add_noise = noise and self.input_noise_std > 0
        if add_noise:
            self.add_input_noise(inputs, rng)
        response = {
            "response_start": np.array([t.window[0] for t in trials], dtype=np.int64),
            "response_stop": np.array([t.window[1] for t in trials], dtype=np.int64),
        }
        if self.rule.timed is not None:
            response["response_clock_ms"] = np.array([t.clock_ms for t in trials], dtype=np.float64)
            response["response_interval_ms"] = np.array([t.interval_ms for t in trials], dtype=np.float64)
        return TrialBatch(
            inputs=inputs,
            targets=targets,
            mask=mask,
            labels=labels,
            periods=periods,
            conditions={
                **_trial_conditions([t.trial for t in trials], self.condition_names),
                **self._durations(periods),
                **response,
            },
            lengths=lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=add_noise or self.input_noise_std == 0,
            metadata={"task": self.name},
        )

    def _read_trial(self, trial: Mapping[str, Any]) -> _Trial:
        """The state neurogym left for the trial just drawn (copied: neurogym reuses its arrays)."""
        core = self.env.unwrapped
        dt = self.dt
        ob, gt = np.array(core.ob), np.array(core.gt)
        start_ind, end_ind = dict(core.start_ind), dict(core.end_ind)
        start_t, end_t = dict(core.start_t), dict(core.end_t)
        if self._reaction_time is not None:
            # neurogym's ReactionTime.step on a trial's first step: respond from one step after stimulus onset,
            # the decision's answer shown there, and (end_on_stimulus) the trial ends with the stimulus
            original = gt[start_ind["decision"]]
            start_t["decision"] = start_t["stimulus"] + dt
            gt[start_ind["stimulus"] + 1 : end_ind["stimulus"]] = original
            if self._reaction_time:
                length = int(end_t["stimulus"] / dt)
                ob, gt = ob[:length], gt[:length]
            start_ind["decision"] = _first_step(start_t["decision"], dt)
        length = len(gt)
        inside = [name for name in self.rule.window if name in start_t]
        if inside:
            first = min(_first_step(start_t[name], dt) for name in inside)
            stop = max(_first_step(end_t[name], dt) for name in inside)
        else:
            first = stop = length
        window = (min(first, length), min(max(stop, first), length))
        clock = interval = math.nan
        timed = self.rule.timed
        if timed is not None:
            clock = float(end_t[timed.reference])
            interval = float(trial[timed.interval_key])
        return _Trial(ob, gt, start_ind, end_ind, trial, window, clock, interval)

    def _check_conditions(self, conditions: Mapping[str, object] | None, batch_size: int) -> dict[str, NDArray]:
        if conditions is None:
            return {}
        if not isinstance(conditions, Mapping):
            raise TypeError(f"conditions must be a mapping of name -> value, got {type(conditions).__name__}")
        checked = {}
        for key, value in conditions.items():
            if key not in self.condition_names:
                raise ValueError(f"conditions has unknown key {key!r}; allowed keys are {sorted(self.condition_names)}")
            array = np.asarray(value)
            if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
                raise TypeError(f"conditions[{key!r}] must be numeric, got dtype {array.dtype}")
            if array.ndim == 0:
                array = np.full(batch_size, array)
            if array.shape != (batch_size,):
                raise ValueError(
                    f"conditions[{key!r}] must be a scalar or have shape (batch_size,) = ({batch_size},), "
                    f"got shape {array.shape}"
                )
            checked[key] = array
        return checked

    def _durations(self, periods: Mapping[str, tuple[NDArray[np.int64], NDArray[np.int64]]]) -> dict[str, NDArray]:
        durations = {}
        for name, (start, stop) in periods.items():
            ms = (stop - start) * self.dt
            durations[f"{name}_duration"] = np.where(stop > start, ms, np.nan)
        return durations

    # ------------------------------------------------------------------ judging
    def _window(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(T, B)`` True on the steps of each trial's response window."""
        t = np.arange(batch.n_steps)[:, None]
        return (t >= batch.conditions["response_start"][None, :]) & (t < batch.conditions["response_stop"][None, :])

    def _tolerance(self, batch: TrialBatch) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Timing tasks: ``(target ms, tolerance ms)`` per trial, in neurogym's clock (ms from trial start)."""
        interval = np.asarray(batch.conditions["response_interval_ms"], dtype=np.float64)
        clock = np.asarray(batch.conditions["response_clock_ms"], dtype=np.float64)
        margin = float(self.env.unwrapped.prod_margin)
        return clock + interval, margin * interval + 25.0

    def _answer(self, batch: TrialBatch) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64]]:
        """``(asks (B,), first (B,), label (B,))``: whether gt asks for a response in the window, the first such
        step, and the action it asks for (0 on a no-go trial)."""
        asking = self._window(batch) & (batch.labels != 0)
        asks = asking.any(axis=0)
        first = np.argmax(asking, axis=0)
        label = np.where(asks, batch.labels[first, np.arange(batch.batch_size)], 0)
        return asks, first, label

    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` the first step at which a response can be correct (responding earlier breaks fixation in a
        :class:`~mtrnn.envs.env.TrialEnv`): where ``gt`` first asks for it, or, for the timing tasks, where the
        tolerance opens; the window's start on a no-go trial."""
        start = np.asarray(batch.conditions["response_start"], dtype=np.int64)
        asks, first, _ = self._answer(batch)
        if self.rule.timed is not None:
            target, tolerance = self._tolerance(batch)
            opens = np.ceil((target - tolerance) / self.dt - 1e-9).astype(np.int64)
            return np.maximum(start, opens)
        return np.where(asks, first, start).astype(np.int64)

    def response_deadline(self, batch: TrialBatch) -> NDArray[np.int64] | None:
        """``(B,)`` the first step at which a response comes too late and is wrong (see
        :meth:`Task.response_deadline <mtrnn.envs.task.Task.response_deadline>`): for the timing tasks, the step
        after the tolerance closes (neurogym fails a production outside ``interval ± tolerance`` whether early
        or late); None for the others (no deadline inside the trial: the window's own end is the trial's)."""
        if self.rule.timed is None:
            return None
        target, tolerance = self._tolerance(batch)
        # a response at step t is on time iff t * dt <= target + tolerance (score's rule)
        return (np.floor((target + tolerance) / self.dt + 1e-9) + 1).astype(np.int64)

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(B, n_actions)``: the action ``gt`` asks for in each trial's response window (0 on a no-go trial)."""
        _, _, label = self._answer(batch)
        return np.eye(self.n_actions, dtype=bool)[label]

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """The env's own rule (class docstring): ``outputs (T, B, n_out)`` -> ``(B,)`` 1.0 correct, 0.0 wrong."""
        outputs = np.asarray(outputs)
        if outputs.shape != (batch.n_steps, batch.batch_size, self.n_outputs):
            raise ValueError(
                f"outputs must have shape (T={batch.n_steps}, B={batch.batch_size}, "
                f"n_out={self.n_outputs}), got {outputs.shape}"
            )
        actions = outputs.argmax(axis=-1)
        responding = self._window(batch) & (actions != 0)
        responded = responding.any(axis=0)
        first = np.argmax(responding, axis=0)
        columns = np.arange(batch.batch_size)
        chosen = actions[first, columns]
        asks, _, label = self._answer(batch)
        if self.rule.timed is not None:
            target, tolerance = self._tolerance(batch)
            on_time = np.abs(first * self.dt - target) <= tolerance
            right = asks & (chosen == label) & on_time
        else:
            right = chosen == batch.labels[first, columns]
        return np.where(responded, right, ~asks).astype(np.float64)

    def __repr__(self) -> str:
        return f"NeurogymTask({self.name!r}, dt={self.dt}, decision_period={self.decision_period!r})"


@dataclass(frozen=True)
class _Trial:
    """One neurogym trial as read after ``new_trial()``."""

    ob: NDArray
    gt: NDArray[np.int64]
    start_ind: dict[str, int]
    end_ind: dict[str, int]
    trial: Mapping[str, Any]
    window: tuple[int, int]
    clock_ms: float
    interval_ms: float


def _first_step(ms: float, dt: float) -> int:
    """The first step index ``i`` with ``i·dt >= ms`` (neurogym's ``in_period`` compares ``t = i·dt`` in ms)."""
    return max(0, math.ceil(ms / dt - 1e-9))


def _trial_source(env: Any, trial_env_class: type) -> tuple[Any, bool | None]:
    """The object whose ``new_trial`` draws trials: ``env`` without the step-level gymnasium wrappers above its
    outermost neurogym trial wrapper (or env). Returns it and, when neurogym's ``ReactionTime`` wrapper was among
    them, its ``end_on_stimulus`` (else None)."""
    from neurogym.core import TrialWrapper

    reaction_time: bool | None = None
    current = env
    while not isinstance(current, (trial_env_class, TrialWrapper)):
        inner = getattr(current, "env", None)
        if inner is None or not hasattr(current, "unwrapped"):
            raise TypeError(f"env must be a neurogym env id or a neurogym TrialEnv (or wrapped one), got {env!r}")
        name = type(current).__name__
        if name == "ReactionTime":
            reaction_time = bool(current.end_on_stimulus)
        elif type(current).__module__.startswith("neurogym"):
            raise ValueError(f"env is wrapped in neurogym's {name}, which changes trials step by step; not supported")
        current = inner
    return current, reaction_time


def _make(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """Build a registered neurogym env without gymnasium's outer wrappers (and their metadata warnings)."""
    import gymnasium
    import neurogym  # noqa: F401  (registers neurogym's ids with gymnasium)
    from gymnasium.envs.registration import load_env_creator

    try:
        spec = gymnasium.spec(env_id)
    except gymnasium.error.Error as error:
        raise ValueError(
            f"env must be a registered neurogym id (e.g. 'PerceptualDecisionMaking-v0'): {error}"
        ) from None
    entry_point = spec.entry_point
    if entry_point is None:
        raise ValueError(f"env {env_id!r} has no entry point to build it from")
    if isinstance(entry_point, str):
        unsupported = UNSUPPORTED.get(entry_point.rpartition(":")[2])
        if unsupported is not None:
            raise ValueError(f"env {env_id!r} is not supported by NeurogymTask: {unsupported}")
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    with _neurogym_quirks():
        return creator(**{**spec.kwargs, **env_kwargs})


def _is_scalar(value: object) -> bool:
    return isinstance(value, (Real, np.bool_, bool)) or (isinstance(value, np.ndarray) and value.ndim == 0)


def _trial_conditions(trials: list[Mapping[str, Any]], names: tuple[str, ...]) -> dict[str, NDArray]:
    """``{name: (B,)}`` for every trial-dict scalar that all trials of the batch hold."""
    return {
        name: np.asarray([trial[name] for trial in trials])
        for name in names
        if all(name in trial and _is_scalar(trial[name]) for trial in trials)
    }


def _periods(
    bounds: list[tuple[dict[str, int], dict[str, int]]], lengths: NDArray[np.int64]
) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """neurogym's per-trial ``start_ind``/``end_ind`` as ``{name: (start (B,), stop (B,))}``, clipped to length."""
    names = list(dict.fromkeys(name for starts, _ in bounds for name in starts))
    periods = {}
    for name in names:
        start = np.array([starts.get(name, 0) for starts, _ in bounds], dtype=np.int64)
        stop = np.array([stops.get(name, 0) for _, stops in bounds], dtype=np.int64)
        stop = np.minimum(stop, lengths)
        periods[name] = (np.minimum(start, stop), stop)
    return periods


def _longest_ms(spec: object) -> float | None:
    """The longest duration (ms) a neurogym timing entry can produce, None when unknown or unbounded."""
    if isinstance(spec, Real):
        return float(spec)
    vmax = getattr(spec, "vmax", None)
    if isinstance(vmax, Real):
        return float(vmax) if math.isfinite(vmax) else None
    if isinstance(spec, (tuple, list)) and spec:
        if all(isinstance(v, Real) for v in spec):
            return float(max(spec))
        if len(spec) == 2 and isinstance(spec[0], str):
            kind, args = spec
            values = [float(v) for v in np.atleast_1d(args)]
            bounded = {"uniform": values[-1], "choice": max(values), "constant": values[0]}
            if kind == "truncated_exponential" and len(values) > 2 and math.isfinite(values[2]):
                return values[2]
            return bounded.get(kind)
    return None


def _space_names(space: object, n: int, prefix: str) -> tuple[str, ...]:
    """Unit names from a neurogym space's ``name`` dict: ``{"fixation": 0, "choice": [1, 2]}`` gives
    ``("fixation", "choice 1", "choice 2")`` (the suffix is the unit's index, i.e. neurogym's action value)."""
    names = [f"{prefix}{i}" for i in range(n)]
    labels = getattr(space, "name", None)
    if isinstance(labels, Mapping):
        for label, index in labels.items():
            indices = [int(i) for i in np.atleast_1d(list(index) if isinstance(index, range) else index)]
            for i in indices:
                if 0 <= i < n:
                    names[i] = str(label) if len(indices) == 1 else f"{label} {i}"
    return tuple(names)
