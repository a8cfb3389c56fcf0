"""Ring encodings of a direction (Yang et al. 2019 and the sin/cos variant) and population-vector decoding.

* :attr:`RingEncoding.GAUSSIAN_32` (Yang et al. 2019): 32 units with preferred directions ``2πk/32``; a stimulus
  of direction θ and strength s drives unit k with ``s · 0.8 · exp(-d²/2)``, ``d`` = circular distance between θ
  and the unit's preference in units of π/8. Response targets use the same bump on a 0.05 baseline.
* :attr:`RingEncoding.SINCOS` (Duncker, Driscoll et al. 2020; Driscoll, Shenoy & Sussillo 2024): two units
  ``s · (cos θ, sin θ)``; response targets are ``(cos θ, sin θ)``.

A direction is read out of ring outputs by the population vector (Yang's ``network.popvec``) or, for the sin/cos
encoding, by ``atan2(sin, cos)``.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "N_RING_UNITS",
    "RingEncoding",
    "circular_distance",
    "gaussian_tuning",
    "nearest_unit",
    "population_vector",
    "preferred_directions",
]

#: Units per modality ring in Yang et al. 2019 (``n_eachring``).
N_RING_UNITS = 32
#: Tuning width: distances are measured in units of π/8.
_WIDTH = np.pi / 8
#: Peak of a unit-strength bump.
_PEAK = 0.8
_TWO_PI = 2 * np.pi


class RingEncoding(Enum):
    """How a direction is encoded on a modality ring (inputs) and on the response ring (outputs)."""

    #: Yang et al. 2019: 32 Gaussian-tuned units per ring.
    GAUSSIAN_32 = "gaussian_32"
    #: Duncker 2020 / Driscoll 2024: two units (cos θ, sin θ) per ring.
    SINCOS = "sincos"

    @property
    def width(self) -> int:
        """Units per ring: 32 or 2."""
        return N_RING_UNITS if self is RingEncoding.GAUSSIAN_32 else 2

    def encode(self, direction: NDArray[np.floating], strength: NDArray[np.floating]) -> NDArray[np.float64]:
        """Stimulus input: ``direction (B,)`` rad, ``strength (B,)`` -> ``(B, width)``."""
        strength = np.asarray(strength, dtype=np.float64)[:, None]
        if self is RingEncoding.GAUSSIAN_32:
            return strength * gaussian_tuning(direction)
        return strength * _cos_sin(direction)

    def target(self, direction: NDArray[np.floating]) -> NDArray[np.float64]:
        """Response target on the output ring (without baseline): ``direction (B,)`` -> ``(B, width)``."""
        if self is RingEncoding.GAUSSIAN_32:
            return gaussian_tuning(direction)
        return _cos_sin(direction)

    @property
    def target_baseline(self) -> float:
        """Target of every output unit outside the response: 0.05 (Yang) or 0.0 (sin/cos, as Driscoll)."""
        return 0.05 if self is RingEncoding.GAUSSIAN_32 else 0.0

    def decode(self, ring: NDArray[np.floating]) -> NDArray[np.float64]:
        """Direction in ``[0, 2π)`` read from ring outputs ``(..., width)`` -> ``(...)``."""
        ring = np.asarray(ring, dtype=np.float64)
        if ring.shape[-1] != self.width:
            raise ValueError(f"ring must have {self.width} units in its last axis, got shape {ring.shape}")
        if self is RingEncoding.GAUSSIAN_32:
            return population_vector(ring)
        return np.mod(np.arctan2(ring[..., 1], ring[..., 0]), 2 * np.pi)


def _cos_sin(direction: NDArray[np.floating]) -> NDArray[np.float64]:
    direction = np.asarray(direction, dtype=np.float64)
    return np.stack([np.cos(direction), np.sin(direction)], axis=-1)


def preferred_directions(n_units: int = N_RING_UNITS) -> NDArray[np.float64]:
    """``(n_units,)`` preferred directions ``2πk/n_units`` (rad)."""
    return 2 * np.pi * np.arange(n_units) / n_units


#: The preferred directions of a 32-unit ring (read-only).
_PREFERRED = preferred_directions()
_PREFERRED.flags.writeable = False


def circular_distance(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Elementwise distance on the circle, in ``[0, π]`` (broadcasting ``a`` against ``b``)."""
    diff = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), 2 * np.pi)
    return np.minimum(diff, 2 * np.pi - diff)


def gaussian_tuning(direction: ArrayLike, n_units: int = N_RING_UNITS) -> NDArray[np.float64]:
    """Yang's tuning curve: ``direction (B,)`` -> ``(B, n_units)`` = ``0.8 · exp(-d²/2)``, d in units of π/8."""
    preferred = _PREFERRED if n_units == N_RING_UNITS else preferred_directions(n_units)
    direction = np.asarray(direction, dtype=np.float64)
    if direction.size and direction.min() >= 0.0 and direction.max() < _TWO_PI:
        # directions in [0, 2π) against preferred ones in [0, 2π): the difference lies in (-2π, 2π), where
        # np.mod(diff, 2π) is diff + 2π for diff < 0 and diff otherwise (up to the sign of a zero, which the
        # square drops), so the same distances without mod's division
        diff = np.subtract(direction[..., None], preferred)
        np.add(diff, _TWO_PI, out=diff, where=diff < 0)
        distance = np.subtract(_TWO_PI, diff)
        np.minimum(diff, distance, out=distance)
    else:
        distance = circular_distance(direction[..., None], preferred)
    # _PEAK · exp(-0.5 · (distance / _WIDTH)²), the same operations in place
    np.divide(distance, _WIDTH, out=distance)
    np.square(distance, out=distance)
    np.multiply(distance, -0.5, out=distance)
    np.exp(distance, out=distance)
    np.multiply(distance, _PEAK, out=distance)
    return distance


def population_vector(ring: ArrayLike) -> NDArray[np.float64]:
    """Yang's ``popvec``: the angle of ``Σ_k r_k (cos φ_k, sin φ_k)`` of ring activity ``(..., n)`` -> ``(...)``.

    Returns angles in ``[0, 2π)``. (Yang divides both sums by ``Σ r_k``, which flips the angle by π when the
    sum is negative; so does this function.)
    """
    ring = np.asarray(ring, dtype=np.float64)
    pref = preferred_directions(ring.shape[-1])
    total = ring.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = (ring @ np.cos(pref)) / total
        sin = (ring @ np.sin(pref)) / total
    return np.mod(np.arctan2(sin, cos), 2 * np.pi)


def nearest_unit(direction: ArrayLike, n_units: int = N_RING_UNITS) -> NDArray[np.int64]:
    """Index of the ring unit whose preferred direction is nearest ``direction`` (rad), same shape."""
    step = 2 * np.pi / n_units
    return np.mod(np.rint(np.asarray(direction, dtype=np.float64) / step), n_units).astype(np.int64)
