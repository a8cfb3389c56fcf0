"""The supervised trainer: masked losses, learning, determinism, save/load, kill-and-resume, divergence."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrnn.agents import (
    Activation,
    Architecture,
    Callback,
    Loss,
    NetworkConfig,
    Optimizer,
    OutputActivation,
    RecurrentCell,
    RunDir,
    StopReason,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainState,
    load_agent,
)
from mtrnn.agents.config import available_cores
from mtrnn.agents.losses import masked_cross_entropy, masked_mse
from mtrnn.envs import DelayGo, make_task
from tests.agents.support import InterruptAt, metrics_without_time

TINY = TrainConfig(
    env_ids=("mtrnn/DelayGo-v0",),
    network=NetworkConfig(hidden_size=16, activation=Activation.TANH),
    max_steps=30,
    eval_interval=10,
    eval_trials=32,
    batch_size=16,
    threads=1,
    prefetch=0,
)


# ---------------------------------------------------------------------- losses
@pytest.fixture(scope="module")
def delay_batch():  # type: ignore[no-untyped-def]
    return make_task("mtrnn/DelayGo-v0").sample_batch(8, np.random.default_rng(0), noise=False)


def test_masked_mse_ignores_masked_steps(delay_batch) -> None:  # type: ignore[no-untyped-def]
    mask = torch.from_numpy(delay_batch.mask)
    targets = torch.from_numpy(delay_batch.targets)
    assert (mask == 0).any() and (mask == 1).any()
    outputs = torch.rand(targets.shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    changed = torch.where(mask == 0, outputs.detach() + 100.0, outputs.detach()).requires_grad_(True)
    loss, loss_changed = masked_mse(outputs, targets, mask), masked_mse(changed, targets, mask)
    assert torch.equal(loss, loss_changed)
    loss.backward()
    assert torch.all(outputs.grad[mask == 0] == 0)


def test_masked_cross_entropy_ignores_masked_steps(delay_batch) -> None:  # type: ignore[no-untyped-def]
    step_mask = torch.from_numpy(delay_batch.step_mask)
    labels = torch.from_numpy(delay_batch.labels)
    assert (step_mask == 0).any()
    logits = torch.randn((*labels.shape, 9), generator=torch.Generator().manual_seed(0), requires_grad=True)
    changed = torch.where(step_mask[..., None] == 0, logits.detach() * 50 - 7, logits.detach())
    assert torch.allclose(
        masked_cross_entropy(logits, labels, step_mask), masked_cross_entropy(changed, labels, step_mask)
    )
    masked_cross_entropy(logits, labels, step_mask).backward()
    assert torch.all(logits.grad[step_mask == 0] == 0)


def test_loss_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="same"):
        masked_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="labels"):
        masked_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3))


# ---------------------------------------------------------------------- learning
def test_tiny_run_learns_delay_go_well_above_chance() -> None:
    network = NetworkConfig(hidden_size=64, activation=Activation.TANH)
    config = replace(TINY, network=network, batch_size=64, learning_rate=3e-3, max_steps=400, eval_interval=50)
    result = Trainer(replace(config, target_perf=0.8, eval_trials=128)).train()
    assert result.stop_reason is StopReason.TARGET_REACHED
    assert result.state.performance["mtrnn/DelayGo-v0"] >= 0.8
    assert result.metrics[0]["perf/mtrnn/DelayGo-v0"] < 0.2  # chance: fixate, then 1 of 8 locations
    assert result.state.step <= 400  # seeds 0-3 reach 80% in 100-150 updates, about a second


def test_metrics_rows_and_state() -> None:
    result = Trainer(TINY).train()
    assert [row["step"] for row in result.metrics] == [0, 10, 20, 30]
    assert result.metrics[0]["loss"] is None
    assert all(math.isfinite(row["loss"]) for row in result.metrics[1:])
    assert result.stop_reason is StopReason.MAX_STEPS
    assert result.state.trials == 30 * TINY.batch_size
    assert 0 <= result.state.data_fraction < 1
    assert not result.network.training


def test_prefetch_does_not_change_the_run() -> None:
    first = Trainer(TINY).train().metrics
    second = Trainer(replace(TINY, prefetch=3)).train().metrics
    assert [{k: v for k, v in r.items() if k != "time"} for r in first] == [
        {k: v for k, v in r.items() if k != "time"} for r in second
    ]


def test_seed_changes_the_run() -> None:
    first = Trainer(replace(TINY, max_steps=10)).train().metrics
    second = Trainer(replace(TINY, max_steps=10, seed=1)).train().metrics
    assert first[-1]["loss"] != second[-1]["loss"]


def test_several_tasks_get_rule_inputs_and_one_column_each() -> None:
    config = replace(TINY, env_ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"), max_steps=4, eval_interval=4)
    trainer = Trainer(config)
    assert trainer.network.n_inputs == make_task("mtrnn/DelayGo-v0").n_inputs + 2
    assert trainer.metrics_columns[-3:] == ["perf/mtrnn/DelayGo-v0", "perf/mtrnn/DelayAnti-v0", "change"]
    assert set(trainer.train().state.performance) == {"mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"}


def test_a_task_object_is_recorded_so_that_the_run_directory_rebuilds_it(tmp_path: Path) -> None:
    task = DelayGo(n_locations=4, dt=10.0)
    config = replace(TINY, env_ids=("mtrnn/DelayAnti-v0",), max_steps=3, eval_interval=3, out_dir=str(tmp_path))
    trainer = Trainer(config, task=task, report=False)
    assert trainer.network.n_inputs == 5 and trainer.network.dt == 10.0
    assert trainer.config.env_ids == ("mtrnn/DelayGo-v0",)
    assert trainer.config.task_kwargs == {"mtrnn/DelayGo-v0": {"n_locations": 4, "dt": 10.0}}
    assert trainer.train().state.step == 3
    saved = RunDir(tmp_path).read_config()
    assert saved.env_ids == ("mtrnn/DelayGo-v0",) and saved.build_task().n_inputs == 5
    resumed = Trainer.resume(tmp_path, changes={"max_steps": 4}, report=False)  # no task= needed
    assert resumed.task.n_inputs == 5 and resumed.network.dt == 10.0
    assert load_agent(tmp_path).dt == 10.0


class _OddTask(DelayGo):
    """A user's Task subclass whose constructor argument cannot be read back."""

    def __init__(self, secret: object) -> None:
        super().__init__(n_locations=4)
        self._secret = secret


