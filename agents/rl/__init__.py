"""Reinforcement learning on mtrnn's tasks: our batched recurrent PPO on whole trial batches, and the
Stable-Baselines3 path (``PPO``, ``A2C``, sb3-contrib ``RecurrentPPO``) on the gym envs.

The batched trainer needs only torch; the SB3 backend needs the ``rl`` extra (``pip install 'mtrnn[rl]'``).
"""

from mtrnn.agents.rl.config import Algo, Backend, RLConfig, default_policy_network, read_rl_config
from mtrnn.agents.rl.policy import RecurrentPolicy, build_policy, load_policy
from mtrnn.agents.rl.ppo import PPOTrainer, RLCallback, RLResult, RLState, act, gae, greedy_actions
from mtrnn.agents.rl.rollout import Outcome, RewardRule, play_trials

__all__ = [
    "Algo",
    "Backend",
    "Outcome",
    "PPOTrainer",
    "RLCallback",
    "RLConfig",
    "RLResult",
    "RLState",
    "RecurrentPolicy",
    "RewardRule",
    "act",
    "build_policy",
    "default_policy_network",
    "gae",
    "greedy_actions",
    "load_policy",
    "play_trials",
    "read_rl_config",
]
