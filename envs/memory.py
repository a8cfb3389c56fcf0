"""Memory tasks on one binary input stream: N-parity and N-DMS, with one or several readout heads.

The two tasks of Khajehabdollahi, Zeraati et al., "Emergent mechanisms for long timescales depend on training
curriculum and affect performance in memory tasks", ICLR 2024 (code: LevinaLab/rnn_timescale_public):

* **N-parity** (:class:`NParity`): each trial draws its own bit probability ``p ~ U(0, 1)`` and a sequence of
  bits ``x_t ~ Bernoulli(p)``; the answer at the last step is ``(x[−N] + … + x[−1]) mod 2``.
* **N-DMS** (:class:`NDMS`, delayed match to sample): bits with ``p = 0.5``; the answer at the last step is
  ``x[−N] == x[−1]`` (1 = match). With ``N = 1`` the answer is always "match".

A task may answer several ``N`` at once (``heads=[2, 3, 4]``: one two-class readout per N, the paper's
multi-head networks, loss = sum of one cross-entropy per head). The sequence length is drawn as in the paper,
``M ~ U{N_max + 2, …, N_max + 1 + ⌊length_factor·N_max⌋}`` (``length_factor = 3``: ``[N_max + 2, 4·N_max + 2)``,
``N_max = max(heads)``), but **per trial** here rather than once per batch: trials are aligned at their first
bit, padded to the longest and masked, and every label is read at each trial's own last step. (Their current
parity code uses ``length_factor = 1.5``; pass it to match.)

Batches are :class:`MultiHeadBatch` (a :class:`~mtrnn.envs.batch.TrialBatch` with ``head_labels``). numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.core import Env
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.conditions import Condition, Integers, Reals, check_conditions
from mtrnn.envs.task import Task, _prime_allocator, check_batch_size, check_dt

__all__ = ["NDMS", "MemoryEnv", "MemoryTask", "MultiHeadBatch", "NParity", "check_heads"]

#: Classes per head (0 / 1).
HEAD_SIZE = 2


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def check_heads(N: object = None, heads: object = None) -> tuple[int, tuple[int, ...]]:
    """Validate a task's ``N`` and ``heads``; returns ``(N_max, heads)``.

    ``heads`` defaults to ``[N]`` and ``N`` to ``max(heads)`` (2 when neither is given); both given, ``N`` must
    equal ``max(heads)``. Heads are distinct ints >= 1, kept in the order given (the last one is the newest).
    """
    if heads is None:
        n = 2 if N is None else _check_int("N", N, 1)
        return n, (n,)
    if isinstance(heads, (str, bytes)) or not isinstance(heads, (Sequence, np.ndarray)) or len(heads) == 0:
        raise TypeError(f"heads must be a non-empty list of ints >= 1 (one N per head), got {heads!r}")
    checked = tuple(_check_int(f"heads[{i}]", h, 1) for i, h in enumerate(heads))
    if len(set(checked)) != len(checked):
        raise ValueError(f"heads must not repeat an N, got {list(checked)}")
    n_max = max(checked)
    if N is not None and _check_int("N", N, 1) != n_max:
        raise ValueError(f"N must equal max(heads) = {n_max} when both are given, got N={N}")
    return n_max, checked


@dataclass(frozen=True)
class MultiHeadBatch(TrialBatch):
    """A :class:`TrialBatch` whose network answers several questions at once, one two-class head per ``N``.

    Outputs are laid out head by head: head ``k`` owns output units ``2k`` (class 0) and ``2k + 1`` (class 1),
    so ``targets``/``mask`` are ``(T, B, 2K)`` in that order. ``labels (T, B)`` holds head 0's class (the whole
    batch for a single head).

    Attributes:
        head_labels: ``(T, B, K)`` int64: the class of head ``k`` at each step (at the last step of a trial; 0
            elsewhere). Checked steps are where ``step_mask`` is 1.
        heads: the ``N`` of each head, ``(K,)``.
    """

    head_labels: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=np.int64))
    heads: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        expected = (self.n_steps, self.batch_size, len(self.heads))
        if self.head_labels.shape != expected:
            raise ValueError(f"head_labels must have shape (T, B, K) = {expected}, got {self.head_labels.shape}")

    @property
    def n_heads(self) -> int:
        """``K``, the number of heads."""
        return len(self.heads)

    def last_step_labels(self) -> NDArray[np.int64]:
        """``(B, K)``: each head's class at each trial's last step."""
        return self.head_labels[self.lengths - 1, np.arange(self.batch_size)]

    def select(self, index: NDArray[np.integer] | slice | int) -> MultiHeadBatch:
        """The sub-batch of trials ``index`` (trimmed to its own longest trial), head labels included."""
        idx = np.atleast_1d(np.arange(self.batch_size)[index])
        base = super().select(idx)
        return MultiHeadBatch(
            **{name: getattr(base, name) for name in TrialBatch.__dataclass_fields__},
            head_labels=self.head_labels[: base.n_steps, idx],
            heads=self.heads,
        )


class MemoryTask(Task):
    """A memory task on a binary stream answered at the last step by one two-class head per ``N``.

    Args:
        N: the memory span (int >= 1); default ``max(heads)``, else 2.
        heads: the ``N`` of each readout head (distinct ints >= 1, newest last); default ``[N]``.
        length_factor: sequence lengths are ``U{N_max + 2, …, N_max + 1 + ⌊length_factor·N_max⌋}`` (> 0).
        dt: time step in ms (one bit per step; only labels time axes).
        input_noise_std: std of Gaussian noise added to the bits (>= 0; the paper uses none).

    Shapes: ``inputs (T, B, 1)``, ``targets``/``mask (T, B, 2K)``, ``labels (T, B)``, ``head_labels (T, B, K)``.
    The mask is 1 at each trial's last step only.
    """

    #: Whether each trial draws its own bit probability ``p ~ U(0, 1)`` (parity) or uses 0.5 (DMS).
    random_p: ClassVar[bool] = False

    def __init__(
        self,
        *,
        N: int | None = None,
        heads: Sequence[int] | None = None,
        length_factor: float = 3.0,
        dt: float = 1.0,
        input_noise_std: float = 0.0,
    ) -> None:
        self.N, self.heads = check_heads(N, heads)
        if isinstance(length_factor, bool) or not isinstance(length_factor, (int, float)):
            raise TypeError(f"length_factor must be a number > 0, got {length_factor!r}")
        if not math.isfinite(length_factor) or length_factor <= 0:
            raise ValueError(f"length_factor must be a finite number > 0, got {length_factor}")
        self.length_factor = float(length_factor)
        self.dt = check_dt(dt)
        noise = float(input_noise_std)
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"input_noise_std must be a finite number >= 0, got {input_noise_std}")
        self.input_noise_std = noise

    # ------------------------------------------------------------------ sizes
    @property
    def n_heads(self) -> int:
        """``K``, the number of readout heads."""
        return len(self.heads)

    @property
    def n_inputs(self) -> int:
        return 1

    @property
    def n_outputs(self) -> int:
        """``2K``: two logits per head, head by head."""
        return HEAD_SIZE * self.n_heads

    @property
    def n_actions(self) -> int:
        """2 per head (class 0 / class 1; no fixation action)."""
        return HEAD_SIZE

    @property
    def head_sizes(self) -> tuple[int, ...]:
        """``(2,) * K``: the readout heads a network for this task needs."""
        return (HEAD_SIZE,) * self.n_heads

    @property
    def head_names(self) -> tuple[str, ...]:
        """``"N=<n>"`` per head (the keys of per-head performance)."""
        return tuple(f"N={n}" for n in self.heads)

    @property
    def min_length(self) -> int:
        """The shortest sequence, ``N_max + 2``."""
        return self.N + 2

    @property
    def max_steps(self) -> int:
        """The longest sequence, ``N_max + 1 + ⌊length_factor·N_max⌋``."""
        return self.N + 1 + max(int(self.length_factor * self.N), 1)

    @property
    def condition_domains(self) -> dict[str, Condition]:
        """``length`` (steps) and, for parity, the bit probability ``p``."""
        domains: dict[str, Condition] = {"length": Integers(self.min_length, self.max_steps + 1)}
        if self.random_p:
            domains["p"] = Reals(0.0, 1.0)
        return domains

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("bit",)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(f"N={n}:{c}" for n in self.heads for c in range(HEAD_SIZE))

    # ------------------------------------------------------------------ the answer
    def answers(self, bits: NDArray[np.int8], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
        """``bits (T, B)``, ``lengths (B,)`` -> ``(B, K)`` the class of each head at each trial's last step."""
        raise NotImplementedError

    # ------------------------------------------------------------------ batches
    def sample_batch(
        self,
        batch_size: int,
        rng: np.random.Generator,
        conditions: Mapping[str, object] | None = None,
        noise: bool = True,
    ) -> MultiHeadBatch:
        """Build ``batch_size`` trials at once (vectorised).

        Args:
            batch_size: trials ``B`` (>= 1).
            rng: the only source of randomness.
            conditions: fix ``length`` (steps) and, for parity, ``p`` (a scalar or ``(B,)``).
            noise: add the input noise here (False: the consumer adds ``batch.input_noise_std`` itself).
        """
        batch_size = check_batch_size(batch_size)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        _prime_allocator()
        given = self._check_conditions(conditions, batch_size)
        lengths = rng.integers(self.min_length, self.max_steps + 1, size=batch_size)
        if "length" in given:
            lengths = given["length"].astype(np.int64)
        p = rng.random(batch_size) if self.random_p else np.full(batch_size, 0.5)
        if "p" in given:
            p = given["p"].astype(np.float64)
        n_steps = int(lengths.max())
        valid = np.arange(n_steps)[:, None] < lengths[None, :]
        bits = ((rng.random((n_steps, batch_size)) < p[None, :]) & valid).astype(np.int8)
        answers = self.answers(bits, lengths)  # (B, K)
        columns = np.arange(batch_size)
        last = lengths - 1
        head_labels = np.zeros((n_steps, batch_size, self.n_heads), dtype=np.int64)
        head_labels[last, columns] = answers
        targets = np.zeros((n_steps, batch_size, self.n_outputs), dtype=np.float32)
        targets[last, columns] = np.eye(HEAD_SIZE, dtype=np.float32)[answers].reshape(batch_size, -1)
        mask = np.zeros((n_steps, batch_size, self.n_outputs), dtype=np.float32)
        mask[last, columns] = 1.0
        inputs = bits[:, :, None].astype(np.float32)
        add_noise = noise and self.input_noise_std > 0
        if add_noise:
            self.add_input_noise(inputs, rng)
            inputs *= valid[:, :, None]
        conds: dict[str, NDArray] = {"length": lengths}
        if self.random_p:
            conds["p"] = p
        zeros = np.zeros(batch_size, dtype=np.int64)
        return MultiHeadBatch(
            inputs=inputs,
            targets=targets,
            mask=mask,
            labels=head_labels[:, :, 0].copy(),
            periods={"sequence": (zeros, last), "decision": (last, lengths)},
            conditions=conds,
            lengths=lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=add_noise or self.input_noise_std == 0,
            metadata={"task": self.name},
            head_labels=head_labels,
            heads=self.heads,
        )

    def _check_conditions(self, conditions: Mapping[str, object] | None, batch_size: int) -> dict[str, NDArray]:
        return check_conditions(conditions, self.condition_domains, batch_size)

    # ------------------------------------------------------------------ scoring
    def _check_outputs(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.floating]:
        values = batch.last_step_values(outputs)
        if values.shape[-1] != self.n_outputs:
            raise ValueError(f"outputs must have n_out = 2·heads = {self.n_outputs} units, got {values.shape[-1]}")
        return values

    def predict_heads(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.int64]:
        """``outputs (T, B, 2K)`` -> ``(B, K)`` each head's predicted class (argmax of its two logits)."""
        values = self._check_outputs(outputs, batch).reshape(batch.batch_size, self.n_heads, HEAD_SIZE)
        return values.argmax(axis=-1).astype(np.int64)

    def score_heads(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """``outputs (T, B, 2K)`` -> ``(B, K)``: 1.0 where head ``k`` answered trial ``b`` correctly."""
        if not isinstance(batch, MultiHeadBatch) or batch.heads != self.heads:
            raise ValueError(f"batch must be a MultiHeadBatch of this task (heads {list(self.heads)})")
        return (self.predict_heads(outputs, batch) == batch.last_step_labels()).astype(np.float64)

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """``outputs (T, B, 2K)`` -> ``(B,)`` the fraction of heads correct in each trial (0/1 for one head).

        Its batch mean is the paper's accuracy averaged over heads.
        """
        return self.score_heads(outputs, batch).mean(axis=1)

    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        """``(B,)`` each trial's last step (the only answered step)."""
        return batch.lengths - 1

    def with_heads(self, heads: Sequence[int]) -> MemoryTask:
        """The same task (same class, length factor, dt, noise) answering ``heads``."""
        return type(self)(
            heads=list(heads), length_factor=self.length_factor, dt=self.dt, input_noise_std=self.input_noise_std
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(heads={list(self.heads)}, length_factor={self.length_factor:g}, dt={self.dt:g}, "
            f"input_noise_std={self.input_noise_std:g})"
        )


class NParity(MemoryTask):
    """N-bit parity: ``(x[−N] + … + x[−1]) mod 2`` at the last step, bits ``~ Bernoulli(p)``, ``p ~ U(0, 1)``
    per trial (Khajehabdollahi, Zeraati et al., ICLR 2024). See :class:`MemoryTask` for the arguments."""

    display_name: ClassVar[str] = "N-parity"
    random_p: ClassVar[bool] = True

    def answers(self, bits: NDArray[np.int8], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
        # running count with a leading 0: ones in x[L−N : L] = csum[L] − csum[L − N]
        csum = np.concatenate([np.zeros((1, bits.shape[1]), np.int64), np.cumsum(bits, axis=0, dtype=np.int64)])
        columns = np.arange(bits.shape[1])
        end = csum[lengths, columns]
        heads = np.asarray(self.heads)
        start = csum[lengths[:, None] - heads[None, :], columns[:, None]]
        return ((end[:, None] - start) % 2).astype(np.int64)


class NDMS(MemoryTask):
    """N-DMS (delayed match to sample): 1 when ``x[−N] == x[−1]``, bits ``~ Bernoulli(0.5)`` (Khajehabdollahi,
    Zeraati et al., ICLR 2024). See :class:`MemoryTask` for the arguments."""

    display_name: ClassVar[str] = "N-DMS"
    random_p: ClassVar[bool] = False

    def answers(self, bits: NDArray[np.int8], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
        columns = np.arange(bits.shape[1])
        last = bits[lengths - 1, columns]
        heads = np.asarray(self.heads)
        sample = bits[lengths[:, None] - heads[None, :], columns[:, None]]
        return (sample == last[:, None]).astype(np.int64)


class MemoryEnv(Env[NDArray[np.float32], Any]):
    """A memory task as a Gymnasium environment: one bit per step, the answer at the last step.

    ## Description
    One trial is one episode (:class:`NParity` or :class:`NDMS`; see :mod:`mtrnn.envs.memory`); with
    ``streaming=True`` trials follow each other in one endless episode, as in :class:`~mtrnn.envs.env.TrialEnv`.
    The agent sees one bit per step; only its action at the trial's last step counts.

    ## Observation
    ``Box(low, high, (1,), float32)``: the bit (0 or 1; with input noise, widened by 8 noise stds).

    ## Actions
    One head: ``Discrete(2)``, the class. Several heads: ``MultiDiscrete([2] * K)``, one class per head.

    ## Rewards
    At the last step, ``correct_reward`` for each head answered correctly (up to ``K·correct_reward``) and
    ``wrong_reward`` for each head answered wrongly; 0 on every other step.

    ## Info
    ``gt`` (head 0's class at the step just taken; 0 before the last step), ``new_trial`` (this step ended the
    trial) and, when it did, ``performance`` (fraction of heads correct) and ``head_performance``
    (``{"N=<n>": 0.0 or 1.0}``); in streaming mode also ``trial`` (the next trial's conditions).

    ## Arguments
    ``task`` (a :class:`MemoryTask` or its class, then built from ``**task_kwargs``: ``N``, ``heads``,
    ``length_factor``, ``dt``, ``input_noise_std``), ``streaming``, ``correct_reward``, ``wrong_reward``.
    Registered as ``mtrnn/NParity-v0`` and ``mtrnn/NDMS-v0`` without a time limit (the trial length grows with
    ``N``; every episode ends with its trial).

    ## Version history
    v0: initial version.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012

    def __init__(
        self,
        task: MemoryTask | type[MemoryTask],
        *,
        streaming: bool = False,
        correct_reward: float = 1.0,
        wrong_reward: float = 0.0,
        render_mode: str | None = None,
        **task_kwargs: Any,
    ) -> None:
        if not isinstance(streaming, (bool, np.bool_)):
            raise TypeError(f"streaming must be a bool (True or False), got {streaming!r} ({type(streaming).__name__})")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        if isinstance(task, type) and issubclass(task, MemoryTask):
            built = task(**task_kwargs)
        elif not isinstance(task, MemoryTask):
            raise TypeError(f"task must be a MemoryTask or a MemoryTask class, got {task!r}")
        elif task_kwargs:
            raise TypeError(f"task_kwargs {sorted(task_kwargs)} given with a task instance; build the task with them")
        else:
            built = task
        for name, value in (("correct_reward", correct_reward), ("wrong_reward", wrong_reward)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"{name} must be a finite number, got {value!r}")
        self.streaming = bool(streaming)
        self.correct_reward = float(correct_reward)
        self.wrong_reward = float(wrong_reward)
        self.trial: MultiHeadBatch | None = None
        self._done = True
        self.set_task(built)

    def set_task(self, task: MemoryTask) -> None:
        """Play ``task`` from the next trial on; the action space follows its number of heads."""
        if not isinstance(task, MemoryTask):
            raise TypeError(f"task must be a MemoryTask, got {type(task).__name__}")
        self.task: MemoryTask = task
        low, high = task.observation_bounds
        self.observation_space = spaces.Box(low, high, shape=(1,), dtype=np.float32)
        self.action_space: spaces.Space[Any] = (
            spaces.Discrete(HEAD_SIZE) if task.n_heads == 1 else spaces.MultiDiscrete([HEAD_SIZE] * task.n_heads)
        )

    @property
    def dt(self) -> float:
        """Time step in ms."""
        return self.task.dt

    @property
    def gt(self) -> NDArray[np.int64]:
        """``(T,)`` head 0's class at each step of the current trial (0 before the last step)."""
        return self._gt_array

    def new_trial(self, conditions: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Draw the next trial from ``self.np_random`` and start it; returns its conditions (scalars)."""
        batch = self.task.sample_batch(1, self.np_random, conditions=conditions)
        self.trial = batch
        self._length = int(batch.lengths[0])
        # one private row per step: step() hands each out once, so a wrapper may modify it in place
        self._rows = list(batch.inputs[: self._length, 0].copy())
        self._answers = batch.last_step_labels()[0]
        self._gt_array = batch.labels[: self._length, 0]
        self._gt = self._gt_array.tolist()
        self._t = 0
        self._done = False
        return {k: np.asarray(v)[0].item() for k, v in batch.conditions.items()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Draw a trial from ``self.np_random``; ``options={"conditions": {...}}`` fixes ``length`` / ``p``."""
        super().reset(seed=seed)
        trial = self.new_trial((options or {}).get("conditions"))
        return self._rows[0], {"gt": self._gt[0], "trial": trial}

    def step(self, action: Any) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called after the episode terminated; call reset() first")
        choice = self._check_action(action)
        t = self._t + 1
        if t < self._length:
            self._t = t
            return self._rows[t], 0.0, False, False, {"gt": self._gt[t - 1], "new_trial": False}
        correct = (choice == self._answers).astype(np.float64)
        n_correct = float(correct.sum())
        reward = self.correct_reward * n_correct + self.wrong_reward * (correct.size - n_correct)
        info: dict[str, Any] = {
            "gt": self._gt[-1],
            "new_trial": True,
            "performance": float(correct.mean()),
            "head_performance": dict(zip(self.task.head_names, correct.tolist(), strict=True)),
        }
        if self.streaming:
            info["trial"] = self.new_trial()
            return self._rows[0], reward, False, False, info
        self._done = True
        return self._rows[-1].copy(), reward, True, False, info

    def _check_action(self, action: Any) -> NDArray[np.int64]:
        """``action`` as ``(n_heads,)`` ints in ``[0, 2)``, else ValueError naming the action and the space.

        Every step's action is checked (answers before the last step are ignored, but must still be actions).
        """
        value = np.asarray(action)
        if value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"action must lie in {self.action_space}, got {action!r}")
        choice = np.atleast_1d(value).astype(np.int64, copy=False)
        if choice.shape != (self.task.n_heads,) or not np.all((choice >= 0) & (choice < HEAD_SIZE)):
            raise ValueError(f"action must lie in {self.action_space}, got {action!r}")
        return choice

    def render(self) -> NDArray[np.uint8] | None:  # type: ignore[override]
        """``render_mode="rgb_array"``: an ``(H, W, 3)`` uint8 picture of the current trial; else None."""
        if self.render_mode is None:
            return None
        if self.trial is None:
            raise RuntimeError("render() called before reset(); call reset() first")
        import matplotlib.pyplot as plt

        from mtrnn.envs.plotting import plot_trial

        name = self.spec.id if self.spec is not None else type(self.task).__name__
        fig = plot_trial(
            self.trial,
            0,
            input_names=self.task.input_names,
            output_names=self.task.output_names,
            title=f"{name}: step {self._t} of {self._length}",
        )
        try:
            fig.canvas.draw()
            return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        finally:
            plt.close(fig)
