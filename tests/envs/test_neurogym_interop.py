"""neurogym interop: neurogym's wrappers on our envs, and neurogym's envs as mtrnn Tasks (NeurogymTask).

Skipped, with the reason in the report, where neurogym is not installed (``pytest.importorskip``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip(
    "neurogym", reason="neurogym is an optional extra (gymnasium 0.29 only): pip install 'mtrnn[neurogym]'"
)

from neurogym.core import TrialEnv as NeurogymEnv
from neurogym.envs.native.delaymatchsample import DelayMatchSampleDistractor1D
from neurogym.wrappers import Noise, PassAction, PassReward

from mtrnn.envs import NeurogymTask, TrialBatch, TrialEnv
from mtrnn.envs.neurogym_adapter import UNSUPPORTED, _make, _neurogym_quirks, _trial_source

OUR_IDS = [
    "mtrnn/DelayGo-v0",
    "mtrnn/DelayAnti-v0",
    "mtrnn/DelayMatchToSample-v0",
    "mtrnn/DelayAntiMatchToSample-v0",
]
#: neurogym envs with fixed timing (PDM, DMS, GoNogo, incl. no-go trials) and variable timing (context DM).
NEUROGYM_IDS = [
    "PerceptualDecisionMaking-v0",
    "DelayMatchSample-v0",
    "GoNogo-v0",
    "ContextDecisionMaking-v0",
]


def _noise_free_env(env_id: str, **kwargs: object) -> TrialEnv:
    env = gym.make(env_id, input_noise_std=0.0, **kwargs).unwrapped
    assert isinstance(env, TrialEnv)
    return env


def _noisy_rollout(env_id: str, seed: int, n_steps: int) -> np.ndarray:
    env = _noise_free_env(env_id, streaming=True)
    env.reset(seed=seed)
    noisy = Noise(env, std_noise=0.1)
    return np.stack([noisy.step(0)[0] for _ in range(n_steps)])


# ---------------------------------------------------------------------------------------- neurogym's wrappers


@pytest.mark.parametrize("env_id", OUR_IDS)
def test_noise_wrapper_adds_gaussian_noise_from_the_env_rng(env_id: str) -> None:
    env = _noise_free_env(env_id, streaming=True)
    assert env.rng is env.np_random
    noisy = Noise(env, std_noise=0.1)
    obs, _ = noisy.reset()
    observations = [obs]
    for _ in range(400):
        obs, _, terminated, truncated, info = noisy.step(0)
        assert not (terminated or truncated)
        assert {"gt", "new_trial"} <= set(info)
        observations.append(obs)
    stacked = np.stack(observations)
    assert stacked.shape == (401, env.task.n_inputs)
    residual = stacked - np.round(stacked)  # the clean inputs are binary
    assert 0.09 < residual.std() < 0.11
    assert np.isin(env.ob, (0.0, 1.0)).all()  # the wrapper's in-place noise never reaches the env's trial


@pytest.mark.parametrize("env_id", OUR_IDS)
def test_seeded_reset_makes_a_noise_wrapped_env_reproducible(env_id: str) -> None:
    first = _noisy_rollout(env_id, seed=5, n_steps=200)
    np.testing.assert_array_equal(first, _noisy_rollout(env_id, seed=5, n_steps=200))
    assert not np.array_equal(first, _noisy_rollout(env_id, seed=6, n_steps=200))


@pytest.mark.parametrize("env_id", OUR_IDS)
def test_pass_reward_and_pass_action_wrappers_append_reward_and_action(env_id: str) -> None:
    env = _noise_free_env(env_id)
    wrapped = PassReward(PassAction(env))
    assert wrapped.observation_space.shape == (env.task.n_inputs + 2,)
    obs, _ = wrapped.reset(seed=0)
    assert obs.shape == (env.task.n_inputs + 2,)  # the first observation goes through the wrappers too
    wrapped.action_space.seed(0)
    rewards = []
    for _ in range(300):
        action = int(wrapped.action_space.sample())
        obs, reward, terminated, truncated, _ = wrapped.step(action)
        assert obs.shape == (env.task.n_inputs + 2,)
        assert obs[-2] == action
        assert obs[-1] == reward
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = wrapped.reset()
            assert obs.shape == (env.task.n_inputs + 2,)
    assert env.fixation_penalty in rewards


def test_wrapped_reset_without_step_fn_still_returns_the_first_observation() -> None:
    env = _noise_free_env("mtrnn/DelayGo-v0")
    obs, info = env.reset(seed=1)
    np.testing.assert_array_equal(obs, env.ob[0])
    assert info["gt"] == env.gt[0]


# ---------------------------------------------------------------------------------------- NeurogymTask


@pytest.fixture(scope="module", params=NEUROGYM_IDS)
def task(request: pytest.FixtureRequest) -> NeurogymTask:
    return NeurogymTask(request.param)


@pytest.fixture(scope="module")
def batch(task: NeurogymTask) -> TrialBatch:
    return task.sample_batch(24, np.random.default_rng(0))


def test_batch_shapes_match_the_env(task: NeurogymTask, batch: TrialBatch) -> None:
    T, B = batch.n_steps, batch.batch_size
    assert B == 24
    assert batch.lengths.max() == T
    assert task.n_inputs == task.env.observation_space.shape[0]
    assert task.n_outputs == task.n_actions == task.env.action_space.n
    assert batch.inputs.shape == (T, B, task.n_inputs) and batch.inputs.dtype == np.float32
    assert batch.targets.shape == batch.mask.shape == (T, B, task.n_outputs)
    assert batch.targets.dtype == batch.mask.dtype == np.float32
    assert batch.labels.shape == (T, B) and batch.labels.dtype == np.int64
    assert batch.dt == task.dt == task.env.dt
    assert all(np.shape(v) == (B,) for v in batch.conditions.values())
    assert "ground_truth" in batch.conditions


def test_every_column_is_one_neurogym_trial_drawn_from_our_rng(task: NeurogymTask, batch: TrialBatch) -> None:
    env = _make(task.name, {})
    env.seed(int(np.random.default_rng(0).integers(0, 2**32)))
    for b in range(batch.batch_size):
        trial = env.new_trial()
        length = batch.lengths[b]
        assert length == len(env.ob)
        np.testing.assert_array_equal(batch.inputs[:length, b], env.ob)
        np.testing.assert_array_equal(batch.labels[:length, b], env.gt)
        assert batch.conditions["ground_truth"][b] == trial["ground_truth"]
        for name, (start, stop) in batch.periods.items():
            assert (start[b], stop[b]) == (env.start_ind[name], min(env.end_ind[name], length))


def test_targets_are_one_hot_labels_and_mask_covers_valid_steps(task: NeurogymTask, batch: TrialBatch) -> None:
    valid = batch.valid
    expected = np.eye(task.n_outputs, dtype=np.float32)[batch.labels] * valid[:, :, None]
    np.testing.assert_array_equal(batch.targets, expected)
    np.testing.assert_array_equal(batch.mask, np.repeat(valid[:, :, None], task.n_outputs, axis=2))
    assert not batch.inputs[~valid].any()
    assert not batch.labels[~valid].any()


def test_sample_batch_is_reproducible_from_the_seed(task: NeurogymTask) -> None:
    first = task.sample_batch(8, np.random.default_rng(3))
    task.sample_batch(5, np.random.default_rng(99))
    again = task.sample_batch(8, np.random.default_rng(3))
    other = task.sample_batch(8, np.random.default_rng(4))
    np.testing.assert_array_equal(first.inputs, again.inputs)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.inputs[: other.n_steps], other.inputs[: first.n_steps])


def test_targets_score_one(task: NeurogymTask, batch: TrialBatch) -> None:
    np.testing.assert_array_equal(task.score(batch.targets, batch), np.ones(batch.batch_size))


def test_a_wrong_decision_scores_zero(task: NeurogymTask, batch: TrialBatch) -> None:
    correct = task.correct_actions(batch).argmax(axis=1)
    # go trials: another choice (or no choice at all when there is only one); no-go trials: respond
    wrong = np.where(correct == 0, 1, np.where(task.n_actions > 2, correct % (task.n_actions - 1) + 1, 0))
    outputs = batch.targets.copy()
    deciding = batch.period_mask(task.decision_period)
    outputs[deciding] = np.eye(task.n_outputs, dtype=np.float32)[np.broadcast_to(wrong, deciding.shape)[deciding]]
    np.testing.assert_array_equal(task.score(outputs, batch), np.zeros(batch.batch_size))


def test_actions_outside_the_decision_period_do_not_count(task: NeurogymTask, batch: TrialBatch) -> None:
    outputs = batch.targets.copy()
    before = batch.valid & ~batch.period_mask(task.decision_period) & (np.arange(batch.n_steps)[:, None] < 2)
    outputs[before] = np.eye(task.n_outputs, dtype=np.float32)[1]
    np.testing.assert_array_equal(task.score(outputs, batch), np.ones(batch.batch_size))


def test_variable_length_trials_are_padded() -> None:
    task = NeurogymTask("ContextDecisionMaking-v0")
    batch = task.sample_batch(32, np.random.default_rng(1))
    assert batch.lengths.min() < batch.lengths.max() <= task.max_steps
    short = int(batch.lengths.argmin())
    assert not batch.mask[batch.lengths[short] :, short].any()
    assert np.isnan(batch.conditions["delay_duration"]).sum() == 0
    np.testing.assert_array_equal(
        batch.conditions["delay_duration"], (batch.periods["delay"][1] - batch.periods["delay"][0]) * task.dt
    )


def test_noise_is_added_on_request_or_left_to_the_consumer() -> None:
    task = NeurogymTask("GoNogo-v0", input_noise_std=0.5)
    clean = task.sample_batch(16, np.random.default_rng(2), noise=False)
    noisy = task.sample_batch(16, np.random.default_rng(2))
    assert not clean.noise_added and clean.input_noise_std == 0.5
    assert noisy.noise_added
    assert 0.45 < (noisy.inputs - clean.inputs).std() < 0.55


def test_conditions_fix_neurogym_trial_variables() -> None:
    task = NeurogymTask("PerceptualDecisionMaking-v0")
    batch = task.sample_batch(10, np.random.default_rng(0), conditions={"ground_truth": 1, "coh": 51.2})
    np.testing.assert_array_equal(batch.conditions["ground_truth"], np.ones(10))
    np.testing.assert_array_equal(batch.conditions["coh"], np.full(10, 51.2))
    deciding = batch.period_mask("decision")
    assert len(np.unique(batch.labels[deciding])) == 1


def test_max_steps_bounds_trials_or_asks_for_it() -> None:
    assert NeurogymTask("PerceptualDecisionMaking-v0").max_steps == 22
    callable_timing = NeurogymTask("IntervalDiscrimination-v0")
    with pytest.raises(ValueError, match="max_steps"):
        _ = callable_timing.max_steps
    assert NeurogymTask("IntervalDiscrimination-v0", max_steps=80).max_steps == 80


def test_unit_names_come_from_the_neurogym_spaces() -> None:
    task = NeurogymTask("PerceptualDecisionMaking-v0")
    assert task.input_names == ("fixation", "stimulus 1", "stimulus 2")
    assert task.output_names == ("fixation", "choice 1", "choice 2")
    assert task.name == "PerceptualDecisionMaking-v0"


def test_env_kwargs_reach_the_neurogym_env() -> None:
    task = NeurogymTask("PerceptualDecisionMaking-v0", dt=20, dim_ring=4)
    batch = task.sample_batch(4, np.random.default_rng(0))
    assert task.dt == 20.0 and task.n_inputs == 5 and task.n_actions == 5
    assert batch.n_steps == 110


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"env": "NoSuchEnv-v0"}, ValueError, "env must be a registered neurogym id"),
        ({"env": 3}, TypeError, "env must be a neurogym env id"),
        ({"env": "GoNogo-v0", "decision_period": "go"}, ValueError, "decision_period must be one of"),
        ({"env": "GoNogo-v0", "input_noise_std": -1.0}, ValueError, "input_noise_std"),
        ({"env": "GoNogo-v0", "max_steps": 0}, ValueError, "max_steps"),
        ({"env": "GoNogo-v0", "max_steps": 2.5}, TypeError, "max_steps"),
        ({"env": "ReachingDelayResponse-v0"}, ValueError, "not supported by NeurogymTask: a continuous"),
        ({"env": "GoNogo-v0", "decision_period": 3}, TypeError, "decision_period must be a period name"),
        ({"env": "GoNogo-v0", "env_kwargs": {"dt": 20}, "dt": 10}, TypeError, "both in env_kwargs"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        NeurogymTask(**kwargs)


def test_wrapped_env_or_kwargs_with_an_instance_are_refused() -> None:
    env = _make("GoNogo-v0", {})
    with pytest.raises(TypeError, match="env_kwargs"):
        NeurogymTask(env, dt=20)
    with pytest.raises(ValueError, match="PassReward, which changes trials step by step"):
        NeurogymTask(PassReward(env))
    assert NeurogymTask(env).env is env


@pytest.mark.parametrize(
    ("conditions", "error", "match"),
    [
        ({"colour": 1}, ValueError, "unknown key 'colour'"),
        ({"ground_truth": [0, 1]}, ValueError, r"shape \(batch_size,\)"),
        ({"ground_truth": "left"}, TypeError, "must be numeric"),
        ([("ground_truth", 1)], TypeError, "conditions must be a mapping"),
    ],
)
def test_bad_conditions_raise(conditions: object, error: type[Exception], match: str) -> None:
    task = NeurogymTask("GoNogo-v0")
    with pytest.raises(error, match=match):
        task.sample_batch(3, np.random.default_rng(0), conditions=conditions)  # type: ignore[arg-type]


def test_trial_env_plays_a_neurogym_task() -> None:
    env = TrialEnv(NeurogymTask("ContextDecisionMaking-v0"))
    with pytest.warns(UserWarning, match="infinity"):  # neurogym's observations are unbounded
        check_env(env, skip_render_check=True)
    for seed in range(5):
        env.reset(seed=seed)
        gt, t = env.gt.copy(), 0
        while True:
            _, reward, terminated, _, info = env.step(int(gt[t]))
            t += 1
            if terminated:
                break
        assert info["performance"] == 1.0 and reward == env.correct_reward
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first, again)


def test_importing_mtrnn_envs_imports_neither_neurogym_nor_torch() -> None:
    code = "import sys, mtrnn.envs; print('neurogym' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------------------------------- every neurogym id

with _neurogym_quirks():
    ALL_NEUROGYM_IDS = sorted(k for k, spec in gym.registry.items() if "neurogym" in str(spec.entry_point))
COVERED_IDS = [i for i in ALL_NEUROGYM_IDS if str(gym.registry[i].entry_point).rpartition(":")[2] not in UNSUPPORTED]


def test_the_registry_holds_the_ids_the_readme_counts() -> None:
    assert len(ALL_NEUROGYM_IDS) == 52
    assert len(COVERED_IDS) == 39


@pytest.mark.parametrize("env_id", ALL_NEUROGYM_IDS)
def test_every_neurogym_id_is_adapted_or_refused_with_its_listed_reason(env_id: str) -> None:
    if env_id not in COVERED_IDS:
        reason = UNSUPPORTED[str(gym.registry[env_id].entry_point).rpartition(":")[2]]
        with pytest.raises(ValueError, match="not supported by NeurogymTask") as error:
            NeurogymTask(env_id)
        assert reason in str(error.value)
        return
    task = NeurogymTask(env_id)
    batch = task.sample_batch(16, np.random.default_rng(0))
    np.testing.assert_array_equal(task.score(batch.targets, batch), np.ones(16))
    fixate = np.zeros_like(batch.targets)
    fixate[..., 0] = 1.0
    asks = (task._window(batch) & (batch.labels != 0)).any(axis=0)
    assert asks.any()  # every covered task asks for a response on some trials
    np.testing.assert_array_equal(task.score(fixate, batch), (~asks).astype(float))


class _NeurogymReplay:
    """neurogym's own env, to play a trial through its own ``step()``."""

    def __init__(self, env_id: str) -> None:
        with _neurogym_quirks():
            self.env = _make(env_id, {})
        self.source, _ = _trial_source(self.env, NeurogymEnv)
        layer = self.env
        while hasattr(layer, "env"):
            if hasattr(layer, "_has_reset"):
                layer._has_reset = True  # gymnasium's OrderEnforcing inside neurogym's own gym.make
            layer = layer.env

    def performance(self, seed: int, actions: np.ndarray) -> float:
        """``info["performance"]`` of the trial drawn with ``seed``, played with ``actions``."""
        with _neurogym_quirks():
            self.source.seed(seed)
            self.source.new_trial()
            for action in actions:
                info = self.env.step(int(action))[-1]
                if info["new_trial"]:
                    return float(info["performance"])
        raise AssertionError("the trial did not end")


