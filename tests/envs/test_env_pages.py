"""Every registered env's documentation page (its class docstring) states its real spaces and its task's periods."""

from __future__ import annotations

import pydoc

import gymnasium as gym
import pytest

import mtrnn.envs  # noqa: F401  (registers the ids)
from mtrnn.envs import PeriodTask, TrialEnv, all_ids

SECTIONS = ("Description", "Trial periods", "Observation", "Actions", "Rewards", "Arguments", "Reference")


@pytest.mark.parametrize("env_id", all_ids())
def test_page_states_the_real_spaces(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    page = type(env).__doc__
    assert page is not None and page.startswith(env_id)
    assert f"``{env.observation_space}``" in page
    assert f"``{env.action_space}``" in page
    if env.observation_space.is_bounded():
        assert "inf" not in page.replace("info", "")
    assert "Version history" in page or "v0" in page
    assert "## Observation" in pydoc.render_doc(env, renderer=pydoc.plaintext)  # help(env) shows the page


@pytest.mark.parametrize("env_id", [i for i in all_ids() if isinstance(gym.make(i).unwrapped, TrialEnv)])
def test_trial_env_page_has_every_section_period_and_input(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    page = type(env).__doc__
    assert page is not None
    for section in SECTIONS:
        assert f"## {section}" in page
    task = env.task
    periods = task.period_names if isinstance(task, PeriodTask) else ()
    for period in periods:
        assert f"| {period} |" in page
    for word in {name.split(" ")[0] for name in task.input_names}:
        assert word in page
    assert "chunk_size" in page
