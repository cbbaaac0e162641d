"""Inpainting masks (arXiv §7.4, CVPR §6.4): square, doodle, pepper-and-salt.

Convention (the suite's, see repro.core.langevin): a mask is 1 where a pixel is MISSING
(it may move under Langevin dynamics) and 0 where it is observed (held fixed).
Every generator returns a (B, 1, H, W) float tensor of 0/1 on ``generator.device``
(one mask per image, shared by all colour channels) and draws all its randomness
from the explicit ``torch.Generator`` it is given, so equal seeds give equal masks.

- ``square``: a side×side square at a uniformly random position, fully inside the image
  (the paper's 32×32 training and test mask at 64×64).
- ``doodle``: random thick strokes until about ``missing`` (25%) of the pixels are gone.
  The paper gives only the fraction; our strokes are random-walk polylines (3–8 segments of
  length size/16…3·size/16, each turning by at most ±60°), painted with a round brush of
  width size/16 (every pixel whose centre lies within width/2 of the segment), added one
  segment at a time until the fraction reaches ``missing`` (so it overshoots by at most one
  segment, about 1% of the pixels).
- ``pepper``: each pixel missing independently with probability ``missing`` (0.6).
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform [0, 1) draws on the generator's device."""
    return torch.rand(shape, generator=generator, device=generator.device)


def square_mask(b: int, size: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """(b, 1, size, size): one side×side square per image, uniformly placed, fully inside."""
    if not 0 < side <= size:
        raise ValueError(f"square_mask: side must be in 1..{size}, got {side}")
    dev = generator.device
    top = torch.randint(size - side + 1, (b, 1, 1), generator=generator, device=dev)  # (b, 1, 1)
    left = torch.randint(size - side + 1, (b, 1, 1), generator=generator, device=dev)
    r = torch.arange(size, device=dev).view(1, size, 1)  # (1, H, 1)
    c = torch.arange(size, device=dev).view(1, 1, size)  # (1, 1, W)
    inside = (r >= top) & (r < top + side) & (c >= left) & (c < left + side)  # (b, H, W)
    return inside.unsqueeze(1).float()


def _paint_segment(canvas: torch.Tensor, p: torch.Tensor, q: torch.Tensor, radius: float) -> None:
    """Set the pixels of canvas (H, W) whose centres lie within `radius` of segment p–q (row, col)."""
    size = canvas.shape[-1]
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1)
    grid = grid.float() + 0.5  # (H, W, 2) pixel centres
    d = q - p  # (2,)
    t = ((grid - p) @ d / d.dot(d).clamp_min(1e-12)).clamp(0, 1)  # (H, W) projection on the segment
    dist = (grid - (p + t.unsqueeze(-1) * d)).norm(dim=-1)  # (H, W)
    canvas |= dist <= radius


def _doodle_one(size: int, generator: torch.Generator, missing: float, width: float) -> torch.Tensor:
    """(H, W) bool: random-walk strokes added segment by segment until `missing` of the pixels are set."""
    canvas = torch.zeros(size, size, dtype=torch.bool)
    target = missing * size * size
    while canvas.sum() < target:
        u = _rand(generator, 3).cpu()  # start row, start col, heading
        p, angle = u[:2] * size, float(u[2]) * 2 * math.pi
        n_seg = int(torch.randint(3, 9, (1,), generator=generator, device=generator.device))
        for v in _rand(generator, n_seg, 2).cpu():  # per segment: turn, length
            angle += (float(v[0]) - 0.5) * (2 * math.pi / 3)
            length = size / 16 * (1 + 2 * float(v[1]))
            q = (p + length * torch.tensor([math.sin(angle), math.cos(angle)])).clamp(0, size)
            _paint_segment(canvas, p, q, width / 2)
            p = q
            if canvas.sum() >= target:
                break
    return canvas


def doodle_mask(b: int, size: int, generator: torch.Generator, missing: float = 0.25,
                width: float | None = None) -> torch.Tensor:
    """(b, 1, size, size): random thick strokes, about `missing` of each image's pixels.

    width: brush width in pixels (default size/16, 4 px at 64×64).
    """
    if not 0 < missing < 1:
        raise ValueError(f"doodle_mask: missing must be in (0, 1), got {missing}")
    width = size / 16 if width is None else width
    masks = [_doodle_one(size, generator, missing, width) for _ in range(b)]  # b × (H, W)
    return torch.stack(masks).unsqueeze(1).float().to(generator.device)


def pepper_mask(b: int, size: int, generator: torch.Generator, missing: float = 0.6) -> torch.Tensor:
    """(b, 1, size, size): each pixel missing independently with probability `missing`."""
    if not 0 <= missing <= 1:
        raise ValueError(f"pepper_mask: missing must be in [0, 1], got {missing}")
    return (_rand(generator, b, 1, size, size) < missing).float()


def _square(b: int, size: int, generator: torch.Generator, side: int | None = None) -> torch.Tensor:
    return square_mask(b, size, size // 2 if side is None else side, generator)


# name → fn(b, size, generator, **options) → (b, 1, size, size); square's option is side (default size/2)
MASKS: dict[str, Callable[..., torch.Tensor]] = {"square": _square, "doodle": doodle_mask, "pepper": pepper_mask}


def get_mask(name: str) -> Callable[..., torch.Tensor]:
    """The mask generator called `name`: fn(b, size, generator, **options)."""
    if name not in MASKS:
        raise ValueError(f"unknown mask {name!r}; known masks: {', '.join(MASKS)}")
    return MASKS[name]