def test_a_task_the_config_cannot_rebuild_is_recorded_by_its_class_never_as_another_id(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=2, eval_interval=2, out_dir=str(tmp_path))
    trainer = Trainer(config, task=_OddTask(object()), report=False)
    source = trainer.config.custom_task
    assert trainer.config.env_ids == () and source is not None
    assert source.factory.endswith(":_OddTask") and not source.rebuildable
    assert trainer.metrics_columns[-2] == "perf/_OddTask"
    trainer.train()
    with pytest.raises(ValueError, match="pass the same task object again"):
        Trainer.resume(tmp_path)
    assert Trainer.resume(tmp_path, task=_OddTask(object()), report=False).step == 2


def test_yang_mixture_is_scored_per_component_with_squared_loss() -> None:
    network = NetworkConfig(hidden_size=8, output_activation=OutputActivation.SIGMOID)
    config = replace(TINY, env_ids=("mtrnn/Yang19-v0",), network=network, loss=Loss.MSE, max_steps=2, eval_trials=2)
    trainer = Trainer(config)
    assert trainer.network.n_inputs == 85
    columns = [c for c in trainer.metrics_columns if c.startswith("perf/")]
    assert len(columns) == 20
    assert columns[0] == "perf/mtrnn/Yang19-Go-v0" and columns[-1] == "perf/mtrnn/Yang19-DMCNoGo-v0"
    result = trainer.train()
    assert result.state.step == 2 and len(result.state.performance) == 20


# ---------------------------------------------------------------------- callbacks and the curriculum hook
class _StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.stop_step = step
        self.seen: list[TrainState] = []

    def on_step(self, state: TrainState) -> bool:
        self.seen.append(state)
        return state.step < self.stop_step


