"""`MultiTask`: mix tasks that share input/output dimensions, with one-hot rule inputs and sampling weights."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.task import Task, check_batch_size

__all__ = ["MultiTask"]


class MultiTask(Task):
    """Trials of several tasks, each with a rule cue.

    By default each batch holds one rule, drawn with probability proportional to ``weights`` (as in Yang et
    al. 2019, where every training batch is one rule). With ``mix_within_batch=True`` the rule is drawn per
    trial and the batch is padded to its longest trial.

    Inputs are ``[task inputs, rule one-hot]`` (``n_in = task n_in + n_rules``) when ``rule_inputs`` is True;
    tasks that carry their own rule units (Yang's) use ``rule_inputs=False``. The rule index of every trial
    is ``batch.conditions["rule"]``.

    Args:
        tasks: the tasks, all with the same ``n_inputs``, ``n_outputs``, ``n_actions``, ``dt`` and
            ``input_noise_std``. Rule ``k`` is ``tasks[k]``.
        weights: relative sampling weights (>= 0, not all 0); default uniform.
        rule_inputs: append one-hot rule inputs.
        mix_within_batch: draw the rule per trial instead of per batch.
        component_ids: a stable, unique name per task (e.g. its registered id), used to report scores per
            component (:meth:`score_by_component`); default each task's ``name``, with ``#k`` appended to
            names that repeat.
    """

    display_name = "Multi-task"

    def __init__(
        self,
        tasks: Sequence[Task],
        weights: Sequence[float] | None = None,
        *,
        rule_inputs: bool = True,
        mix_within_batch: bool = False,
        component_ids: Sequence[str] | None = None,
    ) -> None:
        if isinstance(tasks, Mapping) or not isinstance(tasks, Sequence) or len(tasks) == 0:
            raise TypeError("tasks must be a non-empty sequence of Task instances")
        for i, task in enumerate(tasks):
            if not isinstance(task, Task):
                raise TypeError(f"tasks[{i}] must be a Task, got {type(task).__name__}")
        first = tasks[0]
        for attr in ("n_inputs", "n_outputs", "n_actions", "dt", "input_noise_std"):
            values = {getattr(t, attr) for t in tasks}
            if len(values) > 1:
                raise ValueError(f"tasks must share {attr}; got {sorted(values)}")
        if weights is None:
            weights = [1.0] * len(tasks)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(tasks),):
            raise ValueError(f"weights must have one entry per task ({len(tasks)}), got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {list(w)}")
        self.tasks: tuple[Task, ...] = tuple(tasks)
        #: A stable, unique id per task (``conditions["rule"] == k`` is ``component_ids[k]``).
        self.component_ids: tuple[str, ...] = _check_ids(component_ids, self.tasks)
        self.weights = w / w.sum()
        self.rule_inputs = bool(rule_inputs)
        self.mix_within_batch = bool(mix_within_batch)
        self.dt = first.dt
        self.input_noise_std = first.input_noise_std

    @property
    def n_rules(self) -> int:
        return len(self.tasks)

    @property
    def n_inputs(self) -> int:
        return self.tasks[0].n_inputs + (self.n_rules if self.rule_inputs else 0)

    @property
    def n_outputs(self) -> int:
        return self.tasks[0].n_outputs

    @property
    def n_actions(self) -> int:
        return self.tasks[0].n_actions

    @property
    def max_steps(self) -> int:
        return max(t.max_steps for t in self.tasks)

    @property
    def input_range(self) -> tuple[float, float]:
        lows, highs = zip(*(t.input_range for t in self.tasks), strict=True)
        return (min(*lows, 0.0), max(*highs, 1.0))

    @property
    def input_names(self) -> tuple[str, ...]:
        rules = tuple(f"rule:{t.name}" for t in self.tasks) if self.rule_inputs else ()
        return self.tasks[0].input_names + rules

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.tasks[0].output_names

    def _rules(self, batch_size: int, rng: np.random.Generator, conditions: Mapping[str, object]) -> NDArray:
        if "rule" in conditions:
            rule = np.asarray(conditions["rule"])
            if rule.ndim == 0:
                rule = np.full(batch_size, rule)
            if rule.shape != (batch_size,) or not np.issubdtype(rule.dtype, np.integer):
                raise ValueError(f"conditions['rule'] must be an int or ({batch_size},) ints, got {rule!r}")
            if rule.min() < 0 or rule.max() >= self.n_rules:
                raise ValueError(f"conditions['rule'] must lie in [0, {self.n_rules}), got {rule}")
            return rule.astype(np.int64)
        if self.mix_within_batch:
            return rng.choice(self.n_rules, size=batch_size, p=self.weights)
        return np.full(batch_size, rng.choice(self.n_rules, p=self.weights))

    def sample_batch(
        self,
        batch_size: int,
        rng: np.random.Generator,
        conditions: Mapping[str, object] | None = None,
        noise: bool = True,
    ) -> TrialBatch:
        """Trials of the mixed tasks; ``conditions`` may fix ``"rule"`` and any condition the rule's task has.

        Returns a :class:`TrialBatch` whose ``periods`` are the union of the tasks' periods (``start == stop``
        where a trial lacks a period) and whose ``conditions["rule"]`` holds each trial's rule index.
        """
        batch_size = check_batch_size(batch_size)
        conditions = dict(conditions or {})
        rules = self._rules(batch_size, rng, conditions)
        conditions.pop("rule", None)
        parts = []
        for k in np.unique(rules):
            index = np.flatnonzero(rules == k)
            sub = {key: _take(value, index, batch_size) for key, value in conditions.items()}
            parts.append((index, self.tasks[k].sample_batch(index.size, rng, sub or None, noise=noise)))
        batch = _merge(parts, batch_size)
        inputs = batch.inputs
        if self.rule_inputs:
            one_hot = np.zeros((batch.n_steps, batch_size, self.n_rules), dtype=np.float32)
            one_hot[:, np.arange(batch_size), rules] = batch.valid
            if noise and self.input_noise_std > 0:
                self.add_input_noise(one_hot, rng)
            inputs = np.concatenate([inputs, one_hot], axis=-1)
        return TrialBatch(
            inputs=inputs,
            targets=batch.targets,
            mask=batch.mask,
            labels=batch.labels,
            periods=batch.periods,
            conditions={**batch.conditions, "rule": rules},
            lengths=batch.lengths,
            dt=self.dt,
            input_noise_std=self.input_noise_std,
            noise_added=batch.noise_added,
            metadata={"task": self.name, "rules": tuple(t.name for t in self.tasks)},
        )

    def _per_rule(self, batch: TrialBatch) -> list[tuple[NDArray[np.int64], Task, TrialBatch]]:
        """``(trial index, task, sub-batch)`` per rule present in ``batch``. A batch of one rule is its own
        sub-batch; otherwise the sub-batches are :meth:`TrialBatch.select` views without the signals (no copy of
        inputs, targets or mask)."""
        rules = np.asarray(batch.conditions["rule"])
        first = int(rules[0])
        if (rules == first).all():
            return [(np.arange(batch.batch_size), self.tasks[first], batch)]
        return [
            (index, self.tasks[k], batch.select(index, signals=False))
            for k in np.unique(rules)
            for index in (np.flatnonzero(rules == k),)
        ]

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """Each trial scored by its own rule's task. ``outputs (T, B, n_out)`` -> ``(B,)``."""
        result = np.zeros(batch.batch_size)
        for k, scores in self._scores(outputs, batch):
            result[np.asarray(batch.conditions["rule"]) == k] = scores
        return result

    def score_by_component(self, outputs: NDArray[np.floating], batch: TrialBatch) -> dict[str, NDArray[np.float64]]:
        """Scores grouped by component: ``{component_ids[k]: (B_k,) scores of the trials of rule k}``, for the
        rules present in ``batch``, trials in batch order. ``outputs (T, B, n_out)``.

        Costs about what scoring each component's trials alone costs: each component scores its trials with
        :meth:`Task.score_trials`, which copies no inputs, targets or mask.
        """
        return {self.component_ids[k]: scores for k, scores in self._scores(outputs, batch)}

    def _scores(self, outputs: NDArray[np.floating], batch: TrialBatch) -> list[tuple[int, NDArray[np.float64]]]:
        outputs = self._check_outputs(outputs, batch)
        rules = np.asarray(batch.conditions["rule"])
        first = int(rules[0])
        if (rules == first).all():
            return [(first, self.tasks[first].score(outputs, batch))]
        return [
            (int(k), self.tasks[k].score_trials(outputs, batch, np.flatnonzero(rules == k))) for k in np.unique(rules)
        ]

    def _check_outputs(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.floating]:
        outputs = np.asarray(outputs)
        if outputs.shape != (batch.n_steps, batch.batch_size, self.n_outputs):
            raise ValueError(
                f"outputs must have shape (T={batch.n_steps}, B={batch.batch_size}, "
                f"n_out={self.n_outputs}), got {outputs.shape}"
            )
        return outputs

    def decision_start(self, batch: TrialBatch) -> NDArray[np.int64]:
        result = np.zeros(batch.batch_size, dtype=np.int64)
        for index, task, sub in self._per_rule(batch):
            result[index] = task.decision_start(sub)
        return result

    def correct_actions(self, batch: TrialBatch) -> NDArray[np.bool_]:
        result = np.zeros((batch.batch_size, self.n_actions), dtype=bool)
        for index, task, sub in self._per_rule(batch):
            result[index] = task.correct_actions(sub)
        return result

    def response_deadline(self, batch: TrialBatch) -> NDArray[np.int64] | None:
        """``(B,)`` each trial's deadline from its own rule's task (``batch.n_steps``, no deadline, where that task
        has none), or None when no rule present in ``batch`` has one. See :meth:`Task.response_deadline`."""
        result: NDArray[np.int64] | None = None
        for index, task, sub in self._per_rule(batch):
            deadline = task.response_deadline(sub)
            if deadline is not None:
                if result is None:
                    result = np.full(batch.batch_size, batch.n_steps, dtype=np.int64)
                result[index] = deadline
        return result

    def __repr__(self) -> str:
        names = ", ".join(t.name for t in self.tasks)
        return f"MultiTask([{names}], weights={np.round(self.weights, 4).tolist()})"


