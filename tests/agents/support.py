"""What several trainer tests share: metrics compared without wall-clock time, an in-process interrupt."""

from __future__ import annotations

import csv
from pathlib import Path

from mtrnn.agents import Callback, TrainState


def metrics_without_time(path: Path) -> list[dict[str, str]]:
    """The rows of a run's ``metrics.csv`` without the ``time`` column (the only one a resumed run may change)."""
    with path.open(newline="") as file:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(file)]


class InterruptAt(Callback):
    """Raises ``KeyboardInterrupt`` (what Ctrl-C raises) at update ``step``."""

    def __init__(self, step: int) -> None:
        self.at = step

    def on_step(self, state: TrainState) -> bool:
        if state.step == self.at:
            raise KeyboardInterrupt
        return True
