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


def draw_noise(steps: int, shape, *, generator: torch.Generator | None, device, dtype) -> torch.Tensor:
    """The noise U of `steps` Langevin steps of a (B, C, H, W) batch, drawn before the chain: (steps, B, C, H, W).
    Drawn step by step with the very calls the chain makes (repro.base.dist.randn), so a chain given these draws
    equals the chain that draws as it goes, bit for bit, and leaves the generator in the same state."""
    return torch.stack([dist.randn(shape, generator=generator, device=device, dtype=dtype) for _ in range(steps)])


def langevin(score_fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, *, steps: int,
             step_size: float, sigma: float, noise: bool = True,
             update_mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
             clip: tuple[float, float] | None = None, noise_draws: torch.Tensor | None = None) -> torch.Tensor:
    """Run `steps` Langevin steps from `y` (B, C, H, W); return the final batch (detached).

    score_fn: maps (B, C, H, W) to the (B,) scores f(Y). If it is an nn.Module its
        parameters are taken out of autograd while sampling (only ∂f/∂Y is computed).
    sigma: σ of the reference Gaussian; ``float('inf')`` drops the Y/σ² term.
    update_mask: broadcastable to `y`; 1 where pixels move, 0 where they are held.
    clip: optional (low, high) range each step is clamped to (the release clamps to [0, 255]).
    noise_draws: the noise of every step drawn beforehand (draw_noise: (steps, B, C, H, W)); None draws it step by
        step from `generator`. With it the loop draws nothing and has static shapes and no host read, so it can be
        captured whole as a CUDA graph (CapturedLangevin).
    Raises NonFiniteError if the initial batch, a score or the final sample is not finite (checked once,
    at the end, on every process alike, so the loop never synchronises with the device).
    Inside repro.base.dist.data_parallel() `y` is this process's shard of the batch: the noise is drawn
    for the global batch and sharded, and score_fn's batch norm takes global statistics.
    """
    check_chain(y, steps, step_size, sigma, noise_draws)
    y, start_finite, finite = chain(score_fn, y, steps=steps, step_size=step_size, sigma=sigma, noise=noise,
                                    update_mask=update_mask, generator=generator, clip=clip, noise_draws=noise_draws)
    raise_unless_finite(start_finite, finite)
    return y


def check_chain(y: torch.Tensor, steps: int, step_size: float, sigma: float, noise_draws=None) -> None:
    if y.dim() != 4:
        raise ValueError(f"langevin: expected a (B, C, H, W) batch, got shape {tuple(y.shape)}")
    if steps < 0 or step_size <= 0 or not sigma > 0:
        raise ValueError(f"langevin: need steps ≥ 0, step_size > 0, sigma > 0 "
                         f"(got {steps}, {step_size}, {sigma})")
    if noise_draws is not None and tuple(noise_draws.shape) != (steps, *y.shape):
        raise ValueError(f"langevin: noise_draws of shape {tuple(noise_draws.shape)}, expected "
                         f"{(steps, *y.shape)} (steps, B, C, H, W)")


def chain(score_fn, y: torch.Tensor, *, steps: int, step_size: float, sigma: float, noise: bool = True,
          update_mask: torch.Tensor | None = None, generator: torch.Generator | None = None,
          clip: tuple[float, float] | None = None, noise_draws: torch.Tensor | None = None):
    """The Langevin loop itself, device work only: (final batch, the initial batch finite, every score and the
    final batch finite), the two flags as 0-dim device tensors, never read here."""
    start_finite = torch.isfinite(y).all()
    move = None
    if update_mask is not None:
        move = update_mask.to(device=y.device, dtype=torch.bool).expand_as(y)
    y = y.detach()
    finite = torch.ones((), dtype=torch.bool, device=y.device)
    module = score_fn if isinstance(score_fn, nn.Module) else None
    with frozen(module):
        for t in range(steps):
            with torch.enable_grad():
                y_var = y.requires_grad_(True)
                f = score_fn(y_var)  # (B,)
                (grad_f,) = torch.autograd.grad(f.sum(), y_var)
            finite &= torch.isfinite(f).all()
            if noise_draws is not None:
                u = noise_draws[t] if noise else None
            else:
                u = dist.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype) if noise else None
            with torch.no_grad():
                y_next = langevin_step(y.detach(), grad_f, step_size=step_size, sigma=sigma, noise=u)
                if clip is not None:
                    y_next = y_next.clamp(clip[0], clip[1])
                if move is not None:
                    y_next = torch.where(move, y_next, y.detach())
            y = y_next
    finite &= torch.isfinite(y).all()
    return y.detach(), start_finite, finite


def raise_unless_finite(start_finite: torch.Tensor, finite: torch.Tensor) -> None:
    """One host read per chain, after it; every process makes the same decision (data-parallel)."""
    start_ok, ok = dist.all_true(torch.stack([start_finite, finite])).tolist()
    if not start_ok:
        raise NonFiniteError("langevin: the initial batch has non-finite values")
    if not ok:
        raise NonFiniteError("langevin: non-finite scores or samples; the energy has diverged "
                             "(try a smaller step size or learning rate)")


class CapturedLangevin:
    """A whole Langevin chain of fixed shape, steps and settings captured once as one CUDA graph and replayed: the
    loop's kernels are launched by one call instead of one per operation (about 20 per step), which dominates a step
    of the paper's small networks. The chain has what capture needs: no host read inside, static shapes, a fixed
    step count, and noise drawn beforehand (draw_noise) into a static buffer. CUDA only; a benchmark variant
    (tools.bench, "cudagraph_loop+tf32") until it has run on a GPU."""

    def __init__(self, score_fn, shape, *, steps: int, step_size: float, sigma: float, noise: bool = True,
                 clip=None, update_mask: torch.Tensor | None = None, device, dtype=torch.float32, warmup: int = 3):
        device = torch.device(device)
        if device.type != "cuda":
            raise ValueError(f"CapturedLangevin needs a CUDA device (CUDA graphs), got {device}")
        self.y0 = torch.zeros(tuple(shape), device=device, dtype=dtype)  # static input buffers
        self.noise = torch.zeros((steps, *shape), device=device, dtype=dtype)
        check_chain(self.y0, steps, step_size, sigma, self.noise)
        kw = dict(steps=steps, step_size=step_size, sigma=sigma, noise=noise, clip=clip, update_mask=update_mask,
                  noise_draws=self.noise)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires (allocator, cuDNN plans)
            for _ in range(warmup):
                chain(score_fn, self.y0, **kw)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = chain(score_fn, self.y0, **kw)

    def __call__(self, y: torch.Tensor, noise_draws: torch.Tensor) -> torch.Tensor:
        """The chain from y with the given noise (draw_noise), as langevin(..., noise_draws=...) computes it."""
        self.y0.copy_(y)
        self.noise.copy_(noise_draws)
        self.graph.replay()
        y_out, start_finite, finite = (t.clone() for t in self.out)
        raise_unless_finite(start_finite, finite)
        return y_out
