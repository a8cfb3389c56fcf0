"""The frozen test sets: which trials every agent is scored on, for every task version.

Trial ``i`` of the test set of ``env_id`` is exactly the trial that
``gym.make(env_id).reset(seed=first_seed + i, options={"conditions": conditions_i})`` plays (the env's seeding
contract, :class:`mtrnn.envs.TrialEnv`): the noise-free trial
``make_task(env_id).sample_batch(1, numpy.random.default_rng(seed), conditions_i, noise=False)`` plus, at step
``t``, input noise ``clip(z_t, -8, 8) · float32(input_noise_std)`` where ``z`` is the float32
``standard_normal`` stream of ``n_in``-wide rows (blocks of 256 rows) of
``numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(1)[0])``. The same trials are therefore scored
whether an agent is played as a whole batch, step by step or through the gym env, on any machine.
``conditions_i`` is empty except for mixtures (:class:`MultiTask` ids such as ``mtrnn/Yang19-v0``), whose trial
``i`` is of rule ``i mod n_rules`` so that every rule gets the same number of trials.

The first seed of every registered id is published in :data:`FIRST_SEEDS` and never changes for a given id; a
task whose behaviour changes gets a new id version (``-v1``) and with it a new row. Ids registered after this
table was frozen (e.g. by a plugin) get a seed derived from the id (:func:`derived_first_seed`) and are marked
``published=False`` until a row is added."""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs import MultiTask, Task, TrialBatch, all_ids, make_task
from mtrnn.envs.env import NOISE_BLOCK_ROWS, NOISE_CLIP

__all__ = [
    "FIRST_SEEDS",
    "TEST_PROTOCOL",
    "TRIALS_PER_TASK",
    "TestSet",
    "derived_first_seed",
    "env_version",
    "frozen_test_set",
    "stack_trials",
]

#: Name and version of the test protocol (how trials are derived from seeds). Part of every results file.
TEST_PROTOCOL = "mtrnn-test/1"

#: Trials per task in the frozen test set (a mixture rounds up to a multiple of its number of rules).
TRIALS_PER_TASK = 1024

#: The published first seed of every task version's test set (trial ``i`` uses seed ``first_seed + i``).
FIRST_SEEDS: Mapping[str, int] = {
    "mtrnn/DelayGo-v0": 1_000_000,
    "mtrnn/DelayAnti-v0": 2_000_000,
    "mtrnn/DelayMatchToSample-v0": 3_000_000,
    "mtrnn/DelayAntiMatchToSample-v0": 4_000_000,
    "mtrnn/Yang19-Go-v0": 5_000_000,
    "mtrnn/Yang19-ReactGo-v0": 6_000_000,
    "mtrnn/Yang19-DelayGo-v0": 7_000_000,
    "mtrnn/Yang19-Anti-v0": 8_000_000,
    "mtrnn/Yang19-ReactAnti-v0": 9_000_000,
    "mtrnn/Yang19-DelayAnti-v0": 10_000_000,
    "mtrnn/Yang19-DM1-v0": 11_000_000,
    "mtrnn/Yang19-DM2-v0": 12_000_000,
    "mtrnn/Yang19-ContextDM1-v0": 13_000_000,
    "mtrnn/Yang19-ContextDM2-v0": 14_000_000,
    "mtrnn/Yang19-MultiDM-v0": 15_000_000,
    "mtrnn/Yang19-DelayDM1-v0": 16_000_000,
    "mtrnn/Yang19-DelayDM2-v0": 17_000_000,
    "mtrnn/Yang19-ContextDelayDM1-v0": 18_000_000,
    "mtrnn/Yang19-ContextDelayDM2-v0": 19_000_000,
    "mtrnn/Yang19-MultiDelayDM-v0": 20_000_000,
    "mtrnn/Yang19-DMSGo-v0": 21_000_000,
    "mtrnn/Yang19-DMSNoGo-v0": 22_000_000,
    "mtrnn/Yang19-DMCGo-v0": 23_000_000,
    "mtrnn/Yang19-DMCNoGo-v0": 24_000_000,
    "mtrnn/Yang19-v0": 25_000_000,
    "mtrnn/NParity-v0": 26_000_000,
    "mtrnn/NDMS-v0": 27_000_000,
}

