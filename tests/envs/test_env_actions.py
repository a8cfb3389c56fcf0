"""``TrialEnv`` input checks: actions outside the action space, stepping a finished episode, typed kwargs, render."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import DelayAnti, TrialEnv
from mtrnn.envs.gym_envs import load_entry_point
from mtrnn.envs.registry import ENV_SPECS

TRIAL_IDS = [entry.id for entry in ENV_SPECS if issubclass(load_entry_point(entry.entry_point), TrialEnv)]


def _bad_actions(n: int) -> list[object]:
    return [-1, n, n + 5, np.int64(-1), np.int64(n), 1.0, "1", None, True, np.array([1]), np.array(0.0)]


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_actions_outside_the_action_space_raise_value_error(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    n = int(env.action_space.n)
    env.reset(seed=0)
    for action in _bad_actions(n):  # a rejected action leaves the episode as it was
        with pytest.raises(ValueError, match=rf"action .*Discrete\({n}\)") as error:
            env.step(action)
        assert repr(action) in str(error.value) or str(action) in str(error.value)
    for action in (0, np.int64(0), np.int32(0), np.array(0), np.uint8(0)):
        env.step(action)  # integers of any kind inside the space are fine


def test_a_negative_action_is_never_paid_as_a_correct_answer() -> None:
    env = TrialEnv(DelayAnti(input_noise_std=0.0))
    for seed in range(20):
        env.reset(seed=seed)
        decision = int(env.start_ind["go"]) + 5  # past the grace window
        for _ in range(decision):
            env.step(0)
        with pytest.raises(ValueError, match="action"):
            env.step(-1)


@pytest.mark.parametrize("streaming", [False, True])
def test_step_before_reset_and_after_termination_raise(streaming: bool) -> None:
    env = TrialEnv(DelayAnti(), streaming=streaming)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    terminated = False
    for _ in range(3 * env.task.max_steps):
        _, _, terminated, truncated, _ = env.step(1)  # breaks fixation: the trial aborts
        assert not truncated
        if terminated:
            break
    assert terminated != streaming
    if not streaming:
        with pytest.raises(RuntimeError, match="after the episode terminated"):
            env.step(0)
        env.reset()
        env.step(0)  # a reset starts the next episode


@pytest.mark.parametrize("argument", ["streaming", "abort_on_break"])
@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"])
def test_flags_must_be_bools(argument: str, value: object) -> None:
    with pytest.raises(TypeError, match=argument):
        gym.make("mtrnn/DelayAnti-v0", **{argument: value})


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-3, ValueError), (2.0, TypeError), ("8", TypeError)])
def test_chunk_size_must_be_a_positive_int(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="chunk_size"):
        TrialEnv(DelayAnti(), chunk_size=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["human", "ansi", "rgb", 3])
def test_unknown_render_modes_are_rejected(mode: object) -> None:
    with pytest.raises(ValueError, match="render_mode"):
        TrialEnv(DelayAnti(), render_mode=mode)  # type: ignore[arg-type]


def test_render_rgb_array_draws_the_current_trial() -> None:
    env = gym.make("mtrnn/DelayAnti-v0", render_mode="rgb_array")
    assert "rgb_array" in env.metadata["render_modes"]
    assert env.metadata["render_fps"] == pytest.approx(1000.0 / env.unwrapped.dt)
    env.reset(seed=0)
    first = env.render()
    for _ in range(30):
        env.step(0)
    later = env.render()
    assert isinstance(first, np.ndarray) and first.dtype == np.uint8
    assert first.ndim == 3 and first.shape[2] == 3 and first.shape[0] > 200 and first.shape[1] > 300
    assert first.std() > 10  # a picture, not a blank frame
    assert not np.array_equal(first, later)  # the current-step marker moved


def test_render_mode_none_renders_nothing() -> None:
    env = gym.make("mtrnn/DelayAnti-v0").unwrapped
    env.reset(seed=0)
    assert env.render_mode is None and env.render() is None
