"""Latent inference for a generator g: X ↦ Y, and the completion it gives (CoopNets, ICLR 2017 submission, §5.1;
also DCGAN's completion column there).

``infer_latent`` runs Langevin dynamics on X for the residual on the observed pixels only (Algorithm G's step G1,
with the prior N(0, I)); ``complete`` fills the missing pixels from g(X̂). Both take the inference's steps and step
size; the families' defaults are the CoopNets experiment's (repro.configs.coopnets.INFER).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from repro.core.langevin import frozen, langevin


def infer_latent(generator: nn.Module, y: torch.Tensor, mask: torch.Tensor, *, z_dim: int, steps: int,
                 step_size: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Langevin inference of X for images y (B, C, S, S) in [−1, 1] seen only where mask (B, 1, S, S) is 0.

    mask: the suite's convention, 1 = missing. The missing pixels are zeroed before anything reads y, so the
    result depends on the observed pixels only. Prior X ~ N(0, I) (σ = 1 in repro.core.langevin), score
    −Σ_observed (y − g(X))² / (2σ²); X starts from N(0, I) drawn from `gen`. Returns X (B, z_dim).
    """
    seen = 1 - mask.to(y.dtype)  # (B, 1, S, S), 1 = observed
    y_obs = y * seen  # hidden pixels never enter below

    def score(z4: torch.Tensor) -> torch.Tensor:  # (B, z_dim, 1, 1) → (B,)
        r = (y_obs - generator(z4.flatten(1))) * seen
        return -(r ** 2).flatten(1).sum(1) / (2 * sigma ** 2)

    z0 = torch.randn((len(y), z_dim, 1, 1), generator=gen, device=gen.device).to(y.device, y.dtype)
    with frozen(generator):
        z = langevin(score, z0, steps=steps, step_size=step_size, sigma=1.0, generator=gen)
    return z.flatten(1)


def complete(generator: nn.Module, x: torch.Tensor, mask: torch.Tensor, *, pixel_max: float, z_dim: int, steps: int,
             step_size: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Face completion (§5.1): x (B, C, S, S) in [0, pixel_max], mask (B, 1, S, S) 1 = missing → x with its
    missing pixels from g(X̂), X̂ inferred from the observed pixels (``infer_latent``)."""
    y = x * (2.0 / pixel_max) - 1
    z = infer_latent(generator, y, mask, z_dim=z_dim, steps=steps, step_size=step_size, sigma=sigma, gen=gen)
    with torch.no_grad():
        out = (generator(z) + 1) * (pixel_max / 2.0)
    return torch.where(mask.bool().expand_as(x), out.clamp(0, pixel_max), x)
