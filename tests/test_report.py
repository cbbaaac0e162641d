"""tasks.report on hand-made rows: the paper's shape, "not run", the profile's own columns, orderings computed
from intervals, figures that are real PNGs, and no torch."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pandas as pd

import pytest

from tasks import figures, report
from tasks.tables import Stat, verdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ["experiment", "method", "setting", "seed", "metric", "value", "ci_low", "ci_high", "profile", "dataset",
           "n_images", "device", "commit", "date"]


def row(**kw):
    base = dict(experiment="inpainting", method="multigrid", setting="square", seed=0, metric="mae_masked",
                value=0.05, ci_low=0.04, ci_high=0.06, profile="paper", dataset="celeba", n_images=1000,
                device="cuda:H100", commit="641704376e00", date="2026-11-25T00:00:00+00:00")
    return {**base, **kw}


def inpainting_rows(mg=(0.05, 0.04, 0.06)):
    rows = [row(method="multigrid", value=mg[0], ci_low=mg[1], ci_high=mg[2]),
            row(method="singlegrid", value=0.08, ci_low=0.07, ci_high=0.09),
            row(method="cd1", value=0.09, ci_low=0.08, ci_high=0.10),
            row(method="pcd", value=0.07, ci_low=0.06, ci_high=0.08),
            row(method="biharmonic", value=0.045, ci_low=0.04, ci_high=0.05),
            row(method="multigrid", setting="doodle", value=0.04, ci_low=0.03, ci_high=0.05),
            row(method="multigrid", metric="psnr11_masked", value=16.0, ci_low=15.5, ci_high=16.5)]
    return rows


def svhn_rows():
    out = []
    for method, base in (("multigrid", 14.0), ("singlegrid", 20.0), ("cd1", 25.0), ("untrained", 30.0)):
        for labels in (100, 200):
            for seed, d in ((0, -0.1), (1, 0.1)):
                out.append(row(experiment="svhn_l2svm", method=method, setting=f"labels={labels}", seed=seed,
                               metric="test_error", value=base + d - labels / 100, ci_low="", ci_high="",
                               profile="smoke", dataset="digits", n_images=360, device="cpu"))
    return out


def tables(rows, paper=None) -> str:
    df = pd.DataFrame(rows, columns=list(rows[0].keys())).astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce")  # '' → nan
    for col in ("run", "iterations"):
        if col not in df:
            df[col] = ""
    return report.build_tables(df, report.paper_numbers() if paper is None else paper)


def block(md: str, heading: str) -> list[str]:
    """Lines of the first block under the table whose title contains heading."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## ") and heading in line)
    start = next(i for i in range(start, len(lines)) if lines[i].startswith("### "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return lines[start:end]


def table_lines(lines):
    return [line for line in lines if line.startswith("|")]


def test_inpainting_block_has_the_papers_header_row_order_and_one_cell_per_row_and_column():
    lines = block(tables(inpainting_rows()), "inpainting")
    assert lines[0] == "### paper profile · dataset celeba · reproduction"
    rows = table_lines(lines)
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:6] == ["", "PCD", "CD1", "SG", "CE", "MG"]  # the paper's columns, then floors after a rule
    assert header[6] == "‖" and header[7:] == ["floor: observed mean", "floor: mean face", "floor: biharmonic"]
    assert [r.split("|")[1].strip() for r in rows[2:]] == [
        "error · square", "error · doodle", "error · pepper", "PSNR · square", "PSNR · doodle", "PSNR · pepper"]
    assert all(len(r.strip("|").split("|")) == len(header) for r in rows)
    square = rows[2].split("|")
    assert square[6].strip() == "0.050 [0.040, 0.060] · paper 0.042"  # ours [95% interval] · paper
    assert square[10].strip() == "0.045 [0.040, 0.050]"  # a floor has no paper cell


def test_a_missing_result_reads_not_run():
    rows = table_lines(block(tables(inpainting_rows()), "inpainting"))
    assert rows[2].split("|")[5].strip() == "not run · paper 0.045"  # no ContextEncoder row
    empty = tables([row(experiment="none")])
    assert "### not run" in empty and empty.count("not run") > 20


def test_smoke_block_has_the_profiles_own_columns_and_a_stand_in_title():
    lines = block(tables(svhn_rows()), "L2-SVM")
    assert lines[0] == "### smoke profile · dataset digits (stand-in for SVHN) · not a reproduction"
    rows = table_lines(lines)
    assert rows[0] == "|  | 100 labels | 200 labels |"
    mg = next(r for r in rows if r.startswith("| multi-grid |"))
    assert "13.00 [" in mg and "paper" not in mg  # no paper cell at 100 labels
    assert "| Wasserstein GAN | cited | cited |" in rows
    assert "*floors and controls*" in rows[rows.index(mg) + 1]
    assert "| not run | not run |" in next(r for r in rows if r.startswith("| raw pixels |"))


def test_provenance_is_stated_once_with_run_and_iterations_when_present():
    rows = [{**r, "run": "paper-celeba-multigrid-seed0-abc", "iterations": "400"} for r in inpainting_rows()]
    lines = block(tables(rows), "inpainting")
    prov = [line for line in lines if line.startswith("Provenance:")]
    assert len(prov) == 1 and "641704376e00" in prov[0]  # a hash that looks like a number stays a string
    assert "runs paper-celeba-multigrid-seed0-abc" in prov[0] and "iterations 400" in prov[0]
    prov = next(line for line in block(tables(inpainting_rows()), "inpainting") if line.startswith("Prov"))
    assert "runs" not in prov


def test_provenance_names_the_data_folder_each_run_learned_from(tmp_path):
    run = "reduced-imagefolder-multigrid-seed0-abc"
    (tmp_path / run).mkdir()
    (tmp_path / run / "config.json").write_text(json.dumps({"data_root": "/data/cifar10/", "dataset": "imagefolder"}))
    (tmp_path / "no-config").mkdir()  # a folder that is not a run is skipped
    data = report.data_folders(str(tmp_path))
    assert data == {run: "cifar10"} and report.data_folders(str(tmp_path / "absent")) == {}
    rows = [{**r, "run": run if r["method"] == "multigrid" else "", "iterations": ""} for r in inpainting_rows()]
    df = pd.DataFrame(rows).astype(str)
    prov = report.provenance_line(df, data)
    assert "dataset celeba (data folder cifar10)" in prov
    assert "data folder" not in report.provenance_line(df)


def ordering(md: str, start: str) -> str:
    line = next(row for row in block(md, "inpainting") if row.startswith("- error · square"))
    return next(part for part in line.split(": ", 1)[1].split("; ") if start in part)


@pytest.mark.slow
def test_an_ordering_line_flips_when_a_row_changes():
    holds = ordering(tables(inpainting_rows()), "multi-grid < single-grid")
    assert holds == ("multi-grid < single-grid: holds on one training run each (0.050 [0.040, 0.060] vs 0.080 "
                     "[0.070, 0.090])")  # learned rows that name no run count as one run
    flipped = ordering(tables(inpainting_rows(mg=(0.10, 0.095, 0.11))), "multi-grid < single-grid")
    assert flipped.startswith("multi-grid < single-grid: does not hold on one training run each (0.100")
    unclear = ordering(tables(inpainting_rows(mg=(0.075, 0.06, 0.085))), "multi-grid < single-grid")
    assert unclear.startswith("multi-grid < single-grid: cannot tell")
    assert "multi-grid < ContextEncoder: not run" in ordering(tables(inpainting_rows()), "ContextEncoder")
    assert "multi-grid < biharmonic: cannot tell" in ordering(tables(inpainting_rows()), "biharmonic")


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


def test_an_ordering_holds_only_if_every_training_run_is_on_its_side():
    from tasks.tables import run_checked
    a, b = Stat(10.0, 9.0, 11.0), Stat(14.0, 13.0, 15.0)
    labels = ("multi-grid", "CD1")
    apart = ({"mg-s0": 9.5, "mg-s1": 10.5}, {"cd1-s0": 13.5, "cd1-s1": 14.5})
    crossed = ({"mg-s0": 9.5, "mg-s1": 13.8}, {"cd1-s0": 13.5, "cd1-s1": 14.5})
    assert run_checked("<", "holds", a, b, apart, labels) == "holds"
    assert run_checked("<", "holds", a, b, crossed, labels) == "cannot tell (its training runs cross)"
    assert run_checked(">", "does not hold", a, b, crossed, labels) == "cannot tell (its training runs cross)"
    assert run_checked("<", "holds", a, b, ({"mg-s0": 10.0}, apart[1]), labels) == \
        "holds on one training run of multi-grid"
    assert run_checked("<", "holds", a, b, ({"mg-s0": 10.0}, {"cd1-s0": 14.0}), labels) == \
        "holds on one training run each"
    assert run_checked("<", "holds", a, b, ({}, {}), labels) == "holds"  # floors: nothing trained
    assert run_checked("<", "holds", a, b, ({"mg-s1": 14.2, "mg-s0": 9.0}, {}), labels) == \
        "cannot tell (its training runs cross)"  # a floor counts as one value, its pooled mean
    assert run_checked("≈", "holds", a, b, crossed, labels) == "holds"


def test_svhn_orderings_check_the_training_runs_of_each_method():
    runs = {("multigrid", 0): "mg-s0", ("multigrid", 1): "mg-s1", ("cd1", 0): "cd1-s0", ("cd1", 1): "cd1-s1",
            ("singlegrid", 0): "sg-s0"}
    rows = []
    for r in svhn_rows():
        for train_seed in (0, 1):
            run = runs.get((r["method"], train_seed))
            if run or (r["method"] == "untrained" and train_seed == 0):
                shift = 6.0 if run == "mg-s1" else 0.0  # the second multi-grid run is far worse
                rows.append({**r, "seed": 1_000_000 * train_seed + r["seed"], "value": r["value"] + shift,
                             "run": run or "", "iterations": "1000" if run else ""})
    line = next(row for row in block(tables(rows), "L2-SVM") if row.startswith("- 100 labels"))
    # paired over seed 0 (the only training seed single-grid has) multi-grid is 6 points better, but its run of
    # seed 1 is as bad as single-grid's run
    assert "multi-grid < single-grid: cannot tell (its training runs cross) (" in line
    assert "single-grid < one-step CD: holds on one training run of single-grid (" in line
    fine = [{**r, "value": r["value"] - 6.0} if r["run"] == "mg-s1" else r for r in rows]
    line = next(row for row in block(tables(fine), "L2-SVM") if row.startswith("- 100 labels"))
    assert "multi-grid < one-step CD: holds (" in line  # two runs each, every one on its side


def test_test_time_variants_go_below_the_block_and_cited_paper_values_are_marked():
    rows = inpainting_rows() + [row(setting="square|test_steps=1", value=0.07, ci_low=0.06, ci_high=0.08)]
    lines = block(tables(rows), "inpainting")
    assert not any("test_steps" in line for line in table_lines(lines)[:8])
    other = lines[lines.index("Other settings of this run (not in the paper's table):"):]
    assert "| multigrid | 0.070 [0.060, 0.080] |" in other
    assert "| method | square\\|test_steps=1 · mae_masked |" in other
    paper = report.paper_numbers()
    paper.loc[(paper.table == "inception_cifar10") & (paper.row == "DCGAN"), "note"] = "cited"
    md = tables([row(experiment="synthesis", method="dcgan", setting="final_noise=off", metric="inception_score",
                     value=6.0, ci_low="", ci_high="", dataset="cifar10")], paper)
    assert "| DCGAN | 6.00 · paper 6.58 (cited) | not run |" in md


# ----------------------------------------------------------------------------- CLI, figures, no torch

def png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def torchvision_grid(rows: int, cols: int, tile: int, padding: int, seed: int) -> np.ndarray:
    """A make_grid-like image: random tiles with `padding` black pixels around and between them."""
    rng = np.random.default_rng(seed)
    img = np.zeros((rows * (tile + padding) + padding, cols * (tile + padding) + padding, 3), np.float32)
    for i in range(rows):
        for j in range(cols):
            y, x = padding + i * (tile + padding), padding + j * (tile + padding)
            img[y:y + tile, x:x + tile] = rng.random((tile, tile, 1))
    return img


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    from matplotlib.image import imsave
    from tasks.common import write_results
    res, runs = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("runs")
    write_results(str(res), "inpainting", inpainting_rows())
    write_results(str(res), "svhn_l2svm", svhn_rows())
    for method in ("multigrid", "biharmonic"):
        imsave(res / f"inpainting_{method}_square.png", torchvision_grid(3, 4, 16, 2, 0))
    for size in (2, 16):
        imsave(res / f"synthesis_multigrid_grid{size}.png", torchvision_grid(2, 2, 16, 1, size))
    imsave(res / "synthesis_multigrid_nearest_train.png", torchvision_grid(2, 4, 16, 1, 3))
    run = runs / "smoke-x-multigrid-seed0-abc"
    run.mkdir()
    it = np.repeat(np.arange(20), 2)
    pd.DataFrame({"iteration": it, "grid": np.tile([1, 2], 20), "size": np.tile([4, 16], 20),
                  "f_obs": np.sin(it), "f_syn": np.cos(it), "grad_l1": 1 + it, "loss": 0.0, "lr": 0.3 - 0.01 * it,
                  "seconds": 0.1}).to_csv(run / "log.csv", index=False)
    assert report.main(["--results", str(res), "--runs", str(runs)]) == 0
    return res


@pytest.mark.slow
def test_cli_writes_tables_cells_and_figures(written):
    md = (written / "tables.md").read_text()
    assert "CVPR Table 4" in md and "## Figures" in md and "figures/inpainting_square.png" in md
    cells = pd.read_csv(written / "cells.csv")
    assert list(cells.columns) == report.CELL_COLUMNS
    mg = cells[(cells.table == "inpainting_celeba") & (cells.row == "error · square") & (cells.column == "MG")]
    assert mg.value.tolist() == [0.05] and mg.paper.tolist() == [0.042]
    assert (cells.status == "not run").any() and (cells.status == "cited").any()


def test_each_figure_is_a_png_of_the_expected_size_and_not_blank(written):
    from matplotlib.image import imread
    fig_dir = written / "figures"
    dpi, w_bar = figures.DPI, figures.PANEL_W
    strips = lambda w, h, s: (round(s * w + 150), round(s * h + 70))  # noqa: E731  (figures.labeled_strips)
    expected = {
        "inpainting_celeba_paper_celeba.png": (round((2 * w_bar + figures.LEGEND_W) * dpi), figures.PANEL_H * dpi),
        "svhn_l2svm_smoke_digits.png": (round((w_bar + figures.LEGEND_W) * dpi), figures.PANEL_H * dpi),
        "inpainting_square.png": strips(4 * 18 + 2, 4 * (16 + 2 * 2), 2.0),  # original, masked input, 2 methods
        "synthesis_nearest_train.png": strips(4 * 17 + 1, 2 * (16 + 2 * 1), 1.5),
        "synthesis_samples.png": (round((1.9 * 2 + 1.0) * dpi), round((1.9 + 0.6) * dpi)),
        "learning_smoke-x-multigrid-seed0-abc.png": (round(3.3 * 2 * dpi), 6 * dpi),
    }
    assert sorted(os.listdir(fig_dir)) == sorted(expected)
    for name, (w, h) in expected.items():
        pw, ph = png_size(str(fig_dir / name))
        assert abs(pw - w) <= 1 and abs(ph - h) <= 1, (name, (pw, ph), (w, h))
        assert imread(str(fig_dir / name))[..., :3].var() > 1e-3, f"{name} is blank"


def test_report_on_an_empty_folder(tmp_path):
    assert report.main(["--results", str(tmp_path), "--runs", str(tmp_path / "absent")]) == 0
    assert (tmp_path / "tables.md").read_text().count("not run") > 20
    assert not os.listdir(tmp_path / "figures") if (tmp_path / "figures").exists() else True


def test_importing_the_report_does_not_load_torch():
    code = "import sys, tasks.report, tasks.figures; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.mark.slow
def test_running_the_report_does_not_load_torch(tmp_path):
    """``python -m tasks.report`` on a copy of the committed smoke results, figures included, never imports torch."""
    results = tmp_path / "results"
    shutil.copytree(os.path.join(ROOT, "results"), results, ignore=shutil.ignore_patterns("reduced", "*.png"))
    code = ("import runpy, sys\n"
            f"sys.argv = ['tasks.report', '--results', {str(results)!r}, '--runs', {str(tmp_path / 'none')!r}]\n"
            "try:\n    runpy.run_module('tasks.report', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (results / "tables.md").exists()


def test_inception_block_pairs_real_images_with_samples_of_the_same_size():
    from tasks.tables import fidelity_layout, real_setting
    assert real_setting("final_noise=off|inception_size=32") == "training_images|inception_size=32"
    rows = pd.DataFrame({"metric": ["inception_score"] * 2, "method": ["real", "multigrid"],
                         "setting": ["training_images|inception_size=32", "final_noise=off|inception_size=32"]})
    rws, _ = fidelity_layout(rows)
    keys = {r.label: dict(r.keys) for r in rws}
    assert keys["real images"] == {"method": "real", "setting": "training_images|inception_size=32"}
    assert keys["multi-grid"]["setting"] == "final_noise=off|inception_size=32"


def test_svhn_block_checks_multigrid_against_every_scheme_it_has_a_row_for():
    md = tables(svhn_rows())
    line = next(row for row in block(md, "L2-SVM") if row.startswith("- 100 labels"))
    assert "multi-grid < one-step CD: holds" in line and "multi-grid < DCGAN: not run" in line
    assert "multi-grid < single-grid: holds" in line and "single-grid < one-step CD: holds" in line
    cnn = [{**r, "experiment": "svhn_cnn"} for r in svhn_rows()]
    line = next(row for row in block(tables(cnn), "CNN") if row.startswith("- 100 labels"))
    assert "DCGAN" not in line and "multi-grid + CNN classifier < one-step CD: holds" in line  # Table 3: no DCGAN row


def test_learning_curves_of_an_unfinished_run_say_so(tmp_path):
    import json

    import pandas as pd

    from tasks.figures import run_progress
    run = tmp_path / "run"
    run.mkdir()
    log = pd.DataFrame({"iteration": [0, 1, 2, 3]})
    assert run_progress(str(run / "log.csv"), log) == "4 iterations"  # no config.json: the count only
    (run / "config.json").write_text(json.dumps({"n_iters": 10}))
    assert run_progress(str(run / "log.csv"), log) == "4 of 10 iterations (unfinished)"
    (run / "config.json").write_text(json.dumps({"n_iters": 4}))
    assert run_progress(str(run / "log.csv"), log) == "4 of 4 iterations"


def test_orderings_on_shared_label_draws_are_read_from_the_paired_difference():
    """Two label draws move both sources alike (10 vs 20 points): the cells' own intervals overlap, but the
    difference on the same draws is about −1 point every time, and the verdict says so."""
    rows = [row(experiment="svhn_l2svm", method=m, setting="labels=100", seed=seed, metric="test_error", value=v,
                ci_low="", ci_high="", profile="smoke", dataset="digits", n_images=360, device="cpu")
            for m, values in (("untrained", (10.0, 20.0)), ("raw_pixels", (11.0, 21.1)))
            for seed, v in enumerate(values)]
    line = next(r for r in block(tables(rows), "L2-SVM") if r.startswith("- 100 labels"))
    claim = next(part for part in line.split("; ") if "untrained network < raw pixels" in part)
    assert claim.startswith("untrained network < raw pixels: holds (15.00 [-48.53, 78.53] vs 16.05")
    assert "paired difference -1.05 [-1.69, -0.41] over 2 pairs" in line
    apart = [{**r, "seed": r["seed"] + (5 if r["method"] == "raw_pixels" else 0)} for r in rows]  # no shared draw
    line = next(r for r in block(tables(apart), "L2-SVM") if r.startswith("- 100 labels"))
    assert "untrained network < raw pixels: cannot tell" in line and "paired" not in line


def test_a_value_that_rounds_to_zero_is_shown_without_a_sign():
    two = report.unsigned_zero(lambda v: f"{v:.2f}")
    assert [two(v) for v in (-0.004, -0.0, 0.004, -0.005001, -3.2)] == ["0.00", "0.00", "0.00", "-0.01", "-3.20"]
    spec = next(t for t in report.TABLES if t.key == "svhn_l2svm")
    assert report.fmt_stat(spec, Stat(-0.001, -3.18, 3.18)) == "0.00 [-3.18, 3.18]"


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
