"""Third-party agents in their own process: a hang, a hard crash and an out-of-memory agent are recorded as
failures of their task, with the reason, and do not touch the other tasks' results."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mtrnn.agents import evaluate
from mtrnn.agents.evaluation import Limits, Status, evaluate_task, frozen_test_set

AGENTS = textwrap.dedent(
    """
    import os
    import time

    import numpy as np


    class Fixate:
        name = "misbehaving"
        version = "0.1"

        def __init__(self, n_outputs, how):
            self.n_outputs = n_outputs
            self.how = how

        def predict(self, inputs):
            if self.how == "hang":
                time.sleep(600)
            if self.how == "exit":
                os._exit(7)  # the interpreter dies without a word
            if self.how == "memory":
                np.ones(1 << 34, dtype=np.uint8)  # 16 GiB, beyond the memory limit
            outputs = np.zeros((*inputs.shape[:2], self.n_outputs), dtype=np.float32)
            outputs[..., 0] = 1.0
            return outputs


    HOW = {"mtrnn/DelayGo-v0": "hang", "mtrnn/DelayAnti-v0": "exit", "mtrnn/DelayMatchToSample-v0": "memory"}


    def factory(*, env_id, n_inputs, n_outputs, n_actions):
        return Fixate(n_outputs, HOW.get(env_id, "fine"))
    """
)


@pytest.fixture(scope="module")
def agent_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agents") / "misbehaving.py"
    path.write_text(AGENTS)
    return path


def test_hang_crash_and_memory_hog_are_recorded_not_fatal(agent_file: Path) -> None:
    # the good task first; then a MemoryError (the worker survives it), a hard exit and a hang (each ends a worker)
    ids = ["mtrnn/DelayAntiMatchToSample-v0", "mtrnn/DelayMatchToSample-v0", "mtrnn/DelayAnti-v0", "mtrnn/DelayGo-v0"]
    results = evaluate(f"{agent_file}:factory", ids, n_trials=32, limits=Limits(time_s=3.0, memory_mb=1024))
    by_id = {t.env_id: t for t in results.tasks}
    assert "time limit" in (by_id["mtrnn/DelayGo-v0"].error or "")
    assert "exited with code 7" in (by_id["mtrnn/DelayAnti-v0"].error or "")
    assert "MemoryError" in (by_id["mtrnn/DelayMatchToSample-v0"].error or "")
    assert [t.status for t in results.tasks] == [Status.OK] + [Status.FAILED] * 3
    # the good task's number is exactly what the same agent gets in this process
    good = by_id["mtrnn/DelayAntiMatchToSample-v0"]
    test = frozen_test_set("mtrnn/DelayAntiMatchToSample-v0", 32)
    task = test.task()
    no_go = sum(int(task.correct_actions(batch)[:, 0].sum()) for _, batch in test.batches(task))
    assert good.n_correct == no_go
    assert results.agent.name == "misbehaving" and results.agent.version == "0.1"
    assert results.agent.kind == "factory" and results.agent.sha256


def test_unloadable_agent_file_fails_every_task(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('no such framework')\n")
    results = evaluate(f"{broken}:factory", ["mtrnn/DelayGo-v0"], n_trials=8, isolate=False)
    assert results.tasks[0].status is Status.FAILED
    assert "no such framework" in (results.tasks[0].error or "")


@pytest.mark.parametrize(
    ("value", "message"),
    [("no_colon.py", "names no factory"), ("missing.py:factory", "no such file"), ("a-b:factory", "module")],
)
def test_bad_agent_specs_name_the_argument(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(value, ["mtrnn/DelayGo-v0"])


@pytest.mark.parametrize(("field", "value"), [("time_s", 0), ("memory_mb", 10), ("threads", 0)])
def test_limits_are_validated(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})


def test_evaluate_task_rejects_bad_playback() -> None:
    with pytest.raises(TypeError, match="playback"):
        evaluate_task(object(), "mtrnn/DelayGo-v0", playback="gym")  # type: ignore[arg-type]
