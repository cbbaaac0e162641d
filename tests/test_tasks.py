"""Smoke runs of the synthesis and score-diagnostics tasks, and the report on hand-made rows."""
import os

import pandas as pd
import pytest

from tasks.common import RESULT_COLUMNS, write_results

TINY = ["--profile", "smoke", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--no-progress"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    return str(root / "results"), str(root / "runs")


def test_synthesis_smoke_run(dirs):
    from tasks import synthesis
    out, runs = dirs
    assert synthesis.main(TINY + ["--out", out, "--runs", runs, "--n-samples", "8", "--fidelity-samples", "8"]) == 0
    df = pd.read_csv(os.path.join(out, "synthesis.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.method) == {"dcgan", "multigrid", "singlegrid"} and (df.value > 0).all()  # no IS: no weights
    for name in ("multigrid_grid2", "multigrid_grid8", "multigrid_grid32", "singlegrid_grid32", "dcgan_grid32",
                 "dcgan_observed_vs_synthesized", "dcgan_nearest_train",
                 "multigrid_observed_vs_synthesized", "multigrid_diversity", "multigrid_grad_norm",
                 "multigrid_nearest_train"):
        assert os.path.exists(os.path.join(out, f"synthesis_{name}.png")), name
    grad = pd.read_csv(os.path.join(out, "synthesis_grad_norm.csv"))
    assert set(grad["size"]) == {2, 8, 32} and (grad.grad_l1 > 0).all() and set(grad.iteration) == {0, 1}
    nn = pd.read_csv(os.path.join(out, "synthesis_nearest.csv"))
    assert set(nn.kind) == {"synthesized", "test"} and (nn.l2 > 0).all() and nn.nearest_train_index.between(0, 79).all()
    assert set(df[df.metric == "nn_l2_mean"].setting) == {"nearest_train_synthesized", "nearest_train_test"}


def test_score_diagnostics_smoke_run(dirs):
    from tasks import score_diagnostics
    out, runs = dirs
    assert score_diagnostics.main(TINY + ["--out", out, "--runs", runs]) == 0
    df = pd.read_csv(os.path.join(out, "score_diagnostics.csv"))
    assert list(df.columns) == RESULT_COLUMNS
    assert set(df.setting) == {"training", "testing", "synthesized", "negative"}
    assert set(df.method) == {"multigrid", "untrained"}
    assert len(df) == 2 * 4 * 3 * 2 and df.value.notna().all()
    # the multi-grid run was reused from the synthesis task (same settings → same run folder)
    assert len([d for d in os.listdir(runs) if "multigrid" in d]) == 1
    run = next(d for d in os.listdir(runs) if "multigrid" in d)
    trained, untrained = df[df.method == "multigrid"], df[df.method == "untrained"]
    assert (trained.run == run).all() and (trained.iterations == 2).all()  # which model, how long trained
    assert untrained.run.isna().all() and untrained.iterations.isna().all()


def _row(**kw):
    base = dict(experiment="svhn_l2svm", method="multigrid", setting="labels=1000", seed=0, metric="test_error",
                value=30.0, ci_low="", ci_high="", profile="paper", dataset="svhn", n_images=73257,
                device="cuda:H100", commit="641704376e00", date="2026-11-25T00:00:00+00:00")
    return {**base, **kw}


def test_report_builds_tables_with_missing_cells(tmp_path):
    from tasks.report import build_tables, load_results, paper_numbers
    rows = [_row(seed=0, value=30.0), _row(seed=1, value=32.0),
            _row(method="cd1", setting="labels=2000", profile="smoke", dataset="digits", value=50.0),
            _row(experiment="inpainting", method="multigrid", setting="square", metric="mae_masked", value=0.05,
                 ci_low=0.04, ci_high=0.06, dataset="celeba"),
            _row(experiment="inpainting", method="biharmonic", setting="square", metric="mae_masked", value=0.03,
                 ci_low=0.02, ci_high=0.04, dataset="celeba")]
    write_results(str(tmp_path), "mixed", rows)
    md = build_tables(load_results(str(tmp_path)), paper_numbers())
    lines = md.splitlines()
    mg = next(l for l in lines if l.startswith("| multi-grid | error_1000 |"))
    assert "31 ± 1.414 (n=2)" in mg and "+0.77" in mg and "reproduction (paper profile)" in mg
    cd1 = next(l for l in lines if l.startswith("| one-step CD | error_2000 |"))
    assert "not a reproduction" in cd1 and "| — |" in cd1  # no difference shown for smoke numbers
    assert "| one-step CD | error_1000 | 44.38 | test_error | — | | not run |" in md
    assert "| Wasserstein GAN | error_1000 | 43.15 | — | cited" in md
    sq = next(l for l in lines if l.startswith("| error | square_MG |") and "mae_masked" in l)
    assert "0.05 [0.04, 0.06]" in sq and "paper inside our interval" in sq
    assert "tasks.svhn_features train the DCGAN baseline" in md
    inpaint = md[md.index("CVPR Table 4"):]
    assert "| biharmonic | square | mae_masked | 0.03 [0.02, 0.04] |" in inpaint  # floor under its table
    assert "20·log10 2" in inpaint  # the PSNR convention is stated
    assert "641704376e00" in mg  # a hash that looks like a number stays a string
    assert not any("|  |  |" in l for l in lines if l.startswith("| error"))


def test_report_cli_on_empty_folder(tmp_path):
    from tasks import report
    assert report.main(["--results", str(tmp_path)]) == 0
    text = (tmp_path / "tables.md").read_text()
    assert text.count("not run") > 20


def test_task_cli_reports_bad_input_in_one_line(capsys):
    from tasks import synthesis
    from tasks.common import cli
    assert cli(lambda: synthesis.main(["--dataset", "celeba", "--no-progress"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'celeba' needs --data-root") and "Traceback" not in err


def test_synthesis_fidelity_rows_with_a_stand_in_extractor(tmp_path, monkeypatch):
    """The IS/FID wiring of tasks.synthesis, with a registered tiny extractor instead of Inception."""
    import test_fidelity  # noqa: F401  (registers the "tiny-test" extractor)
    from repro import fidelity
    from tasks import synthesis
    real_fn = fidelity.fidelity_metrics
    monkeypatch.setattr(synthesis, "fidelity_metrics",
                        lambda *a, **kw: real_fn(*a, **{**kw, "feature_extractor": "tiny-test", "cuda": False}))
    out, runs = str(tmp_path / "out"), str(tmp_path / "runs")
    assert synthesis.main(TINY + ["--out", out, "--runs", runs, "--methods", "dcgan", "multigrid",
                                  "--n-samples", "8", "--fidelity-samples", "20"]) == 0
    df = pd.read_csv(os.path.join(out, "synthesis.csv"))
    fid = df[df.metric.isin(["inception_score", "fid"])]
    assert sorted(zip(fid.method, fid.metric)) == [("dcgan", "fid"), ("dcgan", "inception_score"),
                                                  ("multigrid", "fid"), ("multigrid", "inception_score"),
                                                  ("real", "inception_score")]  # real images scored once
    assert (fid.value >= 0).all() and (df[df.metric == "inception_score"].value >= 1 - 1e-9).all()
