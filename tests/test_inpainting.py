import csv
import itertools
import math
import os

import pytest
import torch
from PIL import Image

from repro.datasets.masks import MASKS, doodle_mask, get_mask, pepper_mask, square_mask
from repro.evaluation.metrics import (
    PSNR_11_OFFSET_DB,
    bootstrap_ci,
    masked_mae,
    masked_rmse,
    missing_fraction,
    psnr_masked,
    whole_image_mae,
)
from tasks.files import TITLE_KEY


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- masks --------------------------------------------------------------------------

@pytest.mark.parametrize("size,side", [(32, 16), (64, 32), (8, 8)])
def test_square_mask_is_one_full_square_inside(size, side):
    m = square_mask(50, size, side, gen())  # (B, 1, H, W)
    assert m.shape == (50, 1, size, size) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert (m.sum((1, 2, 3)) == side * side).all()
    rows, cols = m[:, 0].amax(2), m[:, 0].amax(1)  # (B, H), (B, W): which rows / columns are touched
    assert (rows.sum(1) == side).all() and (cols.sum(1) == side).all()  # one contiguous side×side block
    if size > side:  # positions vary
        assert len({tuple(r.nonzero()[0].tolist()) for r in rows}) > 1


def test_doodle_and_pepper_fractions_and_determinism():
    d = doodle_mask(16, 32, gen(1))
    assert d.shape == (16, 1, 32, 32) and abs(d.mean().item() - 0.25) < 0.05
    assert torch.equal(d, doodle_mask(16, 32, gen(1)))
    assert abs(doodle_mask(4, 64, gen(2)).mean().item() - 0.25) < 0.05
    p = pepper_mask(8, 64, gen(3))
    assert p.shape == (8, 1, 64, 64) and abs(p.mean().item() - 0.6) < 0.02
    assert not torch.equal(p, pepper_mask(8, 64, gen(4)))


def test_mask_registry():
    assert set(MASKS) == {"square", "doodle", "pepper"}
    assert get_mask("square")(3, 32, gen()).sum((1, 2, 3)).tolist() == [256.0] * 3  # default side size/2
    with pytest.raises(ValueError, match="square, doodle, pepper"):
        get_mask("star")
    with pytest.raises(ValueError):
        square_mask(1, 8, 9, gen())


# --- metrics --------------------------------------------------------------------------

def test_metrics_on_hand_made_images():
    x = torch.zeros(1, 1, 2, 2)
    y = torch.tensor([[[[0.1, 0.3], [0.5, 0.5]]]])  # the bottom row is observed: its error is ignored
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert masked_mae(x, y, mask).item() == pytest.approx(0.2)
    assert whole_image_mae(x, y, mask).item() == pytest.approx(0.1)
    assert masked_rmse(x, y, mask).item() == pytest.approx(math.sqrt(0.05))
    assert psnr_masked(x, y, mask).item() == pytest.approx(10 * math.log10(20), abs=1e-4)
    assert psnr_masked(x, 2 * y, mask, data_range=2.0).item() == pytest.approx(10 * math.log10(20), abs=1e-4)
    assert missing_fraction(mask).item() == 0.5


def test_metric_identities_on_random_images():
    g = gen(5)
    x, y = torch.rand(6, 3, 16, 16, generator=g).double(), torch.rand(6, 3, 16, 16, generator=g).double()
    mask = (torch.rand(6, 1, 16, 16, generator=g) < 0.3).double()  # (B, 1, H, W)
    frac = missing_fraction(mask)
    assert torch.allclose(whole_image_mae(x, y, mask), masked_mae(x, y, mask) * frac)
    assert torch.allclose(masked_mae(x, y, mask), masked_mae(x, y, mask.expand(-1, 3, -1, -1)))  # 1 ≡ C channels
    diff = psnr_masked(x, y, mask) - psnr_masked(2 * x - 1, 2 * y - 1, mask, 1.0)
    assert torch.allclose(diff, torch.full_like(diff, 20 * math.log10(2)))
    assert PSNR_11_OFFSET_DB == pytest.approx(6.0206, abs=1e-4)
    with pytest.raises(ValueError, match="does not fit"):
        masked_mae(x, y, mask[:, :, :8])


