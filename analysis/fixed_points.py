"""Fixed and slow points of a recurrent cell: :func:`find_fixed_points` and its result :class:`FixedPoints`.

Sussillo & Barak 2013 (Neural Comput 25:626, "Opening the black box"): with the input held constant at ``u``, the
points where the one-step map ``F(x, u)`` (the cell) does not move the state are found by minimising

    q(x) = ½‖F(x, u) − x‖²                (discrete time, a map)
    q(x) = ½‖(F(x, u) − x)/α‖²            (``continuous=True``: the speed of the flow the leaky RNN discretises)

from many starting states sampled from the network's own trajectories (Golub & Sussillo 2018, JOSS 3:1003,
mattgolub/fixed-point-finder). Minima with ``q ≈ 0`` are fixed points; minima with small ``q > 0`` are slow points.
Linearising around each point gives its Jacobian, eigenvalues (stability, the slow modes) and input Jacobian.

Example::

    import numpy as np
    from mtrnn.agents import load_agent
    from mtrnn.analysis import find_fixed_points, period_input, sample_initial_states
    from mtrnn.envs import make_task

    net, task, rng = load_agent("runs/fp_delayanti"), make_task("mtrnn/DelayAnti-v0"), np.random.default_rng(0)
    batch = task.sample_batch(64, rng, noise=False)
    starts = sample_initial_states(net, batch, n=1024, noise=0.1, rng=rng, period="delay")
    fps = find_fixed_points(net.cell, period_input(batch, "delay"), starts)
    fps.states, fps.is_stable, fps.eigenvalues[:, 0]
"""

from __future__ import annotations

import dataclasses
import enum
import io
import math
import os
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from mtrnn.agents.rundir import atomic_write_bytes
from mtrnn.analysis.fixed_points_solver import (
    AdamOptions,
    PolishOptions,
    Problem,
    StartStatus,
    adam_phase,
    eigendecompose,
    make_problem,
    polish,
    unique_indices,
)

__all__ = [
    "CellStep",
    "ConvergenceReport",
    "FixedPoints",
    "FixedPointsWarning",
    "HasLeak",
    "PhaseSeconds",
    "Polish",
    "StartStatus",
    "find_fixed_points",
]

_FORMAT = 1


class CellStep(Protocol):
    """The one-step cell protocol: ``cell(x (B, n_in), h (B, S)) -> (B, S)``.

    Any of :mod:`mtrnn.agents.cells` (``LeakyRNNCell``, ``TorchGRUCell``, ``TorchLSTMCell`` with state
    ``concat(h, c)``), a user's ``nn.Module`` or a plain function of torch tensors. It must be differentiable
    in ``h`` and ``x`` by torch autograd, twice (the Newton steps' Jacobian-vector products are a double
    backward; a custom ``autograd.Function`` without it needs ``newton_from_q=None``), and work under
    ``torch.func.vmap`` (no in-place writes into its inputs, no ``.item()``).
    """

    def __call__(self, x: Tensor, h: Tensor, /) -> Tensor: ...


@runtime_checkable
class HasLeak(Protocol):
    """A cell that knows its leak ``α = dt/τ`` (``LeakyRNNCell``): a float or a per-unit ``(S,)`` tensor."""

    def leak(self) -> float | Tensor: ...


class Polish(enum.Enum):
    """What follows the Adam phase."""

    NONE = "none"
    """Adam alone, all the way to ``tol_q`` (what fixed-point-finder does)."""
    LEVENBERG_MARQUARDT = "levenberg_marquardt"
    """Damped Gauss-Newton on the residual; becomes Newton's method as the damping vanishes near a fixed point
    (quadratic convergence) and stays at the minimum of ``q`` at a slow point."""


class FixedPointsWarning(UserWarning):
    """Most starts did not converge: the network may be chaotic (no fixed points to find) or ``max_iters`` is too
    small. Filter it with ``warnings.filterwarnings("ignore", category=FixedPointsWarning)``."""


