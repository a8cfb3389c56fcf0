"""Timing specs (ranges, TruncExp's mean, rounding to steps) and the period layout built from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrnn.envs import Choice, DelayGo, Fixed, Layout, TimingSpec, TruncExp, Uniform, to_steps

durations = st.floats(min_value=1.0, max_value=5000.0, allow_nan=False)
SETTINGS = settings(max_examples=25, deadline=None)


def _draw(spec: TimingSpec, n: int = 2000, seed: int = 0) -> np.ndarray:
    return spec.sample(np.random.default_rng(seed), n)


@SETTINGS
@given(ms=durations)
def test_fixed_always_returns_its_duration(ms: float) -> None:
    spec = Fixed(ms)
    np.testing.assert_array_equal(_draw(spec, 10), np.full(10, ms))
    assert spec.low == spec.high == ms


@SETTINGS
@given(options=st.lists(durations, min_size=1, max_size=6))
def test_choice_draws_only_its_options_and_all_of_them(options: list[float]) -> None:
    spec = Choice(options)
    samples = _draw(spec)
    assert set(samples) == set(options)
    assert (spec.low, spec.high) == (min(options), max(options))


@SETTINGS
@given(a=durations, b=durations)
def test_uniform_samples_lie_within_low_and_high(a: float, b: float) -> None:
    spec = Uniform(min(a, b), max(a, b))
    samples = _draw(spec)
    assert np.all((samples >= spec.low) & (samples <= spec.high))


@SETTINGS
@given(mean=durations, a=durations, b=durations)
def test_truncexp_samples_lie_within_low_and_high(mean: float, a: float, b: float) -> None:
    spec = TruncExp(mean, min(a, b), max(a, b))
    samples = _draw(spec)
    assert np.all((samples >= spec.low) & (samples <= spec.high))


@pytest.mark.parametrize(("mean", "lo", "hi"), [(600.0, 300.0, 3000.0), (200.0, 100.0, 300.0), (1000.0, 50.0, 60.0)])
def test_truncexp_mean_matches_the_truncated_exponential(mean: float, lo: float, hi: float) -> None:
    span = hi - lo
    tail = math.exp(-span / mean)
    expected = lo + mean - span * tail / (1 - tail)  # mean of lo + Exp(mean) truncated at hi
    samples = _draw(TruncExp(mean, lo, hi), n=200_000)
    assert samples.mean() == pytest.approx(expected, rel=0.01)
    assert abs(np.median(samples) - (lo - mean * math.log((1 + tail) / 2))) < 0.02 * span


def test_truncexp_with_equal_bounds_is_fixed() -> None:
    np.testing.assert_array_equal(_draw(TruncExp(500.0, 300.0, 300.0), 5), np.full(5, 300.0))


@pytest.mark.parametrize("spec", [Choice([100, 200, 400]), Uniform(100, 900), TruncExp(300, 100, 900)], ids=repr)
def test_samples_are_reproducible_from_the_seed(spec: TimingSpec) -> None:
    np.testing.assert_array_equal(_draw(spec, seed=4), _draw(spec, seed=4))
    assert not np.array_equal(_draw(spec, seed=4), _draw(spec, seed=5))


@SETTINGS
@given(ms=st.floats(min_value=0.0, max_value=1e5), dt=st.floats(min_value=0.1, max_value=100.0))
def test_to_steps_rounds_to_the_nearest_step(ms: float, dt: float) -> None:
    steps = to_steps(ms, dt)
    assert steps.dtype == np.int64
    assert abs(int(steps) * dt - ms) <= dt / 2 + 1e-9 * ms


@pytest.mark.parametrize(("ms", "dt", "steps"), [(100, 20, 5), (110, 20, 6), (90, 20, 4), (30, 20, 2), (50, 20, 2)])
def test_to_steps_rounds_half_to_even(ms: float, dt: float, steps: int) -> None:
    assert to_steps(ms, dt) == steps


def test_to_steps_keeps_the_shape() -> None:
    ms = np.array([[100.0, 200.0], [300.0, 410.0]])
    np.testing.assert_array_equal(to_steps(ms, 20.0), [[5, 10], [15, 20]])


def test_sampled_durations_become_the_periods_of_the_batch() -> None:
    task = DelayGo(timing={"delay": Uniform(200.0, 1000.0)})
    batch = task.sample_batch(64, np.random.default_rng(0))
    start, stop = batch.periods["delay"]
    np.testing.assert_array_equal(stop - start, to_steps(batch.conditions["delay_duration"], task.dt))
    np.testing.assert_array_equal(batch.periods["go"][1], batch.lengths)


# ---------------------------------------------------------------------------------------- Layout


def _layout(steps: list[list[int]]) -> Layout:
    """Periods "a", "b", "c" back to back with ``steps[p][b]`` steps in trial ``b``."""
    ends = np.cumsum(np.array(steps, dtype=np.int64), axis=0)
    names = ["a", "b", "c"]
    starts = {n: ends[i] - np.array(steps[i]) for i, n in enumerate(names)}
    stops = {n: ends[i] for i, n in enumerate(names)}
    return Layout(starts=starts, stops=stops, lengths=ends[-1], n_steps=int(ends[-1].max()))


UNIFORM = [[2, 2, 2], [3, 3, 3], [1, 1, 1]]
VARIED = [[2, 1, 3], [3, 0, 1], [1, 4, 1]]


def _reference(layout: Layout, values: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros((layout.n_steps, layout.batch_size, *shape), dtype=np.float32)
    for name, value in values.items():
        value = np.broadcast_to(value, (layout.batch_size, *shape))
        for b in range(layout.batch_size):
            out[layout.starts[name][b] : layout.stops[name][b], b] = value[b]
    return out


@pytest.mark.parametrize("steps", [UNIFORM, VARIED], ids=["uniform", "varied"])
def test_piecewise_and_fill_write_each_period_of_each_trial(steps: list[list[int]]) -> None:
    layout = _layout(steps)
    assert layout.uniform == (steps is UNIFORM)
    assert layout.padded == (steps is VARIED)
    values = {"a": np.array([1.0, 0.0]), "c": np.arange(6, dtype=np.float32).reshape(3, 2)}
    expected = _reference(layout, values, (2,))
    np.testing.assert_array_equal(layout.piecewise(values, (2,)), expected)
    out = np.zeros_like(expected)
    for name, value in values.items():
        layout.fill_period(out, name, value)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("steps", [UNIFORM, VARIED], ids=["uniform", "varied"])
def test_masks_match_their_definition(steps: list[list[int]]) -> None:
    layout = _layout(steps)
    t = np.arange(layout.n_steps)[:, None]
    np.testing.assert_array_equal(layout.valid, t < layout.lengths)
    np.testing.assert_array_equal(layout.within("b"), (t >= layout.starts["b"]) & (t < layout.stops["b"]))
    np.testing.assert_array_equal(layout.from_("b"), (t >= layout.starts["b"]) & (t < layout.lengths))
    np.testing.assert_array_equal(layout.between(1, 3), (t >= 1) & (t < 3) & np.ones(layout.batch_size, bool))
    mask = layout.within("a")
    mask[:] = True  # masks are fresh, writable arrays
    assert not layout.within("a").all()


def test_labels_piecewise_keeps_the_integer_dtype() -> None:
    layout = _layout(UNIFORM)
    labels = layout.piecewise({"c": np.array([1, 2, 3])}, dtype=np.int64)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels[-1], [1, 2, 3])
    assert not labels[:-1].any()


def test_period_index_marks_each_steps_period_and_the_padding() -> None:
    task = DelayGo(timing={"delay": Choice([200, 600]), "fixation": Uniform(100, 300)})
    batch = task.sample_batch(40, np.random.default_rng(0))
    layout = Layout(
        starts={p: s for p, (s, _) in batch.periods.items()},
        stops={p: e for p, (_, e) in batch.periods.items()},
        lengths=batch.lengths,
        n_steps=batch.n_steps,
    )
    index = layout.period_index(task.period_names)
    assert index.shape == (batch.n_steps, 40)
    for rank, name in enumerate(task.period_names):
        np.testing.assert_array_equal(index == rank, batch.period_mask(name))
    np.testing.assert_array_equal(index == len(task.period_names), ~batch.valid)
    assert (~batch.valid).any()