_VERSION = re.compile(r"-v(\d+)$")


def env_version(env_id: str) -> int:
    """The version number of an id (``mtrnn/DelayGo-v0`` -> 0)."""
    match = _VERSION.search(env_id)
    if match is None:
        raise ValueError(f"env_id must end in -v<version>, got {env_id!r}")
    return int(match.group(1))


def derived_first_seed(env_id: str) -> int:
    """The first seed of an id without a row in :data:`FIRST_SEEDS`: ``1e9 + 1e6 · (crc32(env_id) mod 1000)``."""
    return 1_000_000_000 + 1_000_000 * (zlib.crc32(env_id.encode("utf-8")) % 1000)


@dataclass(frozen=True)
class TestSet:
    """The frozen trials of one task version.

    Attributes:
        env_id: the registered id (its version is part of it).
        first_seed: trial ``i`` is drawn with seed ``first_seed + i``.
        n_trials: number of trials.
        n_rules: 0 for a plain task; the number of rules of a mixture (trial ``i`` is rule ``i mod n_rules``).
        published: whether ``first_seed`` comes from :data:`FIRST_SEEDS` (False: derived from the id).
    """

    __test__ = False  # not a pytest class

    env_id: str
    first_seed: int
    n_trials: int
    n_rules: int = 0
    published: bool = True

    @property
    def seeds(self) -> range:
        """The trial seeds, ``range(first_seed, first_seed + n_trials)``."""
        return range(self.first_seed, self.first_seed + self.n_trials)

    def conditions(self, index: int) -> dict[str, object]:
        """The conditions trial ``index`` is drawn with (``{"rule": index mod n_rules}`` for a mixture, else
        ``{}``); pass them to the env as ``reset(seed=..., options={"conditions": ...})``."""
        return {"rule": index % self.n_rules} if self.n_rules else {}

    def task(self) -> Task:
        """A fresh default task of :attr:`env_id`."""
        return make_task(self.env_id)

    def trial(self, task: Task, index: int) -> TrialBatch:
        """Trial ``index`` as a batch of one."""
        if not 0 <= index < self.n_trials:
            raise ValueError(f"index must lie in [0, {self.n_trials}), got {index}")
        seed = self.first_seed + index
        clean = task.sample_batch(1, np.random.default_rng(seed), conditions=self.conditions(index), noise=False)
        std = 0.0 if clean.noise_added else clean.input_noise_std
        if std == 0.0:
            return dataclasses.replace(clean, noise_added=True)
        noise_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        blocks = -(-clean.n_steps // NOISE_BLOCK_ROWS)
        noise = np.concatenate(
            [noise_rng.standard_normal((NOISE_BLOCK_ROWS, task.n_inputs), dtype=np.float32) for _ in range(blocks)]
        )
        np.clip(noise, -NOISE_CLIP, NOISE_CLIP, out=noise)
        noise *= np.float32(std)
        inputs = clean.inputs + noise[: clean.n_steps, None, :]
        return dataclasses.replace(clean, inputs=inputs, noise_added=True)

    def batches(self, task: Task, chunk: int = 256) -> Iterator[tuple[range, TrialBatch]]:
        """The trials in consecutive batches of at most ``chunk``: ``(trial indices, batch)`` pairs."""
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
        for start in range(0, self.n_trials, chunk):
            indices = range(start, min(start + chunk, self.n_trials))
            yield indices, stack_trials([self.trial(task, i) for i in indices])


def frozen_test_set(env_id: str, n_trials: int | None = None) -> TestSet:
    """The frozen test set of ``env_id`` (a registered id).

    Args:
        env_id: the task version.
        n_trials: use only the first ``n_trials`` trials (>= 1; for quick checks — results record the number);
            None: the full set, :data:`TRIALS_PER_TASK` (rounded up to a multiple of a mixture's rule count).
    """
    if env_id not in all_ids():
        raise ValueError(f"env_id must be a registered id (one of {all_ids()}), got {env_id!r}")
    task = make_task(env_id)
    n_rules = task.n_rules if isinstance(task, MultiTask) else 0
    full = TRIALS_PER_TASK if not n_rules else n_rules * math.ceil(TRIALS_PER_TASK / n_rules)
    if n_trials is None:
        n_trials = full
    elif isinstance(n_trials, bool) or not isinstance(n_trials, int) or not 1 <= n_trials <= full:
        raise ValueError(f"n_trials must be an int in [1, {full}] or None, got {n_trials!r}")
    published = env_id in FIRST_SEEDS
    first = FIRST_SEEDS[env_id] if published else derived_first_seed(env_id)
    return TestSet(env_id, first, n_trials, n_rules, published)


def stack_trials(trials: list[TrialBatch]) -> TrialBatch:
    """Stack batches into one, padded to the longest trial (``start == stop`` where a trial lacks a period,
    NaN/0 where it lacks a condition)."""
    if not trials:
        raise ValueError("trials must hold at least one batch")
    if len(trials) == 1:
        return trials[0]
    first = trials[0]
    n_steps = max(b.n_steps for b in trials)
    sizes = [b.batch_size for b in trials]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])

    def padded(name: str) -> NDArray:
        arrays = [getattr(b, name) for b in trials]
        out = np.zeros((n_steps, total, *arrays[0].shape[2:]), dtype=arrays[0].dtype)
        for k, array in enumerate(arrays):
            out[: array.shape[0], offsets[k] : offsets[k + 1]] = array
        return out

    names = sorted({p for b in trials for p in b.periods})
    periods = {}
    for name in names:
        empty = [(np.zeros(s, np.int64), np.zeros(s, np.int64)) for s in sizes]
        parts = [b.periods.get(name, empty[k]) for k, b in enumerate(trials)]
        periods[name] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    conditions: dict[str, NDArray] = {}
    for key in sorted({c for b in trials for c in b.conditions}):
        values = [np.asarray(b.conditions[key]) for b in trials if key in b.conditions]
        dtype = np.result_type(*values)
        complete = len(values) == len(trials)
        if not complete and not np.issubdtype(dtype, np.floating):
            dtype = np.dtype(np.float64) if np.issubdtype(dtype, np.number) else dtype
        fill = math.nan if np.issubdtype(dtype, np.floating) else 0
        conditions[key] = np.concatenate(
            [
                np.asarray(b.conditions[key], dtype) if key in b.conditions else np.full(s, fill, dtype)
                for b, s in zip(trials, sizes, strict=True)
            ]
        )
    fields: dict[str, object] = {
        "inputs": padded("inputs"),
        "targets": padded("targets"),
        "mask": padded("mask"),
        "labels": padded("labels"),
        "periods": periods,
        "conditions": conditions,
        "lengths": np.concatenate([b.lengths for b in trials]).astype(np.int64),
        "dt": first.dt,
        "input_noise_std": first.input_noise_std,
        "noise_added": all(b.noise_added for b in trials),
        "metadata": dict(first.metadata),
    }
    # a task's own batch type (a TrialBatch subclass) keeps its extra fields: (T, B, ...) arrays are padded like
    # the inputs, (B, ...) arrays concatenated, anything else must be the same in every trial
    base_fields = {f.name for f in dataclasses.fields(TrialBatch)}
    for extra in dataclasses.fields(first):
        if extra.name in base_fields:
            continue
        values = [getattr(b, extra.name) for b in trials]
        if isinstance(values[0], np.ndarray) and all(
            v.ndim >= 2 and v.shape[:2] == (b.n_steps, b.batch_size) for v, b in zip(values, trials, strict=True)
        ):
            fields[extra.name] = padded(extra.name)
        elif isinstance(values[0], np.ndarray) and all(
            v.ndim >= 1 and v.shape[0] == b.batch_size for v, b in zip(values, trials, strict=True)
        ):
            fields[extra.name] = np.concatenate(values)
        else:
            fields[extra.name] = values[0]
    return type(first)(**fields)
