"""Bad input raises ValueError/TypeError whose message names the argument (hypothesis-driven, small)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mtrnn.envs import (
    Choice,
    DelayAnti,
    DelayAntiMatchToSample,
    DelayGo,
    DelayMatchToSample,
    DelayTask,
    Fixed,
    NeurogymTask,
    TrialEnv,
    TruncExp,
    Uniform,
)

SETTINGS = settings(max_examples=15, deadline=None)
TASKS = [DelayGo, DelayAnti, DelayMatchToSample, DelayAntiMatchToSample]
#: One integer condition of each task, in [0, n_locations = 8).
CONDITION = {DelayGo: "location", DelayAnti: "location", DelayMatchToSample: "sample", DelayAntiMatchToSample: "test"}

not_positive = st.floats(max_value=0.0) | st.sampled_from([math.nan, math.inf, -math.inf])
positive = st.floats(min_value=1.0, max_value=1e4)
not_numbers = st.sampled_from(["100", None, [100.0], True, object()])


def _task(cls: type[DelayTask] = DelayGo) -> DelayTask:
    return cls()


# ---------------------------------------------------------------------------------------- timing specs


@SETTINGS
@given(ms=not_positive)
def test_fixed_needs_a_positive_finite_duration(ms: float) -> None:
    with pytest.raises(ValueError, match=r"Fixed\.ms must be a finite duration > 0 ms"):
        Fixed(ms)


@SETTINGS
@given(good=st.lists(positive, max_size=3), bad=not_positive)
def test_choice_needs_positive_finite_options(good: list[float], bad: float) -> None:
    with pytest.raises(ValueError, match=rf"Choice\.options\[{len(good)}\] must be a finite duration > 0 ms"):
        Choice([*good, bad])


@SETTINGS
@given(bad=not_positive, good=positive)
def test_uniform_needs_positive_bounds(bad: float, good: float) -> None:
    with pytest.raises(ValueError, match=r"Uniform\.lo"):
        Uniform(bad, good)
    with pytest.raises(ValueError, match=r"Uniform\.hi"):
        Uniform(good, bad)


@SETTINGS
@given(a=positive, b=positive)
def test_uniform_and_truncexp_need_low_below_high(a: float, b: float) -> None:
    assume(a != b)
    lo, hi = min(a, b), max(a, b)
    with pytest.raises(ValueError, match=r"Uniform\.hi must be >= Uniform\.lo"):
        Uniform(hi, lo)
    with pytest.raises(ValueError, match=r"TruncExp\.hi must be >= TruncExp\.lo"):
        TruncExp(lo, hi, lo)


@SETTINGS
@given(bad=not_positive)
def test_truncexp_needs_a_positive_mean(bad: float) -> None:
    with pytest.raises(ValueError, match=r"TruncExp\.mean"):
        TruncExp(bad, 100.0, 200.0)


@SETTINGS
@given(value=not_numbers)
def test_durations_must_be_numbers(value: object) -> None:
    with pytest.raises(TypeError, match=r"Fixed\.ms must be a number of milliseconds"):
        Fixed(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("options", ["200", 200.0, []], ids=["str", "scalar", "empty"])
def test_choice_needs_a_sequence_of_options(options: object) -> None:
    with pytest.raises((TypeError, ValueError), match=r"Choice\.options"):
        Choice(options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- task arguments


@SETTINGS
@given(dt=not_positive)
def test_dt_must_be_a_positive_finite_step(dt: float) -> None:
    with pytest.raises(ValueError, match="dt must be a finite time step > 0 ms"):
        DelayGo(dt=dt)


@SETTINGS
@given(dt=not_numbers)
def test_dt_must_be_a_number(dt: object) -> None:
    with pytest.raises(TypeError, match="dt must be a number of milliseconds"):
        DelayGo(dt=dt)  # type: ignore[arg-type]


@SETTINGS
@given(dt=st.floats(min_value=801.0, max_value=1e5))
def test_periods_shorter_than_half_a_step_are_refused(dt: float) -> None:
    with pytest.raises(ValueError, match=r"timing\['fixation'\] can be 200\.0 ms, shorter than half a time step"):
        DelayGo(dt=dt)


@SETTINGS
@given(name=st.text(min_size=1, max_size=12).filter(lambda s: s not in DelayGo.period_names))
def test_unknown_period_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="timing has unknown period"):
        DelayGo(timing={name: Fixed(100.0)})


@pytest.mark.parametrize("timing", [{"delay": 400.0}, {"delay": (200, 400)}], ids=["number", "tuple"])
def test_timing_values_must_be_timing_specs(timing: dict) -> None:
    with pytest.raises(TypeError, match=r"timing\['delay'\] must be a TimingSpec"):
        DelayGo(timing=timing)


def test_timing_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="timing must be a mapping"):
        DelayGo(timing=[("delay", Fixed(100.0))])  # type: ignore[arg-type]


@SETTINGS
@given(n=st.integers(max_value=1) | st.integers(min_value=1, max_value=99).map(lambda k: 2 * k + 1))
@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_n_locations_must_be_even_and_at_least_two(cls: type[DelayTask], n: int) -> None:
    with pytest.raises(ValueError, match="n_locations must be an even int >= 2"):
        cls(n_locations=n)


@pytest.mark.parametrize("n", [4.0, True, "8"], ids=["float", "bool", "str"])
def test_n_locations_must_be_an_int(n: object) -> None:
    with pytest.raises(TypeError, match="n_locations must be an even int >= 2"):
        DelayGo(n_locations=n)  # type: ignore[arg-type]


@SETTINGS
@given(std=st.floats(max_value=-1e-9) | st.sampled_from([math.nan, math.inf]))
def test_input_noise_std_must_be_finite_and_not_negative(std: float) -> None:
    with pytest.raises(ValueError, match="input_noise_std must be a finite number >= 0"):
        DelayGo(input_noise_std=std)


@pytest.mark.parametrize("argument", ["fixation_penalty", "correct_reward", "wrong_reward"])
@pytest.mark.parametrize(("value", "error"), [(math.nan, ValueError), (math.inf, ValueError), ("1", TypeError)])
def test_env_rewards_must_be_finite_numbers(argument: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=argument):
        TrialEnv(DelayGo(), **{argument: value})


# ---------------------------------------------------------------------------------------- sample_batch


@SETTINGS
@given(batch_size=st.integers(max_value=0))
def test_batch_size_must_be_positive(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        _task().sample_batch(batch_size, np.random.default_rng(0))


@pytest.mark.parametrize(
    "batch_size", [2.0, True, "4", None, np.array([3])], ids=["float", "bool", "str", "None", "arr"]
)
def test_batch_size_must_be_an_int(batch_size: object) -> None:
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        _task().sample_batch(batch_size, np.random.default_rng(0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rng", [0, None, np.random.RandomState(0), np.random.PCG64(0)], ids=["int", "None", "RandomState", "PCG64"]
)
def test_rng_must_be_a_numpy_generator(rng: object) -> None:
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        _task().sample_batch(4, rng)  # type: ignore[arg-type]


KNOWN_KEYS = {key for cls in TASKS for key in cls().all_condition_domains}


@SETTINGS
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_KEYS))
@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_unknown_condition_keys_are_refused(cls: type[DelayTask], key: str) -> None:
    with pytest.raises(ValueError, match="conditions has unknown key"):
        _task(cls).sample_batch(3, np.random.default_rng(0), conditions={key: 1})


@SETTINGS
@given(length=st.integers(min_value=0, max_value=8).filter(lambda n: n != 3))
@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_condition_arrays_must_have_one_value_per_trial(cls: type[DelayTask], length: int) -> None:
    key = CONDITION[cls]
    with pytest.raises(ValueError, match=rf"conditions\['{key}'\] must be a scalar or have shape \(batch_size,\)"):
        _task(cls).sample_batch(3, np.random.default_rng(0), conditions={key: np.zeros(length, dtype=int)})


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_two_dimensional_conditions_are_refused(cls: type[DelayTask]) -> None:
    key = CONDITION[cls]
    with pytest.raises(ValueError, match=rf"conditions\['{key}'\] must be a scalar or have shape"):
        _task(cls).sample_batch(3, np.random.default_rng(0), conditions={key: np.zeros((3, 1), dtype=int)})


@SETTINGS
@given(value=st.integers(min_value=-(2**63), max_value=-1) | st.integers(min_value=8, max_value=2**63 - 1))
@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_condition_values_outside_their_domain_are_refused(cls: type[DelayTask], value: int) -> None:
    key = CONDITION[cls]
    with pytest.raises(ValueError, match=rf"conditions\['{key}'\] must lie in \[0, 8\)"):
        _task(cls).sample_batch(3, np.random.default_rng(0), conditions={key: value})


@SETTINGS
@given(value=st.floats(min_value=0.01, max_value=7.99).filter(lambda v: v != int(v)))
def test_integer_conditions_refuse_fractions(value: float) -> None:
    with pytest.raises(ValueError, match=r"conditions\['location'\] must hold integers"):
        DelayGo().sample_batch(3, np.random.default_rng(0), conditions={"location": value})


@pytest.mark.parametrize("value", ["left", np.array(["a", "b", "c"]), np.array([None, 1, 2], dtype=object)], ids=repr)
def test_conditions_must_be_numeric(value: object) -> None:
    with pytest.raises(TypeError, match=r"conditions\['location'\] must be numeric"):
        DelayGo().sample_batch(3, np.random.default_rng(0), conditions={"location": value})


@pytest.mark.parametrize("value", [2, -1, 0.5])
def test_flags_must_be_booleans(value: float) -> None:
    with pytest.raises(ValueError, match=r"conditions\['match'\] must be booleans"):
        DelayMatchToSample().sample_batch(3, np.random.default_rng(0), conditions={"match": value})


@SETTINGS
@given(ms=st.floats(max_value=9.99) | st.sampled_from([math.nan, math.inf]))
def test_duration_conditions_must_cover_half_a_step(ms: float) -> None:
    with pytest.raises(ValueError, match=r"conditions\['delay_duration'\] must"):
        DelayGo().sample_batch(3, np.random.default_rng(0), conditions={"delay_duration": ms})


def test_conditions_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="conditions must be a mapping"):
        DelayGo().sample_batch(3, np.random.default_rng(0), conditions=[("location", 1)])  # type: ignore[arg-type]


def test_contradicting_match_and_test_are_refused() -> None:
    conditions = {"sample": 1, "test": 2, "match": True}
    with pytest.raises(ValueError, match=r"conditions\['match'\] contradicts"):
        DelayMatchToSample().sample_batch(3, np.random.default_rng(0), conditions=conditions)


def test_neurogym_task_without_neurogym_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "neurogym", None)
    monkeypatch.setitem(sys.modules, "neurogym.core", None)
    with pytest.raises(ImportError, match=r"pip install 'mtrnn\[neurogym\]'"):
        NeurogymTask("GoNogo-v0")
