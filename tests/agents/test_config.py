"""TrainConfig: validation errors name the field, JSON round trip, derived values."""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import fields, replace
from typing import Any

import pytest

from mtrnn.agents import Activation, Loss, NetworkConfig, Optimizer, OutputActivation, TrainConfig
from mtrnn.agents.config import available_cores


def test_defaults_are_valid_and_documented() -> None:
    config = TrainConfig()
    assert config.env_ids == ("mtrnn/DelayAnti-v0",)
    assert config.optimizer is Optimizer.ADAM
    assert config.loss is Loss.CROSS_ENTROPY
    assert config.network.output_activation is OutputActivation.IDENTITY


def test_json_round_trip_is_exact() -> None:
    config = TrainConfig(
        env_ids=("mtrnn/DelayGo-v0", "mtrnn/DelayAnti-v0"),
        task_weights=(1.0, 3.0),
        task_kwargs={"mtrnn/DelayAnti-v0": {"n_locations": 4, "dt": 10.0}},
        network=NetworkConfig(
            hidden_size=32, activation=Activation.SOFTPLUS, output_activation=OutputActivation.SIGMOID
        ),
        loss=Loss.MSE,
        optimizer=Optimizer.SGD,
        nesterov=True,
        grad_clip_norm=None,
        grad_clip_value=1.0,
        target_perf=0.9,
        max_time=12.5,
        out_dir="runs/x",
    )
    text = json.dumps(config.to_dict())
    assert TrainConfig.from_dict(json.loads(text)) == config
    assert "dt" not in config.to_dict()["network"]  # the task's dt, stored once


def test_a_legacy_network_dt_moves_to_the_task() -> None:
    data = TrainConfig().to_dict()
    data["network"]["dt"] = 20.0
    assert TrainConfig.from_dict(data) == TrainConfig()
    data["network"]["dt"] = 10.0
    assert TrainConfig.from_dict(data).task_kwargs == {"mtrnn/DelayAnti-v0": {"dt": 10.0}}


def test_from_dict_fills_defaults_and_rejects_unknown_fields() -> None:
    assert TrainConfig.from_dict({"seed": 3}) == TrainConfig(seed=3)
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig.from_dict({"learning_rte": 0.1})
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig.from_dict({"loss": "hinge"})


BAD_VALUES: list[tuple[str, Any, type[Exception]]] = [
    ("env_ids", ("mtrnn/Nope-v0",), ValueError),
    ("env_ids", "mtrnn/DelayGo-v0", TypeError),
    ("env_ids", (), TypeError),
    ("env_ids", ("mtrnn/DelayGo-v0", "mtrnn/DelayGo-v0"), ValueError),
    ("task_weights", (1.0, 2.0), ValueError),
    ("task_weights", (-1.0,), ValueError),
    ("network", {"hidden_size": 8}, TypeError),
    ("loss", "mse", TypeError),
    ("optimizer", "adam", TypeError),
    ("learning_rate", 0.0, ValueError),
    ("learning_rate", math.nan, ValueError),
    ("momentum", 1.0, ValueError),
    ("batch_size", 0, ValueError),
    ("batch_size", 2.5, TypeError),
    ("batch_size", True, TypeError),
    ("grad_clip_norm", 0.0, ValueError),
    ("grad_clip_value", -1.0, ValueError),
    ("l1_weight", -0.1, ValueError),
    ("l2_weight", -0.1, ValueError),
    ("l1_activity", -0.1, ValueError),
    ("l2_activity", math.inf, ValueError),
    ("eval_interval", 0, ValueError),
    ("eval_trials", 0, ValueError),
    ("target_perf", 1.5, ValueError),
    ("target_perf", 0.0, ValueError),
    ("max_steps", 0, ValueError),
    ("max_time", math.inf, ValueError),
    ("seed", -1, ValueError),
    ("device", "gpu0", ValueError),
    ("threads", 0, ValueError),
    ("prefetch", -1, ValueError),
    ("out_dir", "", TypeError),
    ("task_kwargs", {"mtrnn/DelayGo-v0": {"n_locations": 4}}, ValueError),
    ("task_kwargs", {"mtrnn/DelayAnti-v0": {"n_locations": 3}}, ValueError),
    ("task_kwargs", {"mtrnn/DelayAnti-v0": {"colour": "red"}}, TypeError),
    ("task_kwargs", {"mtrnn/DelayAnti-v0": {"dt": object()}}, TypeError),
    ("task_kwargs", ["n_locations"], TypeError),
]


@pytest.mark.parametrize(
    ("name", "value", "error"), BAD_VALUES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_VALUES)]
)
def test_bad_values_raise_errors_naming_the_field(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=name):
        TrainConfig(**{name: value})


def test_errors_state_the_allowed_range() -> None:
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, inf\), got 0"):
        TrainConfig(batch_size=0)


def test_cross_checks_name_the_fields() -> None:
    with pytest.raises(ValueError, match=r"network\.output_activation"):
        TrainConfig(loss=Loss.CROSS_ENTROPY, network=NetworkConfig(output_activation=OutputActivation.SIGMOID))
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(optimizer=Optimizer.SGD, momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match="max_steps and max_time"):
        TrainConfig(max_steps=None, max_time=None)


def test_every_field_has_a_doc_comment() -> None:
    lines = inspect.getsource(TrainConfig).splitlines()
    for f in fields(TrainConfig):
        index = next(i for i, line in enumerate(lines) if line.startswith(f"    {f.name}:"))
        assert lines[index - 1].strip().startswith("#:"), f.name


def test_derived_values_are_properties() -> None:
    config = TrainConfig(network=NetworkConfig(tau=100.0), max_steps=10, batch_size=8, out_dir="runs/abc")
    assert config.alpha == pytest.approx(0.2)
    assert replace(config, task_kwargs={"mtrnn/DelayAnti-v0": {"dt": 10}}).alpha == pytest.approx(0.1)
    assert config.max_trials == 80
    assert config.name == "abc"
    assert str(config.run_dir) == "runs/abc"
    assert config.num_threads == available_cores()
    assert replace(config, threads=1).num_threads == 1
    assert replace(config, prefetch=3).num_prefetch == 3
    assert "alpha" not in config.to_dict()
