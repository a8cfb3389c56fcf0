"""Third-party agents in their own process, one process per task, with a time and a memory limit.

The parent writes a job file and starts ``python -m mtrnn.agents.evaluation.isolation JOBDIR``. The worker
imports mtrnn, caps its address space with ``resource.setrlimit(RLIMIT_AS)`` at its own footprint plus
``Limits.memory_mb``, signals that it is ready, then imports the agent's code, builds the agent for the task,
plays the frozen test set and writes its :class:`TaskResult`. The parent allows ``Limits.startup_s`` for the
worker's own start and ``Limits.time_s`` for everything the agent does (import, factory, evaluation); a worker
that runs over is killed (its whole process group). An exception, a hang, a crash of the interpreter, an
out-of-memory error, a wrong output shape or NaNs become a FAILED result for that task with the reason; the
other tasks and agents are not affected (nothing is shared between workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mtrnn.agents.evaluation.results import (
    AgentInfo,
    ComponentResult,
    EvaluationResults,
    Machine,
    Status,
    TaskResult,
)
from mtrnn.agents.evaluation.specs import AgentSpec
from mtrnn.agents.evaluation.testsets import TEST_PROTOCOL, test_set

__all__ = ["Limits", "evaluate_isolated", "run_worker"]

_JOB, _READY, _RESULT, _LOG = "job.json", "ready", "result.json", "worker.log"
_POLL_S = 0.02


@dataclass(frozen=True)
class Limits:
    """Limits of one isolated task evaluation.

    Attributes:
        time_s: wall seconds for the agent's import, factory and evaluation of one task (> 0).
        memory_mb: address space the agent may add on top of the worker's own footprint, in MiB (>= 64);
            None: no limit. Enforced with ``RLIMIT_AS`` (Linux; a no-op where the OS ignores it).
        startup_s: wall seconds for the worker to start and import mtrnn (not the agent's time).
        threads: torch / BLAS threads of the worker (>= 1).
    """

    time_s: float = 600.0
    memory_mb: int | None = 4096
    startup_s: float = 120.0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("time_s", "startup_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        if self.memory_mb is not None and (
            isinstance(self.memory_mb, bool) or not isinstance(self.memory_mb, int) or self.memory_mb < 64
        ):
            raise ValueError(f"memory_mb must be an int >= 64 (MiB) or None, got {self.memory_mb!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {self.threads!r}")


def _task_from_dict(entry: dict) -> TaskResult:
    return TaskResult(
        env_id=entry["env_id"],
        status=Status(entry["status"]),
        kind=entry["kind"],
        n_trials=entry["n_trials"],
        first_seed=entry["seeds"]["first"],
        n_correct=entry["n_correct"],
        seconds=float(entry["seconds"]),
        error=entry["error"],
        components=tuple(ComponentResult(c["env_id"], c["n_trials"], c["n_correct"]) for c in entry["components"]),
    )


def _tail(path: Path, lines: int = 6) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the worker and everything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_one(
    spec: AgentSpec, env_id: str, limits: Limits, n_trials: int | None, playback: str | None
) -> tuple[TaskResult, str, str]:
    test = test_set(env_id, n_trials)

    def failed(reason: str, seconds: float) -> tuple[TaskResult, str, str]:
        return (
            TaskResult(env_id, Status.FAILED, None, test.n_trials, test.first_seed, seconds=seconds, error=reason),
            "",
            "",
        )

    with tempfile.TemporaryDirectory(prefix="mtrnn-eval-") as folder:
        work = Path(folder)
        job = {
            "spec": spec.text,
            "env_id": env_id,
            "n_trials": n_trials,
            "playback": playback,
            "memory_mb": limits.memory_mb,
            "threads": limits.threads,
        }
        (work / _JOB).write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads)}
        with (work / _LOG).open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mtrnn.agents.evaluation.isolation", str(work)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=os.getcwd(),
                env=env,
                start_new_session=True,
            )
            started = time.monotonic()
            try:
                while not (work / _READY).exists():
                    if process.poll() is not None:
                        break
                    if time.monotonic() - started > limits.startup_s:
                        _kill(process)
                        return failed(
                            f"the worker did not start within {limits.startup_s} s", time.monotonic() - started
                        )
                    time.sleep(_POLL_S)
                ready = time.monotonic()
                try:
                    process.wait(timeout=max(limits.time_s - (time.monotonic() - ready), 0.0))
                except subprocess.TimeoutExpired:
                    _kill(process)
                    return failed(
                        f"timeout: the agent exceeded the time limit of {limits.time_s} s", time.monotonic() - ready
                    )
            finally:
                if process.poll() is None:
                    _kill(process)
        seconds = time.monotonic() - started
        result = work / _RESULT
        if not result.exists():
            code = process.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            return failed(f"the agent process {how} without a result: {_tail(work / _LOG)}", seconds)
        data = json.loads(result.read_text(encoding="utf-8"))
        return _task_from_dict(data["task"]), data["name"], data["version"]


def evaluate_isolated(
    spec: AgentSpec,
    env_ids: Sequence[str],
    *,
    limits: Limits | None = None,
    n_trials: int | None = None,
    playback: object = None,
    name: str | None = None,
    version: str | None = None,
    progress: bool = False,
) -> EvaluationResults:
    """Evaluate the agent of ``spec`` on every id, each task in a fresh worker process with ``limits``."""
    if not isinstance(spec, AgentSpec):
        raise TypeError(f"spec must be an AgentSpec, got {type(spec).__name__}")
    limits = limits or Limits()
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
    mode = getattr(playback, "value", None)
    tasks: list[TaskResult] = []
    names: list[tuple[str, str]] = []
    for env_id in tqdm(list(env_ids), desc="evaluate", disable=not progress):
        task, agent_name, agent_version = _run_one(spec, env_id, limits, n_trials, mode)
        tasks.append(task)
        names.append((agent_name, agent_version))
    from mtrnn.agents.evaluation.evaluate import _now, mtrnn_version

    agent_name = name or next((n for n, _ in names if n), None) or spec.default_name
    agent_version = version if version is not None else next((v for _, v in names if v), "")
    kind = "run_dir" if not spec.third_party else "factory"
    return EvaluationResults(
        agent=AgentInfo(agent_name, agent_version, kind, spec.text, spec.sha256()),
        tasks=tuple(tasks),
        mtrnn_version=mtrnn_version(),
        created=_now(),
        machine=Machine.current(),
        test_protocol=TEST_PROTOCOL,
    )


def _limit_memory(memory_mb: int | None) -> None:
    if memory_mb is None:
        return
    import resource

    footprint = 0
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmSize:"):
                footprint = int(line.split()[1]) * 1024
    limit = footprint + memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_worker(folder: str | os.PathLike[str]) -> int:
    """The worker's main: read the job, evaluate one task, write the result (see the module docstring)."""
    import torch

    from mtrnn.agents.evaluation.evaluate import Playback, _dims, evaluate_task

    work = Path(folder)
    job = json.loads((work / _JOB).read_text(encoding="utf-8"))
    torch.set_num_threads(int(job["threads"]))
    spec = AgentSpec.parse(job["spec"])
    env_id = job["env_id"]
    test = test_set(env_id, job["n_trials"])
    _limit_memory(job["memory_mb"])
    (work / _READY).write_text("ready", encoding="utf-8")
    start = time.perf_counter()
    name = version = ""
    try:
        agent = spec.factory()(**_dims(env_id))
        name = str(getattr(agent, "name", "") or "")
        version = str(getattr(agent, "version", "") or "")
    except Exception as error:
        task = TaskResult(
            env_id,
            Status.FAILED,
            None,
            test.n_trials,
            test.first_seed,
            seconds=time.perf_counter() - start,
            error=f"loading the agent: {type(error).__name__}: {error}",
        )
    else:
        playback = None if job["playback"] is None else Playback(job["playback"])
        task = evaluate_task(agent, env_id, n_trials=job["n_trials"], playback=playback)
    payload = json.dumps({"task": task.to_dict(), "name": name, "version": version})
    temp = work / (_RESULT + ".tmp")
    temp.write_text(payload, encoding="utf-8")
    os.replace(temp, work / _RESULT)
    return 0


if __name__ == "__main__":
    sys.exit(run_worker(sys.argv[1]))