class _SwitchTask(Callback):
    def __init__(self, at: int) -> None:
        self.at = at
        self.switched = False

    def on_step(self, state: TrainState) -> bool:
        if state.step == self.at:
            self.trainer.set_task(make_task("mtrnn/DelayAnti-v0"))
            self.switched = True
        return True

    def state_dict(self) -> dict[str, bool]:
        return {"switched": self.switched}

    def load_state_dict(self, state: dict[str, bool]) -> None:  # type: ignore[override]
        self.switched = state["switched"]


def test_callback_stops_training_with_a_typed_state() -> None:
    callback = _StopAt(7)
    result = Trainer(TINY, callbacks=[callback]).train()
    assert result.stop_reason is StopReason.CALLBACK
    assert result.state.step == 7
    assert [s.step for s in callback.seen] == list(range(1, 8))
    assert all(isinstance(s, TrainState) and s.batch_size == TINY.batch_size for s in callback.seen)
    assert result.metrics[-1]["step"] == 7


@pytest.mark.parametrize("prefetch", [0, 2])
def test_set_task_switches_the_training_batches(prefetch: int) -> None:
    config = replace(TINY, max_steps=6, prefetch=prefetch)
    switched = Trainer(config, callbacks=[_SwitchTask(at=3)])
    plain = Trainer(config)
    switched.train()
    plain.train()
    assert switched.task.name == "DelayAnti" and plain.task.name == "DelayGo"
    pairs = zip(switched.network.parameters(), plain.network.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)


def test_set_task_rejects_other_sizes() -> None:
    trainer = Trainer(TINY)
    with pytest.raises(ValueError, match="n_inputs"):
        trainer.set_task(make_task("mtrnn/Yang19-Go-v0"))


# ---------------------------------------------------------------------- run directories
def test_save_then_load_agent_gives_identical_outputs(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=5, eval_interval=5, out_dir=str(tmp_path / "run"))
    result = Trainer(config, report=False).train()
    loaded = load_agent(tmp_path / "run")
    inputs = torch.from_numpy(make_task("mtrnn/DelayGo-v0").sample_batch(4, np.random.default_rng(1)).inputs)
    with torch.no_grad():
        expected, expected_states = result.network(inputs)
        outputs, states = loaded(inputs)
    assert torch.equal(outputs, expected) and torch.equal(states, expected_states)
    assert not loaded.training


def test_existing_run_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=2, eval_interval=2, out_dir=str(tmp_path / "run"))
    Trainer(config, report=False).train()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(config).train()
    Trainer(config, overwrite=True, report=False).train()


def test_report_has_curves_and_example_trials(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=2, eval_interval=2, out_dir=str(tmp_path / "run"))
    Trainer(config).train()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "![loss and performance](curves.png)" in report and "trial_DelayGo-v0.png" in report
    for name in ("curves.png", "trial_DelayGo-v0.png"):
        assert (tmp_path / "run" / name).read_bytes()[:4] == b"\x89PNG"


# A stateful callback that changes the task (a curriculum): the same source runs in the killed subprocess and here.
_CURRICULUM = """
class Curriculum(Callback):
    stages = ("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0")

    def __init__(self):
        self.stage = 0
        self.seen = []

    def on_evaluation(self, state):
        self.seen.append(round(state.min_performance, 6))
        if state.step in (10, 20):  # switch after the evaluations of steps 10 and 20
            self.stage = 1 - self.stage
            self.trainer.set_task(make_task(self.stages[self.stage]))
            self.trainer.record_change(f"stage {self.stage}")
        return True

    def state_dict(self):
        return {"stage": self.stage, "seen": list(self.seen)}

    def load_state_dict(self, state):
        self.stage = state["stage"]
        self.seen = list(state["seen"])
        self.trainer.set_task(make_task(self.stages[self.stage]))  # needs init_callback first
"""
_namespace: dict[str, object] = {"Callback": Callback, "make_task": make_task}
exec(_CURRICULUM, _namespace)
Curriculum: type[Callback] = _namespace["Curriculum"]  # type: ignore[assignment]

_KILL_SCRIPT = """
import os, signal, sys
from mtrnn.agents import Callback, TrainConfig, Trainer
from mtrnn.envs import make_task
{curriculum}

class KillAt(Callback):
    def on_step(self, state):
        if state.step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)
        return True

config = TrainConfig.from_dict({config})
Trainer(config, callbacks=[Curriculum(), KillAt()], report=False).train()
"""


