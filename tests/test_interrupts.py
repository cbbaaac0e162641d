"""Graceful interrupts (issue "A newcomer's first hour", item 1): SIGINT or SIGTERM during training finishes the
iteration under way, checkpoints it and stops with one line naming where and the command that resumes; the
resumed run equals the uninterrupted one bit for bit. In-process tests send the signal from a callback (it lands at
a known iteration); the slow ones send it from outside to a `python -m repro.runner.train` process."""
import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch

import repro.runner.engine as engine
from repro.base.io import Interrupted, read_csv
from repro.datasets.data import load_dataset
from repro.runner.engine import PREVIOUS, load_checkpoint, train


@pytest.fixture(autouse=True)
def sigint_not_ignored():
    """A process started in the background by a non-interactive shell (`cmd &`, nohup, some CI runners) inherits
    SIGINT ignored, and training rightly leaves an ignored signal ignored; these tests are about the handler, so they
    give SIGINT Python's own handler for their duration, whatever the runner did."""
    old = signal.getsignal(signal.SIGINT)
    if old is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def sigint_default() -> None:
    """For a child process (preexec_fn): SIGINT back to its default, so that the child's Python installs its own
    handler even when this test process was started with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def faces():
    from repro.base.config import get_config
    return load_dataset(get_config("smoke"), "train")


def same(a, b) -> bool:
    """Equal bit for bit: tensors by torch.equal, containers entry by entry."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def state(ckpt: dict) -> dict:
    """What the run learned: everything in its checkpoint but the settings (--checkpoint-every may differ)."""
    return {k: v for k, v in ckpt.items() if k != "config"}


def log_rows(folder) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_csv(str(folder / "log.csv"))]


def signal_at(t_signal: int, sig: int, times: int = 1):
    """A train callback that sends `sig` to this process `times` times after iteration t_signal."""
    def callback(t, *_):
        if t == t_signal:
            for _ in range(times):
                os.kill(os.getpid(), sig)
    return callback


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_checkpoints_the_iteration_under_way_and_the_resume_is_the_whole_run(smoke_cfg, faces, tmp_path,
                                                                                       sig):
    """Before: Ctrl-C before the first checkpoint lost every iteration, and at iteration 199 of checkpoints every 100
    lost 99. Now the signal sent after iteration 1 (0-based) stops the run after the iteration under way (2), with a
    checkpoint there although none was due (every 100), and the resume equals the uninterrupted run."""
    cfg = dataclasses.replace(smoke_cfg, n_iters=5, checkpoint_every=100)
    old = signal.getsignal(sig)
    with pytest.raises(Interrupted) as stop:
        train(cfg, str(tmp_path / "part"), train_set=faces, progress=False, callback=signal_at(1, sig))
    assert signal.getsignal(sig) is old  # the handlers are put back
    assert (stop.value.signum, stop.value.iteration, stop.value.n_iters) == (sig, 3, 5)
    assert stop.value.status == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    assert "stopped after iteration 3 of 5" in stop.value.line() and str(tmp_path / "part") in stop.value.line()
    ckpt = load_checkpoint(str(tmp_path / "part" / "checkpoint.pt"))
    assert ckpt["iteration"] == 3 and not (tmp_path / "part" / PREVIOUS).exists()  # the only checkpoint: the stop's
    assert sorted({int(r["iteration"]) for r in log_rows(tmp_path / "part")}) == [0, 1, 2]
    train(cfg, str(tmp_path / "part"), resume=True, train_set=faces, progress=False)
    train(cfg, str(tmp_path / "whole"), train_set=faces, progress=False)
    a, b = (load_checkpoint(str(tmp_path / r / "checkpoint.pt")) for r in ("part", "whole"))
    assert a["iteration"] == 5 and same(state(a), state(b))
    assert log_rows(tmp_path / "part") == log_rows(tmp_path / "whole")


