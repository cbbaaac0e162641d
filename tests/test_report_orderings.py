"""tasks.report's orderings on hand-made rows: verdicts computed from intervals over training runs, Student-t
intervals, runs as the unit, methods paired image by image, intervals kept within a metric's range. The
tables' shape, figures and the CLI: tests/test_report.py."""
import re

import numpy as np
import pandas as pd
import pytest
from _helpers import block, inpainting_rows, orderings, row, said, svhn_rows, table_lines, tables

from tasks import report
from tasks.tables import Stat, verdict


def ordering(md: str, start: str, heading: str = "inpainting", where: str = "error · square") -> str:
    return next(said(r) for k, r in orderings(md, heading, where).items() if start in k)


def three_runs(rows, spread=0.002):
    """Each learned row as three training runs (run folders, seeds 0, 1 and 2), spread around its value."""
    out = []
    for r in rows:
        if r["method"] in ("biharmonic", "observed_mean", "mean_face"):
            out.append({**r, "run": "", "iterations": ""})
            continue
        for seed, d in ((0, -spread), (1, spread), (2, 0.0)):
            out.append({**r, "seed": seed, "value": r["value"] + d, "ci_low": r["ci_low"] + d,
                        "ci_high": r["ci_high"] + d, "run": f"{r['method']}-s{seed}", "iterations": "400"})
    return out


@pytest.mark.slow
def test_an_ordering_line_flips_when_a_row_changes():
    holds = ordering(tables(three_runs(inpainting_rows())), "multi-grid < single-grid")
    assert holds.startswith("multi-grid < single-grid: holds (0.050 [")
    assert holds.endswith("(Holm, 4); 3 runs vs 3 runs)")  # the interval's level: Holm over the block's 4 tests
    flipped = ordering(tables(three_runs(inpainting_rows(mg=(0.12, 0.115, 0.125)))), "multi-grid < single-grid")
    assert flipped.startswith("multi-grid < single-grid: does not hold (0.120")
    unclear = ordering(tables(three_runs(inpainting_rows(mg=(0.075, 0.06, 0.085)))), "multi-grid < single-grid")
    assert unclear.startswith("multi-grid < single-grid: cannot tell")
    # one training run each: no verdict, whatever the gap over test images
    one = ordering(tables(inpainting_rows()), "multi-grid < single-grid")
    assert one == ("multi-grid < single-grid: too few runs (0.050 [0.040, 0.060] vs 0.080 [0.070, 0.090]; —; —; "
                   "1 run vs 1 run, 3 a side needed)")
    assert "multi-grid < ContextEncoder: not run" in ordering(tables(inpainting_rows()), "ContextEncoder")
    assert "multi-grid < biharmonic: cannot tell" in ordering(tables(three_runs(inpainting_rows())), "biharmonic")


def test_verdict_rules():
    a, b = Stat(1.0, 0.9, 1.1), Stat(2.0, 1.9, 2.1)
    assert (verdict("<", a, b), verdict(">", a, b), verdict("<", b, a)) == ("holds", "does not hold", "does not hold")
    assert verdict("<", a, Stat(1.05, 1.0, 1.2)) == "cannot tell"
    assert (verdict("≈", a, Stat(1.05, 1.0, 1.2)), verdict("≈", a, b)) == ("holds", "does not hold")
    assert verdict("<", a, None) == "not run" and verdict("<", Stat(1.0), Stat(2.0)) == "holds"  # points


def test_svhn_intervals_are_student_t_intervals_over_the_rows():
    from scipy.stats import t
    mg = next(r for r in table_lines(block(tables(svhn_rows()), "L2-SVM")) if r.startswith("| multi-grid |"))
    half = t.ppf(0.975, 1) * np.std([-0.1, 0.1], ddof=1) / np.sqrt(2)  # 12.71·sd/√2, not the normal 1.96
    assert f"13.00 [{13 - half:.2f}, {13 + half:.2f}]" in mg


def test_t95_matches_scipy_at_every_sample_size():
    from scipy.stats import t

    from tasks.tables import t95
    assert max(abs(t95(df) - t.ppf(0.975, df)) for df in range(1, 3000)) < 1e-3
    with pytest.raises(ValueError, match="at least 2 values"):
        t95(0)


