"""The 20-task mixture of Yang et al. 2019 (``mtrnn/Yang19-v0``), or any subset of its rules.

Every task carries its own rule unit, so the mixture adds no inputs (``MultiTask(rule_inputs=False)``): with the
default ``rule_units`` (all 20, in the paper's order) ``n_in = 85``, ``n_out = 33`` and rule unit ``k`` is the
paper's rule ``k`` whatever subset is trained. Each batch is one rule, drawn with Yang's weights (contextdm1 and
contextdm2 five times as often as the others), as in Yang's ``train.py``.

Published layouts:

* Yang et al. 2019: ``Yang19Mixture()`` (85 inputs, 33 outputs).
* Duncker, Driscoll et al. 2020 (continual learning, sin/cos rings, 25 inputs = 1 + 2·2 + 20, 3 outputs):
  ``Yang19Mixture(DUNCKER_RULES, ring=RingEncoding.SINCOS)`` or the single tasks built with
  ``ring=RingEncoding.SINCOS`` (trained one after the other).
* Driscoll, Shenoy & Sussillo 2024 (15 tasks, sin/cos, 20 inputs = 1 + 2·2 + 15):
  ``Yang19Mixture(DRISCOLL_RULES, ring=RingEncoding.SINCOS, rule_units=DRISCOLL_RULES)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.multitask import MultiTask
from mtrnn.envs.yang19.base import Yang19Task, check_rule, check_rule_units
from mtrnn.envs.yang19.dm import (
    Yang19ContextDelayDM1,
    Yang19ContextDelayDM2,
    Yang19ContextDM1,
    Yang19ContextDM2,
    Yang19DelayDM1,
    Yang19DelayDM2,
    Yang19DM1,
    Yang19DM2,
    Yang19MultiDelayDM,
    Yang19MultiDM,
)
from mtrnn.envs.yang19.go_anti import (
    Yang19Anti,
    Yang19DelayAnti,
    Yang19DelayGo,
    Yang19Go,
    Yang19ReactAnti,
    Yang19ReactGo,
)
from mtrnn.envs.yang19.matching import Yang19DMCGo, Yang19DMCNoGo, Yang19DMSGo, Yang19DMSNoGo
from mtrnn.envs.yang19.rings import RingEncoding
from mtrnn.envs.yang19.rules import YANG_WEIGHTS, Rule

__all__ = ["TASK_CLASSES", "Yang19Mixture", "yang19_task"]

#: The task class of every rule, in the paper's order.
TASK_CLASSES: dict[Rule, type[Yang19Task]] = {
    cls.rule: cls
    for cls in (
        Yang19Go,
        Yang19ReactGo,
        Yang19DelayGo,
        Yang19Anti,
        Yang19ReactAnti,
        Yang19DelayAnti,
        Yang19DM1,
        Yang19DM2,
        Yang19ContextDM1,
        Yang19ContextDM2,
        Yang19MultiDM,
        Yang19DelayDM1,
        Yang19DelayDM2,
        Yang19ContextDelayDM1,
        Yang19ContextDelayDM2,
        Yang19MultiDelayDM,
        Yang19DMSGo,
        Yang19DMSNoGo,
        Yang19DMCGo,
        Yang19DMCNoGo,
    )
}


def yang19_task(rule: Rule | str, **kwargs: Any) -> Yang19Task:
    """The task of ``rule`` (a :class:`Rule` or Yang's rule name), built with ``kwargs`` (see :class:`Yang19Task`)."""
    return TASK_CLASSES[check_rule(rule)](**kwargs)


class Yang19Mixture(MultiTask):
    """Trials of several Yang rules; each batch is one rule (or each trial, with ``mix_within_batch``).

    Args:
        rules: the rules to mix (default all 20 in the paper's order); ``conditions["rule"]`` indexes this.
        weights: relative sampling weights, one per rule (default Yang's: 5 for contextdm1/2, else 1).
        ring: :class:`RingEncoding` of every task.
        rule_units: the rules that have a rule input unit, in order (default all 20, so rule unit ``k`` is the
            paper's rule ``k``); pass ``rules`` to keep only the mixture's own rule units (Driscoll's layout).
        dt: time step in ms.
        shared_timing: draw every period duration once per batch (Yang) instead of per trial.
        input_noise_std: input noise std (default Yang's ``0.01·√(2τ/dt)``).
        mix_within_batch: draw the rule per trial instead of per batch.
    """

    display_name = "Yang 2019 mixture"
    #: What the right answer is (for tables).
    answer = "each trial: the answer of its rule (the rule unit that is on)"

    def __init__(
        self,
        rules: Sequence[Rule | str] | None = None,
        weights: Sequence[float] | None = None,
        *,
        ring: RingEncoding = RingEncoding.GAUSSIAN_32,
        rule_units: Sequence[Rule | str] | None = None,
        dt: float = 20.0,
        shared_timing: bool = False,
        input_noise_std: float | None = None,
        mix_within_batch: bool = False,
    ) -> None:
        chosen = check_rule_units(rules, name="rules")
        units = check_rule_units(rule_units)
        missing = [r.value for r in chosen if r not in units]
        if missing:
            raise ValueError(f"rule_units must include every rule of rules; missing {missing}")
        if weights is None:
            weights = [YANG_WEIGHTS[r] for r in chosen]
        tasks = [
            TASK_CLASSES[r](
                ring=ring, rule_units=units, dt=dt, shared_timing=shared_timing, input_noise_std=input_noise_std
            )
            for r in chosen
        ]
        super().__init__(
            tasks,
            weights,
            rule_inputs=False,
            mix_within_batch=mix_within_batch,
            component_ids=[r.env_id for r in chosen],
        )
        self.rules: tuple[Rule, ...] = chosen
        self.ring = ring
        self.rule_units = units

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """Yang's ``get_perf`` on every trial at once (every rule judges its trials by the same rule, on the
        last step, from the trial's ``go`` and ``response``). ``outputs (T, B, n_out)`` -> ``(B,)``."""
        outputs = self._check_outputs(outputs, batch)
        task = self.tasks[0]
        assert isinstance(task, Yang19Task)
        return task._get_perf(batch.last_step_values(outputs), batch.conditions["go"], batch.conditions["response"])

    def score_by_component(self, outputs: NDArray[np.floating], batch: TrialBatch) -> dict[str, NDArray[np.float64]]:
        """:meth:`score`, grouped by rule: ``{component_ids[k]: (B_k,) scores}`` for the rules in ``batch``."""
        scores = self.score(outputs, batch)
        rules = np.asarray(batch.conditions["rule"])
        return {self.component_ids[k]: scores[rules == k] for k in np.unique(rules)}

    def rule_of(self, rule: Rule | str) -> int:
        """The index of ``rule`` in this mixture (the value of ``conditions["rule"]`` for its trials)."""
        unit = check_rule(rule)
        if unit not in self.rules:
            raise ValueError(f"rule must be one of this mixture's rules {[r.value for r in self.rules]}, got {rule!r}")
        return self.rules.index(unit)

    def __repr__(self) -> str:
        names = ", ".join(r.value for r in self.rules)
        return f"Yang19Mixture([{names}], weights={np.round(self.weights, 4).tolist()}, ring={self.ring.name})"
