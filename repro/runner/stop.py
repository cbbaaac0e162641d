"""A stop asked by a signal during training (``StopRequest``): SIGINT or SIGTERM finishes the iteration under way,
which the training loop (repro.runner.engine) then checkpoints before it raises ``Interrupted``."""
from __future__ import annotations

import signal
import threading

import torch

from repro.base import dist
from repro.base.io import Interrupted


class StopRequest:
    """SIGINT or SIGTERM during training, handled as Lightning and torchtune do: the handler only notes the signal;
    the loop finishes the iteration under way, checkpoints it and raises Interrupted, so a resume loses no
    iteration (also before the first regular checkpoint). A second signal raises at once, wherever the loop is (a
    second Ctrl-C while the checkpoint is written: the atomic writes leave every file old or whole). The handlers
    are installed in the main thread only (Python allows no other) and the previous ones restored on exit."""

    def __init__(self, run: str, n_iters: int):
        self.run, self.n_iters, self._old = run, n_iters, {}
        self.received, self.signum = 0, 0  # the signal this process got; the one every process acts on

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:  # an ignored signal stays ignored (nohup, `cmd &`)
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)  # None: a handler not set from Python
        self._old = {}

    def _handle(self, signum, frame) -> None:
        if not self.received:
            self.received = signum  # acted on after the iteration under way
            return
        self._restore()  # a third signal gets the previous handlers
        raise Interrupted(signum, self.run, None, self.n_iters)

    def requested(self, device: torch.device) -> bool:
        """Whether a signal asked this process, or (under torchrun) any process, to stop: one collective, so that
        every process stops after the same iteration even where the signal reached them at different instants."""
        self.signum = dist.max_over_processes(self.received, device)
        return bool(self.signum)

    def interrupted(self, iteration: int, n_proc: int) -> Interrupted:
        if n_proc > 1:
            torch.distributed.barrier()  # rank 0's checkpoint is on disk before any process stops
        return Interrupted(self.signum, self.run, iteration, self.n_iters)
