"""neurogym interop: :class:`NeurogymTask` turns any neurogym ``TrialEnv`` into an mtrnn :class:`~mtrnn.envs.task.Task`.

neurogym (Molano-Mazón et al., "NeuroGym: An open resource for developing and sharing neuroscience tasks",
2022) builds one trial at a time with ``new_trial()``, leaving the observations in ``env.ob`` ``(T, n_in)``, the
correct action per step in ``env.gt`` ``(T,)`` and the period bounds in ``env.start_ind`` / ``env.end_ind``.
:class:`NeurogymTask` calls it once per batch column and returns trial-aligned, padded and masked
:class:`~mtrnn.envs.batch.TrialBatch` es, so that mtrnn's trainer and analyses run on neurogym's tasks.

neurogym is an optional dependency (``pip install mtrnn[neurogym]``; it pins gymnasium 0.29 and imports torch).
It is imported only when a :class:`NeurogymTask` is built, never by ``import mtrnn.envs``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.task import Task, check_batch_size

__all__ = ["NeurogymTask"]


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
    * ``conditions``: every scalar of neurogym's trial dict (``ground_truth``, ``coh``, …) plus the duration of
      each period in ms as ``"<period>_duration"`` (NaN where a trial lacks the period).

    ## Randomness
    Every batch reseeds neurogym's own generators (``env.seed``: ``env.rng`` and its timing samplers) with a
    seed drawn from the ``rng`` given to :meth:`sample_batch`, so ``sample_batch(B, np.random.default_rng(s))``
    always returns the same batch, whatever was sampled before (for envs whose trials depend only on their RNG;
    envs that carry state across trials, e.g. trial-history blocks, are not reproducible this way).

    ## Score
    neurogym's rule for a correct trial: with ``actions = argmax(outputs)``, the first non-fixate action inside
    the decision period must equal the label there; a trial without such an action is correct iff its label in
    the decision period is 0 (fixate: a no-go trial, as in ``GoNogo``). Actions outside the decision period are
    ignored, as in neurogym's envs with their default ``abort=False``. (A :class:`~mtrnn.envs.env.TrialEnv`
    playing this task applies mtrnn's stricter rule: fixation must also be held before the decision period.)

    Args:
        env: a neurogym env id (e.g. ``"PerceptualDecisionMaking-v0"``), built with ``env_kwargs``, or an
            unwrapped neurogym ``TrialEnv`` instance, which this task then drives (it reseeds it on each batch).
        decision_period: the period in which the answer counts (neurogym's ``"decision"``).
        input_noise_std: std of extra Gaussian input noise (>= 0).
        max_steps: the longest trial in steps; by default derived from the env's ``timing`` (an error is raised
            when it is asked for and the timing has no finite bound, e.g. a callable sampler).
        **env_kwargs: arguments of the env class (``dt``, ``timing``, …) when ``env`` is an id.
    """

    def __init__(
        self,
        env: str | Any,
        *,
        decision_period: str = "decision",
        input_noise_std: float = 0.0,
        max_steps: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        try:
            from neurogym.core import TrialEnv as NeurogymEnv
        except ImportError as error:
            raise ImportError("NeurogymTask needs neurogym: pip install 'mtrnn[neurogym]'") from error

        if isinstance(env, str):
            self.env_id: str | None = env
            env = _make(env, env_kwargs)
        elif env_kwargs:
            raise TypeError(f"env_kwargs {sorted(env_kwargs)} given with an env instance; build the env with them")
        else:
            self.env_id = None
        if not isinstance(env, NeurogymEnv):
            raise TypeError(
                f"env must be a neurogym env id or an unwrapped neurogym TrialEnv (pass env.unwrapped), got {env!r}"
            )
        self.env = env
        space = env.observation_space
        if space.shape is None or len(space.shape) != 1:
            raise ValueError(f"env must have a 1-D Box observation space, got {space}")
        actions = env.action_space
        if not hasattr(actions, "n") or actions.shape != ():
            raise ValueError(f"env must have a Discrete action space, got {actions}")
        noise = float(input_noise_std)
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"input_noise_std must be a finite number >= 0, got {input_noise_std}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))):
            raise TypeError(f"max_steps must be an int >= 1 or None, got {type(max_steps).__name__}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1 or None, got {max_steps}")
        self.dt = float(env.dt)
        self.input_noise_std = noise
        self._max_steps = None if max_steps is None else int(max_steps)
        env.seed(0)
        probe = env.new_trial()
        periods = list(env.start_ind)
        if decision_period not in periods:
            raise ValueError(f"decision_period must be one of the env's periods {periods}, got {decision_period!r}")
        self.decision_period = decision_period
        self._period_names = tuple(periods)
        #: The keys ``conditions=`` accepts: the scalars of neurogym's trial dict.
        self.condition_names: tuple[str, ...] = tuple(k for k, v in probe.items() if _is_scalar(v))
        self._n_inputs = int(space.shape[0])
        self._n_actions = int(actions.n)
        low, high = np.min(space.low), np.max(space.high)
        self._input_range = (float(low), float(high))

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
        timing = self.env.timing
        longest = [_longest_ms(spec) for spec in timing.values()]
        if not longest or any(ms is None for ms in longest) or not set(self._period_names) <= set(timing):
            raise ValueError(
                f"max_steps cannot be derived from the timing of {self.name} ({self.env.timing}); "
                "pass max_steps= to NeurogymTask"
            )
        return max(1, math.ceil(sum(ms for ms in longest if ms is not None) / self.dt))

    @property
    def name(self) -> str:
        """The neurogym id (or the env's class name)."""
        return self.env_id or type(self.env).__name__

    @property
    def input_names(self) -> tuple[str, ...]:
        return _space_names(self.env.observation_space, self.n_inputs, "in")

    @property
    def output_names(self) -> tuple[str, ...]:
        return _space_names(self.env.action_space, self.n_outputs, "out")

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
        env = self.env
        env.seed(int(rng.integers(0, 2**32)))
        observations, actions, bounds, trials = [], [], [], []
        for b in range(batch_size):
            trial = env.new_trial(**{k: v[b].item() for k, v in given.items()})
            observations.append(env.ob)
            actions.append(env.gt)
            bounds.append((dict(env.start_ind), dict(env.end_ind)))
            trials.append(trial)
        lengths = np.array([len(ob) for ob in observations], dtype=np.int64)
        n_steps = int(lengths.max())
        inputs = np.zeros((n_steps, batch_size, self.n_inputs), dtype=np.float32)
        labels = np.zeros((n_steps, batch_size), dtype=np.int64)
        for b, (ob, gt) in enumerate(zip(observations, actions, strict=True)):
            inputs[: lengths[b], b] = ob
            labels[: lengths[b], b] = gt
        valid = np.arange(n_steps)[:, None] < lengths[None, :]
        targets = np.eye(self.n_outputs, dtype=np.float32)[labels]
        targets *= valid[:, :, None]
        mask = np.repeat(valid[:, :, None], self.n_outputs, axis=2).astype(np.float32)
        periods = _periods(bounds, lengths)
        add_noise = noise and self.input_noise_std > 0
        if add_noise:
            self.add_input_noise(inputs, rng)
        return TrialBatch(
            inputs=inputs,
            targets=targets,
            mask=mask,
            labels=labels,
            periods=periods,
            conditions={**_trial_conditions(trials, self.condition_names), **self._durations(periods)},
            lengths=lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=add_noise or self.input_noise_std == 0,
            metadata={"task": self.name},
        )

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
    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` first step of the decision period of each trial."""
        return batch.periods[self.decision_period][0]

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        """``(B, n_actions)``: the label at the start of each trial's decision period (0 where it has none)."""
        start, stop = batch.periods[self.decision_period]
        columns = np.arange(batch.batch_size)
        label = np.where(stop > start, batch.labels[np.minimum(start, batch.n_steps - 1), columns], 0)
        return np.eye(self.n_actions, dtype=bool)[label]

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """neurogym's rule (class docstring): ``outputs (T, B, n_out)`` -> ``(B,)`` 1.0 correct, 0.0 wrong."""
        outputs = np.asarray(outputs)
        if outputs.shape != (batch.n_steps, batch.batch_size, self.n_outputs):
            raise ValueError(
                f"outputs must have shape (T={batch.n_steps}, B={batch.batch_size}, "
                f"n_out={self.n_outputs}), got {outputs.shape}"
            )
        actions = outputs.argmax(axis=-1)
        deciding = batch.period_mask(self.decision_period) & batch.valid
        responding = deciding & (actions != 0)
        responded = responding.any(axis=0)
        first = np.argmax(responding, axis=0)
        columns = np.arange(batch.batch_size)
        chosen = np.where(responded, actions[first, columns], 0)
        return self.correct_actions(batch)[columns, chosen].astype(np.float64)

    def __repr__(self) -> str:
        return f"NeurogymTask({self.name!r}, dt={self.dt}, decision_period={self.decision_period!r})"


def _make(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """Build a registered neurogym env without gymnasium's wrappers (and their metadata warnings)."""
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
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
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