@dataclass(frozen=True)
class PhaseSeconds:
    """Wall-clock seconds of each phase of :func:`find_fixed_points` (where the time goes)."""

    adam: float = 0.0
    """The Adam phase over all starts, its Newton-Krylov steps included."""
    dedup: float = 0.0
    """Outlier removal and both deduplications."""
    polish: float = 0.0
    """Levenberg-Marquardt on the unique points."""
    jacobians: float = 0.0
    """Jacobians ``dF/dx``, ``dF/du`` at the final points."""
    eig: float = 0.0
    """Eigendecomposition (right and left eigenvectors) and stability."""
    newton: float = 0.0
    """The Newton-Krylov steps inside the Adam phase (part of ``adam``)."""


@dataclass(frozen=True)
class ConvergenceReport:
    """What happened to every start (``K`` = number of starts).

    Attributes:
        status: ``(K,)`` int8 :class:`StartStatus` codes: ``Q_TOL`` (q fell below the Adam phase's target:
            ``tol_q``, or ``polish_from_q`` when polishing follows), ``DQ_TOL`` (q stopped
            changing: a slow point or a minimum), ``MAX_ITERS`` (not converged), ``NON_FINITE`` (diverged),
            ``OUTLIER`` (converged far from the starting cloud and dropped), ``HIGH_Q`` (ended with ``q > max_q``,
            dropped). Only the start that represents a unique point gets ``HIGH_Q``; its duplicates keep theirs.
        q: ``(K,)`` q where the Adam phase stopped.
        iterations: ``(K,)`` Adam iterations each start used.
        final_states: ``(K, S)`` where each start ended (look at the unconverged ones here).
        seconds: where the time went.
    """

    status: NDArray[np.int8]
    q: NDArray[np.floating]
    iterations: NDArray[np.int64]
    final_states: NDArray[np.floating]
    seconds: PhaseSeconds = dataclasses.field(default_factory=PhaseSeconds)

    @property
    def n_starts(self) -> int:
        return int(self.status.shape[0])

    @property
    def converged(self) -> NDArray[np.bool_]:
        """``(K,)`` True for the starts that converged (``Q_TOL`` or ``DQ_TOL``)."""
        return (self.status == StartStatus.Q_TOL) | (self.status == StartStatus.DQ_TOL)

    @property
    def n_unconverged(self) -> int:
        """Starts that reached ``max_iters`` or diverged."""
        return int(((self.status == StartStatus.MAX_ITERS) | (self.status == StartStatus.NON_FINITE)).sum())

    def summary(self) -> str:
        """One line: how many starts ended each way."""
        counts = np.bincount(self.status.astype(np.int64), minlength=6)
        names = ("q below target", "dq < tol_dq or stalled", "max_iters", "non-finite", "outlier", "q > max_q")
        return ", ".join(f"{name}: {int(count)}" for name, count in zip(names, counts, strict=True))