def test_svhn_orderings_take_the_training_run_as_the_unit():
    runs = {("multigrid", k): f"mg-s{k}" for k in range(3)} | {("cd1", k): f"cd1-s{k}" for k in range(3)}
    runs |= {("singlegrid", k): f"sg-s{k}" for k in range(2)}
    rows = []
    for r in svhn_rows():
        if r["seed"] == 1:
            continue  # one label draw per run here
        for train_seed in (0, 1, 2):
            run = runs.get((r["method"], train_seed))
            if run or r["method"] == "untrained":  # the untrained network: three initialisations, no run folder
                shift = 6.0 if run == "mg-s1" else 0.3 * train_seed
                rows.append({**r, "seed": 1_000_000 * train_seed + r["seed"], "value": r["value"] + shift,
                             "run": run or "", "iterations": "1000" if run else ""})
    got = orderings(tables(rows), "L2-SVM", "100 labels")
    # multi-grid's runs spread by 6 points: the interval over runs spans 0
    assert got["multi-grid < one-step CD"]["verdict"] == "cannot tell"
    assert got["multi-grid < one-step CD"]["runs per side"] == "3 runs vs 3 runs"
    # the untrained network counts its three initialisations as three runs
    assert got["multi-grid < untrained network"]["runs per side"] == "3 runs vs 3 runs"
    # two single-grid runs: too few for a verdict, however far apart the means
    assert got["multi-grid < single-grid"]["verdict"] == "too few runs"
    fine = [{**r, "value": r["value"] - 6.0 + 0.3} if r["run"] == "mg-s1" else r for r in rows]
    got = orderings(tables(fine), "L2-SVM", "100 labels")
    assert got["multi-grid < one-step CD"]["verdict"] == "holds"  # three runs each, close together, 11 points apart
    assert got["multi-grid < single-grid"]["verdict"] == "too few runs"


def three_training_seeds(rows):
    """Each row again for a second and third training seed (seed + k·1,000,000, value + 0.2·k); learned rows name
    their run."""
    out = []
    for r in rows:
        for k in (0, 1, 2):
            run = f"{r['method']}-s{k}" if r["method"] not in ("untrained", "raw_pixels", "supervised") else ""
            out.append({**r, "seed": 1_000_000 * k + r["seed"], "value": r["value"] + 0.2 * k, "run": run,
                        "iterations": "1000" if run else ""})
    return out


def test_svhn_block_checks_multigrid_against_every_scheme_it_has_a_row_for():
    md = tables(three_training_seeds(svhn_rows()))
    got = {k: v["verdict"] for k, v in orderings(md, "L2-SVM", "100 labels").items()}
    assert got["multi-grid < one-step CD"] == "holds" and got["multi-grid < DCGAN"] == "not run"
    assert got["multi-grid < single-grid"] == "holds" and got["single-grid < one-step CD"] == "holds"
    cnn = [{**r, "experiment": "svhn_cnn"} for r in three_training_seeds(svhn_rows())]
    got = {k: v["verdict"] for k, v in orderings(tables(cnn), "CNN", "100 labels").items()}
    assert not any("DCGAN" in k for k in got) and got["multi-grid + CNN classifier < one-step CD"] == "holds"


def test_label_draws_inside_a_run_only_make_that_runs_mean():
    """Two label draws of one untrained initialisation against raw pixels (a floor): one training unit against a
    floor gives no verdict, however consistent the draws are (the old paired difference over draws said "holds"
    here); three initialisations give one."""
    rows = [row(experiment="svhn_l2svm", method=m, setting="labels=100", seed=seed, metric="test_error", value=v,
                ci_low="", ci_high="", profile="smoke", dataset="digits", n_images=360, device="cpu")
            for m, values in (("untrained", (10.0, 20.0)), ("raw_pixels", (11.0, 21.1)))
            for seed, v in enumerate(values)]
    claim = orderings(tables(rows), "L2-SVM", "100 labels")["untrained network < raw pixels"]
    assert claim["verdict"] == "too few runs" and claim["ours"].startswith("15.00 [")
    assert claim["runs per side"] == "1 run vs a floor, 3 a side needed"
    more = rows + [{**r, "seed": 1_000_000 * k + r["seed"], "value": r["value"] - 0.02 * k} for r in rows
                   if r["method"] == "untrained" for k in (1, 2)]
    claim = orderings(tables(more), "L2-SVM", "100 labels")["untrained network < raw pixels"]
    assert claim["verdict"] == "holds" and claim["runs per side"] == "3 runs vs a floor"


