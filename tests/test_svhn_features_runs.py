"""SVHN feature classification, the task's runs: a tiny end-to-end run, its profiles' defaults, rows written as each
source ends, and the refusals made before the first write (the library's parts: test_svhn_features.py)."""
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

import repro.evaluation.features as feat
from tasks.common import RESULT_COLUMNS


def _spy(monkeypatch, module, name, log):
    """Replace module.name by a wrapper appending (args, result) of every call to log."""
    real = getattr(module, name)

    def wrapper(*args, **kw):
        out = real(*args, **kw)
        log.append((args, out))
        return out

    monkeypatch.setattr(module, name, wrapper)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One tiny end-to-end run, 2 training seeds × 1 label draw, with spies on the read-out functions: its argv, rows,
    the spies' calls, --out and --runs."""
    import repro.core.learner
    import repro.families.baselines
    import repro.families.semisup
    import tasks.svhn_features as svf
    tmp = tmp_path_factory.mktemp("svhn_smoke")
    calls = {k: [] for k in ("trained_learner", "initial_learner", "maxpool_features", "top_maps")}
    out, runs = tmp / "out", tmp / "runs"
    argv = ["--methods", "multigrid", "cd1", "--labels", "50", "--label-seeds", "1", "--train-seeds", "2",
            "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2", "--classifier-epochs", "2",
            "--out", str(out), "--runs", str(runs), "--no-progress"]
    with pytest.MonkeyPatch.context() as mp:
        # the one max-pool read-out (repro.core.models), as the energy models and the DCGAN call it
        for module, name in ((svf, "trained_learner"), (svf, "initial_learner"),
                             (repro.core.learner, "maxpool_features"), (repro.families.baselines, "maxpool_features"),
                             (repro.families.semisup, "top_maps")):
            _spy(mp, module, name, calls[name])
        first = svf.main(argv)
    return SimpleNamespace(argv=argv, rows=first, calls=calls, out=out, runs=runs)


@pytest.mark.slow
def test_smoke_run_reads_trained_and_untrained_features_alike(smoke_run):
    """The spies: trained and untrained features go through the same read-out functions."""
    calls = smoke_run.calls
    # one read-out for trained and untrained multigrid learners (2 seeds × {SVM, CNN} each)
    pooled = {id(args[0]) for args, _ in calls["maxpool_features"]}  # nets whose blocks were max-pooled
    mapped = {tuple(map(id, args[0])) for args, _ in calls["top_maps"]}  # net lists whose top maps were read
    multigrid = [res[0] for args, res in calls["trained_learner"] if args[0].method == "multigrid"]
    untrained = [res for _, res in calls["initial_learner"]]
    assert len(multigrid) == len(untrained) == 4 and all(u.cfg.method == "multigrid" for u in untrained)
    for learner in multigrid + untrained:
        if learner.cfg.archs:  # the SVM's models (dcgan at the finest grid)
            assert learner.cfg.archs[-1] == "dcgan" and id(learner.nets[-1]) in pooled
        else:  # the CNN's models: the three grids' top maps
            assert len(learner.nets) == 3 and tuple(map(id, learner.nets)) in mapped
    assert {u.cfg.seed for u in untrained} == {m.cfg.seed for m in multigrid} == {0, 1}
    # the DCGAN discriminator's features go through the very same max-pool (and SVM) functions
    dcgans = [res[0] for args, res in calls["trained_learner"] if args[0].method == "dcgan"]
    assert len(dcgans) == 2 and all(id(d.features_net) in pooled for d in dcgans)


