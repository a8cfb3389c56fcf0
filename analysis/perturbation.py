"""Ablation and perturbation of trained networks (Khajehabdollahi, Zeraati et al. 2024, ICLR; Yang et al. 2019).

* **Ablation** removes units: each ablated unit's row and column of the recurrent weights, its input weights,
  bias and readout weights are set to 0 (LevinaLab/rnn_timescale_public ``perturbation_type='ablation'``, plus
  the bias so that a removed unit is silent). GRU and LSTM: the unit's rows in every gate of the input and
  recurrent weights and biases, and its column of the recurrent weights. An ablated unit has no influence on the
  outputs or on any other unit.
* **Perturbation** adds a random direction of fixed relative size (their "normalized" perturbation, after
  Eq. 5 of the NeurIPS 2020 paper they cite): ``W ← W + ε‖W‖_F·d/‖d‖``, ``d ~ N(0, 1)`` of W's shape, for
  ``ε ∈ {0} ∪ geomspace(1e-2, 10, 10)`` (:data:`DEFAULT_EPSILONS`), performance averaged over random directions.
  Targets: the recurrent weights, or the trained time constants τ (``τ ← τ + ε‖τ‖·d/‖d‖``; with
  :attr:`PerturbTarget.TAU_POSITIVE` the direction is ``|d|``, their "normalized tau abs").

Networks are always copied: the caller's network is never modified.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from mtrnn.agents.cells import LeakyRNNCell, TorchGRUCell, TorchLSTMCell
from mtrnn.agents.networks import RecurrentNetwork
from mtrnn.analysis.drive import check_positive_int, copy_network, evaluate_performance
from mtrnn.envs.task import Task

__all__ = [
    "DEFAULT_EPSILONS",
    "AblationResult",
    "PerturbTarget",
    "PerturbationResult",
    "ablate",
    "ablation_effect",
    "perturb",
    "perturbation_curve",
]

#: ``{0} ∪ geomspace(1e-2, 10, 10)``, the perturbation strengths of Khajehabdollahi, Zeraati et al. 2024.
DEFAULT_EPSILONS: NDArray[np.float64] = np.concatenate([[0.0], np.geomspace(1e-2, 10.0, 10)])


class PerturbTarget(enum.Enum):
    """What :func:`perturb` changes."""

    RECURRENT_WEIGHTS = "recurrent_weights"
    """``W_rec`` (leaky RNN), ``weight_hh`` (GRU, LSTM)."""
    TAU = "tau"
    """The trained per-unit τ of a τ-trainable leaky RNN, direction ``d ~ N(0, 1)``."""
    TAU_POSITIVE = "tau_positive"
    """The trained τ, direction ``|d|`` (τ only grows)."""


def _check_units(units: Sequence[int] | NDArray[np.integer] | int, hidden_size: int) -> NDArray[np.int64]:
    array = np.atleast_1d(np.asarray(units))
    if array.size == 0 or array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"units must be a non-empty sequence of unit indices, got {units!r}")
    if array.min() < 0 or array.max() >= hidden_size:
        raise ValueError(f"units must lie in [0, {hidden_size}) (the hidden units), got {array.tolist()}")
    return array.astype(np.int64)


def ablate(network: RecurrentNetwork, units: Sequence[int] | NDArray[np.integer] | int) -> RecurrentNetwork:
    """A copy of ``network`` with ``units`` removed (see the module docstring for what is zeroed).

    Args:
        network: the network (not modified).
        units: hidden-unit indices in ``[0, H)`` (LSTM: indices of ``h``; the unit's ``c`` goes with it).
    """
    if not isinstance(network, RecurrentNetwork):
        raise TypeError(f"network must be a RecurrentNetwork, got {type(network).__name__}")
    cell = network.cell
    idx = torch.as_tensor(_check_units(units, cell.hidden_size))
    out = copy_network(network)
    new_cell = out.cell
    hidden = cell.hidden_size
    with torch.no_grad():
        out.readout.weight[:, idx] = 0.0
        if isinstance(new_cell, LeakyRNNCell):
            new_cell.weight_rec[idx, :] = 0.0
            new_cell.weight_rec[:, idx] = 0.0
            new_cell.weight_in[idx, :] = 0.0
            new_cell.bias[idx] = 0.0
        elif isinstance(new_cell, (TorchGRUCell, TorchLSTMCell)):
            module = new_cell.gru if isinstance(new_cell, TorchGRUCell) else new_cell.lstm
            n_gates = 3 if isinstance(new_cell, TorchGRUCell) else 4
            suffix = "_l0" if isinstance(new_cell, TorchGRUCell) else ""
            rows = torch.cat([idx + g * hidden for g in range(n_gates)])
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(module, name + suffix)[rows] = 0.0
            getattr(module, "weight_hh" + suffix)[:, idx] = 0.0
        else:
            raise TypeError(f"ablate supports LeakyRNNCell, TorchGRUCell and TorchLSTMCell, got {type(cell).__name__}")
    return out


def _recurrent_parameter(network: RecurrentNetwork) -> torch.Tensor:
    cell = network.cell
    if isinstance(cell, LeakyRNNCell):
        return cell.weight_rec
    if isinstance(cell, TorchGRUCell):
        weight = cell.gru.weight_hh_l0
        if not isinstance(weight, torch.Tensor):
            raise TypeError("the GRU has no weight_hh_l0 tensor")
        return weight
    if isinstance(cell, TorchLSTMCell):
        return cell.lstm.weight_hh
    raise TypeError(f"perturb supports LeakyRNNCell, TorchGRUCell and TorchLSTMCell, got {type(cell).__name__}")


def perturb(
    network: RecurrentNetwork, epsilon: float, target: PerturbTarget, generator: torch.Generator
) -> RecurrentNetwork:
    """A copy of ``network`` with ``target ← target + ε‖target‖·d/‖d‖`` (``d`` drawn from ``generator``).

    Args:
        network: the network (not modified).
        epsilon: relative size ``ε >= 0``.
        target: what to perturb (:class:`PerturbTarget`); τ needs a leaky RNN with ``train_tau``.
        generator: the source of the direction ``d``.
    """
    if not isinstance(target, PerturbTarget):
        raise TypeError(f"target must be a PerturbTarget ({', '.join(t.name for t in PerturbTarget)}), got {target!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (0 <= epsilon < np.inf):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    out = copy_network(network)
    parameter: torch.Tensor
    if target is PerturbTarget.RECURRENT_WEIGHTS:
        parameter = _recurrent_parameter(out)
    else:
        cell = out.cell
        if not isinstance(cell, LeakyRNNCell) or cell.tau is None:
            raise ValueError(f"target={target} needs a leaky RNN with train_tau=True (a trained τ to perturb)")
        parameter = cell.tau
    with torch.no_grad():
        direction = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype).to(parameter.device)
        if target is PerturbTarget.TAU_POSITIVE:
            direction = direction.abs()
        parameter.add_(float(epsilon) * torch.linalg.norm(parameter) / torch.linalg.norm(direction) * direction)
    return out


@dataclass(frozen=True)
class AblationResult:
    """Performance after ablating each group of units.

    Attributes:
        group_names: one name per ablated group (``"unit 7"``, ``"cluster 2"``…).
        groups: the unit indices of each group.
        task_names: one name per scored task.
        baseline: ``(tasks,)`` performance of the intact network.
        performance: ``(groups, tasks)`` performance with each group ablated.
    """

    group_names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    task_names: tuple[str, ...]
    baseline: NDArray[np.float64]
    performance: NDArray[np.float64]

    @property
    def change(self) -> NDArray[np.float64]:
        """``(groups, tasks)`` performance change, ablated minus intact (negative: the group mattered)."""
        return self.performance - self.baseline[None, :]

    def table(self) -> str:
        """A Markdown table: one row per group, one column per task (ablated performance, change in brackets)."""
        head = "| ablated | " + " | ".join(self.task_names) + " |"
        rule = "|---|" + "---|" * len(self.task_names)
        rows = ["| none | " + " | ".join(f"{v:.3f}" for v in self.baseline) + " |"]
        for name, perf, delta in zip(self.group_names, self.performance, self.change, strict=True):
            rows.append(
                f"| {name} | " + " | ".join(f"{p:.3f} ({d:+.3f})" for p, d in zip(perf, delta, strict=True)) + " |"
            )
        return "\n".join([head, rule, *rows])


def ablation_effect(
    network: RecurrentNetwork,
    task: Task,
    groups: Mapping[str, Sequence[int]] | None = None,
    *,
    n_trials: int = 256,
    seed: int = 0,
    task_names: tuple[str, ...] | None = None,
    progress: bool = False,
) -> AblationResult:
    """Ablate each group of units in turn and score every task on the same seeded trials.

    Args:
        network: the trained network.
        task: its task (a :class:`~mtrnn.envs.MultiTask` is scored per component).
        groups: ``{name: unit indices}``; None: every hidden unit on its own (``"unit i"``).
        n_trials: trials per task.
        seed: seeds the trials (identical for the intact and every ablated network).
        task_names: names of the tasks (see :func:`~mtrnn.analysis.drive.evaluate_performance`).
        progress: tqdm bar over groups.
    """
    n_trials = check_positive_int("n_trials", n_trials)
    hidden = network.cell.hidden_size
    if groups is None:
        groups = {f"unit {i}": [i] for i in range(hidden)}
    if not isinstance(groups, Mapping) or len(groups) == 0:
        raise ValueError("groups must be a non-empty mapping of name -> unit indices (or None for every unit)")
    checked = {name: tuple(int(u) for u in _check_units(units, hidden)) for name, units in groups.items()}
    base = evaluate_performance(network, task, n_trials=n_trials, seed=seed, names=task_names)
    names = tuple(base)
    items = list(checked.items())
    if progress:
        from tqdm.auto import tqdm

        items = list(tqdm(items, desc="ablating", unit="group"))
    rows = []
    for _, units in items:
        perf = evaluate_performance(ablate(network, units), task, n_trials=n_trials, seed=seed, names=task_names)
        rows.append([perf[n] for n in names])
    return AblationResult(
        group_names=tuple(checked),
        groups=tuple(checked.values()),
        task_names=names,
        baseline=np.array([base[n] for n in names]),
        performance=np.array(rows, dtype=np.float64).reshape(len(checked), len(names)),
    )


@dataclass(frozen=True)
class PerturbationResult:
    """Performance against perturbation size.

    Attributes:
        target: what was perturbed.
        epsilons: ``(E,)`` relative sizes.
        task_names: one name per scored task.
        performance: ``(E, directions, tasks)`` performance per size, random direction and task.
    """

    target: PerturbTarget
    epsilons: NDArray[np.float64]
    task_names: tuple[str, ...]
    performance: NDArray[np.float64]

    @property
    def mean(self) -> NDArray[np.float64]:
        """``(E, tasks)`` performance averaged over directions."""
        return self.performance.mean(axis=1)

    @property
    def std(self) -> NDArray[np.float64]:
        """``(E, tasks)`` standard deviation over directions."""
        return self.performance.std(axis=1)


def perturbation_curve(
    network: RecurrentNetwork,
    task: Task,
    target: PerturbTarget = PerturbTarget.RECURRENT_WEIGHTS,
    *,
    epsilons: Sequence[float] | NDArray[np.floating] = DEFAULT_EPSILONS,
    n_directions: int = 10,
    n_trials: int = 256,
    seed: int = 0,
    task_names: tuple[str, ...] | None = None,
    progress: bool = False,
) -> PerturbationResult:
    """Performance per ``ε`` averaged over ``n_directions`` random directions (Khajehabdollahi, Zeraati et al.).

    Direction ``j`` is the same for every ``ε`` (drawn from ``seed``), so each curve follows one line through
    weight space; the trials are the same for every network.

    Args:
        network: the trained network.
        task: its task.
        target: :class:`PerturbTarget`.
        epsilons: sizes ``>= 0`` (default :data:`DEFAULT_EPSILONS`).
        n_directions: random directions per size (>= 1).
        n_trials: trials per task and network.
        seed: seeds directions and trials.
        task_names: names of the tasks.
        progress: tqdm bar.
    """
    eps = np.asarray(epsilons, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0 or not np.isfinite(eps).all() or (eps < 0).any():
        raise ValueError(f"epsilons must be a non-empty 1-D sequence of finite numbers >= 0, got {epsilons!r}")
    n_directions = check_positive_int("n_directions", n_directions)
    if not isinstance(target, PerturbTarget):
        raise TypeError(f"target must be a PerturbTarget ({', '.join(t.name for t in PerturbTarget)}), got {target!r}")
    jobs = [(i, j) for i in range(eps.size) for j in range(n_directions)]
    if progress:
        from tqdm.auto import tqdm

        jobs = list(tqdm(jobs, desc=f"perturbing {target.value}", unit="net"))
    names: tuple[str, ...] = ()
    values: dict[tuple[int, int], list[float]] = {}
    for i, j in jobs:
        if eps[i] == 0 and j > 0 and (i, 0) in values:
            values[(i, j)] = values[(i, 0)]  # ε = 0 is the intact network for every direction
            continue
        generator = torch.Generator().manual_seed(seed * 100_003 + j)
        perf = evaluate_performance(
            perturb(network, float(eps[i]), target, generator), task, n_trials=n_trials, seed=seed, names=task_names
        )
        names = tuple(perf)
        values[(i, j)] = [perf[n] for n in names]
    performance = np.array([[values[(i, j)] for j in range(n_directions)] for i in range(eps.size)])
    return PerturbationResult(target=target, epsilons=eps, task_names=names, performance=performance)