def _policies(batch: TrialBatch, rng: np.random.Generator) -> list[np.ndarray]:
    gt = batch.labels[: batch.lengths[0], 0]
    n = int(batch.inputs.shape[0])
    random = np.where(rng.random(n) < 0.15, rng.integers(1, 1 + int(gt.max(initial=1)), n), 0)
    shifted = [np.concatenate([gt[k:], np.zeros(k, gt.dtype)]) for k in (1, 2, 4)]
    late = [np.concatenate([np.zeros(k, gt.dtype), gt[:-k]]) for k in (1, 3)]
    return [gt, np.zeros_like(gt), random[: len(gt)], *shifted, *late]


@pytest.mark.parametrize("env_id", COVERED_IDS)
def test_score_follows_the_envs_own_performance_rule(env_id: str) -> None:
    """Played through neurogym's own step(), each trial's performance equals our score (a withheld no-go trial,
    on which neurogym never sets performance, scores 1)."""
    task = NeurogymTask(env_id)
    rng = np.random.default_rng(0)
    replay = _NeurogymReplay(env_id)
    checked = 0
    for trial in range(5):
        batch = task.sample_batch(1, np.random.default_rng(trial))
        seed = int(np.random.default_rng(trial).integers(0, 2**32))
        for actions in _policies(batch, rng):
            outputs = np.eye(task.n_outputs, dtype=np.float32)[actions][:, None]
            ours = task.score(outputs, batch)[0]
            theirs = replay.performance(seed, actions)
            window = task._window(batch)[:, 0]
            withheld = not (window & (actions != 0)).any() and not (window & (batch.labels[:, 0] != 0)).any()
            assert ours == (1.0 if withheld else theirs), (trial, actions.tolist(), batch.labels[:, 0].tolist())
            checked += 1
    assert checked == 5 * 8


