"""One validation helper for the agents' settings: "a finite number (or int) in a range"."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_number"]


def check_number(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    integer: bool = False,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Any:
    """``value`` as an int (``integer``) or float, checked to lie in ``[low, high]`` (ends open as asked).

    ``None`` passes when ``optional``. Bools are rejected (``True`` is not a number of steps).

    Raises:
        TypeError: not a number (not an int when ``integer``); the message names ``name`` and the allowed range.
        ValueError: NaN/inf or outside the range; the message names ``name``, the range and the value.
    """
    if value is None and optional:
        return None
    kind = "an int" if integer else "a finite number"
    high_open = high_open or math.isinf(high)
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    allowed = f"{kind} in {interval}" + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value) if integer else float(value)
