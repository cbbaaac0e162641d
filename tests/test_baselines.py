"""DCGAN and ContextEncoder (repro.baselines) through the shared training loop."""

import pytest
import torch

from repro.baselines import DCGAN, ContextEncoder, EncoderDecoder, Generator
from repro.config import get_config
from repro.data import load_dataset
from repro.engine import load_learner, train
from repro.io import read_csv
from repro.masks import square_mask


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
    from repro.baselines import discriminator
    from repro.features import fit_l2svm, maxpool_dim, maxpool_features
    from repro.models import build_energy_net
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
    from repro.engine import check_method
    with pytest.raises(ValueError, match="dcgan, context_encoder"):
        check_method("wgan")
    check_method("dcgan")
    check_method("pcd")
