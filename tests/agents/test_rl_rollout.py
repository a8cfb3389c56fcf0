"""Batched rollouts apply exactly the gym env's rule; the recurrent policy starts every trial from its initial state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrnn.agents.networks import Architecture, NetworkConfig
from mtrnn.agents.rl import RewardRule, build_policy, gae, play_trials
from mtrnn.envs import PeriodTask, TrialEnv, make_task

IDS = [
    "mtrnn/DelayGo-v0",
    "mtrnn/DelayAnti-v0",
    "mtrnn/DelayMatchToSample-v0",
    "mtrnn/Yang19-ReactGo-v0",
    "mtrnn/Yang19-DMSNoGo-v0",
    "mtrnn/Yang19-ContextDelayDM1-v0",
]
RULES = [RewardRule(), RewardRule(fixation_penalty=-0.3, correct_reward=1.7, wrong_reward=-0.4, abort_on_break=False)]


def _actions(task: PeriodTask, n_steps: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Mostly fixate, sometimes respond anywhere (so that trials end in every period), plus the right answer late."""
    responding = rng.random((n_steps, batch_size)) < 0.04
    actions = np.where(responding, rng.integers(1, task.n_actions, (n_steps, batch_size)), 0)
    return actions.astype(np.int64)


def _replay(env: TrialEnv, task: PeriodTask, conditions: dict[str, object], actions: np.ndarray) -> tuple:
    """Play one trial through the gym env; returns (rewards, last step, performance, summed return, labels)."""
    env.reset(seed=0, options={"conditions": conditions})
    labels = env.gt.copy()
    rewards, total = [], 0.0
    for t, action in enumerate(actions):
        _, reward, terminated, truncated, info = env.step(int(action))
        rewards.append(reward)
        total += reward
        assert not truncated
        if terminated:
            return np.array(rewards), t, info["performance"], total, labels
    raise AssertionError("the env never terminated the trial")


@pytest.mark.parametrize("rule", RULES, ids=["defaults", "no-abort"])
@pytest.mark.parametrize("env_id", IDS)
def test_batched_outcome_equals_playing_the_same_trials_through_the_gym_env(env_id: str, rule: RewardRule) -> None:
    task = make_task(env_id)
    assert isinstance(task, PeriodTask)
    rng = np.random.default_rng(7)
    batch = task.sample_batch(24, rng)
    actions = _actions(task, batch.n_steps, batch.batch_size, rng)
    # a few trials answer correctly after fixating, so correct outcomes are covered too
    answer = batch.labels[batch.lengths - 1, np.arange(batch.batch_size)]
    actions[:, :4] = 0
    for b in range(4):
        actions[batch.lengths[b] - 1, b] = answer[b]
    outcome = play_trials(actions, batch, task, rule)
    env = TrialEnv(task, **rule.env_kwargs())
    keys = set(task.all_condition_domains)
    for b in range(batch.batch_size):
        conditions = {k: np.asarray(v)[b].item() for k, v in batch.conditions.items() if k in keys}
        rewards, end, performance, total, labels = _replay(env, task, conditions, actions[:, b])
        np.testing.assert_array_equal(labels, batch.labels[: batch.lengths[b], b])  # the same trial
        assert end == outcome.end[b]
        assert performance == outcome.performance[b]
        assert total == outcome.returns[b]  # to the last float
        np.testing.assert_array_equal(rewards, outcome.rewards[: end + 1, b])
        assert outcome.played[: end + 1, b].all() and not outcome.played[end + 1 :, b].any()
    assert outcome.performance[:4].min() == 1.0
    assert 0.0 in outcome.performance


def test_rollout_checks_its_actions() -> None:
    task = make_task("mtrnn/DelayGo-v0")
    batch = task.sample_batch(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="actions must have shape"):
        play_trials(np.zeros((2, 3), dtype=np.int64), batch, task)
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 8\]"):
        play_trials(np.full((batch.n_steps, 3), 9), batch, task)
    with pytest.raises(TypeError, match="actions must be integers"):
        play_trials(np.zeros((batch.n_steps, 3)), batch, task)


