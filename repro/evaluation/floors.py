"""Inpainting floors that need no learned model: what a method without learning scores.

Each function fills the missing pixels of x (B, C, H, W) given mask (B, 1, H, W) (1 = missing) and
returns (B, C, H, W) with every observed pixel copied bit for bit from x, so the floors go through
the same metric code as the learned methods. The simplest floor, the observed-pixel mean, is where the
sampler's chains start: it lives with the sampler (repro.core.pyramid.observed_mean_fill).
"""
from __future__ import annotations

import numpy as np
import torch

from repro.core.pyramid import coarse_observation, downscale, observed_mean_fill, upscale


def mean_face_fill(x: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    """Missing pixels taken from the training set's mean image (C, H, W)."""
    if mean_image.shape != x.shape[1:]:
        raise ValueError(f"mean image {tuple(mean_image.shape)} does not fit images {tuple(x.shape)}")
    return torch.where(mask.bool(), mean_image.to(x)[None], x)


def biharmonic_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Missing pixels by biharmonic inpainting (skimage.restoration.inpaint_biharmonic), per image."""
    from skimage.restoration import inpaint_biharmonic
    out = x.detach().cpu().double().numpy().copy()  # (B, C, H, W)
    holes = mask.detach().cpu().bool().numpy()[:, 0]  # (B, H, W)
    for i in range(len(out)):
        if holes[i].any():
            img = np.moveaxis(out[i], 0, -1)  # (H, W, C)
            out[i] = np.moveaxis(inpaint_biharmonic(img, holes[i], channel_axis=-1), -1, 0)
    filled = torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
    return torch.where(mask.bool(), filled, x)


def multigrid_start_fill(x: torch.Tensor, mask: torch.Tensor, sizes) -> torch.Tensor:
    """The multi-grid scheme's test-time start with no model (0 Langevin steps): the chain starts at the 1×1
    version of the observed-mean fill and passes up the grids `sizes` (coarse to fine); at each grid a block
    that the mask covers only in part is held at the mean of its observed pixels (repro.core.pyramid.
    coarse_observation), a wholly missing one keeps the up-scaled coarser state. Under a pepper mask nearly
    every coarse block is partly observed, so this is a local block-mean interpolation: what multi-grid's
    learned steps must improve on (``Learner.inpaint`` with 0 steps gives exactly this)."""
    y = downscale(observed_mean_fill(x, mask), 1)  # (B, C, 1, 1)
    for size in sizes:
        y = upscale(y, size)
        move, held = coarse_observation(x, mask, size)
        y = torch.where(move, y, held)
    return torch.where(mask.bool(), y.to(x.dtype), x)