@dataclass(frozen=True)
class FixedPoints:
    """Unique fixed (and slow) points, ``M`` of them, sorted by increasing ``q``; ``S`` = state size.

    For a map (``continuous=False``) the Jacobians are ``dF/dx`` and ``dF/du`` and a point is stable when every
    ``|λ| < 1``. For the flow (``continuous=True``) they are those of the velocity ``(F(x, u) − x)/α`` and a point
    is stable when every ``Re λ < 0``. Eigenvalues of each point are sorted slowest first (decreasing ``|λ|``,
    resp. ``Re λ``); eigenvectors are unit-norm columns matching them.

    Attributes:
        states: ``(M, S)``.
        inputs: ``(M, n_in)`` the constant input of each point.
        q: ``(M,)`` the final ``q`` (its definition depends on ``continuous``).
        jacobians: ``(M, S, S)`` ``J[m, i, j] = ∂F_i/∂x_j`` (or of the velocity).
        eigenvalues: ``(M, S)`` complex.
        eigenvectors: ``(M, S, S)`` complex right eigenvectors, column ``i`` for ``eigenvalues[:, i]``.
        left_eigenvectors: ``(M, S, S)`` complex, column ``i`` is ``w_i`` with ``w_iᴴ J = λ_i w_iᴴ``.
        input_jacobians: ``(M, S, n_in)``.
        is_stable: ``(M,)`` bool.
        n_unstable_dims: ``(M,)`` number of unstable eigenvalues.
        start_index: ``(M,)`` the start each point came from (a row of ``initial_states``).
        continuous: which objective and stability rule.
        report: what happened to every start.
    """

    states: NDArray[np.floating]
    inputs: NDArray[np.floating]
    q: NDArray[np.floating]
    jacobians: NDArray[np.floating]
    eigenvalues: NDArray[np.complexfloating]
    eigenvectors: NDArray[np.complexfloating]
    left_eigenvectors: NDArray[np.complexfloating]
    input_jacobians: NDArray[np.floating]
    is_stable: NDArray[np.bool_]
    n_unstable_dims: NDArray[np.int64]
    start_index: NDArray[np.int64]
    continuous: bool
    report: ConvergenceReport

    def __len__(self) -> int:
        return int(self.states.shape[0])

    @property
    def state_size(self) -> int:
        return int(self.states.shape[1])

    def select(self, mask: NDArray[np.bool_] | NDArray[np.integer]) -> FixedPoints:
        """The points ``mask`` picks (a bool ``(M,)`` mask or indices), same report."""
        fields = {name: getattr(self, name)[mask] for name in _POINT_FIELDS}
        return dataclasses.replace(self, **fields)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write everything (report included) to one ``.npz`` file, atomically, without pickle."""
        arrays: dict[str, Any] = {name: getattr(self, name) for name in _POINT_FIELDS}
        for name in _REPORT_FIELDS:
            arrays[f"report_{name}"] = getattr(self.report, name)
        arrays["report_seconds"] = np.array(dataclasses.astuple(self.report.seconds), dtype=np.float64)
        arrays["continuous"] = np.array(self.continuous)
        arrays["format"] = np.array(_FORMAT)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FixedPoints:
        """Read what :meth:`save` wrote. A file that is not such an ``.npz`` raises ``ValueError`` naming it."""
        path = Path(path)
        needed = [
            *_POINT_FIELDS,
            *(f"report_{name}" for name in _REPORT_FIELDS),
            "report_seconds",
            "continuous",
            "format",
        ]
        try:
            with np.load(path, allow_pickle=False) as data:
                files = set(data.files)
                arrays = {name: data[name] for name in needed if name in files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path} cannot be read as a FixedPoints .npz ({error}); recompute and save it") from None
        missing = [name for name in needed if name not in arrays]
        if missing:
            raise ValueError(
                f"{path} is not a FixedPoints file (missing {missing}); recompute it with "
                "find_fixed_points(...).save(path)"
            )
        if int(arrays["format"]) != _FORMAT:
            raise ValueError(f"{path} has format {int(arrays['format'])}, this mtrnn reads {_FORMAT}; recompute it")
        seconds = PhaseSeconds(*(float(value) for value in arrays["report_seconds"]))
        report = ConvergenceReport(**{name: arrays[f"report_{name}"] for name in _REPORT_FIELDS}, seconds=seconds)
        points = {name: arrays[name] for name in _POINT_FIELDS}
        return cls(**points, continuous=bool(arrays["continuous"]), report=report)


_POINT_FIELDS = (
    "states",
    "inputs",
    "q",
    "jacobians",
    "eigenvalues",
    "eigenvectors",
    "left_eigenvectors",
    "input_jacobians",
    "is_stable",
    "n_unstable_dims",
    "start_index",
)
_REPORT_FIELDS = ("status", "q", "iterations", "final_states")


# ---------------------------------------------------------------------------------------------- input checks
def _positive(name: str, value: object, *, integer: bool = False, allow_zero: bool = False) -> float:
    kinds: tuple[type, ...] = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__}")
    number = float(cast(float, value))
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return number


def _as_tensor(name: str, value: object, dtype: torch.dtype, device: torch.device) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value.detach()
    elif isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); it needs at least one row and column")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor.to(device=device, dtype=dtype)


def _cell_dtype_device(cell: CellStep, initial_states: object) -> tuple[torch.dtype, torch.device]:
    if isinstance(cell, nn.Module):
        for tensor in [*cell.parameters(), *cell.buffers()]:
            if tensor.is_floating_point():
                return tensor.dtype, tensor.device
    if isinstance(initial_states, Tensor) and initial_states.is_floating_point():
        return initial_states.dtype, initial_states.device
    return torch.get_default_dtype(), torch.device("cpu")


@contextmanager
def _frozen(cell: CellStep) -> Iterator[None]:
    """Parameters ``requires_grad=False`` and eval mode (no training noise) while inside; both restored after."""
    if not isinstance(cell, nn.Module):
        yield
        return
    flags = [(parameter, parameter.requires_grad) for parameter in cell.parameters()]
    modes = [(module, module.training) for module in cell.modules()]
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        cell.eval()
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        for module, mode in modes:
            module.train(mode)


def _leak(cell: CellStep, alpha: float | None, size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    if alpha is not None:
        value = _positive("alpha", alpha)
        if value > 1:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        return torch.tensor(value, dtype=dtype, device=device)
    if isinstance(cell, HasLeak):
        leak = cell.leak()
        tensor = torch.as_tensor(leak, dtype=dtype, device=device).detach()
        if tensor.dim() not in (0, 1) or (tensor.dim() == 1 and tensor.shape[0] != size):
            raise ValueError(f"cell.leak() must be a float or a ({size},) tensor, got shape {tuple(tensor.shape)}")
        return tensor
    raise ValueError(
        f"continuous=True needs the leak alpha = dt/tau: {type(cell).__name__} has no leak() method, so pass "
        "alpha=... (a number in (0, 1])"
    )


# ---------------------------------------------------------------------------------------------- the finder
def find_fixed_points(
    cell: CellStep,
    inputs: NDArray[np.floating] | Tensor,
    initial_states: NDArray[np.floating] | Tensor,
    *,
    continuous: bool = False,
    alpha: float | None = None,
    tol_q: float = 1e-12,
    tol_dq: float = 1e-20,
    max_iters: int = 5000,
    learning_rate: float = 1.0,
    lr_decay: float = 0.9995,
    lr_backoff: float = 0.5,
    lr_growth: float = 1.1,
    adam_betas: tuple[float, float] = (0.9, 0.999),
    adam_eps: float = 1e-8,
    stall_iters: int = 200,
    newton_from_q: float | None = 1.0,
    krylov_dim: int = 10,
    closed_form: bool = True,
    polish_method: Polish = Polish.LEVENBERG_MARQUARDT,
    polish_from_q: float = 1e-7,
    polish_iters: int = 30,
    max_q: float | None = 1e-4,
    tol_unique: float = 1e-3,
    outlier_distance_scale: float | None = 10.0,
    compute_jacobians: bool = True,
    warn_fraction: float = 0.5,
) -> FixedPoints:
    """Find the fixed and slow points of ``cell`` under constant inputs, from every row of ``initial_states``.

    Steps (all vectorised over the starts; Sussillo & Barak 2013, Golub & Sussillo 2018):

    1. Adam on ``q`` with a per-point active set (a start that converged leaves the batch) and per-point step
       sizes (start at ``learning_rate``; times ``lr_growth`` after a step that lowered that point's ``q``, up to a
       ceiling ``learning_rate · lr_decay^t``; times ``lr_backoff`` after one that raised it). Every 25
       iterations the starts with ``q < newton_from_q`` switch to inexact Newton steps on the residual (batched
       GMRES in a Krylov space of ``krylov_dim``, Saad & Schultz 1986; a step is kept only where it lowers ``q``
       by Armijo's rule, so this stays a descent on ``q``) until ``q < tol_q``; where Newton cannot lower ``q``
       (near a slow point, whose residual has no root) the start goes on with Adam and tries again once its
       ``q`` has halved. A start stops at ``q < tol_q`` (``q < polish_from_q`` when polishing), at
       ``|Δq| < tol_dq · lr`` or after ``stall_iters`` without progress (a slow point), or after ``max_iters``.
    2. Starts that ended farther than ``outlier_distance_scale`` times the starts' mean distance from their
       centroid are dropped as outliers (fixed-point-finder's rule); None keeps them.
    3. Deduplication: points within ``tol_unique`` of each other in every coordinate (inputs included) are one
       point; the one with the lowest ``q`` is kept.
    4. ``polish_method``: Newton (damped to Levenberg-Marquardt where a step fails) to ``tol_q`` on the unique
       points; deduplicated again.
    5. Jacobians ``dF/dx`` and ``dF/du`` by one ``torch.func.vmap``-ed batched backward pass, eigenvalues with
       right and left eigenvectors, stability; points sorted by increasing ``q``.

    For a :class:`~mtrnn.agents.cells.LeakyRNNCell` (nonlinearity inside) ``q``'s gradient, the Jacobian-vector
    products and the Jacobians are computed in closed form (``closed_form=True``, checked against the cell on a
    few starts); any other cell uses autograd (backward, double backward and ``vmap``).

    The cell's parameters get ``requires_grad=False`` and the cell eval mode (no training noise) while this runs;
    both are restored afterwards, also when it raises. Computation runs in the dtype and on the device of the
    cell's parameters.

    Args:
        cell: the one-step map, ``cell(x (B, n_in), h (B, S)) -> (B, S)`` (:class:`CellStep`).
        inputs: ``(n_in,)`` one constant input for every start, or ``(K, n_in)`` one per start.
        initial_states: ``(K, S)`` starting states (see :func:`mtrnn.analysis.sample_initial_states`).
        continuous: minimise the speed ``½‖(F − x)/α‖²`` and report the flow's Jacobians (``Re λ < 0`` stable).
        alpha: the leak ``dt/τ`` for ``continuous``; default: ``cell.leak()`` (per unit with trained τ).
        tol_q: a point with ``q < tol_q`` is a fixed point (1e-12 as fixed-point-finder).
        tol_dq: a start whose ``|Δq|`` falls below ``tol_dq · lr`` stops (a slow point).
        max_iters: Adam iterations at most.
        learning_rate: Adam's initial step size per point.
        lr_decay: per-iteration factor on the ceiling of the step size, in ``(0, 1]``.
        lr_backoff: factor on a point's step size when its ``q`` rose, in ``(0, 1]``.
        lr_growth: factor on a point's step size when its ``q`` fell (>= 1), never above the decaying ceiling
            ``learning_rate · lr_decay^t``.
        adam_betas: Adam's moment decays.
        adam_eps: Adam's epsilon.
        stall_iters: a start whose best ``q`` has not improved by 0.1 % in this many iterations stops as a slow
            point (``DQ_TOL``) and, when polishing, is finished by Levenberg-Marquardt.
        newton_from_q: starts with ``q`` below this switch from Adam to Newton-Krylov steps (see step 1); None:
            Adam alone (fixed-point-finder's optimiser).
        krylov_dim: dimension of the Krylov space (matrix-vector products) of each Newton step's GMRES solve.
        closed_form: use the closed-form gradient and Jacobians of a ``LeakyRNNCell``; False: autograd always.
        polish_method: :class:`Polish`.
        polish_from_q: with polishing, Adam stops a start below this ``q`` (>= ``tol_q``).
        polish_iters: Levenberg-Marquardt iterations at most.
        max_q: points whose final ``q`` (after polishing) is above this are neither fixed nor slow points (e.g.
            a start stuck where the gradient of ``q`` vanishes at a maximum of the speed) and are dropped; their
            starts get status ``HIGH_Q``. None keeps every point.
        tol_unique: deduplication tolerance (L∞ distance), as fixed-point-finder's.
        outlier_distance_scale: see step 2; None disables outlier removal.
        compute_jacobians: False skips step 5 (Jacobian fields are then empty ``(M, 0, 0)`` arrays and stability
            is unknown: ``is_stable`` all False, ``n_unstable_dims`` all -1).
        warn_fraction: warn (:class:`FixedPointsWarning`) when more than this fraction of starts did not converge.

    Returns:
        :class:`FixedPoints`, with a :class:`ConvergenceReport` of every start in ``.report``.

    Raises:
        ValueError / TypeError: naming the argument (wrong shapes, NaN, empty arrays, bad options).
    """
    if not callable(cell):
        raise TypeError(f"cell must be callable as cell(x (B, n_in), h (B, S)), got {type(cell).__name__}")
    tol_q = _positive("tol_q", tol_q)
    tol_dq = _positive("tol_dq", tol_dq, allow_zero=True)
    max_iters = int(_positive("max_iters", max_iters, integer=True, allow_zero=True))
    learning_rate = _positive("learning_rate", learning_rate)
    for name, value in (("lr_decay", lr_decay), ("lr_backoff", lr_backoff)):
        if _positive(name, value) > 1:
            raise ValueError(f"{name} must lie in (0, 1], got {value}")
    if _positive("lr_growth", lr_growth) < 1:
        raise ValueError(f"lr_growth must be >= 1, got {lr_growth}")
    if len(adam_betas) != 2 or not all(0 <= float(beta) < 1 for beta in adam_betas):
        raise ValueError(f"adam_betas must be two numbers in [0, 1), got {adam_betas}")
    adam_eps = _positive("adam_eps", adam_eps)
    stall_iters = int(_positive("stall_iters", stall_iters, integer=True))
    if newton_from_q is not None:
        newton_from_q = _positive("newton_from_q", newton_from_q)
    krylov_dim = int(_positive("krylov_dim", krylov_dim, integer=True))
    if not isinstance(closed_form, bool):
        raise TypeError(f"closed_form must be a bool, got {type(closed_form).__name__}")
    if not isinstance(polish_method, Polish):
        raise TypeError(
            f"polish_method must be a Polish member ({', '.join(p.name for p in Polish)}), got {polish_method!r}"
        )
    polish_from_q = _positive("polish_from_q", polish_from_q)
    if polish_from_q < tol_q:
        raise ValueError(f"polish_from_q must be >= tol_q = {tol_q}, got {polish_from_q}")
    polish_iters = int(_positive("polish_iters", polish_iters, integer=True, allow_zero=True))
    tol_unique = _positive("tol_unique", tol_unique, allow_zero=True)
    if max_q is not None:
        max_q = _positive("max_q", max_q)
    if outlier_distance_scale is not None:
        outlier_distance_scale = _positive("outlier_distance_scale", outlier_distance_scale)
    if not 0 <= float(warn_fraction) <= 1:
        raise ValueError(f"warn_fraction must lie in [0, 1], got {warn_fraction}")

    dtype, device = _cell_dtype_device(cell, initial_states)
    x0 = _as_tensor("initial_states", initial_states, dtype, device)
    if x0.dim() != 2:
        raise ValueError(f"initial_states must have shape (K, S), got {tuple(x0.shape)}")
    n_starts, size = x0.shape
    expected_size = getattr(cell, "state_size", None)
    if isinstance(expected_size, int) and size != expected_size:
        raise ValueError(
            f"initial_states must have shape (K, S = cell.state_size = {expected_size}), got {tuple(x0.shape)}"
        )
    u = _as_tensor("inputs", inputs, dtype, device)
    if u.dim() == 1:
        u = u.unsqueeze(0).expand(n_starts, -1)
    elif u.dim() != 2 or u.shape[0] != n_starts:
        raise ValueError(f"inputs must have shape (n_in,) or (K = {n_starts}, n_in), got {tuple(u.shape)}")
    expected_inputs = getattr(cell, "n_inputs", None)
    if isinstance(expected_inputs, int) and u.shape[1] != expected_inputs:
        raise ValueError(f"inputs must end in n_in = cell.n_inputs = {expected_inputs}, got shape {tuple(u.shape)}")
    u = u.contiguous()

    with _frozen(cell), torch.no_grad():
        scale = 1.0 / _leak(cell, alpha, size, dtype, device) if continuous else torch.tensor(1.0, dtype=dtype)
        scale = scale.to(device)

        def step(ui: Tensor, xi: Tensor) -> Tensor:
            out = cell(ui, xi)
            if not isinstance(out, Tensor) or out.shape != xi.shape:
                raise ValueError(
                    f"cell(x, h) must return a tensor shaped like h {tuple(xi.shape)}, got "
                    f"{getattr(out, 'shape', type(out).__name__)}"
                )
            return out

        polishing = polish_method is not Polish.NONE and polish_iters > 0
        clock = time.perf_counter()
        problem = make_problem(cell, step, scale, closed_form, x0[:8], u[:8])
        rows = problem.rows(u)
        adam = adam_phase(
            problem,
            x0,
            rows,
            AdamOptions(
                tol_q=polish_from_q if polishing else tol_q,
                tol_dq=tol_dq,
                max_iters=max_iters,
                learning_rate=learning_rate,
                lr_decay=float(lr_decay),
                lr_backoff=float(lr_backoff),
                lr_growth=float(lr_growth),
                betas=(float(adam_betas[0]), float(adam_betas[1])),
                eps=adam_eps,
                stall_iters=stall_iters,
                newton_from_q=0.0 if newton_from_q is None else newton_from_q,
                krylov_dim=krylov_dim,
                newton_tol_q=tol_q,
            ),
        )
        seconds_adam, clock = time.perf_counter() - clock, time.perf_counter()
        status = adam.status.clone()
        candidates = torch.nonzero((status == StartStatus.Q_TOL) | (status == StartStatus.DQ_TOL)).squeeze(1)
        if outlier_distance_scale is not None and candidates.numel() > 0:
            centroid = x0.mean(0)
            typical = torch.linalg.vector_norm(x0 - centroid, dim=1).mean().clamp_min(torch.finfo(dtype).eps)
            distance = torch.linalg.vector_norm(adam.states[candidates] - centroid, dim=1) / typical
            outliers = candidates[distance > outlier_distance_scale]
            status[outliers] = StartStatus.OUTLIER
            candidates = candidates[distance <= outlier_distance_scale]

        points = adam.states[candidates]
        point_inputs = u[candidates]
        q = adam.q[candidates]
        keep = unique_indices(torch.cat((points, point_inputs), 1), q, tol_unique)
        points, point_inputs, q, origin = points[keep], point_inputs[keep], q[keep], candidates[keep]
        point_rows = rows[origin]
        seconds_dedup, clock = time.perf_counter() - clock, time.perf_counter()
        seconds_polish = 0.0
        # Points already above max_q (stuck where the gradient of q vanishes away from a minimum) are not polished.
        worth = torch.nonzero(q <= (math.inf if max_q is None else max_q)).squeeze(1)
        if polishing and worth.numel() > 0:
            polished = polish(
                problem,
                points[worth],
                point_rows[worth],
                PolishOptions(tol_q=tol_q, tol_dq=tol_dq, max_iters=polish_iters, damping=1e-3),
            )
            points, q = points.clone(), q.clone()
            points[worth], q[worth] = polished.states, polished.q
            seconds_polish, clock = time.perf_counter() - clock, time.perf_counter()
            keep = unique_indices(torch.cat((points, point_inputs), 1), q, tol_unique)
            points, point_inputs, q, origin = points[keep], point_inputs[keep], q[keep], origin[keep]
            seconds_dedup += time.perf_counter() - clock
        if max_q is not None:
            low = q <= max_q
            status[origin[~low]] = StartStatus.HIGH_Q
            points, point_inputs, q, origin = points[low], point_inputs[low], q[low], origin[low]

        result, seconds_jacobians, seconds_eig = _characterise(
            problem, points, point_inputs, q, origin, scale, continuous, compute_jacobians
        )
        report = ConvergenceReport(
            status=status.cpu().numpy(),
            q=adam.q.cpu().numpy(),
            iterations=adam.iterations.cpu().numpy(),
            final_states=adam.states.cpu().numpy(),
            seconds=PhaseSeconds(
                adam=seconds_adam,
                dedup=seconds_dedup,
                polish=seconds_polish,
                jacobians=seconds_jacobians,
                eig=seconds_eig,
                newton=adam.newton_seconds,
            ),
        )
        result = dataclasses.replace(result, report=report)

    not_converged = report.n_unconverged
    if n_starts > 0 and not_converged > warn_fraction * n_starts:
        warnings.warn(
            f"{not_converged} of {n_starts} starts did not converge ({report.summary()}); a chaotic network has no "
            "fixed points to find, otherwise raise max_iters or check the inputs (see FixedPoints.report)",
            FixedPointsWarning,
            stacklevel=2,
        )
    return result


def _characterise(
    problem: Problem,
    points: Tensor,
    inputs: Tensor,
    q: Tensor,
    origin: Tensor,
    scale: Tensor,
    continuous: bool,
    compute_jacobians: bool,
) -> tuple[FixedPoints, float, float]:
    """Jacobians, eigendecomposition and stability of the unique points, everything to numpy; and the seconds
    the Jacobians and the eigendecomposition took. The report is a placeholder the caller replaces."""
    n_points, size = points.shape
    clock = time.perf_counter()
    seconds_jacobians = 0.0
    if compute_jacobians:
        jac, jac_u = problem.all_jacobians(points, inputs, problem.rows(inputs))
        if continuous:
            eye = torch.eye(size, dtype=jac.dtype, device=jac.device)
            row_scale = scale[:, None] if scale.dim() else scale
            jac = (jac - eye) * row_scale
            jac_u = jac_u * row_scale
        seconds_jacobians, clock = time.perf_counter() - clock, time.perf_counter()
        values, right, left = eigendecompose(jac, continuous)
        unstable = values.real >= 0 if continuous else values.abs() >= 1
        n_unstable = unstable.sum(-1)
        is_stable = n_unstable == 0
        complex_dtype = torch.complex64 if points.dtype in (torch.float32, torch.float16) else torch.complex128
        values, right, left = values.to(complex_dtype), right.to(complex_dtype), left.to(complex_dtype)
    else:
        jac = points.new_zeros(n_points, 0, 0)
        jac_u = points.new_zeros(n_points, 0, 0)
        values = torch.zeros(n_points, 0, dtype=torch.complex128)
        right = left = torch.zeros(n_points, 0, 0, dtype=torch.complex128)
        is_stable = torch.zeros(n_points, dtype=torch.bool)
        n_unstable = torch.full((n_points,), -1, dtype=torch.int64)
    seconds_eig = time.perf_counter() - clock if compute_jacobians else 0.0
    placeholder = ConvergenceReport(
        status=np.zeros(0, np.int8), q=np.zeros(0), iterations=np.zeros(0, np.int64), final_states=np.zeros((0, size))
    )
    fixed_points = FixedPoints(
        states=points.cpu().numpy(),
        inputs=inputs.cpu().numpy(),
        q=q.cpu().numpy(),
        jacobians=jac.cpu().numpy(),
        eigenvalues=values.cpu().numpy(),
        eigenvectors=right.cpu().numpy(),
        left_eigenvectors=left.cpu().numpy(),
        input_jacobians=jac_u.cpu().numpy(),
        is_stable=is_stable.cpu().numpy(),
        n_unstable_dims=n_unstable.cpu().numpy().astype(np.int64),
        start_index=origin.cpu().numpy().astype(np.int64),
        continuous=bool(continuous),
        report=placeholder,
    )
    return fixed_points, seconds_jacobians, seconds_eig