@pytest.mark.slow
def test_smoke_run_rows(smoke_run):
    """Each table's columns, keys (plain settings at the profile's defaults; the CNN heads' 2 epochs recorded),
    errors and feature dimensions."""
    from repro.base.io import read_csv
    image_dim = 1 * 32 * 32  # C·H·W of the digits at the finest grid
    want_dims = {"svhn_l2svm": {"raw_pixels": image_dim, "multigrid": 3840, "cd1": 3840, "untrained": 3840,
                                "dcgan": 3840},
                 "svhn_cnn": {"raw_pixels": 64 * image_dim, "multigrid": 64 * (1 + 16 + 64), "cd1": 64 * 64,
                              "untrained": 64 * (1 + 16 + 64), "supervised": 64 * (1 + 16 + 64)}}
    for experiment, dims in want_dims.items():
        with open(smoke_run.out / f"{experiment}.csv") as fh:
            assert fh.readline().strip().split(",") == RESULT_COLUMNS
        rows = read_csv(str(smoke_run.out / f"{experiment}.csv"))
        keys = sorted((r["method"], r["setting"], r["metric"], r["seed"]) for r in rows)
        seeds = lambda m: ["0"] if m == "raw_pixels" else ["0", "1000000"]  # noqa: E731  train seeds 0, 1
        setting = {"svhn_l2svm": "labels=50", "svhn_cnn": "labels=50|classifier_epochs=2"}[experiment]  # not 10
        assert keys == sorted([(m, setting, "test_error", s) for m in dims for s in seeds(m)] +
                              [(m, "all", "feature_dim", "0") for m in dims])
        for r in rows:
            v = float(r["value"])
            assert r["experiment"] == experiment and r["dataset"] == "digits" and r["profile"] == "smoke"
            if r["metric"] == "test_error":
                assert math.isfinite(v) and 0.0 <= v <= 100.0
            else:
                assert v == dims[r["method"]]


@pytest.mark.slow
def test_smoke_run_raw_pixel_row_is_the_librarys(smoke_run):
    """The raw-pixel L2-SVM row, recomputed through the library: the same error."""
    from repro.base.config import get_config
    from tasks.svhn_protocol import label_draws, load_data, svm_errors
    cfg = get_config("smoke", dataset="digits", n_iters=2, batch_size=8, steps_per_grid=2)
    data = load_data(cfg)
    draws = label_draws(cfg, data.train.labels, [50], 100, 1)
    ((err, _),) = svm_errors(cfg, data, draws, feat.pixel_features, cs=feat.DEFAULT_CS, solver="newton").values()
    got = [r["value"] for r in smoke_run.rows if (r["experiment"], r["method"], r["metric"]) == (
        "svhn_l2svm", "raw_pixels", "test_error")]
    assert got == [err] and err < 60  # digits from 50 labels: far better than chance (90%)


@pytest.mark.slow
def test_smoke_run_cnn_heads_are_cached_runs(smoke_run):
    """The CNN heads are runs of the one training loop, cached under --runs: a second run loads them (and the
    models they read) and gives the very same errors."""
    import tasks.svhn_features as svf
    runs = smoke_run.runs
    heads = os.listdir(runs / "cnn_heads")  # apart from the models' runs
    assert len(heads) == 1 + 2 * 3 + 2  # raw pixels; multigrid, cd1, untrained × 2 seeds; supervised × 2 seeds
    assert all("-cnn_head-" in d and (runs / "cnn_heads" / d / "checkpoint.pt").exists() for d in heads)
    assert not any("-cnn_head-" in d for d in os.listdir(runs))
    again = svf.main([*smoke_run.argv, "--experiments", "svhn_cnn"])
    key = lambda r: (r["experiment"], r["method"], r["setting"], r["seed"], r["metric"])  # noqa: E731
    cnn = [r for r in smoke_run.rows if r["experiment"] == "svhn_cnn"]
    assert sorted((key(r), r["value"]) for r in again) == sorted((key(r), r["value"]) for r in cnn)


def test_paper_profile_defaults_to_svhn_and_the_cvpr_unsupervised_set():
    from tasks import svhn_features as sf
    with pytest.raises(FileNotFoundError, match="'svhn' needs --data-root"):
        sf.main(["--profile", "paper"])  # the paper profile reads SVHN, not the embedded digits
    args = sf.resolve(sf.build_parser("paper").parse_args(["--profile", "paper"]), "paper")
    assert (args.l2svm_unsup, args.cnn_unsup) == ("train+test", "train")
    assert (args.labels, args.label_seeds, args.train_seeds, args.val_labels) == ([1000, 2000, 4000], 3, 3, 10_000)
    args = sf.resolve(sf.build_parser("paper").parse_args(["--profile", "paper", "--l2svm-unsup", "train"]), "paper")
    assert args.l2svm_unsup == "train"  # the arXiv setting stays a flag


