"""Curricula (envs side): each kind advances exactly when its rule says; state round-trips; the gym wrapper."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from mtrnn.envs import DelayAnti, DelayGo
from mtrnn.envs.curriculum import (
    AdvanceRule,
    Curriculum,
    CurriculumKind,
    CurriculumWrapper,
    HeadCurriculum,
    ParameterSchedule,
    RuleSwitch,
)
from mtrnn.envs.memory import NDMS, MemoryEnv, NParity
from mtrnn.envs.timing import Fixed


def _heads_perf(heads: tuple[int, ...], value: float, newest: float | None = None) -> dict[str, float]:
    perf = {f"N={n}": value for n in heads}
    if newest is not None:
        perf[f"N={heads[-1]}"] = newest
    return perf


@pytest.mark.parametrize(
    ("kind", "stages"),
    [
        (CurriculumKind.SINGLE, [(2,), (3,), (4,)]),
        (CurriculumKind.CUMULATIVE, [(2,), (2, 3), (2, 3, 4)]),
        (CurriculumKind.SLIDING, [(2, 3), (3, 4), (4, 5)]),
    ],
)
def test_head_kinds_follow_their_schedule(kind: CurriculumKind, stages: list[tuple[int, ...]]) -> None:
    init = 2 if kind is CurriculumKind.SLIDING else 1
    curriculum = HeadCurriculum(NParity(), kind, n_start=2, init_heads=init)
    assert isinstance(curriculum, Curriculum)
    for stage, heads in enumerate(stages):
        assert curriculum.stage == stage and curriculum.task.heads == heads
        assert isinstance(curriculum.task, NParity)
        assert curriculum.update(_heads_perf(heads, 0.99))


def test_advance_needs_mean_and_newest_above_threshold_strictly() -> None:
    curriculum = HeadCurriculum(NDMS(), CurriculumKind.CUMULATIVE, n_start=2, init_heads=3)
    heads = (2, 3, 4)
    assert not curriculum.update(_heads_perf(heads, 0.98))  # not strictly above
    assert not curriculum.update(_heads_perf(heads, 1.0, newest=0.97))  # mean 0.99 but newest below
    assert not curriculum.update({"N=2": 0.90, "N=3": 0.99, "N=4": 0.99})  # newest fine, mean 0.96
    assert curriculum.stage == 0
    assert curriculum.update(_heads_perf(heads, 0.985))
    assert curriculum.task.heads == (2, 3, 4, 5) and isinstance(curriculum.task, NDMS)


def test_thresholds_are_configurable() -> None:
    curriculum = HeadCurriculum(NParity(), CurriculumKind.SINGLE, rule=AdvanceRule(0.6, 0.7))
    assert not curriculum.update({"N=2": 0.69})
    assert curriculum.update({"N=2": 0.71})


def test_missing_head_in_performance_raises() -> None:
    curriculum = HeadCurriculum(NParity(), CurriculumKind.CUMULATIVE, init_heads=2)
    with pytest.raises(ValueError, match="missing"):
        curriculum.update({"N=2": 1.0})


def test_n_max_stops_the_curriculum() -> None:
    curriculum = HeadCurriculum(NParity(), CurriculumKind.SINGLE, n_start=2, n_max=3)
    assert curriculum.n_stages == 2
    assert curriculum.update({"N=2": 1.0})
    assert curriculum.finished
    assert not curriculum.update({"N=3": 1.0})
    assert curriculum.task.heads == (3,)


def test_rule_switch_on_criterion_and_on_budget() -> None:
    tasks = [DelayGo(), DelayAnti(), DelayGo(dt=10.0)]
    by_criterion = RuleSwitch(tasks, threshold=0.9)
    assert not by_criterion.update({"performance": 0.9})
    assert by_criterion.update({"performance": 0.95})
    assert by_criterion.task is tasks[1] and by_criterion.describe()["curriculum/rule"] == 1
    by_budget = RuleSwitch(tasks, trials_per_stage=100)
    by_budget.observe(64)
    assert not by_budget.update({})
    by_budget.observe(36)
    assert by_budget.update({})
    assert by_budget.trials == 0 and by_budget.task is tasks[1]
    by_budget.observe(100)
    assert by_budget.update({}) and by_budget.finished
    by_budget.observe(1000)
    assert not by_budget.update({})


def test_parameter_schedule_over_a_delay() -> None:
    schedule = ParameterSchedule(
        lambda ms: DelayGo(timing={"delay": Fixed(ms)}), [200.0, 800.0], threshold=0.8, parameter="delay"
    )
    assert schedule.task.timing["delay"] == Fixed(200.0)
    assert schedule.update({"performance": 0.85})
    assert schedule.task.timing["delay"] == Fixed(800.0)


@pytest.mark.parametrize("kind", [CurriculumKind.SINGLE, CurriculumKind.CUMULATIVE, CurriculumKind.SLIDING])
def test_state_dict_round_trip_resumes_mid_curriculum(kind: CurriculumKind) -> None:
    def make() -> HeadCurriculum:
        return HeadCurriculum(NParity(), kind, init_heads=2 if kind is CurriculumKind.SLIDING else 1)

    original = make()
    for _ in range(3):
        original.observe(256)
        original.update(_heads_perf(original.task.heads, 1.0))
    original.observe(17)
    restored = make()
    restored.load_state_dict(original.state_dict())
    assert restored.state_dict() == original.state_dict()
    assert restored.task.heads == original.task.heads and restored.trials == 17


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: HeadCurriculum(NParity(), "cumulative"), TypeError, "kind must"),  # type: ignore[arg-type]
        (lambda: HeadCurriculum(NParity(), CurriculumKind.RULE_SWITCH), TypeError, "kind must"),
        (lambda: HeadCurriculum(DelayGo(), CurriculumKind.SINGLE), TypeError, "task must"),  # type: ignore[arg-type]
        (lambda: HeadCurriculum(NParity(), n_start=0), ValueError, "n_start"),
        (lambda: HeadCurriculum(NParity(), CurriculumKind.SLIDING, forget_heads=2), ValueError, "init_heads"),
        (lambda: AdvanceRule(1.5), ValueError, "mean_threshold"),
        (lambda: RuleSwitch([DelayGo()], threshold=-0.1), ValueError, "threshold"),
        (lambda: RuleSwitch([DelayGo()]), ValueError, "both be None"),
        (lambda: RuleSwitch([DelayGo()], trials_per_stage=0), ValueError, "trials_per_stage"),
    ],
)
def test_bad_arguments_name_the_argument(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_load_state_dict_rejects_a_bad_state() -> None:
    curriculum = RuleSwitch([DelayGo(), DelayAnti()], threshold=0.5)
    with pytest.raises(ValueError, match="stage"):
        curriculum.load_state_dict({"stage": 5, "trials": 0})


def _play(env: gym.Env, episodes: int, answer_right: bool) -> None:
    base = env.unwrapped
    for _ in range(episodes):
        env.reset()
        terminated = False
        while not terminated:
            answers = base.trial.last_step_labels()[0]
            action = answers if answer_right else 1 - answers
            _, _, terminated, _, _ = env.step(int(action[0]) if base.task.n_heads == 1 else action)


def test_wrapper_changes_the_task_between_episodes() -> None:
    curriculum = HeadCurriculum(NParity(), CurriculumKind.CUMULATIVE, n_start=2)
    env = CurriculumWrapper(MemoryEnv(NParity()), curriculum, window=10)
    env.reset(seed=0)
    _play(env, 10, answer_right=False)
    assert curriculum.stage == 0
    _play(env, 9, answer_right=True)
    assert curriculum.stage == 0 and curriculum.trials == 19  # window not complete yet
    _play(env, 1, answer_right=True)  # a full window of correct answers: advance
    assert curriculum.stage == 1
    assert env.unwrapped.task.heads == (2, 3)
    assert env.action_space == gym.spaces.MultiDiscrete([2, 2])
    _, info = env.reset()
    assert info["curriculum"] == {
        "curriculum/stage": 1,
        "curriculum/N": 3,
        "curriculum/N_min": 2,
        "curriculum/heads": 2,
    }


def test_wrapper_switches_the_rule_of_a_trial_env() -> None:
    curriculum = RuleSwitch([DelayGo(), DelayAnti()], trials_per_stage=3)
    env = CurriculumWrapper(gym.make("mtrnn/DelayGo-v0"), curriculum, window=3)
    env.reset(seed=1)
    for _ in range(3):
        terminated = False
        while not terminated:
            _, _, terminated, truncated, _ = env.step(0)
            terminated = terminated or truncated
        env.reset()
    assert isinstance(env.unwrapped.task, DelayAnti)


def test_wrapper_and_direct_updates_make_the_same_decisions() -> None:
    """The decisions the wrapper takes from played episodes equal those of feeding the window means directly."""
    rng = np.random.default_rng(0)
    script = [bool(x) for x in rng.random(60) < 0.7]
    wrapped = HeadCurriculum(NDMS(), CurriculumKind.SINGLE, rule=AdvanceRule(0.75, 0.75))
    env = CurriculumWrapper(MemoryEnv(NDMS()), wrapped, window=4)
    env.reset(seed=0)
    direct = HeadCurriculum(NDMS(), CurriculumKind.SINGLE, rule=AdvanceRule(0.75, 0.75))
    stages_wrapped, stages_direct = [], []
    for start in range(0, len(script), 4):
        chunk = script[start : start + 4]
        for right in chunk:
            _play(env, 1, right)
        direct.observe(4)
        direct.update({f"N={direct.task.heads[0]}": float(np.mean(chunk))})
        stages_wrapped.append(wrapped.stage)
        stages_direct.append(direct.stage)
    assert stages_wrapped == stages_direct
    assert stages_direct[-1] > 0
