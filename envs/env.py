"""`TrialEnv`: a Gymnasium environment that plays the trials of a :class:`~mtrnn.envs.task.Task`.

Trials are drawn in chunks, in compact form (``task.sample_compact(chunk_size, rng)``: the trials of
``task.sample_batch(chunk_size, rng, noise=False)`` as per-period tables where the task has them). When a chunk is
drawn, the first :data:`HEAD_STEPS` observations of all its trials are built at once (a gather of the clean rows
plus their input noise, one array operation per chunk); later steps are built a segment at a time. A trial start
therefore costs a few attribute assignments, which is what keeps a fixation-breaking random agent (a handful of
steps per trial) fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.core import Env
from numpy.typing import NDArray

from mtrnn.envs.batch import CompactBatch, TrialBatch
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.task import Task

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "HEAD_STEPS",
    "NOISE_BLOCK_ROWS",
    "NOISE_CLIP",
    "RenderMode",
    "TrialEnv",
    "draw_chunk",
]

#: Trials drawn per chunk by default (one ``sample_batch`` call).
DEFAULT_CHUNK_SIZE = 256
#: Rows of input noise drawn per call of the noise generator (at least; the stream does not depend on it).
NOISE_BLOCK_ROWS = 256
#: The first steps of every trial, whose observations are built (and whose noise is drawn) when its chunk is drawn
#: (a random agent on Yang's tasks at dt = 20 ms breaks fixation at step 5, the first step a response is checked).
HEAD_STEPS = 6
#: Steps observed per segment after the head: the first segment, and the longest (segments double along a trial).
FIRST_SEGMENT = 8
MAX_SEGMENT = 64
#: Standard normal draws are clipped to ``±NOISE_CLIP`` (so every observation lies in the observation space).
NOISE_CLIP = 8.0

#: What a response does at a step (``TrialEnv._build_kinds``): break fixation, decide, or come too late (wrong).
_BEFORE_DECISION = 1
_DECISION = 2
_LATE = 3

#: The render modes the env supports (gymnasium's convention: strings in ``metadata["render_modes"]``).
RenderMode = str
_RENDER_MODES = ("rgb_array",)


def _check_reward(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r} ({type(value).__name__})")
    return bool(value)


def _check_chunk_size(value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"chunk_size must be an int >= 1, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {value}")
    return int(value)


def draw_chunk(task: Task, size: int, rng: np.random.Generator) -> TrialBatch:
    """The next chunk of ``size`` noise-free trials the env plays, drawn from ``rng``.

    ``task.sample_batch(size, rng, noise=False)``; for a :class:`~mtrnn.envs.multitask.MultiTask` that draws one
    rule per batch, the rules are first drawn per trial (``rng.choice(n_rules, size, p=weights)``) and passed as
    ``conditions={"rule": ...}``, so that consecutive episodes do not share a rule.
    """
    if isinstance(task, MultiTask) and not task.mix_within_batch:
        rules = rng.choice(task.n_rules, size=size, p=task.weights)
        return task.sample_batch(size, rng, conditions={"rule": rules}, noise=False)
    return task.sample_batch(size, rng, noise=False)


def _draw_compact_chunk(task: Task, size: int, rng: np.random.Generator) -> CompactBatch:
    """:func:`draw_chunk` in compact form: the same draws from ``rng``; ``.expand()`` is ``draw_chunk``'s batch."""
    if isinstance(task, MultiTask) and not task.mix_within_batch:
        rules = rng.choice(task.n_rules, size=size, p=task.weights)
        return task.sample_compact(size, rng, conditions={"rule": rules})
    return task.sample_compact(size, rng)


def _flat_ints(array: NDArray[np.int64]) -> Sequence[int]:
    """A C-contiguous int64 array, flattened, as a sequence that indexes to Python ints (cheaper than numpy's
    scalar indexing in a step)."""
    return np.ascontiguousarray(array, dtype=np.int64).reshape(-1).data.cast("B").cast("q")


