"""The generative ConvNet (ICML 2016 §7) on the engine, its texture statistic and its task; the CoopNets task."""
import os

import pandas as pd
import pytest
import torch

from repro.base.config import get_config
from repro.configs import config_overrides
from repro.datasets.data import ImageSet
from repro.evaluation.texture_stats import gram_distance, noise_like, random_crops
from repro.families.gconvnet import GenerativeConvNet, GrowingConvNet, reconstruction_error
from repro.runner.engine import train
from tasks.common import RESULT_COLUMNS


def textured(n=1, size=48, seed=0) -> torch.Tensor:
    """(n, 1, size, size) in [0, 255]: oriented stripes plus a little noise (a tiny texture fixture)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.arange(size, dtype=torch.float64)
    stripes = 128 + 60 * torch.sin(0.9 * r.view(1, -1) + 0.4 * r.view(-1, 1))
    return (stripes + 10 * torch.randn(n, 1, size, size, generator=g, dtype=torch.float64)).clamp(0, 255)


def test_texture_statistic_is_zero_against_itself_and_larger_for_noise_than_for_a_crop():
    ref = textured()
    g = torch.Generator().manual_seed(1)
    assert gram_distance(ref, ref).abs().max() < 1e-12
    noise = gram_distance(noise_like(ref, 8, g), ref)
    crops = gram_distance(random_crops(ref, 8, 36, g), ref)
    assert (noise > 0.2).all() and crops.max() < noise.min()
    many = torch.cat([ref, textured(seed=2)])  # several references: the mean of their Gram matrices
    assert gram_distance(ref, many).item() < gram_distance(noise_like(ref, 1, g), many).item()


def test_nets_and_layer_growth():
    tex = GrowingConvNet("texture", 3, 64, width=1.0)
    layers = lambda net: [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in net.convs]  # noqa: E731
    assert layers(tex) == [(100, 15, 3), (64, 5, 1), (30, 3, 1)]
    obj = GrowingConvNet("object", 3, 64, width=1.0)
    assert layers(obj) == [(100, 7, 2), (64, 5, 1), (20, 3, 1)]
    assert obj.heads[-1].out_features == 1 and obj(torch.zeros(2, 3, 64, 64)).shape == (2,)
    cfg = get_config("smoke", method="gconvnet", image_size=48, width=0.1, gcn_iters_per_layer=5)
    learner = GenerativeConvNet(cfg, 1, 2)
    assert [learner.depth_at(t) for t in (0, 4, 5, 10, 99)] == [1, 1, 2, 3, 3]


@pytest.mark.slow
def test_cd1_reconstruction_error_falls_on_a_tiny_fixture(tmp_path):
    x = textured(4, 36).round().to(torch.uint8)
    data = ImageSet(x, None, "fixture")
    cfg = get_config("smoke", method="gconvnet", dataset="fixture", image_size=36, width=0.1, batch_size=4,
                     gcn_iters_per_layer=0, gcn_start="observed", steps_per_grid=1, sigma=1.0, step_size=0.3,
                     clip_min=None, clip_max=None, lr=0.01, n_iters=40, checkpoint_every=40, n_show=4)
    torch.manual_seed(cfg.seed)
    untrained = GenerativeConvNet(cfg, 1, 4)
    untrained.set_center(x)
    images = data.batch(torch.arange(4))
    before = reconstruction_error(untrained, images).mean()
    learner = train(cfg, str(tmp_path), train_set=data, progress=False)
    after = reconstruction_error(learner, images).mean()
    assert before > 0.99 and after < 0.8 * before  # the one-step chain's mean B(I) moves towards I
    from repro.families.gconvnet import shuffled_weights
    shuffled = shuffled_weights(learner, 0)
    norms = lambda m: sorted(float(p.norm()) for p in m.nets.parameters())  # noqa: E731
    assert norms(shuffled) == pytest.approx(norms(learner))  # the same weights, rearranged
    assert reconstruction_error(shuffled, images).mean() > after  # the control is not passed by scale alone


@pytest.mark.slow
def test_generative_convnet_task_smoke_runs(tmp_path):
    from tasks import generative_convnet
    out, runs = str(tmp_path / "results"), str(tmp_path / "runs")
    tiny = ["--profile", "smoke", "--no-progress", "--out", out, "--runs", runs, "--width", "0.1"]
    generative_convnet.main(tiny + ["--experiment", "textures", "--n-textures", "1", "--image-size", "48",
                                    "--gcn-iters-per-layer", "1", "--n-iters", "3", "--steps-per-grid", "2"])
    generative_convnet.main(tiny + ["--experiment", "autoencode", "--image-size", "36", "--n-iters", "4",
                                    "--curve-every", "2", "--n-train", "4", "--batch-size", "4"])
    df = pd.read_csv(os.path.join(out, "gconvnet.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    tex = df[df.experiment == "gconvnet_synthesis"]
    assert set(tex.method) == {"gconvnet", "noise_floor", "ceiling"} and set(tex.setting) == {"texture:brick"}
    assert set(df[df.experiment == "gconvnet_autoencode"].method) == {"gconvnet_cd1", "untrained", "shuffled_weights"}
    curve = pd.read_csv(os.path.join(out, "gconvnet_autoencode_curve.csv"))
    assert list(curve.iteration) == [0, 2, 4]
    for name in ("gconvnet_texture_brick.png", "gconvnet_autoencode.png", "gconvnet_autoencode_curve.png"):
        assert os.path.exists(os.path.join(out, name)), name


@pytest.mark.slow
def test_coopnets_task_smoke_run(tmp_path):
    from tasks import coopnets
    out, runs = str(tmp_path / "results"), str(tmp_path / "runs")
    coopnets.main(["--profile", "smoke", "--no-progress", "--out", out, "--runs", runs, "--n-iters", "2",
                   "--batch-size", "4", "--coop-steps", "2", "--n-test-images", "5", "--infer-steps", "3"])
    df = pd.read_csv(os.path.join(out, "coopnets.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.method) == {"coopnets", "dcgan", "biharmonic", "mrf_l2", "mrf_l1"}
    err = df[df.metric == "mae_masked"]
    floors = err.method.isin(["biharmonic", "mrf_l2", "mrf_l1"])
    assert set(err[floors].setting) == {"M20", "M30", "M40"}  # --infer-steps changes the learned columns alone
    assert set(err[~floors].setting) == {"M20|infer_steps=3", "M30|infer_steps=3", "M40|infer_steps=3"}
    assert err.value.between(0, 1).all() and (err.n_images == 5).all()
    assert (df[df.method == "coopnets"].iterations == 2).all()
    assert os.path.exists(os.path.join(out, "coopnets_samples.png"))


def test_companion_settings_leave_older_run_folders_and_checkpoints_as_they_were():
    from repro.base.config import LATER_FIELDS, Config
    cfg = get_config("reduced", method="cd1")
    assert LATER_FIELDS and not set(LATER_FIELDS) & set(cfg.to_dict())  # at their defaults: not written
    assert Config.from_dict(cfg.to_dict()) == cfg
    coop = cfg.replace(method="coopnets", coop_lr=0.07)
    assert coop.to_dict()["coop_lr"] == 0.07 and Config.from_dict(coop.to_dict()) == coop


def test_task_profiles_resolve_to_the_papers_settings(tmp_path):
    from tasks import coopnets, generative_convnet
    from tasks.common import parse_task_args
    where = ["--out", str(tmp_path / "r"), "--runs", str(tmp_path / "runs")]
    cfg, args = parse_task_args(coopnets.build_parser("paper"), ["--profile", "paper"] + where,
                                **config_overrides("coopnets", "paper"))
    assert cfg.method == "coopnets"
    assert (cfg.n_iters, cfg.n_train, cfg.batch_size, cfg.image_size, cfg.width) == (60_000, 10_000, 100, 64, 1.0)
    assert (cfg.coop.steps, cfg.coop.step_size, cfg.coop.fc) == (10, 0.002, 50)
    assert (args.n_test_images, args.infer_steps, args.infer_step_size) == (100, 1000, 0.1)  # the paper's, release's
    cfg, _ = parse_task_args(generative_convnet.build_parser(), ["--profile", "paper", "--experiment", "textures"]
                             + where, **generative_convnet.defaults("paper", "textures"))
    assert (cfg.image_size, cfg.gcn.iters_per_layer, cfg.n_iters, cfg.gcn.n_chains, cfg.steps_per_grid, cfg.sigma) == (
        224, 700, 2100, 16, 10, 1.0)
    cfg, _ = parse_task_args(generative_convnet.build_parser(), ["--profile", "paper", "--experiment", "autoencode"]
                             + where, **generative_convnet.defaults("paper", "autoencode"))
    assert (cfg.n_iters, cfg.gcn.iters_per_layer, cfg.steps_per_grid, cfg.n_train, cfg.gcn.start) == (
        1200, 0, 1, 10, "observed")


def test_the_object_net_subtracts_the_mean_image_pixel_by_pixel():
    """§7.2 "we subtract the mean image": the object net's chains start at 0, that is at the mean face (pixel-wise);
    the texture net subtracts the mean intensity per channel (one image's pixel-wise mean is the image itself)."""
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    obj = GenerativeConvNet(get_config("smoke", method="gconvnet", gcn_net="object", image_size=32, width=0.1), 3, 5)
    obj.set_center(x)
    assert torch.allclose(obj.to_pixels(torch.zeros(1, 3, 32, 32))[0], x.mean(0), atol=1e-4)
    tex = GenerativeConvNet(get_config("smoke", method="gconvnet", image_size=48, width=0.1), 3, 5)
    tex.set_center(torch.rand(5, 3, 48, 48) * 255)
    assert torch.equal(tex.net.center, tex.net.center[:, :1, :1].expand_as(tex.net.center))  # flat per channel