def _check_ids(ids: Sequence[str] | None, tasks: Sequence[Task]) -> tuple[str, ...]:
    """Validated component ids, or the default: each task's name, ``#k`` appended where names repeat."""
    if ids is None:
        names = [task.name for task in tasks]
        return tuple(name if names.count(name) == 1 else f"{name}#{k}" for k, name in enumerate(names))
    if isinstance(ids, str) or not isinstance(ids, Sequence) or not all(isinstance(i, str) and i for i in ids):
        raise TypeError(f"component_ids must be a sequence of non-empty strings, got {ids!r}")
    if len(ids) != len(tasks):
        raise ValueError(f"component_ids must have one id per task ({len(tasks)}), got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"component_ids must be unique, got {list(ids)}")
    return tuple(ids)


def _take(value: object, index: NDArray[np.int64], batch_size: int) -> object:
    array = np.asarray(value)
    if array.ndim == 0:
        return array
    if array.shape[0] != batch_size:
        raise ValueError(f"conditions values must be scalars or have shape ({batch_size},), got {array.shape}")
    return array[index]


def _merge(parts: list[tuple[NDArray[np.int64], TrialBatch]], batch_size: int) -> TrialBatch:
    """Scatter sub-batches (trial ``index`` arrays) into one batch padded to the longest trial."""
    if len(parts) == 1:
        return parts[0][1]
    n_steps = max(b.n_steps for _, b in parts)
    first = parts[0][1]

    def alloc(example: NDArray, dtype: type) -> NDArray:
        return np.zeros((n_steps, batch_size, *example.shape[2:]), dtype=dtype)

    inputs = alloc(first.inputs, np.float32)
    targets = alloc(first.targets, np.float32)
    mask = alloc(first.mask, np.float32)
    labels = alloc(first.labels, np.int64)
    lengths = np.zeros(batch_size, dtype=np.int64)
    names = sorted({p for _, b in parts for p in b.periods})
    periods = {p: (np.zeros(batch_size, np.int64), np.zeros(batch_size, np.int64)) for p in names}
    keys = sorted({c for _, b in parts for c in b.conditions})
    conditions: dict[str, NDArray] = {}
    for key in keys:
        dtypes = [np.asarray(b.conditions[key]).dtype for _, b in parts if key in b.conditions]
        dtype = np.result_type(*dtypes)
        fill = math.nan if np.issubdtype(dtype, np.floating) else 0
        conditions[key] = np.full(batch_size, fill, dtype=dtype if fill == 0 else np.float64)
    for index, b in parts:
        t = b.n_steps
        inputs[:t, index] = b.inputs
        targets[:t, index] = b.targets
        mask[:t, index] = b.mask
        labels[:t, index] = b.labels
        lengths[index] = b.lengths
        for p, (start, stop) in b.periods.items():
            periods[p][0][index] = start
            periods[p][1][index] = stop
        for key, value in b.conditions.items():
            conditions[key][index] = value
    return TrialBatch(
        inputs=inputs,
        targets=targets,
        mask=mask,
        labels=labels,
        periods=periods,
        conditions=conditions,
        lengths=lengths,
        dt=first.dt,
        input_noise_std=first.input_noise_std,
        noise_added=all(b.noise_added for _, b in parts),
    )
