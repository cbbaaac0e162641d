"""Invariances and agreement with reference implementations (the torch-fidelity style of test): per-image metrics
do not depend on the batch, nearest neighbours not on the chunk size, IS/FID not on the batch size; masked PSNR
equals scikit-image's on the masked pixels, FID equals the Fréchet distance computed directly."""
import numpy as np
import pytest
import scipy.linalg
import test_fidelity  # noqa: F401  (registers the "tiny-test" stand-in extractor)
import torch

from repro.base.batching import evaluate, fixed_batches
from repro.datasets.masks import pepper_mask, square_mask
from repro.evaluation.fidelity import KEY_FID, KEY_IS, fidelity_metrics
from repro.evaluation.metrics import (
    masked_mae,
    masked_rmse,
    missing_fraction,
    nearest_neighbours,
    psnr_masked,
    whole_image_mae,
)


def images_and_masks(n=7, c=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, c, size, size, generator=g, dtype=torch.float64), torch.rand(n, c, size, size, generator=g,
                                                                                         dtype=torch.float64)
    mask = torch.cat([square_mask(n - 3, size, size // 2, g), pepper_mask(3, size, g)]).double()  # (n, 1, H, W)
    return x, y, mask


PER_IMAGE = {"masked_mae": masked_mae, "whole_image_mae": whole_image_mae, "masked_rmse": masked_rmse,
             "psnr_masked": psnr_masked, "missing_fraction": lambda x, y, m: missing_fraction(m)}


@pytest.mark.parametrize("name", list(PER_IMAGE))
def test_per_image_metrics_do_not_depend_on_the_batch(name):
    fn, (x, y, mask) = PER_IMAGE[name], images_and_masks()
    whole = fn(x, y, mask)  # (N,)
    assert whole.shape == (len(x),)
    for i in range(len(x)):  # metric(x)[i] == metric(x[i:i+1])
        assert torch.equal(whole[i:i + 1], fn(x[i:i + 1], y[i:i + 1], mask[i:i + 1]))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))
    assert torch.equal(fn(x[perm], y[perm], mask[perm]), whole[perm])  # nor on the order


def test_masked_psnr_agrees_with_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio
    x, y, mask = images_and_masks()
    for data_range in (1.0, 2.0):
        ours = psnr_masked(x, y, mask, data_range)
        for i in range(len(x)):
            m = mask[i].bool().expand_as(x[i]).numpy()  # (C, H, W): the masked pixels of every channel
            ref = peak_signal_noise_ratio(x[i].numpy()[m], y[i].numpy()[m], data_range=data_range)
            assert float(ours[i]) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("chunk", [1, 3, 8, 1024])
def test_nearest_neighbours_do_not_depend_on_the_chunk_size(chunk):
    g = torch.Generator().manual_seed(0)
    queries, refs = torch.rand(9, 1, 6, 6, generator=g), torch.rand(25, 1, 6, 6, generator=g)
    d, i = nearest_neighbours(queries, refs, batch=chunk)
    full = torch.cdist(queries.flatten(1).double(), refs.flatten(1).double())  # (Q, R) in one piece
    assert torch.equal(i, full.argmin(1)) and torch.allclose(d, full.min(1).values, rtol=0, atol=1e-12)


def uint8_images(n, seed):
    return (torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


@pytest.mark.slow
def test_fidelity_metrics_do_not_depend_on_the_batch_size():
    fake, real = uint8_images(40, 0), uint8_images(30, 1)
    runs = [fidelity_metrics(fake, real, isc=True, fid=True, feature_extractor="tiny-test", isc_splits=2,
                             batch_size=bs, cuda=False) for bs in (3, 7, 64)]
    for out in runs[1:]:
        assert out[KEY_IS] == pytest.approx(runs[0][KEY_IS], rel=1e-9)
        assert out[KEY_FID] == pytest.approx(runs[0][KEY_FID], rel=1e-9)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½), the definition, with scipy's matrix square root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_fid_agrees_with_a_direct_frechet_distance():
    fake, real = uint8_images(50, 2), uint8_images(60, 3)
    ours = fidelity_metrics(fake, real, isc=False, fid=True, feature_extractor="tiny-test", cuda=False)[KEY_FID]
    feats = lambda x: x.double().flatten(1)[:, :16].numpy()  # noqa: E731  (the stand-in's FID features)
    assert ours == pytest.approx(frechet_distance(feats(fake), feats(real)), rel=1e-6)


@pytest.mark.parametrize("n,batch", [(10, 4), (8, 4), (3, 5), (1, 2)])
def test_fixed_batches_cover_each_item_once_in_full_batches(n, batch):
    seen = []
    for idx, keep in fixed_batches(n, batch):
        assert len(idx) == min(n, batch) and 1 <= keep <= len(idx)
        seen += idx[:keep].tolist()
    assert seen == list(range(n))
    out = evaluate(lambda x: x * 2, n, batch, torch.arange(n))  # kept outputs, in order
    assert torch.equal(out, 2 * torch.arange(n))
