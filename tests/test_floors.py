import pytest
import torch

from repro.core.pyramid import observed_mean_fill
from repro.datasets.masks import pepper_mask
from repro.evaluation.floors import biharmonic_fill, mean_face_fill


def ramp(b=2, c=1, size=16):
    lin = torch.linspace(0, 1, size, dtype=torch.float64)
    return (0.3 * lin[None, :] + 0.6 * lin[:, None]).expand(b, c, size, size).clone()  # (B, C, H, W)


def test_biharmonic_recovers_a_linear_ramp_under_pepper():
    x = ramp(c=3)
    mask = pepper_mask(2, 16, torch.Generator().manual_seed(0))  # ~60% missing
    out = biharmonic_fill(x, mask)
    missing = mask.bool().expand_as(x)
    err = (out[missing] - x[missing]).abs()
    # skimage's discretisation is not exact next to the image border: 0.5% of the ramp's range on
    # average, at most 4.5%, against 25% for the observed-mean fill
    assert err.mean() < 0.005 and err.max() < 0.045
    assert (observed_mean_fill(x, mask)[missing] - x[missing]).abs().mean() > 0.1
    assert torch.equal(out[~missing], x[~missing])


@pytest.mark.parametrize("fill", ["observed_mean", "mean_face", "biharmonic"])
def test_floors_copy_observed_pixels(fill):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 8, 8, generator=g)
    mask = (torch.rand(3, 1, 8, 8, generator=g) < 0.4).float()
    fn = {"observed_mean": observed_mean_fill, "biharmonic": biharmonic_fill,
          "mean_face": lambda a, m: mean_face_fill(a, m, torch.full((2, 8, 8), 0.5))}[fill]
    out = fn(x, mask)
    held = ~mask.bool().expand_as(x)
    assert out.shape == x.shape and torch.equal(out[held], x[held])


def test_observed_mean_and_mean_face_values():
    x = torch.tensor([[[[1.0, 3.0], [5.0, 100.0]]]])
    mask = torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]])
    assert observed_mean_fill(x, mask)[0, 0, 1, 1] == 3.0
    assert mean_face_fill(x, mask, torch.full((1, 2, 2), 7.0))[0, 0, 1, 1] == 7.0
    with pytest.raises(ValueError, match="does not fit"):
        mean_face_fill(x, mask, torch.zeros(3, 2, 2))


def test_nearest_neighbours():
    from repro.evaluation.metrics import nearest_neighbours
    refs = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 5.0)])  # (3, 1, 2, 2)
    q = torch.stack([torch.full((1, 2, 2), v) for v in (0.9, 4.0)])
    d, i = nearest_neighbours(q, refs, batch=2)  # chunked scan over the references
    assert i.tolist() == [1, 2] and torch.allclose(d, torch.tensor([0.2, 2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="differ in shape"):
        nearest_neighbours(q, torch.zeros(2, 1, 3, 3))


def test_the_multigrid_start_is_the_learners_inpainting_with_no_steps():
    """The floor "multi-grid start (no model)" is exactly what the multi-grid sampler hands its first learned step:
    Learner.inpaint with 0 Langevin steps per grid, for any network (none is called). Under pepper it is a local
    block-mean interpolation, far closer to a smooth image than the global observed mean."""
    from repro.base.config import get_config
    from repro.datasets.masks import doodle_mask, square_mask
    from repro.evaluation.floors import multigrid_start_fill
    from repro.families.registry import initial_learner
    cfg = get_config("smoke", precision="float64", clip_min=None, clip_max=None)
    learner = initial_learner(cfg, 3, 4, device="cpu")
    x = ramp(b=4, c=3, size=32) * 255
    gen = torch.Generator().manual_seed(0)
    for mask in (pepper_mask(4, 32, gen), doodle_mask(4, 32, gen), square_mask(4, 32, 16, gen)):
        ours = multigrid_start_fill(x, mask.double(), cfg.grid_sizes)
        assert torch.equal(ours, learner.inpaint(x, mask.double(), gen, steps=0))
    mask = pepper_mask(4, 32, gen).double()
    missing = mask.bool().expand_as(x)
    start = (multigrid_start_fill(x, mask, cfg.grid_sizes) - x)[missing].abs().mean()
    flat = (observed_mean_fill(x, mask) - x)[missing].abs().mean()
    assert start < 0.2 * flat
