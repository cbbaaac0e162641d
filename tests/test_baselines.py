"""DCGAN and ContextEncoder (repro.families.baselines) through the shared training loop."""

import pytest
import torch

from repro.base.config import get_config
from repro.base.io import read_csv
from repro.datasets.data import load_dataset
from repro.datasets.masks import square_mask
from repro.families.baselines import DCGAN, ContextEncoder, EncoderDecoder, Generator
from repro.runner.engine import load_learner, train


@pytest.fixture(scope="module")
def faces():
    return load_dataset(get_config("smoke"), "train")


def square_fn(x, generator):
    return square_mask(len(x), x.shape[-1], 16, generator).to(x)


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    z = torch.randn(4, 100)
    assert Generator(100, size, 3, 0.25)(z).shape == (4, 3, size, size)
    out = EncoderDecoder(size, 3, 0.25, 4000)(torch.rand(4, 3, size, size))
    assert out.shape == (4, 3, size, size) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="4·2"):
        Generator(100, 48, 3, 0.25)


@pytest.mark.slow
@pytest.mark.parametrize("method,mask_fn", [("dcgan", None), ("context_encoder", square_fn)])
def test_smoke_training_step_checkpoint_and_resume(method, mask_fn, faces, tmp_path):
    cfg = get_config("smoke", method=method, n_iters=3, checkpoint_every=1, batch_size=8)
    full = train(cfg, str(tmp_path / "full"), train_set=faces, mask_fn=mask_fn, progress=False)
    rows = read_csv(str(tmp_path / "full" / "log.csv"))
    assert len(rows) == 2 * 3 and {r["grid"] for r in rows} == {"1", "2"}  # discriminator, generator rows
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in ("loss", "grad_l1", "f_obs"))
    assert (tmp_path / "full" / "samples_grid32.png").exists()

    def crash(t, *_):
        if t == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "cut"), train_set=faces, mask_fn=mask_fn, progress=False, callback=crash)
    resumed = train(cfg, str(tmp_path / "cut"), train_set=faces, mask_fn=mask_fn, progress=False, resume=True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    loaded = load_learner(str(tmp_path / "full"))
    assert isinstance(loaded, DCGAN if method == "dcgan" else ContextEncoder)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), loaded.state_dict().values()))


def test_context_encoder_keeps_observed_pixels(faces):
    torch.manual_seed(0)
    ce = ContextEncoder(get_config("smoke"), 1, len(faces))
    x = faces.batch(torch.arange(8))
    mask = square_mask(8, 32, 16, torch.Generator().manual_seed(0))
    out = ce.inpaint(x, mask)
    held = ~mask.bool().expand_as(x)
    assert torch.equal(out[held], x[held]) and not torch.equal(out[~held], x[~held])
    assert 0 <= out.min() and out.max() <= 255


def test_masks_are_checked(faces):
    cfg = get_config("smoke")
    x = faces.batch(torch.arange(4))
    with pytest.raises(ValueError, match="no mask"):
        DCGAN(cfg, 1, 4).train_step(x, torch.arange(4), torch.ones(4, 1, 32, 32))
    with pytest.raises(ValueError, match="needs a training mask"):
        ContextEncoder(cfg, 1, 4).train_step(x, torch.arange(4))


def test_dcgan_and_energy_features_share_the_svm_path():
    from repro.core.models import build_energy_net, maxpool_dim, maxpool_features
    from repro.evaluation.features import fit_l2svm
    from repro.families.baselines import discriminator
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 32, 32, generator=g) * 255
    labels = torch.arange(40) % 2
    x[labels == 1] *= 0.2  # two classes an SVM can tell apart
    for net in (discriminator(32, 3, 1.0), build_energy_net(32, 3, arch="dcgan")):
        with torch.no_grad():
            feats = maxpool_features(net, x)
        assert feats.shape == (40, 15_360) and maxpool_dim(net) == 15_360
        model, _ = fit_l2svm(feats[:30], labels[:30], feats[30:], labels[30:], [0.01, 1.0])
        assert (torch.as_tensor(model.predict(feats[30:].numpy())) == labels[30:]).float().mean() > 0.8


def test_unknown_family_lists_baselines():
    from repro.families.registry import check_method
    with pytest.raises(ValueError, match="dcgan, context_encoder"):
        check_method("wgan")
    check_method("dcgan")
    check_method("pcd")