def test_training_runs_of_a_per_image_mean_keep_the_image_interval():
    """Two training seeds of an inpainting cell (each row a mean over the same test images with a bootstrap
    interval): the pooled interval adds the spread over the runs to the images' interval, so two runs that
    agree keep the images' width, and two that differ get a wider one than a t interval over runs alone."""
    from tasks.tables import mean_interval, summarise
    rows = lambda values, half: pd.DataFrame({"value": values, "ci_low": [v - half for v in values],  # noqa: E731
                                              "ci_high": [v + half for v in values]})
    agree = summarise(rows([0.10, 0.10], 0.005))
    assert agree.value == pytest.approx(0.10) and agree.n == 2
    assert (agree.low, agree.high) == (pytest.approx(0.095), pytest.approx(0.105))
    apart = summarise(rows([0.10, 0.12], 0.005))
    runs_only = mean_interval(pd.Series([0.10, 0.12]))
    assert apart.value == pytest.approx(0.11) and apart.low < runs_only.low and apart.high > runs_only.high
    assert apart.high - apart.value == pytest.approx(np.hypot(runs_only.high - 0.11, 0.005))
    bare = summarise(pd.DataFrame({"value": [0.10, 0.12], "ci_low": [None, None], "ci_high": [None, None]}))
    assert (bare.low, bare.high) == (runs_only.low, runs_only.high)  # label draws: the t interval as before
    one = summarise(rows([0.10], 0.005))
    assert (one.low, one.high) == (pytest.approx(0.095), pytest.approx(0.105))


def test_inpainting_orderings_pair_methods_image_by_image():
    """Two methods on the same test images: per image, a is always 0.01 below b, while the images themselves spread
    by ±0.1. Unpaired, the images' intervals swamp the gap ("cannot tell"); paired image by image (the per-image
    values the task keeps) the gap is plain ("holds"), with the training runs on top."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0.1, 0.3, 200)
    summary, per_image = [], []
    for method, shift in (("multigrid", 0.0), ("singlegrid", 0.01)):
        for seed in (0, 1, 2):
            v = images + shift + 0.0005 * seed  # three training runs, close together
            half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
            summary.append(row(method=method, seed=seed, value=float(v.mean()), ci_low=float(v.mean() - half),
                               ci_high=float(v.mean() + half), run=f"{method}-s{seed}", iterations="10"))
            per_image += [{"experiment": "inpainting", "method": method, "setting": "square", "seed": str(seed),
                           "metric": "mae_masked", "image": str(i), "value": float(x), "profile": "paper",
                           "dataset": "celeba", "run": f"{method}-s{seed}"} for i, x in enumerate(v)]
    unpaired = ordering(tables(summary), "multi-grid < single-grid")
    assert unpaired.startswith("multi-grid < single-grid: cannot tell")
    df = pd.DataFrame(summary).astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    md = report.build_tables(df, report.paper_numbers(), per_image=pd.DataFrame(per_image))
    paired = ordering(md, "multi-grid < single-grid")
    assert paired.startswith("multi-grid < single-grid: holds") and "paired over 200 images" in paired


def test_no_interval_leaves_its_metrics_range():
    """Two label draws give a t interval 12.7 standard errors wide, which can reach below 0% error; cut to the
    range, it keeps its coverage (the true rate lies in [0, 100]). A PSNR or a score has no range and is kept."""
    from tasks.tables import within_range
    assert within_range(Stat(14.44, -13.79, 42.68), "test_error") == Stat(14.44, 0.0, 42.68)
    assert within_range(Stat(90.0, 60.0, 120.0), "test_error") == Stat(90.0, 60.0, 100.0)
    assert within_range(Stat(0.01, -0.02, 0.04), "mae_masked").low == 0.0
    assert within_range(Stat(-3.0, -5.0, -1.0), "psnr11_masked") == Stat(-3.0, -5.0, -1.0)
    md = tables(svhn_rows())
    cells = [c for line in table_lines(block(md, "L2-SVM")) for c in line.split("|")]
    assert not any(re.search(r"\[-\d", c) for c in cells)