@pytest.mark.parametrize("env_id", ["ReadySetGo-v0", "MotorTiming-v0", "OneTwoThreeGo-v0"])
def test_timing_tasks_score_a_timed_response_and_never_a_withhold(env_id: str) -> None:
    task = NeurogymTask(env_id)
    batch = task.sample_batch(32, np.random.default_rng(0))
    np.testing.assert_array_equal(task.score(batch.targets, batch), np.ones(32))
    fixate = np.zeros_like(batch.targets)
    fixate[..., 0] = 1.0
    np.testing.assert_array_equal(task.score(fixate, batch), np.zeros(32))
    env = TrialEnv(task)
    env.reset(seed=0)
    gt, t = env.gt.copy(), 0
    while True:
        _, reward, terminated, truncated, info = env.step(int(gt[t]))
        t += 1
        if terminated or truncated:
            break
    assert info["performance"] == 1.0 and reward == env.correct_reward


def test_a_task_describes_itself_and_rebuilds_from_its_description() -> None:
    task = NeurogymTask("ReadySetGo-v0", dt=40, input_noise_std=0.1)
    description = task.to_dict()
    assert json.loads(json.dumps(description)) == description
    assert description["env"] == "ReadySetGo-v0" and description["decision_period"] == "production"
    again = NeurogymTask.from_dict(description)
    first = task.sample_batch(4, np.random.default_rng(0))
    second = again.sample_batch(4, np.random.default_rng(0))
    np.testing.assert_array_equal(first.inputs, second.inputs)
    assert again.dt == 40.0
    with pytest.raises(ValueError, match="env instance"):
        NeurogymTask(_make("GoNogo-v0", {})).to_dict()


def test_the_decision_period_is_picked_from_the_env_or_the_error_lists_the_periods() -> None:
    assert NeurogymTask("DelayMatchCategory-v0").decision_period == "test"
    assert NeurogymTask("GoNogo-v0").decision_period == "decision"

    class Distractors(DelayMatchSampleDistractor1D):  # a class without a known rule: gt asks in three periods
        pass

    with pytest.raises(ValueError, match=r"pass decision_period= one of \['fixation', 'sample'"):
        NeurogymTask(Distractors())
    assert NeurogymTask(Distractors(), decision_period="test1").rule.window == ("test1",)
