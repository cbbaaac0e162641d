"""A run folder's lock (``<run folder>/.lock``, an exclusive ``flock``): one process trains a run folder at a time,
and a process that needs a model another one is training waits for it (``run_lock``)."""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
import time

from repro.base import dist

_HELD: set[str] = set()  # run folders whose lock this process holds (run_lock is re-entrant within a process)


@contextlib.contextmanager
def run_lock(path: str, wait: bool = True, timeout: float | None = None):
    """Hold an exclusive lock on <run folder>/.lock (taken by rank 0, its outcome handed to every process) while a
    run is looked up and trained, so that two processes never train one run folder at once (its log would hold
    every row twice). wait: wait for the other process (two tasks, or two commands of tools.spread, that need the
    same model: the second then loads the finished run), for at most `timeout` seconds (None: the environment's
    MGCD_LOCK_TIMEOUT, else 6 hours, longer than any profile's training of one model), then stop with one line
    naming the folder (a process that hangs while holding the lock would otherwise hold up the other forever);
    else stop at once with one line (two `repro.runner.train --out` on one folder). Re-entrant within a process."""
    key = os.path.abspath(path)
    if key in _HELD:
        yield
        return
    if wait and timeout is None:
        timeout = lock_timeout()
    held = {}
    dist.on_main(lambda: held.update(fh=_acquire(path, wait, timeout)))  # a refusal raises on every process
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        if "fh" in held:
            held["fh"].close()  # releases the lock


def lock_timeout() -> float:
    """The seconds run_lock waits when not told: MGCD_LOCK_TIMEOUT, else 6 hours."""
    setting = os.environ.get("MGCD_LOCK_TIMEOUT", "21600")  # 6 hours
    try:
        timeout = float(setting)
    except ValueError:
        timeout = math.nan
    if not timeout >= 0:
        raise ValueError(f"MGCD_LOCK_TIMEOUT={setting!r}: give the seconds to wait for a run folder's lock, 0 or "
                         f"more")
    return timeout


def _acquire(path: str, wait: bool, timeout: float | None):
    """The open lock file of run folder `path`, locked (waiting for at most `timeout` seconds when `wait`)."""
    os.makedirs(path, exist_ok=True)
    lock = os.path.join(path, ".lock")
    if os.path.isdir(lock):
        raise ValueError(f"{lock!r} is a folder, not the run's lock file; remove it and run again")
    fh = open(lock, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not wait:
            fh.close()
            raise ValueError(f"{path!r} is being trained by another process; wait for it to finish, or "
                             f"choose another --out") from None
        _wait_for(fh, path, timeout)
    except OSError as err:  # ENOSYS, ENOLCK, EOPNOTSUPP: a file system without locks (NFS or Lustre so mounted)
        fh.close()
        raise ValueError(f"the file system of {path!r} does not support file locks ({os.strerror(err.errno)}); "
                         f"put --runs/--out on a local disk, or on a mount with locking") from None
    return fh


def _wait_for(fh, path: str, timeout: float) -> None:
    """Take the lock on fh, held by another process, once it is free; close fh and stop after `timeout` seconds."""
    print(f"waiting for {path}: another process is training it (at most {timeout:g} s, MGCD_LOCK_TIMEOUT)",
          flush=True)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                raise ValueError(f"{path!r} is still locked by another process after {timeout:g} s of "
                                 f"waiting (MGCD_LOCK_TIMEOUT): is that process alive? Wait longer, or "
                                 f"stop it and run again") from None