class TrialEnv(Env[NDArray[np.float32], np.int64]):
    """Play a task's trials one step at a time.

    ## Episodes
    By default one trial is one episode: ``reset`` starts a trial and the episode terminates at the trial's end
    (a decision, an abort, or its last step) with ``terminated=True, truncated=False``. There is no time limit:
    the env ends its own trials, whatever ``dt`` or ``timing`` the task was built with. With ``streaming=True``
    trials follow each other back to back (neurogym style): the episode never terminates by itself (wrap it in
    ``gymnasium.wrappers.TimeLimit`` or pass ``max_episode_steps=`` to ``gym.make`` for finite episodes),
    ``info["new_trial"]`` marks the step that ended a trial, and the observation returned on that step is the
    first of the next trial. ``step`` after a terminated episode (or before ``reset``) raises ``RuntimeError``.

    ## Seeding contract
    After ``reset(seed=s)``, trials come from the generator ``rng = np.random.default_rng(s)`` (the env's
    ``np_random``) in chunks of ``chunk_size`` trials, ``chunk_j = draw_chunk(task, chunk_size, rng)`` for
    ``j = 0, 1, …`` (that is ``task.sample_batch(chunk_size, rng, noise=False)``; a one-rule-per-batch
    :class:`~mtrnn.envs.multitask.MultiTask` first draws each trial's rule). The ``k``-th trial played since
    ``reset(seed=s)`` (``k = 0`` for the trial that reset starts; episodic or streaming alike, later resets
    without a seed continue the stream) is trial ``k % chunk_size`` of ``chunk_{k // chunk_size}``. (The env
    draws each chunk as ``task.sample_compact``, which makes the same draws and stands for the same batch, and
    reads each observation from it when the step is played; the default ``chunk_size`` is 256.)

    Input noise of std ``task.input_noise_std`` comes from a second generator,
    ``np.random.default_rng(np.random.SeedSequence(s).spawn(1)[0])``: one stream ``z_0, z_1, …`` of float32
    ``standard_normal`` rows, ``n_in`` wide, consumed in order. When a chunk of ``C`` trials (or a batch of one,
    below) is drawn it takes the next ``C · 6`` rows (6 = :data:`HEAD_STEPS`): rows ``6b … 6b + 5`` of them are
    the noise of steps ``0 … 5`` of its trial ``b``; every observation of a later step (``t ≥ 6``) takes the next
    row when it is returned. An observation is the trial's noise-free input at its step plus
    ``clip(z, -8, 8) * float32(std)``, ``z`` its row. Whatever the agent does, the first 6 steps of the ``k``-th
    trial therefore get the same noise. (A trial played alone, ``reset(seed=s, options={"conditions": ...})``, gets
    row ``t`` at step ``t``. Clipping at 8 std keeps observations inside the observation space; it changes a draw
    with probability ~1e-15.)

    When an episode terminates, the observation returned is a copy of the last observation (it takes no noise
    row). Observations are views of arrays the env never writes again (the chunk's first steps, a later segment),
    and no two observations an episode returns share memory (gymnasium's data-reuse check).

    ``reset(options={"conditions": {...}})`` and ``new_trial(conditions)`` play a batch of one,
    ``task.sample_batch(1, rng, conditions, noise=False)``, drawn at that moment; the stream then continues with
    a fresh chunk.

    ## Rewards
    Action 0 is "fixate", action ``k`` is choice ``k``. Before the decision period, a non-zero action on a
    checked step breaks fixation: reward ``fixation_penalty`` and (when ``abort_on_break``) the trial ends as
    an error. In the decision period the first non-zero action is the decision: ``correct_reward`` if it is a
    correct action, ``wrong_reward`` otherwise; the trial ends. A trial whose correct answer is to withhold
    (no-go) pays ``correct_reward`` at its last step if the agent never responded. Steps inside grace windows
    (and any step the task does not check) neither reward nor punish. This is the rule
    :func:`mtrnn.envs.scoring.decision_outcome` applies to whole batches (given the deadlines below), as does
    :func:`mtrnn.agents.rl.rollout.play_trials`. A task whose :meth:`~mtrnn.envs.task.Task.response_deadline`
    is not None sets ``(B,)`` deadlines: a response from that step on comes too late, pays ``wrong_reward`` and
    ends the trial (neurogym's timing tasks, :class:`~mtrnn.envs.NeurogymTask`, whose own ``score`` applies the
    same tolerance). An action outside ``action_space`` raises ``ValueError``.

    ## Info
    ``gt`` (the correct action at this step), ``period`` (the period's name), ``new_trial`` (this step ended
    the trial) and, when it did, ``performance`` (1.0 correct, 0.0 wrong); in streaming mode also ``trial``
    (the next trial's conditions), as neurogym does.

    ## Rendering
    ``render_mode="rgb_array"``: ``render()`` returns an ``(H, W, 3)`` uint8 picture of the current trial
    (:func:`mtrnn.envs.plotting.plot_trial`: noise-free inputs, targets, mask and periods, with a line at the
    current step).

    ## neurogym compatibility
    The env carries neurogym's surface: ``dt``, ``timing``, ``new_trial()``, ``ob``, ``gt``, ``start_ind``,
    ``end_ind``, ``rng`` (the same generator as ``np_random``, reseeded by ``reset(seed=...)``) and the
    ``reset(options={"step_fn": ...})`` protocol, so that neurogym's ``Noise``, ``PassReward`` and
    ``PassAction`` wrappers run on it. Wrap the env itself (``gym.make(...).unwrapped`` or ``TrialEnv(task)``):
    neurogym's wrappers read ``env.rng`` from the env they wrap.

    Args:
        task: a :class:`Task` instance, or a Task class built with ``task_kwargs``.
        streaming: trials back to back in one endless episode.
        fixation_penalty: reward for breaking fixation before the decision period.
        correct_reward: reward for a correct decision (or a correct withhold).
        wrong_reward: reward for a wrong decision.
        abort_on_break: end the trial when fixation is broken.
        chunk_size: trials drawn per chunk (part of the seeding contract). A task without a compact form keeps a
            whole dense chunk in memory (``chunk_size × T × n_in`` floats); pass a smaller one to save memory.
        render_mode: None or ``"rgb_array"``.
        **task_kwargs: arguments of the task class (e.g. ``dt``, ``n_locations``).
    """

    #: ``render_fps`` is set per instance to ``1000 / dt`` (one frame per step in real time).
    metadata: dict[str, Any] = {"render_modes": list(_RENDER_MODES), "render_fps": 50}  # noqa: RUF012

    def __init__(
        self,
        task: Task | type[Task],
        *,
        streaming: bool = False,
        fixation_penalty: float = -0.1,
        correct_reward: float = 1.0,
        wrong_reward: float = 0.0,
        abort_on_break: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        render_mode: RenderMode | None = None,
        **task_kwargs: Any,
    ) -> None:
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {list(_RENDER_MODES)}, got {render_mode!r}")
        self.streaming = _check_flag("streaming", streaming)
        self.abort_on_break = _check_flag("abort_on_break", abort_on_break)
        self.fixation_penalty = _check_reward("fixation_penalty", fixation_penalty)
        self.correct_reward = _check_reward("correct_reward", correct_reward)
        self.wrong_reward = _check_reward("wrong_reward", wrong_reward)
        self.chunk_size = _check_chunk_size(chunk_size)
        if isinstance(task, type) and issubclass(task, Task):
            task = task(**task_kwargs)
        elif not isinstance(task, Task):
            raise TypeError(f"task must be a Task or a Task class, got {task!r}")
        elif task_kwargs:
            raise TypeError(f"task_kwargs {sorted(task_kwargs)} given with a Task instance; build the task with them")
        self.task: Task = task
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "render_fps": 1000.0 / float(task.dt)}
        low, high = task.observation_bounds
        self.observation_space = spaces.Box(low, high, shape=(task.n_inputs,), dtype=np.float32)
        self.action_space = spaces.Discrete(task.n_actions)
        self._n_actions = int(task.n_actions)
        self._noise_rng: np.random.Generator | None = None
        self._noise_block = np.empty((0, task.n_inputs), dtype=np.float32)
        self._noise_at = 0
        self._noise_std = np.float32(0.0)
        # the chunk being played
        self._chunk: CompactBatch | None = None
        self._light: TrialBatch | None = None
        self._dense: TrialBatch | None = None
        self._next = 0
        self._chunk_len = 0
        self._width = 0
        self._in_rows = np.empty((0, task.n_inputs), dtype=np.float32)
        self._in_index = np.empty((0, 0), dtype=np.intp)
        self._labels: NDArray[np.int64] = np.empty((0, 0), dtype=np.int64)
        self._gts: Sequence[int] = ()
        self._kinds: Sequence[int] | None = None
        # the chunk's first observations, (C · head_len, n_in): step t of trial b at row b · head_len + t
        self._heads = np.empty((0, task.n_inputs), dtype=np.float32)
        self._head_len = HEAD_STEPS
        self._lengths: list[int] = []
        self._correct: NDArray[np.bool_] = np.empty((0, 0), dtype=bool)
        self._keys: tuple[str, ...] = ()
        self._rows: list[tuple[Any, ...]] = []
        self._names: tuple[str, ...] = ()
        self._starts: list[list[int]] = []
        self._stops: list[list[int]] = []
        self._first_names: list[str] = []
        self._first_changes: list[int] = []
        # the trial being played
        self._i = 0
        self._t = 0
        self._length = 0
        self._h0 = 0  # the current trial's first row in _heads
        self._period_name = ""
        self._period_stop = 0
        self._broke = False
        self._done = True
        self._trial_cache: TrialBatch | None = None
        # the segment of steps after the head being played
        self._seg = self._noise_block
        self._seg_t0 = self._seg_len = self._seg_used = 0
        self._seg_next = FIRST_SEGMENT

    def __getstate__(self) -> dict[str, Any]:
        """Pickle support: the per-chunk memoryviews are rebuilt on unpickling (memoryviews do not pickle)."""
        state = self.__dict__.copy()
        state["_gts"] = ()
        state["_kinds"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._gts = _flat_ints(self._labels)

    # ------------------------------------------------------------------ neurogym's surface
    @property
    def dt(self) -> float:
        """Time step in ms."""
        return self.task.dt

    @property
    def timing(self) -> Mapping[str, object]:
        """Per-period timing specs (ms), when the task has them."""
        return dict(getattr(self.task, "timing", {}))

    @property
    def ob(self) -> NDArray[np.float32]:
        """``(T, n_in)`` noise-free observations of the current trial (read-only)."""
        chunk = self._require_chunk()
        inputs = chunk.inputs.steps(self._i, 0, self._length)
        inputs.flags.writeable = False
        return inputs

    @property
    def gt(self) -> NDArray[np.int64]:
        """``(T,)`` correct action at each step of the current trial."""
        return self._labels[: self._length, self._i]

    @property
    def start_ind(self) -> dict[str, int]:
        """First step of each period of the current trial."""
        return {k: int(v[0][self._i]) for k, v in self._require_chunk().periods.items()}

    @property
    def end_ind(self) -> dict[str, int]:
        """One past the last step of each period of the current trial."""
        return {k: int(v[1][self._i]) for k, v in self._require_chunk().periods.items()}

    @property
    def rng(self) -> np.random.Generator:
        """The env's trial generator, ``self.np_random`` (neurogym's wrappers draw from ``env.rng``).

        ``reset(seed=...)`` reseeds it, so a seeded reset also fixes what such wrappers draw (e.g. the noise of
        ``neurogym.wrappers.Noise``).
        """
        return self.np_random

    @property
    def trial(self) -> TrialBatch | None:
        """The current trial as a noise-free :class:`TrialBatch` of one (None before the first reset)."""
        if self._chunk is None:
            return None
        if self._trial_cache is None:
            if self._dense is None:
                self._dense = self._chunk.expand()
            self._trial_cache = self._dense.select(np.array([self._i]))
        return self._trial_cache

    def new_trial(self, conditions: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Start the next trial of the stream (or, with ``conditions``, a batch of one drawn now).

        Returns the trial's conditions as scalars (a fresh dict per trial).
        """
        if self._seg_len:
            self._release()
        self._seg_next = FIRST_SEGMENT
        if conditions is not None:
            self._load(self.task.sample_compact(1, self.np_random, conditions=conditions))
        elif self._next >= self._chunk_len:
            self._load(_draw_compact_chunk(self.task, self.chunk_size, self.np_random))
        i = self._next
        self._next = i + 1
        self._i = i
        self._length = self._lengths[i]
        self._h0 = i * self._head_len
        self._period_name = self._first_names[i]
        self._period_stop = self._first_changes[i]
        self._t = 0
        self._broke = False
        self._done = False
        self._trial_cache = None
        return dict(zip(self._keys, self._rows[i]))  # noqa: B905  (rows have one value per key)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start a new trial (see the seeding contract in the class docstring).

        Options:
            ``"conditions"``: fixes the trial's conditions (see :meth:`Task.sample_batch`).
            ``"step_fn"``: neurogym's wrapper protocol (``Noise``, ``PassReward``, ``PassAction`` pass their own
            ``step``): the first step of the trial is taken through ``step_fn(0)`` (fixate) and its observation is
            returned, so that the wrapper's changes apply to the first observation too, as in neurogym.
        """
        if seed is not None:  # gymnasium's reset only (re)seeds np_random, and only when given a seed
            super().reset(seed=seed)
            self._start_streams()
        elif self._noise_rng is None:
            self._start_streams()
        if options:
            trial = self.new_trial(options.get("conditions"))
            step_fn = options.get("step_fn")
            if step_fn is not None:
                observation = step_fn(0)[0]
                t = min(self._t, self._length - 1)
                return observation, {"gt": int(self._labels[t, self._i]), "period": self._period(t), "trial": trial}
        else:
            trial = self.new_trial()
        return self._heads[self._h0], {"gt": self._gts[self._i], "period": self._period_name, "trial": trial}

    def step(self, action: int | np.integer) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Take ``action`` (0 = fixate, ``k`` = choice ``k``) at the current step; see the class docstring."""
        if type(action) is not int or not 0 <= action < self._n_actions:
            action = self._check_action(action)
        if self._done:
            raise RuntimeError("step() called after the episode terminated (or before reset()); call reset() first")
        t = self._t
        at = t * self._width + self._i  # (step, trial) in the chunk's flattened (T, C) tables
        reward = 0.0
        end = False
        kind = 0
        if action:
            kind = (self._kinds or self._build_kinds())[at]
            if kind == _BEFORE_DECISION:
                reward = self.fixation_penalty
                self._broke = True
                end = self.abort_on_break
            elif kind:  # a decision (paid below when correct), or a late one (always wrong)
                end = True
                reward = self.wrong_reward
        if t >= self._period_stop:
            self._advance_period(t)
        info = {"gt": self._gts[at], "period": self._period_name, "new_trial": end}
        t += 1
        if not end:
            if t < self._length:
                self._t = t
                if t < HEAD_STEPS:
                    return self._heads[self._h0 + t], reward, False, False, info
                k = t - self._seg_t0
                if 0 < k < self._seg_len:  # the next row of the current segment
                    self._seg_used = k + 1
                    return self._seg[k], reward, False, False, info
                return self._observe(t), reward, False, False, info
            info["new_trial"] = True
            correct = self._correct[self._i, 0] and not self._broke  # a no-go trial withheld to its end
        else:
            correct = kind == _DECISION and self._correct[self._i, action] and not self._broke
        if correct:
            reward = self.correct_reward
        info["performance"] = 1.0 if correct else 0.0
        if self.streaming:
            info["trial"] = self.new_trial()
            return self._heads[self._h0], reward, False, False, info
        self._t = t
        self._done = True
        return self._terminal(t), reward, True, False, info

    def render(self) -> NDArray[np.uint8] | None:  # type: ignore[override]
        """``render_mode="rgb_array"``: an ``(H, W, 3)`` uint8 picture of the current trial; else None."""
        if self.render_mode is None:
            return None
        trial = self.trial
        if trial is None:
            raise RuntimeError("render() called before reset(); call reset() first")
        import matplotlib.pyplot as plt

        from mtrnn.envs.plotting import plot_trial

        name = self.spec.id if self.spec is not None else self.task.name
        title = f"{name}: step {self._t} of {self._length}"
        fig = plot_trial(trial, 0, input_names=self.task.input_names, output_names=self.task.output_names, title=title)
        try:
            for ax in fig.axes[:3]:
                ax.axvline((self._t + 0.5) * self.dt, color="tab:red", lw=1.5)
            fig.canvas.draw()
            return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        finally:
            plt.close(fig)

    # ------------------------------------------------------------------ internals
    def _check_action(self, action: object) -> int:
        """``action`` as an int in ``[0, n_actions)``, else ValueError naming the action and the space."""
        if isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(
                f"action must be an int in {self.action_space} (0 <= action < {self._n_actions}), "
                f"got {action!r} of type {type(action).__name__}"
            )
        if not 0 <= action < self._n_actions:
            raise ValueError(f"action must lie in {self.action_space} (0 <= action < {self._n_actions}), got {action}")
        return int(action)

    def _start_streams(self) -> None:
        """Restart the trial stream and the noise stream from the env's (just seeded) ``np_random``."""
        child = self.np_random.bit_generator.seed_seq.spawn(1)[0]  # type: ignore[attr-defined]
        self._noise_rng = np.random.default_rng(child)
        self._noise_block = self._noise_block[:0]
        self._noise_at = 0
        self._seg_len = self._seg_used = 0
        self._chunk = None
        self._chunk_len = 0
        self._next = 0

    def _require_chunk(self) -> CompactBatch:
        if self._chunk is None:
            raise RuntimeError("no trial yet: call reset() first")
        return self._chunk

    def _load(self, chunk: CompactBatch) -> None:
        """Make ``chunk`` the batch the next trials are played from: per-chunk tables, so that a trial start and a
        step only index them (most trials of a random agent last a few steps)."""
        self._chunk = chunk
        self._dense = None
        size = self._chunk_len = self._width = chunk.batch_size
        self._next = 0
        light = self._light = chunk.without_signals()
        self._in_rows = chunk.inputs.rows
        self._in_index = chunk.inputs.index
        labels = self._labels = np.ascontiguousarray(light.labels, dtype=np.int64)
        self._gts = _flat_ints(labels)  # the gt of step t of trial b at t * C + b
        self._kinds = None  # built when an agent first responds in this chunk
        self._lengths = chunk.lengths.tolist()
        self._correct = np.asarray(self.task.correct_actions(light), dtype=bool)
        self._keys = tuple(chunk.conditions)
        columns = [np.asarray(chunk.conditions[key]).tolist() for key in self._keys]
        self._rows = list(zip(*columns, strict=True)) if columns else [()] * size
        self._names = tuple(chunk.periods)
        starts = np.stack([start for start, _ in chunk.periods.values()], axis=1)
        stops = np.stack([stop for _, stop in chunk.periods.values()], axis=1)
        self._starts, self._stops = starts.tolist(), stops.tolist()
        # what _advance_period(0) would set, for every trial of the chunk at once
        inside = (starts <= 0) & (stops > 0)
        last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
        names = ("", *self._names)
        self._first_names = [names[k] for k in np.where(inside.any(axis=1), last + 1, 0).tolist()]
        never = np.iinfo(np.int64).max
        changes = np.minimum(
            np.where(starts > 0, starts, never).min(axis=1), np.where(stops > 0, stops, never).min(axis=1)
        )
        self._first_changes = np.minimum(changes, chunk.lengths).tolist()
        added = chunk.source is not None and chunk.source.noise_added  # a task that adds its noise itself
        self._noise_std = np.float32(0.0 if added else chunk.input_noise_std)
        # the first HEAD_STEPS observations of every trial: one gather, plus the chunk's block of head noise
        heads = self._in_rows.take(self._in_index[:HEAD_STEPS].T, axis=0)  # (C, min(HEAD_STEPS, T), n_in), fresh
        if self._noise_std:
            if heads.shape[1] == HEAD_STEPS:
                self._add_noise(heads.reshape(size * HEAD_STEPS, -1))
            else:  # trials shorter than the head still take HEAD_STEPS rows each
                noise = np.zeros((size, HEAD_STEPS, heads.shape[2]), dtype=np.float32)
                self._add_noise(noise.reshape(size * HEAD_STEPS, -1))
                heads += noise[:, : heads.shape[1]]
        self._heads = heads.reshape(-1, heads.shape[2])
        self._head_len = heads.shape[1]

    def _build_kinds(self) -> Sequence[int]:
        """What a response does at each (step, trial) of the chunk, flattened like ``_gts``: nothing (0), break
        fixation (:data:`_BEFORE_DECISION`), decide (:data:`_DECISION`) or answer too late (:data:`_LATE`: from the
        step ``task.response_deadline(batch)`` gives, when not None, e.g. neurogym's timing tasks)."""
        light = self._light
        assert light is not None
        checked = np.asarray(light.checked_steps, dtype=bool)
        decision = np.asarray(self.task.decision_start(light)).reshape(1, -1)
        steps = np.arange(checked.shape[0]).reshape(-1, 1)
        kinds = np.where(steps < decision, _BEFORE_DECISION, _DECISION).astype(np.uint8)
        deadline = self.task.response_deadline(light)  # None: no answer comes too late
        if deadline is not None:
            kinds[steps >= np.asarray(deadline, dtype=np.int64).reshape(1, -1)] = _LATE
        kinds *= checked
        self._kinds = kinds.reshape(-1).data
        return self._kinds

    def _advance_period(self, t: int) -> None:
        """Set the period of step ``t`` (the last-declared period holding it; ``""`` if none) and the next step
        at which it may change."""
        starts, stops = self._starts[self._i], self._stops[self._i]
        name, change = "", self._length
        for k, start in enumerate(starts):
            stop = stops[k]
            if start <= t < stop:
                name = self._names[k]
            if t < start < change:
                change = start
            if t < stop < change:
                change = stop
        self._period_name = name
        self._period_stop = change

    def _period(self, t: int) -> str:
        """The period of step ``t`` of the current trial."""
        name = ""
        for k, start in enumerate(self._starts[self._i]):
            if start <= t < self._stops[self._i][k]:
                name = self._names[k]
        return name

    def _observe(self, t: int) -> NDArray[np.float32]:
        """The observation of step ``t >= HEAD_STEPS`` of the current trial (such steps are observed in order).

        Built a segment of steps at a time (``clean + noise`` in one array operation; segments double in length
        along a trial), so a step hands out a row of an array the env never writes again. Noise rows a segment
        reserved but did not hand out go back to the stream (:meth:`_release`), which keeps the contract "each
        observation after the head takes the next row".
        """
        k = t - self._seg_t0
        if 0 <= k < self._seg_len:
            self._seg_used = k + 1
            return self._seg[k]
        self._release()
        size = min(self._seg_next, self._length - t)
        self._seg_next = min(2 * size, MAX_SEGMENT)
        seg = self._in_rows.take(self._in_index[t : t + size, self._i], axis=0)
        if self._noise_std:
            seg += self._take_noise(size)
        self._seg = seg
        self._seg_t0, self._seg_len, self._seg_used = t, size, 1
        return seg[0]

    def _terminal(self, t: int) -> NDArray[np.float32]:
        """The observation an episode ends with: a copy of the last observation (step ``t - 1``), so that it shares
        no memory with the observation returned before it."""
        last = t - 1
        if last < HEAD_STEPS:
            return self._heads[self._h0 + last].copy()
        observation = self._seg[last - self._seg_t0]
        if self._seg_len:
            self._release()
        return observation.copy()

    def _release(self) -> None:
        """Give the noise rows of the current segment that were not handed out back to the stream."""
        if self._noise_std:
            self._noise_at -= self._seg_len - self._seg_used
        self._seg_len = self._seg_used = 0

    def _add_noise(self, out: NDArray[np.float32]) -> None:
        """Add the next ``len(out)`` rows of the noise stream, clipped and scaled, to ``out`` (``(rows, n_in)``, in
        place), without copying the stream (a chunk's head takes thousands of rows). Only while no segment holds
        rows it may give back (:meth:`_release` needs its rows in one block, see :meth:`_take_noise`)."""
        rows = len(out)
        at = self._noise_at
        block = self._noise_block
        left = len(block) - at
        if rows <= left:
            out += block[at : at + rows]
            self._noise_at = at + rows
            return
        if left:
            out[:left] += block[at:]
        need = rows - left
        assert self._noise_rng is not None
        size = -(-need // NOISE_BLOCK_ROWS) * NOISE_BLOCK_ROWS
        block = self._noise_rng.standard_normal((size, self.task.n_inputs), dtype=np.float32)
        np.clip(block, -NOISE_CLIP, NOISE_CLIP, out=block)
        block *= self._noise_std
        out[left:] += block[:need]
        self._noise_block = block
        self._noise_at = need

    def _take_noise(self, rows: int) -> NDArray[np.float32]:
        """The next ``rows`` rows of the noise stream, clipped and scaled, as one block (so that a segment can give
        back the rows it did not hand out). Rows are drawn in blocks of at least :data:`NOISE_BLOCK_ROWS`; how the
        stream is cut into draws does not change it."""
        at = self._noise_at
        if at + rows > len(self._noise_block):
            assert self._noise_rng is not None
            left = self._noise_block[at:]
            n_blocks = -(-(rows - len(left)) // NOISE_BLOCK_ROWS)
            block = self._noise_rng.standard_normal((n_blocks * NOISE_BLOCK_ROWS, self.task.n_inputs), dtype=np.float32)
            np.clip(block, -NOISE_CLIP, NOISE_CLIP, out=block)
            block *= self._noise_std
            self._noise_block = np.concatenate([left, block]) if len(left) else block
            at = 0
        self._noise_at = at + rows
        return self._noise_block[at : at + rows]