@pytest.mark.parametrize("family", [DCGAN, ContextEncoder])
def test_papers_initialisation(family):
    """DCGAN paper / Pathak et al.'s weights_init: weights ~ N(0, 0.02), batch-norm gains ~ N(1, 0.02)."""
    torch.manual_seed(0)
    model = family(get_config("smoke", width=1.0), 3, 10)
    convs = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d,
                                                                 torch.nn.Linear))]
    gains = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    w, g = torch.cat([p.detach().flatten() for p in convs]), torch.cat([p.detach().flatten() for p in gains])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3  # PyTorch's default would give far larger spread
    assert abs(g.mean() - 1) < 3e-3 and abs(g.std() - 0.02) < 3e-3
    assert all(m.bias is None or not m.bias.any() for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)))


def test_context_encoder_follows_train_random_lua(faces):
    """L2 over the whole output, discriminator on the raw output, generator at 10× the learning rate."""
    from repro.families.baselines import ce_fill
    torch.manual_seed(0)
    ce = ContextEncoder(get_config("smoke"), 1, len(faces))
    assert ce.opts[1].param_groups[0]["lr"] == pytest.approx(10 * ce.opts[0].param_groups[0]["lr"])
    x_u = ce.to_unit(faces.batch(torch.arange(8)))
    mask = square_mask(8, 32, 16, torch.Generator().manual_seed(0))
    out = torch.zeros_like(x_u)
    observed_only = ((out - x_u) ** 2 * (1 - mask)).sum() / x_u.numel()
    missing_only = ((out - x_u) ** 2 * mask).sum() / x_u.numel()
    assert ce.rec_loss(out, x_u, mask) == pytest.approx(float(observed_only + missing_only), rel=1e-5)
    assert ce.rec_loss(x_u.where(mask.bool(), out), x_u, mask) > 0  # observed pixels count too
    seen = []
    ce.nets[0].register_forward_hook(lambda m, inp, o: seen.append(inp[0].detach()))
    ce.train_step(faces.batch(torch.arange(8)), torch.arange(8), mask)
    # D saw the real batch, then the raw output (whose observed pixels differ from the input)
    assert torch.equal(seen[0], x_u) and not torch.equal(seen[1].where(mask.bool(), x_u), seen[1])
    grey = ce_fill(1)
    assert grey.shape == (1,) and grey.item() == pytest.approx((117 + 104 + 123) / 3 * 2 / 255 - 1)


def test_context_encoder_jitter_crops_an_upscaled_image_and_flips_half():
    """ce_load_scale (their donkey_folder.lua's trainHook): each training image is scaled up, a window of its size
    is cut at a random place, and half the windows are flipped; every output is such a window of the scaled image."""
    import torch.nn.functional as F
    cfg = get_config("smoke", method="context_encoder", ce_load_scale=2.0)
    ce = ContextEncoder(cfg, 1, 16)
    x = torch.rand(16, 1, 8, 8) * 255
    out = ce.jitter(x)
    big = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    assert out.shape == x.shape
    flipped = 0
    for i in range(16):
        windows = big[i].unfold(1, 8, 1).unfold(2, 8, 1)  # (C, 9, 9, 8, 8): every 8×8 window
        plain = (windows == out[i][:, None, None]).flatten(3).all(-1).any()
        mirrored = (windows == out[i].flip(-1)[:, None, None]).flatten(3).all(-1).any()
        assert plain or mirrored
        flipped += bool(mirrored and not plain)
    assert 3 <= flipped <= 13  # a fair coin over 16 images
    assert "ce_load_scale" not in get_config("smoke", method="context_encoder").to_dict()  # run names unchanged


def test_context_encoder_with_running_statistics_fills_images_alike_in_any_batch(faces):
    """ce_test_bn "running" (their test_random.lua's net:evaluate()): the encoder-decoder keeps running averages
    while training and fills test images with them, so an image's fill no longer depends on the other images of its
    batch; with batch statistics (the default) it does."""
    x = faces.batch(torch.arange(8))
    mask = square_mask(8, 32, 16, torch.Generator().manual_seed(0))
    for test_bn in ("running", "batch"):
        torch.manual_seed(0)
        ce = ContextEncoder(get_config("smoke", method="context_encoder", ce_test_bn=test_bn), 1, len(faces))
        for _ in range(2):
            ce.train_step(x, torch.arange(8), mask)
        alone, together = ce.inpaint(x[:2], mask[:2]), ce.inpaint(x, mask)[:2]  # 2: batch statistics need two
        same = torch.allclose(alone, together, atol=1e-3)
        assert same == (test_bn == "running"), test_bn
        buffers = {n for n, _ in ce.nets[1].named_buffers() if n.endswith("running_mean")}
        assert bool(buffers) == (test_bn == "running")
        assert ce.nets[1].training  # inpaint leaves the network in training mode
    with pytest.raises(ValueError, match="ce_test_bn"):
        get_config("smoke", ce_test_bn="population").validate()
    with pytest.raises(ValueError, match="ce-load-scale"):
        get_config("smoke", ce_load_scale=0.5).validate()
