"""A run's checkpoint file: its bytes (the torch.save payload wrapped with its SHA-256), its safe load (torch's
weights-only unpickler, the checksum verified, the run's entries checked) and the copy of the previous one kept
beside it. The format on disk is ``CHECKPOINT_FORMAT``; files written before checksums (a bare state) still load."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import re
import shutil

import torch

CHECKPOINT_FORMAT = "mgcd-checkpoint/1"  # a checkpoint file: {format, sha256, payload (torch.save bytes)}
PREVIOUS = "checkpoint.prev.pt"  # the checkpoint before the last, kept beside it


def checkpoint_bytes(state: dict) -> bytes:
    """A checkpoint file's bytes: the state serialised by torch.save, wrapped with the SHA-256 of that payload so
    that a flipped byte anywhere in it is found on load, not trained on."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    out = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, out)
    return out.getvalue()


# What a checkpoint may hold, in one place. A run folder travels (copied between machines, downloaded with a paper,
# shared on a cluster), so a checkpoint is read as data, never as code: both the wrapper and the payload load with
# torch's weights-only unpickler, which builds tensors, dicts, lists, tuples, strings, bytes, numbers and booleans
# and refuses every other class or function *before* calling it. The checksum cannot protect here (anyone can
# compute one for any payload); the unpickler does. Checkpoints name no class of any module (checkpoint_bytes saves
# state dicts and plain containers only), so the list of extra globals the loader allows is empty.
CHECKPOINT_GLOBALS: tuple = ()
# The entries every run checkpoint holds, with their types: a file whose state lacks one, or holds another type, is
# refused with one line rather than failing later with a KeyError or TypeError deep in a restore.
CHECKPOINT_ENTRIES = {"config": dict, "iteration": int, "channels": int, "n_train": int, "nets": dict,
                      "opts": list, "scheds": list, "gen": torch.Tensor, "extra": (dict, type(None))}
# What a damaged file raises while it is read
UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, KeyError, TypeError)


class UnsafeCheckpointError(ValueError):
    """A checkpoint that would run code when unpickled (a crafted file): refused before anything in it runs."""


def _load_data(source, what) -> object:
    """torch.load restricted to data (CHECKPOINT_GLOBALS); `what` names the file in a refusal."""
    try:
        allow = torch.serialization.safe_globals(list(CHECKPOINT_GLOBALS)) if CHECKPOINT_GLOBALS else \
            contextlib.nullcontext()  # torch before 2.5 has no safe_globals; none are needed today
        with allow:
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:
            raise
        raise UnsafeCheckpointError(f"checkpoint {what!r} holds a Python object ({found.group(1)}), not only tensors "
                                    f"and plain data: refused without running it. A run folder from elsewhere is "
                                    f"data; delete this one and train the run again") from None


def _corrupt(path: str, why: str) -> ValueError:
    """The one-line error for a damaged checkpoint at path, with what to do (the previous checkpoint, if kept)."""
    prev = os.path.join(os.path.dirname(path), PREVIOUS)
    offer = (f"; the previous checkpoint {prev} is kept: move it to {os.path.basename(path)} to resume from it"
             if os.path.exists(prev) and os.path.abspath(prev) != os.path.abspath(path) else
             "; delete it (and log.csv) to train the run again from the start")
    return ValueError(f"checkpoint {path!r} {why}{offer}")


def load_checkpoint(path: str) -> dict:
    """The state in a checkpoint file, its checksum verified; a truncated, corrupt, altered or crafted file is a
    ValueError that says what to do (and names the previous checkpoint kept beside it). Checkpoints written before
    checksums (a bare state) load as they are. Nothing in the file is ever executed (CHECKPOINT_GLOBALS)."""
    try:
        obj = _load_data(path, path)
    except UnsafeCheckpointError:
        raise
    except UNREADABLE as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise _corrupt(path, f"is truncated or corrupt ({type(err).__name__})") from None
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        obj = _unwrap(path, obj)
    # else: written before checksums, a bare state
    problem = state_problem(obj)
    if problem:
        raise _corrupt(path, f"is not a run checkpoint of this suite ({problem})")
    return obj


def _unwrap(path: str, wrapper: dict) -> object:
    """The state inside a checkpoint file's wrapper (CHECKPOINT_FORMAT), its checksum verified."""
    if not (isinstance(wrapper.get("payload"), bytes) and isinstance(wrapper.get("sha256"), str)):
        raise _corrupt(path, "has a damaged wrapper (no payload bytes or checksum)")
    if hashlib.sha256(wrapper["payload"]).hexdigest() != wrapper["sha256"]:
        raise _corrupt(path, "fails its checksum: its contents were altered after it was written")
    try:
        return _load_data(io.BytesIO(wrapper["payload"]), path)
    except UnsafeCheckpointError:
        raise
    except UNREADABLE as err:
        raise _corrupt(path, f"is corrupt ({type(err).__name__})") from None


def state_problem(state) -> str | None:
    """Why `state` is not a run checkpoint's state (CHECKPOINT_ENTRIES), or None when it is one."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict of the run's state"
    missing = [k for k in CHECKPOINT_ENTRIES if k not in state]
    if missing:
        return f"no {', '.join(missing)}"
    wrong = [f"{k} is a {type(state[k]).__name__}" for k, t in CHECKPOINT_ENTRIES.items()
             if not isinstance(state[k], t) or isinstance(state[k], bool)]
    if wrong:
        return "; ".join(wrong)
    gen, cpu_bytes = state["gen"], len(torch.Generator().get_state())  # a CUDA (Philox) random state is 16 bytes
    if gen.dtype != torch.uint8 or gen.dim() != 1 or len(gen) not in (cpu_bytes, 16):
        return (f"its random state ({gen.numel()} {gen.dtype} values) is neither a CPU ({cpu_bytes} bytes) nor a CUDA "
                f"(16 bytes) one")
    return None


def keep_previous(path: str, prev: str) -> None:
    """Make prev a copy of path (a hard link where the file system allows, else a copy), atomically."""
    tmp = prev + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, prev)
