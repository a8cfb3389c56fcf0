"""What every consumer of a task reads, :class:`TrialBatch`, and its compact form, :class:`CompactBatch`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

__all__ = ["CompactBatch", "Gathered", "TrialBatch"]


@dataclass(frozen=True)
class TrialBatch:
    """A batch of trials, aligned at trial start, padded to the longest trial and masked.

    Shapes use ``T`` = time steps (longest trial), ``B`` = trials, ``n_in``/``n_out`` = input/output units.

    Attributes:
        inputs: ``(T, B, n_in)`` float32 network input; includes input noise unless the batch was built with
            ``noise=False``, in which case the consumer adds Gaussian noise of std ``input_noise_std`` itself.
        targets: ``(T, B, n_out)`` float32 continuous targets (for a squared loss).
        mask: ``(T, B, n_out)`` float32 loss weights: 0 in grace windows, before checking starts and in padding.
        labels: ``(T, B)`` int64 the correct action at each step (0 = fixate, k = choice k); 0 in padding.
        periods: ``{name: (start (B,), stop (B,))}`` step indices of each named period per trial; a period a
            trial does not have is ``start == stop``.
        conditions: ``{name: (B,) array}`` everything that was sampled (or given) per trial, including period
            durations in ms as ``"<period>_duration"``.
        lengths: ``(B,)`` int64 number of valid (unpadded) steps of each trial.
        dt: time step in ms.
        input_noise_std: std of the Gaussian input noise; already added when ``noise_added``.
        noise_added: whether ``inputs`` already contain the noise.
    """

    inputs: NDArray[np.float32]
    targets: NDArray[np.float32]
    mask: NDArray[np.float32]
    labels: NDArray[np.int64]
    periods: Mapping[str, tuple[NDArray[np.int64], NDArray[np.int64]]]
    conditions: Mapping[str, NDArray]
    lengths: NDArray[np.int64]
    dt: float
    input_noise_std: float = 0.0
    noise_added: bool = True
    metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        """``T``, the padded number of time steps."""
        return int(self.inputs.shape[0])

    @property
    def batch_size(self) -> int:
        """``B``, the number of trials."""
        return int(self.inputs.shape[1])

    @property
    def step_mask(self) -> NDArray[np.float32]:
        """``(T, B)`` float32: 1 where any output is checked at that step (for a masked cross-entropy)."""
        return (self.mask.max(axis=-1) > 0).astype(np.float32)

    @property
    def valid(self) -> NDArray[np.bool_]:
        """``(T, B)`` bool: True on the unpadded steps of each trial."""
        return np.arange(self.n_steps)[:, None] < self.lengths[None, :]

    def period_mask(self, name: str) -> NDArray[np.bool_]:
        """``(T, B)`` bool: True inside period ``name`` of each trial."""
        if name not in self.periods:
            raise ValueError(f"name must be one of the batch's periods {sorted(self.periods)}, got {name!r}")
        start, stop = self.periods[name]
        t = np.arange(self.n_steps)[:, None]
        return (t >= start[None, :]) & (t < stop[None, :])

    def last_step_values(self, outputs: NDArray[np.floating]) -> NDArray[np.floating]:
        """``outputs (T, B, n)`` at each trial's last valid step -> ``(B, n)``."""
        outputs = np.asarray(outputs)
        if outputs.ndim != 3 or outputs.shape[:2] != (self.n_steps, self.batch_size):
            raise ValueError(
                f"outputs must have shape (T={self.n_steps}, B={self.batch_size}, n_out), got {outputs.shape}"
            )
        return outputs[self.lengths - 1, np.arange(self.batch_size)]

    def select(self, index: NDArray[np.integer] | slice | int, *, signals: bool = True) -> TrialBatch:
        """The sub-batch of trials ``index`` (trimmed to its own longest trial).

        Args:
            index: which trials (an index array, a slice or one int).
            signals: copy ``inputs``, ``targets`` and ``mask`` of those trials. With ``signals=False`` nothing
                that large is copied: ``inputs`` and ``targets`` are read-only zeros of the right shape and
                ``mask`` is a read-only 0/1 view of the checked steps (any output weight > 0) broadcast over the
                outputs. That is all a task's ``score``, ``decision_start`` and ``correct_actions`` read (they
                use ``labels``, ``lengths``, ``periods``, ``conditions`` and which steps are checked), so
                scoring a mixture per rule this way costs ``(T, B)`` work instead of ``(T, B, n_in)`` copies.
        """
        idx = np.arange(self.batch_size)[index]
        idx = np.atleast_1d(idx)
        lengths = self.lengths[idx]
        t_max = int(lengths.max()) if lengths.size else 0
        if signals:
            inputs, targets, mask = (self.inputs[:t_max, idx], self.targets[:t_max, idx], self.mask[:t_max, idx])
        else:
            zero = np.zeros((), dtype=np.float32)
            inputs = np.broadcast_to(zero, (t_max, idx.size, self.inputs.shape[2]))
            targets = np.broadcast_to(zero, (t_max, idx.size, self.targets.shape[2]))
            checked = self.checked_steps[:t_max, idx].astype(np.float32)
            mask = np.broadcast_to(checked[:, :, None], (t_max, idx.size, self.mask.shape[2]))
        return TrialBatch(
            inputs=inputs,
            targets=targets,
            mask=mask,
            labels=self.labels[:t_max, idx],
            periods={k: (s[idx], e[idx]) for k, (s, e) in self.periods.items()},
            conditions={k: np.asarray(v)[idx] for k, v in self.conditions.items()},
            lengths=lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=self.noise_added,
            metadata=self.metadata,
        )

    @cached_property
    def checked_steps(self) -> NDArray[np.bool_]:
        """``(T, B)`` bool: True where any output has a loss weight > 0 (the steps a score checks); computed once
        per batch (a batch is immutable)."""
        if self.mask.strides[-1] == 0:  # the same weight for every output (a view from select(signals=False))
            return self.mask[..., 0] > 0
        return self.mask.max(axis=-1) > 0


