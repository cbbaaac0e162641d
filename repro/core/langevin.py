"""Langevin dynamics for p(Y) ∝ exp(f(Y)) N(0, σ² I) (arXiv eq. 8).

    Y ← Y − (δ²/2) (Y/σ² − ∂f/∂Y) + δ U,    U ~ N(0, I)

Mask convention, used everywhere in this suite: ``update_mask`` is 1 (True)
where a pixel may move (missing pixels, M) and 0 where it is held fixed
(observed pixels, M̄). Held pixels are carried over bit-identically.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn as nn

from repro.base import dist
from repro.base.io import NonFiniteError


@contextlib.contextmanager
def frozen(module: nn.Module | None):
    """Take a module's parameters out of autograd for the duration of the block."""
    if module is None:
        yield
        return
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def langevin_step(y: torch.Tensor, grad_f: torch.Tensor, *, step_size: float, sigma: float,
                  noise: torch.Tensor | None) -> torch.Tensor:
    """One step of eq. (8) given ∂f/∂Y at y; ``noise`` is U (or None for the noise-free step)."""
    y_next = y - 0.5 * step_size ** 2 * (y / sigma ** 2 - grad_f)
    return y_next if noise is None else y_next + step_size * noise


def langevin(score_fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, *, steps: int,
             step_size: float, sigma: float, noise: bool = True,
             update_mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
             clip: tuple[float, float] | None = None) -> torch.Tensor:
    """Run `steps` Langevin steps from `y` (B, C, H, W); return the final batch (detached).

    score_fn: maps (B, C, H, W) to the (B,) scores f(Y). If it is an nn.Module its
        parameters are taken out of autograd while sampling (only ∂f/∂Y is computed).
    sigma: σ of the reference Gaussian; ``float('inf')`` drops the Y/σ² term.
    update_mask: broadcastable to `y`; 1 where pixels move, 0 where they are held.
    clip: optional (low, high) range each step is clamped to (the release clamps to [0, 255]).
    Raises NonFiniteError if the initial batch, a score or the final sample is not finite (checked once,
    at the end, on every process alike, so the loop never synchronises with the device).
    Inside repro.base.dist.data_parallel() `y` is this process's shard of the batch: the noise is drawn
    for the global batch and sharded, and score_fn's batch norm takes global statistics.
    """
    if y.dim() != 4:
        raise ValueError(f"langevin: expected a (B, C, H, W) batch, got shape {tuple(y.shape)}")
    if steps < 0 or step_size <= 0 or not sigma > 0:
        raise ValueError(f"langevin: need steps ≥ 0, step_size > 0, sigma > 0 "
                         f"(got {steps}, {step_size}, {sigma})")
    start_finite = torch.isfinite(y).all()  # checked with the rest at the end: no host sync here
    move = None
    if update_mask is not None:
        move = update_mask.to(device=y.device, dtype=torch.bool).expand_as(y)
    y = y.detach()
    finite = torch.ones((), dtype=torch.bool, device=y.device)
    module = score_fn if isinstance(score_fn, nn.Module) else None
    with frozen(module):
        for _ in range(steps):
            with torch.enable_grad():
                y_var = y.requires_grad_(True)
                f = score_fn(y_var)  # (B,)
                (grad_f,) = torch.autograd.grad(f.sum(), y_var)
            finite &= torch.isfinite(f).all()
            u = dist.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype) if noise else None
            with torch.no_grad():
                y_next = langevin_step(y.detach(), grad_f, step_size=step_size, sigma=sigma, noise=u)
                if clip is not None:
                    y_next = y_next.clamp(clip[0], clip[1])
                if move is not None:
                    y_next = torch.where(move, y_next, y.detach())
            y = y_next
    finite &= torch.isfinite(y).all()
    # one host sync per call, after the loop; every process makes the same decision (data-parallel)
    start_ok, ok = dist.all_true(torch.stack([start_finite, finite])).tolist()
    if not start_ok:
        raise NonFiniteError("langevin: the initial batch has non-finite values")
    if not ok:
        raise NonFiniteError("langevin: non-finite scores or samples; the energy has diverged "
                             "(try a smaller step size or learning rate)")
    return y.detach()