def test_reward_rule_round_trips_through_the_env() -> None:
    rule = RULES[1]
    assert RewardRule.of_env(TrialEnv(make_task("mtrnn/DelayGo-v0"), **rule.env_kwargs())) == rule
    with pytest.raises(TypeError, match="abort_on_break must be a bool"):
        RewardRule(abort_on_break="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="correct_reward must be a finite number"):
        RewardRule(correct_reward=float("nan"))


def test_gae_ends_at_each_trials_last_step() -> None:
    rewards = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 2.0]])
    values = torch.tensor([[0.5, 0.1], [0.2, 0.3], [9.0, 0.4]])
    played = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]])  # trial 0 ends at step 1, trial 1 at step 2
    advantages = gae(rewards, values, played, gamma=0.9, lam=0.5)
    d01 = 1.0 - 0.2
    d00 = 0.0 + 0.9 * 0.2 - 0.5
    assert advantages[2, 0] == 0.0
    assert torch.isclose(advantages[1, 0], torch.tensor(d01))
    assert torch.isclose(advantages[0, 0], torch.tensor(d00 + 0.45 * d01))
    d12 = 2.0 - 0.4
    assert torch.isclose(advantages[2, 1], torch.tensor(d12))


@pytest.mark.parametrize("architecture", list(Architecture))
def test_every_trial_starts_from_the_initial_state(architecture: Architecture) -> None:
    """Stepping two trials back to back with a reset at the second one's start gives the batch's logits for it;
    without the reset they differ (so the test can fail)."""
    task = make_task("mtrnn/DelayAnti-v0")
    torch.manual_seed(0)
    config = NetworkConfig(architecture=architecture, hidden_size=16, recurrent_noise=0.0)
    policy = build_policy(config, task.n_inputs, task.n_actions, dt=task.dt)
    batch = task.sample_batch(2, np.random.default_rng(3))
    inputs = torch.from_numpy(batch.inputs)
    with torch.no_grad():
        logits, values, _ = policy(inputs)
    state = policy.initial_state(1)
    for t in range(batch.lengths[0]):
        _, _, state = policy.step(inputs[t, :1], state)
    carried = state
    state = policy.initial_state(1)  # the reset at the trial start
    stepped, carried_logits = [], []
    for t in range(batch.lengths[1]):
        step_logits, step_value, state = policy.step(inputs[t, 1:], state)
        stepped.append(step_logits[0])
        carried_logits.append(policy.step(inputs[t, 1:], carried)[0][0])
        carried = policy.step(inputs[t, 1:], carried)[2]
        assert torch.allclose(step_value[0], values[t, 1], atol=1e-5)
    torch.testing.assert_close(torch.stack(stepped), logits[: batch.lengths[1], 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(torch.stack(carried_logits), logits[: batch.lengths[1], 1], atol=1e-5)


@pytest.mark.parametrize("architecture", list(Architecture))
def test_run_is_forward_through_the_fast_kernel(architecture: Architecture) -> None:
    """``policy.run`` (torch's fused LSTM for the LSTM) gives ``forward``'s logits, values and last state, also
    when the sequence is split in two chunks carrying the state; gradients flow through it."""
    torch.manual_seed(0)
    config = NetworkConfig(architecture=architecture, hidden_size=16, recurrent_noise=0.0)
    policy = build_policy(config, 9, 9, dt=20.0)
    inputs = torch.randn(12, 5, 9)
    logits, values, states = policy(inputs)
    run_logits, run_values, last = policy.run(inputs)
    torch.testing.assert_close(run_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run_values, values, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, states[-1], atol=1e-5, rtol=1e-5)
    second, _, _ = policy.run(inputs[7:], policy.run(inputs[:7])[2])
    torch.testing.assert_close(second, logits[7:], atol=1e-5, rtol=1e-5)
    run_logits.sum().backward()
    assert all(p.grad is not None for p in policy.parameters())
