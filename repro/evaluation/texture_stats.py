"""A number for the generative ConvNet's texture pictures (ICML 2016 §7.1 reports pictures only): how far a
synthesized texture's statistics lie from the training texture's, beside a floor and a ceiling.

Chain of pure functions (features → statistics → distance), on images (B, C, H, W) in any intensity units:
- ``random_features``: the responses of one fixed random convolution layer (seeded, 5×5, ReLU) to the image
  standardised by the training image's mean and standard deviation (so the distance sees structure, not units);
- ``gram``: (B, K, K) Gram matrix of those responses averaged over positions (Gatys et al.'s texture statistic);
- ``gram_distance``: ‖G(a) − G(ref)‖_F / ‖G(ref)‖_F per image of a (several references: their mean Gram).
Zero for an image against itself; the floor is white noise with the texture's mean and variance (its Gram
matrix keeps only the marginal), the ceiling a random crop of the training image itself (same texture, other
pixels).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

N_FILTERS = 32
KERNEL = 5


def random_filters(channels: int, seed: int = 0) -> torch.Tensor:
    """(N_FILTERS, C, 5, 5) fixed zero-mean random filters of unit norm, from `seed`."""
    w = torch.randn(N_FILTERS, channels, KERNEL, KERNEL, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    w = w - w.mean((1, 2, 3), keepdim=True)
    return w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def random_features(x: torch.Tensor, ref: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B, K, h, w) ReLU responses of the fixed filters to x standardised by the mean and sd of ref (training)."""
    x, ref = x.double(), ref.double()
    z = (x - ref.mean()) / ref.std().clamp_min(1e-12)
    return F.relu(F.conv2d(z, random_filters(x.shape[1], seed).to(z.device)))


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) → (B, K, K) Gram matrices averaged over positions."""
    f = features.flatten(2)  # (B, K, h·w)
    return f @ f.transpose(1, 2) / f.shape[-1]


def gram_distance(x: torch.Tensor, ref: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B,) relative Frobenius distance between the Gram matrix of each image of x and the reference Gram matrix:
    that of ref (1, C, H, W), or the mean of the Gram matrices of several reference images (R, C, H, W)."""
    if ref.dim() != 4 or x.dim() != 4 or x.shape[1] != ref.shape[1]:
        raise ValueError(f"gram_distance: x (B, C, H, W) against references (R, C, H, W), got "
                         f"{tuple(x.shape)} and {tuple(ref.shape)}")
    g_ref = gram(random_features(ref, ref, seed)).mean(0, keepdim=True)  # (1, K, K)
    g = gram(random_features(x, ref, seed))  # (B, K, K)
    return (g - g_ref).flatten(1).norm(dim=1) / g_ref.flatten(1).norm(dim=1)


def noise_like(ref: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, C, H, W) white noise with ref's (1, C, H, W) per-channel mean and standard deviation (the floor)."""
    mean, sd = ref.mean((0, 2, 3), keepdim=True), ref.std((0, 2, 3), keepdim=True)
    return mean + sd * torch.randn((n, *ref.shape[1:]), generator=generator, dtype=ref.dtype)


def random_crops(ref: torch.Tensor, n: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """(n, C, side, side) crops of ref (1, C, H, W) at uniformly random positions (the ceiling)."""
    h, w = ref.shape[-2:]
    tops = torch.randint(h - side + 1, (n,), generator=generator)
    lefts = torch.randint(w - side + 1, (n,), generator=generator)
    return torch.stack([ref[0, :, t:t + side, s:s + side] for t, s in zip(tops.tolist(), lefts.tolist())])
