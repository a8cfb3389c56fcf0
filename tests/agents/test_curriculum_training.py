"""Curricula in the trainer: head growth, the Levina network, the callback, exact resume, the CLI."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrnn.agents import TrainConfig, Trainer, TrainState
from mtrnn.agents.cli import main
from mtrnn.agents.config import Continual, Optimizer
from mtrnn.agents.curriculum import CurriculumCallback, resize_heads
from mtrnn.agents.networks import Activation, NetworkConfig, build_network
from mtrnn.agents.rundir import RunDir
from mtrnn.envs import (
    NDMS,
    AdvanceRule,
    CurriculumKind,
    CurriculumWrapper,
    DelayGo,
    Fixed,
    HeadCurriculum,
    MemoryEnv,
    ParameterSchedule,
)
from tests.agents.support import InterruptAt, metrics_without_time


def _levina(train_tau: bool = True, hidden: int = 16, heads: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    config = NetworkConfig(
        hidden_size=hidden,
        activation=Activation.LEAKY_RELU,
        train_tau=train_tau,
        nonlinearity_inside=False,
        recurrent_noise=0.0,
        tau=2.0,
    )
    return build_network(config, 1, [2] * heads, dt=1.0)


def _step(network: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor) -> None:
    optimizer.zero_grad()
    outputs, _ = network(inputs)
    outputs[-1].square().sum().backward()
    optimizer.step()


@pytest.mark.parametrize(("keep", "add"), [([0, 1, 2], 1), ([1, 2], 2), ([0], 0)])
def test_resizing_heads_keeps_the_kept_heads_outputs_and_optimiser_state(keep: list[int], add: int) -> None:
    network = _levina()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.1, nesterov=True)
    inputs = torch.from_numpy((np.random.default_rng(0).random((12, 5, 1)) < 0.5).astype(np.float32))
    _step(network, optimizer, inputs)
    weight = network.readout.weight
    with torch.no_grad():
        before, _ = network(inputs)
    momentum = optimizer.state[weight]["momentum_buffer"].clone()
    resize_heads(network, keep, add, optimizer=optimizer, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        after, _ = network(inputs)
    rows = [2 * k + j for k in keep for j in range(2)]
    assert network.readout.weight is weight  # the same Parameter: the optimiser still trains it
    assert network.head_sizes == (2,) * (len(keep) + add) and after.shape[-1] == network.n_outputs
    torch.testing.assert_close(after[..., : 2 * len(keep)], before[..., rows])
    state = optimizer.state[weight]["momentum_buffer"]
    torch.testing.assert_close(state[: 2 * len(keep)], momentum[rows])
    assert not state[2 * len(keep) :].any()
    if add:
        assert network.readout.weight[2 * len(keep) :].abs().sum() > 0  # initialised, not zero
        assert not network.readout.bias[2 * len(keep) :].any()
    _step(network, optimizer, inputs)  # the optimiser keeps working on the resized parameters


def test_resize_heads_rejects_bad_indices() -> None:
    with pytest.raises(ValueError, match="keep must"):
        resize_heads(_levina(), [0, 3], 1)
    with pytest.raises(ValueError, match="at least one head"):
        resize_heads(_levina(), [], 0)


@pytest.mark.parametrize("train_tau", [False, True])
def test_fixed_tau_stays_fixed_and_trained_tau_learns(train_tau: bool) -> None:
    network = _levina(train_tau=train_tau)
    cell = network.cell
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.1, nesterov=True)
    tau_before = cell.tau_steps.detach().clone()
    inputs = torch.from_numpy((np.random.default_rng(1).random((12, 8, 1)) < 0.5).astype(np.float32))
    for _ in range(3):
        _step(network, optimizer, inputs)
        torch.nn.utils.clip_grad_norm_(network.parameters(), 2.0)
    names = {name for name, _ in network.named_parameters()}
    if train_tau:
        assert "cell.tau" in names
        assert not torch.equal(cell.tau_steps, tau_before)
        assert (cell.tau_steps >= 1).all()
        assert not torch.diagonal(cell.recurrent_weight()).any()
    else:
        assert not any("tau" in name for name in names)
        torch.testing.assert_close(cell.tau_steps, tau_before)
        assert cell.alpha == 0.5  # dt 1 / tau 2


# ---------------------------------------------------------------------------------------------- with the trainer
def _tiny_config(**changes: object) -> TrainConfig:
    network = NetworkConfig(
        hidden_size=8,
        activation=Activation.LEAKY_RELU,
        train_tau=True,
        nonlinearity_inside=False,
        recurrent_noise=0.0,
    )
    base = TrainConfig(
        env_ids=("mtrnn/NParity-v0",),
        network=network,
        optimizer=Optimizer.SGD,
        learning_rate=0.05,
        momentum=0.1,
        nesterov=True,
        grad_clip_norm=2.0,
        batch_size=8,
        eval_interval=5,
        eval_trials=16,
        max_steps=30,
        threads=1,
        prefetch=0,
        curriculum=CurriculumKind.CUMULATIVE,
    )
    return dataclasses.replace(base, **changes)


def test_trainer_and_wrapper_make_the_same_decisions() -> None:
    """The same performance sequence, once from played gym episodes (wrapper), once as the trainer's evaluations
    (callback): the same stages, and the trainer's network follows with one head per N."""
    script = [True, False, True, True, True, True, True, True, False, True, True, True] * 2
    window = 3
    rule = AdvanceRule(0.6, 0.6)
    wrapped = HeadCurriculum(NDMS(), CurriculumKind.CUMULATIVE, rule=rule)
    env = CurriculumWrapper(MemoryEnv(NDMS()), wrapped, window=window)
    env.reset(seed=0)
    trainer = Trainer(_tiny_config(env_ids=("mtrnn/NDMS-v0",), curriculum=None), report=False)
    callback = CurriculumCallback(HeadCurriculum(NDMS(), CurriculumKind.CUMULATIVE, rule=rule))
    callback.init_callback(trainer)
    stages_env, stages_trainer = [], []
    for start in range(0, len(script), window):
        chunk = script[start : start + window]
        heads = callback.curriculum.task.heads
        for right in chunk:  # every head right or every head wrong
            env.reset()
            base = env.unwrapped
            terminated = False
            while not terminated:
                answers = base.trial.last_step_labels()[0]
                action = answers if right else 1 - answers
                _, _, terminated, _, _ = env.step(int(action[0]) if len(answers) == 1 else action)
        mean = float(np.mean(chunk))
        performance = {"mtrnn/NDMS-v0": mean, **{f"mtrnn/NDMS-v0/N={n}": mean for n in heads}}
        callback.on_evaluation(TrainState(step=start, batch_size=8, elapsed=0.0, performance=performance))
        stages_env.append(wrapped.stage)
        stages_trainer.append(callback.curriculum.stage)
    assert stages_env == stages_trainer and stages_env[-1] >= 2
    assert trainer.task.heads == wrapped.task.heads
    assert trainer.network.head_sizes == (2,) * len(wrapped.task.heads)
    changes = [row["change"] for row in trainer.metrics if "change" in row]
    assert len(changes) == stages_trainer[-1] and changes[0].startswith("curriculum stage 1")


