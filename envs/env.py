"""`TrialEnv`: a Gymnasium environment that plays the trials of a :class:`~mtrnn.envs.task.Task`.

Trials are drawn in chunks, in compact form (``task.sample_compact(chunk_size, rng)``: the trials of
``task.sample_batch(chunk_size, rng, noise=False)`` as per-period tables where the task has them), and each
observation is read from the chunk's tables when it is played; input noise is drawn per played step from a second
generator. A trial start therefore writes no ``(T, n_in)`` array, which is what keeps a fixation-breaking random
agent (a handful of steps per trial) fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.core import Env
from numpy.typing import NDArray

from mtrnn.envs.batch import CompactBatch, TrialBatch
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.task import Task

__all__ = ["DEFAULT_CHUNK_SIZE", "NOISE_BLOCK_ROWS", "NOISE_CLIP", "RenderMode", "TrialEnv", "draw_chunk"]

#: Trials drawn per chunk by default (one ``sample_batch`` call).
DEFAULT_CHUNK_SIZE = 256
#: Rows of input noise drawn per call of the noise generator.
NOISE_BLOCK_ROWS = 256
#: Steps observed per segment: the first segment of a trial, and the longest (segments double along a trial).
FIRST_SEGMENT = 8
MAX_SEGMENT = 64
#: Standard normal draws are clipped to ``±NOISE_CLIP`` (so every observation lies in the observation space).
NOISE_CLIP = 8.0

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

    Input noise of std ``task.input_noise_std`` is drawn per observation from a second generator,
    ``np.random.default_rng(np.random.SeedSequence(s).spawn(1)[0])``: the ``n``-th observation returned since
    ``reset(seed=s)`` (``n = 0`` for reset's) is the trial's noise-free input at that step plus
    ``clip(z_n, -8, 8) * float32(std)``, where ``z_n`` is row ``n`` of that generator's float32
    ``standard_normal`` stream of ``n_in``-wide rows (drawn in blocks of 256 rows). (Clipping at 8 std keeps
    observations inside the observation space; it changes a draw with probability ~1e-15.)

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
    :func:`mtrnn.envs.scoring.decision_outcome` applies to whole batches. An action outside ``action_space``
    raises ``ValueError``.

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
        self._seg = self._noise_block
        self._seg_gt: list[int] = []
        self._seg_t0 = self._seg_len = self._seg_used = 0
        self._seg_next = FIRST_SEGMENT
        self._noise_std = np.float32(0.0)
        self._chunk: CompactBatch | None = None
        self._light: TrialBatch | None = None
        self._dense: TrialBatch | None = None
        self._next = 0
        self._chunk_len = 0
        self._in_rows = np.empty((0, task.n_inputs), dtype=np.float32)
        self._in_index = np.empty((0, 0), dtype=np.intp)
        self._labels = np.empty((0, 0), dtype=np.int64)
        self._checked: NDArray[np.bool_] | None = None
        self._lengths: list[int] = []
        self._decisions: list[int] = []
        self._correct: NDArray[np.bool_] = np.empty((0, 0), dtype=bool)
        self._conditions: dict[str, list[Any]] = {}
        self._names: tuple[str, ...] = ()
        self._starts: list[list[int]] = []
        self._stops: list[list[int]] = []
        self._heads = np.empty((0, 0, task.n_inputs), dtype=np.float32)
        self._head_gts: list[list[int]] = []
        self._first_names: list[str] = []
        self._first_changes: list[int] = []
        self._period_name = ""
        self._period_stop = 0
        self._decision = 0
        self._i = 0
        self._t = 0
        self._length = 0
        self._broke = False
        self._done = True
        self._trial_cache: TrialBatch | None = None

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

        Returns the trial's conditions as scalars.
        """
        self._release()
        self._seg_next = FIRST_SEGMENT
        if conditions is not None:
            self._load(self.task.sample_compact(1, self.np_random, conditions=conditions))
        elif self._chunk is None or self._next >= self._chunk_len:
            self._load(_draw_compact_chunk(self.task, self.chunk_size, self.np_random))
        i = self._next
        self._next = i + 1
        self._i = i
        self._length = self._lengths[i]
        self._decision = self._decisions[i]
        self._period_name = self._first_names[i]
        self._period_stop = self._first_changes[i]
        self._t = 0
        self._broke = False
        self._done = False
        self._trial_cache = None
        return {key: values[i] for key, values in self._conditions.items()}

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
        super().reset(seed=seed)
        if seed is not None or self._noise_rng is None:
            self._start_streams()
        options = options or {}
        trial = self.new_trial(options.get("conditions"))
        step_fn = options.get("step_fn")
        if step_fn is not None:
            observation = step_fn(0)[0]
            t = min(self._t, self._length - 1)
            return observation, {"gt": int(self._labels[t, self._i]), "period": self._period(t), "trial": trial}
        observation = self._observe(0)
        return observation, {"gt": self._seg_gt[0], "period": self._period_name, "trial": trial}

    def step(self, action: int | np.integer) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Take ``action`` (0 = fixate, ``k`` = choice ``k``) at the current step; see the class docstring."""
        if type(action) is not int or not 0 <= action < self._n_actions:
            action = self._check_action(action)
        if self._done:
            raise RuntimeError("step() called after the episode terminated (or before reset()); call reset() first")
        t = self._t
        i = self._i
        reward = 0.0
        end = False
        performance = 0.0
        if action:
            checked = self._checked
            if checked is None:  # computed once per chunk, when an agent first responds
                assert self._light is not None
                checked = self._checked = np.asarray(self._light.checked_steps)
            if checked[t, i]:
                if t < self._decision:
                    reward = self.fixation_penalty
                    self._broke = True
                    end = self.abort_on_break
                else:
                    end = True
                    if self._correct[i, action] and not self._broke:
                        reward, performance = self.correct_reward, 1.0
                    else:
                        reward = self.wrong_reward
        if t >= self._period_stop:
            self._advance_period(t)
        k = t - self._seg_t0
        gt = self._seg_gt[k] if 0 <= k < self._seg_len else int(self._labels[t, i])
        info = {"gt": gt, "period": self._period_name, "new_trial": end}
        t += 1
        if not end:
            if t < self._length:
                self._t = t
                k += 1
                if 0 < k < self._seg_len:  # the common case: the next row of the current segment
                    self._seg_used = k + 1
                    return self._seg[k], reward, False, False, info
                return self._observe(t), reward, False, False, info
            info["new_trial"] = True
            if self._correct[i, 0] and not self._broke:
                reward, performance = self.correct_reward, 1.0
        info["performance"] = performance
        if self.streaming:
            info["trial"] = self.new_trial()
            return self._observe(0), reward, False, False, info
        self._t = t
        self._done = True
        return self._observe_again(t - 1), reward, True, False, info

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
        self._next = 0

    def _require_chunk(self) -> CompactBatch:
        if self._chunk is None:
            raise RuntimeError("no trial yet: call reset() first")
        return self._chunk

    def _load(self, chunk: CompactBatch) -> None:
        """Make ``chunk`` the batch the next trials are played from."""
        self._chunk = chunk
        self._dense = None
        self._chunk_len = chunk.batch_size
        self._next = 0
        # only cheap per-trial summaries here: a trial start must cost little (most trials of a random agent
        # last a few steps); step() reads the chunk's tables directly
        light = self._light = chunk.without_signals()
        self._in_rows = chunk.inputs.rows
        self._in_index = chunk.inputs.index
        self._labels = light.labels
        # the first segment of every trial, noise-free, in one gather (most trials of a random agent end in it)
        self._heads = self._in_rows.take(self._in_index[:FIRST_SEGMENT].T, axis=0)
        self._head_gts = self._labels[:FIRST_SEGMENT].T.tolist()
        self._checked = None
        self._lengths = chunk.lengths.tolist()
        self._decisions = np.asarray(self.task.decision_start(light)).tolist()
        self._correct = np.asarray(self.task.correct_actions(light), dtype=bool)
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
        self._conditions = {key: np.asarray(value).tolist() for key, value in chunk.conditions.items()}
        added = chunk.source is not None and chunk.source.noise_added  # a task that adds its noise itself
        self._noise_std = np.float32(0.0 if added else chunk.input_noise_std)

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
        """The observation of step ``t`` of the current trial (steps are observed in order within a trial).

        Observations are built a segment of steps at a time (``clean + noise`` in one array operation; segments
        double in length along a trial), so a step hands out a row of a fresh array. Noise rows a segment
        reserved but did not hand out go back to the stream (:meth:`_release`), which keeps the contract "the
        n-th observation gets the n-th noise row".
        """
        k = t - self._seg_t0
        if 0 <= k < self._seg_len:
            self._seg_used = k + 1
            return self._seg[k]
        self._release()
        size = min(self._seg_next, self._length - t)
        self._seg_next = min(2 * size, MAX_SEGMENT)
        if t == 0:
            head = self._heads[self._i, :size]
            seg = head + self._take_noise(size) if self._noise_std else head.copy()
            self._seg_gt = self._head_gts[self._i][:size]
        else:
            seg = self._in_rows.take(self._in_index[t : t + size, self._i], axis=0)
            if self._noise_std:
                seg += self._take_noise(size)
            self._seg_gt = self._labels[t : t + size, self._i].tolist()
        self._seg = seg
        self._seg_t0, self._seg_len, self._seg_used = t, size, 1
        return self._seg[0]

    def _observe_again(self, t: int) -> NDArray[np.float32]:
        """A fresh observation of step ``t`` (the terminal observation of an episode), with the next noise row."""
        self._release()
        self._seg_len = 0
        row = self._in_rows[self._in_index[t, self._i]]
        return row + self._take_noise(1)[0] if self._noise_std else row.copy()

    def _release(self) -> None:
        """Give the noise rows of the current segment that were not handed out back to the stream."""
        if self._noise_std:
            self._noise_at -= self._seg_len - self._seg_used
        self._seg_len = self._seg_used = 0

    def _take_noise(self, rows: int) -> NDArray[np.float32]:
        """The next ``rows`` rows of the noise stream (drawn in blocks of :data:`NOISE_BLOCK_ROWS` rows)."""
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
