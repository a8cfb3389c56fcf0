"""Where each period of each trial lies in a padded batch: :class:`Layout`, and the block writes it makes cheap.

:class:`~mtrnn.envs.task.PeriodTask` lays the periods of every trial back to back from step 0 and pads the batch to
its longest trial; its ``_build`` reads the layout to write inputs, targets and labels period by period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["Layout", "period_rows", "runs", "runs_from_ends"]


@dataclass(frozen=True)
class Layout:
    """Where each period of each trial lies in a padded batch.

    Every mask method returns a fresh, writable ``(T, B)`` array. When all trials share their period
    boundaries (:attr:`uniform`, e.g. fixed timing), masks are built as row ranges and :meth:`fill` writes
    row blocks, which is what makes batch generation cheap.

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

    @cached_property
    def uniform(self) -> bool:
        """True when every trial has the same period boundaries and length (so there is no padding)."""
        if self.batch_size == 1:
            return True
        bounds = np.stack([self.lengths, *self.starts.values(), *self.stops.values()])
        return bool((bounds == bounds[:, :1]).all())

    @property
    def padded(self) -> bool:
        """True when some trial is shorter than ``T`` (its last steps are padding)."""
        return bool(self.lengths.min() < self.n_steps)  # trials of unequal length: never uniform

    def period_index(self, names: tuple[str, ...]) -> NDArray[np.intp]:
        """``(T, B)`` the rank in ``names`` of the period each step lies in, ``len(names)`` on padding steps.

        For layouts whose periods ``names`` follow each other from step 0 to each trial's end (as
        :class:`~mtrnn.envs.task.PeriodTask` lays them out). With a table of one row per (period, trial),
        ``table[index * B + b]`` gathers a whole ``(T, B, ...)`` array in one pass.
        """
        ends = np.stack([self.stops[name] for name in names])
        return runs_from_ends(np.arange(len(names) + 1), ends, self.n_steps)

    @property
    def time(self) -> NDArray[np.int64]:
        """``(T, 1)`` step index, broadcastable against ``(T, B)``."""
        return np.arange(self.n_steps)[:, None]

    def within(self, name: str) -> NDArray[np.bool_]:
        """``(T, B)`` True inside period ``name``."""
        return self.between(self.starts[name], self.stops[name])

    def between(self, start: ArrayLike, stop: ArrayLike) -> NDArray[np.bool_]:
        """``(T, B)`` True for ``start <= t < stop`` (per-trial ``(B,)`` bounds, or scalars)."""
        span = _span(start, stop)
        if span is not None:
            out = np.zeros((self.n_steps, self.batch_size), dtype=bool)
            out[span[0] : span[1]] = True
            return out
        t = self.time
        return (t >= np.asarray(start)) & (t < np.asarray(stop))

    def from_(self, name: str) -> NDArray[np.bool_]:
        """``(T, B)`` True from the start of period ``name`` to the trial's end."""
        return self.between(self.starts[name], self.lengths)

    @property
    def valid(self) -> NDArray[np.bool_]:
        """``(T, B)`` True on unpadded steps."""
        return self.between(0, self.lengths)

    def fill(self, out: NDArray, start: ArrayLike, stop: ArrayLike, values: ArrayLike) -> None:
        """Set ``out[t, b] = values[b]`` for ``start[b] <= t < stop[b]``, in place.

        Args:
            out: ``(T, B, ...)`` array (a view such as ``inputs[..., 1:]`` works).
            start: ``(B,)`` first step per trial (or a scalar).
            stop: ``(B,)`` one past the last step per trial (or a scalar).
            values: a scalar, an ``out[t, b]``-shaped array (same for every trial) or ``(B, ...)`` per-trial values.
        """
        self._fill(out, _span(start, stop), start, stop, values)

    def fill_period(self, out: NDArray, name: str, values: ArrayLike) -> None:
        """:meth:`fill` over period ``name``: ``out[t, b] = values[b]`` inside it."""
        span = self._period_spans.get(name) if self.uniform else _span(self.starts[name], self.stops[name])
        self._fill(out, span, self.starts[name], self.stops[name], values)

    def piecewise(
        self, values: Mapping[str, ArrayLike], shape: tuple[int, ...] = (), dtype: DTypeLike = np.float32
    ) -> NDArray:
        """A ``(T, B, *shape)`` array holding ``values[p][b]`` on every step of period ``p`` of trial ``b``, else 0.

        Args:
            values: ``{period: value}`` with a scalar, a ``shape`` array (same for every trial) or a ``(B, *shape)``
                array per period; periods left out stay 0.
            shape: the trailing shape (``(n_in,)`` for inputs, ``()`` for labels).
            dtype: the array's dtype.
        """
        tiling = self._tiling
        if tiling is None:
            out = np.zeros((self.n_steps, self.batch_size, *shape), dtype=dtype)
            for name, value in values.items():
                self.fill_period(out, name, value)
            return out
        # every trial shares its timing and the periods tile [0, T): one row block per period
        index, counts = tiling
        table = np.zeros((len(counts), self.batch_size, *shape), dtype=dtype)
        for name, value in values.items():
            table[index[name]] = value
        return table.repeat(counts, axis=0)

    @cached_property
    def _period_spans(self) -> dict[str, tuple[int, int]]:
        """``{period: (start, stop)}`` shared by every trial (meaningful when :attr:`uniform`)."""
        return {name: (int(self.starts[name][0]), int(self.stops[name][0])) for name in self.starts}

    @cached_property
    def _tiling(self) -> tuple[dict[str, int], NDArray[np.int64]] | None:
        """For a uniform layout whose periods follow each other from 0 to ``T``: ``({period: rank}, steps)``."""
        if not self.uniform:
            return None
        spans = sorted(self._period_spans.items(), key=lambda item: item[1])
        end = 0
        for _, (start, stop) in spans:
            if start != end:
                return None
            end = stop
        if end != self.n_steps:
            return None
        steps = np.array([stop - start for _, (start, stop) in spans], dtype=np.int64)
        return {name: rank for rank, (name, _) in enumerate(spans)}, steps

    def _fill(
        self, out: NDArray, span: tuple[int, int] | None, start: ArrayLike, stop: ArrayLike, values: ArrayLike
    ) -> None:
        values = np.asarray(values, dtype=out.dtype)
        if values.ndim and (values.shape != out.shape[1:] or not values.flags.c_contiguous):
            # one contiguous (B, ...) row, so that writing a block of rows is a plain strided copy
            values = np.ascontiguousarray(np.broadcast_to(values, out.shape[1:]))
        if span is not None:
            out[span[0] : span[1]] = values
            return
        where = self.between(start, stop).reshape(out.shape[:2] + (1,) * (out.ndim - 2))
        np.copyto(out, values, where=where)


