"""The documentation page of a registered env, generated from its task (gymnasium's page layout).

Sections: Description, Trial periods, Observation, Actions, Rewards, Arguments, Reference, Version history. The
spaces are the ones the env really has (built from the default task), so the page cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from gymnasium import spaces
from gymnasium.core import Env

from mtrnn.envs.task import PeriodTask, Task

if TYPE_CHECKING:
    from mtrnn.envs.registry import EnvEntry

__all__ = ["env_page", "observation_groups"]

#: Trials sampled (noise-free, seed 0) to state each observation group's range.
RANGE_TRIALS = 32

_YEAR = re.compile(r"\(\d{4}\)|et al\.? \d{4}")


def _sections(doc: str) -> dict[str, str]:
    """``## Name`` sections of a docstring (the text before the first one is under ``""``)."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in inspect.cleandoc(doc).splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        else:
            out[current].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def observation_groups(names: Sequence[str]) -> Iterator[tuple[int, int, str]]:
    """Consecutive inputs sharing their first word (``"mod1 0"``, ``"mod1 1"``, …) as ``(first, stop, word)``."""
    start = 0
    for k in range(1, len(names) + 1):
        if k == len(names) or names[k].split(" ")[0] != names[start].split(" ")[0]:
            yield start, k, names[start].split(" ")[0]
            start = k


def _reference(task: Task) -> str:
    """The citation in the docstring of the task's modules (first match along its class hierarchy)."""
    first_paragraph = ""
    for cls in type(task).__mro__:
        module = sys.modules.get(cls.__module__)
        doc = inspect.cleandoc(module.__doc__ or "") if module is not None else ""
        for paragraph in doc.split("\n\n"):
            if _YEAR.search(paragraph):
                return " ".join(paragraph.split())
        if not first_paragraph and doc and cls.__module__.startswith("mtrnn.envs."):
            first_paragraph = " ".join(doc.split("\n\n")[0].split())
    return first_paragraph


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _periods(task: Task) -> list[str]:
    if not isinstance(task, PeriodTask):
        subtasks = getattr(task, "tasks", ())
        if not subtasks:
            return ["Periods and their timing are the task's own; ``info['period']`` names each step's period."]
        lines = ["Each trial is one rule's trial; its periods (decision period in bold):", ""]
        for sub in subtasks:
            if isinstance(sub, PeriodTask):
                names = ", ".join(f"**{p}**" if p == sub.decision_period else p for p in sub.period_names)
                lines.append(f"* {sub.display_name or sub.name}: {names}")
        return lines
    grace = dict(task.grace)
    lines = [
        f"Default timing at dt = {_fmt(task.dt)} ms (durations in ms, rounded to whole steps).",
        "",
        "| period | duration | correct action |",
        "|---|---|---|",
    ]
    decision_index = task.period_names.index(task.decision_period)
    for k, period in enumerate(task.period_names):
        if k < decision_index:
            role = "fixate (0); responding breaks fixation"
        elif k == decision_index:
            role = "the answer (decision period)"
            if period in grace:
                role += f"; first {_fmt(grace[period])} ms are a grace window"
        else:
            role = "after the decision"
        lines.append(f"| {period} | {task.timing[period]!r} | {role} |")
    return lines


def _observation(task: Task, space: spaces.Box) -> list[str]:
    batch = task.sample_batch(RANGE_TRIALS, np.random.default_rng(0), noise=False)
    inputs = batch.inputs[batch.valid]
    names = task.input_names
    lines = [
        f"``{space}``: {task.n_inputs} inputs, noise-free values plus Gaussian noise of std "
        f"{_fmt(task.input_noise_std)} per step, bounded to [{_fmt(float(space.low.min()))}, "
        f"{_fmt(float(space.high.max()))}] (the task's input range ± 8 noise std).",
        "",
        f"| index | inputs | noise-free range (over {RANGE_TRIALS} default trials) |",
        "|---|---|---|",
    ]
    for first, stop, _ in observation_groups(names):
        index = str(first) if stop == first + 1 else f"{first}–{stop - 1}"
        label = names[first] if stop == first + 1 else f"{names[first]} … {names[stop - 1]}"
        low, high = float(inputs[:, first:stop].min()), float(inputs[:, first:stop].max())
        lines.append(f"| {index} | {label} | [{_fmt(low)}, {_fmt(high)}] |")
    return lines


def _actions(task: Task, space: spaces.Discrete) -> list[str]:
    outputs = task.output_names
    if task.n_outputs == task.n_actions:
        choices = f"``{outputs[1]}`` … ``{outputs[-1]}``" if len(outputs) > 2 else f"``{outputs[-1]}``"
        meaning = f"action ``k`` answers with output unit ``k`` ({choices})"
    else:
        meaning = "action ``k`` is choice ``k``"
    return [f"``{space}``: 0 = fixate (``{outputs[0]}``), {meaning}."]


