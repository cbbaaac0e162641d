"""CoopNets (ICLR 2017 §5.1) on the engine, its completion, the MRF floors and its report block."""
import dataclasses
import math

import pandas as pd
import pytest
import torch

from repro.base.config import get_config
from repro.datasets.data import load_dataset
from repro.evaluation.floors import biharmonic_fill
from repro.evaluation.mrf import mrf_l1_fill, mrf_l2_fill
from repro.families.baselines import Generator
from repro.families.coopnets import CoopNets, Descriptor, complete
from repro.runner.engine import train


def test_descriptor_and_generator_shapes_at_64():
    d = Descriptor(64, 3, width=1.0, n_out=50)
    assert [m.out_channels for m in d.convs if isinstance(m, torch.nn.Conv2d)] == [96, 128, 256]
    assert [m.kernel_size for m in d.convs if isinstance(m, torch.nn.Conv2d)] == [(5, 5)] * 3
    assert d.fc.in_features == 256 * 8 * 8 and d.fc.out_features == 50
    g = Generator(100, 64, 3, width=1.0)
    y = g(torch.randn(2, 100))
    assert y.shape == (2, 3, 64, 64) and y.abs().max() <= 1
    assert d(y).shape == (2,)


@pytest.fixture(scope="module")
def faces():
    return load_dataset(get_config("smoke"), "train")


def coop_cfg(**kw):
    return get_config("smoke", **{**dict(method="coopnets", batch_size=4, n_iters=2, checkpoint_every=1, coop_steps=3,
                                         n_show=4), **kw})


@pytest.mark.slow
def test_one_cooperative_iteration_then_resume_is_bit_identical(faces, tmp_path):
    full = train(coop_cfg(), str(tmp_path / "full"), train_set=faces, progress=False)
    train(coop_cfg(n_iters=1), str(tmp_path / "cut"), train_set=faces, progress=False)  # one iteration finishes
    resumed = train(coop_cfg(), str(tmp_path / "cut"), train_set=faces, progress=False, resume=True)
    assert isinstance(resumed, CoopNets) and resumed.iteration == 2
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert all(torch.isfinite(p).all() for p in full.parameters())


def test_completion_never_reads_hidden_pixels():
    torch.manual_seed(0)
    g = Generator(8, 16, 1, width=0.25)
    x = torch.rand(4, 1, 16, 16) * 255
    mask = torch.zeros(4, 1, 16, 16)
    mask[:, :, 4:10, 5:11] = 1
    other = torch.where(mask.bool(), 255 - x, x)  # the same observed pixels, other hidden ones

    def run(img):
        return complete(g, img, mask, pixel_max=255.0, z_dim=8, steps=5, step_size=0.1, sigma=0.3,
                        gen=torch.Generator().manual_seed(3))

    a, b = run(x), run(other)
    assert torch.equal(a[mask.bool().expand_as(a)], b[mask.bool().expand_as(b)])
    assert torch.equal(a[~mask.bool().expand_as(a)], x[~mask.bool().expand_as(x)])  # observed pixels kept


def smooth_image(h=32) -> torch.Tensor:
    """A smooth (1, 1, h, h) image in [0, 1]: a quarter period of a sine in each direction."""
    r = torch.arange(h, dtype=torch.float64) / h
    return (0.5 + 0.2 * torch.sin(math.pi / 2 * r).view(-1, 1) * torch.cos(math.pi / 2 * r).view(1, -1))[None, None]


def test_l2_mrf_is_the_harmonic_fill_and_agrees_with_biharmonic_on_a_smooth_image():
    h = 32
    r = torch.arange(h, dtype=torch.float64)
    ramp = (0.2 + 0.3 * r.view(1, -1) / h + 0.4 * r.view(-1, 1) / h)[None, None]  # harmonic: reproduced exactly
    mask = torch.zeros(1, 1, h, h)
    mask[..., 8:24, 10:26] = 1
    assert (mrf_l2_fill(ramp, mask) - ramp).abs().max() < 1e-10
    img = smooth_image(h)
    l2, bih = mrf_l2_fill(img, mask), biharmonic_fill(img, mask)
    assert (l2 - bih).abs().max() < 0.01  # stated tolerance: 1% of the range on a 16×16 hole
    assert (l2 - img).abs().max() < 0.02
    l1 = mrf_l1_fill(img, mask)  # total variation: within the observed range, observed pixels kept
    assert l1.min() >= img.min() - 1e-9 and l1.max() <= img.max() + 1e-9
    assert torch.equal(l1[~mask.bool()], img[~mask.bool()])


def row(**kw):
    return {**dict(experiment="coopnets", seed=0, metric="mae_masked", profile="smoke", dataset="lfw_faces",
                   n_images=20, device="cpu", commit="abc", date="2026-11-27T00:00:00+00:00", run="", iterations=""),
            **kw}


