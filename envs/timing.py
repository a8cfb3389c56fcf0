"""Typed timing specifications for trial periods, in milliseconds.

Each spec is a small frozen value, validated when built, that draws a vector of durations from one
``numpy.random.Generator``. Durations are converted to whole time steps with :func:`to_steps`.

>>> import numpy as np
>>> Choice((200.0, 400.0)).sample(np.random.default_rng(0), 3).shape
(3,)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["Choice", "Fixed", "TimingSpec", "TruncExp", "Uniform", "to_steps"]


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of milliseconds, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite duration > 0 ms, got {value}")
    return value


class TimingSpec(ABC):
    """A distribution of period durations in milliseconds."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """Draw ``size`` durations in ms, shape ``(size,)``."""

    @property
    @abstractmethod
    def low(self) -> float:
        """The shortest duration this spec can produce (ms)."""

    @property
    @abstractmethod
    def high(self) -> float:
        """The longest duration this spec can produce (ms)."""


@dataclass(frozen=True)
class Fixed(TimingSpec):
    """Always ``ms`` milliseconds."""

    ms: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "ms", _check_positive("Fixed.ms", self.ms))

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return np.full(size, self.ms)

    @property
    def low(self) -> float:
        return self.ms

    @property
    def high(self) -> float:
        return self.ms


@dataclass(frozen=True)
class Choice(TimingSpec):
    """One of ``options`` (ms), uniformly at random."""

    options: tuple[float, ...]

    def __init__(self, options: Sequence[float]) -> None:
        if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
            raise TypeError(f"Choice.options must be a sequence of durations in ms, got {options!r}")
        if len(options) == 0:
            raise ValueError("Choice.options must hold at least one duration")
        values = tuple(_check_positive(f"Choice.options[{i}]", v) for i, v in enumerate(options))
        object.__setattr__(self, "options", values)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return _options_array(self.options)[rng.integers(0, len(self.options), size)]

    @property
    def low(self) -> float:
        return min(self.options)

    @property
    def high(self) -> float:
        return max(self.options)


@lru_cache(maxsize=256)
def _options_array(options: tuple[float, ...]) -> NDArray[np.float64]:
    """A :class:`Choice`'s options as a read-only float64 array, built once per distinct options."""
    table = np.asarray(options, dtype=np.float64)
    table.flags.writeable = False
    return table


@dataclass(frozen=True)
class Uniform(TimingSpec):
    """Uniform between ``lo`` and ``hi`` (ms), ``0 < lo <= hi``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo = _check_positive("Uniform.lo", self.lo)
        hi = _check_positive("Uniform.hi", self.hi)
        if hi < lo:
            raise ValueError(f"Uniform.hi must be >= Uniform.lo, got lo={lo}, hi={hi}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return rng.uniform(self.lo, self.hi, size)

    @property
    def low(self) -> float:
        return self.lo

    @property
    def high(self) -> float:
        return self.hi


@dataclass(frozen=True)
class TruncExp(TimingSpec):
    """Exponential with mean ``mean`` (ms), truncated to ``[lo, hi]`` (inverse-CDF sampling, no rejection).

    This is the variable-delay distribution of many neurogym tasks (``('truncated_exponential', [mean, lo,
    hi])``), sampled exactly rather than by rejection.
    """

    mean: float
    lo: float
    hi: float

    def __post_init__(self) -> None:
        mean = _check_positive("TruncExp.mean", self.mean)
        lo = _check_positive("TruncExp.lo", self.lo)
        hi = _check_positive("TruncExp.hi", self.hi)
        if hi < lo:
            raise ValueError(f"TruncExp.hi must be >= TruncExp.lo, got lo={lo}, hi={hi}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        span = self.hi - self.lo
        if span == 0:
            return np.full(size, self.lo)
        tail = -math.expm1(-span / self.mean)
        u = rng.random(size)
        return self.lo - self.mean * np.log1p(-u * tail)

    @property
    def low(self) -> float:
        return self.lo

    @property
    def high(self) -> float:
        return self.hi


def to_steps(ms: NDArray[np.floating] | float, dt: float) -> NDArray[np.int64]:
    """Durations in ms to whole time steps of ``dt`` ms (rounded to nearest), shape preserved."""
    return np.rint(np.asarray(ms, dtype=np.float64) / dt).astype(np.int64)