_KILL_SCRIPT = """
import os, signal
from mtrnn.agents import Callback, TrainConfig, Trainer

class KillAt(Callback):
    def on_step(self, state):
        if state.step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)
        return True

Trainer(TrainConfig.from_dict({config}), callbacks=[KillAt()], report=False).train()
"""


def test_killed_run_resumes_mid_curriculum_to_the_same_metrics(tmp_path: Path) -> None:
    """kill -9 after the readout grew; --resume regrows it from the checkpoint and replays the same run."""
    config = _tiny_config(advance_threshold=None, trials_per_stage=40)  # a new head at every evaluation
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    script = _KILL_SCRIPT.format(kill_at=17, config=dataclasses.replace(config, out_dir=str(killed)).to_dict())
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    assert RunDir(killed).read_checkpoint().step == 15
    assert main(["--resume", str(killed), "--no-progress"]) == 0
    Trainer(dataclasses.replace(config, out_dir=str(whole)), report=False).train()
    rows = metrics_without_time(whole / "metrics.csv")
    assert metrics_without_time(killed / "metrics.csv") == rows
    assert [row["change"] for row in rows if row["change"]][-1] == "curriculum stage 6: NParity heads N=2..8"
    assert rows[-2]["perf/mtrnn/NParity-v0/N=7"] != ""  # the N=8 head came with the last evaluation
    assert (killed / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()
    assert RunDir(whole).model_shape()[1] == (2,) * 7


def test_cli_trains_a_sliding_curriculum(tmp_path: Path) -> None:
    out = tmp_path / "sliding"
    argv = ["--task", "mtrnn/NParity-v0", "--curriculum", "sliding", "--n-start", "3", "--init-heads", "2"]
    argv += ["--advance-threshold", "none", "--trials-per-stage", "40", "--hidden-size", "8", "--batch-size", "8"]
    argv += ["--max-steps", "10", "--eval-interval", "5", "--eval-trials", "16", "--threads", "1", "--prefetch", "0"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    changes = [row["change"] for row in RunDir(out).read_metrics() if row.get("change")]
    assert changes == ["curriculum stage 1: NParity heads N=4..5", "curriculum stage 2: NParity heads N=5..6"]
    assert RunDir(out).model_shape()[1] == (2, 2)


def test_single_head_curriculum_reuses_its_one_head() -> None:
    config = _tiny_config(curriculum=CurriculumKind.SINGLE, advance_threshold=None, trials_per_stage=40, max_steps=10)
    trainer = Trainer(config, report=False)
    trainer.train()
    assert trainer.task.heads == (4,) and trainer.network.head_sizes == (2,)


def test_rule_switch_with_projection_resumes_exactly_in_process(tmp_path: Path) -> None:
    config = _tiny_config(
        env_ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"),
        curriculum=CurriculumKind.RULE_SWITCH,
        continual=Continual.PROJECTION,
        network=NetworkConfig(hidden_size=8, recurrent_noise=0.0),
        optimizer=Optimizer.ADAM,
        learning_rate=1e-2,
        advance_threshold=None,
        trials_per_stage=40,
        max_steps=20,
        out_dir=str(tmp_path / "a"),
    )
    trainer = Trainer(config, callbacks=[InterruptAt(12)], report=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    state = RunDir(tmp_path / "a").read_checkpoint().callbacks[0].state
    assert state["curriculum"]["stage"] == 1 and state["projection"]["tasks_done"] == 1
    Trainer.resume(tmp_path / "a", report=False).train()
    Trainer(dataclasses.replace(config, out_dir=str(tmp_path / "b")), report=False).train()
    rows = metrics_without_time(tmp_path / "a" / "metrics.csv")
    assert rows == metrics_without_time(tmp_path / "b" / "metrics.csv")
    assert {"perf/mtrnn/DelayGo-v0", "perf/mtrnn/DelayAnti-v0"} <= set(rows[0])
    assert [row["change"] for row in rows if row["change"]] == ["curriculum stage 1: mtrnn/DelayAnti-v0"]


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"curriculum": "cumulative"}, TypeError, "curriculum must"),
        ({"n_start": 0}, ValueError, "n_start"),
        ({"advance_threshold": 1.5}, ValueError, "advance_threshold"),
        ({"advance_threshold": None}, ValueError, "both be None"),
        ({"continual": Continual.PROJECTION}, ValueError, "needs curriculum 'rule-switch'"),
        ({"projection_alpha": 0.0}, ValueError, "projection_alpha"),
    ],
)
def test_bad_curriculum_settings_name_the_field(changes: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _tiny_config(**changes)


def test_head_curriculum_needs_a_memory_task() -> None:
    with pytest.raises(ValueError, match="memory task"):
        Trainer(_tiny_config(env_ids=("mtrnn/DelayGo-v0",)), report=False)


def test_levina_initial_state_is_a_seeded_uniform_draw() -> None:
    config = NetworkConfig(hidden_size=6, activation=Activation.LEAKY_RELU, train_tau=True, initial_state_scale=0.1)
    network = build_network(config, 1, 2, dt=1.0)
    inputs = torch.zeros(3, 4, 1)
    torch.manual_seed(5)
    _, states = network(inputs)
    torch.manual_seed(5)
    h0 = 0.1 * torch.rand(4, 6)
    _, expected = network(inputs, h0)
    torch.testing.assert_close(states, expected)
    assert not torch.equal(states, network(inputs, torch.zeros(4, 6))[1])


def test_a_difficulty_schedule_trains_and_evaluates_its_current_task() -> None:
    schedule = ParameterSchedule(lambda ms: DelayGo(timing={"delay": Fixed(ms)}), [200.0, 600.0], trials_per_stage=8)
    config = _tiny_config(
        env_ids=("mtrnn/DelayGo-v0",),
        curriculum=None,
        network=NetworkConfig(hidden_size=8),
        max_steps=4,
        eval_interval=2,
    )
    trainer = Trainer(config, callbacks=[CurriculumCallback(schedule)], report=False)
    trainer.train()
    assert schedule.stage == 1 and trainer.task.timing["delay"] == Fixed(600.0)
    assert trainer.eval_tasks[0].task is trainer.task and trainer.eval_tasks[0].env_id == "mtrnn/DelayGo-v0"
