"""The seeding contract of ``TrialEnv`` (see its docstring), for every id, episodic and streaming.

After ``reset(seed=s)`` the k-th trial played is trial ``k % C`` of the ``k // C``-th chunk
``draw_chunk(task, C, default_rng(s))``. An observation is that trial's noise-free input at its step plus
``clip(z, -8, 8) * std``, ``z`` a row of the float32 standard normal rows of
``default_rng(SeedSequence(s).spawn(1)[0])``, consumed in order: each chunk takes ``C * HEAD_STEPS`` rows when
drawn (row ``b * HEAD_STEPS + t`` for step ``t < HEAD_STEPS`` of its trial ``b``), each later step's observation
the next row when it is returned.
"""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import DelayAnti, Fixed, TrialBatch, TrialEnv
from mtrnn.envs.env import HEAD_STEPS, NOISE_CLIP, draw_chunk
from mtrnn.envs.gym_envs import load_entry_point
from mtrnn.envs.registry import ENV_SPECS

TRIAL_IDS = [entry.id for entry in ENV_SPECS if issubclass(load_entry_point(entry.entry_point), TrialEnv)]
CHUNK = 3
TRIALS = 7  # three chunks


def _expected(env: TrialEnv, seed: int, lengths: list[int]) -> tuple[list, list[np.ndarray]]:
    """The first trials after ``reset(seed=seed)`` and the noise of their first ``lengths[k]`` observations."""
    rng = np.random.default_rng(seed)
    trials = []
    for _ in range(-(-TRIALS // CHUNK)):
        chunk = draw_chunk(env.task, CHUNK, rng)
        trials += [chunk.select(np.array([b])) for b in range(CHUNK)]
    rows = sum(lengths) + CHUNK * HEAD_STEPS * len(trials)
    noise_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    z = noise_rng.standard_normal((rows, env.task.n_inputs), dtype=np.float32)
    noise = np.clip(z, -NOISE_CLIP, NOISE_CLIP) * np.float32(env.task.input_noise_std)
    at, head, per_trial = 0, 0, []
    for k, length in enumerate(lengths):
        if k % CHUNK == 0:  # the chunk is drawn: it takes its head rows
            head, at = at, at + CHUNK * HEAD_STEPS
        first = head + (k % CHUNK) * HEAD_STEPS
        tail = max(length - HEAD_STEPS, 0)
        per_trial.append(np.concatenate([noise[first : first + min(length, HEAD_STEPS)], noise[at : at + tail]]))
        at += tail
    return trials[:TRIALS], per_trial


def _period_of(trial: TrialBatch, step: int) -> str:
    """The period holding ``step`` (the last declared one if several do)."""
    names = [name for name, (start, stop) in trial.periods.items() if start[0] <= step < stop[0]]
    return names[-1] if names else ""


def _policy(t: int, trial_index: int) -> int:
    """Fixate through even trials, respond with 1 at step 3 of odd ones (an abort or an early answer)."""
    return 1 if trial_index % 2 and t == 3 else 0


@pytest.mark.parametrize("env_id", TRIAL_IDS)
@pytest.mark.parametrize("streaming", [False, True], ids=["episodic", "streaming"])
def test_kth_trial_and_its_noise_follow_the_contract(env_id: str, streaming: bool) -> None:
    env = gym.make(env_id, chunk_size=CHUNK, streaming=streaming).unwrapped
    assert isinstance(env, TrialEnv)
    seed = 11
    obs, info = env.reset(seed=seed)
    played: list[list[np.ndarray]] = [[obs]]
    gts: list[list[int]] = [[]]
    periods: list[list[str]] = [[]]
    terminal = []
    returned = [obs]  # every observation, in the order reset/step returned them
    k, t = 0, 0
    while k < TRIALS:
        obs, _, terminated, _, info = env.step(_policy(t, k))
        returned.append(obs)
        gts[k].append(info["gt"])
        periods[k].append(info["period"])
        t += 1
        if info["new_trial"]:
            k, t = k + 1, 0
            if streaming:
                played.append([obs])
            else:
                assert terminated
                terminal.append(obs)
                obs, _ = env.reset()
                returned.append(obs)
                played.append([obs])
            gts.append([])
            periods.append([])
        else:
            played[k].append(obs)
    trials, noise = _expected(env, seed, [len(p) for p in played[:TRIALS]])
    for k in range(TRIALS):
        trial = trials[k]
        clean = trial.inputs[:, 0]
        np.testing.assert_array_equal(np.stack(played[k]), clean[: len(played[k])] + noise[k])
        np.testing.assert_array_equal(gts[k], trial.labels[: len(gts[k]), 0])
        assert periods[k] == [_period_of(trial, step) for step in range(len(periods[k]))]
        if not streaming:  # the episode ends on a copy of its last observation
            np.testing.assert_array_equal(terminal[k], played[k][-1])
    # users keep what they are given (gymnasium >= 1.3 checks this): no two successive returns share memory
    assert not any(np.shares_memory(a, b) for a, b in itertools.pairwise(returned))


@pytest.mark.parametrize("env_id", TRIAL_IDS)
def test_same_seed_same_rewards_and_other_seed_other_trials(env_id: str) -> None:
    def run(seed: int) -> tuple[np.ndarray, list[float]]:
        env = gym.make(env_id).unwrapped
        env.reset(seed=seed)
        env.action_space.seed(seed)
        observations, rewards = [], []
        for _ in range(150):
            obs, reward, terminated, _, _ = env.step(env.action_space.sample())
            observations.append(obs)
            rewards.append(reward)
            if terminated:
                env.reset()
        return np.stack(observations), rewards

    first, again, other = run(4), run(4), run(5)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1]
    assert not np.array_equal(first[0], other[0])


def test_conditions_reset_plays_a_batch_of_one_then_a_fresh_chunk() -> None:
    env = gym.make("mtrnn/DelayAnti-v0", chunk_size=4, input_noise_std=0.0).unwrapped
    env.reset(seed=2)
    obs, info = env.reset(options={"conditions": {"location": 5}})
    assert info["trial"]["location"] == 5
    rng = np.random.default_rng(2)
    draw_chunk(env.task, 4, rng)  # the stream's first chunk (its trial 0 was played)
    single = env.task.sample_batch(1, rng, conditions={"location": 5}, noise=False)
    np.testing.assert_array_equal(env.ob, single.inputs[:, 0])
    fresh = draw_chunk(env.task, 4, rng)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, fresh.inputs[0, 0])


