"""N-parity and N-DMS (Khajehabdollahi, Zeraati et al., ICLR 2024): labels, lengths, batches, the gym env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs.memory import NDMS, MemoryEnv, MultiHeadBatch, NParity


def _batch_with_bits(task: NParity | NDMS, bits: np.ndarray) -> MultiHeadBatch:
    """Labels of hand-made sequences: ``answers`` on ``bits (T, B)`` with every trial T long."""
    lengths = np.full(bits.shape[1], bits.shape[0], dtype=np.int64)
    return task.answers(bits.astype(np.int8), lengths)


@pytest.mark.parametrize(
    ("sequence", "n", "expected"),
    [([1, 0, 1, 1], 1, 1), ([1, 0, 1, 1], 2, 0), ([1, 0, 1, 1], 3, 0), ([1, 0, 1, 1], 4, 1), ([0, 0, 0, 1, 0], 2, 1)],
)
def test_parity_is_the_sum_of_the_last_n_bits_mod_2(sequence: list[int], n: int, expected: int) -> None:
    answers = _batch_with_bits(NParity(heads=[n]), np.array(sequence)[:, None])
    assert answers.tolist() == [[expected]]


@pytest.mark.parametrize(
    ("sequence", "n", "expected"), [([1, 0, 1, 1], 2, 1), ([1, 0, 1, 1], 3, 0), ([0, 1, 1, 0], 4, 1), ([0, 1], 1, 1)]
)
def test_dms_compares_x_minus_n_with_the_last_bit(sequence: list[int], n: int, expected: int) -> None:
    answers = _batch_with_bits(NDMS(heads=[n]), np.array(sequence)[:, None])
    assert answers.tolist() == [[expected]]


@pytest.mark.parametrize("task_class", [NParity, NDMS])
def test_batch_labels_match_a_per_trial_recount(task_class: type[NParity]) -> None:
    task = task_class(heads=[2, 3, 5])
    batch = task.sample_batch(64, np.random.default_rng(0))
    bits = batch.inputs[..., 0].astype(int)
    for b in range(64):
        x = bits[: batch.lengths[b], b]
        for k, n in enumerate(task.heads):
            want = x[-n:].sum() % 2 if task_class is NParity else int(x[-n] == x[-1])
            assert batch.last_step_labels()[b, k] == want


@pytest.mark.parametrize(("task_class", "factor", "low", "high"), [(NParity, 3.0, 7, 21), (NDMS, 1.5, 7, 13)])
def test_lengths_are_uniform_on_the_papers_range(task_class: type[NParity], factor: float, low: int, high: int) -> None:
    task = task_class(N=5, length_factor=factor)
    lengths = task.sample_batch(20_000, np.random.default_rng(1)).lengths
    assert (task.min_length, task.max_steps) == (low, high)
    counts = np.bincount(lengths, minlength=high + 1)[low : high + 1]
    assert lengths.min() == low and lengths.max() == high
    assert counts.min() > 0.8 * counts.mean()  # every length about equally likely


def test_parity_draws_a_bit_probability_per_trial_and_dms_uses_one_half() -> None:
    parity = NParity(N=10).sample_batch(2000, np.random.default_rng(2))
    ones = (parity.inputs[..., 0] * parity.valid).sum(0) / parity.lengths
    assert np.corrcoef(ones, parity.conditions["p"])[0, 1] > 0.9  # each trial's bits follow its own p
    dms = NDMS(N=3).sample_batch(2000, np.random.default_rng(2))
    assert "p" not in dms.conditions
    valid = dms.valid
    assert abs(dms.inputs[..., 0][valid].mean() - 0.5) < 0.02


def test_parity_bit_probability_is_uniform() -> None:
    p = NParity(N=3).sample_batch(4000, np.random.default_rng(3)).conditions["p"]
    assert abs(np.std(p) - 1 / np.sqrt(12)) < 0.01


@pytest.mark.parametrize("heads", [[4], [2, 3, 4]])
def test_batch_shapes_mask_and_layout(heads: list[int]) -> None:
    task = NParity(heads=heads)
    batch = task.sample_batch(32, np.random.default_rng(4))
    k = len(heads)
    t = batch.n_steps
    assert batch.inputs.shape == (t, 32, 1)
    assert batch.targets.shape == batch.mask.shape == (t, 32, 2 * k)
    assert batch.labels.shape == (t, 32) and batch.head_labels.shape == (t, 32, k)
    assert task.n_outputs == 2 * k and task.head_sizes == (2,) * k
    # the mask selects each trial's last step only
    step_mask = batch.step_mask
    assert step_mask.sum() == 32
    np.testing.assert_array_equal(np.argmax(step_mask, axis=0), batch.lengths - 1)
    # padding is zero, targets are the one-hot class of each head, laid out head by head
    assert not batch.inputs[~batch.valid].any()
    last = batch.targets[batch.lengths - 1, np.arange(32)].reshape(32, k, 2)
    np.testing.assert_array_equal(last.argmax(-1), batch.last_step_labels())
    np.testing.assert_array_equal(batch.labels, batch.head_labels[..., 0])


def test_score_heads_and_score() -> None:
    task = NDMS(heads=[2, 3])
    batch = task.sample_batch(16, np.random.default_rng(5))
    assert task.score(batch.targets, batch).tolist() == [1.0] * 16
    wrong_second = batch.targets.copy()
    wrong_second[..., 2:] = wrong_second[..., 2:][..., ::-1]
    np.testing.assert_array_equal(task.score_heads(wrong_second, batch)[:, 0], 1.0)
    np.testing.assert_array_equal(task.score_heads(wrong_second, batch)[:, 1], 0.0)
    np.testing.assert_array_equal(task.score(wrong_second, batch), 0.5)


def test_select_keeps_head_labels() -> None:
    batch = NParity(heads=[2, 6]).sample_batch(8, np.random.default_rng(6))
    part = batch.select(np.array([1, 3]))
    assert isinstance(part, MultiHeadBatch)
    np.testing.assert_array_equal(part.last_step_labels(), batch.last_step_labels()[[1, 3]])


def test_same_seed_same_batch() -> None:
    a = NParity(heads=[2, 3]).sample_batch(8, np.random.default_rng(7))
    b = NParity(heads=[2, 3]).sample_batch(8, np.random.default_rng(7))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.head_labels, b.head_labels)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"N": 0}, ValueError, "N must"),
        ({"N": 2.5}, TypeError, "N must"),
        ({"heads": []}, TypeError, "heads must"),
        ({"heads": [2, 2]}, ValueError, "heads must not repeat"),
        ({"heads": [0, 2]}, ValueError, r"heads\[0\]"),
        ({"N": 3, "heads": [2, 4]}, ValueError, "N must equal max"),
        ({"length_factor": 0}, ValueError, "length_factor"),
        ({"dt": -1}, ValueError, "dt"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        NParity(**kwargs)


def test_bad_conditions_raise() -> None:
    with pytest.raises(ValueError, match="length"):
        NParity(N=3).sample_batch(2, np.random.default_rng(0), conditions={"length": 2})
    with pytest.raises(ValueError, match="unknown key"):
        NDMS(N=3).sample_batch(2, np.random.default_rng(0), conditions={"p": 0.3})


@pytest.mark.parametrize("env_id", ["mtrnn/NParity-v0", "mtrnn/NDMS-v0"])
@pytest.mark.parametrize("heads", [None, [2, 3, 4]])
def test_env_passes_check_env_and_answers_at_the_last_step(env_id: str, heads: list[int] | None) -> None:
    env = gym.make(env_id, **({} if heads is None else {"heads": heads}))
    check_env(env.unwrapped)
    base = env.unwrapped
    assert isinstance(base, MemoryEnv)
    k = 1 if heads is None else len(heads)
    assert isinstance(env.action_space, gym.spaces.Discrete if k == 1 else gym.spaces.MultiDiscrete)
    for seed in range(5):
        env.reset(seed=seed)
        answers = base.trial.last_step_labels()[0]
        wrong = 1 - answers
        wrong[0] = answers[0]  # head 0 right, the others wrong
        action = int(wrong[0]) if k == 1 else wrong
        total, terminated, steps = 0.0, False, 0
        while not terminated:
            _, reward, terminated, truncated, info = env.step(action)
            total += reward
            steps += 1
            assert not truncated
        assert steps == base.trial.lengths[0]
        assert total == 1.0
        assert info["performance"] == pytest.approx(1 / k)
        assert info["head_performance"] == {f"N={n}": float(i == 0) for i, n in enumerate(base.task.heads)}


def test_env_episode_plays_the_seeded_batch_of_one() -> None:
    env = MemoryEnv(NParity, heads=[3, 5])
    obs, _ = env.reset(seed=11)
    batch = NParity(heads=[3, 5]).sample_batch(1, np.random.default_rng(11))
    played = [obs]
    for _ in range(int(batch.lengths[0]) - 1):
        obs, *_ = env.step(np.zeros(2, dtype=np.int64))
        played.append(obs)
    np.testing.assert_array_equal(np.stack(played), batch.inputs[: batch.lengths[0], 0])


@pytest.mark.parametrize("env_id", ["mtrnn/NParity-v0", "mtrnn/NDMS-v0"])
@pytest.mark.parametrize("action", [-1, 2, 7, 0.5, "1", None, True])
def test_env_rejects_actions_outside_the_space_at_every_step(env_id: str, action: object) -> None:
    env = gym.make(env_id, N=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must lie in Discrete"):
        env.step(action)


def test_multi_head_env_rejects_a_wrong_number_of_answers() -> None:
    env = gym.make("mtrnn/NParity-v0", N=4, heads=[2, 3, 4])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="MultiDiscrete"):
        env.step(np.array([0, 1]))


@pytest.mark.parametrize("value", ["no", 1, None])
def test_env_streaming_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match="streaming must be a bool"):
        gym.make("mtrnn/NParity-v0", streaming=value)


def test_env_renders_the_current_trial_as_rgb() -> None:
    env = gym.make("mtrnn/NDMS-v0", N=2, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8
    assert frame.ndim == 3
    assert frame.shape[2] == 3
    assert frame.std() > 0  # a drawing, not a blank canvas
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        MemoryEnv(NDMS, render_mode="human")