def test_each_sources_rows_are_written_as_it_ends(tmp_path, monkeypatch, capsys):
    """A table that stops part-way (a crash, a kill) keeps the rows of the sources that ended, and each fit
    prints its line under --no-progress."""
    import tasks.svhn_features as svf
    from repro.base.io import read_csv
    real, calls = svf.svm_errors, []

    def failing_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*args, **kw)

    monkeypatch.setattr(svf, "svm_errors", failing_second)
    out = tmp_path / "out"
    argv = ["--methods", "cd1", "--experiments", "svhn_l2svm", "--labels", "50", "--label-seeds", "1",
            "--n-iters", "2", "--batch-size", "8", "--no-dcgan", "--out", str(out), "--runs", str(tmp_path / "runs"),
            "--no-progress"]
    with pytest.raises(RuntimeError, match="killed"):
        svf.main(argv)
    rows = read_csv(str(out / "svhn_l2svm.csv"))
    assert {r["method"] for r in rows} == {"raw_pixels"} and len(rows) == 2  # its error and its feature_dim
    printed = capsys.readouterr().out
    assert "svhn_l2svm raw_pixels labels=50 seed=0: test error" in printed and "L2-SVM (newton)" in printed


def test_no_floors_adds_a_method_and_keeps_the_floor_rows_already_written(tmp_path, capsys):
    import tasks.svhn_features as svf
    from repro.base.io import read_csv
    out, runs = tmp_path / "out", tmp_path / "runs"
    base = ["--experiments", "svhn_l2svm", "--labels", "50", "--label-seeds", "1", "--n-iters", "2",
            "--batch-size", "8", "--no-dcgan", "--out", str(out), "--runs", str(runs), "--no-progress"]
    svf.main(["--methods", "cd1", *base])
    before = {(r["method"], r["metric"]): r["value"] for r in read_csv(str(out / "svhn_l2svm.csv"))}
    assert {m for m, _ in before} == {"raw_pixels", "cd1", "untrained"}
    capsys.readouterr()
    added = svf.main(["--methods", "pcd", "--no-floors", *base])
    assert {r["method"] for r in added} == {"pcd"}  # no raw-pixel or untrained fits this time
    assert "raw_pixels" not in capsys.readouterr().out
    after = {(r["method"], r["metric"]): r["value"] for r in read_csv(str(out / "svhn_l2svm.csv"))}
    assert {k: v for k, v in after.items() if k[0] != "pcd"} == before and ("pcd", "test_error") in after
    seeds = svf.main(["--methods", "untrained", "--no-floors", "--train-seeds", "2", *base])  # the control alone
    assert {(r["method"], r["seed"]) for r in seeds if r["metric"] == "test_error"} == \
        {("untrained", 0), ("untrained", 1_000_000)}  # both initialisations, nothing else refitted


# --- refusals before the first write ----------------------------------------------------------------------------

