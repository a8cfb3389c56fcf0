"""Validation helpers for the agents' settings (supervised and RL configs): numbers in a range, devices, paths."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_device", "check_number", "check_out_dir"]


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


def check_device(device: object) -> str:
    """``device`` if it is a torch device name (``'cpu'``, ``'cuda'``, ``'cuda:0'``), else a clear error."""
    import torch

    if not isinstance(device, str):
        raise TypeError(f"device must be a torch device name such as 'cpu' or 'cuda', got {device!r}")
    try:
        torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device must be a torch device name such as 'cpu', 'cuda' or 'cuda:0', got {device!r}"
        ) from error
    return device


def check_out_dir(out_dir: object) -> str | None:
    """``out_dir`` if it is None or a non-empty path string, else a ``TypeError`` naming it."""
    if out_dir is not None and (not isinstance(out_dir, str) or not out_dir.strip()):
        raise TypeError(f"out_dir must be a non-empty path string or None, got {out_dir!r}")
    return out_dir