def coop_block(rows) -> list[str]:
    """The lines of the CoopNets block of tables.md built from hand-made rows."""
    from tasks import report
    df = pd.DataFrame(rows).astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col])
    lines = report.build_tables(df, report.paper_numbers()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## CoopNets"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def test_coopnets_block_fills_with_the_paper_beside_each_cell_and_orderings():
    rows = []
    for m, base in (("M20", 0.10), ("M30", 0.12), ("M40", 0.14)):
        for method, d in (("coopnets", 0.0), ("dcgan", 0.1), ("biharmonic", 0.02), ("mrf_l2", 0.05),
                          ("mrf_l1", 0.05)):
            v = base + d
            rows.append(row(method=method, setting=m, value=v, ci_low=v - 0.005, ci_high=v + 0.005))
    one_run = coop_block(rows)
    said = lambda lines, claim: next(line.split(" | ")[2] for line in lines  # noqa: E731
                                     if line.startswith("| error · M20 |") and f"| {claim} |" in line)
    assert said(one_run, "CoopNets < DCGAN") == "too few runs"  # one training run each: no verdict
    for r in list(rows):  # a second and third training run of each learned method: the orderings can be read
        if r["method"] in ("coopnets", "dcgan"):
            r["run"] = f"{r['method']}-s0"
            rows += [{**r, "seed": k, "value": r["value"] + 0.001 * k, "ci_low": r["ci_low"] + 0.001 * k,
                      "ci_high": r["ci_high"] + 0.001 * k, "run": f"{r['method']}-s{k}"} for k in (1, 2)]
    lines = coop_block(rows)
    body = [line for line in one_run if line.startswith("|")]
    assert "CoopNets" in body[0] and "floor: MRF ℓ1" in body[0]
    assert body[2].startswith("| error · M20 | 0.100 [0.095, 0.105] · paper 0.097")
    assert "paper 0.112" in body[2] and "paper 0.154" in body[2]  # biharmonic beside the paper's method 6; MRF ℓ2
    assert said(lines, "CoopNets < DCGAN") == "holds" and said(lines, "CoopNets < biharmonic") == "holds"


def test_unknown_and_masked_use_fail_loudly(faces):
    cfg = dataclasses.replace(coop_cfg(), image_size=30)
    with pytest.raises(ValueError, match="divisible by 8"):
        CoopNets(cfg, 1, 10)
    learner = CoopNets(coop_cfg(), 1, 10)
    with pytest.raises(ValueError, match="no mask"):
        learner.train_step(torch.zeros(4, 1, 32, 32), torch.arange(4), torch.ones(4, 1, 32, 32))


def test_report_reads_coopnets_rows_without_torch_columns_missing():
    from tasks.tables import TABLE_BY_KEY
    spec = TABLE_BY_KEY["coopnets_completion"]
    rws, cols = spec.layout(pd.DataFrame(columns=["metric", "setting"]))
    assert [r.paper for r in rws] == ["M20", "M30", "M40"]
    assert [c.paper for c in cols] == ["CoopNets", "DCGAN", "interp-6", "MRF-l2", "MRF-l1"]


def test_completion_masks_come_from_the_mask_seed_not_the_training_seed(tmp_path):
    """A second training seed (--seed 1) is scored on the very masks of the first; --mask-seed draws others.
    Floors carry the mask seed, learned rows their training seed."""
    from tasks import coopnets
    base = ["--profile", "smoke", "--no-progress", "--runs", str(tmp_path / "runs"), "--n-iters", "1",
            "--n-test-images", "6", "--infer-steps", "2", "--methods", "dcgan", "biharmonic"]

    def table(name, *extra):
        rows = coopnets.main([*base, "--out", str(tmp_path / name), *extra])
        return {(r["method"], r["setting"], r["metric"]): r for r in rows}

    first, second, other = table("a"), table("b", "--seed", "1"), table("c", "--mask-seed", "2")
    key = ("biharmonic", "M30", "mae_masked")
    assert first[key]["value"] == second[key]["value"] and first[key]["seed"] == second[key]["seed"] == 0
    assert other[key]["value"] != first[key]["value"] and other[key]["seed"] == 2
    learned = ("dcgan", "M30|infer_steps=2", "mae_masked")  # an inference budget other than the default: recorded
    assert (first[learned]["seed"], second[learned]["seed"]) == (0, 1)
    assert first[learned]["run"] != second[learned]["run"]
    assert ("dcgan", "M30|infer_steps=2|mask_seed=2", "mae_masked") in other  # other masks: a key of their own
    with pytest.raises(ValueError, match="--mask-seed -1"):
        coopnets.main([*base, "--out", str(tmp_path / "bad"), "--mask-seed", "-1"])