def _class_folders(root, n_classes: int = 3, train: int = 12, test: int = 2):
    """An imagefolder with train/ and test/ splits: n_classes classes of 8×8 PNGs, each class its own grey level."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c in range(n_classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(60 * c + rng.integers(0, 40, (8, 8, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def _snapshot(folder) -> dict:
    """Every file below folder (its bytes and mtime) and every subfolder: what a refused command must leave as it
    found it."""
    return {str(p): "dir" if p.is_dir() else (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _refused(argv, capsys) -> str:
    """Run the task as its command line does: exit status 2 and one line `error: ...` on stderr (no traceback)."""
    import functools

    import tasks.svhn_features as svf
    from tasks.common import cli
    capsys.readouterr()
    assert cli(functools.partial(svf.main, argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _folder_task(tmp_path, n_classes: int = 3, train: int = 12):
    """An imagefolder run of tasks.svhn_features (tiny, one label draw) whose --out already holds a results file;
    returns its arguments."""
    _class_folders(tmp_path / "data", n_classes, train)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "svhn_l2svm.csv").write_text(",".join(RESULT_COLUMNS) + "\n")
    return ["--dataset", "imagefolder", "--data-root", str(tmp_path / "data"), "--data-cache", "off",
            "--labels", "6", "--val-labels", "3", "--label-seeds", "1", "--n-iters", "1", "--steps-per-grid", "1",
            "--batch-size", "4", "--classifier-epochs", "1", "--methods", "cd1", "--no-dcgan",
            "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--no-progress"]


@pytest.mark.parametrize("extra, message", [
    # the CNN heads train on the labeled images at the task's batch size: 8 > 6 stopped the CNN table after the
    # L2-SVM table was written
    (["--batch-size", "8"], "batch size 8 exceeds the 6 labeled images .*labels=6"),
    (["--classifier-epochs", "0"], "--classifier-epochs 0"),
    (["--classifier-lr", "0"], "learning rate|lr"),
    (["--experiments", "svhn_l2svm", "--batch-size", "64"], "batch size 64 exceeds the 36 images the models learn"),
    (["--svm-cs", "0"], "--svm-cs"),
    (["--val-labels", "0", "--no-floors"], "--val-labels 0"),
    (["--labels", "1", "--no-floors", "--experiments", "svhn_l2svm"], "--labels 1"),
    (["--seed", "1000", "--no-floors"], "--seed 0..999"),
])
def test_settings_the_data_cannot_meet_are_refused_before_any_write(tmp_path, capsys, extra, message):
    """docs/reliability.md: every check of settings and data runs before the first write. These were refused after
    a table (or a model under --runs) had been written, or not refused at all (--svm-cs 0: a Cholesky traceback)."""
    argv = [*_folder_task(tmp_path), *extra]
    before = _snapshot(tmp_path)
    line = _refused(argv, capsys)
    assert _snapshot(tmp_path) == before
    import re
    assert re.search(message, line), line


def test_a_single_class_folder_is_refused_before_training(tmp_path, capsys):
    """One class folder: the SVM needs two classes. The task trained its models first, then refused."""
    argv = _folder_task(tmp_path, n_classes=1, train=12)
    before = _snapshot(tmp_path)
    line = _refused([*argv, "--labels", "2", "--val-labels", "1", "--no-floors"], capsys)
    assert _snapshot(tmp_path) == before
    assert "one class" in line and "at least two" in line, line


def test_batch_split_over_processes_is_checked_up_front(tmp_path, monkeypatch):
    """The check behind the torchrun test below, in one process: the batch must split over the processes."""
    import tasks.svhn_features as svf
    from repro.base import dist
    argv = _folder_task(tmp_path)
    parser = svf.build_parser()
    args = svf.resolve(parser.parse_args([*argv, "--batch-size", "5"]), "smoke")
    from repro.base.config import get_config
    from tasks.svhn_protocol import load_data
    cfg = get_config("smoke", dataset="imagefolder", data_root=str(tmp_path / "data"), data_cache="off", batch_size=5)
    data = load_data(cfg)
    svf.check_plan(cfg, args, data)  # one process: any batch size
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="batch size 5 does not split evenly over 2 processes"):
        svf.check_plan(cfg, args, data)


@pytest.mark.slow
def test_under_torchrun_an_uneven_batch_is_refused_before_any_row(tmp_path):
    """Two gloo processes: the batch of 5 does not split over them. The task replaced the raw-pixel rows of
    svhn_l2svm.csv first, then the first model's training refused."""
    import subprocess
    import sys
    argv = [*_folder_task(tmp_path), "--batch-size", "5"]
    before = _snapshot(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "tasks.svhn_features", *argv]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    first = res.stderr.splitlines()[:2]  # each process's one line; torchrun's own report (a traceback) follows
    assert all(e.startswith("error: batch size 5 does not split evenly over 2 processes") for e in first), \
        res.stderr[-3000:]
    assert _snapshot(tmp_path) == before
