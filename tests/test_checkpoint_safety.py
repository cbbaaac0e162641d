"""A run folder from elsewhere is data: its checkpoint is loaded as tensors and plain containers, never as code.

A checkpoint file is a pickle. Loaded with torch.load(weights_only=False), a crafted file runs any code it likes the
moment it is read, before any checksum is looked at (and anyone can compute a valid checksum for a payload). These
tests craft such files the three ways a checkpoint can be built (inside the checksummed payload, in the outer wrapper,
and as a bare state from before checksums), each of whose unpickling would write a marker file, and check that every
load path refuses them with one line and that the marker never appears. They also hold the one-line refusals of states
that are data but not a run's state (a bare dict without the run's entries, a list, a random state of a size no device
writes), which once ended in a KeyError or TypeError traceback."""
import hashlib
import io
import os
import shutil

import pytest
import torch

from repro.runner.engine import (
    CHECKPOINT_FORMAT,
    UnsafeCheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    load_learner,
    train,
)
from repro.runner.train import main as train_main


class WritesAFile:
    """Unpickling this object runs os.system: what an attacker's checkpoint would do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-iteration run folder, trained once for the module, and the flags that resume it."""
    from repro.base.config import get_config
    cfg = get_config("smoke", batch_size=8, n_iters=1, checkpoint_every=1, steps_per_grid=3, n_show=4,
                     lr_final_ratio=1.0)
    out = tmp_path_factory.mktemp("trained") / "run"
    train(cfg, str(out), progress=False)
    flags = ["--preset", "smoke", "--batch-size", str(cfg.batch_size), "--n-iters", "2", "--checkpoint-every", "1",
             "--steps-per-grid", str(cfg.steps_per_grid), "--n-show", str(cfg.n_show), "--lr-final-ratio", "1",
             "--no-progress"]
    return out, flags


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run folder for one test, and the command line that resumes it for one more iteration."""
    src, flags = trained
    out = tmp_path / "run"
    shutil.copytree(src, out)
    return out, [*flags, "--out", str(out), "--resume"]


def state_of(out) -> dict:
    return load_checkpoint(str(out / "checkpoint.pt"))


def wrap(payload: bytes, **extra) -> bytes:
    """A checkpoint file around `payload`, with a valid checksum (as anyone can compute one)."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload,
                **extra}, buf)
    return buf.getvalue()


def crafted(kind: str, state: dict, marker) -> bytes:
    """A checkpoint whose loading with weights_only=False would run WritesAFile(marker)."""
    if kind == "payload":  # inside the checksummed payload: the checksum is valid
        return checkpoint_bytes({**state, "extra": {"x": WritesAFile(marker)}})
    if kind == "wrapper":  # in the outer dict, which is unpickled before the checksum is checked
        payload = io.BytesIO()
        torch.save(state, payload)
        return wrap(payload.getvalue(), note=WritesAFile(marker))
    buf = io.BytesIO()  # a bare state, as checkpoints were written before checksums
    torch.save({**state, "extra": WritesAFile(marker)}, buf)
    return buf.getvalue()


def files(folder) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("kind", ["payload", "wrapper", "bare"])
def test_a_crafted_checkpoint_runs_nothing_and_is_refused_with_one_line(kind, run, tmp_path, capsys):
    """Each load path (the loader itself, --resume, a task's cached model) refuses the file before unpickling any
    object, with one line that says why; the marker the object would write never appears, the folder is as it was."""
    out, flags = run
    marker = tmp_path / "the-code-ran"
    (out / "checkpoint.pt").write_bytes(crafted(kind, state_of(out), marker))
    before = files(out)
    with pytest.raises(UnsafeCheckpointError, match="holds a Python object .*refused without running it"):
        load_checkpoint(str(out / "checkpoint.pt"))
    with pytest.raises(UnsafeCheckpointError):
        load_learner(str(out))
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused without running it" in err[0] and "checkpoint.pt" in err[0], err
    assert "weights_only=False" not in err[0]  # never advise the unsafe load
    assert not marker.exists()
    assert files(out) == before


def test_the_crafted_file_would_run_its_code_under_an_unrestricted_load(run, tmp_path):
    """The control that makes the test above mean something: the same bytes, loaded as the loader once did, run."""
    out, _ = run
    marker = tmp_path / "the-code-ran"
    (out / "checkpoint.pt").write_bytes(crafted("bare", state_of(out), marker))
    torch.load(out / "checkpoint.pt", weights_only=False)
    assert marker.exists()


NOT_A_RUN = {"a dict without the run's entries": {"iteration": 3},
             "a list": [1, 2, 3],
             "a random state of a size no device writes": "gen"}


@pytest.mark.parametrize("what", list(NOT_A_RUN))
@pytest.mark.parametrize("wrapped", [False, True], ids=["before checksums", "with checksum"])
def test_data_that_is_not_a_runs_state_is_one_line(what, wrapped, run, capsys):
    out, flags = run
    state = NOT_A_RUN[what]
    if state == "gen":
        state = {**state_of(out), "gen": torch.zeros(100, dtype=torch.uint8)}
    buf = io.BytesIO()
    torch.save(state, buf)
    (out / "checkpoint.pt").write_bytes(wrap(buf.getvalue()) if wrapped else buf.getvalue())
    before = files(out)
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a run checkpoint of this suite" in err[0], err
    assert files(out) == before


def test_a_run_checkpoint_holds_only_what_the_restricted_loader_allows(run):
    """Every entry of a real checkpoint loads under the restriction, and the run resumes from it."""
    out, flags = run
    assert train_main(flags) == 0
    assert state_of(out)["iteration"] == 2


def test_a_lock_that_is_a_folder_is_one_line(run, capsys):
    """A run folder's `.lock` that is a folder (a copy gone wrong) was an IsADirectoryError traceback."""
    out, flags = run
    (out / ".lock").unlink()
    (out / ".lock").mkdir()
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder, not the run's lock file" in err[0], err


def test_a_file_system_without_locks_is_named_as_such(run, capsys, monkeypatch):
    """flock on Lustre mounted without the flock option raises ENOSYS, on NFS without a lock manager ENOLCK: the
    run stops with one line that says so, not a traceback."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    out, flags = run
    capsys.readouterr()
    assert train_main(flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not support file locks" in err[0], err
