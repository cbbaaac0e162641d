"""Atomic file writes, tidy CSV, provenance, and the errors a command prints as one line.

Every file the suite writes goes through a temporary file in the same folder (prefix ``.tmp-``) that is
renamed over the target, so a reader, or a run killed at any instant, sees the old file or the whole new
one, never a part. Files get the user's umask (0666 & ~umask), like files opened plainly.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import glob
import io
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

import torch
from tqdm import tqdm

TMP_PREFIX = ".tmp-"  # temporary files of atomic writes; a kill can leave them (remove_orphans)


def umask_mode() -> int:
    """The mode a plainly created file gets: 0o666 without the process's umask bits."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: str) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path beside `path` (same extension) to write to; on success it is synced and
    renamed over `path`, on any exception removed. For writers that want a file name (save_image, savefig)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix=os.path.basename(path))
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, umask_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_torch_save(obj, path: str) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


TITLE_KEY = "mgcd-title-rows"  # PNG text chunk: the pixel rows of the title band above a grid (tasks.files too)


def atomic_save_image(images, path: str, *, title: str | None = None, **kwargs) -> None:
    """torchvision's save_image, atomically (the format follows the extension of `path`). With `title`, a PNG
    whose grid (the very pixels save_image writes) sits under a white band holding the title, wrapped to the
    grid's width; the band's height is stored in the PNG's text chunk TITLE_KEY, so that a reader (the report's
    figures) can take the grid alone."""
    from torchvision.utils import make_grid, save_image
    if title is None:
        with atomic_path(path) as tmp:
            save_image(images, tmp, **kwargs)
        return
    grid = make_grid(images, **kwargs)  # (3, H, W) in [0, 1], as save_image makes it
    rgb = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()  # (H, W, 3)
    image, info = titled_image(rgb, title)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)


PLAIN_GLYPHS = str.maketrans({"×": "x", "−": "-", "—": "-", "–": "-", "‖": "|"})


def titled_image(rgb, title: str, font_size: int = 10):
    """(PIL image of `rgb` (H, W, 3 uint8) under a band with `title`, its PngInfo naming the band's rows)."""
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo
    font = ImageFont.load_default(size=font_size)
    title = title.translate(PLAIN_GLYPHS)  # Pillow's built-in font has no ×, − or —
    width = rgb.shape[1]
    lines: list[str] = []
    for word in title.split():  # greedy wrap to the grid's width (a word wider than it stands alone)
        if lines and font.getlength(f"{lines[-1]} {word}") <= width - 4:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    line_h = font_size + 3
    band = line_h * len(lines) + 4
    image = Image.new("RGB", (width, band + rgb.shape[0]), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((2, 2 + i * line_h), line, fill=(20, 20, 20), font=font)
    image.paste(Image.fromarray(rgb), (0, band))
    info = PngInfo()
    info.add_text(TITLE_KEY, str(band))
    info.add_text("Title", title)
    return image, info


def remove_orphans(folder: str) -> list[str]:
    """Remove the temporary files that killed atomic writes left in `folder`; returns their paths.
    Only for a folder no other process is writing to (a run folder being resumed)."""
    paths = sorted(glob.glob(os.path.join(glob.escape(folder), TMP_PREFIX + "*")))
    for p in paths:
        os.unlink(p)
    return paths


def check_writable(folder: str, flag: str) -> None:
    """Raise a ValueError naming `flag` unless files can be created in `folder` (or, while it does not
    exist yet, in its nearest existing parent): a throwaway file proves it, so a read-only folder fails
    before any work, not at the first checkpoint. Creates nothing that stays."""
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        if not os.path.isdir(probe):
            raise NotADirectoryError(20, "a file stands in the way", probe)
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=TMP_PREFIX + "probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise ValueError(f"{flag} {folder!r} is not a writable folder ({err.strerror}: {probe}); "
                         f"choose another {flag}") from None