def test_a_second_signal_while_saving_stops_at_once_and_corrupts_nothing(smoke_cfg, faces, tmp_path, monkeypatch):
    """A second Ctrl-C while the stop's checkpoint is written stops at once: checkpoint.pt is the last whole one
    (iteration 2), and the resume from it equals the uninterrupted run."""
    cfg = dataclasses.replace(smoke_cfg, n_iters=5, checkpoint_every=2)
    real = engine.checkpoint_bytes

    def impatient(st):  # the second Ctrl-C lands while the stop's checkpoint (iteration 4) is being made
        if st["iteration"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return real(st)
    monkeypatch.setattr(engine, "checkpoint_bytes", impatient)
    with pytest.raises(Interrupted) as stop:
        train(cfg, str(tmp_path / "part"), train_set=faces, progress=False, callback=signal_at(2, signal.SIGINT))
    assert stop.value.iteration is None and "second SIGINT" in stop.value.line()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert load_checkpoint(str(tmp_path / "part" / "checkpoint.pt"))["iteration"] == 2
    assert not [p for p in os.listdir(tmp_path / "part") if p.startswith(".tmp-")]  # no partial file left
    monkeypatch.setattr(engine, "checkpoint_bytes", real)
    train(cfg, str(tmp_path / "part"), resume=True, train_set=faces, progress=False)
    train(cfg, str(tmp_path / "whole"), train_set=faces, progress=False)
    a, b = (load_checkpoint(str(tmp_path / r / "checkpoint.pt")) for r in ("part", "whole"))
    assert same(state(a), state(b)) and log_rows(tmp_path / "part") == log_rows(tmp_path / "whole")


def test_the_command_line_prints_one_line_with_the_resume_command(tmp_path, monkeypatch, capsys):
    """repro.runner.train: one stderr line (where it stopped, the run folder, the command with --resume), exit
    status 130; the same command without --resume still refuses the folder; the printed command resumes it."""
    import repro.runner.train as cli
    out = tmp_path / "run"
    flags = ["--profile", "smoke", "--batch-size", "8", "--n-iters", "4", "--steps-per-grid", "2", "--n-show", "4",
             "--checkpoint-every", "100", "--no-progress", "--out", str(out)]
    real_train = cli.train
    monkeypatch.setattr(cli, "train", lambda *a, **k: real_train(*a, callback=signal_at(0, signal.SIGINT), **k))
    capsys.readouterr()
    assert cli.main(flags) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted (SIGINT): stopped after iteration 2 of 4" in err[0] and str(out) in err[0]
    command = shlex.split(err[0].split("resume with: ")[1])
    assert command[1:3] == ["-m", "repro.runner.train"] and command[-1] == "--resume" and command[3:-1] == flags
    monkeypatch.setattr(cli, "train", real_train)
    assert cli.main(flags) == 2 and "already holds a run; pass --resume" in capsys.readouterr().err
    assert cli.main(command[3:]) == 0
    assert load_checkpoint(str(out / "checkpoint.pt"))["iteration"] == 4


def test_a_task_stops_with_one_line_and_the_signals_status(capsys):
    """tasks.common.cli: an interrupted training inside a task is one line (the same command resumes it)."""
    from tasks.common import cli

    def interrupted():
        raise Interrupted(signal.SIGTERM, "runs/x", 7, 40)
    assert cli(interrupted) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["interrupted (SIGTERM): stopped after iteration 7 of 40, checkpointed in runs/x; run the same "
                   "command again to resume it"]


# --- a real signal from outside, to a training process ---------------------------------------------------------------

N_ITERS = 30
FLAGS = ["--profile", "smoke", "--batch-size", "8", "--steps-per-grid", "2", "--n-show", "4", "--no-progress",
         "--n-iters", str(N_ITERS)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def command(out, every: int) -> list[str]:
    return [sys.executable, "-m", "repro.runner.train", *FLAGS, "--checkpoint-every", str(every), "--out", str(out)]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """The uninterrupted run (one process, one thread, as the interrupted ones)."""
    out = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run(command(out, N_ITERS), env=ENV, check=True, capture_output=True, timeout=120,
                   preexec_fn=sigint_default)
    return out


def wait_for(path, proc, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended or stalled before the signal"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("sig, every, marker", [(signal.SIGINT, 1000, "run_info.json"),  # before any checkpoint
                                                 (signal.SIGTERM, 3, "log.csv")],  # after the first one
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_from_outside_stops_with_one_line_and_the_resume_command_gives_the_whole_run(
        whole_run, tmp_path, sig, every, marker):
    out = tmp_path / "run"
    proc = subprocess.Popen(command(out, every), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    wait_for(out / marker, proc)  # run_info.json: the loop's first write, with the handlers in place
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
    k = load_checkpoint(str(out / "checkpoint.pt"))["iteration"]
    assert 0 < k < N_ITERS
    assert f"interrupted ({signal.Signals(sig).name}): stopped after iteration {k} of {N_ITERS}" in lines[0]
    assert str(out) in lines[0]
    assert sorted({int(r["iteration"]) for r in log_rows(out)}) == list(range(k))  # every iteration done is kept
    resume = shlex.split(lines[0].split("resume with: ")[1])
    assert resume == command(out, every) + ["--resume"]
    res = subprocess.run(resume, env=ENV, capture_output=True, text=True, timeout=120, preexec_fn=sigint_default)
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = load_checkpoint(str(out / "checkpoint.pt")), load_checkpoint(str(whole_run / "checkpoint.pt"))
    assert a["iteration"] == N_ITERS and same(state(a), state(b))
    assert log_rows(out) == log_rows(whole_run)
    assert {p: (out / p).read_bytes() for p in os.listdir(out) if p.endswith(".png")} == \
        {p: (whole_run / p).read_bytes() for p in os.listdir(whole_run) if p.endswith(".png")}


def test_the_error_line_is_one_write(monkeypatch):
    """Under torchrun every process prints the same refusal; print() writes the text and its newline apart, so two
    processes' lines could run together ("…divideserror: …", seen once in CI). One write of the whole line keeps
    each process's line whole (a pipe writes at most PIPE_BUF bytes at once)."""
    import io

    from tasks.common import cli

    class Writes(io.StringIO):
        calls: list = []

        def write(self, s):
            self.calls.append(s)
            return super().write(s)

    err = Writes()
    monkeypatch.setattr(sys, "stderr", err)

    def main():
        raise ValueError("--batch-size 5 is wrong")

    assert cli(main) == 2
    assert err.calls == ["error: --batch-size 5 is wrong\n"], err.calls
