"""tasks.report on hand-made rows: the paper's shape, "not run", the profile's own columns, figures that are
real PNGs, and no torch. The orderings computed from intervals: tests/test_report_orderings.py."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _helpers import block, inpainting_rows, row, svhn_rows, table_lines, tables

from tasks import figures, report
from tasks.tables import Stat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ["experiment", "method", "setting", "seed", "metric", "value", "ci_low", "ci_high", "profile", "dataset",
           "n_images", "device", "commit", "date"]


def test_inpainting_block_has_the_papers_header_row_order_and_one_cell_per_row_and_column():
    lines = block(tables(inpainting_rows()), "inpainting")
    assert lines[0] == "### paper profile · dataset celeba · reproduction"
    rows = table_lines(lines)
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:6] == ["", "PCD", "CD1", "SG", "CE", "MG"]  # the paper's columns, then floors after a rule
    assert header[6] == "‖" and header[7:] == ["floor: observed mean", "floor: mean face", "floor: biharmonic",
                                             "floor: multi-grid start"]
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
    cited = "not run here (the paper cites this row from other work, at its own settings)"
    assert f"| Wasserstein GAN | {cited} | {cited} |" in rows
    assert "*floors and controls*" in rows[rows.index(mg) + 1]
    assert "| not run | not run |" in next(r for r in rows if r.startswith("| raw pixels |"))


def test_provenance_is_stated_once_with_run_and_iterations_when_present():
    rows = [{**r, "run": "paper-celeba-multigrid-seed0-abc", "iterations": "400"} for r in inpainting_rows()]
    lines = block(tables(rows), "inpainting")
    prov = [line for line in lines if line.startswith("Provenance:")]
    assert len(prov) == 1 and "641704376e00" in prov[0]  # a hash that looks like a number stays a string
    assert "runs paper-celeba-multigrid-seed0-abc" in prov[0] and "iterations 400" in prov[0]
    prov = next(line for line in block(tables(inpainting_rows()), "inpainting") if line.startswith("Prov"))
    assert "runs" not in prov and "Partial" not in prov
    rows = [{**r, "run": "paper-x-seed0-abc", "iterations": "700/3500"} for r in inpainting_rows()]  # --stop-at
    prov = next(line for line in block(tables(rows), "inpainting") if line.startswith("Prov"))
    assert "iterations 700/3500" in prov and "**Partial models** (trained 700/3500 of their iterations" in prov


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
    cited = [line for line in tables(svhn_rows()).splitlines() if line.startswith("| Wasserstein GAN |")]
    assert cited and "| cited |" not in cited[0]  # a cited-only row says what it is, never a bare "cited"
    assert "not run here (the paper cites this row from other work" in cited[0]


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

    from tasks.common import write_curve, write_results
    res, runs = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("runs")
    named = "smoke-x-multigrid-seed0-abc"  # the run behind the multi-grid rows: its learning curves are drawn
    write_results(str(res), "inpainting", [dict(r, run=named if r["method"] == "multigrid" else "")
                                           for r in inpainting_rows()])
    write_results(str(res), "svhn_l2svm", svhn_rows())
    other = tmp_path_factory.mktemp("paper_scale")  # a second folder's curve, drawn beside this one's (--curves)
    write_curve(str(res), curve_rows("multigrid", "smoke", "0.25", [2, 4, 8], [0.20, 0.15, 0.12]))
    write_curve(str(other), curve_rows("context_encoder", "paper", "1", [250, 500], [0.09, 0.07]))
    for method in ("multigrid", "biharmonic"):
        imsave(res / f"inpainting_{method}_square.png", torchvision_grid(3, 4, 16, 2, 0))
    for size in (2, 16):
        imsave(res / f"synthesis_multigrid_grid{size}.png", torchvision_grid(2, 2, 16, 1, size))
    imsave(res / "synthesis_multigrid_nearest_train.png", torchvision_grid(2, 4, 16, 1, 3))
    for name in (named, "smoke-x-pcd-seed0-def"):  # the second run shares the runs folder but no row names it
        run = runs / name
        run.mkdir()
        it = np.repeat(np.arange(20), 2)
        pd.DataFrame({"iteration": it, "grid": np.tile([1, 2], 20), "size": np.tile([4, 16], 20),
                      "f_obs": np.sin(it), "f_syn": np.cos(it), "grad_l1": 1 + it, "loss": 0.0,
                      "lr": 0.3 - 0.01 * it, "seconds": 0.1}).to_csv(run / "log.csv", index=False)
        (run / "config.json").write_text(json.dumps({"data_root": f"/data/{name}-faces", "n_iters": 20}))
    assert report.main(["--results", str(res), "--runs", str(runs), "--curves", str(other)]) == 0
    return res


def curve_rows(method, profile, width, iterations, values):
    """inpainting_curve rows as tasks.inpainting --curve-every writes them: the learned method's points under each
    mask and the floors' flat lines."""
    base = dict(experiment="inpainting_curve", seed=0, metric="mae_masked", ci_low="", ci_high="", profile=profile,
                dataset="images", n_images=6, device="cpu", commit="abc", date="2026-12-05")
    rows = [dict(base, method=method, setting=f"{mask}|width={width}", value=v + k / 100, run=f"{profile}-run",
                 iterations=it) for k, mask in enumerate(("square", "doodle", "pepper"))
            for it, v in zip(iterations, values)]
    return rows + [dict(base, method=floor, setting=f"{mask}|width={width}", value=0.1 + k / 50, seed=0)
                   for k, mask in enumerate(("square", "doodle", "pepper"))
                   for floor in ("biharmonic", "observed_mean")]