def test_trial_and_neurogym_surface_describe_the_current_trial() -> None:
    env = gym.make("mtrnn/Yang19-DelayAnti-v0", chunk_size=5).unwrapped
    env.reset(seed=0)
    for _ in range(3):
        env.reset()
    chunk = draw_chunk(env.task, 5, np.random.default_rng(0))
    trial = env.trial
    assert trial is not None and trial.batch_size == 1
    length = int(chunk.lengths[3])
    np.testing.assert_array_equal(trial.inputs[:, 0], chunk.inputs[:length, 3])
    np.testing.assert_array_equal(env.gt, chunk.labels[:length, 3])
    assert env.start_ind == {name: int(start[3]) for name, (start, _) in chunk.periods.items()}
    assert not env.ob.flags.writeable


def test_trials_shorter_than_the_head_still_take_head_steps_rows_each() -> None:
    task = DelayAnti(dt=100.0, timing={name: Fixed(100.0) for name in ("fixation", "stimulus", "delay", "go")})
    env = TrialEnv(task, chunk_size=2)
    played = [[env.reset(seed=3)[0]]]
    while len(played) < 4:  # always fixate: each 4-step trial runs to its end
        obs, _, terminated, _, _ = env.step(0)
        if terminated:
            played.append([env.reset()[0]])
        else:
            played[-1].append(obs)
    rng = np.random.default_rng(3)
    noise_rng = np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0])
    z = noise_rng.standard_normal((3 * 2 * HEAD_STEPS, task.n_inputs), dtype=np.float32)
    noise = np.clip(z, -NOISE_CLIP, NOISE_CLIP) * np.float32(task.input_noise_std)
    chunks = [draw_chunk(task, 2, rng) for _ in range(2)]
    for k in range(3):
        steps = len(played[k])
        assert steps == 4 < HEAD_STEPS
        clean = chunks[k // 2].inputs[:steps, k % 2]
        np.testing.assert_array_equal(np.stack(played[k]), clean + noise[k * HEAD_STEPS : k * HEAD_STEPS + steps])
