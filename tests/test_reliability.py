"""Issue 13: nothing lost, nothing silently wrong. Kills are simulated in-process: a hook raises
between two writes (KeyboardInterrupt, which nothing in the suite catches), so each test takes seconds.
The result files' side (rows, CSV merges, atomic writers, umask): tests/test_reliability_files.py."""
import dataclasses
import json
import os
import time

import pytest
import torch
from PIL import Image

from repro.base.io import NonFiniteError, append_csv, read_csv
from repro.datasets.data import load_dataset
from repro.runner.engine import load_checkpoint, train


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
    cfg = dataclasses.replace(smoke_cfg, n_iters=2, checkpoint_every=1)
    real, calls = Image.Image.save, []

    def save(self, fp, *a, **kw):  # the titled grids are written by Pillow
        calls.append(fp)
        if len(calls) == 4:  # iteration 2's first grid: a 41-byte start, then the kill
            with open(fp, "wb") as fh:
                fh.write(b"\x89PNG" + b"\0" * 37)
            raise KeyboardInterrupt
        return real(self, fp, *a, **kw)
    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, str(tmp_path), train_set=faces, progress=False)
    monkeypatch.undo()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # an exception cleans up
    train(cfg, str(tmp_path), train_set=faces, progress=False, resume=True)
    for name in pngs(tmp_path):
        with Image.open(tmp_path / name) as im:
            im.load()  # raises on a truncated file


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


# --- 11. messages that are true (files with the user's umask: tests/test_reliability_files.py) -------

def test_divergence_before_the_first_checkpoint_claims_no_checkpoint(tmp_path, capsys, monkeypatch):
    from repro.runner import train as train_cli

    def diverge(cfg, out_dir, **kw):
        os.makedirs(out_dir, exist_ok=True)
        raise NonFiniteError("non-finite scores at sizes (2, 8, 32)")
    monkeypatch.setattr(train_cli, "train", diverge)
    assert train_cli.main(["--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds none" in err and "is kept" not in err and err.count("\n") == 1


def test_reusing_a_run_trained_by_other_code_warns_with_the_changed_files(tmp_path, capsys):
    import shutil
    import subprocess

    from repro.base.io import changed_since
    from repro.runner.engine import warn_if_other_code
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
