"""Typed domains of the per-trial variables a task samples, used to validate explicit ``conditions=``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Condition", "Flag", "Integers", "Reals", "check_conditions"]


class Condition(ABC):
    """The domain of one sampled per-trial variable."""

    dtype: type

    @abstractmethod
    def check(self, name: str, values: NDArray) -> None:
        """Raise ``ValueError`` naming ``name`` if any value is outside the domain."""

    def coerce(self, name: str, value: object, batch_size: int) -> NDArray:
        """A scalar or ``(B,)`` array-like -> a validated ``(B,)`` array of this domain's dtype."""
        array = np.asarray(value)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
            raise TypeError(f"conditions[{name!r}] must be numeric, got dtype {array.dtype}")
        if array.ndim == 0:
            array = np.full(batch_size, array)
        if array.shape != (batch_size,):
            raise ValueError(
                f"conditions[{name!r}] must be a scalar or have shape (batch_size,) = ({batch_size},), "
                f"got shape {array.shape}"
            )
        self.check(name, array)
        return array.astype(self.dtype)


@dataclass(frozen=True)
class Integers(Condition):
    """Integers in ``[low, high)``."""

    low: int
    high: int
    dtype: type = np.int64

    def check(self, name: str, values: NDArray) -> None:
        if not np.issubdtype(values.dtype, np.integer) and not np.all(np.mod(values, 1) == 0):
            raise ValueError(f"conditions[{name!r}] must hold integers in [{self.low}, {self.high})")
        if values.size and (values.min() < self.low or values.max() >= self.high):
            raise ValueError(
                f"conditions[{name!r}] must lie in [{self.low}, {self.high}), "
                f"got values in [{values.min()}, {values.max()}]"
            )


@dataclass(frozen=True)
class Reals(Condition):
    """Finite reals in ``[low, high]`` (``low_open`` excludes ``low``)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    dtype: type = np.float64

    def check(self, name: str, values: NDArray) -> None:
        values = values.astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"conditions[{name!r}] must be finite")
        too_low = values <= self.low if self.low_open else values < self.low
        if np.any(too_low) or np.any(values > self.high):
            bracket = "(" if self.low_open else "["
            raise ValueError(
                f"conditions[{name!r}] must lie in {bracket}{self.low}, {self.high}], "
                f"got values in [{values.min()}, {values.max()}]"
            )


@dataclass(frozen=True)
class Flag(Condition):
    """Booleans (0/1 accepted)."""

    dtype: type = np.bool_

    def check(self, name: str, values: NDArray) -> None:
        if not np.all((values == 0) | (values == 1)):
            raise ValueError(f"conditions[{name!r}] must be booleans (True/False or 0/1)")


def check_conditions(
    conditions: Mapping[str, object] | None, domains: Mapping[str, Condition], batch_size: int
) -> dict[str, NDArray]:
    """Explicit ``conditions`` checked against a task's ``domains`` and broadcast to ``(batch_size,)`` arrays.

    ``None`` means nothing is fixed. Unknown keys raise ValueError listing the allowed keys; values outside a domain
    raise the domain's own error (see :meth:`Condition.coerce`).
    """
    if conditions is None:
        return {}
    if not isinstance(conditions, Mapping):
        raise TypeError(f"conditions must be a mapping of name -> value, got {type(conditions).__name__}")
    checked = {}
    for key, value in conditions.items():
        if key not in domains:
            raise ValueError(f"conditions has unknown key {key!r}; allowed keys are {sorted(domains)}")
        checked[key] = domains[key].coerce(key, value, batch_size)
    return checked
