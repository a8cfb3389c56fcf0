"""Third-party agents in their own process, with a time limit per task and a memory limit.

Each agent gets a worker process of its own (``python -m mtrnn.agents.evaluation.isolation JOBDIR``; nothing is
shared with the caller or with other agents). The worker imports mtrnn, caps its address space with
``resource.setrlimit(RLIMIT_AS)`` at its own footprint plus ``Limits.memory_mb``, signals that it is ready, then
plays the tasks in order: it imports the agent's code (on the first task), calls the factory, plays the frozen
test set and writes that task's :class:`TaskResult`. The parent allows ``Limits.startup_s`` for the worker's own
start and ``Limits.time_s`` per task for everything the agent does; a worker that runs over is killed (its whole
process group) and a fresh worker takes the remaining tasks, as after a crash. An exception, a hang, a crash of
the interpreter, an out-of-memory error, a wrong output shape or NaNs become a FAILED result for that task with
the reason; the other tasks go on."""

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
    EvaluationResults,
    Machine,
    Status,
    TaskResult,
)
from mtrnn.agents.evaluation.specs import AgentSpec
from mtrnn.agents.evaluation.testsets import TEST_PROTOCOL, frozen_test_set

__all__ = ["Limits", "evaluate_isolated", "run_worker"]

_JOB, _READY, _STARTED, _RESULT, _LOG = "job.json", "ready", "started-{}", "result-{}.json", "worker.log"
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


def _failed(env_id: str, n_trials: int | None, reason: str, seconds: float = 0.0) -> TaskResult:
    test = frozen_test_set(env_id, n_trials)
    return TaskResult(env_id, Status.FAILED, None, test.n_trials, test.first_seed, seconds=seconds, error=reason)


def _run_worker(
    spec: AgentSpec, env_ids: Sequence[str], limits: Limits, n_trials: int | None, playback: str | None
) -> list[tuple[TaskResult, str, str]]:
    """One worker process plays ``env_ids`` in order until it finishes, dies or runs over on a task.

    Returns one entry per task it got to: every finished task, then (when the worker died or was killed) the
    task it was on, as a failure with the reason. The caller starts a fresh worker for the tasks left.
    """
    done: list[tuple[TaskResult, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="mtrnn-eval-") as folder:
        work = Path(folder)
        job = {
            "spec": spec.text,
            "env_ids": list(env_ids),
            "n_trials": n_trials,
            "playback": playback,
            "memory_mb": limits.memory_mb,
            "threads": limits.threads,
        }
        (work / _JOB).write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads)}

        def collect() -> None:
            while len(done) < len(env_ids) and (work / _RESULT.format(len(done))).exists():
                data = json.loads((work / _RESULT.format(len(done))).read_text(encoding="utf-8"))
                done.append((TaskResult.from_dict(data["task"]), data["name"], data["version"]))

        with (work / _LOG).open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mtrnn.agents.evaluation.isolation", str(work)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            launched = time.monotonic()
            clock_index, clock_start = -1, 0.0  # the task whose time is running, and since when
            try:
                while process.poll() is None:
                    collect()
                    index, now = len(done), time.monotonic()
                    if index == len(env_ids):
                        process.wait()
                        break
                    if not (work / _READY).exists():
                        if now - launched > limits.startup_s:
                            _kill(process)
                            reason = f"the worker did not start within {limits.startup_s} s"
                            done.extend((_failed(e, n_trials, reason), "", "") for e in env_ids[index:])
                            return done
                    elif clock_index != index and (work / _STARTED.format(index)).exists():
                        clock_index, clock_start = index, now
                    elif clock_index == index and now - clock_start > limits.time_s:
                        _kill(process)
                        collect()
                        if len(done) == index:
                            reason = f"timeout: the agent exceeded the time limit of {limits.time_s} s"
                            done.append((_failed(env_ids[index], n_trials, reason, now - clock_start), "", ""))
                        return done
                    time.sleep(_POLL_S)
            finally:
                if process.poll() is None:
                    _kill(process)
        collect()
        if len(done) < len(env_ids):
            code = process.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            reason = f"the agent process {how} without a result: {_tail(work / _LOG)}"
            seconds = time.monotonic() - clock_start if clock_index == len(done) else 0.0
            done.append((_failed(env_ids[len(done)], n_trials, reason, seconds), "", ""))
    return done


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
    ids = list(env_ids)
    finished: list[tuple[TaskResult, str, str]] = []
    bar = tqdm(total=len(ids), desc="evaluate", disable=not progress)
    while len(finished) < len(ids):
        got = _run_worker(spec, ids[len(finished) :], limits, n_trials, mode)
        finished.extend(got)
        bar.update(len(got))
    bar.close()
    tasks = [task for task, _, _ in finished]
    names = [(name, version) for _, name, version in finished]
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
    """The worker's main: read the job, play its tasks in order, write one result file per task."""
    import torch

    from mtrnn.agents.evaluation.evaluate import Playback, _dims, evaluate_task

    work = Path(folder)
    job = json.loads((work / _JOB).read_text(encoding="utf-8"))
    torch.set_num_threads(int(job["threads"]))
    spec = AgentSpec.parse(job["spec"])
    playback = None if job["playback"] is None else Playback(job["playback"])
    _limit_memory(job["memory_mb"])
    (work / _READY).write_text("ready", encoding="utf-8")
    factory = None
    for index, env_id in enumerate(job["env_ids"]):
        (work / _STARTED.format(index)).write_text("started", encoding="utf-8")
        test = frozen_test_set(env_id, job["n_trials"])
        start = time.perf_counter()
        name = version = ""
        try:
            factory = factory or spec.factory()
            agent = factory(**_dims(env_id))
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
            task = evaluate_task(agent, env_id, n_trials=job["n_trials"], playback=playback)
        payload = json.dumps({"task": task.to_dict(), "name": name, "version": version})
        temp = work / (_RESULT.format(index) + ".tmp")
        temp.write_text(payload, encoding="utf-8")
        os.replace(temp, work / _RESULT.format(index))
    return 0


if __name__ == "__main__":
    sys.exit(run_worker(sys.argv[1]))
