"""Issue 13: nothing lost, nothing silently wrong. Kills are simulated in-process: a hook raises
between two writes (KeyboardInterrupt, which nothing in the suite catches), so each test takes seconds."""
import dataclasses
import json
import multiprocessing as mp
import os
import stat
import time

import pytest
import torch
from PIL import Image

from repro.datasets.data import load_dataset
from repro.runner.engine import load_checkpoint, train
from repro.base.io import NonFiniteError, append_csv, atomic_save_image, atomic_write_bytes, provenance, read_csv


@pytest.fixture(scope="module")
def faces():
    from repro.base.config import get_config
    return load_dataset(get_config("smoke"), "train")


def strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def pngs(folder) -> dict:
    return {p: (folder / p).read_bytes() for p in sorted(os.listdir(folder)) if p.endswith(".png")}


def kill_at_checkpoint(monkeypatch, nth: int, after_rename: bool):
    """Make the nth rename onto checkpoint.pt 'kill' the process just before or just after it happens."""
    real, calls = os.replace, []

    def replace(src, dst, *a, **kw):
        if str(dst).endswith("checkpoint.pt"):
            calls.append(dst)
            if len(calls) == nth:
                if after_rename:
                    real(src, dst, *a, **kw)
                raise KeyboardInterrupt
        return real(src, dst, *a, **kw)
    monkeypatch.setattr(os, "replace", replace)


# --- 1. the checkpoint and its log (and figures) are one unit -------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("after_rename", [False, True])
def test_kill_at_the_last_checkpoint_loses_no_log_rows_and_leaves_no_stale_figure(after_rename, smoke_cfg, faces,
                                                                                  tmp_path, monkeypatch):
    cfg = dataclasses.replace(smoke_cfg, n_iters=4, checkpoint_every=2)
    train(cfg, str(tmp_path / "full"), train_set=faces, progress=False)
    kill_at_checkpoint(monkeypatch, nth=2, after_rename=after_rename)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path / "cut"), train_set=faces, progress=False)
    monkeypatch.undo()
    train(cfg, str(tmp_path / "cut"), train_set=faces, progress=False, resume=True)
    full, cut = read_csv(str(tmp_path / "full" / "log.csv")), read_csv(str(tmp_path / "cut" / "log.csv"))
    assert strip(cut) == strip(full) and len(full) == 4 * 3
    assert pngs(tmp_path / "cut") == pngs(tmp_path / "full")


@pytest.mark.slow
def test_run_killed_before_its_first_checkpoint_starts_again(smoke_cfg, faces, tmp_path, monkeypatch):
    cfg = dataclasses.replace(smoke_cfg, n_iters=2, checkpoint_every=2)
    kill_at_checkpoint(monkeypatch, nth=1, after_rename=False)  # log rows appended, no checkpoint
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path), train_set=faces, progress=False)
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="without --resume"):
        train(cfg, str(tmp_path), train_set=faces, progress=False, resume=True)
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    assert [r["iteration"] for r in read_csv(str(tmp_path / "log.csv"))] == ["0"] * 3 + ["1"] * 3


def test_a_torn_last_log_line_is_dropped(tmp_path):
    from repro.base.io import read_complete_rows
    path = tmp_path / "log.csv"
    append_csv(str(path), [{"iteration": 9, "loss": 0.5}, {"iteration": 10, "loss": 0.25}], ["iteration", "loss"])
    with open(path, "a") as fh:
        fh.write("1")  # a kill while appending iteration 11's row: "1" could pass for iteration 1
    assert read_complete_rows(str(path), ["iteration", "loss"]) == [{"iteration": "9", "loss": "0.5"},
                                                                     {"iteration": "10", "loss": "0.25"}]


# --- 2. figures are written atomically -------------------------------------------------------