def test_bootstrap_ci():
    assert bootstrap_ci([3.0] * 10, seed=0) == (3.0, 3.0)
    assert bootstrap_ci(torch.tensor([2.5]), seed=0) == (2.5, 2.5)
    v = torch.randn(200, generator=gen(6)).double()
    low, high = bootstrap_ci(v, seed=1)
    assert low < v.mean().item() < high and high - low < 0.5
    assert bootstrap_ci(v, seed=1) == (low, high)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, float("nan")])


# --- the task, end to end ---------------------------------------------------------------


@pytest.mark.slow
def test_inpainting_task_smoke(tmp_path):
    from tasks.common import RESULT_COLUMNS
    from tasks.inpainting import FLOORS, MASK_NAMES, METRICS, main
    out, runs = tmp_path / "out", tmp_path / "runs"
    main(["--methods", "cd1", "multigrid", "context_encoder", "--n-iters", "2", "--batch-size", "8",
          "--steps-per-grid", "2",
          "--out", str(out), "--runs", str(runs), "--no-progress"])
    with open(out / "inpainting.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == RESULT_COLUMNS
        rows = list(reader)
    keys = sorted((r["method"], r["setting"], r["metric"]) for r in rows)
    one_step = [f"{m}|test_steps=1" for m in MASK_NAMES]  # cd1 also with its training budget
    assert keys == sorted([*itertools.product(["cd1", "multigrid", "context_encoder", *FLOORS], MASK_NAMES, METRICS),
                           *itertools.product(["cd1"], one_step, METRICS)])
    assert {r["experiment"] for r in rows} == {"inpainting"} and {r["n_images"] for r in rows} == {"20"}
    for r in rows:
        low, value, high = float(r["ci_low"]), float(r["value"]), float(r["ci_high"])
        assert all(math.isfinite(v) for v in (low, value, high)) and low <= value <= high
    frac = {(r["method"], r["setting"]): float(r["value"]) for r in rows if r["metric"] == "missing_fraction"}
    assert frac[("cd1", "square")] == frac[("multigrid", "square")] == 0.25  # 16×16 of 32×32, same masks
    assert frac[("cd1", "doodle")] == frac[("multigrid", "doodle")] == frac[("biharmonic", "doodle")]
    mae = {(r["method"], r["setting"]): float(r["value"]) for r in rows if r["metric"] == "mae_masked"}
    assert mae[("biharmonic", "pepper")] < mae[("observed_mean", "pepper")]  # the floors are real fills
    for method, mask in itertools.product(["cd1", "multigrid"], MASK_NAMES):  # each PNG says what it shows
        with Image.open(out / f"inpainting_{method}_{mask}.png") as im:
            assert int(im.info[TITLE_KEY]) > 0 and all(w in im.info["Title"] for w in (method, mask, "smoke"))
    with open(out / "per_image" / "inpainting.csv", newline="") as fh:  # what the report pairs image by image
        per = list(csv.DictReader(fh))
    mg = [float(r["value"]) for r in per if (r["method"], r["setting"], r["metric"]) == ("multigrid", "square",
                                                                                          "mae_masked")]
    assert len(mg) == 20 and math.isclose(sum(mg) / 20, mae[("multigrid", "square")], rel_tol=1e-9)


@pytest.mark.slow
def test_test_time_budget_is_shared_and_cd1_also_reports_its_own(monkeypatch, smoke_cfg):
    """Every scheme gets l·S Langevin steps at test time, spread over its grids; CD1 also its one step."""
    import dataclasses

    import repro.core.inpaint as core_inpaint
    import repro.core.learner
    import tasks.inpainting as inp
    from repro.core.learner import Learner
    seen = []
    real = repro.core.learner.synthesize
    monkeypatch.setattr(repro.core.learner, "synthesize",
                        lambda *a, steps, **kw: seen.append(steps) or real(*a, steps=steps, **kw))
    cfg = dataclasses.replace(smoke_cfg, steps_per_grid=30)
    x = torch.rand(8, 1, 32, 32, generator=gen()) * 255
    m = square_mask(8, 32, 16, gen(1))
    cd1 = Learner(dataclasses.replace(cfg, method="cd1"), 1, 8)
    mg = Learner(dataclasses.replace(cfg, method="multigrid"), 1, 8)
    assert inp.test_budgets(cd1, 90) == [90, 1] and inp.test_budgets(mg, 90) == [90]
    # --test-steps adds its budget under its own name, never in the paper procedure's place (issue 28, probe 9)
    assert inp.test_budgets(mg, 90, 3) == [90, 3] and inp.test_budgets(cd1, 90, 1) == [90, 1]
    core_inpaint.inpaint(cd1, x, m, gen(), budget=90)
    core_inpaint.inpaint(cd1, x, m, gen(), budget=1)
    core_inpaint.inpaint(mg, x, m, gen(), budget=90)
    core_inpaint.inpaint(cd1, x, m, gen(), budget=12)
    assert seen == [90, 1, 30, 12]
    with pytest.raises(ValueError, match="multiple of the 3 grids"):
        core_inpaint.inpaint(mg, x, m, gen(), budget=10)


@pytest.mark.slow
def test_trained_cd1_moves_missing_pixels_at_test_time(tmp_path):
    """A trained CD1 model run with the shared budget (90 steps, noise as in training) moves the missing
    pixels away from the observed-mean start, where the floor is far from the truth (a face's square);
    with one step (its training budget, the old behaviour) it stays at the floor."""
    from repro.base.config import get_config
    from repro.core.inpaint import inpaint
    from repro.core.pyramid import observed_mean_fill
    from repro.datasets.data import load_dataset
    from repro.runner.engine import train
    from tasks.inpainting import square_mask_fn, test_masks
    cfg = get_config("smoke", method="cd1", n_iters=20)
    learner = train(cfg, str(tmp_path / "cd1"), train_set=load_dataset(cfg, "train"), mask_fn=square_mask_fn(16),
                    progress=False)
    x = load_dataset(cfg, "test").batch(torch.arange(16))
    m = test_masks(16, 32, 16, 0)["square"]
    start, missing = observed_mean_fill(x, m), m.bool().expand_as(x)
    assert (start - x).abs()[missing].mean() > 20  # the floor is far from the truth here
    moved = {b: (inpaint(learner, x, m, gen(), budget=b) - start).abs()[missing].mean().item() for b in (1, 90)}
    assert moved[90] > 1.0 > 0.5 > moved[1]  # pixel levels in [0, 255]


def test_test_procedures_parse_and_name_their_settings():
    from repro.core.inpaint import Procedure
    assert Procedure.parse("") == Procedure() and Procedure().suffix() == ""
    p = Procedure.parse("chains=4,noise=off,start=biharmonic")
    assert (p.n_chains, p.noise, p.start) == (4, False, "biharmonic")
    assert p.suffix() == "|chains=4|noise=off|start=biharmonic"
    for bad in ("chains=0", "colour=red", "start=median", "noise"):
        with pytest.raises(ValueError, match="test procedure"):
            Procedure.parse(bad)


@pytest.mark.slow
def test_interpolated_start_and_chain_mean(smoke_cfg):
    """start=biharmonic: pixels that begin to move where the coarser grid held a block mean start from the
    fill; with zero steps the output is that fill at the missing pixels. The mean of chains keeps the
    observed pixels bit for bit."""
    import dataclasses

    from repro.core.inpaint import Procedure, inpaint
    from repro.core.learner import Learner
    from repro.evaluation.floors import biharmonic_fill
    from tasks.inpainting import start_fills
    cfg = dataclasses.replace(smoke_cfg, method="cd1")
    learner = Learner(cfg, 1, 8)
    x = torch.rand(8, 1, 32, 32, generator=gen()) * 255
    m = pepper_mask(8, 32, gen(2))
    learner.steps = 0  # no Langevin step: the output is the chain's start
    out = inpaint(learner, x, m, gen(), proc=Procedure(start="biharmonic"), start_fills=start_fills(cfg))
    assert torch.allclose(out, biharmonic_fill(x / 255, m) * 255, atol=1e-4)
    learner.steps = 3
    out = inpaint(learner, x, m, gen(), proc=Procedure(n_chains=3))
    held = ~m.bool().expand_as(x)
    assert torch.equal(out[held], x[held])


def test_procedure_chosen_on_validation():
    from repro.base.config import get_config
    from tasks.inpainting import MASK_NAMES, Procedure, chosen_on_validation
    cfg = get_config("smoke")

    def rows(suffix, value, method="multigrid", experiment="inpainting_validation"):
        return [{"experiment": experiment, "method": method, "metric": "mae_masked", "profile": "smoke",
                 "dataset": "lfw_faces", "setting": m + suffix, "value": str(value)} for m in MASK_NAMES]
    table = rows("", 0.10) + rows("|chains=4", 0.08) + rows("|noise=off", 0.09) + rows("|chains=4", 0.01, "cd1")
    table += rows("|start=biharmonic", 0.01, experiment="inpainting")  # test rows are never read
    assert chosen_on_validation(table, "multigrid", cfg) == Procedure(n_chains=4)
    assert chosen_on_validation(rows("", 0.05) + rows("|chains=4", 0.08), "multigrid", cfg) is None
    assert chosen_on_validation(table, "pcd", cfg) is None


def test_training_seeds_share_the_test_masks_and_noise(tmp_path):
    """--train-seeds 2 scores a second model on the very masks of the first; the masks come from --mask-seed,
    not from the training seed, so a run with --seed 1 alone sees them too; a second seed is added without
    retraining the first; another --mask-seed draws other masks."""
    from tasks.inpainting import main
    base = ["--methods", "cd1", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--test-steps", "4",
            "--n-test-images", "8", "--runs", str(tmp_path / "runs"), "--no-progress"]

    def table(out, *extra):
        rows = main([*base, "--out", str(tmp_path / out), *extra])
        return {(r["method"], r["setting"], r["metric"], str(r["seed"])): r for r in rows}

    one = table("one")
    runs_before = sorted(os.listdir(tmp_path / "runs"))
    two = table("two", "--train-seeds", "2")
    assert len(os.listdir(tmp_path / "runs")) == len(runs_before) + 1  # seed 0 reused, seed 1 trained
    assert {k[3] for k in two if k[0] == "cd1"} == {"0", "1"} and {k[3] for k in two if k[0] == "biharmonic"} == {"0"}
    for key, row in one.items():  # seed 0's rows and the floors are the same numbers again
        assert float(two[key]["value"]) == float(row["value"]) and two[key]["run"] == row["run"]
    frac = lambda t, seed: [t[("cd1", m, "missing_fraction", seed)]["value"] for m in ("square", "doodle", "pepper")]  # noqa: E731
    assert frac(two, "0") == frac(two, "1")
    mae = lambda t, seed, m="square": float(t[("cd1", m, "mae_masked", seed)]["value"])  # noqa: E731
    assert mae(two, "0") != mae(two, "1") and two[("cd1", "square", "mae_masked", "1")]["run"] != one[
        ("cd1", "square", "mae_masked", "0")]["run"]
    alone = table("alone", "--seed", "1", "--no-floors")  # the second seed on its own: same masks, same numbers
    assert float(alone[("cd1", "square", "mae_masked", "1")]["value"]) == mae(two, "1")
    other = table("other", "--mask-seed", "3", "--no-floors")  # other masks: the learned rows record the mask seed
    assert all(k[1].endswith("|mask_seed=3") for k in other)
    assert ("cd1", "square|mask_seed=3", "mae_masked", "0") in other
    assert other[("cd1", "pepper|mask_seed=3", "missing_fraction", "0")]["value"] != frac(one, "0")[2]
    with pytest.raises(ValueError, match="--train-seeds 0"):
        main([*base, "--out", str(tmp_path / "bad"), "--train-seeds", "0"])


def test_every_scheme_can_be_given_the_multigrid_start(smoke_cfg, tmp_path):
    """start=multigrid: a single-grid (or CD1, PCD) chain starts from the multi-grid start, so under the same start
    the schemes differ only by what their learned steps do; with no step the output is that start. And the floors
    can be scored alone (--methods with no name), one of them (--floors)."""
    import dataclasses

    from repro.core.inpaint import Procedure, inpaint
    from repro.core.learner import Learner
    from repro.evaluation.floors import multigrid_start_fill
    from tasks.inpainting import main, start_fills
    for method in ("singlegrid", "cd1", "multigrid"):
        learner = Learner(dataclasses.replace(smoke_cfg, method=method), 1, 8)
        learner.steps = 0
        x = torch.rand(8, 1, 32, 32, generator=gen()) * 255
        m = pepper_mask(8, 32, gen(2))
        out = inpaint(learner, x, m, gen(), proc=Procedure(start="multigrid"), start_fills=start_fills(learner.cfg))
        with pytest.raises(ValueError, match="start=multigrid"):  # the library holds no fill of the evaluation part
            inpaint(learner, x, m, gen(), proc=Procedure(start="multigrid"))
        assert torch.allclose(out, multigrid_start_fill(x, m, smoke_cfg.grid_sizes), atol=1e-4), method
    assert Procedure.parse("start=multigrid").suffix() == "|start=multigrid"
    rows = main(["--methods", "--floors", "multigrid_start", "--out", str(tmp_path / "o"), "--runs",
                 str(tmp_path / "r"), "--no-progress"])
    assert {r["method"] for r in rows} == {"multigrid_start"} and len(rows) == 18  # 3 masks × 6 metrics
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # nothing trained


def test_the_fit_check_scores_the_training_images_of_the_model_it_reuses(tmp_path):
    """--eval-split train scores the first --n-test-images training images (the very images the model learned
    from), writes its rows to inpainting_train.csv and leaves inpainting.csv alone; the model is the test run's,
    loaded, not trained again."""
    from repro.base.config import get_config
    from repro.datasets.data import load_dataset
    from repro.evaluation.floors import biharmonic_fill
    from repro.evaluation.metrics import image_metrics
    from tasks.inpainting import main, test_masks
    out, runs = tmp_path / "o", tmp_path / "r"
    base = ["--methods", "cd1", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--n-test-images",
            "8", "--floors", "biharmonic", "--out", str(out), "--runs", str(runs), "--no-progress"]
    test_rows = main(base)
    before, trained = (out / "inpainting.csv").read_bytes(), sorted(os.listdir(runs))
    mtimes = {f: os.path.getmtime(runs / trained[0] / f) for f in os.listdir(runs / trained[0])}
    rows = main([*base, "--eval-split", "train"])
    assert (out / "inpainting.csv").read_bytes() == before and (out / "inpainting_train.csv").exists()
    assert sorted(os.listdir(runs)) == trained and all(  # loaded, not trained again
        os.path.getmtime(runs / trained[0] / f) == t for f, t in mtimes.items())
    assert {r["experiment"] for r in rows} == {"inpainting_train"} and {r["method"] for r in rows} == {
        "cd1", "biharmonic"}
    cfg = get_config("smoke")
    x = load_dataset(cfg, "train").batch(torch.arange(8), pixel_max=cfg.pixel_max, dtype=cfg.dtype())  # (8, C, S, S)
    m = test_masks(8, cfg.image_size, cfg.image_size // 2, 0)["square"].to(x.dtype)
    want = float(image_metrics(x, biharmonic_fill(x / cfg.pixel_max, m) * cfg.pixel_max, m,
                               cfg.pixel_max)["mae_masked"].mean())
    got = {(r["method"], r["setting"], r["metric"]): float(r["value"]) for r in rows}
    assert got[("biharmonic", "square", "mae_masked")] == pytest.approx(want, abs=1e-6)
    test_value = {(r["method"], r["setting"], r["metric"]): float(r["value"]) for r in test_rows}
    assert test_value[("biharmonic", "square", "mae_masked")] != pytest.approx(want, abs=1e-6)  # other images


@pytest.mark.slow
def test_a_learning_curve_and_a_partial_run_leave_training_as_it_was(tmp_path):
    """--curve-every scores the model while it trains (the floors once, as flat lines) without changing what it
    learns: the checkpoint equals that of a run without a curve. --stop-at N trains to iteration N only, scores that
    partial model (its rows read iterations N/n_iters) and a later command without it resumes to the same model as
    an uninterrupted run; a --stop-at beyond --n-iters is refused before any work."""
    import torch

    from repro.runner.engine import load_checkpoint
    from tasks.common import CURVE_KEY
    from tasks.files import RESULT_COLUMNS, read_csv_strict
    from tasks.inpainting import main
    base = ["--methods", "multigrid", "context_encoder", "--n-iters", "4", "--batch-size", "8", "--steps-per-grid",
            "2", "--n-test-images", "8", "--no-floors", "--no-progress", "--checkpoint-every", "100"]

    def run(name, *extra):
        rows = main([*base, "--out", str(tmp_path / name), "--runs", str(tmp_path / f"runs_{name}"), *extra])
        ckpts = {d.split("-")[2]: load_checkpoint(str(tmp_path / f"runs_{name}" / d / "checkpoint.pt"))
                 for d in os.listdir(tmp_path / f"runs_{name}")}
        return rows, ckpts

    def same(a, b):
        return all(torch.equal(a["nets"][k], b["nets"][k]) for k in a["nets"]) and a["iteration"] == b["iteration"]

    plain_rows, plain = run("plain")
    curve_rows, curve = run("curve", "--curve-every", "2", "--curve-images", "6")
    assert plain.keys() == curve.keys() == {"multigrid", "context_encoder"}
    assert all(same(plain[k], curve[k]) for k in plain)  # the curve did not move training
    assert [r["value"] for r in plain_rows] == [r["value"] for r in curve_rows]
    rows = read_csv_strict(str(tmp_path / "curve" / "inpainting_curve.csv"), RESULT_COLUMNS, CURVE_KEY)
    learned = {(r["method"], r["setting"], r["iterations"]) for r in rows if r["run"]}
    assert learned == {(m, f"{mask}|width=0.25", it) for m in ("multigrid", "context_encoder")
                       for mask in ("square", "doodle", "pepper") for it in ("2", "4")}
    floors = {r["method"] for r in rows if not r["run"]}
    assert floors == {"observed_mean", "biharmonic", "multigrid_start"} and {r["n_images"] for r in rows} == {"6"}
    last = {(r["method"], r["setting"].split("|")[0]): float(r["value"]) for r in rows if r["iterations"] == "4"}
    table = {(r["method"], r["setting"]): r["value"] for r in curve_rows if r["metric"] == "mae_masked"}
    assert last.keys() == table.keys() and all(math.isfinite(v) for v in last.values())

    part_rows, part = run("part", "--stop-at", "2")
    assert {r["iterations"] for r in part_rows} == {"2/4"} and all(c["iteration"] == 2 for c in part.values())
    resumed_rows, resumed = run("part")  # the same command without --stop-at: resumed to the end
    assert {r["iterations"] for r in resumed_rows} == {4} and all(same(plain[k], resumed[k]) for k in plain)
    with pytest.raises(ValueError, match="--stop-at 5"):
        run("bad", "--stop-at", "5")


# --- every refusal before the first write (docs/reliability.md) ------------------------------------------------

TINY = ["--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--n-test-images", "8", "--no-progress"]


def snapshot(folder) -> dict:
    """Every file under folder: its bytes and modification time (an overwrite with the same bytes shows too)."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = (fh.read(), os.stat(path).st_mtime_ns)
    return out


def refused(main, argv, capsys) -> str:
    """The one line a refused command prints, run as its command line does (tasks.common.cli: exit status 2)."""
    from tasks.common import cli
    capsys.readouterr()
    assert cli(lambda: main(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def inpainted(tmp_path_factory):
    """An --out folder after one good tiny run (cd1 and the floors; its model cached in --runs), beside a validation
    CSV whose procedure setting ("chains=two") cannot be read back."""
    from tasks.inpainting import main
    root = tmp_path_factory.mktemp("refusals")
    out, runs = root / "out", root / "runs"
    out.mkdir()
    with open(out / "inpainting_validation.csv", "w", newline="") as fh:
        from tasks.files import RESULT_COLUMNS
        w = csv.DictWriter(fh, RESULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({**{c: "" for c in RESULT_COLUMNS}, "experiment": "inpainting_validation", "method": "cd1",
                     "setting": mask + suffix, "seed": "0", "metric": "mae_masked", "value": v, "profile": "smoke",
                     "dataset": "lfw_faces"} for mask in ("square", "doodle", "pepper")
                    for suffix, v in (("", "0.2"), ("|chains=two", "0.1")))
    base = ["--methods", "cd1", *TINY, "--out", str(out), "--runs", str(runs)]
    main(base)
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == 15  # 4 floors and cd1, 3 masks each
    return base, out


@pytest.mark.parametrize("extra, says", [
    (["--image-size", "30"], "finest grid must be the image size 30"),  # wrote 9 PNGs, then refused
    (["--grid-sizes", "2", "8", "31"], "finest grid must be the image size 32"),
    (["--test-steps", "-3"], "--test-steps -3 must be a positive multiple"),  # wrote 15 PNGs after training
    (["--test-steps", "0"], "--test-steps 0 must be a positive multiple"),  # was ignored without a word
    (["--methods", "multigrid", "--test-steps", "4"], "--test-steps 4 must be a positive multiple of the 3 grids"),
    (["--methods", "context_encoder", "--image-size", "24", "--grid-sizes", "2", "6", "24"], "image size 4·2^k"),
    (["--n-panels", "0"], "--n-panels 0: must be at least 1"),  # a ZeroDivisionError traceback
    (["--n-test-images", "-1"], "--n-test-images -1: must be at least 1"),  # a RuntimeError traceback
    (["--train-mask-side", "40"], "--train-mask-side 40 must lie between 1 and the image size 32"),
    (["--procedures", "noise=maybe"], "bad test procedure 'noise=maybe'"),  # a KeyError traceback
    (["--procedure-from-val"], "bad test procedure 'chains=two'"),  # a setting read from the CSV, after the floors
])
def test_a_refused_inpainting_command_leaves_its_out_folder_as_it_was(inpainted, extra, says, capsys):
    from tasks.inpainting import main
    base, out = inpainted
    before = snapshot(out)
    assert says in refused(main, [*base, *extra], capsys)
    assert snapshot(out) == before


def test_a_refused_coopnets_command_leaves_its_out_folder_as_it_was(tmp_path, capsys):
    """tasks.coopnets makes the same checks first: --n-panels 0 was a ZeroDivisionError traceback, and a learned
    column that cannot be built at the image size (DCGAN at 24) was refused after the floor's panels."""
    from tasks.coopnets import main
    base = ["--methods", "biharmonic", "--n-test-images", "8", "--out", str(tmp_path / "out"), "--runs",
            str(tmp_path / "runs"), "--no-progress"]
    main(base)
    before = snapshot(tmp_path / "out")
    for extra, says in ((["--n-panels", "0"], "--n-panels 0: must be at least 1"),
                        (["--n-test-images", "0"], "--n-test-images 0: must be at least 1"),
                        (["--infer-steps", "-1"], "--infer-steps -1: must be at least 0"),
                        (["--infer-step-size", "0"], "--infer-step-size 0.0 must be a finite number above 0"),
                        (["--methods", "biharmonic", "dcgan", "--image-size", "24", "--grid-sizes", "24"],
                         "image size 4·2^k")):
        assert says in refused(main, [*base, *extra], capsys)
        assert snapshot(tmp_path / "out") == before, extra
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")  # nothing trained either


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_processes_is_refused_before_the_floors(inpainted):
    """Under torchrun with two processes, --batch-size 15 overwrote the floors' 12 PNGs before training said that the
    batch does not split evenly; now each process says so first, and the folder is as it was."""
    import subprocess
    import sys
    base, out = inpainted
    before = snapshot(out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "tasks.inpainting", *base, "--batch-size", "15"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and all("batch size 15 does not split evenly over 2 processes" in e for e in errors), \
        res.stderr[-3000:]
    assert snapshot(out) == before


def test_variants_get_their_own_method_names():
    """A variant trained or scored otherwise than the paper's reading writes rows under its own method name, so that
    a merge never puts its number in the paper's column (the result key holds no run)."""
    from repro.base.config import get_config
    from repro.families.registry import method_label
    label = lambda method, **kw: method_label(get_config("smoke", method=method, **kw))  # noqa: E731
    assert label("context_encoder") == "context_encoder" and label("multigrid") == "multigrid"
    assert label("context_encoder", ce_load_scale=2.734375) == "context_encoder_jitter"
    assert label("context_encoder", ce_test_bn="running") == "context_encoder_running_bn"
    assert label("context_encoder", ce_load_scale=2.0, ce_test_bn="running") == "context_encoder_jitter_running_bn"
    assert label("cd1", cond_start="fill") == "cd1_fill_start"
    assert label("multigrid", cond_start="fill") == "multigrid_fill_start"