@dataclass(frozen=True)
class Gathered:
    """A ``(T, B, ...)`` array stored as a table of rows and a ``(T, B)`` row index: ``dense = rows[index]``.

    Tasks whose signals are constant within each period of a trial (Yang's) keep one row per (period, trial);
    the gym env reads a trial's steps straight from the table instead of from a dense batch.

    Attributes:
        rows: ``(R, ...)`` the distinct values.
        index: ``(T, B)`` intp, the row of each step of each trial (every entry in ``[0, R)``).
    """

    rows: NDArray
    index: NDArray[np.intp]

    def dense(self) -> NDArray:
        """The ``(T, B, ...)`` array (a fresh one, written once)."""
        return self.rows.take(self.index, axis=0, mode="clip")

    def steps(self, trial: int, start: int, stop: int) -> NDArray:
        """``(stop - start, ...)`` the values of steps ``start:stop`` of trial ``trial`` (a fresh array)."""
        return np.take(self.rows, self.index[start:stop, trial], axis=0)

    @classmethod
    def of(cls, array: NDArray) -> Gathered:
        """A dense ``(T, B, ...)`` array as a table of ``T·B`` rows (a view when ``array`` is C-contiguous)."""
        n_steps, batch = array.shape[:2]
        rows = np.reshape(array, (n_steps * batch, *array.shape[2:]))
        return cls(rows, np.arange(n_steps * batch, dtype=np.intp).reshape(n_steps, batch))


@dataclass(frozen=True)
class CompactBatch:
    """Noise-free trials stored compactly: :meth:`expand` is the :class:`TrialBatch` they stand for.

    :meth:`Task.sample_compact <mtrnn.envs.task.Task.sample_compact>` returns one; it draws from its generator
    exactly as ``sample_batch(..., noise=False)`` does, and ``expand()`` equals that batch bit for bit. The gym
    env plays its trials from here: a trial start then costs no ``(T, B, n_in)`` write.

    Attributes:
        inputs: ``(T, B, n_in)`` noise-free inputs as a :class:`Gathered`.
        targets: ``(T, B, n_out)`` targets.
        mask: ``(T, B, n_out)`` loss weights.
        labels: ``(T, B)`` correct actions.
        periods, conditions, lengths, dt, input_noise_std, metadata: as in :class:`TrialBatch`.
        source: the dense batch itself, for tasks that have no compact form (``expand`` returns it).
    """

    inputs: Gathered
    targets: Gathered
    mask: Gathered
    labels: Gathered
    periods: Mapping[str, tuple[NDArray[np.int64], NDArray[np.int64]]]
    conditions: Mapping[str, NDArray]
    lengths: NDArray[np.int64]
    dt: float
    input_noise_std: float = 0.0
    metadata: Mapping[str, object] = field(default_factory=dict)
    source: TrialBatch | None = None

    @property
    def batch_size(self) -> int:
        """``B``, the number of trials."""
        return int(self.lengths.shape[0])

    @property
    def n_steps(self) -> int:
        """``T``, the padded number of time steps."""
        return int(self.labels.index.shape[0])

    @classmethod
    def of(cls, batch: TrialBatch) -> CompactBatch:
        """A noise-free :class:`TrialBatch` in this form (views of its arrays; ``expand`` returns ``batch``)."""
        return cls(
            inputs=Gathered.of(batch.inputs),
            targets=Gathered.of(batch.targets),
            mask=Gathered.of(batch.mask),
            labels=Gathered.of(batch.labels),
            periods=batch.periods,
            conditions=batch.conditions,
            lengths=batch.lengths,
            dt=batch.dt,
            input_noise_std=batch.input_noise_std,
            metadata=batch.metadata,
            source=batch,
        )

    def expand(self) -> TrialBatch:
        """The dense, noise-free :class:`TrialBatch` (``noise_added`` is True only when ``input_noise_std`` is 0)."""
        if self.source is not None:
            return self.source
        return TrialBatch(
            inputs=self.inputs.dense(),
            targets=self.targets.dense(),
            mask=self.mask.dense(),
            labels=self.labels.dense(),
            periods=self.periods,
            conditions=self.conditions,
            lengths=self.lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=self.input_noise_std == 0,
            metadata=self.metadata,
        )

    def without_signals(self) -> TrialBatch:
        """The batch as ``expand().select(all, signals=False)`` gives it, without writing any ``(T, B, n)`` array:
        dense ``labels``, read-only zero ``inputs``/``targets`` and a 0/1 ``mask`` of the checked steps broadcast
        over the outputs. It is what a task's ``score``, ``decision_start`` and ``correct_actions`` read."""
        if self.source is not None:
            return self.source
        n_steps, batch = self.n_steps, self.batch_size
        zero = np.zeros((), dtype=np.float32)
        rows = self.mask.rows
        checked_rows = (rows.reshape(len(rows), -1).max(axis=1) > 0).astype(np.float32)
        checked = np.take(checked_rows, self.mask.index, mode="clip")
        return TrialBatch(
            inputs=np.broadcast_to(zero, (n_steps, batch, self.inputs.rows.shape[-1])),
            targets=np.broadcast_to(zero, (n_steps, batch, self.targets.rows.shape[-1])),
            mask=np.broadcast_to(checked[:, :, None], (n_steps, batch, rows.shape[-1])),
            labels=self.labels.dense(),
            periods=self.periods,
            conditions=self.conditions,
            lengths=self.lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=self.input_noise_std == 0,
            metadata=self.metadata,
        )
