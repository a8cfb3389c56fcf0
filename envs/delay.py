"""The four delay tasks of "Training and Analysis for Multitask RNNs": delay-go, delay-anti,
delay-match-to-sample and delay-anti-match-to-sample.

All four share one input/output layout, so a network can be trained on any subset of them:

* inputs ``n_in = 1 + n_locations``: unit 0 is the fixation cue, units ``1..n_locations`` are binary
  (one-hot) stimulus locations;
* outputs ``n_out = 1 + n_locations``: unit 0 is "keep fixating", unit ``k`` is "respond at location k-1";
* actions ``0`` (fixate) and ``k`` (respond at location ``k - 1``).

Every period lasts a fixed number of steps by default (``dt = 20`` ms). The first 100 ms of the response
period is a grace window: not in the loss, neither rewarded nor penalised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from mtrnn.envs.batch import TrialBatch
from mtrnn.envs.conditions import Condition, Flag, Integers
from mtrnn.envs.layout import Layout
from mtrnn.envs.scoring import decision_outcome
from mtrnn.envs.task import Built, PeriodTask, Sampled
from mtrnn.envs.timing import Fixed, TimingSpec

__all__ = ["DelayAnti", "DelayAntiMatchToSample", "DelayGo", "DelayMatchToSample", "DelayTask"]


class DelayTask(PeriodTask):
    """Common layout of the four delay tasks (see the module docstring).

    Args:
        n_locations: number of stimulus locations (an even number >= 2, so that "opposite" is defined).
        dt: time step in ms.
        timing: per-period :class:`~mtrnn.envs.timing.TimingSpec` overrides (ms).
        input_noise_std: std of the Gaussian input noise.
    """

    grace_ms: ClassVar[float] = 100.0

    def __init__(
        self,
        *,
        n_locations: int = 8,
        dt: float = 20.0,
        timing: Mapping[str, TimingSpec] | None = None,
        input_noise_std: float = 0.05,
    ) -> None:
        if isinstance(n_locations, bool) or not isinstance(n_locations, (int, np.integer)):
            raise TypeError(f"n_locations must be an even int >= 2, got {type(n_locations).__name__}")
        if n_locations < 2 or n_locations % 2:
            raise ValueError(f"n_locations must be an even int >= 2, got {n_locations}")
        self.n_locations = int(n_locations)
        super().__init__(dt=dt, timing=timing, input_noise_std=input_noise_std)

    @property
    def grace(self) -> Mapping[str, float]:
        """A 100 ms grace window at the start of the decision period."""
        return {self.decision_period: self.grace_ms}

    @property
    def n_inputs(self) -> int:
        return 1 + self.n_locations

    @property
    def n_outputs(self) -> int:
        return 1 + self.n_locations

    @property
    def n_actions(self) -> int:
        return 1 + self.n_locations

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("fixation", *(f"loc {i}" for i in range(self.n_locations)))

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("fixate", *(f"resp {i}" for i in range(self.n_locations)))

    def score(self, outputs: NDArray[np.floating], batch: TrialBatch) -> NDArray[np.float64]:
        """Decode the action at each step as ``argmax(outputs)`` (0 = fixate) and apply the env's rule.

        Correct iff the network fixates on every checked step before the decision period and its first
        response in the decision period (after the grace window) is the right one; on a no-go trial, iff it
        never responds. ``outputs (T, B, n_out)`` -> ``(B,)``.
        """
        outputs = np.asarray(outputs)
        if outputs.shape != (batch.n_steps, batch.batch_size, self.n_outputs):
            raise ValueError(
                f"outputs must have shape (T={batch.n_steps}, B={batch.batch_size}, "
                f"n_out={self.n_outputs}), got {outputs.shape}"
            )
        actions = outputs.argmax(axis=-1)
        return decision_outcome(actions, batch, self.decision_start(batch), self.correct_actions(batch))

    def _piecewise_built(
        self,
        layout: Layout,
        shown: Mapping[str, NDArray[np.int64]],
        fixation_until: str,
        respond: NDArray[np.bool_],
        choice: NDArray[np.int64],
    ) -> Built:
        """Inputs, targets and labels, which are constant within each period of each trial.

        Args:
            layout: the batch's periods.
            shown: ``{period: (B,) location}`` stimuli shown in a period.
            fixation_until: the period whose onset switches the fixation cue off (the decision period).
            respond: ``(B,)`` whether the trial asks for a response in the decision period.
            choice: ``(B,)`` the location to respond at.
        """
        eye = np.eye(1 + self.n_locations, dtype=np.float32)
        cued = self.period_names[: self.period_names.index(fixation_until)]
        inputs: dict[str, NDArray] = dict.fromkeys(cued, eye[0])
        for period, location in shown.items():
            inputs[period] = eye[1 + location] + eye[0] if period in cued else eye[1 + location]
        action = np.where(respond, choice + 1, 0)
        fixate = {p: eye[0] for p in self.period_names if p != self.decision_period}
        return Built(
            inputs=layout.piecewise(inputs, (self.n_inputs,)),
            targets=layout.piecewise({**fixate, self.decision_period: eye[action]}, (self.n_outputs,)),
            labels=layout.piecewise({self.decision_period: action}, dtype=np.int64),
        )


class _GoAntiTask(DelayTask):
    period_names: ClassVar[tuple[str, ...]] = ("fixation", "stimulus", "delay", "go")
    decision_period: ClassVar[str] = "go"
    anti: ClassVar[bool] = False

    def default_timing(self) -> dict[str, TimingSpec]:
        return {"fixation": Fixed(200), "stimulus": Fixed(400), "delay": Fixed(600), "go": Fixed(400)}

    @property
    def condition_domains(self) -> dict[str, Condition]:
        return {"location": Integers(0, self.n_locations)}

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> dict[str, NDArray]:
        return {"location": rng.integers(0, self.n_locations, batch_size)}

    def _build(self, conditions: Mapping[str, NDArray], layout: Layout) -> Built:
        location = conditions["location"]
        choice = (location + self.n_locations // 2) % self.n_locations if self.anti else location
        respond = np.ones(layout.batch_size, dtype=bool)
        return self._piecewise_built(layout, {"stimulus": location}, "go", respond, choice)


class DelayGo(_GoAntiTask):
    """Delay-go: after a delay, respond at the location where the stimulus was shown.

    ## Description
    The agent fixates while a stimulus flashes at one of ``n_locations`` locations. After a memory delay the
    fixation cue goes off (go signal) and the agent must respond at the remembered location.

    ## Trial periods (default, dt = 20 ms)
    | period   | duration | fixation cue | stimulus | correct action        |
    |----------|----------|--------------|----------|-----------------------|
    | fixation | 200 ms   | on           | off      | fixate (0)            |
    | stimulus | 400 ms   | on           | on       | fixate (0)            |
    | delay    | 600 ms   | on           | off      | fixate (0)            |
    | go       | 400 ms   | off          | off      | respond at location   |

    The first 100 ms of ``go`` is a grace window (mask 0, no reward, no penalty).

    ## Observation
    ``Box(-8σ, 1 + 8σ, (1 + n_locations,), float32)`` with ``σ = input_noise_std`` (``Box(-0.4, 1.4, …)`` at the
    default 0.05): ``[fixation, loc_0 … loc_{n-1}]``, binary plus Gaussian noise of std σ (clipped at 8σ).

    ## Actions
    ``Discrete(1 + n_locations)``: 0 = fixate, ``k`` = respond at location ``k - 1``.

    ## Rewards
    +1 for the correct response in ``go``; ``fixation_penalty`` (env argument) for responding before ``go``;
    0 for a wrong response or no response. Grace windows give nothing.

    ## Arguments
    ``n_locations`` (8, even >= 2), ``dt`` (20 ms), ``timing`` (per-period overrides), ``input_noise_std``
    (0.05); env arguments as :class:`~mtrnn.envs.env.TrialEnv`.

    ## Conditions
    ``location`` in ``[0, n_locations)``; durations ``<period>_duration`` in ms.

    ## Version history
    * v0: initial version.
    """

    display_name: ClassVar[str] = "Delay go"


class DelayAnti(_GoAntiTask):
    """Delay-anti: after a delay, respond at the location opposite the stimulus.

    ## Description
    As :class:`DelayGo`, but the correct response is the location opposite the stimulus:
    ``(location + n_locations / 2) mod n_locations``.

    ## Trial periods (default, dt = 20 ms)
    | period   | duration | fixation cue | stimulus | correct action                 |
    |----------|----------|--------------|----------|--------------------------------|
    | fixation | 200 ms   | on           | off      | fixate (0)                     |
    | stimulus | 400 ms   | on           | on       | fixate (0)                     |
    | delay    | 600 ms   | on           | off      | fixate (0)                     |
    | go       | 400 ms   | off          | off      | respond at the opposite place  |

    The first 100 ms of ``go`` is a grace window.

    ## Observation
    ``Box(-8σ, 1 + 8σ, (1 + n_locations,), float32)``, ``σ = input_noise_std`` (``Box(-0.4, 1.4, …)`` by default):
    ``[fixation, loc_0 … loc_{n-1}]``.

    ## Actions
    ``Discrete(1 + n_locations)``: 0 = fixate, ``k`` = respond at location ``k - 1``.

    ## Rewards
    +1 for the correct (opposite) response in ``go``; ``fixation_penalty`` for responding before ``go``.

    ## Arguments
    ``n_locations`` (8, even >= 2), ``dt`` (20 ms), ``timing``, ``input_noise_std`` (0.05).

    ## Conditions
    ``location`` (the stimulus location) in ``[0, n_locations)``; durations ``<period>_duration`` in ms.

    ## Version history
    * v0: initial version.
    """

    display_name: ClassVar[str] = "Delay anti"
    anti: ClassVar[bool] = True


class _MatchTask(DelayTask):
    period_names: ClassVar[tuple[str, ...]] = ("fixation", "sample", "delay", "test")
    decision_period: ClassVar[str] = "test"
    respond_on_match: ClassVar[bool] = True

    def default_timing(self) -> dict[str, TimingSpec]:
        return {"fixation": Fixed(200), "sample": Fixed(400), "delay": Fixed(600), "test": Fixed(400)}

    @property
    def condition_domains(self) -> dict[str, Condition]:
        return {
            "sample": Integers(0, self.n_locations),
            "test": Integers(0, self.n_locations),
            "match": Flag(),
        }

    def _sample_conditions(self, rng: np.random.Generator, batch_size: int) -> Sampled:
        conditions = {
            "sample": rng.integers(0, self.n_locations, batch_size),
            "match": rng.random(batch_size) < 0.5,
        }
        # a non-match test's distance from the sample, uniform over the other locations
        return Sampled(conditions, {"offset": rng.integers(1, self.n_locations, batch_size)})

    def _finalize_conditions(
        self,
        conditions: dict[str, NDArray],
        given: Mapping[str, NDArray],
        rng: np.random.Generator,
        auxiliary: Mapping[str, NDArray],
    ) -> dict[str, NDArray]:
        """Non-match test locations are uniform over the other locations; a given ``test`` fixes ``match``."""
        offset = auxiliary["offset"]
        sample, match = conditions["sample"], conditions["match"]
        if "test" in given:
            test = given["test"]
            if "match" in given and np.any(given["match"] != (test == sample)):
                raise ValueError("conditions['match'] contradicts conditions['test'] == conditions['sample']")
            return {**conditions, "test": test, "match": test == sample}
        return {**conditions, "test": np.where(match, sample, (sample + offset) % self.n_locations)}

    def _build(self, conditions: Mapping[str, NDArray], layout: Layout) -> Built:
        respond = conditions["match"] if self.respond_on_match else ~conditions["match"]
        shown = {"sample": conditions["sample"], "test": conditions["test"]}
        return self._piecewise_built(layout, shown, "test", respond, conditions["test"])


class DelayMatchToSample(_MatchTask):
    """Delay-match-to-sample: respond to the test stimulus if it matches the sample, else keep fixating.

    ## Description
    A sample stimulus flashes at one location; after a delay a test stimulus appears and the fixation cue goes
    off. On a **match** (test at the sample's location, probability 0.5) the agent must respond at the test
    location; on a **non-match** (any other location, uniformly) it must keep fixating until the trial ends.
    Withholding is therefore scored: a correct no-go trial is rewarded at the trial's end.

    ## Trial periods (default, dt = 20 ms)
    | period   | duration | fixation cue | stimulus     | correct action                                |
    |----------|----------|--------------|--------------|-----------------------------------------------|
    | fixation | 200 ms   | on           | off          | fixate (0)                                    |
    | sample   | 400 ms   | on           | sample       | fixate (0)                                    |
    | delay    | 600 ms   | on           | off          | fixate (0)                                    |
    | test     | 400 ms   | off          | test         | match: respond at test; non-match: fixate     |

    The first 100 ms of ``test`` is a grace window.

    ## Observation
    ``Box(-8σ, 1 + 8σ, (1 + n_locations,), float32)``, ``σ = input_noise_std`` (``Box(-0.4, 1.4, …)`` by default):
    ``[fixation, loc_0 … loc_{n-1}]``.

    ## Actions
    ``Discrete(1 + n_locations)``: 0 = fixate, ``k`` = respond at location ``k - 1``.

    ## Rewards
    +1 for responding at the test location on a match, +1 at the trial's end for fixating through a
    non-match; ``fixation_penalty`` for responding before ``test``; 0 otherwise.

    ## Arguments
    ``n_locations`` (8, even >= 2), ``dt`` (20 ms), ``timing``, ``input_noise_std`` (0.05).

    ## Conditions
    ``sample``, ``test`` in ``[0, n_locations)``, ``match`` (bool; derived from ``test`` when given);
    durations ``<period>_duration`` in ms.

    ## Version history
    * v0: initial version.
    """

    display_name: ClassVar[str] = "Delay match-to-sample"


class DelayAntiMatchToSample(_MatchTask):
    """Delay-anti-match-to-sample: respond to the test stimulus if it does *not* match, else keep fixating.

    ## Description
    As :class:`DelayMatchToSample` with the rule reversed: on a **non-match** the agent must respond at the test
    location; on a **match** it must keep fixating until the trial ends.

    ## Trial periods (default, dt = 20 ms)
    | period   | duration | fixation cue | stimulus     | correct action                                |
    |----------|----------|--------------|--------------|-----------------------------------------------|
    | fixation | 200 ms   | on           | off          | fixate (0)                                    |
    | sample   | 400 ms   | on           | sample       | fixate (0)                                    |
    | delay    | 600 ms   | on           | off          | fixate (0)                                    |
    | test     | 400 ms   | off          | test         | non-match: respond at test; match: fixate     |

    The first 100 ms of ``test`` is a grace window.

    ## Observation
    ``Box(-8σ, 1 + 8σ, (1 + n_locations,), float32)``, ``σ = input_noise_std`` (``Box(-0.4, 1.4, …)`` by default):
    ``[fixation, loc_0 … loc_{n-1}]``.

    ## Actions
    ``Discrete(1 + n_locations)``: 0 = fixate, ``k`` = respond at location ``k - 1``.

    ## Rewards
    +1 for responding at the test location on a non-match, +1 at the trial's end for fixating through a
    match; ``fixation_penalty`` for responding before ``test``; 0 otherwise.

    ## Arguments
    ``n_locations`` (8, even >= 2), ``dt`` (20 ms), ``timing``, ``input_noise_std`` (0.05).

    ## Conditions
    ``sample``, ``test`` in ``[0, n_locations)``, ``match`` (bool); durations ``<period>_duration`` in ms.

    ## Version history
    * v0: initial version.
    """

    display_name: ClassVar[str] = "Delay anti-match-to-sample"
    respond_on_match: ClassVar[bool] = False
