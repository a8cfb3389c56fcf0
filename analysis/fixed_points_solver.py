"""The numerical core of :func:`mtrnn.analysis.find_fixed_points`: vectorised over points, never looping over them.

* :func:`adam_phase`: Adam on ``q`` for all starts at once with a per-point active set (a converged point leaves
  the batch, so the slowest start never makes the others iterate) and a per-point decaying step size.
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
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import vjp, vmap

__all__ = [
    "AdamOptions",
    "AdamResult",
    "PolishOptions",
    "PolishResult",
    "Residual",
    "StartStatus",
    "adam_phase",
    "eigendecompose",
    "jacobians",
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


@dataclass
class AdamResult:
    """Per start: final ``states (K, S)``, ``q (K,)``, ``iterations (K,)`` and ``status (K,)`` codes."""

    states: Tensor
    q: Tensor
    iterations: Tensor
    status: Tensor


def _q(residual: Tensor) -> Tensor:
    return 0.5 * residual.square().sum(-1)


def adam_phase(residual: Residual, x0: Tensor, u: Tensor, options: AdamOptions) -> AdamResult:
    """Minimise ``q = ½‖residual(x, u)‖²`` from every row of ``x0 (K, S)`` with per-point Adam.

    Each point has its own step size ``lr_k``: it starts at ``learning_rate``, is multiplied by ``lr_decay``
    every iteration and by ``lr_backoff`` whenever that point's ``q`` went up. A point stops (and leaves the
    active batch) as soon as ``q_k < tol_q`` or ``|Δq_k| < tol_dq · lr_k`` (Golub & Sussillo's criterion: the
    change is scaled by the step size so that tiny steps do not fake convergence), when its best ``q`` has not
    improved by 0.1 % for ``stall_iters`` iterations (a slow point: ``DQ_TOL``), or when ``q_k`` is not finite.
    Points still active after ``max_iters`` iterations are reported as ``MAX_ITERS``.
    """
    n_starts = x0.shape[0]
    device = x0.device
    states = x0.detach().clone()
    q_out = torch.full((n_starts,), math.inf, dtype=x0.dtype, device=device)
    iterations = torch.full((n_starts,), options.max_iters, dtype=torch.int64, device=device)
    status = torch.full((n_starts,), StartStatus.MAX_ITERS, dtype=torch.int8, device=device)
    active = torch.arange(n_starts, device=device)
    x = states.clone()
    ua = u
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    lr = torch.full((n_starts,), options.learning_rate, dtype=x0.dtype, device=device)
    q_prev = torch.full((n_starts,), math.nan, dtype=x0.dtype, device=device)
    beta1, beta2 = options.betas
    ceiling = options.learning_rate
    best = torch.full((n_starts,), math.inf, dtype=x0.dtype, device=device)
    since = torch.zeros(n_starts, dtype=torch.int64, device=device)
    for iteration in range(options.max_iters + 1):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            q = _q(residual(xg, ua))
            (grad,) = torch.autograd.grad(q.sum(), xg)
        q = q.detach()
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
            active, x, ua, m, v, lr = active[keep], x[keep], ua[keep], m[keep], v[keep], lr[keep]
            best, since = best[keep], since[keep]
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
        x = x - lr[:, None] * m_hat / (v_hat.sqrt() + options.eps)
    return AdamResult(states=states, q=q_out, iterations=iterations, status=status)


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


def polish(
    step: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    u: Tensor,
    scale: Tensor | float,
    options: PolishOptions,
) -> PolishResult:
    """Newton's method, damped to Levenberg-Marquardt where needed, on ``r(x) = (F(x, u) − x)·scale`` for every
    row of ``x0 (M, S)`` at once.

    With ``A = (dF/dx − I)·scale`` (the Jacobians by one batched backward pass, only at the points still
    active), a point first takes the Newton step ``δ = −A⁻¹ r`` (a direct batched LU solve of ``A δ = −r``, no
    normal equations, so the conditioning is not squared): quadratic convergence to a true fixed point. Where a
    step does not lower ``q`` (or ``A`` is singular) the point switches to Levenberg-Marquardt,
    ``δ = −(AᵀA + μ·max diag(AᵀA)·I)⁻¹ Aᵀ r``, with ``μ`` ×10 after a rejected and ×0.1 after an accepted step;
    below ``damping · 1e-3`` it is Newton again. A point leaves the active set below ``tol_q``, once an accepted
    step lowers ``q`` by less than 1 % (or ``tol_dq``: the linear convergence to a slow point's ``q > 0``), or
    once ``μ`` exceeds 1e6 (no descent left).
    """
    x = x0.detach().clone()
    n_points, size = x.shape
    eye = torch.eye(size, dtype=x.dtype, device=x.device)
    scale_t = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    row_scale = scale_t[:, None] if scale_t.dim() else scale_t

    def residual(points: Tensor, inputs: Tensor) -> Tensor:
        return (step(inputs, points) - points) * scale_t

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
        jac, _, fx = jacobians(step, xa, ua, with_inputs=False)
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
