"""Atomic ``.npz`` and JSON writes for analysis results (no pickle), on top of
:func:`mtrnn.agents.rundir.atomic_write_bytes`."""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtrnn.agents.rundir import atomic_write_bytes, atomic_write_text

__all__ = ["json_safe", "load_npz", "save_json", "save_npz"]


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, NDArray | float | int]) -> None:
    """Write ``arrays`` to ``path`` (``.npz``, compressed) atomically; object arrays are refused."""
    data = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in data.items():
        if value.dtype == object:
            raise TypeError(f"arrays[{name!r}] is an object array; npz files here hold numbers and strings only")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **data)  # type: ignore[arg-type]
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_npz(path: str | os.PathLike[str]) -> dict[str, NDArray]:
    """Read an ``.npz`` written by :func:`save_npz` (``allow_pickle=False``)."""
    try:
        with np.load(Path(path), allow_pickle=False) as handle:
            return {name: handle[name] for name in handle.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error}); delete it and re-run the analysis") from None


def json_safe(value: Any) -> Any:
    """Numbers, numpy scalars/arrays, enums and mappings as JSON values (non-finite floats as strings)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if hasattr(value, "value") and hasattr(value, "name") and not isinstance(value, (int, float, str)):
        return value.value
    return value


def save_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON atomically."""
    atomic_write_text(Path(path), json.dumps(json_safe(data), indent=2) + "\n")