def test_killed_run_with_a_curriculum_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=40, eval_interval=10, prefetch=1)
    killed_dir, whole_dir = tmp_path / "killed", tmp_path / "whole"
    script = _KILL_SCRIPT.format(
        kill_at=25, curriculum=_CURRICULUM, config=replace(config, out_dir=str(killed_dir)).to_dict()
    )
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    checkpoint = RunDir(killed_dir).read_checkpoint()
    assert checkpoint.step == 20
    assert checkpoint.callbacks[0].state["stage"] == 0  # switched at 10 and back at 20, saved after the switch

    resumed_curriculum = Curriculum()
    resumed = Trainer.resume(killed_dir, callbacks=[resumed_curriculum], report=False).train()
    whole_curriculum = Curriculum()
    Trainer(replace(config, out_dir=str(whole_dir)), callbacks=[whole_curriculum], report=False).train()
    assert resumed.state.step == 40
    assert metrics_without_time(killed_dir / "metrics.csv") == metrics_without_time(whole_dir / "metrics.csv")
    assert "stage 1" in (whole_dir / "metrics.csv").read_text()
    assert (killed_dir / "model.safetensors").read_bytes() == (whole_dir / "model.safetensors").read_bytes()
    assert resumed_curriculum.seen == whole_curriculum.seen  # type: ignore[attr-defined]


