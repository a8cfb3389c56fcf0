"""What an agent is: three kinds, each a :class:`typing.Protocol`, told apart by their methods.

* :class:`SequenceAgent` — ``predict(inputs (T, B, n_in)) -> outputs (T, B, n_out)`` (numpy in and out), scored
  by the task's own ``score`` on whole batches (the rule the trainer uses). A ``torch.nn.Module`` whose forward
  maps ``(T, B, n_in)`` to ``(T, B, n_out)`` (or to a tuple whose first element is that) is wrapped as one
  (:class:`TorchSequenceAgent`), as are mtrnn's own networks.
* :class:`StepAgent` — ``reset(batch_size)`` then ``act(observations (B, n_in)) -> actions (B,)`` once per time
  step, judged by the gym env's rule (:func:`mtrnn.envs.decision_outcome`; 0 = fixate, ``k`` = choice ``k``).
* :class:`SB3Policy` — anything with stable-baselines3's ``predict(observation, state, episode_start,
  deterministic) -> (action, state)`` (every SB3 / sb3-contrib algorithm, recurrent ones included), played
  through the gym env trial by trial.

Third-party code hands mtrnn an :class:`AgentFactory`: called once per task with keyword arguments ``env_id``,
``n_inputs``, ``n_outputs`` and ``n_actions``, it returns an agent of any of the three kinds. An agent may carry
``name`` and ``version`` attributes; they go into the results file.
"""

from __future__ import annotations

import enum
import inspect
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

__all__ = [
    "AgentFactory",
    "AgentKind",
    "SB3Policy",
    "SequenceAgent",
    "StepAgent",
    "TorchSequenceAgent",
    "agent_kind",
    "as_agent",
]


@runtime_checkable
class SequenceAgent(Protocol):
    """Maps a whole batch of input sequences to output sequences."""

    def predict(self, inputs: NDArray[np.float32]) -> NDArray[np.floating]:
        """``inputs (T, B, n_in)`` float32 -> ``outputs (T, B, n_out)`` (finite floats), in the task's output
        layout (what ``task.score`` reads: e.g. unit 0 = fixation)."""
        ...


@runtime_checkable
class StepAgent(Protocol):
    """Acts one time step at a time on a batch of trials that run in parallel."""

    def reset(self, batch_size: int) -> None:
        """Start ``batch_size`` new trials (clear any memory)."""
        ...

    def act(self, observations: NDArray[np.float32]) -> NDArray[np.integer]:
        """``observations (B, n_in)`` of the current step -> ``actions (B,)`` ints in ``[0, n_actions)``."""
        ...


@runtime_checkable
class SB3Policy(Protocol):
    """stable-baselines3's prediction interface (``BaseAlgorithm.predict`` / ``BasePolicy.predict``)."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """``observation (n_in,)`` or ``(n_envs, n_in)`` -> ``(action, next recurrent state)``."""
        ...


class AgentFactory(Protocol):
    """Builds the agent for one task (called once per task)."""

    def __call__(self, *, env_id: str, n_inputs: int, n_outputs: int, n_actions: int) -> object:
        """Return a :class:`SequenceAgent`, :class:`StepAgent`, :class:`SB3Policy` or ``torch.nn.Module``."""
        ...


class AgentKind(enum.Enum):
    """How an agent is played (the results file records it per task)."""

    SEQUENCE = "sequence"
    STEP = "step"
    SB3 = "sb3"


class TorchSequenceAgent:
    """A ``torch.nn.Module`` as a :class:`SequenceAgent`: eval mode, no gradients, numpy in and out.

    Args:
        module: maps a ``(T, B, n_in)`` tensor to ``(T, B, n_out)`` or to a tuple whose first element is that
            (mtrnn's :class:`~mtrnn.agents.RecurrentNetwork` returns ``(outputs, states)``).
        extra_inputs: ``(k,)`` values appended to every input step (e.g. the one-hot rule input of a network
            trained on several tasks); None: none.
        name: the agent's name in results files.
        version: its version string.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        extra_inputs: NDArray[np.float32] | None = None,
        name: str | None = None,
        version: str | None = None,
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.module = module.eval()
        self.extra_inputs = None if extra_inputs is None else np.asarray(extra_inputs, dtype=np.float32)
        self.name = name or type(module).__name__
        self.version = version or ""

    def predict(self, inputs: NDArray[np.float32]) -> NDArray[np.floating]:
        """``inputs (T, B, n_in)`` -> ``outputs (T, B, n_out)``."""
        x = np.asarray(inputs, dtype=np.float32)
        if self.extra_inputs is not None:
            extra = np.broadcast_to(self.extra_inputs, (*x.shape[:2], self.extra_inputs.shape[0]))
            x = np.concatenate([x, extra], axis=-1)
        parameter = next(self.module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with torch.no_grad():
            out = self.module(torch.from_numpy(x).to(device))
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"module must return a tensor or a tuple starting with one, got {type(out).__name__}")
        return out.detach().to("cpu", torch.float32).numpy()


def _parameters(method: Any) -> set[str]:
    try:
        return set(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return set()


def agent_kind(agent: object) -> AgentKind:
    """The kind of ``agent`` by its methods (SB3's ``predict`` has an ``episode_start`` parameter).

    Raises:
        TypeError: ``agent`` has none of the three interfaces (the message lists them).
    """
    predict = getattr(agent, "predict", None)
    if callable(predict) and "episode_start" in _parameters(predict):
        return AgentKind.SB3
    if callable(getattr(agent, "act", None)) and callable(getattr(agent, "reset", None)):
        return AgentKind.STEP
    if callable(predict):
        return AgentKind.SEQUENCE
    raise TypeError(
        f"agent must be a sequence agent (predict(inputs (T, B, n_in)) -> (T, B, n_out)), a step agent "
        f"(reset(batch_size) and act(observations (B, n_in)) -> actions (B,)), an SB3 model "
        f"(predict(observation, state, episode_start, deterministic)) or a torch.nn.Module; "
        f"got {type(agent).__name__}"
    )


def as_agent(agent: object) -> tuple[object, AgentKind]:
    """``(agent, kind)``; a ``torch.nn.Module`` without ``predict`` is wrapped as a :class:`TorchSequenceAgent`."""
    if isinstance(agent, torch.nn.Module) and not callable(getattr(agent, "predict", None)):
        agent = TorchSequenceAgent(agent)
    return agent, agent_kind(agent)
