"""The files of the suite's results, defined once and torch-free: the result rows' columns and key, the
per-image file's, the inpainting masks' names, and the atomic writer of the report, its figures and the README
tool. Imported by the tasks (through tasks.common) and by the report alike.

Atomic writes: the same guarantees as ``repro.base.io.atomic_path`` (which the torch side uses, and which imports
torch through ``repro``): readers see the old file or the whole new one; the data are fsynced before the rename
and the rename after it; the file gets the user's umask (mkstemp's 0600 is never left behind); a failed write
leaves no temporary file. Only the standard library."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile

TMP_PREFIX = ".tmp-"  # as repro.base.io.TMP_PREFIX: a kill can leave such files, which a resume removes
TITLE_KEY = "mgcd-title-rows"  # as repro.base.io.TITLE_KEY: the PNG text chunk giving a task PNG's title band rows

# A result CSV (<out>/<experiment>.csv): one row per (experiment, method, setting, seed, metric), its value, an
# optional interval, provenance, and the run folder and iteration count of the model behind it
RESULT_COLUMNS = ["experiment", "method", "setting", "seed", "metric", "value", "ci_low", "ci_high",
                  "profile", "dataset", "n_images", "device", "commit", "date",
                  "run", "iterations"]  # run folder and its iteration count; empty where no model was trained
RESULT_KEY = ("experiment", "method", "setting", "seed", "metric", "profile", "dataset")
OPTIONAL_COLUMNS = ["run", "iterations"]  # added after the first results were written; older CSVs lack them
# Per-image values behind a row that is a mean over test images (inpainting): <out>/per_image/<experiment>.csv
PER_IMAGE_COLUMNS = ["experiment", "method", "setting", "seed", "metric", "image", "value", "profile", "dataset",
                     "run"]
PER_IMAGE_KEY = ("experiment", "method", "setting", "seed", "metric", "image", "profile", "dataset")
INPAINT_MASKS = ("square", "doodle", "pepper")  # the paper's test masks (CVPR Table 4), in its order

# The PNG panels the tasks write and the report's figures read back, by kind: one template each, its fields a
# method name (which may hold "_"), a mask name (none), a size (digits)
PANELS = {"inpainting": "inpainting_{method}_{mask}.png",  # tasks.inpainting: original, masked input, result
          "coopnets": "coopnets_{method}_{mask}.png",  # tasks.coopnets, per mask ("M20": its square's side)
          "synthesis_grid": "synthesis_{method}_grid{size}.png",  # tasks.synthesis: samples at one grid
          "nearest_train": "synthesis_{method}_nearest_train.png"}  # samples above their nearest training images
_FIELD = {"method": r"(?P<method>.+)", "mask": r"(?P<mask>[^_]+)", "size": r"(?P<size>\d+)"}


NAME_MAX = 100  # characters of a name from data; a file name adds a prefix, a suffix and mkstemp's 13 to it (< 255)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=|+-]")  # anything else (slashes, NUL, controls, spaces, non-ASCII) is replaced


def safe_name(text: str) -> str:
    """`text` (a profile, dataset, method, setting, run or mask name, read from data) as one path component: the
    characters [A-Za-z0-9._=|+-] are kept, every other one becomes "_", runs of dots and a leading dot too, so that
    the name is never "..", hidden or a path. A plain name is returned as it is; an altered or over-long one is cut
    to NAME_MAX characters and ends in 10 hex digits of the original's SHA-1, so two different names do not share a
    file (a name that was already safe keeps its own, and is never shortened to another's)."""
    text = str(text)
    name = re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", text))
    name = "_" + name[1:] if name.startswith(".") else name
    if name == text and 0 < len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{name[:NAME_MAX - 11] or '_'}-{digest}"


def inside(root: str, path: str) -> str:
    """path, once its real location (links followed) is checked to lie inside root's; else a ValueError naming
    both. The last guard before a write whose name was built from data."""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise ValueError(f"refusing to write {path!r}: it lies outside {root!r} (a name read from data holds a path?)")
    return path


def panel_name(kind: str, **fields) -> str:
    """The file name of a panel: panel_name("inpainting", method="cd1", mask="square"); each field as safe_name
    makes it, so that a panel never lands outside its folder."""
    return PANELS[kind].format(**{k: safe_name(str(v)) for k, v in fields.items()})


def panel_glob(kind: str) -> str:
    """A glob pattern matching every panel of `kind`."""
    return re.sub(r"\{\w+\}", "*", PANELS[kind])


def parse_panel(kind: str, filename: str) -> dict | None:
    """The fields of a panel's file name (its basename), or None when it is not one of `kind`."""
    parts = re.split(r"(\{\w+\})", PANELS[kind])
    pattern = "".join(_FIELD[p[1:-1]] if p.startswith("{") else re.escape(p) for p in parts)
    m = re.fullmatch(pattern, filename)
    return m.groupdict() if m else None


def umask_mode() -> int:
    """The mode a plainly created file gets: 0o666 without the process's umask bits."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one, durably."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
        try:
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:  # folders that cannot be opened or synced (some file systems)
            pass
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_csv_strict(path: str, columns=None, required=(), after: str = "nothing was written") -> list[dict]:
    """The rows of a CSV this suite wrote, read strictly: a header of distinct names (only `columns`, where given,
    and every one of `required`), and every record with the header's field count on a line of its own. Anything
    else (a stray quote that swallows the lines after it, a foreign header, a torn line) is a ValueError naming
    the file and the line, raised before the caller writes anything, so the file stays as it was."""
    import csv
    import io

    def bad(line: int, why: str) -> ValueError:
        return ValueError(f"{path}, line {line}: {why}; {after}, and the file is left as it was: repair it, or "
                          f"move it away to start a new one")
    with open(path, newline="") as fh:
        text = fh.read()
    reader = csv.reader(io.StringIO(text), strict=True)
    header, rows, start = None, [], 1  # start: the line the current record begins on
    try:
        for rec in reader:
            if any("\n" in v or "\r" in v for v in rec):
                raise bad(start, "a quoted field runs over several lines (a stray quote?)")
            if header is None:
                header = rec
                foreign = [c for c in header if columns is not None and c not in columns]
                if foreign or len(set(header)) != len(header) or any(c not in header for c in required):
                    what = ", ".join(foreign) or "missing or repeated columns"
                    raise bad(1, f"its header is not this file's ({what})")
            elif len(rec) != len(header):
                raise bad(start, f"{len(rec)} fields where the header has {len(header)}")
            else:
                rows.append(dict(zip(header, rec)))
            start = reader.line_num + 1
    except csv.Error as err:
        raise bad(start, f"not a readable CSV from here on ({err}: a stray quote?)") from None
    return rows


def check_csv(path: str) -> None:
    """Raise read_csv_strict's ValueError unless the CSV at path is well formed (the report's check)."""
    read_csv_strict(path, after="no table was written")