def write_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    """Write rows atomically with exactly `columns` (missing keys are an error)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{path}: row lacks columns {missing}")
        writer.writerow(row)
    atomic_write_bytes(path, buf.getvalue().encode())


def append_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    """Append rows (the header first if the file is new or empty), flushed and fsynced to disk. Not
    atomic: a kill can leave a torn last line, which read_complete_rows drops."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if new:
        writer.writeheader()
    writer.writerows(rows)
    if new:  # created with the user's umask by open(), like any plain file
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def read_complete_rows(path: str, columns: list[str]) -> list[dict]:
    """The rows of a CSV written by write_csv/append_csv that have every column (a torn line has not)."""
    with open(path, newline="") as fh:
        text = fh.read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # the last line was cut mid-write
    rows = list(csv.DictReader(io.StringIO("\n".join(lines) + "\n")))
    return [r for r in rows if all(r.get(c) not in (None, "") for c in columns) and None not in r]


def read_csv(path: str) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def git_commit() -> str:
    """The checkout's commit (with '+dirty' when tracked files outside results/ differ), or 'unknown'."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                ":(exclude,top)results"],  # results are outputs, not code
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def changed_since(commit: str, paths: tuple[str, ...] = ("repro",), cwd: str | None = None) -> list[str] | None:
    """Files under `paths` (relative to the checkout's top) that differ between `commit` and the working tree
    of the checkout holding `cwd` (default: this package's); None when that cannot be known (no git, an
    unknown commit). A run folder is named by its settings, not its code: this says when a reused run was
    trained by other code."""
    cwd = cwd or os.path.dirname(os.path.abspath(__file__))
    sha = commit.split("+")[0]
    if not sha or sha == "unknown":
        return None
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        out = subprocess.run(["git", "diff", "--name-only", sha, "--", *paths], cwd=top, capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [line for line in out.splitlines() if line]


def device_name(device: torch.device) -> str:
    """The device as provenance: the GPU's name, or the CPU's core count and the torch threads this process uses
    (one thread instead of two changes the order of float sums, which training amplifies into another result)."""
    if device.type == "cuda":  # with the CUDA math in force (repro.base.speed.apply_backend_flags)
        math = "tf32" if torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32 else "fp32"
        det = "/deterministic" if torch.are_deterministic_algorithms_enabled() else ""
        return f"cuda:{torch.cuda.get_device_name(device)}/{math}{det}"
    threads = torch.get_num_threads()
    return f"cpu:{os.cpu_count()}cores/{threads}thread{'' if threads == 1 else 's'}"


def provenance(device: torch.device) -> dict:
    return {"commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device": device_name(device), "torch": torch.__version__}


class NonFiniteError(RuntimeError):
    """A score, a sample or a gradient became NaN or infinite. Raised by the sampler and the training step
    (repro.core); defined here, beside ``error_line`` that prints it, so that this lowest part needs nothing above
    it."""


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM (repro.runner.engine.train): the iteration under way was finished and
    checkpointed, so nothing done is lost. iteration: the iterations in that checkpoint, or None when a second
    signal stopped the run at once (its last checkpoint on disk is whole: every write is atomic). A KeyboardInterrupt,
    so that no ``except Exception`` on the way swallows it; a command prints ``line`` and exits with ``status``."""

    def __init__(self, signum: int, run: str, iteration: int | None, n_iters: int):
        self.signum, self.run, self.iteration, self.n_iters = signum, run, iteration, n_iters
        super().__init__(self.line())

    @property
    def status(self) -> int:
        """The conventional exit status of a process stopped by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    def line(self, resume: str = "run the same command again to resume it") -> str:
        name = signal.Signals(self.signum).name
        where = (f"stopped at once by a second {name}, without a new checkpoint; {self.run} keeps its last one whole"
                 if self.iteration is None else
                 f"stopped after iteration {self.iteration} of {self.n_iters}, checkpointed in {self.run}")
        return f"interrupted ({name}): {where}; {resume}"


def error_line(err: BaseException) -> str | None:
    """The one line a command prints for an error it expects (bad input: unknown names, missing files, an existing
    run folder, a diverged energy; or the machine's: a full disk, no memory), or None for any other error, which
    keeps its traceback."""
    if isinstance(err, (ValueError, FileNotFoundError, FileExistsError, PermissionError, NonFiniteError)):
        return str(err)
    return environment_error(err)


def environment_error(err: BaseException) -> str | None:
    """One line for an error of the machine rather than of the code (a full disk, memory that cannot be had, a
    file system that refuses), or None for any other error (which keeps its traceback)."""
    import errno
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return (f"{err.strerror} ({err.filename or 'writing'}); files written before are intact (every write is "
                f"atomic) and a run resumes from its last checkpoint: free space and run the command again")
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)) or (
            isinstance(err, RuntimeError) and ("can't allocate memory" in str(err) or "out of memory" in str(err))):
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"out of memory ({first[:160]}); lower --batch-size or --image-size, or use a larger machine"
    return None


def save_panel(path: str, x: torch.Tensor, out: torch.Tensor, mask: torch.Tensor, pixel_max: float, n: int, *,
               title: str | None = None) -> None:
    """PNG with rows: original, masked input (missing pixels grey), result; n images per row; `title` above."""
    shown = torch.where(mask.bool(), 0.5 * pixel_max, x)  # (N, C, H, W)
    grid = torch.cat([x[:n], shown[:n], out[:n]]) / pixel_max  # (3n, C, H, W)
    atomic_save_image(grid.float().clamp(0, 1), path, nrow=n, title=title)


def duration(seconds: float) -> str:
    """Seconds as the README writes times: '8 s', '3 min 10 s', '1 h 01 min'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Progress of training iterations range(start, end) of `total`, with an ETA from the measured seconds per
    iteration (wall time between iterations, the session's first one, which compiles and warms up, left out once a
    second is done). On a terminal: a tqdm bar whose postfix ends "ETA 3 min 10 s for this model". Elsewhere (a log
    file, a pipe): one plain line every `every` seconds or tenth of the session's iterations, and at the end, so that
    a log holds short lines instead of tqdm's carriage-return runs. Disabled (--no-progress): nothing at all.
    Used as tqdm was: iterate over it, set_postfix(**values), update() (an iteration left by a break), close()."""

    def __init__(self, iterations: range, *, total: int, desc: str, enabled: bool = True, file=None,
                 every: float = 30.0):
        self.file = sys.stderr if file is None else file
        self.iterations, self.total, self.desc, self.enabled, self.every = iterations, total, desc, enabled, every
        self.done = self.shown = iterations.start  # iterations finished; the count the last plain line showed
        self.stride = max(1, math.ceil(len(iterations) / 10))  # a plain line at least every tenth of the session
        self.tty = enabled and self.file.isatty()
        self.bar = tqdm(total=total, initial=iterations.start, desc=desc, unit="it", file=self.file,
                             disable=not self.tty)
        self.seconds: list[float] = []  # wall seconds of each iteration of this session
        self.postfix = ""
        self.began = self.last = self.printed = time.monotonic()

    def __iter__(self):
        self.began = self.last = self.printed = time.monotonic()
        for t in self.iterations:
            yield t
            self.update()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def per_iteration(self) -> float:
        """Measured seconds per iteration: the mean over this session, without its first iteration once there are
        two or more."""
        return sum(self.seconds[1:] or self.seconds) / len(self.seconds[1:] or self.seconds)

    def eta(self) -> str:
        left = self.iterations.stop - self.done
        to = "for this model" if self.iterations.stop == self.total else f"to iteration {self.iterations.stop}"
        return f"ETA {duration(left * self.per_iteration())} {to}"

    def update(self) -> None:
        """Count one finished iteration."""
        now = time.monotonic()
        self.seconds.append(now - self.last)
        self.last, self.done = now, self.done + 1
        if not self.enabled:
            return
        if self.tty:
            self.bar.set_postfix_str(", ".join(filter(None, (self.postfix, self.eta()))), refresh=False)
            self.bar.update()
        elif (self.done - self.shown >= self.stride or now - self.printed >= self.every
              or self.done == self.iterations.stop):
            self._line()

    def _line(self) -> None:
        self.printed, self.shown = time.monotonic(), self.done
        end = (f"done in {duration(self.printed - self.began)}" if self.done == self.iterations.stop
               else self.eta())
        tail = f"; {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: iteration {self.done}/{self.total}, {self.per_iteration():.3g} s/it, {end}{tail}",
              file=self.file, flush=True)

    def close(self) -> None:
        self.bar.close()
        if self.enabled and not self.tty and self.shown != self.done:  # stopped between two plain lines
            self._line()
