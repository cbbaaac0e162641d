"""repro.runner.engine.run_lock waits for another process's lock on a run folder for at most its timeout (argument,
else MGCD_LOCK_TIMEOUT seconds, else 6 hours), then stops with one line naming the folder."""
import re
import signal
import subprocess
import sys
import time

import pytest

from repro.runner.engine import run_lock

HOLD = """
import fcntl, sys, time
fh = open(sys.argv[1] + "/.lock", "a")
fcntl.flock(fh, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def held_by_another_process(tmp_path):
    """Start a process that holds tmp_path's run lock for the given seconds; killed at the end of the test."""
    procs = []

    def hold(seconds: float) -> str:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), str(seconds)], stdout=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return str(tmp_path)
    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def at_most_20_s():
    """A lock that waits forever (no timeout) fails the test instead of hanging the suite."""
    def stop(*_):
        raise TimeoutError("run_lock still waiting after 20 s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_waiting_stops_after_the_timeout_naming_the_folder(held_by_another_process, at_most_20_s):
    path = held_by_another_process(60)
    tic = time.monotonic()
    with pytest.raises(ValueError, match=rf"^'{re.escape(path)}' is still locked by another process after 0\.5 s") \
            as err:
        with run_lock(path, timeout=0.5):
            pass
    assert 0.5 <= time.monotonic() - tic < 10 and "\n" not in str(err.value)


def test_the_timeout_comes_from_the_environment(held_by_another_process, monkeypatch, at_most_20_s):
    path = held_by_another_process(60)
    monkeypatch.setenv("MGCD_LOCK_TIMEOUT", "0.3")
    with pytest.raises(ValueError, match="after 0.3 s of waiting"):
        with run_lock(path):
            pass
    monkeypatch.setenv("MGCD_LOCK_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MGCD_LOCK_TIMEOUT='soon'"):
        with run_lock(path):
            pass


def test_a_lock_released_within_the_timeout_is_taken(held_by_another_process, capsys):
    path = held_by_another_process(1.0)
    with run_lock(path, timeout=30):
        pass
    assert "waiting for" in capsys.readouterr().out


def test_no_wait_stops_at_once(held_by_another_process):
    path = held_by_another_process(60)
    tic = time.monotonic()
    with pytest.raises(ValueError, match="is being trained by another process"):
        with run_lock(path, wait=False):
            pass
    assert time.monotonic() - tic < 1