def test_interrupted_run_resumes_its_curriculum_in_process(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=30, eval_interval=10, out_dir=str(tmp_path / "a"))
    trainer = Trainer(config, callbacks=[Curriculum(), InterruptAt(15)], report=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert trainer.last_checkpoint == 10
    with pytest.raises(ValueError, match="callbacks must include a Curriculum"):
        Trainer.resume(tmp_path / "a", report=False).train()
    resumed = Trainer.resume(tmp_path / "a", callbacks=[Curriculum()], report=False)
    resumed.train()
    assert resumed.task.name == "DelayGo"  # back to stage 0 at step 20
    Trainer(replace(config, out_dir=str(tmp_path / "b")), callbacks=[Curriculum()], report=False).train()
    assert metrics_without_time(tmp_path / "a" / "metrics.csv") == metrics_without_time(tmp_path / "b" / "metrics.csv")


def test_resume_may_change_the_budget_and_learning_rate_and_records_it(tmp_path: Path) -> None:
    config = replace(TINY, max_steps=4, eval_interval=2, out_dir=str(tmp_path))
    Trainer(config, report=False).train()
    resumed = Trainer.resume(tmp_path, changes={"max_steps": 6, "learning_rate": 1e-4}, report=False)
    assert all(group["lr"] == 1e-4 for group in resumed.optimizer.param_groups)
    resumed.train()
    rows = RunDir(tmp_path).read_metrics()
    assert [row["step"] for row in rows] == [0, 2, 4, 4, 6]
    assert rows[3]["change"] == "resume: learning_rate 0.001 -> 0.0001; max_steps 4 -> 6"
    assert RunDir(tmp_path).read_config().max_steps == 6
    with pytest.raises(ValueError, match=r"got \['batch_size', 'seed'\]"):
        Trainer.resume(tmp_path, changes={"seed": 1, "batch_size": 3})


def test_the_thread_count_used_is_recorded(tmp_path: Path) -> None:
    trainer = Trainer(replace(TINY, threads=None, max_steps=1, out_dir=str(tmp_path)), report=False)
    assert trainer.config.threads == available_cores()
    trainer.train()
    assert RunDir(tmp_path).read_config().threads == available_cores()


# ---------------------------------------------------------------------- divergence and devices
class _PoisonAt(Callback):
    def __init__(self, step: int) -> None:
        self.at = step

    def on_step(self, state: TrainState) -> bool:
        if state.step == self.at:
            with torch.no_grad():
                self.trainer.network.readout.weight.fill_(math.nan)
        return True


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    config = replace(TINY, out_dir=str(tmp_path / "run"))
    with pytest.raises(TrainingDiverged, match=r"diverged at step 16: the loss is nan.*checkpoint \(step 10\)"):
        Trainer(config, callbacks=[_PoisonAt(15)], report=False).train()
    run = RunDir(tmp_path / "run")
    checkpoint = run.read_checkpoint()
    assert checkpoint.step == 10
    assert all(torch.isfinite(t).all() for t in checkpoint.model.values())
    assert all(torch.isfinite(t).all() for t in load_agent(run.path).state_dict().values())
    assert [row["step"] for row in run.read_metrics()] == [0, 10]


def test_cuda_requested_without_cuda_names_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device is 'cuda'"):
        Trainer(replace(TINY, device="cuda"))


def test_the_network_time_step_is_the_task_s() -> None:
    trainer = Trainer(replace(TINY, task_kwargs={"mtrnn/DelayGo-v0": {"dt": 10}}))
    assert trainer.task.dt == 10.0 and trainer.network.dt == 10.0
    assert trainer.network.cell.alpha == pytest.approx(10.0 / TINY.network.tau)
    with pytest.raises(ValueError, match=r"network\.dt must be None in a TrainConfig.*task_kwargs"):
        replace(TINY, network=NetworkConfig(hidden_size=4, dt=10.0))


def test_threads_are_restored_after_training() -> None:
    before = torch.get_num_threads()
    Trainer(replace(TINY, max_steps=1, threads=1 if before != 1 else 2)).train()
    assert torch.get_num_threads() == before


def test_training_leaves_the_global_torch_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(replace(TINY, max_steps=2)).train()
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------- the update: clipping, penalties, cells
def _sgd(config: TrainConfig, **changes: object) -> TrainConfig:
    network = NetworkConfig(hidden_size=8, recurrent_noise=0.0)
    return replace(config, optimizer=Optimizer.SGD, momentum=0.0, learning_rate=1.0, network=network, **changes)


def test_gradients_are_clipped_by_value_then_by_the_norm_of_the_clipped_gradients() -> None:
    trainer = Trainer(_sgd(TINY, grad_clip_value=0.01, grad_clip_norm=0.05))
    params = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    _, host = trainer._stream.get(0)
    grads = torch.autograd.grad(trainer._loss_of(host), params)
    clipped = [g.clamp(-0.01, 0.01) for g in grads]
    norm = torch.sqrt(sum(c.square().sum() for c in clipped))
    assert norm > 0.05  # both clips act
    expected = [c * (0.05 / (norm + 1e-6)) for c in clipped]
    before = [p.detach().clone() for p in params]
    trainer._update(host, 0)
    steps = [b - p.detach() for b, p in zip(before, params, strict=True)]  # SGD, lr 1: the clipped gradient
    for step, wanted in zip(steps, expected, strict=True):
        assert torch.allclose(step, wanted, atol=1e-7)
    assert float(torch.sqrt(sum(s.square().sum() for s in steps))) == pytest.approx(0.05, rel=1e-4)


@pytest.mark.parametrize(("l1", "l2"), [(1e-3, 0.0), (0.0, 1e-2), (1e-3, 1e-2)])
def test_weight_and_activity_penalties_add_to_the_loss(l1: float, l2: float) -> None:
    plain = Trainer(_sgd(TINY))
    penalised = Trainer(_sgd(TINY, l1_weight=l1, l2_weight=l2, l1_activity=2 * l1, l2_activity=2 * l2))
    _, host = plain._stream.get(0)
    network = plain.network
    weights = [network.cell.weight_in, network.cell.weight_rec, network.readout.weight]  # biases excluded
    with torch.no_grad():
        _, states = network(host["inputs"])
        expected = sum(l1 * w.abs().sum() + l2 * w.square().sum() for w in weights)
        expected = expected + 2 * l1 * states.abs().mean() + 2 * l2 * states.square().mean()
        difference = penalised._loss_of(host) - plain._loss_of(host)
    assert float(difference) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("architecture", [Architecture.GRU, Architecture.LSTM], ids=lambda a: a.value)
def test_gru_and_lstm_train_through_the_trainer(architecture: Architecture, tmp_path: Path) -> None:
    network = NetworkConfig(architecture=architecture, hidden_size=12)
    config = replace(TINY, network=network, max_steps=4, eval_interval=2, out_dir=str(tmp_path))
    result = Trainer(config, report=False).train()
    assert all(math.isfinite(row["loss"]) for row in result.metrics[1:])
    inputs = torch.from_numpy(make_task("mtrnn/DelayGo-v0").sample_batch(2, np.random.default_rng(0)).inputs)
    with torch.no_grad():
        assert torch.equal(load_agent(tmp_path)(inputs)[0], result.network(inputs)[0])


class TinyUserCell(torch.nn.Module):
    """A user's own cell: an nn.Module with the protocol's sizes and one step, nothing of ours subclassed."""

    def __init__(self, n_inputs: int, hidden_size: int) -> None:
        super().__init__()
        self.n_inputs, self.hidden_size, self.state_size = n_inputs, hidden_size, hidden_size
        self.linear = torch.nn.Linear(n_inputs + hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(torch.cat((x, h), dim=-1)))


def test_a_user_cell_trains_through_the_trainer(tmp_path: Path) -> None:
    cell = TinyUserCell(9, 6)
    assert isinstance(cell, RecurrentCell)
    before = cell.linear.weight.detach().clone()
    config = replace(TINY, network=NetworkConfig(hidden_size=6), max_steps=3, eval_interval=3, out_dir=str(tmp_path))
    result = Trainer(config, cell=cell, report=False).train()
    assert result.network.cell is cell and not torch.equal(cell.linear.weight, before)
    assert math.isfinite(result.metrics[-1]["loss"])
    resumed = Trainer.resume(tmp_path, cell=TinyUserCell(9, 6), changes={"max_steps": 4}, report=False)
    assert torch.equal(resumed.network.cell.linear.weight, cell.linear.weight)


# ---------------------------------------------------------------------- evaluation
def test_the_evaluation_set_is_drawn_once_and_noised_like_training() -> None:
    trainer = Trainer(replace(TINY, eval_trials=300))
    sets = trainer.evaluation_sets()
    assert trainer.evaluation_sets() is sets and [b.batch_size for b, _ in sets[0]] == [256, 44]
    again = Trainer(replace(TINY, eval_trials=300)).evaluation_sets()  # a resumed run draws the same trials
    assert torch.equal(again[0][1][1], sets[0][1][1])
    batch, inputs = sets[0][0]
    task = trainer.eval_tasks[0].task
    noise = inputs.numpy() - batch.inputs
    low, high = task.observation_bounds
    assert not batch.noise_added and float(noise.std()) == pytest.approx(task.input_noise_std, rel=0.05)
    assert float(inputs.min()) >= low and float(inputs.max()) <= high
    train_batch, host = trainer._stream.get(0)  # training: the same function, its own seed
    train_noise = host["inputs"].numpy() - train_batch.inputs
    assert float(train_noise.std()) == pytest.approx(task.input_noise_std, rel=0.05)


def test_a_neurogym_task_is_recorded_as_itself(tmp_path: Path) -> None:
    pytest.importorskip("neurogym")
    from mtrnn.envs.neurogym_adapter import NeurogymTask

    task = NeurogymTask("PerceptualDecisionMaking-v0")
    config = replace(TINY, max_steps=2, eval_interval=2, out_dir=str(tmp_path))
    trainer = Trainer(config, task=task, report=False)
    source = trainer.config.custom_task
    assert trainer.config.env_ids == () and source is not None and source.rebuildable
    assert source.factory == "mtrnn.envs.neurogym_adapter:NeurogymTask"
    assert trainer.network.dt == task.dt
    trainer.train()
    assert "mtrnn/" not in (tmp_path / "config.json").read_text()  # never recorded as a registered id
    resumed = Trainer.resume(tmp_path, changes={"max_steps": 3}, report=False)  # rebuilt from config.json
    assert resumed.task.name == task.name and resumed.train().state.step == 3


def test_initial_weights_do_not_depend_on_the_callers_thread_count() -> None:
    """orthogonal_'s QR rounds differently on 1 and 2 threads; the network is built on one thread either way."""
    config = replace(TINY, network=NetworkConfig(hidden_size=64, activation=Activation.TANH))
    weights = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        network = Trainer(config, report=False).network
        weights.append({name: value.detach().clone() for name, value in network.state_dict().items()})
        assert torch.get_num_threads() == threads  # the caller's count is restored
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