def runs(values: NDArray[np.integer], lengths: NDArray[np.integer]) -> NDArray[np.intp]:
    """``(T, B)`` with ``values[k]`` repeated ``lengths[k, b]`` times down column ``b`` (run-length decoding).

    Args:
        values: ``(K,)`` the value of each run.
        lengths: ``(K, B)`` non-negative run lengths; every column must sum to the same ``T``.

    Returns:
        A C-ordered ``(T, B)`` array (what ``np.take`` reads without copying its index): one ``np.repeat`` for the
        whole batch, trial by trial, and one transposing copy.
    """
    return _decode(values, np.ascontiguousarray(np.asarray(lengths).T))


def runs_from_ends(values: ArrayLike, ends: NDArray[np.integer], n_steps: int) -> NDArray[np.intp]:
    """:func:`runs` given where runs end: ``ends (K - 1, B)`` the first step of runs ``1 .. K - 1`` (non-decreasing
    down each column, at most ``n_steps``; run ``K - 1`` lasts to ``n_steps``) and ``values (K,)``."""
    ends = np.asarray(ends)
    bounds = np.empty((ends.shape[1], len(ends) + 2), dtype=np.intp)
    bounds[:, 0] = 0
    bounds[:, 1:-1] = ends.T
    bounds[:, -1] = n_steps
    return _decode(values, bounds[:, 1:] - bounds[:, :-1])


def period_rows(ends: NDArray[np.integer], n_steps: int) -> NDArray[np.intp]:
    """``(T, B)`` the row ``p · B + b`` of a ``(P + 1, B, ...)`` table at every step of period ``p`` of trial ``b``
    (``P · B + b`` on padding steps): :func:`runs_from_ends` of ``values = (0, B, .., P · B)`` plus ``b``, in one pass.

    Args:
        ends: ``(P, B)`` one past the last step of each period of each trial; periods follow each other from step 0,
            each at least one step long (strictly increasing down each column), and the last ends at most at
            ``n_steps``.
        n_steps: ``T``.
    """
    n_periods, batch = ends.shape
    lengths = np.empty((batch, n_periods + 1), dtype=np.intp)
    ends_t = ends.T
    lengths[:, 0] = ends_t[:, 0]
    np.subtract(ends_t[:, 1:], ends_t[:, :-1], out=lengths[:, 1:-1])
    np.subtract(n_steps, ends_t[:, -1], out=lengths[:, -1])
    flat = np.repeat(_trial_rows(batch, n_periods + 1), lengths.reshape(-1))
    return np.ascontiguousarray(flat.reshape(batch, n_steps).T)


@lru_cache(maxsize=64)
def _trial_rows(batch: int, n_runs: int) -> NDArray[np.intp]:
    """``(B · K,)`` read-only: ``k · B + b`` at ``b · K + k`` (the rows of trial ``b``'s runs, trial by trial)."""
    rows = (np.arange(n_runs, dtype=np.intp) * batch + np.arange(batch, dtype=np.intp)[:, None]).reshape(-1)
    rows.flags.writeable = False
    return rows


def _decode(values: ArrayLike, lengths: NDArray[np.integer]) -> NDArray[np.intp]:
    """:func:`runs` with ``lengths (B, K)`` (C-ordered): one trial per row."""
    batch, n_runs = lengths.shape
    tiled = np.empty((batch, n_runs), dtype=np.intp)
    tiled[...] = values
    flat = np.repeat(tiled.reshape(-1), lengths.reshape(-1))
    return np.ascontiguousarray(flat.reshape(batch, -1).T)


def _span(start: ArrayLike, stop: ArrayLike) -> tuple[int, int] | None:
    """``(start, stop)`` as two ints (clipped at 0) when every trial shares them, else None."""
    start, stop = np.asarray(start), np.asarray(stop)
    if start.ndim and start.size > 1 and not (start == start.flat[0]).all():
        return None
    if stop.ndim and stop.size > 1 and not (stop == stop.flat[0]).all():
        return None
    first = int(start.flat[0]) if start.size else 0
    last = int(stop.flat[0]) if stop.size else 0
    return max(first, 0), max(last, first, 0)
