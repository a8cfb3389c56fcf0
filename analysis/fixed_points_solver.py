"""The numerical core of :func:`mtrnn.analysis.find_fixed_points`: vectorised over points, never looping over them.

* :class:`Problem` / :class:`LeakyProblem`: ``q``, its gradient, Jacobian-vector products and Jacobians of the
  residual, by autograd for any cell or in closed form for :class:`~mtrnn.agents.cells.LeakyRNNCell`.
* :func:`adam_phase`: Adam on ``q`` for all starts at once with a per-point active set (a converged point leaves
  the batch, so the slowest start never makes the others iterate) and a per-point decaying step size; a point
  whose ``q`` is small switches to Newton-Krylov steps (:func:`gmres`, a step kept only where it lowers ``q``).
* :func:`polish`: Newton's method on the residual ``r = F(x, u) − x`` (scaled by ``1/α`` for the continuous-time
  speed) by a batched direct solve, damped to Levenberg-Marquardt per point where a Newton step fails, so it
  converges quadratically to a true fixed point and stays at a slow point's minimum of ``q``.
* :func:`jacobians`: ``dF/dx`` and ``dF/du`` at many points by one ``torch.func.vmap``-ed batched backward pass.
* :func:`unique_indices`: greedy deduplication (lowest ``q`` kept) from a sparse neighbour list, vectorised.
* :func:`eigendecompose`: eigenvalues, right and left eigenvectors, sorted slowest mode first.

The algorithm follows Sussillo & Barak 2013 (Neural Comput 25:626) and Golub & Sussillo 2018 (JOSS 3:1003,
mattgolub/fixed-point-finder); the implementation is independent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torch.func import vjp, vmap

from mtrnn.agents.cells import LEAKY_RELU_SLOPE, Activation, LeakyRNNCell

__all__ = [
    "AdamOptions",
    "AdamResult",
    "LeakyProblem",
    "PolishOptions",
    "PolishResult",
    "Problem",
    "Residual",
    "StartStatus",
    "adam_phase",
    "eigendecompose",
    "gmres",
    "jacobians",
    "make_problem",
    "polish",
    "unique_indices",
]

#: ``residual(x (B, S), u (B, n_in)) -> (B, S)``: ``F(x, u) − x``, divided by ``α`` for the continuous speed.
Residual = Callable[[Tensor, Tensor], Tensor]

_JACOBIAN_BUDGET = 1 << 24
"""Entries of ``(chunk, S, S)`` Jacobian computed at once (64 MiB in float32); bounds the memory of vmap."""


class StartStatus:
    """Integer codes of what happened to each start (stored as ``int8`` arrays; see ``ConvergenceReport``)."""

    Q_TOL = 0
    DQ_TOL = 1
    MAX_ITERS = 2
    NON_FINITE = 3
    OUTLIER = 4
    HIGH_Q = 5


@dataclass(frozen=True)
class AdamOptions:
    """Adam phase settings (see :func:`mtrnn.analysis.find_fixed_points` for their meaning)."""

    tol_q: float
    tol_dq: float
    max_iters: int
    learning_rate: float
    lr_decay: float
    lr_backoff: float
    lr_growth: float
    betas: tuple[float, float]
    eps: float
    stall_iters: int
    newton_from_q: float = 0.0
    krylov_dim: int = 20
    newton_tol_q: float = 0.0
    newton_every: int = 25
    newton_steps: int = 8


@dataclass
class AdamResult:
    """Per start: final ``states (K, S)``, ``q (K,)``, ``iterations (K,)`` and ``status (K,)`` codes; and the
    seconds spent in Newton-Krylov steps, ``newton_seconds``."""

    states: Tensor
    q: Tensor
    iterations: Tensor
    status: Tensor
    newton_seconds: float = 0.0


def _q(residual: Tensor) -> Tensor:
    return 0.5 * residual.square().sum(-1)


class Problem:
    """The residual ``r(x) = (F(x, u) − x)·s`` of a cell ``F`` (``s`` = 1, or ``1/α`` for the continuous speed)
    and what the solvers need of it, by autograd: works for any cell of the protocol.

    Every method takes the points ``x (B, S)`` and their ``rows (B, ·)``: per-point data that :meth:`rows` makes
    from the inputs ``u (B, n_in)`` once (here the inputs themselves; :class:`LeakyProblem` precomputes
    ``W_in u + b``), so an active subset is ``x[idx], rows[idx]``.
    """

    def __init__(self, step: Callable[[Tensor, Tensor], Tensor], scale: Tensor) -> None:
        self.step = step
        self.scale = scale

    def rows(self, u: Tensor) -> Tensor:
        """Per-point data for the other methods, ``(B, ·)``, from the inputs ``u (B, n_in)``."""
        return u

    def map_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """``F(x, u) (B, S)``."""
        return self.step(rows, x)

    def residual(self, x: Tensor, rows: Tensor) -> Tensor:
        """``r (B, S)``."""
        return (self.map_rows(x, rows) - x) * self.scale

    def q_and_grad(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """``q = ½‖r‖² (B,)`` and ``∂q/∂x (B, S)`` (one batched backward pass; rows are independent)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            q = _q(self.residual(xg, rows))
            (grad,) = torch.autograd.grad(q.sum(), xg)
        return q.detach(), grad

    def linearise(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        """``r (B, S)`` and ``v (B, S) ↦ (∂r/∂x) v`` per row.

        By the double-backward trick: ``g(w) = (∂r/∂x)ᵀ w`` is linear in ``w``, so its vector-Jacobian product
        with ``v`` is ``(∂r/∂x) v``; the graph of ``g`` is built once and each product is one backward pass
        (about 3× faster here than forward-mode ``torch.func.jvp``, and any twice-differentiable cell works).
        """
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            residual = self.residual(xg, rows)
            w = torch.zeros_like(residual, requires_grad=True)
            (transposed,) = torch.autograd.grad(residual, xg, w, create_graph=True, allow_unused=True)
        if transposed is None or not transposed.requires_grad:  # r does not depend on x: ∂r/∂x = 0
            return residual.detach(), torch.zeros_like

        def matvec(v: Tensor) -> Tensor:
            with torch.enable_grad():
                (product,) = torch.autograd.grad(transposed, w, v, retain_graph=True, allow_unused=True)
            return torch.zeros_like(v) if product is None else product

        return residual.detach(), matvec

    def map_jacobian(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """``dF/dx (B, S, S)`` and ``F (B, S)`` (see :func:`jacobians`)."""
        jac, _, fx = jacobians(self.step, x, rows, with_inputs=False)
        return jac, fx

    def all_jacobians(self, x: Tensor, u: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """``dF/dx (B, S, S)`` and ``dF/du (B, S, n_in)`` at ``x`` with inputs ``u (B, n_in)``."""
        jac, jac_u, _ = jacobians(self.step, x, u, with_inputs=True)
        assert jac_u is not None
        return jac, jac_u


class LeakyProblem(Problem):
    """:class:`Problem` in closed form for :class:`~mtrnn.agents.cells.LeakyRNNCell` with the nonlinearity inside,
    ``F(x) = x + α ⊙ (f(W x + c) − x)`` with ``c = W_in u + b`` (no noise: the cell is in eval mode).

    With ``p = W x + c`` and ``d = α ⊙ f'(p)``: ``dF/dx = diag(1 − α) + diag(d) W``, so ``∂q/∂x =
    Wᵀ(d ⊙ s ⊙ r) − α ⊙ s ⊙ r`` and ``(∂r/∂x) v = s ⊙ (d ⊙ W v − α ⊙ v)``: one matrix product each instead of
    autograd's graph, and a Jacobian in ``O(S²)`` per point instead of ``S`` vector-Jacobian products.
    """

    def __init__(self, cell: LeakyRNNCell, scale: Tensor) -> None:
        super().__init__(lambda u, x: cell(u, x), scale)
        self.weight = cell.recurrent_weight().detach()
        self.weight_in = cell.weight_in.detach()
        self.bias = cell.bias.detach()
        self.alpha = torch.as_tensor(cell.leak(), dtype=self.weight.dtype, device=self.weight.device).detach()
        self.activation = cell.activation

    def rows(self, u: Tensor) -> Tensor:
        return nnf.linear(u, self.weight_in, self.bias)

    def _forward(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """``F(x) − x (B, S)`` and ``d = α ⊙ f'(p) (B, S)``."""
        pre = torch.addmm(rows, x, self.weight.t())
        if self.activation is Activation.TANH:
            f = torch.tanh(pre)
            slope = 1.0 - f * f
        elif self.activation is Activation.RELU:
            f = torch.relu(pre)
            slope = (pre > 0).to(pre.dtype)
        elif self.activation is Activation.SOFTPLUS:
            f = nnf.softplus(pre)
            slope = torch.sigmoid(pre)
        else:
            f = nnf.leaky_relu(pre, LEAKY_RELU_SLOPE)
            slope = torch.where(pre > 0, 1.0, LEAKY_RELU_SLOPE).to(pre.dtype)
        return (f - x) * self.alpha, slope * self.alpha

    def map_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        return x + self._forward(x, rows)[0]

    def residual(self, x: Tensor, rows: Tensor) -> Tensor:
        return self._forward(x, rows)[0] * self.scale

    def q_and_grad(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        move, d = self._forward(x, rows)
        r = move * self.scale
        sr = r * self.scale
        grad = torch.addmm(sr * self.alpha, sr * d, self.weight, beta=-1.0)
        return _q(r), grad

    def linearise(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        move, d = self._forward(x, rows)

        def matvec(v: Tensor) -> Tensor:
            return (d * (v @ self.weight.t()) - self.alpha * v) * self.scale

        return move * self.scale, matvec

    def map_jacobian(self, x: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        move, d = self._forward(x, rows)
        jac = d.unsqueeze(-1) * self.weight
        jac.diagonal(dim1=-2, dim2=-1).add_(1.0 - self.alpha)
        return jac, x + move

    def all_jacobians(self, x: Tensor, u: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        jac, _ = self.map_jacobian(x, rows)
        d = self._forward(x, rows)[1]
        return jac, d.unsqueeze(-1) * self.weight_in


def make_problem(
    cell: object, step: Callable[[Tensor, Tensor], Tensor], scale: Tensor, closed_form: bool, probe: Tensor, u: Tensor
) -> Problem:
    """:class:`LeakyProblem` when ``closed_form`` and ``cell`` is exactly a ``LeakyRNNCell`` with the nonlinearity
    inside whose closed form reproduces ``cell`` on the ``probe (B, S)`` states (a safety check); else the
    autograd :class:`Problem`."""
    generic = Problem(step, scale)
    # Exactly the class: a subclass may change forward().
    if not (closed_form and isinstance(cell, LeakyRNNCell) and type(cell) is LeakyRNNCell):
        return generic
    if not cell.nonlinearity_inside:
        return generic
    leaky = LeakyProblem(cell, scale)
    rows = leaky.rows(u)
    expected = step(u, probe)
    tolerance = 1e-5 if probe.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-10
    if not torch.allclose(leaky.map_rows(probe, rows), expected, rtol=tolerance, atol=tolerance):
        return generic
    return leaky


def gmres(matvec: Callable[[Tensor], Tensor], b: Tensor, dim: int) -> Tensor:
    """Batched GMRES without restart: ``δ (B, S)`` minimising ``‖A δ − b‖`` per row over the Krylov space of
    dimension ``dim`` (Saad & Schultz 1986), ``matvec`` applying every row's ``A`` at once.

    Arnoldi with classical Gram-Schmidt done twice (numerically as good as modified Gram-Schmidt) as batched
    matrix products, then a batched least-squares solve of the small ``(dim + 1, dim)`` Hessenberg systems.
    """
    batch, size = b.shape
    dim = max(1, min(dim, size))
    tiny = torch.finfo(b.dtype).tiny
    beta = torch.linalg.vector_norm(b, dim=1)
    basis = b.new_zeros(batch, dim + 1, size)
    hessenberg = b.new_zeros(batch, dim + 1, dim)
    basis[:, 0] = b / beta.clamp_min(tiny)[:, None]
    for j in range(dim):
        w = matvec(basis[:, j])
        previous = basis[:, : j + 1]
        h = torch.bmm(previous, w.unsqueeze(2))
        w = w - torch.bmm(h.mT, previous).squeeze(1)
        h2 = torch.bmm(previous, w.unsqueeze(2))
        w = w - torch.bmm(h2.mT, previous).squeeze(1)
        norm = torch.linalg.vector_norm(w, dim=1)
        hessenberg[:, : j + 1, j] = (h + h2).squeeze(2)
        hessenberg[:, j + 1, j] = norm
        basis[:, j + 1] = w / norm.clamp_min(tiny)[:, None]
    target = b.new_zeros(batch, dim + 1, 1)
    target[:, 0, 0] = beta
    coefficients = torch.linalg.lstsq(hessenberg, target).solution
    delta = torch.bmm(coefficients.mT, basis[:, :dim]).squeeze(1)
    return torch.where(torch.isfinite(delta), delta, 0.0)


_RETRY = 0.5
"""A point whose Newton-Krylov steps failed tries again once Adam has lowered its ``q`` by this factor."""
_ARMIJO = 1e-2
"""Armijo's constant: a Newton step ``t·δ`` is kept when ``q`` falls by at least ``2·c·t·q`` (the exact Newton
direction's slope along ``δ`` is ``−2q``)."""
_TRIALS = 8
"""Step lengths tried per Newton step: ``t = 1, ½, …, 2^(1 − trials)``."""


def _newton_krylov_step(
    problem: Problem, x: Tensor, rows: Tensor, q: Tensor, dim: int, trials: int = _TRIALS
) -> tuple[Tensor, Tensor, Tensor]:
    """One inexact Newton step ``(∂r/∂x) δ = −r`` by :func:`gmres` per row, with backtracking ``x + t·δ``,
    ``t = 1, ½, ¼, …`` (``trials`` of them): returns the new ``x``, its ``q`` and which rows accepted a step
    (only a step that lowers ``q`` by at least ``2·c·t·q`` is kept, Armijo's rule, so this descends on ``q``,
    cannot leave a minimum and gives up where Newton makes little progress, as at a slow point whose residual
    has no root)."""
    residual, matvec = problem.linearise(x, rows)
    delta = gmres(matvec, -residual, dim)
    new_x, new_q = x.clone(), q.clone()
    accepted = torch.zeros_like(q, dtype=torch.bool)
    pending = torch.arange(x.shape[0], device=x.device)
    t = 1.0
    for _ in range(trials):
        candidate = x[pending] + t * delta[pending]
        q_candidate = _q(problem.residual(candidate, rows[pending]))
        better = torch.isfinite(q_candidate) & (q_candidate <= (1.0 - 2.0 * _ARMIJO * t) * q[pending])
        idx = pending[better]
        new_x[idx], new_q[idx] = candidate[better], q_candidate[better]
        accepted[idx] = True
        pending = pending[~better]
        if pending.numel() == 0:
            break
        t *= 0.5
    return new_x, new_q, accepted


def newton_krylov(
    problem: Problem, x: Tensor, rows: Tensor, q: Tensor, tol_q: float, dim: int, max_steps: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Inexact Newton (:func:`_newton_krylov_step`) on every row of ``x (B, S)`` until ``q < tol_q``, a step
    fails (no sufficient decrease) or ``max_steps``; the batch shrinks as rows finish. Returns the final ``x``,
    ``q`` and which rows failed."""
    x, q = x.clone(), q.clone()
    failed = torch.zeros_like(q, dtype=torch.bool)
    active = torch.nonzero(q >= tol_q).squeeze(1)
    for _ in range(max_steps):
        if active.numel() == 0:
            break
        new_x, new_q, accepted = _newton_krylov_step(problem, x[active], rows[active], q[active], dim)
        x[active], q[active] = new_x, new_q
        failed[active[~accepted]] = True
        active = active[accepted & (new_q >= tol_q)]
    return x, q, failed


def adam_phase(problem: Problem, x0: Tensor, rows: Tensor, options: AdamOptions) -> AdamResult:
    """Minimise ``q = ½‖r(x)‖²`` from every row of ``x0 (K, S)`` with per-point Adam, switching a point to
    Newton-Krylov steps once its ``q`` is small (``rows (K, ·)``: ``problem.rows(u)``).

    Each point has its own step size ``lr_k``: it starts at ``learning_rate``, is multiplied by ``lr_growth``
    after a step that lowered that point's ``q`` (up to the ceiling ``learning_rate · lr_decay^t``) and by
    ``lr_backoff`` whenever its ``q`` went up. A point whose ``q`` is below ``newton_from_q`` takes an inexact
    Newton step instead (:func:`gmres` in a Krylov space of ``krylov_dim``, backtracking until ``q`` decreases):
    quadratic convergence near a fixed point instead of Adam's slow tail. A Newton step that cannot lower ``q``
    (near a slow point, where the residual has no root) is replaced by that iteration's Adam step, and the point
    tries Newton again only once Adam has lowered its ``q`` tenfold.

    A point stops (and leaves the active batch) as soon as ``q_k < tol_q`` or ``|Δq_k| < tol_dq · lr_k``
    (Golub & Sussillo's criterion: the change is scaled by the step size so that tiny steps do not fake
    convergence), when its best ``q`` has not improved by 0.1 % for ``stall_iters`` iterations (a slow point:
    ``DQ_TOL``), or when ``q_k`` is not finite. Points still active after ``max_iters`` iterations are reported
    as ``MAX_ITERS``.
    """
    n_starts = x0.shape[0]
    device = x0.device
    states = x0.detach().clone()
    q_out = torch.full((n_starts,), math.inf, dtype=x0.dtype, device=device)
    iterations = torch.full((n_starts,), options.max_iters, dtype=torch.int64, device=device)
    status = torch.full((n_starts,), StartStatus.MAX_ITERS, dtype=torch.int8, device=device)
    active = torch.arange(n_starts, device=device)
    x = states.clone()
    ra = rows
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    lr = torch.full((n_starts,), options.learning_rate, dtype=x0.dtype, device=device)
    q_prev = torch.full((n_starts,), math.nan, dtype=x0.dtype, device=device)
    beta1, beta2 = options.betas
    ceiling = options.learning_rate
    best = torch.full((n_starts,), math.inf, dtype=x0.dtype, device=device)
    since = torch.zeros(n_starts, dtype=torch.int64, device=device)
    # Newton is tried below min(newton_from_q, retry): retry is a tenth of the q where it last failed.
    retry = torch.full((n_starts,), math.inf, dtype=x0.dtype, device=device)
    newton_seconds = 0.0
    for iteration in range(options.max_iters + 1):
        q, grad = problem.q_and_grad(x, ra)
        finite = torch.isfinite(q) & torch.isfinite(grad).all(-1)
        small_q = q < options.tol_q
        improved = q < best * (1.0 - 1e-3)
        since = torch.where(improved, 0, since + 1)
        best = torch.minimum(best, q)
        small_dq = ((q - q_prev).abs() < options.tol_dq * lr) | (since >= options.stall_iters)
        done = small_q | small_dq | ~finite
        if iteration == options.max_iters:
            done = torch.ones_like(done)
        if bool(done.any()):
            idx = active[done]
            states[idx] = x[done]
            q_out[idx] = q[done]
            iterations[idx] = iteration
            code = torch.full_like(idx, StartStatus.MAX_ITERS, dtype=torch.int8)
            code[small_dq[done]] = StartStatus.DQ_TOL
            code[small_q[done]] = StartStatus.Q_TOL
            code[~finite[done]] = StartStatus.NON_FINITE
            status[idx] = code
            keep = ~done
            if not bool(keep.any()):
                break
            active, x, ra, m, v, lr = active[keep], x[keep], ra[keep], m[keep], v[keep], lr[keep]
            best, since, retry = best[keep], since[keep], retry[keep]
            q, q_prev, grad = q[keep], q_prev[keep], grad[keep]
        rose = q > q_prev
        lr = torch.where(rose, lr * options.lr_backoff, torch.clamp(lr * options.lr_growth, max=ceiling))
        ceiling = ceiling * options.lr_decay
        q_prev = q
        step = iteration + 1
        m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        m_hat = m / (1.0 - beta1**step)
        v_hat = v / (1.0 - beta2**step)
        x_next = x - lr[:, None] * m_hat / (v_hat.sqrt() + options.eps)
        if iteration % options.newton_every == 0:
            newton = torch.nonzero((q < options.newton_from_q) & (q < retry)).squeeze(1)
            if newton.numel() > 0:
                clock = time.perf_counter()
                new_x, new_q, failed = newton_krylov(
                    problem,
                    x[newton],
                    ra[newton],
                    q[newton],
                    options.newton_tol_q,
                    options.krylov_dim,
                    options.newton_steps,
                )
                # Where a Newton step lowered q, its result replaces this iteration's Adam step.
                moved = new_q < q[newton]
                x_next[newton[moved]] = new_x[moved]
                retry[newton[failed]] = _RETRY * new_q[failed]
                newton_seconds += time.perf_counter() - clock
        x = x_next
    return AdamResult(states=states, q=q_out, iterations=iterations, status=status, newton_seconds=newton_seconds)


def _chunk_size(state_size: int, n_inputs: int) -> int:
    return max(1, _JACOBIAN_BUDGET // (state_size * (state_size + n_inputs)))


def jacobians(
    step: Callable[[Tensor, Tensor], Tensor], x: Tensor, u: Tensor, with_inputs: bool = True
) -> tuple[Tensor, Tensor | None, Tensor]:
    """``dF/dx (M, S, S)``, ``dF/du (M, S, n_in)`` (or None) and ``F (M, S)`` at every row of ``x``, ``u``.

    ``step(u (B, n_in), x (B, S)) -> (B, S)`` is the cell (input first, as in the cell protocol, whose rows are
    independent). One vector-Jacobian product of the whole batch per output unit ``i``, with the cotangent
    ``e_i`` on every row, gives row ``i`` of every point's Jacobian at once; ``torch.func.vmap`` runs the ``S``
    products as one batched backward pass (large matrix products instead of ``M`` small ones: about 5× faster
    than ``vmap(jacrev)`` over points for a 256-unit RNN), in chunks of points that bound the memory.
    """
    size = x.shape[1]
    chunk = _chunk_size(size, u.shape[1] if with_inputs else 0)
    jx: list[Tensor] = []
    ju: list[Tensor] = []
    fx: list[Tensor] = []
    with torch.enable_grad():
        for start in range(0, x.shape[0], chunk):
            xc = x[start : start + chunk].detach()
            uc = u[start : start + chunk].detach()
            cotangents = torch.eye(size, dtype=x.dtype, device=x.device).unsqueeze(1).expand(-1, xc.shape[0], -1)
            if with_inputs:
                value, pull = vjp(lambda xi, ui: step(ui, xi), xc, uc)[:2]
                rows_x, rows_u = vmap(pull)(cotangents)  # (S, B, S), (S, B, n_in)
                ju.append(rows_u.permute(1, 0, 2).detach())
            else:
                value, pull = vjp(lambda xi, uc=uc: step(uc, xi), xc)[:2]
                (rows_x,) = vmap(pull)(cotangents)
            jx.append(rows_x.permute(1, 0, 2).detach())
            fx.append(value.detach())
    if not jx:
        empty_u = x.new_zeros(0, size, u.shape[1]) if with_inputs else None
        return x.new_zeros(0, size, size), empty_u, x.new_zeros(0, size)
    return torch.cat(jx), (torch.cat(ju) if with_inputs else None), torch.cat(fx)


@dataclass(frozen=True)
class PolishOptions:
    """Levenberg-Marquardt settings: ``max_iters`` iterations at most, stop below ``tol_q``."""

    tol_q: float
    tol_dq: float
    max_iters: int
    damping: float


@dataclass
class PolishResult:
    """Polished ``states (M, S)``, their ``q (M,)`` and the iterations each used ``(M,)``."""

    states: Tensor
    q: Tensor
    iterations: Tensor


def polish(problem: Problem, x0: Tensor, rows: Tensor, options: PolishOptions) -> PolishResult:
    """Newton's method, damped to Levenberg-Marquardt where needed, on ``r(x) = (F(x, u) − x)·scale`` for every
    row of ``x0 (M, S)`` at once (``rows``: ``problem.rows(u)``).

    With ``A = (dF/dx − I)·scale`` (``problem.map_jacobian``: one batched backward pass, or the closed form of a
    leaky RNN, only at the points still active), a point first takes the Newton step ``δ = −A⁻¹ r`` (a direct
    batched LU solve of ``A δ = −r``, no normal equations, so the conditioning is not squared): quadratic
    convergence to a true fixed point. Where a step does not lower ``q`` (or ``A`` is singular) the point
    switches to Levenberg-Marquardt, ``δ = −(AᵀA + μ·max diag(AᵀA)·I)⁻¹ Aᵀ r``, with ``μ`` ×10 after a rejected
    and ×0.1 after an accepted step; below ``damping · 1e-3`` it is Newton again. A point leaves the active set
    below ``tol_q``, once an accepted step lowers ``q`` by less than 1 % (or ``tol_dq``: the linear convergence
    to a slow point's ``q > 0``), or
    once ``μ`` exceeds 1e6 (no descent left).
    """
    x = x0.detach().clone()
    u = rows
    n_points, size = x.shape
    eye = torch.eye(size, dtype=x.dtype, device=x.device)
    scale_t = torch.as_tensor(problem.scale, dtype=x.dtype, device=x.device)
    row_scale = scale_t[:, None] if scale_t.dim() else scale_t
    residual = problem.residual

    with torch.no_grad():
        q = _q(residual(x, u))
    # μ = 0: Newton; μ > 0: Levenberg-Marquardt.
    mu = torch.zeros(n_points, dtype=x.dtype, device=x.device)
    iterations = torch.zeros(n_points, dtype=torch.int64, device=x.device)
    active = torch.nonzero(q >= options.tol_q).squeeze(1)
    for _ in range(options.max_iters):
        if active.numel() == 0:
            break
        xa, ua = x[active], u[active]
        jac, fx = problem.map_jacobian(xa, ua)
        a = (jac - eye) * row_scale
        r = (fx - xa) * scale_t
        mu_a = mu[active]
        delta = torch.zeros_like(xa)
        newton = mu_a == 0
        if bool(newton.any()):
            solved, info = torch.linalg.solve_ex(a[newton], -r[newton])
            singular = (info != 0) | ~torch.isfinite(solved).all(-1)
            delta[newton] = torch.where(singular[:, None], 0.0, solved)
            # A singular A: damp from the next iteration on (this step is a rejected zero step).
            mu_a = mu_a.clone()
            idx_newton = torch.nonzero(newton).squeeze(1)
            mu_a[idx_newton[singular]] = options.damping
        damped = ~newton
        if bool(damped.any()):
            ad, rd = a[damped], r[damped]
            normal = ad.mT @ ad
            grad = (ad.mT @ rd.unsqueeze(-1)).squeeze(-1)
            diag_max = normal.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(torch.finfo(x.dtype).tiny)
            delta[damped] = -torch.linalg.solve(normal + (mu_a[damped] * diag_max)[:, None, None] * eye, grad)
        x_new = xa + delta
        with torch.no_grad():
            q_new = _q(residual(x_new, ua))
        q_old = q[active]
        better = torch.isfinite(q_new) & (q_new < q_old)
        x[active] = torch.where(better[:, None], x_new, xa)
        q[active] = torch.where(better, q_new, q_old)
        grown = torch.where(mu_a == 0, torch.full_like(mu_a, options.damping), mu_a * 10.0)
        shrunk = torch.where(mu_a * 0.1 < options.damping * 1e-3, 0.0, mu_a * 0.1)
        mu[active] = torch.where(better, shrunk, grown)
        iterations[active] += 1
        # Stalled: the accepted step gained under 1 % (linear convergence to a slow point's q > 0) or < tol_dq.
        stalled = better & (((q_old - q_new) < 1e-2 * q_old) | ((q_old - q_new) < options.tol_dq))
        hopeless = mu[active] > 1e6
        finished = (q[active] < options.tol_q) | stalled | hopeless
        active = active[~finished]
    return PolishResult(states=x, q=q, iterations=iterations)


def unique_indices(points: Tensor, q: Tensor, tol: float) -> Tensor:
    """Indices of the points to keep: within ``tol`` in every coordinate (L∞) counts as the same point.

    Greedy in order of increasing ``q`` (each point is kept unless a kept point with lower ``q`` lies within
    ``tol``), which is what a sequential scan does; here the neighbour pairs come from chunked ``torch.cdist``
    and the greedy choice is reached by a vectorised fixed-point iteration over the whole set (at most as many
    rounds as the longest chain of neighbours, usually one or two). Returns indices sorted by ``q``.
    """
    n = points.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=points.device)
    order = torch.argsort(q, stable=True)
    sorted_points = points[order]
    rows: list[Tensor] = []
    cols: list[Tensor] = []
    chunk = max(1, (1 << 24) // max(n, 1))
    for start in range(0, n, chunk):
        dist = torch.cdist(sorted_points[start : start + chunk], sorted_points, p=math.inf)
        i, j = torch.nonzero(dist <= tol, as_tuple=True)
        i = i + start
        earlier = j < i
        rows.append(i[earlier])
        cols.append(j[earlier])
    later = torch.cat(rows)
    better = torch.cat(cols)
    keep = torch.ones(n, dtype=torch.bool, device=points.device)
    for _ in range(n + 1):
        blocked = torch.zeros(n, dtype=torch.bool, device=points.device)
        blocked[later[keep[better]]] = True
        new_keep = ~blocked
        if bool((new_keep == keep).all()):
            break
        keep = new_keep
    return order[keep]


def eigendecompose(jac: Tensor, continuous: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Eigenvalues ``(M, S)``, right ``(M, S, S)`` and left ``(M, S, S)`` eigenvectors, slowest mode first.

    Right eigenvectors are columns ``v_i`` with ``J v_i = λ_i v_i``; left eigenvectors are columns ``w_i`` with
    ``w_iᴴ J = λ_i w_iᴴ``, both of unit norm (LAPACK's convention, as in ``scipy.linalg.eig(left=True)``). The
    left ones are the rows of ``V⁻¹`` (conjugated), so ``w_iᴴ v_j = 0`` for ``i ≠ j``. Slowest first: by
    decreasing ``|λ|`` for a map (discrete time), by decreasing ``Re λ`` for a flow (continuous time).
    Computed in the dtype of ``jac``.
    """
    values, right = torch.linalg.eig(jac)
    key = values.real if continuous else values.abs()
    order = torch.argsort(key, dim=-1, descending=True, stable=True)
    values = torch.gather(values, -1, order)
    right = torch.gather(right, -1, order.unsqueeze(-2).expand_as(right))
    left = torch.linalg.inv(right).conj().mT
    left = left / torch.linalg.vector_norm(left, dim=-2, keepdim=True)
    return values, right, left