@pytest.mark.slow
def test_kill_while_saving_a_figure_leaves_no_truncated_png(smoke_cfg, faces, tmp_path, monkeypatch):
    import torchvision.utils
    cfg = dataclasses.replace(smoke_cfg, n_iters=2, checkpoint_every=1)
    real, calls = torchvision.utils.save_image, []

    def save_image(tensor, fp, *a, **kw):
        calls.append(fp)
        if len(calls) == 4:  # iteration 2's first grid: a 41-byte start, then the kill
            with open(fp, "wb") as fh:
                fh.write(b"\x89PNG" + b"\0" * 37)
            raise KeyboardInterrupt
        return real(tensor, fp, *a, **kw)
    monkeypatch.setattr(torchvision.utils, "save_image", save_image)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path), train_set=faces, progress=False)
    monkeypatch.undo()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # an exception cleans up
    train(cfg, str(tmp_path), train_set=faces, progress=False, resume=True)
    for name in pngs(tmp_path):
        with Image.open(tmp_path / name) as im:
            im.load()  # raises on a truncated file


# --- 3. concurrent writers of one results CSV ------------------------------------------------

def _write_rows(out: str, k: int, barrier) -> None:
    import tasks.common as common
    real = common.write_csv

    def slow(*a, **kw):  # a slow disk widens the read-merge-replace window
        time.sleep(0.2)
        real(*a, **kw)
    common.write_csv = slow
    from repro.base.config import get_config
    cfg = get_config("smoke")
    prov = {"device": "cpu", "commit": "x", "date": "d"}
    rows = [common.result_row(cfg, experiment="inpainting", method=f"m{k}", setting=f"s{j}", metric="mae",
                              value=k + j, n_images=1, prov=prov) for j in range(6)]
    barrier.wait()
    common.write_results(out, "inpainting", rows)


def test_concurrent_writers_keep_every_row(tmp_path):
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_write_rows, args=(str(tmp_path), k, barrier)) for k in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    rows = read_csv(str(tmp_path / "inpainting.csv"))
    assert len(rows) == 48 and {r["method"] for r in rows} == {f"m{k}" for k in range(8)}


# --- 4. orphan temporary files ---------------------------------------------------------------

def test_resume_removes_orphan_temp_files(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, n_iters=1)
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    for name in (".tmp-abc123checkpoint.pt", ".tmp-def456log.csv", ".tmp-0q9samples_grid32.png"):
        (tmp_path / name).write_bytes(b"partial")
    train(cfg, str(tmp_path), train_set=faces, progress=False, resume=True)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


# --- 5. no trained-model result from an untrained network ------------------------------------