def _arguments(entry: EnvEntry, task: Task) -> list[str]:
    from mtrnn.envs.env import TrialEnv

    lines = ["Env arguments (``gym.make(id, name=value)``):", ""]
    for name, param in inspect.signature(TrialEnv.__init__).parameters.items():
        if param.kind is param.KEYWORD_ONLY:
            lines.append(f"* ``{name}`` = ``{param.default!r}``")
    lines += ["", f"Task arguments (:class:`{type(task).__module__}.{type(task).__qualname__}`):", ""]
    for name, param in inspect.signature(type(task).__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        default = entry.kwargs.get(name, param.default)
        lines.append(f"* ``{name}`` = ``{default!r}``" if default is not param.empty else f"* ``{name}``")
    return lines


def _other_env_page(entry: EnvEntry, task: Task, base: type[Env]) -> str:
    """The page of an id played by another env class: its spaces, then that class's own sections."""
    env = base(task)  # type: ignore[call-arg]
    head = " ".join(_sections(type(task).__doc__ or "")[""].split("\n\n", 1)[0].split())
    parts = [
        f"{entry.id}: {head}",
        "",
        "## Spaces",
        f"Observation ``{env.observation_space}``; actions ``{env.action_space}``.",
        "",
        f"## Environment (:class:`{base.__module__}.{base.__qualname__}`)",
        inspect.cleandoc(base.__doc__ or ""),
        "",
        "## Reference",
        _reference(task) or "mtrnn.",
    ]
    return "\n".join(parts) + "\n"


def env_page(entry: EnvEntry) -> str:
    """The documentation page of a registered env, built from its default task and the env's real spaces."""
    from mtrnn.envs.env import TrialEnv
    from mtrnn.envs.gym_envs import load_entry_point

    task = entry.task(**entry.kwargs)
    base = load_entry_point(entry.entry_point)
    if not issubclass(base, TrialEnv):
        return _other_env_page(entry, task, base)
    env = TrialEnv(task)
    doc = _sections(type(task).__doc__ or "")
    head = doc[""].split("\n\n", 1)
    title = " ".join(head[0].split())
    description = doc.get("Description") or (head[1].strip() if len(head) > 1 else title)
    description = re.split(r"^(?:Args|Attributes):$", description, flags=re.MULTILINE)[0].strip() or title
    answer = getattr(task, "answer", "")
    if answer:
        description += f"\n\nThe right answer: {answer}."
    observation_space = env.observation_space
    action_space = env.action_space
    assert isinstance(observation_space, spaces.Box) and isinstance(action_space, spaces.Discrete)
    version = (doc.get("Version history") or "* v0: initial version.") + (
        "\n* v0, env revision 2: trials drawn in chunks and input noise per step (a new seeding contract), no "
        "registered time limit, actions outside the action space rejected, ``render_mode='rgb_array'``."
    )
    parts = [
        f"{entry.id}: {title}",
        "",
        "## Description",
        description,
        "",
        "## Trial periods",
        *_periods(task),
        "",
        "## Observation",
        *_observation(task, observation_space),
        "",
        "## Actions",
        *_actions(task, action_space),
        "",
        "## Rewards",
        f"``correct_reward`` ({_fmt(env.correct_reward)}) for the first response in the decision period when it "
        f"is correct, ``wrong_reward`` ({_fmt(env.wrong_reward)}) when it is wrong; ``fixation_penalty`` "
        f"({_fmt(env.fixation_penalty)}) for responding on a checked step before the decision period (the trial "
        "ends there when ``abort_on_break``, the default). On a trial whose answer is to withhold (no-go), "
        "``correct_reward`` at the trial's last step if the agent never responded. Grace windows and unchecked "
        "steps give nothing. ``info``: ``gt``, ``period``, ``new_trial``, and ``performance`` at a trial's end.",
        "",
        "## Episodes and seeding",
        "One trial per episode (``terminated=True, truncated=False`` at its end, no time limit), or trials back "
        "to back with ``streaming=True``. Trials come in chunks of ``chunk_size`` from ``np_random``; see "
        ":class:`mtrnn.envs.env.TrialEnv` for the exact seeding contract.",
        "",
        "## Arguments",
        *_arguments(entry, task),
        "",
        "## Reference",
        _reference(task) or "mtrnn.",
        "",
        "## Version history",
        version,
    ]
    return "\n".join(parts) + "\n"
