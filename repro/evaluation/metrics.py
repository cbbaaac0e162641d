"""Inpainting metrics (arXiv §7.4 Table 3, CVPR §6.4 Table 4): pure functions on tensors.

Conventions:
- images x, y: (B, C, H, W) floats, in [0, 1] unless a function says otherwise;
- mask: (B, 1, H, W) or (B, C, H, W), 1 where a pixel is missing (the pixels scored),
  0 where observed (repro.datasets.masks); a (B, 1, H, W) mask covers every channel;
- every per-image function returns a (B,) tensor; an image with no masked pixel gets NaN
  (its "mean over masked pixels" is undefined);
- averages over a test set are taken over images (each image weighs the same), and
  ``bootstrap_ci`` gives the 95% percentile interval of that mean.

The paper says only "per pixel difference" and "PSNR ... on the masked pixels", so the task
reports both readings of the error (``masked_mae`` and ``whole_image_mae``) and both PSNR
conventions (pixels in [0, 1] or in [−1, 1]).
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _masked_abs_err(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel |x − y| and the mask expanded to (B, C, H, W), both as float."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    b, c, h, w = x.shape
    if mask.dim() != 4 or mask.shape[1] not in (1, c) or (mask.shape[0], *mask.shape[2:]) != (b, h, w):
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}")
    m = mask.to(x.dtype).expand_as(x)  # (B, C, H, W)
    return (x - y).abs(), m


def missing_fraction(mask: torch.Tensor) -> torch.Tensor:
    """(B,) fraction of each image's pixels that are masked (missing); mask (B, 1|C, H, W)."""
    return mask.float().flatten(1).mean(1)


def masked_mae(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean |x − y| over the masked pixels (and channels) of each image."""
    err, m = _masked_abs_err(x, y, mask)
    return (err * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def whole_image_mae(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) |x − y| summed over the masked pixels, divided by all C·H·W values of the image.

    Equals masked_mae × missing fraction (observed pixels count as zero error).
    """
    err, m = _masked_abs_err(x, y, mask)
    return (err * m).flatten(1).sum(1) / m[0].numel()


def masked_rmse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) root of the mean squared difference over the masked pixels of each image."""
    err, m = _masked_abs_err(x, y, mask)
    return ((err ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)).sqrt()


def psnr_masked(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """(B,) PSNR in dB on the masked pixels: 20·log10(data_range / masked RMSE), per image.

    data_range: the peak value; 1 for images in [0, 1]. The [−1, 1] convention (peak 1, as in
    codes that map pixels to [−1, 1]) is ``psnr_masked(2x − 1, 2y − 1, mask, 1.0)``: its RMSE is
    twice the [0, 1] RMSE, so it is exactly 20·log10(2) ≈ 6.02 dB below the [0, 1] value.
    A perfect reconstruction (RMSE 0) gives +inf.
    """
    return 20 * torch.log10(data_range / masked_rmse(x, y, mask))


PSNR_11_OFFSET_DB = 20 * math.log10(2)  # [0, 1] PSNR − [−1, 1] PSNR, in dB


def bootstrap_ci(values, seed: int = 0, confidence: float = 0.95, n_resamples: int = 9999) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (1-D, finite), via scipy.stats.bootstrap.

    A constant array (or a single value) has no spread: its interval is the point (v, v),
    returned without calling scipy (which would warn and give NaN).
    """
    from scipy.stats import bootstrap
    v = np.asarray(values.detach().cpu() if torch.is_tensor(values) else values, dtype=np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"bootstrap_ci: need a non-empty array of finite values, got {v.size} values "
                         f"({np.count_nonzero(~np.isfinite(v))} non-finite)")
    if v.size == 1 or np.ptp(v) == 0:
        return float(v.mean()), float(v.mean())
    res = bootstrap((v,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                    method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def nearest_neighbours(queries: torch.Tensor, refs: torch.Tensor,
                       batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query image (Q, C, H, W), the pixel-L2-nearest reference image (R, C, H, W).

    Returns (distance, index), both (Q,): the Euclidean distance over all C·H·W values (in the
    images' own units) and the reference's index. References are scanned in chunks of `batch`.
    """
    if queries.shape[1:] != refs.shape[1:]:
        raise ValueError(f"queries {tuple(queries.shape)} and references {tuple(refs.shape)} differ in shape")
    q = queries.flatten(1).double()  # (Q, D)
    best_d = torch.full((len(q),), float("inf"), dtype=torch.float64)
    best_i = torch.zeros(len(q), dtype=torch.long)
    for start in range(0, len(refs), batch):
        d = torch.cdist(q, refs[start:start + batch].flatten(1).double())  # (Q, r)
        d_min, i_min = d.min(1)
        better = d_min < best_d
        best_d, best_i = torch.where(better, d_min, best_d), torch.where(better, i_min + start, best_i)
    return best_d, best_i


def image_metrics(x: torch.Tensor, out: torch.Tensor, mask: torch.Tensor,
                  pixel_max: float) -> dict[str, torch.Tensor]:
    """The inpainting metrics of the suite's tables (and of CoopNets' completion): metric → (N,) per-image values, on
    pixels scaled to [0, 1]."""
    a, b, m = x.double() / pixel_max, out.double() / pixel_max, mask.double()  # (N, C, H, W), (N, 1, H, W)
    return {"mae_masked": masked_mae(a, b, m), "mae_whole": whole_image_mae(a, b, m),
            "rmse_masked": masked_rmse(a, b, m), "psnr01_masked": psnr_masked(a, b, m, 1.0),
            "psnr11_masked": psnr_masked(2 * a - 1, 2 * b - 1, m, 1.0), "missing_fraction": missing_fraction(m)}