def test_tasks_and_train_refuse_zero_iterations(tmp_path, capsys):
    from repro.runner import train as train_cli
    from tasks import inpainting
    from tasks.common import cli
    argv = ["--methods", "cd1", "--n-iters", "0", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
            "--no-progress"]
    assert cli(lambda: inpainting.main(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --n-iters 0") and err.count("\n") == 1 and "untrained" in err
    assert not (tmp_path / "out" / "inpainting.csv").exists()
    assert train_cli.main(["--n-iters", "0", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "at least one iteration" in capsys.readouterr().err and not (tmp_path / "run").exists()


# --- 6. a batch larger than the training set ---------------------------------------------------

def test_batch_larger_than_the_training_set_is_refused(smoke_cfg, faces, tmp_path):
    few = faces.subset(torch.arange(6))
    with pytest.raises(ValueError, match="batch size 8 exceeds the 6 training images.*--batch-size 6"):
        train(smoke_cfg, str(tmp_path), train_set=few, progress=False)
    assert not (tmp_path / "config.json").exists()


# --- 7. resume with another n_iters ---------------------------------------------------------

@pytest.mark.slow
def test_resume_refuses_to_change_a_decaying_schedule_or_shorten_a_run(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, n_iters=2)
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    config_before = (tmp_path / "config.json").read_text()
    with pytest.raises(ValueError, match="learning-rate schedule decays over n_iters.*--n-iters 2"):
        train(dataclasses.replace(cfg, n_iters=4), str(tmp_path), train_set=faces, progress=False, resume=True)
    with pytest.raises(ValueError, match="below the checkpoint's 2 iterations"):
        train(dataclasses.replace(cfg, n_iters=1), str(tmp_path), train_set=faces, progress=False, resume=True)
    assert (tmp_path / "config.json").read_text() == config_before  # never contradicts the checkpoint


@pytest.mark.slow
def test_extending_a_flat_schedule_equals_the_longer_run(smoke_cfg, faces, tmp_path):
    cfg = dataclasses.replace(smoke_cfg, n_iters=4, lr_final_ratio=1.0)
    full = train(cfg, str(tmp_path / "full"), train_set=faces, progress=False)
    train(dataclasses.replace(cfg, n_iters=2), str(tmp_path / "ext"), train_set=faces, progress=False)
    extended = train(cfg, str(tmp_path / "ext"), train_set=faces, progress=False, resume=True)
    for a, b in zip(full.state_dict().values(), extended.state_dict().values()):
        assert torch.equal(a, b)
    assert json.loads((tmp_path / "ext" / "config.json").read_text())["n_iters"] == 4
    assert load_checkpoint(tmp_path / "ext" / "checkpoint.pt")["iteration"] == 4
    info = json.loads((tmp_path / "ext" / "run_info.json").read_text())  # each (re)start is kept, in order
    assert [s["from_iteration"] for s in info["sessions"]] == [0, 2]
    assert info["commit"] == info["sessions"][0]["commit"] and info["method"] == cfg.method


# --- 8. every result row names its run and iteration count --------------------------------------

def test_result_rows_record_run_and_iterations_and_old_csvs_still_merge(tmp_path):
    from repro.base.config import get_config
    from tasks.common import RESULT_COLUMNS, result_row, run_columns, write_results

    cfg, prov = get_config("smoke"), {"device": "cpu", "commit": "c", "date": "d"}

    class Trained:  # a finished run of 400 iterations (run_columns reads cfg.n_iters since --stop-at)
        iteration = 400
        cfg = dataclasses.replace(get_config("smoke"), n_iters=400)
    old_columns = RESULT_COLUMNS[:RESULT_COLUMNS.index("run")]
    old = {**{c: "" for c in old_columns}, "experiment": "inpainting", "method": "floor", "setting": "square",
           "seed": "0", "metric": "mae", "value": "0.1", "profile": "smoke", "dataset": "lfw_faces"}
    (tmp_path / "inpainting.csv").write_text(",".join(old_columns) + "\n" + ",".join(old[c] for c in old_columns)
                                             + "\n")
    run = run_columns([(Trained(), str(tmp_path / "runs" / "smoke-lfw_faces-cd1-seed0-inpaint-1234abcd"))])
    new = result_row(cfg, experiment="inpainting", method="cd1", setting="square", metric="mae", value=0.2,
                     n_images=20, prov=prov, **run)
    write_results(str(tmp_path), "inpainting", [new])
    rows = read_csv(str(tmp_path / "inpainting.csv"))
    assert list(rows[0]) == RESULT_COLUMNS and RESULT_COLUMNS[-2:] == ["run", "iterations"]
    assert (rows[0]["run"], rows[0]["iterations"]) == ("", "")  # the old row, kept
    assert (rows[1]["run"], rows[1]["iterations"]) == ("smoke-lfw_faces-cd1-seed0-inpaint-1234abcd", "400")


# --- 9. a truncated checkpoint ----------------------------------------------------------------

@pytest.mark.slow
def test_truncated_checkpoint_on_resume_is_one_clear_error(smoke_cfg, faces, tmp_path, capsys):
    from repro.runner import train as train_cli
    cfg = dataclasses.replace(smoke_cfg, n_iters=1)
    train(cfg, str(tmp_path), train_set=faces, progress=False)
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        train(cfg, str(tmp_path), train_set=faces, progress=False, resume=True)
    assert train_cli.main(["--out", str(tmp_path), "--resume", "--batch-size", "8", "--n-iters", "1",
                           "--checkpoint-every", "1", "--steps-per-grid", "3", "--n-show", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "truncated or corrupt" in err and err.count("\n") == 1


# --- 10. bad settings, devices and folders fail in the first second ------------------------------

BAD_FLAGS = [(["--batch-size", "0"], "--batch-size is 0"), (["--batch-size", "1"], "batch norm needs at least two"),
             (["--checkpoint-every", "0"], "--checkpoint-every is 0"),
             (["--lr-decay-every", "0"], "--lr-decay-every is 0"), (["--n-show", "0"], "--n-show is 0"),
             (["--step-size", "nan"], "--step-size is nan"), (["--n-iters", "-3"], "--n-iters is -3"),
             (["--device", "foo"], "--device 'foo' is not a device")]
if not torch.cuda.is_available():
    BAD_FLAGS.append((["--device", "cuda"], "--device cuda: this torch build has no CUDA"))


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_settings_are_one_line_before_any_work(flags, message, tmp_path, capsys):
    from repro.runner import train as train_cli
    tic = time.perf_counter()
    assert train_cli.main(flags + ["--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert time.perf_counter() - tic < 5 and not (tmp_path / "run").exists()


def test_unwritable_out_and_runs_fail_before_any_work(tmp_path, capsys, monkeypatch):
    from repro.runner import train as train_cli
    from tasks import score_diagnostics
    from tasks.common import cli
    (tmp_path / "file").write_text("")
    assert train_cli.main(["--out", str(tmp_path / "file" / "run"), "--no-progress"]) == 2
    assert "--out" in capsys.readouterr().err
    import tempfile
    real = tempfile.mkstemp

    def mkstemp(*a, dir=None, **kw):  # a read-only folder, also for root (who ignores permission bits)
        if str(dir).startswith(str(tmp_path / "ro")):
            raise PermissionError(13, "Permission denied")
        return real(*a, dir=dir, **kw)
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    argv = ["--out", str(tmp_path / "out"), "--runs", str(tmp_path / "ro" / "runs"), "--no-progress"]
    assert cli(lambda: score_diagnostics.main(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --runs") and "not a writable folder" in err and err.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_any_work(tmp_path, capsys):
    from repro.runner import train as train_cli
    (tmp_path / "ro").mkdir(mode=0o555)
    assert train_cli.main(["--out", str(tmp_path / "ro" / "run"), "--no-progress"]) == 2
    assert "not a writable folder" in capsys.readouterr().err


# --- 11. messages that are true, files with the user's umask --------------------------------------

def test_divergence_before_the_first_checkpoint_claims_no_checkpoint(tmp_path, capsys, monkeypatch):
    from repro.runner import train as train_cli

    def diverge(cfg, out_dir, **kw):
        os.makedirs(out_dir, exist_ok=True)
        raise NonFiniteError("non-finite scores at sizes (2, 8, 32)")
    monkeypatch.setattr(train_cli, "train", diverge)
    assert train_cli.main(["--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds none" in err and "is kept" not in err and err.count("\n") == 1


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(str(tmp_path / "a.json"), b"{}")
        atomic_save_image(torch.zeros(1, 1, 2, 2), str(tmp_path / "b.png"))
        append_csv(str(tmp_path / "c.csv"), [{"x": 1}], ["x"])
    finally:
        os.umask(old)
    for name in ("a.json", "b.png", "c.csv"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640, name


def test_reusing_a_run_trained_by_other_code_warns_with_the_changed_files(tmp_path, capsys):
    import shutil
    import subprocess

    from repro.runner.engine import warn_if_other_code
    from repro.base.io import changed_since
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    (repo / "repro" / "core").mkdir(parents=True)
    (repo / "repro" / "core" / "learner.py").write_text("step = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    sha = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert changed_since(sha, cwd=str(repo)) == []
    (repo / "repro" / "core" / "learner.py").write_text("step = 2\n")  # the learning code changes after the run
    (repo / "README.md").write_text("docs\n")  # outside repro/: not reported
    assert changed_since(sha + "+dirty", cwd=str(repo)) == ["repro/core/learner.py"]
    assert changed_since("unknown", cwd=str(repo)) is None and changed_since("0" * 12, cwd=str(repo)) is None
    run = tmp_path / "run"
    run.mkdir()
    assert warn_if_other_code(str(run), cwd=str(repo)) is None  # no run_info.json: unknown, no warning
    (run / "run_info.json").write_text(json.dumps({"commit": "0" * 12}))
    assert warn_if_other_code(str(run), cwd=str(repo)) is None and "warning" not in capsys.readouterr().out
    (run / "run_info.json").write_text(json.dumps({"commit": sha}))
    assert warn_if_other_code(str(run), cwd=str(repo)) == ["repro/core/learner.py"]
    out = capsys.readouterr().out
    assert f"trained at commit {sha}" in out and "repro/core/learner.py" in out and "README" not in out
    subprocess.run([*git, "commit", "-qam", "two"], check=True)  # retrained at the new commit: silent
    new = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (run / "run_info.json").write_text(json.dumps({"commit": new}))
    assert warn_if_other_code(str(run), cwd=str(repo)) == [] and "warning" not in capsys.readouterr().out
    # started by the old code, resumed by the new: the old session still warns, naming both commits
    sessions = [{"commit": sha, "from_iteration": 0}, {"commit": new, "from_iteration": 2}]
    (run / "run_info.json").write_text(json.dumps({"commit": sha, "sessions": sessions}))
    assert warn_if_other_code(str(run), cwd=str(repo)) == ["repro/core/learner.py"]
    assert f"trained at commit {sha}, {new}" in capsys.readouterr().out


def test_a_reproduced_row_keeps_its_first_provenance_and_a_changed_one_is_replaced(tmp_path):
    from repro.base.config import get_config
    from tasks.common import result_row, write_results

    cfg = get_config("smoke")

    def row(method, value, commit, ci=(0.05, 0.15)):
        return result_row(cfg, experiment="inpainting", method=method, setting="square", metric="mae",
                          value=value, ci=ci, n_images=20, run=f"run-{method}", iterations=400,
                          prov={"device": "cpu", "commit": commit, "date": f"date-{commit}"})
    write_results(str(tmp_path), "inpainting", [row("cd1", 0.1 / 3, "old"), row("multigrid", 0.2, "old"),
                                                row("pcd", 0.3, "old")])
    # re-read cached models at a new commit: cd1 reproduced bit for bit, multigrid's value moved,
    # pcd's interval moved
    write_results(str(tmp_path), "inpainting", [row("cd1", 0.1 / 3, "new"), row("multigrid", 0.2 + 1e-12, "new"),
                                                row("pcd", 0.3, "new", ci=(0.05, 0.16))])
    rows = {r["method"]: r for r in read_csv(str(tmp_path / "inpainting.csv"))}
    assert len(rows) == 3
    assert (rows["cd1"]["commit"], rows["cd1"]["date"], float(rows["cd1"]["value"])) == ("old", "date-old", 0.1 / 3)
    assert rows["multigrid"]["commit"] == "new" and float(rows["multigrid"]["value"]) == 0.2 + 1e-12
    assert rows["pcd"]["commit"] == "new" and float(rows["pcd"]["ci_high"]) == 0.16
    assert list(rows) == ["cd1", "multigrid", "pcd"]  # the kept row stays in place, replaced ones follow


def test_cpu_provenance_names_the_torch_threads_of_the_process():
    # One thread instead of two reorders the float sums and moves trained results as much as a new seed does:
    # the device column must tell such runs apart.
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = provenance(torch.device("cpu"))["device"]
        torch.set_num_threads(2)
        two = provenance(torch.device("cpu"))["device"]
    finally:
        torch.set_num_threads(before)
    assert one.startswith("cpu:") and one.endswith("/1thread"), one
    assert two.endswith("/2threads") and one != two, two


@pytest.mark.parametrize("damage", ["stray quote", "foreign header", "extra field"])
def test_a_malformed_results_csv_stops_the_task_and_stays_as_it_was(tmp_path, capsys, damage):
    """Issue 28, probe 1: a stray quote on line 3 of a results CSV made the next task's merge swallow 53 of 72
    rows into one cell (exit 0); a header of other columns blanked every row. Now the task stops with one line
    naming the file and line, before writing, and the file is byte for byte as it was."""
    from tasks.common import RESULT_COLUMNS, cli
    from tasks.inpainting import main
    out = tmp_path / "out"
    args = ["--methods", "--floors", "observed_mean", "--out", str(out), "--runs", str(tmp_path / "runs"),
            "--no-progress"]
    assert cli(lambda: main(args)) == 0
    path = out / "inpainting.csv"
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].strip() == ",".join(RESULT_COLUMNS) and len(lines) > 10
    if damage == "stray quote":
        lines[2] = lines[2].replace("observed_mean", '"observed_mean', 1)
    elif damage == "foreign header":
        lines[0] = lines[0].replace("experiment", "experiment_id")
    else:
        lines[4] = lines[4].rstrip("\n") + ",surplus\n"
    path.write_text("".join(lines))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}  # the CSV, its per-image file, the panels
    capsys.readouterr()
    assert cli(lambda: main(args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "line " in err[0] and "left as it was" in err[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_refused_run_leaves_the_results_folder_as_it_was(tmp_path, capsys):
    """Issue 28, probe 2: a run refused for its batch size (larger than the training set) had first redrawn the
    floors' panels over the good ones, which no longer matched the CSV. Now every check runs before any write."""
    import numpy as np
    from tasks.common import cli
    from tasks.inpainting import main
    out, runs = tmp_path / "out", tmp_path / "runs"
    assert cli(lambda: main(["--methods", "--out", str(out), "--runs", str(runs), "--no-progress"])) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert any(p.suffix == ".png" for p in before)
    few = tmp_path / "few"
    few.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(few / f"{i}.png")
    capsys.readouterr()
    code = cli(lambda: main(["--methods", "cd1", "--dataset", "images", "--data-root", str(few), "--batch-size",
                             "50", "--data-cache", "off", "--out", str(out), "--runs", str(runs), "--no-progress"]))
    assert code == 2 and "exceeds the" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


# Every place that writes a file in place, and why it may: the rest of the suite writes through an atomic writer
# (repro.base.io.atomic_path / atomic_write_bytes / write_csv on the torch side, tasks.files on the torch-free side).
IN_PLACE_WRITERS = {
    ("tasks/common.py", 'sys.stdout = open(os.devnull, "w")'): "not a file: silences ranks other than 0",
    ("tasks/common.py", 'with open(path + ".lock", "a") as lock:'): "a lock file, never written to",
    ("repro/runner/engine.py", 'with open(os.path.join(path, ".lock"), "a") as lock:'):
        "a run folder's lock, never written",
    ("repro/runner/engine.py", 'fh = open(lock, "a")'): "a run folder's lock (run_lock), never written",
    ("repro/base/io.py", 'with open(path, "a", newline="") as fh:'):
        "log.csv, append-only and fsynced; a resume cuts it back to the checkpoint (the commit point)",
    ("tools/spread.py", 'log = open(os.path.join(logs, f"{line}.log"), "w")'): "a command's live log, streamed",
    ("tools/time_l2svm.py", 'with open(args.out, "w", newline="") as fh:'): "a timing tool's rows, streamed as "
                                                                               "they are measured",
}


def test_every_writer_is_atomic_or_named_here():
    """Issue 28, probes 5-6: the report drew figures in place (a kill left a 0-byte PNG) and wrote tables.md with
    mode 0600 and no fsync. Lists every savefig, to_csv and open(..., "w") outside the atomic writers: each must
    write to a temporary path or a buffer, or be named in IN_PLACE_WRITERS with its reason."""
    import re
    root = os.path.join(os.path.dirname(__file__), "..")
    found = []
    for folder in ("repro", "tasks", "tools"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                for line in open(os.path.join(dirpath, name), encoding="utf-8"):
                    code = line.strip()
                    if re.search(r"\.savefig\(|\.to_csv\(|open\([^)]*[\"'][wa]b?[\"']", code):
                        found.append((rel, code))
    atomic = {("repro/base/io.py", 'with open(tmp, "wb") as fh:'), ("tasks/synthesis.py", "fig.savefig(tmp, dpi=120)"),
              ("tasks/files.py", 'with os.fdopen(fd, "wb") as fh:'),
              ("tasks/generative_convnet.py", 'fig.savefig(tmp, dpi=100, format="png")'),
              ("tasks/figures.py", 'fig.savefig(buf, format="png", dpi=DPI)'),
              ("tasks/report.py", 'cell_records(blocks, results).to_csv(buf, index=False, lineterminator="\\n")')}
    named = lambda f, known: any(f[0] == k[0] and f[1].startswith(k[1]) for k in known)  # noqa: E731
    unexplained = [f for f in found if not named(f, atomic) and not named(f, IN_PLACE_WRITERS)]
    assert not unexplained, unexplained


def test_the_reports_files_get_the_users_umask(tmp_path):
    from tasks.files import atomic_write_bytes
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / "tables.md"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "tables.md").st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["tables.md"]


def test_another_test_budget_never_takes_the_paper_procedures_name(tmp_path):
    """Issue 28, probe 9: --test-steps 3 on a cached model wrote its 3-step rows under the plain mask names (the
    paper's column) and the paper's budget as '|test_steps=90'. Now the plain names keep the paper's procedure,
    rerun bit for bit, and the other budget is its own setting."""
    from tasks.inpainting import main
    base = ["--methods", "multigrid", "--no-floors", "--n-iters", "2", "--batch-size", "8", "--steps-per-grid", "2",
            "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--no-progress"]
    first = {(r["setting"], r["metric"]): r["value"] for r in main(base)}
    again = {(r["setting"], r["metric"]): r["value"] for r in main(base + ["--test-steps", "3"])}
    assert {s for s, _ in first} == {"square", "doodle", "pepper"}
    assert {s for s, _ in again} == {"square", "doodle", "pepper", "square|test_steps=3", "doodle|test_steps=3",
                                     "pepper|test_steps=3"}
    assert all(again[k] == v for k, v in first.items())  # the paper procedure's rows, unchanged


def test_a_flipped_byte_in_a_checkpoint_is_found_and_the_previous_one_is_kept(smoke_cfg, faces, tmp_path, capsys):
    """Issue 28, probe 3: 64 bytes flipped in the middle of checkpoint.pt loaded silently on --resume (one Adam
    moment altered). Now the payload's checksum is verified on load: one line naming the file and the previous
    checkpoint kept beside it, every file as it was; moving the previous one into place resumes from it."""
    from repro.runner.engine import PREVIOUS
    from repro.runner.train import main as train_main
    cfg = dataclasses.replace(smoke_cfg, n_iters=2, checkpoint_every=1, lr_final_ratio=1.0)
    out = tmp_path / "run"
    train(cfg, str(out), train_set=faces, progress=False)
    ckpt, prev = out / "checkpoint.pt", out / PREVIOUS
    assert prev.exists() and torch.load(prev, weights_only=True)["format"].startswith("mgcd-checkpoint")
    data = bytearray(ckpt.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    ckpt.write_bytes(bytes(data))
    before = {p: p.read_bytes() for p in out.iterdir() if p.is_file()}
    flags = ["--preset", "smoke", "--batch-size", str(cfg.batch_size), "--n-iters", "3", "--checkpoint-every", "1",
             "--steps-per-grid", str(cfg.steps_per_grid), "--n-show", str(cfg.n_show), "--lr-final-ratio", "1",
             "--no-progress", "--out", str(out), "--resume"]
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.pt" in err[0] and PREVIOUS in err[0]
    assert "checksum" in err[0] or "corrupt" in err[0]
    assert {p: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    os.replace(prev, ckpt)  # the offered way back: resume from the previous checkpoint (iteration 1)
    assert train_main(flags) == 0
    assert torch.load(ckpt, weights_only=True)["format"].startswith("mgcd-checkpoint")


def test_resume_restores_the_thread_count_the_run_was_trained_with(smoke_cfg, faces, tmp_path, capsys):
    """Issue 28, probe 4: a resume with another torch thread count was accepted without a word and gave another
    model. The checkpoint records the count; a resume sets it again (with a note), and the resumed run equals the
    uninterrupted one bit for bit."""
    cfg = dataclasses.replace(smoke_cfg, n_iters=3, lr_final_ratio=1.0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        whole = train(cfg, str(tmp_path / "whole"), train_set=faces, progress=False)
        train(dataclasses.replace(cfg, n_iters=2), str(tmp_path / "part"), train_set=faces, progress=False)
        torch.set_num_threads(2)  # another environment
        capsys.readouterr()
        resumed = train(cfg, str(tmp_path / "part"), resume=True, train_set=faces, progress=False)
        assert "resuming with 1 torch thread" in capsys.readouterr().err and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    a, b = whole.nets.state_dict(), resumed.nets.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_second_trainer_of_one_run_folder_stops_with_one_line(tmp_path):
    """Issue 28, probe 8: two processes training the same run folder both exited 0 and log.csv held every row
    twice. Now the second stops at once with one line, and the first's run is whole."""
    import subprocess
    import sys
    out = tmp_path / "run"
    # long enough (seconds) for the second to start meanwhile
    cmd = [sys.executable, "-m", "repro.runner.train", "--preset", "smoke", "--n-iters", "100",
           "--checkpoint-every", "50", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "config.json").exists() and time.time() < deadline:  # the first has the folder
        time.sleep(0.05)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    first.communicate(timeout=300)
    assert first.returncode == 0
    assert second.returncode == 2 and second.stderr.strip().count("\n") == 0
    assert "being trained by another process" in second.stderr
    log = read_csv(str(out / "log.csv"))
    assert sorted(int(r["iteration"]) for r in log) == sorted(list(range(100)) * 3)  # each row once


@pytest.mark.parametrize("failure", ["full disk", "no memory"])
def test_a_full_disk_or_no_memory_is_one_line(smoke_cfg, tmp_path, capsys, monkeypatch, failure):
    """Issue 28, probe 7: a full disk while checkpointing printed 17 and 45 lines of traceback (the data were safe),
    --image-size 4096 an allocator error. Now one line saying what happened and what is intact."""
    import errno
    import repro.runner.engine
    from repro.runner.train import main as train_main
    out = tmp_path / "run"
    flags = ["--preset", "smoke", "--batch-size", "8", "--n-iters", "2", "--steps-per-grid", "2", "--checkpoint-every",
             "1", "--no-progress", "--out", str(out)]
    if failure == "full disk":
        def full(path, data):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        monkeypatch.setattr(repro.runner.engine, "atomic_write_bytes", full)
    else:
        def no_memory(*a, **k):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:116] . DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 206158430208 bytes.")
        monkeypatch.setattr(repro.runner.engine, "initial_learner", no_memory)
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("No space left" in err[0] if failure == "full disk" else "out of memory" in err[0])


def test_every_test_the_reliability_doc_names_exists():
    """docs/reliability.md lists its guarantees with the tests that hold them: each named test must exist, so a
    renamed or removed test cannot leave a guarantee pointing at nothing."""
    import re
    root = os.path.join(os.path.dirname(__file__), "..")
    doc = open(os.path.join(root, "docs", "reliability.md"), encoding="utf-8").read()
    files = {n[:-3] for n in os.listdir(os.path.join(root, "tests")) if n.endswith(".py")}
    named = set(re.findall(r"\b(test_\w+)\b", doc)) - files - {"test_steps"}  # tests, not files or a flag
    defined = set()
    for name in os.listdir(os.path.join(root, "tests")):
        if name.endswith(".py"):
            defined |= set(re.findall(r"^def (test_\w+)", open(os.path.join(root, "tests", name), encoding="utf-8")
                                      .read(), re.M))
    assert named and not named - defined, sorted(named - defined)