@pytest.mark.slow
def test_cli_writes_tables_cells_and_figures(written):
    md = (written / "tables.md").read_text()
    assert "CVPR Table 4" in md and "## Figures" in md and "figures/inpainting_square.png" in md
    cells = pd.read_csv(written / "cells.csv")
    assert list(cells.columns) == report.CELL_COLUMNS
    mg = cells[(cells.table == "inpainting_celeba") & (cells.row == "error · square") & (cells.column == "MG")]
    assert mg.value.tolist() == [0.05] and mg.paper.tolist() == [0.042]
    assert (cells.status == "not run").any() and (cells.status == "cited").any()
    assert "inpainting_curve" not in set(report.load_results(str(written)).experiment)  # a figure's points only
    curve = report.load_curves([str(written)])
    assert set(curve.method) == {"multigrid", "biharmonic", "observed_mean"} and len(curve) == 3 * 3 + 3 * 2


def test_only_the_runs_the_rows_name_are_recorded_with_their_data_folder(written):
    recorded = json.loads((written / report.DATA_FOLDERS).read_text())
    assert recorded == {"smoke-x-multigrid-seed0-abc": "smoke-x-multigrid-seed0-abc-faces"}  # not the pcd run


def test_each_figure_is_a_png_of_the_expected_size_and_not_blank(written):
    from matplotlib.image import imread
    fig_dir = written / "figures"
    dpi, w_bar = figures.DPI, figures.PANEL_W
    # figures.labeled_strips: a left margin that fits the longest row label (9 pt), at least 130 px
    strips = lambda w, h, s, longest=0: (round(s * w + max(130, 12 + 7 * longest) + 20), round(s * h + 70))  # noqa
    expected = {
        "inpainting_celeba_paper_celeba.png": (round((2 * w_bar + figures.LEGEND_W) * dpi), figures.PANEL_H * dpi),
        "svhn_l2svm_smoke_digits.png": (round((w_bar + figures.LEGEND_W) * dpi), figures.PANEL_H * dpi),
        "inpainting_square.png": strips(4 * 18 + 2, 4 * (16 + 2 * 2), 2.0, len("biharmonic (floor)")),  # original,
        # masked input, 2 methods
        "synthesis_nearest_train.png": strips(4 * 17 + 1, 2 * (16 + 2 * 1), 1.5, len("nearest training image")),
        "synthesis_samples.png": (round((1.9 * 2 + 1.0) * dpi), round((1.9 + 0.6) * dpi)),
        "learning_smoke-x-multigrid-seed0-abc.png": (round(3.3 * 2 * dpi), 6 * dpi),
        "inpainting_curve.png": (round((3 * w_bar + figures.LEGEND_W) * dpi), round((figures.PANEL_H + 0.6) * dpi)),
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


def test_a_value_that_rounds_to_zero_is_shown_without_a_sign():
    two = report.unsigned_zero(lambda v: f"{v:.2f}")
    assert [two(v) for v in (-0.004, -0.0, 0.004, -0.005001, -3.2)] == ["0.00", "0.00", "0.00", "-0.01", "-3.20"]
    spec = next(t for t in report.TABLES if t.key == "svhn_l2svm")
    assert report.fmt_stat(spec, Stat(-0.001, -3.18, 3.18)) == "0.00 [-3.18, 3.18]"


def test_report_errors_are_one_line_and_a_nan_is_shown_as_nan(tmp_path, capsys):
    """Issue 28, probes 7-8: the report on a missing --results wrote an empty report (exit 0), on a path that is a
    file or on a CSV with an extra field it printed a traceback; a NaN value read as "not run"."""
    assert report.main(["--results", str(tmp_path / "typo"), "--no-figures"]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "typo").exists()
    (tmp_path / "file").write_text("x")
    assert report.main(["--results", str(tmp_path / "file"), "--no-figures"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    res = tmp_path / "res"
    res.mkdir()
    rows = inpainting_rows()
    rows[0]["value"] = float("nan")
    pd.DataFrame(rows).to_csv(res / "inpainting.csv", index=False)
    assert report.main(["--results", str(res), "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert "warning: inpainting multigrid square mae_masked" in err and "nan" in err
    mg = next(r for r in table_lines(block((res / "tables.md").read_text(), "inpainting"))
              if r.startswith("| error · square"))
    assert mg.split("|")[6].strip().startswith("nan")  # the MG column: nan, not "not run"
    lines = (res / "inpainting.csv").read_text().splitlines()
    lines[3] += ",surplus"
    (res / "inpainting.csv").write_text("\n".join(lines) + "\n")
    assert report.main(["--results", str(res), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inpainting.csv, line 4" in err[0]


def test_panel_names_are_written_and_read_from_one_template():
    """tasks.files.PANELS is the one definition of the PNG panels' names: a name built from fields parses back to
    them (a method may hold '_'), other files do not parse, and no task or figure spells one of these names itself
    (names nothing reads back, like the report's own figures, are the writer's)."""
    import re

    from tasks.files import PANELS, panel_glob, panel_name, parse_panel
    samples = {"inpainting": dict(method="context_encoder", mask="square"),
               "coopnets": dict(method="mrf_l2", mask="M20"),
               "synthesis_grid": dict(method="multigrid", size="16"),
               "nearest_train": dict(method="dcgan")}
    assert samples.keys() == PANELS.keys()
    for kind, fields in samples.items():
        name = panel_name(kind, **fields)
        assert parse_panel(kind, name) == fields and re.fullmatch(panel_glob(kind).replace("*", ".*"), name)
    assert parse_panel("inpainting", "inpainting_curve.png") is None
    assert parse_panel("synthesis_grid", "synthesis_multigrid_grid.png") is None
    root = os.path.join(os.path.dirname(__file__), "..", "tasks")
    spelled = [f for f in os.listdir(root) if f.endswith(".py") and f != "files.py"
               and re.search(r"f\"(inpainting|coopnets)_\{\w+\}_\{|f\"[^\"]*_grid\{|f\"[^\"]*_nearest_train\.png\"",
                             open(os.path.join(root, f)).read())]
    assert not spelled


def test_learning_curves_title_fits_a_long_run_name(tmp_path, monkeypatch):
    """The title names the run folder; a paper-profile folder name must not run off a one-grid figure."""
    import pandas as pd

    import tasks.figures as figures
    run = tmp_path / "paper-images-context_encoder-seed0-inpaint-a57a8ecb"
    run.mkdir()
    (run / "config.json").write_text('{"n_iters": 3500}')  # "2 of 3500 iterations (unfinished)" in the title
    pd.DataFrame({"iteration": [0, 1], "grid": [1, 1], "size": [64, 64], "f_obs": [1.0, 2.0],
                  "f_syn": [1.0, 1.5], "grad_l1": [3.0, 2.0], "lr": [0.1, 0.1]}).to_csv(run / "log.csv", index=False)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path: drawn.append(fig) or path)
    figures.learning_curves(str(run / "log.csv"), str(tmp_path / "curves.png"))
    fig, = drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    title = fig._suptitle.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    page = fig.bbox
    assert title.x0 >= page.x0 and title.x1 <= page.x1, (title, page)
    assert run.name in fig._suptitle.get_text()


# The committed report folders and how they are rebuilt (results/README.md; run_all.sh's last step for the first)
COMMITTED_REPORTS = [("results", []), ("results/reduced", ["results/reduced_width", "results/paper_scale"]),
                     ("results/paper_scale", [])]


@pytest.mark.slow
@pytest.mark.parametrize("folder,curves", COMMITTED_REPORTS, ids=[f for f, _ in COMMITTED_REPORTS])
def test_the_report_rebuilds_the_committed_tables_from_the_committed_rows(folder, curves, tmp_path, capsys):
    """On a fresh clone (no runs/), `python -m tasks.report` rewrites the committed tables.md, cells.csv and figures
    byte for byte: the report is a function of the committed rows (and of the figures of runs the clone lacks,
    which it keeps and marks)."""
    shutil.copytree(os.path.join(ROOT, "results"), tmp_path / "results")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        argv = ["--results", folder, "--runs", "no-runs-in-a-fresh-clone"] + (["--curves", *curves] if curves else [])
        assert report.main(argv) == 0, capsys.readouterr().err
    finally:
        os.chdir(cwd)
    out = tmp_path / folder
    for name in ("tables.md", "cells.csv"):
        assert (out / name).read_bytes() == open(os.path.join(ROOT, folder, name), "rb").read(), name
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figs == sorted(os.listdir(os.path.join(ROOT, folder, "figures")))
    changed = [f for f in figs if (out / "figures" / f).read_bytes()
               != open(os.path.join(ROOT, folder, "figures", f), "rb").read()]
    assert not changed, changed


def score_block(rows: list[dict]):
    """The report's arXiv Table 1 block of these score rows."""
    df = pd.DataFrame(rows).astype(str)
    for col in ("value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in ("run", "iterations"):
        df[col] = ""
    return next(b for b in report.all_blocks(df, report.paper_numbers()) if b.spec.key == "score_diagnostics_celeba")


def test_score_diagnostics_draw_the_untrained_network_and_the_paper_in_rows_of_their_own():
    """The untrained network scores every set near 0 and the paper's values are on another scale: each gets a row of
    panels of its own (once a second axis of another scale made the paper's values read as ours, and the untrained
    line at 0 could not be seen beside values of 1e5)."""
    from tasks.figures import score_rows
    rows = []
    for grid, (trained, paper_scale) in {"grid1": (6e4, 5e4), "grid2": (1e6, 8e5)}.items():
        for k, image_set in enumerate(("training", "testing", "negative")):
            rows.append(row(experiment="score_diagnostics", method="multigrid", setting=image_set,
                            metric=f"{grid}_mean", value=trained - 1e4 * k, ci_low="", ci_high=""))
            rows.append(row(experiment="score_diagnostics", method="untrained", setting=image_set,
                            metric=f"{grid}_mean", value=-0.9 + 0.1 * k, ci_low="", ci_high=""))
    b = score_block(rows)
    drawn = score_rows(b)
    assert list(drawn) == ["ours, trained network", "ours, untrained network (its initial weights)", "the paper"]
    untrained = drawn["ours, untrained network (its initial weights)"]
    assert all(abs(st.value) < 1 for items in untrained.values() for _, st in items) and len(untrained) == 2
    assert all(st.value > 1e4 for items in drawn["the paper"].values() for _, st in items)


def test_score_diagnostics_name_other_negatives_in_their_row_and_keep_the_papers_orderings():
    """Negatives other than the default are recorded in their rows' setting ("negative|negatives=imagefolder"): the
    table's negative row is theirs, labelled with what they are, beside the paper's value, and the paper's
    orderings against the negatives are still judged on them."""
    from tasks.verdicts import judge_block
    rows = []
    for k, image_set in enumerate(("training", "testing", "synthesized", "negative|negatives=imagefolder")):
        for method, value in (("multigrid", 6e4 - 1e4 * k), ("untrained", -0.9)):
            rows.append(row(experiment="score_diagnostics", method=method, setting=image_set, metric="grid1_mean",
                            value=value, ci_low="", ci_high=""))
    b = score_block(rows)
    labels = [r.label for r in b.row_axes]
    assert "negative (negatives=imagefolder)" in labels and "negative" not in labels
    assert "untrained · negative (negatives=imagefolder)" in labels
    neg = next(r for r in b.row_axes if r.label == "negative (negatives=imagefolder)")
    assert neg.paper == "negative" and dict(neg.keys)["setting"] == "negative|negatives=imagefolder"
    assert b.cell(neg, b.col_axes[0]).paper is not None  # the paper's f(negative) beside ours
    claims = {j.claim for j in judge_block(b)}
    assert "training > negative (negatives=imagefolder)" in claims
