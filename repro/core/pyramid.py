"""Grid operators between the multi-grid versions of an image (arXiv §6).

Down-scaling averages each d×d block into one pixel; up-scaling expands each
pixel into a d×d block of constant intensity. Down-scaling is a linear map onto
orthogonal block indicators (scaled), up-scaling its pseudo-inverse, so
``downscale(upscale(x))`` is the identity and ``upscale(downscale(x))`` is the
orthogonal projection onto block-constant images. With a mask, ``coarse_observation`` is what a grid
knows of an image and ``observed_mean_fill`` the full-size fill the chains start from.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from repro.base.config import Config
from repro.datasets.data import ImageSet


def _check(x: torch.Tensor, size: int, op: str) -> int:
    if x.dim() != 4:
        raise ValueError(f"{op}: expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h != w:
        raise ValueError(f"{op}: expected square images, got {h}×{w}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    return h


def downscale(x: torch.Tensor, size: int) -> torch.Tensor:
    """Block-average (B, C, H, H) → (B, C, size, size); H must be a multiple of size."""
    h = _check(x, size, "downscale")
    if h % size:
        raise ValueError(f"downscale: {h}×{h} does not divide into {size}×{size} blocks")
    d = h // size
    return x if d == 1 else F.avg_pool2d(x, kernel_size=d, stride=d)


def upscale(x: torch.Tensor, size: int) -> torch.Tensor:
    """Block-constant (B, C, h, h) → (B, C, size, size); size must be a multiple of h."""
    h = _check(x, size, "upscale")
    if size % h:
        raise ValueError(f"upscale: {h}×{h} does not expand into {size}×{size} with integer blocks")
    d = size // h
    return x if d == 1 else x.repeat_interleave(d, dim=-2).repeat_interleave(d, dim=-1)


def coarse_observation(observed: torch.Tensor, mask: torch.Tensor, size: int):
    """What is known of `observed` (B, C, H, H) at grid `size` under `mask` (1 = missing).

    Returns (move, held), both (B, C, size, size): move is True where the whole block is missing;
    held is the mean of the block's observed pixels (arbitrary where move is True).
    """
    known = (1 - mask.to(observed.dtype)).expand_as(observed)  # (B, C, H, H), 1 = observed
    frac = downscale(known, size)  # fraction of each block observed
    move = frac == 0
    held = downscale(observed * known, size) / torch.where(move, torch.ones_like(frac), frac)
    return move, held


def observed_mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Missing pixels set to the per-channel mean of the image's observed pixels (the chains' start)."""
    obs = 1 - mask  # (B, 1, H, W)
    mean = (x * obs).sum((2, 3), keepdim=True) / obs.sum((2, 3), keepdim=True).clamp_min(1)  # (B, C, 1, 1)
    return torch.where(mask.bool(), mean.to(x.dtype), x)


def check_sizes(sizes, image_size: int) -> None:
    """Raise ValueError unless `sizes` grow from 1×1 by integer factors up to the image size."""
    if not sizes or sizes[-1] != image_size:
        raise ValueError(f"the finest grid must be the image size {image_size}, got grids {tuple(sizes)}")
    for a, b in zip((1, *sizes), sizes):
        if b <= a or b % a:
            raise ValueError(f"grid sizes must increase by integer factors from 1×1, got {tuple(sizes)}")


def sample_1x1(train_set: ImageSet, n: int, generator: torch.Generator, cfg: Config) -> torch.Tensor:
    """(n, C, 1, 1) starting images drawn from the empirical distribution (histogram) of the
    training images' 1×1 versions; whole colour vectors are drawn, keeping channel correlation."""
    idx = torch.randint(len(train_set), (n,), generator=generator, device=generator.device).cpu()
    return downscale(train_set.batch(idx, pixel_max=cfg.pixel_max, dtype=cfg.dtype()), 1)
